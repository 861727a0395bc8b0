"""The paper-size MS-Glance experiments and GPU benchmarks in one command, each part under
its own time budget.

    python benchmarks/gpu_suite.py --out DIR [--device cuda] [--budget-s 480] [--smoke]
                                   [--parts glance,compile,metrics,inr,mri,ltrp]

Parts, in this order (each gets its share of ``--budget-s`` plus whatever the parts before
it left unused):

``glance``   ``bench_glance.py`` on the device: MS-Glance fwd+bwd against the reference-style
             loop and ``pytorch_msssim.ssim`` at 8x3x256^2 and 1x3x512^2 (peak memory on CUDA);
             the SIREN 512^2 step, L2 against L2 + MS-Glance; the share of the float64 window
             moments in the loss time, with the float32 moments' time and index error;
             the float64 and float32 moment paths (``moments=``) timed side by side.
``compile``  ``torch.compile`` vs eager of ``MSGlanceLoss(seed=0)``, ``SSIMLoss()``,
             ``glance_index`` and ``glance_index(moments="float32")`` at 2x1x128^2: value and
             gradient difference (pass: <= 1e-5), graph breaks, compile time, fwd+bwd medians
             and ratio (smoke: ``glance_index`` at 16^2 only).
``metrics``  ``bench_metrics.py`` on the device: PSNR / SSIM / MS-SSIM fwd and fwd+bwd
             against the peers.
``inr``      SIREN fits of the astronaut at 512^2, 500 steps, seeds 0-2: L2, L2 + MS-Glance,
             L2 + 0.01 SSIM (``msglance.inr.study.run_study``; ``summary.write_study_report``).
``mri``      MNI slices at 256^2, U-Net chans 32 / pools 4, 5x / centre 0.08, delta 0.01:
             one epoch of every loss is timed first, then the epochs (and 3 or 2 seeds) are
             chosen to fit the remaining budget; L1, L1 + MS-Glance, L1 + Global Glance only,
             fastMRI-convention evaluation (``msglance.mri.compare.compare``).
``ltrp``     ``bench_ltrp_pseudo.py``: LTRP pseudo-scores, batched removal pass vs per-removal
             loop at K 16, batches 64, 8, 1, with peak memory (target: >= 5x at batch 64).

A part is stopped when its budget is spent (between measurements, training steps or runs)
and still writes what it has. Every part writes, as soon as it ends, ``DIR/<part>.json``
(everything measured, its status and timings), ``DIR/<part>*.csv`` (one row per
measurement) and ``DIR/<part>.md`` (its tables), and the suite rewrites the combined draft
``DIR/gpu.md``: device name (as ``torch.cuda.get_device_name()`` prints it), torch and CUDA
versions, the exact command, each part's status and tables. ``DIR/inr/`` and ``DIR/mri/``
hold the study and comparison folders the library writes.

``--smoke`` runs every part at toy size (on the CPU unless ``--device`` is given) in well
under two minutes; CI runs it (``tests/test_gpu_suite.py``), so the suite cannot rot between
GPU loans. Its numbers are not results.
"""

from __future__ import annotations

import argparse
import csv
import datetime
import json
import math
import os
import platform
import shlex
import shutil
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch

from msglance.glance import glance_index

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import bench_compile  # noqa: E402
import bench_glance  # noqa: E402
import bench_ltrp_pseudo  # noqa: E402
import bench_metrics  # noqa: E402
import compile_breaks  # noqa: E402

PARTS = ("glance", "compile", "metrics", "inr", "mri", "ltrp")
#: each part's share of the total budget (unused time carries over to the next part);
#: of 480 s: glance 53, compile 43, metrics 43, inr 110, mri 173, ltrp 58
SHARES = {"glance": 0.11, "compile": 0.09, "metrics": 0.09, "inr": 0.23, "mri": 0.36,
          "ltrp": 0.12}
INR_LOSSES = ("l2", "l2+0.01*global+0.01*local", "l2+0.01*ssim")
MRI_LOSSES = ("l1", "l1+0.01*global+0.01*local", "l1+0.01*global")


