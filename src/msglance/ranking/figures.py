"""Figures of patch importance: an image, its score heat map and the kept patches.

All figures are written with :func:`msglance.report.save_figure` (atomic, closed after).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from msglance.report import save_figure, subplots

__all__ = ["kept_mask", "plot_importance", "plot_seen_unseen", "plot_selections"]


def kept_mask(ids: Tensor, grid: tuple[int, int], patch: int) -> Tensor:
    """Pixel mask ``(N, 1, H, W)``: 1 on the kept patches ``ids (N, k)``, 0 elsewhere.

    Examples:
        >>> kept_mask(torch.tensor([[3]]), (2, 2), 2)[0, 0].tolist()
        [[0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0], [0.0, 0.0, 1.0, 1.0]]
    """
    n = len(ids)
    m = torch.zeros(n, grid[0] * grid[1], device=ids.device)
    m.scatter_(1, ids, 1.0)
    m = m.reshape(n, 1, *grid)
    return m.repeat_interleave(patch, dim=2).repeat_interleave(patch, dim=3)


def _show(image: Tensor) -> np.ndarray:
    a = image.detach().cpu().float().clamp(0, 1).numpy()
    return a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0)


def plot_importance(
    path: str | os.PathLike[str],
    image: Tensor,
    scores: Tensor,
    ids: Tensor,
    grid: tuple[int, int],
    patch: int,
    title: str = "",
) -> Path:
    """Three panels for one ``(C, H, W)`` image: the image, the ``(L,)`` scores as a heat map,
    and the kept patches ``ids (k,)`` (the others dimmed)."""
    keep = kept_mask(ids[None], grid, patch)[0].cpu()
    dimmed = image.cpu() * (0.15 + 0.85 * keep)
    fig, axes = subplots(1, 3, figsize=(7.5, 2.8))
    gray = "gray" if image.shape[0] == 1 else None
    axes[0].imshow(_show(image), cmap=gray, vmin=0, vmax=1)
    axes[0].set_title("image")
    im = axes[1].imshow(scores.detach().cpu().float().reshape(grid).numpy(), cmap="magma")
    axes[1].set_title("importance")
    fig.colorbar(im, ax=axes[1], fraction=0.046)
    axes[2].imshow(_show(dimmed), cmap=gray, vmin=0, vmax=1)
    axes[2].set_title(f"kept {len(ids)} of {grid[0] * grid[1]}")
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_seen_unseen(
    path: str | os.PathLike[str],
    methods: Sequence[str],
    seen: Sequence[tuple[float, float]],
    unseen: Sequence[tuple[float, float]],
    title: str = "",
) -> Path:
    """Grouped bars of (mean, std) accuracy on seen and unseen classes per selector."""
    x = np.arange(len(methods))
    fig, ax = subplots(1, 1, figsize=(1.0 + 0.9 * len(methods), 3.2))
    for off, vals, label in ((-0.2, seen, "seen (0-4)"), (0.2, unseen, "unseen (5-9)")):
        ax.bar(x + off, [v[0] for v in vals], 0.4, yerr=[v[1] for v in vals], label=label, capsize=3)
    ax.set_xticks(x)
    ax.set_xticklabels(methods, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("accuracy (%)")
    ax.set_ylim(0, 100)
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path)


def plot_selections(
    path: str | os.PathLike[str],
    images: Tensor,
    selections: dict[str, Tensor],
    grid: tuple[int, int],
    patch: int,
    row_labels: Sequence[str] = (),
) -> Path:
    """A grid: one row per image ``(N, C, H, W)``, the image then one column per selector
    (``name -> ids (N, k)``) showing its kept patches (the others dimmed)."""
    n, cols = len(images), 1 + len(selections)
    fig, axes = subplots(n, cols, figsize=(1.3 * cols, 1.3 * n), squeeze=False)
    gray = "gray" if images.shape[1] == 1 else None
    for i in range(n):
        axes[i, 0].imshow(_show(images[i]), cmap=gray, vmin=0, vmax=1)
        if row_labels:
            axes[i, 0].set_ylabel(row_labels[i], fontsize=7)
        for j, (name, ids) in enumerate(selections.items(), start=1):
            keep = kept_mask(ids[i : i + 1], grid, patch)[0].cpu()
            axes[i, j].imshow(_show(images[i].cpu() * (0.15 + 0.85 * keep)), cmap=gray, vmin=0, vmax=1)
            if i == 0:
                axes[i, j].set_title(name, fontsize=7)
    axes[0, 0].set_title("image", fontsize=7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    return save_figure(fig, path)
