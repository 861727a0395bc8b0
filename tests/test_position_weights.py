"""Position-weight maps (msglance.position_weights) and their use in `msglance inr fit/study`."""

from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from msglance.data.embedded import load_dataset
from msglance.inr.commands import app
from msglance.inr.study import run_study, weights_path
from msglance.position_weights import (
    patch_gradient_energy,
    patch_variance,
    register_weight_source,
    spread_patch_scores,
    weight_source,
)

MSG = "l2+0.01*global+0.01*local"


def _loop_variance(img: torch.Tensor, p: int) -> torch.Tensor:
    c, h, w = img.shape
    out = torch.zeros(h // p, w // p, dtype=torch.float64)
    for i in range(h // p):
        for j in range(w // p):
            block = img[:, i * p:(i + 1) * p, j * p:(j + 1) * p].double()
            out[i, j] = block.var(unbiased=False)
    return out


def _loop_gradient(img: torch.Tensor, p: int) -> torch.Tensor:
    c, h, w = img.shape
    x = img.double()
    energy = torch.zeros(h, w, dtype=torch.float64)
    for r in range(h):
        for s in range(w):
            for ch in range(c):
                if s + 1 < w:
                    energy[r, s] += (x[ch, r, s + 1] - x[ch, r, s]) ** 2
                if r + 1 < h:
                    energy[r, s] += (x[ch, r + 1, s] - x[ch, r, s]) ** 2
    return energy.view(h // p, p, w // p, p).mean(dim=(1, 3))


def test_patch_scores_match_loop_oracles():
    img = torch.rand(3, 12, 8, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(patch_variance(img, 4).double(), _loop_variance(img, 4), atol=1e-6)
    assert torch.allclose(patch_gradient_energy(img, 4).double(), _loop_gradient(img, 4),
                          atol=1e-5)


def test_spread_gives_each_pixel_its_patch_score():
    scores = torch.rand(3, 2)
    full = spread_patch_scores(scores, 4)
    assert full.shape == (12, 8)
    assert torch.equal(full[5, 6], scores[1, 1]) and torch.equal(full[11, 0], scores[2, 0])


def test_sources_are_validated_and_normalised(tmp_path):
    img = torch.rand(1, 16, 16)
    for name in ("variance", "gradient"):
        w = weight_source(name, patch=4)(img)
        assert w.shape == (16, 16) and w.dtype == torch.float32
        assert abs(float(w.mean()) - 1.0) < 1e-5 and bool((w >= 0).all())
    assert weight_source("gradient", patch=4).label == "gradient (4x4 patches)"
    with pytest.raises(ValueError, match="all zero"):
        weight_source("variance", patch=4)(torch.full((1, 16, 16), 0.5))
    with pytest.raises(ValueError, match="not divisible into 5x5"):
        weight_source("variance", patch=5)(img)
    with pytest.raises(ValueError, match="unknown position weights 'energy'.*gradient"):
        weight_source("energy")
    with pytest.raises(ValueError, match="take no argument"):
        weight_source("variance:3")
    arr = np.zeros((16, 16))
    arr[:4] = 2.0
    np.save(tmp_path / "w.npy", arr)
    w = weight_source(str(tmp_path / "w.npy"))(img)
    assert float(w[4:].abs().sum()) == 0.0 and abs(float(w[:4].mean()) - 4.0) < 1e-6
    with pytest.raises(ValueError, match="does not match the image"):
        weight_source(str(tmp_path / "w.npy"))(torch.rand(1, 8, 8))
    np.save(tmp_path / "neg.npy", -arr)
    with pytest.raises(ValueError, match="finite and >= 0"):
        weight_source(str(tmp_path / "neg.npy"))(img)
    with pytest.raises(ValueError, match="does not exist"):
        weight_source(str(tmp_path / "missing.npy"))


def test_ltrp_source_is_pluggable(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "msglance.ranking", None)  # the package is absent
    with pytest.raises(ValueError, match="not part of this installation"):
        weight_source(f"ltrp:{tmp_path / 'r.pt'}")
    with pytest.raises(ValueError, match="need a ranker checkpoint"):
        weight_source("ltrp")

    seen = []

    class FakeRanker:  # msglance.ranking's interface: from_checkpoint(path).rank(images)
        config = types.SimpleNamespace(image_size=8, channels=1)

        @classmethod
        def from_checkpoint(cls, path):
            return cls()

        def rank(self, images):
            seen.append(tuple(images.shape))
            return torch.arange(16.0).view(1, 16).expand(images.shape[0], 16)

    fake = types.ModuleType("msglance.ranking")
    fake.PatchRanker = FakeRanker
    monkeypatch.setitem(sys.modules, "msglance.ranking", fake)
    ckpt = tmp_path / "r.pt"
    ckpt.write_bytes(b"")
    w = weight_source(f"ltrp:{ckpt}")(torch.rand(3, 32, 32))
    expected = spread_patch_scores((torch.arange(16.0) - 15).exp().view(4, 4), 8)
    assert torch.allclose(w, (expected / expected.mean()).float())
    assert seen == [(1, 1, 8, 8)]  # resized to the ranker's size, RGB averaged to gray
    with pytest.raises(ValueError, match="16 patch scores do not tile"):
        weight_source(f"ltrp:{ckpt}")(torch.rand(3, 30, 30))


def test_register_a_source(monkeypatch):
    from msglance import position_weights

    monkeypatch.setattr(position_weights, "_SOURCES", dict(position_weights._SOURCES))
    register_weight_source("left_half", lambda arg, patch: lambda img: torch.cat(
        [torch.ones(img.shape[1], img.shape[2] // 2), torch.zeros(img.shape[1], img.shape[2] // 2)], 1))
    w = weight_source("left_half")(torch.rand(1, 4, 4))
    assert torch.equal(w[:, 2:], torch.zeros(4, 2))
    with pytest.raises(ValueError, match="identifier"):
        register_weight_source("a b", lambda arg, patch: None)


def test_study_records_and_uses_the_weights(tmp_path):
    samples = load_dataset("faces", 32)[:1]
    source = weight_source("gradient", patch=8)
    common = dict(dataset="faces", steps=2, device="cpu", loss_options={"grid": (16, 16)})
    weighted = run_study(samples, [MSG], 1, tmp_path / "w", position_weights=source, **common)
    uniform = run_study(samples, [MSG], 1, tmp_path / "u", **common)
    config = json.loads((tmp_path / "w" / "study.json").read_text())
    assert config["position_weights"] == "gradient (8x8 patches)"
    assert json.loads((tmp_path / "u" / "study.json").read_text())["position_weights"] is None
    assert weights_path(tmp_path / "w", samples[0].name).is_file()
    assert weighted[0].psnr != uniform[0].psnr  # other draws, another fit
    with pytest.raises(ValueError, match="position_weights"):
        run_study(samples, [MSG], 1, tmp_path / "w", resume=True, **common)
    with pytest.raises(ValueError, match="default loss factory"):
        run_study(samples, [MSG], 1, tmp_path / "c", position_weights=source,
                  loss_factory=lambda spec, seed: torch.nn.MSELoss(), **common)


def test_cli_fit_with_weights(tmp_path):
    args = ["fit", "astronaut", "--loss", MSG, "--size", "32", "--steps", "2", "--device",
            "cpu", "--grid", "16"]
    res = CliRunner().invoke(app, [*args, "--position-weights", "variance", "--weight-patch",
                                   "8", "--out", str(tmp_path / "a")])
    assert res.exit_code == 0, res.output
    assert "weighted by variance (8x8 patches)" in res.output
    assert (tmp_path / "a" / "position_weights.png").is_file()
    assert json.loads((tmp_path / "a" / "result.json").read_text())["position_weights"] == (
        "variance (8x8 patches)")
    res = CliRunner().invoke(app, [*args, "--position-weights", "nope", "--out",
                                   str(tmp_path / "b")])
    assert res.exit_code == 2 and "unknown position weights 'nope'" in res.output


def test_ltrp_source_with_a_real_ranker_checkpoint(tiny_ranker):
    ranker, ckpt = tiny_ranker
    image = torch.rand(3, 32, 32)
    w = weight_source(f"ltrp:{ckpt}")(image)
    scores = ranker.rank(torch.nn.functional.interpolate(
        image.mean(0, keepdim=True)[None], size=(16, 16), mode="area"))[0].double()
    expected = spread_patch_scores((scores - scores.max()).exp().view(4, 4), 8)
    assert torch.allclose(w.double(), expected / expected.mean(), atol=1e-5)
