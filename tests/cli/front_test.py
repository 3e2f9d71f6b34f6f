"""The front `taskrel` starts at once (issue 16): it links no LibTorch and no
CUDA library (cuBLAS alone is 540 MB to map), and in a CUDA build it hands an
`ot` that may run on a GPU to taskrel-torch, which has the CUDA backend.

TASKREL_BINARY is the front; taskrel-torch lies beside it. TASKREL_CUDA says
whether the build has the CUDA backend (ON/OFF).
"""
import json
import os
import re
import subprocess
import tempfile
import unittest

import numpy as np

BINARY = os.environ["TASKREL_BINARY"]
TORCH = os.path.join(os.path.dirname(BINARY), "taskrel-torch")
CUDA_BUILD = os.environ.get("TASKREL_CUDA", "OFF").upper() in ("ON", "1", "TRUE")
HEAVY = re.compile(r"lib(torch|c10|cudart|cublas|cublasLt|nccl|cuda)[^ ]*\.so")


def needed_libraries(path):
    out = subprocess.run(["ldd", path], capture_output=True, text=True, check=True).stdout
    return [line.split()[0] for line in out.splitlines() if line.strip()]


class Front(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="taskrel_front_")
        rng = np.random.default_rng(3)
        self.x = os.path.join(self.tmp.name, "x.npy")
        self.y = os.path.join(self.tmp.name, "y.npy")
        np.save(self.x, rng.normal(size=(30, 4)))
        np.save(self.y, rng.normal(size=(20, 4)))

    def tearDown(self):
        self.tmp.cleanup()

    def ot(self, *flags, env=None):
        return subprocess.run([BINARY, "ot", "--source", self.x, "--target", self.y, "--json", *flags],
                              capture_output=True, text=True, timeout=120, env={**os.environ, **(env or {})})

    def test_front_links_no_libtorch_and_no_cuda(self):
        heavy = [lib for lib in needed_libraries(BINARY) if HEAVY.search(lib)]
        self.assertEqual(heavy, [], f"the front loads {heavy}")

    def test_the_torch_binary_has_what_the_front_lacks(self):
        # Without this the check above could pass for a broken ldd.
        torch_libs = " ".join(needed_libraries(TORCH))
        self.assertIn("libtorch", torch_libs)
        if CUDA_BUILD:
            self.assertRegex(torch_libs, r"libcublas")

    def test_ot_on_the_cpu_runs_in_the_front(self):
        run = self.ot("--device", "cpu")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(json.loads(run.stdout)["device"], "cpu")

    def test_default_device_with_every_gpu_hidden_is_the_cpu(self):
        run = self.ot(env={"CUDA_VISIBLE_DEVICES": ""})
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertEqual(json.loads(run.stdout)["device"], "cpu")

    def test_ot_on_cuda_goes_where_the_cuda_backend_is(self):
        for flags in (["--device", "cuda"], ["--device=cuda"]):
            run = self.ot(*flags)
            if not CUDA_BUILD:
                self.assertEqual(run.returncode, 2, run.stderr)
                self.assertIn("built without the CUDA backend", run.stderr)
            elif run.returncode == 0:  # a GPU is here
                self.assertEqual(json.loads(run.stdout)["device"], "cuda")
            else:
                # taskrel-torch ran it, found no GPU and said so; the front
                # would have said it has no CUDA backend.
                self.assertNotIn("built without the CUDA backend", run.stderr)
                self.assertIn("no usable CUDA device", run.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
