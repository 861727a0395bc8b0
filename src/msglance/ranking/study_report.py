"""Markdown tables and figures of a study's ``per_run.csv`` (mean ± std over seeds).

:func:`write_report` writes ``OUT/summary.md`` (one table per evaluation present), the
seen/unseen bar chart of D and the keep-ratio curves of C, and returns the Markdown.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from msglance.ranking.study import read_rows, summarize_rows

__all__ = ["markdown_tables", "write_report"]


def _fmt(entry: tuple[float, float, int] | None, digits: int = 1) -> str:
    if entry is None:
        return "–"
    mean, std, n = entry
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if n > 1 else f"{mean:.{digits}f}"


def _seeds(rows: list[dict[str, Any]], ev: str, ds: str) -> int:
    return len({r["seed"] for r in rows if r["evaluation"] == ev and r["dataset"] == ds})


def _order(selectors: set[str]) -> list[str]:
    from msglance.ranking.selectors import METHODS

    known = [m for m in (*METHODS, "all") if m in selectors]
    return known + sorted(selectors - set(known))


def markdown_tables(rows: list[dict[str, Any]], headline_keep: float = 0.125,
                    seen_classes: int = 5) -> str:
    """All tables as Markdown (sections A–E for whatever the rows hold).

    Examples:
        >>> rows = [dict(evaluation="CD", dataset="digits", selector="ltrp", keep=0.125, seed=0,
        ...              metric=m, value=v) for m, v in (("acc_seen", 90.0), ("acc_unseen", 80.0))]
        >>> "| ltrp | 90.0 | 80.0 | 10.0 |" in markdown_tables(rows)
        True
    """
    s = summarize_rows(rows)
    parts: list[str] = []
    sel = lambda ev, ds: {k[2] for k in s if k[0] == ev and k[1] == ds}  # noqa: E731

    # D: headline
    d = [m for m in _order(sel("CD", "digits")) if ("CD", "digits", m, headline_keep, "acc_seen") in s]
    if d:
        n = _seeds(rows, "CD", "digits")
        parts.append(f"### D. Seen vs unseen digits at {100 * headline_keep:g} % keep "
                     f"(selectors trained on classes 0–{seen_classes - 1}; {n} seed(s))\n")
        parts.append("| selector | seen acc (%) | unseen acc (%) | gap (points) | logreg seen | logreg unseen |")
        parts.append("|---|---:|---:|---:|---:|---:|")
        for m in d:
            g = lambda metric: s.get(("CD", "digits", m, headline_keep, metric))  # noqa: E731
            gap = None
            if g("acc_seen") and g("acc_unseen"):
                gap_vals = [r["value"] for r in rows if r["evaluation"] == "CD" and r["selector"] == m
                            and r["dataset"] == "digits" and r["keep"] == headline_keep
                            and r["metric"] == "acc_seen"]
                un_vals = [r["value"] for r in rows if r["evaluation"] == "CD" and r["selector"] == m
                           and r["dataset"] == "digits" and r["keep"] == headline_keep
                           and r["metric"] == "acc_unseen"]
                diffs = [a - b for a, b in zip(gap_vals, un_vals)]
                gap = summarize_rows([dict(evaluation="x", dataset="x", selector="x", keep=0.0, metric="x",
                                      value=v, seed=i) for i, v in enumerate(diffs)])[("x", "x", "x", 0.0, "x")]
            parts.append(f"| {m} | {_fmt(g('acc_seen'))} | {_fmt(g('acc_unseen'))} | {_fmt(gap)} | "
                         f"{_fmt(g('logreg_acc_seen'))} | {_fmt(g('logreg_acc_unseen'))} |")
        parts.append("")

    # C: accuracy vs keep
    for ds in ("digits", "lfw"):
        keeps = sorted({k[3] for k in s if k[0] == "CD" and k[1] == ds and k[3] < 1.0})
        if not keeps:
            continue
        n = _seeds(rows, "CD", ds)
        what = "10-way digits" if ds == "digits" else "LFW face vs non-face"
        parts.append(f"### C. Classification from kept tokens: {what} ({n} seed(s); token ViT, "
                     "logistic regression in brackets)\n")
        parts.append("| selector | " + " | ".join(f"{100 * k:g} % keep" for k in keeps) + " |")
        parts.append("|---|" + "---:|" * len(keeps))
        for m in _order(sel("CD", ds)):
            if m == "all":
                continue
            cells = [f"{_fmt(s.get(('CD', ds, m, k, 'acc_all')))} "
                     f"({_fmt(s.get(('CD', ds, m, k, 'logreg_acc_all')))})" for k in keeps]
            parts.append(f"| {m} | " + " | ".join(cells) + " |")
        full = s.get(("CD", ds, "all", 1.0, "acc_all"))
        if full:
            parts.append(f"| all tokens | {_fmt(full)} ({_fmt(s.get(('CD', ds, 'all', 1.0, 'logreg_acc_all')))}) |"
                         + " |" * (len(keeps) - 1))
        parts.append("")

    # A: fidelity
    a = sorted({k[1] for k in s if k[0] == "A"})
    if a:
        parts.append("### A. Ranking fidelity on held-out images, fresh masks (ranker vs pseudo-scores)\n")
        metrics = sorted({k[4].split(":", 1)[1] for k in s if k[0] == "A"})
        parts.append("| data | scorer | " + " | ".join(metrics) + " |")
        parts.append("|---|---|" + "---:|" * len(metrics))
        for ds in a:
            for scorer in ("ltrp", "random"):
                cells = [_fmt(s.get(("A", ds, "ltrp", headline_keep, f"{scorer}:{m}")), 3) for m in metrics]
                parts.append(f"| {ds} | {scorer} | " + " | ".join(cells) + " |")
        parts.append("")

    # B: reconstruction
    for ds in sorted({k[1] for k in s if k[0] == "B"}):
        keeps = sorted({k[3] for k in s if k[0] == "B" and k[1] == ds})
        n = _seeds(rows, "B", ds)
        parts.append(f"### B. Reconstruction MSE of the dropped patches, {ds} ({n} seed(s); "
                     "judge MAE / biharmonic inpainting; lower is better)\n")
        parts.append("| selector | " + " | ".join(f"{100 * k:g} % keep" for k in keeps) + " |")
        parts.append("|---|" + "---:|" * len(keeps))
        for m in _order(sel("B", ds)):
            cells = [f"{_fmt(s.get(('B', ds, m, k, 'judge_mae_mse')), 4)} / "
                     f"{_fmt(s.get(('B', ds, m, k, 'biharmonic_mse')), 4)}" for k in keeps]
            parts.append(f"| {m} | " + " | ".join(cells) + " |")
        parts.append("")

    # E: sparsification
    e = sorted({k[3] for k in s if k[0] == "E"})
    if e:
        parts.append("### E. Token sparsification on digits (ViT on kept tokens; MACs per image)\n")
        parts.append("| keep | tokens | MACs ViT (k tokens) | MACs ranker | MACs ViT (all) | "
                     "img/s kept | img/s kept + ranker | img/s all | LTRP acc (%) | all-token acc (%) |")
        parts.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        full = s.get(("CD", "digits", "all", 1.0, "acc_all"))
        for k in e:
            g = lambda metric: s.get(("E", "digits", "ltrp", k, metric))  # noqa: E731
            macs = lambda metric: f"{g(metric)[0] / 1e6:.2f} M" if g(metric) else "–"  # noqa: E731
            parts.append(f"| {100 * k:g} % | {g('tokens')[0]:.0f} | {macs('macs_classifier')} | "
                         f"{macs('macs_ranker')} | {macs('macs_classifier_all_tokens')} | "
                         f"{_fmt(g('images_per_s_kept_tokens'), 0)} | {_fmt(g('images_per_s_with_ranker'), 0)} | "
                         f"{_fmt(g('images_per_s_all_tokens'), 0)} | "
                         f"{_fmt(s.get(('CD', 'digits', 'ltrp', k, 'acc_all')))} | {_fmt(full)} |")
        parts.append("")
    return "\n".join(parts)


def write_report(out: str | os.PathLike[str], headline_keep: float | None = None,
                 seen_classes: int | None = None, title: str = "") -> str:
    """Write ``OUT/summary.md`` and the figures; return the Markdown.

    ``headline_keep`` and ``seen_classes`` default to the study's (``OUT/config.json``).
    """
    import json

    from msglance.atomic import atomic_write_text
    from msglance.ranking.figures import plot_seen_unseen

    out = Path(out)
    saved = json.loads((out / "config.json").read_text()) if (out / "config.json").is_file() else {}
    headline_keep = float(saved.get("headline_keep", 0.125) if headline_keep is None else headline_keep)
    seen_classes = int(saved.get("seen_classes", 5) if seen_classes is None else seen_classes)
    rows = read_rows(out)
    text = (f"## {title}\n\n" if title else "") + markdown_tables(rows, headline_keep, seen_classes)
    s = summarize_rows(rows)
    d = [m for m in _order({k[2] for k in s if k[0] == "CD" and k[1] == "digits"})
         if ("CD", "digits", m, headline_keep, "acc_seen") in s]
    if d:
        seen = [s[("CD", "digits", m, headline_keep, "acc_seen")][:2] for m in d]
        unseen = [s[("CD", "digits", m, headline_keep, "acc_unseen")][:2] for m in d]
        plot_seen_unseen(out / "seen_unseen.png", d, seen, unseen,
                         title=f"digits, {100 * headline_keep:g} % keep, selectors trained on 0-{seen_classes - 1}")
        text += "\n![seen vs unseen](seen_unseen.png)\n"
    atomic_write_text(out / "summary.md", text)
    return text
