"""`--config FILE` re-runs `mri train` and `inr study` from the config.json they wrote."""

from __future__ import annotations

import csv
import json
import warnings

import pytest
from typer.testing import CliRunner

from msglance.cli import app

runner = CliRunner()


def _invoke(*args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the air-prior warning at 64² is expected
        return runner.invoke(app, [str(a) for a in args])


def test_inr_study_reruns_from_its_config(tmp_path):
    first = tmp_path / "first"
    res = _invoke("inr", "study", "--dataset", "faces", "--images", "grace_hopper", "--losses",
                  "l2", "l2+0.01*local", "--seeds", 1, "--size", 24, "--steps", 4,
                  "--device", "cpu", "--log-every", 2, "--grid", 0, "--out", first)
    assert res.exit_code == 0, res.output
    config = json.loads((first / "config.json").read_text())
    assert config["losses"] == ["l2", "l2 + 0.01*local"] and config["size"] == 24
    second = tmp_path / "second"
    res = _invoke("inr", "study", "--config", first / "config.json", "--out", second)
    assert res.exit_code == 0, res.output
    again = json.loads((second / "config.json").read_text())
    assert {**again, "out": None} == {**config, "out": None} and again["out"] == str(second)

    def rows(folder):
        with open(folder / "per_run.csv", newline="") as fh:
            return [{k: v for k, v in r.items() if k != "seconds_per_step"}
                    for r in csv.DictReader(fh)]

    assert rows(second) == rows(first)  # the same runs, the same numbers


def test_mri_train_reruns_from_its_config(tmp_path):
    first = tmp_path / "run"
    res = _invoke("mri", "train", "--out", first, "--size", 64, "--chans", 4, "--pools", 2,
                  "--epochs", 1, "--batch-size", 4, "--limit", 4, "--val-limit", 2,
                  "--orientations", "axial", "--device", "cpu", "--loss", "l1", "--mask",
                  "equispaced", "--lr-gamma", 0.5)
    assert res.exit_code == 0, res.output
    config = json.loads((first / "config.json").read_text())
    assert config["mask_kind"] == "equispaced" and config["lr_gamma"] == 0.5
    second = tmp_path / "again"
    res = _invoke("mri", "train", "--config", first / "config.json", "--out", second,
                  "--epochs", 2)
    assert res.exit_code == 0, res.output
    again = json.loads((second / "config.json").read_text())
    assert {k: v for k, v in again.items() if k not in ("out", "epochs")} == \
        {k: v for k, v in config.items() if k not in ("out", "epochs")}
    assert again["epochs"] == 2  # the command line overrides the file
    log1 = (first / "log.csv").read_text().splitlines()
    log2 = (second / "log.csv").read_text().splitlines()
    assert log1[0] == log2[0]
    # epoch 1 is the same run: same loss and validation numbers (time column aside)
    strip = lambda line: line.rsplit(",", 1)[0]  # noqa: E731
    assert strip(log1[1]) == strip(log2[1])


def test_mri_train_config_keeps_no_air_prior_and_position_weights(tmp_path):
    first = tmp_path / "run"
    res = _invoke("mri", "train", "--out", first, "--size", 32, "--chans", 2, "--pools", 2,
                  "--epochs", 1, "--limit", 4, "--val-limit", 2, "--orientations", "axial",
                  "--device", "cpu", "--loss", "l1+0.01*global", "--delta", -1,
                  "--position-weights", "variance", "--glance-grid", 16)
    assert res.exit_code == 0, res.output
    config = json.loads((first / "config.json").read_text())
    assert config["delta"] is None and config["position_weights"] == "variance"
    res = _invoke("mri", "train", "--config", first / "config.json", "--out", tmp_path / "again")
    assert res.exit_code == 0, res.output
    again = json.loads((tmp_path / "again" / "config.json").read_text())
    assert {k: v for k, v in again.items() if k != "out"} == \
        {k: v for k, v in config.items() if k != "out"}  # null stays null, not delta 0.01


@pytest.mark.parametrize("content,message", [
    ("{not json", "cannot read it as JSON"),
    ('["a"]', "expected a JSON object"),
    ('{"epochz": 3}', "not options of this command: epochz"),
])
def test_bad_config_files_are_one_line_errors(tmp_path, content, message):
    path = tmp_path / "c.json"
    path.write_text(content)
    res = _invoke("mri", "train", "--config", path, "--out", tmp_path / "o")
    assert res.exit_code == 2
    assert message in res.output and res.output.strip().count("\n") == 0
