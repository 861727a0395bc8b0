"""`msglance eval` end to end on real embedded images and a NIfTI volume."""

from __future__ import annotations

import csv
import json

import nibabel as nib
import numpy as np
import pytest
from PIL import Image
from skimage import data, filters
from skimage import metrics as skm
from typer.testing import CliRunner

from msglance.cli import app

runner = CliRunner()


def _save(path, arr):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(arr * 255 + 0.5, 0, 255).astype(np.uint8)).save(path)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """ref/ and pred/ with degraded copies, a missing pair and a corrupt file."""
    root = tmp_path_factory.mktemp("eval")
    rng = np.random.default_rng(0)
    images = {
        "astronaut.png": data.astronaut()[::4, ::4] / 255.0,
        "sub/camera.png": data.camera()[::4, ::4] / 255.0,
        "coffee.png": data.coffee()[:, 100:500][::4, ::4] / 255.0,
    }
    for name, img in images.items():
        _save(root / "ref" / name, img)
        degraded = filters.gaussian(img, 1.0, channel_axis=-1 if img.ndim == 3 else None)
        degraded = np.clip(degraded + 0.03 * rng.standard_normal(img.shape), 0, 1)
        _save(root / "pred" / name, degraded)
    _save(root / "ref" / "only_ref.png", images["sub/camera.png"])  # missing prediction
    good = root / "good"
    good.mkdir()
    for name in ("astronaut.png", "sub/camera.png"):
        for side in ("ref", "pred"):
            (good / side / name).parent.mkdir(parents=True, exist_ok=True)
            (good / side / name).write_bytes((root / side / name).read_bytes())
    bad = root / "bad"
    for side in ("ref", "pred"):
        (bad / side).mkdir(parents=True)
        (bad / side / "camera.png").write_bytes((root / side / "sub/camera.png").read_bytes())
    (bad / "ref" / "broken.png").write_bytes((root / "ref" / "coffee.png").read_bytes())
    (bad / "pred" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return root


def _invoke(*args):
    return runner.invoke(app, ["eval", *map(str, args)])


def test_folder_pair_matches_skimage_and_writes_outputs(folders, tmp_path):
    out = tmp_path / "o"
    res = _invoke(folders / "good" / "ref", folders / "good" / "pred", "--metrics",
                  "psnr,ssim,nmi,ms_glance", "--out", out)
    assert res.exit_code == 0, res.output
    assert "psnr" in res.output and "±" in res.output and "↑" in res.output
    assert "full scale of the files' stored type" in res.output
    rows = list(csv.DictReader((out / "per_item.csv").open()))
    assert [r["item"] for r in rows] == ["astronaut", "sub/camera"]
    ref = np.asarray(Image.open(folders / "good/ref/sub/camera.png"), dtype=float) / 255
    pred = np.asarray(Image.open(folders / "good/pred/sub/camera.png"), dtype=float) / 255
    cam = rows[1]
    assert float(cam["psnr"]) == pytest.approx(skm.peak_signal_noise_ratio(ref, pred, data_range=1), abs=1e-4)
    assert float(cam["ssim"]) == pytest.approx(skm.structural_similarity(
        ref, pred, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=1), abs=1e-4)
    assert float(cam["nmi"]) == pytest.approx(skm.normalized_mutual_information(ref, pred), abs=1e-4)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["ok"] and summary["items"] == 2
    psnrs = [float(r["psnr"]) for r in rows]
    assert summary["metrics"]["psnr"]["mean"] == pytest.approx(np.mean(psnrs), rel=1e-9)
    assert summary["metrics"]["psnr"]["std"] == pytest.approx(np.std(psnrs, ddof=1), rel=1e-9)
    assert summary["metrics"]["psnr"]["higher_is_better"] is True


def test_missing_pair_is_reported_and_fails(folders, tmp_path):
    res = _invoke(folders / "ref", folders / "pred", "--metrics", "psnr,ssim", "--out", tmp_path)
    assert res.exit_code == 1
    assert "only_ref.png" in res.output and "unmatched reference" in res.output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["unmatched_reference"] == ["only_ref.png"] and summary["items"] == 3


def test_corrupt_file_fails_with_one_line_naming_it(folders, tmp_path):
    res = _invoke(folders / "bad" / "ref", folders / "bad" / "pred", "--out", tmp_path)
    assert res.exit_code == 1
    assert "broken.png" in res.output and "error" in res.output
    assert "Traceback" not in res.output


def test_keep_going_skips_and_lists_and_exits_nonzero(folders, tmp_path):
    res = _invoke(folders / "bad" / "ref", folders / "bad" / "pred", "--keep-going",
                  "--metrics", "psnr,ssim", "--out", tmp_path)
    assert res.exit_code == 1
    assert "failed" in res.output and "broken" in res.output
    rows = list(csv.DictReader((tmp_path / "per_item.csv").open()))
    assert [r["item"] for r in rows] == ["camera"]


def test_report_with_plots_and_worst_strips(folders, tmp_path):
    res = _invoke(folders / "good" / "ref", folders / "good" / "pred", "--metrics",
                  "ssim,psnr,mae", "--report", "--worst", "2", "--out", tmp_path)
    assert res.exit_code == 0, res.output
    text = (tmp_path / "report.md").read_text()
    assert "| ssim | ↑ |" in text and "metrics.png" in text and "worst/00.png" in text
    for png in (tmp_path / "metrics.png", tmp_path / "worst" / "00.png", tmp_path / "worst" / "01.png"):
        assert png.stat().st_size > 5000
        assert Image.open(png).size[0] > 300


def test_nifti_volume_slices_and_3d_with_auto_range(tmp_path):
    rng = np.random.default_rng(1)
    vol = filters.gaussian(rng.random((40, 48, 14)), 2.0) * 800.0
    noisy = np.clip(vol + 5 * rng.standard_normal(vol.shape), 0, None)
    nib.save(nib.Nifti1Image(vol.astype(np.float32), np.eye(4)), tmp_path / "ref.nii.gz")
    nib.save(nib.Nifti1Image(noisy.astype(np.float32), np.eye(4)), tmp_path / "pred.nii.gz")
    out = tmp_path / "slices"
    res = _invoke(tmp_path / "ref.nii.gz", tmp_path / "pred.nii.gz", "--data-range", "auto",
                  "--metrics", "psnr,ssim", "--out", out)
    assert res.exit_code == 0, res.output
    assert "auto" in res.output and "maximum of each target" in res.output
    rows = list(csv.DictReader((out / "per_item.csv").open()))
    assert len(rows) == 14 and rows[2]["item"] == "ref.nii.gz[2]"
    vmax = float(vol.astype(np.float32).max())
    k = 2
    expected = skm.peak_signal_noise_ratio(vol[:, :, k].astype(np.float32), noisy[:, :, k].astype(np.float32), data_range=vmax)
    assert float(rows[k]["psnr"]) == pytest.approx(expected, abs=1e-3)
    assert float(rows[k]["data_range"]) == pytest.approx(vmax, rel=1e-5)
    out3 = tmp_path / "vol"
    res = _invoke(tmp_path / "ref.nii.gz", tmp_path / "pred.nii.gz", "--volume", "volume",
                  "--data-range", "auto", "--metrics", "psnr,ssim", "--normalize", "minmax", "--out", out3)
    assert res.exit_code == 0, res.output
    assert "minmax" in res.output
    rows = list(csv.DictReader((out3 / "per_item.csv").open()))
    assert len(rows) == 1 and float(rows[0]["data_range"]) == 1.0
    mask = np.zeros(vol.shape, dtype=np.float32)
    mask[5:35, 8:40, :] = 1
    nib.save(nib.Nifti1Image(mask, np.eye(4)), tmp_path / "mask.nii.gz")
    out4 = tmp_path / "masked"
    res = _invoke(tmp_path / "ref.nii.gz", tmp_path / "pred.nii.gz", "--mask", tmp_path / "mask.nii.gz",
                  "--data-range", "auto", "--metrics", "psnr", "--out", out4)
    assert res.exit_code == 0, res.output
    rows = list(csv.DictReader((out4 / "per_item.csv").open()))
    r, p = vol[5:35, 8:40, 3].astype(np.float32), noisy[5:35, 8:40, 3].astype(np.float32)
    assert float(rows[3]["psnr"]) == pytest.approx(skm.peak_signal_noise_ratio(r, p, data_range=vmax), abs=1e-3)


def test_crop_mask_and_bad_options(folders, tmp_path):
    ref = folders / "good" / "ref" / "sub" / "camera.png"
    pred = folders / "good" / "pred" / "sub" / "camera.png"
    mask = np.zeros((128, 128))
    mask[20:100, 30:90] = 1
    _save(tmp_path / "mask.png", mask)
    res = _invoke(ref, pred, "--crop", "64", "--metrics", "psnr", "--out", tmp_path / "c")
    assert res.exit_code == 0, res.output
    res = _invoke(ref, pred, "--mask", tmp_path / "mask.png", "--metrics", "psnr,ssim", "--out", tmp_path / "m")
    assert res.exit_code == 0, res.output
    r = np.asarray(Image.open(ref), dtype=float)[20:100, 30:90] / 255
    p = np.asarray(Image.open(pred), dtype=float)[20:100, 30:90] / 255
    row = next(csv.DictReader((tmp_path / "m" / "per_item.csv").open()))
    assert float(row["psnr"]) == pytest.approx(skm.peak_signal_noise_ratio(r, p, data_range=1), abs=1e-4)
    for args, needle in (
        (("--metrics", "psnr,nope"), "unknown metric"),
        (("--data-range", "abc"), "data range"),
        (("--normalize", "robust"), "normalize"),
        (("--metrics", "lpips"), "unavailable"),
    ):
        res = _invoke(ref, pred, *args, "--out", tmp_path / "x")
        assert res.exit_code == 1 and needle in res.output, (args, res.output)
    res = _invoke(ref, tmp_path / "nothing.png", "--out", tmp_path / "x")
    assert res.exit_code == 1 and "nothing.png" in res.output
    res = _invoke(ref, pred, "--data-range", "255", "--metrics", "psnr", "--out", tmp_path / "y")
    assert res.exit_code == 0


def test_report_finds_worst_slices_of_a_volume_whose_name_has_brackets(tmp_path):
    """Worst items are looked up by their pair, not by parsing ``name[index]``."""
    rng = np.random.default_rng(2)
    vol = filters.gaussian(rng.random((32, 36, 5)), 2.0).astype(np.float32)
    noisy = np.clip(vol + 0.02 * rng.standard_normal(vol.shape), 0, 1).astype(np.float32)
    for side, arr in (("ref", vol), ("pred", noisy)):
        (tmp_path / side).mkdir()
        nib.save(nib.Nifti1Image(arr, np.eye(4)), tmp_path / side / "scan[1].nii.gz")
    out = tmp_path / "out"
    res = _invoke(tmp_path / "ref", tmp_path / "pred", "--metrics", "psnr", "--report",
                  "--worst", "2", "--out", out)
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (out / "worst").iterdir()) == ["00.png", "01.png"]
    assert "scan[1][" in (out / "report.md").read_text()


