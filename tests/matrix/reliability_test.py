"""`taskrel matrix` under the faults of issue 14 (helpers from matrix_test.py):

  RankErrors  a NaN only in the rows of rank 1 of a group of 2: the whole
              group records the triples that read it as failed with that
              error and goes on (exit 4) -- no hang.
  Locks       a second run on the same output directory and encoders while
              the first runs refuses at start (exit 2, naming the directory
              and the running process); after SIGKILL of the first, a rerun
              succeeds and completes; runs on disjoint encoders (Slurm array
              tasks) share one output directory, but --restart (which
              deletes every journal) is refused while another run writes.
  Compaction  a finished run and --collect leave one journal file holding
              every finished triple once; a rerun after compaction resumes
              (nothing to do) and the results are identical; a --collect
              past the file-size limit (ulimit -f) changes no file and
              leaves no temporary.

  Fingerprints  every record holds its inputs' fingerprint; after one split
              is re-imported with other data (--overwrite), --collect refuses
              (exit 2) naming the triples that read it, and a rerun
              recomputes exactly those, saying why; the other cells stay.

  RankKills   under mpiexec -n 3, SIGKILL to one rank at a random moment
              (seed printed; TASKREL_TEST_SEED replays it), at least 10
              times on one output directory: each run ends non-zero without
              a hang, the journal stays readable (whole records, at most a
              cut-off last line per file, no triple twice), and the rerun
              completes with the matrix of an uninterrupted run.

usage: reliability_test.py ranks|locks|compaction|fingerprints|kills
"""
import glob
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
import unittest

import numpy as np
import pandas as pd

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from matrix_test import (BINARY, MPIEXEC, Base, journal_records, load_h5, make_zoo, matrix,  # noqa: E402
                         write_job)


def start(job, *args, ranks=None):
    command = [BINARY, "matrix", job, "-q", *args]
    if ranks:
        command = [MPIEXEC, "-n", str(ranks), *command]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env=dict(os.environ, OMP_NUM_THREADS="1"))


def kill_group(process):
    """SIGKILL to the process and its children (a stopped process dies too); a no-op once it has ended."""
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.communicate()


def journal_files(output):
    return sorted(glob.glob(os.path.join(output, "journal", "*.jsonl")))


class RankErrors(Base):
    def test_nan_in_rank_1_rows_fails_the_triple_on_the_whole_group(self):
        # test splits have 30 rows: rank 1 of a group of 2 holds rows 15..29.
        make_zoo(os.path.join(self.tmp, "nan_store.h5"), "--nan", "enc1/task2", "--nan-row", "20")
        job = write_job(self.tmp, name="nan2.toml", store="nan_store.h5", output="nan2", ranks_per_triple=2)
        result = matrix(job, "-q", ranks=2, timeout=300)
        self.ok(result, 4)
        csv = pd.read_csv(os.path.join(self.tmp, "nan2", "relatedness.csv"))
        self.assertEqual(len(csv), 12)
        failed = csv[csv.status == "failed"]
        self.assertEqual(len(failed), 4)  # enc1 with task2 as reference (2) or target (2)
        self.assertTrue(((failed.encoder == "enc1") & ((failed.reference == "task2") | (failed.target == "task2"))).all())
        self.assertTrue(failed.error.str.contains("/enc1/task2/test").all(), failed.error.iloc[0])
        self.assertTrue(failed.error.str.contains("row 20").all(), failed.error.iloc[0])
        self.assertEqual((csv.status == "ok").sum(), 8)
        # One record per triple: the group wrote each once, from its leader.
        self.assertEqual(len(journal_records(os.path.join(self.tmp, "nan2"))), 12)


