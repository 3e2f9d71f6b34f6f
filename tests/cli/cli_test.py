"""End-to-end tests of `taskrel import` and `taskrel inspect`: run the real
binary (TASKREL_BINARY), check exit codes and messages, and read the store
back with h5py. Fixtures come from tests/io/store_fixtures.py at test time.

Usage: cli_test.py import|inspect   (one ctest entry each, to keep them short)
"""
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np

BINARY = os.environ["TASKREL_BINARY"]
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "io"))
import store_fixtures  # noqa: E402


def taskrel(*args, ranks=None):
    command = [BINARY, *args]
    if ranks:
        command = ["mpiexec", "-n", str(ranks), *command]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def digest(path):
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


class Import(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="taskrel_cli_")
        self.dir = self.tmp.name
        self.store = self.path("store.h5")

    def tearDown(self):
        self.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.dir, name)

    def save(self, name, array):
        np.save(self.path(name), array)
        return self.path(name)

    def run_import(self, split, embeddings, labels, *extra, encoder="enc", dataset="ds", ranks=None):
        return taskrel("import", "--out", self.store, "--encoder", encoder, "--dataset", dataset, "--split", split,
                       "--embeddings", embeddings, "--labels", labels, *extra, ranks=ranks)

    def assert_ok(self, result):
        self.assertEqual(result.returncode, 0, result.stderr)

    def assert_bad_input(self, result, *pieces):
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("taskrel: error:", result.stderr)
        for piece in pieces:
            self.assertIn(piece, result.stderr)

    def test_dtypes_orders_and_npz(self):
        x = store_fixtures.reference_matrix(6, 4, "f8")
        y = np.arange(6) % 3
        cases = [
            ("f16c", self.save("a.npy", x.astype("f2")), self.save("ya.npy", y.astype("i4")), []),
            ("f32f", self.save("b.npy", np.asfortranarray(x.astype("f4"))), self.save("yb.npy", y.astype("i8")), []),
            ("f64f", self.save("c.npy", np.asfortranarray(x)), self.path("ya.npy"), []),
        ]
        np.savez(self.path("s.npz"), emb=x.astype("f4"), lab=y)
        np.savez_compressed(self.path("z.npz"), emb=np.asfortranarray(x.astype("f2")), lab=y.astype("i4"))
        cases.append(("npz_inline", self.path("s.npz") + ":emb", self.path("s.npz") + ":lab", []))
        cases.append(("npz_keys", self.path("z.npz"), self.path("z.npz"),
                      ["--embeddings-key", "emb", "--labels-key", "lab"]))
        for split, emb, lab, extra in cases:
            result = self.run_import(split, emb, lab, *extra)
            self.assert_ok(result)
            self.assertIn("imported 6 rows", result.stderr)
        with h5py.File(self.store, "r") as f:
            for split, *_ in cases:
                e = f[f"enc/ds/{split}/embeddings"]
                self.assertEqual(e.dtype, np.float32)
                np.testing.assert_array_equal(e[...], x.astype("f4"), err_msg=split)
                np.testing.assert_array_equal(f[f"enc/ds/{split}/labels"][...], y)
            self.assertEqual(int(f["enc/ds"].attrs["num_classes"]), 3)

    def test_append_class_names_and_overwrite(self):
        x = self.save("x.npy", store_fixtures.reference_matrix(6, 4, "f4"))
        y = self.save("y.npy", np.arange(6) % 3)
        with open(self.path("names.txt"), "w") as f:
            f.write("cat\ndog\nbird\n")
        self.assert_ok(self.run_import("train", x, y, "--class-names", self.path("names.txt")))
        self.assert_ok(self.run_import("train", x, y, encoder="other"))
        with h5py.File(self.store, "r") as f:
            self.assertEqual(list(f["enc/ds"].attrs["class_names"]), ["cat", "dog", "bird"])
            before_other = f["other/ds/train/embeddings"][...]
        # Under mpiexec -n 2: rank 0 writes, rank 1 waits.
        self.assert_ok(self.run_import("test", x, y, ranks=2))
        before = digest(self.store)
        self.assert_bad_input(self.run_import("test", x, y), self.store, "/enc/ds/test", "already exists", "--overwrite")
        self.assertEqual(digest(self.store), before)

        x2 = self.save("x2.npy", np.ones((6, 4), dtype="f4"))
        self.assert_ok(self.run_import("test", x2, y, "--overwrite"))
        with h5py.File(self.store, "r") as f:
            np.testing.assert_array_equal(f["enc/ds/test/embeddings"][...], np.ones((6, 4)))
            np.testing.assert_array_equal(f["enc/ds/train/embeddings"][...], store_fixtures.reference_matrix(6, 4, "f4"))
            np.testing.assert_array_equal(f["other/ds/train/embeddings"][...], before_other)

    def test_bad_input_exits_2_and_leaves_store_unchanged(self):
        x = self.save("x.npy", store_fixtures.reference_matrix(6, 4, "f4"))
        y = self.save("y.npy", np.arange(6) % 3)
        self.assert_ok(self.run_import("train", x, y))
        before = digest(self.store)
        nan = np.array(store_fixtures.reference_matrix(6, 4, "f4"))
        nan[5, 2] = np.nan
        open(self.path("trunc.npy"), "wb").write(open(x, "rb").read()[:-5])
        np.savez(self.path("s.npz"), emb=np.zeros((6, 4), dtype="f4"))
        cases = [
            ((self.save("nan.npy", nan), y), [self.path("nan.npy"), "NaN", "row 5"]),
            ((x, self.save("y5.npy", np.arange(5) % 3)), [self.path("y5.npy"), "5 labels", "6 rows"]),
            ((x, self.save("y7.npy", np.array([0, 1, 2, 7, 1, 2]))), [self.store, "/enc/ds/test", "label 7 in row 3"]),
            ((x, self.save("yf.npy", np.zeros(6, dtype="f4"))), [self.path("yf.npy"), "integer"]),
            ((self.save("x5.npy", np.zeros((6, 5), dtype="f4")), y), [self.store, "/enc/ds/test", "dimension 5"]),
            ((self.path("trunc.npy"), y), [self.path("trunc.npy"), "truncated"]),
            ((self.path("s.npz") + ":nope", y), [self.path("s.npz"), "no member 'nope'", "emb.npy"]),
            ((self.path("s.npz"), y), [self.path("s.npz"), "needs a member"]),
            ((self.save("x1d.npy", np.zeros(6, dtype="f4")), y), [self.path("x1d.npy"), "2-D"]),
        ]
        for (emb, lab), pieces in cases:
            with self.subTest(pieces[1]):
                self.assert_bad_input(self.run_import("test", emb, lab), *pieces)
        self.assert_bad_input(self.run_import("test", x, y, "--num-classes", "4"), "--num-classes 4", "num_classes 3")
        self.assert_bad_input(self.run_import("head", x, y), "'head' is reserved")
        self.assertEqual(digest(self.store), before)
        # Bad usage is exit code 2 as well.
        self.assertEqual(taskrel("import", "--out", self.store).returncode, 2)


