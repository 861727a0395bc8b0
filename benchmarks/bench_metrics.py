"""Time msglance's psnr / ssim / ms_ssim against pytorch-msssim, torchmetrics and piq.

Same inputs, same process, same thread count for every library; forward, and
forward+backward (w.r.t. the prediction) for the differentiable metrics. Prints a Markdown
table of the best-of-N wall times and the ratio ``fastest peer / ours`` (> 1: ours faster).

    python benchmarks/bench_metrics.py [--repeats 5] [--threads N] [--device cpu]
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable

import torch


def _peers() -> tuple[dict[str, object], dict[str, str]]:
    found, missing = {}, {}
    try:
        import pytorch_msssim

        found["pytorch_msssim"] = pytorch_msssim
    except ImportError as exc:  # pragma: no cover
        missing["pytorch_msssim"] = f"{type(exc).__name__}: {exc}"
    try:
        import torchmetrics.functional.image as tmi
        import torchmetrics.functional.image.psnr  # noqa: F401

        found["torchmetrics"] = tmi
    except ImportError as exc:  # pragma: no cover
        missing["torchmetrics"] = f"{type(exc).__name__}: {exc}"
    try:
        import piq

        found["piq"] = piq
    except Exception as exc:  # noqa: BLE001 - piq imports torchvision at import time
        missing["piq"] = f"{type(exc).__name__}: {exc}"
    return found, missing


def _time(fn: Callable[[], object], repeats: int, sync: Callable[[], None]) -> float:
    t = time.perf_counter()
    fn()
    sync()
    if time.perf_counter() - t > 5.0:  # very slow peer cases: one timed run is enough
        repeats = 1
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        sync()
        best = min(best, time.perf_counter() - t)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)

    from msglance import metrics as ours

    peers, missing = _peers()
    pm, tm, piq = peers.get("pytorch_msssim"), peers.get("torchmetrics"), peers.get("piq")

    g = torch.Generator().manual_seed(0)
    y2 = torch.rand(16, 3, 256, 256, generator=g).to(dev)
    x2 = (y2 + 0.05 * torch.randn(y2.shape, generator=g).to(dev)).clamp(0, 1)
    y3 = torch.rand(1, 1, 64, 256, 256, generator=g).to(dev)
    x3 = (y3 + 0.05 * torch.randn(y3.shape, generator=g).to(dev)).clamp(0, 1)

    def cases(x, y):
        """name -> {library: callable(pred, target) -> scalar}."""
        c = {
            "psnr": {"msglance": lambda a, b: ours.psnr(a, b, 1.0)},
            "ssim": {"msglance": lambda a, b: ours.ssim(a, b, 1.0)},
            "ms_ssim": {"msglance": lambda a, b: ours.ms_ssim(a, b, 1.0)},
        }
        if pm is not None:
            c["ssim"]["pytorch_msssim"] = lambda a, b: pm.ssim(a, b, data_range=1.0)
            c["ms_ssim"]["pytorch_msssim"] = lambda a, b: pm.ms_ssim(a, b, data_range=1.0)
        if tm is not None:
            dims = tuple(range(1, x.ndim))
            c["psnr"]["torchmetrics"] = lambda a, b: tm.peak_signal_noise_ratio(
                a, b, data_range=1.0, dim=dims, reduction="elementwise_mean")
            c["ssim"]["torchmetrics"] = lambda a, b: tm.structural_similarity_index_measure(
                a, b, data_range=1.0)
            c["ms_ssim"]["torchmetrics"] = lambda a, b: tm.multiscale_structural_similarity_index_measure(
                a, b, data_range=1.0)
        if piq is not None:  # pragma: no cover - needs torchvision
            c["psnr"]["piq"] = lambda a, b: piq.psnr(a, b, data_range=1.0)
            c["ssim"]["piq"] = lambda a, b: piq.ssim(a, b, data_range=1.0)
            c["ms_ssim"]["piq"] = lambda a, b: piq.multi_scale_ssim(a, b, data_range=1.0)
        return c

    rows = []
    plan = [("2-D 16x3x256x256", x2, y2, ("psnr", "ssim", "ms_ssim")),
            ("3-D 1x1x64x256x256", x3, y3, ("ssim",))]
    libs = ["msglance", "pytorch_msssim", "torchmetrics", "piq"]
    for label, x, y, names in plan:
        table = cases(x, y)
        for name in names:
            for mode in ("forward", "forward+backward"):
                times = {}
                for lib, fn in table[name].items():
                    if mode == "forward":
                        def run(fn=fn):
                            with torch.no_grad():
                                return fn(x, y)
                    else:
                        xg = x.clone().requires_grad_(True)

                        def run(fn=fn, xg=xg):
                            xg.grad = None
                            fn(xg, y).backward()
                    try:
                        times[lib] = _time(run, args.repeats, sync)
                    except Exception as exc:  # noqa: BLE001 - a peer may not support a case
                        times[lib] = f"n/a ({type(exc).__name__})"
                peer = [t for lib, t in times.items() if lib != "msglance" and isinstance(t, float)]
                ratio = min(peer) / times["msglance"] if peer else float("nan")
                rows.append((label, name, mode, times, ratio))

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            cpu = next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    print(f"device: {dev} ({cpu}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"best of {args.repeats} after a warm-up (1 run for cases slower than 5 s)")
    for lib, why in missing.items():
        print(f"{lib}: unavailable ({why})")
    print()
    shown = [lib for lib in libs if lib not in missing]
    print("| input | metric | pass | " + " | ".join(f"{lib} ms" for lib in shown)
          + " | fastest peer / msglance |")
    print("|---|---|---|" + "---|" * len(shown) + "---|")
    for label, name, mode, times, ratio in rows:
        cells = []
        for lib in shown:
            t = times.get(lib, "—")
            cells.append(f"{t * 1e3:.1f}" if isinstance(t, float) else str(t))
        print(f"| {label} | {name} | {mode} | " + " | ".join(cells) + f" | {ratio:.2f}x |")


if __name__ == "__main__":
    main()
