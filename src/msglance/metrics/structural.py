r"""Structural similarity: SSIM (Wang et al. 2004) and MS-SSIM (Wang et al. 2003), 2-D and 3-D.

For windows ``W(p)`` around every position ``p`` (valid placement: only windows fully inside
the image), with window-weighted means :math:`\mu`, variances :math:`\sigma^2` and covariance
:math:`\sigma_{xy}`:

.. math::

    l(p) = \frac{2\mu_x\mu_y + C_1}{\mu_x^2 + \mu_y^2 + C_1}, \qquad
    cs(p) = \frac{2\sigma_{xy} + C_2}{\sigma_x^2 + \sigma_y^2 + C_2}, \qquad
    \mathrm{SSIM} = \operatorname{mean}_{p,c}\; l(p)\,cs(p)

with :math:`C_1 = (K_1 R)^2`, :math:`C_2 = (K_2 R)^2`, ``R`` the data range, per item.

Window conventions (``window=``):

* ``"gaussian"`` (default): 11-tap Gaussian, sigma 1.5, population (biased) moments. Equals
  ``skimage.metrics.structural_similarity(gaussian_weights=True, sigma=1.5,
  use_sample_covariance=False, data_range=R)`` (scikit-image filters with reflection and
  then crops 5 pixels from every side, which leaves exactly the valid windows), and
  pytorch-msssim's ``ssim``.
* ``"box7"``: 7x7 (7x7x7 in 3-D) uniform window with *sample* covariance (moments times
  ``N / (N - 1)``, ``N = 49`` or ``343``): scikit-image's defaults and fastMRI's evaluation.

Numerics: every moment map comes from one call of the shared separable filters of
:mod:`msglance.filters` on a stack of the five maps ``x, y, x^2, y^2, xy``. Each channel's
mean is subtracted first (covariances are shift invariant; the means are added back for the
luminance term, written as ``1 - (mu_x - mu_y)^2 / (mu_x^2 + mu_y^2 + C1)``), so
``E[x^2] - E[x]^2`` does not cancel catastrophically in float32. Variances are clamped at 0,
so constant images give finite values (``SSIM(c, c) = 1``) and finite gradients.

MS-SSIM: five scales, weights ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``; at each scale
but the last the per-channel mean ``cs`` is kept, then both images are average-pooled by 2
(padding ``size % 2`` per axis, zeros counted, as pytorch-msssim); the last scale gives the
full SSIM. Negative values are clipped at 0 and
:math:`\mathrm{MS\text{-}SSIM} = \operatorname{mean}_c \prod_j v_{j,c}^{w_j}`, equal to
``pytorch_msssim.ms_ssim``. Every spatial side must exceed ``(win_size - 1) * 2**4``
(160 for the 11-tap window).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from msglance.chunking import pieces
from msglance.filters import box_filter, gaussian_filter
from msglance.metrics.pixel import prepare_pair
from msglance.validation import check_reduction, nan_where_nonfinite, reduce

__all__ = [
    "MSSSIM",
    "MSSSIMLoss",
    "MS_SSIM_WEIGHTS",
    "SSIM",
    "SSIMLoss",
    "ms_ssim",
    "ssim",
    "ssim_components",
    "ssim_means",
]

#: Wang et al. 2003 scale weights (finest first).
MS_SSIM_WEIGHTS: tuple[float, ...] = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)

_WINDOWS = ("gaussian", "box7", "box")


def _window_settings(
    window: str, win_size: int | None, sample_covariance: bool | None
) -> tuple[str, int, bool]:
    if window not in _WINDOWS:
        raise ValueError(f"window must be one of {_WINDOWS}, got {window!r}")
    if window == "box7":
        if win_size not in (None, 7):
            raise ValueError(f"window='box7' is a 7-wide box; got win_size={win_size}")
        kind, size, sample = "box", 7, True
    elif window == "box":
        kind, size, sample = "box", 7 if win_size is None else win_size, True
    else:
        kind, size, sample = "gaussian", 11 if win_size is None else win_size, False
    if sample_covariance is not None:
        sample = bool(sample_covariance)
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"win_size must be a positive int, got {size!r}")
    if kind == "gaussian" and size % 2 == 0:
        raise ValueError(f"the Gaussian window must have an odd size, got {size}")
    if sample and size == 1:
        raise ValueError("sample covariance needs a window of more than one value")
    return kind, size, sample


def _check_constants(k1: float, k2: float, sigma: float) -> None:
    if not (k1 > 0 and k2 > 0):
        raise ValueError(f"k1 and k2 must be > 0, got k1={k1}, k2={k2}")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0, got {sigma}")


def _apply_filter(t: Tensor, kind: str, win_size: int, sigma: float) -> Tensor:
    if kind == "gaussian":
        return gaussian_filter(t, win_size, sigma)
    return box_filter(t, win_size)


class _WindowMeans(torch.autograd.Function):
    """The shared valid-placement window filter with a filter-based backward.

    The filter is linear, ``out = F in``; its adjoint is the same *symmetric* kernel applied
    to the incoming gradient zero-padded by ``win_size - 1`` on every side (a "full"
    correlation). One filter call on the stacked gradient maps replaces autograd's
    per-tap backward, which allocates a full-size buffer for every tap.
    """

    @staticmethod
    def forward(ctx, stack: Tensor, kind: str, win_size: int, sigma: float) -> Tensor:
        ctx.settings = (kind, win_size, sigma)
        return _apply_filter(stack, kind, win_size, sigma)

    @staticmethod
    def backward(ctx, grad: Tensor):
        kind, win_size, sigma = ctx.settings
        pad = (win_size - 1,) * (2 * (grad.ndim - 2))
        return _apply_filter(F.pad(grad, pad), kind, win_size, sigma), None, None, None


def ssim_components(
    x: Tensor,
    y: Tensor,
    data_range: float,
    kind: str = "gaussian",
    win_size: int = 11,
    sigma: float = 1.5,
    sample_covariance: bool = False,
    k1: float = 0.01,
    k2: float = 0.03,
) -> tuple[Tensor, Tensor]:
    """Per-window SSIM and contrast-structure maps of two real tensors (no validation).

    Args:
        x, y: ``(B, C, *spatial)`` with 2 or 3 spatial dims, float32/float64.
        data_range, kind (``"gaussian"``/``"box"``), win_size, sigma, sample_covariance,
        k1, k2: the SSIM settings.

    Returns:
        ``(ssim_map, cs_map)``, each ``(B, C, *out)`` with ``out = spatial - win_size + 1``.
    """
    _check_window(x, win_size)
    t = _ssim_terms(x, y, data_range, kind, win_size, sigma, sample_covariance, k1, k2)
    return t["l"] * t["cs"], t["cs"]


def _check_window(x: Tensor, win_size: int) -> None:
    spatial = tuple(x.shape[2:])
    if any(n < win_size for n in spatial):
        raise ValueError(f"SSIM window {win_size} is larger than the spatial size {spatial}")


def _filter_moments(stack: Tensor, kind: str, win_size: int, sigma: float) -> Tensor:
    """The window filter; with autograd, through :class:`_WindowMeans`' filter backward."""
    if torch.is_grad_enabled() and stack.requires_grad:
        return _WindowMeans.apply(stack, kind, win_size, sigma)
    return _apply_filter(stack, kind, win_size, sigma)


