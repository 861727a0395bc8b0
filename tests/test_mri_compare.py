"""``msglance mri compare`` grids: parsing, --jobs 2 = serial, paired t intervals, report-only."""

from __future__ import annotations

import json
import math
import pytest
import torch
from typer.testing import CliRunner

from msglance.cli import app
from msglance.mri.compare import run_grid
from msglance.mri.grid import load_grid, parse_grid
from msglance.mri.paired import paired_difference
from msglance.mri.checkpoint import load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread_quiet")


TOY_BASE = {"size": 32, "chans": 2, "pools": 2, "epochs": 1, "batch_size": 4, "lr": 3e-3,
            "limit": 4, "val_limit": 4, "orientations": "axial", "device": "cpu", "local_window": 4}


def toy_grid() -> dict:
    """3 configurations + one selected on validation (it reuses a or b's runs), 1 seed."""
    return {
        "seeds": [0], "splits": ["test"], "base": dict(TOY_BASE),
        "select": {"w": {"metric": "val_psnr", "among": {"a": 0.01, "b": 0.1}}},
        "configs": [
            {"name": "l1", "loss": "l1"},
            {"name": "a", "loss": "l1+0.01*local"},
            {"name": "b", "loss": "l1+0.1*local"},
            {"name": "best", "loss": "l1+{w}*local"},
        ],
    }


# --------------------------------------------------------------------------- grid files


@pytest.mark.parametrize("change, message", [
    (lambda g: g["configs"].append({"name": "x", "loss": "l1", "chanz": 4}),
     r"configs\[4\] \('x'\): unknown key 'chanz'"),
    (lambda g: g["configs"].append({"name": "a", "loss": "l2"}), r"configs\[4\] \('a'\): the name is used twice"),
    (lambda g: g["configs"].append({"name": "bad name", "loss": "l1"}), r"configs\[4\]: 'name' must be"),
    (lambda g: g["configs"].append({"name": "y", "loss": "l1+0.1*nosuch"}), r"configs\[4\] \('y'\): unknown loss term"),
    (lambda g: g["configs"].append({"name": "z", "loss": "l1", "chans": 0}), r"configs\[4\] \('z'\): invalid chans=0"),
    (lambda g: g["configs"].append({"name": "p", "loss": "l1+{q}*local"}), r"placeholder \{q\} has no 'select'"),
    (lambda g: g["configs"].append({"name": "v", "loss": "l1", "baseline": "nope"}), r"baseline 'nope' is not"),
    (lambda g: g["configs"].append({"name": "s", "loss": "l1", "seed": 3}), r"configs\[4\] \('s'\): unknown key 'seed'"),
    (lambda g: g.update(seeds=[0, 0]), r"'seeds' must be a non-empty list of distinct integers"),
    (lambda g: g["select"]["w"].update(metric="test_psnr"), r"metric must be one of .*validation only"),
    (lambda g: g["base"].update(size=8), r"base: invalid size=8"),
    (lambda g: g["configs"].append({"name": "w", "loss": "l1+0.01*global",
                                    "position_weights": "ltrp:missing.pt"}),
     r"configs\[4\] \('w'\): position_weights: ltrp:missing.pt: no such checkpoint"),
    (lambda g: g["configs"].append({"name": "w", "loss": "l1+0.01*local",
                                    "position_weights": "variance"}),
     r"configs\[4\] \('w'\): position_weights 'variance' need a Global Glance term"),
])
def test_bad_grid_entries_are_one_line_errors(change, message):
    grid = toy_grid()
    change(grid)
    with pytest.raises(ValueError, match=message) as info:
        parse_grid(grid, source="g.json")
    assert "\n" not in str(info.value) and str(info.value).startswith("g.json: ")


