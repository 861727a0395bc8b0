"""fastMRI-convention evaluation of reconstructions, and of trained run directories.

Convention (fastMRI ``evaluate.py``; Zbontar et al. 2018), with ``R_v`` = the maximum of the
target volume ``v`` (over all of its evaluated slices):

- **PSNR per volume**: ``10 log10(R_v² / MSE_v)`` with the MSE over every pixel of every
  slice of the volume; reported as the mean over volumes.
- **SSIM per slice**: 7×7 uniform window, K1 0.01, K2 0.03, sample covariance
  (``msglance.metrics.ssim(..., window="box7")`` = scikit-image's defaults), data range
  ``R_v``; averaged over the slices of each volume, then over volumes (fastMRI's number,
  ``ssim``). ``ssim_slices`` is the plain mean over all slices.

The same numbers are computed for the zero-filled input (the baseline). Per-slice PSNR
(with ``R_v``) is also listed, for the per-slice table and the best/median/worst figure.
Reconstructions may exceed ``R_v`` (they are not clipped, as in fastMRI), so the metrics are
called with ``check_range=False``.

:func:`evaluate_run` evaluates a directory written by :func:`msglance.mri.train.train` on
its test split and on the real s1045 slice and writes, per dataset, ``slices.csv``,
``summary.json`` and ``figure.png`` under ``RUN_DIR/eval/``.
"""

from __future__ import annotations

import csv
import io
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from msglance.report import save_figure, subplots

__all__ = [
    "Reconstructions",
    "Scores",
    "reconstruct_dataset",
    "score_reconstructions",
    "write_slices_csv",
    "figure_strip",
    "evaluate_run",
]


@dataclass
class Reconstructions:
    """Targets, zero-filled inputs and reconstructions ``(N, H, W)`` with their ids."""

    slice_ids: list[str]
    volume_ids: list[str]
    target: torch.Tensor
    zero_filled: torch.Tensor
    recon: torch.Tensor


@dataclass
class Scores:
    """Per-slice rows and the summary (``{"recon": {...}, "zero_filled": {...}, ...}``)."""

    slices: list[dict[str, Any]]
    summary: dict[str, Any]
    volumes: dict[str, dict[str, float]] = field(default_factory=dict)


@torch.no_grad()
def reconstruct_dataset(
    model: nn.Module,
    dataset: Dataset,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
) -> Reconstructions:
    """Run ``model(zero_filled, kspace, mask)`` over ``dataset`` (in order) in eval mode.

    The model's training mode is restored afterwards.
    """
    was_training = model.training
    model.eval()
    ids: list[str] = []
    vols: list[str] = []
    targets, zfs, recons = [], [], []
    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            zf = batch["zero_filled"].to(device)
            out = model(zf, batch["kspace"].to(device), batch["mask"].to(device))
            targets.append(batch["target"][:, 0].float().cpu())
            zfs.append(batch["zero_filled"][:, 0].float().cpu())
            recons.append(out[:, 0].float().cpu())
            ids += list(batch["slice_id"])
            vols += list(batch["volume_id"])
    finally:
        model.train(was_training)
    if not ids:
        raise ValueError("cannot evaluate an empty dataset")
    return Reconstructions(ids, vols, torch.cat(targets), torch.cat(zfs), torch.cat(recons))


