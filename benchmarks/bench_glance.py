"""MS-Glance loss speed and memory, ours against two baselines measured in the same run.

    python benchmarks/bench_glance.py [--device cpu|cuda] [--repeats 5]

* time of ``MSGlanceLoss`` forward+backward vs a re-creation of the reference code's style
  (``reference_style.py``: per-item loop, CPU permutations, dense 16x16 grouped convs) and vs
  ``pytorch_msssim.ssim`` (forward+backward), at batch 8x3x256^2 and 1x3x512^2;
* peak memory of one forward+backward: on CUDA ``torch.cuda.max_memory_allocated``; on the
  CPU the growth of the process's peak resident set, each case in a fresh subprocess;
* the MS-Glance overhead on a SIREN training step (L2 vs L2 + MS-Glance);
* with ``--moments``: the share of the float64 window moments in the loss time, and the
  same moments in float32 with the Local Glance index they give against the float64 one;
  then the two precision paths of the library (``moments="float64"`` against
  ``moments="float32"``, the two-pass central moments of ``msglance.central_moments``):
  their moment work alone, the Local Glance index fwd+bwd and the whole loss fwd+bwd, with
  the float32 path's index error. ``--moments-only`` skips everything else.

Prints Markdown tables; nothing is asserted (speed is a benchmark, not a test). The
functions (:func:`speed_rows`, :func:`siren_overhead`, :func:`moment_rows`) are imported by
``gpu_suite.py``; each row is yielded as soon as it is measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from collections.abc import Iterator

import torch

sys.path.insert(0, os.path.dirname(__file__))

from reference_style import reference_style_msglance  # noqa: E402

from msglance.central_moments import central_moments_adjoint, window_central_moments  # noqa: E402
from msglance.chunking import pieces  # noqa: E402
from msglance.filters import box_filter, box_filter_adjoint  # noqa: E402
from msglance.glance import MSGlanceLoss, glance_index  # noqa: E402

SHAPES = {"8x3x256x256": (8, 3, 256, 256), "1x3x512x512": (1, 3, 512, 512)}
#: Global Glance grid side and Glance window of every measurement (the paper's settings)
GRID, WINDOW = 96, 16


def _inputs(shape, device):
    g = torch.Generator().manual_seed(0)
    y = torch.rand(shape, generator=g)
    x = (y + 0.1 * torch.randn(shape, generator=g)).clamp(0, 1)
    return x.to(device).requires_grad_(), y.to(device)


def _method(name: str, device, grid: int = GRID):
    if name in ("ours", "ours_float64", "ours_float32"):
        moments = {"ours": "auto", "ours_float64": "float64", "ours_float32": "float32"}[name]
        loss = MSGlanceLoss(global_weight=0.01, local_weight=0.01, seed=0, grid=(grid, grid),
                            moments=moments)
        return lambda x, y: loss(x, y)
    if name in ("local_float64", "local_float32"):
        return lambda x, y: 1 - glance_index(x, y, WINDOW, moments=name.split("_")[1])
    if name == "reference_style":
        return lambda x, y: reference_style_msglance(x, y, grid=(grid, grid))
    if name == "pytorch_msssim":
        from pytorch_msssim import ssim

        return lambda x, y: 1 - ssim(x, y, data_range=1.0)
    raise KeyError(name)


def _sync(device):
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize()


def _median_time(fn, device, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        _sync(device)
        t0 = time.perf_counter()
        fn()
        _sync(device)
        times.append(time.perf_counter() - t0)
    times.sort()
    return times[len(times) // 2]


def time_fwd_bwd(name, shape, device, repeats, grid: int = GRID):
    x, y = _inputs(shape, device)
    fn = _method(name, device, grid)

    def run():
        x.grad = None
        fn(x, y).backward()

    return _median_time(run, device, repeats)


def peak_memory_mib(name, shape, device, grid: int = GRID):
    """Peak extra memory of one forward+backward (inputs excluded)."""
    if torch.device(device).type == "cuda":
        x, y = _inputs(shape, device)
        fn = _method(name, device, grid)
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
        [sys.executable, __file__, "--child-memory", name, json.dumps([shape, grid])],
        capture_output=True, text=True, check=True, env=env,
    )
    return float(out.stdout.strip().splitlines()[-1])


def _status_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def _child_memory(name, shape, grid):
    x, y = _inputs(tuple(shape), "cpu")
    fn = _method(name, "cpu", grid)
    fn(x, y).backward()  # warm-up: lazy initialisations
    x.grad = None
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak resident set size (VmHWM) to the current one
    before = _status_kib("VmRSS")
    fn(x, y).backward()
    print((_status_kib("VmHWM") - before) / 1024)


def speed_rows(device, repeats: int, shapes=None, grid: int = GRID,
               memory: bool = True) -> Iterator[dict]:
    """One row per input shape: fwd+bwd median times (s) of ours, the reference style and
    ``pytorch_msssim.ssim``, and (``memory=True``) their peak extra memory (MiB)."""
    for label, shape in (shapes or SHAPES).items():
        row = {"input": label,
               "ours_s": time_fwd_bwd("ours", shape, device, repeats, grid),
               "reference_style_s": time_fwd_bwd("reference_style", shape, device,
                                                 max(2, repeats // 2), grid),
               "ssim_s": time_fwd_bwd("pytorch_msssim", shape, device, repeats, grid)}
        row["speedup"] = row["reference_style_s"] / row["ours_s"]
        if memory:
            row["ours_mib"] = peak_memory_mib("ours", shape, device, grid)
            row["ssim_mib"] = peak_memory_mib("pytorch_msssim", shape, device, grid)
            row["memory_ratio"] = row["ours_mib"] / row["ssim_mib"]
        yield row


def speed_table(rows) -> str:
    """The Markdown table of :func:`speed_rows` (memory cells ``—`` where not measured)."""
    lines = ["| input | ours fwd+bwd (ms) | reference style (ms) | speed-up | pytorch_msssim.ssim (ms) "
             "| ours peak MiB | ssim peak MiB | memory ratio |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        mem = (f"{r['ours_mib']:.0f} | {r['ssim_mib']:.0f} | {r['memory_ratio']:.2f}x"
               if "ours_mib" in r else "— | — | —")
        lines.append(f"| {r['input']} | {r['ours_s']*1e3:.1f} | {r['reference_style_s']*1e3:.1f} | "
                     f"{r['speedup']:.1f}x | {r['ssim_s']*1e3:.1f} | {mem} |")
    return "\n".join(lines)


def _float_moments(x, y, dtype, window: int):
    """The loss's window-moment step on ``(P, 1, *spatial)`` planes, without autograd:
    conversion to ``dtype``, per-plane centring, the products, the two box filters."""
    dims = tuple(range(2, x.ndim))
    xd = x - x.mean(dim=dims, keepdim=True, dtype=dtype)
    yd = y - y.mean(dim=dims, keepdim=True, dtype=dtype)
    firsts = box_filter(torch.cat([xd, yd]), window)
    seconds = box_filter(torch.cat([xd * xd, yd * yd, xd * yd]), window)
    return firsts, seconds


def _moment_step(planes, dtype, window: int):
    """Forward moments of every plane pair plus the backward's three adjoint filters, in
    the loss's own cache-sized pieces (:func:`msglance.chunking.pieces`; one piece on GPUs)."""
    def run():
        for x, y in planes:
            for r0, r1, i0, n in pieces(x, window):
                xs, ys = x[r0:r1].narrow(2, i0, n), y[r0:r1].narrow(2, i0, n)
                firsts, _ = _float_moments(xs, ys, dtype, window)
                grads = torch.cat([firsts[: xs.shape[0]]] * 3)  # three window-shaped maps
                box_filter_adjoint(grads, window, 1, tuple(xs.shape[2:]))
    return run


