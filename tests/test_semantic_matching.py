"""SeSS matching core: closed forms, the loop oracle, symmetry, monotonicity, edge cases."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import linear_sum_assignment

from msglance.semantic.assignment import BRUTE_FORCE_LIMIT, batch_assignment_value
from msglance.semantic.matching import BETA, ITERATIONS, sess_from_similarities
from sess_oracle import brute_assignment, chain_score, sess_loop

MODES = ("jacobi", "reference")


def random_case(rng, n1, n2, edges1, edges2, num_predicates=4):
    """K0, R1, R2, rho, w1, w2 with every similarity in [0, 1]."""
    k0 = rng.uniform(0.0, 1.0, (n1, n2))

    def relations(n, e):
        r = np.full((n, n), -1, dtype=np.int64)
        pairs = [(i, j) for i in range(n) for j in range(n) if i != j]
        for idx in rng.permutation(len(pairs))[:e]:
            r[pairs[idx]] = rng.integers(num_predicates)
        return r

    a = rng.uniform(0.0, 1.0, (num_predicates, num_predicates))
    rho = (a + a.T) / 2
    np.fill_diagonal(rho, 1.0)
    return (k0, relations(n1, edges1), relations(n2, edges2), rho,
            rng.uniform(0.1, 1.0, n1), rng.uniform(0.1, 1.0, n2))


def score(case, g=None, **kw):
    return sess_from_similarities(*case, g, **kw).score


def permuted(case, p1, p2):
    k0, r1, r2, rho, w1, w2 = case
    return (k0[np.ix_(p1, p2)], r1[np.ix_(p1, p1)], r2[np.ix_(p2, p2)], rho, w1[p1], w2[p2])


def swapped(case):
    k0, r1, r2, rho, w1, w2 = case
    return (k0.T, r2, r1, rho, w2, w1)


@pytest.mark.parametrize("k", [0.0, 0.3, 0.9, 1.0])
def test_single_node_closed_form(k):
    res = sess_from_similarities([[k]], [[-1]], [[-1]], np.ones((1, 1)), [1.0], [1.0])
    assert res.score == pytest.approx(1 - (1 - BETA) ** ITERATIONS * (1 - k), abs=1e-14)
    assert res.matches == ((0, 0),)


@pytest.mark.parametrize("mode", MODES)
def test_two_node_chain_matches_scalar_recursion(mode):
    rng = np.random.default_rng(1)
    chain = np.array([[-1, 0], [-1, -1]])
    for _ in range(20):
        k0 = rng.uniform(0, 1, (2, 2))
        rho_pq = rng.uniform(0, 1)
        rho = np.array([[1.0, rho_pq], [rho_pq, 1.0]])
        r2 = np.array([[-1, 1], [-1, -1]])
        got = sess_from_similarities(k0, chain, r2, rho, [1, 1], [1, 1], update=mode).score
        assert got == pytest.approx(chain_score(k0, rho_pq), abs=1e-13)


@pytest.mark.parametrize("mode", MODES)
def test_agrees_with_the_pair_loop_oracle(mode):
    rng = np.random.default_rng(2)
    for n1, n2, e1, e2 in [(3, 4, 3, 5), (5, 5, 8, 6), (6, 4, 10, 3), (4, 4, 0, 2), (2, 3, 2, 6)]:
        case = random_case(rng, n1, n2, e1, e2)
        g = rng.uniform(0, 1)
        assert score(case, g, update=mode) == pytest.approx(
            sess_loop(*case, g=g, update=mode), abs=1e-12)


def test_jacobi_is_symmetric_and_order_invariant():
    rng = np.random.default_rng(3)
    for _ in range(10):
        n1, n2 = rng.integers(2, 9, size=2)
        case = random_case(rng, n1, n2, rng.integers(0, 2 * n1), rng.integers(0, 2 * n2))
        s = score(case)
        assert score(swapped(case)) == pytest.approx(s, abs=1e-12)
        assert score(permuted(case, rng.permutation(n1), rng.permutation(n2))) == pytest.approx(
            s, abs=1e-12)


def test_reference_mode_depends_on_order_as_released():
    """The released in-place update is order dependent (here: median 6e-4, max 1.9e-3)."""
    rng = np.random.default_rng(4)
    diffs = []
    for _ in range(10):
        case = random_case(rng, 8, 8, 16, 16)
        s = score(case, update="reference")
        diffs.append(abs(score(permuted(case, rng.permutation(8), rng.permutation(8)),
                               update="reference") - s))
        diffs.append(abs(score(swapped(case), update="reference") - s))
    assert max(diffs) > 1e-6
    assert max(diffs) < 1e-2  # small, but not rounding


def test_identity_gives_exactly_one():
    rng = np.random.default_rng(5)
    for mode in MODES:
        for n in (1, 2, 5, 9):
            k0, r, _, rho, w, _ = random_case(rng, n, n, 2 * n, 0)
            k0 = np.minimum(k0, 0.99)
            np.fill_diagonal(k0, 1.0)
            res = sess_from_similarities(k0, r, r, rho, w, w, 1.0, update=mode)
            assert res.score == 1.0
            assert res.matches == tuple((i, i) for i in range(n))


def test_scores_lie_in_unit_interval():
    rng = np.random.default_rng(6)
    for _ in range(20):
        n1, n2 = rng.integers(1, 8, size=2)
        case = random_case(rng, n1, n2, rng.integers(0, 3 * n1), rng.integers(0, 3 * n2))
        for mode in MODES:
            res = sess_from_similarities(*case, rng.uniform(0, 1), update=mode)
            assert 0.0 <= res.score <= 1.0
            assert 0.0 <= res.graph_score <= 1.0


@pytest.mark.parametrize("mode", MODES)
def test_lowering_a_similarity_never_raises_the_score(mode):
    rng = np.random.default_rng(7)
    for _ in range(15):
        case = random_case(rng, 5, 6, 7, 9)
        base = score(case, update=mode)
        k0, r1, r2, rho, w1, w2 = case
        lower_k = k0.copy()
        i, j = rng.integers(5), rng.integers(6)
        lower_k[i, j] -= rng.uniform(0, lower_k[i, j])
        assert score((lower_k, r1, r2, rho, w1, w2), update=mode) <= base + 1e-12
        lower_rho = rho.copy()
        p, q = rng.integers(4, size=2)
        lower_rho[p, q] = lower_rho[q, p] = lower_rho[p, q] * rng.uniform(0, 1)
        assert score((k0, r1, r2, lower_rho, w1, w2), update=mode) <= base + 1e-12


def test_removing_shared_nodes_lowers_the_score():
    """Graph 2 = graph 1 minus nested sets of nodes: every removal lowers the score."""
    rng = np.random.default_rng(8)
    n = 7
    k0, r, _, rho, w, _ = random_case(rng, n, n, 12, 0)
    k0 = 0.3 * k0
    np.fill_diagonal(k0, 1.0)
    scores = []
    for removed in range(n - 1):
        keep = np.arange(removed, n)
        scores.append(sess_from_similarities(k0[:, keep], r, r[np.ix_(keep, keep)], rho, w,
                                             w[keep], 1.0).score)
    assert scores[0] == 1.0
    assert all(a > b for a, b in zip(scores, scores[1:])), scores


def test_empty_graphs():
    rho = np.ones((1, 1))
    empty = np.zeros((0, 0), dtype=np.int64)
    both = sess_from_similarities(np.zeros((0, 0)), empty, empty, rho, [], [])
    assert both.score == 1.0 and both.matches == ()
    one = sess_from_similarities(np.zeros((0, 2)), empty, np.full((2, 2), -1), rho, [], [1, 1])
    assert one.score == 0.0
    assert sess_from_similarities(np.zeros((2, 0)), np.full((2, 2), -1), empty, rho, [1, 1], [],
                                  1.0, gamma=0.05).score == pytest.approx(0.05)


def test_result_fields():
    rng = np.random.default_rng(9)
    case = random_case(rng, 4, 3, 4, 3)
    res = sess_from_similarities(*case, 0.5)
    assert res.global_similarity == 0.5
    assert res.graph_score == pytest.approx((4 * res.s1 + 3 * res.s2) / 7)
    assert res.score == pytest.approx(0.95 * res.graph_score + 0.05 * 0.5)
    assert res.similarity.shape == (4, 3) and len(res.matches) == 3
    assert sess_from_similarities(*case).score == res.graph_score


@pytest.mark.parametrize("change, words", [
    (lambda c: (np.full_like(c[0], np.nan),) + c[1:], "node_similarity"),
    (lambda c: (c[0], c[1][:2, :2]) + c[2:], "relations1"),
    (lambda c: (c[0], c[1], c[2] + 10) + c[3:], "relations2"),
    (lambda c: (c[0], c[1].astype(float)) + c[2:], "relations1"),
    (lambda c: c[:3] + (c[3][:2],) + c[4:], "predicate_similarity"),
    (lambda c: c[:4] + (-c[4], c[5]), "importance1"),
    (lambda c: c[:5] + (c[5][:1],), "importance2"),
])
def test_bad_arguments_are_named(change, words):
    case = random_case(np.random.default_rng(10), 3, 3, 2, 2)
    with pytest.raises((ValueError, TypeError), match=words):
        sess_from_similarities(*change(case))


def test_bad_options_are_named():
    case = random_case(np.random.default_rng(11), 2, 2, 1, 1)
    for kw, name in (({"update": "gauss"}, "update"), ({"alpha": 2.0}, "alpha"),
                     ({"iterations": -1}, "iterations")):
        with pytest.raises(ValueError, match=name):
            sess_from_similarities(*case, **kw)
    with pytest.raises(ValueError, match="global_similarity"):
        sess_from_similarities(*case, float("nan"))


def test_batch_assignment_is_exact():
    rng = np.random.default_rng(12)
    for n, m in [(1, 1), (1, 5), (4, 2), (3, 3), (5, 5), (3, 8), (7, 7)]:
        batch = rng.normal(size=(6, n, m))
        got = batch_assignment_value(batch)
        for a, value in zip(batch, got):
            rows, cols = linear_sum_assignment(a, maximize=True)
            assert value == pytest.approx(a[rows, cols].sum(), abs=1e-12)
            if n * m <= 25:
                assert value == pytest.approx(brute_assignment(a), abs=1e-12)
    assert 7 * 6 * 5 * 4 * 3 * 2 > BRUTE_FORCE_LIMIT  # (7, 7) went through Kuhn-Munkres
