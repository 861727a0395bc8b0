"""Compare loss specs: train and evaluate each ``(loss, seed)`` with identical data and masks.

Every run shares the base :class:`~msglance.mri.config.TrainConfig` (same data, masks —
``mask_seed`` is fixed —, epochs and network) and differs only in ``loss`` and ``seed``.
Runs live in ``OUT/<loss slug>/seed<k>/``; a run whose ``eval/summary.json`` exists is
skipped and an interrupted one is resumed from its ``last.pt``, so ``compare`` can simply be
started again. Outputs: ``OUT/results.json`` (every run), ``OUT/table.md`` (mean ± std over
seeds per loss and split, gain over the first loss) and ``OUT/comparison.png`` (bar plot).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from msglance.atomic import atomic_write_text
from msglance.mri.config import TrainConfig, build_loss
from msglance.mri.scoring import evaluate_run
from msglance.mri.train import ProgressEvent, train
from msglance.report import markdown_table, mean_std, mean_std_text, save_figure, subplots

__all__ = ["CompareEvent", "loss_slug", "compare", "summarize_comparison", "comparison_table", "bar_plot"]


@dataclass
class CompareEvent:
    """``kind``: ``"run"`` (a run starts; ``skipped`` if already finished), ``"train"``
    (a training progress event in ``train_event``) or ``"done"`` (``result`` of the run)."""

    kind: str
    loss: str
    seed: int
    index: int
    total: int
    skipped: bool = False
    train_event: ProgressEvent | None = None
    result: dict[str, Any] | None = None


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
) -> dict[str, Any]:
    """Train + evaluate every ``(loss, seed)``; write results, table and plot; return results.

    Raises:
        ValueError: no losses or seeds, or two specs with the same directory name.
    """
    losses, seeds = list(losses), [int(s) for s in seeds]
    if not losses or not seeds:
        raise ValueError("compare needs at least one loss spec and one seed")
    slugs = [loss_slug(s) for s in losses]
    if len(set(slugs)) != len(slugs):
        raise ValueError(f"loss specs must be distinct, got {losses}")
    for spec in losses:  # fail early on a bad spec, before hours of training
        build_loss(replace(base, loss=spec))
    root = Path(out)
    root.mkdir(parents=True, exist_ok=True)
    runs: list[dict[str, Any]] = []
    total = len(losses) * len(seeds)
    index = 0
    for seed in seeds:
        for spec, slug in zip(losses, slugs):
            index += 1
            run_dir = root / slug / f"seed{seed}"
            done = run_dir / "eval" / "summary.json"
            emit = progress or (lambda event: None)
            if done.is_file():
                emit(CompareEvent("run", spec, seed, index, total, skipped=True))
                result = json.loads(done.read_text())
            else:
                emit(CompareEvent("run", spec, seed, index, total))
                config = replace(base, loss=spec, seed=seed, out=str(run_dir))
                train(config, resume=True,
                      progress=lambda e, s=spec, k=seed, i=index: emit(
                          CompareEvent("train", s, k, i, total, train_event=e)))
                result = evaluate_run(run_dir, splits=splits, device=base.device)
            emit(CompareEvent("done", spec, seed, index, total, result=result))
            runs.append({"loss": spec, "seed": seed, "dir": str(run_dir), **result})
    summary = summarize_comparison(runs, losses, splits)
    payload = {"base_config": asdict(base), "losses": losses, "seeds": seeds,
               "splits": list(splits), "runs": runs, "summary": summary}
    atomic_write_text(root / "results.json", json.dumps(payload, indent=2) + "\n")
    atomic_write_text(root / "table.md", comparison_table(summary, losses, splits))
    bar_plot(root / "comparison.png", summary, losses, splits)
    return payload


def _stats(values: list[float]) -> dict[str, float]:
    mean, std = mean_std(values)
    return {"mean": mean, "std": std, "n": len(values)}


def summarize_comparison(
    runs: list[dict[str, Any]], losses: Sequence[str], splits: Sequence[str]
) -> dict[str, Any]:
    """``{split: {loss: {"psnr": stats, "ssim": stats, "gain_psnr": stats, ...}, "zero_filled": ...}}``.

    Gains are paired by seed: ``metric(loss, seed) − metric(losses[0], seed)``.
    """
    out: dict[str, Any] = {}
    for split in splits:
        first = {r["seed"]: r[split]["recon"] for r in runs if r["loss"] == losses[0]}
        table: dict[str, Any] = {}
        for spec in losses:
            mine = [r for r in runs if r["loss"] == spec]
            entry = {
                "psnr": _stats([r[split]["recon"]["psnr"] for r in mine]),
                "ssim": _stats([r[split]["recon"]["ssim"] for r in mine]),
                "gain_psnr": _stats([r[split]["recon"]["psnr"] - first[r["seed"]]["psnr"]
                                     for r in mine if r["seed"] in first]),
                "gain_ssim": _stats([r[split]["recon"]["ssim"] - first[r["seed"]]["ssim"]
                                     for r in mine if r["seed"] in first]),
            }
            table[spec] = entry
        zf = runs[0][split]["zero_filled"]
        table["zero_filled"] = {"psnr": zf["psnr"], "ssim": zf["ssim"]}
        out[split] = table
    return out


def comparison_table(summary: dict[str, Any], losses: Sequence[str], splits: Sequence[str]) -> str:
    """One Markdown table per split: loss | PSNR | SSIM | ΔPSNR | ΔSSIM (mean ± std, seeds)."""
    lines: list[str] = []
    for split in splits:
        table = summary[split]
        zf = table["zero_filled"]
        rows: list[list[object]] = [["zero-filled input", f"{zf['psnr']:.3f}", f"{zf['ssim']:.4f}",
                                     "", "", ""]]
        for spec in losses:
            e = table[spec]
            rows.append([
                f"`{spec}`", mean_std_text(e["psnr"]["mean"], e["psnr"]["std"], 3),
                mean_std_text(e["ssim"]["mean"], e["ssim"]["std"], 4),
                mean_std_text(e["gain_psnr"]["mean"], e["gain_psnr"]["std"], 3, signed=True),
                mean_std_text(e["gain_ssim"]["mean"], e["gain_ssim"]["std"], 4, signed=True),
                e["psnr"]["n"],
            ])
        header = ["loss", "PSNR (dB)", "SSIM", "ΔPSNR vs first (dB)", "ΔSSIM vs first", "seeds"]
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
