"""Training loops for the MAE, the ranker and the token classifier, resumable and DDP-ready.

One loop (:func:`fit`) serves all three: Adam(W) over shuffled mini-batches of in-memory
tensors, a per-batch loss supplied by the model kind, and after **every** epoch an atomic
checkpoint ``OUT/last.pt`` (:mod:`msglance.ranking.checkpoint`; written with
:func:`msglance.mri.checkpoint.save_checkpoint`) holding the model, optimiser, history, RNG states
and the settings. ``resume=True`` continues from it with no lost epoch; its settings must equal
the new ones except ``epochs`` and ``device``.

Every random draw of epoch ``e`` comes from generators seeded by ``(seed, e)`` (the shuffle)
and ``(seed, e, rank)`` (the masks), so a resumed run draws what the uninterrupted run would
have drawn.

Under ``torchrun --nproc_per_node N`` (``WORLD_SIZE`` > 1) the model is wrapped in
DistributedDataParallel (gloo on CPU, NCCL on CUDA), each process sees its share of every
epoch (``DistributedSampler``), ``batch_size`` is per process and rank 0 writes the files.

* :func:`train_mae` — masked-patch MSE of :class:`~msglance.ranking.mae.MaskedAutoencoder`.
* :func:`train_ranker` — for each batch a fresh random mask, the frozen MAE's pseudo-scores
  of the visible patches (:func:`~msglance.ranking.pseudo_labels.pseudo_scores`) and a
  ranking loss (:mod:`~msglance.ranking.losses`) between them and the ranker's scores at
  those positions.
* :func:`train_classifier` — cross entropy of a
  :class:`~msglance.ranking.classifier.TokenClassifier` on all tokens or on fixed kept tokens.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import Tensor, nn

from msglance.device import resolve_device
from msglance.mri.checkpoint import rng_state, save_checkpoint
from msglance.mri.train import DistContext, init_distributed, mean_across
from msglance.ranking.checkpoint import FORMAT, read_checkpoint
from msglance.ranking.classifier import ClassifierConfig, TokenClassifier
from msglance.ranking.losses import ranking_loss
from msglance.ranking.mae import MAEConfig, MaskedAutoencoder, random_masking, visible_count
from msglance.ranking.pseudo_labels import REMOVAL_MODES, pseudo_scores
from msglance.ranking.ranker import PatchRanker, RankerConfig

__all__ = [
    "MUTABLE_SETTINGS",
    "TrainEvent",
    "TrainResult",
    "fit",
    "train_classifier",
    "train_mae",
    "train_ranker",
]

#: settings that may differ between a run and its resumption
MUTABLE_SETTINGS: frozenset[str] = frozenset({"epochs", "device"})


@dataclass
class TrainEvent:
    """A progress report: ``kind`` is ``"start"`` (``total`` = epochs, ``epoch`` = the first
    epoch to run), ``"epoch"`` (``total`` = steps), ``"step"`` (``loss`` = running mean) or
    ``"epoch_end"`` (``loss`` = the epoch's mean)."""

    kind: str
    epoch: int
    step: int = 0
    total: int = 0
    loss: float = math.nan


@dataclass
class TrainResult:
    """A trained model, its per-epoch history and where (if at all) it was resumed."""

    model: nn.Module
    history: list[dict[str, float]] = field(default_factory=list)
    resumed_from_epoch: int | None = None
    checkpoint: Path | None = None


def _epoch_generator(seed: int, epoch: int, rank: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(((seed * 1_000_003 + epoch) * 1_009 + rank) % 2**63)


def fit(
    model: nn.Module,
    kind: str,
    tensors: tuple[Tensor, ...],
    batch_loss: Callable[[nn.Module, tuple[Tensor, ...], torch.Generator], Tensor],
    settings: dict[str, Any],
    *,
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: Callable[[TrainEvent], None] | None = None,
) -> TrainResult:
    """Train ``model`` on ``tensors`` (first dimension = items) with ``batch_loss``.

    ``settings`` must hold ``epochs``, ``batch_size``, ``lr``, ``weight_decay``, ``seed`` and
    ``device``; all of it is saved in the checkpoint. ``batch_loss(net, batch, generator)``
    returns the mean loss of a mini-batch (``net`` is the DDP wrapper under ``torchrun``).

    Raises:
        FileExistsError: ``out/last.pt`` exists and ``resume`` is false.
        ValueError: ``resume`` with different settings (named), or bad settings.
    """
    for key in ("epochs", "batch_size"):
        if int(settings[key]) < 1:
            raise ValueError(f"{key} must be at least 1, got {settings[key]}")
    if not settings["lr"] > 0:
        raise ValueError(f"lr must be positive, got {settings['lr']}")
    ctx = init_distributed(str(settings["device"]))
    try:
        return _fit(model, kind, tensors, batch_loss, settings, out, resume, progress, ctx)
    finally:
        if ctx.owns_group and dist.is_initialized():
            dist.destroy_process_group()


def _fit(model, kind, tensors, batch_loss, settings, out, resume, progress, ctx: DistContext):
    device = resolve_device(str(settings["device"]), ctx.local_rank if ctx.active else None)
    out_dir = Path(out) if out is not None else None
    last = out_dir / "last.pt" if out_dir is not None else None
    model = model.to(device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad],
                            lr=float(settings["lr"]), weight_decay=float(settings["weight_decay"]))
    history: list[dict[str, float]] = []
    start = 0
    resumed = None
    if last is not None and last.is_file():
        if not resume:
            raise FileExistsError(f"{out_dir} already holds a {kind} run (last.pt); pass "
                                  "--resume to continue it or choose another output folder")
        ckpt = read_checkpoint(last, kind)
        saved = ckpt["settings"]
        diffs = [f"{k} (checkpoint {saved.get(k)!r}, now {settings.get(k)!r})"
                 for k in sorted(set(saved) | set(settings))
                 if k not in MUTABLE_SETTINGS and saved.get(k) != settings.get(k)]
        if diffs:
            raise ValueError(f"cannot resume {out_dir}: settings differ in " + "; ".join(diffs))
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        history = list(ckpt["history"])
        start = resumed = int(ckpt["epoch"])

    net: nn.Module = model
    if ctx.active:
        net = nn.parallel.DistributedDataParallel(
            model, device_ids=[device.index] if device.type == "cuda" else None)

    def emit(event: TrainEvent) -> None:
        if progress is not None and ctx.rank == 0:
            progress(event)

    n = len(tensors[0])
    epochs, batch = int(settings["epochs"]), int(settings["batch_size"])
    seed = int(settings["seed"])
    emit(TrainEvent("start", start, total=epochs))
    for epoch in range(start, epochs):
        t0 = time.perf_counter()
        order = torch.randperm(n, generator=_epoch_generator(seed, epoch))
        if ctx.active:  # each process a disjoint share (padded like DistributedSampler)
            per = math.ceil(n / ctx.world)
            order = torch.cat([order, order[: per * ctx.world - n]])[ctx.rank :: ctx.world]
        steps = math.ceil(len(order) / batch)
        gen = _epoch_generator(seed, epoch, 1 + ctx.rank)
        net.train()
        total = 0.0
        emit(TrainEvent("epoch", epoch + 1, total=steps))
        for step in range(steps):
            idx = order[step * batch : (step + 1) * batch]
            loss = batch_loss(net, tuple(t[idx].to(device) for t in tensors), gen)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"non-finite {kind} loss at epoch {epoch + 1}, step {step + 1}")
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach())
            emit(TrainEvent("step", epoch + 1, step + 1, steps, total / (step + 1)))
        mean = mean_across({"loss": total / steps}, ctx, device)["loss"]
        history.append({"epoch": epoch + 1, "loss": mean, "seconds": time.perf_counter() - t0})
        if last is not None and ctx.rank == 0:
            out_dir.mkdir(parents=True, exist_ok=True)
            save_checkpoint(last, {
                "format": FORMAT, "kind": kind, "model_config": model.config_dict(),
                "model": model.state_dict(), "optimizer": opt.state_dict(),
                "epoch": epoch + 1, "history": history, "settings": dict(settings),
                "rng": rng_state(), "world_size": ctx.world,
            })
        if ctx.active:
            dist.barrier()
        emit(TrainEvent("epoch_end", epoch + 1, loss=mean))
    model.eval()
    return TrainResult(model, history, resumed, last)