@dataclass(frozen=True)
class Sizes:
    """The sizes of every part: :data:`FULL` (the paper's protocol) or :data:`SMOKE`."""

    glance_shapes: dict[str, tuple[int, ...]]
    glance_grid: int
    repeats: int
    siren_size: int
    siren_repeats: int
    metrics_plan: dict[str, tuple[tuple[int, ...], tuple[str, ...]]]
    inr_size: int
    inr_steps: int
    inr_seeds: int
    mri_size: int
    mri_chans: int
    mri_pools: int
    mri_limit: int
    mri_val_limit: int
    mri_orientations: str
    mri_seeds: tuple[int, ...]  # preferred seed count first, then the fallback
    mri_min_epochs: int  # fewer epochs than this with the preferred seeds: use the fallback
    mri_max_epochs: int
    compile_side: int = 128  # compile part: (2, 1, side, side) inputs
    compile_cases: tuple[str, ...] = ("MSGlanceLoss(seed=0)", "SSIMLoss()", "glance_index",
                                      "glance_index moments=float32")
    ltrp_batches: tuple[int, ...] = (64, 8, 1)
    ltrp_visible: int = 16


FULL = Sizes(
    glance_shapes=dict(bench_glance.SHAPES), glance_grid=bench_glance.GRID, repeats=5,
    siren_size=512, siren_repeats=20, metrics_plan=dict(bench_metrics.PLAN),
    inr_size=512, inr_steps=500, inr_seeds=3,
    mri_size=256, mri_chans=32, mri_pools=4, mri_limit=0, mri_val_limit=0,
    mri_orientations="sagittal,coronal,axial", mri_seeds=(3, 2), mri_min_epochs=20,
    mri_max_epochs=50,
)
SMOKE = Sizes(
    glance_shapes={"2x3x48x48": (2, 3, 48, 48), "1x3x64x64": (1, 3, 64, 64)}, glance_grid=32,
    repeats=1, siren_size=32, siren_repeats=1,
    metrics_plan={"2-D 1x3x168x168": ((1, 3, 168, 168), ("psnr", "ssim", "ms_ssim")),
                  "3-D 1x1x12x24x24": ((1, 1, 12, 24, 24), ("ssim",))},
    inr_size=32, inr_steps=3, inr_seeds=1,
    mri_size=32, mri_chans=4, mri_pools=2, mri_limit=8, mri_val_limit=4,
    mri_orientations="axial", mri_seeds=(1, 1), mri_min_epochs=1, mri_max_epochs=2,
    compile_side=16, compile_cases=("glance_index",),  # torch.compile on a CPU: slow
    ltrp_batches=(4, 1), ltrp_visible=4,
)


class BudgetExceeded(Exception):
    """Raised inside a part when its time budget is spent."""


