"""End-to-end tests of `taskrel relate`: a synthetic store from make_tasks.py,
the JSON result and its keys, known answers through the CLI (permutation,
pseudo-labels, stored head), determinism for a seed, agreement of 1 and 2
ranks, and the exit code 2 with messages naming the store and HDF5 path.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

import h5py
import numpy as np

BINARY = os.environ["TASKREL_BINARY"]
MPIEXEC = os.environ.get("TASKREL_MPIEXEC", "mpiexec")
HERE = os.path.dirname(os.path.abspath(__file__))
KEYS = ["relatedness", "reweighted_loss", "label_mismatch", "distribution_mismatch", "tau", "target_loss",
        "target_accuracy", "prior_mismatch", "B", "D", "seed", "seconds"]


def taskrel(*args, ranks=None):
    command = [BINARY, "relate", *args]
    if ranks:
        command = [MPIEXEC, "-n", str(ranks), *command]
    env = dict(os.environ, OMP_NUM_THREADS="1")
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)


class Relate(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="taskrel_relate_")
        cls.store = os.path.join(cls.tmp, "store.h5")
        subprocess.run([sys.executable, os.path.join(HERE, "make_tasks.py"), cls.store, "--n", "150", "--d", "4",
                        "--k", "3", "--separation", "10"], check=True)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def run_json(self, *args, ranks=None):
        out = os.path.join(self.tmp, f"out_{len(os.listdir(self.tmp))}.json")
        # One fixed tau0 unless a test chooses (the default, auto, fits one
        # head per candidate: test_tau0_auto_is_the_default).
        tau0 = [] if "--tau0" in args else ["--tau0", "0.02"]
        result = taskrel("--store", self.store, "--encoder", "enc", "--reference", "ref", *tau0, *args, "--json", out,
                         "--log-every", "0", ranks=ranks)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(out) as f:
            return json.load(f), result.stdout

    def assert_bad_input(self, result, *pieces):
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("taskrel: error:", result.stderr)
        for piece in pieces:
            self.assertIn(piece, result.stderr)

    def test_tau0_auto_is_the_default(self):
        out = os.path.join(self.tmp, "auto_default.json")
        result = taskrel("--store", self.store, "--encoder", "enc", "--reference", "ref", "--target", "perm",
                         "--epochs", "100", "--json", out, "--log-every", "0")
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(out) as f:
            tau0 = json.load(f)["tau0"]
        self.assertTrue(tau0["automatic"])
        self.assertEqual(len(tau0["candidates"]), 3)
        bounds = [c["relatedness"] for c in tau0["candidates"]]
        chosen = next(c for c in tau0["candidates"] if c["tau0"] == tau0["value"])
        self.assertEqual(chosen["relatedness"], min(bounds))

    def test_permutation_keys_and_summary(self):
        out, stdout = self.run_json("--target", "perm", "--epochs", "300")
        for key in KEYS:
            self.assertIn(key, out)
        with h5py.File(self.store) as f:
            perm = f["enc/perm"].attrs["perm"]
        B = np.array(out["B"])
        self.assertEqual(B.shape, (3, 3))
        np.testing.assert_array_equal(B.argmax(axis=0), perm)
        self.assertAlmostEqual(out["relatedness"],
                               out["reweighted_loss"] + out["label_mismatch"] + out["tau"] * out["distribution_mismatch"],
                               places=9)
        self.assertGreater(out["target_accuracy"], 0.9)
        self.assertFalse(out["head"]["from_store"])
        self.assertGreater(out["head"]["test_accuracy"], 0.9)
        self.assertIn("relatedness", stdout)
        self.assertIn("B = P(target label | reference label)", stdout)

    def test_same_seed_same_result_and_ranks_agree(self):
        a, _ = self.run_json("--target", "perm", "--epochs", "30", "--seed", "4")
        b, _ = self.run_json("--target", "perm", "--epochs", "30", "--seed", "4")
        two, _ = self.run_json("--target", "perm", "--epochs", "30", "--seed", "4", ranks=2)
        for key in ["relatedness", "reweighted_loss", "label_mismatch", "distribution_mismatch", "tau", "B", "D"]:
            self.assertEqual(a[key], b[key], key)
        self.assertEqual(two["ranks"], 2)
        self.assertAlmostEqual(two["relatedness"], a["relatedness"], delta=1e-4 * (1 + abs(a["relatedness"])))
        np.testing.assert_allclose(np.array(two["B"]), np.array(a["B"]), atol=1e-4)

    def test_device(self):
        cpu, stdout = self.run_json("--target", "perm", "--epochs", "30", "--device", "cpu")
        self.assertEqual(cpu["device"], {"ot": "cpu", "precision": "float32", "fit": "cpu"})
        self.assertEqual((cpu["options"]["device"], cpu["options"]["precision"]), ("cpu", "float32"))
        self.assertIn("OT", stdout)
        result = taskrel("--store", self.store, "--encoder", "enc", "--reference", "ref", "--target", "perm",
                         "--epochs", "30", "--device", "cuda", "--json", "-", "--log-every", "0")
        if result.returncode == 0:
            # A GPU is here: the CUDA solves must agree with the CPU ones.
            gpu = json.loads(result.stdout)
            self.assertEqual(gpu["device"]["ot"], "cuda")
            self.assertEqual(gpu["device"]["precision"], "float16")  # auto on cuda
            self.assertAlmostEqual(gpu["relatedness"], cpu["relatedness"], delta=1e-3 * (1 + abs(cpu["relatedness"])))
        else:
            self.assert_bad_input(result, "device cuda")
            self.assertTrue("built without the CUDA backend" in result.stderr or "no GPU is visible" in result.stderr,
                            result.stderr)
        bad = taskrel("--store", self.store, "--encoder", "enc", "--reference", "ref", "--target", "perm",
                      "--device", "tpu")
        self.assertEqual(bad.returncode, 2, bad.stderr)
        self.assertIn("--device: tpu not in {cpu,cuda,auto}", bad.stderr)

    def test_precision(self):
        # float64 is the CPU's other storage; a GPU storage is refused there, not ignored.
        f64, _ = self.run_json("--target", "perm", "--epochs", "30", "--device", "cpu", "--precision", "float64")
        self.assertEqual(f64["device"]["precision"], "float64")
        self.assertEqual(f64["options"]["precision"], "float64")
        for storage in ("float16", "bfloat16"):
            result = taskrel("--store", self.store, "--encoder", "enc", "--reference", "ref", "--target", "perm",
                             "--device", "cpu", "--precision", storage)
            self.assert_bad_input(result, f"precision {storage} is a GPU storage", "device cpu")

    def test_unrelated_scores_higher(self):
        same, _ = self.run_json("--target", "same", "--epochs", "150")
        random, _ = self.run_json("--target", "random", "--epochs", "150")
        self.assertGreater(random["relatedness"], same["relatedness"] + 0.3)

    def test_pseudo_labels_and_fraction(self):
        out, stdout = self.run_json("--target", "perm", "--epochs", "300", "--pseudo-labels", "--target-fraction", "0.5")
        self.assertGreater(out["pseudo_labels"]["agreement"], 0.9)
        self.assertIn("pseudo-label agreement", stdout)
        self.assertLess(out["target_rows"]["train_used"], 0.6 * out["target_rows"]["train"])

    def test_settings_and_paper_code_mode(self):
        out, _ = self.run_json("--target", "perm", "--setting", "learned-A", "--epochs", "20")
        self.assertEqual(len(out["fixed_permutation"]), 3)
        out, _ = self.run_json("--target", "perm", "--setting", "fixed-all")
        self.assertEqual(out["epochs"], 0)
        out, _ = self.run_json("--target", "perm", "--mode", "paper-code", "--epochs", "10", "--batch-size", "60")
        self.assertIn("reference_w_last_batch", out)
        self.assertEqual(out["options"]["mode"], "paper-code")
        # "reference", the mode's first name, stays accepted and means the same.
        alias, _ = self.run_json("--target", "perm", "--mode", "reference", "--epochs", "10", "--batch-size", "60")
        self.assertEqual(alias["options"]["mode"], "paper-code")
        self.assertEqual(alias["relatedness"], out["relatedness"])

    def test_stored_head(self):
        store = os.path.join(self.tmp, "with_head.h5")
        shutil.copy(self.store, store)
        with h5py.File(store, "a") as f:
            z, y = f["enc/ref/train/embeddings"][()], f["enc/ref/train/labels"][()]
            means = np.stack([z[y == k].mean(axis=0) for k in range(3)])
            head = f.create_group("enc/ref/head")
            head["weight"] = (0.05 * means).astype(np.float32)
            head["bias"] = (-0.025 * (means ** 2).sum(axis=1)).astype(np.float32)
        out_path = os.path.join(self.tmp, "head.json")
        result = taskrel("--store", store, "--encoder", "enc", "--reference", "ref", "--target", "same", "--epochs",
                         "20", "--json", out_path, "--log-every", "0")
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(out_path) as f:
            out = json.load(f)
        self.assertTrue(out["head"]["from_store"])
        self.assertGreater(out["head"]["test_accuracy"], 0.9)  # the raw-space head, adapted to standardised inputs
        with h5py.File(store, "a") as f:
            del f["enc/ref/head/bias"]
            f["enc/ref/head/bias"] = np.zeros(5, np.float32)
        self.assert_bad_input(taskrel("--store", store, "--encoder", "enc", "--reference", "ref", "--target", "same"),
                              store, "/enc/ref/head")

    def test_errors(self):
        self.assert_bad_input(taskrel("--store", self.store, "--encoder", "nope", "--reference", "ref", "--target", "perm"),
                              self.store, "/nope")
        self.assert_bad_input(taskrel("--store", self.store, "--encoder", "enc", "--reference", "ref", "--target", "nope"),
                              self.store, "/enc/nope")
        missing = os.path.join(self.tmp, "missing.h5")
        self.assert_bad_input(taskrel("--store", missing, "--encoder", "enc", "--reference", "ref", "--target", "perm"),
                              missing)
        def variant(name, dataset, classes, z, y):
            path = os.path.join(self.tmp, name)
            shutil.copy(self.store, path)
            with h5py.File(path, "a") as f:
                g = f.create_group(f"enc/{dataset}")
                g.attrs["num_classes"] = classes
                g["train/embeddings"] = z.astype(np.float32)
                g["train/labels"] = y.astype(np.int64)
            return path

        two = variant("two.h5", "two", 2, np.random.default_rng(0).standard_normal((10, 4)), np.arange(10) % 2)
        self.assert_bad_input(taskrel("--store", two, "--encoder", "enc", "--reference", "ref", "--target", "two",
                                      "--setting", "learned-A"), "learned-A")
        tiny = variant("tiny.h5", "tiny", 3, np.zeros((2, 4)), np.array([0, 1]))  # fewer rows than classes
        self.assert_bad_input(taskrel("--store", tiny, "--encoder", "enc", "--reference", "ref", "--target", "tiny"),
                              tiny, "/enc/tiny")
        usage = taskrel("--store", self.store, "--encoder", "enc", "--reference", "ref", "--target", "perm",
                        "--setting", "nope")
        self.assertEqual(usage.returncode, 2, usage.stderr)
        self.assertIn("--setting", usage.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
