"""Time msglance's psnr / ssim / ms_ssim against pytorch-msssim, torchmetrics and piq.

Same inputs, same process, same thread count for every library; forward, and
forward+backward (w.r.t. the prediction) for the differentiable metrics. Prints a Markdown
table of the best-of-N wall times and the ratio ``fastest peer / ours`` (> 1: ours faster).

    python benchmarks/bench_metrics.py [--repeats 5] [--threads N] [--device cpu]

:func:`metric_rows` (one row per case, yielded as measured) and :func:`metrics_table` are
imported by ``gpu_suite.py``.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable, Iterator

import torch


def find_peers() -> tuple[dict[str, object], dict[str, str]]:
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


#: the inputs of the benchmark: label -> (shape, metrics timed on it)
PLAN: dict[str, tuple[tuple[int, ...], tuple[str, ...]]] = {
    "2-D 16x3x256x256": ((16, 3, 256, 256), ("psnr", "ssim", "ms_ssim")),
    "3-D 1x1x64x256x256": ((1, 1, 64, 256, 256), ("ssim",)),
}
LIBS = ("msglance", "pytorch_msssim", "torchmetrics", "piq")


def _cases(x, peers):
    """name -> {library: callable(pred, target) -> scalar}."""
    from msglance import metrics as ours

    pm, tm, piq = peers.get("pytorch_msssim"), peers.get("torchmetrics"), peers.get("piq")
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


def metric_rows(device, repeats: int, plan=None, peers=None) -> Iterator[dict]:
    """One row per (input, metric, pass), yielded as soon as it is measured: ``times``
    maps each library to its best time (s) or ``"n/a (Error)"``; ``ratio`` is the fastest
    peer's time over ours (> 1: ours faster)."""
    dev = torch.device(device)
    sync = (lambda: torch.cuda.synchronize(dev)) if dev.type == "cuda" else (lambda: None)
    peers = find_peers()[0] if peers is None else peers
    g = torch.Generator().manual_seed(0)
    for label, (shape, names) in (plan or PLAN).items():
        y = torch.rand(shape, generator=g).to(dev)
        x = (y + 0.05 * torch.randn(y.shape, generator=g).to(dev)).clamp(0, 1)
        table = _cases(x, peers)
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
                        times[lib] = _time(run, repeats, sync)
                    except Exception as exc:  # noqa: BLE001 - a peer may not support a case
                        times[lib] = f"n/a ({type(exc).__name__})"
                peer = [t for lib, t in times.items() if lib != "msglance" and isinstance(t, float)]
                ratio = min(peer) / times["msglance"] if peer else float("nan")
                yield {"input": label, "metric": name, "pass": mode, "times": times, "ratio": ratio}


def metrics_table(rows, shown) -> str:
    """The Markdown table of :func:`metric_rows` with one time column per library in ``shown``."""
    lines = ["| input | metric | pass | " + " | ".join(f"{lib} ms" for lib in shown)
             + " | fastest peer / msglance |",
             "|---|---|---|" + "---|" * len(shown) + "---|"]
    for r in rows:
        cells = []
        for lib in shown:
            t = r["times"].get(lib, "—")
            cells.append(f"{t * 1e3:.1f}" if isinstance(t, float) else str(t))
        lines.append(f"| {r['input']} | {r['metric']} | {r['pass']} | " + " | ".join(cells)
                     + f" | {r['ratio']:.2f}x |")
    return "\n".join(lines)


def cpu_name() -> str:
    """The CPU model as ``/proc/cpuinfo`` names it (else ``platform``'s guess)."""
    try:
        with open("/proc/cpuinfo") as fh:
            return next(line.split(":", 1)[1].strip() for line in fh if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    dev = torch.device(args.device)
    peers, missing = find_peers()
    rows = list(metric_rows(dev, args.repeats, peers=peers))

    print(f"device: {dev} ({cpu_name()}), torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"best of {args.repeats} after a warm-up (1 run for cases slower than 5 s)")
    for lib, why in missing.items():
        print(f"{lib}: unavailable ({why})")
    print()
    print(metrics_table(rows, [lib for lib in LIBS if lib not in missing]))


if __name__ == "__main__":
    main()
