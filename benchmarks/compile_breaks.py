"""Graph breaks of the compiled losses and metrics, as ``torch._dynamo.explain`` counts them.

For each callable: the number of graphs and graph breaks on one small synthetic pair
(``x`` requires grad), and where each distinct break happens. ``explain`` counts a break
once per frame that encloses it (a module calling a function that breaks counts it at
every level). ``tests/test_compile.py::test_graph_breaks`` asserts the counts.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/compile_breaks.py
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from msglance.glance import GlobalGlanceLoss, LocalGlanceLoss, MSGlanceLoss, glance_index
from msglance.metrics import SSIM, MSSSIMLoss, SSIMLoss, ms_ssim, ssim

# name: (factory of a fresh callable, side of the square (2, 1, side, side) input)
CASES: dict[str, tuple[Callable[[], Callable], int]] = {
    "SSIMLoss()": (lambda: SSIMLoss(data_range=1.0), 48),
    "SSIM()": (lambda: SSIM(), 48),
    "ssim": (lambda: ssim, 48),
    "ms_ssim": (lambda: ms_ssim, 176),  # 176 > (11 - 1) * 2**4, the five-scale minimum
    "MSSSIMLoss()": (lambda: MSSSIMLoss(), 176),
    "glance_index": (lambda: (lambda a, b: glance_index(a, b, window=7)), 48),
    "LocalGlanceLoss": (lambda: LocalGlanceLoss(window=7), 48),
    "GlobalGlanceLoss(seed=0)": (
        lambda: GlobalGlanceLoss(grid=(16, 16), window=7, repeats=2, seed=0), 48),
    "MSGlanceLoss(seed=0)": (
        lambda: MSGlanceLoss(grid=(16, 16), window=16, repeats=2, seed=0, pixel="l1"), 48),
}


def count_breaks(fn: Callable, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int, list[str]]:
    """(graphs, graph breaks, break sites) of ``fn(x, y)`` as ``torch._dynamo.explain`` counts them."""
    explained = torch._dynamo.explain(fn)(x, y)
    sites = []
    for reason in explained.break_reasons:
        frame = reason.user_stack[-1] if reason.user_stack else None
        where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}" if frame else "?"
        sites.append(f"{where} {reason.reason.splitlines()[0][:80]}")
    return explained.graph_count, explained.graph_break_count, sites


def main() -> None:
    print(f"torch {torch.__version__}")
    print("| callable | input | graphs | breaks | break sites |")
    print("|---|---|---|---|---|")
    for name, (make, side) in CASES.items():
        torch._dynamo.reset()
        g = torch.Generator().manual_seed(0)
        y = torch.rand(2, 1, side, side, generator=g)
        x = (y + 0.1 * torch.randn(2, 1, side, side, generator=g)).clamp(0, 1)
        graphs, breaks, sites = count_breaks(make(), x.requires_grad_(True), y)
        print(f"| {name} | 2x1x{side}x{side} | {graphs} | {breaks} | {'; '.join(sites) or '-'} |")


if __name__ == "__main__":
    main()