# ------------------------------------------------------------- issue 11 item 3: data range


def _raw_pair(tmp_path, dtype, scale, bits_used=None):
    """Camera as stored ``dtype`` files (reference and a noisy prediction), raw arrays too."""
    rng = np.random.default_rng(3)
    top = scale if bits_used is None else 2**bits_used - 1
    ref = (data.camera()[::4, ::4] / 255.0 * top).round().astype(dtype)
    noise = rng.normal(0, 0.03 * top, ref.shape)
    pred = np.clip(ref + noise, 0, top).round().astype(dtype)
    for side, arr in (("ref", ref), ("pred", pred)):
        Image.fromarray(arr).save(tmp_path / f"{side}.png")
    return tmp_path / "ref.png", tmp_path / "pred.png", ref, pred


def _row(out):
    return next(csv.DictReader((out / "per_item.csv").open()))


def test_data_range_255_on_8bit_pngs_matches_skimage_on_the_raw_arrays(tmp_path):
    """`--data-range 255` on 8-bit files was applied to data already scaled to [0, 1]
    (+48 dB PSNR, exit 0). It means the stored scale: skimage on the uint8 arrays."""
    ref_f, pred_f, ref, pred = _raw_pair(tmp_path, np.uint8, 255)
    res = _invoke(ref_f, pred_f, "--data-range", "255", "--metrics", "psnr,ssim,mae", "--out", tmp_path / "a")
    assert res.exit_code == 0, res.output
    row = _row(tmp_path / "a")
    r, p = ref.astype(np.float64), pred.astype(np.float64)
    assert float(row["psnr"]) == pytest.approx(skm.peak_signal_noise_ratio(ref, pred, data_range=255), abs=1e-4)
    assert float(row["ssim"]) == pytest.approx(skm.structural_similarity(
        r, p, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255), abs=1e-4)
    assert float(row["mae"]) == pytest.approx(np.abs(r - p).mean(), rel=1e-5)  # stored units
    assert float(row["data_range"]) == 255
    res = _invoke(ref_f, pred_f, "--metrics", "psnr,mae", "--out", tmp_path / "b")  # default: dtype
    assert res.exit_code == 0, res.output
    assert float(_row(tmp_path / "b")["psnr"]) == pytest.approx(float(row["psnr"]), abs=1e-6)
    assert float(_row(tmp_path / "b")["data_range"]) == 255


