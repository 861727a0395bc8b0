"""Cutting images into square patches and back (raster order), and the patch-grid checks.

An image ``(N, C, H, W)`` cut into ``P × P`` patches has ``L = (H/P)(W/P)`` patches in raster
order (row by row); patch ``l`` is the block at grid row ``l // (W/P)``, column
``l % (W/P)``. Its values are flattened as ``(p_row, p_col, channel)``, i.e.
``patchify(x)[n, l] = x[n, :, r P:(r+1) P, c P:(c+1) P].permute(1, 2, 0).reshape(-1)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["check_grid", "check_k", "patchify", "unpatchify", "patch_count"]


def check_grid(height: int, width: int, patch: int) -> tuple[int, int]:
    """The patch grid ``(H/P, W/P)`` of an image, or a one-line ``ValueError``.

    Examples:
        >>> check_grid(32, 32, 4)
        (8, 8)
    """
    if patch <= 0:
        raise ValueError(f"patch size must be positive, got patch={patch}")
    if height % patch or width % patch:
        raise ValueError(
            f"image {height}x{width} is not divisible by the patch size {patch} "
            f"(crop or resize it to a multiple of {patch})"
        )
    return height // patch, width // patch


def patch_count(height: int, width: int, patch: int) -> int:
    """``L = (H/P)(W/P)``.

    Examples:
        >>> patch_count(32, 16, 4)
        32
    """
    gh, gw = check_grid(height, width, patch)
    return gh * gw


def check_k(k: int, length: int, name: str = "k") -> int:
    """Validate a number of kept patches: ``1 <= k <= L``.

    Examples:
        >>> check_k(8, 64)
        8
    """
    if isinstance(k, bool) or int(k) != k:
        raise ValueError(f"{name} must be an integer, got {k!r}")
    if not 1 <= k <= length:
        raise ValueError(f"{name} must be in [1, {length}] (the number of patches), got {k}")
    return int(k)


def patchify(images: Tensor, patch: int) -> Tensor:
    """``(N, C, H, W) -> (N, L, P·P·C)`` in raster order.

    Examples:
        >>> x = torch.arange(16.).reshape(1, 1, 4, 4)
        >>> patchify(x, 2)[0, 1].tolist()
        [2.0, 3.0, 6.0, 7.0]
    """
    if images.ndim != 4:
        raise ValueError(f"images must be (N, C, H, W), got shape {tuple(images.shape)}")
    n, c, h, w = images.shape
    gh, gw = check_grid(h, w, patch)
    x = images.reshape(n, c, gh, patch, gw, patch)
    return x.permute(0, 2, 4, 3, 5, 1).reshape(n, gh * gw, patch * patch * c)


def unpatchify(patches: Tensor, patch: int, grid: tuple[int, int], channels: int) -> Tensor:
    """Inverse of :func:`patchify`: ``(N, L, P·P·C) -> (N, C, H, W)``.

    Examples:
        >>> x = torch.rand(2, 3, 8, 4)
        >>> bool((unpatchify(patchify(x, 2), 2, (4, 2), 3) == x).all())
        True
    """
    n, length, d = patches.shape
    gh, gw = grid
    if length != gh * gw or d != patch * patch * channels:
        raise ValueError(
            f"patches of shape {tuple(patches.shape)} do not fit a {gh}x{gw} grid of "
            f"{patch}x{patch}x{channels} patches"
        )
    x = patches.reshape(n, gh, gw, patch, patch, channels).permute(0, 5, 1, 3, 2, 4)
    return x.reshape(n, channels, gh * patch, gw * patch)
