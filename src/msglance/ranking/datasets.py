"""Image sets for LTRP, all from installed wheels (nothing downloaded) or the user's folder.

=============  ================================================================================
name           images
=============  ================================================================================
``digits``     scikit-learn ``load_digits`` (1797 8×8 digits, values 0–16) scaled to [0, 1] and
               upsampled ×``size/8`` by pixel repetition, so with ``patch = size/8`` **each
               original pixel is one patch** (``L = 64``); stratified train/test split
``natural``    random ``crop × crop`` crops of the embedded photos (:func:`msglance.data.load_dataset`
               ``"natural"``) resized to several scales; train/test **split by source photo**,
               never by crop; RGB (the grayscale ``camera`` repeated)
``lfw``        scikit-image ``lfw_subset``: 100 face and 100 non-face 25×25 crops resized to
               ``size``; label 1 = face; stratified split
a folder       every readable image under it (:func:`msglance.data.load_image_folder`)
=============  ================================================================================
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["DATASETS", "PatchData", "digits", "image_folder", "lfw_face_nonface", "load_split",
           "natural_crops"]

DATASETS: tuple[str, ...] = ("digits", "natural", "lfw")


@dataclass
class PatchData:
    """Images ``(N, C, H, W)`` float32 in [0, 1], optional labels ``(N,)``, source names."""

    images: Tensor
    labels: Tensor | None = None
    sources: list[str] = field(default_factory=list)
    name: str = ""

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, keep: Tensor) -> PatchData:
        """The items where the bool ``keep (N,)`` is true (or at the given indices)."""
        idx = keep.nonzero().flatten() if keep.dtype == torch.bool else keep
        labels = None if self.labels is None else self.labels[idx]
        sources = [self.sources[i] for i in idx.tolist()] if self.sources else []
        return PatchData(self.images[idx], labels, sources, self.name)


def _stratified(labels: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    train, test = train_test_split(idx, test_size=test_fraction, stratify=labels, random_state=seed)
    return np.sort(train), np.sort(test)


def digits(size: int = 32, seed: int = 0, test_fraction: float = 0.2) -> tuple[PatchData, PatchData]:
    """The scikit-learn digits as ``(train, test)``, ``(N, 1, size, size)``.

    Examples:
        >>> train, test = digits()
        >>> tuple(train.images.shape[1:]), len(train) + len(test), int(train.labels.max())
        ((1, 32, 32), 1797, 9)
    """
    from sklearn.datasets import load_digits

    if size % 8:
        raise ValueError(f"size must be a multiple of 8 (8x8 digits), got {size}")
    d = load_digits()
    x = torch.from_numpy(d.images.astype(np.float32) / 16.0)[:, None]
    x = x.repeat_interleave(size // 8, dim=2).repeat_interleave(size // 8, dim=3)
    y = torch.from_numpy(d.target.astype(np.int64))
    names = [f"digits[{i}]" for i in range(len(y))]
    tr, te = _stratified(d.target, test_fraction, seed)
    full = PatchData(x, y, names, "digits")
    return full.subset(torch.from_numpy(tr)), full.subset(torch.from_numpy(te))


def _rgb(sample_image: np.ndarray) -> Tensor:
    img = sample_image if sample_image.ndim == 3 else np.repeat(sample_image[..., None], 3, axis=2)
    return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).float()


def natural_crops(
    crop: int = 32,
    scales: tuple[int, ...] = (256, 128, 64),
    crops_per_image: int = 64,
    test_images: int = 2,
    seed: int = 0,
) -> tuple[PatchData, PatchData]:
    """Random crops of the embedded photos at several scales, split **by source photo**.

    Each photo is resized to every side in ``scales`` and ``crops_per_image`` crops are
    drawn over those resizings; ``test_images`` photos (chosen with ``seed``) give the test
    crops only.

    Examples:
        >>> train, test = natural_crops(crop=32, scales=(64,), crops_per_image=4)
        >>> set(train.sources).isdisjoint(test.sources), tuple(test.images.shape[1:])
        (True, (3, 32, 32))
    """
    from msglance.data.embedded import load_dataset

    if any(s < crop for s in scales):
        raise ValueError(f"every scale must be at least the crop size {crop}, got {scales}")
    rng = np.random.default_rng(seed)
    by_scale = {s: load_dataset("natural", s) for s in scales}
    names = [s.name for s in by_scale[scales[0]]]
    if not 1 <= test_images < len(names):
        raise ValueError(f"test_images must be in [1, {len(names) - 1}], got {test_images}")
    test_names = set(rng.choice(names, size=test_images, replace=False).tolist())
    parts: dict[bool, tuple[list[Tensor], list[str]]] = {True: ([], []), False: ([], [])}
    for i, name in enumerate(names):
        for j in range(crops_per_image):
            side = scales[j % len(scales)]
            img = _rgb(by_scale[side][i].image)
            r, c = rng.integers(0, side - crop + 1, size=2)
            parts[name in test_names][0].append(img[:, r : r + crop, c : c + crop])
            parts[name in test_names][1].append(name)
    out = []
    for is_test in (False, True):
        imgs, srcs = parts[is_test]
        out.append(PatchData(torch.stack(imgs), None, srcs, "natural"))
    return out[0], out[1]


def lfw_face_nonface(size: int = 32, seed: int = 0, test_fraction: float = 0.3) -> tuple[PatchData, PatchData]:
    """scikit-image's LFW subset: 100 faces (label 1) and 100 non-faces (label 0).

    Examples:
        >>> train, test = lfw_face_nonface()
        >>> len(train) + len(test), int(test.labels.sum()), tuple(train.images.shape[1:])
        (200, 30, (1, 32, 32))
    """
    from skimage import data

    crops = torch.from_numpy(np.asarray(data.lfw_subset(), dtype=np.float32))[:, None]
    x = F.interpolate(crops, size=(size, size), mode="bilinear", align_corners=False).clamp(0, 1)
    y = torch.cat([torch.ones(100), torch.zeros(100)]).long()
    tr, te = _stratified(y.numpy(), test_fraction, seed)
    full = PatchData(x, y, [f"lfw_subset[{i}]" for i in range(200)], "lfw")
    return full.subset(torch.from_numpy(tr)), full.subset(torch.from_numpy(te))


def image_folder(path: str | os.PathLike[str], size: int = 32, channels: int = 1) -> PatchData:
    """Every readable image under ``path`` as ``(N, channels, size, size)`` (centre-cropped).

    Raises:
        ValueError: no readable image there.
    """
    from msglance.data.embedded import load_image_folder

    samples = load_image_folder(path, size)
    if not samples:
        raise ValueError(f"{path}: no readable image")
    imgs = []
    for s in samples:
        t = _rgb(s.image)
        imgs.append(t.mean(dim=0, keepdim=True) if channels == 1 else t)
    return PatchData(torch.stack(imgs), None, [s.name for s in samples], Path(path).name)


def load_split(name: str, size: int = 32, seed: int = 0) -> tuple[PatchData, PatchData]:
    """``(train, test)`` of a named set, or ``(all, all)`` for a folder of images."""
    if name == "digits":
        return digits(size, seed)
    if name == "natural":
        return natural_crops(size, seed=seed)
    if name == "lfw":
        return lfw_face_nonface(size, seed)
    if Path(name).exists():
        data = image_folder(name, size)
        return data, data
    raise ValueError(f"unknown data {name!r}: expected one of {', '.join(DATASETS)} or a folder")
