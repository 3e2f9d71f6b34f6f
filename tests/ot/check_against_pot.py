#!/usr/bin/env python3
"""Checks `taskrel ot` against POT, the library users trust, on seeded random
problems of several sizes and dimensions, under mpiexec -n 1, 2 and 3:

- Sinkhorn transport cost and entropic objective equal ot.bregman.sinkhorn_log
  at the same (absolute) epsilon within 1e-5 relative, in float64 and float32;
- exact EMD equals ot.emd2 within 1e-6 relative;
- the unbalanced variant equals ot.unbalanced.sinkhorn_unbalanced;
- the numbers agree across rank counts (1e-9 relative);
- no NaN or Inf for epsilon down to 1e-4 of the mean cost.

Run by ctest (tests/ot/CMakeLists.txt); needs /usr/bin/python3 with POT.
"""
import json
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import ot

BINARY = os.environ["TASKREL_BINARY"]
MPIEXEC = os.environ.get("TASKREL_MPIEXEC", "mpiexec")
RANKS = [int(r) for r in os.environ.get("TASKREL_TEST_RANKS", "1 2 3").split()]
failures = []


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message, flush=True)
    if not condition:
        failures.append(message)


def relative(ours, theirs):
    return abs(ours - theirs) / max(abs(theirs), 1e-300)


def run_taskrel(ranks, *args):
    command = [MPIEXEC, "-n", str(ranks), BINARY, "ot", "--json", "--quiet", *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {done.stderr}")
    return json.loads(done.stdout)


def problem(folder, name, n, m, d, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (rng.standard_normal((m, d)) + 0.3).astype(np.float32)
    a = rng.uniform(0.2, 1.0, n)
    a /= a.sum()
    b = rng.uniform(0.2, 1.0, m)
    b /= b.sum()
    paths = {k: os.path.join(folder, f"{name}_{k}.npy") for k in ("x", "y", "a", "b")}
    for key, value in zip("xyab", (x, y, a, b)):
        np.save(paths[key], value)
    return x.astype(np.float64), y.astype(np.float64), a, b, paths


def files(paths):
    return ["--source", paths["x"], "--target", paths["y"],
            "--source-weights", paths["a"], "--target-weights", paths["b"]]


def entropic(plan, cost, reg):
    positive = plan[plan > 0]
    return float((plan * cost).sum() + reg * (positive * (np.log(positive) - 1)).sum())


def kl(p, q):
    return float((p * np.log(p / q) - p + q).sum())


def main():
    with tempfile.TemporaryDirectory() as folder:
        shapes = [(40, 30, 2, 1), (200, 150, 16, 2), (500, 400, 128, 3)]
        for n, m, d, seed in shapes:
            x, y, a, b, paths = problem(folder, f"p{seed}", n, m, d, seed)
            for metric, flag in (("euclidean", "euclidean"), ("sqeuclidean", "sqeuclidean")):
                cost = ot.dist(x, y, metric=metric)
                reg = 0.05 * cost.mean()
                plan = ot.bregman.sinkhorn_log(a, b, cost, reg, numItermax=100000, stopThr=1e-13)
                pot_cost = float((plan * cost).sum())
                pot_objective = entropic(plan, cost, reg)
                label = f"n={n} m={m} d={d} {metric}"
                per_rank = []
                for ranks in RANKS:
                    for precision in ("float64", "float32"):
                        ours = run_taskrel(ranks, *files(paths), "--cost", flag, "--epsilon", repr(reg),
                                           "--absolute-epsilon", "--tolerance", "1e-10",
                                           "--max-iterations", "100000", "--precision", precision)
                        check(ours["converged"], f"{label} np{ranks} {precision}: converged")
                        check(relative(ours["cost"], pot_cost) < 1e-5,
                              f"{label} np{ranks} {precision}: sinkhorn cost {ours['cost']:.12g} vs POT {pot_cost:.12g}")
                        check(relative(ours["objective"], pot_objective) < 1e-5,
                              f"{label} np{ranks} {precision}: objective {ours['objective']:.12g} vs POT {pot_objective:.12g}")
                        if precision == "float64":
                            per_rank.append(ours["cost"])
                check(max(per_rank) - min(per_rank) <= 1e-9 * abs(per_rank[0]),
                      f"{label}: same cost on {RANKS} ranks ({min(per_rank):.15g} .. {max(per_rank):.15g})")

                exact = float(ot.emd2(a, b, cost, numItermax=10000000))
                ours = run_taskrel(1, *files(paths), "--cost", flag, "--exact")
                check(relative(ours["cost"], exact) < 1e-6,
                      f"{label}: exact EMD {ours['cost']:.12g} vs POT emd2 {exact:.12g}")

            # Unbalanced: masses differ; KL penalty on both marginals.
            cost = ot.dist(x, y, metric="euclidean")
            b_heavy = b * 1.5
            np.save(paths["b"], b_heavy)
            reg, reg_m = 0.1 * cost.mean(), 0.5 * cost.mean()
            plan = ot.unbalanced.sinkhorn_unbalanced(a, b_heavy, cost, reg, reg_m, method="sinkhorn",
                                                     numItermax=200000, stopThr=1e-14)
            pot_cost = float((plan * cost).sum())
            pot_objective = entropic(plan, cost, reg) + reg_m * (kl(plan.sum(1), a) + kl(plan.sum(0), b_heavy))
            for ranks in RANKS:
                ours = run_taskrel(ranks, *files(paths), "--epsilon", repr(reg), "--absolute-epsilon",
                                   "--rho", repr(reg_m), "--tolerance", "1e-12", "--max-iterations", "200000",
                                   "--precision", "float64")
                check(relative(ours["cost"], pot_cost) < 1e-5,
                      f"n={n} unbalanced np{ranks}: cost {ours['cost']:.12g} vs POT {pot_cost:.12g}")
                check(relative(ours["objective"], pot_objective) < 1e-5,
                      f"n={n} unbalanced np{ranks}: objective {ours['objective']:.12g} vs POT {pot_objective:.12g}")
                check(relative(ours["transported_mass"], float(plan.sum())) < 1e-5,
                      f"n={n} unbalanced np{ranks}: mass {ours['transported_mass']:.12g} vs POT {plan.sum():.12g}")
            np.save(paths["b"], b)

        # Tiny epsilon: finite everywhere, in both precisions, on every rank count.
        x, y, a, b, paths = problem(folder, "small_eps", 300, 250, 64, 9)
        for ranks in RANKS:
            for precision in ("float32", "float64"):
                for relative_epsilon, scaling in (("1e-2", []), ("1e-3", []), ("1e-4", []),
                                                  ("1e-4", ["--epsilon-scaling"])):
                    ours = run_taskrel(ranks, *files(paths), "--epsilon", relative_epsilon, "--precision", precision,
                                       "--max-iterations", "500", *scaling)
                    finite = all(isinstance(ours[k], (int, float)) and math.isfinite(ours[k])
                                 for k in ("cost", "objective", "marginal_error", "epsilon"))
                    check(finite, f"epsilon {relative_epsilon} x mean {' '.join(scaling)} np{ranks} {precision}: finite "
                                  f"(cost {ours['cost']:.6g}, error {ours['marginal_error']:.3g})")

    print(f"{len(failures)} failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
