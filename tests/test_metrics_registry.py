"""The metric registry and the normalizations."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch

from msglance import metrics
from msglance.metrics.normalization import percentile

EXPECTED = {
    "mse", "mae", "psnr", "nmse", "ssim", "ms_ssim", "glance_local", "glance_global",
    "ms_glance", "pcc", "nmi", "blur_effect", "mlc", "mslc",
}


def test_all_entries_registered_with_metadata():
    names = set(metrics.available(include_unavailable=True))
    assert EXPECTED <= names
    for name in names:
        spec = metrics.get(name)
        assert spec.name == name
        assert spec.kind in metrics.KINDS
        assert callable(spec.fn)
        assert isinstance(spec.higher_is_better, bool)
        if not spec.available:
            assert spec.unavailable_reason
    assert metrics.available("structural") == ["ssim", "ms_ssim"]
    assert metrics.available("noref") == ["blur_effect", "mlc", "mslc"]
    assert not metrics.get("blur_effect").full_reference


def test_perceptual_entries_follow_the_module():
    if importlib.util.find_spec("msglance.metrics.perceptual") is None:
        assert not metrics.get("effnet_distance").available
        return
    from msglance.metrics import perceptual

    spec = metrics.get("effnet_distance")
    assert spec.available and spec.fn is perceptual.effnet_distance
    assert spec.loss_factory is perceptual.EffNetDistance
    lp = metrics.get("lpips")
    assert lp.available == (perceptual.lpips_unavailable_reason() is None)
    if not lp.available:
        assert lp.unavailable_reason == perceptual.lpips_unavailable_reason()
        assert "lpips" not in metrics.available()


def test_unknown_name_lists_available():
    with pytest.raises(KeyError) as info:
        metrics.get("ssim2")
    assert "ssim" in str(info.value) and "psnr" in str(info.value)
    with pytest.raises(ValueError):
        metrics.get("nope")


def test_register_rejects_duplicates_and_bad_kind():
    spec = metrics.get("mse")
    with pytest.raises(ValueError, match="already"):
        metrics.register(spec)
    with pytest.raises(ValueError, match="kind"):
        metrics.register(metrics.MetricSpec(
            name="x", fn=spec.fn, kind="weird", higher_is_better=False,
            needs_data_range=False, differentiable=True, supports_3d=True))


def test_every_available_entry_callable_uniformly():
    g = torch.Generator().manual_seed(0)
    y = torch.rand(2, 1, 112, 112, generator=g)
    x = (y + 0.1 * torch.rand(y.shape, generator=g)).clamp(0, 1)
    for name in metrics.available():
        spec = metrics.get(name)
        if spec.kind in ("perceptual", "semantic") or name == "ms_ssim":
            continue
        args = (x, y) if spec.full_reference else (x,)
        value = spec.fn(*args, data_range=1.0, reduction="none", check_range=True)
        assert value.shape == (2,) and torch.isfinite(value).all(), name


def test_loss_factories_minimise_and_accept_any_values():
    g = torch.Generator().manual_seed(1)
    y = torch.rand(1, 1, 112, 112, generator=g)
    x = y * 4 - 2  # far outside [0, 1]
    expected = {"mse", "mae", "nmse", "ssim", "ms_ssim", "glance_local", "glance_global", "ms_glance"}
    have = {n for n in metrics.available() if metrics.get(n).loss_factory is not None}
    assert expected <= have
    assert metrics.get("psnr").loss_factory is None and metrics.get("nmi").loss_factory is None
    for name in sorted(have - {"ms_ssim", "effnet_distance"}):
        options = {"grid": (32, 32)} if name in ("glance_global", "ms_glance") else {}
        loss = metrics.get(name).loss_factory(**options)
        assert isinstance(loss, torch.nn.Module)
        assert torch.isfinite(loss(x, y)), name
        assert loss(y, y).item() == pytest.approx(0.0, abs=1e-3), name
        assert loss(y.flip(-1), y).item() > loss(y, y).item(), name


# ------------------------------------------------------------------------- normalization


def test_normalizations():
    g = torch.Generator().manual_seed(2)
    x = torch.rand(3, 2, 20, 20, generator=g, dtype=torch.float64) * 7 + 3
    x[0, 0, 0, 0] = 100.0  # an outlier
    assert torch.equal(metrics.normalize(x, "none"), x)
    mm = metrics.normalize(x, "minmax")
    assert mm.flatten(1).amin(1).tolist() == [0.0] * 3 and mm.flatten(1).amax(1).tolist() == [1.0] * 3
    cm = metrics.normalize(x, "cminmax")
    assert cm.min() >= 0 and cm.max() <= 1
    assert cm[1].flatten().std() == pytest.approx(mm[1].flatten().std().item(), rel=0.2)
    assert cm[0].flatten().median() > mm[0].flatten().median() * 5  # outlier clipped away
    z = metrics.normalize(x, "zscore").flatten(1)
    assert torch.allclose(z.mean(1), torch.zeros(3, dtype=x.dtype), atol=1e-12)
    assert torch.allclose(z.std(1, unbiased=False), torch.ones(3, dtype=x.dtype))
    q = metrics.normalize(x, "quantile").flatten(1)
    inside = ((q >= 0) & (q <= 1)).double().mean(1)
    assert torch.allclose(inside, torch.full((3,), 0.9, dtype=x.dtype), atol=0.02)
    const = torch.full((1, 1, 5, 5), 2.0)
    for method in metrics.NORMALIZATIONS[1:]:
        assert torch.equal(metrics.normalize(const, method), torch.zeros_like(const))
    with pytest.raises(ValueError, match="normalization"):
        metrics.normalize(x, "robust")


def test_percentile_matches_numpy():
    v = torch.randn(2, 1001, dtype=torch.float64)
    for q in (0.0, 0.5, 5.0, 50.0, 99.5, 100.0):
        assert torch.allclose(percentile(v, q), torch.from_numpy(np.percentile(v.numpy(), q, axis=1)))


# ------------------------------------------------------------------- create / MetricSpec


def test_create_binds_options_and_matches_the_function():
    g = torch.Generator().manual_seed(3)
    x, y = torch.rand(2, 1, 40, 40, generator=g), torch.rand(2, 1, 40, 40, generator=g)
    module = metrics.create("ssim", data_range=1.0, reduction="none", window="box7")
    assert isinstance(module, torch.nn.Module)
    torch.testing.assert_close(module(x, y), metrics.ssim(x, y, reduction="none", window="box7"))
    noref = metrics.create("blur_effect")
    torch.testing.assert_close(noref(x), metrics.blur_effect(x))
    assert type(metrics.create("ssim", as_loss=True)).__name__ == "SSIMLoss"


@pytest.mark.parametrize("typo,suggestion", [("ssmi", "ssim"), ("psrn", "psnr"),
                                             ("msglance", "ms_glance")])
def test_unknown_names_suggest_close_ones(typo, suggestion):
    with pytest.raises(metrics.UnknownMetricError, match=f"did you mean .*'{suggestion}'"):
        metrics.create(typo)
    with pytest.raises(KeyError, match=f"did you mean .*'{suggestion}'"):
        metrics.get(typo)


def test_create_as_loss_refuses_metrics_without_a_loss():
    with pytest.raises(ValueError, match="'psnr' has no loss.*metrics with a loss: .*ssim"):
        metrics.create("psnr", as_loss=True)


def test_metric_spec_is_keyword_only_and_callable():
    with pytest.raises(TypeError):
        metrics.MetricSpec("x", metrics.mae, "pixel", False, False, True, True)  # noqa
    spec = metrics.get("mae")
    x, y = torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.25)
    assert spec(x, y).item() == pytest.approx(0.25)


@pytest.mark.parametrize("name", ["mse", "mae", "nmse", "ssim", "ms_ssim", "glance_local",
                                  "glance_global", "ms_glance", "effnet_distance"])
def test_every_loss_is_one_minus_its_similarity_or_the_error_itself(name):
    spec = metrics.get(name)
    if not spec.available:
        pytest.skip(spec.unavailable_reason)
    g = torch.Generator().manual_seed(4)
    side = 176 if name == "ms_ssim" else 48
    y = torch.rand(2, 3, side, side, generator=g)
    x = (y + 0.2 * torch.randn(2, 3, side, side, generator=g)).clamp(0, 1)
    random = name in ("glance_global", "ms_glance")
    opts = {"grid": (24, 24)} if random else {}
    loss = metrics.create(name, as_loss=True, **({"seed": 5} | opts if random else {}))
    fn_opts = {"generator": torch.Generator().manual_seed(5)} | opts if random else {}
    value = spec.fn(x, y, data_range=1.0, **fn_opts)
    expected = 1 - value if spec.higher_is_better else value
    torch.testing.assert_close(loss(x, y), expected, rtol=1e-5, atol=1e-6)