class Locks(Base):
    def slow_job(self, name, output, **top):
        return write_job(self.tmp, name=name, output=output, relate={"epochs": 800}, **top)

    def hold_locks(self, output, process, limit=120):
        """Waits until `process` holds its encoder locks (it writes its pid into the lock files after flock), then
        stops it (SIGSTOP): a stopped process keeps its locks, and the test no longer races a tiny zoo's run."""
        deadline = time.time() + limit
        while time.time() < deadline and process.poll() is None:
            holders = [open(path).read() for path in glob.glob(os.path.join(output, "locks", "encoder-*.lock"))]
            if holders and all(f"pid {process.pid} " in text for text in holders):
                os.killpg(process.pid, signal.SIGSTOP)
                return
            time.sleep(0.02)
        self.fail(f"the first run never took its locks in {output} (exit {process.poll()})")

    def test_second_writer_refused_then_rerun_after_sigkill(self):
        job = self.slow_job("lock.toml", "locked")
        output = os.path.join(self.tmp, "locked")
        first = start(job)
        try:
            self.hold_locks(output, first)
            second = matrix(job, "-q", timeout=60)
            self.assertEqual(second.returncode, 2, second.stderr)
            self.assertIn("taskrel: error:", second.stderr)
            self.assertIn(output, second.stderr)
            self.assertIn("another taskrel matrix", second.stderr)
            self.assertIn(f"pid {first.pid}", second.stderr)
            # --restart must not wipe the journal under a running writer either.
            self.assertEqual(matrix(job, "-q", "--restart", timeout=60).returncode, 2)
            self.assertIsNone(first.poll(), "the first run must not be disturbed")
        finally:
            kill_group(first)
        # The kill released the lock: a rerun resumes and completes.
        rerun = self.ok(matrix(job, "-q", timeout=300))
        csv = pd.read_csv(os.path.join(output, "relatedness.csv"))
        self.assertEqual(len(csv), 12)
        self.assertTrue((csv.status == "ok").all())
        self.assertNotIn("another taskrel matrix", rerun.stderr)

    def test_array_tasks_on_disjoint_encoders_share_the_output(self):
        job = self.slow_job("array.toml", "array")
        output = os.path.join(self.tmp, "array")
        first = start(job, "--encoder", "enc0")
        try:
            self.hold_locks(output, first)
            # --restart would delete enc0's journal: refused while enc0's task runs.
            restart = matrix(job, "-q", "--encoder", "enc1", "--restart", timeout=60)
            self.assertEqual(restart.returncode, 2, restart.stderr)
            self.assertIn("--restart would delete them", restart.stderr)
            second = matrix(job, "-q", "--encoder", "enc1", timeout=300)
            self.ok(second)
            # The same encoder again is refused while enc0's task runs.
            again = matrix(job, "-q", "--encoder", "enc0", timeout=60)
            self.assertEqual(again.returncode, 2, again.stderr)
            self.assertIn("encoder enc0", again.stderr)
            os.killpg(first.pid, signal.SIGCONT)
            _, stderr = first.communicate(timeout=300)
            self.assertEqual(first.returncode, 0, stderr)
        finally:
            kill_group(first)
        self.ok(matrix(job, "--collect", "-q"))
        csv = pd.read_csv(os.path.join(output, "relatedness.csv"))
        self.assertEqual(len(csv), 12)
        self.assertTrue((csv.status == "ok").all())


