#!/usr/bin/env python3
"""Throughput of `taskrel matrix`: triples per hour on a synthetic zoo with 1
and 2 ranks (and 2 ranks as one group of 2), and the scaling efficiency.

    /usr/bin/python3 bench/matrix_bench.py [--encoders 4] [--datasets 6] [--n 400] [--d 32] [--k 5]
                                           [--epochs 100] [--binary build/src/cli/taskrel]

Each configuration runs the whole zoo (encoders x datasets x (datasets - 1)
triples, no self-pairs) from an empty output directory; wall time includes
process start and the final collect. Efficiency = rate(2 ranks) / (2 x rate(1 rank)).
CPU time (all ranks) is printed too: on a shared machine the wall-clock
efficiency mostly measures the other load (see the load average printed).
"""
import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--encoders", type=int, default=4)
    p.add_argument("--datasets", type=int, default=6)
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--d", type=int, default=32)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--epochs", type=int, default=100)
    p.add_argument("--binary", default=os.path.join(ROOT, "build", "src", "cli", "taskrel"))
    p.add_argument("--mpiexec", default="mpiexec")
    a = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="taskrel_matrix_bench_")
    store = os.path.join(tmp, "store.h5")
    subprocess.run([sys.executable, os.path.join(ROOT, "tests", "matrix", "make_zoo.py"), store, "--encoders",
                    str(a.encoders), "--datasets", str(a.datasets), "--n", str(a.n), "--d", str(a.d), "--k", str(a.k)],
                   check=True)
    triples = a.encoders * a.datasets * (a.datasets - 1)
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", OMPI_ALLOW_RUN_AS_ROOT="1",
               OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1", OMPI_MCA_rmaps_base_oversubscribe="1")
    print(f"zoo: {a.encoders} encoders x {a.datasets} datasets = {triples} triples; n = {a.n} train + {a.n // 2} test, "
          f"d = {a.d}, K = {a.k}, {a.epochs} epochs; cores {os.cpu_count()}, load {os.getloadavg()[0]:.2f}")
    rates = {}
    for ranks, group in [(1, 1), (2, 1), (2, 2)]:
        job = os.path.join(tmp, f"job_{ranks}_{group}.toml")
        with open(job, "w") as f:
            f.write(f'store = "store.h5"\noutput = "out_{ranks}_{group}"\nseed = 1\nranks_per_triple = {group}\n'
                    f"progress_seconds = 3600\n[relate]\nepochs = {a.epochs}\nhead_epochs = 500\ntau0 = 0.2\n")
        command = [a.binary, "matrix", job, "-q"]
        if ranks > 1:
            command = [a.mpiexec, "-n", str(ranks), *command]
        cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (cpu_after.ru_utime - cpu_before.ru_utime) + (cpu_after.ru_stime - cpu_before.ru_stime)
        if result.returncode != 0:
            sys.exit(f"{' '.join(command)} failed ({result.returncode}):\n{result.stderr[-2000:]}")
        rates[(ranks, group)] = triples / seconds * 3600
        print(f"ranks {ranks}, ranks_per_triple {group}: {seconds:7.1f} s, {rates[(ranks, group)]:9.0f} triples/h, "
              f"CPU {cpu:7.1f} s ({triples / cpu * 3600:7.0f} triples per CPU-hour), load after {os.getloadavg()[0]:.2f}")
    base = rates[(1, 1)]
    print(f"scaling efficiency, 2 ranks in 2 groups of 1: {rates[(2, 1)] / (2 * base):.2f}; "
          f"one group of 2 (OT sharded): {rates[(2, 2)] / (2 * base):.2f}")


if __name__ == "__main__":
    main()
