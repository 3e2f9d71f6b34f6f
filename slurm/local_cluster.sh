#!/usr/bin/env bash
# A one-node Slurm cluster for tests and for trying the sbatch scripts on a
# workstation (Debian slurm-wlm 22.05 + munge, run as root, no systemd; see
# PLATFORM.md "Slurm on one node").
#
#   slurm/local_cluster.sh start DIR   # munged (unless running), slurmctld, slurmd;
#                                      # state, spool, logs and slurm.conf under DIR
#   export SLURM_CONF=DIR/slurm.conf   # for sbatch, squeue, scontrol, ...
#   slurm/local_cluster.sh stop DIR    # stops what start started, by pid files
#
# Ports: TASKREL_SLURM_PORT (default 16817) for slurmctld, +1 for slurmd.
# Job states go to DIR/jobcomp.txt (no slurmdbd): JobState=COMPLETED etc.
set -euo pipefail

action=${1:?usage: local_cluster.sh start|stop DIR}
dir=$(realpath -m "${2:?usage: local_cluster.sh start|stop DIR}")
port=${TASKREL_SLURM_PORT:-16817}

stop_pid_file() {  # stop_pid_file FILE NAME: TERM, wait up to 10 s, then KILL
  local file=$1 pid
  [[ -s $file ]] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

case $action in
start)
  mkdir -p "$dir/state" "$dir/spool" "$dir/logs"
  if ! pgrep -x munged >/dev/null; then
    install -d -o munge -g munge -m 0755 /run/munge
    runuser -u munge -- /usr/sbin/munged
    for _ in $(seq 50); do [[ -s /run/munge/munged.pid ]] && break; sleep 0.1; done
    cp /run/munge/munged.pid "$dir/munged.pid"   # started here: stopped by stop
  fi
  node=$(slurmd -C | head -n 1)   # the real topology, or slurmd re-maps sockets
  host=$(hostname -s)
  cat > "$dir/slurm.conf" <<CONF
ClusterName=taskrel-local
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=pmix
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/jobcomp.txt
JobRequeue=1
ReturnToService=2
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/logs/slurmctld.log
SlurmdLogFile=$dir/logs/slurmd.log
SlurmctldTimeout=30
SlurmdTimeout=30
MinJobAge=600
$node State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
  slurmctld -f "$dir/slurm.conf"
  slurmd -f "$dir/slurm.conf"
  export SLURM_CONF=$dir/slurm.conf
  for _ in $(seq 150); do
    state=$(sinfo -h -o %T 2>/dev/null | head -n 1 || true)
    [[ $state == idle ]] && break
    sleep 0.2
  done
  if [[ ${state:-} != idle ]]; then
    echo "local_cluster.sh: the node did not become idle (state '${state:-none}'); logs in $dir/logs" >&2
    exit 1
  fi
  echo "export SLURM_CONF=$dir/slurm.conf"
  ;;
stop)
  stop_pid_file "$dir/slurmd.pid"
  stop_pid_file "$dir/slurmctld.pid"
  stop_pid_file "$dir/munged.pid"
  ;;
*)
  echo "usage: local_cluster.sh start|stop DIR" >&2
  exit 2
  ;;
esac