def test_data_range_that_contradicts_the_files_is_rejected(tmp_path):
    ref_f, pred_f, _, _ = _raw_pair(tmp_path, np.uint8, 255)
    res = _invoke(ref_f, pred_f, "--data-range", "1", "--metrics", "psnr", "--out", tmp_path / "a")
    assert res.exit_code == 1 and "scale of the values as stored" in res.output, res.output
    res = _invoke(ref_f, pred_f, "--data-range", "65535", "--metrics", "psnr", "--out", tmp_path / "b")
    assert res.exit_code == 1 and "contradicts" in res.output and "8-bit" in res.output, res.output


def test_16bit_default_and_12bit_scale_match_skimage(tmp_path):
    ref_f, pred_f, ref, pred = _raw_pair(tmp_path, np.uint16, 65535)
    res = _invoke(ref_f, pred_f, "--metrics", "psnr", "--out", tmp_path / "a")
    assert res.exit_code == 0, res.output
    assert float(_row(tmp_path / "a")["psnr"]) == pytest.approx(
        skm.peak_signal_noise_ratio(ref, pred, data_range=65535), abs=1e-4)
    twelve = tmp_path / "12"
    twelve.mkdir()
    ref_f, pred_f, ref, pred = _raw_pair(twelve, np.uint16, 65535, bits_used=12)
    res = _invoke(ref_f, pred_f, "--data-range", "4095", "--metrics", "psnr", "--out", tmp_path / "b")
    assert res.exit_code == 0, res.output
    assert float(_row(tmp_path / "b")["psnr"]) == pytest.approx(
        skm.peak_signal_noise_ratio(ref, pred, data_range=4095), abs=1e-4)