def score_reconstructions(recon: Reconstructions) -> Scores:
    """fastMRI-convention PSNR (per volume) and SSIM (per slice) of recon and zero-filled.

    Raises:
        ValueError: a volume whose target is all zero (no data range).
    """
    from msglance.metrics import psnr, ssim

    order: dict[str, list[int]] = {}
    for i, v in enumerate(recon.volume_ids):
        order.setdefault(v, []).append(i)
    rows: list[dict[str, Any]] = [{} for _ in recon.slice_ids]
    volumes: dict[str, dict[str, float]] = {}
    for vol, idx in order.items():
        target = recon.target[idx][:, None]  # (S, 1, H, W)
        data_range = float(target.max())
        if not data_range > 0:
            raise ValueError(f"volume {vol!r} has an all-zero target: no data range")
        vol_scores: dict[str, float] = {"slices": float(len(idx)), "data_range": data_range}
        per_method: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for name, images in (("recon", recon.recon), ("zero_filled", recon.zero_filled)):
            pred = images[idx][:, None]
            vol_psnr = psnr(pred.reshape(1, -1, *pred.shape[-2:]), target.reshape(1, -1, *target.shape[-2:]),
                            data_range=data_range, check_range=False)
            slice_psnr = psnr(pred, target, data_range=data_range, reduction="none", check_range=False)
            slice_ssim = ssim(pred, target, data_range=data_range, reduction="none",
                              window="box7", check_range=False)
            vol_scores[f"{name}_psnr"] = float(vol_psnr)
            vol_scores[f"{name}_ssim"] = float(slice_ssim.mean())
            per_method[name] = (slice_psnr, slice_ssim)
        volumes[vol] = vol_scores
        for j, i in enumerate(idx):
            rows[i] = {
                "slice_id": recon.slice_ids[i],
                "volume_id": vol,
                "data_range": data_range,
                "psnr": float(per_method["recon"][0][j]),
                "ssim": float(per_method["recon"][1][j]),
                "zf_psnr": float(per_method["zero_filled"][0][j]),
                "zf_ssim": float(per_method["zero_filled"][1][j]),
            }
    summary: dict[str, Any] = {"volumes": len(volumes), "slices": len(rows)}
    for name, prefix in (("recon", ""), ("zero_filled", "zf_")):
        summary[name] = {
            "psnr": float(np.mean([v[f"{name}_psnr"] for v in volumes.values()])),
            "ssim": float(np.mean([v[f"{name}_ssim"] for v in volumes.values()])),
            "ssim_slices": float(np.mean([r[f"{prefix}ssim"] for r in rows])),
            "psnr_slices": float(np.mean([r[f"{prefix}psnr"] for r in rows])),
        }
    summary["gain_psnr"] = summary["recon"]["psnr"] - summary["zero_filled"]["psnr"]
    summary["gain_ssim"] = summary["recon"]["ssim"] - summary["zero_filled"]["ssim"]
    return Scores(rows, summary, volumes)


def write_slices_csv(path: str | os.PathLike[str], rows: list[dict[str, Any]]) -> Path:
    """Write per-slice rows (atomically) and return the path."""
    path = Path(path)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    _atomic_text(path, buffer.getvalue())
    return path


