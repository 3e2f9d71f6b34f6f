#!/usr/bin/env python3
"""Writes the example embeddings the demo imports: for each encoder and
dataset, train/test splits as .npy (embeddings n x d float32, labels int64).

Encoders differ in how well they separate classes (a "strong" and a "weak"
encoder); datasets differ in their classes and shift, so task distances
differ in a way one can predict. Deterministic (fixed seeds).

    /usr/bin/python3 scripts/make_example_zoo.py OUT_DIR
"""
import os
import sys

import numpy as np

ENCODERS = {"strong_encoder": 4.0, "weak_encoder": 1.0}   # class separation
DATASETS = {                                             # classes, shift
    "reference_task": (10, 0.0),
    "near_task": (10, 0.2),
    "far_task": (5, 2.0),
}
DIM = 64


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for e, (encoder, separation) in enumerate(ENCODERS.items()):
        centres = np.random.default_rng(100 + e).standard_normal((10, DIM)) * separation
        for s, (dataset, (classes, shift)) in enumerate(DATASETS.items()):
            for split, n in (("train", 600), ("test", 200)):
                rng = np.random.default_rng(1000 * e + 10 * s + (split == "test"))
                labels = np.arange(n) % classes
                x = centres[labels] + rng.standard_normal((n, DIM)) + shift
                np.save(f"{out}/{encoder}_{dataset}_{split}_x.npy", x.astype(np.float32))
                np.save(f"{out}/{encoder}_{dataset}_{split}_y.npy", labels.astype(np.int64))


if __name__ == "__main__":
    main()
