"""msglance.metrics against scikit-image, pytorch-msssim and NumPy on real images."""

from __future__ import annotations

import numpy as np
import pytest
import pytorch_msssim
import torch
from skimage import data, filters, measure
from skimage import metrics as skm

from msglance import metrics

RNG = np.random.default_rng(1234)


def _noisy(img: np.ndarray, sigma: float = 0.08) -> np.ndarray:
    return np.clip(img + sigma * RNG.standard_normal(img.shape), 0.0, 1.0)


def _t(img: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    """(H, W) -> (1, 1, H, W); (H, W, 3) -> (1, 3, H, W); (D, H, W) volumes via `vol`."""
    t = torch.from_numpy(np.ascontiguousarray(img))
    t = t.permute(2, 0, 1) if t.ndim == 3 else t[None]
    return t[None].to(dtype)


def _vol(v: np.ndarray, dtype=torch.float64) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(v))[None, None].to(dtype)


@pytest.fixture(scope="module")
def camera() -> np.ndarray:
    return data.camera()[96:288, 160:352].astype(np.float64) / 255.0


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return data.astronaut()[:176, 150:326].astype(np.float64) / 255.0


@pytest.fixture(scope="module")
def volume() -> np.ndarray:
    v = filters.gaussian(RNG.random((22, 26, 30)), 1.0)
    return (v - v.min()) / (v.max() - v.min())


# ------------------------------------------------------------------------------- PSNR


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("scale", [1.0, 255.0])
def test_psnr_equals_skimage(astronaut, dtype, scale):
    ref, pred = astronaut * scale, _noisy(astronaut) * scale
    expected = skm.peak_signal_noise_ratio(ref, pred, data_range=scale)
    got = metrics.psnr(_t(pred, dtype), _t(ref, dtype), data_range=scale)
    assert abs(got.item() - expected) <= (1e-10 if dtype == torch.float64 else 1e-4)


def test_psnr_3d_equals_skimage(volume):
    pred = _noisy(volume, 0.05)
    expected = skm.peak_signal_noise_ratio(volume, pred, data_range=1.0)
    assert metrics.psnr(_vol(pred), _vol(volume)).item() == pytest.approx(expected, abs=1e-10)


def test_nmse_is_fastmri_definition(camera):
    pred = _noisy(camera)
    expected = np.linalg.norm(camera - pred) ** 2 / np.linalg.norm(camera) ** 2
    assert metrics.nmse(_t(pred), _t(camera)).item() == pytest.approx(expected, rel=1e-12)


# ------------------------------------------------------------------------------- SSIM


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ssim_gaussian_equals_skimage_2d(camera, astronaut, dtype):
    for img, channel_axis in ((camera, None), (astronaut, 2)):
        pred = _noisy(img)
        expected = skm.structural_similarity(
            img, pred, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            data_range=1.0, channel_axis=channel_axis,
        )
        got = metrics.ssim(_t(pred, dtype), _t(img, dtype), data_range=1.0).item()
        assert abs(got - expected) <= 1e-4
        if dtype == torch.float64:
            assert abs(got - expected) <= 1e-10


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ssim_box7_equals_skimage_defaults_2d(camera, astronaut, dtype):
    for img, channel_axis in ((camera, None), (astronaut, 2)):
        pred = _noisy(img)
        expected = skm.structural_similarity(
            img, pred, data_range=1.0, channel_axis=channel_axis
        )
        got = metrics.ssim(_t(pred, dtype), _t(img, dtype), window="box7").item()
        assert abs(got - expected) <= 1e-4
        if dtype == torch.float64:
            assert abs(got - expected) <= 1e-10


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ssim_3d_equals_skimage(volume, dtype):
    pred = _noisy(volume, 0.1)
    gauss = skm.structural_similarity(
        volume, pred, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=1.0,
    )
    box = skm.structural_similarity(volume, pred, data_range=1.0)
    assert abs(metrics.ssim(_vol(pred, dtype), _vol(volume, dtype)).item() - gauss) <= 1e-4
    assert abs(
        metrics.ssim(_vol(pred, dtype), _vol(volume, dtype), window="box7").item() - box
    ) <= 1e-4