def test_grid_file_parsing_and_cli_errors(tmp_path):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(toy_grid()))
    grid = load_grid(path)
    assert [e.name for e in grid.entries] == ["l1", "a", "b", "best"] and grid.baseline == "l1"
    assert grid.pair_of(grid.entry("l1")) is None and grid.pair_of(grid.entry("b")) == "l1"
    config = grid.config(grid.entry("best"), 2, tmp_path / "r", {"w": 0.1})
    assert (config.loss, config.local_window, config.seed, config.size) == ("l1+0.1*local", 4, 2, 32)
    weighted = toy_grid()
    weighted["configs"].append({"name": "g", "loss": "l1+0.01*global", "delta": None,
                                "position_weights": "variance"})
    grid = parse_grid(weighted)
    config = grid.config(grid.entry("g"), 0, tmp_path / "g")
    assert (config.position_weights, config.delta) == ("variance", None)

    bad = tmp_path / "bad.json"
    bad.write_text('{"configs": [{"name": "a", "loss": "l1", "acceleraton": 4}]}')
    res = CliRunner().invoke(app, ["mri", "compare", "--grid", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "unknown key 'acceleraton' (did you mean 'acceleration'?)" in res.output
    assert "Traceback" not in res.output and len(res.output.strip().splitlines()) == 1
    bad.write_text("{not json")
    res = CliRunner().invoke(app, ["mri", "compare", "--grid", str(bad), "--out", str(tmp_path / "o")])
    assert res.exit_code == 2 and "not valid JSON" in res.output


def test_the_committed_study_grid_is_the_pre_registered_one():
    from pathlib import Path

    grid = load_grid(Path(__file__).parents[1] / "docs" / "results" / "mri_study" / "grid.json")
    assert len(grid.entries) == 22 and grid.seeds == [0, 1, 2] and grid.baseline == "l1"
    assert grid.splits == ("test", "s1045")
    base = grid.base
    assert (base.size, base.chans, base.pools, base.epochs, base.acceleration,
            base.center_fraction, base.delta, base.lr, base.batch_size) == (
        128, 8, 3, 20, 5.0, 0.08, 0.01, 1e-3, 4)
    sweep = grid.select["lambda_best"]
    assert sweep.metric == "val_psnr" and sorted(sweep.among.values()) == [0.001, 0.003, 0.01, 0.03, 0.1]
    pairs = {e.name: grid.pair_of(e) for e in grid.entries}
    assert pairs["lam0.01-acc8"] == "l1-acc8" and pairs["lam0.01-chans16"] == "l1-chans16"
    assert grid.entry("lam0.01-noair").overrides == {"delta": None}


# --------------------------------------------------------------------------- statistics


def test_paired_interval_matches_a_hand_computation():
    a, b = [26.5, 26.0, 26.4], [26.0, 26.1, 26.1]  # d = 0.5, -0.1, 0.3
    d = [x - y for x, y in zip(a, b)]
    mean = sum(d) / 3
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / 2)
    t975_df2 = 4.302652729911275  # Student t, 97.5 % quantile, 2 degrees of freedom (tables)
    got = paired_difference(a, b)
    assert got.n == 3 and got.mean == pytest.approx(mean) and got.std == pytest.approx(sd)
    assert got.low == pytest.approx(mean - t975_df2 * sd / math.sqrt(3))
    assert got.high == pytest.approx(mean + t975_df2 * sd / math.sqrt(3))
    assert got.verdict == "not resolved"
    assert paired_difference([1.0, 1.1, 1.2], [0.0, 0.0, 0.05]).verdict == "above 0"
    one = paired_difference([1.0], [0.5])
    assert one.mean == 0.5 and math.isnan(one.low) and math.isnan(one.high)
    with pytest.raises(ValueError, match="same length"):
        paired_difference([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="confidence"):
        paired_difference([1.0, 2.0], [1.0, 1.0], confidence=1.5)


# --------------------------------------------------------------------------- runs


def test_jobs_2_equals_serial_selection_dedup_and_report_only(tmp_path):
    grid = parse_grid(toy_grid())
    serial = run_grid(grid, tmp_path / "serial", jobs=1)
    parallel = run_grid(grid, tmp_path / "parallel", jobs=2)

    def metrics(payload):
        return [(r["name"], r["seed"], r["test"]["recon"], r["val"]["best_val_psnr"])
                for r in payload["runs"]]

    assert metrics(serial) == metrics(parallel)  # bitwise: same floats, not approx
    for name in ("l1", "a", "b"):
        w1 = load_checkpoint(tmp_path / "serial" / name / "seed0" / "last.pt")["model"]
        w2 = load_checkpoint(tmp_path / "parallel" / name / "seed0" / "last.pt")["model"]
        assert all(torch.equal(w1[k], w2[k]) for k in w1)

    # the selection used validation PSNR only, and 'best' reused the chosen run
    vals = {r["name"]: r["val"]["best_val_psnr"] for r in serial["runs"]}
    chosen = "a" if vals["a"] >= vals["b"] else "b"
    assert serial["selected"] == {"w": {"a": 0.01, "b": 0.1}[chosen]}
    best = next(r for r in serial["runs"] if r["name"] == "best")
    assert best["dir"] == str(tmp_path / "serial" / chosen / "seed0")
    assert not (tmp_path / "serial" / "best").exists()

    # paired rows against l1, and the tables regenerate from the per-run results alone
    assert [r["name"] for r in serial["paired"]] == ["a", "b", "best"]
    assert serial["paired"][2]["runs_of"] == chosen and "runs_of" not in serial["paired"][0]
    out = tmp_path / "serial"
    tables = {f: (out / f).read_text() for f in ("table.md", "paired.md")}
    for f in ("table.md", "paired.md", "results.json", "forest.png", "curves.png"):
        (out / f).unlink()
    res = CliRunner().invoke(app, ["mri", "compare", "--grid", str(_dump(tmp_path, grid_raw=toy_grid())),
                                   "--out", str(out), "--report-only"])
    assert res.exit_code == 0, res.output
    assert {f: (out / f).read_text() for f in tables} == tables
    assert (out / "forest.png").is_file() and (out / "curves.png").is_file()
    assert "selected on validation: w =" in res.output

    (out / "b" / "seed0" / "eval" / "summary.json").unlink()
    res = CliRunner().invoke(app, ["mri", "compare", "--grid", str(tmp_path / "grid.json"),
                                   "--out", str(out), "--report-only"])
    assert res.exit_code == 2 and "have no results" in res.output and "Traceback" not in res.output


def test_a_run_that_breaks_is_reported_as_failed_and_the_others_go_on(tmp_path):
    raw = {"seeds": [0], "splits": ["test"], "base": {**TOY_BASE, "limit": 8},
           "configs": [{"name": "l1", "loss": "l1"}, {"name": "boom", "loss": "l1", "lr": 1e30}]}
    res = CliRunner().invoke(app, ["mri", "compare", "--grid", str(_dump(tmp_path, raw)),
                                   "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "1 run(s) failed" in res.output, res.output
    assert "FloatingPointError: non-finite" in res.output
    results = json.loads((tmp_path / "o" / "results.json").read_text())
    assert [r["name"] for r in results["runs"]] == ["l1"]
    assert [f["name"] for f in results["failed"]] == ["boom"] and results["paired"] == []
    table = (tmp_path / "o" / "table.md").read_text()
    assert "| `boom` | failed |" in table and "failed: `boom` seed 0: FloatingPointError" in table


def _fake_run(run_dir, val_psnr, test_psnr, failed=False):
    """The per-run files report-only reads, with chosen numbers (no training)."""
    run_dir.mkdir(parents=True)
    if failed:
        (run_dir / "failed.json").write_text('{"error": "FloatingPointError: boom"}')
        return
    (run_dir / "summary.json").write_text(json.dumps(
        {"best_epoch": 3, "best_val_psnr": val_psnr, "best_val_ssim": 0.5, "seconds": 1.0}))
    (run_dir / "eval").mkdir()
    split = {"recon": {"psnr": test_psnr, "ssim": 0.6}, "zero_filled": {"psnr": 20.0, "ssim": 0.4}}
    (run_dir / "eval" / "summary.json").write_text(json.dumps({"test": split}))


def test_selection_uses_validation_only_and_skips_a_candidate_that_failed(tmp_path):
    raw = toy_grid()
    raw["seeds"] = [0, 1]
    raw["select"]["w"]["among"]["c"] = 0.5
    raw["configs"].insert(3, {"name": "c", "loss": "l1+0.5*local"})
    out = tmp_path / "o"
    for seed in (0, 1):
        _fake_run(out / "l1" / f"seed{seed}", 30.0, 28.0 + seed)
        _fake_run(out / "a" / f"seed{seed}", 31.0, 27.0 + seed)  # best on validation, worse on test
        _fake_run(out / "b" / f"seed{seed}", 30.5, 29.0 + seed)  # best on test
        _fake_run(out / "c" / f"seed{seed}", 40.0, 40.0, failed=seed == 1)  # broke on seed 1
    payload = run_grid(parse_grid(raw), out, report_only=True)
    assert payload["selected"] == {"w": 0.01}  # a: validation decides; c is no candidate
    assert [f["name"] for f in payload["failed"]] == ["c"]
    rows = {r["name"]: r for r in payload["paired"]}
    assert rows["a"]["test"]["psnr"]["mean"] == pytest.approx(-1.0)
    assert rows["best"]["runs_of"] == "a" and rows["c"]["seeds"] == [0]
    assert "| `c` |" in (out / "table.md").read_text()


def _dump(tmp_path, grid_raw):
    path = tmp_path / "grid.json"
    path.write_text(json.dumps(grid_raw))
    return path
