"""Ranker, token classifier and patch selectors: shapes, uniqueness, determinism, errors."""

from __future__ import annotations

import doctest

import pytest
import torch

import msglance.ranking.checkpoint as checkpoint_module
import msglance.ranking.classifier as classifier_module
import msglance.ranking.ranker as ranker_module
import msglance.ranking.selectors as selectors_module
from msglance.ranking.classifier import ClassifierConfig, TokenClassifier
from msglance.ranking.ranker import PatchRanker, RankerConfig
from msglance.ranking.selectors import METHODS, dpc_knn_scores, grid_order, select


@pytest.mark.parametrize("module", [checkpoint_module, classifier_module, ranker_module,
                                    selectors_module])
def test_doctests(module):
    result = doctest.testmod(module)
    assert result.attempted > 0 and result.failed == 0


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    ranker = PatchRanker(RankerConfig(image_size=16, patch=4, channels=3, dim=16, depth=1, heads=2))
    clf = TokenClassifier(ClassifierConfig(image_size=16, patch=4, channels=3, classes=4, dim=16,
                                           depth=2, heads=2))
    return ranker, clf


@pytest.fixture(scope="module")
def images():
    return torch.rand(3, 3, 16, 16, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("k", [1, 5, 16])
def test_every_method_returns_k_unique_sorted_in_range_indices_deterministically(
        method, k, models, images):
    ranker, clf = models
    kw = dict(ranker=ranker, classifier=clf, seed=3)
    ids = select(images, k, method, **kw)
    assert ids.shape == (3, k) and ids.dtype == torch.int64
    assert int(ids.min()) >= 0 and int(ids.max()) < 16
    assert bool((ids.diff(dim=1) > 0).all())  # unique and ascending
    assert torch.equal(ids, select(images, k, method, **kw))


def test_random_depends_on_the_seed_and_grid_covers_uniformly(images):
    a = select(images, 6, "random", patch=4, seed=0)
    b = select(images, 6, "random", patch=4, seed=1)
    assert not torch.equal(a, b)
    # 4 of a 4x4 grid by farthest-point sampling: one per 2x2 quadrant
    quadrants = {(int(i) // 4 // 2, int(i) % 4 // 2) for i in grid_order((4, 4))[:4]}
    assert quadrants == {(0, 0), (0, 1), (1, 0), (1, 1)}


def test_score_based_methods_keep_the_top_patches(images):
    x = torch.zeros(2, 1, 8, 8)
    x[:, :, :4, 4:] = 1.0  # patch 1 of a 2x2 grid (patch 4) stands out
    assert select(x, 1, "energy", patch=4).tolist() == [[1], [1]]
    x[:, :, 4:, :4] = torch.rand(2, 1, 4, 4)  # patch 2 has texture
    assert select(x, 1, "variance", patch=4).tolist() == [[2], [2]]
    # constant scores (single-pixel patches): ties are broken at random, not in raster order
    flat = torch.rand(4, 1, 8, 8)
    ids = select(flat, 8, "variance", patch=1, seed=0)
    assert not torch.equal(ids[0], torch.arange(8))


def test_ltrp_uses_the_rankers_top_scores_and_hybrid_takes_rho_k_from_it(models, images):
    ranker, _ = models
    scores = ranker.rank(images)
    top = scores.argsort(dim=1, descending=True)[:, :4].sort(dim=1).values
    assert torch.equal(select(images, 4, "ltrp", ranker=ranker), top)
    hybrid = select(images, 10, "ltrp_hybrid", ranker=ranker, rho=0.7)
    best7 = scores.argsort(dim=1, descending=True)[:, :7]
    for row, must in zip(hybrid.tolist(), best7.tolist()):
        assert set(must) <= set(row)
    assert torch.equal(select(images, 10, "ltrp_hybrid", ranker=ranker, rho=0.0),
                       select(images, 10, "ltrp_hybrid", ranker=ranker, rho=0.0))


def test_dpc_knn_prefers_cluster_centres():
    f = torch.tensor([[[0.0], [0.1], [0.2], [5.0], [5.1], [5.2]]])
    best2 = set(dpc_knn_scores(f, knn=2).topk(2).indices[0].tolist())
    assert best2 == {1, 4}  # the middle of each cluster


def test_supervised_attention_and_gradient_saliency_follow_the_classifier(models, images):
    _, clf = models
    att = clf.cls_attention(images)
    assert att.shape == (3, 16)
    # CLS attends to itself too: its weights on the patches are positive and sum below 1
    assert bool((att > 0).all()) and bool((att.sum(dim=1) < 1).all())
    from msglance.ranking.selectors import patch_scores
    grad = patch_scores(images, "gradient_saliency", classifier=clf)
    assert grad.shape == (3, 16) and bool((grad >= 0).all()) and bool((grad > 0).any())
    ids = select(images, 3, "supervised_attention", classifier=clf)
    assert torch.equal(ids, att.argsort(dim=1, descending=True)[:, :3].sort(dim=1).values)


def test_effnet_saliency_is_the_class_activation_map_of_the_top_class():
    from msglance.metrics.effnet import load_efficientnet_lite0
    from msglance.metrics.perceptual import to_network_input
    from msglance.ranking.selectors import patch_scores

    x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    scores = patch_scores(x, "effnet_saliency", patch=8)
    assert scores.shape == (1, 16) and bool((scores >= 0).all())
    # Grad-CAM by autograd (gradient averaged over the map) gives the same map
    net = load_efficientnet_lite0()
    big = torch.nn.functional.interpolate(x, size=(224, 224), mode="bilinear", align_corners=False)
    feats = net.head_features(to_network_input(big, 1.0)).detach().requires_grad_(True)
    logits = net.classifier(feats.mean(dim=(-2, -1)))
    logits[0, logits.argmax()].backward()
    alpha = feats.grad.mean(dim=(-2, -1))
    cam = torch.relu((alpha[:, :, None, None] * feats).sum(1, keepdim=True)).detach()
    cam = torch.nn.functional.interpolate(cam, size=(32, 32), mode="bilinear", align_corners=False)
    ref = cam.reshape(1, 4, 8, 4, 8).mean(dim=(2, 4)).reshape(1, 16)
    torch.testing.assert_close(scores / scores.sum(), ref / ref.sum(), rtol=1e-4, atol=1e-6)


def test_bad_input_is_one_line_value_errors(models, images):
    ranker, _ = models
    cases = [
        (lambda: select(images, 0, "random", patch=4), "k must be in \\[1, 16\\]"),
        (lambda: select(images, 17, "random", patch=4), "k must be in \\[1, 16\\]"),
        (lambda: select(images, 2, "random", patch=5), "not divisible by the patch size 5"),
        (lambda: select(images, 2, "best", patch=4), "unknown method 'best'"),
        (lambda: select(images, 2, "ltrp", patch=4), "needs a ranker"),
        (lambda: select(images, 2, "supervised_attention", patch=4), "needs a classifier"),
        (lambda: select(images, 2, "random"), "patch is required"),
        (lambda: ranker.rank(torch.rand(1, 3, 32, 32)), "trained for 3-channel 16x16 images"),
        (lambda: ranker.rank(torch.rand(1, 1, 16, 16)), "got 1-channel 16x16"),
    ]
    for fn, message in cases:
        with pytest.raises(ValueError, match=message) as info:
            fn()
        assert "\n" not in str(info.value)


def test_ranker_checkpoint_round_trip_and_wrong_kind(tmp_path, models, images):
    from msglance.mri.checkpoint import save_checkpoint
    from msglance.ranking.checkpoint import FORMAT

    ranker, clf = models
    save_checkpoint(tmp_path / "r.pt", {"format": FORMAT, "kind": "ranker",
                                        "model_config": ranker.config_dict(),
                                        "model": ranker.state_dict()})
    loaded = PatchRanker.from_checkpoint(tmp_path / "r.pt")
    torch.testing.assert_close(loaded.rank(images), ranker.rank(images))
    with pytest.raises(ValueError, match="is a ranker checkpoint, not a classifier"):
        TokenClassifier.from_checkpoint(tmp_path / "r.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="cannot read checkpoint"):
        PatchRanker.from_checkpoint(tmp_path / "junk.pt")