def _index_from_moments(firsts, seconds, eps: float = 1e-8):
    """Mean Local Glance index per plane from window moments (any dtype)."""
    mx, my = firsts.chunk(2)
    mxx, myy, mxy = seconds.chunk(3)
    vx, vy = (mxx - mx * mx).clamp_min(0), (myy - my * my).clamp_min(0)
    gi = ((mxy - mx * my) * torch.rsqrt((vx + eps) * (vy + eps))).clamp(-1, 1)
    return gi.flatten(1).mean(dim=1)


def _float32_error(x, y, window: int) -> float:
    """Largest |Local Glance index from float32 moments - library (float64) index| over the
    ``(item, channel)`` planes of ``x``, ``y``."""
    b, c = x.shape[:2]
    xp, yp = x.reshape(b * c, 1, *x.shape[2:]), y.reshape(b * c, 1, *y.shape[2:])
    gi32 = _index_from_moments(*_float_moments(xp, yp, torch.float32, window))
    gi64 = glance_index(xp, yp, window=window, reduction="none")
    return float((gi32.double() - gi64.double()).abs().max())


def _mni_pair(size: int, device):
    """A real MNI152 axial slice (target, with flat air) and a copy with noise sigma 0.01."""
    from msglance.data.brain import mni152_volume
    from msglance.mri.datasets import fit_to_square, volume_slice

    y = fit_to_square(volume_slice(mni152_volume(), "axial", 85), size)[None, None]
    g = torch.Generator().manual_seed(0)
    x = (y + 0.01 * torch.randn(y.shape, generator=g)).clamp(0, 1)
    return x.to(device), y.to(device)


