"""Aggregate INR study runs into per-(dataset, loss) statistics, a Markdown table and the
study's figures (:func:`write_study_report`).

Statistics are over runs (every image and seed of a dataset). The gain over the reference
loss (the first one) is *paired*: for each (image, seed) that both losses finished, the
PSNR difference; the table reports its mean ± std and how many pairs the loss won. The
step-time overhead is the ratio of mean seconds per step, minus one.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from msglance.inr.figures import load_png, plot_fit_grid, plot_psnr_curves
from msglance.inr.study import RunRecord, fit_path, read_histories, read_runs, target_path
from msglance.report import markdown_table
from msglance.report import mean_std, mean_std_text

__all__ = ["LossSummary", "StudyReport", "study_table", "summarize_runs", "write_study_report"]


@dataclass(frozen=True)
class LossSummary:
    """Aggregate of one loss on one dataset.

    Attributes:
        dataset, loss: what was aggregated.
        runs: runs recorded; ``nonfinite``: of those, runs whose loss went NaN/inf.
        psnr_mean, psnr_std, ssim_mean, ssim_std: over finite runs (population std; NaN
            when there are none).
        gain_mean, gain_std: paired PSNR difference to the reference loss (dB), NaN when no
            pair exists; 0 for the reference itself.
        wins, pairs: pairs where this loss's PSNR is higher than the reference's / pairs.
        seconds_per_step: mean over runs.
        overhead: ``seconds_per_step / reference seconds_per_step - 1`` (NaN without a
            reference).
    """

    dataset: str
    loss: str
    runs: int
    nonfinite: int
    psnr_mean: float
    psnr_std: float
    ssim_mean: float
    ssim_std: float
    gain_mean: float
    gain_std: float
    wins: int
    pairs: int
    seconds_per_step: float
    overhead: float


def summarize_runs(records: Sequence[RunRecord], losses: Sequence[str] | None = None) -> list[LossSummary]:
    """Per-(dataset, loss) summaries, datasets in order of appearance, losses in ``losses``
    order (default: order of appearance); the first loss is the reference.

    Losses named in ``losses`` but absent from ``records`` are left out.
    """
    order = list(losses) if losses is not None else list(dict.fromkeys(r.loss for r in records))
    if not order:
        return []
    ref = order[0]
    datasets = list(dict.fromkeys(r.dataset for r in records))
    out: list[LossSummary] = []
    for ds in datasets:
        rows = [r for r in records if r.dataset == ds]
        ref_psnr = {(r.image, r.seed): r.psnr for r in rows if r.loss == ref}
        ref_time = [r.seconds_per_step for r in rows if r.loss == ref]
        ref_t = float(np.mean(ref_time)) if ref_time else math.nan
        for spec in order:
            mine = [r for r in rows if r.loss == spec]
            if not mine:
                continue
            finite = [r for r in mine if r.first_nonfinite_step is None and math.isfinite(r.psnr)]
            pm, ps = mean_std([r.psnr for r in finite], ddof=0)
            sm, ss = mean_std([r.ssim for r in finite], ddof=0)
            diffs = [
                r.psnr - ref_psnr[(r.image, r.seed)]
                for r in mine
                if (r.image, r.seed) in ref_psnr
                and math.isfinite(r.psnr) and math.isfinite(ref_psnr[(r.image, r.seed)])
            ]
            gm, gs = mean_std(diffs, ddof=0)
            t = float(np.mean([r.seconds_per_step for r in mine]))
            out.append(LossSummary(
                dataset=ds, loss=spec, runs=len(mine), nonfinite=len(mine) - len(finite),
                psnr_mean=pm, psnr_std=ps, ssim_mean=sm, ssim_std=ss,
                gain_mean=gm, gain_std=gs, wins=sum(d > 0 for d in diffs), pairs=len(diffs),
                seconds_per_step=t,
                overhead=t / ref_t - 1.0 if ref_t and math.isfinite(ref_t) else math.nan,
            ))
    return out


def study_table(summaries: Sequence[LossSummary]) -> str:
    """A GitHub Markdown table of :func:`summarize_runs`'s output.

    Columns: dataset, loss, runs, PSNR (dB), SSIM, ΔPSNR vs the reference (paired mean ±
    std), wins over the reference, ms/step, step time vs the reference, non-finite runs.
    The best mean PSNR and SSIM of each dataset are in bold.
    """
    if not summaries:
        return "(no runs)\n"
    ref = summaries[0].loss
    header = ["dataset", "loss", "runs", "PSNR (dB)", "SSIM", f"ΔPSNR vs `{ref}` (dB)", "wins",
              "ms/step", f"step time vs `{ref}`", "non-finite"]
    rows: list[list[object]] = []
    best_p: dict[str, float] = {}
    best_s: dict[str, float] = {}
    for s in summaries:
        if math.isfinite(s.psnr_mean):
            best_p[s.dataset] = max(best_p.get(s.dataset, -math.inf), s.psnr_mean)
        if math.isfinite(s.ssim_mean):
            best_s[s.dataset] = max(best_s.get(s.dataset, -math.inf), s.ssim_mean)
    for s in summaries:
        p = mean_std_text(s.psnr_mean, s.psnr_std, 2)
        q = mean_std_text(s.ssim_mean, s.ssim_std, 4)
        if math.isfinite(s.psnr_mean) and round(s.psnr_mean, 2) == round(best_p[s.dataset], 2):
            p = f"**{p}**"
        if math.isfinite(s.ssim_mean) and round(s.ssim_mean, 4) == round(best_s[s.dataset], 4):
            q = f"**{q}**"
        if s.loss == ref:
            gain, wins, over = "(reference)", "", "(reference)"
        else:
            gain = mean_std_text(s.gain_mean, s.gain_std, 2, signed=True)
            wins = f"{s.wins}/{s.pairs}"
            over = "n/a" if not math.isfinite(s.overhead) else f"{100 * s.overhead:+.0f}%"
        rows.append([s.dataset, f"`{s.loss}`", s.runs, p, q, gain, wins,
                     f"{1000 * s.seconds_per_step:.1f}", over, s.nonfinite])
    return markdown_table(header, rows) + "\n"


@dataclass(frozen=True)
class StudyReport:
    """What :func:`write_study_report` produced."""

    summaries: list[LossSummary]
    table: str
    table_path: Path
    summary_path: Path
    curve_path: Path | None
    grid_path: Path | None


def write_study_report(
    out_dir: str | os.PathLike[str],
    losses: Sequence[str],
    images: Sequence[str] | None = None,
    grid_images: int = 3,
    title: str = "",
) -> StudyReport:
    """Aggregate a study folder written by :func:`msglance.inr.study.run_study`.

    Writes ``table.md`` (see :func:`study_table`), ``summary.json``,
    ``psnr_vs_step.png`` (mean PSNR over images and seeds per loss) and ``fits_grid.png``
    (targets, fits and error maps of the first ``grid_images`` images at the lowest seed).

    Args:
        out_dir: the study folder.
        losses: canonical loss specs to report, in order; the first is the reference.
        images: restrict to these image names (default: every image in the CSV).
        grid_images: images in the figure grid (0 for none).
        title: prefix of the figure titles.

    Raises:
        ValueError: the folder holds no runs of these losses and images.
    """
    out = Path(out_dir)
    wanted = set(losses)
    keep = set(images) if images is not None else None
    records = [r for r in read_runs(out)
               if r.loss in wanted and (keep is None or r.image in keep)]
    if not records:
        raise ValueError(f"{out}: no finished runs of losses {list(losses)} to report")
    summaries = summarize_runs(records, losses)
    table = study_table(summaries)
    table_path = out / "table.md"
    table_path.write_text(table)
    summary_path = out / "summary.json"
    summary_path.write_text(json.dumps(
        [{k: (v if not isinstance(v, float) or math.isfinite(v) else None)
          for k, v in asdict(s).items()} for s in summaries], indent=1))

    hists = [h for h in read_histories(out)
             if h.get("loss") in wanted and (keep is None or h.get("image") in keep)]
    curve_path = plot_psnr_curves(hists, losses, out / "psnr_vs_step.png", title) if hists else None

    grid_path = None
    names = list(dict.fromkeys(r.image for r in records))
    if images is not None:
        names = [n for n in images if n in set(names)]
    names = names[:max(grid_images, 0)]
    if names:
        seed = min(r.seed for r in records)
        targets, fits, scores = {}, {}, {}
        for name in names:
            tpath = target_path(out, name)
            if not tpath.exists():
                continue
            targets[name] = load_png(tpath)
            for r in records:
                if r.image == name and r.seed == seed:
                    fpath = fit_path(out, name, r.loss, seed)
                    if fpath.exists():
                        fits[(name, r.loss)] = load_png(fpath)
                        scores[(name, r.loss)] = r.psnr
        if targets:
            grid_path = plot_fit_grid(targets, fits, losses, out / "fits_grid.png", scores)
    return StudyReport(summaries, table, table_path, summary_path, curve_path, grid_path)