def test_pair_of_8bit_and_16bit_files_is_refused(tmp_path):
    ref_f, _, ref, _ = _raw_pair(tmp_path, np.uint8, 255)
    Image.fromarray(ref.astype(np.uint16) * 257).save(tmp_path / "pred16.png")
    res = _invoke(ref_f, tmp_path / "pred16.png", "--metrics", "psnr", "--out", tmp_path / "a")
    assert res.exit_code == 1 and "8-bit" in res.output and "16-bit" in res.output, res.output


def test_raw_nifti_with_its_scale_matches_skimage_and_values_above_it_fail(tmp_path):
    rng = np.random.default_rng(4)
    vol = (filters.gaussian(rng.random((32, 32, 3)), 2.0) * 4000).astype(np.float32)
    noisy = np.clip(vol + 20 * rng.standard_normal(vol.shape), 0, 4095).astype(np.float32)
    nib.save(nib.Nifti1Image(vol, np.eye(4)), tmp_path / "r.nii.gz")
    nib.save(nib.Nifti1Image(noisy, np.eye(4)), tmp_path / "p.nii.gz")
    res = _invoke(tmp_path / "r.nii.gz", tmp_path / "p.nii.gz", "--data-range", "4095",
                  "--metrics", "psnr", "--out", tmp_path / "a")
    assert res.exit_code == 0, res.output
    assert float(_row(tmp_path / "a")["psnr"]) == pytest.approx(
        skm.peak_signal_noise_ratio(vol[:, :, 0], noisy[:, :, 0], data_range=4095), abs=1e-3)
    res = _invoke(tmp_path / "r.nii.gz", tmp_path / "p.nii.gz", "--metrics", "psnr", "--out", tmp_path / "b")
    assert res.exit_code == 1 and "--data-range" in res.output, res.output  # default 1 < stored values


