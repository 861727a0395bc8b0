"""Separable moment filters for 2-D and 3-D images (box and Gaussian).

All filters act on tensors shaped ``(B, C, *spatial)`` with two or three spatial dimensions
and use *valid* placement: a window of size ``k`` over an axis of length ``n`` gives
``(n - k) // stride + 1`` outputs. Callers that want zero padding pad first.

No dense ``k x k`` (or ``k x k x k``) kernel is ever built:

* :func:`box_filter` computes the window mean

  .. math:: \\bar{x}(p) = \\frac{1}{k^d} \\sum_{q \\in W_k(p)} x(q)

  one axis at a time with *recursive doubling*: sums of 1, 2, 4, ... consecutive values are
  formed by adding shifted views, and the binary digits of ``k`` pick which partial sums make
  up the window. That costs ``O(log k)`` additions per value and axis, and its rounding error
  is that of pairwise summation (about 1e-7 relative in float32), unlike a running
  ``cumsum`` whose error grows with the image size.
* :func:`gaussian_filter` applies a normalised 1-D Gaussian along each axis as a weighted sum
  of shifted views (``k`` multiply-adds per value and axis).

Both are differentiable and work on any floating dtype and device.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

__all__ = [
    "box_filter",
    "box_filter_adjoint",
    "gaussian_filter",
    "gaussian_kernel1d",
    "gaussian_taps",
    "separable_filter",
    "window_sum",
    "window_sum_adjoint",
]


def _check_spatial(x: Tensor, window: int, stride: int) -> None:
    if x.ndim not in (4, 5):
        raise ValueError(
            f"expected a (B, C, H, W) or (B, C, D, H, W) tensor, got shape {tuple(x.shape)}"
        )
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got window={window}, stride={stride}")
    small = [n for n in x.shape[2:] if n < window]
    if small:
        raise ValueError(
            f"window {window} is larger than the spatial size {tuple(x.shape[2:])}"
        )


def _window_sum_forward(x: Tensor, window: int, dim: int) -> Tensor:
    """Stride-1 valid window sums along ``dim`` by recursive doubling (no autograd)."""
    if window == 1:  # the only case in which the result would be a view of x
        return x.clone()
    n = x.shape[dim]
    out_len = n - window + 1
    result: Tensor | None = None
    owned = False  # may `result` be updated in place (it is not a view of x or partial)?
    offset = 0
    partial = x  # partial[i] = sum of `width` values starting at i
    width = 1
    k = window
    while k:
        if k & 1:
            seg = partial.narrow(dim, offset, out_len)
            if result is None:
                result = seg  # a power-of-two window is the last partial itself: no copy
            elif owned:
                result.add_(seg)
            else:
                result, owned = result + seg, True
            offset += width
        k >>= 1
        if k:
            length = partial.shape[dim] - width
            partial = partial.narrow(dim, 0, length) + partial.narrow(dim, width, length)
            width *= 2
    assert result is not None  # window >= 1 guarantees one set bit
    return result


class _WindowSum(torch.autograd.Function):
    """Valid window sum along one axis, with the adjoint as its backward.

    The adjoint of a valid, stride-``s`` window sum is a *full* window sum of the gradient
    spread back onto the stride-1 grid (zeros in between) and zero-padded by ``k - 1`` on
    both sides. Using it (rather than autograd through dozens of shifted views) keeps the
    backward pass as cheap as the forward and saves no tensors.
    """

    @staticmethod
    def forward(ctx, x: Tensor, window: int, dim: int, stride: int) -> Tensor:
        ctx.window, ctx.dim, ctx.stride, ctx.length = window, dim, stride, x.shape[dim]
        out = _window_sum_forward(x, window, dim)
        if stride > 1:
            index = [slice(None)] * out.ndim
            index[dim] = slice(None, None, stride)
            out = out[tuple(index)].contiguous()
        return out

    @staticmethod
    def backward(ctx, grad: Tensor):
        return _window_sum_adjoint(grad, ctx.window, ctx.dim, ctx.stride, ctx.length), None, None, None


def _window_sum_adjoint(grad: Tensor, k: int, dim: int, s: int, n: int) -> Tensor:
    """Adjoint of the valid, stride-``s`` window sum of ``k`` values over an axis of ``n``."""
    if s > 1:
        shape = list(grad.shape)
        shape[dim] = n - k + 1
        spread = grad.new_zeros(shape)
        index = [slice(None)] * grad.ndim
        index[dim] = slice(None, None, s)
        spread[tuple(index)] = grad
        grad = spread
    pad = [0, 0] * (grad.ndim - dim - 1) + [k - 1, k - 1]
    return _window_sum_forward(torch.nn.functional.pad(grad, pad), k, dim)


def window_sum(x: Tensor, window: int, dim: int, stride: int = 1) -> Tensor:
    """Sum of ``window`` consecutive values along ``dim`` (valid placement, given stride).

    Uses recursive doubling: ``O(log window)`` tensor additions, pairwise-summation accuracy;
    differentiable, with the adjoint window sum as the backward pass.
    """
    dim = dim % x.ndim
    n = x.shape[dim]
    if window > n:
        raise ValueError(f"window {window} is larger than the size {n} of dimension {dim}")
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be >= 1, got window={window}, stride={stride}")
    return _WindowSum.apply(x, window, dim, stride)


def window_sum_adjoint(grad: Tensor, window: int, dim: int, stride: int, length: int) -> Tensor:
    """The adjoint (transpose) of :func:`window_sum` along ``dim`` over an axis of ``length``
    values: each value receives the sum of the gradients of the windows that contain it.

    Examples:
        >>> import torch
        >>> window_sum_adjoint(torch.ones(1, 1, 1, 2), 3, 3, 2, 5)
        tensor([[[[1., 1., 2., 1., 1.]]]])
    """
    return _window_sum_adjoint(grad, window, dim % grad.ndim, stride, length)


def box_filter(x: Tensor, window: int, stride: int = 1) -> Tensor:
    """Mean over every ``window``-sized box (square/cube) at the given stride, valid placement.

    Args:
        x: ``(B, C, H, W)`` or ``(B, C, D, H, W)``.
        window: box side ``k``.
        stride: step between boxes along every axis.

    Returns:
        ``(B, C, *out)`` with ``out_i = (n_i - k) // stride + 1``.
    """
    _check_spatial(x, window, stride)
    out = x
    for dim in range(2, x.ndim):
        out = window_sum(out, window, dim, stride)
    return out / float(window ** (x.ndim - 2))


def box_filter_adjoint(grad: Tensor, window: int, stride: int, spatial: tuple[int, ...]) -> Tensor:
    """The adjoint (transpose) of :func:`box_filter`: maps a gradient on the ``(B, C, *out)``
    windows back to ``(B, C, *spatial)`` pixels (each pixel receives the sum of the
    gradients of the windows that contain it, divided by ``window**d``)."""
    scale = 1.0 / float(window ** (grad.ndim - 2))
    if stride == 1:  # one zero-padded copy, then valid window sums along every axis
        out = torch.nn.functional.pad(grad, (window - 1,) * (2 * (grad.ndim - 2))).mul_(scale)
        for dim in range(2, grad.ndim):
            out = _window_sum_forward(out, window, dim)
        return out
    out = grad * scale
    for i, dim in enumerate(range(2, grad.ndim)):
        out = _window_sum_adjoint(out, window, dim, stride, spatial[i])
    return out


def gaussian_kernel1d(
    window: int, sigma: float, *, dtype: torch.dtype = torch.float32, device=None
) -> Tensor:
    """Normalised 1-D Gaussian ``g_i \\propto exp(-(i - c)^2 / (2 sigma^2))``, ``c = (k-1)/2``."""
    if window < 1 or sigma <= 0 or not math.isfinite(sigma):
        raise ValueError(f"need window >= 1 and sigma > 0, got window={window}, sigma={sigma}")
    coords = torch.arange(window, dtype=torch.float64) - (window - 1) / 2.0
    g = torch.exp(-(coords**2) / (2.0 * sigma**2))
    return (g / g.sum()).to(dtype=dtype, device=device)


@functools.lru_cache(maxsize=64)
def _cached_gaussian_taps(window: int, sigma: float) -> tuple[float, ...]:
    return _as_taps(gaussian_kernel1d(window, sigma, dtype=torch.float64))


@torch.compiler.assume_constant_result
def gaussian_taps(window: int, sigma: float) -> tuple[float, ...]:
    """The weights of :func:`gaussian_kernel1d` (computed in float64) as Python floats.

    Cached per ``(window, sigma)``. Under ``torch.compile`` the call is a constant of the
    graph (``torch.compiler.assume_constant_result``): building the kernel and reading it
    back to the host would otherwise break the graph.

    Examples:
        >>> taps = gaussian_taps(3, 1.0)
        >>> [round(w, 4) for w in taps], round(sum(taps), 12)
        ([0.2741, 0.4519, 0.2741], 1.0)
    """
    return _cached_gaussian_taps(window, sigma)


def _as_taps(kernel1d: Tensor) -> tuple[float, ...]:
    return tuple(float(w) for w in kernel1d.detach().cpu().double())


def separable_filter(x: Tensor, kernel1d: Tensor | Sequence[float], stride: int = 1) -> Tensor:
    """Correlate ``x`` with the outer product of ``kernel1d`` along every spatial axis (valid).

    The kernel is applied axis by axis as a weighted sum of shifted views, so the cost is
    ``len(kernel1d)`` multiply-adds per value and axis. ``kernel1d`` is a 1-D tensor or a
    sequence of Python floats (the weights are used as Python scalars either way; pass
    floats, e.g. :func:`gaussian_taps`, to avoid a host read-back and, under
    ``torch.compile``, a graph break).

    Examples:
        >>> x = torch.arange(5.0).view(1, 1, 1, 5)
        >>> separable_filter(x, [0.5, 0.5])  # needs a 2x2 window: the 1-row image is too small
        Traceback (most recent call last):
        ...
        ValueError: window 2 is larger than the spatial size (1, 5)
        >>> separable_filter(x.expand(1, 1, 2, 5), [0.5, 0.5])
        tensor([[[[0.5000, 1.5000, 2.5000, 3.5000]]]])
    """
    if isinstance(kernel1d, Tensor):
        if kernel1d.ndim != 1:
            raise ValueError(f"kernel1d must be 1-D, got shape {tuple(kernel1d.shape)}")
        weights = _as_taps(kernel1d)
    else:
        weights = tuple(float(w) for w in kernel1d)
    k = len(weights)
    _check_spatial(x, k, stride)
    out = x
    for dim in range(2, x.ndim):
        out_len = out.shape[dim] - k + 1
        acc = out.narrow(dim, 0, out_len) * weights[0]
        for j in range(1, k):
            acc = acc.add(out.narrow(dim, j, out_len), alpha=weights[j])
        if stride > 1:
            index = [slice(None)] * out.ndim
            index[dim] = slice(None, None, stride)
            acc = acc[tuple(index)]
        out = acc
    return out


def gaussian_filter(x: Tensor, window: int, sigma: float, stride: int = 1) -> Tensor:
    """Gaussian-weighted window mean (valid placement), separable along every spatial axis."""
    return separable_filter(x, gaussian_taps(window, sigma), stride)
