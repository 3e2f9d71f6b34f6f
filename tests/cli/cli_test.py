"""End-to-end tests of `taskrel import` (one split, and many with --manifest)
and `taskrel inspect`: run the real
binary (TASKREL_BINARY), check exit codes and messages, and read the store
back with h5py. Fixtures come from tests/io/store_fixtures.py at test time.

Usage: cli_test.py import|manifest|inspect   (one ctest entry each, to keep them short)
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


class Manifest(unittest.TestCase):
    """`taskrel import --manifest FILE.csv`: many splits in one call, all
    checked before the store is touched, relative paths, resumable."""

    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="taskrel_manifest_")
        self.dir = self.tmp.name
        self.store = os.path.join(self.dir, "store.h5")
        os.makedirs(os.path.join(self.dir, "arrays"))
        self.rows = []
        self.arrays = {}
        rng = np.random.default_rng(3)
        # 2 encoders x 2 datasets x 2 splits; encoder e1 is 4-d, e2 is 6-d;
        # dataset d3 has 3 classes and names, d4 has 4 classes.
        for encoder, dim in (("e1", 4), ("e2", 6)):
            for dataset, classes in (("d3", 3), ("d4", 4)):
                for split in ("train", "test"):
                    x = rng.normal(size=(8, dim)).astype("f4")
                    y = np.arange(8) % classes
                    name = f"{encoder}_{dataset}_{split}"
                    self.arrays[(encoder, dataset, split)] = (x, y)
                    if dataset == "d4" and encoder == "e2":  # an .npz, members inline
                        np.savez(os.path.join(self.dir, "arrays", name + ".npz"), x=x, y=y)
                        emb, lab = f"arrays/{name}.npz:x", f"arrays/{name}.npz:y"
                    else:
                        np.save(os.path.join(self.dir, "arrays", name + "_x.npy"), x)
                        np.save(os.path.join(self.dir, "arrays", name + "_y.npy"), y)
                        emb, lab = f"arrays/{name}_x.npy", f"arrays/{name}_y.npy"
                    names = "names3.txt" if dataset == "d3" else ""
                    self.rows.append([encoder, dataset, split, emb, lab, names, str(classes) if dataset == "d4" else ""])
        with open(os.path.join(self.dir, "names3.txt"), "w") as f:
            f.write("cat\ndog\nbird\n")

    def tearDown(self):
        self.tmp.cleanup()

    def write_manifest(self, rows, name="manifest.csv",
                       header="encoder,dataset,split,embeddings,labels,class_names,num_classes"):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(header + "\n")
            for row in rows:
                f.write(",".join(row) + "\n")
        return path

    def run_manifest(self, path, *extra):
        # From another folder: relative paths are the manifest's, not the cwd's.
        return subprocess.run([BINARY, "import", "--out", self.store, "--manifest", path, *extra],
                              capture_output=True, text=True, timeout=60, cwd="/")

    def assert_refused(self, result, *pieces):
        self.assertEqual(result.returncode, 2, result.stderr)
        for piece in pieces:
            self.assertIn(piece, result.stderr)

    def test_imports_every_entry_with_relative_paths(self):
        result = self.run_manifest(self.write_manifest(self.rows))
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertIn("imported 8 splits (64 rows; 0 replaced, 0 skipped as present)", result.stderr)
        with h5py.File(self.store, "r") as f:
            for (encoder, dataset, split), (x, y) in self.arrays.items():
                np.testing.assert_array_equal(f[f"{encoder}/{dataset}/{split}/embeddings"][...], x)
                np.testing.assert_array_equal(f[f"{encoder}/{dataset}/{split}/labels"][...], y)
            self.assertEqual(list(f["e1/d3"].attrs["class_names"]), ["cat", "dog", "bird"])
            self.assertEqual(int(f["e2/d4"].attrs["num_classes"]), 4)
        inspect = taskrel("inspect", self.store, "--json")
        self.assertEqual(inspect.returncode, 0, inspect.stderr)

    def test_one_bad_entry_writes_nothing_and_every_bad_line_is_named(self):
        rows = [list(r) for r in self.rows]
        nan = self.arrays[("e1", "d3", "test")][0].copy()
        nan[2, 1] = np.nan
        np.save(os.path.join(self.dir, "arrays", "nan.npy"), nan)
        rows[1][3] = "arrays/nan.npy"                       # line 3: NaN in row 2
        rows[2][3] = "arrays/missing.npy"                   # line 4: no such file
        np.save(os.path.join(self.dir, "arrays", "wide.npy"), np.zeros((8, 5), "f4"))
        rows[5][3] = "arrays/wide.npy"                      # line 7: 5-d among e2's 6-d
        result = self.run_manifest(self.write_manifest(rows))
        self.assert_refused(result, "3 of 8 entries cannot be imported", "was not touched", "manifest.csv line 3",
                            "NaN", "manifest.csv line 4", "missing.npy", "manifest.csv line 7", "dimension 5")
        self.assertFalse(os.path.exists(self.store))

        # Against an existing store: byte for byte unchanged.
        self.assertEqual(self.run_manifest(self.write_manifest(self.rows[:1], "first.csv")).returncode, 0)
        before = digest(self.store)
        self.assert_refused(self.run_manifest(self.write_manifest(rows)), "line 3", "line 4", "line 7")
        self.assertEqual(digest(self.store), before)

    def test_disagreeing_entries_of_one_dataset(self):
        rows = [list(r) for r in self.rows[:2]]
        # The test split of d3 only has labels 0 and 1: max label + 1 would
        # give 2 classes there and 3 in train.
        np.save(os.path.join(self.dir, "arrays", "y2.npy"), np.arange(8) % 2)
        rows[1][4] = "arrays/y2.npy"
        rows[0][5] = rows[1][5] = ""
        self.assert_refused(self.run_manifest(self.write_manifest(rows)), "line 3", "num_classes 2", "num_classes 3",
                            "line 2", "give num_classes in the manifest")
        self.assertFalse(os.path.exists(self.store))

    def test_manifest_syntax_errors_name_the_line(self):
        cases = [
            (self.write_manifest(self.rows[:1], "s1.csv", header="encoder,dataset,split,embeddings,labels,class_names,classes"),
             ["unknown column 'classes'"]),
            (self.write_manifest([self.rows[0], self.rows[0]], "s2.csv"), ["line 3", "/e1/d3/train is listed twice", "line 2"]),
            (self.write_manifest([["e1", "", "train", "a.npy", "b.npy", "", ""]], "s3.csv"), ["line 2", "'dataset' is empty"]),
            (self.write_manifest([self.rows[0][:6] + ["three"]], "s4.csv"), ["line 2", "num_classes 'three'"]),
            (self.write_manifest([["e1", "d", "train", "a.npz", "b.npy", "", ""]], "s5.csv"), ["line 2", "needs a member"]),
            (self.write_manifest([], name="empty.csv"), ["lists no imports"]),
            (os.path.join(self.dir, "absent.csv"), ["absent.csv"]),
        ]
        for path, pieces in cases:
            with self.subTest(pieces[0]):
                self.assert_refused(self.run_manifest(path), *pieces)
        self.assertFalse(os.path.exists(self.store))
        both = taskrel("import", "--out", self.store, "--manifest", self.write_manifest(self.rows),
                       "--encoder", "e1")
        self.assertEqual(both.returncode, 2, both.stderr)

    def test_existing_splits_refused_skipped_or_replaced(self):
        manifest = self.write_manifest(self.rows)
        self.assertEqual(self.run_manifest(self.write_manifest(self.rows[:3], "part.csv")).returncode, 0)
        before = digest(self.store)
        self.assert_refused(self.run_manifest(manifest), "line 2", "already exists")
        self.assertEqual(digest(self.store), before)
        resumed = self.run_manifest(manifest, "--skip-existing")
        self.assertEqual(resumed.returncode, 0, resumed.stderr)
        self.assertIn("imported 5 splits", resumed.stderr)
        self.assertIn("3 skipped as present", resumed.stderr)
        replaced = self.run_manifest(manifest, "--overwrite")
        self.assertEqual(replaced.returncode, 0, replaced.stderr)
        self.assertIn("8 replaced", replaced.stderr)

    def test_a_partial_split_left_by_a_killed_import_is_ignored_then_replaced(self):
        self.assertEqual(self.run_manifest(self.write_manifest(self.rows[:1], "one.csv")).returncode, 0)
        with h5py.File(self.store, "a") as f:  # what a kill part-way through writing the test split leaves
            f.create_group("e1/d3/.partial-test").create_dataset("embeddings", data=np.zeros((3, 4), "f4"))
        inspect = taskrel("inspect", self.store, "--json")
        self.assertEqual(inspect.returncode, 0, inspect.stderr)
        self.assertNotIn(".partial-test", inspect.stdout)
        result = self.run_manifest(self.write_manifest(self.rows[1:2], "two.csv"))
        self.assertEqual(result.returncode, 0, result.stderr)
        with h5py.File(self.store, "r") as f:
            self.assertEqual(sorted(f["e1/d3"].keys()), ["test", "train"])


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
    suite = {"import": Import, "manifest": Manifest, "inspect": Inspect}[sys.argv[1]]
    result = unittest.TextTestRunner(verbosity=2).run(unittest.defaultTestLoader.loadTestsFromTestCase(suite))
    sys.exit(0 if result.wasSuccessful() else 1)