def test_ssim_data_range_255_equals_skimage(camera):
    ref, pred = camera * 255.0, _noisy(camera) * 255.0
    expected = skm.structural_similarity(
        ref, pred, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=255.0,
    )
    got = metrics.ssim(_t(pred, torch.float32), _t(ref, torch.float32), data_range=255.0)
    assert abs(got.item() - expected) <= 1e-4


def test_ssim_fastmri_convention_target_max(camera):
    """fastMRI: skimage defaults (box7) with data_range = target max."""
    ref = camera * 0.37
    pred = np.clip(ref + 0.02 * RNG.standard_normal(ref.shape), 0, ref.max())
    expected = skm.structural_similarity(ref, pred, data_range=ref.max())
    got = metrics.ssim(_t(pred), _t(ref), data_range=float(ref.max()), window="box7")
    assert abs(got.item() - expected) <= 1e-10


def test_ssim_float32_large_offset_no_cancellation(camera):
    """Data near 1000 in float32: per-channel centring keeps the moments accurate."""
    ref = 1000.0 + camera
    pred = 1000.0 + _noisy(camera)
    expected = skm.structural_similarity(
        ref, pred, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
        data_range=1001.0,
    )
    got = metrics.ssim(_t(pred, torch.float32), _t(ref, torch.float32), data_range=1001.0)
    assert abs(got.item() - expected) <= 1e-4


# ---------------------------------------------------------------------------- MS-SSIM


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_ms_ssim_equals_pytorch_msssim_2d(astronaut, camera, dtype):
    x = torch.cat([_t(_noisy(astronaut, s), dtype) for s in (0.05, 0.2)])
    y = torch.cat([_t(astronaut, dtype)] * 2)
    expected = pytorch_msssim.ms_ssim(x, y, data_range=1.0, size_average=False)
    got = metrics.ms_ssim(x, y, reduction="none")
    assert (got - expected).abs().max().item() <= 1e-4
    gray = _t(camera, dtype)
    pred = _t(_noisy(camera), dtype)
    expected = pytorch_msssim.ms_ssim(pred * 255, gray * 255, data_range=255.0)
    assert abs(metrics.ms_ssim(pred * 255, gray * 255, data_range=255.0) - expected) <= 1e-4


def test_ms_ssim_equals_pytorch_msssim_3d():
    v = filters.gaussian(RNG.random((40, 40, 40)), 1.0)
    v = (v - v.min()) / (v.max() - v.min())
    x, y = _vol(_noisy(v, 0.1), torch.float32), _vol(v, torch.float32)
    expected = pytorch_msssim.ms_ssim(x, y, data_range=1.0, win_size=3)
    assert abs(metrics.ms_ssim(x, y, win_size=3).item() - expected.item()) <= 1e-4


# ------------------------------------------------------------------- statistical, no-ref


@pytest.mark.parametrize("bins", [100, 32])
def test_nmi_equals_skimage(camera, astronaut, bins):
    for img in (camera, astronaut):
        pred = _noisy(img)
        expected = skm.normalized_mutual_information(img, pred, bins=bins)
        got = metrics.nmi(_t(pred), _t(img), bins=bins).item()
        assert got == pytest.approx(expected, abs=1e-12)


def test_nmi_equals_skimage_on_8bit_values_and_3d(volume):
    cam = data.camera() / 255.0
    assert metrics.nmi(_t(cam), _t(cam)).item() == pytest.approx(
        skm.normalized_mutual_information(cam, cam), abs=1e-12
    )
    pred = _noisy(volume)
    assert metrics.nmi(_vol(pred), _vol(volume)).item() == pytest.approx(
        skm.normalized_mutual_information(volume, pred), abs=1e-12
    )


def test_pcc_equals_numpy(camera, volume):
    for img, wrap in ((camera, _t), (volume, _vol)):
        pred = _noisy(img)
        expected = np.corrcoef(pred.ravel(), img.ravel())[0, 1]
        assert metrics.pcc(wrap(pred), wrap(img)).item() == pytest.approx(expected, abs=1e-12)