class Compaction(Base):
    def test_finished_run_and_collect_compact_to_one_file(self):
        job = write_job(self.tmp, name="compact.toml", output="compact")
        output = os.path.join(self.tmp, "compact")
        # Three partial runs (one encoder each, then the rest) leave several journal files ...
        self.ok(matrix(job, "-q", "--encoder", "enc0"))
        self.ok(matrix(job, "-q", "--encoder", "enc1", ranks=2))
        self.assertGreaterEqual(len(journal_files(output)), 2)
        before = sorted((r["encoder"], r["reference"], r["target"]) for r in journal_records(output))
        self.assertEqual(len(before), 12)
        # ... which --collect compacts into one, every triple once.
        self.ok(matrix(job, "--collect", "-q"))
        files = journal_files(output)
        self.assertEqual(len(files), 1, files)
        after = sorted((r["encoder"], r["reference"], r["target"]) for r in journal_records(output))
        self.assertEqual(after, before)
        self.assertEqual(glob.glob(os.path.join(output, "journal", "*.tmp*")), [])
        collected = load_h5(os.path.join(output, "relatedness.h5"))
        # A rerun after compaction has nothing to do and gives the same matrix.
        rerun = self.ok(matrix(job))
        self.assertIn("12 done earlier, 0 to do", rerun.stderr)
        self.assert_same_matrix(collected, load_h5(os.path.join(output, "relatedness.h5")))
        self.assertEqual(len(journal_files(output)), 1)

    def test_collect_past_the_file_size_limit_keeps_every_old_file(self):
        job = write_job(self.tmp, name="limit.toml", output="limited")
        output = os.path.join(self.tmp, "limited")
        self.ok(matrix(job, "-q", "--encoder", "enc0"))
        self.ok(matrix(job, "-q", "--encoder", "enc1"))
        self.ok(matrix(job, "--collect", "-q"))
        # A second journal again (a copy: every record a duplicate), so the
        # --collect below has a compaction to write as well as the results.
        journal = journal_files(output)[0]
        shutil.copy(journal, journal.replace(".jsonl", "-copy.jsonl"))

        def files():
            found = {}
            for path in sorted(glob.glob(os.path.join(output, "**", "*"), recursive=True)):
                if os.path.isfile(path) and "/locks/" not in path:
                    with open(path, "rb") as f:
                        found[os.path.relpath(path, output)] = f.read()
            return found

        before = files()
        self.assertIn("relatedness.h5", before)
        # 4 KiB: below relatedness.csv, relatedness.h5 and the compacted journal.
        limited = subprocess.run(["bash", "-c", 'ulimit -f 4 && exec "$@"', "bash", BINARY, "matrix", job,
                                  "--collect", "-q"], capture_output=True, text=True, timeout=120,
                                 env=dict(os.environ, PMIX_MCA_gds="hash"))  # as in build_zoo_test.py
        self.assertEqual(limited.returncode, 1, limited.stderr)
        self.assertIn("File too large", limited.stderr)
        self.assertIn(output, limited.stderr)
        self.assertEqual(files(), before, "a failed --collect changed or left files")
        self.ok(matrix(job, "--collect", "-q"))
        self.assertEqual(len(journal_files(output)), 1)

    def test_duplicates_and_failures_keep_one_record_per_triple(self):
        job = write_job(self.tmp, name="dups.toml", output="dups")
        output = os.path.join(self.tmp, "dups")
        self.ok(matrix(job, "-q"))  # a finished run compacts its own journal
        self.assertEqual(len(journal_files(output)), 1)
        first = journal_files(output)[0]
        with open(first) as f:
            lines = f.read().split("\n")
        # An older failed attempt and a duplicate ok record in a second file.
        header, record = lines[0], lines[1]
        failed = record.replace('"status":"ok"', '"status":"failed","error":"earlier failure"')
        with open(os.path.join(output, "journal", "0-older-r0.jsonl"), "w") as f:
            f.write("\n".join([header, failed, record]) + "\n")
        reference = load_h5(os.path.join(output, "relatedness.h5"))
        self.ok(matrix(job, "--collect", "-q"))
        files = journal_files(output)
        self.assertEqual(len(files), 1, files)
        records = journal_records(output)
        keys = [(r["encoder"], r["reference"], r["target"]) for r in records]
        self.assertEqual(len(keys), 12)
        self.assertEqual(len(set(keys)), 12)
        self.assertTrue(all(r["status"] == "ok" for r in records))
        self.assert_same_matrix(reference, load_h5(os.path.join(output, "relatedness.h5")))


