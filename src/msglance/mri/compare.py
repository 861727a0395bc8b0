"""Compare configurations: train and evaluate each ``(configuration, seed)`` with identical data and masks.

Every run shares a base :class:`~msglance.mri.config.TrainConfig` (same data, masks —
``mask_seed`` is fixed —, epochs and network); a configuration sets the ``loss`` spec and
any overrides (:mod:`msglance.mri.grid`: ``--losses`` gives one configuration per spec, a
grid file any set). Runs live in ``OUT/<name>/seed<k>/``; a run whose ``eval/summary.json``
exists is skipped and an interrupted one is resumed from its ``last.pt``, so ``compare`` can
simply be started again. ``jobs > 1`` trains that many runs at once in separate processes
(one thread each); every run is deterministic, so the results equal a serial run's on one
thread. Outputs (all regenerated from the per-run results by :func:`report`):

* ``OUT/results.json`` — every run, the summary and the paired differences;
* ``OUT/table.md`` — mean ± std over seeds per configuration and split, the validation PSNR
  of the selected checkpoints, the gain over the paired configuration;
* ``OUT/paired.md`` — paired differences with 95 % t intervals (:mod:`msglance.mri.paired`);
* ``OUT/comparison.png`` (bars), ``OUT/forest.png`` (paired differences),
  ``OUT/curves.png`` (validation PSNR per epoch, mean over seeds).
"""

from __future__ import annotations

import json
import os
import queue
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from msglance.atomic import atomic_write_text
from msglance.mri.config import TrainConfig
from msglance.mri.grid import Grid, GridEntry, Selection, grid_from_losses
from msglance.mri.paired import forest_plot, paired_difference, paired_markdown
from msglance.mri.scoring import evaluate_run
from msglance.mri.train import ProgressEvent, train
from msglance.report import markdown_table, mean_std, mean_std_text, save_figure, subplots

__all__ = ["CompareEvent", "loss_slug", "compare", "run_grid", "report", "summarize_comparison",
           "paired_rows", "comparison_table", "bar_plot", "curves_plot"]

@dataclass
class CompareEvent:
    """``kind``: ``"run"`` (a run starts; ``skipped`` if already finished), ``"train"``
    (a training progress event in ``train_event``), ``"done"`` (``result`` of the run) or
    ``"failed"`` (the run broke, e.g. a non-finite loss; ``error`` says how — it is recorded
    in ``RUN/failed.json`` and reported, and the other runs go on)."""

    kind: str
    loss: str
    seed: int
    index: int
    total: int
    skipped: bool = False
    train_event: ProgressEvent | None = None
    result: dict[str, Any] | None = None
    error: str | None = None


def loss_slug(spec: str) -> str:
    """A directory name for a loss spec: ``"l1+0.01*global"`` → ``"l1+0.01xglobal"``."""
    text = re.sub(r"\s+", "", spec.lower()).replace("*", "x")
    return re.sub(r"[^a-z0-9+._-]", "_", text) or "loss"


def compare(
    base: TrainConfig,
    losses: Sequence[str],
    seeds: Sequence[int],
    out: str | os.PathLike[str],
    *,
    splits: tuple[str, ...] = ("test", "s1045"),
    progress: Callable[[CompareEvent], None] | None = None,
    jobs: int = 1,
) -> dict[str, Any]:
    """Train + evaluate every ``(loss, seed)``; write results, tables and plots; return results.

    Each spec is a configuration named by itself (run directory ``OUT/<loss_slug>``), paired
    with the first. See :func:`run_grid`.

    Raises:
        ValueError: no losses or seeds, or two specs with the same directory name.
    """
    grid = grid_from_losses(base, list(losses), [int(s) for s in seeds], tuple(splits))
    return run_grid(grid, out, progress=progress, jobs=jobs)


def _run_dir(root: Path, entry: GridEntry) -> Path:
    return root / loss_slug(entry.name)


