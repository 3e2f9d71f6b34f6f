"""A tiny synthetic encoder zoo for the `taskrel matrix` tests and benchmark.

usage: make_zoo.py STORE [--encoders E] [--datasets D] [--n N] [--d DIM] [--k K] [--seed S]
                         [--nan ENCODER/DATASET] [--nan-row R] [--split-files DIR]

Every encoder e_i embeds D datasets t_j: K Gaussian classes whose centres
drift from dataset to dataset (so relatedness differs between pairs) and
whose separation depends on the encoder. train has N rows, test N/2. With
--nan, one value of ENCODER/DATASET's test split is NaN (structure valid,
values bad: the triple must fail at read time), in row --nan-row (default 1). With --split-files DIR, each
encoder goes to its own file DIR/<encoder>.h5 instead (a directory store).
"""
import argparse
import os

import h5py
import numpy as np


def main():
    p = argparse.ArgumentParser()
    p.add_argument("store")
    p.add_argument("--encoders", type=int, default=2)
    p.add_argument("--datasets", type=int, default=3)
    p.add_argument("--n", type=int, default=60)
    p.add_argument("--d", type=int, default=4)
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--nan", default="")
    p.add_argument("--nan-row", type=int, default=1)
    p.add_argument("--split-files", default="")
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    base = rng.standard_normal((a.k, a.d)) * 4.0
    files = {}
    for e in range(a.encoders):
        encoder = f"enc{e}"
        path = os.path.join(a.split_files, f"{encoder}.h5") if a.split_files else a.store
        if path not in files:
            files[path] = h5py.File(path, "w")
        f = files[path]
        separation = 1.0 + e
        for t in range(a.datasets):
            dataset = f"task{t}"
            centres = separation * (base + 0.7 * t * rng.standard_normal((a.k, a.d)))
            g = f.create_group(f"{encoder}/{dataset}")
            g.attrs["num_classes"] = a.k
            for split, n in (("train", a.n), ("test", a.n // 2)):
                y = np.arange(n) % a.k
                rng.shuffle(y)
                z = (centres[y] + rng.standard_normal((n, a.d))).astype(np.float32)
                if a.nan == f"{encoder}/{dataset}" and split == "test":
                    z[a.nan_row, 0] = np.nan
                s = g.create_group(split)
                s.create_dataset("embeddings", data=z, chunks=(min(n, 64), a.d))
                s.create_dataset("labels", data=y.astype(np.int64))
    for f in files.values():
        f.close()


if __name__ == "__main__":
    main()
