"""benchmarks/gpu_suite.py --smoke: every part runs at toy size on the CPU and writes its files,
and a part whose budget is spent is cut but still written (so the suite cannot rot between
GPU loans)."""

from __future__ import annotations

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_suite.py"


def _run(out: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", MPLBACKEND="Agg")
    return subprocess.run([sys.executable, str(SUITE), "--smoke", "--out", str(out), *args],
                          capture_output=True, text=True, env=env, timeout=300)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("gpu_suite")
    proc = _run(out)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for part in ("glance", "compile", "metrics", "inr", "mri", "ltrp"):
        assert f"[{part}] complete" in proc.stdout
    return out


def test_combined_draft_names_device_versions_command_and_every_part(smoke):
    text = (smoke / "gpu.md").read_text()
    env = json.loads((smoke / "environment.json").read_text())
    assert "Smoke run" in text
    assert env["device"] == "cpu" and env["device_name"] in text
    assert f"torch {env['torch']}, CUDA {env['cuda']}" in text
    assert "--smoke --out" in env["command"] and f"`{env['command']}`" in text
    for part in ("glance", "compile", "metrics", "inr", "mri", "ltrp"):
        assert f"| {part} | complete |" in text
        assert f"## {part} (complete" in text
        assert json.loads((smoke / f"{part}.json").read_text())["status"] == "complete"
        assert (smoke / f"{part}.md").read_text().strip() in text


def test_glance_part_tables(smoke):
    speed = _rows(smoke / "glance_speed.csv")
    assert [r["input"] for r in speed] == ["2x3x48x48", "1x3x64x64"]
    for r in speed:
        ours, ref = float(r["ours_s"]), float(r["reference_style_s"])
        assert ours > 0 and ref > 0
        assert math.isclose(float(r["speedup"]), ref / ours, rel_tol=1e-9)
    siren = _rows(smoke / "glance_siren.csv")[0]
    l2, both = float(siren["l2_s"]), float(siren["l2_msglance_s"])
    assert math.isclose(float(siren["overhead"]), (both - l2) / l2, rel_tol=1e-9)
    moments = _rows(smoke / "glance_moments.csv")
    assert len(moments) == 2
    for r in moments:
        assert float(r["moments64_s"]) > 0 and float(r["moments32_s"]) > 0
        # random input has no flat windows: float32 rounding only
        assert 0 <= float(r["float32_max_abs_err"]) < 1e-3
    paths = _rows(smoke / "glance_moment_paths.csv")
    assert len(paths) == 2
    for r in paths:
        assert all(float(r[f"{k}{b}_s"]) > 0 for k in ("moments", "local", "loss") for b in ("64", "32"))
        # the float32 path stays within 1e-5 of float64, flat MRI air included
        assert 0 <= float(r["err_mni_window"]) <= 1e-5 and 0 <= float(r["err_random"]) <= 1e-5
    md = (smoke / "glance.md").read_text()
    assert "| input | ours fwd+bwd (ms) | reference style (ms) |" in md
    assert "overhead" in md and "float64 moments (ms)" in md


def test_metrics_part_rows(smoke):
    rows = _rows(smoke / "metrics.csv")
    cases = {(r["input"], r["metric"], r["pass"]) for r in rows}
    assert len(rows) == len(cases) == 8  # (psnr, ssim, ms_ssim) x 2 passes + 3-D ssim x 2
    assert {m for _, m, _ in cases} == {"psnr", "ssim", "ms_ssim"}
    assert all(float(r["msglance_s"]) > 0 for r in rows)
    assert "fastest peer / msglance" in (smoke / "metrics.md").read_text()


def test_inr_part_runs_every_loss(smoke):
    rows = _rows(smoke / "inr.csv")
    assert [r["loss"] for r in rows] == ["l2", "l2 + 0.01*global + 0.01*local", "l2 + 0.01*ssim"]
    assert all(r["image"] == "astronaut" and r["steps"] == "3" for r in rows)
    assert all(math.isfinite(float(r["psnr"])) for r in rows)
    assert (smoke / "inr" / "per_run.csv").is_file() and (smoke / "inr" / "table.md").is_file()
    assert "ΔPSNR vs `l2`" in (smoke / "inr.md").read_text()


def test_mri_part_plans_epochs_then_compares(smoke):
    data = json.loads((smoke / "mri.json").read_text())["data"]
    assert set(data["epoch_seconds"]) == {"l1", "l1+0.01*global+0.01*local", "l1+0.01*global"}
    assert 1 <= data["plan"]["epochs"] <= 2 and data["plan"]["seeds"] == 1
    rows = _rows(smoke / "mri.csv")
    assert [r["loss"] for r in rows] == ["l1", "l1+0.01*global+0.01*local", "l1+0.01*global"]
    for r in rows:
        assert int(r["epoch"]) <= data["plan"]["epochs"]
        assert 0 < float(r["test_recon_psnr"]) < 60 and -1 <= float(r["s1045_recon_ssim"]) <= 1
    md = (smoke / "mri.md").read_text()
    assert "**test**" in md and "**s1045**" in md and "zero-filled input" in md
    assert (smoke / "mri" / "table.md").is_file()


def test_part_over_budget_is_cut_but_written(tmp_path):
    proc = _run(tmp_path, "--parts", "glance", "--budget-s", "0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    part = json.loads((tmp_path / "glance.json").read_text())
    assert part["status"] == "cut"
    assert len(_rows(tmp_path / "glance_speed.csv")) == 1  # measured before the check
    assert not (tmp_path / "glance_siren.csv").exists()
    text = (tmp_path / "gpu.md").read_text()
    assert "| glance | cut |" in text and "was spent" in text and "| 2x3x48x48 |" in text


def test_unknown_part_is_one_line_error(tmp_path):
    proc = _run(tmp_path, "--parts", "glance,nope")
    assert proc.returncode == 2
    assert "unknown ['nope']" in proc.stderr and "Traceback" not in proc.stderr


def test_compile_part_table(smoke):
    rows = _rows(smoke / "compile.csv")
    assert [r["callable"] for r in rows] == ["glance_index"]  # smoke: glance_index at 16x16 only
    for r in rows:
        assert r["input"] == "2x1x16x16" and int(r["graph_breaks"]) >= 0
        assert float(r["eager_s"]) > 0 and float(r["compiled_s"]) > 0
        assert math.isclose(float(r["eager_over_compiled"]),
                            float(r["eager_s"]) / float(r["compiled_s"]), rel_tol=1e-9)
        assert r["pass"] == str(float(r["max_abs_value_diff"]) <= 1e-5
                                and float(r["max_abs_grad_diff"]) <= 1e-5)
    assert "| callable | input | graphs | breaks |" in (smoke / "compile.md").read_text()


def test_ltrp_part_table(smoke):
    rows = _rows(smoke / "ltrp.csv")
    assert [int(r["batch"]) for r in rows] == [4, 1]
    for r in rows:
        assert math.isclose(float(r["loop_over_batched"]),
                            float(r["loop_s"]) / float(r["batched_s"]), rel_tol=1e-9)
    data = json.loads((smoke / "ltrp.json").read_text())["data"]
    assert data["max_abs_score_diff"] < 1e-4
    assert all(float(r["chunked_s"]) > 0 and float(r["chunked_peak_mib"]) >= 0 for r in rows)
    assert "| batch | batched (ms) | loop (ms) |" in (smoke / "ltrp.md").read_text()
