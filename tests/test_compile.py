"""``torch.compile`` of the Glance loss, the Glance index and the SSIM loss equals eager.

Small inputs (2x1x48x48, grid 16x16) keep the compile time of the CI run short. Each check
compares the value and the gradient of the compiled callable with a fresh eager twin
(same seed, so the same Global Glance draws) to 1e-5.

``test_graph_breaks`` counts the graph breaks with ``torch._dynamo.explain``: 0 for the
SSIM family and the Local Glance index; the Global Glance draw (``glance._draw_mosaic``,
``torch.compiler.disable``: ``torch.Generator`` draws cannot be traced) is the one
remaining break site, which ``explain`` counts once per frame that encloses it.
"""

from __future__ import annotations

import pytest
import torch

from msglance import validation
from msglance.glance import GlobalGlanceLoss, MSGlanceLoss, glance_index
from msglance.metrics import SSIMLoss, ms_ssim, ssim

TOL = 1e-5


@pytest.fixture(autouse=True)
def _fresh_dynamo():
    torch._dynamo.reset()
    yield
    torch._dynamo.reset()


def _pair(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(2, 1, 48, 48, generator=g)
    x = (y + 0.1 * torch.randn(2, 1, 48, 48, generator=g)).clamp(0, 1)
    return x, y


def _value_and_grad(fn, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    xg = x.clone().requires_grad_(True)
    value = fn(xg, y)
    value.backward()
    return value.detach(), xg.grad


def _assert_same(compiled, eager, x, y) -> None:
    vc, gc = _value_and_grad(compiled, x, y)
    ve, ge = _value_and_grad(eager, x, y)
    assert torch.isfinite(vc).all() and gc.abs().sum() > 0
    torch.testing.assert_close(vc, ve, atol=TOL, rtol=0)
    torch.testing.assert_close(gc, ge, atol=TOL, rtol=0)


DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


@pytest.mark.parametrize("device", DEVICES)
def test_msglance_loss_compiles_with_inductor(device):
    # raised InductorError ("ValueRangeError: Invalid ranges [0:-1]") before the fix
    x, y = (t.to(device) for t in _pair())
    make = lambda: MSGlanceLoss(grid=(16, 16), window=16, repeats=2, seed=0, pixel="l1")  # noqa: E731
    compiled = torch.compile(make())
    _assert_same(compiled, make(), x, y)
    # a second call (new draws from the seeded stream, new values) still matches eager
    eager = make()
    _value_and_grad(eager, x, y)
    _assert_same(compiled, eager, *(t.to(device) for t in _pair(1)))


def test_glance_index_compiles_without_graph_breaks():
    # fullgraph=True: validation and the chunking force no graph break in the hot path
    x, y = _pair()
    compiled = torch.compile(glance_index, backend="aot_eager", fullgraph=True)
    _assert_same(lambda a, b: compiled(a, b, window=7), lambda a, b: glance_index(a, b, window=7), x, y)


def test_ssim_loss_compiles():
    x, y = _pair()
    compiled = torch.compile(SSIMLoss(data_range=1.0), backend="aot_eager")
    _assert_same(compiled, SSIMLoss(data_range=1.0), x, y)


def test_target_check_skipped_only_while_compiling():
    """The non-finite target check is a host sync: eager raises, compiled returns NaN."""
    x, y = _pair()
    y[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="target y holds NaN"):
        validation.check_pair(x, y)
    with pytest.raises(ValueError, match="target y holds NaN"):
        glance_index(x, y, window=7)
    value = torch.compile(glance_index, backend="aot_eager")(x, y, window=7, reduction="none")
    assert torch.isnan(value[0]) and torch.isfinite(value[1])


def test_range_check_skipped_only_while_compiling():
    """The [0, data_range] check reads min/max back to the host: eager raises, compiled
    computes (documented in msglance.validation)."""
    x, y = _pair()
    with pytest.raises(ValueError, match="outside"):
        ssim(2.0 * x, y, data_range=1.0)
    compiled = torch.compile(ssim, backend="aot_eager", fullgraph=True)
    value = compiled(2.0 * x, y, data_range=1.0)
    expected = ssim(2.0 * x, y, data_range=1.0, check_range=False)
    torch.testing.assert_close(value, expected, atol=TOL, rtol=0)


def _msglance() -> MSGlanceLoss:
    return MSGlanceLoss(grid=(16, 16), window=16, repeats=2, seed=0, pixel="l1")


# name: (factory of a fresh callable, side of the square input, graph breaks)
BREAK_CASES = {
    "SSIMLoss": (lambda: SSIMLoss(data_range=1.0), 48, 0),
    "ssim": (lambda: ssim, 48, 0),
    # three scales (48 > (11 - 1) * 2**2) keep the input and the compile small
    "ms_ssim": (lambda: (lambda a, b: ms_ssim(a, b, weights=(0.3, 0.3, 0.4))), 48, 0),
    "glance_index": (lambda: (lambda a, b: glance_index(a, b, window=7)), 48, 0),
    # the draw, counted in global_glance_index and GlobalGlanceLoss.forward
    "GlobalGlanceLoss": (lambda: GlobalGlanceLoss(grid=(16, 16), window=7, repeats=2, seed=0), 48, 2),
    # the draw, counted in those two frames and in MSGlanceLoss.forward
    "MSGlanceLoss": (_msglance, 48, 3),
}


@pytest.mark.parametrize("name", list(BREAK_CASES))
def test_graph_breaks(name):
    """The graph breaks are the measured minimum, and compiled == eager (value, gradient)."""
    make, side, breaks = BREAK_CASES[name]
    g = torch.Generator().manual_seed(0)
    y = torch.rand(1, 1, side, side, generator=g)
    x = (y + 0.1 * torch.randn(1, 1, side, side, generator=g)).clamp(0, 1)
    explained = torch._dynamo.explain(make())(x.clone().requires_grad_(True), y)
    reasons = [r.reason for r in explained.break_reasons]
    assert explained.graph_break_count == breaks, reasons
    if breaks:
        assert all("torch.compiler.disable" in r and "_draw_mosaic" in r for r in reasons), reasons
    torch._dynamo.reset()
    compiled = torch.compile(make(), backend="aot_eager", fullgraph=breaks == 0)
    _assert_same(compiled, make(), x, y)
