"""taskrel_py.extract on real torchvision models and real files, checked by h5py and by the taskrel binary.

  Store      a seeded resnet18 (3-class head, saved as a state_dict and loaded with --weights) on a small
             ImageFolder the test writes: `taskrel inspect --json` accepts the store and reports the rows,
             dim 512, classes and names; labels follow the files; the stored head equals the model's fc;
             embeddings @ head + bias reproduce the model's own logits computed here from the PNGs (so the
             embedding is the input of fc); `taskrel matrix` runs on the store and uses the stored head.
  Sources    the npy layout ((N,H,W) grayscale with class_names.txt, (N,C,H,W) float) is accepted; the
             same images as PNGs and as an npy array give the same embeddings; `module:callable` equals
             the architecture name; --layer reads an inner module.
  Resume     a second run skips every split and leaves the data as it was; a run killed with SIGKILL in
             the middle of a split leaves a store that taskrel accepts without that split, and the rerun
             redoes it (equal to an uninterrupted run); SIGTERM exits 3 keeping completed splits; a stale
             side file is removed; changed settings are refused; --overwrite redoes.
  Dtypes     float16 and float32 stores: dtype as asked, values equal to float16 rounding; values beyond
             float16's range are refused (exit 2) instead of being stored as Inf.
  Errors     exit 2 with a message naming the file/dataset/layer for: unknown architecture, missing
             weights, weights that do not fit, unknown layer (close names listed), empty dataset, label
             count mismatch, a store that is not HDF5, a head on the wrong label set; nothing written.
"""
import contextlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import h5py
import numpy as np
import torch
import torchvision
from PIL import Image

