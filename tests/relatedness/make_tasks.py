"""Synthetic tasks with known answers for the relatedness tests.

usage: make_tasks.py STORE [--n N] [--d D] [--k K] [--seed S]

Writes /enc/<task>/{train,test} (h5py, the store layout of DESIGN.md 3):
  ref     K Gaussian blobs (well separated), uniform prior
  same    identical to ref (same arrays)
  perm    ref with labels permuted by PERM (y -> PERM[y]); PERM stored as attribute
  rot     ref rotated by an orthogonal Q and shifted by s (z Q^T + s); Q, s as attributes
  prior   ref resampled to class prior (0.6, 0.3, 0.1, ...)
  random  ref with labels drawn uniformly at random
  other   a fresh blob task (other centers, other scale)
"""
import argparse

import h5py
import numpy as np


def blobs(rng, n, d, k, centers, scale=1.0, prior=None):
    prior = np.full(k, 1.0 / k) if prior is None else np.asarray(prior)
    counts = np.maximum(1, np.round(prior * n).astype(int))
    y = np.concatenate([np.full(c, j) for j, c in enumerate(counts)])
    rng.shuffle(y)
    z = centers[y] + scale * rng.standard_normal((len(y), d))
    return z.astype(np.float32), y.astype(np.int64)


def write(f, name, k, train, test, **attrs):
    g = f.create_group(f"enc/{name}")
    g.attrs["num_classes"] = k
    for key, value in attrs.items():
        g.attrs[key] = value
    for split, (z, y) in (("train", train), ("test", test)):
        s = g.create_group(split)
        s.create_dataset("embeddings", data=z, chunks=(min(len(z), 256), z.shape[1]))
        s.create_dataset("labels", data=y)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("store")
    p.add_argument("--n", type=int, default=240)
    p.add_argument("--d", type=int, default=6)
    p.add_argument("--k", type=int, default=3)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--separation", type=float, default=6.0)
    a = p.parse_args()
    rng = np.random.default_rng(a.seed)
    n, d, k = a.n, a.d, a.k
    centers = a.separation * rng.standard_normal((k, d)) / np.sqrt(1.0)
    ref_train = blobs(rng, n, d, k, centers)
    ref_test = blobs(rng, n // 2, d, k, centers)
    perm = np.roll(np.arange(k), 1)
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    shift = rng.standard_normal(d).astype(np.float32) * 2.0
    prior = np.array([0.6, 0.3, 0.1] + [0.0] * (k - 3))[:k] if k >= 3 else np.array([0.7, 0.3])
    prior = np.where(prior > 0, prior, 0.05)
    prior = prior / prior.sum()
    other_centers = a.separation * rng.standard_normal((k, d))
    with h5py.File(a.store, "w") as f:
        write(f, "ref", k, ref_train, ref_test)
        write(f, "same", k, ref_train, ref_test)
        write(f, "perm", k, (ref_train[0], perm[ref_train[1]]), (ref_test[0], perm[ref_test[1]]), perm=perm)
        rot = lambda s: ((s[0] @ q.T + shift).astype(np.float32), s[1])
        write(f, "rot", k, rot(ref_train), rot(ref_test), Q=q, shift=shift)
        write(f, "prior", k, blobs(rng, n, d, k, centers, prior=prior), blobs(rng, n // 2, d, k, centers, prior=prior),
              prior=prior)
        write(f, "random", k, (ref_train[0], rng.integers(0, k, n).astype(np.int64)),
              (ref_test[0], rng.integers(0, k, len(ref_test[1])).astype(np.int64)))
        write(f, "other", k, blobs(rng, n, d, k, other_centers, scale=3.0), blobs(rng, n // 2, d, k, other_centers, scale=3.0))


if __name__ == "__main__":
    main()
