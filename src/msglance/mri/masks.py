"""1-D Cartesian undersampling masks over k-space columns (fastMRI conventions).

A mask is a float32 tensor of shape ``(W,)`` holding 1 for every sampled k-space column
(phase-encoding line) and 0 elsewhere; it applies to all rows of a ``(..., H, W)`` k-space.
With ``num_low = round(W * center_fraction)``, the ``num_low`` central columns
``[pad, pad + num_low)`` with ``pad = (W - num_low + 1) // 2`` are always sampled (this
window holds the DC column ``W // 2`` of :func:`msglance.mri.fft.fft2c`). The others are:

- ``"random"`` (fastMRI ``RandomMaskFunc``): kept independently with probability
  ``p = (W / acceleration - num_low) / (W - num_low)``, so the expected number of sampled
  columns is ``W / acceleration``;
- ``"equispaced"`` (fastMRI ``EquispacedMaskFractionFunc``): every ``a``-th column from a
  random offset, ``round(arange(offset, W - 1, a))``, with the adjusted spacing
  ``a = acceleration (num_low - W) / (num_low · acceleration - W)`` that accounts for the
  centre so the total is about ``W / acceleration``.

The acceleration achieved by a mask is ``W / mask.sum()``.

Validation and test masks must be identical for every method: :func:`mask_for_slice` draws
the mask from a generator seeded by a SHA-256 hash of ``(seed, slice_id[, epoch])``, which is
stable across processes, machines and Python versions (unlike ``hash``).
"""

from __future__ import annotations

import hashlib
import io
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from msglance.atomic import atomic_write_bytes
from msglance.mri.fft import ifft2c

__all__ = [
    "MaskKind",
    "MASK_KINDS",
    "PRESETS",
    "DEFAULT_ACCELERATION",
    "DEFAULT_CENTER_FRACTION",
    "num_center_columns",
    "random_mask",
    "equispaced_mask",
    "make_mask",
    "slice_seed",
    "mask_for_slice",
    "achieved_acceleration",
    "broadcast_mask",
    "apply_mask",
    "save_masks",
    "load_masks",
]

MaskKind = Literal["random", "equispaced"]
MASK_KINDS: tuple[str, ...] = ("random", "equispaced")

DEFAULT_ACCELERATION = 5.0
DEFAULT_CENTER_FRACTION = 0.08

#: Named (acceleration, center_fraction) presets: the paper's 5× and fastMRI's 4× and 8×.
PRESETS: dict[str, tuple[float, float]] = {
    "5x": (5.0, 0.08),
    "4x": (4.0, 0.08),
    "8x": (8.0, 0.04),
}

RngLike = np.random.Generator | int | None


def num_center_columns(width: int, acceleration: float, center_fraction: float) -> int:
    """Validate mask parameters and return ``num_low = round(width * center_fraction)``.

    Raises:
        TypeError: ``width`` is not an int.
        ValueError: ``width < 1``; ``acceleration < 1`` or not finite; ``center_fraction``
            outside the open interval (0, 1); no centre column (``num_low == 0``); or more
            centre columns than the sampling budget ``width / acceleration`` allows.
    """
    if isinstance(width, bool) or not isinstance(width, (int, np.integer)):
        raise TypeError(f"width must be an int, got {type(width).__name__}")
    width = int(width)
    if width < 1:
        raise ValueError(f"width must be >= 1, got {width}")
    acceleration = float(acceleration)
    if not math.isfinite(acceleration) or acceleration < 1:
        raise ValueError(f"acceleration must be a finite number >= 1, got {acceleration}")
    center_fraction = float(center_fraction)
    if not 0.0 < center_fraction < 1.0:
        raise ValueError(f"center_fraction must be in the open interval (0, 1), got {center_fraction}")
    num_low = round(width * center_fraction)
    if num_low < 1:
        raise ValueError(
            f"center_fraction {center_fraction} keeps round({width} * {center_fraction}) = 0 "
            f"centre columns of a width-{width} k-space; use a larger fraction"
        )
    budget = width / acceleration
    if num_low > budget + 1e-9:
        raise ValueError(
            f"{num_low} centre columns (round({width} * {center_fraction})) exceed the "
            f"{budget:.4g} columns that acceleration {acceleration:g} allows for width {width}; "
            "lower center_fraction or acceleration"
        )
    return num_low


