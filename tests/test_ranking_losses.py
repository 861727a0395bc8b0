"""Ranking losses against brute-force Plackett–Luce, hand values, invariances and extremes."""

from __future__ import annotations

import doctest
import itertools
import math

import pytest
import torch

import msglance.ranking.losses as losses_module
from msglance.ranking.losses import (
    LOSSES,
    RankingLoss,
    focused_rank_loss,
    listmle_loss,
    listnet_loss,
    pointwise_mse_loss,
    ranking_loss,
    ranknet_loss,
    sublist_listmle_loss,
)


def test_doctests():
    result = doctest.testmod(losses_module)
    assert result.attempted > 0 and result.failed == 0


def plackett_luce_nll(scores: list[float], order: list[int]) -> float:
    """-log P(order | scores) with P(π) = Π_i exp(s_πi) / Σ_{j≥i} exp(s_πj), in float64."""
    total = 0.0
    for i in range(len(order)):
        rest = [scores[j] for j in order[i:]]
        total += math.log(sum(math.exp(r) for r in rest)) - scores[order[i]]
    return total


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5])
def test_listmle_equals_brute_force_plackett_luce(k):
    g = torch.Generator().manual_seed(k)
    scores = torch.randn(6, k, generator=g, dtype=torch.float64) * 2
    labels = torch.randn(6, k, generator=g, dtype=torch.float64)
    expected = []
    for s, y in zip(scores.tolist(), labels.tolist()):
        order = sorted(range(k), key=lambda i: -y[i])
        expected.append(plackett_luce_nll(s, order))
    got = listmle_loss(scores, labels, reduction="none")
    torch.testing.assert_close(got, torch.tensor(expected, dtype=torch.float64))
    assert float(listmle_loss(scores, labels)) == pytest.approx(sum(expected) / 6)


def test_listmle_is_a_proper_likelihood_over_all_permutations():
    # Σ_π P(π | s) = 1: the loss is the NLL of a distribution over orders
    s = torch.tensor([[0.3, -1.2, 2.0, 0.5]], dtype=torch.float64)
    total = 0.0
    for perm in itertools.permutations(range(4)):
        labels = torch.zeros(1, 4, dtype=torch.float64)
        labels[0, list(perm)] = torch.arange(4, 0, -1, dtype=torch.float64)
        total += math.exp(-float(listmle_loss(s, labels)))
    assert total == pytest.approx(1.0, abs=1e-12)


def test_listmle_is_invariant_to_increasing_transforms_of_the_labels():
    g = torch.Generator().manual_seed(0)
    s, y = torch.randn(8, 16, generator=g), torch.rand(8, 16, generator=g)
    base = listmle_loss(s, y)
    for transform in (lambda t: 3 * t + 7, torch.exp, lambda t: t**3, torch.log1p):
        assert float(listmle_loss(s, transform(y))) == pytest.approx(float(base), rel=1e-6)


def test_correct_order_scores_lower_than_the_reverse():
    y = torch.arange(10.0)[None].repeat(3, 1)
    s = torch.arange(10.0)[None].repeat(3, 1)
    for fn in (listmle_loss, listnet_loss, pointwise_mse_loss, ranknet_loss):
        assert float(fn(s, y)) < float(fn(-s, y)), fn.__name__
    assert float(focused_rank_loss(s, y, 3)) < float(focused_rank_loss(-s, y, 3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16])
@pytest.mark.parametrize("name", list(LOSSES))
def test_finite_values_and_gradients_for_scores_up_to_1e4(dtype, name):
    g = torch.Generator().manual_seed(1)
    s = (torch.rand(4, 16, generator=g) * 2 - 1) * 1e4
    s[0, :] = 1e4
    s[1, :] = -1e4
    s = s.to(dtype).requires_grad_(True)
    y = torch.rand(4, 16, generator=g).to(dtype)
    options = {"sublist_listmle": {"size": 8, "generator": g}, "focused_rank": {"top": 4}}
    loss = LOSSES[name](s, y, **options.get(name, {}))
    assert loss.dtype == torch.float32  # float16 in, float32 loss out (65504 is too small)
    assert bool(torch.isfinite(loss))
    loss.backward()
    assert s.grad.dtype == dtype and bool(torch.isfinite(s.grad).all())


def test_ranknet_and_listnet_hand_values():
    s = torch.tensor([[2.0, 0.0, 1.0]])
    y = torch.tensor([[3.0, 1.0, 2.0]])
    # pairs (i above j): (0,1): s0-s1=2, (0,2): 1, (2,1): 1 -> mean of softplus(-d)
    hand = (math.log1p(math.exp(-2)) + 2 * math.log1p(math.exp(-1))) / 3
    assert float(ranknet_loss(s, y)) == pytest.approx(hand, rel=1e-6)
    # sigma scales the differences; ties are not pairs
    hand2 = (math.log1p(math.exp(-1)) + 2 * math.log1p(math.exp(-0.5))) / 3
    assert float(ranknet_loss(s, y, sigma=0.5)) == pytest.approx(hand2, rel=1e-6)
    assert float(ranknet_loss(s, torch.ones(1, 3))) == 0.0
    # ListNet: z(y) = (y - 2) / sqrt(2/3) = [1.2247, -1.2247, 0]; T = 1
    z = [1 / math.sqrt(2 / 3), -1 / math.sqrt(2 / 3), 0.0]
    p = [math.exp(v) / sum(math.exp(u) for u in z) for v in z]
    logq = [v - math.log(sum(math.exp(u) for u in (2.0, 0.0, 1.0))) for v in (2.0, 0.0, 1.0)]
    hand3 = -sum(pi * lq for pi, lq in zip(p, logq))
    assert float(listnet_loss(s, y)) == pytest.approx(hand3, rel=1e-5)
    zt = [v / 0.5 for v in z]
    pt = [math.exp(v) / sum(math.exp(u) for u in zt) for v in zt]
    hand4 = -sum(pi * lq for pi, lq in zip(pt, logq))
    assert float(listnet_loss(s, y, temperature=0.5)) == pytest.approx(hand4, rel=1e-5)


def test_sublist_listmle_uses_distinct_items_and_matches_listmle_on_the_full_list():
    g = torch.Generator().manual_seed(0)
    s, y = torch.randn(5, 6, generator=g), torch.rand(5, 6, generator=g)
    # a sub-list of all K items is the full list in another order: same loss
    full = sublist_listmle_loss(s, y, 6, torch.Generator().manual_seed(1))
    assert float(full) == pytest.approx(float(listmle_loss(s, y)), rel=1e-6)
    with pytest.raises(ValueError, match="size"):
        sublist_listmle_loss(s, y, 7)


def test_reductions_module_and_errors():
    s, y = torch.randn(3, 4), torch.rand(3, 4)
    none = listmle_loss(s, y, reduction="none")
    assert none.shape == (3,)
    assert float(listmle_loss(s, y, reduction="sum")) == pytest.approx(float(none.sum()), rel=1e-6)
    assert float(RankingLoss("listmle")(s, y)) == pytest.approx(float(none.mean()), rel=1e-6)
    with pytest.raises(ValueError, match="unknown ranking loss 'dcg'"):
        ranking_loss("dcg")
    with pytest.raises(ValueError, match=r"\(N, K\)"):
        listmle_loss(s, y[:, :3])
    with pytest.raises(ValueError, match="reduction"):
        listmle_loss(s, y, reduction="avg")
    with pytest.raises(ValueError, match="top"):
        focused_rank_loss(s, y, 4)
