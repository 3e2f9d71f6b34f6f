"""End-to-end tests of `taskrel matrix` on a tiny synthetic zoo (make_zoo.py):

  Basics    the CSV/HDF5 layout (one row per triple, no NaN, done mask, B/D);
            every cell equals `taskrel relate` run alone on that triple;
            1, 2 and 3 ranks with group sizes 1 and 2 agree; a rerun skips
            finished triples; --collect rebuilds the results; a changed spec
            is refused until --restart; a directory store gives the same cells.
  Faults    SIGKILL at random moments + reruns == the uninterrupted matrix,
            no duplicate or missing rows; SIGTERM (and SIGUSR1 through
            mpiexec) exit with 3 and leave a resumable journal; a triple with
            bad data is recorded as failed and the rest go on (exit 4);
            --fail-fast stops handing out work.
  BadSpecs  each bad job spec exits 2 with its message before any work (no
            output directory is created).
"""
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import h5py
import numpy as np
import pandas as pd

BINARY = os.environ["TASKREL_BINARY"]
MPIEXEC = os.environ.get("TASKREL_MPIEXEC", "mpiexec")
HERE = os.path.dirname(os.path.abspath(__file__))
TERMS = ["relatedness", "reweighted_loss", "label_mismatch", "distribution_mismatch", "tau", "target_loss",
         "target_accuracy", "prior_mismatch"]
RELATE = {"epochs": 30, "head_epochs": 150, "tau0": 0.2}
SEED = 5


def make_zoo(path, *args):
    subprocess.run([sys.executable, os.path.join(HERE, "make_zoo.py"), path, *args], check=True)


def write_job(directory, name="job.toml", store="store.h5", output="out", extra="", relate=None, **top):
    relate = dict(RELATE, **(relate or {}))
    lines = [f'store = "{store}"', f'output = "{output}"', f"seed = {SEED}"]
    for key, value in top.items():
        lines.append(f"{key} = {json.dumps(value)}")
    lines.append(extra)
    lines.append("[relate]")
    for key, value in relate.items():
        lines.append(f"{key} = {json.dumps(value)}")
    path = os.path.join(directory, name)
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return path


def matrix(job, *args, ranks=None, timeout=180, env_extra=None):
    command = [BINARY, "matrix", job, *args]
    if ranks:
        command = [MPIEXEC, "-n", str(ranks), *command]
    env = dict(os.environ, OMP_NUM_THREADS="1", **(env_extra or {}))
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)


def journal_records(output):
    records = []
    for path in sorted(glob.glob(os.path.join(output, "journal", "*.jsonl"))):
        with open(path) as f:
            lines = f.read().split("\n")
        for line in lines[1:-1]:  # header first; the piece after the last newline is a cut-off line or ''
            records.append(json.loads(line))
    return records


def load_h5(path):
    with h5py.File(path) as f:
        out = {key: f[key][...] for key in f if isinstance(f[key], h5py.Dataset)}
        out["B"] = {f"{e}/{r}/{t}": f[f"B/{e}/{r}/{t}"][...] for e in f["B"] for r in f[f"B/{e}"] for t in f[f"B/{e}/{r}"]}
        out["attrs"] = {key: f.attrs[key] for key in f.attrs}
    return out


class Base(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="taskrel_matrix_")
        make_zoo(os.path.join(cls.tmp, "store.h5"))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def ok(self, result, code=0):
        self.assertEqual(result.returncode, code, result.stderr[-3000:])
        return result

    def assert_same_matrix(self, a, b, rtol=0.0, atol=0.0):
        np.testing.assert_array_equal(a["done"], b["done"])
        for key in TERMS + ["transform_shift", "invertibility_residual", "head_test_accuracy"]:
            np.testing.assert_allclose(a[key], b[key], rtol=rtol, atol=atol, err_msg=key)
        self.assertEqual(sorted(a["B"]), sorted(b["B"]))
        for key in a["B"]:
            np.testing.assert_allclose(a["B"][key], b["B"][key], rtol=rtol, atol=max(atol, 10 * rtol), err_msg=key)


