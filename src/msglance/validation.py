"""One input-validation helper for every metric and loss (piq style).

Errors are ``TypeError``/``ValueError`` with the offending shapes, dtypes or ranges in the
message, never ``assert`` (which vanishes under ``python -O``).

**Non-finite values** (one policy for every metric and loss):

* a *target* (reference) holding NaN or inf is an error (``ValueError``), always;
* a *prediction* (or the single input of a no-reference measure) holding NaN or inf:
  with range checking on (a ``data_range`` given and ``check_range=True``) it is a
  ``ValueError`` naming the input; otherwise the value for *that item* is not finite --
  NaN, or +-inf where that is the exact value (MSE, MAE and NMSE of an infinite
  prediction are +inf, its PSNR -inf) -- and the other items are unaffected. A metric
  never turns a non-finite prediction into a finite number (:func:`nan_where_nonfinite`
  enforces it where the arithmetic alone would not: correlations that treat a NaN
  variance as zero, histograms, clipped powers, random samples that miss the bad pixel);
* losses follow the same rule without range checking, so a non-finite prediction gives a
  non-finite loss and a training loop's ``torch.isfinite(loss)`` guard sees it.

The Glance indices are scale free and never range-check: they return NaN.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "Reduction",
    "check_data_range",
    "check_image",
    "check_pair",
    "check_reduction",
    "nan_where_nonfinite",
    "reduce",
]

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

    Non-finite values are an error only with range checking on (``data_range`` given and
    ``check_range``); otherwise the measure returns NaN for that item (see the module doc).

    Raises:
        TypeError: not a tensor, or not floating point.
        ValueError: wrong rank, empty, or (with ``data_range`` and ``check_range``) NaN or
            values outside ``[0, data_range]``.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got dtype {x.dtype}")
    if x.ndim not in ndims:
        want = " or ".join({4: "(B, C, H, W)", 5: "(B, C, D, H, W)"}[n] for n in ndims)
        raise ValueError(f"expected {want} input, got shape {tuple(x.shape)}")
    if x.numel() == 0:
        raise ValueError(f"x is empty, shape {tuple(x.shape)}")
    if data_range is not None and check_range:
        check_data_range(x.detach(), float(data_range), "x")


def check_data_range(x: Tensor, data_range: float, name: str = "x") -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or falls outside ``[0, data_range]`` (metrics
    only; ``x`` may be just its extremes)."""
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    lo, hi = float(x.min()), float(x.max())
    if math.isnan(lo) or math.isnan(hi):
        raise ValueError(
            f"{name} holds NaN values (range checking against [0, data_range={data_range:g}] "
            "is on; pass check_range=False to get NaN for the item instead)"
        )
    tol = 1e-6 * data_range
    if lo < -tol or hi > data_range + tol:
        raise ValueError(
            f"{name} has values in [{lo:.6g}, {hi:.6g}], outside [0, data_range={data_range:g}]; "
            "pass the matching data_range or rescale the input"
        )


def nan_where_nonfinite(values: Tensor, x: Tensor) -> Tensor:
    """``values`` (one per item) with NaN for every item whose ``x`` holds NaN or inf.

    The policy of the module doc, for measures whose arithmetic alone would hide a bad
    value. Gradients of the other items are unchanged.

    Examples:
        >>> import torch
        >>> x = torch.zeros(2, 1, 2, 2); x[1, 0, 0, 0] = float("nan")
        >>> nan_where_nonfinite(torch.tensor([0.5, 0.5]), x)
        tensor([0.5000,    nan])
    """
    bad = ~torch.isfinite(x.detach()).flatten(1).all(dim=1)
    return values.masked_fill(bad, float("nan"))


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
