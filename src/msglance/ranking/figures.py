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

__all__ = ["kept_mask", "plot_importance", "plot_seen_unseen"]


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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from msglance.report import save_figure

    keep = kept_mask(ids[None], grid, patch)[0].cpu()
    dimmed = image.cpu() * (0.15 + 0.85 * keep)
    fig, axes = plt.subplots(1, 3, figsize=(7.5, 2.8))
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
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from msglance.report import save_figure

    x = np.arange(len(methods))
    fig, ax = plt.subplots(figsize=(1.0 + 0.9 * len(methods), 3.2))
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
