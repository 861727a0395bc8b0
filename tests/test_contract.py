"""The contract of every registry metric and every loss term, by hypothesis.

For any input -- tiny and odd shapes, 2-D and 3-D, constants, binary images, 1e-8 and 1e6
scales, negatives, NaN/inf in the prediction or the target, float16/bfloat16/float32/
float64, non-contiguous and channels-last layouts, good and bad parameters -- a call
either

* returns a value per item that is finite, or not finite *exactly* where the item's
  prediction holds NaN/inf (the policy of :mod:`msglance.validation`), or where the exact
  value itself is infinite or beyond the output dtype's range (PSNR of identical images,
  NMSE of an all-zero target, an MSE above float16's 65504), judged by the same call in
  float64; or
* raises ``ValueError``/``TypeError`` whose message names an argument or the input;

and a loss on finite inputs has a finite value and finite gradients.

The bounded default profile runs in CI; ``--hypothesis-profile=deep`` (tests/conftest.py)
runs >= 10,000 cases. With ``MSGLANCE_CONTRACT_TALLY=path`` the cases per outcome are
written to ``path`` as JSON (docs/results/robustness.md has the committed tally).
"""

from __future__ import annotations

import collections
import json
import math
import os
import re
import warnings

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from msglance import losses, metrics

TALLY: collections.Counter = collections.Counter()
ENTRIES = metrics.available()
TERMS = losses.valid_terms()
GRID_ENTRIES = ("glance_global", "ms_glance")
DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]
KINDS = ["uniform", "constant", "binary", "signed", "zeros"]
SCALES = [1.0, 1.0, 1e-8, 1e6, 255.0]
# words an error message may use to name what was wrong
INPUT_WORDS = {"x", "y", "target", "prediction", "input", "inputs", "shape", "spatial", "dtype",
               "image", "images", "mosaic", "side", "channels", "pixels", "device"}


@pytest.fixture(scope="module", autouse=True)
def _write_tally():
    yield
    path = os.environ.get("MSGLANCE_CONTRACT_TALLY")
    if path:
        with open(path, "w") as fh:
            json.dump(dict(sorted(TALLY.items())), fh, indent=1)


@st.composite
def cases(draw, entries):
    name = draw(st.sampled_from(entries))
    dims = 3 if draw(st.integers(0, 4)) == 0 else 2
    if dims == 2 and draw(st.integers(0, 9)) == 0:  # big enough for ms_ssim's five scales
        spatial = [draw(st.integers(161, 176)) for _ in range(2)]
    else:
        spatial = [draw(st.integers(1, 40 if dims == 2 else 12)) for _ in range(dims)]
    shape = (draw(st.integers(1, 3)), draw(st.sampled_from([1, 3])), *spatial)
    return {
        "name": name,
        "shape": shape,
        "kind_x": draw(st.sampled_from(KINDS)),
        "kind_y": draw(st.sampled_from(KINDS)),
        "scale": draw(st.sampled_from(SCALES)),
        "dtype": draw(st.sampled_from(DTYPES)),
        "layout": draw(st.sampled_from(["contiguous", "transposed", "channels_last"])),
        "bad_x": draw(st.sampled_from([None, None, None, math.nan, math.inf, -math.inf])),
        "bad_y": draw(st.sampled_from([None] * 7 + [math.nan, math.inf])),
        "seed": draw(st.integers(0, 2**16)),
        "params": draw(params(name)),
    }


@st.composite
def params(draw, name):
    p = {}
    if draw(st.booleans()):
        good = [1.0, 255.0, 1e-8, 1e6, np.float32(1.0), torch.tensor(1.0)]
        bad = [0.0, -1.0, math.inf, math.nan, "1", 1e200]
        p["data_range"] = draw(st.sampled_from(good * 3 + bad))
    if draw(st.integers(0, 3)) == 0:
        p["reduction"] = draw(st.sampled_from(["mean", "sum", "none", "avg"]))
    if draw(st.booleans()):
        p["check_range"] = draw(st.booleans())
    key = metrics_name(name)
    if key in ("glance_local", "glance_global", "ms_glance") and draw(st.booleans()):
        p["window"] = draw(st.sampled_from([1, 3, 4, 16, 0, 2.5, True]))
    if key in GRID_ENTRIES:
        p["grid"] = draw(st.sampled_from([(4, 4), (3, 5), (6, 6), 4, (0, 4), (2.5, 4), (96, 96)]))
        if draw(st.booleans()):
            p["repeats"] = draw(st.sampled_from([1, 2, 0]))
        if draw(st.integers(0, 3)) == 0:
            p["replacement"] = True
    if key == "nmi" and draw(st.booleans()):
        p["bins"] = draw(st.sampled_from([2, 16, 100, 0, 10**5]))
    if key == "ssim" and draw(st.booleans()):
        p["window"] = draw(st.sampled_from(["gaussian", "box7", "box", 7]))
    return p


def metrics_name(name: str) -> str:
    return losses.TERMS.get(name, name)


def _content(kind: str, shape, scale: float, g: torch.Generator) -> torch.Tensor:
    t = torch.rand(shape, generator=g, dtype=torch.float64)
    if kind == "constant":
        t = torch.full(shape, 0.37, dtype=torch.float64)
    elif kind == "binary":
        t = (t > 0.5).double()
    elif kind == "signed":
        t = t - 0.5
    elif kind == "zeros":
        t = torch.zeros(shape, dtype=torch.float64)
    return t * scale


