"""`msglance sess` and `sess` in the metric registry / `msglance eval`."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from skimage import data
from typer.testing import CliRunner

from msglance import metrics
from msglance.cli import app
from msglance.semantic.scene_graph import read_scene_graph

runner = CliRunner()


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    root = tmp_path_factory.mktemp("sess")
    img = data.chelsea()[::3, ::3]
    Image.fromarray(img).save(root / "cat.png")
    Image.fromarray(img[:, ::-1].copy()).save(root / "flip.png")
    return root


def test_registry_entry():
    spec = metrics.get("sess")
    assert spec.kind == "semantic" and spec.higher_is_better
    assert not spec.differentiable and not spec.supports_3d and spec.full_reference
    assert spec.available and "sess" in metrics.available("semantic")
    x = torch.from_numpy(data.astronaut()[::16, ::16] / 255.0).permute(2, 0, 1)[None].float()
    assert float(spec.fn(x, x, data_range=1.0, reduction="mean", check_range=True)) == 1.0


def test_sess_command_prints_score_matches_and_graphs(photos, tmp_path):
    res = runner.invoke(app, ["sess", str(photos / "cat.png"), str(photos / "flip.png"),
                              "--save-graphs", str(tmp_path / "g")])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("SeSS 0.") and "matched nodes" in res.output
    assert "cat.png:" in res.output and "flip.png:" in res.output
    saved = sorted((tmp_path / "g").glob("*.graph.json"))
    assert [p.name for p in saved] == ["1_cat.graph.json", "2_flip.graph.json"]
    # the saved graphs score again from JSON, to the same value
    again = runner.invoke(app, ["sess", str(saved[0]), str(saved[1])])
    assert again.exit_code == 0
    assert again.output.split()[1] == res.output.split()[1]
    assert json.loads(saved[0].read_text())["format"] == "msglance.scene_graph"
    assert len(read_scene_graph(saved[0]).nodes) >= 1


@pytest.mark.parametrize("make, words", [
    (lambda d: d / "missing.png", "missing.png"),
    (lambda d: (d / "bad.png").write_bytes(b"not a png") and d / "bad.png", "bad.png"),
    (lambda d: (d / "bad.json").write_text("{oops") and d / "bad.json", "malformed JSON"),
])
def test_sess_command_errors_are_one_line(photos, tmp_path, make, words):
    res = runner.invoke(app, ["sess", str(photos / "cat.png"), str(make(tmp_path))])
    assert res.exit_code == 1
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and words in lines[0]
    assert "Traceback" not in res.output


def test_bad_update_option_is_one_line(photos):
    res = runner.invoke(app, ["sess", str(photos / "cat.png"), str(photos / "cat.png"),
                              "--update", "gauss"])
    assert res.exit_code == 1 and "update must be one of" in res.output


def test_eval_with_sess_saves_graphs_and_draws_the_worst(photos, tmp_path):
    ref, pred = tmp_path / "ref", tmp_path / "pred"
    ref.mkdir()
    pred.mkdir()
    (ref / "cat.png").write_bytes((photos / "cat.png").read_bytes())
    (pred / "cat.png").write_bytes((photos / "flip.png").read_bytes())
    out = tmp_path / "out"
    res = runner.invoke(app, ["eval", str(ref), str(pred), "--metrics", "psnr,sess", "--out",
                              str(out), "--report", "--save-graphs", "--worst", "1"])
    assert res.exit_code == 0, res.output
    summary = json.loads((out / "summary.json").read_text())
    value = summary["metrics"]["sess"]["mean"]
    assert 0 < value < 1
    g_ref = read_scene_graph(out / "graphs" / "cat.ref.graph.json")
    g_pred = read_scene_graph(out / "graphs" / "cat.pred.graph.json")
    from msglance.semantic.score import sess_graphs

    assert sess_graphs(g_ref, g_pred).score == pytest.approx(value, abs=1e-6)
    assert (out / "worst" / "00_graphs.png").stat().st_size > 1000
    assert "00_graphs.png" in (out / "report.md").read_text()


def test_save_graphs_needs_sess(photos, tmp_path):
    res = runner.invoke(app, ["eval", str(photos / "cat.png"), str(photos / "flip.png"),
                              "--metrics", "psnr", "--save-graphs", "--out", str(tmp_path)])
    assert res.exit_code == 1 and "--save-graphs needs sess" in res.output
