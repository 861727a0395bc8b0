"""`msglance metrics` lists the registry; every entry's values lie in its stated bounds."""

from __future__ import annotations

import pytest
import torch
from typer.testing import CliRunner

from msglance import metrics
from msglance.cli import app

runner = CliRunner()


def test_lists_every_available_metric_with_direction_and_range():
    result = runner.invoke(app, ["metrics"], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): line for line in result.output.splitlines()
            if line.startswith("│") and line.split("│")[1].strip()}
    assert set(metrics.available()) <= set(rows)
    assert "↑" in rows["ssim"] and "[-1, 1]" in rows["ssim"]
    assert "↓" in rows["mse"] and "[0, ∞)" in rows["mse"]


def test_kind_filter_and_bad_kind():
    result = runner.invoke(app, ["metrics", "--kind", "glance"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    assert "glance_local" in result.output and "psnr" not in result.output
    bad = runner.invoke(app, ["metrics", "--kind", "nope"])
    assert bad.exit_code == 2
    assert bad.output.strip().count("\n") == 0 and "kind must be one of" in bad.output


@pytest.mark.parametrize("name", [n for n in metrics.available() if n != "effnet_distance"])
def test_values_lie_in_the_stated_bounds(name):
    spec = metrics.get(name)
    g = torch.Generator().manual_seed(7)
    side = 176 if name == "ms_ssim" else 40
    y = torch.rand(2, 1, side, side, generator=g)
    for x in (y, torch.rand(2, 1, side, side, generator=g), 1 - y):
        args = (x, y) if spec.full_reference else (x,)
        extra = {"grid": (16, 16)} if name in ("glance_global", "ms_glance") else {}
        values = spec(*args, data_range=1.0, reduction="none", **extra)
        lo, hi = spec.bounds
        assert ((values >= lo - 1e-6) & (values <= hi + 1e-6)).all(), (name, values)
