"""End-to-end test of `taskrel build-zoo --preset small` on the real
Fashion-MNIST files (skipped when dataset-fashion-mnist is not installed):

  the store's layout (DESIGN.md section 3) read with h5py: every encoder has
  every task with train and test splits, d >= 64, float embeddings without
  NaN, labels in [0, num_classes) with every class present, class names;
  the splits of one task hold the same labels for every encoder (the draws do
  not depend on the encoder) while the embeddings differ between encoders;
  finetune.csv has exactly every encoder x target with accuracies in [0, 1];
  zoo.json agrees with both; a rerun reuses the cache (says so, is fast, the
  CSV is byte-identical); another seed in the same directory is refused with
  exit 2; a journal cut after some fine-tunes resumes to the same CSV; a
  store rebuilt under a file-size limit (ulimit -f) stops with exit 1
  holding only whole splits and no temporaries, and resumes to the same
  store and CSV; a second rank is refused.
"""
import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest

import h5py
import numpy as np
import pandas as pd

BINARY = os.environ["TASKREL_BINARY"]
MPIEXEC = os.environ.get("TASKREL_MPIEXEC", "mpiexec")
DATA = "/usr/share/datasets/fashion-mnist"
REFERENCE = "fmnist10"


def build(out, *extra):
    return subprocess.run([BINARY, "build-zoo", "--out", out, "--preset", "small", "--threads", "2", *extra],
                          capture_output=True, text=True, timeout=300)


@unittest.skipUnless(os.path.exists(os.path.join(DATA, "train-images-idx3-ubyte.gz")),
                     "dataset-fashion-mnist is not installed")