class Fingerprints(Base):
    def test_reimported_split_is_recomputed_and_collect_refuses(self):
        store = os.path.join(self.tmp, "fp_store.h5")
        make_zoo(store)
        job = write_job(self.tmp, name="fp.toml", store="fp_store.h5", output="fp")
        output = os.path.join(self.tmp, "fp")
        self.ok(matrix(job, "-q"))
        records = journal_records(output)
        self.assertEqual(len(records), 12)
        inputs = records[0]["inputs"]
        split = inputs["reference"]["splits"]["train"]
        self.assertEqual(sorted(split), ["dim", "dtype", "embeddings_xxh64", "label_dtype", "labels_xxh64", "rows"])
        self.assertEqual(len(split["embeddings_xxh64"]), 16)
        before = pd.read_csv(os.path.join(output, "relatedness.csv")).set_index(["encoder", "reference", "target"])

        # Re-import enc1/task2/test with other (valid) data.
        rng = np.random.default_rng(11)
        np.save(os.path.join(self.tmp, "new_x.npy"), rng.normal(size=(30, 4)).astype(np.float32) * 3)
        np.save(os.path.join(self.tmp, "new_y.npy"), np.arange(30) % 3)
        reimport = subprocess.run([BINARY, "import", "--out", store, "--encoder", "enc1", "--dataset", "task2",
                                   "--split", "test", "--embeddings", os.path.join(self.tmp, "new_x.npy"),
                                   "--labels", os.path.join(self.tmp, "new_y.npy"), "--overwrite"],
                                  capture_output=True, text=True, timeout=60)
        self.ok(reimport)
        changed = {("enc1", "task2", "task0"), ("enc1", "task2", "task1"), ("enc1", "task0", "task2"),
                   ("enc1", "task1", "task2")}

        collect = matrix(job, "--collect", "-q")
        self.assertEqual(collect.returncode, 2, collect.stderr)
        self.assertIn("4 finished triple(s) were computed from inputs that have changed", collect.stderr)
        for e, r, t in changed:
            self.assertIn(f"{e}/{r}/{t} (", collect.stderr)
        self.assertIn("/enc1/task2/test embeddings_xxh64", collect.stderr)

        rerun = self.ok(matrix(job))
        self.assertIn("8 done earlier, 4 to do", rerun.stderr)
        recomputed = {tuple(line.split(": recomputing")[0].split("] info: ")[-1].split("/"))
                      for line in rerun.stderr.splitlines() if ": recomputing: its inputs changed" in line}
        self.assertEqual(recomputed, changed)
        after = pd.read_csv(os.path.join(output, "relatedness.csv")).set_index(["encoder", "reference", "target"])
        self.assertEqual(len(after), 12)
        self.assertTrue((after.status == "ok").all())
        for key in before.index:
            if key in changed:
                self.assertNotEqual(before.loc[key, "relatedness"], after.loc[key, "relatedness"], key)
            else:
                self.assertEqual(before.loc[key, "relatedness"], after.loc[key, "relatedness"], key)
        # Now consistent: --collect agrees and a rerun has nothing to do.
        self.ok(matrix(job, "--collect", "-q"))
        self.assertIn("12 done earlier, 0 to do", self.ok(matrix(job)).stderr)


def rank_processes(launcher_pid):
    """The ranks mpiexec started: its child processes (the front execs taskrel-torch in place)."""
    try:
        with open(f"/proc/{launcher_pid}/task/{launcher_pid}/children") as f:
            children = [int(pid) for pid in f.read().split()]
    except FileNotFoundError:
        return []
    ranks = []
    for pid in children:
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip().startswith("taskrel"):
                    ranks.append(pid)
        except FileNotFoundError:
            pass
    return ranks


def check_journal(test, output):
    """Whole records only (a line cut short by the kill is the last of its file), no triple finished twice."""
    keys = []
    for path in journal_files(output):
        with open(path) as f:
            lines = f.read().split("\n")
        json.loads(lines[0])  # the header
        for line in lines[1:-1]:
            record = json.loads(line)
            keys.append((record["encoder"], record["reference"], record["target"]))
    test.assertEqual(len(keys), len(set(keys)), f"a triple was journalled twice in {output}")
    return len(keys)


