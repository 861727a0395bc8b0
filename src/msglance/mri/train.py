"""Train a reconstruction network (:class:`~msglance.mri.networks.ReconNet`) with any loss spec.

``train(TrainConfig(...)) -> RunSummary`` runs Adam on the training split and, after every
epoch, the fastMRI-convention validation metrics of :mod:`msglance.mri.evaluate`. A run
directory holds::

    config.json   the full configuration
    masks.npz     the fixed validation and test masks (and s1045's), by slice id
    log.csv       one row per epoch: lr, the total loss and each loss term separately,
                  validation PSNR/SSIM (and the zero-filled baseline), seconds
    last.pt       model, optimizer, scheduler, AMP scaler, RNG states (torch, CUDA, numpy,
                  python; one per process), the next dataset epoch, the history and the
                  config — written atomically (temp file + ``os.replace``)
    best.pt       the same at the epoch with the best validation metric

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
import dataclasses
import io
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset

from msglance.atomic import atomic_write_bytes, atomic_write_text
from msglance.device import resolve_device
from msglance.glance_grid import glance_grid_for
from msglance.mri.datasets import FastMRISlices, IXISlices, MNISlices, S1045Slice
from msglance.mri.diagnostics import StepDiagnostics
from msglance.mri.evaluate import reconstruct_dataset, score_reconstructions
from msglance.mri.masks import save_masks
from msglance.mri.networks import ReconNet, count_parameters

__all__ = [
    "TrainConfig",
    "RunSummary",
    "ProgressEvent",
    "ConfigMismatchError",
    "MUTABLE_KEYS",
    "parse_data_spec",
    "build_dataset",
    "build_model",
    "build_loss",
    "glance_grid",
    "load_config",
    "load_checkpoint",
    "config_differences",
    "train",
    "save_checkpoint",
    "rng_state",
    "set_rng_state",
    "seed_everything",
    "DistContext",
    "init_distributed",
    "mean_across",
]

#: Config keys that may change between a run and its resumption (they do not change the
#: trajectory): more epochs, another device, another number of loader workers, diagnostics.
MUTABLE_KEYS: frozenset[str] = frozenset({"epochs", "device", "workers", "out", "diagnostics"})

CHECKPOINT_FORMAT = 1


@dataclass
class TrainConfig:
    """Everything that defines a training run (saved in ``config.json`` and checkpoints).

    Attributes:
        out: run directory.
        data: ``"mni"``, ``"ixi PATH"`` or ``"fastmri PATH"`` (``"kind:PATH"`` also works).
        orientations: MNI orientations (comma separated) — ignored for other data.
        contrast: IXI contrast filter (``"T1"``, ``"T2"``, ``"PD"``) or ``None`` (all files).
        size: image side (MNI/IXI are fitted into ``size²``; fastMRI is centre-cropped).
        acceleration, center_fraction, mask_kind: undersampling masks.
        mask_seed: seed of every mask (fixed val/test masks, per-epoch training masks), kept
            apart from ``seed`` so runs with different seeds see identical masks.
        loss: loss spec for :func:`msglance.losses.parse`.
        delta: air prior of the Global Glance term (forwarded to terms that accept it);
            ``None`` = no air prior.
        glance_grid: side ``n`` of the Global Glance ``n×n`` grid; ``0`` scales the
            paper's 96 at 256² with the image side (``round(96·size/256)``, at least 16).
        local_window: window side of the ``local`` (Local Glance) term only.
        epochs, batch_size (per process), lr: Adam training.
        lr_step, lr_gamma: StepLR every ``lr_step`` epochs (0 = constant learning rate).
        seed: initialisation, shuffling and loss sampling.
        chans, pools, cascades: ``ReconNet(chans, pools, cascades)``.
        limit: use at most this many training slices (evenly spaced; 0 = all).
        val_limit: use at most this many validation slices (0 = all).
        best_metric: ``"psnr"`` or ``"ssim"`` (validation) selects ``best.pt``.
        amp: mixed precision on CUDA (ignored on CPU).
        device: ``"auto"`` (CUDA if available), ``"cpu"``, ``"cuda"``, ``"cuda:1"``...
        workers: DataLoader worker processes.
        diagnostics: every this many training steps record each loss term's value and the
            norm and share of its gradient on the network output
            (:mod:`msglance.mri.diagnostics`; ``diag_*`` columns of ``log.csv``); 0 = off.
            It does not change the trajectory.
    """

    out: str = "runs/mri"
    data: str = "mni"
    orientations: str = "sagittal,coronal,axial"
    contrast: str | None = None
    size: int = 256
    acceleration: float = 5.0
    center_fraction: float = 0.08
    mask_kind: str = "random"
    mask_seed: int = 0
    loss: str = "l1+0.01*global+0.01*local"
    delta: float | None = 0.01
    glance_grid: int = 0
    local_window: int = 16
    epochs: int = 20
    batch_size: int = 4
    lr: float = 1e-3
    lr_step: int = 0
    lr_gamma: float = 0.1
    seed: int = 0
    chans: int = 32
    pools: int = 4
    cascades: int = 1
    limit: int = 0
    val_limit: int = 0
    best_metric: str = "psnr"
    amp: bool = True
    device: str = "auto"
    workers: int = 0
    diagnostics: int = 0

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first invalid field."""
        parse_data_spec(self.data)
        checks = [
            ("size", self.size >= 16),
            ("epochs", self.epochs >= 1),
            ("batch_size", self.batch_size >= 1),
            ("lr", self.lr > 0 and math.isfinite(self.lr)),
            ("lr_step", self.lr_step >= 0),
            ("chans", self.chans >= 1),
            ("pools", self.pools >= 1),
            ("cascades", self.cascades >= 1),
            ("limit", self.limit >= 0),
            ("val_limit", self.val_limit >= 0),
            ("workers", self.workers >= 0),
            ("glance_grid", self.glance_grid >= 0),
            ("delta", self.delta is None or self.delta >= 0),
            ("local_window", self.local_window >= 1),
            ("diagnostics", self.diagnostics >= 0),
        ]
        for name, ok in checks:
            if not ok:
                raise ValueError(f"invalid {name}={getattr(self, name)!r} in the training config")
        if self.best_metric not in ("psnr", "ssim"):
            raise ValueError(f"best_metric must be 'psnr' or 'ssim', got {self.best_metric!r}")
        if self.size < 2**self.pools:
            raise ValueError(f"size {self.size} is too small for {self.pools} pooling layers")


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