def _center_mask(width: int, num_low: int) -> np.ndarray:
    mask = np.zeros(width, dtype=bool)
    pad = (width - num_low + 1) // 2
    mask[pad : pad + num_low] = True
    return mask


def random_mask(
    width: int,
    acceleration: float = DEFAULT_ACCELERATION,
    center_fraction: float = DEFAULT_CENTER_FRACTION,
    rng: RngLike = None,
) -> Tensor:
    """fastMRI random column mask ``(width,)``.

    Centre columns always kept; every other column kept independently with probability
    ``(width / acceleration - num_low) / (width - num_low)``.

    Args:
        rng: a ``numpy.random.Generator``, an int seed, or ``None`` (fresh entropy).

    Raises:
        ValueError: see :func:`num_center_columns`.
    """
    num_low = num_center_columns(width, acceleration, center_fraction)
    gen = np.random.default_rng(rng)
    if num_low >= width:
        prob = 0.0
    else:
        prob = (width / float(acceleration) - num_low) / (width - num_low)
    mask = gen.uniform(size=width) < prob
    mask |= _center_mask(width, num_low)
    return torch.from_numpy(mask.astype(np.float32))


def equispaced_mask(
    width: int,
    acceleration: float = DEFAULT_ACCELERATION,
    center_fraction: float = DEFAULT_CENTER_FRACTION,
    rng: RngLike = None,
) -> Tensor:
    """fastMRI equispaced column mask ``(width,)`` (``EquispacedMaskFractionFunc`` rule).

    Centre columns always kept; plus ``round(arange(offset, width - 1, a))`` with spacing
    ``a = acceleration (num_low - width) / (num_low · acceleration - width)`` and a random
    integer ``offset`` in ``[0, round(a))``.

    Raises:
        ValueError: see :func:`num_center_columns`.
    """
    num_low = num_center_columns(width, acceleration, center_fraction)
    gen = np.random.default_rng(rng)
    mask = _center_mask(width, num_low)
    denom = num_low * float(acceleration) - width
    if denom < 0:  # otherwise the centre alone already meets the budget
        spacing = float(acceleration) * (num_low - width) / denom
        offset = int(gen.integers(0, max(1, round(spacing))))
        samples = np.around(np.arange(offset, width - 1, spacing)).astype(np.int64)
        mask[samples] = True
    return torch.from_numpy(mask.astype(np.float32))


def make_mask(
    kind: str,
    width: int,
    acceleration: float = DEFAULT_ACCELERATION,
    center_fraction: float = DEFAULT_CENTER_FRACTION,
    rng: RngLike = None,
) -> Tensor:
    """Dispatch to :func:`random_mask` or :func:`equispaced_mask` by ``kind``.

    Raises:
        ValueError: unknown ``kind`` or invalid parameters.
    """
    if kind == "random":
        return random_mask(width, acceleration, center_fraction, rng)
    if kind == "equispaced":
        return equispaced_mask(width, acceleration, center_fraction, rng)
    raise ValueError(f"mask kind must be one of {MASK_KINDS}, got {kind!r}")


def slice_seed(slice_id: str, seed: int = 0, epoch: int | None = None) -> int:
    """Stable 64-bit seed from ``sha256(f"{seed}|{slice_id}")`` (``|{epoch}`` appended if given)."""
    if not isinstance(slice_id, str):
        raise TypeError(f"slice_id must be a str, got {type(slice_id).__name__}")
    key = f"{int(seed)}|{slice_id}"
    if epoch is not None:
        key += f"|{int(epoch)}"
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "little")


def mask_for_slice(
    slice_id: str,
    width: int,
    *,
    kind: str = "random",
    acceleration: float = DEFAULT_ACCELERATION,
    center_fraction: float = DEFAULT_CENTER_FRACTION,
    seed: int = 0,
    epoch: int | None = None,
) -> Tensor:
    """The mask of one slice, a pure function of its id, the seed and the mask parameters.

    With ``epoch=None`` (validation/test) the mask is fixed for the slice, so every method
    and every run sees the same one; passing the training epoch gives a fresh but still
    reproducible mask per epoch.
    """
    rng = np.random.default_rng(slice_seed(slice_id, seed, epoch))
    return make_mask(kind, width, acceleration, center_fraction, rng)


