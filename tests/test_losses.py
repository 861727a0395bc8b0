"""The loss-spec parser and composite loss."""

import pytest
import torch

from msglance.glance import GlobalGlanceLoss, glance_index, global_glance_index
from msglance.losses import CompositeLoss, parse, valid_terms
from msglance.metrics import mae, nmse


def _pair(seed=0, shape=(2, 1, 48, 48)):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(shape, generator=g)
    return (y + 0.2 * torch.rand(shape, generator=g)).requires_grad_(), y


def test_paper_inr_spec_equals_its_terms():
    x, y = _pair()
    loss = parse("l2 + 0.01*global + 0.01*local", seed=0, grid=(24, 24))
    assert isinstance(loss, CompositeLoss)
    assert loss.weights == {"l2": 1.0, "global": 0.01, "local": 0.01}
    value = loss(x, y)
    g = global_glance_index(x, y, grid=(24, 24), generator=torch.Generator().manual_seed(0))
    expected = (x - y).square().mean() + 0.01 * (1 - g) + 0.01 * (1 - glance_index(x, y))
    torch.testing.assert_close(value, expected, rtol=0, atol=1e-6)
    value.backward()
    assert torch.isfinite(x.grad).all()
    terms = loss.last_terms
    assert set(terms) == {"l2", "global", "local"} and all(isinstance(v, float) for v in terms.values())
    torch.testing.assert_close(torch.tensor(terms["local"]), 1 - glance_index(x, y).detach())
    assert loss.spec == "l2 + 0.01*global + 0.01*local"


def test_coefficient_forms_and_case():
    loss = parse(" L1 + global*0.5 + 1e-2 * Local ", grid=(16, 16))
    assert loss.weights == {"l1": 1.0, "global": 0.5, "local": 0.01}


def test_ssim_and_msglance_terms():
    from msglance.metrics import ssim

    x, y = _pair(1)
    xc = x.detach().clamp(0, 1)
    torch.testing.assert_close(parse("l2 + 0.1*ssim")(xc, y),
                               (xc - y).square().mean() + 0.1 * (1 - ssim(xc, y)),
                               rtol=0, atol=1e-6)
    both = parse("l1+msglance", seed=0, grid=(24, 24))
    assert set(both(x, y) for _ in range(1)) and set(both.last_terms) == {"l1", "msglance"}


def test_options_reach_only_terms_that_take_them():
    loss = parse("l1 + 0.01*global + 0.01*local", delta=0.01, seed=3)
    glob = loss.terms["global"]
    assert isinstance(glob, GlobalGlanceLoss) and glob.delta == 0.01 and glob.seed == 3
    assert not hasattr(loss.terms["local"], "delta")


@pytest.mark.parametrize("spec,pattern", [
    ("l2 + 0.01*glance", r"unknown loss term 'glance'; valid terms: .*global.*local"),
    ("", "empty loss spec"),
    ("l2 + ", "cannot parse term ''"),
    ("l2 + 0.1*", "cannot parse"),
    ("l1 + l1", "appears twice"),
    ("0.1*l1*2", "two coefficients"),
])
def test_bad_specs(spec, pattern):
    with pytest.raises(ValueError, match=pattern):
        parse(spec)


def test_valid_terms_lists_short_names():
    names = valid_terms()
    for n in ("l1", "l2", "ssim", "ms_ssim", "global", "local", "msglance", "effnet"):
        assert n in names


# ------------------------------------------------------------------ loss contracts (issue: hardening)


def test_fp16_pixel_term_is_computed_in_float32():
    """(x - y)^2 = 90000 overflows float16; the mean over the image does not."""
    from msglance.glance import MSGlanceLoss

    y = torch.zeros(1, 1, 32, 32, dtype=torch.float16)
    x = y.clone()
    x[0, 0, 0, 0] = 300.0
    value = MSGlanceLoss(pixel="l2", grid=(8, 8), window=4, seed=0)(x, y)
    assert torch.isfinite(value)
    pixel = MSGlanceLoss(0.0, 0.0, pixel="l2")(x, y)
    torch.testing.assert_close(pixel.float(), torch.tensor(90000.0 / 1024), rtol=1e-3, atol=0)


def test_complex_mode_governs_every_term_and_parse_accepts_complex():
    from msglance.glance import MSGlanceLoss

    g = torch.Generator().manual_seed(0)
    y = torch.randn(2, 1, 24, 24, dtype=torch.complex64, generator=g)
    x = y * torch.exp(torch.tensor(0.7j))  # same magnitudes, rotated phase
    common = dict(grid=(8, 8), window=4, seed=0)
    assert float(MSGlanceLoss(1.0, 1.0, pixel="l1", **common)(x, y)) < 1e-5  # magnitudes equal
    channels = MSGlanceLoss(1.0, 1.0, pixel="l1", complex_mode="channels", **common)(x, y)
    assert float(channels) > 0.1  # real and imaginary parts differ
    both = parse("l1 + msglance", grid=(8, 8), window=4, seed=0)
    assert float(both(x, y)) < 1e-5
    pair = parse("l2", complex_mode="channels")
    # real and imaginary parts as 2 channels: the mean of re^2 and im^2 differences
    torch.testing.assert_close(pair(x, y), (x - y).abs().square().mean() / 2, rtol=1e-5, atol=0)


