"""Time Global Glance position sampling: uniform vs ``position_weights``, in the same run.

    OMP_NUM_THREADS=1 python benchmarks/bench_weighted_sampling.py --sizes 128 512 --batch 1 4

Prints the median time of ``sample_positions`` (grid 96 x 96) without and with a weight map
and their ratio, on the CPU (or ``--device cuda``).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from msglance.glance import sample_positions


def _median_seconds(fn, repeats: int, sync) -> float:
    fn()
    times = []
    for _ in range(repeats):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--grid", type=int, default=96)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    dev = torch.device(args.device)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    print("| image | batch | uniform (ms) | weighted (ms) | ratio |")
    print("|---|---|---|---|---|")
    for size in args.sizes:
        for b in args.batch:
            y = torch.rand(b, 3, size, size, device=dev)
            w = torch.rand(size, size, device=dev)
            g = torch.Generator(device=dev).manual_seed(0)
            count = min(args.grid, size) ** 2
            plain = _median_seconds(lambda: sample_positions(y, count, generator=g),
                                    args.repeats, sync)
            weighted = _median_seconds(
                lambda: sample_positions(y, count, generator=g, position_weights=w),
                args.repeats, sync)
            print(f"| {size}x{size} | {b} | {1e3 * plain:.2f} | {1e3 * weighted:.2f} | "
                  f"{weighted / plain:.2f} |")


if __name__ == "__main__":
    main()
