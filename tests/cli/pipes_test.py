"""Inputs from anywhere: every command that reads a file, given a pipe.

A process substitution (`<(cat x.npy)`, a /dev/fd/N path), a named pipe
(mkfifo) and /dev/stdin can be read only once and have no size. The array,
CSV and IDX readers read such a file whole and parse it in memory, so the
result equals that of the same bytes in a regular file. What needs a real
file refuses with exit 2 and a message naming it: an HDF5 store (HDF5 reads
at random offsets) and a job spec (its relative paths are read from its
directory).

Runs the real binary (TASKREL_BINARY) under bash for the process
substitutions; fixtures are written with numpy here.
"""
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import unittest

import json

import h5py
import numpy as np

BINARY = os.environ["TASKREL_BINARY"]


def bash(script, stdin=None):
    """Runs `script` with bash (for <(...)); $T is the binary."""
    return subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=120, stdin=stdin,
                          env={**os.environ, "T": BINARY})


def q(path):
    return shlex.quote(path)


class Pipes(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="taskrel_pipes_")
        self.dir = self.tmp.name
        rng = np.random.default_rng(7)
        self.x = rng.normal(size=(12, 5)).astype(np.float32)
        self.y = np.arange(12) % 3
        np.save(self.path("x.npy"), self.x)
        np.save(self.path("y.npy"), self.y)
        np.savez_compressed(self.path("xy.npz"), x=self.x, y=self.y)

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def assert_ok(self, run):
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertNotIn("max_size", run.stderr)

    def assert_refused(self, run, *pieces):
        self.assertEqual(run.returncode, 2, run.stderr)
        self.assertIn("taskrel: error:", run.stderr)
        for piece in pieces:
            self.assertIn(piece, run.stderr)

    def assert_store_holds(self, store, split="train"):
        with h5py.File(store, "r") as f:
            np.testing.assert_array_equal(f[f"enc/ds/{split}/embeddings"][...], self.x)
            np.testing.assert_array_equal(f[f"enc/ds/{split}/labels"][...], self.y)

    def import_args(self, store, split="train"):
        return f"$T import --out {q(store)} --encoder enc --dataset ds --split {split} --num-classes 3"

    def test_import_npy_by_process_substitution(self):
        store = self.path("s.h5")
        run = bash(f"{self.import_args(store)} --embeddings <(cat {q(self.path('x.npy'))}) "
                   f"--labels <(cat {q(self.path('y.npy'))})")
        self.assert_ok(run)
        self.assert_store_holds(store)

    def test_import_npz_by_process_substitution(self):
        store = self.path("s.h5")
        npz = q(self.path("xy.npz"))
        run = bash(f"{self.import_args(store)} --embeddings <(cat {npz}) --embeddings-key x "
                   f"--labels <(cat {npz}) --labels-key y")
        self.assert_ok(run)
        self.assert_store_holds(store)

    def test_npz_without_member_is_named(self):
        run = bash(f"{self.import_args(self.path('s.h5'))} --embeddings <(cat {q(self.path('xy.npz'))}) "
                   f"--labels {q(self.path('y.npy'))}")
        self.assert_refused(run, "/dev/fd/", "zip (.npz) archive, not a .npy file")
        self.assertFalse(os.path.exists(self.path("s.h5")))

    def test_import_from_stdin_pipe(self):
        store = self.path("s.h5")
        with open(self.path("x.npy"), "rb") as x:
            run = bash(f"{self.import_args(store)} --embeddings /dev/stdin --labels {q(self.path('y.npy'))}", stdin=x)
        self.assert_ok(run)
        run = bash(f"cat {q(self.path('x.npy'))} | {self.import_args(store, 'test')} --embeddings /dev/stdin "
                   f"--labels {q(self.path('y.npy'))}")
        self.assert_ok(run)
        self.assert_store_holds(store, "test")

    def test_import_from_named_pipe(self):
        store = self.path("s.h5")
        fifo = self.path("x.fifo")
        os.mkfifo(fifo)

        def feed():
            with open(fifo, "wb") as out, open(self.path("x.npy"), "rb") as x:
                out.write(x.read())
        writer = threading.Thread(target=feed)
        writer.start()
        run = bash(f"{self.import_args(store)} --embeddings {q(fifo)} --labels {q(self.path('y.npy'))}")
        writer.join(timeout=30)
        self.assert_ok(run)
        self.assert_store_holds(store)

    def test_ot_source_and_weights_by_process_substitution(self):
        np.save(self.path("w.npy"), np.full(12, 1 / 12))
        files = bash(f"$T ot --source {q(self.path('x.npy'))} --target {q(self.path('x.npy'))} "
                     f"--source-weights {q(self.path('w.npy'))} --exact --json")
        self.assert_ok(files)
        piped = bash(f"$T ot --source <(cat {q(self.path('x.npy'))}) --target {q(self.path('x.npy'))} "
                     f"--source-weights <(cat {q(self.path('w.npy'))}) --exact --json")
        self.assert_ok(piped)
        a, b = json.loads(files.stdout), json.loads(piped.stdout)
        a.pop("seconds"), b.pop("seconds")
        self.assertEqual(a, b)

    def test_correlate_csv_by_process_substitution(self):
        rng = np.random.default_rng(3)
        with open(self.path("scores.csv"), "w") as f:
            f.write("encoder,reference,target,status,error,relatedness\n")
            for e in range(6):
                f.write(f"enc{e},ref,tgt,ok,,{rng.normal():.6f}\n")
        with open(self.path("acc.csv"), "w") as f:
            f.write("encoder,target,accuracy\n")
            for e in range(6):
                f.write(f"enc{e},tgt,{rng.random():.6f}\n")
        args = "--bootstrap 0 --json"
        files = bash(f"$T correlate --scores {q(self.path('scores.csv'))} --accuracy {q(self.path('acc.csv'))} {args}")
        self.assert_ok(files)
        piped = bash(f"$T correlate --scores <(cat {q(self.path('scores.csv'))}) "
                     f"--accuracy <(cat {q(self.path('acc.csv'))}) {args}")
        self.assert_ok(piped)
        a, b = json.loads(files.stdout), json.loads(piped.stdout)
        for echoed in ("scores", "accuracy"):  # the paths themselves
            a.pop(echoed), b.pop(echoed)
        self.assertEqual(a, b)

    def test_hdf5_store_as_pipe_is_refused(self):
        store = self.path("s.h5")
        self.assert_ok(bash(f"{self.import_args(store)} --embeddings {q(self.path('x.npy'))} "
                            f"--labels {q(self.path('y.npy'))}"))
        run = bash(f"$T inspect <(cat {q(store)})")
        self.assert_refused(run, "/dev/fd/", "is not a regular file", "HDF5 stores must be files")
        run = bash(f"$T ot --source {q(store)}:/enc/ds/train --target {q(self.path('x.npy'))} --exact --json")
        self.assert_ok(run)
        before = open(store, "rb").read()
        run = bash(f"cat {q(store)} | {self.import_args('/dev/stdin', 'test')} --embeddings {q(self.path('x.npy'))} "
                   f"--labels {q(self.path('y.npy'))}")
        self.assert_refused(run, "/dev/stdin", "HDF5 stores must be files")
        self.assertEqual(open(store, "rb").read(), before)

    def test_job_spec_as_pipe_is_refused(self):
        if not os.path.exists(os.path.join(os.path.dirname(BINARY), "taskrel-torch")):
            self.skipTest("taskrel-torch (matrix) is not built here: the sanitizer pass builds the front alone")
        with open(self.path("job.toml"), "w") as f:
            f.write('store = "s.h5"\noutput = "out"\n')
        run = bash(f"$T matrix <(cat {q(self.path('job.toml'))})")
        self.assert_refused(run, "/dev/fd/", "is not a regular file", "a job spec must be a file")


if __name__ == "__main__":
    result = unittest.TextTestRunner(verbosity=2).run(unittest.defaultTestLoader.loadTestsFromTestCase(Pipes))
    sys.exit(0 if result.wasSuccessful() else 1)