def _loss_planes(shape, device, grid: int):
    """The benchmark input and the planes the loss computes moments on: every
    ``(item, channel)`` image and every ``grid x 10 grid`` Global Glance mosaic."""
    x, y = _inputs(shape, device)
    x = x.detach()
    b, c, h, w = shape
    planes = [(x.reshape(b * c, 1, h, w), y.reshape(b * c, 1, h, w))]
    pos = torch.randperm(h * w, device=device)[: grid * grid]
    idx = torch.cat([pos] + [pos[torch.randperm(pos.numel(), device=device)] for _ in range(9)])
    mosaic = lambda t: t.reshape(b * c, 1, h * w)[..., idx].reshape(b * c, 1, grid, 10 * grid)  # noqa: E731
    planes.append((mosaic(x), mosaic(y)))
    return x, y, planes


def moment_rows(device, repeats: int, shapes=None, grid: int = GRID,
                window: int = WINDOW) -> Iterator[dict]:
    """Share of the window moments in the loss time, per input shape.

    ``loss_s``: ``MSGlanceLoss`` fwd+bwd (median). ``moments64_s``: the float64 moment step
    alone, on the loss's own planes (each ``(item, channel)`` image and each ``grid x 10 grid``
    Global Glance mosaic, in the loss's cache-sized pieces): conversion, centring, products,
    the five box filters of the forward and the three adjoint filters of the backward. ``moments32_s``: the same in
    float32. ``float32_max_abs_err``: the largest difference, over items and channels,
    between the Local Glance index from float32 moments and the library's (float64) index,
    on the benchmark's random input; ``float32_mni_abs_err``: the same on a real MNI152
    slice (flat air: the case float32 gets wrong) and a noisy copy, at the input's side.
    """
    for label, shape in (shapes or SHAPES).items():
        x, y, planes = _loss_planes(shape, device, grid)
        h = shape[2]
        t_loss = time_fwd_bwd("ours", shape, device, repeats, grid)
        with torch.no_grad():
            t64 = _median_time(_moment_step(planes, torch.float64, window), device, repeats)
            t32 = _median_time(_moment_step(planes, torch.float32, window), device, repeats)
            err = _float32_error(x, y, window)
            err_mni = _float32_error(*_mni_pair(h, device), window)
        yield {"input": label, "loss_s": t_loss, "moments64_s": t64, "moments32_s": t32,
               "share64": t64 / t_loss, "float32_max_abs_err": err, "float32_mni_abs_err": err_mni}


def _central_step(planes, window: int):
    """The float32 path's moment work on the same planes and pieces as :func:`_moment_step`:
    the two-pass central moments of the forward and their adjoint for the prediction."""
    def run():
        for x, y in planes:
            for r0, r1, i0, n in pieces(x, window):
                xs, ys = x[r0:r1].narrow(2, i0, n), y[r0:r1].narrow(2, i0, n)
                m = window_central_moments(xs.float(), ys.float(), window)
                g = m.second[: xs.shape[0]]  # three window-shaped gradient maps
                central_moments_adjoint(m, (None, None, g, g, g), window, 1, (True, False))
    return run


def _path_errors(x, y, window: int) -> tuple[float, float]:
    """Largest |float32-path - float64-path| Local Glance index over the planes, and over
    the windows of the planes (:func:`msglance.glance.glance_index_map`)."""
    from msglance.glance import glance_index_map

    b, c = x.shape[:2]
    xp, yp = x.reshape(b * c, 1, *x.shape[2:]), y.reshape(b * c, 1, *y.shape[2:])
    gi = [glance_index(xp, yp, window, reduction="none", moments=m) for m in ("float32", "float64")]
    maps = [glance_index_map(xp, yp, window, moments=m) for m in ("float32", "float64")]
    return (float((gi[0].double() - gi[1].double()).abs().max()),
            float((maps[0].double() - maps[1].double()).abs().max()))


