"""MetricCollection: streaming means/std/counts equal the batch computation, merge, DDP."""

from __future__ import annotations

import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from msglance import metrics
from msglance.metrics import MetricCollection

NAMES = ["psnr", "ssim", "mae", "glance_local", "pcc", "blur_effect"]


def _data(n: int = 10, side: int = 24, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    y = torch.rand(n, 1, side, side, generator=g, dtype=torch.float64)
    x = (y + 0.1 * torch.randn(n, 1, side, side, generator=g, dtype=torch.float64)).clamp(0, 1)
    return x, y


def _per_item(name, x, y):
    spec = metrics.get(name)
    args = (x, y) if spec.full_reference else (x,)
    return spec.fn(*args, data_range=1.0, reduction="none", window=7) if name == "glance_local" \
        else spec.fn(*args, data_range=1.0, reduction="none")


@pytest.mark.parametrize("batch", [1, 3, 10])
def test_streamed_statistics_equal_the_batch_computation(batch):
    x, y = _data()
    mc = MetricCollection(NAMES, metric_options={"glance_local": {"window": 7}}, data_range=1.0)
    for i in range(0, len(x), batch):
        mc.update(x[i:i + batch], y[i:i + batch])
    summary = mc.summary()
    for name in NAMES:
        ref = _per_item(name, x, y).numpy()
        assert summary[name]["mean"] == pytest.approx(ref.mean(), abs=1e-6), name
        assert summary[name]["std"] == pytest.approx(ref.std(ddof=1), abs=1e-6), name
        assert summary[name]["count"] == len(x) and summary[name]["nonfinite"] == 0
    assert mc.compute() == {n: summary[n]["mean"] for n in NAMES}


def test_non_finite_values_are_counted_not_averaged():
    x, y = _data(4)
    x[1] = y[1]  # a perfect prediction: infinite PSNR
    mc = MetricCollection(["psnr", "mse"], data_range=1.0)
    mc.update(x, y)
    s = mc.summary()
    finite = metrics.psnr(x, y, reduction="none").numpy()
    finite = finite[np.isfinite(finite)]
    assert s["psnr"]["count"] == 3 and s["psnr"]["nonfinite"] == 1
    assert s["psnr"]["mean"] == pytest.approx(finite.mean(), abs=1e-9)
    assert s["mse"]["count"] == 4 and s["mse"]["nonfinite"] == 0


def test_merge_reset_and_empty():
    x, y = _data(6)
    whole, a, b = (MetricCollection(["mae", "ssim"]) for _ in range(3))
    whole.update(x, y)
    a.update(x[:2], y[:2])
    b.update(x[2:], y[2:])
    merged = a.merge(b).summary()
    for name, entry in whole.summary().items():
        assert merged[name]["mean"] == pytest.approx(entry["mean"], abs=1e-12)
        assert merged[name]["std"] == pytest.approx(entry["std"], abs=1e-12)
    a.reset()
    empty = a.summary()["mae"]
    assert empty["count"] == 0 and math.isnan(empty["mean"]) and math.isnan(empty["std"])
    with pytest.raises(ValueError, match="cannot merge"):
        a.merge(MetricCollection(["mae"]))


def test_per_batch_options_override_the_collection_options():
    x, y = _data(4)
    mc = MetricCollection(["psnr", "mae"], data_range=1.0)
    mc.update(x[:2], y[:2], data_range=2.0)
    mc.update(x[2:], y[2:])
    expected = torch.cat([metrics.psnr(x[:2], y[:2], data_range=2.0, reduction="none"),
                          metrics.psnr(x[2:], y[2:], data_range=1.0, reduction="none")])
    assert mc.compute()["psnr"] == pytest.approx(expected.mean().item(), abs=1e-9)


def test_bad_arguments():
    with pytest.raises(metrics.UnknownMetricError, match="did you mean 'ssim'"):
        MetricCollection(["ssmi"])
    with pytest.raises(ValueError, match="at least one"):
        MetricCollection([])
    with pytest.raises(ValueError, match="repeats"):
        MetricCollection(["mae", "mae"])
    with pytest.raises(ValueError, match="not in names"):
        MetricCollection(["mae"], metric_options={"ssim": {}})
    with pytest.raises(ValueError, match="needs a target"):
        MetricCollection(["mae"]).update(torch.rand(1, 1, 8, 8))


def test_common_options_reach_only_metrics_that_take_them():
    x, y = _data(2)
    # ms_glance ignores data_range (scale free) and psnr takes no generator: neither raises
    mc = MetricCollection(["psnr", "ms_glance"], data_range=1.0,
                          generator=torch.Generator().manual_seed(0), grid=(16, 16))
    mc.update(x, y)
    assert mc.summary()["ms_glance"]["count"] == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, world: int, port: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    try:
        x, y = _data(7)
        mine = slice(0, 2) if rank == 0 else slice(2, 7)  # unequal shares: 2 and 5 items
        mc = MetricCollection(["mae", "psnr"], data_range=1.0)
        mc.update(x[mine], y[mine])
        torch.save({"synced": mc.summary(), "local": mc.summary(sync=False),
                    "again": mc.summary()}, os.path.join(out, f"rank{rank}.pt"))
    finally:
        dist.destroy_process_group()


def test_distributed_reduction_sums_counts_not_means_of_means(tmp_path):
    mp.spawn(_ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    x, y = _data(7)
    ref = metrics.mae(x, y, reduction="none").numpy()
    for rank in (0, 1):
        r = torch.load(tmp_path / f"rank{rank}.pt", weights_only=False)
        assert r["synced"]["mae"]["count"] == 7
        assert r["synced"]["mae"]["mean"] == pytest.approx(ref.mean(), abs=1e-12)
        assert r["synced"]["mae"]["std"] == pytest.approx(ref.std(ddof=1), abs=1e-12)
        assert r["again"] == r["synced"]  # syncing twice never counts twice
        assert r["local"]["mae"]["count"] == (2 if rank == 0 else 5)
    means_of_means = (ref[:2].mean() + ref[2:].mean()) / 2
    assert abs(means_of_means - ref.mean()) > 1e-4  # the test can tell the two apart
