"""The README's main job: SIREN on the embedded astronaut image, L2 vs L2 + MS-Glance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from msglance.extras import require
from msglance.glance import MSGlanceLoss
from msglance.inr.fit import FitResult, fit_siren
from msglance.glance_grid import PAPER_GRID, glance_grid_for
from msglance.report import save_figure, subplots

__all__ = ["DemoRun", "astronaut_target", "demo_losses", "run_demo", "save_demo_figure"]


@dataclass
class DemoRun:
    """One fitted loss of the demo."""

    label: str
    result: FitResult


def astronaut_target(size: int) -> torch.Tensor:
    """scikit-image's astronaut (public domain), resized to ``size``^2, ``(3, H, W)`` in [0, 1]."""
    if size < 16:
        raise ValueError(f"size must be >= 16, got {size}")
    skimage_data = require("skimage.data", "data")
    resize = require("skimage.transform", "data").resize
    img = resize(skimage_data.astronaut(), (size, size), anti_aliasing=True).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).clamp(0, 1)


def demo_losses(size: int, seed: int = 0) -> dict[str, Callable]:
    """L2 and the paper's INR loss ``L2 + 0.01 global + 0.01 local``.

    The Global Glance grid is the paper's 96 x 96 where the image has room for it, else the
    largest square grid that fits (:func:`msglance.glance_grid.glance_grid_for`).
    """
    msg = MSGlanceLoss(global_weight=0.01, local_weight=0.01, pixel="l2",
                       grid=glance_grid_for((size, size), PAPER_GRID), seed=seed)
    return {
        "L2": lambda p, t: (p - t).square().mean(),
        "L2 + MS-Glance": msg,
    }


def run_demo(
    size: int = 64,
    steps: int = 300,
    device: str = "auto",
    seed: int = 0,
    on_step: Callable[[str, int, float], None] | None = None,
) -> tuple[torch.Tensor, list[DemoRun]]:
    """Fit a SIREN (docs/design.md §4) with each demo loss; returns the target and runs."""
    target = astronaut_target(size)
    runs = []
    for label, loss in demo_losses(size, seed).items():
        callback = None if on_step is None else (lambda s, v, _l=label: on_step(_l, s, v))
        res = fit_siren(target, loss, steps=steps, seed=seed, device=device, on_step=callback)
        runs.append(DemoRun(label, res))
    return target, runs


def save_demo_figure(path: str | Path, target: torch.Tensor, runs: list[DemoRun]) -> Path:
    """Side by side: target, each fit (with PSNR/SSIM) and its absolute-error map."""
    tgt = target.permute(1, 2, 0).numpy()
    errors = [np.abs(r.result.output[0].permute(1, 2, 0).numpy() - tgt).mean(-1) for r in runs]
    vmax = max(float(e.max()) for e in errors) or 1.0
    fig, axes = subplots(2, len(runs) + 1, figsize=(3.2 * (len(runs) + 1), 6.6))
    axes[0, 0].imshow(tgt)
    axes[0, 0].set_title("target")
    axes[1, 0].axis("off")
    for i, (run, err) in enumerate(zip(runs, errors), start=1):
        axes[0, i].imshow(run.result.output[0].permute(1, 2, 0).numpy())
        axes[0, i].set_title(f"{run.label}\n{run.result.psnr:.2f} dB, SSIM {run.result.ssim:.3f}")
        im = axes[1, i].imshow(err, cmap="magma", vmin=0, vmax=vmax)
        axes[1, i].set_title(f"|error|, {run.label}")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[1, 1:].tolist(), shrink=0.8, label="mean |error| over RGB")
    fig.suptitle(f"SIREN fit, {runs[0].result.steps} steps, {tgt.shape[0]}x{tgt.shape[1]}")
    return save_figure(fig, path, dpi=110, bbox_inches="tight")
