"""``msglance ltrp``: train the MAE and the ranker, rank patches of images, run the study.

The commands parse options, call :mod:`msglance.ranking` and print (rich progress bars,
tables). Every expected failure is one line on stderr and exit code 2.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
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

from msglance.cli_error import cli_error
from msglance.device import resolve_device
from msglance.out_dir import prepare_out_dir
from msglance.ranking.selectors import METHODS

__all__ = ["app"]

app = typer.Typer(
    help="LTRP: learn to rank image patches without labels (MAE removal scores + a ViT ranker).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()

_EXPECTED = (ValueError, FileNotFoundError, FileExistsError, ModuleNotFoundError)


@contextmanager
def _training_bars(what: str) -> Iterator[Callable]:
    from msglance.ranking.training import TrainEvent

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("loss {task.fields[loss]}"), TimeElapsedColumn(),
                  TimeRemainingColumn(), console=console) as progress:
        epochs = progress.add_task(f"{what} epochs", total=None, loss="-")
        steps = progress.add_task("steps", total=None, loss="-", visible=False)

        def on_event(ev: TrainEvent) -> None:
            if ev.kind == "start":
                progress.update(epochs, total=ev.total, completed=ev.epoch)
                if ev.epoch:
                    progress.console.print(f"resume: {ev.epoch} of {ev.total} epochs already done")
            elif ev.kind == "epoch":
                progress.reset(steps, total=ev.total, visible=True, description=f"epoch {ev.epoch}")
            elif ev.kind == "step":
                progress.update(steps, completed=ev.step, loss=f"{ev.loss:.4g}")
            elif ev.kind == "epoch_end":
                progress.update(epochs, completed=ev.epoch, loss=f"{ev.loss:.4g}")

        yield on_event


def _data(data: str, size: int):
    from msglance.ranking.datasets import load_split

    return load_split(data, size)


@app.command("train-mae")
def train_mae_command(
    data: str = typer.Option("digits", help="digits, natural, lfw, or a folder of images."),
    out: Path = typer.Option(Path("ltrp-mae"), help="Run folder (last.pt is the checkpoint)."),
    size: int = typer.Option(32, help="Image side."),
    patch: int = typer.Option(4, help="Patch side (digits: size/8, so one pixel per patch)."),
    dim: int = typer.Option(64, help="Encoder width."),
    depth: int = typer.Option(4, help="Encoder blocks."),
    decoder_dim: int = typer.Option(32, help="Decoder width."),
    decoder_depth: int = typer.Option(2, help="Decoder blocks."),
    mask_ratio: float = typer.Option(0.75, help="Training mask ratio."),
    epochs: int = typer.Option(30, help="Epochs."),
    batch_size: int = typer.Option(64, help="Batch size (per process under torchrun)."),
    lr: float = typer.Option(1e-3, help="AdamW learning rate."),
    seed: int = typer.Option(0, help="Initialisation and mask seed."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    resume: bool = typer.Option(False, "--resume", help="Continue OUT/last.pt."),
) -> None:
    """Train the masked autoencoder that labels patch importance (DDP under torchrun)."""
    from msglance.ranking.mae import MAEConfig
    from msglance.ranking.training import train_mae

    try:
        resolve_device(device)
        prepare_out_dir(out, "--out")
        train, _ = _data(data, size)
        config = MAEConfig(image_size=size, patch=patch, channels=train.images.shape[1], dim=dim,
                           depth=depth, decoder_dim=decoder_dim, decoder_depth=decoder_depth)
        with _training_bars("MAE") as bar:
            result = train_mae(train.images, config, epochs=epochs, batch_size=batch_size, lr=lr,
                               mask_ratio=mask_ratio, seed=seed, device=device, out=out,
                               resume=resume, progress=bar)
    except _EXPECTED as exc:
        raise cli_error(exc) from None
    console.print(f"MAE on {len(train)} {data} images: final masked MSE "
                  f"{result.history[-1]['loss']:.5f}; checkpoint {out / 'last.pt'}", highlight=False)


@app.command("train-ranker")
def train_ranker_command(
    mae: Path = typer.Option(..., help="MAE checkpoint (train-mae's OUT/last.pt)."),
    data: str = typer.Option("digits", help="digits, natural, lfw, or a folder of images."),
    out: Path = typer.Option(Path("ltrp-ranker"), help="Run folder (last.pt is the checkpoint)."),
    loss: str = typer.Option("listmle", help="listmle, sublist_listmle, listnet, pointwise_mse, "
                             "ranknet, focused_rank."),
    mode: str = typer.Option("true", help="Removal: true (re-encode) or decoder (key padding)."),
    measure: str = typer.Option("l1", help="l1, mse, or a registry metric (ssim, ms_glance, ...)."),
    mask_ratio: float = typer.Option(0.75, help="Scoring mask ratio (0.75, 0.85, 0.9)."),
    asymmetric: bool = typer.Option(False, "--asymmetric", help="Feed only visible tokens in training."),
    dim: int = typer.Option(64, help="Ranker width."),
    depth: int = typer.Option(4, help="Ranker blocks."),
    epochs: int = typer.Option(20, help="Epochs."),
    batch_size: int = typer.Option(64, help="Batch size (per process under torchrun)."),
    lr: float = typer.Option(1e-3, help="AdamW learning rate."),
    seed: int = typer.Option(0, help="Initialisation and mask seed."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    resume: bool = typer.Option(False, "--resume", help="Continue OUT/last.pt."),
) -> None:
    """Train the patch ranker on the frozen MAE's removal scores (DDP under torchrun)."""
    from msglance.ranking.mae import MaskedAutoencoder
    from msglance.ranking.ranker import RankerConfig
    from msglance.ranking.training import train_ranker

    try:
        resolve_device(device)
        prepare_out_dir(out, "--out")
        model = MaskedAutoencoder.from_checkpoint(mae)
        c = model.config
        train, _ = _data(data, c.image_size)
        config = RankerConfig(image_size=c.image_size, patch=c.patch, channels=c.channels,
                              dim=dim, depth=depth)
        with _training_bars("ranker") as bar:
            result = train_ranker(model, train.images, config, loss=loss, mode=mode,
                                  measure=measure, mask_ratio=mask_ratio, asymmetric=asymmetric,
                                  epochs=epochs, batch_size=batch_size, lr=lr, seed=seed,
                                  device=device, out=out, resume=resume, progress=bar)
    except _EXPECTED as exc:
        raise cli_error(exc) from None
    console.print(f"ranker on {len(train)} {data} images: final {loss} "
                  f"{result.history[-1]['loss']:.4f}; checkpoint {out / 'last.pt'}", highlight=False)


