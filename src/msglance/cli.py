"""The ``msglance`` command. Subcommands call library functions; only this layer prints."""

from __future__ import annotations

from pathlib import Path

from msglance.extras import require

require("typer", "cli")  # the command line needs the cli extra: say so instead of a traceback
require("rich", "cli")

import typer  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn  # noqa: E402
from rich.table import Table  # noqa: E402

import msglance  # noqa: E402

app = typer.Typer(
    help="MS-Glance losses and image-reconstruction metrics.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()


def _version(value: bool) -> None:
    if value:
        console.print(f"msglance {msglance.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="Print the version and exit."),
) -> None:
    """MS-Glance losses and image-reconstruction metrics."""


@app.command()
def demo(
    size: int = typer.Option(64, help="Image side (the paper uses 512; 64 keeps the demo under ~1 min on 2 CPU cores)."),
    steps: int = typer.Option(300, help="Adam steps per loss (the paper uses 500)."),
    device: str = typer.Option("auto", help="auto, cpu, cuda, cuda:1, ..."),
    seed: int = typer.Option(0, help="Seed of the SIREN initialisation and Glance sampling."),
    out: Path = typer.Option(Path("msglance-demo"), help="Folder for the figure."),
) -> None:
    """Fit a SIREN to the embedded astronaut image with L2 and with L2 + MS-Glance."""
    from msglance.cli_error import cli_error
    from msglance.device import resolve_device
    from msglance.inr.demo import demo_losses, run_demo, save_demo_figure
    from msglance.inr.fit import check_fit_options
    from msglance.out_dir import prepare_out_dir

    try:
        check_fit_options(steps=steps)
        demo_losses(size, seed)  # refuses a size too small for the Glance terms
        dev = resolve_device(device)
        prepare_out_dir(out, "--out")
    except ValueError as exc:
        raise cli_error(exc) from None
    console.print(f"SIREN on astronaut {size}x{size}, {steps} steps per loss, device {dev}")
    with Progress(TextColumn("{task.description}"), BarColumn(),
                  TextColumn("{task.completed}/{task.total}"), TextColumn("loss {task.fields[loss]}"),
                  TimeRemainingColumn(), console=console, transient=False) as progress:
        tasks = {label: progress.add_task(label, total=steps, loss="-")
                 for label in demo_losses(size, seed)}

        def on_step(label: str, step: int, loss: float) -> None:
            progress.update(tasks[label], completed=step, loss=f"{loss:.5f}")

        target, runs = run_demo(size, steps, str(dev), seed, on_step)
    table = Table(title=f"SIREN fit of astronaut {size}x{size}, {steps} steps")
    for col in ("loss", "PSNR (dB)", "SSIM", "ms / step"):
        table.add_column(col, justify="right" if col != "loss" else "left")
    for run in runs:
        r = run.result
        table.add_row(run.label, f"{r.psnr:.2f}", f"{r.ssim:.4f}", f"{1e3 * r.seconds_per_step:.1f}")
    console.print(table)
    base = runs[0].result
    for run in runs[1:]:
        console.print(f"{run.label} vs {runs[0].label}: {run.result.psnr - base.psnr:+.2f} dB PSNR, "
                      f"{run.result.ssim - base.ssim:+.4f} SSIM, step time "
                      f"{100 * (run.result.seconds_per_step / base.seconds_per_step - 1):+.0f}%")
    fig = save_demo_figure(out / "demo.png", target, runs)
    console.print(f"figure: {fig}")


from msglance.mri.commands import app as mri_app  # noqa: E402

app.add_typer(mri_app, name="mri")

from msglance.inr.commands import app as inr_app  # noqa: E402

app.add_typer(inr_app, name="inr")

from msglance.ranking.commands import app as ltrp_app  # noqa: E402

app.add_typer(ltrp_app, name="ltrp")

from msglance.eval_command import eval_command  # noqa: E402

app.command("eval")(eval_command)

from msglance.metrics_command import metrics_command  # noqa: E402

app.command("metrics")(metrics_command)

from msglance.semantic_command import sess_command  # noqa: E402

app.command("sess")(sess_command)


if __name__ == "__main__":  # pragma: no cover
    app()
