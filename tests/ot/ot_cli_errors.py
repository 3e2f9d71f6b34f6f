#!/usr/bin/env python3
"""`taskrel ot` as a user meets it: bad input gets one clear message naming
the file and the problem, exit code 2, and no traceback or signal (also
under mpiexec -n 2); weights that do not sum to 1 are normalised with a
warning; points read from an embedding store (sharded reads) give the same
answer as the same points from .npy on 1, 2 and 3 ranks."""
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

BINARY = os.environ["TASKREL_BINARY"]
MPIEXEC = os.environ.get("TASKREL_MPIEXEC", "mpiexec")
failures = []


def check(condition, message):
    print(("ok    " if condition else "FAIL  ") + message, flush=True)
    if not condition:
        failures.append(message)


def run(args, ranks=1):
    command = ([MPIEXEC, "-n", str(ranks)] if ranks > 1 else []) + [BINARY, "ot", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def expect_error(label, args, *needles, ranks=1):
    done = run(args, ranks)
    check(done.returncode == 2, f"{label}: exit code 2 (got {done.returncode})")
    for needle in needles:
        check(needle in done.stderr, f"{label}: message mentions {needle!r} ({done.stderr.strip().splitlines()[0] if done.stderr.strip() else 'no message'})")


def main():
    with tempfile.TemporaryDirectory() as d:
        rng = np.random.default_rng(0)
        path = lambda name: os.path.join(d, name)
        np.save(path("x.npy"), rng.standard_normal((20, 3)).astype(np.float32))
        np.save(path("y.npy"), rng.standard_normal((15, 3)).astype(np.float32))
        np.save(path("y4.npy"), rng.standard_normal((15, 4)).astype(np.float32))
        bad = rng.standard_normal((20, 3)).astype(np.float32)
        bad[7, 1] = np.nan
        np.save(path("nan.npy"), bad)
        np.save(path("flat.npy"), np.zeros(20, dtype=np.float32))
        weights = np.full(20, 0.05)
        weights[3] = -0.01
        np.save(path("negative.npy"), weights)
        np.save(path("short.npy"), np.full(19, 1 / 19))
        inf_weights = np.full(20, 0.05)
        inf_weights[2] = np.inf
        np.save(path("inf_w.npy"), inf_weights)
        np.save(path("zero.npy"), np.zeros(20))
        np.save(path("unnormalised.npy"), np.full(20, 1.0))
        with open(path("text.npy"), "w") as f:
            f.write("not an array")
        base = ["--target", path("y.npy")]

        expect_error("missing file", ["--source", path("nope.npy"), *base], "nope.npy")
        expect_error("not npy", ["--source", path("text.npy"), *base], "text.npy")
        expect_error("NaN in points", ["--source", path("nan.npy"), *base], "nan.npy", "row 7")
        expect_error("1-D points", ["--source", path("flat.npy"), *base], "flat.npy")
        expect_error("dimension mismatch", ["--source", path("x.npy"), "--target", path("y4.npy")], "dimension", "y4.npy")
        expect_error("negative weight", ["--source", path("x.npy"), *base, "--source-weights", path("negative.npy")],
                     "negative.npy", "negative")
        expect_error("weight count", ["--source", path("x.npy"), *base, "--source-weights", path("short.npy")],
                     "short.npy", "19 weights for 20")
        expect_error("infinite weight", ["--source", path("x.npy"), *base, "--source-weights", path("inf_w.npy")],
                     "inf_w.npy", "non-finite value")
        expect_error("all-zero weights", ["--source", path("x.npy"), *base, "--source-weights", path("zero.npy")],
                     "zero.npy", "sum to zero")
        expect_error("bad cost", ["--source", path("x.npy"), *base, "--cost", "manhattan"], "manhattan")
        expect_error("bad epsilon", ["--source", path("x.npy"), *base, "--epsilon", "-1"], "epsilon")
        expect_error("missing flag", ["--source", path("x.npy")], "--target")
        expect_error("NaN under mpiexec -n 2", ["--source", path("nan.npy"), *base], "nan.npy", "row 7", ranks=2)

        done = run(["--source", path("x.npy"), *base, "--source-weights", path("unnormalised.npy"), "--json"])
        check(done.returncode == 0, "unnormalised weights: accepted")
        check("normalising" in done.stderr, "unnormalised weights: warning printed")
        uniform = json.loads(run(["--source", path("x.npy"), *base, "--json"]).stdout)["cost"]
        check(abs(json.loads(done.stdout)["cost"] - uniform) < 1e-9 * uniform,
              "unnormalised uniform weights give the uniform answer")

        # Store inputs: import the same arrays, then compare on 1, 2, 3 ranks.
        store = path("store.h5")
        np.save(path("labels_x.npy"), np.arange(20) % 2)
        np.save(path("labels_y.npy"), np.arange(15) % 2)
        for split, points, labels in (("train", "x.npy", "labels_x.npy"), ("test", "y.npy", "labels_y.npy")):
            imported = subprocess.run([BINARY, "import", "--out", store, "--encoder", "enc", "--dataset", "data",
                                       "--split", split, "--embeddings", path(points), "--labels", path(labels)],
                                      capture_output=True, text=True)
            check(imported.returncode == 0, f"import {split} for the store test ({imported.stderr.strip()})")
        reference = json.loads(run(["--source", path("x.npy"), *base, "--json"]).stdout)["cost"]
        for ranks in (1, 2, 3):
            done = run(["--source", store + ":/enc/data/train", "--target", store + ":/enc/data/test", "--json"], ranks)
            check(done.returncode == 0, f"store input np{ranks}: runs ({done.stderr.strip()[:200]})")
            if done.returncode == 0:
                cost = json.loads(done.stdout)["cost"]
                check(abs(cost - reference) <= 1e-9 * reference, f"store input np{ranks}: cost {cost} = npy cost {reference}")
        expect_error("store: missing dataset", ["--source", store + ":/enc/nope/train", *base], "store.h5", "/enc/nope")
        expect_error("store: short HDF5 path", ["--source", store + ":/enc/train", *base], "store.h5",
                     "expected STORE.h5:/encoder/dataset/split")
        expect_error("store: missing dataset, 2 ranks", ["--source", store + ":/enc/data/nope", *base], "/enc/data/nope",
                     ranks=2)

    print(f"{len(failures)} failed" if failures else "all checks passed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
