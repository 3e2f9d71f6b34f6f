"""`taskrel relate --metrics`: the JSON carries exactly the selected baseline
metrics, all of them by default (finite, identical on 1 and 2 ranks), none
with --pseudo-labels, and an unknown name exits 2 listing the valid ones."""
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

BINARY = os.environ["TASKREL_BINARY"]
MPIEXEC = os.environ.get("TASKREL_MPIEXEC", "mpiexec")
SOURCE = os.environ["TASKREL_SOURCE_DIR"]
NAMES = ["logme", "leep", "nleep", "nce", "hscore", "shrinkage_hscore", "transrate", "gbc", "sfda", "pactran",
         "otce", "ot_nce"]


class RelateMetrics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="taskrel_metrics_")
        cls.store = os.path.join(cls.tmp, "store.h5")
        subprocess.run([sys.executable, os.path.join(SOURCE, "tests/relatedness/make_tasks.py"), cls.store, "--n", "120",
                        "--d", "4", "--k", "3"], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def relate(self, *args, ranks=None):
        out = os.path.join(self.tmp, f"out_{len(os.listdir(self.tmp))}.json")
        command = [BINARY, "relate", "--store", self.store, "--encoder", "enc", "--reference", "ref", "--target",
                   "perm", "--epochs", "20", "--tau0", "0.02", "--log-every", "0", "--json", out, *args]
        if ranks:
            command = [MPIEXEC, "-n", str(ranks), *command]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                env=dict(os.environ, OMP_NUM_THREADS="1"))
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(out) as f:
            return json.load(f)

    def test_selection(self):
        out = self.relate("--metrics", "logme,leep")
        self.assertEqual(sorted(out["metrics"]), ["leep", "logme"])
        # Each selected baseline's time, and their sum as timings.metrics.
        self.assertEqual(sorted(out["metric_seconds"]), ["leep", "logme"])
        self.assertAlmostEqual(sum(out["metric_seconds"].values()), out["timings"]["metrics"], places=9)
        self.assertEqual(self.relate("--metrics", "none")["metrics"], {})

    def test_all_by_default_finite_and_rank_independent(self):
        one = self.relate()
        self.assertEqual(sorted(one["metrics"]), sorted(NAMES))
        for name, value in one["metrics"].items():
            self.assertTrue(math.isfinite(value), name)
        self.assertGreaterEqual(one["timings"]["metrics"], 0.0)
        two = self.relate(ranks=2)
        self.assertEqual(one["metrics"], two["metrics"])

    def test_pseudo_labels_have_no_metrics(self):
        self.assertEqual(self.relate("--pseudo-labels", "--pseudo-rounds", "1")["metrics"], {})

    def test_unknown_metric(self):
        result = subprocess.run([BINARY, "relate", "--store", self.store, "--encoder", "enc", "--reference", "ref",
                                 "--target", "perm", "--metrics", "logme,bogus"], capture_output=True, text=True,
                                timeout=60)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("bogus", result.stderr)
        for name in NAMES:
            self.assertIn(name, result.stderr)


if __name__ == "__main__":
    unittest.main()
