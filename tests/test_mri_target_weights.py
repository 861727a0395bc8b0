"""Sampling weights of MRI training targets: maps per item, cached per slice id, errors."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from msglance.mri.target_weights import TargetWeights
from msglance.position_weights import patch_variance, spread_patch_scores


def test_maps_are_the_sources_per_item_and_cached_by_slice_id():
    weights = TargetWeights("variance", patch=4)
    calls = []
    source = weights.source
    weights.source = lambda image: calls.append(1) or source(image)
    y = torch.rand(3, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    w = weights(y, ["a", "b", "c"])
    assert w.shape == (3, 1, 8, 8) and w.dtype == torch.float32 and len(calls) == 3
    for i in range(3):  # each item's own map: the source's, scaled to mean 1
        expected = spread_patch_scores(patch_variance(y[i], 4), 4).double()
        torch.testing.assert_close(w[i, 0].double(), expected * (64 / expected.sum()))
    again = weights(y.flip(0), ["c", "b", "a"])  # cached: no new calls, same maps by id
    assert len(calls) == 3 and torch.equal(again, w.flip(0))
    weights(y, None)  # without ids: computed each time, not cached
    assert len(calls) == 6 and sorted(weights.cache) == ["a", "b", "c"]


def test_building_the_maps_draws_no_random_numbers(tiny_ranker):
    _, ckpt = tiny_ranker
    weights = TargetWeights(f"ltrp:{ckpt}")
    y = torch.rand(2, 1, 32, 32)
    state = torch.get_rng_state()
    w = weights(y, ["x", "y"])
    assert torch.equal(state, torch.get_rng_state())  # a resumed run draws the same
    assert w.shape == (2, 1, 32, 32) and bool((w > 0).all())


def test_errors_are_one_line(tmp_path):
    with pytest.raises(ValueError, match="unknown position weights 'nope'"):
        TargetWeights("nope")
    with pytest.raises(ValueError, match="no such checkpoint"):
        TargetWeights(f"ltrp:{tmp_path / 'missing.pt'}")
    weights = TargetWeights("variance", patch=4)
    with pytest.raises(ValueError, match="2 slice ids for a batch of 3"):
        weights(torch.rand(3, 1, 8, 8), ["a", "b"])
    with pytest.raises(ValueError, match=r"\(B, C, H, W\)"):
        weights(torch.rand(1, 8, 8))
    with pytest.raises(ValueError, match="all zero"):  # a constant target has no texture
        weights(torch.zeros(1, 1, 8, 8), ["flat"])
    np.save(tmp_path / "w.npy", np.ones((4, 4)))
    with pytest.raises(ValueError, match="does not match the image"):
        TargetWeights(str(tmp_path / "w.npy"))(torch.rand(1, 1, 8, 8))