class Basics(Base):
    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.job = write_job(cls.tmp, progress_seconds=0.2)
        cls.output = os.path.join(cls.tmp, "out")
        cls.first = matrix(cls.job)
        cls.reference = load_h5(os.path.join(cls.output, "relatedness.h5")) if cls.first.returncode == 0 else None

    def test_layout(self):
        self.ok(self.first)
        self.assertIn("progress: 12/12 triples", self.first.stderr)  # batch-log progress lines
        csv = pd.read_csv(os.path.join(self.output, "relatedness.csv"))
        self.assertEqual(len(csv), 2 * 3 * 2)  # 2 encoders, 3 x 3 pairs without self-pairs
        self.assertFalse(csv.duplicated(["encoder", "reference", "target"]).any())
        self.assertTrue((csv.status == "ok").all())
        self.assertFalse((csv.reference == csv.target).any())
        for column in TERMS + ["options_epochs", "options_tau0", "seed", "ot_converged", "head_test_accuracy",
                               "timings_fit", "ranks", "device_ot", "timings_metrics", "tau_distribution_mismatch"]:
            self.assertIn(column, csv.columns)
        self.assertTrue((csv.options_epochs == RELATE["epochs"]).all())
        self.assertTrue((csv.seed == SEED).all())
        # Every baseline estimator by default, one column each, all finite.
        metric_columns = sorted(c for c in csv.columns if c.startswith("metrics_"))
        self.assertEqual(len(metric_columns), 12, metric_columns)
        self.assertTrue(np.isfinite(csv[metric_columns].to_numpy()).all())
        self.assertTrue((csv.device_ot == "cpu").all())
        np.testing.assert_allclose(csv.relatedness, csv.reweighted_loss + csv.label_mismatch +
                                   csv.tau * csv.distribution_mismatch, rtol=1e-9)
        h5 = self.reference
        self.assertEqual(h5["relatedness"].shape, (2, 3, 3))
        self.assertEqual(list(h5["attrs"]["encoders"]), ["enc0", "enc1"])
        self.assertEqual(list(h5["attrs"]["targets"]), ["task0", "task1", "task2"])
        done = h5["done"].astype(bool)
        self.assertEqual(done.sum(), 12)
        self.assertFalse(done[:, 0, 0].any())  # no self-pairs
        for key, value in h5.items():
            if isinstance(value, np.ndarray):
                self.assertFalse(np.isnan(value).any(), key)
        self.assertTrue((h5["relatedness"][~done] == h5["attrs"]["fill_value"]).all())
        self.assertEqual(h5["B"]["enc1/task2/task0"].shape, (3, 3))
        np.testing.assert_allclose(h5["B"]["enc1/task2/task0"].sum(axis=0), 1.0, rtol=1e-6)
        row = csv[(csv.encoder == "enc1") & (csv.reference == "task2") & (csv.target == "task0")].iloc[0]
        self.assertAlmostEqual(h5["relatedness"][1, 2, 0], row.relatedness, places=12)

    def test_best_reference(self):
        self.ok(self.first)
        full = pd.read_csv(os.path.join(self.output, "relatedness.csv"))
        best = pd.read_csv(os.path.join(self.output, "best_reference.csv"))
        self.assertEqual(len(best), 2 * 3)  # one row per (encoder, target)
        self.assertTrue((best.reference == "best").all())
        for _, row in best.iterrows():
            candidates = full[(full.encoder == row.encoder) & (full.target == row.target) & (full.reference != row.target)]
            self.assertEqual(row.references_compared, len(candidates))
            winner = candidates.loc[candidates.relatedness.idxmin()]
            self.assertEqual(row.best_reference, winner.reference)
            self.assertNotEqual(row.best_reference, row.target)  # self pairs never count
            self.assertEqual(row.relatedness, winner.relatedness)
        with h5py.File(os.path.join(self.output, "best_reference.h5")) as f:
            self.assertEqual(f["relatedness"].shape, (2, 1, 3))
            self.assertTrue(np.all(f["done"][()] == 1))

    def test_matches_relate(self):
        self.ok(self.first)
        for encoder, reference, target in [("enc0", "task0", "task1"), ("enc1", "task2", "task0"),
                                           ("enc1", "task1", "task2")]:
            out = os.path.join(self.tmp, f"relate_{encoder}_{reference}_{target}.json")
            relate = subprocess.run(
                [BINARY, "relate", "--store", os.path.join(self.tmp, "store.h5"), "--encoder", encoder, "--reference",
                 reference, "--target", target, "--seed", str(SEED), "--epochs", str(RELATE["epochs"]),
                 "--head-epochs", str(RELATE["head_epochs"]), "--tau0", str(RELATE["tau0"]), "--log-every", "0",
                 "--json", out], capture_output=True, text=True, timeout=60, env=dict(os.environ, OMP_NUM_THREADS="1"))
            self.ok(relate)
            with open(out) as f:
                alone = json.load(f)
            records = [r for r in journal_records(self.output)
                       if (r["encoder"], r["reference"], r["target"]) == (encoder, reference, target)]
            self.assertEqual(len(records), 1)
            cell = records[0]["result"]
            for key in TERMS + ["B", "D", "objective", "transform_shift", "options", "reference_rows", "target_rows"]:
                self.assertEqual(cell[key], alone[key], key)

    def test_ranks_and_group_sizes_agree(self):
        self.ok(self.first)
        for ranks, group in [(2, 1), (2, 2), (3, 1), (3, 2)]:
            job = write_job(self.tmp, name=f"job_{ranks}_{group}.toml", output=f"out_{ranks}_{group}",
                            ranks_per_triple=group)
            self.ok(matrix(job, "-q", ranks=ranks))
            other = load_h5(os.path.join(self.tmp, f"out_{ranks}_{group}", "relatedness.h5"))
            if group == 1:  # every triple computed by one rank: the same arithmetic
                self.assert_same_matrix(self.reference, other)
            else:           # OT sharded over 2 ranks: floating-point tolerance
                self.assert_same_matrix(self.reference, other, rtol=1e-5, atol=1e-6)
            csv = pd.read_csv(os.path.join(self.tmp, f"out_{ranks}_{group}", "relatedness.csv"))
            self.assertTrue((csv.ranks == min(group, ranks)).all() or group == 2 and ranks == 3)

    def test_rerun_skips_and_collect_rebuilds(self):
        self.ok(self.first)
        before = len(journal_records(self.output))
        again = self.ok(matrix(self.job))
        self.assertIn("12 done earlier, 0 to do", again.stderr)
        self.assertEqual(len(journal_records(self.output)), before)
        csv_path = os.path.join(self.output, "relatedness.csv")
        with open(csv_path) as f:
            text = f.read()
        os.remove(csv_path)
        os.remove(os.path.join(self.output, "relatedness.h5"))
        collected = self.ok(matrix(self.job, "--collect"))
        self.assertIn("collected 12 of 12 triples", collected.stderr)
        with open(csv_path) as f:
            self.assertEqual(f.read(), text)
        self.assert_same_matrix(self.reference, load_h5(os.path.join(self.output, "relatedness.h5")))

    def test_cut_off_and_duplicate_lines(self):
        self.ok(self.first)
        output = os.path.join(self.tmp, "out_cut")
        shutil.copytree(self.output, output)
        [journal] = glob.glob(os.path.join(output, "journal", "*.jsonl"))
        with open(journal) as f:
            lines = f.read().split("\n")
        # A second run's file repeating one record, and a line cut short by a kill.
        with open(os.path.join(output, "journal", "zz-r0.jsonl"), "w") as f:
            f.write(lines[0] + "\n" + lines[3] + "\n" + lines[5][:40])
        collected = self.ok(matrix(self.job, "--output", output, "--collect"))
        self.assertIn("collected 12 of 12", collected.stderr)
        self.assertIn("1 triples were recorded more than once", collected.stderr)
        csv = pd.read_csv(os.path.join(output, "relatedness.csv"))
        self.assertEqual(len(csv), 12)
        self.assertFalse(csv.duplicated(["encoder", "reference", "target"]).any())
        self.assertIn("12 done earlier, 0 to do", self.ok(matrix(self.job, "--output", output)).stderr)

    def test_changed_spec_refused_until_restart(self):
        self.ok(self.first)
        output = os.path.join(self.tmp, "out_changed")
        shutil.copytree(self.output, output)
        job = write_job(self.tmp, name="changed.toml", output="out_changed", relate={"epochs": 31})
        refused = matrix(job)
        self.ok(refused, 2)
        for piece in ["different result-affecting options", "epochs 30 -> 31", "--restart"]:
            self.assertIn(piece, refused.stderr)
        # Device and precision are result options too: a journal does not mix them.
        same_spec = write_job(self.tmp, name="same_spec.toml", output="out_changed")
        other_precision = matrix(same_spec, "--precision", "float64")
        self.ok(other_precision, 2)
        self.assertIn('precision "float32" -> "float64"', other_precision.stderr)
        # Not result-affecting: progress and cache settings, ranks_per_triple.
        same = write_job(self.tmp, name="same.toml", output="out_changed", progress_seconds=5.0, cache_gib=0.5)
        self.assertIn("0 to do", self.ok(matrix(same)).stderr)
        restarted = self.ok(matrix(job, "--restart", "-q"))
        csv = pd.read_csv(os.path.join(output, "relatedness.csv"))
        self.assertEqual(len(csv), 12)
        self.assertTrue((csv.options_epochs == 31).all())
        self.assertEqual(len(journal_records(output)), 12)
        del restarted

    def test_directory_store_and_subsets(self):
        self.ok(self.first)
        split = os.path.join(self.tmp, "split_store")
        os.makedirs(split)
        make_zoo("unused", "--split-files", split)
        job = write_job(self.tmp, name="dir.toml", store="split_store", output="out_dir", encoders=["enc1"],
                        references=["task2"], targets="all", self_pairs=True, relate={"metrics": ["leep", "logme"]})
        self.ok(matrix(job, "-q"))
        csv = pd.read_csv(os.path.join(self.tmp, "out_dir", "relatedness.csv"))
        self.assertEqual(sorted(csv.target), ["task0", "task1", "task2"])
        self.assertEqual(sorted(c for c in csv.columns if c.startswith("metrics_")), ["metrics_leep", "metrics_logme"])
        full = pd.read_csv(os.path.join(self.output, "relatedness.csv")).set_index(["encoder", "reference", "target"])
        for _, row in csv.iterrows():
            if row.target != "task2":
                self.assertEqual(row.relatedness, full.loc[("enc1", "task2", row.target)].relatedness)