def test_parse_rejects_options_no_term_takes_and_allows_per_term_options():
    with pytest.raises(ValueError, match=r"bogus.*l1.*reduction"):
        parse("l1", bogus=1)  # was ignored
    with pytest.raises(ValueError, match="bogus"):
        parse("msglance", bogus=1)  # was a TypeError from MSGlanceLoss
    assert parse("l2", seed=0, grid=(8, 8)).spec == "l2"  # options of other terms: fine
    with pytest.raises(ValueError, match=r"'l1' does not take option\(s\) \['window'\]"):
        parse("l1", l1={"window": 3})
    loss = parse("ssim + local", window=7, ssim={"window": "box7"})
    assert loss.terms["ssim"].window == "box7" and loss.terms["local"].window == 7


def test_loss_with_every_weight_zero_is_zero_and_differentiable():
    from msglance.glance import MSGlanceLoss

    x = torch.rand(2, 1, 16, 16, requires_grad=True)
    value = MSGlanceLoss(0.0, 0.0)(x, torch.rand(2, 1, 16, 16))
    value.backward()
    assert float(value.detach()) == 0.0 and x.grad is not None and float(x.grad.abs().max()) == 0.0


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_last_terms_are_floats_in_both_classes_for_every_reduction(reduction):
    from msglance.glance import MSGlanceLoss

    x, y = torch.rand(2, 1, 24, 24), torch.rand(2, 1, 24, 24)
    single = MSGlanceLoss(pixel="l1", grid=(8, 8), window=4, seed=0, reduction=reduction)
    composite = parse("l1 + local", window=4, reduction=reduction)
    for loss in (single, composite):
        loss(x, y)
        terms = loss.last_terms
        assert terms and all(type(v) is float for v in terms.values()), terms
    expected = mae(x, y, reduction="none")
    expected = expected.mean() if reduction in ("mean", "none") else expected.sum()
    assert composite.last_terms["l1"] == pytest.approx(float(expected), rel=1e-6)


def test_nmse_loss_is_finite_for_an_all_zero_target_item():
    y = torch.rand(2, 1, 8, 8)
    y[0] = 0.0
    x = torch.rand(2, 1, 8, 8, requires_grad=True)
    value = parse("nmse", reduction="none")(x, y)
    assert bool(torch.isfinite(value).all())
    value.sum().backward()
    assert bool(torch.isfinite(x.grad).all())
    # items with a real target keep fastMRI's NMSE (up to eps * N in the denominator)
    torch.testing.assert_close(value[1], nmse(x[1:], y[1:]), rtol=1e-6, atol=0)


def test_position_weights_reach_the_global_terms_only():
    loss = parse("l1 + 0.5*global + 0.5*local", grid=(16, 16), seed=3)
    assert loss.weighted_terms == ("global",)
    assert parse("l2 + msglance").weighted_terms == ("msglance",)
    assert parse("l1 + ssim").weighted_terms == ()
    g = torch.Generator().manual_seed(0)
    y = torch.rand(2, 1, 32, 32, generator=g)
    x = y.clone()
    x[..., 16:] = torch.rand(2, 1, 32, 16, generator=g)  # wrong in the right half only
    w = torch.zeros(2, 1, 32, 32)
    w[..., :16] = 1.0  # 512 positive positions per item >= the 256 drawn
    loss(x, y, position_weights=w)
    weighted = loss.last_terms
    loss(x, y)
    plain = loss.last_terms
    # the draws avoid the wrong half: a perfect global term; l1 and local are unchanged
    assert weighted["global"] == pytest.approx(0.0, abs=1e-6) and plain["global"] > 0.05
    assert weighted["l1"] == plain["l1"] and weighted["local"] == plain["local"]
    # the same value as the Global Glance loss called with those weights directly
    direct = GlobalGlanceLoss(grid=(16, 16), seed=11)
    again = parse("global", grid=(16, 16), seed=11)
    x2 = y + 0.1 * torch.rand(2, 1, 32, 32, generator=g)
    assert float(again(x2, y, position_weights=w)) == pytest.approx(
        float(direct(x2, y, position_weights=w)), abs=1e-7)


def test_position_weights_without_a_global_term_are_an_error():
    y = torch.rand(1, 1, 16, 16)
    with pytest.raises(ValueError, match="no term of 'l1 \\+ 0.1\\*ssim' takes them"):
        parse("l1 + 0.1*ssim")(y, y, position_weights=torch.ones(16, 16))