class BuildZooSmall(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="taskrel_zoo_")
        cls.out = os.path.join(cls.tmp, "zoo")
        start = time.time()
        cls.first = build(cls.out)
        cls.first_seconds = time.time() - start
        if cls.first.returncode != 0:
            raise AssertionError(f"build-zoo failed:\n{cls.first.stdout}\n{cls.first.stderr}")
        with open(os.path.join(cls.out, "zoo.json")) as f:
            cls.zoo = json.load(f)
        cls.encoders = [e["name"] for e in cls.zoo["encoders"]]
        cls.tasks = {t["name"]: t for t in cls.zoo["tasks"]}
        cls.targets = [t["name"] for t in cls.zoo["tasks"] if t["role"] == "target"]

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def test_zoo_json_describes_the_preset(self):
        self.assertEqual(self.zoo["preset"], "small")
        self.assertEqual(self.zoo["seed"], 0)
        self.assertEqual(self.zoo["reference"], REFERENCE)
        self.assertEqual(self.tasks[REFERENCE]["role"], "reference")
        self.assertGreaterEqual(len(self.encoders), 4)
        self.assertIn("untrained", self.encoders)
        self.assertGreaterEqual(len(self.targets), 4)
        for encoder in self.zoo["encoders"]:
            self.assertGreaterEqual(encoder["embedding_dim"], 64)
            if encoder["source_task"] == "none":
                self.assertIsNone(encoder["source_accuracy"])
            else:
                # Trained encoders beat chance on their source task.
                chance = 1.0 / self.tasks.get(encoder["source_task"], {"num_classes": 10})["num_classes"]
                self.assertGreater(encoder["source_accuracy"], chance + 0.1, encoder)

    def test_store_layout(self):
        with h5py.File(os.path.join(self.out, "store.h5"), "r") as store:
            self.assertEqual(sorted(store.keys()), sorted(self.encoders))
            for encoder in self.encoders:
                self.assertEqual(sorted(store[encoder].keys()), sorted(self.tasks))
                for name, task in self.tasks.items():
                    group = store[f"{encoder}/{name}"]
                    k = int(group.attrs["num_classes"])
                    self.assertEqual(k, task["num_classes"])
                    names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["class_names"]]
                    self.assertEqual(names, task["class_names"])
                    for split, rows in (("train", task["train_images"]), ("test", task["test_images"])):
                        z = group[f"{split}/embeddings"][()]
                        y = group[f"{split}/labels"][()]
                        self.assertEqual(z.shape, (rows, 64), f"{encoder}/{name}/{split}")
                        self.assertEqual(z.dtype.kind, "f")
                        self.assertTrue(np.isfinite(z).all())
                        self.assertGreater(z.std(), 0)
                        self.assertEqual(y.shape, (rows,))
                        self.assertEqual(sorted(set(y.tolist())), list(range(k)))  # in range, none empty
                        # Stratified: class sizes differ by at most one.
                        counts = np.bincount(y, minlength=k)
                        self.assertLessEqual(counts.max() - counts.min(), 1)

    def test_splits_are_shared_and_embeddings_differ(self):
        with h5py.File(os.path.join(self.out, "store.h5"), "r") as store:
            first, second = self.encoders[0], self.encoders[1]
            for name in self.tasks:
                for split in ("train", "test"):
                    np.testing.assert_array_equal(store[f"{first}/{name}/{split}/labels"][()],
                                                  store[f"{second}/{name}/{split}/labels"][()])
                self.assertFalse(np.allclose(store[f"{first}/{name}/train/embeddings"][()],
                                             store[f"{second}/{name}/train/embeddings"][()]))
            # Transformed tasks are not the reference's images relabelled: the
            # rotated task's embeddings differ from the reference's.
            self.assertFalse(np.allclose(store[f"{first}/{REFERENCE}/train/embeddings"][()],
                                         store[f"{first}/rotated/train/embeddings"][()]))

    def test_finetune_csv(self):
        table = pd.read_csv(os.path.join(self.out, "finetune.csv"))
        self.assertEqual(list(table.columns), ["encoder", "target", "accuracy"])
        self.assertEqual(sorted(zip(table.encoder, table.target)),
                         sorted((e, t) for e in self.encoders for t in self.targets))
        self.assertTrue(table.accuracy.between(0, 1).all())
        # Starting from a trained encoder, the small fine-tuning budget learns
        # every target (chance is 1/K); the untrained one may stay near chance.
        trained = {e["name"] for e in self.zoo["encoders"] if e["source_task"] != "none"}
        for row in table[table.encoder.isin(trained)].itertuples():
            self.assertGreater(row.accuracy, 1.0 / self.tasks[row.target]["num_classes"] + 0.05, row)

    def test_rerun_uses_the_cache(self):
        with open(os.path.join(self.out, "finetune.csv"), "rb") as f:
            before = f.read()
        start = time.time()
        again = build(self.out)
        seconds = time.time() - start
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("nothing to do", again.stderr)
        self.assertLess(seconds, max(10.0, self.first_seconds / 3))
        with open(os.path.join(self.out, "finetune.csv"), "rb") as f:
            self.assertEqual(f.read(), before)

    def test_other_seed_is_refused(self):
        other = build(self.out, "--seed", "7")
        self.assertEqual(other.returncode, 2)
        self.assertIn("--force", other.stderr)
        self.assertIn("seed 0", other.stderr)

    def test_other_recipe_is_refused(self):
        # A zoo.json of the same preset and seed but another recipe (as an
        # older taskrel with other encoders would leave): its cache must not mix in.
        copy = os.path.join(self.tmp, "old_recipe")
        shutil.copytree(self.out, copy)
        path = os.path.join(copy, "zoo.json")
        with open(path) as f:
            zoo = json.load(f)
        zoo["recipe"]["encoders"] = zoo["recipe"]["encoders"][:-1]
        with open(path, "w") as f:
            json.dump(zoo, f)
        other = build(copy)
        self.assertEqual(other.returncode, 2, other.stderr)
        self.assertIn("another recipe", other.stderr)
        self.assertIn("--force", other.stderr)

    def test_resume_after_a_cut_journal_gives_the_same_csv(self):
        # A copy whose journal lost its last fine-tunes and the CSV, and whose
        # last journal line was cut mid-write: the rerun redoes exactly those
        # fine-tunes, with the same result (fixed seeds).
        copy = os.path.join(self.tmp, "resumed")
        shutil.copytree(self.out, copy)
        journal = os.path.join(copy, "journal.txt")
        with open(journal) as f:
            lines = f.read().splitlines()
        kept = lines[:-3]
        with open(journal, "w") as f:
            f.write("\n".join(kept) + "\n" + lines[-3][:10])
        os.remove(os.path.join(copy, "finetune.csv"))
        resumed = build(copy)
        self.assertEqual(resumed.returncode, 0, resumed.stderr)
        self.assertNotIn("nothing to do", resumed.stderr)
        self.assertEqual(resumed.stderr.count("fine-tuned"), 3, resumed.stderr)
        self.assertNotIn("trained fmnist10", resumed.stderr)  # encoders came from the cache
        with open(os.path.join(copy, "finetune.csv")) as a, open(os.path.join(self.out, "finetune.csv")) as b:
            self.assertEqual(a.read(), b.read())

    def test_file_size_limit_midway_keeps_whole_splits_then_resumes(self):
        # The cached encoders are kept and the store is rebuilt: the first run
        # may only grow files to half the store's size (ulimit -f), so the
        # embedding stops part-way through the encoders.
        copy = os.path.join(self.tmp, "limited")
        shutil.copytree(self.out, copy)
        os.remove(os.path.join(copy, "store.h5"))
        os.remove(os.path.join(copy, "finetune.csv"))
        journal = os.path.join(copy, "journal.txt")
        with open(journal) as f:
            lines = [line for line in f.read().splitlines() if not line.startswith("embedded ")]
        with open(journal, "w") as f:
            f.write("\n".join(lines) + "\n")
        limit_kib = os.path.getsize(os.path.join(self.out, "store.h5")) // 2048
        # PMIX_MCA_gds=hash: Open MPI's PMIx keeps its job data in shared
        # memory files that the limit would cap too, failing MPI_Init itself.
        limited = subprocess.run(["bash", "-c", f'ulimit -f {limit_kib} && exec "$@"', "bash", BINARY, "build-zoo",
                                  "--out", copy, "--preset", "small", "--threads", "2"],
                                 capture_output=True, text=True, timeout=300,
                                 env=dict(os.environ, PMIX_MCA_gds="hash"))
        self.assertEqual(limited.returncode, 1, limited.stderr)
        self.assertIn("file-size limit", limited.stderr)
        self.assertFalse(os.path.exists(os.path.join(copy, "finetune.csv")))
        debris = [name for name in os.listdir(copy) + os.listdir(os.path.join(copy, "encoders"))
                  if name.endswith((".tmp", ".part"))]
        self.assertEqual(debris, [])
        # What the store holds is whole splits, equal to the finished zoo's.
        with h5py.File(os.path.join(copy, "store.h5"), "r") as part, \
                h5py.File(os.path.join(self.out, "store.h5"), "r") as whole:
            splits = [f"{e}/{t}/{s}" for e in part for t in part[e] for s in part[f"{e}/{t}"]]
            self.assertGreater(len(splits), 0)
            self.assertLess(len(splits), sum(len(whole[f"{e}/{t}"]) for e in whole for t in whole[e]))
            for name in splits:
                self.assertFalse(name.split("/")[-1].startswith(".partial-"), name)
                for member in ("embeddings", "labels"):
                    np.testing.assert_array_equal(part[f"{name}/{member}"][...], whole[f"{name}/{member}"][...])
        resumed = build(copy)
        self.assertEqual(resumed.returncode, 0, resumed.stderr)
        self.assertNotIn("fine-tuned", resumed.stderr)  # the fine-tunes were cached
        with open(os.path.join(copy, "finetune.csv")) as a, open(os.path.join(self.out, "finetune.csv")) as b:
            self.assertEqual(a.read(), b.read())
        with h5py.File(os.path.join(copy, "store.h5"), "r") as part, \
                h5py.File(os.path.join(self.out, "store.h5"), "r") as whole:
            for e in whole:
                for t in whole[e]:
                    for split in whole[f"{e}/{t}"]:
                        np.testing.assert_array_equal(part[f"{e}/{t}/{split}/embeddings"][...],
                                                      whole[f"{e}/{t}/{split}/embeddings"][...])

    def test_more_than_one_rank_is_refused(self):
        run = subprocess.run([MPIEXEC, "-n", "2", BINARY, "build-zoo", "--out", os.path.join(self.tmp, "mpi"),
                              "--preset", "small"], capture_output=True, text=True, timeout=120)
        self.assertNotEqual(run.returncode, 0)
        self.assertIn("one process", run.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "mpi", "store.h5")))


class BuildZooBadInput(unittest.TestCase):
    def test_missing_data_directory(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = build(os.path.join(tmp, "zoo"), "--data", os.path.join(tmp, "nowhere"))
            self.assertEqual(run.returncode, 2)
            self.assertIn("dataset-fashion-mnist", run.stderr)
            self.assertIn("nowhere", run.stderr)

    def test_unknown_preset(self):
        with tempfile.TemporaryDirectory() as tmp:
            run = subprocess.run([BINARY, "build-zoo", "--out", tmp, "--preset", "huge"], capture_output=True,
                                 text=True)
            self.assertEqual(run.returncode, 2)
            self.assertIn("huge", run.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
