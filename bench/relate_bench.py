"""Benchmark of `taskrel relate` on one triple: n_R = n_T = 10,000 train rows
(plus 2,000 test rows each), d = 512, K = 10: the time to a converged fit in
the default mode (label-exact, the bound itself minimised, stopped by its
stopping rule) against the paper-compatible `--mode paper-code`, printed side
by side with the bound, target_loss (what it bounds) and the gap.

usage: /usr/bin/python3 bench/relate_bench.py [--binary build/src/cli/taskrel] [--store /tmp/relate_bench.h5]
                                            [--epochs N] [--threads T] [--keep]

The synthetic tasks: the reference is K Gaussian blobs (centres at distance
~8, unit noise); the target applies a random near-orthogonal map and a shift
to fresh samples of the same blobs, with the labels permuted, so a related
target with a known answer.
"""
import argparse
import json
import os
import subprocess
import tempfile
import time

import h5py
import numpy as np


def make_store(path, n=10_000, n_test=2_000, d=512, k=10, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.standard_normal((k, d)) * (8.0 / np.sqrt(2 * d)) * np.sqrt(d) / 4
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    m = 0.9 * np.eye(d) + 0.1 * q
    shift = rng.standard_normal(d)
    perm = rng.permutation(k)

    def sample(rows):
        y = rng.integers(0, k, rows)
        return (centers[y] + rng.standard_normal((rows, d))).astype(np.float32), y

    with h5py.File(path, "w") as f:
        for name, transform in (("ref", None), ("target", (m, shift, perm))):
            g = f.create_group(f"enc/{name}")
            g.attrs["num_classes"] = k
            for split, rows in (("train", n), ("test", n_test)):
                z, y = sample(rows)
                if transform is not None:
                    z = (z @ transform[0].T + transform[1]).astype(np.float32)
                    y = transform[2][y]
                s = g.create_group(split)
                s.create_dataset("embeddings", data=z, chunks=(1024, d))
                s.create_dataset("labels", data=y.astype(np.int64))


def run(binary, store, mode, epochs, threads, out):
    command = [binary, "relate", "--store", store, "--encoder", "enc", "--reference", "ref", "--target", "target",
               "--mode", mode, "--json", out, "--log-every", "25"]
    if epochs:
        command += ["--epochs", str(epochs)]
    if threads:
        command += ["--threads", str(threads)]
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - started
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr}")
    with open(out) as f:
        return wall, json.load(f)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--binary", default="build/src/cli/taskrel")
    p.add_argument("--store", default=os.path.join(tempfile.gettempdir(), "relate_bench.h5"))
    p.add_argument("--epochs", type=int, default=0, help="0: the command's default")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--modes", default="label-exact,paper-code")
    p.add_argument("--keep", action="store_true", help="keep the store for later runs")
    a = p.parse_args()
    if not os.path.exists(a.store):
        started = time.perf_counter()
        make_store(a.store)
        print(f"store {a.store} written in {time.perf_counter() - started:.1f} s")
    rows = []
    for mode in a.modes.split(","):
        wall, out = run(a.binary, a.store, mode, a.epochs, a.threads, a.store + f".{mode}.json")
        rows.append((mode, wall, out))
    print(f"\n{'mode':<12} {'epochs':>6} {'conv':>5} {'points':>6} {'wall s':>8} {'fit s':>7} {'head s':>7} "
          f"{'bound':>8} {'loss_T':>7} {'gap':>7} {'RW':>7} {'H':>7} {'W_d':>8} {'tau':>8} {'acc_T':>6}")
    for mode, wall, out in rows:
        fit = out.get("fit", {})
        print(f"{mode:<12} {fit.get('epochs', out.get('epochs', 0)):>6} {str(fit.get('converged', '-')):>5} "
              f"{fit.get('points_per_side', out['options']['batch_size']):>6} {wall:>8.1f} "
              f"{out['timings']['fit']:>7.1f} {out['timings']['head']:>7.1f} {out['relatedness']:>8.4f} "
              f"{out['target_loss']:>7.4f} {out['relatedness'] - out['target_loss']:>7.4f} "
              f"{out['reweighted_loss']:>7.4f} {out['label_mismatch']:>7.4f} {out['distribution_mismatch']:>8.4f} "
              f"{out['tau']:>8.5f} {out['target_accuracy']:>6.3f}")
    if not a.keep:
        os.remove(a.store)


if __name__ == "__main__":
    main()
