"""``msglance mri``: train, evaluate and compare undersampled-MRI reconstruction (typer).

The commands only parse options, call :mod:`msglance.mri.train`, :mod:`~msglance.mri.scoring`
and :mod:`~msglance.mri.compare`, and print (rich progress bars, tables).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from msglance.cli_config import config_option
from msglance.cli_error import cli_error
from msglance.mri.config import TrainConfig
from msglance.mri.train import ProgressEvent

__all__ = ["app"]

app = typer.Typer(
    help="Undersampled MRI reconstruction: train a U-Net + data consistency with any loss, "
    "evaluate it the fastMRI way, compare losses.",
    no_args_is_help=True,
)
console = Console()


def _config(
    out: Path, data: str, data_path: Optional[Path], orientations: str, contrast: Optional[str],
    size: int, acceleration: float, center_fraction: float, mask: str, mask_seed: int,
    loss: str, delta: float, glance_grid: int, epochs: int, batch_size: int, lr: float,
    lr_step: int, seed: int, chans: int, pools: int, cascades: int, limit: int,
    val_limit: int, device: str, workers: int, amp: bool, lr_gamma: float = 0.1,
    best_metric: str = "psnr", local_window: int = 16, diagnostics: int = 0,
    position_weights: Optional[str] = None,
) -> TrainConfig:
    spec = f"{data} {data_path}" if data_path is not None else data
    return TrainConfig(
        out=str(out), data=spec, orientations=orientations, contrast=contrast, size=size,
        acceleration=acceleration, center_fraction=center_fraction, mask_kind=mask,
        mask_seed=mask_seed, loss=loss, delta=delta if delta >= 0 else None,
        glance_grid=glance_grid, epochs=epochs,
        batch_size=batch_size, lr=lr, lr_step=lr_step, seed=seed, chans=chans, pools=pools,
        cascades=cascades, limit=limit, val_limit=val_limit, device=device, workers=workers,
        amp=amp, lr_gamma=lr_gamma, best_metric=best_metric, local_window=local_window,
        diagnostics=diagnostics, position_weights=position_weights,
    )


class _Bars:
    """Rich progress bars driven by :class:`ProgressEvent` s."""

    def __init__(self, progress: Progress, prefix: str = "") -> None:
        self.progress, self.prefix = progress, prefix
        self.epochs = self.steps = None

    def __call__(self, event: ProgressEvent) -> None:
        p = self.progress
        if event.kind == "start":
            info = event.info
            p.console.print(
                f"{self.prefix}ReconNet: {info['parameters']:,} parameters · "
                f"{info['train_slices']} train / {info['val_slices']} val slices · "
                f"{info['device']} × {info['world_size']}"
                + (f" · resuming after epoch {info['start_epoch']}" if info["start_epoch"] else "")
            )
            if self.epochs is not None:
                p.remove_task(self.epochs)
            self.epochs = p.add_task(f"{self.prefix}epochs", total=event.total,
                                     completed=info["start_epoch"])
        elif event.kind == "epoch":
            if self.steps is not None:
                p.remove_task(self.steps)
            self.steps = p.add_task(f"{self.prefix}epoch {event.epoch}", total=event.total)
        elif event.kind == "step" and self.steps is not None:
            p.update(self.steps, completed=event.step,
                     description=f"{self.prefix}epoch {event.epoch} loss {event.info['loss']:.4f}")
        elif event.kind == "epoch_end" and self.epochs is not None:
            row = event.info
            p.advance(self.epochs)
            p.console.print(
                f"{self.prefix}epoch {event.epoch}: loss {row['loss']:.4f} · val PSNR "
                f"{row['val_psnr']:.2f} dB · SSIM {row['val_ssim']:.4f} (zero-filled "
                f"{row['val_zf_psnr']:.2f} / {row['val_zf_ssim']:.4f}) · {row['seconds']:.0f}s"
            )


def _check_position_weights(config: TrainConfig) -> None:
    """Fail before training on a bad ``--position-weights`` (spec, checkpoint, loss)."""
    from msglance.mri.config import build_loss, build_target_weights

    if config.position_weights is None:
        return
    try:
        build_target_weights(config)
        build_loss(config)
    except ValueError as exc:
        text = str(exc).removeprefix("position_weights: ")
        raise cli_error(f"--position-weights: {text}") from None


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


def _print_eval(result: dict) -> None:
    table = Table(title=f"{result['run']} · {Path(result['checkpoint']).name} (epoch {result['epoch']})")
    for col in ("data", "volumes", "slices", "PSNR (dB)", "SSIM", "zero-filled PSNR", "zero-filled SSIM"):
        table.add_column(col)
    for split, s in result.items():
        if isinstance(s, dict) and "recon" in s:
            table.add_row(split, str(s["volumes"]), str(s["slices"]), f"{s['recon']['psnr']:.3f}",
                          f"{s['recon']['ssim']:.4f}", f"{s['zero_filled']['psnr']:.3f}",
                          f"{s['zero_filled']['ssim']:.4f}")
    console.print(table)
    console.print("fastMRI convention: PSNR per volume, SSIM per slice (7×7 box, K1 0.01, K2 0.03), "
                  "data range = target volume max")


# Shared option declarations (typer reads the defaults).
_DATA = typer.Option("mni", help="mni | ixi | fastmri (or 'ixi PATH')")
_DATA_PATH = typer.Option(None, "--data-path", help="folder of NIfTI (ixi) or .h5 (fastmri) files")


@app.command("train")
def train_command(
    config_file: Optional[Path] = config_option(renames={"mask_kind": "mask"},
                                                nulls={"delta": -1.0}),
    out: Path = typer.Option(..., "--out", help="run directory"),
    data: str = _DATA,
    data_path: Optional[Path] = _DATA_PATH,
    orientations: str = typer.Option("sagittal,coronal,axial", help="MNI orientations"),
    contrast: Optional[str] = typer.Option(None, help="IXI contrast (T1, T2, PD)"),
    size: int = typer.Option(256, help="image side"),
    acceleration: float = typer.Option(5.0, help="undersampling factor"),
    center_fraction: float = typer.Option(0.08, help="fraction of centre columns kept"),
    mask: str = typer.Option("random", help="random | equispaced"),
    mask_seed: int = typer.Option(0, help="seed of every mask (shared by all runs)"),
    loss: str = typer.Option("l1+0.01*global+0.01*local", help="loss spec"),
    delta: float = typer.Option(0.01, help="air prior of the Global Glance term (< 0: none)"),
    glance_grid: int = typer.Option(0, help="Global Glance grid side (0 = 96·size/256)"),
    position_weights: Optional[str] = typer.Option(
        None, "--position-weights", help="weight the Global Glance draws by a map of each "
        "fully-sampled target: 'ltrp:CKPT' (an LTRP ranker checkpoint), 'variance', "
        "'gradient' (16x16 patches) or a PATH.npy; combines with --delta; needs a 'global' or "
        "'msglance' term in --loss. Default: uniform."),
    local_window: int = typer.Option(16, help="window side of the local (Local Glance) term"),
    epochs: int = typer.Option(20),
    batch_size: int = typer.Option(4, help="per process"),
    lr: float = typer.Option(1e-3),
    lr_step: int = typer.Option(0, help="StepLR period in epochs (0 = constant)"),
    lr_gamma: float = typer.Option(0.1, help="StepLR factor"),
    seed: int = typer.Option(0),
    chans: int = typer.Option(32),
    pools: int = typer.Option(4),
    cascades: int = typer.Option(1),
    limit: int = typer.Option(0, help="at most this many training slices (0 = all)"),
    val_limit: int = typer.Option(0, help="at most this many validation slices (0 = all)"),
    device: str = typer.Option("auto"),
    workers: int = typer.Option(0),
    amp: bool = typer.Option(True, help="mixed precision on CUDA"),
    best_metric: str = typer.Option("psnr", help="validation metric that selects best.pt (psnr, ssim)"),
    resume: bool = typer.Option(False, "--resume", help="continue RUN_DIR/last.pt"),
    diagnostics: int = typer.Option(
        0, help="every N steps log each loss term's value and gradient norm/share on the "
        "network output (diag_* columns of log.csv; 0 = off; the trajectory is unchanged)"),
) -> None:
    """Train ReconNet (U-Net + data consistency). Multi-GPU: torchrun --nproc_per_node N ...

    Re-run an experiment: --config RUN_DIR/config.json (with a new --out)."""
    from msglance.device import resolve_device
    from msglance.mri.train import train
    from msglance.out_dir import prepare_out_dir

    config = _config(out, data, data_path, orientations, contrast, size, acceleration,
                     center_fraction, mask, mask_seed, loss, delta, glance_grid, epochs,
                     batch_size, lr, lr_step, seed, chans, pools, cascades, limit, val_limit,
                     device, workers, amp, lr_gamma=lr_gamma, best_metric=best_metric,
                     local_window=local_window, diagnostics=diagnostics,
                     position_weights=position_weights)
    rank = int(os.environ.get("RANK", "0"))
    try:
        config.validate()
        _check_position_weights(config)
        resolve_device(config.device)
        prepare_out_dir(out, "--out")
        if rank == 0:
            with _progress() as progress:
                summary = train(config, resume=resume, progress=_Bars(progress))
        else:
            summary = train(config, resume=resume)
    except (ValueError, FileExistsError, FileNotFoundError, FloatingPointError) as exc:
        raise cli_error(exc) from None
    if rank == 0:
        console.print(
            f"done: {summary.epochs} epochs · best epoch {summary.best_epoch}: val PSNR "
            f"{summary.best_val_psnr:.3f} dB, SSIM {summary.best_val_ssim:.4f} "
            f"(zero-filled {summary.zero_filled_val_psnr:.3f} / {summary.zero_filled_val_ssim:.4f})"
            f" · {summary.seconds:.0f}s · {out}"
        )


@app.command("eval")
def eval_command(
    run_dir: Path = typer.Argument(..., help="a directory written by 'msglance mri train'"),
    data: Optional[str] = typer.Option(None, help="other data than the run's (e.g. 'ixi PATH')"),
    checkpoint: str = typer.Option("best", help="best | last | path to a .pt"),
    split: list[str] = typer.Option(["test", "s1045"], "--split", help="test | val | s1045"),
    device: str = typer.Option("auto"),
    batch_size: int = typer.Option(8),
    limit: int = typer.Option(0, help="at most this many slices per split"),
) -> None:
    """Evaluate a run (fastMRI convention); writes RUN_DIR/eval/<split>/{slices.csv,summary.json,figure.png}."""
    from msglance.mri.scoring import evaluate_run

    try:
        result = evaluate_run(run_dir, data=data, checkpoint=checkpoint, splits=tuple(split),
                              device=device, batch_size=batch_size, limit=limit)
    except (ValueError, FileNotFoundError) as exc:
        raise cli_error(exc) from None
    _print_eval(result)
    console.print(f"wrote {Path(run_dir) / 'eval'}")


@app.command("compare")
def compare_command(
    losses: list[str] = typer.Option([], "--losses", help="loss spec (repeat the option)"),
    grid: Optional[Path] = typer.Option(
        None, "--grid", help="JSON grid file of named configurations (loss + overrides, seeds, "
        "pairs; see msglance.mri.grid); replaces --losses, --seeds and the config options"),
    seeds: list[int] = typer.Option([0], "--seeds", help="seed (repeat the option)"),
    out: Path = typer.Option(..., "--out", help="comparison directory"),
    jobs: int = typer.Option(1, "--jobs", help="runs trained at once (processes, 1 thread each)"),
    report_only: bool = typer.Option(
        False, "--report-only", help="train nothing: rebuild tables and figures from the "
        "per-run results in --out"),
    data: str = _DATA,
    data_path: Optional[Path] = _DATA_PATH,
    orientations: str = typer.Option("sagittal,coronal,axial"),
    contrast: Optional[str] = typer.Option(None),
    size: int = typer.Option(256),
    acceleration: float = typer.Option(5.0),
    center_fraction: float = typer.Option(0.08),
    mask: str = typer.Option("random"),
    mask_seed: int = typer.Option(0),
    delta: float = typer.Option(0.01, help="air prior (< 0: none)"),
    glance_grid: int = typer.Option(0),
    local_window: int = typer.Option(16),
    epochs: int = typer.Option(20),
    batch_size: int = typer.Option(4),
    lr: float = typer.Option(1e-3),
    lr_step: int = typer.Option(0),
    chans: int = typer.Option(32),
    pools: int = typer.Option(4),
    cascades: int = typer.Option(1),
    limit: int = typer.Option(0),
    val_limit: int = typer.Option(0),
    device: str = typer.Option("auto"),
    workers: int = typer.Option(0),
    amp: bool = typer.Option(True),
) -> None:
    """Train + evaluate each configuration × seed with identical data and masks; resumable.

    Writes table.md (mean ± std), paired.md (paired differences, 95 % t intervals),
    results.json, comparison.png, forest.png and curves.png into --out.
    """
    from msglance.device import resolve_device
    from msglance.mri.compare import CompareEvent, comparison_table, run_grid
    from msglance.mri.grid import grid_from_losses, load_grid
    from msglance.out_dir import prepare_out_dir

    try:
        if grid is not None and losses:
            raise ValueError("give either --grid or --losses, not both")
        if grid is not None:
            study = load_grid(grid)
        elif losses:
            base = _config(out, data, data_path, orientations, contrast, size, acceleration,
                           center_fraction, mask, mask_seed, losses[0], delta, glance_grid,
                           epochs, batch_size, lr, lr_step, 0, chans, pools, cascades, limit,
                           val_limit, device, workers, amp, local_window=local_window)
            study = grid_from_losses(base, losses, seeds)
        else:
            raise ValueError("give --grid FILE or at least one --losses SPEC")
        study.base.validate()
        resolve_device(study.base.device)
        prepare_out_dir(out, "--out")
    except (ValueError, FileNotFoundError) as exc:
        raise cli_error(exc) from None
    with _progress() as progress:
        bars: dict[tuple[str, int], _Bars] = {}

        def show(event: CompareEvent) -> None:
            key = (event.loss, event.seed)
            if event.kind == "run":
                state = "already done" if event.skipped else "training"
                progress.console.print(f"[{event.index}/{event.total}] {event.loss} · seed {event.seed}: {state}")
                bars[key] = _Bars(progress, prefix=f"{event.loss} s{event.seed} ")
            elif event.kind == "train" and event.train_event is not None:
                bars[key](event.train_event)
            elif event.kind == "failed":
                progress.console.print(f"[red]{event.loss} · seed {event.seed} failed:[/red] "
                                       f"{event.error}", soft_wrap=True)

        try:
            payload = run_grid(study, out, progress=show, jobs=jobs, report_only=report_only)
        except (ValueError, FileNotFoundError) as exc:
            raise cli_error(exc) from None
    names = payload["losses"]
    pairs = {c["name"]: c["vs"] for c in payload["configs"]}
    console.print(comparison_table(payload["summary"], names, payload["splits"], pairs))
    if payload["selected"]:
        console.print("selected on validation: " + ", ".join(
            f"{k} = {v:g}" for k, v in payload["selected"].items()))
    console.print(f"wrote {out / 'table.md'}, {out / 'paired.md'}, {out / 'results.json'}, "
                  f"{out / 'forest.png'}, {out / 'curves.png'}")
    if payload["failed"]:
        first = payload["failed"][0]
        raise cli_error(f"{len(payload['failed'])} run(s) failed (left out of the tables), e.g. "
                        f"{first['name']} seed {first['seed']}: {first['error']}", code=1)


@app.command("diagnostics")
def diagnostics_command(
    run_dir: Path = typer.Argument(..., help="a run trained with --diagnostics N"),
    figure: Optional[Path] = typer.Option(None, "--figure", help="PNG (default RUN_DIR/diagnostics.png)"),
    markdown: Optional[Path] = typer.Option(None, "--markdown", help="also write the per-epoch table here"),
) -> None:
    """Per-epoch loss terms, gradient norms and shares on the network output, and val PSNR."""
    from msglance.atomic import atomic_write_text
    from msglance.mri.diagnostics import PREFIX, diagnostics_markdown, plot_diagnostics, read_log

    path = figure or run_dir / "diagnostics.png"
    try:
        rows = read_log(run_dir)
        plot_diagnostics(run_dir, path, title=str(run_dir))
        if markdown is not None:
            atomic_write_text(markdown, diagnostics_markdown(rows))
    except (ValueError, FileNotFoundError) as exc:
        raise cli_error(exc) from None
    first, last = rows[0], rows[-1]
    terms = [k[len(PREFIX) + 5:] for k in last if k.startswith(f"{PREFIX}grad_") and k != f"{PREFIX}grad_total"]
    table = Table(title=f"{run_dir.name}: epoch {first['epoch']:.0f} → {last['epoch']:.0f} (per-epoch means)")
    for col in ("term", "value L_i", "‖w_i ∂L_i/∂p‖", "share of update", "cos with update"):
        table.add_column(col)
    for t in terms:
        table.add_row(t, *[f"{first[f'{PREFIX}{q}_{t}']:.4g} → {last[f'{PREFIX}{q}_{t}']:.4g}"
                           for q in ("loss", "grad", "share", "cos")])
    console.print(table)
    console.print(f"validation PSNR {first['val_psnr']:.3f} → {last['val_psnr']:.3f} dB "
                  f"(best {max(r['val_psnr'] for r in rows):.3f})")
    console.print(f"wrote {path}")
