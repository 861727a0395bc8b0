r"""Line correlations, no-reference measures for MR images: MLC and MSLC (Dohmen et al. 2024).

For a 2-D image :math:`I` (``H x W``) and a line distance :math:`d`, take every pair of
rows and every pair of columns :math:`d` apart,

.. math::

    P_d = \{(I_{i,:}, I_{i+d,:})\}_{0 \le i < H-d} \cup \{(I_{:,j}, I_{:,j+d})\}_{0 \le j < W-d},

and average their Pearson correlations:

.. math::

    \mathrm{LC}_d(I) = \frac{1}{|P_d|} \sum_{(a, b) \in P_d} \rho(a, b), \qquad
    \rho(a, b) = \frac{\sum_k (a_k - \bar a)(b_k - \bar b)}
                      {\sqrt{\sum_k (a_k - \bar a)^2 \sum_k (b_k - \bar b)^2}},

with :math:`\rho = 1` for identical lines and :math:`\rho = 0` when one line is constant and
the two differ. **MLC** (mean line correlation) is :math:`\mathrm{LC}_1`; **MSLC** (mean
shifted line correlation) is :math:`\mathrm{LC}_{\lfloor W/2 \rfloor}` (the same distance for
rows and columns). These are the definitions of the paper's code (``medimetrics``,
``line_corr.py``), here batched over items and channels (channels are averaged).

Reading them: noise lowers MLC (neighbouring lines decorrelate) and blur raises it; MSLC is
low for anatomy, and ghosting or aliasing (replicas shifted by half the field of view, as
from undersampling every other phase-encoding line) raises it. The registry therefore
marks MLC as higher-is-better and MSLC as lower-is-better; both are scale free and not
differentiable in a useful sense.
"""

from __future__ import annotations

import torch
from torch import Tensor

from msglance.validation import check_image, check_reduction, nan_where_nonfinite, reduce

__all__ = ["line_correlation", "mean_line_correlation", "mean_shifted_line_correlation"]


def _pair_correlations(a: Tensor, b: Tensor, dim: int) -> Tensor:
    """Pearson correlation of matching lines of ``a`` and ``b`` along ``dim`` (float64)."""
    same = (a == b).all(dim=dim)
    constant = (a.amax(dim=dim) == a.amin(dim=dim)) | (b.amax(dim=dim) == b.amin(dim=dim))
    ac = a - a.mean(dim=dim, keepdim=True)
    bc = b - b.mean(dim=dim, keepdim=True)
    num = (ac * bc).sum(dim=dim)
    den = torch.sqrt(ac.square().sum(dim=dim) * bc.square().sum(dim=dim))
    rho = torch.where(constant, 0.0, num / torch.where(constant, 1.0, den))
    return torch.where(same, 1.0, rho)


def line_correlation(
    x: Tensor,
    distance: int,
    data_range: float | None = None,
    reduction: str = "mean",
    check_range: bool = True,
) -> Tensor:
    """Mean correlation of rows and of columns ``distance`` apart, per item (see module doc).

    Args:
        x: ``(B, C, H, W)`` images (channels are averaged).
        distance: line distance ``d >= 1``; at least one axis must be longer than ``d``.
        data_range: optional range check only (the measure is scale free).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        check_range: check ``[0, data_range]`` when ``data_range`` is given.

    Returns:
        The reduced value in ``[-1, 1]``, in ``x``'s dtype.
    """
    check_image(x, data_range, check_range, ndims=(4,))
    h, w = x.shape[2:]
    if isinstance(distance, bool) or not isinstance(distance, int) or distance < 1:
        raise ValueError(f"distance must be a positive int, got {distance!r}")
    if distance >= max(h, w):
        raise ValueError(
            f"line distance {distance} leaves no line pair in an image of shape {tuple(x.shape)}"
        )
    check_reduction(reduction)
    img = x.detach().double()
    parts = []
    if distance < h:  # rows i and i + d, correlated along the width
        parts.append(_pair_correlations(img[:, :, :-distance], img[:, :, distance:], dim=3))
    if distance < w:  # columns j and j + d, correlated along the height
        parts.append(_pair_correlations(img[..., :-distance], img[..., distance:], dim=2))
    values = torch.cat(parts, dim=2).mean(dim=(1, 2))
    return reduce(nan_where_nonfinite(values, img), reduction).to(x.dtype)


def mean_line_correlation(
    x: Tensor, data_range: float | None = None, reduction: str = "mean", check_range: bool = True
) -> Tensor:
    """MLC: :func:`line_correlation` of neighbouring lines (``d = 1``); noise lowers it."""
    return line_correlation(x, 1, data_range, reduction, check_range)


def mean_shifted_line_correlation(
    x: Tensor, data_range: float | None = None, reduction: str = "mean", check_range: bool = True
) -> Tensor:
    """MSLC: :func:`line_correlation` of lines half the width apart (``d = W // 2``);
    ghosting and aliasing raise it."""
    if isinstance(x, Tensor) and x.ndim == 4 and x.shape[3] < 2:
        raise ValueError(f"MSLC needs images at least 2 pixels wide, got shape {tuple(x.shape)}")
    distance = x.shape[-1] // 2 if isinstance(x, Tensor) and x.ndim == 4 else 1
    return line_correlation(x, distance, data_range, reduction, check_range)
