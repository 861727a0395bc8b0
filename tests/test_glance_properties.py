"""Properties of the Glance Index and the Global Glance sampling (hypothesis)."""

import warnings

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from msglance.glance import (
    AirPriorWarning,
    GlobalGlanceLoss,
    MSGlanceLoss,
    glance_index,
    global_glance_index,
    sample_positions,
)

SETTINGS = settings(max_examples=25, deadline=None)


def _image(seed: int, shape, dtype=torch.float32) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand(shape, generator=g, dtype=dtype)


shapes = st.tuples(
    st.integers(1, 3), st.integers(1, 3), st.integers(8, 24), st.integers(8, 24)
)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), shape=shapes, window=st.integers(2, 8))
def test_identity_is_one(seed, shape, window):
    x = _image(seed, shape)
    gi = glance_index(x, x, window=window, reduction="none")
    # var / (var + eps) with var ~ 1/12 for uniform noise
    torch.testing.assert_close(gi, torch.ones_like(gi), rtol=0, atol=1e-5)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), shape=shapes, a=st.floats(0.05, 20.0),
       b=st.floats(-10.0, 10.0))
def test_positive_affine_invariance_and_negation(seed, shape, a, b):
    x = _image(seed, shape)
    gi = glance_index(x, a * x + b, window=4, reduction="none")
    torch.testing.assert_close(gi, torch.ones_like(gi), rtol=0, atol=1e-4)
    neg = glance_index(x, -a * x + b, window=4, reduction="none")
    torch.testing.assert_close(neg, -torch.ones_like(neg), rtol=0, atol=1e-4)


@SETTINGS
@given(seed=st.integers(0, 2**31 - 1), shape=shapes, scale=st.floats(1e-3, 1e3),
       window=st.integers(2, 8), padding=st.sampled_from(["valid", "zero"]))
def test_symmetry_and_range(seed, shape, scale, window, padding):
    x = _image(seed, shape) * scale
    y = _image(seed + 1, shape) * scale + 0.5 * x
    a = glance_index(x, y, window=window, padding=padding, reduction="none")
    b = glance_index(y, x, window=window, padding=padding, reduction="none")
    torch.testing.assert_close(a, b, rtol=0, atol=1e-6)
    assert bool(((a >= -1) & (a <= 1)).all())
    g = global_glance_index(x, y, grid=(4, 6), window=3, repeats=3,
                            generator=torch.Generator().manual_seed(seed), reduction="none")
    assert bool(((g >= -1) & (g <= 1)).all())


def test_global_identity_and_negation():
    x = _image(0, (2, 3, 64, 64))
    gen = lambda: torch.Generator().manual_seed(0)  # noqa: E731
    torch.testing.assert_close(global_glance_index(x, x, grid=(32, 32), generator=gen()),
                               torch.tensor(1.0), rtol=0, atol=1e-5)
    torch.testing.assert_close(global_glance_index(x, 1 - x, grid=(32, 32), generator=gen()),
                               torch.tensor(-1.0), rtol=0, atol=1e-5)


def test_global_loss_invariant_to_a_shared_pixel_permutation(astronaut):
    """Permuting pixel positions of x and y alike leaves the loss's distribution unchanged.

    The draws are random, so compare the mean over many fixed seeds (a deterministic test)
    within 5 standard errors; the Local Glance, which sees spatial layout, does change.
    """
    y = astronaut[:, :1, ::16, ::16]  # (1, 1, 32, 32)
    x = (y + 0.15 * _image(9, y.shape)).clamp(0, 1)
    perm = torch.randperm(y[0, 0].numel(), generator=torch.Generator().manual_seed(1))
    xp = x.flatten(2)[..., perm].view_as(x)
    yp = y.flatten(2)[..., perm].view_as(y)
    loss = GlobalGlanceLoss(grid=(16, 16), window=4, repeats=3, seed=0)
    loss_p = GlobalGlanceLoss(grid=(16, 16), window=4, repeats=3, seed=12345)
    a = torch.stack([loss(x, y) for _ in range(200)])
    b = torch.stack([loss_p(xp, yp) for _ in range(200)])
    se = ((a.var() + b.var()) / 200).sqrt()
    assert abs(float(a.mean() - b.mean())) < 5 * float(se), (a.mean(), b.mean(), se)
    local, local_p = glance_index(x, y, window=4), glance_index(xp, yp, window=4)
    assert abs(float(local - local_p)) > 10 * float(se)


def test_air_prior_never_samples_below_delta():
    y = _image(3, (3, 1, 40, 40))
    y[:, :, :, :20] = 0.0  # left half is "air"
    idx = sample_positions(y, 30 * 20, delta=0.01, generator=torch.Generator().manual_seed(0))
    picked = torch.gather(y.flatten(2)[:, 0], 1, idx)
    assert bool((picked > 0.01).all())
    # without replacement: all distinct
    assert all(torch.unique(row).numel() == row.numel() for row in idx)
    # uniform over the valid half: every valid column is hit
    cols = (idx % 40).unique()
    assert cols.min() >= 20 and cols.numel() == 20