def _terms_backward(saved, g_s: Tensor, g_c: Tensor, kind: str, win_size: int, sigma: float, norm: float):
    r"""Gradients of one chunk's SSIM/cs sums w.r.t. its two inputs (see :class:`_SSIMMeans`)."""
    xs, ys, a, b, A, B, lum, cs, d1, d2, ok_x, ok_y = saved
    shape = (-1,) + (1,) * (xs.ndim - 1)
    g_s, g_c = g_s.view(shape), g_c.view(shape)
    inv_d2 = d2.reciprocal()
    d_var = -(g_s * (lum * cs) + g_c * cs) * inv_d2
    g_xy = 2.0 * norm * (g_s * lum + g_c) * inv_d2
    g_xx = d_var * ok_x * norm
    g_yy = d_var * ok_y * norm
    two_cs = 2.0 * g_s * cs / d1
    g_a = two_cs * (B - A * lum) - 2.0 * a * g_xx - b * g_xy
    g_b = two_cs * (A - B * lum) - 2.0 * b * g_yy - a * g_xy
    n = xs.shape[0]
    stack = torch.cat([g_a, g_b, g_xx, g_yy, g_xy], dim=0)
    pad = (win_size - 1,) * (2 * (stack.ndim - 2))
    f_a, f_b, f_xx, f_yy, f_xy = _apply_filter(F.pad(stack, pad), kind, win_size, sigma).split(n, dim=0)
    return f_a + 2.0 * xs * f_xx + ys * f_xy, f_b + 2.0 * ys * f_yy + xs * f_xy


