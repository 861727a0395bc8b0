"""2-D MRI slice datasets with simulated or measured single-coil k-space and column masks.

Every dataset yields the same item, a dict::

    target       float32 (1, H, W)   magnitude image in [0, 1] (per-volume max normalisation)
    kspace       complex64 (1, H, W) undersampled k-space, kspace = mask · fft2c(target)
    mask         float32 (W,)        1 = sampled column
    zero_filled  float32 (1, H, W)   |ifft2c(kspace)|
    slice_id     str                 stable id, e.g. "mni/axial/087"
    volume_id    str                 the volume the slice belongs to, e.g. "mni/axial"

(:class:`FastMRISlices` with ``kspace="raw"`` differs: its k-space and mask keep the raw
acquisition grid; see there.) k-space is simulated, as IXI-based studies do: the centred
orthonormal FFT of the magnitude slice (:func:`msglance.mri.fft.simulate_single_coil`).

Masks: with ``fixed_masks=True`` (the default for every split but ``"train"``) the mask of a
slice is :func:`msglance.mri.masks.mask_for_slice` of its id and the seed, so every method
sees the same masks. Otherwise the mask also depends on the epoch set with
:meth:`set_epoch`: a fresh mask per slice and epoch that is still reproducible (and identical
in every DataLoader worker and after a resume).

Datasets:
- :class:`MNISlices` — nilearn's bundled MNI152 template, three orientations, a
  deterministic split by contiguous slice blocks (:func:`mni_split`).
- :class:`IXISlices` — a folder of NIfTI volumes (IXI T1/T2/PD), axial slices.
- :class:`FastMRISlices` — single-coil fastMRI ``.h5`` files.
- :class:`S1045Slice` — matplotlib's real sagittal head slice, an out-of-distribution check.

Unreadable files raise :class:`DataFileError` (a ``ValueError``) with a one-line message
naming the file; missing paths raise ``FileNotFoundError``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor
from torch.utils.data import Dataset

from msglance.data.brain import MNI152_SHAPE, mni152_volume, s1045_slice
from msglance.data.readers import UnreadableFileError, read_nifti
from msglance.extras import require
from msglance.mri.fft import ifft2c, simulate_single_coil
from msglance.mri.masks import (
    DEFAULT_ACCELERATION,
    DEFAULT_CENTER_FRACTION,
    apply_mask,
    mask_for_slice,
    num_center_columns,
)

__all__ = [
    "ORIENTATIONS",
    "SPLITS",
    "DataFileError",
    "volume_slice",
    "fit_to_square",
    "center_crop",
    "foreground_fraction",
    "contiguous_split",
    "volume_block_split",
    "mni_split",
    "slice_sample",
    "MaskedSliceDataset",
    "MNISlices",
    "IXISlices",
    "FastMRISlices",
    "S1045Slice",
]

Orientation = Literal["sagittal", "coronal", "axial"]
ORIENTATIONS: tuple[str, ...] = ("sagittal", "coronal", "axial")
SPLITS: tuple[str, ...] = ("train", "val", "test", "all")

#: Defaults of the near-empty-slice rule: keep a slice when at least ``MIN_FOREGROUND`` of
#: its native (un-padded) pixels exceed ``FOREGROUND_LEVEL`` on the [0, 1] volume scale.
FOREGROUND_LEVEL = 0.05
MIN_FOREGROUND = 0.10


class DataFileError(ValueError):
    """A data file exists but cannot be read as the expected NIfTI / HDF5 content."""


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__


# --------------------------------------------------------------------------- slicing helpers


def volume_slice(volume: np.ndarray, orientation: str, index: int) -> np.ndarray:
    """One 2-D slice of a RAS volume ``volume[x, y, z]``, rotated for display.

    - ``"sagittal"``: ``volume[index]`` → rows superior→inferior, columns posterior→anterior;
    - ``"coronal"``: ``volume[:, index]`` → rows superior→inferior, columns left→right;
    - ``"axial"``: ``volume[:, :, index]`` → rows anterior→posterior, columns left→right.

    Raises:
        ValueError: unknown orientation, non-3-D volume, or index out of range.
    """
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {orientation!r}")
    if volume.ndim != 3:
        raise ValueError(f"expected a 3-D volume, got shape {volume.shape}")
    axis = ORIENTATIONS.index(orientation)
    if not 0 <= index < volume.shape[axis]:
        raise ValueError(
            f"{orientation} slice {index} is out of range for a volume of shape {volume.shape}"
        )
    plane = np.take(volume, index, axis=axis)
    return np.ascontiguousarray(np.rot90(plane))


def fit_to_square(image: np.ndarray | Tensor, size: int) -> Tensor:
    """Fit a 2-D image into ``size × size``: shrink if needed, then zero-pad centrally.

    If ``max(H, W) > size`` the image is resized (bilinear with antialiasing, aspect ratio
    kept) so that its longer side is ``size``; then it is zero-padded with
    ``top = (size - h) // 2`` (same for the left). Values stay in the input's range.

    Returns:
        float32 tensor ``(size, size)``.

    Raises:
        ValueError: not 2-D, or ``size < 1``.
    """
    t = torch.as_tensor(np.ascontiguousarray(image) if isinstance(image, np.ndarray) else image)
    t = t.to(torch.float32)
    if t.ndim != 2:
        raise ValueError(f"expected a 2-D image (H, W), got shape {tuple(t.shape)}")
    if size < 1:
        raise ValueError(f"size must be >= 1, got {size}")
    h, w = t.shape
    if max(h, w) > size:
        scale = size / max(h, w)
        nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
        t = F.interpolate(
            t[None, None], size=(nh, nw), mode="bilinear", align_corners=False, antialias=True
        )[0, 0]
        h, w = nh, nw
    top, left = (size - h) // 2, (size - w) // 2
    return F.pad(t, (left, size - w - left, top, size - h - top)).contiguous()


def center_crop(image: Tensor, height: int, width: int) -> Tensor:
    """Central ``height × width`` crop of the last two dims (fastMRI ``center_crop``).

    Raises:
        ValueError: the crop is larger than the image.
    """
    h, w = image.shape[-2:]
    if height > h or width > w:
        raise ValueError(
            f"cannot crop {height}×{width} from an image of shape {tuple(image.shape)}"
        )
    top, left = (h - height) // 2, (w - width) // 2
    return image[..., top : top + height, left : left + width]


def foreground_fraction(image: np.ndarray | Tensor, level: float = FOREGROUND_LEVEL) -> float:
    """Fraction of pixels strictly above ``level``."""
    arr = image.numpy() if isinstance(image, Tensor) else np.asarray(image)
    return float((arr > level).mean()) if arr.size else 0.0


# --------------------------------------------------------------------------- splits


def _check_fractions(val_fraction: float, test_fraction: float) -> None:
    for name, f in (("val_fraction", val_fraction), ("test_fraction", test_fraction)):
        if not 0.0 < f < 1.0:
            raise ValueError(f"{name} must be in (0, 1), got {f}")
    if val_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}"
        )


def contiguous_split(
    indices: Sequence[int],
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    gap: int = 10,
) -> dict[str, list[int]]:
    """Split sorted slice indices into contiguous blocks with gaps between splits.

    Layout along the slice axis (``g`` = ``gap`` discarded slices)::

        [train ...] g [val] g [test] g [... train]

    With ``n`` indices and ``u = n - 3·gap`` usable ones, ``val`` holds
    ``max(1, round(val_fraction·u))`` slices, ``test`` ``max(1, round(test_fraction·u))``
    and train the rest, half before and half after, so val/test sit in the middle of the
    anatomy rather than at its thin edges. Positions are counted in the list, so any two
    slices of different splits are at least ``gap + 1`` slice numbers apart.

    Returns:
        ``{"train": [...], "val": [...], "test": [...]}`` (sorted slice numbers).

    Raises:
        ValueError: bad fractions, negative gap, or too few slices for a non-empty train
            block.
    """
    _check_fractions(val_fraction, test_fraction)
    if gap < 0:
        raise ValueError(f"gap must be >= 0, got {gap}")
    ordered = sorted(int(i) for i in indices)
    if len(set(ordered)) != len(ordered):
        raise ValueError("indices must be unique")
    n = len(ordered)
    usable = n - 3 * gap
    n_val = max(1, round(val_fraction * usable))
    n_test = max(1, round(test_fraction * usable))
    n_train = usable - n_val - n_test
    if n_train < 1:
        raise ValueError(
            f"{n} slices are too few for val/test blocks with gaps of {gap} "
            f"(need at least {3 * gap + 3})"
        )
    lo = n_train // 2
    val_start = lo + gap
    test_start = val_start + n_val + gap
    hi_start = test_start + n_test + gap
    return {
        "train": ordered[:lo] + ordered[hi_start:],
        "val": ordered[val_start : val_start + n_val],
        "test": ordered[test_start : test_start + n_test],
    }


def volume_block_split(
    names: Sequence[str], val_fraction: float = 0.15, test_fraction: float = 0.15
) -> dict[str, list[str]]:
    """Split volumes (sorted by name) into train/val/test blocks: test last, val before it.

    With ``n >= 3`` volumes, each of val and test gets ``max(1, round(fraction·n))``.

    Raises:
        ValueError: fewer than 3 volumes or bad fractions.
    """
    _check_fractions(val_fraction, test_fraction)
    ordered = sorted(names)
    n = len(ordered)
    if n < 3:
        raise ValueError(f"a train/val/test split needs at least 3 volumes, got {n}; use split='all'")
    n_test = max(1, round(test_fraction * n))
    n_val = max(1, round(val_fraction * n))
    n_train = n - n_val - n_test
    if n_train < 1:
        raise ValueError(f"{n} volumes leave no training volume")
    return {
        "train": ordered[:n_train],
        "val": ordered[n_train : n_train + n_val],
        "test": ordered[n_train + n_val :],
    }


def _mni_candidates(orientation: str) -> range:
    axis = ORIENTATIONS.index(orientation)
    if orientation == "sagittal":
        # The 2009a template is symmetric: sagittal slice x equals slice 196 - x, so only
        # the midline and one hemisphere are distinct images.
        return range(MNI152_SHAPE[0] // 2, MNI152_SHAPE[0])
    return range(MNI152_SHAPE[axis])


def mni_split(
    orientations: Sequence[str] = ORIENTATIONS,
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    gap: int = 10,
    foreground_level: float = FOREGROUND_LEVEL,
    min_foreground: float = MIN_FOREGROUND,
) -> dict[str, dict[str, list[int]]]:
    """The MNI152 slice table: ``{orientation: {"train"|"val"|"test": [slice numbers]}}``.

    Slice numbers index the RAS volume axis of the orientation (x for sagittal, y for
    coronal, z for axial). Candidates: every slice, except that sagittal slices are taken
    from the midline (x = 98) outwards only, the template being left–right symmetric.
    A candidate is kept when at least ``min_foreground`` of its native pixels exceed
    ``foreground_level``; kept slices are split by :func:`contiguous_split`. With the
    defaults this keeps 65 sagittal, 157 coronal and 123 axial slices.
    """
    if not 0.0 <= min_foreground <= 1.0:
        raise ValueError(f"min_foreground must be in [0, 1], got {min_foreground}")
    volume = mni152_volume()
    table: dict[str, dict[str, list[int]]] = {}
    for orientation in orientations:
        if orientation not in ORIENTATIONS:
            raise ValueError(f"orientation must be one of {ORIENTATIONS}, got {orientation!r}")
        axis = ORIENTATIONS.index(orientation)
        other = tuple(a for a in range(3) if a != axis)
        fractions = (volume > foreground_level).mean(axis=other)
        kept = [i for i in _mni_candidates(orientation) if fractions[i] >= min_foreground]
        table[orientation] = contiguous_split(kept, val_fraction, test_fraction, gap)
    return table


# --------------------------------------------------------------------------- items


def slice_sample(image: Tensor, mask: Tensor, slice_id: str, volume_id: str) -> dict[str, Any]:
    """Build a dataset item from a magnitude slice ``(H, W)`` and a column mask ``(W,)``.

    ``kspace = mask · fft2c(image)``, ``zero_filled = |ifft2c(kspace)|``.
    """
    target = image.to(torch.float32).reshape(1, *image.shape[-2:])
    masked, zero_filled = apply_mask(simulate_single_coil(target), mask)
    return {
        "target": target,
        "kspace": masked,
        "mask": mask.to(torch.float32),
        "zero_filled": zero_filled.to(torch.float32),
        "slice_id": slice_id,
        "volume_id": volume_id,
    }


class MaskedSliceDataset(Dataset):
    """Shared mask handling of the slice datasets (subclasses supply the slices).

    Args:
        split: one of ``SPLITS`` (checked, kept as ``self.split``), or ``None`` for a
            dataset without splits.
        acceleration, center_fraction, mask_kind: mask parameters (checked up front).
        seed: mask seed; the same seed gives the same masks in every run.
        fixed_masks: one mask per slice forever (``True``) or per slice and epoch;
            ``None``: fixed for every split but ``"train"``.
    """

    def __init__(
        self,
        *,
        split: str | None = None,
        acceleration: float = DEFAULT_ACCELERATION,
        center_fraction: float = DEFAULT_CENTER_FRACTION,
        mask_kind: str = "random",
        seed: int = 0,
        fixed_masks: bool | None = None,
    ) -> None:
        if split is not None:
            _check_split(split)
            self.split = split
        if fixed_masks is None:
            fixed_masks = split != "train"
        if mask_kind not in ("random", "equispaced"):
            raise ValueError(f"mask_kind must be 'random' or 'equispaced', got {mask_kind!r}")
        self.acceleration = float(acceleration)
        self.center_fraction = float(center_fraction)
        self.mask_kind = mask_kind
        self.seed = int(seed)
        self.fixed_masks = bool(fixed_masks)
        self.epoch = 0

    def _check_width(self, width: int) -> None:
        num_center_columns(width, self.acceleration, self.center_fraction)

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose masks non-fixed items use (call before each epoch)."""
        self.epoch = int(epoch)

    def mask(self, slice_id: str, width: int) -> Tensor:
        """The mask item ``slice_id`` gets now (depends on the epoch unless fixed)."""
        return mask_for_slice(
            slice_id,
            width,
            kind=self.mask_kind,
            acceleration=self.acceleration,
            center_fraction=self.center_fraction,
            seed=self.seed,
            epoch=None if self.fixed_masks else self.epoch,
        )

    @property
    def slice_ids(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


class MNISlices(MaskedSliceDataset):
    """Slices of nilearn's bundled MNI152 2009a T1 template (real brain MRI, no download).

    The volume is normalised by its max to [0, 1]; each kept slice (rule and split in
    :func:`mni_split`) is rotated for display and fitted into ``size × size``
    (:func:`fit_to_square`: zero padding at 256, antialiased shrinking below 197/233).
    Slice ids are ``"mni/<orientation>/<NNN>"`` with NNN the RAS voxel index.

    Note: the three orientations cut the same single volume, so a test slice shares voxels
    (not images) with training slices of the other orientations; pass one orientation for
    a strictly disjoint study.

    Args:
        split: ``"train"``, ``"val"``, ``"test"`` or ``"all"`` (the three together).
        size: output height and width.
        orientations: subset of ``("sagittal", "coronal", "axial")``.
        fixed_masks: default ``split != "train"``.
        val_fraction, test_fraction, gap, foreground_level, min_foreground: see
            :func:`mni_split`.
    """

    def __init__(
        self,
        split: str = "train",
        *,
        size: int = 256,
        orientations: Sequence[str] = ORIENTATIONS,
        acceleration: float = DEFAULT_ACCELERATION,
        center_fraction: float = DEFAULT_CENTER_FRACTION,
        mask_kind: str = "random",
        seed: int = 0,
        fixed_masks: bool | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        gap: int = 10,
        foreground_level: float = FOREGROUND_LEVEL,
        min_foreground: float = MIN_FOREGROUND,
    ) -> None:
        super().__init__(
            split=split,
            acceleration=acceleration,
            center_fraction=center_fraction,
            mask_kind=mask_kind,
            seed=seed,
            fixed_masks=fixed_masks,
        )
        self._check_width(size)
        self.size = int(size)
        self.table = mni_split(
            orientations,
            val_fraction=val_fraction,
            test_fraction=test_fraction,
            gap=gap,
            foreground_level=foreground_level,
            min_foreground=min_foreground,
        )
        parts = ("train", "val", "test") if split == "all" else (split,)
        self.items: list[tuple[str, int]] = [
            (o, i) for o in self.table for p in parts for i in self.table[o][p]
        ]
        self.items.sort(key=lambda oi: (ORIENTATIONS.index(oi[0]), oi[1]))

    def __len__(self) -> int:
        return len(self.items)

    @property
    def slice_ids(self) -> list[str]:
        return [f"mni/{o}/{i:03d}" for o, i in self.items]

    def image(self, index: int) -> Tensor:
        """Target magnitude ``(size, size)`` of item ``index``."""
        orientation, number = self.items[index]
        return fit_to_square(volume_slice(mni152_volume(), orientation, number), self.size)

    def __getitem__(self, index: int) -> dict[str, Any]:
        orientation, number = self.items[index]
        slice_id = f"mni/{orientation}/{number:03d}"
        return slice_sample(
            self.image(index), self.mask(slice_id, self.size), slice_id, f"mni/{orientation}"
        )


# --------------------------------------------------------------------------- IXI / NIfTI


def _nifti_name(path: Path) -> str:
    name = path.name
    for suffix in (".nii.gz", ".nii"):
        if name.endswith(suffix):
            return name[: -len(suffix)]
    return name


def _load_nifti_ras(path: Path) -> np.ndarray:
    """A 3-D NIfTI volume reoriented to RAS, float32 (:func:`msglance.data.read_nifti`),
    with one-line errors naming the file."""
    if not path.is_file():
        raise FileNotFoundError(f"NIfTI file not found: {path}")
    try:
        data = read_nifti(path, canonical=True)
    except UnreadableFileError as exc:
        raise DataFileError(f"cannot read NIfTI file {path}: {_one_line(exc)}") from None
    if data.ndim != 3:
        raise DataFileError(f"NIfTI file {path} is not a 3-D volume (shape {data.shape})")
    if not np.isfinite(data).all():
        raise DataFileError(f"NIfTI file {path} holds NaN or inf values")
    return data


def _normalise_volume(data: np.ndarray, path: Path) -> np.ndarray:
    data = np.clip(data, 0.0, None)
    peak = float(data.max()) if data.size else 0.0
    if not peak > 0:
        raise DataFileError(f"NIfTI file {path} has no positive values (empty volume)")
    return data / peak


class IXISlices(MaskedSliceDataset):
    """Axial 2-D slices of a folder of NIfTI volumes (IXI T1/T2/PD or any brain MRI).

    Each volume is reoriented to RAS (``nibabel.as_closest_canonical``), clipped at 0,
    divided by its max, and cut into axial slices (:func:`volume_slice`) fitted into
    ``size × size``; slices with fewer than ``min_foreground`` of their pixels above
    ``foreground_level`` are dropped. Volumes are split by name (:func:`volume_block_split`).
    Slice ids are ``"ixi/<file name without .nii[.gz]>/<NNN>"``.

    Args:
        path: a folder (searched for ``*.nii`` and ``*.nii.gz``, not recursively) or one file.
        split: ``"all"`` (default), ``"train"``, ``"val"`` or ``"test"``.
        contrast: keep only files whose name ends with ``-<contrast>`` (IXI naming, e.g.
            ``"T1"``, ``"T2"``, ``"PD"``; case-insensitive).

    Raises:
        FileNotFoundError: the path does not exist or holds no NIfTI file.
        DataFileError: a file cannot be read (message names the file).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        split: str = "all",
        *,
        contrast: str | None = None,
        size: int = 256,
        acceleration: float = DEFAULT_ACCELERATION,
        center_fraction: float = DEFAULT_CENTER_FRACTION,
        mask_kind: str = "random",
        seed: int = 0,
        fixed_masks: bool | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
        foreground_level: float = FOREGROUND_LEVEL,
        min_foreground: float = MIN_FOREGROUND,
    ) -> None:
        super().__init__(
            split=split,
            acceleration=acceleration,
            center_fraction=center_fraction,
            mask_kind=mask_kind,
            seed=seed,
            fixed_masks=fixed_masks,
        )
        self._check_width(size)
        self.size = int(size)
        root = Path(path)
        if not root.exists():
            raise FileNotFoundError(f"IXI data path not found: {root}")
        if root.is_dir():
            files = sorted(
                p for p in root.iterdir() if p.name.endswith((".nii", ".nii.gz")) and not p.is_dir()
            )
        else:
            files = [root]
        if contrast is not None:
            tag = f"-{contrast}".lower()
            files = [p for p in files if _nifti_name(p).lower().endswith(tag)]
        if not files:
            what = f" with contrast {contrast!r}" if contrast else ""
            raise FileNotFoundError(f"no NIfTI files (*.nii, *.nii.gz){what} in {root}")
        by_name = {_nifti_name(p): p for p in files}
        if split != "all":
            chosen = volume_block_split(list(by_name), val_fraction, test_fraction)[split]
            by_name = {n: by_name[n] for n in chosen}
        self.files: dict[str, Path] = by_name
        self.items: list[tuple[str, int]] = []
        for name, file in by_name.items():
            volume = _normalise_volume(_load_nifti_ras(file), file)
            fractions = (volume > foreground_level).mean(axis=(0, 1))
            self.items += [(name, int(k)) for k in np.flatnonzero(fractions >= min_foreground)]
        self._cache: tuple[str, np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.items)

    @property
    def slice_ids(self) -> list[str]:
        return [f"ixi/{n}/{k:03d}" for n, k in self.items]

    def _volume(self, name: str) -> np.ndarray:
        if self._cache is None or self._cache[0] != name:
            file = self.files[name]
            self._cache = (name, _normalise_volume(_load_nifti_ras(file), file))
        return self._cache[1]

    def image(self, index: int) -> Tensor:
        name, k = self.items[index]
        return fit_to_square(volume_slice(self._volume(name), "axial", k), self.size)

    def __getitem__(self, index: int) -> dict[str, Any]:
        name, k = self.items[index]
        slice_id = f"ixi/{name}/{k:03d}"
        return slice_sample(self.image(index), self.mask(slice_id, self.size), slice_id, f"ixi/{name}")


# --------------------------------------------------------------------------- fastMRI


class FastMRISlices(MaskedSliceDataset):
    """Slices of single-coil fastMRI ``.h5`` files (``kspace``, ``reconstruction_esc``).

    Target: ``reconstruction_esc[k]`` centre-cropped to ``crop × crop`` and divided by the
    volume max (the file's ``max`` attribute when present, else the array max), so targets
    lie in [0, 1] and the fastMRI data_range (target volume max) is 1. All slices are used,
    as fastMRI evaluates them all.

    k-space, by ``kspace``:
    - ``"simulated"`` (default): ``fft2c`` of the cropped target, on the same
      ``crop × crop`` grid as the image, as :class:`msglance.mri.networks.ReconNet`'s data
      consistency requires;
    - ``"raw"``: the measured ``kspace[k]`` scaled by the same factor, masked on its own
      width; ``zero_filled`` is the centre crop of ``|ifft2c(masked)|``, so ``kspace`` and
      ``mask`` keep the raw acquisition grid (e.g. 640×368) while images are ``crop²``.

    Args:
        path: a folder of ``.h5`` files (not recursive) or one file.
        split: ``"all"`` (default; fastMRI ships its own train/val folders) or a volume block
            split as in :func:`volume_block_split`.

    Raises:
        FileNotFoundError: missing path or no ``.h5`` file.
        DataFileError: unreadable file, missing dataset, or inconsistent shapes (names it).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        split: str = "all",
        *,
        crop: int = 320,
        kspace: str = "simulated",
        acceleration: float = DEFAULT_ACCELERATION,
        center_fraction: float = DEFAULT_CENTER_FRACTION,
        mask_kind: str = "random",
        seed: int = 0,
        fixed_masks: bool | None = None,
        val_fraction: float = 0.15,
        test_fraction: float = 0.15,
    ) -> None:
        super().__init__(
            split=split,
            acceleration=acceleration,
            center_fraction=center_fraction,
            mask_kind=mask_kind,
            seed=seed,
            fixed_masks=fixed_masks,
        )
        if kspace not in ("simulated", "raw"):
            raise ValueError(f"kspace must be 'simulated' or 'raw', got {kspace!r}")
        self.crop = int(crop)
        self.kspace_mode = kspace
        root = Path(path)
        if not root.exists():
            raise FileNotFoundError(f"fastMRI data path not found: {root}")
        files = sorted(p for p in root.glob("*.h5") if p.is_file()) if root.is_dir() else [root]
        if not files:
            raise FileNotFoundError(f"no fastMRI .h5 files in {root}")
        by_name = {p.stem: p for p in files}
        if split != "all":
            chosen = volume_block_split(list(by_name), val_fraction, test_fraction)[split]
            by_name = {n: by_name[n] for n in chosen}
        self.files: dict[str, Path] = by_name
        self.scales: dict[str, float] = {}
        self.items: list[tuple[str, int]] = []
        for name, file in by_name.items():
            n_slices, peak, width = self._inspect(file)
            self._check_width(width if kspace == "raw" else self.crop)
            self.scales[name] = 1.0 / peak
            self.items += [(name, k) for k in range(n_slices)]

    def _inspect(self, file: Path) -> tuple[int, float, int]:
        h5py = require("h5py", "io")

        try:
            with h5py.File(file, "r") as hf:
                for key in ("kspace", "reconstruction_esc"):
                    if key not in hf:
                        raise DataFileError(
                            f"fastMRI file {file} has no {key!r} dataset "
                            f"(found {sorted(hf.keys())}); single-coil files with targets are needed"
                        )
                ks, rec = hf["kspace"], hf["reconstruction_esc"]
                if ks.ndim != 3 or rec.ndim != 3 or ks.shape[0] != rec.shape[0]:
                    raise DataFileError(
                        f"fastMRI file {file}: expected kspace (slices, H, W) and "
                        f"reconstruction_esc (slices, h, w) with equal slices, got "
                        f"{ks.shape} and {rec.shape} (multi-coil files are not supported)"
                    )
                if rec.shape[1] < self.crop or rec.shape[2] < self.crop:
                    raise DataFileError(
                        f"fastMRI file {file}: reconstruction_esc {rec.shape[1:]} is smaller "
                        f"than the {self.crop}×{self.crop} crop"
                    )
                peak = float(rec.attrs["max"]) if "max" in rec.attrs else float(hf.attrs.get("max", 0.0))
                if not peak > 0:
                    peak = float(np.max(rec[()]))
                n_slices, width = int(ks.shape[0]), int(ks.shape[2])
        except DataFileError:
            raise
        except Exception as exc:  # noqa: BLE001 - any parse failure is a bad file
            raise DataFileError(f"cannot read fastMRI file {file}: {_one_line(exc)}") from None
        if not peak > 0:
            raise DataFileError(f"fastMRI file {file}: reconstruction_esc has no positive values")
        return n_slices, peak, width

    def __len__(self) -> int:
        return len(self.items)

    @property
    def slice_ids(self) -> list[str]:
        return [f"fastmri/{n}/{k:03d}" for n, k in self.items]

    def _read(self, name: str, k: int, key: str) -> np.ndarray:
        h5py = require("h5py", "io")

        file = self.files[name]
        try:
            with h5py.File(file, "r") as hf:
                return np.asarray(hf[key][k])
        except Exception as exc:  # noqa: BLE001
            raise DataFileError(f"cannot read fastMRI file {file}: {_one_line(exc)}") from None

    def image(self, index: int) -> Tensor:
        name, k = self.items[index]
        rec = torch.from_numpy(self._read(name, k, "reconstruction_esc").astype(np.float32))
        target = center_crop(rec, self.crop, self.crop) * self.scales[name]
        return target.clamp_min(0.0).contiguous()

    def __getitem__(self, index: int) -> dict[str, Any]:
        name, k = self.items[index]
        slice_id = f"fastmri/{name}/{k:03d}"
        target = self.image(index)
        if self.kspace_mode == "simulated":
            return slice_sample(target, self.mask(slice_id, self.crop), slice_id, f"fastmri/{name}")
        raw = torch.from_numpy(self._read(name, k, "kspace").astype(np.complex64))
        raw = (raw * self.scales[name])[None]
        mask = self.mask(slice_id, raw.shape[-1])
        masked, _ = apply_mask(raw, mask)
        zero_filled = center_crop(ifft2c(masked).abs(), self.crop, self.crop).contiguous()
        return {
            "target": target[None],
            "kspace": masked,
            "mask": mask,
            "zero_filled": zero_filled,
            "slice_id": slice_id,
            "volume_id": f"fastmri/{name}",
        }


# --------------------------------------------------------------------------- s1045


class S1045Slice(MaskedSliceDataset):
    """matplotlib's real single-subject sagittal head slice (with skull): one item.

    An out-of-distribution check for models trained on the skull-stripped MNI template.
    The slice (256×256, [0, 1]) is fitted into ``size × size``; its mask is always fixed
    (id ``"s1045/sagittal/000"``).
    """

    SLICE_ID = "s1045/sagittal/000"

    def __init__(
        self,
        *,
        size: int = 256,
        acceleration: float = DEFAULT_ACCELERATION,
        center_fraction: float = DEFAULT_CENTER_FRACTION,
        mask_kind: str = "random",
        seed: int = 0,
    ) -> None:
        super().__init__(
            acceleration=acceleration,
            center_fraction=center_fraction,
            mask_kind=mask_kind,
            seed=seed,
            fixed_masks=True,
        )
        self._check_width(size)
        self.size = int(size)

    def __len__(self) -> int:
        return 1

    @property
    def slice_ids(self) -> list[str]:
        return [self.SLICE_ID]

    def image(self, index: int = 0) -> Tensor:
        if index not in (0, -1):
            raise IndexError(f"S1045Slice has one item, got index {index}")
        return fit_to_square(s1045_slice(), self.size)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return slice_sample(
            self.image(index), self.mask(self.SLICE_ID, self.size), self.SLICE_ID, "s1045"
        )
