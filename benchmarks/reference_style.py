"""A straightforward re-creation of how the public MS-Glance reference computes the loss.

Used only as the *baseline* of ``bench_glance.py`` (never by the library): a Python loop over
the batch, permutations drawn on the CPU with ``torch.randperm``, and the five moment maps
(mu_x, mu_y, E[x^2], E[y^2], E[xy]) each from a dense ``k x k`` grouped convolution with zero
padding ``(k - 1) // 2``, the per-window statistic ``(cov + C3) / (sd_x sd_y + C3)``.
(The reference takes ``sqrt`` of the raw variance, which is how it produces NaN; here the
variance is clamped so the timing is of finite numbers.)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

C3 = 0.03**2 / 2


def _dense_index(x: torch.Tensor, y: torch.Tensor, k: int) -> torch.Tensor:
    c = x.shape[1]
    w = torch.full((c, 1, k, k), 1.0 / (k * k), device=x.device, dtype=x.dtype)
    conv = lambda t: F.conv2d(t, w, padding=(k - 1) // 2, groups=c)  # noqa: E731
    mx, my = conv(x), conv(y)
    sxx = (conv(x * x) - mx * mx).clamp_min(0)
    syy = (conv(y * y) - my * my).clamp_min(0)
    sxy = conv(x * y) - mx * my
    return ((sxy + C3) / (sxx.sqrt() * syy.sqrt() + C3)).mean()


def reference_style_msglance(x, y, grid=(96, 96), window=16, repeats=10, wg=0.01, wl=0.01):
    b, c, h, w = x.shape
    n, m = grid
    glob = 0.0
    for i in range(b):  # per-item Python loop
        pos = torch.randperm(h * w)[: n * m]  # drawn on the CPU
        orders = [torch.arange(n * m)] + [torch.randperm(n * m) for _ in range(repeats - 1)]
        idx = torch.cat([pos[o] for o in orders]).to(x.device)
        xs = x[i].flatten(1)[:, idx].view(1, c, n, m * repeats).clamp(0, 1) * 255
        ys = y[i].flatten(1)[:, idx].view(1, c, n, m * repeats).clamp(0, 1) * 255
        glob = glob + (1 - _dense_index(xs, ys, window))
    glob = glob / b
    local = 1 - _dense_index(x, y, window)
    return wg * glob + wl * local
