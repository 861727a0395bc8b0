"""Properties of msglance.metrics: identity, symmetry, range invariance, finiteness, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from msglance import metrics

FULL_REF = ["mse", "mae", "psnr", "nmse", "ssim", "ms_ssim", "pcc", "nmi"]


def _pair(shape=(2, 1, 168, 168), seed=0, noise=0.1, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(shape, generator=g, dtype=torch.float64)
    # smooth so the pair has structure, then rescale to [0, 1]
    y = torch.nn.functional.avg_pool2d(y.flatten(0, -3), 5, 1, 2).view(shape) if len(shape) == 4 else y
    y = (y - y.min()) / (y.max() - y.min())
    x = (y + noise * torch.randn(shape, generator=g, dtype=torch.float64)).clamp(0, 1)
    return x.to(dtype), y.to(dtype)


def _call(name, x, y, **kw):
    return metrics.get(name).fn(x, y, data_range=1.0, **kw)


@pytest.mark.parametrize("name", FULL_REF)
def test_identity_gives_best_value(name):
    x, y = _pair()
    spec = metrics.get(name)
    same = _call(name, y, y).item()
    other = _call(name, x, y).item()
    best = {"mse": 0.0, "mae": 0.0, "psnr": math.inf, "nmse": 0.0, "ssim": 1.0,
            "ms_ssim": 1.0, "pcc": 1.0, "nmi": 2.0}[name]
    assert same == pytest.approx(best, abs=1e-5)
    assert (same > other) if spec.higher_is_better else (same < other)


@pytest.mark.parametrize("name", [n for n in FULL_REF if n != "nmse"])  # nmse divides by ||y||
def test_symmetric(name):
    x, y = _pair(dtype=torch.float64)
    assert _call(name, x, y).item() == pytest.approx(_call(name, y, x).item(), abs=1e-9)


@pytest.mark.parametrize("name", ["ssim", "ms_ssim", "psnr"])
@pytest.mark.parametrize("window", ["gaussian", "box7"])
def test_rescaled_data_with_matching_data_range_gives_same_value(name, window):
    if name != "ssim" and window == "box7":
        pytest.skip("window only applies to ssim")
    x, y = _pair(dtype=torch.float64)
    kw = {"window": window} if name == "ssim" else {}
    fn = metrics.get(name).fn
    base = fn(x, y, data_range=1.0, **kw).item()
    for scale in (255.0, 4095.0, 0.01):
        assert fn(x * scale, y * scale, data_range=scale, **kw).item() == pytest.approx(base, abs=1e-9)


def test_ssim_3d_rescale_and_identity():
    x, y = _pair((1, 1, 20, 24, 24), dtype=torch.float64)
    assert metrics.ssim(y, y).item() == pytest.approx(1.0, abs=1e-12)
    assert metrics.ssim(x * 255, y * 255, data_range=255.0).item() == pytest.approx(
        metrics.ssim(x, y).item(), abs=1e-9
    )


@pytest.mark.parametrize("name", FULL_REF + ["glance_local", "ms_glance"])
def test_constant_images_give_finite_values(name):
    a = torch.full((2, 1, 170, 170), 0.3)
    b = torch.full((2, 1, 170, 170), 0.7)
    for x, y in ((a, a), (a, b), (torch.zeros_like(a), b)):
        value = _call(name, x, y, reduction="none")
        if name == "psnr" and x is y:
            assert torch.isinf(value).all()  # identical: infinite PSNR, as scikit-image
            continue
        if name == "nmse" and not y.any():
            continue
        assert torch.isfinite(value).all(), (name, value)


def test_ssim_constant_identical_is_one_and_blur_is_finite():
    a = torch.full((1, 3, 170, 170), 0.5)
    assert metrics.ssim(a, a).item() == pytest.approx(1.0)
    assert metrics.ms_ssim(a, a).item() == pytest.approx(1.0)
    assert torch.isfinite(metrics.blur_effect(a))


@pytest.mark.parametrize("name", [n for n in metrics.available() if metrics.get(n).differentiable
                                  and metrics.get(n).kind != "perceptual"])
def test_finite_gradients_including_constant_images(name):
    shape = (1, 1, 168, 168)
    cases = [_pair(shape), (torch.full(shape, 0.4), torch.full(shape, 0.4)),
             (torch.full(shape, 0.2), torch.full(shape, 0.6))]
    for x, y in cases:
        x = x.clone().requires_grad_(True)
        value = _call(name, x, y)
        if not torch.isfinite(value):
            continue  # psnr of identical images is inf by definition
        value.backward()
        assert x.grad is not None and torch.isfinite(x.grad).all(), name


@pytest.mark.parametrize(
    "fn",
    [
        lambda a, b: metrics.ssim(a, b, check_range=False),
        lambda a, b: metrics.ssim(a, b, window="box7", check_range=False),
        lambda a, b: metrics.psnr(a, b, check_range=False),
        lambda a, b: metrics.mse(a, b),
    ],
    ids=["ssim", "ssim_box7", "psnr", "mse"],
)
def test_gradcheck_float64(fn):
    g = torch.Generator().manual_seed(3)
    x = torch.rand(1, 2, 13, 14, dtype=torch.float64, generator=g)
    y = (0.7 * x + 0.3 * torch.rand(x.shape, dtype=torch.float64, generator=g)).requires_grad_(True)
    assert torch.autograd.gradcheck(fn, (x.requires_grad_(True), y), fast_mode=True)


def test_gradcheck_ms_ssim_float64():
    g = torch.Generator().manual_seed(5)
    x = torch.rand(1, 1, 34, 34, dtype=torch.float64, generator=g)
    y = (0.8 * x + 0.2 * torch.rand(x.shape, dtype=torch.float64, generator=g))
    fn = lambda a, b: metrics.ms_ssim(a, b, win_size=3, check_range=False)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (x.requires_grad_(True), y.requires_grad_(True)), fast_mode=True)


def test_gradcheck_ssim_3d():
    g = torch.Generator().manual_seed(4)
    x = torch.rand(1, 1, 11, 12, 11, dtype=torch.float64, generator=g, requires_grad=True)
    y = torch.rand(1, 1, 11, 12, 11, dtype=torch.float64, generator=g, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: metrics.ssim(a, b, check_range=False), (x, y), fast_mode=True)
    assert torch.autograd.gradcheck(
        lambda a, b: metrics.ssim(a, b, window="box7", check_range=False), (x, y), fast_mode=True
    )


def test_chunked_computation_matches_unchunked(monkeypatch):
    """Large images/volumes are split into slabs; the split must not change values."""
    from msglance import chunking

    x, y = _pair((2, 2, 60, 50), dtype=torch.float64)
    v1, v2 = _pair((1, 1, 30, 40, 40), dtype=torch.float64)
    full = [metrics.ssim(x, y, reduction="none"), metrics.ssim(v1, v2, window="box7")]
    monkeypatch.setattr(chunking, "CHUNK_VALUES", 700)
    split = [metrics.ssim(x, y, reduction="none"), metrics.ssim(v1, v2, window="box7")]
    for a, b in zip(full, split):
        assert torch.allclose(a, b, atol=1e-12)
    grads = []
    for budget in (None, 700):
        monkeypatch.setattr(chunking, "CHUNK_VALUES", budget)
        v = v1.clone().requires_grad_(True)
        metrics.ssim(v, v2).backward()
        grads.append(v.grad)
    assert torch.allclose(grads[0], grads[1], atol=1e-15)


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    h=st.integers(11, 24),
    w=st.integers(11, 24),
    scale=st.sampled_from([1.0, 255.0]),
)
def test_ssim_range_and_symmetry_property(seed, h, w, scale):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, 2, h, w, dtype=torch.float64, generator=g) * scale
    y = torch.rand(1, 2, h, w, dtype=torch.float64, generator=g) * scale
    a = metrics.ssim(x, y, data_range=scale).item()
    assert -1.0 <= a <= 1.0
    assert a == pytest.approx(metrics.ssim(y, x, data_range=scale).item(), abs=1e-12)
    assert metrics.pcc(x, y).item() == pytest.approx(
        np.corrcoef(x.flatten().numpy(), y.flatten().numpy())[0, 1], abs=1e-9
    )


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", ["mse", "psnr", "ssim", "ms_ssim", "pcc"])
def test_half_precision_computed_in_float32(dtype, name):
    x, y = _pair((1, 1, 168, 168))
    ref = _call(name, x, y).item()
    got = _call(name, x.to(dtype), y.to(dtype))
    assert got.dtype == dtype
    rel = abs(ref) * (1e-2 if dtype == torch.bfloat16 else 2e-3) + 1e-3
    assert abs(got.float().item() - ref) <= rel * 5


def test_reductions():
    x, y = _pair((3, 1, 32, 32))
    for name in ("mse", "ssim", "pcc", "nmi"):
        none = _call(name, x, y, reduction="none")
        assert none.shape == (3,)
        assert _call(name, x, y, reduction="sum").item() == pytest.approx(none.sum().item(), rel=1e-5)
        assert _call(name, x, y, reduction="mean").item() == pytest.approx(none.mean().item(), rel=1e-5)


# ------------------------------------------------------------------------------- errors


def test_out_of_range_error_names_observed_range():
    x, y = _pair((1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"\[0, 1\.5\].*data_range=1"):
        metrics.ssim(x * 1.5, y)
    with pytest.raises(ValueError, match="outside"):
        metrics.psnr(x - 0.5, y)
    with pytest.raises(ValueError, match="outside"):
        metrics.mse(x * 300, y, data_range=255.0)
    assert torch.isfinite(metrics.ssim(x * 1.5, y, check_range=False))


def test_clear_errors():
    x, y = _pair((1, 1, 32, 32))
    with pytest.raises(ValueError, match=r"> 160.*\(32, 32\)"):
        metrics.ms_ssim(x, y)
    with pytest.raises(ValueError, match="same shape"):
        metrics.ssim(x, y[..., :31])
    with pytest.raises(TypeError, match="dtype"):
        metrics.psnr(x, y.double())
    with pytest.raises(ValueError, match="reduction"):
        metrics.ssim(x, y, reduction="avg")
    with pytest.raises(ValueError, match="window"):
        metrics.ssim(x[..., :8, :8], y[..., :8, :8])
    with pytest.raises(ValueError, match="window must be one of"):
        metrics.ssim(x, y, window="box9")
    with pytest.raises(ValueError, match="data_range"):
        metrics.psnr(x, y, data_range=0)
    with pytest.raises(ValueError, match="expected"):
        metrics.ssim(x[0], y[0])
    with pytest.raises(ValueError, match="bins"):
        metrics.nmi(x, y, bins=0)
    with pytest.raises(ValueError, match="channels"):
        metrics.blur_effect(torch.rand(1, 2, 32, 32))


def test_modules_and_losses():
    x, y = _pair((2, 1, 168, 168))
    assert metrics.SSIM()(x, y).item() == pytest.approx(metrics.ssim(x, y).item())
    assert metrics.MSSSIM()(x, y).item() == pytest.approx(metrics.ms_ssim(x, y).item())
    assert metrics.PSNR()(x, y).item() == pytest.approx(metrics.psnr(x, y).item())
    loss = metrics.SSIMLoss()
    assert loss(x, y).item() == pytest.approx(1 - metrics.ssim(x, y).item(), abs=1e-6)
    # losses take any real values (no range check) and are 0 at identity
    wild = x * 3 - 1
    for module in (metrics.SSIMLoss(), metrics.MSSSIMLoss(), metrics.MSELoss(), metrics.MAELoss()):
        assert torch.isfinite(module(wild, y))
        assert module(y, y).item() == pytest.approx(0.0, abs=1e-6)


def test_ssim_maps_average_to_the_chunked_means():
    """``ssim_components`` (per-window maps) and ``ssim_means`` share one arithmetic."""
    from msglance.metrics.structural import ssim_components, ssim_means

    x, y = _pair((2, 3, 30, 28), dtype=torch.float64)
    for kind, size in (("gaussian", 11), ("box", 7)):
        s_map, cs_map = ssim_components(x, y, 1.0, kind, size)
        s_mean, cs_mean = ssim_means(x, y, 1.0, kind, size)
        torch.testing.assert_close(s_map.flatten(2).mean(-1), s_mean, rtol=0, atol=1e-12)
        torch.testing.assert_close(cs_map.flatten(2).mean(-1), cs_mean, rtol=0, atol=1e-12)
    a = x.clone().requires_grad_()
    ssim_components(a, y, 1.0)[0].mean().backward()
    b = x.clone().requires_grad_()
    ssim_means(b, y, 1.0)[0].mean().backward()
    torch.testing.assert_close(a.grad, b.grad, rtol=0, atol=1e-12)


def test_gaussian_taps_match_the_tensor_kernel_and_a_dense_oracle():
    """The cached float taps are the float64 kernel's values: the filter built from them is
    bit-identical to the tensor-kernel path and equals a dense 2-D correlation."""
    from msglance.filters import gaussian_filter, gaussian_kernel1d, gaussian_taps, separable_filter

    taps = gaussian_taps(11, 1.5)
    kernel = gaussian_kernel1d(11, 1.5, dtype=torch.float64)
    assert taps == tuple(kernel.tolist()) and gaussian_taps(11, 1.5) is taps  # cached
    x = torch.rand(2, 3, 20, 17, generator=torch.Generator().manual_seed(0))
    out = gaussian_filter(x, 11, 1.5)
    assert torch.equal(out, separable_filter(x, kernel))
    assert torch.equal(out, separable_filter(x, list(taps)))
    # oracle: the outer-product kernel as one dense conv2d in float64, from the formula
    c = torch.arange(11, dtype=torch.float64) - 5.0
    g = torch.exp(-c**2 / (2 * 1.5**2))
    dense = torch.outer(g, g) / g.sum() ** 2
    ref = torch.nn.functional.conv2d(x.double().flatten(0, 1)[:, None], dense[None, None])
    torch.testing.assert_close(out.double(), ref.view(2, 3, 10, 7), atol=1e-6, rtol=0)
