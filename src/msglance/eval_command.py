"""``msglance eval REF PRED``: judge predictions against references (prints; the library
:mod:`msglance.evaluate` does the work and :mod:`msglance.report` writes the files)."""

from __future__ import annotations

import math
import shlex
import sys
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from msglance.evaluate import DEFAULT_METRICS

__all__ = ["eval_command"]


def eval_command(
    ref: Path = typer.Argument(..., help="Reference: an image file, a folder, or a NIfTI volume."),
    pred: Path = typer.Argument(..., help="Prediction: same kind as REF (folders pair by relative path)."),
    metrics: str = typer.Option(
        ",".join(DEFAULT_METRICS), "--metrics", "-m",
        help="Comma-separated registry names (see `python -c \"import msglance.metrics as m; "
        "print(m.available())\"`).",
    ),
    data_range: str = typer.Option(
        "dtype", "--data-range",
        help="Scale of the values as stored in the files: dtype (default: 255 for 8-bit, 65535 "
        "for 16-bit files, 1 for float images and NIfTI), a number (e.g. 4095 for 12-bit data "
        "or raw NIfTI), or auto (= each target's maximum, fastMRI)."
    ),
    normalize: str = typer.Option(
        "none", "--normalize", help="none, minmax, cminmax, zscore or quantile (each image by itself)."
    ),
    crop: str = typer.Option(None, "--crop", help="Centre crop 'HxW' or 'S' before the metrics."),
    mask: Path = typer.Option(None, "--mask", help="Mask file (image or NIfTI); judged inside it."),
    device: str = typer.Option("cpu", "--device", help="auto, cpu, cuda, cuda:1, ..."),
    volume: str = typer.Option("slices", "--volume", help="NIfTI volumes as 2-D 'slices' or one 3-D 'volume'."),
    out: Path = typer.Option(Path("msglance-eval"), "--out", help="Folder for per_item.csv, summary.json, report."),
    report: bool = typer.Option(False, "--report", help="Also write report.md with plots and the worst items."),
    worst: int = typer.Option(4, "--worst", help="Worst items shown in the report."),
    keep_going: bool = typer.Option(False, "--keep-going", help="Skip bad files/items and list them."),
    seed: int = typer.Option(0, "--seed", help="Seed of the random Global Glance sampling."),
    glance_grid: int = typer.Option(
        0, "--glance-grid", help="Global Glance grid side; 0 (default) scales it with each image "
        "(96·side/256, at least one 16-pixel window), so every image of at least 16x16 works."),
    save_graphs: bool = typer.Option(False, "--save-graphs", help="With sess: write each image's scene graph JSON to OUT/graphs."),
) -> None:
    """Compare predictions with references and summarise every metric."""
    from msglance import evaluate as ev
    from msglance import metrics as registry
    from msglance import report as rp
    from msglance.cli_error import cli_error
    from msglance.data.readers import UnreadableFileError
    from msglance.device import resolve_device
    from msglance.out_dir import prepare_out_dir

    console = Console()
    err = Console(stderr=True)

    try:
        if volume not in ("slices", "volume"):
            raise ValueError(f"--volume must be 'slices' or 'volume', got {volume!r}")
        if normalize not in registry.NORMALIZATIONS:
            raise ValueError(f"--normalize must be one of {', '.join(registry.NORMALIZATIONS)}")
        config = ev.EvalConfig(
            metrics=ev.resolve_metrics(metrics),
            data_range=ev.parse_data_range(data_range),
            normalize=normalize,
            crop=ev.parse_crop(crop),
            mask=mask,
            device=str(resolve_device(device)),
            volume_mode=volume,
            seed=seed,
            glance_grid=glance_grid,
        )
        if glance_grid < 0:
            raise ValueError(f"--glance-grid must be 0 (scaled) or a positive int, got {glance_grid}")
        prepare_out_dir(out, "--out")
        if save_graphs and "sess" not in config.metrics:
            raise ValueError("--save-graphs needs sess in --metrics")
    except (ValueError, KeyError) as exc:
        raise cli_error(exc, code=1) from None

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
        TimeRemainingColumn(), console=err, transient=True, disable=not err.is_terminal,
    ) as progress:
        task = progress.add_task("evaluating", total=None)

        def on_item(name: str, done: int, total: int) -> None:
            progress.update(task, total=total, completed=done, description=f"evaluating {name}")

        try:
            result = ev.evaluate(ref, pred, config, keep_going=keep_going, on_item=on_item)
        except (FileNotFoundError, ValueError, UnreadableFileError, KeyError) as exc:
            progress.stop()
            raise cli_error(exc, code=1) from None

    summary = ev.summarize_evaluation(result)
    names = list(config.metrics)
    rp.write_per_item_csv(out / "per_item.csv", result.items, names)
    rp.write_summary_json(out / "summary.json", summary)

    table = Table(title=f"{len(result.items)} items from {len(result.pairs)} pairs")
    for col, justify in (("metric", "left"), ("", "center"), ("mean ± std", "right"), ("n", "right")):
        table.add_column(col, justify=justify)
    for name, entry in summary["metrics"].items():
        table.add_row(name, rp.arrow(entry["higher_is_better"]), rp.format_mean_std(entry), str(entry["n"]))
    console.print(table)
    console.print(summary["data_range"], highlight=False)
    if config.normalize != "none":
        console.print(f"normalization: {config.normalize} (each image by its own statistics)")

    if report:
        plot = rp.plot_metrics(out / "metrics.png", result.items, summary)
        strips = []
        key = names[0]
        spec = registry.get(key)
        pairs = {str(p.ref): p for p in result.pairs}  # an item's pair, by its reference file
        for i, item in enumerate(rp.worst_items(result.items, key, spec.higher_is_better, worst)):
            sample = ev.load_sample(pairs[item.ref], item.index, config, result.mask)
            png = rp.plot_item_strip(
                out / "worst" / f"{i:02d}.png", sample.ref[0].cpu().numpy(),
                sample.pred[0].cpu().numpy(), f"{item.name}: {key} = {item.values[key]:.4g}",
                sample.data_range,
            )
            strips.append((item.name, key, item.values[key], png))
        if "sess" in names:
            from msglance.semantic.item_graphs import plot_item_graphs

            for i, item in enumerate(rp.worst_items(result.items, "sess", True, worst)):
                sample = ev.load_sample(pairs[item.ref], item.index, config, result.mask)
                png = plot_item_graphs(out / "worst" / f"{i:02d}_graphs.png", item.name,
                                       sample.ref[0], sample.pred[0], sample.data_range)
                strips.append((item.name, "sess (scene graphs)", item.values["sess"], png))
        command = "msglance eval " + " ".join(shlex.quote(a) for a in sys.argv[2:]) if len(sys.argv) > 2 else ""
        path = rp.write_report(out, summary, plot, strips, command)
        console.print(f"report: {path}")

    if result.skipped_empty_mask:
        console.print(f"skipped {len(result.skipped_empty_mask)} slice(s) whose mask slice is empty",
                      highlight=False)
    if save_graphs:
        from msglance.semantic.item_graphs import write_item_graphs

        pairs = {str(p.ref): p for p in result.pairs}
        for item in result.items:
            sample = ev.load_sample(pairs[item.ref], item.index, config, result.mask)
            write_item_graphs(out / "graphs", item.name, sample.ref[0], sample.pred[0],
                              sample.data_range)
        console.print(f"scene graphs: {out / 'graphs'}", highlight=False)

    for name in result.unmatched_ref:
        console.print(f"[yellow]unmatched reference:[/yellow] {name} (no prediction)", highlight=False)
    for name in result.unmatched_pred:
        console.print(f"[yellow]unmatched prediction:[/yellow] {name} (no reference)", highlight=False)
    for f in result.failures:
        console.print(f"[red]failed:[/red] {f.name}: {f.message}", highlight=False, soft_wrap=True)
    console.print(f"wrote {out / 'per_item.csv'} and {out / 'summary.json'}", highlight=False)
    if not result.ok:
        problems = len(result.failures) + len(result.unmatched_ref) + len(result.unmatched_pred)
        err.print(f"[red]{problems} problem(s)[/red]; exit code 1")
        raise typer.Exit(code=1)
    if any(math.isnan(v) for it in result.items for v in it.values.values()):
        raise typer.Exit(code=1)
