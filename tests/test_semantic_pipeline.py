"""Offline image → scene graph pipeline on embedded photos; SeSS of images; bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage import data
from skimage.restoration import inpaint_biharmonic

from msglance.semantic.generator import OfflineSceneGraphGenerator
from msglance.semantic.predicates import PREDICATES, geometric_relations
from msglance.semantic.score import sess, sess_graphs, sess_index
from msglance.semantic.segmentation import segment_regions

SIZE = 128


@pytest.fixture(scope="module")
def generator():
    return OfflineSceneGraphGenerator(size=SIZE, crop_size=112)


@pytest.fixture(scope="module")
def chelsea():
    """scikit-image chelsea (public domain), resized to 128x(128*451/300)."""
    img = data.chelsea()[::2, ::2] / 255.0
    return img.astype(np.float32)


def test_segmentation_partitions_the_image():
    img = data.coffee()[::4, ::4] / 255.0
    masks = segment_regions(img, max_regions=6, min_area=0.02)
    assert 1 <= masks.shape[0] <= 6
    assert (masks.sum(axis=0) == 1).all()  # a partition
    assert (masks.reshape(len(masks), -1).mean(axis=1) >= 0.02).all()
    areas = masks.reshape(len(masks), -1).sum(axis=1)
    assert (np.diff(areas) <= 0).all()


def test_geometric_predicates():
    m = np.zeros((3, 20, 20), bool)
    m[0] = True
    m[0, 5:10, 5:10] = False  # a frame around region 1
    m[1, 5:10, 5:10] = True
    m[2] = False
    m[2, 15:20, 0:3] = True
    m[0, 15:20, 0:3] = False
    edges = {(u, x): p for u, x, p, _ in geometric_relations(m)}
    assert edges[(1, 0)] == "inside" and edges[(0, 1)] == "contains"
    assert edges[(2, 0)] == "inside"
    assert (1, 2) not in edges  # not touching, no containment
    assert set(edges.values()) <= set(PREDICATES)


@pytest.fixture(scope="module")
def chelsea_graph(generator, chelsea):
    return generator(chelsea)


def test_pipeline_is_deterministic(generator, chelsea, chelsea_graph):
    again = generator(chelsea.copy())
    assert again.to_dict() == chelsea_graph.to_dict()
    assert sess_graphs(chelsea_graph, again).score == 1.0
    assert len(again.nodes) >= 2 and again.edges
    assert all(n.embedding.shape == (1280,) and n.label for n in again.nodes)


def test_flip_scores_higher_than_erasing_the_largest_region(generator, chelsea, chelsea_graph):
    largest = max(chelsea_graph.nodes, key=lambda n: n.mask.sum())
    img = generator.prepare(chelsea)
    erased = np.clip(inpaint_biharmonic(img, largest.mask, channel_axis=-1), 0, 1)
    s_flip = sess_graphs(chelsea_graph, generator(img[:, ::-1].copy())).score
    s_erase = sess_graphs(chelsea_graph, generator(erased.astype(np.float32))).score
    assert s_flip > s_erase


def test_sess_index_on_tensors(monkeypatch):
    from msglance.semantic import score

    small = OfflineSceneGraphGenerator(size=64, crop_size=64)
    monkeypatch.setattr(score, "default_generator", lambda device="cpu": small)
    img = torch.from_numpy(data.astronaut()[::8, ::8] / 255.0).permute(2, 0, 1)[None].float()
    values = sess_index(torch.cat([img, img.flip(-1)]), torch.cat([img, img]), reduction="none")
    assert values.shape == (2,) and values[0] == 1.0 and 0 < values[1] < 1
    with pytest.raises(ValueError, match="channels"):
        sess_index(torch.zeros(1, 2, 32, 32), torch.zeros(1, 2, 32, 32))
    with pytest.raises(ValueError):
        sess_index(img * 2, img)
    bad = img.clone()
    bad[0, 0, 0, 0] = float("nan")
    assert torch.isnan(sess_index(bad, img, check_range=False))


def test_grey_images_are_repeated_to_rgb(generator):
    grey = (data.camera()[::8, ::8] / 255.0).astype(np.float32)
    a, b = generator(grey), generator(grey[:, :, None])
    assert a.to_dict() == b.to_dict()


@pytest.mark.parametrize("bad, words", [
    (np.full((32, 32, 3), np.nan), "NaN"),
    (np.zeros((32, 32, 4)), "shape"),
    (np.zeros((8, 8)), "sides"),
    (np.full((32, 32), 2.0), r"\[0, 1\]"),
    ("img.png", "NumPy array"),
])
def test_bad_images_give_one_line_errors(bad, words):
    with pytest.raises((TypeError, ValueError), match=words) as info:
        sess(bad, np.zeros((32, 32)), OfflineSceneGraphGenerator(size=32, crop_size=32))
    assert "\n" not in str(info.value)


def test_mismatched_embedding_dimensions():
    from msglance.semantic.scene_graph import Node, SceneGraph

    a = SceneGraph.create([Node("a", "x", (0.5, 0.5), embedding=np.ones(3))])
    b = SceneGraph.create([Node("b", "x", (0.5, 0.5), embedding=np.ones(4))])
    with pytest.raises(ValueError, match="differ in length"):
        sess_graphs(a, b)


def test_region_features_see_only_their_mask():
    from msglance.metrics.effnet import load_efficientnet_lite0, preprocess
    from msglance.semantic.region_features import embed_regions, imagenet_classes

    img = (data.chelsea()[::4, ::4] / 255.0).astype(np.float32)
    h, w = img.shape[:2]
    masks = np.zeros((2, h, w), bool)
    rr, cc = np.mgrid[0:h, 0:w]
    masks[0] = (rr - h / 2) ** 2 + (cc - w / 2) ** 2 < (h / 3) ** 2  # a disc
    masks[1] = ~masks[0]
    feats = embed_regions(img, masks, size=64)
    other = img.copy()
    other[~masks[0]] = 1.0 - other[~masks[0]]  # change everything outside the disc
    again = embed_regions(other, masks, size=64)
    np.testing.assert_allclose(again.embeddings[0], feats.embeddings[0], atol=1e-6)
    assert not np.allclose(again.embeddings[1], feats.embeddings[1], atol=1e-3)
    assert set(feats.labels) <= set(imagenet_classes()) and len(imagenet_classes()) == 1000
    model = load_efficientnet_lite0()
    x = preprocess(torch.from_numpy(img).permute(2, 0, 1)[None])
    with torch.no_grad():
        torch.testing.assert_close(model.classify(model.pooled_features(x)), model(x))
