r"""Intensity normalization applied to each image before a metric (MR practice).

Dohmen et al. ("Similarity and Quality Metrics for MR Image-to-Image Translation", 2024)
show that PSNR, SSIM and others swing with the normalization used before them. Their
paper's exact parameter values could not be retrieved offline while writing this module, so
the definitions below are the ones msglance uses (stated, not claimed to be the paper's):

Per item (statistics over all channels and positions of that item, each image on its own):

* ``"none"``: unchanged.
* ``"minmax"``: :math:`(v - \min v) / (\max v - \min v)`, into [0, 1].
* ``"cminmax"`` (clipped min-max): clip to the ``[p, 100 - p]`` percentiles
  (default ``p = 0.5``), then min-max into [0, 1]; robust to a few extreme voxels.
* ``"zscore"``: :math:`(v - \mu) / \sigma` with the population standard deviation.
* ``"quantile"``: :math:`(v - q_{lo}) / (q_{hi} - q_{lo})` with the 5th and 95th
  percentiles, *without* clipping (values outside the central 90 % fall outside [0, 1]).

Percentiles use numpy's default linear interpolation. A constant item maps to 0 (no
division by zero). ``minmax``/``cminmax`` results lie in [0, 1] (use ``data_range=1``);
``zscore``/``quantile`` results are unbounded, so range-based metrics need an explicit
``data_range`` and ``check_range=False`` (``msglance eval`` does this and says so).
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["NORMALIZATIONS", "normalize", "percentile"]

NORMALIZATIONS: tuple[str, ...] = ("none", "minmax", "cminmax", "zscore", "quantile")


def percentile(v: Tensor, q: float) -> Tensor:
    """Row-wise ``q``-th percentile (0..100) of ``(B, N)`` values, numpy's linear rule.

    Sort based, so it works for volumes larger than ``torch.quantile``'s size limit.
    """
    if not 0.0 <= q <= 100.0:
        raise ValueError(f"percentile must be in [0, 100], got {q}")
    n = v.shape[1]
    s = v.sort(dim=1).values
    pos = (q / 100.0) * (n - 1)
    lo = int(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    return s[:, lo] + (s[:, hi] - s[:, lo]) * frac


def _scale(v: Tensor, lo: Tensor, hi: Tensor) -> Tensor:
    span = (hi - lo).unsqueeze(1)
    ok = span > 0
    return torch.where(ok, (v - lo.unsqueeze(1)) / torch.where(ok, span, torch.ones_like(span)), 0.0)


def normalize(
    x: Tensor,
    method: str = "none",
    clip_percentile: float = 0.5,
    quantiles: tuple[float, float] = (5.0, 95.0),
) -> Tensor:
    """Normalize each item of ``x`` (``(B, C, *spatial)``) by its own statistics.

    Args:
        x: floating-point tensor with a leading batch dimension.
        method: one of :data:`NORMALIZATIONS` (see the module docstring).
        clip_percentile: ``p`` of ``cminmax`` (clip to ``[p, 100 - p]`` percentiles).
        quantiles: ``(lo, hi)`` percentiles of ``quantile``.

    Returns:
        A tensor of ``x``'s shape and dtype (statistics computed in float32 or better).
    """
    if method not in NORMALIZATIONS:
        raise ValueError(f"normalization must be one of {NORMALIZATIONS}, got {method!r}")
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError("normalize needs a floating-point torch.Tensor")
    if x.ndim < 2:
        raise ValueError(f"expected a batch (B, ...) tensor, got shape {tuple(x.shape)}")
    if method == "none":
        return x
    dtype = x.dtype
    v = x.flatten(1)
    if dtype in (torch.float16, torch.bfloat16):
        v = v.float()
    if method == "minmax":
        out = _scale(v, v.amin(dim=1), v.amax(dim=1))
    elif method == "cminmax":
        if not 0.0 <= clip_percentile < 50.0:
            raise ValueError(f"clip_percentile must be in [0, 50), got {clip_percentile}")
        lo = percentile(v.detach(), clip_percentile)
        hi = percentile(v.detach(), 100.0 - clip_percentile)
        clipped = torch.minimum(torch.maximum(v, lo.unsqueeze(1)), hi.unsqueeze(1))
        out = _scale(clipped, lo, hi)
    elif method == "zscore":
        mean = v.mean(dim=1)
        std = (v - mean.unsqueeze(1)).square().mean(dim=1).sqrt()
        out = _scale(v, mean, mean + std)
    else:
        q_lo, q_hi = quantiles
        if not 0.0 <= q_lo < q_hi <= 100.0:
            raise ValueError(f"quantiles must satisfy 0 <= lo < hi <= 100, got {quantiles}")
        out = _scale(v, percentile(v.detach(), q_lo), percentile(v.detach(), q_hi))
    return out.view(x.shape).to(dtype)
