"""``torch.compile`` of ``MSGlanceLoss()`` or ``SSIMLoss()`` against eager: forward + backward
time per step.

Inputs are *synthetic* (seeded uniform targets, predictions = target + Gaussian noise).
For each size the compiled module is built and run once (the compile time, printed), then
eager and compiled steps (loss, ``backward``) alternate for ``--steps`` rounds; printed are
the median step times, their ratio (eager / compiled: > 1 means the compiled loss is
faster) and the largest value and gradient difference between the two (same seed, so the
same Global Glance draws).

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_compile.py
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_compile.py --device cuda
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_compile.py --loss ssim
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from msglance.glance import MSGlanceLoss
from msglance.metrics import SSIMLoss

SIZES = {"small": (2, 1, 64, 64, (32, 32)), "medium": (4, 1, 192, 192, (96, 96))}


def make_loss(kind: str, grid: tuple[int, int]) -> torch.nn.Module:
    """The benchmarked loss: MS-Glance (seeded, L1 pixel term) or SSIM (data range 1)."""
    if kind == "ssim":
        return SSIMLoss(data_range=1.0)
    return MSGlanceLoss(grid=grid, pixel="l1", seed=0)


def step(loss: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, torch.Tensor, torch.Tensor]:
    """One forward + backward; returns (seconds, loss value, gradient)."""
    xg = x.clone().requires_grad_(True)
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    value = loss(xg, y)
    value.backward()
    if x.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - t0, value.detach(), xg.grad


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--loss", choices=("msglance", "ssim"), default="msglance")
    args = parser.parse_args()
    dev = torch.device(args.device)
    print(f"torch {torch.__version__}, device {dev}, threads {torch.get_num_threads()}, loss {args.loss}")
    print("| size | shape | grid | compile (s) | eager (ms) | compiled (ms) | eager/compiled | max |dloss| | max |dgrad| |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, (b, c, h, w, grid) in SIZES.items():
        torch._dynamo.reset()
        g = torch.Generator().manual_seed(0)
        y = torch.rand(b, c, h, w, generator=g)
        x = (y + 0.05 * torch.randn(b, c, h, w, generator=g)).clamp(0, 1)
        x, y = x.to(dev), y.to(dev)
        eager = make_loss(args.loss, grid)
        compiled = torch.compile(make_loss(args.loss, grid))
        t_compile, vc, gc = step(compiled, x, y)
        _, ve, ge = step(eager, x, y)
        dv, dg = (vc - ve).abs().item(), (gc - ge).abs().max().item()
        te, tc = [], []
        for _ in range(args.steps):
            te.append(step(eager, x, y)[0])
            tc.append(step(compiled, x, y)[0])
        me, mc = statistics.median(te), statistics.median(tc)
        print(f"| {name} | {b}x{c}x{h}x{w} | {grid[0]}x{grid[1]} | {t_compile:.1f} | "
              f"{me * 1e3:.1f} | {mc * 1e3:.1f} | {me / mc:.2f} | {dv:.1e} | {dg:.1e} |")


if __name__ == "__main__":
    main()
