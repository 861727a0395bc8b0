"""The fast Glance kernels against explicit-window oracles (tests/oracles.py)."""

import numpy as np
import pytest
import torch

from msglance.glance import (
    glance_index,
    glance_index_map,
    global_glance_index,
    sample_positions,
)
from oracles import glance_oracle, glance_oracle_map, mosaic_oracle, pearson_windows_corrcoef

CONFIGS_2D = [
    (16, 1, "valid"),
    (7, 2, "valid"),
    (8, 3, "zero"),
    (5, 1, "zero"),
    (16, 4, "valid"),
    (3, 1, "valid"),
]


def _pairs_2d(astronaut):
    g = torch.Generator().manual_seed(0)
    rand = torch.rand(2, 3, 40, 44, generator=g), torch.rand(2, 3, 40, 44, generator=g)
    crop = astronaut[:, :, 100:148, 200:248]
    noisy = (crop + 0.05 * torch.randn(crop.shape, generator=g)).clamp(0, 1)
    return [rand, (noisy, crop)]


@pytest.mark.parametrize("window,stride,padding", CONFIGS_2D)
def test_local_matches_oracle_2d(astronaut, window, stride, padding):
    for x, y in _pairs_2d(astronaut):
        ref = glance_oracle(x.double(), y.double(), window=window, stride=stride, padding=padding)
        fast32 = glance_index(x, y, window, stride, padding, reduction="none")
        fast64 = glance_index(x.double(), y.double(), window, stride, padding, reduction="none")
        assert fast32.dtype == torch.float32 and fast64.dtype == torch.float64
        torch.testing.assert_close(fast32.double(), ref, rtol=0, atol=1e-5)
        torch.testing.assert_close(fast64, ref, rtol=0, atol=1e-10)
        # and window by window, not only on average
        ref_map = glance_oracle_map(x.double(), y.double(), window=window, stride=stride,
                                    padding=padding)
        fast_map = glance_index_map(x.double(), y.double(), window, stride, padding)
        torch.testing.assert_close(fast_map.flatten(2), ref_map, rtol=0, atol=1e-10)


@pytest.mark.parametrize("window,stride,padding", [(4, 1, "valid"), (5, 2, "zero"), (3, 3, "valid")])
def test_local_matches_oracle_3d(window, stride, padding):
    g = torch.Generator().manual_seed(1)
    x = torch.rand(2, 2, 12, 14, 13, generator=g)
    y = (0.6 * x + 0.4 * torch.rand(x.shape, generator=g))
    ref = glance_oracle(x.double(), y.double(), window=window, stride=stride, padding=padding)
    torch.testing.assert_close(
        glance_index(x, y, window, stride, padding, reduction="none").double(), ref,
        rtol=0, atol=1e-5,
    )
    torch.testing.assert_close(
        glance_index(x.double(), y.double(), window, stride, padding, reduction="none"), ref,
        rtol=0, atol=1e-10,
    )


def test_glance_index_is_windowed_pearson_correlation():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(1, 2, 9, 10, generator=g, dtype=torch.float64)
    y = x + 0.3 * torch.rand(x.shape, generator=g, dtype=torch.float64)
    ours = glance_index_map(x, y, 4, eps=1e-30).flatten(2)
    torch.testing.assert_close(ours, pearson_windows_corrcoef(x, y, 4), rtol=0, atol=1e-10)


def test_official_parity_matches_reference_statistic(astronaut):
    x, y = _pairs_2d(astronaut)[1]
    for window, stride in [(16, 1), (3, 3), (8, 2)]:
        ref = glance_oracle(x.double(), y.double(), window=window, stride=stride,
                            parity="official")
        ours = glance_index(x.double(), y.double(), window, stride, parity="official",
                            reduction="none")
        torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)
    # an even window with zero padding (k - 1) // 2 gives H - 1 outputs per row
    m = glance_index_map(x, y, 16, parity="official")
    assert m.shape[-2:] == (x.shape[-2] - 1, x.shape[-1] - 1)


