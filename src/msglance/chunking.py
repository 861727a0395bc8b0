"""Cache-sized chunks for window statistics over large batches, images and volumes.

Window statistics (SSIM, Glance) build several full-size moment maps and a dozen
elementwise temporaries. On a CPU, one pass over a whole batch streams every temporary
through main memory, and each large buffer is a fresh ``mmap`` whose pages the kernel must
zero on first touch. Splitting the ``(item, channel)`` rows into chunks of about
:func:`chunk_values` values (and, for large images, the first spatial axis into slabs with a
``window - 1`` halo; valid placement makes that split exact) keeps the temporaries in
cache and in the allocator's reuse pool: several times faster, identical results. On GPUs
the budget is unlimited (one chunk).

:func:`chunked_row_sums` applies this to any per-row window statistic and stays
differentiable: each chunk keeps its own small autograd graph, run chunk by chunk in the
backward pass (a second backward recomputes them, as activation checkpointing does).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import cast

import torch
from torch import Tensor

__all__ = ["chunk_values", "chunked_row_sums", "pieces"]

#: values per map processed at once, per CPU thread (see :func:`chunk_values`);
#: ``None``: chosen from the thread count. Tests lower it to force splitting.
CHUNK_VALUES: int | None = None


def chunk_values(device: torch.device) -> int:
    """Chunk budget: 2**16 values per thread (+1), at most 2**22; unchunked on GPUs.

    Examples:
        >>> chunk_values(torch.device("cuda")) == 1 << 62
        True
    """
    if CHUNK_VALUES is not None:
        return CHUNK_VALUES
    if device.type != "cpu":
        return 1 << 62
    return min(1 << 22, (1 << 16) * (_cpu_threads() + 1))


@torch.compiler.assume_constant_result
def _cpu_threads() -> int:
    """``torch.get_num_threads()``; a constant under ``torch.compile`` (no graph break): it
    only sizes the chunks, which change no result beyond the summation order."""
    return torch.get_num_threads()


def pieces(x: Tensor, window: int, stride: int = 1) -> list[tuple[int, int, int, int]]:
    """Split ``x`` (``(R, C, *spatial)``) into chunks of about :func:`chunk_values` values:
    ``(row_start, row_stop, input_start, input_length)``, slicing rows and, when one row is
    larger than the budget, the first spatial axis into slabs that overlap by
    ``window - stride``, so every valid window lies in exactly one piece."""
    rows, spatial = x.shape[0], tuple(x.shape[2:])
    numel = math.prod(spatial) * x.shape[1]
    budget = chunk_values(x.device)
    per_chunk = max(1, budget // numel)
    n_out = (spatial[0] - window) // stride + 1
    if numel <= budget:
        ranges = [(0, n_out)]
    else:  # slabs of about `budget` input values (window - 1 halo) along the first axis
        halo = window - 1
        per = max(1, max(halo, budget // (numel // spatial[0]) - halo, 1) // stride)
        ranges = [(o, min(o + per, n_out)) for o in range(0, n_out, per)]
    out = []
    for start in range(0, rows, per_chunk):
        stop = min(start + per_chunk, rows)
        for o0, o1 in ranges:
            out.append((start, stop, o0 * stride, (o1 - 1 - o0) * stride + window))
    return out


def _piece(fn, x: Tensor, y: Tensor, piece, need) -> tuple[Tensor, Tensor, Tensor]:
    """Evaluate ``fn`` on one piece under autograd, from detached leaves."""
    start, stop, i0, length = piece
    xc = x[start:stop].narrow(2, i0, length).detach().requires_grad_(need[0])
    yc = y[start:stop].narrow(2, i0, length).detach().requires_grad_(need[1])
    with torch.enable_grad():
        return xc, yc, fn(xc, yc)


class _ChunkedRowSums(torch.autograd.Function):
    """Sums of ``fn`` over chunks of rows and slabs, one small autograd graph per chunk.

    The chunk graphs are kept from the forward pass and released by the first backward;
    a second backward (``retain_graph=True``, gradcheck) recomputes them from the inputs.
    """

    @staticmethod
    def forward(ctx, fn, window, stride, x, y):
        need = ctx.needs_input_grad[3:5]
        parts = pieces(x, window, stride)
        sums: Tensor | None = None
        graphs = []
        for piece in parts:
            xc, yc, value = _piece(fn, x, y, piece, need)
            if sums is None:  # accumulate in the statistic's dtype
                sums = value.new_zeros(x.shape[0])
            sums[piece[0]:piece[1]] += value.detach()
            if any(need):
                graphs.append((xc, yc, value))
        ctx.fn, ctx.pieces, ctx.graphs = fn, parts, graphs
        ctx.save_for_backward(x, y)
        return sums

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad):
        x, y = ctx.saved_tensors
        need = ctx.needs_input_grad[3:5]
        grad_x = torch.zeros_like(x) if need[0] else None
        grad_y = torch.zeros_like(y) if need[1] else None
        graphs, ctx.graphs = ctx.graphs, None
        for k, (start, stop, i0, length) in enumerate(ctx.pieces):
            xc, yc, value = graphs[k] if graphs else _piece(ctx.fn, x, y, (start, stop, i0, length), need)
            wanted = [t for t in (xc, yc) if t.requires_grad]
            grads = iter(torch.autograd.grad(value, wanted, grad[start:stop]))
            if grad_x is not None:  # need[0]
                grad_x[start:stop].narrow(2, i0, length).add_(next(grads))
            if grad_y is not None:  # need[1]
                grad_y[start:stop].narrow(2, i0, length).add_(next(grads))
            if graphs:
                graphs[k] = None  # free this chunk's saved tensors as soon as it is done
        return None, None, None, grad_x, grad_y


def chunked_row_sums(
    fn: Callable[[Tensor, Tensor], Tensor], x: Tensor, y: Tensor, window: int, stride: int = 1
) -> Tensor:
    """Per-row sums of a valid-placement window statistic, computed in cache-sized chunks.

    Args:
        fn: maps two ``(r, C, *spatial')`` pieces to ``(r,)`` sums of the statistic over all
            windows inside the piece (valid placement, the given ``window`` and ``stride``).
            It must be pointwise in its rows and depend on nothing but the windows' values.
        x, y: ``(R, C, *spatial)`` tensors.
        window, stride: the statistic's window side and stride (slabs overlap by
            ``window - stride`` along the first spatial axis so every window is seen once).

    Returns:
        ``(R,)`` sums in ``fn``'s output dtype, the same as ``fn(x, y)`` up to the summation
        order; differentiable in ``x`` and ``y`` (once).

    Under ``torch.compile`` this is ``fn(x, y)`` in one piece: the chunk loop (a custom
    autograd Function that runs nested autograd graphs) cannot be traced, and the compiler
    does its own fusion of the temporaries.
    """
    if torch.compiler.is_compiling():
        return fn(x, y)
    if torch.is_grad_enabled() and (x.requires_grad or y.requires_grad):
        return _ChunkedRowSums.apply(fn, window, stride, x, y)
    sums: Tensor | None = None
    with torch.no_grad():
        for start, stop, i0, length in pieces(x, window, stride):
            value = fn(x[start:stop].narrow(2, i0, length), y[start:stop].narrow(2, i0, length))
            if sums is None:
                sums = value.new_zeros(x.shape[0])
            sums[start:stop] += value
    return cast(Tensor, sums)  # x is non-empty (check_pair), so one piece at least
