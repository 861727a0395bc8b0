r"""Glance Index, Local Glance, Global Glance and the MS-Glance loss (WACV 2025).

A *Glance vector* is a group of ``k`` pixel values. Two groups ``u`` (from the prediction
``x``) and ``v`` (from the target ``y``) are compared by their **Glance Index**, the Pearson
correlation with a stabiliser ``epsilon`` in numerator and denominator:

.. math::

    \mathrm{GI}(u, v) = \frac{\operatorname{cov}(u, v) + \epsilon}
        {\sqrt{(\operatorname{var}(u) + \epsilon)(\operatorname{var}(v) + \epsilon)}}

with population (biased) moments. Properties (exact arithmetic):

* ``GI(u, u) = (var + eps) / (var + eps) = 1`` for *every* group, flat ones included. The
  implementation keeps this exact in floating point: identical inputs give identical window
  moments, a variance that rounds below 0 is clamped to 0, the covariance of two windows
  whose variances both round below 0 is set to 0 (as Cauchy--Schwarz demands of flat
  windows), and ``sqrt(a * a) == a`` in IEEE
  arithmetic, so identical inputs give 1.0 bit for bit.
* ``-1 <= GI <= 1``: ``|cov + eps| <= sqrt(var_u var_v) + eps <= sqrt((var_u + eps)(var_v +
  eps))``, the last step by ``2 sqrt(var_u var_v) <= var_u + var_v``. Values are also
  clamped to ``[-1, 1]`` against rounding.
* Flat and low-contrast windows: ``eps`` is the variance below which a window counts as
  flat. Two flat windows give ``GI = eps / eps = 1`` (whatever their levels: the index is
  blind to offsets, the pixel term of a loss is not); a flat target window against a
  prediction window of variance ``v`` gives ``sqrt(eps / (v + eps))``, which falls to 0 as
  the prediction's texture grows (noise in MRI air is penalised, and its gradient pushes
  the window flat); windows with variances near ``eps`` are pulled towards 1 (two
  uncorrelated windows of variance ``eps`` score 0.5). Windows with variances far above
  ``eps`` get their Pearson correlation; ``GI(u, a u + b) ~ 1`` for ``a > 0``.
* Scale: the index is scale free except for ``eps``: ``GI_eps(a u, a v) = GI_{eps/a^2}(u, v)``.
  ``eps`` is therefore in squared data units; the default 1e-8 (a standard deviation of
  1e-4) is meant for data on a ``[0, 1]`` scale, where it lies far below 8-bit quantisation
  (variance 1/(12 * 255^2) ~ 1.3e-6). Data stored on another scale ``[0, L]`` should use
  ``eps = 1e-8 * L**2``: with a fixed ``eps``, data at a 1e-4 scale (raw MRI magnitudes)
  would have every window "flat" and score ~1. The registry entries
  (``msglance.metrics.get("glance_local")`` and friends), which take a ``data_range`` like
  every metric, do this (``eps = 1e-8 * data_range**2`` unless ``eps`` is given), so that
  ``GI(a u, a v)`` with ``data_range = a L`` equals ``GI(u, v)`` with ``data_range = L``;
  the functions here take no ``data_range`` and use ``eps`` as given.
* Earlier versions had ``cov`` alone in the numerator: a window where the target is flat
  then scored 0 even against itself, so ``GI(x, x)`` was 0.855 on a 128x128 MNI slice
  (47 % air) and a loss kept a constant floor at a perfect reconstruction.

* **Local Glance** (:func:`glance_index`): the groups are all ``k x k`` (``k x k x k`` in 3-D)
  windows at the same position in ``x`` and ``y``; the index is the mean over windows,
  channels and (with ``reduction="mean"``) items. Window moments come from
  :func:`msglance.filters.box_filter` (recursive-doubling sums), never a dense convolution.
* **Global Glance** (:func:`global_glance_index`): per item, ``n*m`` positions are drawn
  uniformly without replacement (shared by ``x``, ``y`` and all channels), laid out as an
  ``n x m`` grid, re-ordered ``R`` times (identity first, then ``R - 1`` random
  permutations), concatenated row-major into an ``n x (m R)`` mosaic, and the Local Glance
  index of the two mosaics is taken. Every window then compares two random groups of pixels
  spread across the whole image. Sampling is one batched operation on the tensors' device.
* **Air prior** (``delta``): only positions where the target magnitude exceeds ``delta`` are
  drawn. An item with fewer than ``n*m`` such positions is drawn *with* replacement from them
  (from all positions if none qualify), with a one-time :class:`AirPriorWarning`; no item is
  ever dropped or zeroed, and the other items' samples do not change.
* **Position weights** (``position_weights``, our extension; the paper's "perception-driven
  rule" is only ever uniform): positions are drawn in proportion to a non-negative map
  (exponential races / Gumbel-top-k, still one batched draw), combined with the air prior;
  items with too few positive-weight positions are drawn with replacement in proportion to
  the weights. See :func:`sample_positions`.
* **Parity mode** (``parity="official"``) reproduces the published reference code: per-window
  ``S = (cov + C3) / (sqrt(var_x) sqrt(var_y) + C3)`` with ``C3 = 0.03**2 / 2``, zero padding
  of ``(k - 1) // 2`` on every side, and for the global term the mosaic clipped to ``[0, 1]``
  and multiplied by 255. It is for comparisons only.

Losses: ``global = 1 - GI_global``, ``local = 1 - GI_local`` and
``MS-Glance = lambda_G * global + lambda_L * local`` (plus an optional L1/L2 pixel term).

Complex input (a complex tensor, or a real tensor ``(B, C, H, W, 2)`` / ``(B, C, D, H, W, 2)``
holding real and imaginary parts) is reduced to its magnitude (``complex_mode="magnitude"``)
or split into real and imaginary channels (``complex_mode="channels"``).

Precision (option ``moments``, see :mod:`msglance.precision`): with ``"float64"`` (the
default ``"auto"`` on CPUs and on CUDA chips with full-rate float64), whatever the input
dtype, the window moments, the index and its gradient are computed in float64 (see
:func:`_centred_moments` for why: raw float32 moments ``E[x^2] - E[x]^2`` cancel on windows
much flatter than the image, such as MRI air, whose index becomes noise). With
``"float32"`` (``"auto"`` on other GPUs and Apple MPS) they are computed in float32 from
two-pass central moments (:mod:`msglance.central_moments`: the deviations from each
window's mean are accumulated over the window's offsets, so flat windows give exact
zeros), within ~1e-6 of float64. Results and gradients are returned in the input dtype
(float16/bfloat16 inputs: in float32 before that).
"""

from __future__ import annotations

import logging
import math
import operator
import warnings
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from msglance.central_moments import central_moments_adjoint, window_central_moments
from msglance.chunking import chunked_row_sums
from msglance.filters import box_filter, box_filter_adjoint
from msglance.precision import MomentsPrecision, check_moments, resolve_moments
from msglance.validation import (
    ComplexMode,
    check_nonnegative,
    check_pair,
    check_reduction,
    complex_to_real,
    is_real_imag_pair,
    nan_where_nonfinite,
    reduce,
    safe_sqrt,
)

