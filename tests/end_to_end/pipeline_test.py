#!/usr/bin/env python3
"""scripts/run_pipeline.sh small, end to end, as the README's main command runs
it (the default preset differs only in size): every stage runs, the outputs
exist and agree with each other, and a second run reuses the zoo and the
matrix journal."""
import json
import os
import shutil
import subprocess
import tempfile
import unittest

import h5py
import matplotlib

matplotlib.use("Agg")
import matplotlib.image  # noqa: E402
import pandas as pd  # noqa: E402

SOURCE = os.environ.get("TASKREL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
BINARY = os.environ["TASKREL_BINARY"]


def run_pipeline(out):
    env = dict(os.environ, TASKREL_BINARY=BINARY, TASKREL_PIPELINE_OUT=out, TASKREL_RANKS="2")
    return subprocess.run(["bash", os.path.join(SOURCE, "scripts", "run_pipeline.sh"), "small"], capture_output=True,
                          text=True, timeout=800, env=env)


class Pipeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="taskrel_pipeline_")
        cls.out = os.path.join(cls.tmp, "fmnist-small")
        cls.first = run_pipeline(cls.out)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_stages_and_outputs(self):
        r = self.first
        self.assertEqual(r.returncode, 0, r.stdout[-3000:] + r.stderr[-3000:])
        for stage in ["== zoo:", "== relatedness matrix", "== correlation with fine-tuned accuracy", "== figures",
                      "== Wall time per stage"]:
            self.assertIn(stage, r.stdout)
        # It ends with the correlation table and where the figures are.
        tail = r.stdout[r.stdout.rindex("== Correlation of each score"):]
        self.assertIn("relatedness", tail)
        self.assertIn("mean", tail)
        self.assertIn(os.path.join(self.out, "figures"), tail)

        scores = pd.read_csv(os.path.join(self.out, "matrix", "relatedness.csv"))
        accuracy = pd.read_csv(os.path.join(self.out, "finetune.csv"))
        self.assertTrue((scores.status == "ok").all())
        self.assertEqual(set(zip(scores.encoder, scores.target)), set(zip(accuracy.encoder, accuracy.target)))
        self.assertTrue(any(c.startswith("metrics_") for c in scores.columns))

        report = json.load(open(os.path.join(self.out, "correlation.json")))
        self.assertEqual(sorted(g["target"] for g in report["groups"]), sorted(accuracy.target.unique()))
        # The mean Pearson r of relatedness is what pandas computes from the two CSVs.
        merged = scores.merge(accuracy, on=["encoder", "target"])
        per_target = merged.groupby("target").apply(lambda g: g.relatedness.corr(g.accuracy))
        self.assertAlmostEqual(report["mean"]["relatedness"]["pearson"], per_target.mean(), places=9)

        for name in ["relatedness_vs_accuracy.png", "relatedness_heatmap.png"]:
            image = matplotlib.image.imread(os.path.join(self.out, "figures", name))
            self.assertGreater(image.shape[0] * image.shape[1], 100 * 100)
        with h5py.File(os.path.join(self.out, "matrix", "relatedness.h5")) as f:
            self.assertEqual(int(f["done"][...].sum()), len(scores))

    def test_second_run_reuses_zoo_and_matrix(self):
        self.assertEqual(self.first.returncode, 0)
        before = open(os.path.join(self.out, "matrix", "relatedness.csv")).read()
        again = run_pipeline(self.out)
        self.assertEqual(again.returncode, 0, again.stderr[-3000:])
        self.assertIn("nothing to do", again.stderr)
        self.assertEqual(open(os.path.join(self.out, "matrix", "relatedness.csv")).read(), before)


if __name__ == "__main__":
    unittest.main()