def _layout(t: torch.Tensor, layout: str) -> torch.Tensor:
    if layout == "transposed":  # same values, non-contiguous memory
        return t.transpose(-1, -2).contiguous().transpose(-1, -2)
    if layout == "channels_last" and t.ndim == 4:
        return t.contiguous(memory_format=torch.channels_last)
    if layout == "channels_last" and t.ndim == 5:
        return t.contiguous(memory_format=torch.channels_last_3d)
    return t


def _inputs(case) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(case["seed"])
    x = _content(case["kind_x"], case["shape"], case["scale"], g)
    y = _content(case["kind_y"], case["shape"], case["scale"], g)
    for t, bad in ((x, case["bad_x"]), (y, case["bad_y"])):
        if bad is not None:
            t.view(-1)[int(torch.randint(t.numel(), (1,), generator=g))] = bad
    dtype = case["dtype"]
    return _layout(x.to(dtype), case["layout"]), _layout(y.to(dtype), case["layout"])


def _names_an_argument(message: str, kwargs: dict) -> bool:
    words = set(re.findall(r"[A-Za-z_]+", message))
    return bool(words & (INPUT_WORDS | set(kwargs)))


def _check_error(exc: Exception, kwargs: dict) -> str:
    assert isinstance(exc, (ValueError, TypeError)), f"{type(exc).__name__}: {exc}"
    assert _names_an_argument(str(exc), kwargs), f"message names no argument: {exc}"
    return f"error:{type(exc).__name__}"


def _per_item(value: torch.Tensor, b: int) -> torch.Tensor:
    return value if value.ndim == 1 else value.reshape(1).expand(b)


def _item_bad(t: torch.Tensor) -> torch.Tensor:
    return ~torch.isfinite(t).flatten(1).all(dim=1)


def _exact(call, x, y):
    """The same call in float64 (None if it raises): judges values beyond a dtype's range."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return call(x.double(), y.double())
    except (ValueError, TypeError):
        return None


def _check_values(value, x, y, call, reduction):
    assert isinstance(value, torch.Tensor), type(value)
    b = x.shape[0]
    assert value.shape == ((b,) if reduction == "none" else ()), value.shape
    bad_x = _item_bad(x)
    items = _per_item(value.detach(), b)
    finite = torch.isfinite(items)
    reduced = reduction != "none"
    if reduced and bool(bad_x.any()):
        assert not bool(finite.all()), f"finite {value} with a non-finite prediction"
        return "nonfinite_prediction:not_finite"
    if bool((bad_x & finite).any()):
        raise AssertionError(f"finite value {items} for an item with a non-finite prediction")
    if bool(finite.all()):
        return "finite" if not bool(bad_x.any()) else "nonfinite_prediction:not_finite"
    odd = ~finite & ~bad_x
    if bool(odd.any()):  # finite input, non-finite value: only where the exact value is
        exact = _exact(call, x, y)
        assert exact is not None, f"non-finite {items} for finite inputs"
        exact = _per_item(exact.detach(), b)
        limit = torch.finfo(value.dtype).max
        ok = ~torch.isfinite(exact) | (exact.abs() > limit)
        assert bool(ok[odd].all()), f"non-finite {items} where float64 gives {exact}"
        return "finite_input:exact_value_not_finite"
    return "nonfinite_prediction:not_finite"


def _call_metric(spec, kwargs):
    def call(x, y):
        if spec.full_reference:
            return spec.fn(x, y, **kwargs)
        return spec.fn(x, **kwargs)

    return call


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases(ENTRIES))
def test_every_metric_keeps_the_contract(case):
    spec = metrics.get(case["name"])
    x, y = _inputs(case)
    kwargs = dict(case["params"])
    call = _call_metric(spec, kwargs)
    torch.manual_seed(case["seed"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = call(x, y)
    except Exception as exc:  # noqa: BLE001 - the contract is about which exceptions
        outcome = _check_error(exc, kwargs)
    else:
        if spec.full_reference:
            assert not bool(_item_bad(y).any()), "a non-finite target must be an error"
        dr = kwargs.get("data_range")
        if spec.kind != "glance" and dr is not None and kwargs.get("check_range", True):
            assert not bool(_item_bad(x).any()), "range checking on: a NaN/inf must be an error"
        torch.manual_seed(case["seed"])
        outcome = _check_values(value, x, y, call, kwargs.get("reduction", "mean"))
    TALLY[f"metric:{outcome}"] += 1


@settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(case=cases(TERMS))
def test_every_loss_keeps_the_contract(case):
    x, y = _inputs(case)
    kwargs = {k: v for k, v in case["params"].items() if k not in ("data_range", "check_range")}
    x = x.detach().requires_grad_()
    try:
        loss = losses.parse(case["name"], seed=case["seed"], **kwargs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = loss(x, y)
    except Exception as exc:  # noqa: BLE001
        outcome = _check_error(exc, kwargs)
    else:
        assert not bool(_item_bad(y.detach()).any()), "a non-finite target must be an error"

        def call(a, b):
            return losses.parse(case["name"], seed=case["seed"], **kwargs)(a, b)

        outcome = _check_values(value, x.detach(), y, call, kwargs.get("reduction", "mean"))
        if outcome == "finite" and value.requires_grad:
            value.sum().backward()
            if x.grad is not None:
                assert bool(torch.isfinite(x.grad).all()), "non-finite gradient on finite inputs"
                outcome = "finite_with_finite_gradient"
    TALLY[f"loss:{outcome}"] += 1