# ------------------------------------------------------- issue 11 item 4: the Glance grid


@pytest.mark.parametrize("shape", [(16, 16), (40, 40), (64, 64), (95, 130)])
def test_default_metrics_work_on_every_image_of_one_window(tmp_path, shape):
    """The Global Glance grid was 96x96 at every size: any image under 96x96 failed."""
    rng = np.random.default_rng(5)
    ref = data.camera()[: shape[0] * 4 : 4, : shape[1] * 4 : 4][: shape[0], : shape[1]]
    pred = np.clip(ref + rng.normal(0, 8, ref.shape), 0, 255).astype(np.uint8)
    Image.fromarray(ref).save(tmp_path / "r.png")
    Image.fromarray(pred).save(tmp_path / "p.png")
    res = _invoke(tmp_path / "r.png", tmp_path / "p.png", "--out", tmp_path / "o")
    assert res.exit_code == 0, res.output
    row = _row(tmp_path / "o")
    assert all(np.isfinite(float(row[k])) for k in ("psnr", "ssim", "ms_glance", "nmi", "mae"))
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert "96·side/256" in summary["glance_grid"]


def test_glance_grid_option_sets_the_grid(tmp_path):
    import torch

    from msglance import metrics

    ref_f, pred_f, ref, pred = _raw_pair(tmp_path, np.uint8, 255)  # 128x128
    values = {}
    for grid in ("0", "48", "20"):
        out = tmp_path / f"g{grid}"
        res = _invoke(ref_f, pred_f, "--metrics", "ms_glance", "--glance-grid", grid, "--out", out)
        assert res.exit_code == 0, res.output
        values[grid] = float(_row(out)["ms_glance"])
    assert values["0"] == values["48"]  # 96 * 128 / 256 = 48
    t = lambda a: torch.from_numpy(a.astype(np.float32))[None, None]  # noqa: E731
    expected = metrics.get("ms_glance").fn(t(pred), t(ref), data_range=255.0, grid=(20, 20),
                                           generator=torch.Generator().manual_seed(0))
    assert values["20"] == pytest.approx(float(expected), abs=1e-6)
    res = _invoke(ref_f, pred_f, "--glance-grid", "-3", "--out", tmp_path / "bad")
    assert res.exit_code == 1 and "--glance-grid" in res.output


# ------------------------------------------------------------------ issue 11 item 5: masks


@pytest.fixture()
def brain_like(tmp_path):
    """A (synthetic) volume, its noisy copy and a 3-D mask whose edge slices are empty."""
    rng = np.random.default_rng(6)
    vol = filters.gaussian(rng.random((32, 36, 8)), 2.0).astype(np.float32)
    noisy = np.clip(vol + 0.02 * rng.standard_normal(vol.shape), 0, 1).astype(np.float32)
    mask = np.zeros(vol.shape, np.float32)
    mask[4:28, 6:30, 2:6] = 1  # slices 0, 1, 6, 7 empty (like a brain mask's edge slices)
    for name, arr in (("ref", vol), ("pred", noisy), ("mask", mask)):
        nib.save(nib.Nifti1Image(arr, np.eye(4)), tmp_path / f"{name}.nii.gz")
    return tmp_path, vol, noisy


