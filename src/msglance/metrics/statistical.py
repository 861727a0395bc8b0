r"""Statistical full-reference metrics: Pearson correlation (PCC) and normalized mutual
information (NMI).

Both are computed per item over all channels and positions (``N`` values):

.. math::

    \mathrm{PCC}(x, y) = \frac{\sum_i (x_i - \bar x)(y_i - \bar y)}
        {\sqrt{\sum_i (x_i - \bar x)^2 \sum_i (y_i - \bar y)^2}}, \qquad
    \mathrm{NMI}(x, y) = \frac{H(X) + H(Y)}{H(X, Y)}

PCC lies in [-1, 1]; a constant item (zero variance) gives 0, not NaN. NMI is
scikit-image's ``normalized_mutual_information``: a joint histogram with ``bins`` equal-width
bins per axis spanning each item's own ``[min, max]`` (numpy's ``histogramdd`` edges and
edge rules, computed in float64), Shannon entropies in nats; range [1, 2], 2 for a perfect
(monotone, bin-preserving) relation. Both are insensitive to linear intensity scaling, which
is why MR studies recommend them next to SSIM.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from msglance.metrics.pixel import prepare_pair
from msglance.validation import check_reduction, nan_where_nonfinite, reduce

__all__ = ["NMI", "NMI_MAX_BYTES", "PCC", "nmi", "pcc"]

#: Largest joint-histogram memory :func:`nmi` allocates (beyond it, it refuses up front).
NMI_MAX_BYTES: int = 2**30


def pcc(
    x: Tensor,
    y: Tensor,
    data_range: float | None = None,
    reduction: str = "mean",
    check_range: bool = True,
) -> Tensor:
    r"""Pearson correlation coefficient per item (higher is better, 1 = perfectly linear).

    The means are subtracted before the moments (two-pass), so float32 data with a large
    offset keeps full precision. Zero variance in either input gives 0.

    Args:
        x: prediction ``(B, C, H, W)`` or ``(B, C, D, H, W)``.
        y: target, same shape, dtype and device.
        data_range: optional; if given (and ``check_range``), inputs must lie in
            ``[0, data_range]``. PCC itself is scale free.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        check_range: check the range when ``data_range`` is given.
    """
    x, y, dtype = prepare_pair(x, y, data_range, check_range, reduction)
    xc = x.flatten(1)
    yc = y.flatten(1)
    xc = xc - xc.mean(dim=1, keepdim=True)
    yc = yc - yc.mean(dim=1, keepdim=True)
    cov = (xc * yc).sum(dim=1)
    den = (xc.square().sum(dim=1) * yc.square().sum(dim=1))
    flat = den == 0  # NaN (a non-finite prediction) is not flat: it stays NaN
    r = torch.where(flat, torch.zeros_like(den), cov * torch.where(flat, torch.ones_like(den), den).rsqrt())
    return reduce(r.clamp(-1.0, 1.0), reduction).to(dtype)


def _histogram_index(v: Tensor, bins: int) -> Tensor:
    """Bin index per value, row-wise edges ``linspace(min, max, bins + 1)`` as numpy.

    ``np.histogramdd``: edges ``start + arange(bins + 1) * step`` with the last edge set to
    ``max``; ``searchsorted(edges, v, side="right") - 1``; values equal to the last edge go
    to the last bin; a constant row uses ``[min - 0.5, max + 0.5]``.
    """
    lo = v.amin(dim=1, keepdim=True)
    hi = v.amax(dim=1, keepdim=True)
    flat = lo == hi
    lo = torch.where(flat, lo - 0.5, lo)
    hi = torch.where(flat, hi + 0.5, hi)
    step = (hi - lo) / bins
    edges = torch.arange(bins + 1, dtype=v.dtype, device=v.device) * step + lo
    edges[:, -1] = hi[:, 0]
    idx = torch.searchsorted(edges.contiguous(), v.contiguous(), right=True) - 1
    return idx.clamp_(0, bins - 1)


def _entropy(p: Tensor) -> Tensor:
    """Row-wise Shannon entropy (nats) of non-negative weights, normalised to sum 1."""
    p = p / p.sum(dim=1, keepdim=True)
    logs = torch.where(p > 0, p.log(), torch.zeros_like(p))
    return -(p * logs).sum(dim=1)


def nmi(
    x: Tensor,
    y: Tensor,
    data_range: float | None = None,
    reduction: str = "mean",
    bins: int = 100,
    check_range: bool = True,
) -> Tensor:
    r"""Normalized mutual information ``(H(X) + H(Y)) / H(X, Y)`` per item (higher is better).

    Equals ``skimage.metrics.normalized_mutual_information(y, x, bins=bins)`` per item
    (the histogram is over the item's channels and positions together). Computed in float64;
    not differentiable (histogram).

    Args:
        x: prediction ``(B, C, H, W)`` or ``(B, C, D, H, W)``.
        y: target, same shape, dtype and device.
        data_range: optional range check only (NMI bins span each item's own min..max).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        bins: histogram bins per axis (scikit-image's default 100).
        check_range: check the range when ``data_range`` is given.

    Returns:
        Values in ``[1, 2]``, in the input dtype. Two constant items (``H(X, Y) = 0``, where
        scikit-image returns NaN) give 2.
    """
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive int, got {bins!r}")
    x, y, dtype = prepare_pair(x, y, data_range, check_range, reduction)
    need = 16 * x.shape[0] * bins * bins  # int64 counts and their float64 copy
    if need > NMI_MAX_BYTES:
        raise ValueError(
            f"nmi with bins={bins} needs {x.shape[0]} joint histogram(s) of {bins}x{bins} "
            f"cells, ~{need / 2**30:.1f} GiB; at most {NMI_MAX_BYTES / 2**30:.0f} GiB is "
            "allowed: use fewer bins (scikit-image's default is 100) or smaller batches"
        )
    xv = x.detach().flatten(1).double()
    yv = y.detach().flatten(1).double()
    b = xv.shape[0]
    ix = _histogram_index(xv, bins)
    iy = _histogram_index(yv, bins)
    joint_index = ix * bins + iy + torch.arange(b, device=xv.device).unsqueeze(1) * bins * bins
    joint = torch.bincount(joint_index.flatten(), minlength=b * bins * bins)
    joint = joint.view(b, bins, bins).double()
    h_x = _entropy(joint.sum(dim=2))
    h_y = _entropy(joint.sum(dim=1))
    h_xy = _entropy(joint.flatten(1))
    # both items constant: H(X, Y) = 0; they are trivially in perfect relation -> 2
    ok = h_xy > 0
    values = torch.where(ok, (h_x + h_y) / torch.where(ok, h_xy, torch.ones_like(h_xy)), 2.0)
    return reduce(nan_where_nonfinite(values, xv), reduction).to(dtype)


class PCC(nn.Module):
    """Module form of :func:`pcc`."""

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        check_reduction(reduction)
        self.reduction = reduction

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return pcc(x, y, None, self.reduction)


class NMI(nn.Module):
    """Module form of :func:`nmi`."""

    def __init__(self, reduction: str = "mean", bins: int = 100) -> None:
        super().__init__()
        check_reduction(reduction)
        self.reduction, self.bins = reduction, bins

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return nmi(x, y, None, self.reduction, self.bins)

    def extra_repr(self) -> str:
        return f"bins={self.bins}"