def achieved_acceleration(mask: Tensor) -> float:
    """``W / number of sampled columns`` of a ``(W,)`` mask (``inf`` for an empty mask)."""
    n = float(torch.as_tensor(mask).reshape(-1).gt(0.5).sum())
    width = torch.as_tensor(mask).reshape(-1).numel()
    return math.inf if n == 0 else width / n


def broadcast_mask(mask: Tensor, kspace: Tensor) -> Tensor:
    """Reshape a column mask so that it broadcasts against ``kspace (..., H, W)``.

    Accepted mask shapes: ``(W,)`` (one mask for everything); ``(B, W)`` with
    ``B == kspace.shape[0]`` and ``kspace.ndim >= 3`` (one mask per item); or any shape with
    ``kspace.ndim`` dimensions that broadcasts to ``kspace``. The result has the real dtype
    matching ``kspace`` and lives on its device.

    Raises:
        ValueError: the mask's last dimension differs from the k-space width, or the shapes
            do not broadcast.
    """
    if not isinstance(mask, Tensor):
        mask = torch.as_tensor(np.asarray(mask))
    if mask.ndim == 0 or mask.shape[-1] != kspace.shape[-1]:
        raise ValueError(
            f"mask of shape {tuple(mask.shape)} does not match the k-space width "
            f"{kspace.shape[-1]} (k-space shape {tuple(kspace.shape)})"
        )
    real_dtype = kspace.real.dtype if kspace.is_complex() else kspace.dtype
    m = mask.to(device=kspace.device, dtype=real_dtype)
    if m.ndim == 1:
        return m
    if m.ndim == 2 and kspace.ndim >= 3 and m.shape[0] == kspace.shape[0]:
        return m.reshape(m.shape[0], *([1] * (kspace.ndim - 2)), m.shape[-1])
    if m.ndim == kspace.ndim:
        try:
            torch.broadcast_shapes(m.shape, kspace.shape)
        except RuntimeError:
            pass
        else:
            return m
    raise ValueError(
        f"mask of shape {tuple(mask.shape)} does not broadcast to k-space of shape "
        f"{tuple(kspace.shape)}; pass (W,), (B, W) or a tensor with k-space's number of dims"
    )


def apply_mask(kspace: Tensor, mask: Tensor) -> tuple[Tensor, Tensor]:
    """Undersample k-space and reconstruct the zero-filled magnitude image.

    ``masked = kspace · mask`` (unsampled columns set to 0) and
    ``zero_filled = |ifft2c(masked)|``.

    Args:
        kspace: complex tensor ``(..., H, W)``.
        mask: column mask, see :func:`broadcast_mask`.

    Returns:
        ``(masked_kspace, zero_filled_magnitude)``, shapes ``(..., H, W)``.

    Raises:
        TypeError: ``kspace`` is not complex.
        ValueError: the mask width differs from the k-space width.
    """
    if not isinstance(kspace, Tensor) or not kspace.is_complex():
        got = kspace.dtype if isinstance(kspace, Tensor) else type(kspace).__name__
        raise TypeError(f"kspace must be a complex tensor (..., H, W), got {got}")
    masked = kspace * broadcast_mask(mask, kspace)
    return masked, ifft2c(masked).abs()


def save_masks(path: str | os.PathLike[str], masks: Mapping[str, Tensor | np.ndarray]) -> Path:
    """Write ``{slice_id: mask}`` to a compressed ``.npz`` (atomically: temp file + rename).

    Masks are stored as boolean arrays; ``path`` gets a ``.npz`` suffix if it has none.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    arrays = {str(k): np.asarray(torch.as_tensor(v).detach().cpu()) > 0.5 for k, v in masks.items()}
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def load_masks(path: str | os.PathLike[str]) -> dict[str, Tensor]:
    """Read masks written by :func:`save_masks` (also a single ``.npy`` mask, key ``""``).

    Returns:
        ``{slice_id: float32 tensor}``.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is not a readable ``.npz``/``.npy`` mask file.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"mask file not found: {path}")
    try:
        loaded = np.load(path, allow_pickle=False)
        if isinstance(loaded, np.ndarray):
            items = {"": loaded}
        else:
            with loaded:
                items = {k: loaded[k] for k in loaded.files}
    except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
        reason = " ".join(str(exc).split())
        raise ValueError(f"cannot read mask file {path}: {reason}") from None
    return {k: torch.from_numpy(np.asarray(v, dtype=np.float32)) for k, v in items.items()}