__all__ = [
    "AirPriorWarning",
    "DEFAULT_EPS",
    "MAX_DRAWS_PER_PIXEL",
    "GlobalGlanceLoss",
    "LocalGlanceLoss",
    "MSGlanceLoss",
    "OFFICIAL_C3",
    "check_grid",
    "glance_index",
    "glance_index_map",
    "global_glance_index",
    "ms_glance_index",
    "sample_positions",
]

logger = logging.getLogger(__name__)

#: the five window moment maps ``(mu_x, mu_y, E[x^2], E[y^2], E[xy])`` (or their gradients)
Moments = tuple[Tensor, Tensor, Tensor, Tensor, Tensor]
Padding = Literal["valid", "zero"]
Parity = Literal["official"] | None

#: Default Glance Index stabiliser, in squared data units, for data on a ``[0, 1]`` scale.
DEFAULT_EPS: float = 1e-8

#: Most Global Glance draws per pixel allowed with ``replacement=True`` (beyond it the
#: mosaic is mostly repeats of the same pixels and the work grows without bound).
MAX_DRAWS_PER_PIXEL: int = 64

#: Stabiliser of the reference implementation's per-window statistic, ``0.03**2 / 2``.
OFFICIAL_C3: float = 0.03**2 / 2


class AirPriorWarning(UserWarning):
    """Some items had fewer valid (target > delta) positions than the Global Glance grid."""


# ----------------------------------------------------------------------------------------
# input preparation
# ----------------------------------------------------------------------------------------


def _prepare(x: Tensor, y: Tensor, complex_mode: ComplexMode) -> tuple[Tensor, Tensor, torch.dtype]:
    """Validate, reduce complex input to real, and up-cast half precision to float32.

    Returns the real ``(B, C, *spatial)`` pair and the dtype results are returned in.
    """
    check_pair(x, y, ndims=(4, 5, 6), allow_complex=True)
    out_dtype = x.dtype
    if x.is_complex() or is_real_imag_pair(x):
        x, y = complex_to_real(x, complex_mode), complex_to_real(y, complex_mode)
        out_dtype = x.dtype
    elif x.ndim == 6:
        raise ValueError(
            "6-D input must be (B, C, D, H, W, 2) real/imaginary pairs, "
            f"got shape {tuple(x.shape)}"
        )
    if x.dtype in (torch.float16, torch.bfloat16):
        x, y = x.float(), y.float()
    return x, y, out_dtype


def _check_common(window: int, stride: int, padding: str, eps: float, parity: Parity) -> None:
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive int, got {window!r}")
    if isinstance(stride, bool) or not isinstance(stride, int) or stride < 1:
        raise ValueError(f"stride must be a positive int, got {stride!r}")
    if padding not in ("valid", "zero"):
        raise ValueError(f"padding must be 'valid' or 'zero', got {padding!r}")
    if not check_nonnegative(eps, "eps") > 0:
        raise ValueError(f"eps must be > 0, got {eps}")
    if parity not in (None, "official"):
        raise ValueError(f"parity must be None or 'official', got {parity!r}")


# ----------------------------------------------------------------------------------------
# Local Glance
# ----------------------------------------------------------------------------------------


def _pad(x: Tensor, y: Tensor, window: int, padding: Padding, parity: Parity) -> tuple[Tensor, Tensor]:
    """Zero-pad by ``(window - 1) // 2`` when asked and check the window fits."""
    if padding == "zero" or parity == "official":
        p = (window - 1) // 2
        x = F.pad(x, (p, p) * (x.ndim - 2))
        y = F.pad(y, (p, p) * (y.ndim - 2))
    too_small = [n for n in x.shape[2:] if n < window]
    if too_small:
        raise ValueError(
            f"window {window} is larger than the (padded) spatial size {tuple(x.shape[2:])}"
        )
    return x, y


def _centred_moments(
    x: Tensor, y: Tensor, window: int, stride: int
) -> tuple[Tensor, Tensor, Moments]:
    """Float64, channel-centred ``x``, ``y`` and their window moments
    ``(mu_x, mu_y, E[x^2], E[y^2], E[xy])`` (valid placement; inputs already padded).

    Why float64: the window variances are differences ``E[x^2] - E[x]^2`` of nearly equal
    numbers wherever a window is much flatter than the image (air in MRI, saturated
    highlights, faint edges). In float32 their rounding residue (~1e-8 of ``E[x^2]``) is as
    large as ``eps`` and turns those windows' index into noise: errors up to 1.25 per window
    and 0.33 in the mean on MNI slices with a 7x7 window, against ~1e-8 in float64.
    Covariances are invariant to a common shift, so each channel's mean is removed first
    (after padding: the padded zeros shift with the data); that alone does not save float32
    (mean index still off by up to 9e-4 on an MNI slice). Where float64 is slow or missing,
    ``moments="float32"`` uses two-pass central moments instead (:class:`_CentralGlance`).
    """
    dims = tuple(range(2, x.ndim))
    b = x.shape[0]
    if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
        x, y = x.double(), y.double()
        x = x - x.mean(dim=dims, keepdim=True).detach()
        y = y - y.mean(dim=dims, keepdim=True).detach()
        firsts, seconds = torch.cat([x, y], dim=0), torch.cat([x * x, y * y, x * y], dim=0)
    else:  # no autograd: fused conversion and centring, products written in place
        firsts = torch.empty((2 * b, *x.shape[1:]), dtype=torch.float64, device=x.device)
        seconds = torch.empty((3 * b, *x.shape[1:]), dtype=torch.float64, device=x.device)
        torch.sub(x, x.mean(dim=dims, keepdim=True, dtype=torch.float64), out=firsts[:b])
        torch.sub(y, y.mean(dim=dims, keepdim=True, dtype=torch.float64), out=firsts[b:])
        x, y = firsts[:b], firsts[b:]
        torch.mul(x, x, out=seconds[:b])
        torch.mul(y, y, out=seconds[b:2 * b])
        torch.mul(x, y, out=seconds[2 * b:])
    mx, my = box_filter(firsts, window, stride).split(b)
    mxx, myy, mxy = box_filter(seconds, window, stride).split(b)
    return x, y, (mx, my, mxx, myy, mxy)


def _index_map(
    x: Tensor, y: Tensor, window: int, stride: int, eps: float, official: bool, float32: bool
) -> Tensor:
    """Valid-placement index map of two (already padded) tensors, with autograd: float64
    raw moments, or with ``float32`` the float32 two-pass central moments."""
    if float32:
        return _CentralGlance.apply(x, y, window, stride, eps, official, False)
    _, _, moments = _centred_moments(x, y, window, stride)
    return _GlanceFromMoments.apply(torch.cat(moments, dim=0), x.shape[0], eps, official)


def glance_index_map(
    x: Tensor,
    y: Tensor,
    window: int = 16,
    stride: int = 1,
    padding: Padding = "valid",
    eps: float = DEFAULT_EPS,
    parity: Parity = None,
    moments: MomentsPrecision = "auto",
) -> Tensor:
    """Per-window Glance Index of two real ``(B, C, *spatial)`` tensors (no validation
    besides ``moments``).

    Returns ``(B, C, *out)``, one value per window, computed in float64 (or, with
    ``moments="float32"`` or ``"auto"`` on a device without fast float64, from float32
    two-pass central moments, see :mod:`msglance.precision`) and returned in ``x``'s
    dtype. With ``parity="official"`` the value is the reference statistic
    ``(cov + C3) / (sqrt(var_x) sqrt(var_y) + C3)``.

    Examples:
        >>> import torch
        >>> y = torch.rand(1, 1, 16, 16)
        >>> x = (y + 0.1 * torch.randn(1, 1, 16, 16)).clamp(0, 1)
        >>> m64 = glance_index_map(x, y, 7, moments="float64")
        >>> m32 = glance_index_map(x, y, 7, moments="float32")
        >>> m32.shape, bool((m32 - m64).abs().max() < 1e-5)
        (torch.Size([1, 1, 10, 10]), True)
    """
    float32 = resolve_moments(moments, x.device) == "float32"
    dtype = x.dtype
    x, y = _pad(x, y, window, padding, parity)
    return _index_map(x, y, window, stride, eps, parity == "official", float32).to(dtype)


