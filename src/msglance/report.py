"""Tables (Markdown, CSV, JSON) and figures (matplotlib) for evaluations.

Used by ``msglance eval``: :func:`write_per_item_csv`, :func:`write_summary_json`,
:func:`summary_markdown`, :func:`plot_metrics` (one panel per metric: every item's value,
with the mean) and :func:`plot_item_strip` (reference | prediction | absolute error map),
and :func:`write_report` which ties them into ``report.md``.

Figures are ``matplotlib.figure.Figure`` objects made by :func:`subplots` and written by
:func:`save_figure`: no pyplot state and no global backend change, so importing or using
msglance in a notebook leaves the notebook's backend alone.

Examples:
    >>> from msglance.report import arrow, format_mean_std
    >>> arrow(True), arrow(False)
    ('↑', '↓')
    >>> format_mean_std({"mean": 0.91234, "std": 0.01})
    '0.9123 ± 0.0100'
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from msglance.atomic import atomic_write_bytes, atomic_write_text
from msglance.extras import require

__all__ = [
    "arrow",
    "format_mean_std",
    "markdown_table",
    "mean_std",
    "mean_std_text",
    "plot_item_strip",
    "plot_metrics",
    "save_figure",
    "subplots",
    "summary_markdown",
    "worst_items",
    "write_per_item_csv",
    "write_report",
    "write_summary_json",
]


def subplots(rows: int, cols: int, figsize: tuple[float, float], **kwargs: Any) -> tuple[Any, Any]:
    """A new ``matplotlib.figure.Figure`` and its ``rows x cols`` axes.

    Like ``pyplot.subplots`` but without pyplot: the figure belongs to no backend and no
    global figure list (nothing to close, no backend switched). ``kwargs`` go to
    ``Figure.subplots`` (``squeeze``, ``sharex``, ...).

    Raises:
        ImportError: matplotlib is missing (``pip install 'msglance[data]'``).

    Examples:
        >>> from msglance.report import subplots
        >>> fig, axes = subplots(1, 2, figsize=(4, 2))
        >>> type(fig).__name__, len(axes)
        ('Figure', 2)
    """
    figure = require("matplotlib.figure", "data")
    fig = figure.Figure(figsize=figsize)
    return fig, fig.subplots(rows, cols, **kwargs)


def save_figure(fig: Any, path: str | os.PathLike[str], dpi: int = 110, **savefig_kw: Any) -> Path:
    """Write ``fig`` to ``path`` (parent folders created; temp file + rename, so a reader
    never sees half a PNG) and, if it is a pyplot figure, close it. Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    savefig_kw.setdefault("format", path.suffix.lstrip(".") or "png")
    try:
        fig.savefig(buffer, dpi=dpi, **savefig_kw)
    finally:
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:  # a figure from pyplot.figure() stays open until closed
            pyplot.close(fig)
    atomic_write_bytes(path, buffer.getvalue())
    return path


def arrow(higher_is_better: bool) -> str:
    """``↑`` when higher is better, ``↓`` otherwise."""
    return "↑" if higher_is_better else "↓"


def mean_std(values: Sequence[float], ddof: int = 1) -> tuple[float, float]:
    """Mean and standard deviation of the finite ``values`` (non-finite ones are left out).

    ``std`` uses ``ddof`` (1: sample std, 0 for a single value; 0: population std).
    Returns ``(nan, nan)`` without finite values.

    Examples:
        >>> from msglance.report import mean_std
        >>> mean_std([1.0, 2.0, 3.0, float("inf")])
        (2.0, 1.0)
        >>> mean_std([1.0, 2.0, 3.0], ddof=0)[1] == (2 / 3) ** 0.5
        True
    """
    vals = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if vals.size == 0:
        return math.nan, math.nan
    std = float(vals.std(ddof=ddof)) if vals.size > ddof else 0.0
    return float(vals.mean()), std


