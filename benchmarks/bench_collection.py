"""MetricCollection over a 1,000-item loader: memory held and agreement with the batch result.

Data: 1,000 crops of 64x64 from scikit-image's grayscale photos (camera, moon, coins, ...),
predictions = crop + Gaussian noise (sigma 0.05, seeded; a *synthetic* degradation of real
images), served by a DataLoader in batches of 8. Two ways to get each metric's mean and std:

* streamed: ``MetricCollection.update`` per batch (the state is 4 float64 per metric);
* baseline: keep every prediction and target, concatenate, compute the metrics once.

Printed: the collection's state size after 10, 100 and 1,000 items, the resident memory
(RSS, /proc/self/statm) each way holds after the loop, and the largest difference between
the two ways' means and stds.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_collection.py
"""

from __future__ import annotations

import gc
import os

import numpy as np
import torch
from skimage import data as skdata
from torch.utils.data import DataLoader, Dataset

from msglance import metrics
from msglance.metrics import MetricCollection

NAMES = ["psnr", "ssim", "mae", "glance_local"]
ITEMS, SIDE, BATCH = 1000, 64, 8


class Crops(Dataset):
    """Seeded 64x64 crops of scikit-image photos with a noisy copy."""

    def __init__(self) -> None:
        self.images = [getattr(skdata, n)().astype(np.float32) / 255.0
                       for n in ("camera", "moon", "coins", "page", "text", "brick", "grass")]
        rng = np.random.default_rng(0)
        self.picks = [(int(rng.integers(len(self.images))), int(rng.integers(1 << 30)))
                      for _ in range(ITEMS)]

    def __len__(self) -> int:
        return ITEMS

    def __getitem__(self, i: int):
        img_index, seed = self.picks[i]
        img = self.images[img_index]
        rng = np.random.default_rng(seed)
        r, c = int(rng.integers(img.shape[0] - SIDE)), int(rng.integers(img.shape[1] - SIDE))
        target = torch.from_numpy(img[r:r + SIDE, c:c + SIDE].copy())[None]
        noise = torch.from_numpy(rng.normal(0, 0.05, target.shape).astype(np.float32))
        return (target + noise).clamp(0, 1), target


def rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    torch.set_num_threads(1)
    loader = DataLoader(Crops(), batch_size=BATCH, shuffle=False)
    gc.collect()
    rss0 = rss_mb()
    mc = MetricCollection(NAMES, data_range=1.0)
    sizes, seen = {}, 0
    for pred, target in loader:
        mc.update(pred, target)
        seen += len(pred)
        if seen in (16, 104, 1000):
            sizes[seen] = (mc._state.nbytes, rss_mb() - rss0)  # noqa: SLF001 - what it holds
    streamed = mc.summary()
    gc.collect()
    rss_stream = rss_mb() - rss0

    preds, targets = [], []
    for pred, target in loader:
        preds.append(pred)
        targets.append(target)
    pred_all, target_all = torch.cat(preds), torch.cat(targets)
    batch = {}
    for name in NAMES:
        values = metrics.get(name).fn(pred_all, target_all, data_range=1.0,
                                       reduction="none").double().numpy()
        batch[name] = (values.mean(), values.std(ddof=1))
    gc.collect()
    rss_keep = rss_mb() - rss0

    print(f"{ITEMS} items of 1x{SIDE}x{SIDE}, batches of {BATCH}, metrics {NAMES}")
    for n, (size, rss) in sizes.items():
        print(f"  after {n:4d} items: collection state {size} bytes, RSS growth {rss:.1f} MiB")
    print(f"  RSS growth, streamed: {rss_stream:7.1f} MiB; keep all outputs: {rss_keep:7.1f} MiB "
          f"(the kept tensors alone: {(pred_all.nbytes + target_all.nbytes) / 2**20:.1f} MiB)")
    worst = 0.0
    for name in NAMES:
        dm = abs(streamed[name]["mean"] - batch[name][0])
        ds = abs(streamed[name]["std"] - batch[name][1])
        worst = max(worst, dm, ds)
        print(f"  {name:13s} mean {streamed[name]['mean']:.6f} (batch {batch[name][0]:.6f}, "
              f"|diff| {dm:.1e}); std |diff| {ds:.1e}")
    print(f"largest |streamed - batch| over means and stds: {worst:.1e}")


if __name__ == "__main__":
    main()