class _SSIMMeans(torch.autograd.Function):
    r"""Per-channel means of the SSIM and cs maps, chunked, with an analytic backward.

    Forward: the ``(item, channel)`` rows are processed in cache-sized chunks (and, for
    large images/volumes, slabs of the first spatial axis with a ``win_size - 1`` halo;
    valid placement makes the split exact). Backward, per chunk, with shifted means
    ``a, b``, ``A = a + c_x``, ``B = b + c_y``, ``l = N_1 / D_1``, ``cs = N_2 / D_2`` and
    upstream gradients ``g_s`` (SSIM) and ``g_c`` (cs):

    .. math::

        \frac{\partial}{\partial A} = g_s\,cs\,\frac{2(B - A l)}{D_1}, \quad
        \frac{\partial}{\partial \sigma_x^2} = -\frac{g_s\,s + g_c\,cs}{D_2}, \quad
        \frac{\partial}{\partial \sigma_{xy}} = \frac{2(g_s\,l + g_c)}{D_2}

    chained through ``sigma_x^2 = n (E[x^2] - a^2)``, ``sigma_xy = n (E[xy] - a b)`` to the
    five window means, pulled back through the (symmetric) window filter by one filter call
    on the zero-padded gradient maps, and to the inputs
    (``dx = F^T G_a + 2 x F^T G_xx + y F^T G_xy``), written into one gradient buffer. This
    avoids autograd's ~50 elementwise nodes and a full-size zero buffer per chunk slice.
    Not twice differentiable.
    """

    @staticmethod
    def forward(ctx, x, y, data_range, kind, win_size, sigma, sample_covariance, k1, k2):
        b, c = x.shape[:2]
        spatial = tuple(x.shape[2:])
        rows = b * c
        xf = x.reshape(rows, 1, *spatial)
        yf = y.reshape(rows, 1, *spatial)
        count = math.prod(n - win_size + 1 for n in spatial)
        keep = ctx.needs_input_grad[0] or ctx.needs_input_grad[1]
        args = (data_range, kind, win_size, sigma, sample_covariance, k1, k2)
        s_sums = x.new_zeros(rows)
        c_sums = x.new_zeros(rows)
        chunks = []
        norm = 1.0
        for start, stop, o0, length in pieces(xf, win_size):
            t = _ssim_terms(
                xf[start:stop].narrow(2, o0, length), yf[start:stop].narrow(2, o0, length), *args
            )
            s_sums[start:stop] += (t["l"] * t["cs"]).flatten(1).sum(dim=1)
            c_sums[start:stop] += t["cs"].flatten(1).sum(dim=1)
            norm = t["norm"]
            if keep:
                chunks.append((start, stop, o0, length, tuple(
                    t[key] for key in ("xs", "ys", "a", "b", "A", "B", "l", "cs", "d1", "d2", "ok_x", "ok_y")
                )))
        ctx.chunks = chunks
        ctx.meta = (x.shape, rows, count, kind, win_size, sigma, norm)
        return (s_sums / count).view(b, c), (c_sums / count).view(b, c)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g_s, g_c):
        shape, rows, count, kind, win_size, sigma, norm = ctx.meta
        ref = ctx.chunks[0][4][0]
        g_s = (torch.zeros(rows, dtype=ref.dtype, device=ref.device) if g_s is None
               else g_s.reshape(rows) / count)
        g_c = (torch.zeros(rows, dtype=ref.dtype, device=ref.device) if g_c is None
               else g_c.reshape(rows) / count)
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        full = (rows, 1, *shape[2:])
        grad_x = torch.zeros(full, dtype=ref.dtype, device=ref.device) if need_x else None
        grad_y = torch.zeros(full, dtype=ref.dtype, device=ref.device) if need_y else None
        for start, stop, o0, length, saved in ctx.chunks:
            gx, gy = _terms_backward(saved, g_s[start:stop], g_c[start:stop], kind, win_size, sigma, norm)
            if grad_x is not None:  # need_x
                grad_x[start:stop].narrow(2, o0, length).add_(gx)
            if grad_y is not None:  # need_y
                grad_y[start:stop].narrow(2, o0, length).add_(gy)
        return (
            grad_x.view(shape) if grad_x is not None else None,
            grad_y.view(shape) if grad_y is not None else None,
            None, None, None, None, None, None, None,
        )


