#!/usr/bin/env python3
"""PyTorch peer of bench/gpu_sinkhorn_bench.cpp: log-domain Sinkhorn with a
stored float32 cost (torch.cdist), one logsumexp per half-step, eager and under
torch.compile, on the points that gpu_sinkhorn_bench wrote
(points_<n>.f32: n x d then m x d float32). Prints ms per iteration (median
of CUDA-event timings) and the transport cost after the timed iterations.

usage: gpu_sinkhorn_torch.py POINTS_DIR [--sizes 20000,50000] [--dim 512] [--iterations 20]
"""
import argparse
import os
import time

import numpy as np
import torch


def sinkhorn_step(f, g, C, log_a, log_b, eps):
    f = eps * log_a - eps * torch.logsumexp((g[None, :] - C) / eps, dim=1)
    g = eps * log_b - eps * torch.logsumexp((f[:, None] - C) / eps, dim=0)
    return f, g


def time_steps(step, f, g, C, log_a, log_b, eps, iterations):
    for _ in range(3):  # warm-up (and compilation)
        f, g = step(f, g, C, log_a, log_b, eps)
    torch.cuda.synchronize()
    times = []
    for _ in range(iterations):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        f, g = step(f, g, C, log_a, log_b, eps)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return float(np.median(times)), f, g


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("points_dir")
    parser.add_argument("--sizes", default="20000,50000")
    parser.add_argument("--dim", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    device = torch.device("cuda")
    print(f"torch {torch.__version__} on {torch.cuda.get_device_name(0)}")
    print(f"{'n=m':<8} {'mode':<9} {'ms/iter':>10} {'GB/s(2rd)':>10} {'transport_cost':>16} {'compile_s':>10}")
    compiled_step = torch.compile(sinkhorn_step)
    for n in [int(s) for s in args.sizes.split(",")]:
        path = os.path.join(args.points_dir, f"points_{n}.f32")
        if os.path.exists(path):
            raw = np.fromfile(path, dtype=np.float32)
            points = torch.from_numpy(raw).to(device).reshape(2 * n, args.dim)
        else:  # the C++ bench did not run: a problem of the same shape
            print(f"{path} missing: random points instead")
            generator = torch.Generator(device=device).manual_seed(n)
            points = torch.randn(2 * n, args.dim, device=device, generator=generator)
            points[n:] += 0.4
        x, y = points[:n], points[n:]
        C = torch.cdist(x, y)  # euclidean, float32, stored
        eps = 0.05 * C.mean()
        log_a = torch.full((n,), -np.log(n), device=device)
        log_b = torch.full((n,), -np.log(n), device=device)
        for mode, step in (("eager", sinkhorn_step), ("compiled", compiled_step)):
            f = torch.zeros(n, device=device)
            g = torch.zeros(n, device=device)
            started = time.time()
            if mode == "compiled":
                step(f, g, C, log_a, log_b, eps)
                torch.cuda.synchronize()
            compile_s = time.time() - started
            ms, f, g = time_steps(step, f, g, C, log_a, log_b, eps, args.iterations)
            with torch.no_grad():
                plan = torch.exp((f[:, None] + g[None, :] - C) / eps)
                cost = float((plan * C).sum())
                del plan
            print(f"{n:<8} {mode:<9} {ms:>10.3f} {2 * 4 * n * n / (ms * 1e-3) / 1e9:>10.0f} {cost:>16.8g} "
                  f"{compile_s:>10.1f}", flush=True)
        del C, points
        torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
