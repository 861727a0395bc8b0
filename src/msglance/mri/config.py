"""The configuration of an MRI training run and the factories that build it.

:class:`TrainConfig` is everything that defines a run (saved as ``config.json`` in the run
directory and in every checkpoint); :func:`build_dataset`, :func:`build_model` and
:func:`build_loss` turn it into the data, the network and the loss; :func:`load_config`
reads it back from a run directory (also what ``--config run/config.json`` uses).

Examples:
    >>> from msglance.mri.config import TrainConfig, glance_grid_side, parse_data_spec
    >>> parse_data_spec("ixi /data/IXI")
    ('ixi', '/data/IXI')
    >>> glance_grid_side(TrainConfig(size=128))
    48
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from torch import nn
from torch.utils.data import Dataset, Subset

from msglance.glance_grid import glance_grid_for
from msglance.mri.datasets import FastMRISlices, IXISlices, MNISlices, S1045Slice
from msglance.mri.networks import ReconNet
from msglance.mri.target_weights import TargetWeights

__all__ = [
    "MUTABLE_KEYS",
    "ConfigMismatchError",
    "TrainConfig",
    "build_dataset",
    "build_loss",
    "build_model",
    "build_target_weights",
    "config_differences",
    "glance_grid_side",
    "load_config",
    "parse_data_spec",
    "subset_evenly",
]

#: Config keys that may change between a run and its resumption (they do not change the
#: trajectory): more epochs, another device, another number of loader workers, diagnostics.
MUTABLE_KEYS: frozenset[str] = frozenset({"epochs", "device", "workers", "out", "diagnostics"})


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
        position_weights: weight the Global Glance draws by a map of each item's
            fully-sampled target (a :func:`msglance.position_weights.weight_source` spec:
            ``"ltrp:CKPT"``, ``"variance"``, ``"gradient"``, ``"PATH.npy"``; per-patch sources
            use 16×16 patches), see :mod:`msglance.mri.target_weights`; ``None`` = uniform.
            Combines with ``delta``. The loss must have a Global Glance term (``global`` or
            ``msglance``): :func:`build_loss` refuses other specs.
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
    position_weights: str | None = None
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
        if self.position_weights is not None and (
            not isinstance(self.position_weights, str) or not self.position_weights.strip()
        ):
            raise ValueError(f"invalid position_weights={self.position_weights!r} in the "
                             "training config (a weight-source spec such as 'ltrp:CKPT', or null)")
        if self.best_metric not in ("psnr", "ssim"):
            raise ValueError(f"best_metric must be 'psnr' or 'ssim', got {self.best_metric!r}")
        if self.size < 2**self.pools:
            raise ValueError(f"size {self.size} is too small for {self.pools} pooling layers")


class ConfigMismatchError(ValueError):
    """``resume=True`` with a config that differs from the checkpoint's."""



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


def subset_evenly(dataset: Dataset, limit: int) -> Dataset:
    """At most ``limit`` items of ``dataset``, evenly spaced (all of them for ``limit <= 0``).

    Examples:
        >>> from msglance.mri.config import subset_evenly
        >>> [int(i) for i in subset_evenly(list(range(10)), 4)]
        [0, 3, 6, 9]
    """
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


def glance_grid_side(config: TrainConfig) -> int:
    """The Global Glance grid side: ``config.glance_grid`` or, for 0, ``round(96·size/256)``
    (≥ 16), by :func:`msglance.glance_grid.glance_grid_for`."""
    return glance_grid_for((config.size, config.size), config.glance_grid or None)[0]


def build_loss(config: TrainConfig) -> nn.Module:
    """:func:`msglance.losses.parse` of ``config.loss`` with ``delta``, the glance grid and
    the ``local`` term's window (``local_window``, given only when the spec has that term).

    Raises:
        ValueError: a bad spec, or ``position_weights`` with a loss that has no Global
            Glance term (the weights would change nothing: an error, not a warning).
    """
    from msglance import losses

    n = glance_grid_side(config)
    names = {t.lower().replace("-", "_") for t in re.findall(r"[A-Za-z][\w\-]*", config.loss)}
    per_term = {"local": {"window": config.local_window}} if "local" in names else {}
    loss = losses.parse(config.loss, delta=config.delta, grid=(n, n), **per_term)
    if config.position_weights is not None and not loss.weighted_terms:
        raise ValueError(
            f"position_weights {config.position_weights!r} need a Global Glance term in the "
            f"loss ('global' or 'msglance'); {config.loss!r} has none"
        )
    return loss


def build_target_weights(config: TrainConfig) -> TargetWeights | None:
    """The :class:`~msglance.mri.target_weights.TargetWeights` of ``config.position_weights``
    (16×16 patches for the per-patch sources), ``None`` without them.

    Raises:
        ValueError: a bad spec or a missing checkpoint, as ``"position_weights: ..."``.
    """
    if config.position_weights is None:
        return None
    try:
        return TargetWeights(config.position_weights, patch=16)
    except ValueError as exc:
        raise ValueError(f"position_weights: {exc}") from None