class Faults(Base):
    def uninterrupted(self):
        if not hasattr(self.__class__, "_uninterrupted"):
            job = write_job(self.tmp, name="slow_ref.toml", output="slow_ref", relate={"epochs": 800})
            self.ok(matrix(job, "-q"))
            self.__class__._uninterrupted = load_h5(os.path.join(self.tmp, "slow_ref", "relatedness.h5"))
        return self.__class__._uninterrupted

    def start(self, job, ranks=None):
        command = [BINARY, "matrix", job, "-q"]
        if ranks:
            command = [MPIEXEC, "-n", str(ranks), *command]
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True, env=dict(os.environ, OMP_NUM_THREADS="1"))

    def wait_for_records(self, output, count, process, limit=60):
        deadline = time.time() + limit
        while time.time() < deadline and process.poll() is None:
            if len(journal_records(output)) >= count:
                return
            time.sleep(0.05)
        self.fail(f"no {count} journal records in {output} (exit {process.poll()})")

    def test_sigkill_at_random_moments_then_rerun(self):
        reference = self.uninterrupted()
        job = write_job(self.tmp, name="slow.toml", output="slow_killed", relate={"epochs": 800})
        output = os.path.join(self.tmp, "slow_killed")
        seed = int(os.environ.get("TASKREL_TEST_SEED", time.time()))
        rng = random.Random(seed)
        kills = []
        for attempt in range(4):
            process = self.start(job, ranks=2)
            moment = rng.uniform(0.8, 2.0)
            time.sleep(moment)
            if process.poll() is not None:
                process.communicate()
                break
            os.killpg(process.pid, signal.SIGKILL)  # mpiexec and both ranks, mid-triple or mid-write
            process.communicate()
            kills.append((round(moment, 2), len(journal_records(output))))
        print(f"TASKREL_TEST_SEED={seed}: killed at (seconds, records so far) {kills}", file=sys.stderr)
        self.assertGreaterEqual(len(kills), 2)
        self.ok(matrix(job, "-q", ranks=2))
        records = journal_records(output)
        keys = [(r["encoder"], r["reference"], r["target"]) for r in records]
        self.assertEqual(len(keys), len(set(keys)), "a triple was journalled twice")
        self.assertEqual(len(keys), 12)
        csv = pd.read_csv(os.path.join(output, "relatedness.csv"))
        self.assertEqual(len(csv), 12)
        self.assertFalse(csv.duplicated(["encoder", "reference", "target"]).any())
        self.assert_same_matrix(reference, load_h5(os.path.join(output, "relatedness.h5")))

    def test_sigterm_exit_code_and_resumable_journal(self):
        reference = self.uninterrupted()
        job = write_job(self.tmp, name="term.toml", output="term", relate={"epochs": 800})
        output = os.path.join(self.tmp, "term")
        process = self.start(job)
        self.wait_for_records(output, 1, process)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 3, stderr)
        self.assertIn("exit code 3", stderr)
        done = len(journal_records(output))
        self.assertGreaterEqual(done, 1)
        # Under mpiexec: SIGUSR1 to mpiexec is forwarded to the ranks (Slurm's warning signal).
        process = self.start(job, ranks=2)
        self.wait_for_records(output, done + 1, process)
        os.kill(process.pid, signal.SIGUSR1)
        _, stderr = process.communicate(timeout=30)
        self.assertEqual(process.returncode, 3, stderr)
        done = len(journal_records(output))
        resumed = self.ok(matrix(job))
        self.assertIn(f"{done} done earlier, {12 - done} to do", resumed.stderr)
        self.assertEqual(len(pd.read_csv(os.path.join(output, "relatedness.csv"))), 12)
        self.assert_same_matrix(reference, load_h5(os.path.join(output, "relatedness.h5")))

    def test_bad_data_triple_fails_rest_go_on(self):
        make_zoo(os.path.join(self.tmp, "nan_store.h5"), "--nan", "enc1/task2")
        job = write_job(self.tmp, name="nan.toml", store="nan_store.h5", output="nan")
        result = matrix(job, "-q")
        self.ok(result, 4)
        csv = pd.read_csv(os.path.join(self.tmp, "nan", "relatedness.csv"))
        self.assertEqual(len(csv), 12)
        failed = csv[csv.status == "failed"]
        self.assertEqual(len(failed), 4)  # enc1 with task2 as reference (2) or target (2)
        self.assertTrue(((failed.encoder == "enc1") & ((failed.reference == "task2") | (failed.target == "task2"))).all())
        self.assertTrue(failed.error.str.contains("/enc1/task2/test").all(), failed.error.iloc[0])
        self.assertTrue(failed.error.str.contains("NaN").all(), failed.error.iloc[0])
        self.assertTrue(failed.relatedness.isna().all())
        with h5py.File(os.path.join(self.tmp, "nan", "relatedness.h5")) as f:
            self.assertEqual(f["failed"][...].sum(), 4)
            self.assertEqual(f["done"][...].sum(), 8)
        fast = write_job(self.tmp, name="nan_fast.toml", store="nan_store.h5", output="nan_fast",
                         encoders=["enc1"], references=["task2"])
        result = matrix(fast, "--fail-fast")
        self.ok(result, 4)
        self.assertIn("--fail-fast", result.stderr)
        csv = pd.read_csv(os.path.join(self.tmp, "nan_fast", "relatedness.csv"))
        self.assertEqual(list(csv.status), ["failed"])


