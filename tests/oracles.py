"""Slow, obviously-correct reference implementations used only by the tests."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def explicit_windows(t: Tensor, window: int, stride: int) -> Tensor:
    """``(B, C, *spatial)`` -> ``(B, C, n_windows, window**d)`` by repeated ``unfold``."""
    for dim in range(2, t.ndim):
        t = t.unfold(dim, window, stride)
    d = (t.ndim - 2) // 2
    b, c = t.shape[:2]
    n_windows = 1
    for s in t.shape[2 : 2 + d]:
        n_windows *= s
    return t.reshape(b, c, n_windows, window**d)


def glance_oracle_map(
    x: Tensor, y: Tensor, window: int, stride: int = 1, padding: str = "valid",
    eps: float = 1e-8, parity: str | None = None,
) -> Tensor:
    """Per-window Glance Index (or the official S statistic) by explicit two-pass moments.

    Returns ``(B, C, n_windows)``.
    """
    if padding == "zero" or parity == "official":
        p = (window - 1) // 2
        x = F.pad(x, (p, p) * (x.ndim - 2))
        y = F.pad(y, (p, p) * (y.ndim - 2))
    u = explicit_windows(x, window, stride)
    v = explicit_windows(y, window, stride)
    uc = u - u.mean(-1, keepdim=True)
    vc = v - v.mean(-1, keepdim=True)
    cov = (uc * vc).mean(-1)
    var_u = (uc * uc).mean(-1)
    var_v = (vc * vc).mean(-1)
    if parity == "official":
        c3 = 0.03**2 / 2
        return (cov + c3) / (var_u.sqrt() * var_v.sqrt() + c3)
    return (cov + eps) / torch.sqrt((var_u + eps) * (var_v + eps))


def glance_oracle(x: Tensor, y: Tensor, **kw) -> Tensor:
    """Per-item Local Glance Index: mean of :func:`glance_oracle_map` over channels, windows."""
    return glance_oracle_map(x, y, **kw).flatten(1).mean(1)


def pearson_windows_corrcoef(x: Tensor, y: Tensor, window: int) -> Tensor:
    """Per-window Pearson correlation via ``torch.corrcoef`` (no eps), ``(B, C, n_windows)``."""
    u = explicit_windows(x, window, 1)
    v = explicit_windows(y, window, 1)
    out = torch.empty(u.shape[:3], dtype=x.dtype)
    for b in range(u.shape[0]):
        for c in range(u.shape[1]):
            for w in range(u.shape[2]):
                out[b, c, w] = torch.corrcoef(torch.stack([u[b, c, w], v[b, c, w]]))[0, 1]
    return out


def mosaic_oracle(t: Tensor, index: Tensor, perms: list[Tensor], grid: tuple[int, int]) -> Tensor:
    """Build the Global Glance mosaic exactly as DESIGN.md section 2 words it, item by item.

    ``index``: ``(B, n*m)`` drawn flat positions; ``perms``: per item, ``R - 1`` permutations
    of ``range(n*m)``. Each ordering of the n x m grid is flattened row-major, the R vectors
    are concatenated (identity first) and reshaped row-major to n x (m*R).
    """
    n, m = grid
    b, c = t.shape[:2]
    flat = t.flatten(2)
    rows = []
    for i in range(b):
        grid_values = flat[i][:, index[i]].reshape(c, n, m)
        orderings = [grid_values.reshape(c, n * m)]
        for p in perms[i]:
            orderings.append(grid_values.reshape(c, n * m)[:, p])
        vector = torch.cat(orderings, dim=1)
        rows.append(vector.reshape(c, n, m * (len(perms[i]) + 1)))
    return torch.stack(rows)


def line_correlation_oracle(image, distance: int) -> float:
    """MLC/MSLC as Dohmen et al. word them, line pair by line pair with ``numpy.corrcoef``.

    ``image``: a 2-D NumPy array. Identical lines count 1, a constant line (that differs from
    its partner) counts 0, every other pair its Pearson correlation; rows ``i, i + d`` and
    columns ``j, j + d`` are all averaged together.
    """
    import numpy as np

    def rho(a, b):
        if (a == b).all():
            return 1.0
        if a.max() == a.min() or b.max() == b.min():
            return 0.0
        return float(np.corrcoef(a, b)[0, 1])

    h, w = image.shape
    pairs = [rho(image[i, :], image[i + distance, :]) for i in range(h - distance)]
    pairs += [rho(image[:, j], image[:, j + distance]) for j in range(w - distance)]
    return float(np.mean(pairs))