def test_deficient_item_is_sampled_with_replacement_and_leaves_others_unchanged():
    good = _image(4, (1, 1, 32, 32)) + 0.1
    other = _image(5, (1, 1, 32, 32)) + 0.1
    sparse = torch.zeros(1, 1, 32, 32)
    sparse[..., 10:14, 10:14] = 1.0  # 16 valid positions < 64 grid positions
    x_pair = _image(6, (2, 1, 32, 32))
    kw = dict(grid=(8, 8), window=3, repeats=2, delta=0.01, reduction="none")
    with pytest.warns(AirPriorWarning):
        with_sparse = global_glance_index(x_pair, torch.cat([good, sparse]),
                                          generator=torch.Generator().manual_seed(0), **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with_other = global_glance_index(x_pair, torch.cat([good, other]),
                                         generator=torch.Generator().manual_seed(0), **kw)
    assert torch.isfinite(with_sparse).all()
    assert with_sparse[0] == with_other[0]  # bit-identical
    with pytest.warns(AirPriorWarning):
        idx = sample_positions(torch.cat([good, sparse]), 64, 0.01,
                               torch.Generator().manual_seed(0))
    rows, cols = idx[1] // 32, idx[1] % 32
    assert bool(((rows >= 10) & (rows < 14) & (cols >= 10) & (cols < 14)).all())
    # an item with no valid position at all is drawn from everywhere, never dropped
    with pytest.warns(AirPriorWarning):
        empty = global_glance_index(x_pair, torch.zeros(2, 1, 32, 32),
                                    generator=torch.Generator().manual_seed(0), **kw)
    assert torch.isfinite(empty).all()


def test_global_works_for_3d_volumes():
    x = _image(7, (2, 1, 10, 12, 14))
    gi = global_glance_index(x, x * 2 + 1, grid=(16, 16), window=4, repeats=2,
                             generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(gi, torch.tensor(1.0), rtol=0, atol=1e-5)


def test_seeded_loss_is_reproducible_and_fresh_every_call():
    x, y = _image(8, (2, 1, 40, 40)), _image(9, (2, 1, 40, 40))
    a = GlobalGlanceLoss(grid=(16, 16), window=4, seed=3)
    b = GlobalGlanceLoss(grid=(16, 16), window=4, seed=3)
    first, second = a(x, y), a(x, y)
    assert first != second
    assert b(x, y) == first and b(x, y) == second


def test_gradcheck_float64():
    x = _image(10, (2, 2, 9, 10), torch.float64).requires_grad_()
    y = _image(11, (2, 2, 9, 10), torch.float64)
    assert torch.autograd.gradcheck(lambda a: glance_index(a, y, window=4), (x,))
    assert torch.autograd.gradcheck(lambda a: glance_index(a, y, window=3, padding="zero",
                                                           parity="official"), (x,))
    assert torch.autograd.gradcheck(
        lambda a: global_glance_index(a, y, grid=(5, 6), window=3, repeats=2,
                                      generator=torch.Generator().manual_seed(0)), (x,))
    assert torch.autograd.gradcheck(
        lambda a: MSGlanceLoss(0.3, 0.7, pixel="l1", grid=(5, 6), window=3, repeats=2,
                               generator=torch.Generator().manual_seed(0))(a, y), (x,))
    v = _image(12, (1, 1, 6, 7, 5), torch.float64).requires_grad_()
    w = _image(13, (1, 1, 6, 7, 5), torch.float64)
    assert torch.autograd.gradcheck(lambda a: glance_index(a, w, window=3), (v,))


@pytest.mark.parametrize(
    "shape,window,stride,padding",
    [((2, 3, 40, 37), 16, 1, "valid"), ((1, 2, 45, 30), 7, 3, "zero"), ((1, 1, 20, 18, 17), 5, 2, "valid")],
)
def test_chunked_rows_and_slabs_match_one_pass(monkeypatch, shape, window, stride, padding):
    """Rows and first-axis slabs are split on CPU; the split must not change values or grads."""
    from msglance import chunking

    x = _image(20, shape, torch.float64)
    y = (0.5 * x + 0.5 * _image(21, shape, torch.float64))
    results = []
    for budget in (1 << 40, 300):  # one pass; then pieces of a few rows/slices each
        monkeypatch.setattr(chunking, "CHUNK_VALUES", budget)
        a, b = x.clone().requires_grad_(), y.clone().requires_grad_()
        value = glance_index(a, b, window, stride, padding, reduction="none")
        value.sum().backward()
        with torch.no_grad():  # the plain (graph-free) loop over the same pieces
            torch.testing.assert_close(glance_index(a, b, window, stride, padding, reduction="none"),
                                       value.detach(), rtol=0, atol=1e-14)
        results.append((value.detach(), a.grad, b.grad))
    monkeypatch.setattr(chunking, "CHUNK_VALUES", 300)
    assert len(chunking.pieces(x.flatten(0, 1).unsqueeze(1), window, stride)) > x.shape[0] * x.shape[1]
    for one, split in zip(*results):
        torch.testing.assert_close(split, one, rtol=0, atol=1e-12)
    assert results[0][1].abs().sum() > 0 and results[0][2].abs().sum() > 0