def _run(config: TrainConfig, splits: tuple[str, ...],
         progress: Callable[[ProgressEvent], None] | None) -> dict[str, Any]:
    """Train + evaluate; a run that breaks (not a configuration error) returns ``{"failed"}``."""
    failed = Path(config.out) / "failed.json"
    try:
        train(config, resume=True, progress=progress)
        result = evaluate_run(config.out, splits=splits, device=config.device)
    except (ValueError, FileNotFoundError, FileExistsError):
        raise  # a configuration or data error concerns every run: stop
    except Exception as exc:  # noqa: BLE001 - e.g. FloatingPointError: record, go on
        error = " ".join(f"{type(exc).__name__}: {exc}".split())
        failed.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(failed, json.dumps({"error": error}) + "\n")
        return {"failed": error}
    failed.unlink(missing_ok=True)
    return result


def _finished(emit: Callable[[CompareEvent], None], name: str, seed: int, index: int,
              total: int, result: dict[str, Any]) -> None:
    if "failed" in result:
        emit(CompareEvent("failed", name, seed, index, total, error=result["failed"]))
    else:
        emit(CompareEvent("done", name, seed, index, total, result=result))


def _worker(config: dict[str, Any], splits: tuple[str, ...], events: Any,
            key: tuple[str, int]) -> dict[str, Any]:
    """A run in a worker process; its start and epoch-end events go to the ``events`` queue."""
    def forward(event: ProgressEvent) -> None:
        if event.kind in ("start", "epoch_end"):
            events.put((key, event))

    return _run(TrainConfig(**config), splits, forward)


def _one_thread() -> None:
    import torch

    torch.set_num_threads(1)