class RankKills(Base):
    RANKS = 3
    KILLS = 10

    def test_sigkill_one_rank_at_random_moments_then_rerun(self):
        # 3 encoders x 4 tasks (36 triples) of 200 rows: a run long enough
        # after start-up for kills to land mid-triple and mid-write too.
        make_zoo(os.path.join(self.tmp, "kill_store.h5"), "--encoders", "3", "--datasets", "4", "--n", "200")
        relate = {"epochs": 400}
        reference_job = write_job(self.tmp, name="kill_ref.toml", store="kill_store.h5", output="kill_ref",
                                  relate=relate)
        started = time.time()
        self.ok(matrix(reference_job, "-q", ranks=self.RANKS, timeout=300))
        duration = time.time() - started
        reference = load_h5(os.path.join(self.tmp, "kill_ref", "relatedness.h5"))

        job = write_job(self.tmp, name="kill.toml", store="kill_store.h5", output="killed", relate=relate)
        output = os.path.join(self.tmp, "killed")
        seed = int(os.environ.get("TASKREL_TEST_SEED", time.time()))
        rng = random.Random(seed)
        print(f"TASKREL_TEST_SEED={seed} (an uninterrupted run took {duration:.1f} s)", file=sys.stderr)
        kills = []
        for attempt in range(3 * self.KILLS):
            if len(kills) >= self.KILLS:
                break
            process = start(job, ranks=self.RANKS)
            # Anywhere from start-up (MPI_Init, opening the store) to the end
            # of an uninterrupted run; a resumed run has less to do, so some
            # finish first, and the next starts from nothing.
            moment = rng.uniform(0.0, duration)
            time.sleep(moment)
            victims = rank_processes(process.pid)
            if process.poll() is not None or not victims:
                # It finished first (or is finishing): a whole run, which
                # must be the reference; start the next one from nothing.
                _, err = process.communicate(timeout=120)
                self.assertEqual(process.returncode, 0, err)
                self.assert_same_matrix(reference, load_h5(os.path.join(output, "relatedness.h5")))
                shutil.rmtree(output)
                continue
            victim = rng.choice(sorted(victims))
            os.kill(victim, signal.SIGKILL)
            try:
                _, err = process.communicate(timeout=120)  # no hang: the launcher ends the job
            except subprocess.TimeoutExpired:
                kill_group(process)
                self.fail(f"the job hung after rank pid {victim} was killed (seed {seed})")
            self.assertNotEqual(process.returncode, 0, f"a job with a killed rank exited 0 (seed {seed})")
            kills.append((round(moment, 2), check_journal(self, output)))
        print(f"TASKREL_TEST_SEED={seed}: killed one of {self.RANKS} ranks at (seconds, records so far) {kills}",
              file=sys.stderr)
        self.assertGreaterEqual(len(kills), self.KILLS)
        rerun = self.ok(matrix(job, "-q", ranks=self.RANKS, timeout=300))
        self.assertEqual(check_journal(self, output), 36)
        csv = pd.read_csv(os.path.join(output, "relatedness.csv"))
        self.assertEqual(len(csv), 36)
        self.assertTrue((csv.status == "ok").all())
        self.assert_same_matrix(reference, load_h5(os.path.join(output, "relatedness.h5")))
        self.assertNotIn("another taskrel matrix", rerun.stderr)


if __name__ == "__main__":
    suite = {"ranks": RankErrors, "locks": Locks, "compaction": Compaction, "fingerprints": Fingerprints,
             "kills": RankKills}[sys.argv[1]]
    result = unittest.TextTestRunner(verbosity=2).run(unittest.defaultTestLoader.loadTestsFromTestCase(suite))
    sys.exit(0 if result.wasSuccessful() else 1)
