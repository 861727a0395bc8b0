"""MS-Glance loss speed and memory, ours against two baselines measured in the same run.

    python benchmarks/bench_glance.py [--device cpu|cuda] [--repeats 5]

* time of ``MSGlanceLoss`` forward+backward vs a re-creation of the reference code's style
  (``reference_style.py``: per-item loop, CPU permutations, dense 16x16 grouped convs) and vs
  ``pytorch_msssim.ssim`` (forward+backward), at batch 8x3x256^2 and 1x3x512^2;
* peak memory of one forward+backward: on CUDA ``torch.cuda.max_memory_allocated``; on the
  CPU the growth of the process's peak resident set, each case in a fresh subprocess;
* the MS-Glance overhead on a SIREN training step (L2 vs L2 + MS-Glance).

Prints a Markdown table; nothing is asserted (speed is a benchmark, not a test).
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

sys.path.insert(0, os.path.dirname(__file__))

from reference_style import reference_style_msglance  # noqa: E402

from msglance.glance import MSGlanceLoss  # noqa: E402

SHAPES = {"8x3x256x256": (8, 3, 256, 256), "1x3x512x512": (1, 3, 512, 512)}


def _inputs(shape, device):
    g = torch.Generator().manual_seed(0)
    y = torch.rand(shape, generator=g)
    x = (y + 0.1 * torch.randn(shape, generator=g)).clamp(0, 1)
    return x.to(device).requires_grad_(), y.to(device)


def _method(name: str, device):
    if name == "ours":
        loss = MSGlanceLoss(global_weight=0.01, local_weight=0.01, seed=0)
        return lambda x, y: loss(x, y)
    if name == "reference_style":
        return reference_style_msglance
    if name == "pytorch_msssim":
        from pytorch_msssim import ssim

        return lambda x, y: 1 - ssim(x, y, data_range=1.0)
    raise KeyError(name)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def time_fwd_bwd(name, shape, device, repeats):
    x, y = _inputs(shape, device)
    fn = _method(name, device)
    for _ in range(2):  # warm-up
        fn(x, y).backward()
    times = []
    for _ in range(repeats):
        x.grad = None
        _sync(device)
        t0 = time.perf_counter()
        fn(x, y).backward()
        _sync(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def peak_memory_mib(name, shape, device):
    """Peak extra memory of one forward+backward (inputs excluded)."""
    if torch.device(device).type == "cuda":
        x, y = _inputs(shape, device)
        fn = _method(name, device)
        fn(x, y).backward()
        x.grad = None
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        fn(x, y).backward()
        torch.cuda.synchronize()
        return (torch.cuda.max_memory_allocated() - base) / 2**20
    # A fresh process per case; large blocks mmap'ed (a fixed threshold) so that freed
    # tensors leave the resident set at once and the peak RSS tracks live tensors.
    env = dict(os.environ, MALLOC_MMAP_THRESHOLD_="65536")
    out = subprocess.run(
        [sys.executable, __file__, "--child-memory", name, json.dumps(shape)],
        capture_output=True, text=True, check=True, env=env,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _child_memory(name, shape):
    x, y = _inputs(tuple(shape), "cpu")
    fn = _method(name, "cpu")
    fn(x, y).backward()  # warm-up: lazy initialisations
    x.grad = None
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident set size (VmHWM) to the current one
    before = _status_kib("VmRSS")
    fn(x, y).backward()
    print((_status_kib("VmHWM") - before) / 1024)


def siren_overhead(device, size, repeats):
    from msglance.inr.siren import Siren, coordinate_grid

    torch.manual_seed(0)
    target = torch.rand(1, 3, size, size, device=device)
    model = Siren(2, 3).to(device)
    coords = coordinate_grid(size, size, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    msg = MSGlanceLoss(seed=0)

    def step(with_glance):
        pred = model.render(coords, (size, size))
        loss = (pred - target).square().mean()
        if with_glance:
            loss = loss + msg(pred, target)
        opt.zero_grad()
        loss.backward()
        opt.step()

    res = {}
    for flag in (False, True, False, True):  # interleave to share drift
        step(flag)
        _sync(device)
        t0 = time.perf_counter()
        for _ in range(repeats):
            step(flag)
        _sync(device)
        res.setdefault(flag, []).append((time.perf_counter() - t0) / repeats)
    l2, both = min(res[False]), min(res[True])
    return l2, both


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--siren-size", type=int, default=None,
                   help="SIREN overhead image side (default 512 on CUDA, 256 on CPU)")
    p.add_argument("--child-memory", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child_memory:
        _child_memory(a.child_memory[0], json.loads(a.child_memory[1]))
        return
    dev = a.device
    name = torch.cuda.get_device_name() if dev.startswith("cuda") else platform.processor() or platform.machine()
    print(f"device: {dev} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}")
    print()
    print("| input | ours fwd+bwd (ms) | reference style (ms) | speed-up | pytorch_msssim.ssim (ms) "
          "| ours peak MiB | ssim peak MiB | memory ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for label, shape in SHAPES.items():
        t_ours = time_fwd_bwd("ours", shape, dev, a.repeats)
        t_ref = time_fwd_bwd("reference_style", shape, dev, max(2, a.repeats // 2))
        t_ssim = time_fwd_bwd("pytorch_msssim", shape, dev, a.repeats)
        m_ours = peak_memory_mib("ours", shape, dev)
        m_ssim = peak_memory_mib("pytorch_msssim", shape, dev)
        print(f"| {label} | {t_ours*1e3:.1f} | {t_ref*1e3:.1f} | {t_ref/t_ours:.1f}x | "
              f"{t_ssim*1e3:.1f} | {m_ours:.0f} | {m_ssim:.0f} | {m_ours/m_ssim:.2f}x |", flush=True)
    size = a.siren_size or (512 if dev.startswith("cuda") else 256)
    l2, both = siren_overhead(dev, size, 3 if dev == "cpu" else 20)
    print()
    print(f"SIREN {size}^2 training step: L2 {l2*1e3:.1f} ms, L2+MS-Glance {both*1e3:.1f} ms, "
          f"overhead {100*(both-l2)/l2:.1f}%")


if __name__ == "__main__":
    main()