def moment_path_rows(device, repeats: int, shapes=None, grid: int = GRID,
                     window: int = WINDOW) -> Iterator[dict]:
    """The library's two precision paths, ``moments="float64"`` and ``"float32"``, per shape.

    ``moments64_s`` / ``moments32_s``: the moment work alone on the loss's planes and pieces
    (float64: :func:`_moment_step`; float32: :func:`_central_step`); ``local64_s`` /
    ``local32_s``: ``glance_index`` (window 16) fwd+bwd; ``loss64_s`` / ``loss32_s``:
    ``MSGlanceLoss`` fwd+bwd (medians); ``err_random`` / ``err_mni``: the largest
    per-plane index difference of the paths on the random input and on a real MNI152 slice
    with a noisy copy (flat air), ``err_mni_window`` the largest per-window one there.
    """
    for label, shape in (shapes or SHAPES).items():
        x, y, planes = _loss_planes(shape, device, grid)
        h = shape[2]
        row: dict = {"input": label}
        with torch.no_grad():
            row["moments64_s"] = _median_time(_moment_step(planes, torch.float64, window), device, repeats)
            row["moments32_s"] = _median_time(_central_step(planes, window), device, repeats)
        for bits in ("64", "32"):
            row[f"local{bits}_s"] = time_fwd_bwd(f"local_float{bits}", shape, device, repeats, grid)
            row[f"loss{bits}_s"] = time_fwd_bwd(f"ours_float{bits}", shape, device, repeats, grid)
        with torch.no_grad():
            row["err_random"] = _path_errors(x, y, window)[0]
            row["err_mni"], row["err_mni_window"] = _path_errors(*_mni_pair(h, device), window)
        yield row


def moment_path_table(rows) -> str:
    """The Markdown table of :func:`moment_path_rows` (times in ms, ratio float32 / float64)."""
    lines = ["| input | moments f64 | moments f32 | ratio | local GI fwd+bwd f64 | f32 | ratio | "
             "loss fwd+bwd f64 | f32 | ratio | f32 index error: random, MNI, MNI per window |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        cells = []
        for key in ("moments", "local", "loss"):
            a, b = r[f"{key}64_s"], r[f"{key}32_s"]
            cells.append(f"{a*1e3:.1f} | {b*1e3:.1f} | {b/a:.2f}x")
        lines.append(f"| {r['input']} | {' | '.join(cells)} | {r['err_random']:.1e}, "
                     f"{r['err_mni']:.1e}, {r['err_mni_window']:.1e} |")
    return "\n".join(lines)


def moment_table(rows) -> str:
    """The Markdown table of :func:`moment_rows`."""
    lines = ["| input | loss fwd+bwd (ms) | float64 moments (ms) | share of loss | "
             "float32 moments (ms) | float32 index error, random | float32 index error, MNI slice |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['input']} | {r['loss_s']*1e3:.1f} | {r['moments64_s']*1e3:.1f} | "
                     f"{100*r['share64']:.0f}% | {r['moments32_s']*1e3:.1f} | "
                     f"{r['float32_max_abs_err']:.2e} | {r['float32_mni_abs_err']:.2e} |")
    return "\n".join(lines)


def siren_overhead(device, size, repeats):
    """SIREN step time (s) at ``size``^2, L2 and L2 + MS-Glance: the better of two
    interleaved measurements of ``repeats`` steps each."""
    from msglance.inr.siren import Siren, coordinate_grid
    from msglance.glance_grid import glance_grid_for

    torch.manual_seed(0)
    target = torch.rand(1, 3, size, size, device=device)
    model = Siren(2, 3).to(device)
    coords = coordinate_grid(size, size, device=device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    msg = MSGlanceLoss(seed=0, grid=glance_grid_for((size, size), GRID))

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
    p.add_argument("--moments", action="store_true",
                   help="also time the float64 window moments' share of the loss and the "
                   "float64 / float32 moment paths")
    p.add_argument("--moments-only", action="store_true",
                   help="only the moment tables (implies --moments)")
    p.add_argument("--child-memory", nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.child_memory:
        shape, grid = json.loads(a.child_memory[1])
        _child_memory(a.child_memory[0], shape, grid)
        return
    dev = a.device
    name = torch.cuda.get_device_name() if dev.startswith("cuda") else platform.processor() or platform.machine()
    print(f"device: {dev} ({name}), torch {torch.__version__}, threads {torch.get_num_threads()}")
    if a.moments_only:
        print()
        print(moment_table(moment_rows(dev, a.repeats)))
        print()
        print(moment_path_table(moment_path_rows(dev, a.repeats)))
        return
    print()
    print(speed_table([]))
    for row in speed_rows(dev, a.repeats):
        print(speed_table([row]).splitlines()[-1], flush=True)
    size = a.siren_size or (512 if dev.startswith("cuda") else 256)
    l2, both = siren_overhead(dev, size, 3 if dev == "cpu" else 20)
    print()
    print(f"SIREN {size}^2 training step: L2 {l2*1e3:.1f} ms, L2+MS-Glance {both*1e3:.1f} ms, "
          f"overhead {100*(both-l2)/l2:.1f}%")
    if a.moments:
        print()
        print(moment_table(moment_rows(dev, a.repeats)))
        print()
        print(moment_path_table(moment_path_rows(dev, a.repeats)))


if __name__ == "__main__":
    main()