def _validation(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "summary.json"
    if not path.is_file():
        return {}
    s = json.loads(path.read_text())
    return {"best_epoch": s["best_epoch"], "best_val_psnr": s["best_val_psnr"],
            "best_val_ssim": s["best_val_ssim"], "seconds": s["seconds"]}


def _identity(grid: Grid, entry: GridEntry, values: dict[str, float]) -> str:
    """What makes a run: the resolved config without ``out`` and ``seed``."""
    config = asdict(grid.config(entry, 0, "", values))
    config["loss"] = re.sub(r"\s+", "", config["loss"])
    return json.dumps({k: v for k, v in config.items() if k not in ("out", "seed")}, sort_keys=True)


def _plan(grid: Grid, root: Path, values: dict[str, float], entries: list[GridEntry]
          ) -> list[tuple[GridEntry, int, TrainConfig, Path]]:
    """``(entry, seed, config, run_dir)``, seed-major; an entry whose resolved config equals
    an earlier entry's reuses that entry's run directory."""
    dirs: dict[str, Path] = {}
    for entry in grid.entries:  # in grid order, every resolvable entry claims a directory
        if all(p in values for p in entry.placeholders):
            dirs.setdefault(_identity(grid, entry, values), _run_dir(root, entry))
    plan = []
    for seed in grid.seeds:
        for entry in entries:
            run_dir = dirs[_identity(grid, entry, values)] / f"seed{seed}"
            plan.append((entry, seed, grid.config(entry, seed, run_dir, values), run_dir))
    return plan


def run_grid(
    grid: Grid,
    out: str | os.PathLike[str],
    *,
    progress: Callable[[CompareEvent], None] | None = None,
    jobs: int = 1,
    report_only: bool = False,
) -> dict[str, Any]:
    """Train + evaluate every configuration × seed of ``grid`` (resumable), then :func:`report`.

    Configurations with placeholders run after the ones their selection reads (validation
    metrics only). ``jobs``: runs trained at once in worker processes (one thread each;
    results identical to ``jobs=1`` on one thread). ``report_only``: train nothing, only
    rebuild the outputs from the per-run results already in ``out``.

    Raises:
        ValueError: ``jobs < 1``, two configurations with the same directory name, or (with
            ``report_only``) runs without results.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be >= 1, got {jobs}")
    slugs = [loss_slug(e.name) for e in grid.entries]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"configuration names must give distinct directories, got "
                         f"{[e.name for e in grid.entries]}")
    root = Path(out)
    emit = progress or (lambda event: None)
    values: dict[str, float] = {}
    first = [e for e in grid.entries if not e.placeholders]
    later = [e for e in grid.entries if e.placeholders]
    total = len(grid.entries) * len(grid.seeds)
    counter = [0]
    for phase in (first, later):
        if not phase:
            continue
        if phase is later:
            values = _select(grid, root)
        plan = _plan(grid, root, values, phase)
        if report_only:
            continue
        root.mkdir(parents=True, exist_ok=True)
        _execute(plan, grid.splits, jobs, emit, counter, total)
    return report(grid, root)


def _execute(plan: list[tuple[GridEntry, int, TrainConfig, Path]], splits: tuple[str, ...],
             jobs: int, emit: Callable[[CompareEvent], None], counter: list[int],
             total: int) -> None:
    todo = []
    claimed: set[Path] = set()
    for entry, seed, config, run_dir in plan:
        counter[0] += 1
        done = (run_dir / "eval" / "summary.json").is_file()
        if done or run_dir in claimed:  # finished, or the same run as an earlier entry
            emit(CompareEvent("run", entry.name, seed, counter[0], total, skipped=True))
            continue
        claimed.add(run_dir)
        todo.append((entry, seed, config, counter[0]))
    if jobs == 1 or len(todo) <= 1:
        for entry, seed, config, index in todo:
            emit(CompareEvent("run", entry.name, seed, index, total))
            result = _run(config, splits, lambda e, n=entry.name, k=seed, i=index: emit(
                CompareEvent("train", n, k, i, total, train_event=e)))
            _finished(emit, entry.name, seed, index, total, result)
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor, as_completed

    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        events = manager.Queue()
        stop = threading.Event()
        names = {(e.name, s): i for e, s, _, i in todo}

        def pump() -> None:
            while not stop.is_set() or not events.empty():
                try:
                    (name, seed), event = events.get(timeout=0.2)
                except queue.Empty:
                    continue
                emit(CompareEvent("train", name, seed, names[(name, seed)], total,
                                  train_event=event))

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        try:
            with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx,
                                     initializer=_one_thread) as pool:
                futures = {}
                for entry, seed, config, index in todo:
                    emit(CompareEvent("run", entry.name, seed, index, total))
                    fut = pool.submit(_worker, asdict(config), splits, events,
                                      (entry.name, seed))
                    futures[fut] = (entry, seed, index)
                for fut in as_completed(futures):
                    entry, seed, index = futures[fut]
                    _finished(emit, entry.name, seed, index, total, fut.result())
        finally:
            stop.set()
            thread.join()


def _select(grid: Grid, root: Path) -> dict[str, float]:
    """The placeholder values: each selection's choice on the validation results in ``root``."""
    values: dict[str, float] = {}
    for name, sel in grid.select.items():
        key = "best_val_psnr" if sel.metric == "val_psnr" else "best_val_ssim"
        validation = {}
        for entry_name in sel.among:
            run_root = _run_dir(root, grid.entry(entry_name))
            if any((run_root / f"seed{s}" / "failed.json").is_file() for s in grid.seeds):
                continue  # a configuration that broke on some seed is not a candidate
            vals = [_validation(run_root / f"seed{s}").get(key) for s in grid.seeds]
            validation[entry_name] = [v for v in vals if v is not None]
            if len(validation[entry_name]) != len(grid.seeds):
                raise ValueError(f"selection {name!r} needs the finished runs of {entry_name!r} "
                                 f"for every seed in {run_root}")
        if not validation:
            raise ValueError(f"selection {name!r}: every candidate failed")
        values[name] = Selection(name, {k: sel.among[k] for k in validation}, sel.metric).choose(
            validation)
    return values


def report(grid: Grid, out: str | os.PathLike[str]) -> dict[str, Any]:
    """Rebuild ``results.json``, the tables and figures from the per-run results in ``out``.

    Reads each run's ``eval/summary.json`` (test metrics), ``summary.json`` (validation of the
    selected checkpoint), ``log.csv`` (curves) and ``failed.json`` (a run that broke: listed
    as failed, left out of the statistics), nothing else.

    Raises:
        ValueError: some runs have neither results nor a failure record (the count and the
            first named).
    """
    root = Path(out)
    values = _select(grid, root) if grid.select else {}
    plan = _plan(grid, root, values, grid.entries)
    missing = [d for _, _, _, d in plan if not (d / "eval" / "summary.json").is_file()
               and not (d / "failed.json").is_file()]
    if missing:
        raise ValueError(f"{len(missing)} of {len(plan)} runs have no results "
                         f"(no eval/summary.json), e.g. {missing[0]}")
    runs: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for entry, seed, config, run_dir in plan:
        if not (run_dir / "eval" / "summary.json").is_file():
            error = json.loads((run_dir / "failed.json").read_text())["error"]
            failed.append({"name": entry.name, "seed": seed, "dir": str(run_dir), "error": error})
            continue
        result = json.loads((run_dir / "eval" / "summary.json").read_text())
        runs.append({"name": entry.name, "loss": config.loss, "seed": seed, "dir": str(run_dir),
                     "overrides": entry.overrides, "val": _validation(run_dir), **result})
    if not runs:
        raise ValueError(f"every run of {root} failed, e.g. {failed[0]['error']}")
    names = [e.name for e in grid.entries]
    pairs = {e.name: grid.pair_of(e) for e in grid.entries}
    summary = summarize_comparison(runs, names, grid.splits, pairs)
    rows = paired_rows(runs, grid)
    runs_of = {e.name: Path(d).parent.name for e, _, _, d in plan}
    for row in rows:
        if runs_of[row["name"]] != loss_slug(row["name"]):
            row["runs_of"] = runs_of[row["name"]]
    payload = {"base_config": asdict(grid.base), "losses": names, "seeds": grid.seeds,
               "splits": list(grid.splits), "baseline": grid.baseline, "selected": values,
               "configs": [{"name": e.name, "loss": grid.resolve_loss(e, values) if all(
                   p in values for p in e.placeholders) else e.loss, "overrides": e.overrides,
                   "vs": pairs[e.name], "group": e.group, "runs": runs_of[e.name]}
                  for e in grid.entries],
               "runs": runs, "failed": failed, "summary": summary, "paired": rows}
    root.mkdir(parents=True, exist_ok=True)
    atomic_write_text(root / "results.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(root / "table.md", comparison_table(summary, names, grid.splits, pairs)
                      + "".join(f"\nfailed: `{f['name']}` seed {f['seed']}: {f['error']}\n"
                                for f in failed))
    bar_plot(root / "comparison.png", summary,
             [n for n in names if n in summary[grid.splits[0]]], grid.splits)
    if rows:
        atomic_write_text(root / "paired.md", paired_markdown(rows, grid.splits))
        forest_plot(root / "forest.png", rows, grid.splits)
    curves_plot(root / "curves.png", runs, names, pairs)
    return payload


def paired_rows(runs: list[dict[str, Any]], grid: Grid) -> list[dict[str, Any]]:
    """Per configuration with a pair (:meth:`Grid.pair_of`): the paired PSNR and SSIM
    differences per split over the seeds both have
    (:func:`~msglance.mri.paired.paired_difference`)."""
    by = {(r["name"], r["seed"]): r for r in runs}
    rows = []
    for entry in grid.entries:
        vs = grid.pair_of(entry)
        seeds = [s for s in grid.seeds if (entry.name, s) in by and (vs, s) in by]
        if vs is None or not seeds:
            continue
        row: dict[str, Any] = {"name": entry.name, "loss": by[(entry.name, seeds[0])]["loss"],
                               "vs": vs, "seeds": seeds}
        for split in grid.splits:
            row[split] = {m: paired_difference(
                [by[(entry.name, s)][split]["recon"][m] for s in seeds],
                [by[(vs, s)][split]["recon"][m] for s in seeds]).as_dict()
                for m in ("psnr", "ssim")}
        rows.append(row)
    return rows


def _stats(values: list[float]) -> dict[str, float]:
    mean, std = mean_std(values)
    return {"mean": mean, "std": std, "n": len(values)}


def summarize_comparison(
    runs: list[dict[str, Any]], names: Sequence[str], splits: Sequence[str],
    pairs: dict[str, str | None] | None = None,
) -> dict[str, Any]:
    """``{split: {name: {"psnr", "ssim", "val_psnr", "gain_psnr", "gain_ssim": stats,
    "vs": pair, "zero_filled": {...}}, "zero_filled": ...}}`` (stats: mean, std, n).

    Runs are matched by ``run["name"]`` (``run["loss"]`` for results without names). Gains
    are paired by seed, ``metric(name, seed) − metric(pairs[name], seed)``; ``pairs``
    defaults to the first name for all. ``val_psnr`` is the validation PSNR of the selected
    checkpoint (``run["val"]["best_val_psnr"]``) where known. The split-level
    ``zero_filled`` is the first name's (each entry also carries its own: the input depends
    on the acceleration).
    """
    pairs = pairs if pairs is not None else {n: names[0] for n in names}

    def of(name: str) -> list[dict[str, Any]]:
        return [r for r in runs if r.get("name", r["loss"]) == name]

    out: dict[str, Any] = {}
    for split in splits:
        table: dict[str, Any] = {}
        for name in names:
            mine = of(name)
            if not mine:  # every run of it failed
                continue
            ref = {r["seed"]: r[split]["recon"] for r in of(pairs[name] or name)}
            vals = [r["val"]["best_val_psnr"] for r in mine if r.get("val")]
            table[name] = {
                "psnr": _stats([r[split]["recon"]["psnr"] for r in mine]),
                "ssim": _stats([r[split]["recon"]["ssim"] for r in mine]),
                "val_psnr": _stats(vals) if vals else None,
                "gain_psnr": _stats([r[split]["recon"]["psnr"] - ref[r["seed"]]["psnr"]
                                     for r in mine if r["seed"] in ref]),
                "gain_ssim": _stats([r[split]["recon"]["ssim"] - ref[r["seed"]]["ssim"]
                                     for r in mine if r["seed"] in ref]),
                "vs": pairs[name],
                "zero_filled": {k: mine[0][split]["zero_filled"][k] for k in ("psnr", "ssim")},
            }
        table["zero_filled"] = dict(next(iter(table.values()))["zero_filled"])
        out[split] = table
    return out


def comparison_table(
    summary: dict[str, Any], names: Sequence[str], splits: Sequence[str],
    pairs: dict[str, str | None] | None = None,
) -> str:
    """One Markdown table per split: name | PSNR | SSIM | val PSNR | vs | ΔPSNR | ΔSSIM |
    zero-filled | seeds (mean ± std over seeds; Δ paired by seed with the ``vs``
    configuration, the first by default; the zero-filled row is the first configuration's
    input)."""
    pairs = pairs if pairs is not None else {n: names[0] for n in names}
    header = ["configuration", "PSNR (dB)", "SSIM", "val PSNR (dB)", "vs", "ΔPSNR (dB)", "ΔSSIM",
              "zero-filled PSNR / SSIM", "seeds"]
    lines: list[str] = []
    for split in splits:
        table = summary[split]
        zf = table["zero_filled"]
        rows: list[list[object]] = [["zero-filled input", f"{zf['psnr']:.3f}", f"{zf['ssim']:.4f}",
                                     "", "", "", "", "", ""]]
        for name in names:
            if name not in table:
                rows.append([f"`{name}`", "failed", "", "", "", "", "", "", 0])
                continue
            e = table[name]
            val = e.get("val_psnr")
            vs = pairs[name] or name
            paired = vs != name
            rows.append([
                f"`{name}`", mean_std_text(e["psnr"]["mean"], e["psnr"]["std"], 3),
                mean_std_text(e["ssim"]["mean"], e["ssim"]["std"], 4),
                mean_std_text(val["mean"], val["std"], 3) if val else "",
                f"`{vs}`" if paired else "",
                mean_std_text(e["gain_psnr"]["mean"], e["gain_psnr"]["std"], 3, signed=True)
                if paired else "",
                mean_std_text(e["gain_ssim"]["mean"], e["gain_ssim"]["std"], 4, signed=True)
                if paired else "",
                f"{e['zero_filled']['psnr']:.3f} / {e['zero_filled']['ssim']:.4f}",
                e["psnr"]["n"],
            ])
        lines += [f"**{split}**", "", markdown_table(header, rows), ""]
    return "\n".join(lines)


def bar_plot(
    path: str | os.PathLike[str], summary: dict[str, Any], losses: Sequence[str],
    splits: Sequence[str],
) -> Path:
    """PSNR and SSIM bars (mean ± std over seeds) per loss, one column of panels per split."""
    fig, axes = subplots(2, len(splits), figsize=(4.2 * len(splits), 6), squeeze=False)
    labels = ["zero-filled", *losses]
    for c, split in enumerate(splits):
        table = summary[split]
        for r, metric in enumerate(("psnr", "ssim")):
            ax = axes[r, c]
            means = [table["zero_filled"][metric]] + [table[s][metric]["mean"] for s in losses]
            stds = [0.0] + [table[s][metric]["std"] for s in losses]
            ax.bar(range(len(labels)), means, yerr=stds, capsize=3,
                   color=["#999999"] + [f"C{i}" for i in range(len(losses))])
            lo = min(means) - (1.0 if metric == "psnr" else 0.02)
            ax.set_ylim(bottom=max(lo, 0.0))
            ax.set_xticks(range(len(labels)))
            ax.set_xticklabels(labels, rotation=30, ha="right", fontsize=7)
            ax.set_title(f"{split}: {metric.upper()}", fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)


def curves_plot(path: str | os.PathLike[str], runs: list[dict[str, Any]],
                names: Sequence[str], pairs: dict[str, str | None] | None = None) -> Path | None:
    """Validation PSNR per epoch per configuration, mean over its seeds' ``log.csv``; with
    ``pairs``, a second panel: the paired difference to the ``vs`` configuration (mean over
    the seeds both have). Returns ``None`` (nothing written) when no run has a log."""
    from msglance.mri.diagnostics import read_log

    curves: dict[str, dict[int, list[float]]] = {}
    for r in runs:
        name = r.get("name", r["loss"])
        if (Path(r["dir"]) / "log.csv").is_file():
            curves.setdefault(name, {})[r["seed"]] = [row["val_psnr"] for row in read_log(r["dir"])]
    if not curves:
        return None
    panels = 2 if pairs else 1
    fig, axes = subplots(1, panels, figsize=(7.0 * panels, 4.5), squeeze=False)
    for i, name in enumerate(n for n in names if n in curves):
        style = dict(color=f"C{i % 10}", ls=("-", "--", ":")[min(i // 10, 2)], lw=1.2, label=name)
        seeds = curves[name]
        n = min(len(c) for c in seeds.values())
        axes[0, 0].plot(np.arange(1, n + 1), np.mean([c[:n] for c in seeds.values()], axis=0), **style)
        vs = (pairs or {}).get(name)
        common = [k for k in seeds if vs in curves and k in curves[vs]]
        if panels == 2 and vs is not None and common:
            m = min(min(len(seeds[k]), len(curves[vs][k])) for k in common)
            diff = np.mean([np.subtract(seeds[k][:m], curves[vs][k][:m]) for k in common], axis=0)
            axes[0, 1].plot(np.arange(1, m + 1), diff, **{**style, "label": f"{name} − {vs}"})
    axes[0, 0].set_ylabel("validation PSNR (dB), mean over seeds", fontsize=8)
    if panels == 2:
        axes[0, 1].axhline(0.0, color="#777777", lw=0.8, ls="--")
        axes[0, 1].set_ylabel("paired validation ΔPSNR (dB), mean over seeds", fontsize=8)
    for ax in axes[0]:
        ax.set_xlabel("epoch", fontsize=8)
        ax.legend(fontsize=6, ncol=2)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)
