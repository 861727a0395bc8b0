"""One input-validation helper for every metric and loss (piq style).

Errors are ``TypeError``/``ValueError`` with the offending shapes, dtypes or ranges in the
message, never ``assert`` (which vanishes under ``python -O``).

**Non-finite values** (one policy for every metric and loss):

* a *target* (reference) holding NaN or inf is an error (``ValueError``), always in eager
  mode; while ``torch.compile`` traces, :func:`check_pair` (and the metrics' shared
  ``prepare_pair``) skip this host-sync check and the compiled measure returns NaN for that
  item instead;
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

**Under ``torch.compile``** every data-dependent check (the non-finite target check and the
``[0, data_range]`` range check of :func:`check_data_range`) is skipped: each reads a value
back to the host (``.item()``), which would break the graph. Shape, dtype, device and
setting checks still run (they are resolved at trace time). Validate inputs eagerly, or
compare against an eager call, when a compiled metric must reject bad data.
"""

from __future__ import annotations

import math
import numbers
from typing import Literal

import torch
from torch import Tensor

__all__ = [
    "Reduction",
    "check_data_range",
    "check_image",
    "check_nonnegative",
    "check_pair",
    "as_data_range",
    "check_reduction",
    "complex_to_real",
    "is_real_imag_pair",
    "nan_where_nonfinite",
    "reduce",
    "safe_sqrt",
]

Reduction = Literal["mean", "sum", "none"]
ComplexMode = Literal["magnitude", "channels"]
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
        check_finite: raise if the *target* holds NaN or inf. Skipped while
            ``torch.compile`` traces (the check is a host sync that would break the graph):
            a compiled metric or loss given a non-finite target returns a non-finite value
            instead of raising. Eager behaviour is unchanged.

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
    if check_finite and not torch.compiler.is_compiling() and not bool(torch.isfinite(y).all()):
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
    if data_range is not None:
        data_range = as_data_range(data_range)
        if check_range:
            check_data_range(x.detach(), data_range, "x")


def check_data_range(x: Tensor, data_range: float, name: str = "x") -> None:
    """Raise ``ValueError`` if ``x`` holds NaN or falls outside ``[0, data_range]`` (metrics
    only; ``x`` may be just its extremes).

    The range test reads ``min(x)`` and ``max(x)`` back to the host, so it is skipped while
    ``torch.compile`` traces (no graph break; a compiled metric does not range-check, see the
    module doc); ``data_range`` itself is still checked.

    Examples:
        >>> import torch
        >>> check_data_range(torch.tensor([0.0, 1.0]), 1.0)  # in range: no error
        >>> check_data_range(torch.tensor([0.0, 2.0]), 1.0)
        Traceback (most recent call last):
        ...
        ValueError: x has values in [0, 2], outside [0, data_range=1]; pass the matching data_range or rescale the input
    """
    if not data_range > 0:
        raise ValueError(f"data_range must be > 0, got {data_range}")
    if torch.compiler.is_compiling():
        return
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


def check_nonnegative(value: object, name: str) -> float:
    """``value`` as a float, if it is a finite real number ``>= 0`` (a weight, a threshold).

    Accepts Python and NumPy numbers and 0-d tensors; raises ``TypeError`` for anything
    else (bools included) and ``ValueError`` for NaN, inf or negative values, naming
    ``name``.

    Examples:
        >>> check_nonnegative(0.5, "weight")
        0.5
    """
    number = _as_real(value, name)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r:.40}")
    return number


def _as_real(value: object, name: str) -> float:
    if isinstance(value, Tensor) and value.numel() == 1 and value.ndim == 0 \
            and not value.is_complex() and value.dtype != torch.bool:
        return float(value.item())
    if isinstance(value, bool) or not isinstance(value, numbers.Real):  # NumPy numbers are Real
        raise TypeError(f"{name} must be a real number, got {value!r:.40}")
    try:
        return float(value)
    except OverflowError:  # an int beyond float range
        return -math.inf if value < 0 else math.inf


def as_data_range(value: object, name: str = "data_range") -> float:
    """``data_range`` as a float: a finite number ``> 0`` whose square is a normal float64.

    Accepts Python and NumPy numbers and 0-d tensors (``TypeError`` otherwise).

    Examples:
        >>> import numpy as np
        >>> as_data_range(np.float32(255)), as_data_range(torch.tensor(1.0))
        (255.0, 1.0)
    """
    number = _as_real(value, name)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r:.40}")
    if not math.isfinite(number * number) or number * number < 1e-300:
        raise ValueError(f"{name} {number:g} is out of range: its square over- or underflows")
    return number


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


# ----------------------------------------------------------------------------------------
# complex input
# ----------------------------------------------------------------------------------------


def safe_sqrt(v: Tensor) -> Tensor:
    """``sqrt(max(v, 0))`` with a zero (not infinite) gradient where ``v <= 0``; NaN stays NaN.

    Examples:
        >>> safe_sqrt(torch.tensor([4.0, -1.0, float("nan")]))
        tensor([2., 0., nan])
    """
    pos = v > 0
    low = torch.where(v.isnan(), v, torch.zeros_like(v))
    return torch.where(pos, torch.where(pos, v, torch.ones_like(v)).sqrt(), low)


def is_real_imag_pair(t: Tensor) -> bool:
    """A real ``(B, C, H, W, 2)`` or ``(B, C, D, H, W, 2)`` tensor of (real, imaginary) parts.

    (A genuine 3-D volume whose last axis has size 2 would be read this way; such a volume
    cannot hold a Glance window larger than 2 anyway.)

    Examples:
        >>> is_real_imag_pair(torch.zeros(1, 1, 4, 4, 2)), is_real_imag_pair(torch.zeros(1, 1, 4, 4))
        (True, False)
    """
    return (not t.is_complex()) and t.ndim in (5, 6) and t.shape[-1] == 2


def complex_to_real(t: Tensor, complex_mode: ComplexMode = "magnitude") -> Tensor:
    """A complex tensor (or real/imaginary pairs) as a real ``(B, C, *spatial)`` tensor.

    ``"magnitude"``: ``|t| = sqrt(re^2 + im^2)`` (zero gradient at 0, NaN kept);
    ``"channels"``: real and imaginary parts as ``2 C`` channels. Real tensors pass through.

    Examples:
        >>> complex_to_real(torch.tensor([[[[3 + 4j]]]]))
        tensor([[[[5.]]]])
        >>> complex_to_real(torch.tensor([[[[3 + 4j]]]]), "channels").flatten().tolist()
        [3.0, 4.0]
    """
    if complex_mode not in ("magnitude", "channels"):
        raise ValueError(f"complex_mode must be 'magnitude' or 'channels', got {complex_mode!r}")
    if t.is_complex():
        re, im = t.real, t.imag
    elif is_real_imag_pair(t):
        re, im = t[..., 0], t[..., 1]
    else:
        return t
    if complex_mode == "magnitude":
        return safe_sqrt(re * re + im * im)
    return torch.cat([re, im], dim=1)
