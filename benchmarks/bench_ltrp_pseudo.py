"""LTRP pseudo-labels: one batched removal pass vs the reference's per-removal Python loop.

    python benchmarks/bench_ltrp_pseudo.py [--batch 64] [--visible 16] [--repeats 5] [--device cpu]

Both use the same MAE (the study's: 32x32 images, 4x4 patches, L = 64, encoder 64x4,
decoder 32x2) and the same mask (K visible patches, ``true`` removal: re-encode K − 1):

* ours: :func:`msglance.ranking.pseudo_scores` — the N·K removal sequences in one pass;
* chunked: the same with ``max_sequences=256`` (passes of 256 sequences: memory bounded);
* loop: for i in 0..K−1, encode the N images without their i-th visible patch, decode and
  score (the reference ``forward_mask_all`` style, one encoder/decoder call per removal).

Reports the median time of each (the two interleaved per repeat, so shared-machine load hits
both alike), their ratio, the largest score difference (the two must agree), and the peak
extra resident memory of one call (each in a fresh subprocess, CPU) or
``torch.cuda.max_memory_allocated`` (CUDA), at the main batch and at smaller ones (where the
per-call overhead of the loop weighs more). Prints a Markdown table; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import torch

from msglance.ranking.mae import MaskedAutoencoder
from msglance.ranking.patches import patchify
from msglance.ranking.pseudo_labels import pseudo_scores
from msglance.ranking.study import study_mae_config

MAE = study_mae_config(1)  # the LTRP study's MAE


def setup(batch: int, visible: int, device: str):
    torch.manual_seed(0)
    mae = MaskedAutoencoder(MAE).eval().to(device)
    g = torch.Generator().manual_seed(0)
    images = torch.rand(batch, 1, 32, 32, generator=g).to(device)
    ids = torch.rand(batch, 64, generator=g).argsort(1)[:, :visible].sort(1).values.to(device)
    return mae, images, ids


def ours(mae, images, ids):
    return pseudo_scores(mae, images, ids_keep=ids, mode="true").scores


def chunked(mae, images, ids):
    return pseudo_scores(mae, images, ids_keep=ids, mode="true", max_sequences=256).scores


@torch.no_grad()
def loop(mae, images, ids):
    patches = patchify(images, mae.patch)
    mask = torch.ones(len(images), 64, dtype=torch.bool, device=images.device)
    mask.scatter_(1, ids, False)
    anchor = mae.reconstruct(patches, ids)
    out = []
    for i in range(ids.shape[1]):
        rest = torch.cat([ids[:, :i], ids[:, i + 1 :]], dim=1)
        recon = mae.reconstruct(patches, rest)
        d = (anchor - recon).abs().mean(-1)
        out.append((d * mask).sum(1) / mask.sum(1))
    return torch.stack(out, dim=1)


METHODS = {"batched": ours, "chunked": chunked, "loop": loop}


def _sync(device: str) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def median_times(batch, visible, device, repeats):
    """Median time of each method, the methods interleaved per repeat (fair under shared load)."""
    mae, images, ids = setup(batch, visible, device)
    times = {name: [] for name in METHODS}
    for name, fn in METHODS.items():
        fn(mae, images, ids)  # warm-up
    for _ in range(repeats):
        for name, fn in METHODS.items():
            _sync(device)
            t0 = time.perf_counter()
            fn(mae, images, ids)
            _sync(device)
            times[name].append(time.perf_counter() - t0)
    return {name: sorted(v)[len(v) // 2] for name, v in times.items()}


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def peak_memory_mib(name, batch, visible, device):
    if torch.device(device).type == "cuda":
        mae, images, ids = setup(batch, visible, device)
        METHODS[name](mae, images, ids)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        METHODS[name](mae, images, ids)
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    out = subprocess.run([sys.executable, __file__, "--child-memory", name, str(batch), str(visible)],
                         capture_output=True, text=True, check=True, env=env)
    return float(out.stdout.strip().splitlines()[-1])


def _child_memory(name: str, batch: int, visible: int) -> None:
    mae, images, ids = setup(batch, visible, "cpu")
    METHODS[name](mae, images, ids)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = _status_kib("VmRSS")
    METHODS[name](mae, images, ids)
    print((_status_kib("VmHWM") - before) / 1024)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child-memory":
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        _child_memory(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
        return
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--visible", type=int, default=16)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--device", default="cpu")
    p.add_argument("--also-batches", default="8,1", help="smaller batches timed too (comma list)")
    a = p.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
    mae, images, ids = setup(a.batch, a.visible, a.device)
    reference = loop(mae, images, ids)
    diff = max(float((fn(mae, images, ids) - reference).abs().max()) for fn in (ours, chunked))
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
          f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {a.device}")
    print(f"K = {a.visible} visible of L = 64; max |score difference| at batch {a.batch} = {diff:.2e}\n")
    print("| batch | batched (ms) | chunked 256 (ms) | loop (ms) | loop / batched | loop / chunked "
          "| peak extra MiB batched | chunked | loop |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    result = {"max_abs_diff": diff}
    batches = [a.batch] + [int(b) for b in a.also_batches.split(",") if b.strip()]
    for batch in batches:
        t = median_times(batch, a.visible, a.device, a.repeats)
        mem = {name: peak_memory_mib(name, batch, a.visible, a.device) for name in METHODS}
        ratio, ratio_c = t["loop"] / t["batched"], t["loop"] / t["chunked"]
        print(f"| {batch} | {1e3 * t['batched']:.1f} | {1e3 * t['chunked']:.1f} | "
              f"{1e3 * t['loop']:.1f} | {ratio:.2f}x | {ratio_c:.2f}x | {mem['batched']:.1f} | "
              f"{mem['chunked']:.1f} | {mem['loop']:.1f} |")
        result[f"batch{batch}"] = {**{f"{k}_ms": 1e3 * v for k, v in t.items()}, "ratio": ratio,
                                   "ratio_chunked": ratio_c,
                                   **{f"{k}_peak_mib": v for k, v in mem.items()}}
    print()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