class Inspect(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="taskrel_cli_")
        store_fixtures.good_store(cls.tmp.name)
        store_fixtures.bad_stores(cls.tmp.name)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def path(self, name):
        return os.path.join(self.tmp.name, name)

    def test_table_and_json(self):
        table = taskrel("inspect", self.path("h5py_store.h5"))
        self.assertEqual(table.returncode, 0, table.stderr)
        self.assertRegex(table.stdout, r"enc\s+ds\s+train\s+9\s+4\s+float16\s+3\s+cat=3 dog=3 émeu=3")
        self.assertRegex(table.stdout, r"enc\s+ds\s+test\s+6\s+4\s+float64\s+3")
        result = taskrel("inspect", self.path("h5py_store.h5"), "--json")
        self.assertEqual(result.returncode, 0, result.stderr)
        dataset = json.loads(result.stdout)["encoders"]["enc"]["ds"]
        self.assertEqual(dataset["num_classes"], 3)
        self.assertEqual(dataset["class_names"], ["cat", "dog", "émeu"])
        self.assertEqual(dataset["splits"]["train"], {"rows": 9, "dim": 4, "dtype": "float16", "label_dtype": "int32",
                                                      "class_counts": [3, 3, 3]})
        self.assertEqual(sorted(dataset["splits"]), ["test", "train"])

    def test_validation_errors_exit_2(self):
        cases = {
            "missing_labels.h5": ("/e/d/train/labels", "missing dataset"),
            "embeddings_int.h5": ("/e/d/train/embeddings", "unsupported dtype"),
            "label_range.h5": ("/e/d/train/labels", "label 7 in row 3"),
            "nan.h5": ("/e/d/train/embeddings", "non-finite value (NaN/Inf) in row 4"),
            "empty_class.h5": ("/e/d/train/labels", "class 2 has no rows"),
            "dim_mismatch.h5": ("/e/d2/train/embeddings", "dimension 3 differs"),
            "not_hdf5.h5": ("", "not an HDF5 file"),
            "truncated.h5": ("", "truncated or corrupt"),
        }
        for name, (hdf5_path, problem) in cases.items():
            with self.subTest(name):
                result = taskrel("inspect", self.path(name))
                self.assertEqual(result.returncode, 2, result.stderr)
                self.assertIn(f"taskrel: error: {self.path(name)}: {hdf5_path}", result.stderr)
                self.assertIn(problem, result.stderr)


if __name__ == "__main__":
    suite = {"import": Import, "inspect": Inspect}[sys.argv[1]]
    result = unittest.TextTestRunner(verbosity=2).run(unittest.defaultTestLoader.loadTestsFromTestCase(suite))
    sys.exit(0 if result.wasSuccessful() else 1)