@app.command("rank")
def rank_command(
    images: Path = typer.Argument(..., help="An image file or a folder of images."),
    ranker: Path = typer.Option(..., help="Ranker checkpoint (train-ranker's OUT/last.pt)."),
    k: int = typer.Option(16, help="Patches to keep per image."),
    size: int = typer.Option(0, help="Resize images to this side (0 = the ranker's)."),
    out: Path = typer.Option(Path("ltrp-rank"), help="Folder for scores.csv and overlays."),
) -> None:
    """Score every patch, keep the top k; write scores.csv and one PNG overlay per image."""
    from msglance.atomic import atomic_write_text
    from msglance.ranking.datasets import image_folder
    from msglance.ranking.figures import plot_importance
    from msglance.ranking.ranker import PatchRanker
    from msglance.ranking.selectors import select

    try:
        prepare_out_dir(out, "--out")
        model = PatchRanker.from_checkpoint(ranker)
        c = model.config
        data = image_folder(images, size or c.image_size, c.channels)
        scores = model.rank(data.images)
        kept = select(data.images, k, "ltrp", ranker=model)
    except _EXPECTED as exc:
        raise cli_error(exc) from None
    out.mkdir(parents=True, exist_ok=True)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["image", "kept"] + [f"p{i}" for i in range(model.length)])
    with Progress(TextColumn("overlays"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
        task = bar.add_task("", total=len(data))
        for i, name in enumerate(data.sources):
            writer.writerow([name, " ".join(map(str, kept[i].tolist()))]
                            + [f"{v:.6g}" for v in scores[i].tolist()])
            stem = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in Path(name).stem)
            plot_importance(out / f"{stem}.png", data.images[i], scores[i], kept[i], model.grid,
                            model.patch, title=f"{name}: top {k} patches by LTRP")
            bar.advance(task)
    atomic_write_text(out / "scores.csv", buffer.getvalue())
    console.print(f"{len(data)} image(s): scores {out / 'scores.csv'}, overlays in {out}",
                  highlight=False)


def _csv_list(text: str) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip())


