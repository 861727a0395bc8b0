"""``msglance inr``: fit a SIREN to one image, or run a study over a dataset, losses and seeds.

Subcommands call library functions (:mod:`msglance.inr.study`, :mod:`msglance.inr.summary`,
:mod:`msglance.inr.figures`); only this layer prints.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from msglance.cli_config import config_option, write_command_config
from msglance.cli_error import cli_error

__all__ = ["DEFAULT_LOSSES", "app"]

#: The study's default loss set (issue 4): pixel baselines, SSIM, perceptual, MS-Glance
#: and its Global-only / Local-only ablations. The first is the reference of the table.
DEFAULT_LOSSES: tuple[str, ...] = (
    "l2",
    "l1",
    "l2+0.01*ssim",
    "l2+0.01*effnet",
    "l2+0.01*global+0.01*local",
    "l2+0.01*global",
    "l2+0.01*local",
)

app = typer.Typer(
    help="SIREN image fitting (implicit neural representation) with any loss spec.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


_WEIGHTS_HELP = ("Weight the Global Glance draws by a map of the target: 'variance' or "
                 "'gradient' (per-patch variance / gradient energy), 'ltrp:CKPT' (an LTRP "
                 "ranker, when msglance.ranking is installed) or a PATH.npy (H, W) map. "
                 "Default: uniform.")


def _weight_source(spec: str | None, patch: int):
    """The :class:`~msglance.position_weights.WeightSource` of ``--position-weights``."""
    if spec is None:
        return None
    from msglance.position_weights import weight_source

    try:
        return weight_source(spec, patch)
    except ValueError as exc:
        raise cli_error(f"--position-weights: {exc}") from None


def _find_image(image: str, size: int):
    """A path (image or NIfTI file) or the name of an image in an embedded set."""
    from msglance.data.embedded import available_datasets, load_dataset, load_image_folder

    if Path(image).is_file():
        samples = load_image_folder(image, size)
        if not samples:
            raise ValueError(f"{image}: no readable image in this file")
        return samples[0], "file"
    names: list[str] = []
    sets = list(available_datasets())
    for ds in sorted(sets, key=lambda d: (d != "faces", sets.index(d))):  # smallest set first
        for sample in load_dataset(ds, size):
            if sample.name == image:
                return sample, ds
            names.append(sample.name)
    raise ValueError(
        f"{image!r} is neither an existing file nor an embedded image; embedded images: "
        f"{', '.join(dict.fromkeys(names))}"
    )


@app.command()
def fit(
    image: str = typer.Argument(..., help="An image/NIfTI file, or an embedded image name "
                                "(e.g. astronaut, camera, s1045)."),
    loss: str = typer.Option("l2+0.01*global+0.01*local", "--loss",
                             help="Loss spec, e.g. 'l2', 'l2+0.01*global+0.01*local'."),
    size: int = typer.Option(512, help="Side of the square (centre-cropped, resized) target."),
    steps: int = typer.Option(500, help="Adam steps."),
    seed: int = typer.Option(0, help="Seed of the SIREN initialisation and the loss's draws."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    lr: float = typer.Option(1e-4, help="Adam learning rate."),
    log_every: int = typer.Option(10, help="PSNR history interval (steps)."),
    grid: int = typer.Option(96, help="Global Glance grid side (paper: 96; 0 = scaled with the "
                             "image, 96·side/256); reduced to fit images with fewer than "
                             "grid^2 pixels."),
    position_weights: str | None = typer.Option(None, "--position-weights", help=_WEIGHTS_HELP),
    weight_patch: int = typer.Option(16, min=1, help="Patch side of the per-patch weight maps."),
    out: Path = typer.Option(Path("inr-fit"), help="Output folder."),
) -> None:
    """Fit a SIREN to one image; print the final PSNR/SSIM, write the fit and its PSNR curve."""
    from msglance.inr.figures import plot_psnr_curves, save_png
    from msglance.device import resolve_device
    from msglance.glance_grid import glance_grid_for
    from msglance.inr.fit import check_fit_options, fit_siren
    from msglance.losses import parse
    from msglance.out_dir import prepare_out_dir

    try:
        check_fit_options(steps=steps, lr=lr, log_every=log_every)
    except ValueError as exc:
        raise cli_error(exc) from None
    try:
        loss_fn = parse(loss, seed=seed)
    except ValueError as exc:
        raise cli_error(f"--loss: {exc}") from None
    source = _weight_source(position_weights, weight_patch)
    try:
        dev = resolve_device(device)
        prepare_out_dir(out, "--out")
        sample, where = _find_image(image, size)
        h, w = sample.image.shape[:2]
        grid_hw = glance_grid_for((h, w), grid)
        weights = None if source is None else source(sample.tensor())
    except ValueError as exc:
        raise cli_error(str(exc)) from None
    options = {} if weights is None else {"position_weights": weights}
    loss_fn = parse(loss, seed=seed, grid=grid_hw, **options)
    if grid and grid_hw != (grid, grid):
        console.print(f"note: Global Glance grid {grid_hw[0]}x{grid_hw[1]} "
                      f"({h}x{w} pixels < {grid}x{grid})", highlight=False)
    spec = str(getattr(loss_fn, "spec", loss))
    sampling = "" if source is None else f", Global Glance weighted by {source.label}"
    console.print(f"SIREN fit of {sample.name} ({where}) {size}x{size}, loss {spec!r}, "
                  f"{steps} steps, seed {seed}, device {dev}{sampling}", highlight=False)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]}"), TimeRemainingColumn(),
                  console=console, transient=True) as progress:
        task = progress.add_task("fitting", total=steps, loss="-")

        def on_step(step: int, value: float) -> None:
            progress.update(task, completed=step, loss=f"{value:.5f}")

        result = fit_siren(sample.tensor(), loss_fn, steps=steps, lr=lr, seed=seed, device=dev,
                           log_every=log_every, on_step=on_step)
    out.mkdir(parents=True, exist_ok=True)
    fitted = save_png(result.output[0], out / "fitted.png")
    save_png(sample.tensor(), out / "target.png")
    if weights is not None:
        save_png((weights / weights.max())[None], out / "position_weights.png")
    hist = [{"loss": spec, "dataset": sample.name, "history": result.history}]
    curve = plot_psnr_curves(hist, [spec], out / "psnr_vs_step.png", title="SIREN fit of")
    (out / "result.json").write_text(json.dumps({
        "image": sample.name, "source": sample.source, "licence": sample.licence,
        "loss": spec, "size": size, "steps": result.steps, "seed": seed, "device": str(dev),
        "position_weights": None if source is None else source.label,
        "psnr": result.psnr if math.isfinite(result.psnr) else None,
        "ssim": result.ssim if math.isfinite(result.ssim) else None,
        "seconds_per_step": result.seconds_per_step,
        "first_nonfinite_step": result.first_nonfinite_step,
        "history": result.history,
        "terms": result.term_history,
    }, indent=1))
    if result.first_nonfinite_step is not None:
        console.print(f"[red]loss became non-finite at step {result.first_nonfinite_step}[/red]")
    console.print(f"PSNR {result.psnr:.2f} dB   SSIM {result.ssim:.4f}   "
                  f"{1e3 * result.seconds_per_step:.1f} ms/step", highlight=False)
    console.print(f"fit: {fitted}\ncurve: {curve}", highlight=False)
    if result.first_nonfinite_step is not None:
        raise typer.Exit(code=1)


@app.command(context_settings={"allow_extra_args": True})
def study(
    ctx: typer.Context,
    config_file: Path | None = config_option(),
    dataset: str = typer.Option("natural", help="natural, faces, mri, lfw, or a folder/file "
                                "of images or NIfTI volumes."),
    losses: list[str] | None = typer.Option(
        None, "--losses", help="Loss specs; the first is the reference. Several may follow one "
        "--losses (--losses l2 l1 'l2+0.01*global'). Default: the issue-4 set."),
    seeds: int = typer.Option(3, help="Seeds 0 .. N-1 per (image, loss)."),
    size: int = typer.Option(512, help="Side of the square targets."),
    steps: int = typer.Option(500, help="Adam steps per run."),
    out: Path = typer.Option(Path("inr-study"), help="Output folder."),
    resume: bool = typer.Option(False, "--resume", help="Skip runs already in OUT/per_run.csv."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    limit: int | None = typer.Option(None, min=1, help="Use only the first N images."),
    images: str | None = typer.Option(None, help="Use only these images, comma separated "
                                      "(names as in per_run.csv, e.g. camera,coffee)."),
    lr: float = typer.Option(1e-4, help="Adam learning rate."),
    log_every: int = typer.Option(10, help="PSNR history interval (steps)."),
    grid: int = typer.Option(96, help="Global Glance grid side (paper: 96; 0 = scaled with the "
                             "image, 96·side/256); reduced to fit images with fewer than "
                             "grid^2 pixels."),
    grid_images: int = typer.Option(3, help="Images in the figure grid."),
    position_weights: str | None = typer.Option(None, "--position-weights", help=_WEIGHTS_HELP),
    weight_patch: int = typer.Option(16, min=1, help="Patch side of the per-patch weight maps."),
) -> None:
    """Fit every (image, loss, seed); write per-run CSV, a table, curves and a figure grid.

    OUT/config.json records the options; --config OUT/config.json (with a new --out) re-runs
    the study."""
    from msglance.data.embedded import available_datasets, load_dataset
    from msglance.device import resolve_device
    from msglance.glance_grid import glance_grid_for
    from msglance.inr.fit import check_fit_options
    from msglance.inr.study import StudyEvent, canonical_specs, run_study
    from msglance.inr.summary import write_study_report
    from msglance.out_dir import prepare_out_dir

    extra = list(ctx.args)
    if extra and not losses:
        raise cli_error(f"unexpected arguments {extra} (loss specs go after --losses)")
    specs_in = list(losses or []) + extra or list(DEFAULT_LOSSES)
    source = _weight_source(position_weights, weight_patch)
    try:
        specs = canonical_specs(specs_in)
    except ValueError as exc:
        raise cli_error(f"--losses: {exc}") from None
    try:
        check_fit_options(steps=steps, lr=lr, log_every=log_every)
        dev = resolve_device(device)
        prepare_out_dir(out, "--out")
        samples = load_dataset(dataset, size)
    except ValueError as exc:
        raise cli_error(str(exc)) from None
    if images:
        wanted = [n.strip() for n in images.split(",") if n.strip()]
        names = [s.name for s in samples]
        unknown = [n for n in wanted if n not in names]
        if unknown:
            raise cli_error(f"no image named {', '.join(unknown)} in {dataset!r}; "
                            f"it has: {', '.join(names)}")
        samples = [s for s in samples if s.name in wanted]
    if limit is not None:
        samples = samples[:limit]
    options = {k: v for k, v in ctx.params.items() if k not in ("config_file", "resume")}
    write_command_config(out / "config.json", {**options, "losses": specs})
    try:
        grid_hw = min((glance_grid_for(s.image.shape[:2], grid) for s in samples), key=lambda g: g[0])
    except ValueError as exc:
        raise cli_error(str(exc)) from None
    if grid and grid_hw != (grid, grid):
        console.print(f"note: Global Glance grid {grid_hw[0]}x{grid_hw[1]} (images have fewer "
                      f"than {grid}x{grid} pixels)", highlight=False)
    label = dataset if dataset in available_datasets() else Path(dataset).name or dataset
    sampling = "" if source is None else f", Global Glance weighted by {source.label}"
    console.print(
        f"INR study: {len(samples)} images of {label!r} at {size}x{size}, {len(specs)} losses, "
        f"{seeds} seeds, {steps} steps, device {dev}{sampling}, out {os.fspath(out)}",
        highlight=False)

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as progress:
        overall = progress.add_task("runs", total=None)
        current = progress.add_task("", total=steps, visible=False)

        def on_event(ev: StudyEvent) -> None:
            if ev.kind == "start":
                progress.update(overall, total=ev.total)
                if ev.skipped:
                    progress.console.print(f"resume: {ev.skipped} of {ev.total} runs already done")
            elif ev.kind == "skip":
                progress.advance(overall)
            elif ev.kind == "run":
                progress.reset(current, total=ev.steps, visible=True,
                               description=f"{ev.image} | {ev.loss} | seed {ev.seed}")
            elif ev.kind == "step":
                progress.update(current, completed=ev.step)
            elif ev.kind == "done" and ev.record is not None:
                progress.advance(overall)
                r = ev.record
                bad = "" if r.first_nonfinite_step is None else f"  NON-FINITE at step {r.first_nonfinite_step}"
                progress.console.print(
                    f"{r.image} | {r.loss} | seed {r.seed}: PSNR {r.psnr:.2f} dB, SSIM {r.ssim:.4f}, "
                    f"{1e3 * r.seconds_per_step:.1f} ms/step{bad}", highlight=False, markup=False)

        try:
            run_study(samples, specs, seeds, out, dataset=label, steps=steps, device=dev,
                      resume=resume, progress=on_event, loss_options={"grid": grid_hw},
                      position_weights=source, lr=lr, log_every=log_every)
        except ValueError as exc:
            raise cli_error(str(exc)) from None
        progress.update(current, visible=False)

    report = write_study_report(out, specs, images=[s.name for s in samples], grid_images=grid_images,
                          title=f"SIREN {size}x{size}, {steps} steps{sampling}:")
    console.print(report.table, markup=False, highlight=False, soft_wrap=True)
    for what, path in (("table", report.table_path), ("per-run CSV", out / "per_run.csv"),
                       ("curves", report.curve_path), ("fits", report.grid_path)):
        if path is not None:
            console.print(f"{what}: {path}", highlight=False)