def _settings(**kw: Any) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in kw.items()}


def train_mae(
    images: Tensor,
    config: MAEConfig | None = None,
    *,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    mask_ratio: float = 0.75,
    seed: int = 0,
    device: str = "auto",
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: Callable[[TrainEvent], None] | None = None,
) -> TrainResult:
    """Train a :class:`~msglance.ranking.mae.MaskedAutoencoder` on ``images (N, C, H, W)``.

    The model's ``image_size``/``channels`` default to the images'.

    Examples:
        >>> x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> cfg = MAEConfig(image_size=8, patch=2, dim=16, depth=1, decoder_dim=16, decoder_depth=1)
        >>> r = train_mae(x, cfg, epochs=2, batch_size=4, device="cpu")
        >>> len(r.history), r.history[-1]["loss"] > 0
        (2, True)
    """
    config = config or MAEConfig(image_size=images.shape[-1], channels=images.shape[1])
    visible_count((config.image_size // config.patch) ** 2, mask_ratio)
    torch.manual_seed(seed)
    model = MaskedAutoencoder(config)

    def loss(net: nn.Module, batch: tuple[Tensor, ...], gen: torch.Generator) -> Tensor:
        value, _, _ = net(batch[0], mask_ratio, generator=gen)
        return value

    settings = _settings(kind="mae", model_config=model.config_dict(), epochs=epochs,
                         batch_size=batch_size, lr=lr, weight_decay=weight_decay,
                         mask_ratio=mask_ratio, seed=seed, device=device, items=len(images))
    return fit(model, "mae", (images,), loss, settings, out=out, resume=resume, progress=progress)


def train_ranker(
    mae: MaskedAutoencoder,
    images: Tensor,
    config: RankerConfig | None = None,
    *,
    loss: str = "listmle",
    loss_options: dict[str, Any] | None = None,
    mode: str = "true",
    measure: str = "l1",
    mask_ratio: float = 0.75,
    asymmetric: bool = False,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    seed: int = 0,
    device: str = "auto",
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: Callable[[TrainEvent], None] | None = None,
) -> TrainResult:
    """Train a :class:`~msglance.ranking.ranker.PatchRanker` on the frozen ``mae``'s
    pseudo-scores (fresh random masks every batch).

    Examples:
        >>> x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> small = dict(image_size=8, patch=2, dim=16, depth=1)
        >>> mae = MaskedAutoencoder(MAEConfig(decoder_dim=16, decoder_depth=1, **small))
        >>> r = train_ranker(mae, x, RankerConfig(**small), epochs=1, batch_size=4, device="cpu")
        >>> tuple(r.model.rank(x).shape)
        (8, 16)
    """
    if mode not in REMOVAL_MODES:
        raise ValueError(f"mode must be one of {REMOVAL_MODES}, got {mode!r}")
    loss_fn = ranking_loss(loss)
    options = dict(loss_options or {})
    mc = mae.config
    config = config or RankerConfig(image_size=mc.image_size, patch=mc.patch, channels=mc.channels)
    if (config.image_size, config.patch, config.channels) != (mc.image_size, mc.patch, mc.channels):
        raise ValueError("the ranker's image_size, patch and channels must equal the MAE's")
    length = (config.image_size // config.patch) ** 2
    visible_count(length, mask_ratio)
    mae = mae.eval().requires_grad_(False)
    torch.manual_seed(seed)
    model = PatchRanker(config)

    def batch_loss(net: nn.Module, batch: tuple[Tensor, ...], gen: torch.Generator) -> Tensor:
        x = batch[0]
        mae.to(x.device)
        ids_keep, _ = random_masking(len(x), length, mask_ratio, gen, device=x.device)
        labels = pseudo_scores(mae, x, ids_keep=ids_keep, mode=mode, measure=measure).scores
        scores = net(x, ids_keep if asymmetric else None).gather(1, ids_keep)
        return loss_fn(scores, labels, **options)

    settings = _settings(kind="ranker", model_config=model.config_dict(), mae_config=mae.config_dict(),
                         loss=loss, loss_options=options, mode=mode, measure=measure,
                         mask_ratio=mask_ratio, asymmetric=asymmetric, epochs=epochs,
                         batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                         device=device, items=len(images))
    return fit(model, "ranker", (images,), batch_loss, settings, out=out, resume=resume,
               progress=progress)


def train_classifier(
    images: Tensor,
    labels: Tensor,
    ids: Tensor | None = None,
    config: ClassifierConfig | None = None,
    *,
    epochs: int = 30,
    batch_size: int = 64,
    lr: float = 1e-3,
    weight_decay: float = 0.05,
    seed: int = 0,
    device: str = "auto",
    out: str | os.PathLike[str] | None = None,
    resume: bool = False,
    progress: Callable[[TrainEvent], None] | None = None,
) -> TrainResult:
    """Train a :class:`~msglance.ranking.classifier.TokenClassifier` with labels, on all tokens
    (``ids=None``) or on the kept tokens ``ids (N, k)`` of each image.

    Examples:
        >>> x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0))
        >>> y = torch.arange(8) % 2
        >>> cfg = ClassifierConfig(image_size=8, patch=2, classes=2, dim=16, depth=1)
        >>> r = train_classifier(x, y, config=cfg, epochs=1, batch_size=4, device="cpu")
        >>> tuple(r.model(x).shape)
        (8, 2)
    """
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"labels must be (N,) with N={len(images)}, got {tuple(labels.shape)}")
    classes = int(labels.max()) + 1
    config = config or ClassifierConfig(image_size=images.shape[-1], channels=images.shape[1],
                                        classes=classes)
    if classes > config.classes:
        raise ValueError(f"labels go up to {classes - 1} but the classifier has {config.classes} classes")
    torch.manual_seed(seed)
    model = TokenClassifier(config)
    tensors = (images, labels) if ids is None else (images, labels, ids)

    def batch_loss(net: nn.Module, batch: tuple[Tensor, ...], gen: torch.Generator) -> Tensor:
        return F.cross_entropy(net(batch[0], batch[2] if len(batch) > 2 else None), batch[1])

    settings = _settings(kind="classifier", model_config=model.config_dict(), epochs=epochs,
                         batch_size=batch_size, lr=lr, weight_decay=weight_decay, seed=seed,
                         device=device, items=len(images), kept=None if ids is None else ids.shape[1])
    return fit(model, "classifier", tensors, batch_loss, settings, out=out, resume=resume,
               progress=progress)
