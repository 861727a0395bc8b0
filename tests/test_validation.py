"""The one non-finite-value policy of msglance.validation, over every metric and loss."""

from __future__ import annotations

import warnings

import pytest
import torch

from msglance import losses, metrics
from msglance.glance import glance_index, global_glance_index
from msglance.validation import check_data_range, nan_where_nonfinite

BAD = [float("nan"), float("inf"), float("-inf")]


def _side(name: str) -> int:
    return 176 if "ms_ssim" in name else 40  # ms_ssim's five scales need sides > 160


def _pair(bad: float, side: int = 40) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    y = torch.rand(2, 1, side, side, generator=g)
    x = (y + 0.05 * torch.rand(y.shape, generator=g)).clamp(0, 1)
    x_bad = x.clone()
    x_bad[0, 0, 7, 9] = bad  # one pixel, item 0 only
    return x, x_bad, y


def _call(spec, x, y, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if spec.full_reference:
            return spec.fn(x, y, reduction="none", **kw)
        return spec.fn(x, reduction="none", **kw)


def _seeded(spec, x, y, **kw):
    torch.manual_seed(0)  # the Global Glance draws: the same for the clean and the bad call
    if spec.name in ("glance_global", "ms_glance"):
        kw["grid"] = (16, 16)
    return _call(spec, x, y, **kw)


@pytest.mark.parametrize("bad", BAD, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", metrics.available())
def test_a_non_finite_prediction_never_scores_a_finite_number(name, bad):
    """Item 0 holds one bad pixel: its value is not finite, item 1's is unchanged."""
    spec = metrics.get(name)
    x, x_bad, y = _pair(bad, _side(name))
    clean = _seeded(spec, x, y, data_range=1.0, check_range=False)
    value = _seeded(spec, x_bad, y, data_range=1.0, check_range=False)
    assert not bool(torch.isfinite(value[0])), (name, value)
    torch.testing.assert_close(value[1], clean[1], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("bad", BAD, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("name", [n for n in metrics.available() if metrics.get(n).kind != "glance"])
def test_range_checking_rejects_a_non_finite_prediction(name, bad):
    spec = metrics.get(name)
    _, x_bad, y = _pair(bad, _side(name))
    with pytest.raises(ValueError, match=r"x|prediction"):
        _call(spec, x_bad, y, data_range=1.0, check_range=True)


def test_check_data_range_rejects_nan():
    with pytest.raises(ValueError, match="x holds NaN"):
        check_data_range(torch.tensor([0.2, float("nan")]), 1.0, "x")


@pytest.mark.parametrize("bad", BAD, ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize("term", losses.valid_terms())
def test_every_loss_propagates_a_non_finite_prediction(term, bad):
    x, x_bad, y = _pair(bad, _side(term))
    small_grid = losses.TERMS.get(term, term) in ("glance_global", "ms_glance")
    loss = losses.parse(term, **({"grid": (16, 16)} if small_grid else {}))
    assert bool(torch.isfinite(loss(x, y))), term
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        value = loss(x_bad.requires_grad_(), y)
    assert not bool(torch.isfinite(value)), (term, value)


@pytest.mark.parametrize("complex_mode", ["magnitude", "channels"])
def test_complex_glance_keeps_nan(complex_mode):
    """A NaN in the real or imaginary part used to become magnitude 0 (a finite index)."""
    g = torch.Generator().manual_seed(1)
    y = torch.randn(2, 1, 32, 32, dtype=torch.complex64, generator=g)
    for bad in (complex(float("nan"), 0.0), complex(0.0, float("nan"))):
        x = y.clone()
        x[0, 0, 3, 3] = bad
        local = glance_index(x, y, window=4, reduction="none", complex_mode=complex_mode)
        glob = global_glance_index(x, y, grid=(8, 8), window=4, reduction="none",
                                   complex_mode=complex_mode)
        for v in (local, glob):
            assert bool(v[0].isnan()) and float(v[1]) == 1.0, v
    pair = torch.view_as_real(y).movedim(-1, -1).contiguous()  # (B, C, H, W, 2) real pairs
    bad_pair = pair.clone()
    bad_pair[0, 0, 3, 3, 1] = float("nan")
    assert bool(glance_index(bad_pair, pair, window=4, reduction="none")[0].isnan())


def test_nan_where_nonfinite_keeps_other_items_gradients():
    x = torch.rand(3, 1, 4, 4)
    x[1, 0, 0, 0] = float("inf")
    w = torch.ones(3, requires_grad=True)
    out = nan_where_nonfinite(w * 2.0, x)
    assert out[1].isnan() and out[0] == 2.0 and out[2] == 2.0
    out[[0, 2]].sum().backward()
    assert w.grad.tolist() == [2.0, 0.0, 2.0]


# ------------------------------------------------------------------ parameter validation


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -0.5, "0.1", True])
@pytest.mark.parametrize("name", ["global_weight", "local_weight", "pixel_weight"])
def test_msglance_loss_weights_must_be_finite_and_non_negative(name, value):
    from msglance.glance import MSGlanceLoss

    with pytest.raises((ValueError, TypeError), match=name):
        MSGlanceLoss(**{name: value}, pixel="l1")
    if name != "pixel_weight":
        from msglance.glance import ms_glance_index

        x = torch.rand(1, 1, 16, 16)
        with pytest.raises((ValueError, TypeError), match=name):
            ms_glance_index(x, x, grid=(4, 4), window=3, **{name: value})


@pytest.mark.parametrize("name", ["psnr", "ssim", "mse", "blur_effect", "glance_local"])
def test_data_range_accepts_numpy_scalars_and_0d_tensors(name):
    import numpy as np

    spec = metrics.get(name)
    x = torch.rand(2, 1, 32, 32)
    ref = _call(spec, x, x.flip(-1), data_range=1.0)
    for dr in (np.float32(1.0), np.float64(1.0), np.int64(1), torch.tensor(1.0)):
        torch.testing.assert_close(_call(spec, x, x.flip(-1), data_range=dr), ref)


@pytest.mark.parametrize("dr", [float("inf"), float("nan"), 0.0, -1.0, 1e200, 10**400,
                                torch.tensor([1.0, 2.0]), "1"])
@pytest.mark.parametrize("name", ["psnr", "ssim", "blur_effect", "glance_local"])
def test_bad_data_range_is_a_clear_error(name, dr):
    spec = metrics.get(name)
    x = torch.rand(2, 1, 32, 32)
    with pytest.raises((ValueError, TypeError), match="data_range"):
        _call(spec, x, x, data_range=dr)


@pytest.mark.parametrize("grid,repeats,message", [
    ((8.5, 8), 2, "grid"), ((8, 0), 2, "grid"), ((8,), 2, "grid"), ((True, 8), 2, "grid"),
    ((8, 8), 0, "repeats"), ((8, 8), 2.0, "repeats"),
])
def test_global_sampling_settings_are_validated_up_front(grid, repeats, message):
    from msglance.glance import GlobalGlanceLoss, global_glance_index

    x = torch.rand(1, 1, 32, 32)
    with pytest.raises(ValueError, match=message):
        global_glance_index(x, x, grid=grid, repeats=repeats, window=3)
    with pytest.raises(ValueError, match=message):
        GlobalGlanceLoss(grid=grid, repeats=repeats, window=3)  # at construction, not first call


def test_an_int_grid_is_a_square_grid():
    from msglance.glance import global_glance_index

    x, y = torch.rand(1, 1, 32, 32), torch.rand(1, 1, 32, 32)
    a = global_glance_index(x, y, grid=8, window=3, generator=torch.Generator().manual_seed(0))
    b = global_glance_index(x, y, grid=(8, 8), window=3, generator=torch.Generator().manual_seed(0))
    assert a == b


def test_absurd_work_is_refused_before_allocating_with_the_estimate():
    from msglance.glance import global_glance_index

    x = torch.rand(1, 1, 32, 32)
    with pytest.raises(ValueError, match=r"977 per pixel.*1000x10000 mosaic"):
        global_glance_index(x, x, grid=(1000, 1000), replacement=True)
    with pytest.raises(ValueError, match=r"bins=10000.*1\.5 GiB"):
        metrics.nmi(x, x, bins=10000)


@pytest.mark.parametrize("name", ["blur_effect", "mlc", "mslc"])
def test_no_reference_measures_reject_an_empty_batch(name):
    with pytest.raises(ValueError, match="empty"):
        metrics.get(name).fn(torch.rand(0, 1, 16, 16))


def test_effnet_distance_of_an_infinite_prediction_is_not_finite():
    """A bad last pixel never reaches the features (the stride-2 stem with TensorFlow SAME
    padding skips it), and ReLU6 clips inf: the network alone returned a finite distance
    (found by tests/test_contract.py)."""
    if "effnet_distance" not in metrics.available():
        pytest.skip("effnet_distance unavailable")
    g = torch.Generator().manual_seed(14)
    y = torch.rand(2, 3, 64, 64, generator=g)
    x = torch.rand(2, 3, 64, 64, generator=g)
    x[0, 2, 63, 63] = float("inf")
    value = metrics.get("effnet_distance").fn(x, y, reduction="none", check_range=False)
    assert not bool(torch.isfinite(value[0])) and bool(torch.isfinite(value[1]))