class ConfigMismatchError(ValueError):
    """``resume=True`` with a config that differs from the checkpoint's."""


# --------------------------------------------------------------------------- building blocks


def parse_data_spec(spec: str) -> tuple[str, str | None]:
    """``"mni"`` → ``("mni", None)``; ``"ixi PATH"`` / ``"ixi:PATH"`` → ``("ixi", PATH)``.

    Raises:
        ValueError: unknown kind, or a path missing (ixi, fastmri) or given (mni).
    """
    text = str(spec).strip()
    kind, path = text, None
    for sep in (" ", ":", "="):
        if sep in text:
            head, tail = text.split(sep, 1)
            if head.lower() in ("mni", "ixi", "fastmri"):
                kind, path = head, tail.strip() or None
                break
    kind = kind.lower()
    if kind not in ("mni", "ixi", "fastmri"):
        raise ValueError(f"data must be 'mni', 'ixi PATH' or 'fastmri PATH', got {spec!r}")
    if kind == "mni" and path is not None:
        raise ValueError(f"data 'mni' takes no path, got {spec!r}")
    if kind != "mni" and path is None:
        raise ValueError(f"data {kind!r} needs a path: '{kind} PATH', got {spec!r}")
    return kind, path


def _subset(dataset: Dataset, limit: int) -> Dataset:
    n = len(dataset)  # type: ignore[arg-type]
    if limit <= 0 or limit >= n:
        return dataset
    keep = np.unique(np.linspace(0, n - 1, limit).round().astype(int)).tolist()
    return Subset(dataset, keep)