def mean_std_text(mean: float, std: float, digits: int = 4, signed: bool = False) -> str:
    """``"0.9123 ± 0.0100"`` (``"+0.91 ± 0.01"`` when ``signed``); ``"n/a"`` for a NaN mean.

    Examples:
        >>> from msglance.report import mean_std_text
        >>> mean_std_text(24.1666, 3.4721, 2), mean_std_text(0.1666, 0.85, 2, signed=True)
        ('24.17 ± 3.47', '+0.17 ± 0.85')
    """
    if mean is None or not math.isfinite(mean):
        return "n/a"
    sign = "+" if signed else ""
    return f"{mean:{sign}.{digits}f} ± {std:.{digits}f}"


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """A GitHub Markdown table (no trailing newline).

    Examples:
        >>> from msglance.report import markdown_table
        >>> print(markdown_table(["a", "b"], [[1, "x"]]))
        | a | b |
        |---|---|
        | 1 | x |
    """
    lines = ["| " + " | ".join(str(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def format_mean_std(entry: dict, digits: int = 4) -> str:
    """``"0.9123 ± 0.0100"`` from a summary entry (``"n/a"`` without finite values)."""
    text = mean_std_text(entry.get("mean"), entry.get("std"), digits)
    if text == "n/a":
        return text
    if entry.get("n_infinite"):
        text += f" (+{entry['n_infinite']} inf)"
    return text


def write_per_item_csv(path: Path, items: Sequence, metric_names: Sequence[str]) -> Path:
    """One row per item: name, reference, prediction, data range, each metric."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["item", "reference", "prediction", "data_range", *metric_names])
        for it in items:
            writer.writerow([
                it.name, it.ref, it.pred, f"{it.data_range:.6g}",
                *(_fmt(it.values.get(m, math.nan)) for m in metric_names),
            ])
    return path


def _fmt(v: float) -> str:
    return "nan" if v is None or (isinstance(v, float) and math.isnan(v)) else repr(float(v))


def write_summary_json(path: Path, summary: dict) -> Path:
    """The summary dictionary as indented JSON."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    return path


def summary_markdown(summary: dict) -> str:
    """A Markdown table: metric, direction, mean ± std, n, convention."""
    rows = [
        [name, arrow(entry["higher_is_better"]), format_mean_std(entry), entry["n"],
         entry["convention"]]
        for name, entry in summary["metrics"].items()
    ]
    return markdown_table(["metric", "better", "mean ± std", "n", "convention"], rows)


def worst_items(items: Sequence, metric: str, higher_is_better: bool, count: int) -> list:
    """The ``count`` items with the worst finite value of ``metric``."""
    finite = [it for it in items if math.isfinite(it.values.get(metric, math.nan))]
    finite.sort(key=lambda it: it.values[metric], reverse=not higher_is_better)
    return finite[:count]


def plot_metrics(path: Path, items: Sequence, summary: dict) -> Path:
    """One panel per metric: each item's value (dots, in item order) and the mean (line)."""
    names = list(summary["metrics"])
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = subplots(rows, cols, figsize=(4.2 * cols, 3.0 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        vals = np.array([it.values.get(name, math.nan) for it in items], dtype=float)
        idx = np.arange(len(vals))
        ok = np.isfinite(vals)
        ax.plot(idx[ok], vals[ok], "o", ms=3, alpha=0.8)
        entry = summary["metrics"][name]
        if entry["mean"] is not None:
            ax.axhline(entry["mean"], color="C3", lw=1, label=f"mean {entry['mean']:.4g}")
            ax.legend(fontsize=7, loc="best")
        ax.set_title(f"{name} ({arrow(entry['higher_is_better'])} better)", fontsize=9)
        ax.set_xlabel("item", fontsize=8)
        ax.xaxis.set_major_locator(require("matplotlib.ticker", "data").MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.tight_layout()
    return save_figure(fig, path, dpi=110)


def _display(a: np.ndarray) -> np.ndarray:
    """(C, H, W) -> (H, W) or (H, W, 3) for imshow; 3-D volumes show their middle slice."""
    if a.ndim == 4:  # (C, D, H, W)
        a = a[:, a.shape[1] // 2]
    return np.moveaxis(a, 0, -1) if a.shape[0] == 3 else a[0]


def plot_item_strip(
    path: Path, ref: np.ndarray, pred: np.ndarray, title: str, data_range: float
) -> Path:
    """Reference | prediction | absolute error map (``(C, *spatial)`` arrays)."""
    r, p = _display(np.asarray(ref, dtype=float)), _display(np.asarray(pred, dtype=float))
    err = np.abs(r - p)
    if err.ndim == 3:
        err = err.mean(axis=-1)
    lo = min(r.min(), p.min(), 0.0)
    hi = max(r.max(), p.max(), data_range) if data_range else max(r.max(), p.max())
    fig, axes = subplots(1, 3, figsize=(10, 3.6))
    for ax, img, label in ((axes[0], r, "reference"), (axes[1], p, "prediction")):
        shown = np.clip((img - lo) / (hi - lo), 0, 1) if hi > lo else img
        ax.imshow(shown, cmap="gray" if shown.ndim == 2 else None, vmin=0, vmax=1)
        ax.set_title(label, fontsize=9)
        ax.axis("off")
    im = axes[2].imshow(err, cmap="magma", vmin=0, vmax=max(err.max(), 1e-12))
    axes[2].set_title("|error|", fontsize=9)
    axes[2].axis("off")
    fig.colorbar(im, ax=axes[2], fraction=0.046, pad=0.04)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return save_figure(fig, path, dpi=100)


def write_report(
    out: Path,
    summary: dict,
    metrics_plot: Path | None,
    strips: Sequence[tuple[str, str, float, Path]],
    command: str = "",
) -> Path:
    """``report.md``: the conventions, the summary table, the plot and the worst items.

    ``strips`` holds ``(item name, metric, value, png path)`` tuples.
    """
    out = Path(out)
    lines = ["# msglance evaluation report", ""]
    if command:
        lines += ["Command:", "", f"    {command}", ""]
    lines += [
        f"- pairs: {summary['pairs']}, items: {summary['items']}",
        f"- {summary['data_range']}",
        f"- normalization: {summary['normalize']}; crop: {summary['crop']}; "
        f"mask: {summary['mask']}; volumes: {summary['volume_mode']}",
        "",
        summary_markdown(summary),
        "",
    ]
    if summary["failures"] or summary["unmatched_reference"] or summary["unmatched_prediction"]:
        lines += ["## Problems", ""]
        lines += [f"- failed: `{f['name']}`: {f['message']}" for f in summary["failures"]]
        lines += [f"- no prediction for `{n}`" for n in summary["unmatched_reference"]]
        lines += [f"- no reference for `{n}`" for n in summary["unmatched_prediction"]]
        lines.append("")
    if metrics_plot is not None:
        lines += ["## Per-item values", "", f"![per-metric values]({metrics_plot.name})", ""]
    if strips:
        lines += ["## Worst items (reference | prediction | error)", ""]
        for name, metric, value, png in strips:
            lines += [f"**{name}** — {metric} = {value:.4g}", "",
                      f"![{name}]({png.relative_to(out).as_posix()})", ""]
    path = out / "report.md"
    atomic_write_text(path, "\n".join(lines))
    return path