@pytest.mark.parametrize("repeats,grid,window,delta", [(10, (8, 8), 4, None), (3, (6, 10), 3, 0.3),
                                                      (1, (12, 12), 5, None)])
def test_global_mosaic_layout_matches_design(astronaut, repeats, grid, window, delta):
    g = torch.Generator().manual_seed(3)
    y = astronaut[:, :, ::8, ::8].repeat(2, 1, 1, 1)
    x = (y + 0.1 * torch.randn(y.shape, generator=g)).clamp(0, 1)
    ours = global_glance_index(x.double(), y.double(), grid=grid, window=window, repeats=repeats,
                               delta=delta, generator=torch.Generator().manual_seed(7),
                               reduction="none")
    # replay the documented draws: positions, then R - 1 permutations of the grid
    gen = torch.Generator().manual_seed(7)
    k = grid[0] * grid[1]
    index = sample_positions(y.double(), k, delta, gen)
    perms = torch.rand(y.shape[0], repeats - 1, k, generator=gen).argsort(-1) if repeats > 1 \
        else torch.empty(y.shape[0], 0, k, dtype=torch.long)
    mx = mosaic_oracle(x.double(), index, list(perms), grid)
    my = mosaic_oracle(y.double(), index, list(perms), grid)
    assert mx.shape[-2:] == (grid[0], grid[1] * repeats)
    ref = glance_oracle(mx, my, window=window)
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)


def test_global_official_parity_clips_and_scales(astronaut):
    y = astronaut[:, :, ::8, ::8]
    x = y * 1.3 - 0.1  # partly outside [0, 1]
    gen = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    ours = global_glance_index(x.double(), y.double(), grid=(8, 8), window=4, repeats=2,
                               generator=gen(), parity="official", reduction="none")
    g = gen()
    index = sample_positions(y.double(), 64, None, g)
    perms = torch.rand(1, 1, 64, generator=g).argsort(-1)
    mx = mosaic_oracle(x.double(), index, list(perms), (8, 8)).clamp(0, 1) * 255
    my = mosaic_oracle(y.double(), index, list(perms), (8, 8)).clamp(0, 1) * 255
    ref = glance_oracle(mx, my, window=4, parity="official")
    torch.testing.assert_close(ours, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("window", [3, 7, 16])
def test_float32_stays_exact_where_windows_are_flat(window):
    """An MRI slice: air (exact zeros) and faint edges give windows far flatter than the
    image, where E[x^2] - E[x]^2 cancels. float32 inputs must still match the float64 oracle
    (values and gradients); in float32 arithmetic these windows were off by up to 1.25."""
    from msglance.data.embedded import load_dataset

    target = load_dataset("mri", 64)[0].image
    y = torch.from_numpy(np.asarray(target, dtype=np.float64))[None, None]
    g = torch.Generator().manual_seed(0)
    x = (y + 0.01 * torch.randn(y.shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    x[y == 0] = 0  # air stays air
    assert float((y == 0).double().mean()) > 0.3
    ref = glance_oracle(x, y, window=window)
    torch.testing.assert_close(glance_index(x.float(), y.float(), window, reduction="none").double(),
                               ref, rtol=0, atol=1e-6)
    ref_map = glance_oracle_map(x, y, window=window)
    ours_map = glance_index_map(x.float(), y.float(), window).flatten(2).double()
    torch.testing.assert_close(ours_map, ref_map, rtol=0, atol=1e-5)
    oracle_x = x.clone().requires_grad_()
    glance_oracle(oracle_x, y, window=window).sum().backward()
    scale = oracle_x.grad.abs().max()
    for dtype, tol in ((torch.float32, 1e-4), (torch.float64, 1e-7)):
        a = x.to(dtype).clone().requires_grad_()
        glance_index(a, y.to(dtype), window).backward()
        assert (a.grad.double() - oracle_x.grad).abs().max() <= tol * scale
