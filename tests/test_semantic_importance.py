"""SeSS node importance and spectral-residual saliency."""

from __future__ import annotations

import numpy as np
import pytest

from msglance.semantic.importance import (
    node_importance,
    saliency_masses,
    spectral_residual_saliency,
)


def reference_importance(masses, confidence, k1=2.5, k2=3.0, k3=0.8):
    """The released get_semantic_imp loop, given the masses instead of an image."""
    s = np.array([m ** (1 / k1) for m in masses])
    s = s / s.sum()
    r = np.zeros(len(masses))
    for i in range(len(masses)):
        for j in range(len(masses)):
            if i != j and confidence[i, j] > 0:
                r[i] += confidence[i, j] * s[i] / (s[i] + s[j])
                r[j] += confidence[i, j] * s[j] / (s[i] + s[j])
    r = r ** (1 / k2)
    r = r / r.sum()
    w = k3 * s + (1 - k3) * r
    return w / w.sum()


def test_matches_the_released_formula():
    rng = np.random.default_rng(0)
    for n in (2, 3, 6):
        masses = rng.uniform(0.1, 50, n)
        conf = rng.uniform(0, 1, (n, n)) * (rng.uniform(size=(n, n)) < 0.5)
        conf[0, 1] = 0.7  # at least one edge
        np.fill_diagonal(conf, 0)
        w = node_importance(masses, conf)
        np.testing.assert_allclose(w, reference_importance(masses, conf), atol=1e-14)
        assert w.sum() == pytest.approx(1.0, abs=1e-14)


def test_edge_cases():
    assert node_importance(np.array([3.0])).tolist() == [1.0]
    assert node_importance(np.zeros(0)).size == 0
    np.testing.assert_allclose(node_importance(np.zeros(4)), np.full(4, 0.25))
    # no edges: saliency term alone (the reference divides by zero here)
    s = np.array([1.0, 32.0]) ** (1 / 2.5)
    np.testing.assert_allclose(node_importance(np.array([1.0, 32.0]), np.zeros((2, 2))),
                               s / s.sum())
    with pytest.raises(ValueError, match="masses"):
        node_importance(np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="confidence"):
        node_importance(np.ones(3), np.ones((2, 2)))


def test_more_salient_and_more_related_nodes_weigh_more():
    w = node_importance(np.array([10.0, 1.0, 1.0]))
    assert w[0] > w[1] == w[2]
    conf = np.zeros((3, 3))
    conf[1, 0] = 1.0
    w = node_importance(np.array([1.0, 1.0, 1.0]), conf)
    assert w[0] == w[1] > w[2]


def test_saliency_finds_the_odd_patch_and_masses_sum_it():
    rng = np.random.default_rng(1)
    img = 0.1 * rng.random((96, 80, 3))
    img[40:48, 50:58] = 1.0
    sal = spectral_residual_saliency(img)
    assert sal.shape == (96, 80) and sal.min() >= 0 and sal.max() <= 1
    masks = np.zeros((2, 96, 80), bool)
    masks[0, 36:52, 46:62] = True
    masks[1, 0:16, 0:16] = True
    m = saliency_masses(sal, masks)
    assert m[0] > 5 * m[1]
    assert m[0] == pytest.approx(sal[36:52, 46:62].sum())
    with pytest.raises(ValueError, match="image"):
        spectral_residual_saliency(np.zeros((4, 4, 2)))
    with pytest.raises(ValueError, match="masks"):
        saliency_masses(sal, masks[:, :10])