@pytest.mark.parametrize("keep_going", [False, True])
def test_3d_mask_with_empty_edge_slices_skips_them_and_keeps_every_valid_slice(brain_like, keep_going):
    root, vol, noisy = brain_like
    out = root / f"o{keep_going}"
    res = _invoke(root / "ref.nii.gz", root / "pred.nii.gz", "--mask", root / "mask.nii.gz",
                  "--metrics", "psnr", "--out", out, *(["--keep-going"] if keep_going else []))
    assert res.exit_code == 0, res.output
    assert "skipped 4 slice(s)" in res.output
    rows = list(csv.DictReader((out / "per_item.csv").open()))
    assert [r["item"] for r in rows] == [f"ref.nii.gz[{k}]" for k in range(2, 6)]
    r, p = vol[4:28, 6:30, 3], noisy[4:28, 6:30, 3]
    assert float(rows[1]["psnr"]) == pytest.approx(skm.peak_signal_noise_ratio(r, p, data_range=1), abs=1e-3)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["skipped_empty_mask"] == 4 and summary["ok"]
    assert summary["skipped_items"] == [f"ref.nii.gz[{k}]" for k in (0, 1, 6, 7)]


def test_a_bad_slice_does_not_drop_the_slices_after_it(brain_like):
    root, vol, noisy = brain_like
    noisy = noisy.copy()
    noisy[0, 0, 3] = np.nan
    nib.save(nib.Nifti1Image(noisy, np.eye(4)), root / "pred.nii.gz")
    res = _invoke(root / "ref.nii.gz", root / "pred.nii.gz", "--metrics", "psnr", "--keep-going",
                  "--out", root / "o")
    assert res.exit_code == 1 and "ref.nii.gz[3]" in res.output
    items = [r["item"] for r in csv.DictReader((root / "o" / "per_item.csv").open())]
    assert items == [f"ref.nii.gz[{k}]" for k in range(8) if k != 3]


def test_mask_empty_on_every_slice_is_an_error(brain_like):
    root, _, _ = brain_like
    nib.save(nib.Nifti1Image(np.zeros((32, 36, 8), np.float32), np.eye(4)), root / "mask.nii.gz")
    res = _invoke(root / "ref.nii.gz", root / "pred.nii.gz", "--mask", root / "mask.nii.gz",
                  "--metrics", "psnr", "--out", root / "o")
    assert res.exit_code == 1 and "empty on every slice" in res.output


def test_rgb_mask_png_counts_any_nonzero_channel(folders, tmp_path):
    ref = folders / "good" / "ref" / "sub" / "camera.png"
    pred = folders / "good" / "pred" / "sub" / "camera.png"
    rgb = np.zeros((128, 128, 3), np.uint8)
    rgb[20:60, 30:90, 0] = 255  # red region
    rgb[60:100, 30:90, 2] = 40  # dim blue region: still inside
    Image.fromarray(rgb).save(tmp_path / "rgb.png")
    gray = (rgb.max(axis=-1) > 0).astype(np.uint8) * 255
    Image.fromarray(gray).save(tmp_path / "gray.png")
    values = []
    for m in ("rgb.png", "gray.png"):
        res = _invoke(ref, pred, "--mask", tmp_path / m, "--metrics", "psnr,ssim", "--out", tmp_path / f"o-{m}")
        assert res.exit_code == 0, res.output
        values.append(_row(tmp_path / f"o-{m}"))
    assert values[0]["psnr"] == values[1]["psnr"] and values[0]["ssim"] == values[1]["ssim"]
    r = np.asarray(Image.open(ref), dtype=float)[20:100, 30:90]
    p = np.asarray(Image.open(pred), dtype=float)[20:100, 30:90]
    assert float(values[0]["psnr"]) == pytest.approx(skm.peak_signal_noise_ratio(r, p, data_range=255), abs=1e-4)


def test_evaluate_api_accepts_device_auto(folders):
    """``EvalConfig(device="auto")`` goes through ``resolve_device`` (``torch.device("auto")``
    raised RuntimeError per item before) and gives the values of the device it resolves to."""
    import torch

    from msglance.evaluate import EvalConfig, evaluate

    good = folders / "good"
    auto = evaluate(good / "ref", good / "pred", EvalConfig(metrics=("psnr", "ssim"), device="auto"))
    here = "cuda" if torch.cuda.is_available() else "cpu"
    fixed = evaluate(good / "ref", good / "pred", EvalConfig(metrics=("psnr", "ssim"), device=here))
    assert auto.ok and len(auto.items) == 2
    assert [i.values for i in auto.items] == [i.values for i in fixed.items]
    assert all(np.isfinite(v) for i in auto.items for v in i.values.values())
