"""Weighted Global Glance sampling (``position_weights``): support, distribution, seeding,
equivalence with uniform sampling, batching, fallback and errors."""

from __future__ import annotations

import itertools
import warnings

import pytest
import torch
from scipy.stats import chisquare

from msglance.glance import (
    AirPriorWarning,
    GlobalGlanceLoss,
    MSGlanceLoss,
    global_glance_index,
    ms_glance_index,
    sample_positions,
)


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_never_picks_zero_weight_when_enough_positive():
    torch.manual_seed(0)
    y = torch.rand(4, 2, 16, 16)
    w = torch.rand(4, 1, 16, 16) * (torch.rand(4, 1, 16, 16) > 0.5)  # ~half zero per item
    count = int((w > 0).flatten(1).sum(1).min()) - 3
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # enough positive positions: no fallback warning
        idx = sample_positions(y, count, generator=gen(1), position_weights=w)
    assert idx.shape == (4, count)
    picked = w.flatten(1).gather(1, idx)
    assert bool((picked > 0).all())
    assert all(row.unique().numel() == count for row in idx)  # without replacement


def test_with_replacement_frequencies_match_weights_chi_square():
    w = torch.arange(1.0, 65.0).view(8, 8) ** 1.5  # strongly non-uniform, 64 positions
    w[2, 3] = 0.0
    y = torch.rand(200, 1, 8, 8)
    idx = sample_positions(y, 100, generator=gen(0), replacement=True, position_weights=w)
    counts = torch.bincount(idx.flatten(), minlength=64).double()
    assert counts[2 * 8 + 3] == 0  # a zero weight is never drawn
    p = w.flatten().double()
    keep = p > 0
    expected = p[keep] / p[keep].sum() * counts.sum()
    assert chisquare(counts[keep].numpy(), expected.numpy()).pvalue > 1e-3
    # the test has power: the uniform hypothesis is rejected on the same counts
    uniform = torch.full_like(expected, float(counts.sum()) / int(keep.sum()))
    assert chisquare(counts[keep].numpy(), uniform.numpy()).pvalue < 1e-6


def test_without_replacement_first_two_picks_follow_plackett_luce():
    w = torch.tensor([[1.0, 2.0], [3.0, 6.0]])  # 4 positions
    y = torch.rand(40000, 1, 2, 2)
    idx = sample_positions(y, 3, generator=gen(3), position_weights=w)
    wf = w.flatten().double()
    total = float(wf.sum())
    first = torch.bincount(idx[:, 0], minlength=4).double()
    assert chisquare(first.numpy(), (wf / total * idx.shape[0]).numpy()).pvalue > 1e-3
    pairs = list(itertools.permutations(range(4), 2))
    observed = torch.tensor([float(((idx[:, 0] == i) & (idx[:, 1] == j)).sum()) for i, j in pairs])
    prob = torch.tensor([float(wf[i] / total * wf[j] / (total - wf[i])) for i, j in pairs])
    assert chisquare(observed.numpy(), (prob * idx.shape[0]).numpy()).pvalue > 1e-3


def test_seed_determinism():
    y = torch.rand(3, 1, 12, 12)
    w = torch.rand(12, 12)
    a = sample_positions(y, 50, generator=gen(7), position_weights=w)
    b = sample_positions(y, 50, generator=gen(7), position_weights=w)
    c = sample_positions(y, 50, generator=gen(8), position_weights=w)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


@pytest.mark.parametrize("delta", [None, 0.3])
@pytest.mark.parametrize("value", [1.0, 3.7, 1e-5])
def test_uniform_weights_give_the_unweighted_draw(delta, value):
    y = torch.rand(5, 2, 20, 20)
    w = torch.full((20, 20), value)
    plain = sample_positions(y, 150, delta=delta, generator=gen(11))
    weighted = sample_positions(y, 150, delta=delta, generator=gen(11), position_weights=w)
    assert torch.equal(plain, weighted)


def test_uniform_weights_with_replacement_match_the_unweighted_distribution():
    y = torch.rand(500, 1, 4, 4)
    plain = sample_positions(y, 40, generator=gen(2), replacement=True)
    weighted = sample_positions(y, 40, generator=gen(2), replacement=True,
                                position_weights=torch.full((4, 4), 2.0))
    # the same uniforms through two inverse CDFs of the same distribution
    assert (plain != weighted).double().mean() < 1e-3
    counts = torch.bincount(weighted.flatten(), minlength=16).double()
    assert chisquare(counts.numpy()).pvalue > 1e-3


def test_shapes_are_equivalent_for_a_shared_map():
    y = torch.rand(3, 2, 10, 10)
    w = torch.rand(10, 10)
    forms = [w, w[None], w[None, None], w.expand(3, 10, 10), w.expand(3, 1, 10, 10)]
    draws = [sample_positions(y, 40, generator=gen(5), position_weights=f) for f in forms]
    for d in draws[1:]:
        assert torch.equal(draws[0], d)