SOURCE = os.environ.get("TASKREL_SOURCE_DIR", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BINARY = os.environ["TASKREL_BINARY"]
sys.path.insert(0, os.path.join(SOURCE, "analysis"))
from taskrel_py import extract as extract_cli  # noqa: E402
from taskrel_py.extract import extract  # noqa: E402
from taskrel_py.store import list_store, partial_path  # noqa: E402

ENV = dict(os.environ, PYTHONPATH=os.path.join(SOURCE, "analysis"), OMP_NUM_THREADS="1")
CLASSES = ["cat", "dog", "eel"]
SIZE = 32  # small images: a resnet18 forward pass takes milliseconds
# A model that sleeps in its forward pass, so a kill reliably lands in the middle of a split.
SLOW_MODEL = """
import time
import torch
import torchvision

class Slow(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.net = torchvision.models.resnet18(num_classes=3)

    def forward(self, x):
        time.sleep(0.4)
        return self.net(x)

def make():
    return Slow()
"""


def inspect(store):
    result = subprocess.run([BINARY, "inspect", store, "--json"], capture_output=True, text=True, timeout=60)
    return result.returncode, (json.loads(result.stdout) if result.returncode == 0 else result.stderr)


def run_main(*argv):
    """The command line in this process (no torch start-up per case): (exit code, stderr)."""
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = extract_cli.main([str(a) for a in argv])
    return code, err.getvalue()


def read_split(store, path):
    with h5py.File(store, "r") as f:
        return f[path + "/embeddings"][...], f[path + "/labels"][...]


class Extract(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        torch.set_num_threads(1)
        cls.tmp = tempfile.mkdtemp(prefix="taskrel_python_api_")
        rng = np.random.default_rng(3)
        # ImageFolder pets: train 4 and test 2 images per class, RGB PNGs at the model's size.
        cls.images = {}
        for split, n in (("train", 4), ("test", 2)):
            arrays = []
            for c in CLASSES:
                folder = os.path.join(cls.tmp, "pets", split, c)
                os.makedirs(folder)
                for i in range(n):
                    a = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
                    Image.fromarray(a).save(os.path.join(folder, f"{i}.png"))
                    arrays.append(a)
            cls.images[split] = np.stack(arrays)  # in ImageFolder order: sorted classes, sorted files
        # The same pixels as an npy dataset (N,H,W,C uint8), and a grayscale (N,H,W) one with names.
        cls.npy = os.path.join(cls.tmp, "npy")
        for split in ("train", "test"):
            folder = os.path.join(cls.npy, "pets_npy", split)
            os.makedirs(folder)
            np.save(os.path.join(folder, "images.npy"), cls.images[split])
            np.save(os.path.join(folder, "labels.npy"), np.repeat(np.arange(3), len(cls.images[split]) // 3))
            folder = os.path.join(cls.npy, "gray", split)
            os.makedirs(folder)
            n = 8 if split == "train" else 4
            np.save(os.path.join(folder, "images.npy"), rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
            np.save(os.path.join(folder, "labels.npy"), (np.arange(n) % 2).astype(np.int32))
        with open(os.path.join(cls.npy, "gray", "class_names.txt"), "w") as f:
            f.write("sandal\nsneaker\n")
        folder = os.path.join(cls.npy, "chw", "train")  # channels-first float in [0, 1]
        os.makedirs(folder)
        np.save(os.path.join(folder, "images.npy"), rng.random((6, 3, SIZE, SIZE)).astype(np.float32))
        np.save(os.path.join(folder, "labels.npy"), np.arange(6) % 3)
        # A seeded 3-class resnet18 saved as a plain state_dict: what --weights loads.
        torch.manual_seed(11)
        cls.model = torchvision.models.resnet18(num_classes=3).eval()
        cls.weights = os.path.join(cls.tmp, "resnet18_pets.pth")
        torch.save(cls.model.state_dict(), cls.weights)
        cls.common = ["--image-size", SIZE, "--resize", SIZE, "--batch-size", 4, "--threads", 1, "--progress", "lines"]
        # The main store, made once through the real command line (a subprocess, as users run it).
        cls.store = os.path.join(cls.tmp, "zoo", "resnet18_pets.h5")
        cls.first = subprocess.run(
            [sys.executable, "-m", "taskrel_py.extract", "--store", cls.store, "--model", "resnet18", "--num-classes",
             "3", "--weights", cls.weights, "--head-for", "pets", "--imagefolder", f"pets={cls.tmp}/pets",
             "--npy", cls.npy, "--datasets", "pets,gray", *map(str, cls.common)],
            capture_output=True, text=True, env=ENV, timeout=300)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def setUp(self):
        self.assertEqual(self.first.returncode, 0, self.first.stderr)

    # ------------------------------------------------------------------------------------------ Store

    def test_inspect_accepts_the_store(self):
        code, report = inspect(self.store)
        self.assertEqual(code, 0, report)
        encoder = report["encoders"]["resnet18_pets"]  # the encoder is named after the weights file
        self.assertEqual(sorted(encoder), ["gray", "pets"])
        pets = encoder["pets"]
        self.assertEqual(pets["num_classes"], 3)
        self.assertEqual(pets["class_names"], CLASSES)
        for split, rows in (("train", 12), ("test", 6)):
            s = pets["splits"][split]
            self.assertEqual((s["rows"], s["dim"], s["dtype"], s["label_dtype"]), (rows, 512, "float32", "int64"))
            self.assertEqual(s["class_counts"], [rows // 3] * 3)
        gray = encoder["gray"]
        self.assertEqual(gray["class_names"], ["sandal", "sneaker"])
        self.assertEqual(gray["splits"]["train"]["rows"], 8)
        self.assertEqual(gray["splits"]["train"]["dim"], 512)
        self.assertIn("images/s", self.first.stderr)  # the plain progress/summary lines of a batch log
        self.assertFalse(os.path.exists(self.store + ".partial"), "side files left behind")

    def test_labels_follow_the_files(self):
        _, labels = read_split(self.store, "/resnet18_pets/pets/train")
        np.testing.assert_array_equal(labels, np.repeat(np.arange(3), 4))
        _, labels = read_split(self.store, "/resnet18_pets/gray/test")
        np.testing.assert_array_equal(labels, np.load(os.path.join(self.npy, "gray", "test", "labels.npy")))

    def test_head_is_the_models_fc(self):
        with h5py.File(self.store, "r") as f:
            self.assertNotIn("head", f["/resnet18_pets/gray"])  # a head only for its own label set
            weight, bias = f["/resnet18_pets/pets/head/weight"][...], f["/resnet18_pets/pets/head/bias"][...]
        self.assertEqual(weight.shape, (3, 512))
        self.assertEqual(bias.shape, (3,))
        np.testing.assert_array_equal(weight, self.model.fc.weight.detach().numpy())
        np.testing.assert_array_equal(bias, self.model.fc.bias.detach().numpy())

    def test_embeddings_are_the_input_of_fc(self):
        # The model's logits, computed here from the PNG pixels (the images are already SIZE x SIZE,
        # so preprocessing is only /255 and ImageNet normalisation).
        x = torch.from_numpy(self.images["test"]).permute(0, 3, 1, 2).float() / 255
        x = torchvision.transforms.functional.normalize(x, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
        with torch.no_grad():
            logits = self.model(x).numpy()
        z, _ = read_split(self.store, "/resnet18_pets/pets/test")
        with h5py.File(self.store, "r") as f:
            weight, bias = f["/resnet18_pets/pets/head/weight"][...], f["/resnet18_pets/pets/head/bias"][...]
        np.testing.assert_allclose(z @ weight.T + bias, logits, rtol=1e-4, atol=1e-4)

    def test_matrix_runs_on_the_store_with_its_head(self):
        out = os.path.join(self.tmp, "matrix")
        job = os.path.join(self.tmp, "job.toml")
        with open(job, "w") as f:
            f.write(f'store = "{self.store}"\noutput = "{out}"\n[relate]\nepochs = 5\nhead_epochs = 30\n'
                    f'metrics = "none"\n')
        result = subprocess.run([BINARY, "matrix", job, "-q"], capture_output=True, text=True, env=ENV, timeout=120)
        self.assertEqual(result.returncode, 0, result.stderr)
        with open(os.path.join(out, "relatedness.csv")) as f:
            header, *rows = [line.split(",") for line in f.read().splitlines()]
        cells = {(r[1], r[2]): dict(zip(header, r)) for r in rows}
        self.assertEqual(set(cells), {("pets", "gray"), ("gray", "pets")})
        self.assertEqual(cells["pets", "gray"]["head_from_store"], "true")  # the stored fc is the reference head
        self.assertEqual(cells["gray", "pets"]["head_from_store"], "false")
        self.assertTrue(np.isfinite(float(cells["pets", "gray"]["relatedness"])))

    def test_list_store(self):
        frame = list_store(os.path.dirname(self.store))  # a directory of stores
        self.assertEqual(list(frame.columns[:8]),
                         ["encoder", "dataset", "split", "rows", "dim", "dtype", "num_classes", "has_head"])
        rows = {(r.dataset, r.split): r for r in frame.itertuples()}
        self.assertEqual(set(rows), {("pets", "train"), ("pets", "test"), ("gray", "train"), ("gray", "test")})
        self.assertEqual((rows["pets", "train"].rows, rows["pets", "train"].dim, rows["pets", "train"].dtype),
                         (12, 512, "float32"))
        self.assertTrue(rows["pets", "test"].has_head)
        self.assertFalse(rows["gray", "test"].has_head)
        self.assertEqual(rows["gray", "train"].num_classes, 2)
        bad = os.path.join(self.tmp, "listed", "broken.h5")
        os.makedirs(os.path.dirname(bad))
        with open(bad, "w") as f:
            f.write("not hdf5")
        with self.assertRaisesRegex(Exception, f"{bad}: not an HDF5 file"):
            list_store(os.path.dirname(bad))

    # ------------------------------------------------------------------------------------------ Sources

    def test_png_and_npy_give_the_same_embeddings(self):
        store = os.path.join(self.tmp, "npy_pets.h5")
        extract(store, "resnet18", encoder="e", weights=self.weights, num_classes=3, npy=[self.npy],
                datasets=["pets_npy"], image_size=SIZE, resize=SIZE, batch_size=4, threads=1, progress="none",
                workers=2)  # DataLoader worker processes reading the memory-mapped images.npy
        for split in ("train", "test"):
            from_png, labels_png = read_split(self.store, f"/resnet18_pets/pets/{split}")
            from_npy, labels_npy = read_split(store, f"/e/pets_npy/{split}")
            np.testing.assert_array_equal(labels_png, labels_npy)
            np.testing.assert_allclose(from_npy, from_png, rtol=1e-5, atol=1e-5)

    def test_npy_channels_first_float(self):
        store = os.path.join(self.tmp, "chw.h5")
        summary = extract(store, "resnet18", npy=[self.npy], datasets=["chw"], image_size=SIZE, resize=0,
                          batch_size=4, threads=1, progress="none")
        self.assertEqual([(s["dataset"], s["split"], s["status"], s["rows"], s["dim"]) for s in summary],
                         [("chw", "train", "written", 6, 512)])
        code, report = inspect(store)
        self.assertEqual(code, 0, report)
        self.assertEqual(report["encoders"]["resnet18"]["chw"]["num_classes"], 3)  # max label + 1, no names

    def test_module_callable_equals_the_architecture_name(self):
        store = os.path.join(self.tmp, "callable.h5")
        code, err = run_main("--store", store, "--model", "torchvision.models:resnet18", "--model-kwargs",
                             '{"num_classes": 3}', "--weights", self.weights, "--encoder", "e", "--imagefolder",
                             f"pets={self.tmp}/pets/test:test", *self.common, "--workers", 1, "--progress", "bar")
        self.assertEqual(code, 0, err)
        z, _ = read_split(store, "/e/pets/test")
        np.testing.assert_array_equal(z, read_split(self.store, "/resnet18_pets/pets/test")[0])
        self.assertIn("6/6 [", err)  # the tqdm bar (--progress bar; auto picks it on a terminal)

    def test_inner_layer(self):
        store = os.path.join(self.tmp, "layer4.h5")
        code, err = run_main("--store", store, "--model", "resnet18", "--layer", "layer4", "--imagefolder",
                             f"pets={self.tmp}/pets/test:test", *self.common)
        self.assertEqual(code, 0, err)
        z, _ = read_split(store, "/resnet18/pets/test")
        self.assertEqual(z.shape, (6, 256 * 2 * 2))  # layer4's input at 32 px: 256 channels of 2 x 2
        # The forward stops at the hook after the first batch: later batches must match a full pass.
        torch.manual_seed(0)
        model = torchvision.models.resnet18().eval()
        seen = []
        model.layer4.register_forward_pre_hook(lambda m, inp: seen.append(inp[0].flatten(1)))
        x = torch.from_numpy(self.images["test"]).permute(0, 3, 1, 2).float() / 255
        with torch.no_grad():
            model(torchvision.transforms.functional.normalize(x, [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]))
        np.testing.assert_allclose(z, seen[0].numpy(), rtol=1e-4, atol=1e-5)

    # ------------------------------------------------------------------------------------------ Resume

    def test_second_run_skips(self):
        before = {p: read_split(self.store, p)[0] for p in ("/resnet18_pets/pets/train", "/resnet18_pets/gray/test")}
        code, err = run_main("--store", self.store, "--model", "resnet18", "--num-classes", 3, "--weights",
                             self.weights, "--head-for", "pets", "--imagefolder", f"pets={self.tmp}/pets",
                             "--npy", self.npy, "--datasets", "pets,gray", *self.common)
        self.assertEqual(code, 0, err)
        self.assertEqual(err.count("complete in the store, skipped"), 4, err)
        self.assertIn("0 split(s) written, 4 already complete", err)
        for path, z in before.items():
            np.testing.assert_array_equal(read_split(self.store, path)[0], z)

    def test_changed_settings_are_refused_and_overwrite_redoes(self):
        store = os.path.join(self.tmp, "settings.h5")
        args = ["--store", store, "--model", "resnet18", "--imagefolder", f"pets={self.tmp}/pets/test:test", *self.common]
        self.assertEqual(run_main(*args)[0], 0)
        z = read_split(store, "/resnet18/pets/test")[0]
        code, err = run_main(*args, "--image-size", 24)  # the last --image-size wins
        self.assertEqual(code, 2)
        self.assertIn("/resnet18/pets/test was extracted with other settings", err)
        self.assertIn("image_size", err)
        code, err = run_main(*args, "--image-size", 24, "--overwrite")
        self.assertEqual(code, 0, err)
        self.assertFalse(np.array_equal(read_split(store, "/resnet18/pets/test")[0], z))

    def test_stale_side_file_is_removed_and_split_done(self):
        store = os.path.join(self.tmp, "stale.h5")
        side = partial_path(store, "resnet18", "pets", "test")
        os.makedirs(os.path.dirname(side))
        with open(side, "wb") as f:
            f.write(b"half a split from a killed run")
        code, err = run_main("--store", store, "--model", "resnet18", "--imagefolder", f"pets={self.tmp}/pets/test:test",
                             *self.common)
        self.assertEqual(code, 0, err)
        self.assertIn(f"removed {side}", err)
        self.assertEqual(read_split(store, "/resnet18/pets/test")[0].shape, (6, 512))
        self.assertFalse(os.path.exists(store + ".partial"))

    def slow_run(self, store, extra=()):
        model_file = os.path.join(self.tmp, "slow_model.py")
        if not os.path.exists(model_file):
            with open(model_file, "w") as f:
                f.write(SLOW_MODEL)
        return [sys.executable, "-m", "taskrel_py.extract", "--store", store, "--model", f"{model_file}:make",
                "--encoder", "slow", "--npy", self.npy, "--datasets", "gray", "--batch-size", "1",
                "--image-size", str(SIZE), "--threads", "1", "--progress", "lines", *extra]

    def wait_for_split(self, process, store, split, started_after=()):
        """Waits until the side file of gray/<split> exists (the split is being written)."""
        side = partial_path(store, "slow", "gray", split)
        deadline = time.time() + 60
        while not os.path.exists(side):
            self.assertIsNone(process.poll(), "the run ended before the split started")
            self.assertLess(time.time(), deadline, "no side file after 60 s")
            time.sleep(0.05)
        time.sleep(0.5)  # a batch or two into it
        return side

    def test_killed_split_is_redone(self):
        store = os.path.join(self.tmp, "killed.h5")
        process = subprocess.Popen(self.slow_run(store), env=ENV, stderr=subprocess.PIPE, text=True)
        # gray has splits test (4 images) and train (8): kill while train is written, test committed.
        side = self.wait_for_split(process, store, "train")
        process.send_signal(signal.SIGKILL)
        process.communicate(timeout=60)
        self.assertTrue(os.path.exists(side))
        code, report = inspect(store)
        self.assertEqual(code, 0, report)  # the store is valid, and the killed split is not in it
        self.assertEqual(list(report["encoders"]["slow"]["gray"]["splits"]), ["test"])
        rerun = subprocess.run(self.slow_run(store), env=ENV, capture_output=True, text=True, timeout=120)
        self.assertEqual(rerun.returncode, 0, rerun.stderr)
        self.assertIn("removed", rerun.stderr)
        self.assertIn("slow/gray/test: complete in the store, skipped", rerun.stderr)
        self.assertFalse(os.path.exists(store + ".partial"))
        # Equal to an uninterrupted run of the same seeded model, in the same process as the rerun's model.
        clean = os.path.join(self.tmp, "clean.h5")
        rerun = subprocess.run(self.slow_run(clean), env=ENV, capture_output=True, text=True, timeout=120)
        self.assertEqual(rerun.returncode, 0, rerun.stderr)
        for split in ("train", "test"):
            a, b = read_split(store, f"/slow/gray/{split}"), read_split(clean, f"/slow/gray/{split}")
            np.testing.assert_array_equal(a[0], b[0])
            np.testing.assert_array_equal(a[1], b[1])

    def test_sigterm_exits_3_keeping_completed_splits(self):
        store = os.path.join(self.tmp, "term.h5")
        process = subprocess.Popen(self.slow_run(store), env=ENV, stderr=subprocess.PIPE, text=True)
        self.wait_for_split(process, store, "train")
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
        self.assertEqual(process.returncode, 3, err)
        self.assertIn("got SIGTERM", err)
        self.assertFalse(os.path.exists(store + ".partial"), "the interrupted split's side file was not removed")
        code, report = inspect(store)
        self.assertEqual(code, 0, report)
        self.assertEqual(list(report["encoders"]["slow"]["gray"]["splits"]), ["test"])

    # ------------------------------------------------------------------------------------------ Dtypes

    def test_float16_and_float32(self):
        stores = {}
        for dtype in ("float16", "float32"):
            stores[dtype] = os.path.join(self.tmp, f"{dtype}.h5")
            code, err = run_main("--store", stores[dtype], "--model", "resnet18", "--dtype", dtype, "--imagefolder",
                                 f"pets={self.tmp}/pets/test:test", *self.common)
            self.assertEqual(code, 0, err)
            code, report = inspect(stores[dtype])
            self.assertEqual(code, 0, report)
            self.assertEqual(report["encoders"]["resnet18"]["pets"]["splits"]["test"]["dtype"], dtype)
        z16, z32 = read_split(stores["float16"], "/resnet18/pets/test")[0], read_split(stores["float32"],
                                                                                       "/resnet18/pets/test")[0]
        self.assertEqual((z16.dtype, z32.dtype), (np.float16, np.float32))
        np.testing.assert_array_equal(z16, z32.astype(np.float16))  # float32 rounded, nothing else differs

    def test_float16_overflow_is_refused(self):
        # Embeddings beyond float16's range would be stored as Inf, which taskrel rejects at read time.
        model_file = os.path.join(self.tmp, "loud.py")
        with open(model_file, "w") as f:
            f.write("import torch\n\nclass Loud(torch.nn.Module):\n    def forward(self, x):\n"
                    "        return x * 1e6\n\ndef make():\n    return torch.nn.Sequential(torch.nn.Flatten(), Loud(), "
                    "torch.nn.Linear(3 * 32 * 32, 3))\n")
        store = os.path.join(self.tmp, "loud.h5")
        args = ["--store", store, "--model", f"{model_file}:make", "--imagefolder", f"pets={self.tmp}/pets/test:test",
                *self.common]
        code, err = run_main(*args, "--dtype", "float16")
        self.assertEqual(code, 2, err)
        self.assertIn("embedding of row 0 is not finite (finite in float32 but beyond float16's 65504", err)
        self.assertFalse(os.path.exists(store))
        self.assertEqual(run_main(*args, "--dtype", "float32")[0], 0)
        self.assertGreater(np.abs(read_split(store, "/make/pets/test")[0]).max(), 65504)

    # ------------------------------------------------------------------------------------------ Errors

    def assert_refused(self, store, *argv, expect):
        code, err = run_main("--store", store, *argv)
        self.assertEqual(code, 2, err)
        for text in expect:
            self.assertIn(text, err)
        self.assertFalse(os.path.exists(store) and store.endswith("never.h5"), "a refused run wrote a store")
        return err

    def test_errors(self):
        never = os.path.join(self.tmp, "never.h5")
        pets = f"pets={self.tmp}/pets"
        self.assert_refused(never, "--model", "resnet19", "--imagefolder", pets,
                            expect=["--model 'resnet19': unknown torchvision architecture", "resnet18"])
        missing = os.path.join(self.tmp, "nope.pth")
        self.assert_refused(never, "--model", "resnet18", "--weights", missing, "--imagefolder", pets,
                            expect=[f"{missing}: weights file for model resnet18 does not exist"])
        err = self.assert_refused(never, "--model", "resnet18", "--weights", self.weights, "--imagefolder", pets,
                                  expect=[f"{self.weights}: weights do not fit model resnet18",
                                          "fc.weight is (3, 512) in the file but (1000, 512) in the model",
                                          "--num-classes"])
        self.assertNotIn("missing key", err)
        self.assert_refused(never, "--model", "resnet34", "--weights", self.weights, "--imagefolder", pets,
                            expect=["weights do not fit model resnet34", "missing key(s): layer1.2."])
        self.assert_refused(never, "--model", "resnet18", "--layer", "layer5", "--imagefolder", pets,
                            expect=["--layer 'layer5': no such module in model resnet18", "close names: ",
                                    "layer4", "layer1"])
        self.assert_refused(never, "--model", "resnet18", "--imagefolder", f"pets={self.tmp}/pets:test",
                            expect=[f"{self.tmp}/pets holds split folders (test, train), not class folders"])
        empty = os.path.join(self.tmp, "empty")
        for c in CLASSES:
            os.makedirs(os.path.join(empty, c), exist_ok=True)
        self.assert_refused(never, "--model", "resnet18", "--imagefolder", f"e={empty}",
                            expect=[f"{empty}: split e/train is empty"])
        bad = os.path.join(self.tmp, "badnpy")
        os.makedirs(os.path.join(bad, "d", "train"), exist_ok=True)
        np.save(os.path.join(bad, "d", "train", "images.npy"), np.zeros((5, 8, 8), np.uint8))
        np.save(os.path.join(bad, "d", "train", "labels.npy"), np.zeros(4, np.int64))
        self.assert_refused(never, "--model", "resnet18", "--npy", bad,
                            expect=[os.path.join(bad, "d", "train", "labels.npy"), "4 labels for 5 images"])
        text = os.path.join(self.tmp, "not_hdf5.h5")
        with open(text, "w") as f:
            f.write("encoder,dataset\n")
        self.assert_refused(text, "--model", "resnet18", "--imagefolder", pets,
                            expect=[f"{text}: not an HDF5 file"])
        with open(text) as f:
            self.assertEqual(f.read(), "encoder,dataset\n")  # untouched
        self.assert_refused(never, "--model", "resnet18", "--head-for", "pets", "--imagefolder", pets, *self.common,
                            expect=["--head-for pets: the classifier fc has 1000 outputs but dataset pets has 3"])
        self.assert_refused(never, "--model", "resnet18", "--layer", "layer4", "--head-for", "pets", "--imagefolder",
                            pets, *self.common, expect=["--head-for pets", "is a Sequential", "not the model's"])
        self.assertFalse(os.path.exists(never))
        self.assertFalse(os.path.exists(never + ".partial"))

    def test_error_exit_code_of_the_process(self):
        result = subprocess.run([sys.executable, "-m", "taskrel_py.extract", "--store", os.path.join(self.tmp, "x.h5"),
                                 "--model", "resnet18", "--npy", os.path.join(self.tmp, "no_such_dir")],
                                capture_output=True, text=True, env=ENV, timeout=120)
        self.assertEqual(result.returncode, 2, result.stderr)
        self.assertIn("no_such_dir: npy directory does not exist", result.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
