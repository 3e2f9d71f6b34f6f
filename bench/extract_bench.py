"""Throughput of `taskrel_py.extract` (images per second), end to end and forward pass alone.

    /usr/bin/python3 bench/extract_bench.py [--model resnet18] [--sizes 224 32] [--images 128 2048]
        [--batch-size 64] [--threads N] [--workers 0 1] [--dtype float32] [--repeats 3]

For each input size it writes a synthetic dataset to a temporary folder (random images: the content
does not change the cost), then measures
  - end to end: extract() from the files to an HDF5 store (decode, preprocessing, forward, writing):
    at 224 from an ImageFolder of 256 x 256 JPEGs (resize 256, crop 224: ImageNet's evaluation recipe),
    at small sizes from an npy directory of uint8 images at that size (no resize, as for CIFAR-like
    or exported Fashion-MNIST tasks);
  - forward only: the model on one preprocessed batch, repeated (the ceiling the loader must feed).
The forward-only measurement runs first and warms the process up (one-time kernel selection is not
throughput); the end-to-end figure is the split loop's own time (model build and probe excluded).
Each configuration runs --repeats times and the median and best are printed: on a shared machine the
best is the closest to what the hardware does, the median to what one gets.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "analysis"))
from taskrel_py.extract import extract  # noqa: E402


def make_imagefolder(root, n, side, rng):
    from PIL import Image
    for i in range(n):
        folder = os.path.join(root, "train", f"c{i % 4}")
        os.makedirs(folder, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(
            os.path.join(folder, f"{i}.jpg"), quality=90)


def make_npy(root, n, side, rng):
    folder = os.path.join(root, "bench", "train")
    os.makedirs(folder)
    np.save(os.path.join(folder, "images.npy"), rng.integers(0, 256, (n, side, side, 3), dtype=np.uint8))
    np.save(os.path.join(folder, "labels.npy"), np.arange(n) % 4)


def forward_only(model_name, size, batch_size, threads, repeats):
    """images/s of each of `repeats` timed batches (after one untimed)."""
    import torch
    from torchvision import models
    torch.set_num_threads(threads)
    model = models.get_model(model_name, weights=None).eval()
    x = torch.randn(batch_size, 3, size, size)
    rates = []
    with torch.inference_mode():
        model(x)
        for _ in range(repeats):
            start = time.perf_counter()
            model(x)
            rates.append(batch_size / (time.perf_counter() - start))
    return rates


def spread(rates):
    return f"median {np.median(rates):.1f}, best {max(rates):.1f} (of {len(rates)})"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="resnet18")
    p.add_argument("--sizes", type=int, nargs="+", default=[224, 32])
    p.add_argument("--images", type=int, nargs="+", default=[128, 2048], help="one per size")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--workers", type=int, nargs="+", default=[0, 1])
    p.add_argument("--dtype", default="float32")
    p.add_argument("--repeats", type=int, default=3, help="extractions per configuration (median and best shown)")
    a = p.parse_args()
    if len(a.images) != len(a.sizes):
        p.error("--images needs one count per --sizes entry")
    if len(a.sizes) > 1:
        # One process per size: a process that ran the 224 model measured the 32 px one 2-4x slower
        # (allocator and oneDNN caches), and real extractions run one model size per process.
        rows = []
        for size, n in zip(a.sizes, a.images):
            argv = [sys.executable, os.path.abspath(__file__), "--sizes", str(size), "--images", str(n), "--model",
                    a.model, "--batch-size", str(a.batch_size), "--threads", str(a.threads), "--dtype", a.dtype,
                    "--repeats", str(a.repeats), "--workers", *map(str, a.workers)]
            out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
            print("\n".join(line for line in out.splitlines() if line.startswith("size ")), flush=True)
            rows += [line for line in out.splitlines() if line.startswith("| ") and "---" not in line
                     and not line.startswith("| input")]
        print_table(a, rows)
        return
    rng = np.random.default_rng(0)
    tmp = tempfile.mkdtemp(prefix="taskrel_extract_bench_")
    rows = []
    try:
        for size, n in zip(a.sizes, a.images):
            data = os.path.join(tmp, f"data{size}")
            if size >= 128:
                make_imagefolder(data, n, 256, rng)
                source, kwargs = "ImageFolder JPEG 256x256", {"imagefolder": [f"bench={data}"], "resize": 256}
            else:
                make_npy(data, n, size, rng)
                source, kwargs = f"npy uint8 {size}x{size}", {"npy": [data], "resize": 0}
            # First, so that the process's one-time start (oneDNN kernel selection) is not in the extraction.
            fwd = forward_only(a.model, size, a.batch_size, a.threads, 3 * a.repeats)
            print(f"size {size}: forward pass alone, batch {a.batch_size}, {a.threads} threads: {spread(fwd)} "
                  f"images/s", flush=True)
            rows.append((size, "forward pass alone (random tensors)", f"{3 * a.repeats} x {a.batch_size}", "-", fwd))
            for workers in a.workers:
                common = dict(image_size=size, batch_size=a.batch_size, workers=workers, threads=a.threads,
                              dtype=a.dtype, progress="none", **kwargs)
                rates = []
                for repeat in range(a.repeats):
                    summary = extract(os.path.join(tmp, f"s{size}_{workers}_{repeat}.h5"), a.model, **common)
                    rates.append(summary[0]["images_per_second"])
                print(f"size {size} ({source}), {n} images, batch {a.batch_size}, {a.threads} threads, {workers} "
                      f"workers: {spread(rates)} images/s", flush=True)
                rows.append((size, source, n, workers, rates))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(a, [f"| {size} x {size} | {source} | {n} | {workers} | {np.median(rates):.1f} / {max(rates):.1f} |"
                    for size, source, n, workers, rates in rows])


def print_table(a, rows):
    print(f"\n{a.model}, batch {a.batch_size}, {a.threads} threads, {a.dtype}; images/s as median / best of the runs")
    print("| input | source | images | workers | images/s |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