def _atomic_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _pick_slices(rows: list[dict[str, Any]]) -> list[tuple[str, int]]:
    order = sorted(range(len(rows)), key=lambda i: rows[i]["ssim"])
    picks = [("best", order[-1]), ("median", order[len(order) // 2]), ("worst", order[0])]
    seen: set[int] = set()
    out = []
    for label, i in picks:
        if i not in seen:
            seen.add(i)
            out.append((label, i))
    return out


def figure_strip(
    path: str | os.PathLike[str], recon: Reconstructions, scores: Scores, title: str = ""
) -> Path:
    """Save a strip per best/median/worst slice (by recon SSIM):
    target | zero-filled | recon | |zero-filled − target| | |recon − target|.

    Images share the volume's data range; both error maps share one colour scale.
    """
    picks = _pick_slices(scores.slices)
    fig, axes = subplots(len(picks), 5, figsize=(12.5, 2.7 * len(picks) + 0.4), squeeze=False)
    for r, (label, i) in enumerate(picks):
        row = scores.slices[i]
        rng = row["data_range"]
        tgt, zf, rec = recon.target[i].numpy(), recon.zero_filled[i].numpy(), recon.recon[i].numpy()
        err_zf, err_rec = np.abs(zf - tgt), np.abs(rec - tgt)
        emax = max(float(err_zf.max()), 1e-6)
        panels = [
            (tgt, "gray", rng, f"{label}: {row['slice_id']}"),
            (zf, "gray", rng, f"zero-filled {row['zf_psnr']:.2f} dB / {row['zf_ssim']:.4f}"),
            (rec, "gray", rng, f"recon {row['psnr']:.2f} dB / {row['ssim']:.4f}"),
            (err_zf, "inferno", emax, "|zero-filled − target|"),
            (err_rec, "inferno", emax, "|recon − target|"),
        ]
        for c, (img, cmap, vmax, text) in enumerate(panels):
            ax = axes[r, c]
            ax.imshow(img, cmap=cmap, vmin=0.0, vmax=vmax)
            ax.set_title(text, fontsize=8)
            ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return save_figure(fig, path, dpi=90)


def evaluate_run(
    run_dir: str | os.PathLike[str],
    *,
    data: str | None = None,
    checkpoint: str = "best",
    splits: tuple[str, ...] = ("test", "s1045"),
    device: str = "auto",
    batch_size: int = 8,
    limit: int = 0,
    figures: bool = True,
) -> dict[str, Any]:
    """Evaluate a training run on ``splits`` (``"test"``, ``"val"``, ``"s1045"``).

    Args:
        run_dir: a directory written by :func:`msglance.mri.train.train`.
        data: evaluate on other data (``"ixi PATH"``...) than the run's config names.
        checkpoint: ``"best"`` or ``"last"`` (or a path to a ``.pt`` file).
        limit: at most this many slices per split (evenly spaced; 0 = all).

    Returns:
        ``{"run": ..., "checkpoint": ..., "epoch": ..., "<split>": summary, ...}``, also
        written to ``RUN_DIR/eval/summary.json``; per split, ``eval/<split>/slices.csv``,
        ``summary.json`` and ``figure.png``.

    Raises:
        FileNotFoundError: not a run directory or no such checkpoint.
        ValueError: the run's saved masks disagree with the masks the data gives now.
    """
    from msglance.device import resolve_device
    from msglance.mri.masks import load_masks
    from msglance.mri.train import (
        _subset,
        build_dataset,
        build_model,
        load_checkpoint,
        load_config,
    )

    run = Path(run_dir)
    config = load_config(run)
    ckpt_path = Path(checkpoint) if checkpoint not in ("best", "last") else run / f"{checkpoint}.pt"
    payload = load_checkpoint(ckpt_path)
    dev = resolve_device(device, 0)
    model = build_model(config)
    model.load_state_dict(payload["model"])
    model.to(dev)
    saved_masks = load_masks(run / "masks.npz") if (run / "masks.npz").is_file() else {}

    result: dict[str, Any] = {
        "run": str(run),
        "checkpoint": str(ckpt_path),
        "epoch": int(payload["epoch"]),
        "loss": config.loss,
        "seed": config.seed,
        "data": data or config.data,
        "convention": "fastMRI: PSNR per volume, SSIM per slice (7x7 box, K1 0.01, K2 0.03, "
        "sample covariance), data_range = target volume max; means over volumes",
    }
    eval_root = run / "eval"
    eval_root.mkdir(exist_ok=True)
    for split in splits:
        dataset = build_dataset(config, split, data=data)
        if data is None:
            for sid in dataset.slice_ids:  # type: ignore[attr-defined]
                if sid in saved_masks:
                    now = dataset.mask(sid, saved_masks[sid].shape[-1])  # type: ignore[attr-defined]
                    if not torch.equal(now > 0.5, saved_masks[sid] > 0.5):
                        raise ValueError(
                            f"the mask of {sid} differs from the one saved in {run / 'masks.npz'}"
                        )
        dataset = _subset(dataset, limit)
        recon = reconstruct_dataset(model, dataset, device=dev, batch_size=batch_size)
        scores = score_reconstructions(recon)
        out = eval_root / split
        out.mkdir(exist_ok=True)
        write_slices_csv(out / "slices.csv", scores.slices)
        split_summary = {**scores.summary, "per_volume": scores.volumes}
        _atomic_text(out / "summary.json", json.dumps(split_summary, indent=2) + "\n")
        if figures:
            figure_strip(
                out / "figure.png", recon, scores,
                title=f"{run.name} · {split} · loss {config.loss} · epoch {payload['epoch']}",
            )
        result[split] = scores.summary
    _atomic_text(eval_root / "summary.json", json.dumps(result, indent=2) + "\n")
    return result
