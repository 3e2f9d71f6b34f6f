"""taskrel_py.results on real `taskrel matrix` output, against what h5py and pandas read raw.

  Matrix     a tiny zoo (make_zoo below: 3 encoders x 3 datasets, 6 overlapping classes in 2-D
             so that accuracies differ between encoders, one dataset with a NaN so its
             triples fail, no self pairs so the diagonal is never run), `taskrel matrix` with few epochs:
             load_matrix has dims (encoder, reference, target) with the file's axes, every quantity equal
             to the raw dataset where done and NaN elsewhere (failed cells, self pairs), bool done/failed
             masks equal to the file's, the root attributes as attrs; B/D from load_transforms and as
             variables equal to /B and /D.
  Shapes     datasets with different class counts: no B variable (shapes differ), load_transforms still
             gives each triple its K_T x K_R matrix.
  CSV        load_results: the promised dtypes (category keys and status, string error, bool / float),
             values equal to pandas' plain read, failed rows carrying their error; each ok row's
             relatedness equals the matrix cell.
  Example    analysis/examples/notebook_example.py runs on that matrix and a finetune.csv of linear-probe
             accuracies computed here; its printed table and Pearson r equal those computed from the files.
  Errors     load_matrix on a file that is not HDF5, or on an embedding store, raises InputError naming it.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np
import pandas as pd

SOURCE = os.environ.get("TASKREL_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BINARY = os.environ["TASKREL_BINARY"]
sys.path.insert(0, os.path.join(SOURCE, "analysis"))
from taskrel_py import InputError  # noqa: E402
from taskrel_py.results import load_matrix, load_results, load_transforms  # noqa: E402

ENV = dict(os.environ, OMP_NUM_THREADS="1")


def make_zoo(path, encoders=3, datasets=3, n=60, d=2, k=6, nan=None, seed=7):
    """A tiny synthetic zoo in the store layout (the recipe of the matrix tests' make_zoo.py): dataset t of
    encoder e has K Gaussian classes whose centres drift with t and spread with e, train n rows and test
    n/2. Six classes in two dimensions overlap, so probe accuracies differ between encoders. With `nan`
    ('encoder/dataset'), one test value is NaN: that dataset's triples fail at read time."""
    rng = np.random.default_rng(seed)
    base = rng.standard_normal((k, d)) * 4.0
    with h5py.File(path, "w") as f:
        for e in range(encoders):
            for t in range(datasets):
                centres = (1.0 + e) * (base + 0.7 * t * rng.standard_normal((k, d)))
                g = f.create_group(f"enc{e}/task{t}")
                g.attrs["num_classes"] = k
                for split, rows in (("train", n), ("test", n // 2)):
                    y = np.arange(rows) % k
                    rng.shuffle(y)
                    z = (centres[y] + rng.standard_normal((rows, d))).astype(np.float32)
                    if nan == f"enc{e}/task{t}" and split == "test":
                        z[1, 0] = np.nan
                    g.create_dataset(f"{split}/embeddings", data=z, chunks=(min(rows, 64), d))
                    g.create_dataset(f"{split}/labels", data=y.astype(np.int64))


def run_matrix(directory, store):
    job = os.path.join(directory, "job.toml")
    with open(job, "w") as f:
        f.write(f'store = "{store}"\noutput = "out"\nseed = 3\n[relate]\nepochs = 10\nhead_epochs = 60\n'
                f'tau0 = 0.2\nmetrics = ["logme", "leep"]\n')
    result = subprocess.run([BINARY, "matrix", job, "-q"], capture_output=True, text=True, env=ENV, timeout=300)
    return result, os.path.join(directory, "out")


class Results(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="taskrel_results_")
        cls.store = os.path.join(cls.tmp, "store.h5")
        make_zoo(cls.store, nan="enc1/task2")
        cls.result, cls.out = run_matrix(cls.tmp, cls.store)
        cls.h5 = os.path.join(cls.out, "relatedness.h5")
        cls.csv = os.path.join(cls.out, "relatedness.csv")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        # Exit 4: finished, some triples failed (those reading enc1/task2's NaN), as intended.
        self.assertEqual(self.result.returncode, 4, self.result.stderr)

    def test_matrix_against_h5py(self):
        ds = load_matrix(self.h5)
        with h5py.File(self.h5, "r") as f:
            axes = [[v.decode() if isinstance(v, bytes) else v for v in f.attrs[a]]
                    for a in ("encoders", "references", "targets")]
            done, failed = f["done"][...].astype(bool), f["failed"][...].astype(bool)
            quantities = {k: f[k][...] for k in f if isinstance(f[k], h5py.Dataset) and k not in ("done", "failed")}
            attrs = {k: f.attrs[k] for k in f.attrs}
        self.assertEqual(ds.relatedness.dims, ("encoder", "reference", "target"))
        self.assertEqual([list(ds.encoder.values), list(ds.reference.values), list(ds.target.values)], axes)
        self.assertEqual(ds.done.dtype, bool)
        np.testing.assert_array_equal(ds.done.values, done)
        np.testing.assert_array_equal(ds.failed.values, failed)
        self.assertGreater(failed.sum(), 0)
        self.assertGreater(done.sum(), 0)
        # no self pairs: the diagonal is neither done nor failed
        for i in range(3):
            self.assertFalse(done[:, i, i].any() or failed[:, i, i].any())
        self.assertGreater(len(quantities), 20)
        self.assertEqual(set(quantities) | {"done", "failed", "B", "D"}, set(ds.data_vars))
        for name, raw in quantities.items():
            values = ds[name].values
            self.assertEqual(values.dtype, np.float64, name)
            np.testing.assert_array_equal(values[done], raw[done], err_msg=name)
            self.assertTrue(np.isnan(values[~done]).all(), name)  # the file holds fill_value 0 there
            self.assertTrue((raw[~done] == attrs["fill_value"]).all(), name)
        self.assertEqual(ds.attrs["fill_value"], 0.0)
        self.assertEqual(ds.attrs["spec_hash"], attrs["spec_hash"])
        self.assertEqual(ds.attrs["triples"], float(attrs["triples"]))
        self.assertNotIn("encoders", ds.attrs)
        # one cell, by name
        e, r, t = np.argwhere(done)[0]
        cell = ds.sel(encoder=axes[0][e], reference=axes[1][r], target=axes[2][t])
        self.assertEqual(float(cell.relatedness), quantities["relatedness"][e, r, t])

    def test_transforms(self):
        fitted = load_transforms(self.h5)
        ds = load_matrix(self.h5)
        with h5py.File(self.h5, "r") as f:
            raw = {(e, r, t): (f[f"B/{e}/{r}/{t}"][...], f[f"D/{e}/{r}/{t}"][...])
                   for e in f["B"] for r in f[f"B/{e}"] for t in f[f"B/{e}/{r}"]}
        self.assertEqual(set(fitted), set(raw))
        self.assertEqual(len(raw), int(ds.done.sum()))
        for key, (B, D) in raw.items():
            np.testing.assert_array_equal(fitted[key].B, B)
            np.testing.assert_array_equal(fitted[key].D, D)
            np.testing.assert_allclose(B.sum(axis=0), 1.0, atol=1e-5)  # column-stochastic (fitted in float32)
            e, r, t = key
            np.testing.assert_array_equal(ds.B.sel(encoder=e, reference=r, target=t).values, B)
            np.testing.assert_array_equal(ds.D.sel(encoder=e, reference=r, target=t).values, D)
        self.assertEqual(ds.B.dims, ("encoder", "reference", "target", "target_class", "reference_class"))
        self.assertTrue(np.isnan(ds.B.values[~ds.done.values]).all())

    def test_different_class_counts(self):
        directory = os.path.join(self.tmp, "uneven")
        os.makedirs(directory)
        store = os.path.join(directory, "store.h5")
        rng = np.random.default_rng(1)
        with h5py.File(store, "w") as f:
            for name, k in (("two", 2), ("three", 3)):
                g = f.create_group(f"enc/{name}")
                g.attrs["num_classes"] = k
                for split, n in (("train", 30), ("test", 15)):
                    y = np.arange(n) % k
                    g.create_dataset(f"{split}/embeddings", data=(rng.standard_normal((n, 4)) + 3 * y[:, None])
                                     .astype(np.float32))
                    g.create_dataset(f"{split}/labels", data=y)
        result, out = run_matrix(directory, store)
        self.assertEqual(result.returncode, 0, result.stderr)
        ds = load_matrix(os.path.join(out, "relatedness.h5"))
        self.assertNotIn("B", ds.data_vars)  # 2 x 3 and 3 x 2: no common shape
        fitted = load_transforms(os.path.join(out, "relatedness.h5"))
        self.assertEqual(fitted["enc", "two", "three"].B.shape, (3, 2))
        self.assertEqual(fitted["enc", "three", "two"].B.shape, (2, 3))
        self.assertEqual(fitted["enc", "three", "two"].D.shape, (3,))

    def test_results_csv(self):
        df = load_results(self.csv)
        raw = pd.read_csv(self.csv, float_precision="round_trip")  # pandas' default parser can miss by an ulp
        self.assertEqual(list(df.columns), list(raw.columns))
        self.assertEqual(len(df), len(raw))
        for column in ("encoder", "reference", "target", "status"):
            self.assertEqual(str(df[column].dtype), "category", column)
        self.assertEqual(str(df.error.dtype), "string")
        self.assertEqual(set(df.status.cat.categories), {"ok", "failed"})
        failed = df[df.status == "failed"]
        self.assertGreater(len(failed), 0)
        self.assertTrue(failed.error.str.contains("non-finite value").all())
        self.assertTrue(df[df.status == "ok"].error.isna().all())
        self.assertTrue(failed.relatedness.isna().all())
        # booleans: nullable (failed rows have none), values as written
        for column in ("head_converged", "options_standardize", "ot_converged"):
            self.assertEqual(str(df[column].dtype), "boolean", column)
            ok = df.status == "ok"
            np.testing.assert_array_equal(df[column][ok].astype(bool).values, raw[column][ok].astype(bool).values)
        self.assertEqual(str(df.options_mode.dtype), "category")
        numeric = [c for c in raw.columns if pd.api.types.is_numeric_dtype(raw[c]) and raw[c].dtype != bool]
        self.assertIn("relatedness", numeric)
        self.assertIn("metrics_logme", numeric)
        for column in numeric:
            self.assertEqual(df[column].dtype, np.float64, column)
            np.testing.assert_array_equal(df[column].values, raw[column].astype(np.float64).values, err_msg=column)
        # the CSV and the HDF5 agree cell by cell
        ds = load_matrix(self.h5)
        for row in df[df.status == "ok"].itertuples():
            self.assertEqual(row.relatedness, float(ds.relatedness.sel(encoder=row.encoder, reference=row.reference,
                                                                       target=row.target)))

    def test_notebook_example(self):
        # finetune.csv stands for fine-tuned accuracy: here the accuracy of a least-squares linear probe
        # on each encoder's target embeddings (train -> test), a real measurement on the same zoo.
        rows = []
        with h5py.File(self.store, "r") as f:
            for e in f:
                for t in f[e]:
                    z, y = f[f"{e}/{t}/train/embeddings"][...], f[f"{e}/{t}/train/labels"][...]
                    zt, yt = f[f"{e}/{t}/test/embeddings"][...], f[f"{e}/{t}/test/labels"][...]
                    if not (np.isfinite(z).all() and np.isfinite(zt).all()):
                        continue
                    x = np.c_[z, np.ones(len(z))]
                    w = np.linalg.lstsq(x, np.eye(int(y.max()) + 1)[y], rcond=None)[0]
                    rows.append((e, t, float(((np.c_[zt, np.ones(len(zt))] @ w).argmax(1) == yt).mean())))
        finetune = os.path.join(self.tmp, "finetune.csv")
        pd.DataFrame(rows, columns=["encoder", "target", "accuracy"]).to_csv(finetune, index=False)
        figures = os.path.join(self.tmp, "example")
        result = subprocess.run([sys.executable, os.path.join(SOURCE, "analysis", "examples", "notebook_example.py"),
                                 "--matrix", self.out, "--finetune", finetune, "--out", figures, "--reference",
                                 "task0", "--target", "task1"],
                                capture_output=True, text=True, timeout=120, env=dict(ENV, MPLBACKEND="Agg"))
        self.assertEqual(result.returncode, 0, result.stderr)
        png = os.path.join(figures, "relatedness_vs_accuracy_task1.png")
        with open(png, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        # its numbers, recomputed from the files
        csv = pd.read_csv(self.csv)
        ok = csv[(csv.status == "ok") & (csv.reference == "task0")]
        table = ok.pivot(index="encoder", columns="target", values="relatedness")
        for encoder, value in table["task1"].items():
            self.assertRegex(result.stdout, rf"\n{encoder}\s+{value:.4f}")
        merged = table["task1"].rename("relatedness").reset_index().merge(
            pd.read_csv(finetune).query("target == 'task1'"), on="encoder")
        self.assertEqual(len(merged), 3)
        r = float(re.search(r"target task1: Pearson r\(relatedness, fine-tuned accuracy\) = (\S+) over 3 encoders",
                            result.stdout).group(1))
        self.assertAlmostEqual(r, merged.relatedness.corr(merged.accuracy), places=3)

    def test_errors(self):
        text = os.path.join(self.tmp, "not.h5")
        with open(text, "w") as f:
            f.write("no hdf5 here\n")
        with self.assertRaisesRegex(InputError, re.escape(f"{text}: not an HDF5 file")):
            load_matrix(text)
        with self.assertRaisesRegex(InputError, re.escape(f"{self.store}: not a taskrel relatedness.h5")):
            load_matrix(self.store)
        other = os.path.join(self.tmp, "other.csv")
        with open(other, "w") as f:
            f.write("encoder,target,accuracy\nenc0,task1,0.5\n")  # a finetune.csv, not results
        with self.assertRaisesRegex(InputError, re.escape(f"{other}: not a taskrel relatedness.csv (no column "
                                                          f"reference, status)")):
            load_results(other)


if __name__ == "__main__":
    unittest.main(verbosity=2)
