"""The SAM + Relate-Anything + CLIP adapter, with mocks only (no weights here)."""

from __future__ import annotations

import numpy as np
import pytest

from msglance.semantic.generator import SceneGraphGenerator
from msglance.semantic.reference_generator import ReferenceSceneGraphGenerator
from msglance.semantic.score import sess_graphs


def fake_masks(image):
    h, w = image.shape[:2]
    out = []
    for r0, r1, c0, c1 in ((0, h, 0, w // 2), (0, h // 2, w // 2, w), (h // 2, h, w // 2, w),
                           (0, 2, 0, 2)):
        m = np.zeros((h, w), bool)
        m[r0:r1, c0:c1] = True
        out.append({"segmentation": m})
    return out


def fake_relations(image, masks):
    n = len(masks)
    rel = np.full((n, n), -1)
    score = np.zeros((n, n))
    rel[0, 1], score[0, 1] = 0, 0.9  # "next to"
    rel[1, 2], score[1, 2] = 1, 0.6  # "on"
    return rel, score


def fake_encoder(crops):
    return np.array([[c.mean(), c.std() + 1.0, c.shape[0] / c.shape[1]] for c in crops])


def make():
    return ReferenceSceneGraphGenerator(fake_masks, fake_relations, fake_encoder,
                                        ["next to", "on"])


def test_builds_graph_from_components():
    img = np.random.default_rng(0).random((40, 60, 3)).astype(np.float32)
    gen = make()
    assert isinstance(gen, SceneGraphGenerator)
    g = gen(img)
    assert len(g.nodes) == 3  # the unrelated 4th mask is dropped, as in the reference
    assert [(e.subject, e.object, e.predicate, e.confidence) for e in g.edges] == [
        ("0", "1", "next to", 0.9), ("1", "2", "on", 0.6)]
    assert g.global_embedding.shape == (3,) and g.nodes[0].centroid == pytest.approx((0.4875, 0.2417), abs=1e-3)
    assert sess_graphs(g, gen(img)).score == 1.0


def test_bad_component_output_is_named():
    bad = ReferenceSceneGraphGenerator(fake_masks, lambda i, m: (np.zeros((2, 2)), np.zeros((2, 2))),
                                       fake_encoder, ["x"])
    with pytest.raises(ValueError, match="relation_model"):
        bad(np.zeros((20, 20, 3)))
    with pytest.raises(TypeError, match="image_encoder"):
        ReferenceSceneGraphGenerator(fake_masks, fake_relations, None, ["x"])


def test_missing_weights_give_one_line_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="SAM ViT-H weights not found") as info:
        ReferenceSceneGraphGenerator.from_checkpoints(tmp_path / "sam.pth", tmp_path / "clip.bin",
                                                      fake_relations, ["on"])
    assert "\n" not in str(info.value) and "never downloads" in str(info.value)


def test_missing_packages_give_one_line_error(tmp_path, monkeypatch):
    from msglance.semantic import reference_generator

    for name in ("sam.pth", "clip.bin"):
        (tmp_path / name).write_bytes(b"0")
    real = reference_generator.importlib.util.find_spec
    monkeypatch.setattr(reference_generator.importlib.util, "find_spec",
                        lambda m: None if m == "segment_anything" else real(m))
    with pytest.raises(ModuleNotFoundError, match="segment_anything"):
        ReferenceSceneGraphGenerator.from_checkpoints(tmp_path / "sam.pth", tmp_path / "clip.bin",
                                                      fake_relations, ["on"])
