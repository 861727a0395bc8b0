"""One input-validation helper for every metric and loss (piq style).

Errors are ``TypeError``/``ValueError`` with the offending shapes, dtypes or ranges in the
message, never ``assert`` (which vanishes under ``python -O``).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

__all__ = ["Reduction", "check_image", "check_pair", "check_data_range", "check_reduction", "reduce"]

Reduction = Literal["mean", "sum", "none"]
_REDUCTIONS = ("mean", "sum", "none")


def check_pair(
    x: Tensor,
    y: Tensor,
    *,
    ndims: tuple[int, ...] = (4, 5),
    allow_complex: bool = False,
    check_finite: bool = True,
) -> None:
    """Validate a prediction/target pair.

    Args:
        x: prediction.
        y: target.
        ndims: accepted numbers of dimensions (4: ``(B, C, H, W)``, 5: ``(B, C, D, H, W)``).
        allow_complex: accept complex dtypes.
        check_finite: raise if the *target* holds NaN or inf.

    Raises:
        TypeError: not tensors, integer/bool dtypes, or different dtypes.
        ValueError: different shapes or devices, wrong rank, empty, non-finite target.
    """
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, Tensor):
            raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
        if not (t.is_floating_point() or (allow_complex and t.is_complex())):
            kinds = "floating-point or complex" if allow_complex else "floating-point"
            raise TypeError(f"{name} must be a {kinds} tensor, got dtype {t.dtype}")
    if x.dtype != y.dtype:
        raise TypeError(f"x and y must share a dtype, got {x.dtype} and {y.dtype}")
    if x.device != y.device:
        raise ValueError(f"x and y must be on one device, got {x.device} and {y.device}")
    if x.shape != y.shape:
        raise ValueError(
            f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    if x.ndim not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise ValueError(
            f"expected {want} input ((B, C, H, W) or (B, C, D, H, W)), got shape {tuple(x.shape)}"
        )
    if x.numel() == 0:
        raise ValueError(f"inputs are empty, shape {tuple(x.shape)}")
    if check_finite and not bool(torch.isfinite(y).all()):
        raise ValueError(f"target y holds NaN or inf values (shape {tuple(y.shape)})")


def check_image(
    x: Tensor,
    data_range: float | None = None,
    check_range: bool = True,
    *,
    ndims: tuple[int, ...] = (4, 5),
) -> None:
    """Validate the single input of a no-reference measure.

    Raises:
        TypeError: not a tensor, or not floating point.
        ValueError: wrong rank, NaN/inf values, or (with ``data_range`` and ``check_range``)
            values outside ``[0, data_range]``.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim not in ndims:
        want = " or ".join({4: "(B, C, H, W)", 5: "(B, C, D, H, W)"}[n] for n in ndims)
        raise ValueError(f"expected {want} input, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"x holds NaN or inf values (shape {tuple(x.shape)})")
    if data_range is not None and check_range:
        check_data_range(x.detach(), float(data_range), "x")


def check_data_range(x: Tensor, data_range: float, name: str = "x") -> None:
    """Raise ``ValueError`` if ``x`` falls outside ``[0, data_range]`` (metrics only)."""
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    lo, hi = float(x.min()), float(x.max())
    tol = 1e-6 * data_range
    if lo < -tol or hi > data_range + tol:
        raise ValueError(
            f"{name} has values in [{lo:.6g}, {hi:.6g}], outside [0, data_range={data_range:g}]; "
            "pass the matching data_range or rescale the input"
        )


def check_reduction(reduction: str) -> None:
    if reduction not in _REDUCTIONS:
        raise ValueError(f"reduction must be one of {_REDUCTIONS}, got {reduction!r}")


def reduce(values: Tensor, reduction: str) -> Tensor:
    """Reduce per-item values ``(B,)`` by ``"mean"``, ``"sum"`` or ``"none"``."""
    check_reduction(reduction)
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values
