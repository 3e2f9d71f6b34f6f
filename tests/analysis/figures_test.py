"""analysis/figures.py on a synthetic CSV pair (and a relatedness.h5 in the
layout of io/result_store.h): the PNGs exist, are valid PNGs that matplotlib
reads back, have a sensible size and are not blank; the r in the titles is
scipy's Pearson r; bad input exits 2 and writes nothing.
"""
import os
import subprocess
import sys
import tempfile
import unittest

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.image as mpimg  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

SOURCE = os.environ.get("TASKREL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(SOURCE, "analysis", "figures.py")
sys.path.insert(0, os.path.join(SOURCE, "analysis"))
import figures  # noqa: E402

ENCODERS = [f"enc{k}" for k in range(6)]
TARGETS = ["cifar10", "svhn", "dtd"]


def synthetic(directory, references=("imagenet",)):
    rng = np.random.default_rng(0)
    rows, accuracy = [], []
    for target in TARGETS:
        acc = rng.uniform(0.5, 0.95, len(ENCODERS))
        accuracy += [{"encoder": e, "target": target, "accuracy": a} for e, a in zip(ENCODERS, acc)]
        for reference in references:
            for e, a in zip(ENCODERS, acc):
                rows.append({"encoder": e, "reference": reference, "target": target, "status": "ok", "error": "",
                             "relatedness": 3 - 2 * a + rng.normal(scale=0.1), "target_loss": 2.5 - 2 * a,
                             "metrics_logme": a + rng.normal(),
                             "metrics_leep": -1 + a})
    rows[0]["status"] = "failed"
    scores, accuracy = pd.DataFrame(rows), pd.DataFrame(accuracy)
    s, a = os.path.join(directory, "relatedness.csv"), os.path.join(directory, "finetune.csv")
    scores.to_csv(s, index=False)
    accuracy.to_csv(a, index=False)
    return scores, accuracy, s, a


def write_h5(path, scores, references):
    values = np.zeros((len(ENCODERS), len(references), len(TARGETS)))
    done = np.zeros(values.shape, np.uint8)
    for _, row in scores[scores.status == "ok"].iterrows():
        cell = ENCODERS.index(row.encoder), references.index(row.reference), TARGETS.index(row.target)
        values[cell], done[cell] = row.relatedness, 1
    with h5py.File(path, "w") as f:
        f.attrs["encoders"], f.attrs["references"], f.attrs["targets"] = ENCODERS, references, TARGETS
        f["relatedness"], f["done"] = values, done


class FiguresTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def run_script(self, *args):
        return subprocess.run([sys.executable, SCRIPT, *args], capture_output=True, text=True, timeout=120)

    def assert_png(self, path, min_side=200):
        self.assertTrue(os.path.isfile(path), path)
        with open(path, "rb") as f:
            self.assertEqual(f.read(8), b"\x89PNG\r\n\x1a\n")
        image = mpimg.imread(path)
        self.assertGreaterEqual(min(image.shape[:2]), min_side, path)
        self.assertLess(max(image.shape[:2]), 10000, path)
        self.assertGreater(float(image[..., :3].std()), 0.01, f"{path} looks blank")

    def test_figures_from_csv_and_h5(self):
        scores, _, s, a = synthetic(self.dir, references=("imagenet", "places"))
        h5 = os.path.join(self.dir, "relatedness.h5")
        write_h5(h5, scores, ["imagenet", "places"])
        out = os.path.join(self.dir, "figures")
        run = self.run_script("--scores", s, "--accuracy", a, "--matrix", h5, "--metrics", "--out", out)
        self.assertEqual(run.returncode, 0, run.stderr)
        for name in ["relatedness_vs_accuracy.png", "relatedness_heatmap.png", "metrics_vs_accuracy.png",
                     "bound_tightness.png"]:
            self.assert_png(os.path.join(out, name))
        # Without --matrix the heatmap comes from the CSV.
        out2 = os.path.join(self.dir, "csv_only")
        run = self.run_script("--scores", s, "--accuracy", a, "--out", out2)
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(sorted(os.listdir(out2)),
                         ["bound_tightness.png", "relatedness_heatmap.png", "relatedness_vs_accuracy.png"])
        # Without target_loss (an older CSV) there is no tightness figure.
        old_csv = os.path.join(self.dir, "old.csv")
        scores.drop(columns=["target_loss"]).to_csv(old_csv, index=False)
        out3 = os.path.join(self.dir, "old")
        self.assertEqual(self.run_script("--scores", old_csv, "--accuracy", a, "--out", out3).returncode, 0)
        self.assertNotIn("bound_tightness.png", os.listdir(out3))
        for name in os.listdir(out2):
            self.assert_png(os.path.join(out2, name))

    def test_tightness_title_counts_the_gap(self):
        scores, _, _, _ = synthetic(self.dir)
        titles = []
        original = matplotlib.axes.Axes.set_title
        matplotlib.axes.Axes.set_title = lambda axis, text, **kw: titles.append(text) or original(axis, text, **kw)
        try:
            figures.tightness(scores, os.path.join(self.dir, "b.png"))
        finally:
            matplotlib.axes.Axes.set_title = original
        gap = scores.relatedness - scores.target_loss
        self.assertEqual(titles, [f"bound vs target loss: gap mean {gap.mean():.2f}, min {gap.min():.2f}, "
                                  f"holds {100 * (gap >= 0).mean():.0f}% of {len(scores)}"])
        self.assert_png(os.path.join(self.dir, "b.png"))

    def test_titles_carry_pearson_r(self):
        scores, accuracy, _, _ = synthetic(self.dir)
        merged = scores[scores.status == "ok"].merge(accuracy, on=["encoder", "target"])
        titles = []
        original = matplotlib.axes.Axes.set_title
        matplotlib.axes.Axes.set_title = lambda axis, text, **kw: titles.append(text) or original(axis, text, **kw)
        try:
            figures.scatter_grid(merged, ["relatedness"], os.path.join(self.dir, "t.png"))
        finally:
            matplotlib.axes.Axes.set_title = original
        expected = [f"{t}: r = {stats.pearsonr(p.relatedness, p.accuracy)[0]:.2f}"
                    for t, p in merged.groupby("target", sort=True)]
        self.assertEqual(titles, expected)
        self.assertIsNone(figures.pearson([1, 1, 1], [1, 2, 3]))

    def test_bad_input(self):
        scores, _, s, a = synthetic(self.dir)
        scores.drop(columns=["relatedness"]).to_csv(s, index=False)
        out = os.path.join(self.dir, "never")
        run = self.run_script("--scores", s, "--accuracy", a, "--out", out)
        self.assertEqual(run.returncode, 2)
        self.assertIn("missing column(s) relatedness", run.stderr)
        run = self.run_script("--scores", os.path.join(self.dir, "none.csv"), "--accuracy", a, "--out", out)
        self.assertEqual(run.returncode, 2)
        self.assertFalse(os.path.exists(out))


if __name__ == "__main__":
    unittest.main(verbosity=2)
