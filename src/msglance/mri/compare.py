"""Compare loss specs: train and evaluate each ``(loss, seed)`` with identical data and masks.

Every run shares the base :class:`~msglance.mri.train.TrainConfig` (same data, masks —
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

import numpy as np

from msglance.mri.evaluate import evaluate_run
from msglance.mri.train import ProgressEvent, TrainConfig, train
from msglance.report import save_figure, subplots

__all__ = ["CompareEvent", "loss_slug", "compare", "summarize", "markdown_table", "bar_plot"]


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
        from msglance.mri.train import build_loss

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
    summary = summarize(runs, losses, splits)
    payload = {"base_config": asdict(base), "losses": losses, "seeds": seeds,
               "splits": list(splits), "runs": runs, "summary": summary}
    _write(root / "results.json", json.dumps(payload, indent=2) + "\n")
    _write(root / "table.md", markdown_table(summary, losses, splits))
    bar_plot(root / "comparison.png", summary, losses, splits)
    return payload


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _stats(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values, dtype=np.float64)
    return {"mean": float(arr.mean()), "std": float(arr.std(ddof=1)) if arr.size > 1 else 0.0,
            "n": int(arr.size)}


def summarize(
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


def markdown_table(summary: dict[str, Any], losses: Sequence[str], splits: Sequence[str]) -> str:
    """One Markdown table per split: loss | PSNR | SSIM | ΔPSNR | ΔSSIM (mean ± std, seeds)."""
    lines: list[str] = []
    for split in splits:
        table = summary[split]
        lines += [f"**{split}**", "",
                  "| loss | PSNR (dB) | SSIM | ΔPSNR vs first (dB) | ΔSSIM vs first | seeds |",
                  "|---|---|---|---|---|---|"]
        zf = table["zero_filled"]
        lines.append(f"| zero-filled input | {zf['psnr']:.3f} | {zf['ssim']:.4f} | | | |")
        for spec in losses:
            e = table[spec]
            lines.append(
                f"| `{spec}` | {e['psnr']['mean']:.3f} ± {e['psnr']['std']:.3f} "
                f"| {e['ssim']['mean']:.4f} ± {e['ssim']['std']:.4f} "
                f"| {e['gain_psnr']['mean']:+.3f} ± {e['gain_psnr']['std']:.3f} "
                f"| {e['gain_ssim']['mean']:+.4f} ± {e['gain_ssim']['std']:.4f} "
                f"| {e['psnr']['n']} |"
            )
        lines.append("")
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
