"""`msglance inr fit` / `msglance inr study`: tiny real CPU runs through the CLI.

32x32 targets from the embedded `faces` set (astronaut, grace_hopper), 20 Adam steps: small
enough for CI, long enough that a SIREN visibly learns.
"""

import csv
import json
import math

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from msglance.inr.commands import app
from msglance.inr.study import RunRecord, StudyEvent, read_runs, run_study
from msglance.inr.summary import study_table, summarize_runs

MSG = "l2+0.01*global+0.01*local"
TINY = ["--size", "32", "--steps", "20", "--device", "cpu", "--log-every", "5"]
SHORT = ["--size", "32", "--steps", "8", "--device", "cpu", "--log-every", "4"]  # no learning checks


def _invoke(*args):
    result = CliRunner().invoke(app, [str(a) for a in args])
    return result


def _rows(folder):
    with open(folder / "per_run.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def study_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("study")
    res = _invoke("study", "--dataset", "faces", "--losses", "l2", MSG, "--seeds", 1,
                  *TINY, "--out", out)
    assert res.exit_code == 0, res.output
    return out, res.output


def test_study_writes_sane_results(study_dir):
    out, output = study_dir
    rows = _rows(out)
    assert {(r["image"], r["loss"], r["seed"]) for r in rows} == {
        (img, loss, "0") for img in ("astronaut", "grace_hopper")
        for loss in ("l2", "l2 + 0.01*global + 0.01*local")
    }
    for r in rows:
        assert r["dataset"] == "faces" and r["steps"] == "20" and r["first_nonfinite_step"] == ""
        assert 15.0 < float(r["psnr"]) < 60.0
        assert 0.5 < float(r["ssim"]) <= 1.0
        assert 0.0 < float(r["seconds_per_step"]) < 5.0
    # fitted images: real 32x32 RGB PNGs, close to their target
    for r in rows:
        fit = np.asarray(Image.open(out / "fits" / r["image"] /
                                    f"{r['loss'].replace(' ', '').replace('*', 'x')}__seed0.png"))
        tgt = np.asarray(Image.open(out / "fits" / r["image"] / "target.png"))
        assert fit.shape == tgt.shape == (32, 32, 3)
        mse = np.mean((fit / 255.0 - tgt / 255.0) ** 2)
        assert abs(10 * math.log10(1 / mse) - float(r["psnr"])) < 0.5  # 8-bit rounding only
    for name in ("table.md", "summary.json", "psnr_vs_step.png", "fits_grid.png", "study.json"):
        assert (out / name).stat().st_size > 0, name
    table = (out / "table.md").read_text()
    assert "`l2 + 0.01*global + 0.01*local`" in table and "(reference)" in table
    assert table.count("**") >= 4  # best PSNR and best SSIM in bold
    assert "| faces | `l2` | 2 |" in table
    assert "table.md" in output and "ΔPSNR" in output  # the table is printed


def test_psnr_rises_and_terms_are_logged(study_dir):
    out, _ = study_dir
    lines = [json.loads(x) for x in (out / "history.jsonl").read_text().splitlines()]
    assert len(lines) == 4
    for obj in lines:
        steps = [h[0] for h in obj["history"]]
        psnrs = [h[1] for h in obj["history"]]
        assert steps == [1, 5, 10, 15, 20]
        assert psnrs[-1] > psnrs[0] + 5.0 and psnrs[-1] > psnrs[1]
        terms = obj["terms"]
        assert [t[0] for t in terms] == steps
        expected = {"l2"} if obj["loss"] == "l2" else {"l2", "global", "local"}
        assert set(terms[-1][1]) == expected
        if obj["loss"] != "l2":
            assert all(0.0 <= t[1]["local"] <= 2.0 for t in terms)
            assert terms[-1][1]["local"] < terms[0][1]["local"]


def test_identical_seeds_identical_results(tmp_path):
    results = []
    for run, seed in (("a", 3), ("b", 3), ("c", 4)):
        res = _invoke("fit", "grace_hopper", "--loss", MSG, "--seed", seed, *SHORT,
                      "--out", tmp_path / run)
        assert res.exit_code == 0, res.output
        assert "PSNR" in res.output and "SSIM" in res.output
        assert (tmp_path / run / "psnr_vs_step.png").stat().st_size > 0
        results.append((json.loads((tmp_path / run / "result.json").read_text()),
                        np.asarray(Image.open(tmp_path / run / "fitted.png"))))
    (a, fa), (b, fb), (c, fc) = results
    assert a["psnr"] == b["psnr"] and a["ssim"] == b["ssim"] and a["history"] == b["history"]
    assert np.array_equal(fa, fb)
    assert a["psnr"] != c["psnr"]


def test_resume_skips_finished_runs(tmp_path):
    out = tmp_path / "s"
    common = ["study", "--dataset", "faces", "--limit", 1, "--losses", "l2", "l1", *SHORT,
              "--out", out]
    # an interrupted study keeps the runs it finished
    done: list[StudyEvent] = []

    def stop_after_one(ev: StudyEvent) -> None:
        if ev.kind == "done":
            done.append(ev)
            raise KeyboardInterrupt

    from msglance.data.embedded import load_dataset

    samples = load_dataset("faces", 32)[:1]
    with pytest.raises(KeyboardInterrupt):
        run_study(samples, ["l2", "l1"], 2, out, dataset="faces", steps=8, device="cpu",
                  progress=stop_after_one, loss_options={"grid": (32, 32)}, log_every=4)
    assert [r.key for r in read_runs(out)] == [("astronaut", "l2", 0)]
    # without --resume an existing study is refused, not overwritten
    res = _invoke(*common, "--seeds", 2)
    assert res.exit_code == 2 and "--resume" in res.output
    # --resume runs only the 3 missing runs, then adding a seed runs only the 2 new ones
    res = _invoke(*common, "--seeds", 2, "--resume")
    assert res.exit_code == 0, res.output
    assert "resume: 1 of 4 runs already done" in res.output
    assert res.output.count(": PSNR ") == 3
    assert len(_rows(out)) == 4
    res = _invoke(*common, "--seeds", 3, "--resume")
    assert res.exit_code == 0, res.output
    assert "resume: 4 of 6 runs already done" in res.output
    assert res.output.count(": PSNR ") == 2
    rows = _rows(out)
    assert len(rows) == 6
    assert len({(r["image"], r["loss"], r["seed"]) for r in rows}) == 6
    # a resumed run keeps its first result: the seed-0 l2 row is untouched
    assert rows[0]["psnr"] == str(read_runs(out)[0].psnr)
    # settings that would mix incomparable runs are refused
    res = _invoke(*[a if a != "8" else "9" for a in common], "--seeds", 3, "--resume")
    assert res.exit_code == 2 and "steps" in res.output


def test_bad_inputs_fail_with_clear_messages(tmp_path):
    res = _invoke("study", "--dataset", "faces", "--losses", "l2+0.01*glance", *TINY,
                  "--out", tmp_path / "x")
    assert res.exit_code == 2 and "unknown loss term 'glance'" in res.output
    res = _invoke("study", "--dataset", "no_such_set", "--losses", "l2", *TINY,
                  "--out", tmp_path / "y")
    assert res.exit_code == 2 and "unknown dataset 'no_such_set'" in res.output
    res = _invoke("fit", "no_such_image", "--loss", "l2", *TINY, "--out", tmp_path / "z")
    assert res.exit_code == 2 and "astronaut" in res.output  # lists the embedded names


def test_summary_gain_is_paired_and_best_is_bold():
    def rec(image, loss, seed, psnr, t=0.1):
        return RunRecord(image, "d", loss, seed, psnr, 0.9, t, 10)

    records = [
        rec("a", "l2", 0, 20.0), rec("a", "l2", 1, 22.0), rec("b", "l2", 0, 30.0),
        rec("a", "m", 0, 21.0, 0.11), rec("a", "m", 1, 22.5, 0.11), rec("b", "m", 0, 29.0, 0.11),
        RunRecord("b", "d", "m", 1, math.nan, math.nan, 0.11, 3, first_nonfinite_step=3),
    ]
    ref, m = summarize_runs(records, ["l2", "m"])
    assert (ref.gain_mean, ref.wins, ref.pairs) == (0.0, 0, 3)
    assert m.runs == 4 and m.nonfinite == 1 and m.pairs == 3 and m.wins == 2
    assert m.gain_mean == pytest.approx((1.0 + 0.5 - 1.0) / 3)
    assert m.overhead == pytest.approx(0.1)
    assert m.psnr_mean == pytest.approx((21 + 22.5 + 29) / 3)
    table = study_table([ref, m])
    assert "| d | `m` | 4 | **24.17 ± 3.47** |" in table
    assert "+0.17 ± 0.85 | 2/3 | 110.0 | +10% | 1 |" in table


def test_images_option_selects_by_name(tmp_path):
    res = _invoke("study", "--dataset", "faces", "--images", "grace_hopper", "--losses", "l2",
                  "--seeds", 1, *SHORT, "--out", tmp_path / "a")
    assert res.exit_code == 0, res.output
    assert [r["image"] for r in _rows(tmp_path / "a")] == ["grace_hopper"]
    res = _invoke("study", "--dataset", "faces", "--images", "grace_hopper,nobody", "--losses",
                  "l2", *SHORT, "--out", tmp_path / "b")
    assert res.exit_code == 2 and "no image named nobody" in res.output
    assert "astronaut" in res.output  # lists what the set has


@pytest.mark.parametrize("kwargs, word", [
    ({"steps": 0}, "steps"), ({"steps": 2.5}, "steps"), ({"lr": -1.0}, "lr"),
    ({"lr": float("nan")}, "lr"), ({"lr": 0.0}, "lr"), ({"log_every": 0}, "log_every"),
    ({"clip": -1.0}, "clip"),
])
def test_fit_options_are_checked_before_fitting(kwargs, word):
    import torch

    from msglance.inr.fit import check_fit_options, fit_siren

    with pytest.raises(ValueError, match=word):
        check_fit_options(**kwargs)
    with pytest.raises(ValueError, match=word):  # the library checks them too
        fit_siren(torch.zeros(1, 16, 16), lambda p, t: (p - t).square().mean(), device="cpu", **kwargs)
    check_fit_options(steps=1, lr=1e-3, log_every=1, clip=None)  # valid settings pass


# ----------------------------------------------------- issue 11 item 9: torn CSV rows


def _tiny_study(out, seeds=1, **kw):
    from msglance.data.embedded import load_dataset

    samples = load_dataset("faces", 32)[:1]
    return run_study(samples, ["l2"], seeds, out, dataset="faces", steps=3, device="cpu",
                     loss_options={"grid": (32, 32)}, log_every=1, **kw)


def test_resume_survives_a_torn_last_row(tmp_path):
    """A crash while appending left half a row; `read_runs` (so `--resume`) failed on it."""
    out = tmp_path / "s"
    _tiny_study(out, seeds=2)
    csv_path = out / "per_run.csv"
    text = csv_path.read_text()
    lines = text.splitlines(keepends=True)
    torn = lines[-1][: len(lines[-1]) // 2]  # the seed-1 row, cut mid-field
    csv_path.write_text("".join(lines[:-1]) + torn)
    assert [r.key for r in read_runs(out)] == [("astronaut", "l2", 0)]
    records = _tiny_study(out, seeds=2, resume=True)  # re-runs only the torn run
    assert [r.key for r in records] == [("astronaut", "l2", 0), ("astronaut", "l2", 1)]
    assert [r.key for r in read_runs(out)] == [r.key for r in records]
    assert csv_path.read_text().count("\n") == 3 and torn not in csv_path.read_text().splitlines()


def test_a_torn_row_before_the_last_is_still_an_error(tmp_path):
    out = tmp_path / "s"
    _tiny_study(out, seeds=2)
    csv_path = out / "per_run.csv"
    lines = csv_path.read_text().splitlines(keepends=True)
    csv_path.write_text(lines[0] + lines[1][:10] + "\n" + lines[2])
    with pytest.raises(ValueError, match="malformed row at line 2"):
        read_runs(out)


def test_a_crash_while_writing_a_row_leaves_the_old_csv(tmp_path, monkeypatch):
    import msglance.atomic

    out = tmp_path / "s"
    _tiny_study(out, seeds=1)
    before = (out / "per_run.csv").read_bytes()

    def crash(*_a, **_k):
        raise OSError("simulated crash before the rename")

    monkeypatch.setattr(msglance.atomic.os, "replace", crash)
    with pytest.raises(OSError, match="simulated crash"):
        _tiny_study(out, seeds=2, resume=True)
    monkeypatch.undo()
    assert (out / "per_run.csv").read_bytes() == before
    assert [r.key for r in read_runs(out)] == [("astronaut", "l2", 0)]
