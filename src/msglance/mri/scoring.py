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
from torch.utils.data import DataLoader, Dataset, Subset

from msglance.atomic import atomic_write_text
from msglance.device import resolve_device
from msglance.mri.checkpoint import load_checkpoint
from msglance.mri.config import build_dataset, build_model, load_config, subset_evenly
from msglance.mri.masks import load_masks
from msglance.report import save_figure, subplots

__all__ = [
    "Reconstructions",
    "Scores",
    "reconstruct_dataset",
    "score_dataset",
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
    order: dict[str, list[int]] = {}
    for i, v in enumerate(recon.volume_ids):
        order.setdefault(v, []).append(i)
    rows: list[dict[str, Any]] = [{} for _ in recon.slice_ids]
    tally = _Tally()
    for vol, idx in order.items():
        vol_rows = tally.add_volume(vol, [recon.slice_ids[i] for i in idx], recon.target[idx],
                                    recon.recon[idx], recon.zero_filled[idx])
        for i, row in zip(idx, vol_rows):
            rows[i] = row
    return tally.scores(rows)


class _Tally:
    """Scores volume by volume: per-slice rows, per-volume values, and the running means
    (:class:`~msglance.metrics.MetricCollection` s of slices and of volumes)."""

    def __init__(self) -> None:
        from msglance.metrics import MetricCollection

        self.volumes: dict[str, dict[str, float]] = {}
        self.slices = MetricCollection(["psnr", "ssim"], metric_options={"ssim": {"window": "box7"}},
                                       check_range=False)
        self.zf_slices = MetricCollection(["psnr", "ssim"],
                                          metric_options={"ssim": {"window": "box7"}},
                                          check_range=False)

    def add_volume(self, vol: str, slice_ids: list[str], target: torch.Tensor,
                   recon: torch.Tensor, zero_filled: torch.Tensor) -> list[dict[str, Any]]:
        """Score one volume's ``(S, H, W)`` slices; returns their per-slice rows."""
        from msglance.metrics import psnr, ssim

        if vol in self.volumes:
            raise ValueError(f"volume {vol!r} was scored already (its slices must be contiguous)")
        target = target[:, None]  # (S, 1, H, W)
        data_range = float(target.max())
        if not data_range > 0:
            raise ValueError(f"volume {vol!r} has an all-zero target: no data range")
        vol_scores: dict[str, float] = {"slices": float(len(slice_ids)), "data_range": data_range}
        per_method: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
        for name, images, collection in (("recon", recon, self.slices),
                                         ("zero_filled", zero_filled, self.zf_slices)):
            pred = images[:, None]
            vol_psnr = psnr(pred.reshape(1, -1, *pred.shape[-2:]),
                            target.reshape(1, -1, *target.shape[-2:]),
                            data_range=data_range, check_range=False)
            slice_psnr = psnr(pred, target, data_range=data_range, reduction="none",
                              check_range=False)
            slice_ssim = ssim(pred, target, data_range=data_range, reduction="none",
                              window="box7", check_range=False)
            collection.add_values({"psnr": slice_psnr, "ssim": slice_ssim})
            vol_scores[f"{name}_psnr"] = float(vol_psnr)
            vol_scores[f"{name}_ssim"] = float(slice_ssim.mean())
            per_method[name] = (slice_psnr, slice_ssim)
        self.volumes[vol] = vol_scores
        return [
            {
                "slice_id": sid,
                "volume_id": vol,
                "data_range": data_range,
                "psnr": float(per_method["recon"][0][j]),
                "ssim": float(per_method["recon"][1][j]),
                "zf_psnr": float(per_method["zero_filled"][0][j]),
                "zf_ssim": float(per_method["zero_filled"][1][j]),
            }
            for j, sid in enumerate(slice_ids)
        ]

    def scores(self, rows: list[dict[str, Any]]) -> Scores:
        """The :class:`Scores` of every volume added."""
        if not rows:
            raise ValueError("cannot evaluate an empty dataset")
        summary: dict[str, Any] = {"volumes": len(self.volumes), "slices": len(rows)}
        for name, collection in (("recon", self.slices), ("zero_filled", self.zf_slices)):
            per_slice = collection.compute()
            summary[name] = {
                "psnr": float(np.mean([v[f"{name}_psnr"] for v in self.volumes.values()])),
                "ssim": float(np.mean([v[f"{name}_ssim"] for v in self.volumes.values()])),
                "ssim_slices": per_slice["ssim"],
                "psnr_slices": per_slice["psnr"],
            }
        summary["gain_psnr"] = summary["recon"]["psnr"] - summary["zero_filled"]["psnr"]
        summary["gain_ssim"] = summary["recon"]["ssim"] - summary["zero_filled"]["ssim"]
        return Scores(rows, summary, dict(self.volumes))


@torch.no_grad()
def score_dataset(
    model: nn.Module,
    dataset: Dataset,
    *,
    device: torch.device | str = "cpu",
    batch_size: int = 8,
) -> Scores:
    """:func:`reconstruct_dataset` + :func:`score_reconstructions`, streamed: only the
    slices of the volume being read are held (the dataset lists each volume's slices
    contiguously), never the whole dataset's reconstructions.

    Raises:
        ValueError: an empty dataset, a volume whose slices are not contiguous, or an
            all-zero target volume.
    """
    was_training = model.training
    model.eval()
    tally = _Tally()
    rows: list[dict[str, Any]] = []
    held: dict[str, list[Any]] = {"ids": [], "target": [], "recon": [], "zf": []}
    current: str | None = None

    def flush() -> None:
        if held["ids"]:
            rows.extend(tally.add_volume(current, held["ids"], torch.cat(held["target"]),
                                         torch.cat(held["recon"]), torch.cat(held["zf"])))
        for v in held.values():
            v.clear()

    try:
        for batch in DataLoader(dataset, batch_size=batch_size, shuffle=False):
            zf = batch["zero_filled"].to(device)
            out = model(zf, batch["kspace"].to(device), batch["mask"].to(device))
            for j, (sid, vol) in enumerate(zip(batch["slice_id"], batch["volume_id"])):
                if vol != current:
                    flush()
                    current = vol
                held["ids"].append(sid)
                held["target"].append(batch["target"][j:j + 1, 0].float().cpu())
                held["recon"].append(out[j:j + 1, 0].float().cpu())
                held["zf"].append(batch["zero_filled"][j:j + 1, 0].float().cpu())
        flush()
    finally:
        model.train(was_training)
    return tally.scores(rows)


def write_slices_csv(path: str | os.PathLike[str], rows: list[dict[str, Any]]) -> Path:
    """Write per-slice rows (atomically) and return the path."""
    path = Path(path)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())
    return path


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
        dataset = subset_evenly(dataset, limit)
        scores = score_dataset(model, dataset, device=dev, batch_size=batch_size)
        out = eval_root / split
        out.mkdir(exist_ok=True)
        write_slices_csv(out / "slices.csv", scores.slices)
        split_summary = {**scores.summary, "per_volume": scores.volumes}
        atomic_write_text(out / "summary.json", json.dumps(split_summary, indent=2) + "\n")
        if figures:
            picked = [i for _, i in _pick_slices(scores.slices)]
            figure_strip(
                out / "figure.png",
                reconstruct_dataset(model, Subset(dataset, picked), device=dev, batch_size=len(picked)),
                Scores([scores.slices[i] for i in picked], scores.summary),
                title=f"{run.name} · {split} · loss {config.loss} · epoch {payload['epoch']}",
            )
        result[split] = scores.summary
    atomic_write_text(eval_root / "summary.json", json.dumps(result, indent=2) + "\n")
    return result