def _ssim_terms(x, y, data_range, kind, win_size, sigma, sample_covariance, k1, k2) -> dict:
    """Moments and SSIM terms of two ``(R, C, *spatial)`` tensors (the shared arithmetic)."""
    dims = tuple(range(2, x.ndim))
    cx = x.detach().mean(dim=dims, keepdim=True)
    cy = y.detach().mean(dim=dims, keepdim=True)
    xs, ys = x - cx, y - cy
    rows = x.shape[0]
    stack = torch.cat([xs, ys, xs * xs, ys * ys, xs * ys], dim=0)
    mx, my, mxx, myy, mxy = _filter_moments(stack, kind, win_size, sigma).split(rows, dim=0)
    norm = 1.0
    if sample_covariance:
        count = win_size ** (x.ndim - 2)
        norm = count / (count - 1.0)
    raw_x = mxx - mx * mx
    raw_y = myy - my * my
    ok_x, ok_y = raw_x > 0, raw_y > 0
    var_x = (raw_x * norm).clamp_min(0.0)
    var_y = (raw_y * norm).clamp_min(0.0)
    cov = (mxy - mx * my) * norm
    c1 = (k1 * data_range) ** 2
    c2 = (k2 * data_range) ** 2
    mu_x, mu_y = mx + cx, my + cy
    diff = (mx - my) + (cx - cy)
    d1 = mu_x * mu_x + mu_y * mu_y + c1
    lum = 1.0 - diff * diff / d1
    d2 = var_x + var_y + c2
    cs = (2.0 * cov + c2) / d2
    return {"xs": xs, "ys": ys, "a": mx, "b": my, "A": mu_x, "B": mu_y, "l": lum, "cs": cs,
            "d1": d1, "d2": d2, "ok_x": ok_x, "ok_y": ok_y, "norm": norm}


def ssim_means(
    x: Tensor,
    y: Tensor,
    data_range: float,
    kind: str = "gaussian",
    win_size: int = 11,
    sigma: float = 1.5,
    sample_covariance: bool = False,
    k1: float = 0.01,
    k2: float = 0.03,
) -> tuple[Tensor, Tensor]:
    """Per-channel means of the SSIM and cs maps, ``(B, C)`` each (no validation).

    Same values as averaging :func:`ssim_components`; computed in chunks with an analytic
    backward (:class:`_SSIMMeans`). Under ``torch.compile`` it is computed in one piece
    with autograd through the filter's backward instead (the chunk loop keeps per-chunk
    tensors on the autograd context, which cannot be traced; the compiler fuses the
    temporaries itself), the same values to rounding.
    """
    _check_window(x, win_size)
    if torch.compiler.is_compiling():
        t = _ssim_terms(x, y, data_range, kind, win_size, sigma, sample_covariance, k1, k2)
        return (t["l"] * t["cs"]).flatten(2).mean(dim=2), t["cs"].flatten(2).mean(dim=2)
    return _SSIMMeans.apply(x, y, data_range, kind, win_size, sigma, sample_covariance, k1, k2)