class BadSpecs(Base):
    def check(self, text, *pieces, ranks=None, name="bad.toml"):
        path = os.path.join(self.tmp, name)
        with open(path, "w") as f:
            f.write(text)
        output = os.path.join(self.tmp, "never")
        result = matrix(path, "--output", output, ranks=ranks)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("taskrel: error", result.stderr)
        for piece in pieces:
            self.assertIn(piece, result.stderr)
        self.assertFalse(os.path.exists(output), "work started for a bad spec")

    def test_bad_specs(self):
        good = 'store = "store.h5"\noutput = "o"\n'
        self.check(good + "[relate]\nepoch = 3\n", "bad.toml:4: unknown key 'relate.epoch'", "did you mean 'epochs'?")
        self.check(good + "seeed = 3\n", "unknown key 'seeed'", "did you mean 'seed'?")
        self.check(good + 'seed = "x"\n', "key 'seed' must be an integer")
        self.check(good + "ranks_per_triple = 0\n", "key 'ranks_per_triple' must be >= 1")
        self.check(good + 'encoders = ["enc0", "nope"]\n', "key 'encoders' names 'nope'", "enc0, enc1")
        self.check(good + 'targets = ["task1", "task7"]\n', "key 'targets' names 'task7'", "/enc0/task7")
        self.check(good + '[relate]\nsetting = "learned-everything"\n', "[relate]", "learned-everything")
        self.check(good + "[relate]\ntarget_fraction = 1.5\n", "key 'relate.target_fraction' must be in (0, 1] (got 1.5)")
        self.check('store = "missing.h5"\noutput = "o"\n', "key 'store'", "missing.h5 does not exist")
        self.check('output = "o"\n', "missing key 'store'")
        self.check(good + "encoders = [\n", "not valid TOML")
        self.check(good + 'references = ["task0"]\ntargets = ["task0"]\n', "the job has no triples")
        self.check(good + "ranks_per_triple = 3\n", "ranks_per_triple = 3 but the job has 2 ranks", ranks=2)
        self.check(good + '[relate]\nmetrics = "logme,bogus"\n', "key 'relate.metrics'", "bogus", "leep")
        self.check(good + "[relate]\nmetrics = [1]\n", "key 'relate.metrics' must be")
        self.check(good + 'device = "tpu"\n', "unknown device 'tpu'")
        self.check(good + 'device = "cpu"\n[relate]\nprecision = "float16"\n', "key 'relate.precision'",
                   "float16 is a GPU storage")
        # Two problems at once: both reported.
        self.check(good + "seeed = 3\n[relate]\nepoch = 3\n", "unknown key 'seeed'", "unknown key 'relate.epoch'")

    def test_bad_stores(self):
        with h5py.File(os.path.join(self.tmp, "store.h5")) as f, h5py.File(os.path.join(self.tmp, "broken.h5"), "w") as g:
            for e in f:
                f.copy(f[e], g, name=e)
            del g["enc0/task1/train"]  # test split only
        self.check('store = "broken.h5"\noutput = "o"\n', "/enc0/task1/train is missing")
        os.makedirs(os.path.join(self.tmp, "dup"), exist_ok=True)
        shutil.copy(os.path.join(self.tmp, "store.h5"), os.path.join(self.tmp, "dup", "a.h5"))
        shutil.copy(os.path.join(self.tmp, "store.h5"), os.path.join(self.tmp, "dup", "b.h5"))
        self.check('store = "dup"\noutput = "o"\n', "/enc0/task0 is in both")
        # Dimension mismatch between the files of a directory store.
        os.makedirs(os.path.join(self.tmp, "dims"), exist_ok=True)
        make_zoo(os.path.join(self.tmp, "dims", "a.h5"), "--encoders", "1", "--datasets", "2", "--d", "4")
        with h5py.File(os.path.join(self.tmp, "dims", "b.h5"), "w") as g:
            grp = g.create_group("enc0/task5")
            grp.attrs["num_classes"] = 3
            grp.create_dataset("train/embeddings", data=np.zeros((9, 6), np.float32))
            grp.create_dataset("train/labels", data=np.arange(9) % 3)
        self.check('store = "dims"\noutput = "o"\n', "dimension mismatch for encoder enc0", "d = 6", "d = 4")


if __name__ == "__main__":
    unittest.main(verbosity=2)
