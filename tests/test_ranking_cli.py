"""``msglance ltrp``: train-mae, train-ranker (with --resume) and rank on tiny real data."""

from __future__ import annotations

import csv

import numpy as np
from typer.testing import CliRunner

from msglance.cli import app

runner = CliRunner()
TINY = ["--dim", "16", "--depth", "1", "--batch-size", "64", "--device", "cpu", "--epochs", "1"]


def test_train_mae_train_ranker_resume_and_rank(tmp_path):
    mae = tmp_path / "mae"
    r = runner.invoke(app, ["ltrp", "train-mae", "--data", "lfw", "--out", str(mae), *TINY,
                            "--decoder-dim", "16", "--decoder-depth", "1"])
    assert r.exit_code == 0, r.output
    assert (mae / "last.pt").is_file() and "final masked MSE" in r.output
    # a second run into the same folder is refused in one line; --resume with more epochs goes on
    r = runner.invoke(app, ["ltrp", "train-mae", "--data", "lfw", "--out", str(mae), *TINY,
                            "--decoder-dim", "16", "--decoder-depth", "1"])
    assert r.exit_code == 2 and "--resume" in r.output and "Traceback" not in r.output
    more = TINY[:-1] + ["2"]
    r = runner.invoke(app, ["ltrp", "train-mae", "--data", "lfw", "--out", str(mae), *more,
                            "--decoder-dim", "16", "--decoder-depth", "1", "--resume"])
    assert r.exit_code == 0 and "1 of 2 epochs already done" in r.output, r.output

    ranker = tmp_path / "ranker"
    r = runner.invoke(app, ["ltrp", "train-ranker", "--mae", str(mae / "last.pt"), "--data", "lfw",
                            "--out", str(ranker), *TINY])
    assert r.exit_code == 0, r.output

    from skimage import data, io

    folder = tmp_path / "imgs"
    folder.mkdir()
    io.imsave(folder / "camera.png", data.camera()[::8, ::8])
    io.imsave(folder / "coins.png", data.coins()[::4, ::4])
    out = tmp_path / "rank"
    r = runner.invoke(app, ["ltrp", "rank", str(folder), "--ranker", str(ranker / "last.pt"),
                            "--k", "8", "--out", str(out)])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(open(out / "scores.csv")))
    assert [row["image"] for row in rows] == ["camera.png", "coins.png"]
    for row in rows:
        kept = [int(v) for v in row["kept"].split()]
        scores = np.array([float(row[f"p{i}"]) for i in range(64)])
        assert len(set(kept)) == 8
        assert set(kept) == set(np.argsort(-scores)[:8].tolist())
    assert (out / "camera.png").is_file() and (out / "coins.png").is_file()

    for args, message in (
        (["--size", "64"], "trained for 1-channel 32x32 images"),
        (["--k", "0"], "k must be in [1, 64]"),
    ):
        r = runner.invoke(app, ["ltrp", "rank", str(folder), "--ranker", str(ranker / "last.pt"),
                                "--out", str(out), *args])
        assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output
    r = runner.invoke(app, ["ltrp", "rank", str(folder), "--ranker", str(mae / "last.pt")])
    assert r.exit_code == 2 and "not a ranker checkpoint" in r.output


def test_study_rejects_bad_options_in_one_line(tmp_path):
    for args, message in ((["--datasets", "mnist"], "datasets must be among"),
                          (["--evaluations", "F"], "evaluations must be among"),
                          (["--selectors", "best"], "unknown selectors"),
                          (["--keeps", "0"], "keep ratios")):
        r = runner.invoke(app, ["ltrp", "study", "--out", str(tmp_path / "s"), *args])
        assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, r.output
        assert len(r.output.strip().splitlines()) == 1
