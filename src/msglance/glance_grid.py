r"""The size of the Global Glance grid for an image: one rule for ``msglance eval``, the MRI
harness and the SIREN commands.

The Global Glance term draws ``n x n`` pixel positions without replacement and judges the
mosaic they form with ``window``-sized windows, so ``window <= n`` and ``n^2 <= N`` (the
image's ``N`` spatial positions) must both hold. The paper uses ``n = 96`` on 256x256 MRI
slices. The rule scales that with the image side:

.. math::

    n = \min\Bigl(\max\bigl(w,\ \mathrm{round}(96 \sqrt{N} / 256)\bigr),\ \lfloor\sqrt{N}\rfloor\Bigr)

i.e. ``96 * size / 256`` for a square ``size x size`` image (96 at 256, 192 at 512, 24 at
64), never below one window ``w`` (default 16), never more positions than pixels. The grid
then holds ``(96/256)^2 ~ 14 %`` of the positions at every size, so small images work and
large ones are judged as densely as the paper's. An explicit ``grid`` replaces the scaled
side and is capped to ``floor(sqrt(N))`` the same way (the SIREN commands pass the paper's
96, which 32x32 images reduce to 32).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["PAPER_GRID", "PAPER_SIZE", "glance_grid_for"]

#: The paper's Global Glance grid side and the image side it was used at (MRI, 256x256).
PAPER_GRID, PAPER_SIZE = 96, 256


def glance_grid_for(
    spatial: Sequence[int], grid: int | None = None, window: int = 16
) -> tuple[int, int]:
    """The ``(n, n)`` Global Glance grid for an image of spatial shape ``spatial``.

    Args:
        spatial: the image's spatial shape, ``(H, W)`` or ``(D, H, W)``.
        grid: an explicit grid side, capped to what the image holds; ``None`` (or 0) for
            the scaled rule of the module docstring.
        window: the Glance window side ``w``, the smallest grid that can be judged.

    Returns:
        ``(n, n)``.

    Raises:
        ValueError: a non-positive size or grid, or an image with fewer than ``w x w``
            positions (smaller than one Glance window).

    Examples:
        >>> glance_grid_for((256, 256)), glance_grid_for((512, 512)), glance_grid_for((64, 64))
        ((96, 96), (192, 192), (24, 24))
        >>> glance_grid_for((20, 20)), glance_grid_for((32, 32), grid=96)
        ((16, 16), (32, 32))
        >>> glance_grid_for((8, 8))
        Traceback (most recent call last):
        ...
        ValueError: image of spatial shape (8, 8) is too small for a 16x16 Global Glance grid (one window)
    """
    shape = tuple(int(s) for s in spatial)
    if not shape or min(shape) < 1:
        raise ValueError(f"spatial must be positive sizes, got {tuple(spatial)!r}")
    if grid is not None and (isinstance(grid, bool) or not isinstance(grid, int) or grid < 0):
        raise ValueError(f"grid must be None, 0 (scaled) or a positive int, got {grid!r}")
    if isinstance(window, bool) or not isinstance(window, int) or window < 1:
        raise ValueError(f"window must be a positive int, got {window!r}")
    if grid and grid < window:
        raise ValueError(f"grid {grid} is smaller than one {window}x{window} Glance window")
    n_pos = math.prod(shape)
    if grid:
        n = grid
    else:
        n = max(window, round(PAPER_GRID * math.sqrt(n_pos) / PAPER_SIZE))
    n = min(n, math.isqrt(n_pos))
    if n < window:
        raise ValueError(
            f"image of spatial shape {shape} is too small for a {window}x{window} Global "
            "Glance grid (one window)"
        )
    return (n, n)
