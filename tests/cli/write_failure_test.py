"""No half-written store (issue 14): `taskrel import` that fails part-way --
past the file-size limit, on a full file system, or on a write error --
leaves the store as it was.

  - ulimit -f below what the new split needs, and a store on a small tmpfs
    (when this machine lets the test mount one): refused before the store is
    opened, so the file is byte for byte the same, exit 1, the message names
    the store, the split and the limit.
  - A write error (EIO) after N bytes, injected by the LD_PRELOAD library
    TASKREL_FAIL_WRITES_LIB into the real binary (tests/tools/fail_writes.c)
    at several points of the write: the store reopens with the same content
    (every group, dataset, value and attribute; no partial split), exit 1
    naming the store and the split, and a later import succeeds.
  - import --manifest past the limit on its second entry: the first entry is
    whole, the second absent, and --skip-existing finishes the job.
"""
import hashlib
import os
import shutil
import subprocess
import tempfile
import unittest

import h5py
import numpy as np

BINARY = os.environ["TASKREL_BINARY"]
FAIL_WRITES = os.environ["TASKREL_FAIL_WRITES_LIB"]


def digest(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def content(path):
    """Everything a reader sees: every object's path, kind, attributes and values."""
    out = {}

    def visit(name, obj):
        attrs = {k: np.asarray(v).tolist() for k, v in obj.attrs.items()}
        if isinstance(obj, h5py.Dataset):
            out[name] = ("dataset", str(obj.dtype), obj.shape, obj[...].tobytes(), attrs)
        else:
            out[name] = ("group", attrs)

    with h5py.File(path, "r") as f:
        out["/"] = ("group", {k: np.asarray(v).tolist() for k, v in f.attrs.items()})
        f.visititems(visit)
    return out


class WriteFailures(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="taskrel_writes_")
        self.store = os.path.join(self.tmp, "store.h5")
        rng = np.random.default_rng(11)
        self.small = self.arrays("small", rng, 40, 8)
        self.big = self.arrays("big", rng, 65536, 8)  # 2 MiB of float32, 512 KiB of labels
        self.ok(self.run_import("train", self.small))
        self.ok(self.run_import("test", self.small))

    def tearDown(self):
        subprocess.run(["umount", os.path.join(self.tmp, "tmpfs")], capture_output=True)
        shutil.rmtree(self.tmp, ignore_errors=True)

    def arrays(self, name, rng, rows, dim):
        x, y = os.path.join(self.tmp, f"{name}_x.npy"), os.path.join(self.tmp, f"{name}_y.npy")
        np.save(x, rng.normal(size=(rows, dim)).astype(np.float32))
        np.save(y, np.arange(rows) % 4)
        return x, y

    def run_import(self, split, arrays, store=None, limit_kib=None, env=None, dataset="ds"):
        command = [BINARY, "import", "--out", store or self.store, "--encoder", "enc", "--dataset", dataset,
                   "--split", split, "--embeddings", arrays[0], "--labels", arrays[1]]
        if limit_kib is not None:
            command = ["bash", "-c", f'ulimit -f {limit_kib} && exec "$@"', "bash", *command]
        return subprocess.run(command, capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})

    def ok(self, result):
        self.assertEqual(result.returncode, 0, result.stderr)
        return result

    def failed(self, result, *pieces):
        self.assertEqual(result.returncode, 1, f"exit {result.returncode}:\n{result.stderr}")
        self.assertIn("taskrel: failure:", result.stderr)
        for piece in pieces:
            self.assertIn(piece, result.stderr)

    def test_file_size_limit_refused_before_the_store_is_touched(self):
        before = digest(self.store)
        limit = os.path.getsize(self.store) // 1024 + 256  # 256 KiB more: the split needs 2 MiB
        result = self.run_import("big", self.big, limit_kib=limit)
        self.failed(result, self.store, "/enc/ds/big", "file-size limit")
        self.assertEqual(digest(self.store), before)
        self.ok(self.run_import("big", self.big))  # and with room it goes in

    def test_full_file_system_refused_before_the_store_is_touched(self):
        mount = os.path.join(self.tmp, "tmpfs")
        os.makedirs(mount)
        mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mount], capture_output=True)
        if mounted.returncode != 0:
            self.skipTest(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
        store = os.path.join(mount, "store.h5")
        self.ok(self.run_import("train", self.small, store=store))
        before = digest(store)
        result = self.run_import("big", self.big, store=store)
        self.failed(result, store, "/enc/ds/big", "free")
        self.assertEqual(digest(store), before)

    def test_write_error_part_way_leaves_the_content(self):
        before = content(self.store)
        real = os.path.realpath(self.store)
        for after in (0, 4096, 1 << 20, 2 << 20):
            with self.subTest(fail_after_bytes=after):
                result = self.run_import("big", self.big, env={
                    "LD_PRELOAD": FAIL_WRITES, "TASKREL_FAIL_WRITES_PATH": real,
                    "TASKREL_FAIL_WRITES_AFTER": str(after)})
                self.failed(result, self.store, "/enc/ds/big")
                self.assertEqual(content(self.store), before)
                self.ok(subprocess.run([BINARY, "inspect", self.store], capture_output=True, text=True))
        self.ok(self.run_import("big", self.big))
        with h5py.File(self.store, "r") as f:
            self.assertEqual(f["enc/ds/big/embeddings"].shape, (65536, 8))
            self.assertEqual(sorted(f["enc/ds"]), ["big", "test", "train"])

    def test_manifest_past_the_limit_keeps_whole_entries(self):
        manifest = os.path.join(self.tmp, "manifest.csv")
        with open(manifest, "w") as f:
            f.write("encoder,dataset,split,embeddings,labels\n")
            f.write(f"enc,other,train,{self.small[0]},{self.small[1]}\n")
            f.write(f"enc,other,test,{self.big[0]},{self.big[1]}\n")
        limit = os.path.getsize(self.store) // 1024 + 512
        command = ["bash", "-c", f'ulimit -f {limit} && exec "$@"', "bash", BINARY, "import", "--manifest", manifest,
                   "--out", self.store]
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        self.failed(result, self.store, "/enc/other/test", "file-size limit")
        with h5py.File(self.store, "r") as f:
            self.assertEqual(sorted(f["enc/other"]), ["train"])
            self.assertEqual(f["enc/other/train/embeddings"].shape, (40, 8))
        self.ok(subprocess.run([BINARY, "import", "--manifest", manifest, "--out", self.store, "--skip-existing"],
                               capture_output=True, text=True, timeout=120))
        with h5py.File(self.store, "r") as f:
            self.assertEqual(sorted(f["enc/other"]), ["test", "train"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