def build_dataset(config: TrainConfig, split: str, data: str | None = None) -> Dataset:
    """The ``split`` (``train``/``val``/``test``/``all``) of the config's data (or ``data``).

    Training masks change per epoch (``set_epoch``); the others are fixed per slice.
    ``split="s1045"`` gives the real held-out slice at the config's size and mask settings.
    """
    common = dict(
        acceleration=config.acceleration,
        center_fraction=config.center_fraction,
        mask_kind=config.mask_kind,
        seed=config.mask_seed,
    )
    if split == "s1045":
        return S1045Slice(size=config.size, **common)
    kind, path = parse_data_spec(data or config.data)
    if kind == "mni":
        orientations = tuple(o.strip() for o in config.orientations.split(",") if o.strip())
        return MNISlices(split, size=config.size, orientations=orientations, **common)
    if kind == "ixi":
        return IXISlices(path, split, contrast=config.contrast, size=config.size, **common)
    return FastMRISlices(path, split, crop=config.size, **common)


def build_model(config: TrainConfig) -> ReconNet:
    """``ReconNet(chans, pools, cascades)`` of the config (U-Net + hard data consistency)."""
    return ReconNet(chans=config.chans, num_pool_layers=config.pools, num_cascades=config.cascades)


def glance_grid(config: TrainConfig) -> int:
    """The Global Glance grid side: ``config.glance_grid`` or, for 0, ``round(96·size/256)``
    (≥ 16), by :func:`msglance.glance_grid.glance_grid_for`."""
    return glance_grid_for((config.size, config.size), config.glance_grid or None)[0]


def build_loss(config: TrainConfig) -> nn.Module:
    """:func:`msglance.losses.parse` of ``config.loss`` with ``delta``, the glance grid and
    the local term's window."""
    from msglance import losses

    n = glance_grid(config)
    return losses.parse(config.loss, delta=config.delta, grid=(n, n),
                        term_options={"local": {"window": config.local_window}})


# --------------------------------------------------------------------------- files


def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save(payload)`` to ``path`` atomically: a crash never leaves half a file."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`train` (``weights_only``: no code is unpickled).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable msglance MRI checkpoint (the message names the file).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure is an unreadable file
        reason = " ".join(str(exc).split())[:300]
        raise ValueError(f"cannot read checkpoint {path}: {reason}") from None
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a msglance MRI checkpoint (format {CHECKPOINT_FORMAT})")
    return payload


def load_config(run_dir: str | os.PathLike[str]) -> TrainConfig:
    """The :class:`TrainConfig` of a run directory (``config.json``)."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{run_dir} is not a training run directory (no config.json)")
    raw = json.loads(path.read_text())
    known = {f.name for f in dataclasses.fields(TrainConfig)}
    return TrainConfig(**{k: v for k, v in raw.items() if k in known})


def config_differences(saved: dict[str, Any], current: dict[str, Any]) -> list[str]:
    """Keys (outside :data:`MUTABLE_KEYS`) whose values differ, as ``"key (was A, now B)"``.

    A key missing from one side counts as the :class:`TrainConfig` default (a run saved
    before the field existed resumes)."""
    defaults = {f.name: f.default for f in dataclasses.fields(TrainConfig)}
    diffs = []
    for key in sorted(set(saved) | set(current)):
        if key in MUTABLE_KEYS:
            continue
        a = saved.get(key, defaults.get(key, "<missing>"))
        b = current.get(key, defaults.get(key, "<missing>"))
        if a != b:
            diffs.append(f"{key} (checkpoint {a!r}, now {b!r})")
    return diffs


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


# --------------------------------------------------------------------------- RNG state


def rng_state() -> dict[str, Any]:
    """The torch, NumPy, Python (and CUDA) RNG states, as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the RNG states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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
        use_cuda = torch.cuda.is_available() and device_name != "cpu"
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


# --------------------------------------------------------------------------- training


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def _validate(
    model: nn.Module, dataset: Dataset, device: torch.device, batch_size: int
) -> dict[str, float]:
    recon = reconstruct_dataset(model, dataset, device=device, batch_size=batch_size)
    scores = score_reconstructions(recon)
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
    val_set = _subset(build_dataset(config, "val"), config.val_limit)
    train_view = _subset(train_set, config.limit)
    if len(train_view) == 0:  # type: ignore[arg-type]
        raise ValueError(f"no training slices in {config.data!r}")

    # model, loss, optimiser (same initial weights on every rank)
    seed_everything(config.seed)
    model = build_model(config).to(device)
    loss_fn = build_loss(config).to(device)
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
            loss = loss_fn(pred.float(), batch["target"])
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
