"""The loss-spec parser and composite loss."""

import pytest
import torch

from msglance.glance import GlobalGlanceLoss, glance_index, global_glance_index
from msglance.losses import CompositeLoss, parse, valid_terms


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
