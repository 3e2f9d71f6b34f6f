"""slurm/extract_array.sbatch submitted as a real 2-task job array to the one-node Slurm of
slurm/local_cluster.sh: one encoder per array task (a torchvision name, and a file.py:callable with a
weights file; per-line flags), one store file per encoder in a directory; both tasks COMPLETED, each store accepted by
`taskrel inspect`, the directory read by list_store and by `taskrel matrix` as a zoo store (the matrix
runs on it); each store equals a direct run of the extraction. And Slurm's warning signal (scancel
--signal=USR1 --batch) in the middle of a split: exit 3, requeue, the rerun skips the finished split and
completes the store. Skips (exit 77) without root, Slurm or munge.
"""
import glob
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import h5py
import numpy as np

BINARY = os.environ["TASKREL_BINARY"]
SOURCE = os.environ["TASKREL_SOURCE_DIR"]
CLUSTER = os.path.join(SOURCE, "slurm", "local_cluster.sh")
sys.path.insert(0, os.path.join(SOURCE, "analysis"))

TINY_CNN = """
import torch

def make():
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(32, 16), torch.nn.ReLU(), torch.nn.Linear(16, 3))
"""
SLOW_CNN = TINY_CNN + """
import time

class Slow(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = make()

    def forward(self, x):
        time.sleep(0.5)  # so that the warning signal lands in the middle of a split
        return self.net(x)

def slow():
    return Slow()
"""
FLAGS = ["--npy", "DATA", "--image-size", "32", "--resize", "32", "--batch-size", "4"]


def available():
    return os.geteuid() == 0 and all(shutil.which(t) for t in ["slurmctld", "slurmd", "sbatch", "munged"])