class Budget:
    """A part's deadline on the monotonic clock."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = time.monotonic()
        self.end = self.start + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def used(self) -> float:
        return time.monotonic() - self.start

    def check(self) -> None:
        if self.left() <= 0:
            raise BudgetExceeded(f"its budget of {self.seconds:.0f} s was spent")


@dataclass
class Part:
    """What a part measured: ``tables`` (name -> rows, each a flat dict, one CSV each),
    ``markdown`` (its section of ``gpu.md``), ``data`` (anything else for the JSON)."""

    name: str
    status: str = "running"  # complete | cut | failed
    budget_s: float = 0.0
    seconds: float = 0.0
    note: str = ""
    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    markdown: list[str] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def log(part: str, message: str) -> None:
    print(f"[{part}] {message}", flush=True)


# ----------------------------------------------------------------------------- parts


def part_glance(part: Part, budget: Budget, device: str, sizes: Sizes, out: Path) -> None:
    memory = torch.device(device).type == "cuda"  # on the CPU: one subprocess per case, slow
    rows = part.tables.setdefault("glance_speed", [])
    part.markdown += ["MS-Glance loss forward+backward (median of "
                      f"{sizes.repeats} after 2 warm-ups; Global Glance grid "
                      f"{sizes.glance_grid}x{sizes.glance_grid}, R 10, window 16):", "", ""]
    for row in bench_glance.speed_rows(device, sizes.repeats, sizes.glance_shapes,
                                       sizes.glance_grid, memory):
        rows.append(row)
        part.markdown[-1] = bench_glance.speed_table(rows)
        log("glance", f"{row['input']}: ours {row['ours_s']*1e3:.1f} ms, reference style "
            f"{row['reference_style_s']*1e3:.1f} ms ({row['speedup']:.1f}x)")
        budget.check()
    l2, both = bench_glance.siren_overhead(device, sizes.siren_size, sizes.siren_repeats)
    siren = {"size": sizes.siren_size, "l2_s": l2, "l2_msglance_s": both,
             "overhead": (both - l2) / l2}
    part.tables["glance_siren"] = [siren]
    part.markdown += ["", f"SIREN {sizes.siren_size}^2 training step (best of two interleaved "
                      f"means of {sizes.siren_repeats} steps): L2 {l2*1e3:.2f} ms, L2 + MS-Glance "
                      f"{both*1e3:.2f} ms, overhead **{100*siren['overhead']:.1f}%**"]
    log("glance", part.markdown[-1])
    budget.check()
    moments = part.tables.setdefault("glance_moments", [])
    part.markdown += ["", "Float64 window moments (the loss's moment step timed alone, "
                      "fwd + the backward's adjoint filters) against the whole loss fwd+bwd; "
                      "float32 moments and the Local Glance index error they give:", "", ""]
    for row in bench_glance.moment_rows(device, sizes.repeats, sizes.glance_shapes,
                                        sizes.glance_grid):
        moments.append(row)
        part.markdown[-1] = bench_glance.moment_table(moments)
        log("glance", f"{row['input']}: float64 moments {100*row['share64']:.0f}% of the loss")
        budget.check()
    paths = part.tables.setdefault("glance_moment_paths", [])
    part.markdown += ["", "The library's two precision paths, moments=\"float64\" against "
                      "moments=\"float32\" (two-pass central moments): moment work alone, "
                      "Local Glance fwd+bwd, whole loss fwd+bwd (ms), and the float32 path's "
                      "index error:", "", ""]
    for row in bench_glance.moment_path_rows(device, sizes.repeats, sizes.glance_shapes,
                                             sizes.glance_grid):
        paths.append(row)
        part.markdown[-1] = bench_glance.moment_path_table(paths)
        log("glance", f"{row['input']}: float32 path loss {row['loss32_s'] / row['loss64_s']:.2f}x "
            "the float64 path's time")
        budget.check()


def part_metrics(part: Part, budget: Budget, device: str, sizes: Sizes, out: Path) -> None:
    peers, missing = bench_metrics.find_peers()
    shown = [lib for lib in bench_metrics.LIBS if lib not in missing]
    part.data["missing_peers"] = missing
    rows: list[dict[str, Any]] = []
    flat = part.tables.setdefault("metrics", [])
    part.markdown += [f"Best of {sizes.repeats} after a warm-up; ratio = fastest peer / "
                      "msglance (> 1: msglance faster)."
                      + "".join(f" {lib}: unavailable ({why})." for lib, why in missing.items()),
                      "", ""]
    for row in bench_metrics.metric_rows(device, sizes.repeats, sizes.metrics_plan, peers):
        rows.append(row)
        flat.append({k: v for k, v in row.items() if k != "times"}
                    | {f"{lib}_s": row["times"].get(lib, "") for lib in shown})
        part.markdown[-1] = bench_metrics.metrics_table(rows, shown)
        log("metrics", f"{row['input']} {row['metric']} {row['pass']}: "
            f"peer/ours {row['ratio']:.2f}x")
        budget.check()


def part_inr(part: Part, budget: Budget, device: str, sizes: Sizes, out: Path) -> None:
    from msglance.data.embedded import load_dataset
    from msglance.glance_grid import glance_grid_for
    from msglance.inr.study import StudyEvent, canonical_specs, read_runs, run_study
    from msglance.inr.summary import write_study_report

    study = out / "inr"
    samples = [s for s in load_dataset("faces", sizes.inr_size) if s.name == "astronaut"]
    specs = canonical_specs(list(INR_LOSSES))
    grid = glance_grid_for((sizes.inr_size, sizes.inr_size), 96)
    part.data.update(image="astronaut", size=sizes.inr_size, steps=sizes.inr_steps,
                     seeds=sizes.inr_seeds, losses=specs, glance_grid=list(grid),
                     folder=str(study))

    def on_event(ev: StudyEvent) -> None:
        if ev.kind == "step":
            if budget.left() <= 0:
                part.data["cut_run"] = {"loss": ev.loss, "seed": ev.seed, "step": ev.step}
                budget.check()
        elif ev.kind == "done" and ev.record is not None:
            r = ev.record
            log("inr", f"[{ev.index + 1}/{ev.total}] {r.loss} seed {r.seed}: PSNR "
                f"{r.psnr:.2f} dB, SSIM {r.ssim:.4f}, {1e3 * r.seconds_per_step:.2f} ms/step")

    title = f"SIREN astronaut {sizes.inr_size}x{sizes.inr_size}, {sizes.inr_steps} steps"
    try:
        run_study(samples, specs, sizes.inr_seeds, study, dataset="faces", steps=sizes.inr_steps,
                  device=device, resume=True, progress=on_event, loss_options={"grid": grid})
    finally:  # complete or cut: report the finished runs
        records = read_runs(study)
        part.tables["inr"] = [asdict(r) for r in records]
        if records:
            report = write_study_report(study, [s for s in specs if any(r.loss == s for r in records)],
                                  images=["astronaut"], grid_images=1, title=title + ":")
            part.data["summary"] = json.loads((study / "summary.json").read_text())
            part.markdown += [f"{title}, seeds {sizes.inr_seeds}, Global Glance grid "
                              f"{grid[0]}x{grid[1]}; {len(records)} runs finished.", "",
                              report.table]
        else:
            part.markdown.append("No run finished.")


def part_mri(part: Part, budget: Budget, device: str, sizes: Sizes, out: Path) -> None:
    from msglance.mri.compare import (
        CompareEvent,
        compare,
        comparison_table,
        loss_slug,
        summarize_comparison,
    )
    from msglance.mri.config import TrainConfig
    from msglance.mri.scoring import evaluate_run
    from msglance.mri.train import train

    root = out / "mri"
    splits = ("test", "s1045")
    losses = list(MRI_LOSSES)
    base = TrainConfig(
        out=str(root), data="mni", orientations=sizes.mri_orientations, size=sizes.mri_size,
        acceleration=5.0, center_fraction=0.08, delta=0.01, chans=sizes.mri_chans,
        pools=sizes.mri_pools, epochs=1, batch_size=4, lr=1e-3, limit=sizes.mri_limit,
        val_limit=sizes.mri_val_limit, device=device, loss=losses[0], seed=0,
    )
    part.data["base_config"] = asdict(base)

    def run_dir(spec: str, seed: int) -> Path:
        return root / loss_slug(spec) / f"seed{seed}"  # where compare() puts the run

    # 1. one epoch of every loss at seed 0 (compare resumes these runs later)
    epoch_s: dict[str, float] = {}
    setup_s: list[float] = []
    part.data["epoch_seconds"] = epoch_s  # filled as measured (kept if the part is cut)
    for spec in losses:
        t0 = time.monotonic()
        summary = train(replace(base, loss=spec, out=str(run_dir(spec, 0))), resume=True)
        epoch_s[spec] = float(summary.history[0]["seconds"])
        setup_s.append(time.monotonic() - t0 - epoch_s[spec])
        log("mri", f"one epoch of {spec}: {epoch_s[spec]:.1f} s (set-up {setup_s[-1]:.1f} s)")
        budget.check()
    t0 = time.monotonic()
    first = run_dir(losses[0], 0)
    evaluate_run(first, splits=splits, device=device, checkpoint="last")
    shutil.rmtree(first / "eval")  # a timing only: compare() must still evaluate the final model
    eval_s = time.monotonic() - t0
    setup = max(setup_s)

    # 2. epochs and seeds that fit the remaining budget (10% kept as margin)
    left = 0.9 * budget.left()
    plan = {}
    for n_seeds in sizes.mri_seeds:
        runs = n_seeds * len(losses)
        per_epoch = n_seeds * sum(epoch_s.values())
        epochs = math.floor((left - runs * (setup + eval_s) + sum(epoch_s.values())) / per_epoch)
        plan = {"seeds": n_seeds, "epochs": max(1, min(epochs, sizes.mri_max_epochs))}
        if epochs >= sizes.mri_min_epochs:
            break
    seeds = list(range(plan["seeds"]))
    part.data.update(setup_seconds=setup, eval_seconds=eval_s,
                     plan=plan, losses=losses, splits=list(splits), folder=str(root))
    log("mri", f"plan: {plan['epochs']} epochs x {plan['seeds']} seeds x {len(losses)} losses "
        f"({budget.left():.0f} s left; eval {eval_s:.1f} s)")
    header = (f"MNI152 slices at {sizes.mri_size}x{sizes.mri_size} ({sizes.mri_orientations}), "
              f"ReconNet chans {sizes.mri_chans} / pools {sizes.mri_pools}, 5x / centre 0.08, "
              f"delta 0.01, batch 4, Adam lr 1e-3, AMP on CUDA; one epoch took "
              + ", ".join(f"{v:.1f} s ({k})" for k, v in epoch_s.items())
              + f"; chosen: **{plan['epochs']} epochs, {plan['seeds']} seeds**; best.pt "
              "(validation PSNR) evaluated the fastMRI way (PSNR per volume, SSIM per slice).")
    part.markdown[:] = [header, ""]

    # 3. the comparison (seed 0's runs resume from their first epoch)
    def on_event(ev: CompareEvent) -> None:
        if ev.kind == "run":
            log("mri", f"[{ev.index}/{ev.total}] {ev.loss} seed {ev.seed}")
        elif ev.kind == "done" and ev.result is not None:
            log("mri", f"  test PSNR {ev.result['test']['recon']['psnr']:.3f} dB, SSIM "
                f"{ev.result['test']['recon']['ssim']:.4f}")
        elif ev.kind == "train" and ev.train_event is not None and ev.train_event.kind == "step":
            if budget.left() <= 0:
                part.data["cut_run"] = {"loss": ev.loss, "seed": ev.seed,
                                        "epoch": ev.train_event.epoch}
                budget.check()

    payload = None
    try:
        payload = compare(replace(base, epochs=plan["epochs"]), losses, seeds, root,
                          splits=splits, progress=on_event)
    finally:  # complete or cut: the runs that were evaluated
        if payload is not None:
            runs, summary, done = payload["runs"], payload["summary"], losses
        else:
            runs = []
            for seed in seeds:
                for spec in losses:
                    path = run_dir(spec, seed) / "eval" / "summary.json"
                    if path.is_file():
                        runs.append({"loss": spec, "seed": seed, "dir": str(path.parent.parent),
                                     **json.loads(path.read_text())})
            done = [s for s in losses if any(r["loss"] == s for r in runs)]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # gains of a loss without a pair are NaN
                summary = summarize_comparison(runs, done, splits) if runs else {}
        part.data.update(runs=runs, summary=summary)
        part.tables["mri"] = [
            {"loss": r["loss"], "seed": r["seed"], "epoch": r.get("epoch"),
             **{f"{split}_{kind}_{m}": r[split][kind][m] for split in splits
                for kind in ("recon", "zero_filled") for m in ("psnr", "ssim")}}
            for r in runs]
        part.markdown.append(comparison_table(summary, done, splits) if runs
                             else "No run finished.")


#: compile part: name -> factory of a fresh eager callable (x, y) -> scalar
COMPILE_CASES: dict[str, Callable[[], Callable[..., torch.Tensor]]] = {
    "MSGlanceLoss(seed=0)": lambda: bench_compile.make_loss("msglance", (16, 16)),
    "SSIMLoss()": lambda: bench_compile.make_loss("ssim", (16, 16)),
    "glance_index": lambda: (lambda a, b: glance_index(a, b, window=7)),
    "glance_index moments=float32": lambda: (
        lambda a, b: glance_index(a, b, window=7, moments="float32")),
}
COMPILE_TOL = 1e-5


def part_compile(part: Part, budget: Budget, device: str, sizes: Sizes, out: Path) -> None:
    rows = part.tables.setdefault("compile", [])
    side = sizes.compile_side
    part.markdown += [f"torch.compile against eager, input 2x1x{side}x{side}, fwd+bwd median "
                      f"of {sizes.repeats} after the compiling call and one warm-up "
                      f"(bench_compile.step); pass = max |value diff| and max |grad diff| "
                      f"<= {COMPILE_TOL:g}; graph breaks from torch._dynamo.explain:", "", ""]
    dev = torch.device(device)
    for name in sizes.compile_cases:
        torch._dynamo.reset()
        g = torch.Generator().manual_seed(0)
        y = torch.rand(2, 1, side, side, generator=g)
        x = (y + 0.05 * torch.randn(2, 1, side, side, generator=g)).clamp(0, 1)
        x, y = x.to(dev), y.to(dev)
        make = COMPILE_CASES[name]
        graphs, breaks, sites = compile_breaks.count_breaks(make(), x.clone().requires_grad_(True), y)
        torch._dynamo.reset()
        eager, compiled = make(), torch.compile(make())
        t_compile, vc, gc = bench_compile.step(compiled, x, y)
        _, ve, ge = bench_compile.step(eager, x, y)
        dv, dg = (vc - ve).abs().item(), (gc - ge).abs().max().item()
        bench_compile.step(compiled, x, y)
        te, tc = [], []
        for _ in range(sizes.repeats):
            te.append(bench_compile.step(eager, x, y)[0])
            tc.append(bench_compile.step(compiled, x, y)[0])
        me, mc = sorted(te)[len(te) // 2], sorted(tc)[len(tc) // 2]
        rows.append({"callable": name, "input": f"2x1x{side}x{side}", "graphs": graphs,
                     "graph_breaks": breaks, "break_sites": "; ".join(sites),
                     "compile_s": t_compile, "eager_s": me, "compiled_s": mc,
                     "eager_over_compiled": me / mc, "max_abs_value_diff": dv,
                     "max_abs_grad_diff": dg,
                     "pass": bool(dv <= COMPILE_TOL and dg <= COMPILE_TOL)})
        part.markdown[-1] = compile_table(rows)
        log("compile", f"{name}: {breaks} breaks, compile {t_compile:.1f} s, eager/compiled "
            f"{me / mc:.2f}x, dvalue {dv:.1e}, dgrad {dg:.1e}")
        budget.check()


def compile_table(rows: list[dict[str, Any]]) -> str:
    """The compile part's Markdown table."""
    lines = ["| callable | input | graphs | breaks | compile (s) | eager (ms) | compiled (ms) | "
             "eager/compiled | max abs dvalue | max abs dgrad | pass |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    lines += [f"| {r['callable']} | {r['input']} | {r['graphs']} | {r['graph_breaks']} | "
              f"{r['compile_s']:.1f} | {1e3 * r['eager_s']:.2f} | {1e3 * r['compiled_s']:.2f} | "
              f"{r['eager_over_compiled']:.2f} | {r['max_abs_value_diff']:.1e} | "
              f"{r['max_abs_grad_diff']:.1e} | {'yes' if r['pass'] else 'NO'} |" for r in rows]
    return "\n".join(lines)


