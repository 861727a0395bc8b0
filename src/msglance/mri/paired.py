"""Paired differences over seeds with a t interval, their table and forest plot.

For ``n`` paired seeds with ``d_k = a_k − b_k``: mean ``d̄``, sample standard deviation
``s_d`` (``n − 1``), and the two-sided ``confidence`` interval
``d̄ ± t(1 − (1 − confidence)/2, n − 1) · s_d / √n`` (Student t, ``scipy.stats.t``).
With one pair the interval is undefined (``nan``).
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from msglance.extras import require
from msglance.report import markdown_table, save_figure, subplots

__all__ = ["PairedDifference", "paired_difference", "paired_markdown", "forest_plot"]


@dataclass(frozen=True)
class PairedDifference:
    """``mean``, ``std`` (n − 1), ``n`` pairs, interval ``low``–``high`` at ``confidence``."""

    mean: float
    std: float
    n: int
    low: float
    high: float
    confidence: float = 0.95

    def as_dict(self) -> dict[str, float]:
        """The fields as a plain dict (JSON)."""
        return asdict(self)

    @property
    def verdict(self) -> str:
        """``"above 0"``, ``"below 0"`` or ``"not resolved"`` (the interval contains 0)."""
        if self.low > 0:
            return "above 0"
        if self.high < 0:
            return "below 0"
        return "not resolved"


def paired_difference(
    values: Sequence[float], reference: Sequence[float], confidence: float = 0.95
) -> PairedDifference:
    """Mean paired difference ``values − reference`` and its t interval (see module doc).

    Raises:
        ValueError: different lengths, no pairs, or ``confidence`` outside (0, 1).

    Examples:
        >>> d = paired_difference([26.2, 26.4, 26.3], [26.0, 26.1, 26.3])  # d = .2 .3 0
        >>> round(d.mean, 4), round(d.std, 4), d.n
        (0.1667, 0.1528, 3)
        >>> round(d.low, 3), round(d.high, 3)   # 0.1667 ± 4.3027·0.1528/√3
        (-0.213, 0.546)
        >>> d.verdict
        'not resolved'
    """
    stats = require("scipy.stats", "data")

    a = np.asarray(values, dtype=np.float64)
    b = np.asarray(reference, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(f"values and reference must be two 1-D sequences of the same length, "
                         f"got {a.shape} and {b.shape}")
    if a.size == 0:
        raise ValueError("paired_difference needs at least one pair")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}")
    d = a - b
    n = int(d.size)
    mean = float(d.mean())
    if n < 2:
        return PairedDifference(mean, 0.0, n, math.nan, math.nan, confidence)
    std = float(d.std(ddof=1))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1)) * std / math.sqrt(n)
    return PairedDifference(mean, std, n, mean - half, mean + half, confidence)


def paired_markdown(rows: Sequence[dict[str, Any]], splits: Sequence[str]) -> str:
    """One table per split: config | loss | vs | ΔPSNR [95 % CI] | ΔSSIM [95 % CI] | pairs.

    ``rows``: ``{"name", "loss", "vs", split: {"psnr": PairedDifference dict, "ssim": ...}}``
    and optionally ``"runs_of"`` (the configuration whose runs these are, when reused).

    Examples:
        >>> d = paired_difference([26.2, 26.4, 26.3], [26.0, 26.1, 26.3]).as_dict()
        >>> row = {"name": "g", "loss": "l1+0.01*global", "vs": "l1", "test": {"psnr": d, "ssim": d}}
        >>> print(paired_markdown([row], ["test"]).splitlines()[4])
        | `g` | `l1+0.01*global` | `l1` | +0.167 [-0.213, +0.546] | +0.1667 [-0.2128, +0.5461] | 3 |
    """
    def cell(d: dict[str, float], digits: int) -> str:
        if math.isnan(d["low"]):
            return f"{d['mean']:+.{digits}f}"
        return f"{d['mean']:+.{digits}f} [{d['low']:+.{digits}f}, {d['high']:+.{digits}f}]"

    lines: list[str] = []
    for split in splits:
        conf = next((r[split]["psnr"]["confidence"] for r in rows if split in r), 0.95)
        pct = f"{100 * conf:g} %"
        header = ["configuration", "loss", "vs", f"ΔPSNR (dB) [{pct}]", f"ΔSSIM [{pct}]", "pairs"]
        body = []
        for r in rows:
            if split not in r:
                continue
            p, s = r[split]["psnr"], r[split]["ssim"]
            name = f"`{r['name']}`" + (f" (runs of `{r['runs_of']}`)" if r.get("runs_of") else "")
            body.append([name, f"`{r['loss']}`", f"`{r['vs']}`", cell(p, 3), cell(s, 4), p["n"]])
        lines += [f"**{split}** (paired by seed; mean [{pct} t interval])", "",
                  markdown_table(header, body), ""]
    return "\n".join(lines)


def forest_plot(
    path: str | os.PathLike[str], rows: Sequence[dict[str, Any]], splits: Sequence[str]
) -> Path:
    """Paired ΔPSNR and ΔSSIM (mean and interval) per configuration, one column per split."""
    labels = [f"{r['name']} vs {r['vs']}" for r in rows]
    height = 1.2 + 0.28 * max(len(rows), 1)
    fig, axes = subplots(2, len(splits), figsize=(4.6 * len(splits), 2 * height), squeeze=False)
    y = np.arange(len(rows))[::-1]
    for c, split in enumerate(splits):
        for r_i, metric in enumerate(("psnr", "ssim")):
            ax = axes[r_i, c]
            for yi, row in zip(y, rows):
                d = row[split][metric]
                color = "C2" if d["low"] > 0 else "C3" if d["high"] < 0 else "C0"
                if not math.isnan(d["low"]):
                    ax.plot([d["low"], d["high"]], [yi, yi], color=color, lw=1.5)
                ax.plot([d["mean"]], [yi], "o", color=color, ms=4)
            ax.axvline(0.0, color="#777777", lw=0.8, ls="--")
            ax.set_yticks(y)
            ax.set_yticklabels(labels if c == 0 else [""] * len(labels), fontsize=7)
            unit = " (dB)" if metric == "psnr" else ""
            ax.set_title(f"{split}: Δ{metric.upper()}{unit}, 95 % t interval", fontsize=9)
            ax.tick_params(axis="x", labelsize=7)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)
