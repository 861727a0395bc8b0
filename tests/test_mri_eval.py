"""fastMRI-convention scoring (oracle: NumPy PSNR per volume, scikit-image SSIM per slice),
evaluation of a real tiny run, and the ``msglance mri`` commands end to end."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity
from typer.testing import CliRunner

from msglance.mri.commands import app
from msglance.mri.compare import loss_slug
from msglance.mri.scoring import (
    Reconstructions,
    evaluate_run,
    reconstruct_dataset,
    score_dataset,
    score_reconstructions,
)
from msglance.mri.masks import load_masks, save_masks
from msglance.mri.config import TrainConfig
from msglance.mri.train import train


pytestmark = pytest.mark.usefixtures("one_thread_quiet")


def test_scores_follow_the_fastmri_convention():
    g = torch.Generator().manual_seed(0)
    target = torch.rand(5, 24, 20, generator=g) * 0.8
    target[3:] *= 0.5  # second volume has a smaller max -> its own data range
    recon = (target + 0.05 * torch.randn(5, 24, 20, generator=g)).clamp_min(0)
    zero_filled = (target + 0.15 * torch.randn(5, 24, 20, generator=g)).clamp_min(0)
    vols = ["a", "a", "a", "b", "b"]
    scores = score_reconstructions(
        Reconstructions([f"s{i}" for i in range(5)], vols, target, zero_filled, recon)
    )
    t, r = target.double().numpy(), recon.double().numpy()
    vol_psnr, vol_ssim = [], []
    for idx in ([0, 1, 2], [3, 4]):
        rng = t[idx].max()
        mse = np.mean((t[idx] - r[idx]) ** 2)
        vol_psnr.append(10 * np.log10(rng**2 / mse))
        vol_ssim.append(np.mean([structural_similarity(t[i], r[i], data_range=rng) for i in idx]))
        for i in idx:
            assert scores.slices[i]["data_range"] == pytest.approx(rng, rel=1e-6)
    assert scores.summary["recon"]["psnr"] == pytest.approx(np.mean(vol_psnr), abs=1e-3)
    assert scores.summary["recon"]["ssim"] == pytest.approx(np.mean(vol_ssim), abs=1e-4)
    assert scores.summary["volumes"] == 2 and scores.summary["slices"] == 5
    assert scores.summary["gain_psnr"] > 5  # recon noise 3x smaller than zero-filled noise
    assert scores.volumes["b"]["data_range"] < scores.volumes["a"]["data_range"]


class _Slices(torch.utils.data.Dataset):
    """Synthetic slices (noise around a random target), in the dataset item format."""

    def __init__(self, volumes):
        g = torch.Generator().manual_seed(1)
        self.volumes = volumes
        self.target = torch.rand(len(volumes), 1, 16, 16, generator=g)
        self.zf = self.target + 0.1 * torch.randn(len(volumes), 1, 16, 16, generator=g)

    def __len__(self):
        return len(self.volumes)

    def __getitem__(self, i):
        return {"zero_filled": self.zf[i], "kspace": torch.zeros(1, 16, 16, 2),
                "mask": torch.ones(16), "target": self.target[i], "slice_id": f"s{i}",
                "volume_id": self.volumes[i]}


class _Shrink(torch.nn.Module):
    def forward(self, zf, kspace, mask):
        return 0.9 * zf + 0.05


def test_streamed_scores_equal_the_held_ones():
    data = _Slices(["a", "a", "a", "b", "b", "c"])
    held = score_reconstructions(reconstruct_dataset(_Shrink(), data, batch_size=4))
    streamed = score_dataset(_Shrink(), data, batch_size=4)
    assert streamed.slices == held.slices and streamed.volumes == held.volumes
    for key in ("recon", "zero_filled"):
        for name, value in held.summary[key].items():
            assert streamed.summary[key][name] == pytest.approx(value, abs=1e-9), (key, name)
    with pytest.raises(ValueError, match="'a' was scored already"):
        score_dataset(_Shrink(), _Slices(["a", "b", "a"]))


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("mri") / "run"
    torch.set_num_threads(1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        train(TrainConfig(out=str(out), size=64, chans=8, pools=2, epochs=3, batch_size=4,
                          lr=3e-3, limit=24, val_limit=4, orientations="axial", device="cpu",
                          loss="l1"))
    return out


def test_evaluate_run_writes_csv_json_figure(tiny_run):
    result = evaluate_run(tiny_run, checkpoint="last")
    for split, n in (("test", None), ("s1045", 1)):
        s = result[split]
        assert np.isfinite(s["recon"]["psnr"]) and 5 < s["recon"]["psnr"] < 60
        assert -1 <= s["recon"]["ssim"] <= 1 and -1 <= s["zero_filled"]["ssim"] <= 1
        folder = tiny_run / "eval" / split
        with open(folder / "slices.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert len(rows) == s["slices"] and (n is None or len(rows) == n)
        assert {"slice_id", "volume_id", "psnr", "ssim", "zf_psnr", "zf_ssim"} <= set(rows[0])
        assert json.loads((folder / "summary.json").read_text())["slices"] == len(rows)
        assert (folder / "figure.png").stat().st_size > 10_000
    assert result["test"]["slices"] > 5  # the whole axial test block
    # three epochs of L1 training on real slices already beat the zero-filled input
    assert result["test"]["gain_psnr"] > 0, result["test"]
    assert json.loads((tiny_run / "eval" / "summary.json").read_text())["epoch"] == 3


def test_evaluate_refuses_masks_that_differ_from_the_saved_ones(tiny_run, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(tiny_run, copy)
    masks = load_masks(copy / "masks.npz")
    from msglance.mri.datasets import MNISlices

    sid = MNISlices("test", size=64, orientations=("axial",)).slice_ids[0]
    assert sid in masks
    masks[sid] = 1 - masks[sid]
    save_masks(copy / "masks.npz", masks)
    with pytest.raises(ValueError, match=f"mask of {sid} differs"):
        evaluate_run(copy, splits=("test",), figures=False)


def test_cli_train_eval_compare_end_to_end(tmp_path):
    runner = CliRunner()
    tiny = ["--size", "64", "--chans", "4", "--pools", "2", "--limit", "4", "--val-limit", "2",
            "--orientations", "axial", "--device", "cpu", "--batch-size", "4"]
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", "--out", str(run), "--epochs", "1", "--loss", "l1", *tiny])
    assert res.exit_code == 0, res.output
    assert "parameters" in res.output and "done: 1 epochs" in res.output
    res = runner.invoke(app, ["train", "--out", str(run), "--epochs", "1", "--loss", "l2", "--resume", *tiny])
    assert res.exit_code == 2 and "loss" in res.output and "checkpoint 'l1'" in res.output
    res = runner.invoke(app, ["eval", str(run), "--split", "s1045", "--checkpoint", "last"])
    assert res.exit_code == 0, res.output
    assert "s1045" in res.output and (run / "eval" / "s1045" / "figure.png").is_file()

    cmp = tmp_path / "cmp"
    args = ["compare", "--losses", "l1", "--losses", "l1+0.01*local", "--seeds", "0",
            "--out", str(cmp), "--epochs", "1", *tiny]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    table = (cmp / "table.md").read_text()
    assert "`l1+0.01*local`" in table and "zero-filled input" in table and "**s1045**" in table
    assert (cmp / "comparison.png").is_file()
    results = json.loads((cmp / "results.json").read_text())
    assert [r["loss"] for r in results["runs"]] == ["l1", "l1+0.01*local"]
    assert (cmp / loss_slug("l1+0.01*local") / "seed0" / "eval" / "summary.json").is_file()
    res = runner.invoke(app, args)  # resumable: everything is already done
    assert res.exit_code == 0 and res.output.count("already done") == 2, res.output