def _channel_means(
    x: Tensor, y: Tensor, window: int, stride: int, padding: Padding, eps: float, parity: Parity,
    moments: MomentsPrecision = "auto",
) -> Tensor:
    """``(B, C)`` mean of :func:`glance_index_map` over the windows, in cache-sized chunks.

    Each ``(item, channel)`` plane is a row of :func:`~msglance.chunking.chunked_row_sums`
    (centred by its own mean, which the index ignores up to rounding), so no full-size
    moment map or temporary is ever built on the CPU.
    """
    x, y = _pad(x, y, window, padding, parity)
    b, c, *spatial = x.shape
    official = parity == "official"
    float32 = resolve_moments(moments, x.device) == "float32"

    def sums(xs: Tensor, ys: Tensor) -> Tensor:
        if float32:
            return _CentralGlance.apply(xs, ys, window, stride, eps, official, True)
        return _GlanceSums.apply(xs, ys, window, stride, eps, official)

    rows = chunked_row_sums(
        sums, x.reshape(b * c, 1, *spatial), y.reshape(b * c, 1, *spatial), window, stride
    )
    count = math.prod([(n - window) // stride + 1 for n in spatial])  # a list: traceable
    return (rows / count).view(b, c).to(x.dtype)


class _GlanceFromMoments(torch.autograd.Function):
    """Per-window index from the stacked window moments ``(mu_x, mu_y, E[x^2], E[y^2], E[xy])``.

    Fused so that autograd saves only the moments (not a dozen elementwise intermediates);
    the backward recomputes the cheap elementwise terms. With ``v_x = E[x^2] - mu_x^2``
    (clamped at 0), ``c = E[xy] - mu_x mu_y`` and ``r = ((v_x + eps)(v_y + eps))^{-1/2}``:

    * ours: ``GI = (c + eps) r`` (its clamps, of ``v`` at 0 and of ``GI`` to ``[-1, 1]``, and
      the zeroing of ``c`` where both variances round below 0 only absorb rounding, and are
      not differentiated);
      ``dGI/dc = r``, ``dGI/dv_x = -GI / (2 (v_x + eps))``;
    * official: ``S = (c + C3) / (s_x s_y + C3)``, ``s = sqrt(v)``;
      ``dS/dc = 1 / D``, ``dS/dv_x = -S s_y / (2 s_x D)`` (0 where ``v_x = 0``);

    then ``dmu_x = -mu_y dc - 2 mu_x dv_x``, ``dE[x^2] = dv_x``, ``dE[xy] = dc`` (and
    symmetrically for ``y``).
    """

    @staticmethod
    def forward(ctx, moments: Tensor, b: int, eps: float, official: bool) -> Tensor:
        ctx.b, ctx.eps, ctx.official = b, eps, official
        ctx.save_for_backward(moments)
        return _index_from_moments(moments.split(b, dim=0), eps, official)

    @staticmethod
    def backward(ctx, grad: Tensor):
        (moments,) = ctx.saved_tensors
        grads = _moment_grads(moments.split(ctx.b, dim=0), ctx.eps, ctx.official, grad)
        return torch.cat(grads, dim=0), None, None, None


def _terms(moments: Moments) -> Moments:
    """``mu_x, mu_y``, unclamped variances and the covariance from the window moments."""
    mx, my, mxx, myy, mxy = moments
    return (mx, my, torch.addcmul(mxx, mx, mx, value=-1.0), torch.addcmul(myy, my, my, value=-1.0),
            torch.addcmul(mxy, mx, my, value=-1.0))


def _index_from_moments(moments: Moments, eps: float, official: bool) -> Tensor:
    """Per-window index (see :class:`_GlanceFromMoments`)."""
    _, _, raw_x, raw_y, cov = _terms(moments)
    return _index_from_terms(raw_x, raw_y, cov, eps, official)


def _index_from_terms(raw_x: Tensor, raw_y: Tensor, cov: Tensor, eps: float, official: bool) -> Tensor:
    """Per-window index from the unclamped variances and the covariance (``cov`` is
    overwritten)."""
    var_x, var_y = raw_x.clamp_min(0.0), raw_y.clamp_min(0.0)
    if official:
        return (cov + OFFICIAL_C3) / (safe_sqrt(var_x) * safe_sqrt(var_y) + OFFICIAL_C3)
    # two windows whose variances both round below 0 are flat: their covariance is 0
    cov = cov.masked_fill_((raw_x < 0) & (raw_y < 0), 0.0)
    # a division by sqrt(a * a) (not a product with rsqrt) keeps GI(u, u) exactly 1
    return cov.add_(eps).div_(((var_x + eps) * (var_y + eps)).sqrt_()).clamp_(-1.0, 1.0)


def _moment_grads(moments: Moments, eps: float, official: bool, grad: Tensor) -> Moments:
    """Gradients w.r.t. ``(mu_x, mu_y, E[x^2], E[y^2], E[xy])`` of ``sum(grad * index)``."""
    mx, my, raw_x, raw_y, cov = _terms(moments)
    d_vx, d_vy, d_cov = _term_grads(raw_x, raw_y, cov, eps, official, grad)
    d_mx = torch.addcmul(-my * d_cov, mx, d_vx, value=-2.0)
    d_my = torch.addcmul(-mx * d_cov, my, d_vy, value=-2.0)
    return d_mx, d_my, d_vx, d_vy, d_cov


def _term_grads(
    raw_x: Tensor, raw_y: Tensor, cov: Tensor, eps: float, official: bool, grad: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients w.r.t. ``(var_x, var_y, cov)`` of ``sum(grad * index)`` (``cov`` is
    overwritten)."""
    var_x, var_y = raw_x.clamp_min(0.0), raw_y.clamp_min(0.0)
    if official:
        sx, sy = safe_sqrt(var_x), safe_sqrt(var_y)
        denom = sx * sy + OFFICIAL_C3
        s = (cov + OFFICIAL_C3) / denom
        d_cov = grad / denom
        pos_x, pos_y = var_x > 0, var_y > 0
        d_vx = torch.where(pos_x, -grad * s * sy / (2 * denom * torch.where(pos_x, sx, 1.0)), 0.0)
        d_vy = torch.where(pos_y, -grad * s * sx / (2 * denom * torch.where(pos_y, sy, 1.0)), 0.0)
    else:
        vx_eps, vy_eps = var_x.add_(eps), var_y.add_(eps)  # var_* are fresh: update in place
        r = torch.rsqrt(vx_eps * vy_eps)
        # GI as in the forward. Its clamps (variances at 0, GI to [-1, 1]) only absorb
        # rounding, so the unclamped expression is differentiated: masking the variance
        # gradient of a flat window but not its covariance gradient would leave a gradient
        # at x = y, where GI = 1 is the maximum
        gi = cov.masked_fill_((raw_x < 0) & (raw_y < 0), 0.0).add_(eps).mul_(r)
        d_cov = grad * r
        half = (grad * gi).mul_(-0.5)
        d_vx = half / vx_eps
        d_vy = half.div_(vy_eps)
    return d_vx, d_vy, d_cov


class _GlanceSums(torch.autograd.Function):
    r"""Per-row sums of the index map of one (padded) piece, float64, analytic backward.

    Forward: :func:`_centred_moments` and :func:`_index_from_moments`; saves the input
    pieces (views) and the float64 moments, and re-centres the pieces in the backward. Backward: :func:`_moment_grads` gives ``G_mu, G_xx, G_xy`` (and
    the ``y`` ones) on the windows; the box filter's adjoint ``F^T`` carries them to pixels:

    .. math:: \frac{\partial}{\partial x} = F^T G_{\mu_x} + 2 x\, F^T G_{xx} + y\, F^T G_{xy}

    (centred ``x, y``; the channel means are constants, the index being shift invariant).
    Only the maps an input needing a gradient uses are filtered: three of five for a loss.
    """

    @staticmethod
    def forward(ctx, x, y, window, stride, eps, official):
        _, _, moments = _centred_moments(x, y, window, stride)
        ctx.save_for_backward(x, y, *moments)  # the pieces are views: no float64 copies kept
        ctx.settings = (window, stride, eps, official, x.dtype, tuple(x.shape[2:]))
        return _index_from_moments(moments, eps, official).flatten(1).sum(dim=1)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, y, *moments = ctx.saved_tensors
        window, stride, eps, official, dtype, spatial = ctx.settings
        dims = tuple(range(2, x.ndim))  # centred as in the forward, promoted to float64
        xd = x - x.mean(dim=dims, keepdim=True, dtype=torch.float64)
        yd = y - y.mean(dim=dims, keepdim=True, dtype=torch.float64)
        b = xd.shape[0]
        g = grad.view(b, *([1] * (xd.ndim - 1)))
        d_mx, d_my, d_xx, d_yy, d_xy = _moment_grads(tuple(moments), eps, official, g)
        need_x, need_y = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        maps = ([d_mx, d_xx] if need_x else []) + ([d_my, d_yy] if need_y else []) + [d_xy]
        back = box_filter_adjoint(torch.cat(maps, dim=0), window, stride, spatial).split(b, dim=0)
        grad_x = grad_y = None
        if need_x:
            grad_x = torch.addcmul(back[0], xd, back[1], value=2.0).addcmul_(yd, back[-1]).to(dtype)
        if need_y:
            i = 2 if need_x else 0
            grad_y = torch.addcmul(back[i], yd, back[i + 1], value=2.0).addcmul_(xd, back[-1]).to(dtype)
        return grad_x, grad_y, None, None, None, None


class _CentralGlance(torch.autograd.Function):
    r"""Index map (or its per-row sums, ``sums=True``) from float32 two-pass central
    moments (:func:`msglance.central_moments.window_central_moments`), analytic backward.

    Forward: ``var_x, var_y, cov`` without the cancellation of ``E[x^2] - E[x]^2``, then
    :func:`_index_from_terms`, all in float32 (inputs of another dtype are converted and
    their gradients converted back). Backward: :func:`_term_grads` gives ``G_vx, G_vy,
    G_c`` on the windows and :func:`~msglance.central_moments.central_moments_adjoint`
    carries them to pixels through the same compensated deviations, stage by stage, i.e.
    ``dL/dx_q = (1/n) sum_{p: q in W(p)} [2 G_vx (x_q - mu_x(p)) + G_c (y_q - mu_y(p))]``.
    The moments are kept on ``ctx`` (they are detached tensors, freed with the graph).
    """

    @staticmethod
    def forward(ctx, x, y, window, stride, eps, official, sums):
        moments = window_central_moments(x.float(), y.float(), window, stride)
        b = x.shape[0]
        raw_x, raw_y, cov = moments.second.split(b)
        ctx.moments = moments  # the inputs and per-stage means: plain tensors, no graph
        ctx.settings = (window, stride, eps, official, sums, x.dtype, y.dtype)
        gi = _index_from_terms(raw_x, raw_y, cov.clone(), eps, official)
        return gi.flatten(1).sum(dim=1) if sums else gi

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        moments = ctx.moments
        window, stride, eps, official, sums, dtype_x, dtype_y = ctx.settings
        raw_x, raw_y, cov = moments.second.split(moments.second.shape[0] // 3)
        g = grad.float()
        if sums:
            g = g.view(-1, *([1] * (raw_x.ndim - 1)))
        d_vx, d_vy, d_cov = _term_grads(raw_x, raw_y, cov.clone(), eps, official, g)
        shape = raw_x.shape
        grads = (None, None, d_vx.expand(shape), d_vy.expand(shape), d_cov.expand(shape))
        need = (bool(ctx.needs_input_grad[0]), bool(ctx.needs_input_grad[1]))
        gx, gy = central_moments_adjoint(moments, grads, window, stride, need)
        return (None if gx is None else gx.to(dtype_x), None if gy is None else gy.to(dtype_y),
                None, None, None, None, None)


def glance_index(
    x: Tensor,
    y: Tensor,
    window: int = 16,
    stride: int = 1,
    padding: Padding = "valid",
    eps: float = DEFAULT_EPS,
    reduction: str = "mean",
    complex_mode: ComplexMode = "magnitude",
    parity: Parity = None,
    moments: MomentsPrecision = "auto",
) -> Tensor:
    r"""Local Glance Index: the mean Glance Index over all ``window``-sized windows.

    .. math::

        \mathrm{GI}_{local}(x, y) = \frac{1}{|P| C} \sum_{c} \sum_{p \in P}
            \mathrm{GI}\big(x_c[W_k(p)],\, y_c[W_k(p)]\big)

    Args:
        x: prediction ``(B, C, H, W)`` or ``(B, C, D, H, W)`` (complex allowed, see module doc).
        y: target, same shape and dtype.
        window: window side ``k`` (default 16).
        stride: step between windows (default 1).
        padding: ``"valid"`` (default, windows inside the image) or ``"zero"``
            (``(k - 1) // 2`` zeros on every side, as the reference code).
        eps: stabiliser in numerator and denominator, in squared data units (default
            1e-8, for data on a [0, 1] scale; ``1e-8 * L**2`` for data on [0, L]); windows
            with variances far below it count as flat (see the module doc).
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per item).
        complex_mode: ``"magnitude"`` or ``"channels"`` for complex input.
        parity: ``None`` (ours) or ``"official"`` (reference numbers; zero padding, C3).
        moments: precision of the window moments, index and gradient: ``"float64"``
            (raw moments, exact to ~1e-16), ``"float32"`` (two-pass central moments in
            float32, within ~1e-6 of float64 flat windows included, for GPUs with slow or
            no float64) or ``"auto"`` (default: float64 on CPUs and on CUDA chips with
            full-rate float64, float32 elsewhere; see :mod:`msglance.precision`).

    Returns:
        The index in ``[-1, 1]`` (exactly 1 for identical inputs), reduced as asked, in the
        input's (real) dtype.

    Examples:
        >>> import torch
        >>> y = torch.rand(2, 1, 32, 32)
        >>> x = (y + 0.05 * torch.randn(2, 1, 32, 32)).clamp(0, 1)
        >>> gi64 = glance_index(x, y, 7, moments="float64")
        >>> gi32 = glance_index(x, y, 7, moments="float32")
        >>> bool(abs(gi32 - gi64) < 1e-6), float(glance_index(y, y, 7, moments="float32"))
        (True, 1.0)
    """
    _check_common(window, stride, padding, eps, parity)
    check_reduction(reduction)
    check_moments(moments)
    xr, yr, out_dtype = _prepare(x, y, complex_mode)
    values = _channel_means(xr, yr, window, stride, padding, eps, parity, moments).mean(dim=1)
    return reduce(values, reduction).to(out_dtype)


# ----------------------------------------------------------------------------------------
# Global Glance
# ----------------------------------------------------------------------------------------


def _valid_positions(target: Tensor, delta: float | None) -> Tensor | None:
    """``(B, N)`` bool: positions whose target magnitude (max over channels) exceeds delta."""
    if delta is None:
        return None
    return target.detach().abs().flatten(2).amax(dim=1) > delta


def _weights_matrix(position_weights: Tensor, target: Tensor) -> Tensor:
    """Validate ``position_weights`` against ``target`` and return them as ``(B, N)`` float64.

    Accepted shapes (``S`` = the target's spatial shape): ``(B, 1, *S)``, ``(1, 1, *S)``,
    ``(B, *S)``, ``(1, *S)`` or ``S`` (one map shared by all items).
    """
    if not isinstance(position_weights, Tensor):
        raise TypeError(f"position_weights must be a tensor, got {type(position_weights).__name__}")
    if position_weights.is_complex():
        raise TypeError("position_weights must be real, got a complex tensor")
    b, spatial = target.shape[0], tuple(target.shape[2:])
    w = position_weights.detach()
    if w.ndim == len(spatial) + 2 and w.shape[1] == 1:
        w = w[:, 0]
    elif w.ndim == len(spatial):
        w = w.unsqueeze(0)
    if w.ndim != len(spatial) + 1 or tuple(w.shape[1:]) != spatial or w.shape[0] not in (1, b):
        raise ValueError(
            f"position_weights of shape {tuple(position_weights.shape)} do not fit a target of "
            f"shape {tuple(target.shape)}: expected (B, 1, *S), (B, *S) or S with B in (1, {b}) "
            f"and S = {spatial}"
        )
    w = w.to(device=target.device, dtype=torch.float64).expand(b, *spatial).reshape(b, -1)
    bad, empty = (~torch.isfinite(w) | (w < 0)).any(), (w.sum(dim=1) <= 0)
    flags = torch.cat([bad.view(1), empty]).tolist()  # one device sync for both checks
    if flags[0]:
        raise ValueError("position_weights must be finite and >= 0 (found negative, NaN or inf)")
    if any(flags[1:]):
        items = [i for i, e in enumerate(flags[1:]) if e]
        raise ValueError(f"position_weights are all zero for item(s) {items}")
    return w


def sample_positions(
    target: Tensor,
    count: int,
    delta: float | None = None,
    generator: torch.Generator | None = None,
    replacement: bool = False,
    position_weights: Tensor | None = None,
) -> Tensor:
    r"""Draw ``count`` flat spatial positions per item, in random order: uniformly, or in
    proportion to ``position_weights``.

    Weighted draws without replacement use exponential races (Gumbel-top-k): with the same
    uniforms ``u_i`` as the uniform sampler, position ``i`` gets the key
    ``log(-log(1 - u_i)) - log(w_i)`` (``+inf`` where ``w_i = 0``), and the ``count``
    smallest keys are taken in increasing order. ``-log(1 - u_i) / w_i`` is exponential with
    rate ``w_i``, so the first pick is position ``i`` with probability ``w_i / sum_j w_j`` and
    each next pick is the same rule on the positions left (sequential sampling without
    replacement, Plackett-Luce). The key is increasing in ``u_i`` whenever the weights are
    equal, so uniform weights give *exactly* the unweighted draw.

    Args:
        target: ``(B, C, *spatial)`` real tensor (only its shape, device and, with ``delta``,
            its values are used).
        count: positions per item.
        delta: air prior: only positions whose target magnitude (max over channels) is
            ``> delta`` are eligible. Items with fewer eligible positions than ``count`` are
            drawn with replacement from them (from all positions if there are none), with an
            :class:`AirPriorWarning`.
        generator: ``torch.Generator`` on the target's device, for reproducible draws.
        replacement: draw every item with replacement.
        position_weights: optional non-negative, finite map of sampling weights, shape
            ``(B, 1, *spatial)``, ``(B, *spatial)`` or ``spatial`` (``B`` may be 1: one map
            for all items), e.g. a patch ranker's scores upsampled to pixels. Only positions
            with ``w > 0`` (and, with ``delta``, target ``> delta``; for an item where the
            air prior leaves no positive weight, it is dropped, with a warning) are
            eligible. Items with fewer eligible positions than ``count`` (and every item
            with ``replacement=True``) are drawn with replacement, position ``i`` with
            probability ``w_i / sum_j w_j`` over the eligible ones, with an
            :class:`AirPriorWarning` (none for ``replacement``). The weights are detached
            (no gradient flows into them).

    Returns:
        ``(B, count)`` int64 indices into the flattened spatial dimensions.

    Raises:
        ValueError: ``count < 1``, too many positions without replacement, or weights of
            the wrong shape, negative, NaN/inf, or all zero for an item.

    The random numbers consumed are the same whatever the data and weights (one ``(B, N)``,
    one ``(B, count)`` draw), so one item's deficit never changes another item's sample.

    Examples:
        >>> import torch
        >>> y = torch.rand(2, 1, 8, 8)
        >>> w = torch.zeros(8, 8); w[:, :4] = 1.0  # only the left half may be drawn
        >>> g = torch.Generator().manual_seed(0)
        >>> idx = sample_positions(y, 20, generator=g, position_weights=w)
        >>> idx.shape, bool((idx % 8 < 4).all()), idx[0].unique().numel()
        (torch.Size([2, 20]), True, 20)
        >>> same = sample_positions(y, 20, generator=torch.Generator().manual_seed(1),
        ...                         position_weights=torch.full((8, 8), 3.0))
        >>> bool((same == sample_positions(y, 20, generator=torch.Generator().manual_seed(1))).all())
        True
    """
    b = target.shape[0]
    n = target[0, 0].numel()
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    valid = _valid_positions(target, delta)
    weights = None if position_weights is None else _weights_matrix(position_weights, target)
    if valid is None and weights is None and count > n and not replacement:
        raise ValueError(
            f"cannot draw {count} positions without replacement from {n} pixels per item "
            f"(spatial shape {tuple(target.shape[2:])}); use a smaller grid or replacement=True"
        )
    dev = target.device
    keys = torch.rand(b, n, generator=generator, device=dev)
    uniform = torch.rand(b, count, generator=generator, device=dev)
    if weights is not None:
        return _weighted_positions(keys, uniform, weights, valid, count, delta, replacement)
    if valid is not None:
        keys = keys.masked_fill(~valid, 2.0)  # invalid positions sort last
    if count <= n:
        index = keys.topk(count, dim=1, largest=False, sorted=True).indices
    else:
        index = torch.zeros(b, count, dtype=torch.long, device=dev)
    if replacement:
        deficient = torch.ones(b, dtype=torch.bool, device=dev)
    elif valid is not None:
        deficient = valid.sum(dim=1) < count
    else:
        return index
    if not bool(deficient.any()):
        return index
    rows = deficient.nonzero().squeeze(1)
    eligible = (
        valid[rows] if valid is not None else torch.ones(rows.numel(), n, dtype=torch.bool, device=dev)
    )
    none_valid = ~eligible.any(dim=1, keepdim=True)
    eligible = eligible | none_valid
    n_eligible = eligible.sum(dim=1, keepdim=True)
    if not replacement:
        warnings.warn(
            f"Global Glance: some items have fewer positions with target > delta={delta} than "
            f"the {count} grid positions; those items are sampled with replacement "
            "(from all positions where none qualify)",
            AirPriorWarning,
            stacklevel=3,
        )
        logger.debug("air prior: %d of %d items sampled with replacement", rows.numel(), b)
    # eligible positions first (stable), then pick uniformly among the first n_eligible
    order = torch.argsort((~eligible).to(torch.uint8), dim=1, stable=True)
    pick = (uniform[rows] * n_eligible).long().clamp_max(n_eligible - 1)
    index = index.index_copy(0, rows, order.gather(1, pick))
    return index


def _weighted_positions(
    keys: Tensor,
    uniform: Tensor,
    weights: Tensor,
    valid: Tensor | None,
    count: int,
    delta: float | None,
    replacement: bool,
) -> Tensor:
    """The weighted branch of :func:`sample_positions` (keys, uniforms already drawn)."""
    b, n = weights.shape
    positive = weights > 0
    eligible = positive if valid is None else valid & positive
    lost = ~eligible.any(dim=1)  # the air prior leaves no positive weight: use the weights
    eligible = eligible | (positive & lost.unsqueeze(1))
    log_w = torch.where(eligible, weights, 1.0).log()
    race = torch.log(-torch.log1p(-keys.double())) - log_w  # log of Exp(rate w) variables
    race = race.masked_fill(~eligible, math.inf)
    if count <= n:
        index = race.topk(count, dim=1, largest=False, sorted=True).indices
    else:
        index = torch.zeros(b, count, dtype=torch.long, device=keys.device)
    deficient = eligible.sum(dim=1) < count
    any_deficient, any_lost = torch.stack([deficient.any(), lost.any()]).tolist()
    if not replacement and (any_deficient or any_lost):
        prior = "" if delta is None else f" and target > delta={delta}"
        warnings.warn(
            f"Global Glance: some items have fewer than the {count} grid positions with "
            f"positive position_weights{prior}; they are sampled with replacement in "
            "proportion to the weights (the air prior is dropped where it leaves no "
            "positive weight)",
            AirPriorWarning,
            stacklevel=4,
        )
        logger.debug("weighted sampling: %d of %d items deficient", int(deficient.sum()), b)
    if replacement:
        deficient = torch.ones_like(deficient)
    elif not any_deficient:
        return index
    rows = deficient.nonzero().squeeze(1)
    # inverse CDF: the first position whose cumulative weight exceeds u * total
    cdf = torch.where(eligible[rows], weights[rows], 0.0).cumsum(dim=1)
    pick = torch.searchsorted(cdf, uniform[rows].double() * cdf[:, -1:], right=True)
    return index.index_copy(0, rows, pick.clamp_max(n - 1))


@torch.compiler.disable
def _draw_mosaic(
    target: Tensor,
    count: int,
    delta: float | None,
    generator: torch.Generator | None,
    replacement: bool,
    position_weights: Tensor | None,
    repeats: int,
) -> Tensor:
    """Mosaic positions (:func:`sample_positions`, then :func:`_mosaic_index`), run eagerly
    under ``torch.compile``: draws from a ``torch.Generator`` cannot be traced, and the
    draw is not differentiated, so one deliberate graph break here replaces several."""
    index = sample_positions(target, count, delta, generator, replacement, position_weights)
    return _mosaic_index(index, repeats, generator)


def _mosaic_index(
    index: Tensor, repeats: int, generator: torch.Generator | None
) -> Tensor:
    """``(B, R*k)``: the drawn order first, then ``R - 1`` random permutations of it."""
    if repeats == 1:
        return index
    b, k = index.shape
    perms = torch.rand(b, repeats - 1, k, generator=generator, device=index.device).argsort(dim=-1)
    return torch.cat([index, index.gather(1, perms.flatten(1))], dim=1)


def check_grid(grid: int | tuple[int, int], repeats: int, delta: float | None = None) -> tuple[int, int]:
    """Validate the Global Glance sampling settings; returns the grid as ``(n, m)``.

    ``grid`` is two positive ints (or one, for a square grid); ``repeats`` a positive int;
    ``delta`` ``None`` or a finite number ``>= 0``. Integers of any kind (NumPy included)
    are accepted, fractional or boolean values are not.

    Examples:
        >>> check_grid(32, 10), check_grid((8, 12), 1)
        ((32, 32), (8, 12))
    """
    pair: Any = (grid, grid) if _is_int(grid) else grid  # any object: validated below
    try:
        ok = len(pair) == 2 and all(_is_int(v) and v >= 1 for v in pair)
    except TypeError:
        ok = False
    if not ok:
        raise ValueError(f"grid must be a positive int or two positive ints (n, m), got {grid!r}")
    if not (_is_int(repeats) and repeats >= 1):
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    if delta is not None:
        check_nonnegative(delta, "delta")
    return int(pair[0]), int(pair[1])


def _is_int(v: Any) -> bool:
    if isinstance(v, bool):
        return False
    try:
        operator.index(v)
    except TypeError:
        return False
    return True


def global_glance_index(
    x: Tensor,
    y: Tensor,
    grid: tuple[int, int] = (96, 96),
    window: int = 16,
    stride: int = 1,
    repeats: int = 10,
    delta: float | None = None,
    generator: torch.Generator | None = None,
    replacement: bool = False,
    padding: Padding = "valid",
    eps: float = DEFAULT_EPS,
    reduction: str = "mean",
    complex_mode: ComplexMode = "magnitude",
    parity: Parity = None,
    position_weights: Tensor | None = None,
    moments: MomentsPrecision = "auto",
) -> Tensor:
    r"""Global Glance Index: Local Glance of mosaics of randomly drawn pixels.

    Per item, ``n*m`` positions are drawn (uniformly, or in proportion to
    ``position_weights``; without replacement, shared by ``x``, ``y`` and all channels;
    see :func:`sample_positions`), laid out row-major as an ``n x m`` grid, re-ordered ``R`` times
    (identity first, then random permutations), concatenated and reshaped row-major to an
    ``n x (m R)`` mosaic ``M``; then

    .. math:: \mathrm{GI}_{global}(x, y) = \mathrm{GI}_{local}(M_x, M_y).

    Args:
        x, y: prediction and target, ``(B, C, *spatial)`` with any number of spatial dims
            (2 or 3), complex allowed.
        grid: ``(n, m)`` grid of drawn positions (default 96 x 96).
        window, stride, padding, eps: the Local Glance settings used on the mosaic.
        repeats: ``R``, orderings concatenated into the mosaic (default 10).
        delta: air prior threshold on the target magnitude (e.g. 0.01 for MRI), or ``None``.
        generator: ``torch.Generator`` on the inputs' device for reproducible draws.
        replacement: draw positions with replacement (allows grids larger than the image).
        reduction: ``"mean"``, ``"sum"`` or ``"none"``.
        complex_mode: ``"magnitude"`` or ``"channels"``.
        parity: ``"official"`` reproduces the reference (mosaic clipped to [0, 1] x 255).
        position_weights: non-negative sampling weights ``(B, 1, *spatial)``,
            ``(B, *spatial)`` or ``spatial`` (see :func:`sample_positions`): position ``i``
            is drawn first with probability ``w_i / sum_j w_j``; ``None`` = uniform.
        moments: ``"auto"``, ``"float64"`` or ``"float32"``, the precision of the mosaics'
            window moments (see :func:`glance_index`).

    Returns:
        The index in ``[-1, 1]``, reduced as asked.

    Examples:
        >>> import torch
        >>> y = torch.rand(1, 1, 64, 64)
        >>> w = torch.ones(64, 64); w[:32] = 4.0  # the top half drawn 4x as often
        >>> g = torch.Generator().manual_seed(0)
        >>> gi = global_glance_index(y, y, grid=(32, 32), repeats=2, generator=g,
        ...                          position_weights=w)
        >>> round(float(gi), 4)
        1.0
    """
    _check_common(window, stride, padding, eps, parity)
    check_reduction(reduction)
    check_moments(moments)
    n, m = check_grid(grid, repeats, delta)
    xr, yr, out_dtype = _prepare(x, y, complex_mode)
    pixels = yr[0, 0].numel()
    if replacement and n * m > MAX_DRAWS_PER_PIXEL * pixels:
        raise ValueError(
            f"grid {grid!r} draws {n * m} positions per item from {pixels} pixels "
            f"(spatial shape {tuple(yr.shape[2:])}), {n * m / pixels:.0f} per pixel, into a "
            f"{n}x{m * repeats} mosaic per channel; at most {MAX_DRAWS_PER_PIXEL} draws per "
            "pixel are allowed: use a smaller grid"
        )
    mos_h, mos_w = n, m * repeats
    pad = 2 * ((window - 1) // 2) if (padding == "zero" or parity == "official") else 0
    if min(mos_h, mos_w) + pad < window:
        raise ValueError(
            f"window {window} is larger than the {mos_h}x{mos_w} mosaic of grid {grid} "
            f"and repeats {repeats}"
        )
    index = _draw_mosaic(yr, n * m, delta, generator, replacement, position_weights, repeats)
    b, c = xr.shape[:2]
    gather = index.unsqueeze(1).expand(b, c, index.shape[1])
    mx = xr.flatten(2).gather(2, gather).view(b, c, mos_h, mos_w)
    my = yr.flatten(2).gather(2, gather).view(b, c, mos_h, mos_w)
    if parity == "official":
        mx = mx.clamp(0.0, 1.0) * 255.0
        my = my.clamp(0.0, 1.0) * 255.0
    values = _channel_means(mx, my, window, stride, padding, eps, parity, moments).mean(dim=1)
    # the draw may miss a bad pixel: an item holding NaN or inf scores NaN all the same
    return reduce(nan_where_nonfinite(values, xr), reduction).to(out_dtype)


def ms_glance_index(
    x: Tensor,
    y: Tensor,
    global_weight: float = 0.5,
    local_weight: float = 0.5,
    reduction: str = "mean",
    **kwargs,
) -> Tensor:
    """Weighted mean of the Global and Local Glance indices, a similarity in ``[-1, 1]``.

    ``(w_G GI_global + w_L GI_local) / (w_G + w_L)``. Keyword arguments go to both indices
    where they apply (``window``, ``stride``, ``padding``, ``eps``, ``complex_mode``,
    ``parity``, ``moments``) or to the global one only (``grid``, ``repeats``, ``delta``, ``generator``,
    ``replacement``, ``position_weights``).
    """
    global_weight = check_nonnegative(global_weight, "global_weight")
    local_weight = check_nonnegative(local_weight, "local_weight")
    if global_weight + local_weight <= 0:
        raise ValueError(
            f"weights must be >= 0 with a positive sum, got {global_weight}, {local_weight}"
        )
    local_keys = {"window", "stride", "padding", "eps", "complex_mode", "parity", "moments"}
    local_kwargs = {k: v for k, v in kwargs.items() if k in local_keys}
    g = global_glance_index(x, y, reduction="none", **kwargs)
    l_ = glance_index(x, y, reduction="none", **local_kwargs)
    return reduce((global_weight * g + local_weight * l_) / (global_weight + local_weight), reduction)


# ----------------------------------------------------------------------------------------
# losses
# ----------------------------------------------------------------------------------------


class _SeededModule(nn.Module):
    """Holds a per-device generator when a seed is given: seeded on the CPU at construction
    (so a compiled first call on the CPU creates no ``torch.Generator``, which would break
    the graph), re-created and re-seeded on first use on another device."""

    def __init__(self, seed: int | None, generator: torch.Generator | None) -> None:
        super().__init__()
        if seed is not None and generator is not None:
            raise ValueError("give either seed or generator, not both")
        self.seed = seed
        self._generator = generator
        if seed is not None:
            self._generator = torch.Generator()
            self._generator.manual_seed(seed)

    def generator_for(self, device: torch.device) -> torch.Generator | None:
        if self.seed is None:
            return self._generator
        if self._generator is None or self._generator.device != device:
            self._generator = torch.Generator(device=device)
            self._generator.manual_seed(self.seed)
        return self._generator


class LocalGlanceLoss(nn.Module):
    """``1 - GI_local(x, y)`` per item, reduced (see :func:`glance_index`; ``moments``
    picks the precision of the window moments, see :mod:`msglance.precision`)."""

    def __init__(
        self,
        window: int = 16,
        stride: int = 1,
        padding: Padding = "valid",
        eps: float = DEFAULT_EPS,
        reduction: str = "mean",
        complex_mode: ComplexMode = "magnitude",
        parity: Parity = None,
        moments: MomentsPrecision = "auto",
    ) -> None:
        super().__init__()
        _check_common(window, stride, padding, eps, parity)
        check_reduction(reduction)
        self.window, self.stride, self.padding, self.eps = window, stride, padding, eps
        self.reduction, self.complex_mode, self.parity = reduction, complex_mode, parity
        self.moments = check_moments(moments)

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        gi = glance_index(
            x, y, self.window, self.stride, self.padding, self.eps, "none",
            self.complex_mode, self.parity, self.moments,
        )
        return reduce(1.0 - gi, self.reduction)

    def extra_repr(self) -> str:
        return f"window={self.window}, stride={self.stride}, padding={self.padding!r}"


class GlobalGlanceLoss(_SeededModule):
    """``1 - GI_global(x, y)`` per item, reduced (see :func:`global_glance_index`).

    Pass ``seed`` for a reproducible stream of draws (a fresh sample every call, the same
    sequence every run) or an explicit ``generator``. ``position_weights`` (a fixed map, see
    :func:`sample_positions`) weights the draws; a map given to :meth:`forward` overrides it
    for that call (e.g. per-batch ranker scores). ``moments`` picks the precision of the
    window moments (see :mod:`msglance.precision`).

    Examples:
        >>> import torch
        >>> loss = GlobalGlanceLoss(grid=(16, 16), repeats=2, seed=0,
        ...                         position_weights=torch.rand(32, 32))
        >>> y = torch.rand(2, 1, 32, 32)
        >>> float(loss(y, y)) < 1e-6
        True
    """

    def __init__(
        self,
        grid: tuple[int, int] = (96, 96),
        window: int = 16,
        stride: int = 1,
        repeats: int = 10,
        delta: float | None = None,
        replacement: bool = False,
        padding: Padding = "valid",
        eps: float = DEFAULT_EPS,
        reduction: str = "mean",
        complex_mode: ComplexMode = "magnitude",
        parity: Parity = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        position_weights: Tensor | None = None,
        moments: MomentsPrecision = "auto",
    ) -> None:
        super().__init__(seed, generator)
        _check_common(window, stride, padding, eps, parity)
        check_reduction(reduction)
        self.moments = check_moments(moments)
        grid = check_grid(grid, repeats, delta)
        self.grid, self.window, self.stride, self.repeats = grid, window, stride, repeats
        self.delta, self.replacement, self.padding, self.eps = delta, replacement, padding, eps
        self.reduction, self.complex_mode, self.parity = reduction, complex_mode, parity
        if position_weights is not None and not isinstance(position_weights, Tensor):
            raise TypeError(
                f"position_weights must be a tensor, got {type(position_weights).__name__}"
            )
        self.position_weights = position_weights

    def forward(self, x: Tensor, y: Tensor, position_weights: Tensor | None = None) -> Tensor:
        weights = self.position_weights if position_weights is None else position_weights
        gi = global_glance_index(
            x, y, self.grid, self.window, self.stride, self.repeats, self.delta,
            self.generator_for(x.device), self.replacement, self.padding, self.eps, "none",
            self.complex_mode, self.parity, weights, self.moments,
        )
        return reduce(1.0 - gi, self.reduction)

    def extra_repr(self) -> str:
        return (
            f"grid={self.grid}, window={self.window}, repeats={self.repeats}, delta={self.delta}"
        )


class MSGlanceLoss(nn.Module):
    r"""MS-Glance loss, optionally with a pixel term:

    .. math::

        \mathcal{L} = \lambda_P \mathcal{L}_{pixel}
            + \lambda_G (1 - \mathrm{GI}_{global}) + \lambda_L (1 - \mathrm{GI}_{local})

    Args:
        global_weight: ``lambda_G`` (default 0.01, the paper's INR setting).
        local_weight: ``lambda_L`` (default 0.01).
        delta: air prior on the *global* term only (e.g. 0.01 for MRI magnitude in [0, 1]).
        pixel: ``"l1"``, ``"l2"`` or ``None`` (no pixel term).
        pixel_weight: ``lambda_P``.
        grid, repeats, replacement: global sampling settings.
        window, stride, padding, eps, complex_mode, parity: shared index settings.
        moments: ``"auto"``, ``"float64"`` or ``"float32"``, the precision of both Glance
            terms' window moments (see :mod:`msglance.precision`).
        seed, generator: reproducible global sampling.
        position_weights: weights of the global draws (see :func:`sample_positions`); a
            map given to :meth:`forward` overrides it for that call.
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (per-item losses).

    ``complex_mode`` governs every term: with ``"magnitude"`` the pixel term compares
    magnitudes, as the Glance terms do. The pixel term is computed in float32 (or wider).

    After each call, :attr:`last_terms` maps ``"pixel"``, ``"global"`` and ``"local"`` to
    the unweighted term values as floats, like :attr:`msglance.losses.CompositeLoss.last_terms`.
    """

    def __init__(
        self,
        global_weight: float = 0.01,
        local_weight: float = 0.01,
        delta: float | None = None,
        pixel: Literal["l1", "l2"] | None = None,
        pixel_weight: float = 1.0,
        grid: tuple[int, int] = (96, 96),
        window: int = 16,
        stride: int = 1,
        repeats: int = 10,
        replacement: bool = False,
        padding: Padding = "valid",
        eps: float = DEFAULT_EPS,
        reduction: str = "mean",
        complex_mode: ComplexMode = "magnitude",
        parity: Parity = None,
        seed: int | None = None,
        generator: torch.Generator | None = None,
        position_weights: Tensor | None = None,
        moments: MomentsPrecision = "auto",
    ) -> None:
        super().__init__()
        if pixel not in (None, "l1", "l2"):
            raise ValueError(f"pixel must be 'l1', 'l2' or None, got {pixel!r}")
        check_reduction(reduction)
        self.global_weight = check_nonnegative(global_weight, "global_weight")
        self.local_weight = check_nonnegative(local_weight, "local_weight")
        self.pixel, self.pixel_weight = pixel, check_nonnegative(pixel_weight, "pixel_weight")
        self.reduction, self.complex_mode = reduction, complex_mode
        self.global_loss = GlobalGlanceLoss(
            grid, window, stride, repeats, delta, replacement, padding, eps, "none",
            complex_mode, parity, seed, generator, position_weights, moments,
        )
        self.local_loss = LocalGlanceLoss(
            window, stride, padding, eps, "none", complex_mode, parity, moments
        )
        self._last: dict[str, Tensor] = {}

    @property
    def last_terms(self) -> dict[str, float]:
        """Each term's value at the last call (unweighted, reduced as the loss; with
        ``reduction="none"`` the mean over items), as floats for logging. Kept as detached
        tensors until read, so logging costs no device sync unless it happens."""
        return {k: float(v.mean()) for k, v in self._last.items()}

    def _pixel(self, xr: Tensor, yr: Tensor, out_dtype: torch.dtype) -> Tensor:
        """L1/L2 on the prepared (real, float32-or-wider) pair: the same view of complex
        input as the Glance terms, no float16 overflow of ``(x - y)^2``."""
        diff = (xr - yr).abs()
        if self.pixel == "l2":
            diff = diff.square()
        return diff.flatten(1).mean(dim=1).to(out_dtype)

    def forward(self, x: Tensor, y: Tensor, position_weights: Tensor | None = None) -> Tensor:
        terms: dict[str, Tensor] = {}
        total = None
        if self.global_weight:
            terms["global"] = self.global_loss(x, y, position_weights)
            total = self.global_weight * terms["global"]
        if self.local_weight:
            terms["local"] = self.local_loss(x, y)
            part = self.local_weight * terms["local"]
            total = part if total is None else total + part
        if self.pixel is not None or total is None:
            xr, yr, out_dtype = _prepare(x, y, self.complex_mode)
        if self.pixel is not None:
            terms["pixel"] = self._pixel(xr, yr, out_dtype)
            part = self.pixel_weight * terms["pixel"]
            total = part if total is None else total + part
        if total is None:  # every weight 0 and no pixel term: 0, differentiable, NaN kept
            total = (xr.flatten(1) * 0.0).sum(dim=1).to(out_dtype)
        self._last = {k: reduce(v.detach(), self.reduction) for k, v in terms.items()}
        return reduce(total, self.reduction)

    def extra_repr(self) -> str:
        return (
            f"global_weight={self.global_weight}, local_weight={self.local_weight}, "
            f"pixel={self.pixel!r}, pixel_weight={self.pixel_weight}"
        )
