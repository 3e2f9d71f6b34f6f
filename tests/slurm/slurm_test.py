"""End to end on a real one-node Slurm (slurm/local_cluster.sh): submits the
project's own sbatch scripts with sbatch and checks the collected results.

  test_cpu_script        slurm/matrix_cpu.sbatch with 2 tasks: COMPLETED,
                         relatedness.csv complete and equal to a direct run.
  test_usr1_requeue      Slurm's warning signal to the batch shell (scancel
                         --signal=USR1 --batch): the trap forwards it, taskrel
                         exits 3, the script requeues the job, the rerun
                         resumes; the final matrix is complete, no duplicates.
  test_array_by_encoder  slurm/submit_array.sh: one array task per encoder
                         and a dependent --collect job.

Skips (exit 77) where Slurm or munge is missing or not running as root.
"""
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import numpy as np
import pandas as pd

BINARY = os.environ["TASKREL_BINARY"]
SOURCE = os.environ["TASKREL_SOURCE_DIR"]
PYTHON = os.environ.get("TASKREL_TEST_PYTHON", sys.executable)
CLUSTER = os.path.join(SOURCE, "slurm", "local_cluster.sh")


def available():
    return os.geteuid() == 0 and all(shutil.which(t) for t in ["slurmctld", "slurmd", "sbatch", "munged"])


def job_spec(directory, name, output, epochs):
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write(f'store = "store.h5"\noutput = "{output}"\nseed = 2\nprogress_seconds = 1\n'
                f"[relate]\nepochs = {epochs}\nhead_epochs = 150\ntau0 = 0.2\n")
    return path


