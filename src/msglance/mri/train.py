"""Train a reconstruction network (:class:`~msglance.mri.networks.ReconNet`) with any loss spec.

The configuration and the factories are :mod:`msglance.mri.config`, the checkpoint files and
RNG state :mod:`msglance.mri.checkpoint`; this module is the training loop.

``train(TrainConfig(...)) -> RunSummary`` runs Adam on the training split and, after every
epoch, the fastMRI-convention validation metrics of :mod:`msglance.mri.scoring`. A run
directory holds::

    config.json   the full configuration
    masks.npz     the fixed validation and test masks (and s1045's), by slice id
    log.csv       one row per epoch: lr, the total loss and each loss term separately,
                  validation PSNR/SSIM (and the zero-filled baseline), seconds
    last.pt       model, optimizer, scheduler, AMP scaler, RNG states (torch, CUDA, numpy,
                  python; one per process), the next dataset epoch, the history and the
                  config — written atomically (temp file + ``os.replace``)
    best.pt       the same at the epoch with the best validation metric

Global Glance sampling weights (``config.position_weights``, :mod:`msglance.mri.target_weights`)
are built from each batch's fully-sampled *target*, cached per slice, and given to the
loss's Global Glance term(s) only (``loss_fn(pred, target, position_weights=w)``).

Reproducibility: the training masks of epoch ``e`` come from ``dataset.set_epoch(e)``, the
shuffling from a generator seeded with ``(seed, e)`` (``DistributedSampler`` under DDP), and
every other random draw (e.g. the Global Glance sampling) from the global RNGs, which the
checkpoint restores; so ``resume=True`` continues exactly where the last checkpoint stopped.

Multi-process: started by ``torchrun --nproc_per_node N`` (``WORLD_SIZE`` > 1 in the
environment) the run uses DistributedDataParallel (NCCL on CUDA, gloo on CPU) and a
``DistributedSampler``; ``batch_size`` is per process; rank 0 writes every file.

AMP (autocast + gradient scaling) is used on CUDA only. Library code never prints: pass
``progress`` to observe the run (the CLI draws progress bars from it).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset

from msglance.atomic import atomic_write_text
from msglance.device import resolve_device
from msglance.mri.checkpoint import (
    CHECKPOINT_FORMAT,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    seed_everything,
    set_rng_state,
)
from msglance.mri.config import (
    ConfigMismatchError,
    TrainConfig,
    build_dataset,
    build_loss,
    build_model,
    build_target_weights,
    config_differences,
    subset_evenly,
)
from msglance.mri.datasets import FastMRISlices
from msglance.mri.diagnostics import StepDiagnostics
from msglance.mri.masks import save_masks
from msglance.mri.networks import count_parameters
from msglance.mri.scoring import score_dataset

__all__ = [
    "DistContext",
    "ProgressEvent",
    "RunSummary",
    "init_distributed",
    "mean_across",
    "train",
]

@dataclass
class RunSummary:
    """What :func:`train` returns (also written as ``summary.json``)."""

    out: str
    epochs: int
    parameters: int
    best_epoch: int
    best_val_psnr: float
    best_val_ssim: float
    final_val_psnr: float
    final_val_ssim: float
    zero_filled_val_psnr: float
    zero_filled_val_ssim: float
    seconds: float
    resumed_from_epoch: int | None
    history: list[dict[str, float]] = field(default_factory=list)


@dataclass
class ProgressEvent:
    """One progress report.

    ``kind``: ``"start"`` (``total`` = epochs, ``info`` has ``parameters``, ``train_slices``,
    ``val_slices``, ``start_epoch``), ``"epoch"`` (an epoch begins; ``total`` = its steps),
    ``"step"`` (``step`` of ``total`` done; ``info`` has the running loss), ``"validate"``
    (validation begins) or ``"epoch_end"`` (``info`` is the epoch's log row).
    """

    kind: str
    epoch: int
    step: int = 0
    total: int = 0
    info: dict[str, Any] = field(default_factory=dict)


# --------------------------------------------------------------------------- distributed


@dataclass
class DistContext:
    """This process's place in a ``torchrun`` job (rank 0 of 1 without one)."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False

    @property
    def active(self) -> bool:
        return self.world > 1


def init_distributed(device_name: str) -> DistContext:
    """Join the process group when ``WORLD_SIZE`` > 1 (NCCL on CUDA, else gloo)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistContext()
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", str(rank)))
    owns = False
    if not dist.is_initialized():
        use_cuda = resolve_device(device_name).type == "cuda"
        dist.init_process_group(backend="nccl" if use_cuda else "gloo")
        owns = True
    return DistContext(dist.get_rank(), dist.get_world_size(), local_rank, owns)


def mean_across(values: dict[str, float], ctx: DistContext, device: torch.device) -> dict[str, float]:
    """The mean of each value over all processes (the values themselves without DDP)."""
    if not ctx.active or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return {k: float(v) / ctx.world for k, v in zip(keys, t.tolist())}


def _write_log(path: Path, history: list[dict[str, float]]) -> None:
    columns: list[str] = []
    for row in history:
        columns += [k for k in row if k not in columns]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()})
    atomic_write_text(path, buffer.getvalue())



# --------------------------------------------------------------------------- training


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def _validate(
    model: nn.Module, dataset: Dataset, device: torch.device, batch_size: int
) -> dict[str, float]:
    scores = score_dataset(model, dataset, device=device, batch_size=batch_size)
    return {
        "val_psnr": scores.summary["recon"]["psnr"],
        "val_ssim": scores.summary["recon"]["ssim"],
        "val_zf_psnr": scores.summary["zero_filled"]["psnr"],
        "val_zf_ssim": scores.summary["zero_filled"]["ssim"],
    }


def train(
    config: TrainConfig,
    *,
    resume: bool = False,
    progress: Callable[[ProgressEvent], None] | None = None,
) -> RunSummary:
    """Train ``ReconNet`` on ``config`` and return a :class:`RunSummary`.

    Args:
        config: the run (see :class:`TrainConfig`).
        resume: continue from ``out/last.pt``; the config must equal the checkpoint's except
            for :data:`MUTABLE_KEYS` (``epochs`` may grow). Without a checkpoint the run
            starts from scratch; a run that already has ``epochs`` epochs returns its summary.
        progress: called with :class:`ProgressEvent` s (rank 0 only).

    Raises:
        ConfigMismatchError: ``resume`` with a config that differs (keys named).
        FileExistsError: ``out`` already holds a run and ``resume`` is false.
        FloatingPointError: a non-finite training loss or validation metric (diverged).
        ValueError: invalid config, loss spec, or data.
    """
    config.validate()
    start_time = time.perf_counter()
    ctx = init_distributed(config.device)
    try:
        return _train(config, resume, progress if ctx.rank == 0 else None, ctx, start_time)
    finally:
        if ctx.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _train(
    config: TrainConfig,
    resume: bool,
    progress: Callable[[ProgressEvent], None] | None,
    ctx: DistContext,
    start_time: float,
) -> RunSummary:
    out = Path(config.out)
    last_path, best_path = out / "last.pt", out / "best.pt"
    device = resolve_device(config.device, ctx.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    config_dict = asdict(config)

    checkpoint = None
    if resume and last_path.is_file():
        checkpoint = load_checkpoint(last_path)
        diffs = config_differences(checkpoint["config"], config_dict)
        if diffs:
            raise ConfigMismatchError(
                f"cannot resume {out}: the config differs from the checkpoint in "
                + "; ".join(diffs)
            )
    elif not resume and last_path.is_file():
        raise FileExistsError(
            f"{out} already holds a training run (last.pt); pass resume=True (--resume) "
            "to continue it or choose another output directory"
        )

    def emit(event: ProgressEvent) -> None:
        if progress is not None:
            progress(event)

    # data
    train_set = build_dataset(config, "train")
    val_set = subset_evenly(build_dataset(config, "val"), config.val_limit)
    train_view = subset_evenly(train_set, config.limit)
    if len(train_view) == 0:  # type: ignore[arg-type]
        raise ValueError(f"no training slices in {config.data!r}")

    # model, loss, optimiser (same initial weights on every rank)
    seed_everything(config.seed)
    model = build_model(config).to(device)
    loss_fn = build_loss(config).to(device)
    target_weights = build_target_weights(config)  # None: uniform Global Glance draws
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    scheduler = (
        torch.optim.lr_scheduler.StepLR(optimizer, config.lr_step, config.lr_gamma)
        if config.lr_step > 0
        else None
    )
    use_amp = bool(config.amp and device.type == "cuda")
    amp_dtype = torch.bfloat16 if use_amp and torch.cuda.is_bf16_supported() else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=use_amp and amp_dtype == torch.float16)
    diag = StepDiagnostics(loss_fn, config.diagnostics) if config.diagnostics else None
    if ctx.rank > 0:  # different loss sampling per process, same weights
        torch.manual_seed(config.seed + 1_000_003 * ctx.rank)

    history: list[dict[str, float]] = []
    best = {"epoch": 0, "value": -math.inf}
    start_epoch = 0
    if checkpoint is not None:
        model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if scheduler is not None and checkpoint.get("scheduler") is not None:
            scheduler.load_state_dict(checkpoint["scheduler"])
        if checkpoint.get("scaler") is not None:
            scaler.load_state_dict(checkpoint["scaler"])
        states = checkpoint["rng"]
        set_rng_state(states[ctx.rank] if len(states) == ctx.world else states[0])
        start_epoch = int(checkpoint["dataset_epoch"])
        history = list(checkpoint["history"])
        best = dict(checkpoint["best"])

    net: nn.Module = model
    if ctx.active:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None
        )

    if ctx.rank == 0:
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out / "config.json", json.dumps(config_dict, indent=2) + "\n")
        if not (out / "masks.npz").is_file():
            masks = {}
            for split in ("val", "test"):
                ds = build_dataset(config, split)
                size = config.size
                masks.update({sid: ds.mask(sid, _mask_width(ds, size)) for sid in ds.slice_ids})
            s1045 = build_dataset(config, "s1045")
            masks.update({sid: s1045.mask(sid, config.size) for sid in s1045.slice_ids})
            save_masks(out / "masks.npz", masks)

    parameters = count_parameters(model)
    emit(ProgressEvent("start", start_epoch, total=config.epochs, info={
        "parameters": parameters,
        "train_slices": len(train_view),  # type: ignore[arg-type]
        "val_slices": len(val_set),  # type: ignore[arg-type]
        "start_epoch": start_epoch,
        "device": str(device),
        "world_size": ctx.world,
    }))

    for epoch in range(start_epoch, config.epochs):
        epoch_start = time.perf_counter()
        train_set.set_epoch(epoch)
        if ctx.active:
            sampler = torch.utils.data.DistributedSampler(
                train_view, num_replicas=ctx.world, rank=ctx.rank, shuffle=True, seed=config.seed
            )
            sampler.set_epoch(epoch)
            loader = DataLoader(train_view, batch_size=config.batch_size, sampler=sampler,
                                num_workers=config.workers)
        else:
            gen = torch.Generator().manual_seed(config.seed * 100_003 + epoch)
            loader = DataLoader(train_view, batch_size=config.batch_size, shuffle=True,
                                generator=gen, num_workers=config.workers)
        net.train()
        sums: dict[str, float] = {}
        steps = len(loader)
        emit(ProgressEvent("epoch", epoch + 1, total=steps))
        for step, batch in enumerate(loader, start=1):
            batch = _to_device(batch, device)
            with torch.autocast(device_type=device.type, dtype=amp_dtype, enabled=use_amp):
                pred = net(batch["zero_filled"], batch["kspace"], batch["mask"])
            if target_weights is None:
                loss = loss_fn(pred.float(), batch["target"])
            else:  # sampling weights of the ground truth, cached per slice
                weights = target_weights(batch["target"], batch.get("slice_id"))
                loss = loss_fn(pred.float(), batch["target"], position_weights=weights)
            if not torch.isfinite(loss):
                raise FloatingPointError(
                    f"non-finite training loss {float(loss)} at epoch {epoch + 1}, step {step}"
                )
            if diag is not None:
                diag.observe(pred, step)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            sums["loss"] = sums.get("loss", 0.0) + float(loss.detach())
            for name, value in getattr(loss_fn, "last_terms", {}).items():
                sums[f"loss_{name}"] = sums.get(f"loss_{name}", 0.0) + value
            emit(ProgressEvent("step", epoch + 1, step, steps, {"loss": sums["loss"] / step}))
        train_terms = mean_across({k: v / max(steps, 1) for k, v in sums.items()}, ctx, device)
        if diag is not None:
            train_terms.update(mean_across(diag.epoch_means(), ctx, device))
        lr_now = optimizer.param_groups[0]["lr"]
        if scheduler is not None:
            scheduler.step()

        emit(ProgressEvent("validate", epoch + 1))
        val = _validate(model, val_set, device, config.batch_size)
        row: dict[str, float] = {"epoch": epoch + 1, "lr": lr_now, **train_terms, **val,
                                 "seconds": time.perf_counter() - epoch_start}
        history.append(row)
        metric = val[f"val_{config.best_metric}"]
        if not math.isfinite(metric):  # diverged weights: no checkpoint could be selected
            raise FloatingPointError(
                f"non-finite validation {config.best_metric} ({metric}) after epoch {epoch + 1}"
            )
        improved = metric > best["value"]
        if improved:
            best = {"epoch": epoch + 1, "value": metric}

        rng_states = [rng_state()]
        if ctx.active:
            gathered: list[Any] = [None] * ctx.world
            dist.all_gather_object(gathered, rng_states[0])
            rng_states = gathered
        if ctx.rank == 0:
            payload = {
                "format": CHECKPOINT_FORMAT,
                "epoch": epoch + 1,
                "dataset_epoch": epoch + 1,
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "scaler": scaler.state_dict() if scaler.is_enabled() else None,
                "rng": rng_states,
                "config": config_dict,
                "history": history,
                "best": best,
                "world_size": ctx.world,
                "parameters": parameters,
            }
            _write_log(out / "log.csv", history)
            save_checkpoint(last_path, payload)
            if improved:
                save_checkpoint(best_path, payload)
        if ctx.active:
            dist.barrier()
        emit(ProgressEvent("epoch_end", epoch + 1, info=row))

    if not history:  # pragma: no cover - epochs >= 1 always trains or resumes one
        raise ValueError("the run has no completed epoch")
    best_row = history[best["epoch"] - 1] if best["epoch"] > 0 else history[-1]
    summary = RunSummary(
        out=str(out),
        epochs=len(history),
        parameters=parameters,
        best_epoch=int(best["epoch"]),
        best_val_psnr=float(best_row["val_psnr"]),
        best_val_ssim=float(best_row["val_ssim"]),
        final_val_psnr=float(history[-1]["val_psnr"]),
        final_val_ssim=float(history[-1]["val_ssim"]),
        zero_filled_val_psnr=float(history[-1]["val_zf_psnr"]),
        zero_filled_val_ssim=float(history[-1]["val_zf_ssim"]),
        seconds=time.perf_counter() - start_time,
        resumed_from_epoch=start_epoch if checkpoint is not None else None,
        history=history,
    )
    if ctx.rank == 0:
        atomic_write_text(out / "summary.json", json.dumps(asdict(summary), indent=2) + "\n")
    return summary


def _mask_width(dataset: Dataset, size: int) -> int:
    """Mask width of a dataset's items (the raw k-space width for raw fastMRI data)."""
    if isinstance(dataset, FastMRISlices) and dataset.kspace_mode == "raw":  # pragma: no cover
        return int(dataset[0]["mask"].shape[-1])
    return size