def test_blur_effect_equals_skimage(camera, astronaut, volume):
    for img in (camera, filters.gaussian(camera, 2.0)):
        assert metrics.blur_effect(_t(img)).item() == pytest.approx(
            measure.blur_effect(img), abs=1e-12
        )
    assert metrics.blur_effect(_t(astronaut)).item() == pytest.approx(
        measure.blur_effect(astronaut, channel_axis=2), abs=1e-12
    )
    assert metrics.blur_effect(_vol(volume)).item() == pytest.approx(
        measure.blur_effect(volume), abs=1e-12
    )
    assert metrics.blur_effect(_t(camera), h_size=5).item() == pytest.approx(
        measure.blur_effect(camera, h_size=5), abs=1e-12
    )


def test_blur_effect_grows_with_blur(camera):
    values = [metrics.blur_effect(_t(filters.gaussian(camera, s))).item() for s in (0.5, 1, 2, 4)]
    assert values == sorted(values)


def test_batch_items_are_independent(camera, astronaut):
    """reduction='none' gives each item's value as if computed alone."""
    a = _t(astronaut)
    b = _t(_noisy(astronaut))
    x = torch.cat([b, a])
    y = torch.cat([a, a])
    for name in ("psnr", "ssim", "ms_ssim", "pcc", "nmi", "mse", "mae"):
        fn = metrics.get(name).fn
        batch = fn(x, y, data_range=1.0, reduction="none")
        alone = fn(b, a, data_range=1.0, reduction="none")
        assert batch.shape == (2,)
        assert batch[0].item() == pytest.approx(alone.item(), abs=1e-10), name


# --------------------------------------------------------------------- MLC / MSLC (no-ref)


def test_line_correlations_equal_the_line_by_line_definition(camera, astronaut):
    from oracles import line_correlation_oracle

    wide = camera[:, :150]  # not square: MSLC uses d = W // 2 for rows and columns
    flat = camera.copy()
    flat[10:14, :] = 0.5  # constant rows (rho 0) ...
    flat[30] = flat[31]  # ... and two identical rows (rho 1)
    for img in (camera, wide, flat, _noisy(camera)):
        assert metrics.mean_line_correlation(_t(img)).item() == pytest.approx(
            line_correlation_oracle(img, 1), abs=1e-12)
        assert metrics.mean_shifted_line_correlation(_t(img)).item() == pytest.approx(
            line_correlation_oracle(img, img.shape[1] // 2), abs=1e-12)
    # RGB: the channels' values are averaged; float32 input gives float32 out
    rgb = _t(astronaut, torch.float32)
    expected = np.mean([line_correlation_oracle(astronaut[..., c], 1) for c in range(3)])
    value = metrics.mean_line_correlation(rgb)
    assert value.dtype == torch.float32 and value.item() == pytest.approx(expected, abs=1e-6)


def test_line_correlations_respond_to_noise_and_ghosting(camera):
    from msglance.mri.fft import fft2c, ifft2c

    clean = _t(camera)
    mlc = [metrics.mean_line_correlation(_t(_noisy(camera, s))).item() for s in (0.01, 0.05, 0.2)]
    assert metrics.mean_line_correlation(clean).item() > mlc[0] > mlc[1] > mlc[2]
    # keep every other phase-encoding column of k-space: the image folds onto itself
    # shifted by half the width (a ghost), which MSLC picks up
    k = fft2c(clean.to(torch.complex128))
    k[..., 1::2] = 0
    aliased = ifft2c(k).abs()
    assert metrics.mean_shifted_line_correlation(aliased).item() > (
        metrics.mean_shifted_line_correlation(clean).item() + 0.1)
    spec = metrics.get("mslc")
    assert not spec.higher_is_better and metrics.get("mlc").higher_is_better


def test_line_correlation_errors():
    with pytest.raises(ValueError, match=r"expected \(B, C, H, W\) input"):
        metrics.mean_line_correlation(torch.rand(1, 1, 4, 8, 8))
    with pytest.raises(ValueError, match="no line pair"):
        metrics.line_correlation(torch.rand(1, 1, 6, 5), 6)
    with pytest.raises(TypeError, match="floating"):
        metrics.mean_shifted_line_correlation(torch.ones(1, 1, 8, 8, dtype=torch.int64))
    # the non-finite policy: an error with range checking on, else NaN for the item
    with pytest.raises(ValueError, match="NaN"):
        metrics.mean_line_correlation(torch.full((1, 1, 8, 8), float("nan")), data_range=1.0)
    assert metrics.mean_line_correlation(torch.full((1, 1, 8, 8), float("nan"))).isnan()
