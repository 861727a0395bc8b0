"""Figures of INR fits: PNG images, PSNR-vs-step curves and a grid of fits and error maps.

Figures are built without pyplot (:func:`msglance.report.subplots`); nothing here prints.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from msglance.extras import require
from msglance.report import save_figure, subplots

__all__ = ["load_png", "plot_fit_grid", "plot_psnr_curves", "save_png", "tensor_to_hwc"]


def _to_hwc(image: Tensor | np.ndarray) -> np.ndarray:
    """Tensors are ``(C, H, W)`` or ``(1, C, H, W)``; arrays ``(H, W)`` or ``(H, W, C)``."""
    if isinstance(image, Tensor):
        t = image.detach().cpu().float()
        if t.ndim == 4 and t.shape[0] == 1:
            t = t[0]
        if t.ndim != 3 or t.shape[0] not in (1, 3):
            raise ValueError(
                f"expected a (C, H, W) or (1, C, H, W) tensor with C in (1, 3), got {tuple(image.shape)}"
            )
        return t.permute(1, 2, 0).numpy()
    arr = np.asarray(image, dtype=np.float32)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.ndim != 3 or arr.shape[-1] not in (1, 3):
        raise ValueError(f"expected an (H, W) or (H, W, C) array with C in (1, 3), got {arr.shape}")
    return arr


def tensor_to_hwc(image: Tensor | np.ndarray) -> np.ndarray:
    """An image tensor/array as float32 ``(H, W, C)`` (see :func:`save_png` for layouts)."""
    return np.ascontiguousarray(_to_hwc(image), dtype=np.float32)


def save_png(image: Tensor | np.ndarray, path: str | os.PathLike[str]) -> Path:
    """Write an image in [0, 1] as an 8-bit PNG: a ``(C, H, W)``/``(1, C, H, W)`` tensor or
    an ``(H, W)``/``(H, W, C)`` array.

    Values are clipped to [0, 1] and rounded; one channel gives a grayscale PNG.
    """
    Image = require("PIL.Image", "io")

    arr = _to_hwc(image)
    u8 = np.round(np.clip(arr, 0.0, 1.0) * 255.0).astype(np.uint8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(u8[..., 0] if u8.shape[-1] == 1 else u8).save(path)
    return path


def load_png(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a PNG written by :func:`save_png` as float32 ``(H, W, C)`` in [0, 1]."""
    Image = require("PIL.Image", "io")

    with Image.open(path) as im:
        arr = np.asarray(im, dtype=np.float32) / 255.0
    return arr[..., None] if arr.ndim == 2 else arr[..., :3]


def _mean_curve(histories: Sequence[Sequence[Sequence[float]]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean and std of PSNR at each step over the runs that reached that step."""
    by_step: dict[int, list[float]] = {}
    for hist in histories:
        for step, psnr, *_ in hist:
            if psnr is not None and math.isfinite(psnr):
                by_step.setdefault(int(step), []).append(float(psnr))
    steps = np.array(sorted(by_step))
    mean = np.array([np.mean(by_step[s]) for s in steps])
    std = np.array([np.std(by_step[s]) for s in steps])
    return steps, mean, std


def plot_psnr_curves(
    histories: Sequence[Mapping[str, Any]],
    losses: Sequence[str],
    path: str | os.PathLike[str],
    title: str = "",
) -> Path:
    """PSNR vs step, one line per loss: the mean over images and seeds (band: ±1 std).

    Args:
        histories: objects with ``"loss"``, ``"dataset"`` and ``"history"`` (``[step,
            psnr, loss]`` rows), e.g. from :func:`msglance.inr.study.read_histories` or a
            single fit. One panel per dataset.
        losses: the loss specs to draw, in legend order.
        path: output PNG.
    """
    datasets = list(dict.fromkeys(h.get("dataset", "") for h in histories)) or [""]
    fig, axes = subplots(1, len(datasets), figsize=(6.0 * len(datasets), 4.2), squeeze=False)
    for ax, ds in zip(axes[0], datasets):
        for spec in losses:
            runs = [h["history"] for h in histories
                    if h.get("loss") == spec and h.get("dataset", "") == ds]
            if not runs:
                continue
            steps, mean, std = _mean_curve(runs)
            if steps.size == 0:
                continue
            line, = ax.plot(steps, mean, label=f"{spec} (n={len(runs)})", lw=1.4)
            if len(runs) > 1:
                ax.fill_between(steps, mean - std, mean + std, color=line.get_color(), alpha=0.15)
        ax.set_xlabel("step")
        ax.set_ylabel("PSNR (dB)")
        ax.set_title(" ".join(t for t in (title, ds) if t) or "PSNR vs step")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    return save_figure(fig, path, dpi=120)


def plot_fit_grid(
    targets: Mapping[str, np.ndarray],
    fits: Mapping[tuple[str, str], np.ndarray],
    losses: Sequence[str],
    path: str | os.PathLike[str],
    scores: Mapping[tuple[str, str], float] | None = None,
) -> Path:
    """A grid of fits and absolute-error maps.

    For each image two rows: the target followed by each loss's fit (titled with its PSNR
    when ``scores`` has it), then each fit's mean-over-channels ``|fit - target|`` on one
    colour scale per image (0 to the 99th percentile over that image's losses).

    Args:
        targets: image name -> ``(H, W, C)`` array in [0, 1].
        fits: ``(image, loss)`` -> ``(H, W, C)`` array; missing entries stay blank.
        losses: column order.
        path: output PNG.
        scores: ``(image, loss)`` -> PSNR shown in the titles.
    """
    images = list(targets)
    if not images:
        raise ValueError("no images to draw")
    ncol = len(losses) + 1
    fig, axes = subplots(
        2 * len(images), ncol, figsize=(1.9 * ncol, 2.0 * 2 * len(images)), squeeze=False
    )
    for ax in axes.ravel():
        ax.set_axis_off()
    for r, name in enumerate(images):
        tgt = targets[name]
        cmap = "gray" if tgt.shape[-1] == 1 else None
        axes[2 * r, 0].imshow(tgt.squeeze(-1) if cmap else tgt, cmap=cmap, vmin=0, vmax=1)
        axes[2 * r, 0].set_title(f"{name}\ntarget", fontsize=7)
        errs = {s: np.abs(fits[(name, s)] - tgt).mean(-1) for s in losses if (name, s) in fits}
        vmax = float(np.percentile(np.concatenate([e.ravel() for e in errs.values()]), 99)) if errs else 1.0
        vmax = max(vmax, 1e-6)
        for c, spec in enumerate(losses, start=1):
            if (name, spec) not in fits:
                continue
            fit = fits[(name, spec)]
            axes[2 * r, c].imshow(fit.squeeze(-1) if cmap else fit, cmap=cmap, vmin=0, vmax=1)
            score = (scores or {}).get((name, spec))
            label = spec if score is None else f"{spec}\n{score:.2f} dB"
            axes[2 * r, c].set_title(label, fontsize=6)
            axes[2 * r + 1, c].imshow(errs[spec], cmap="inferno", vmin=0, vmax=vmax)
        axes[2 * r + 1, 0].text(
            0.5, 0.5, f"|fit - target|\n0 .. {vmax:.3f}", ha="center", va="center", fontsize=7,
            transform=axes[2 * r + 1, 0].transAxes,
        )
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)