def ssim(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    reduction: str = "mean",
    window: str = "gaussian",
    win_size: int | None = None,
    sigma: float = 1.5,
    k1: float = 0.01,
    k2: float = 0.03,
    sample_covariance: bool | None = None,
    check_range: bool = True,
) -> Tensor:
    r"""Structural similarity index per item (higher is better, 1 for identical images).

    See the module docstring for the formula and the window conventions.

    Args:
        x: prediction ``(B, C, H, W)`` or ``(B, C, D, H, W)`` in ``[0, data_range]``.
        y: target, same shape, dtype and device.
        data_range: ``R`` in ``C1 = (k1 R)^2``, ``C2 = (k2 R)^2`` (1.0, 255, or the target
            maximum as fastMRI does).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per item).
        window: ``"gaussian"`` (11 taps, sigma 1.5, population moments), ``"box7"`` (7-wide
            uniform, sample covariance: scikit-image defaults / fastMRI) or ``"box"``
            (uniform of ``win_size``, sample covariance).
        win_size: window side (Gaussian default 11, box default 7).
        sigma: Gaussian standard deviation.
        k1, k2: stabilising constants.
        sample_covariance: override the covariance normalisation of the window choice.
        check_range: raise ``ValueError`` if an input lies outside ``[0, data_range]``.

    Returns:
        The reduced SSIM in the input dtype (fp16/bf16 computed in float32).

    Raises:
        TypeError, ValueError: bad tensors, settings, out-of-range values, or an image
            smaller than the window.
    """
    kind, size, sample = _window_settings(window, win_size, sample_covariance)
    _check_constants(k1, k2, sigma)
    x, y, dtype = prepare_pair(x, y, data_range, check_range, reduction)
    per_channel, _ = ssim_means(x, y, float(data_range), kind, size, sigma, sample, k1, k2)
    return reduce(per_channel.mean(dim=1), reduction).to(dtype)


def _safe_pow(v: Tensor, w: Tensor) -> Tensor:
    """``relu(v) ** w`` with a zero (not NaN) gradient where ``v <= 0``."""
    pos = v > 0
    safe = torch.where(pos, v, torch.ones_like(v))
    return torch.where(pos, safe.pow(w), torch.zeros_like(v))


def ms_ssim(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    reduction: str = "mean",
    win_size: int = 11,
    sigma: float = 1.5,
    weights: Sequence[float] = MS_SSIM_WEIGHTS,
    k1: float = 0.01,
    k2: float = 0.03,
    check_range: bool = True,
) -> Tensor:
    r"""Multi-scale SSIM per item (higher is better, 1 for identical images).

    .. math::

        \mathrm{MS\text{-}SSIM} = \operatorname{mean}_c\Big(
            \mathrm{SSIM}_{M,c}^{\,w_M} \prod_{j=1}^{M-1} \mathrm{cs}_{j,c}^{\,w_j}\Big)

    with negative terms clipped at 0, average-pool-by-2 between scales, Gaussian windows
    (``win_size``, ``sigma``), population moments; equals ``pytorch_msssim.ms_ssim``.

    Args:
        x: prediction ``(B, C, H, W)`` or ``(B, C, D, H, W)`` in ``[0, data_range]``; every
            spatial side must exceed ``(win_size - 1) * 2 ** (len(weights) - 1)``.
        y: target, same shape, dtype and device.
        data_range: ``R`` of ``C1``, ``C2``.
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        win_size, sigma: the Gaussian window at every scale (11, 1.5).
        weights: per-scale exponents, finest first (Wang 2003's five by default).
        k1, k2: stabilising constants.
        check_range: raise ``ValueError`` if an input lies outside ``[0, data_range]``.

    Raises:
        ValueError: an image too small for the number of scales (the message gives the
            minimum), and the errors of :func:`ssim`.
    """
    kind, size, sample = _window_settings("gaussian", win_size, None)
    _check_constants(k1, k2, sigma)
    weights = tuple(float(w) for w in weights)
    if not weights or any(w < 0 for w in weights):
        raise ValueError(f"weights must be a non-empty sequence of values >= 0, got {weights}")
    x, y, dtype = prepare_pair(x, y, data_range, check_range, reduction)
    levels = len(weights)
    minimum = (size - 1) * 2 ** (levels - 1)
    if min(x.shape[2:]) <= minimum:
        raise ValueError(
            f"ms_ssim with {levels} scales and a {size}-tap window needs every spatial side "
            f"> {minimum}, got spatial shape {tuple(x.shape[2:])}; use ssim, fewer scales "
            "(weights=...) or a smaller win_size"
        )
    pool = F.avg_pool2d if x.ndim == 4 else F.avg_pool3d
    w = x.new_tensor(weights)
    terms = []
    for level in range(levels):
        ssim_mean, cs_mean = ssim_means(x, y, float(data_range), kind, size, sigma, sample, k1, k2)
        if level < levels - 1:
            terms.append(cs_mean)
            padding = [s % 2 for s in x.shape[2:]]
            x = pool(x, kernel_size=2, padding=padding)
            y = pool(y, kernel_size=2, padding=padding)
        else:
            terms.append(ssim_mean)
    stacked = torch.stack(terms, dim=0)  # (levels, B, C)
    per_channel = _safe_pow(stacked, w.view(-1, 1, 1)).prod(dim=0)
    return reduce(nan_where_nonfinite(per_channel.mean(dim=1), stacked.movedim(0, 1)), reduction).to(dtype)