def part_ltrp(part: Part, budget: Budget, device: str, sizes: Sizes, out: Path) -> None:
    rows = part.tables.setdefault("ltrp", [])
    k = sizes.ltrp_visible
    mae, images, ids = bench_ltrp_pseudo.setup(sizes.ltrp_batches[0], k, device)
    diff = float((bench_ltrp_pseudo.ours(mae, images, ids)
                  - bench_ltrp_pseudo.loop(mae, images, ids)).abs().max())
    part.data.update(visible=k, max_abs_score_diff=diff, target_ratio=5.0)
    part.markdown += [f"LTRP pseudo-scores, K = {k} visible of L = 64 (bench_ltrp_pseudo.py's "
                      f"MAE), batched removal pass vs per-removal loop, median of "
                      f"{sizes.repeats} interleaved; max |score diff| at batch "
                      f"{sizes.ltrp_batches[0]} = {diff:.1e}; target: loop/batched >= 5 at "
                      "batch 64. Peak extra memory: CUDA max_memory_allocated (CPU: RSS, "
                      "one subprocess each).", "", ""]
    for batch in sizes.ltrp_batches:
        t = bench_ltrp_pseudo.median_times(batch, k, device, sizes.repeats)
        mem = {n: bench_ltrp_pseudo.peak_memory_mib(n, batch, k, device)
               for n in bench_ltrp_pseudo.METHODS}
        ratio = t["loop"] / t["batched"]
        rows.append({"batch": batch, "visible": k, "batched_s": t["batched"], "loop_s": t["loop"],
                     "chunked_s": t["chunked"], "chunked_peak_mib": mem["chunked"],
                     "loop_over_batched": ratio, "batched_peak_mib": mem["batched"],
                     "loop_peak_mib": mem["loop"], "target_met": bool(ratio >= 5.0)})
        part.markdown[-1] = ltrp_table(rows)
        log("ltrp", f"batch {batch}: loop/batched {ratio:.2f}x")
        budget.check()


