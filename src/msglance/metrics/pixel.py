r"""Pixel-level full-reference metrics: MSE, MAE, PSNR and NMSE.

For a prediction ``x`` and target ``y`` of shape ``(B, C, *spatial)`` every metric is
computed per item over all channels and positions (``N`` values), then reduced:

.. math::

    \mathrm{MSE} = \frac{1}{N}\sum_i (x_i - y_i)^2, \qquad
    \mathrm{MAE} = \frac{1}{N}\sum_i |x_i - y_i|,

    \mathrm{PSNR} = 10 \log_{10} \frac{R^2}{\mathrm{MSE}}, \qquad
    \mathrm{NMSE} = \frac{\lVert x - y \rVert_2^2}{\lVert y \rVert_2^2}

with ``R`` the data range (the value of white). PSNR equals
``skimage.metrics.peak_signal_noise_ratio(y, x, data_range=R)`` per item; NMSE is fastMRI's
definition. Identical inputs give ``PSNR = inf`` (as scikit-image does).

Conventions (docs/design.md §3): ``data_range`` is explicit; a metric given a ``data_range``
raises ``ValueError`` naming the observed range when an input lies outside
``[0, data_range]`` (``check_range=False`` turns that off; the loss modules never check).
``mse``/``mae``/``nmse`` do not need a range, so theirs defaults to ``None`` (no check).
float16/bfloat16 inputs are computed in float32 and returned in the input dtype.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from msglance.validation import (
    ComplexMode,
    as_data_range,
    check_data_range,
    check_nonnegative,
    check_pair,
    check_reduction,
    complex_to_real,
    is_real_imag_pair,
    reduce,
)

__all__ = [
    "MAELoss",
    "MSELoss",
    "NMSELoss",
    "PSNR",
    "mae",
    "mse",
    "nmse",
    "prepare_pair",
    "psnr",
]

_LOW_PRECISION = (torch.float16, torch.bfloat16)


def prepare_pair(
    x: Tensor,
    y: Tensor,
    data_range: float | None,
    check_range: bool,
    reduction: str,
    ndims: tuple[int, ...] = (4, 5),
) -> tuple[Tensor, Tensor, torch.dtype]:
    """Validate a metric's inputs and up-cast half precision to float32.

    Shared by every metric in :mod:`msglance.metrics`: checks the pair
    (:func:`msglance.validation.check_pair`), the reduction, and, when ``data_range`` is
    given and ``check_range`` is true, that both inputs lie in ``[0, data_range]``. The
    value checks (finite target, range) are skipped while ``torch.compile`` traces.

    Returns:
        ``(x, y, out_dtype)``: the (possibly float32) pair and the dtype to return in.
    """
    # The target's finiteness is checked through its min/max (NaN or inf show up there), in
    # the same fused pass as the range check: a separate isfinite() pass costs ~8x more.
    # Both are host syncs, skipped while torch.compile traces (msglance.validation's doc).
    check_pair(x, y, ndims=ndims, check_finite=False)
    check_reduction(reduction)
    if data_range is not None:
        data_range = as_data_range(data_range)
    if not torch.compiler.is_compiling():
        y_extremes = torch.stack(torch.aminmax(y.detach()))
        if not bool(torch.isfinite(y_extremes).all()):
            raise ValueError(f"target y holds NaN or inf values (shape {tuple(y.shape)})")
        if data_range is not None and check_range:
            x_extremes = torch.stack(torch.aminmax(x.detach()))
            check_data_range(x_extremes, float(data_range), "x (prediction)")
            check_data_range(y_extremes, float(data_range), "y (target)")
    out_dtype = x.dtype
    if out_dtype in _LOW_PRECISION:
        x, y = x.float(), y.float()
    return x, y, out_dtype


def _per_item_mean(t: Tensor) -> Tensor:
    return t.flatten(1).mean(dim=1)


def _per_item_sq_sum(d: Tensor) -> Tensor:
    """``sum(d^2)`` per item: the squared 2-norm, one fused pass without a temporary.

    (``vector_norm``'s backward is 0, not NaN, where the norm is 0.)
    """
    return torch.linalg.vector_norm(d.flatten(1), dim=1).square()


def mse(
    x: Tensor,
    y: Tensor,
    data_range: float | None = None,
    reduction: str = "mean",
    check_range: bool = True,
) -> Tensor:
    r"""Mean squared error per item, :math:`\frac{1}{N}\sum_i (x_i - y_i)^2` (lower is better).

    Args:
        x: prediction ``(B, C, H, W)`` or ``(B, C, D, H, W)``.
        y: target, same shape, dtype and device.
        data_range: optional; if given (and ``check_range``), both inputs must lie in
            ``[0, data_range]``. The value is not rescaled.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per item).
        check_range: check the range when ``data_range`` is given.
    """
    x, y, dtype = prepare_pair(x, y, data_range, check_range, reduction)
    n = x[0].numel()
    return reduce(_per_item_sq_sum(x - y) / n, reduction).to(dtype)


def mae(
    x: Tensor,
    y: Tensor,
    data_range: float | None = None,
    reduction: str = "mean",
    check_range: bool = True,
) -> Tensor:
    r"""Mean absolute error per item, :math:`\frac{1}{N}\sum_i |x_i - y_i|` (lower is better).

    Arguments as :func:`mse`.
    """
    x, y, dtype = prepare_pair(x, y, data_range, check_range, reduction)
    return reduce(_per_item_mean((x - y).abs()), reduction).to(dtype)


def psnr(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    reduction: str = "mean",
    check_range: bool = True,
) -> Tensor:
    r"""Peak signal-to-noise ratio in dB per item (higher is better).

    .. math:: \mathrm{PSNR} = 10 \log_{10} \frac{R^2}{\mathrm{MSE}(x, y)}

    Per item it equals ``skimage.metrics.peak_signal_noise_ratio(y, x, data_range=R)``;
    identical items give ``inf``. ``reduction="mean"`` averages the per-item dB values
    (fastMRI and torchmetrics' ``reduction="elementwise_mean"`` per image do the same).

    Args:
        x: prediction ``(B, C, H, W)`` or ``(B, C, D, H, W)`` in ``[0, data_range]``.
        y: target, same shape, dtype and device.
        data_range: ``R``, the value of white (1.0 for [0, 1] data, 255 for 8-bit).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        check_range: raise ``ValueError`` if an input lies outside ``[0, R]``.
    """
    x, y, dtype = prepare_pair(x, y, data_range, check_range, reduction)
    err = _per_item_sq_sum(x - y) / x[0].numel()
    values = 10.0 * torch.log10(float(data_range) ** 2 / err)
    return reduce(values, reduction).to(dtype)


def nmse(
    x: Tensor,
    y: Tensor,
    data_range: float | None = None,
    reduction: str = "mean",
    check_range: bool = True,
) -> Tensor:
    r"""Normalized MSE per item, :math:`\lVert x - y\rVert_2^2 / \lVert y\rVert_2^2` (fastMRI).

    Lower is better; an all-zero target gives ``inf`` (or ``nan`` if ``x`` is zero too).
    Arguments as :func:`mse`.
    """
    x, y, dtype = prepare_pair(x, y, data_range, check_range, reduction)
    num = _per_item_sq_sum(x - y)
    den = _per_item_sq_sum(y)
    return reduce(num / den, reduction).to(dtype)


# ------------------------------------------------------------------------------ modules


class _PairLoss(nn.Module):
    """Base for the pixel losses: any real or complex inputs, no range check.

    Complex input (or real/imaginary pairs, see :func:`msglance.validation.complex_to_real`)
    is compared by magnitude (``complex_mode="magnitude"``, as the Glance terms) or by real
    and imaginary parts as channels (``"channels"``).
    """

    def __init__(self, reduction: str = "mean", complex_mode: ComplexMode = "magnitude") -> None:
        super().__init__()
        check_reduction(reduction)
        if complex_mode not in ("magnitude", "channels"):
            raise ValueError(f"complex_mode must be 'magnitude' or 'channels', got {complex_mode!r}")
        self.reduction, self.complex_mode = reduction, complex_mode

    def _real(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if x.is_complex() or y.is_complex() or is_real_imag_pair(x):
            check_pair(x, y, ndims=(4, 5, 6), allow_complex=True)
            return complex_to_real(x, self.complex_mode), complex_to_real(y, self.complex_mode)
        return x, y

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class MSELoss(_PairLoss):
    """Plain mean squared error as a loss (per item, then reduced); see :func:`mse`."""

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return mse(*self._real(x, y), None, self.reduction)


class MAELoss(_PairLoss):
    """Plain mean absolute error (L1) as a loss; see :func:`mae`."""

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return mae(*self._real(x, y), None, self.reduction)


class NMSELoss(_PairLoss):
    r"""Normalized MSE as a loss, finite for an all-zero target item:

    .. math:: \lVert x - y\rVert_2^2 / (\lVert y\rVert_2^2 + \epsilon N)

    per item of ``N`` values; ``eps`` is in squared data units per value (default 1e-8,
    for data on [0, 1]: negligible next to any real image's energy). An all-zero target
    item's loss is then ``MSE / eps`` instead of :func:`nmse`'s ``inf``.
    """

    def __init__(
        self, reduction: str = "mean", complex_mode: ComplexMode = "magnitude", eps: float = 1e-8
    ) -> None:
        super().__init__(reduction, complex_mode)
        self.eps = check_nonnegative(eps, "eps")
        if self.eps == 0:
            raise ValueError("eps must be > 0 (an all-zero target would give inf)")

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        x, y = self._real(x, y)
        x, y, dtype = prepare_pair(x, y, None, False, self.reduction)
        num = _per_item_sq_sum(x - y)
        den = _per_item_sq_sum(y) + self.eps * y[0].numel()
        return reduce(num / den, self.reduction).to(dtype)


class PSNR(nn.Module):
    """Module form of :func:`psnr` (a metric: checks the range unless told not to)."""

    def __init__(
        self, data_range: float = 1.0, reduction: str = "mean", check_range: bool = True
    ) -> None:
        super().__init__()
        check_reduction(reduction)
        self.data_range, self.reduction, self.check_range = data_range, reduction, check_range

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return psnr(x, y, self.data_range, self.reduction, self.check_range)

    def extra_repr(self) -> str:
        return f"data_range={self.data_range}, reduction={self.reduction!r}"
