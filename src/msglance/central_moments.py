r"""Window central moments in single precision: a separable, compensated two-pass algorithm.

For every valid ``k``-sided window ``W(p)`` (``n = k^d`` pixels, ``d`` = 2 or 3 spatial
axes, given stride) of two real tensors ``x`` and ``y``, :func:`window_central_moments`
computes the window means and the *central* second moments

.. math::

    \operatorname{var}_x(p) = \frac1n \sum_{q \in W(p)} (x_q - \mu_x(p))^2, \qquad
    \operatorname{cov}(p) = \frac1n \sum_{q \in W(p)} (x_q - \mu_x(p))(y_q - \mu_y(p))

in the inputs' dtype (float32) without the cancellation of ``E[x^2] - E[x]^2``. The box is
reduced one axis at a time; stage ``t`` combines ``k`` consecutive blocks ``j`` of stage
``t - 1`` (means ``h_j``, variances ``v_j``, covariances ``c_j``; at stage 0 the pixels
with ``v = c = 0``) by the law of total variance:

.. math::

    M = \frac1k \sum_j h_j, \qquad
    V = \frac1k \sum_j v_j + \frac1k \sum_j (h_j - M)^2, \qquad
    C = \frac1k \sum_j c_j + \frac1k \sum_j (h^x_j - M^x)(h^y_j - M^y).

Each mean is kept as an unevaluated sum ``h = hi + lo``: ``hi`` is the float32 window mean
of the ``hi`` parts (:func:`msglance.filters.window_sum`), and the deviations
``d_j = (hi_j - hi) + lo_j`` are accumulated over the ``k`` offsets of shifted slices (views,
no unfolded copy); ``lo = (1/k) sum_j d_j`` carries the rounding error of ``hi``, and the
spread is ``(1/k) sum_j d_j^2 - lo^2`` (the corrected two-pass algorithm of Chan, Golub
and LeVeque). Where a window is flat, ``hi_j`` and ``hi`` are close, so their difference is
exact (Sterbenz) and the deviations carry no rounding error of size ``1e-7 |mu|``: the
variance's error is relative to the variance (~``d k 1e-7``), whatever the level ``mu``; a
constant window gives exactly 0. Without the ``lo`` parts, windows of standard deviation
~1e-4 at a level ~0.8 were off by 6e-5 in the Glance Index (measured); with them, by 3e-7.
Identical ``x`` and ``y`` give bit-identical ``var_x``, ``var_y`` and ``cov`` (the same
correctly rounded products and sums, no fused multiply-add).

The adjoint (:func:`central_moments_adjoint`) runs the stages backwards. Given the
gradients ``G_M, G_V, G_C`` on a stage's outputs, those on its inputs are

.. math::

    G_v = \frac1k F^T G_V, \quad G_c = \frac1k F^T G_C, \quad
    G_h = \frac1k F^T G_M + \frac2k \sum G_V\, (h - M) + \frac1k \sum G_C\, (h^y - M^y)

(``F^T`` the adjoint window sum along the stage's axis; the sums run over the windows
holding the block; ``M``'s own dependence on ``h`` drops out since the deviations sum to
0), with the same compensated deviations; at stage 0, ``G_h`` is the pixel gradient.

Cost: ``O(d k)`` elementwise float32 passes (forward and backward), against ``O(d log k)``
float64 ones for the recursive-doubling box filters of the raw moments; memory: the
``(hi, lo)`` means of every stage are kept for the backward. :mod:`msglance.glance` uses
this for ``moments="float32"``.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from msglance.filters import window_sum, window_sum_adjoint

__all__ = ["CentralMoments", "central_moments_adjoint", "window_central_moments"]


class CentralMoments(NamedTuple):
    """Result of :func:`window_central_moments`.

    ``levels[t] = (hi, lo)``: the stage-``t`` block means of ``x`` then ``y`` stacked along
    the batch axis (``(2B, C, ...)``; ``levels[0]`` is the input, ``lo`` ``None``), the last
    one the window means ``hi + lo``; ``second``: ``(3B, C, *out)``, ``var_x``, ``var_y``,
    ``cov`` (population moments; a flat window's variance may round a hair below 0).
    """

    levels: tuple[tuple[Tensor, Tensor | None], ...]
    second: Tensor


def _shifted(t: Tensor, dim: int, offset: int, out: int, stride: int) -> Tensor:
    """The view ``t[..., offset + stride * j, ...]`` along ``dim`` for ``j < out``."""
    index = [slice(None)] * t.ndim
    index[dim] = slice(offset, offset + stride * (out - 1) + 1, stride)
    return t[tuple(index)]


def _deviation(hi: Tensor, lo: Tensor | None, m_hi: Tensor, m_lo: Tensor | None,
               dim: int, offset: int, out: int, stride: int, dev: Tensor) -> Tensor:
    """``dev = (hi_j - M_hi) + lo_j - M_lo`` of the blocks at ``offset`` (into ``dev``)."""
    torch.sub(_shifted(hi, dim, offset, out, stride), m_hi, out=dev)
    if lo is not None:
        dev.add_(_shifted(lo, dim, offset, out, stride))
    if m_lo is not None:
        dev.sub_(m_lo)
    return dev


def window_central_moments(x: Tensor, y: Tensor, window: int, stride: int = 1) -> CentralMoments:
    r"""Window means and central second moments of ``x`` and ``y`` (see the module doc).

    Args:
        x, y: real ``(B, C, *spatial)`` tensors (2 or 3 spatial axes) of one dtype.
        window: window side ``k`` (valid placement; at most each spatial size).
        stride: step between windows.

    Returns:
        A :class:`CentralMoments`; not differentiable (see :func:`central_moments_adjoint`).

    Examples:
        >>> import torch
        >>> x = 0.8 + 1e-4 * torch.rand(1, 1, 8, 8)  # nearly flat, at level 0.8
        >>> second = window_central_moments(x, x, 4).second
        >>> d = x.double().unfold(2, 4, 1).unfold(3, 4, 1).flatten(-2)
        >>> ref = d.var(dim=-1, unbiased=False)
        >>> bool(((second[0].double() - ref[0]).abs() < 1e-5 * ref[0]).all())
        True
        >>> bool((second[0] == second[2]).all())  # x = y: var and cov are bit-identical
        True
    """
    b = x.shape[0]
    with torch.no_grad():
        hi: Tensor = torch.cat([x, y], dim=0)
        lo: Tensor | None = None
        levels: list[tuple[Tensor, Tensor | None]] = [(hi, lo)]
        spread: Tensor | None = None
        for dim in range(2, x.ndim):
            out = (hi.shape[dim] - window) // stride + 1
            m_hi = window_sum(hi, window, dim, stride).div_(window)
            # per offset: [d_x, d_y, d_x d_x, d_y d_y, d_x d_y]
            terms = m_hi.new_empty((5 * b, *m_hi.shape[1:]))
            dev, prod = terms[: 2 * b], terms[2 * b :]
            acc = torch.zeros_like(terms)
            for j in range(window):
                _deviation(hi, lo, m_hi, None, dim, j, out, stride, dev)
                torch.mul(dev, dev, out=prod[: 2 * b])
                torch.mul(dev[:b], dev[b:], out=prod[2 * b :])
                acc.add_(terms)
            acc.div_(window)
            m_lo = acc[: 2 * b]
            stage = acc[2 * b :].sub_(torch.cat([m_lo * m_lo, m_lo[:b] * m_lo[b:]], dim=0))
            if spread is not None:
                stage.add_(window_sum(spread, window, dim, stride).div_(window))
            spread, hi, lo = stage, m_hi, m_lo
            levels.append((hi, lo))
    assert spread is not None  # two spatial axes at least
    return CentralMoments(tuple(levels), spread)


def central_moments_adjoint(
    moments: CentralMoments,
    grads: tuple[Tensor | None, Tensor | None, Tensor, Tensor, Tensor],
    window: int,
    stride: int,
    need: tuple[bool, bool] = (True, True),
) -> tuple[Tensor | None, Tensor | None]:
    r"""Gradients w.r.t. ``x`` and ``y`` of ``sum(G_mu_x mu_x + G_mu_y mu_y + G_vx var_x +
    G_vy var_y + G_c cov)``, from the forward's :class:`CentralMoments` (module doc).

    Args:
        moments: the result of :func:`window_central_moments` on ``x`` and ``y``.
        grads: ``(G_mu_x, G_mu_y, G_vx, G_vy, G_c)`` on the windows, ``(B, C, *out)``
            each; the mean gradients may be ``None`` (zero).
        window, stride: the forward's settings.
        need: which of ``x``, ``y`` need a gradient.

    Returns:
        ``(grad_x, grad_y)`` in the inputs' shape and dtype (``None`` where not needed).

    Examples:
        >>> import torch
        >>> x = torch.rand(1, 1, 7, 6, dtype=torch.float64, requires_grad=True)
        >>> y = torch.rand(1, 1, 7, 6, dtype=torch.float64)
        >>> g = torch.rand(3, 1, 3, 2, dtype=torch.float64)
        >>> gx, _ = central_moments_adjoint(window_central_moments(x, y, 3, 2),
        ...                                 (None, None, g[0:1], g[1:2], g[2:3]), 3, 2, (True, False))
        >>> u = x.unfold(2, 3, 2).unfold(3, 3, 2).flatten(-2)
        >>> v = y.unfold(2, 3, 2).unfold(3, 3, 2).flatten(-2)
        >>> uc, vc = u - u.mean(-1, keepdim=True), v - v.mean(-1, keepdim=True)
        >>> loss = (g[0] * (uc * uc).mean(-1) + g[1] * (vc * vc).mean(-1) + g[2] * (uc * vc).mean(-1)).sum()
        >>> bool(torch.allclose(gx, torch.autograd.grad(loss, x)[0]))
        True
    """
    levels = moments.levels
    b = levels[0][0].shape[0] // 2
    g_mx, g_my, g_vx, g_vy, g_c = grads
    with torch.no_grad():
        g_v = torch.cat([g_vx, g_vy], dim=0)
        g_m: Tensor | None = None
        if g_mx is not None or g_my is not None:
            g_m = torch.cat([torch.zeros_like(g_vx) if g_mx is None else g_mx.expand_as(g_vx),
                             torch.zeros_like(g_vy) if g_my is None else g_my.expand_as(g_vy)], dim=0)
        for t in range(len(levels) - 1, 0, -1):
            dim = t + 1
            hi, lo = levels[t - 1]
            m_hi, m_lo = levels[t]
            length, out = hi.shape[dim], m_hi.shape[dim]
            # first-order gradient of the stage inputs: (1/k) F^T G_M + the centred terms
            g_h = (torch.zeros_like(hi) if g_m is None
                   else window_sum_adjoint(g_m, window, dim, stride, length).div_(window))
            scale_v, scale_c = g_v * (2.0 / window), g_c / window
            wanted = [k for k in (0, 1) if need[k]]  # h^x depends on x only
            dev = torch.empty_like(m_hi)
            term = torch.empty_like(m_hi[:b])
            for j in range(window):
                _deviation(hi, lo, m_hi, m_lo, dim, j, out, stride, dev)
                for k in wanted:
                    own, other = slice(k * b, (k + 1) * b), slice((1 - k) * b, (2 - k) * b)
                    torch.mul(dev[own], scale_v[own], out=term)
                    term.addcmul_(dev[other], scale_c)
                    _shifted(g_h[own], dim, j, out, stride).add_(term)
            g_m = g_h
            if t > 1:  # the stage inputs' own spreads: G_v, G_c spread back by (1/k) F^T
                g_v = window_sum_adjoint(g_v, window, dim, stride, length).div_(window)
                g_c = window_sum_adjoint(g_c, window, dim, stride, length).div_(window)
    assert g_m is not None
    return (g_m[:b] if need[0] else None), (g_m[b:] if need[1] else None)