def ltrp_table(rows: list[dict[str, Any]]) -> str:
    """The ltrp part's Markdown table."""
    lines = ["| batch | batched (ms) | loop (ms) | loop / batched | >= 5x | peak MiB batched | "
             "peak MiB loop | chunked 256 (ms) | peak MiB chunked |",
             "|---:|---:|---:|---:|---|---:|---:|---:|---:|"]
    lines += [f"| {r['batch']} | {1e3 * r['batched_s']:.1f} | {1e3 * r['loop_s']:.1f} | "
              f"{r['loop_over_batched']:.2f}x | {'yes' if r['target_met'] else 'no'} | "
              f"{r['batched_peak_mib']:.1f} | {r['loop_peak_mib']:.1f} | "
              f"{1e3 * r['chunked_s']:.1f} | {r['chunked_peak_mib']:.1f} |" for r in rows]
    return "\n".join(lines)


PART_FUNCS: dict[str, Callable[[Part, Budget, str, Sizes, Path], None]] = {
    "glance": part_glance, "compile": part_compile, "metrics": part_metrics,
    "inr": part_inr, "mri": part_mri, "ltrp": part_ltrp,
}


# ----------------------------------------------------------------------------- output


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def write_part(out: Path, part: Part) -> None:
    """``<part>.json``, one ``<table>.csv`` per table, ``<part>.md``."""
    (out / f"{part.name}.json").write_text(json.dumps(_jsonable(asdict(part)), indent=1) + "\n")
    for name, rows in part.tables.items():
        if not rows:
            continue
        keys = list(dict.fromkeys(k for r in rows for k in r))
        with open(out / f"{name}.csv", "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
    (out / f"{part.name}.md").write_text(part_markdown(part) + "\n")


def part_markdown(part: Part) -> str:
    status = f"{part.status}, {part.seconds:.0f} s of a {part.budget_s:.0f} s budget"
    lines = [f"## {part.name} ({status})", ""]
    if part.note:
        lines += [part.note, ""]
    return "\n".join(lines + part.markdown)


def environment(device: str) -> dict[str, Any]:
    dev = torch.device(device)
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else bench_metrics.cpu_name()
    return {
        "device": str(dev), "device_name": name, "torch": torch.__version__,
        "cuda": torch.version.cuda, "cudnn": torch.backends.cudnn.version(),
        "python": platform.python_version(), "threads": torch.get_num_threads(),
        "omp_num_threads": os.environ.get("OMP_NUM_THREADS"),
        "command": shlex.join(["python", *sys.argv]),
        "started_utc": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
    }


def write_combined(out: Path, env: dict[str, Any], parts: list[Part], smoke: bool,
                   total_s: float) -> None:
    lines = ["# GPU suite results (draft written by benchmarks/gpu_suite.py)", ""]
    if smoke:
        lines += ["> **Smoke run**: toy sizes, every number here is meaningless; it only "
                  "shows that the suite runs.", ""]
    lines += [
        f"- device: `{env['device']}`, **{env['device_name']}**",
        f"- torch {env['torch']}, CUDA {env['cuda']}, cuDNN {env['cudnn']}, Python "
        f"{env['python']}, {env['threads']} CPU threads (OMP_NUM_THREADS={env['omp_num_threads']})",
        f"- command: `{env['command']}`",
        f"- started {env['started_utc']}; total budget {total_s:.0f} s",
        "", "| part | status | seconds | budget (s) |", "|---|---|---|---|",
    ]
    lines += [f"| {p.name} | {p.status} | {p.seconds:.0f} | {p.budget_s:.0f} |" for p in parts]
    for p in parts:
        lines += ["", part_markdown(p)]
    (out / "gpu.md").write_text("\n".join(lines) + "\n")
    (out / "environment.json").write_text(json.dumps(env, indent=1) + "\n")


# ----------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                epilog="See the module docstring for what each part measures.")
    p.add_argument("--out", type=Path, required=True, help="output folder (created)")
    p.add_argument("--device", default=None, help="cuda (default) or cpu; --smoke: cpu")
    p.add_argument("--budget-s", type=float, default=480.0,
                   help="total time budget in seconds (default 480)")
    p.add_argument("--smoke", action="store_true", help="toy sizes, in well under 2 minutes")
    p.add_argument("--parts", default=",".join(PARTS),
                   help=f"comma-separated subset of {','.join(PARTS)}, run in that order")
    a = p.parse_args(argv)
    parts = [s.strip() for s in a.parts.split(",") if s.strip()]
    unknown = [s for s in parts if s not in PARTS]
    if unknown or not parts:
        p.error(f"--parts: unknown {unknown}; choose from {','.join(PARTS)}")
    parts = [s for s in PARTS if s in parts]
    device = a.device or ("cpu" if a.smoke else "cuda")
    if torch.device(device).type == "cuda" and not torch.cuda.is_available():
        p.error(f"--device {device}: CUDA is not available here (use --smoke for a CPU run)")
    if a.budget_s < 0:
        p.error("--budget-s must be >= 0")
    sizes = SMOKE if a.smoke else FULL
    out: Path = a.out
    out.mkdir(parents=True, exist_ok=True)
    env = environment(device)
    log("suite", f"{env['device_name']} · torch {env['torch']} · CUDA {env['cuda']} · "
        f"budget {a.budget_s:.0f} s · parts {','.join(parts)}{' · SMOKE' if a.smoke else ''}")

    share_total = sum(SHARES[s] for s in parts)
    done: list[Part] = []
    carry = 0.0
    for name in parts:
        part = Part(name, budget_s=a.budget_s * SHARES[name] / share_total + carry)
        budget = Budget(part.budget_s)
        log(name, f"start, budget {part.budget_s:.0f} s")
        try:
            PART_FUNCS[name](part, budget, device, sizes, out)
            part.status = "complete"
        except BudgetExceeded as exc:
            cut = part.data.get("cut_run")
            dropped = (f" The run in progress ({', '.join(f'{k} {v}' for k, v in cut.items())}) "
                       "was dropped." if cut else "")
            part.status, part.note = "cut", f"Stopped: {exc}.{dropped} What it finished is below."
        except Exception as exc:  # noqa: BLE001 - one broken part must not lose the others
            traceback.print_exc()
            part.status, part.note = "failed", f"Failed: `{type(exc).__name__}: {exc}`"
        part.seconds = budget.used()
        carry = max(0.0, budget.left())
        done.append(part)
        write_part(out, part)
        write_combined(out, env, done, a.smoke, a.budget_s)
        log(name, f"{part.status} in {part.seconds:.0f} s; wrote {out / (name + '.md')}")
    log("suite", f"wrote {out / 'gpu.md'}")
    return 0 if all(p.status != "failed" for p in done) else 1


if __name__ == "__main__":
    sys.exit(main())