# ------------------------------------------------------------------------------ modules


class SSIM(nn.Module):
    """Module form of :func:`ssim` (a metric: checks the range unless told not to)."""

    def __init__(
        self,
        data_range: float = 1.0,
        reduction: str = "mean",
        window: str = "gaussian",
        win_size: int | None = None,
        sigma: float = 1.5,
        k1: float = 0.01,
        k2: float = 0.03,
        sample_covariance: bool | None = None,
        check_range: bool = True,
    ) -> None:
        super().__init__()
        _window_settings(window, win_size, sample_covariance)
        _check_constants(k1, k2, sigma)
        check_reduction(reduction)
        self.data_range, self.reduction, self.window = data_range, reduction, window
        self.win_size, self.sigma, self.k1, self.k2 = win_size, sigma, k1, k2
        self.sample_covariance, self.check_range = sample_covariance, check_range

    def _value(self, x: Tensor, y: Tensor, reduction: str, check_range: bool) -> Tensor:
        return ssim(
            x, y, self.data_range, reduction, self.window, self.win_size, self.sigma,
            self.k1, self.k2, self.sample_covariance, check_range,
        )

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self._value(x, y, self.reduction, self.check_range)

    def extra_repr(self) -> str:
        return f"data_range={self.data_range}, window={self.window!r}"


class SSIMLoss(SSIM):
    """``1 - SSIM(x, y)`` per item, reduced: a loss to minimise (no range check).

    ``data_range`` still sets ``C1``/``C2``; inputs may hold any real values.
    """

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return reduce(1.0 - self._value(x, y, "none", False), self.reduction)


class MSSSIM(nn.Module):
    """Module form of :func:`ms_ssim` (a metric: checks the range unless told not to)."""

    def __init__(
        self,
        data_range: float = 1.0,
        reduction: str = "mean",
        win_size: int = 11,
        sigma: float = 1.5,
        weights: Sequence[float] = MS_SSIM_WEIGHTS,
        k1: float = 0.01,
        k2: float = 0.03,
        check_range: bool = True,
    ) -> None:
        super().__init__()
        _window_settings("gaussian", win_size, None)
        _check_constants(k1, k2, sigma)
        check_reduction(reduction)
        self.data_range, self.reduction, self.win_size, self.sigma = (
            data_range, reduction, win_size, sigma,
        )
        self.weights, self.k1, self.k2 = tuple(weights), k1, k2
        self.check_range = check_range

    def _value(self, x: Tensor, y: Tensor, reduction: str, check_range: bool) -> Tensor:
        return ms_ssim(
            x, y, self.data_range, reduction, self.win_size, self.sigma, self.weights,
            self.k1, self.k2, check_range,
        )

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return self._value(x, y, self.reduction, self.check_range)

    def extra_repr(self) -> str:
        return f"data_range={self.data_range}, scales={len(self.weights)}"


class MSSSIMLoss(MSSSIM):
    """``1 - MS-SSIM(x, y)`` per item, reduced: a loss to minimise (no range check)."""

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return reduce(1.0 - self._value(x, y, "none", False), self.reduction)