def test_volumes_are_supported():
    y = torch.rand(2, 1, 4, 6, 6)
    w = torch.zeros(4, 6, 6)
    w[1] = 1.0
    idx = sample_positions(y, 30, generator=gen(0), position_weights=w)
    assert bool((idx // 36 == 1).all())


def test_batched_items_are_independent():
    y = torch.rand(2, 1, 16, 16)
    left, right = torch.zeros(16, 16), torch.zeros(16, 16)
    left[:, :8], right[:, 8:] = 1.0, torch.rand(16, 8) + 0.1
    both = sample_positions(y, 60, generator=gen(4), position_weights=torch.stack([left, right]))
    assert bool((both[0] % 16 < 8).all()) and bool((both[1] % 16 >= 8).all())
    # changing item 1's weights (even into the fallback) leaves item 0's sample unchanged
    sparse = torch.zeros(16, 16)
    sparse[0, :5] = 1.0
    with pytest.warns(AirPriorWarning):
        other = sample_positions(y, 60, generator=gen(4), position_weights=torch.stack([left, sparse]))
    assert torch.equal(both[0], other[0])
    assert bool((other[1] < 5).all())


def test_too_few_positive_positions_fall_back_to_weighted_replacement():
    y = torch.rand(1, 1, 8, 8)
    w = torch.zeros(8, 8)
    w[0, 0], w[7, 7] = 1.0, 3.0
    with pytest.warns(AirPriorWarning, match="position_weights"):
        idx = sample_positions(y, 4000, generator=gen(0), position_weights=w)
    assert set(idx.unique().tolist()) == {0, 63}
    counts = torch.tensor([float((idx == 0).sum()), float((idx == 63).sum())])
    assert chisquare(counts.numpy(), [1000.0, 3000.0]).pvalue > 1e-3


def test_air_prior_and_weights_combine():
    y = torch.zeros(2, 1, 8, 8)
    y[:, :, :4] = 1.0  # top half is tissue, bottom half air
    w = torch.ones(2, 8, 8)
    w[:, :, 4:] = 0.0  # right half weighted out
    w[1] = 0.0
    w[1, 6:, :] = 1.0  # item 1: positive weights only in the air
    with pytest.warns(AirPriorWarning):
        idx = sample_positions(y, 10, delta=0.5, generator=gen(0), position_weights=w)
    rows, cols = idx // 8, idx % 8
    assert bool((rows[0] < 4).all() and (cols[0] < 4).all())  # tissue and weighted in
    assert bool((rows[1] >= 6).all())  # the air prior yields to the weights


@pytest.mark.parametrize("bad,match", [
    (-1.0, "finite and >= 0"), (float("nan"), "finite and >= 0"), (float("inf"), "finite"),
])
def test_bad_values_raise(bad, match):
    y = torch.rand(2, 1, 8, 8)
    w = torch.rand(8, 8)
    w[3, 3] = bad
    with pytest.raises(ValueError, match=f"position_weights.*{match}"):
        sample_positions(y, 10, position_weights=w)


def test_all_zero_item_and_bad_shape_raise():
    y = torch.rand(2, 1, 8, 8)
    w = torch.rand(2, 8, 8)
    w[1] = 0.0
    with pytest.raises(ValueError, match=r"position_weights are all zero for item\(s\) \[1\]"):
        sample_positions(y, 10, position_weights=w)
    for shape in [(8, 7), (3, 8, 8), (2, 2, 8, 8), (8,)]:
        with pytest.raises(ValueError, match="position_weights of shape"):
            sample_positions(y, 10, position_weights=torch.ones(shape))
    with pytest.raises(TypeError, match="position_weights"):
        sample_positions(y, 10, position_weights=[[1.0]])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="position_weights"):
        GlobalGlanceLoss(position_weights=1.0)  # type: ignore[arg-type]


def _half_corrupted(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = gen(seed)
    y = torch.rand(2, 1, 32, 32, generator=g)
    x = y.clone()
    x[..., 16:] = torch.rand(2, 1, 32, 16, generator=g)  # right half unrelated to the target
    w = torch.zeros(32, 32)
    w[:, :16] = 1.0
    return x, y, w


def test_global_index_sees_only_the_weighted_region():
    x, y, w = _half_corrupted()
    weighted = global_glance_index(x, y, grid=(16, 16), repeats=2, generator=gen(0),
                                   position_weights=w, reduction="none")
    uniform = global_glance_index(x, y, grid=(16, 16), repeats=2, generator=gen(0),
                                  reduction="none")
    assert torch.allclose(weighted, torch.ones(2), atol=1e-6)
    assert bool((uniform < 0.9).all())


def test_losses_and_ms_glance_route_the_weights():
    x, y, w = _half_corrupted(1)
    x.requires_grad_(True)
    loss = GlobalGlanceLoss(grid=(16, 16), repeats=2, seed=0, position_weights=w)
    value = loss(x, y)
    assert float(value.detach()) < 1e-6
    value.backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    override = loss(x.detach(), y, position_weights=torch.ones(32, 32))  # forward map wins
    assert float(override) > 0.1
    ms = MSGlanceLoss(global_weight=1.0, local_weight=0.0, grid=(16, 16), repeats=2, seed=0,
                      position_weights=w)
    x = x.detach()
    assert float(ms(x, y)) < 1e-6
    assert float(ms(x, y, position_weights=torch.ones(32, 32))) > 0.1
    ms_idx = ms_glance_index(x, y, 1.0, 0.0, grid=(16, 16), repeats=2,
                             generator=gen(0), position_weights=w)
    assert abs(float(ms_idx) - 1.0) < 1e-6


def test_parse_forwards_weights_to_the_global_terms_only():
    from msglance.losses import parse

    w = torch.rand(32, 32)
    loss = parse("l2 + 0.01*global + 0.01*local + 0.1*msglance", position_weights=w, seed=0,
                 grid=(16, 16))
    assert loss.terms["global"].position_weights is w
    assert loss.terms["msglance"].global_loss.position_weights is w
    assert not hasattr(loss.terms["local"], "position_weights")
    y = torch.rand(1, 1, 32, 32)
    assert float(loss(y, y)) < 1e-6