class Slurm(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="taskrel_slurm_")
        cls.cluster = os.path.join(cls.tmp, "cluster")
        port = str(random.randint(20000, 29000))
        cls.env = dict(os.environ, TASKREL_SLURM_PORT=port, TASKREL_BINARY=BINARY, OMP_NUM_THREADS="1",
                       SLURM_CONF=os.path.join(cls.cluster, "slurm.conf"))
        subprocess.run([CLUSTER, "start", cls.cluster], check=True, env=cls.env, timeout=60)
        subprocess.run([PYTHON, os.path.join(SOURCE, "tests", "matrix", "make_zoo.py"), os.path.join(cls.tmp, "store.h5")],
                       check=True)
        os.makedirs(os.path.join(cls.tmp, "logs"))

    @classmethod
    def tearDownClass(cls):
        subprocess.run([CLUSTER, "stop", cls.cluster], env=cls.env, timeout=60)
        if os.environ.get("TASKREL_KEEP_TMP") is None:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_tool(self, *command, check=True):
        result = subprocess.run(command, capture_output=True, text=True, env=self.env, cwd=self.tmp, timeout=60)
        if check:
            self.assertEqual(result.returncode, 0, result.stderr)
        return result.stdout.strip()

    def job_fields(self, job_id):
        text = self.run_tool("scontrol", "show", "job", str(job_id), check=False)
        return dict(item.split("=", 1) for item in text.split() if "=" in item)

    def wait_state(self, job_id, states, limit=120):
        deadline = time.time() + limit
        while time.time() < deadline:
            fields = self.job_fields(job_id)
            if fields.get("JobState") in states:
                return fields
            time.sleep(0.5)
        self.fail(f"job {job_id} not in {states} after {limit} s: {self.job_fields(job_id)}\n{self.logs()}")

    def logs(self, tail=None):
        text = ""
        for path in sorted(glob.glob(os.path.join(self.tmp, "logs", "*"))):
            with open(path) as f:
                content = f.read()
            text += f"--- {path}\n{content[-tail:] if tail else content}"
        return text

    def direct(self, job, output):
        subprocess.run([BINARY, "matrix", job, "--output", output, "-q"], check=True, env=self.env, cwd=self.tmp,
                       capture_output=True, timeout=120)
        return pd.read_csv(os.path.join(output, "relatedness.csv"))

    def check_complete(self, output, expected):
        csv = pd.read_csv(os.path.join(output, "relatedness.csv"))
        self.assertEqual(len(csv), 12, self.logs(3000))
        self.assertFalse(csv.duplicated(["encoder", "reference", "target"]).any())
        self.assertTrue((csv.status == "ok").all())
        merged = csv.merge(expected, on=["encoder", "reference", "target"], suffixes=("", "_direct"))
        np.testing.assert_array_equal(merged.relatedness, merged.relatedness_direct)
        return csv

    def sbatch(self, script, *args):
        return self.run_tool("sbatch", "--parsable", "--ntasks=2", f"--chdir={self.tmp}",
                             f"--output={self.tmp}/logs/%x-%j.out", os.path.join(SOURCE, "slurm", script), *args)

    def test_cpu_script(self):
        job = job_spec(self.tmp, "cpu.toml", "cpu_out", 30)
        expected = self.direct(job, os.path.join(self.tmp, "cpu_direct"))
        job_id = self.sbatch("matrix_cpu.sbatch", job)
        fields = self.wait_state(job_id, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"})
        self.assertEqual(fields["JobState"], "COMPLETED", self.logs(3000))
        self.check_complete(os.path.join(self.tmp, "cpu_out"), expected)
        self.assertIn("== all triples done", self.logs(3000))

    def test_usr1_requeue(self):
        job = job_spec(self.tmp, "usr1.toml", "usr1_out", 800)
        expected = self.direct(job, os.path.join(self.tmp, "usr1_direct"))
        job_id = self.sbatch("matrix_cpu.sbatch", job)
        output = os.path.join(self.tmp, "usr1_out")
        deadline = time.time() + 60
        while time.time() < deadline:  # at least one triple journalled, the job still running
            lines = 0
            for path in glob.glob(os.path.join(output, "journal", "*.jsonl")):
                with open(path) as f:
                    lines += len(f.read().splitlines())
            if lines >= 2:
                break
            time.sleep(0.1)
        self.run_tool("scancel", "--signal=USR1", "--batch", str(job_id))
        # The script requeues the job (Restarts=1, back to PENDING; it passes
        # through transient states on the way). Slurm holds a requeued job
        # for ~2 minutes (BeginTime): release it now.
        fields = self.wait_state(job_id, {"PENDING"}, limit=60)
        self.assertEqual(fields.get("Restarts"), "1", self.logs(3000))
        self.run_tool("scontrol", "update", f"jobid={job_id}", "StartTime=now", check=False)
        fields = self.wait_state(job_id, {"COMPLETED"}, limit=180)
        logs = self.logs()
        self.assertIn("got USR1: forwarding", logs)
        self.assertIn("exit code 3", logs)
        self.assertIn("requeueing", logs)
        self.assertIn("done earlier", logs)
        self.check_complete(output, expected)

    def test_array_by_encoder(self):
        job = job_spec(self.tmp, "array.toml", "array_out", 30)
        expected = self.direct(job, os.path.join(self.tmp, "array_direct"))
        out = self.run_tool(os.path.join(SOURCE, "slurm", "submit_array.sh"), job, "--ntasks=1",
                            f"--output={self.tmp}/logs/%x-%A_%a.out")
        self.assertIn("2 encoders: enc0 enc1", out)
        collect_id = out.split("collect job ")[1].split()[0]
        fields = self.wait_state(collect_id, {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT"})
        self.assertEqual(fields["JobState"], "COMPLETED", self.logs(3000))
        self.check_complete(os.path.join(self.tmp, "array_out"), expected)
        # The two tasks wrote a journal file each; the collect job compacted them into one.
        self.assertEqual(len(glob.glob(os.path.join(self.tmp, "array_out", "journal", "*.jsonl"))), 1)


if __name__ == "__main__":
    if not available():
        print("skipped: needs root, slurmctld, slurmd, sbatch and munged", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
