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
    loss = losses.parse(term, grid=(16, 16))
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
