#!/usr/bin/env python3
"""Benchmark: taskrel's Sinkhorn and exact EMD side by side with POT on the
same problems and the same cores, in one run.

    /usr/bin/python3 bench/ot_vs_pot.py [--binary build/src/cli/taskrel] [--sizes 5000 20000]

Sinkhorn: per-iteration time at n = m, d = 512, against POT's
ot.bregman.sinkhorn_log (numpy, log-domain: the stable peer) and ot.sinkhorn
(kernel domain: fast, but breaks down at small epsilon). Cost-matrix set-up
is excluded on both sides. Exact EMD: taskrel --exact against ot.emd at
n = 1,500 and 2,500, each including its cost matrix.
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import numpy as np
import ot


def run_taskrel(binary, ranks, threads, args):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS="1",
               OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1",
               OMPI_MCA_rmaps_base_oversubscribe="1")
    command = ([] if ranks == 1 else ["mpiexec", "--bind-to", "none", "-n", str(ranks)]) + [binary, "ot", "--json", "--quiet", *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
    return json.loads(done.stdout)


def points(n, d, seed, shift):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((n, d)) + shift).astype(np.float32)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", default="build/src/cli/taskrel")
    parser.add_argument("--sizes", type=int, nargs="+", default=[5000, 20000])
    parser.add_argument("--emd-sizes", type=int, nargs="+", default=[1500, 2500])
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    cores = os.cpu_count()
    print(f"machine: {cores} cores; d = {args.dim}; epsilon = 0.05 x mean cost; euclidean cost")
    print(f"{'problem':<28}{'taskrel':>14}{'POT sinkhorn_log':>18}{'POT sinkhorn':>14}{'speed-up vs log':>17}")
    with tempfile.TemporaryDirectory() as folder:
        for n in args.sizes:
            x, y = points(n, args.dim, 1, 0.0), points(n, args.dim, 2, 0.3)
            np.save(f"{folder}/x.npy", x)
            np.save(f"{folder}/y.npy", y)
            common = ["--source", f"{folder}/x.npy", "--target", f"{folder}/y.npy",
                      "--tolerance", "1e-300", "--max-iterations", str(args.iterations)]
            ours = {}
            for precision in ("float32", "float64"):
                result = run_taskrel(args.binary, 1, cores, common + ["--precision", precision])
                ours[precision] = result["seconds_per_iteration"]
            reg = 0.05 * result["mean_cost"]
            # POT on the full cost matrix (float64, as POT computes it).
            a = np.full(n, 1.0 / n)
            cost = ot.dist(x.astype(np.float64), y.astype(np.float64), metric="euclidean")
            pot_iterations = max(2, min(args.iterations, int(4e9 / (n * n * 10))))
            start = time.perf_counter()
            ot.bregman.sinkhorn_log(a, a, cost, reg, numItermax=pot_iterations, stopThr=0.0)
            pot_log = (time.perf_counter() - start) / pot_iterations
            start = time.perf_counter()
            ot.sinkhorn(a, a, cost, reg, numItermax=pot_iterations, stopThr=0.0)
            pot_kernel = (time.perf_counter() - start) / pot_iterations
            del cost
            for precision, seconds in ours.items():
                label = f"sinkhorn n=m={n} {precision}"
                print(f"{label:<28}{seconds * 1e3:>11.1f} ms{pot_log * 1e3:>15.1f} ms{pot_kernel * 1e3:>11.1f} ms"
                      f"{pot_log / seconds:>16.1f}x", flush=True)
            entries = n * n
            print(f"{'':<28}{'per entry: ' + format(ours['float32'] / entries * 1e9, '.2f') + ' ns (float32)':>40}")

        print(f"\n{'problem':<28}{'taskrel':>14}{'POT ot.emd':>18}{'ratio':>14}")
        for n in args.emd_sizes:
            x, y = points(n, args.dim, 3, 0.0), points(n, args.dim, 4, 0.3)
            np.save(f"{folder}/x.npy", x)
            np.save(f"{folder}/y.npy", y)
            start = time.perf_counter()
            result = run_taskrel(args.binary, 1, cores, ["--source", f"{folder}/x.npy", "--target", f"{folder}/y.npy", "--exact"])
            ours = time.perf_counter() - start
            start = time.perf_counter()
            a = np.full(n, 1.0 / n)
            cost = ot.dist(x.astype(np.float64), y.astype(np.float64), metric="euclidean")
            exact = ot.emd2(a, a, cost, numItermax=10000000)
            theirs = time.perf_counter() - start
            agree = abs(result["cost"] - exact) / exact
            print(f"{'exact EMD n=m=' + str(n):<28}{ours:>12.2f} s{theirs:>16.2f} s{theirs / ours:>13.2f}x"
                  f"   (costs agree to {agree:.1e})", flush=True)


if __name__ == "__main__":
    main()