class SlurmExtract(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        import torch
        cls.tmp = tempfile.mkdtemp(prefix="taskrel_slurm_extract_")
        cls.cluster = os.path.join(cls.tmp, "cluster")
        cls.env = dict(os.environ, TASKREL_SLURM_PORT=str(random.randint(29001, 31000)), OMP_NUM_THREADS="1",
                       SLURM_CONF=os.path.join(cls.cluster, "slurm.conf"), TASKREL_SOURCE_DIR=SOURCE,
                       PYTHONPATH=os.path.join(SOURCE, "analysis"))
        subprocess.run([CLUSTER, "start", cls.cluster], check=True, env=cls.env, timeout=60)
        rng = np.random.default_rng(5)
        cls.data = os.path.join(cls.tmp, "data")
        for dataset, k in (("pets", 3), ("gray", 2)):
            for split, n in (("train", 6), ("test", 4)):
                folder = os.path.join(cls.data, dataset, split)
                os.makedirs(folder)
                shape = (n, 32, 32, 3) if dataset == "pets" else (n, 28, 28)
                np.save(os.path.join(folder, "images.npy"), rng.integers(0, 256, shape, dtype=np.uint8))
                np.save(os.path.join(folder, "labels.npy"), np.arange(n) % k)
        cls.model_file = os.path.join(cls.tmp, "tiny.py")
        with open(cls.model_file, "w") as f:
            f.write(SLOW_CNN)
        namespace = {}
        exec(TINY_CNN, namespace)
        torch.manual_seed(4)
        cls.weights = os.path.join(cls.tmp, "tiny_cnn.pt")
        torch.save({"state_dict": namespace["make"]().state_dict(), "epoch": 7}, cls.weights)  # a checkpoint dict
        cls.models = os.path.join(cls.tmp, "models.txt")
        with open(cls.models, "w") as f:
            f.write(f"# name  arch-or-module  [weights] [flags]\ntiny_resnet  resnet18  --num-classes 3 --seed 2\n\n"
                    f"tiny_cnn  {cls.model_file}:make  {cls.weights}\n")
        os.makedirs(os.path.join(cls.tmp, "logs"))

    @classmethod
    def tearDownClass(cls):
        subprocess.run([CLUSTER, "stop", cls.cluster], env=cls.env, timeout=60)
        if os.environ.get("TASKREL_KEEP_TMP") is None:
            shutil.rmtree(cls.tmp, ignore_errors=True)

    def logs(self):
        text = ""
        for path in sorted(glob.glob(os.path.join(self.tmp, "logs", "*"))):
            with open(path) as f:
                text += f"--- {path}\n{f.read()[-3000:]}"
        return text

    def flags(self):
        return [self.data if a == "DATA" else a for a in FLAGS]

    def test_array_one_store_per_encoder(self):
        zoo = os.path.join(self.tmp, "zoo")
        job = subprocess.run(
            ["sbatch", "--parsable", "--array=0-1", "--cpus-per-task=1", "--mem=0", f"--chdir={self.tmp}",
             f"--output={self.tmp}/logs/%x-%A_%a.out", os.path.join(SOURCE, "slurm", "extract_array.sbatch"),
             self.models, zoo, *self.flags(), "--head-for", "pets"],
            capture_output=True, text=True, env=self.env, timeout=60)
        self.assertEqual(job.returncode, 0, job.stderr)
        job_id = job.stdout.strip().split(";")[0]
        deadline = time.time() + 240
        while subprocess.run(["squeue", "-h", "-j", job_id], capture_output=True, text=True,
                             env=self.env).stdout.strip():
            self.assertLess(time.time(), deadline, f"array job {job_id} still queued/running\n{self.logs()}")
            time.sleep(0.5)
        with open(os.path.join(self.cluster, "jobcomp.txt")) as f:
            states = [line for line in f if f"ArrayJobId={job_id} " in line]
        self.assertEqual(len(states), 2, self.logs())
        self.assertTrue(all("JobState=COMPLETED" in line for line in states), "".join(states) + self.logs())
        logs = self.logs()
        self.assertIn("== encoder tiny_resnet done", logs)
        self.assertIn("== encoder tiny_cnn done", logs)

        self.assertEqual(sorted(os.listdir(zoo)), ["tiny_cnn.h5", "tiny_resnet.h5"])
        dims = {"tiny_resnet": 512, "tiny_cnn": 16}  # inputs of fc, and of the last Linear of the Sequential
        for encoder, dim in dims.items():
            store = os.path.join(zoo, f"{encoder}.h5")
            result = subprocess.run([BINARY, "inspect", store, "--json"], capture_output=True, text=True, timeout=60)
            self.assertEqual(result.returncode, 0, result.stderr)
            report = json.loads(result.stdout)["encoders"]
            self.assertEqual(list(report), [encoder])
            self.assertEqual(report[encoder]["pets"]["splits"]["train"]["dim"], dim)
            self.assertEqual(report[encoder]["gray"]["splits"]["test"]["rows"], 4)
            # equal to a direct run outside Slurm
            direct = os.path.join(self.tmp, f"direct_{encoder}.h5")
            line = {"tiny_resnet": ["--model", "resnet18", "--num-classes", "3", "--seed", "2"],
                    "tiny_cnn": ["--model", f"{self.model_file}:make", "--weights", self.weights]}[encoder]
            subprocess.run([sys.executable, "-m", "taskrel_py.extract", "--store", direct, "--encoder", encoder,
                            *line, *self.flags(), "--head-for", "pets", "--progress", "none"],
                           check=True, env=self.env, capture_output=True, timeout=120)
            with h5py.File(store, "r") as a, h5py.File(direct, "r") as b:
                for path in (f"{encoder}/pets/train/embeddings", f"{encoder}/gray/test/embeddings",
                             f"{encoder}/pets/head/weight"):
                    np.testing.assert_array_equal(a[path][...], b[path][...], err_msg=path)

        from taskrel_py.store import list_store
        frame = list_store(zoo)
        self.assertEqual(sorted(set(frame.encoder)), ["tiny_cnn", "tiny_resnet"])
        self.assertEqual(len(frame), 8)
        self.assertTrue(frame[frame.dataset == "pets"].has_head.all())

        job_file = os.path.join(self.tmp, "zoo.toml")
        with open(job_file, "w") as f:
            f.write(f'store = "{zoo}"\noutput = "{self.tmp}/matrix"\n[relate]\nepochs = 5\nhead_epochs = 30\n'
                    f'metrics = "none"\n')
        listed = subprocess.run([BINARY, "matrix", job_file, "--list-encoders", "-q"], capture_output=True, text=True,
                                env=self.env, timeout=60)
        self.assertEqual(listed.stdout.split(), ["tiny_cnn", "tiny_resnet"], listed.stderr)
        run = subprocess.run([BINARY, "matrix", job_file, "-q"], capture_output=True, text=True, env=self.env,
                             timeout=120)
        self.assertEqual(run.returncode, 0, run.stderr)
        with open(os.path.join(self.tmp, "matrix", "relatedness.csv")) as f:
            self.assertEqual(len(f.read().splitlines()), 1 + 4)  # 2 encoders x (pets -> gray, gray -> pets)

    def job_fields(self, job):
        text = subprocess.run(["scontrol", "show", "job", job], capture_output=True, text=True, env=self.env).stdout
        return dict(item.split("=", 1) for item in text.split() if "=" in item)

    def wait_state(self, job, states, limit=120):
        deadline = time.time() + limit
        while time.time() < deadline:
            fields = self.job_fields(job)
            if fields.get("JobState") in states:
                return fields
            time.sleep(0.3)
        self.fail(f"job {job} not in {states} after {limit} s: {self.job_fields(job)}\n{self.logs()}")

    def test_usr1_requeue_resumes(self):
        # Slurm's time-limit warning (USR1 to the batch shell): the trap forwards it, the extraction stops
        # at the next batch with exit 3, the script requeues the task, and the rerun skips what was done.
        models = os.path.join(self.tmp, "slow_models.txt")
        with open(models, "w") as f:
            f.write(f"slow  {self.model_file}:slow\n")
        zoo = os.path.join(self.tmp, "zoo_requeue")
        job = subprocess.run(
            ["sbatch", "--parsable", "--array=0-0", "--cpus-per-task=1", "--mem=0", f"--chdir={self.tmp}",
             f"--output={self.tmp}/logs/%x-requeue-%A_%a.out", os.path.join(SOURCE, "slurm", "extract_array.sbatch"),
             models, zoo, "--npy", self.data, "--datasets", "gray", "--batch-size", "1", "--image-size", "32"],
            capture_output=True, text=True, env=self.env, timeout=60)
        self.assertEqual(job.returncode, 0, job.stderr)
        task = job.stdout.strip().split(";")[0] + "_0"
        side = os.path.join(zoo, "slow.h5.partial", "slow", "gray", "train.h5")  # test (4 images) is done by then
        deadline = time.time() + 120
        while not os.path.exists(side):
            self.assertLess(time.time(), deadline, f"the extraction never reached gray/train\n{self.logs()}")
            time.sleep(0.1)
        subprocess.run(["scancel", "--signal=USR1", "--batch", task], check=True, env=self.env, timeout=30)
        fields = self.wait_state(task, {"PENDING"}, limit=60)
        self.assertEqual(fields.get("Restarts"), "1", self.logs())
        # Slurm holds a requeued job for ~2 minutes (BeginTime): release it, but not within the second in
        # which slurmd revoked the first run's credential ("Job credential revoked" kills a launch
        # whose credential is not newer than the revocation, at one-second resolution).
        time.sleep(2)
        subprocess.run(["scontrol", "update", f"jobid={task}", "StartTime=now"], env=self.env, timeout=30)
        self.wait_state(task, {"COMPLETED"}, limit=120)
        logs = self.logs()
        self.assertIn("batch script got USR1: forwarding", logs)
        self.assertIn("got SIGUSR1: stopped", logs)
        self.assertIn("== interrupted, completed splits kept: requeueing", logs)
        self.assertIn("slow/gray/test: complete in the store, skipped", logs)
        self.assertIn("== encoder slow done", logs)
        result = subprocess.run([BINARY, "inspect", os.path.join(zoo, "slow.h5"), "--json"], capture_output=True,
                                text=True, timeout=60)
        self.assertEqual(result.returncode, 0, result.stderr)
        splits = json.loads(result.stdout)["encoders"]["slow"]["gray"]["splits"]
        self.assertEqual({k: v["rows"] for k, v in splits.items()}, {"test": 4, "train": 6})
        self.assertFalse(os.path.exists(os.path.join(zoo, "slow.h5.partial")))


if __name__ == "__main__":
    if not available():
        print("skipped: needs root, slurmctld, slurmd, sbatch and munged", file=sys.stderr)
        sys.exit(77)
    unittest.main(verbosity=2)
