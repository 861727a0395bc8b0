"""The torchmetrics adapter agrees with MetricCollection and works in torchmetrics' own
MetricCollection."""

from __future__ import annotations

import pytest
import torch

torchmetrics = pytest.importorskip("torchmetrics")

from msglance.integrations.torchmetrics import RegistryMetric  # noqa: E402
from msglance.metrics import MetricCollection  # noqa: E402


def test_adapter_equals_metric_collection_over_batches():
    g = torch.Generator().manual_seed(0)
    y = torch.rand(7, 1, 32, 32, generator=g)
    x = (y + 0.05 * torch.randn(7, 1, 32, 32, generator=g)).clamp(0, 1)
    ours = MetricCollection(["psnr", "ssim"], data_range=1.0)
    theirs = torchmetrics.MetricCollection({
        "psnr": RegistryMetric("psnr", data_range=1.0), "ssim": RegistryMetric("ssim"),
    })
    for i in range(0, 7, 3):
        ours.update(x[i:i + 3], y[i:i + 3])
        theirs.update(x[i:i + 3], y[i:i + 3])
    expected = ours.compute()
    got = {k: float(v) for k, v in theirs.compute().items()}
    assert got == pytest.approx(expected, abs=1e-9)
    assert RegistryMetric("psnr").higher_is_better and not RegistryMetric("mse").higher_is_better


def test_perfect_items_are_left_out_of_the_mean():
    x = torch.rand(2, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    m = RegistryMetric("psnr", data_range=1.0)
    m.update(x, x)  # infinite PSNR
    m.update(x, (x + 0.1).clamp(0, 1))
    assert torch.isfinite(m.compute()) and int(m.nonfinite) == 2 and int(m.count) == 2