@app.command("study")
def study_command(
    out: Path = typer.Option(Path("ltrp-study"), help="Output folder."),
    datasets: str = typer.Option("digits,lfw,natural", help="Comma-separated: digits, lfw, natural."),
    evaluations: str = typer.Option("A,B,C,D,E", help="Comma-separated evaluations A-E."),
    selectors: str = typer.Option(",".join(METHODS), help="Comma-separated selectors."),
    seeds: int = typer.Option(3, help="Seeds 0 .. N-1."),
    keeps: str = typer.Option("0.125,0.25,0.5", help="Keep ratios of B, C and E."),
    headline_keep: float = typer.Option(0.125, help="Keep ratio of D (and A's NDCG@k)."),
    mae_epochs: int = typer.Option(30, help="Epochs of each MAE."),
    ranker_epochs: int = typer.Option(15, help="Epochs of each ranker."),
    classifier_epochs: int = typer.Option(15, help="Epochs of each classifier."),
    eval_images: int = typer.Option(128, help="Held-out images used by A and B."),
    train_limit: int = typer.Option(0, help="At most this many training images per data set (0 = all)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, ..."),
    resume: bool = typer.Option(False, "--resume", help="Skip units already in OUT/per_run.csv."),
) -> None:
    """Run evaluations A-E (resumable); write per_run.csv, summary.md and figures."""
    from msglance.ranking.study import StudyConfig, StudyEvent, run_study
    from msglance.ranking.study_report import write_report

    try:
        config = StudyConfig(out=str(out), datasets=_csv_list(datasets),
                             evaluations=_csv_list(evaluations.upper()), selectors=_csv_list(selectors),
                             seeds=seeds, keeps=tuple(float(k) for k in _csv_list(keeps)),
                             headline_keep=headline_keep, mae_epochs=mae_epochs,
                             ranker_epochs=ranker_epochs, classifier_epochs=classifier_epochs,
                             eval_images=eval_images, train_limit=train_limit, device=device)
        config.validate()
    except ValueError as exc:
        raise cli_error(exc) from None
    console.print(f"LTRP study: {', '.join(config.datasets)}; evaluations {', '.join(config.evaluations)}; "
                  f"{seeds} seed(s); out {out}", highlight=False)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TimeRemainingColumn(), console=console) as progress:
        task = progress.add_task("units", total=None)

        def on_event(ev: StudyEvent) -> None:
            if ev.kind == "stage":
                progress.update(task, description=ev.message)
            elif ev.kind in ("unit", "skip"):
                progress.update(task, total=ev.total, completed=ev.done)
                if ev.kind == "unit":
                    shown = ", ".join(f"{r['metric']} {r['value']:.4g}" for r in ev.rows[:4])
                    progress.console.print(f"{ev.message}: {shown}", highlight=False, markup=False)

        try:
            csv_path = run_study(config, resume=resume, progress=on_event)
        except _EXPECTED as exc:
            raise cli_error(exc) from None
    text = write_report(out, headline_keep, config.seen_classes)
    console.print(text, markup=False, highlight=False, soft_wrap=True)
    console.print(f"per-run CSV: {csv_path}\nsummary: {out / 'summary.md'}", highlight=False)
