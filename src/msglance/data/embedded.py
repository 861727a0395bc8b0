"""Named image sets built from files that installed wheels already hold, and user folders.

Nothing here touches the network: every named set reads files shipped inside the
scikit-image, scikit-learn, matplotlib and nilearn wheels (docs/design.md §5).

=========  ==================================================================================
set        images
=========  ==================================================================================
natural    scikit-image photos astronaut, camera (grayscale), coffee, chelsea, rocket,
           immunohistochemistry, hubble_deep_field, retina (CC0 / public domain /
           no known restrictions); scikit-learn china and flower (CC BY 2.0, attribution kept)
faces      astronaut (NASA, public domain) and matplotlib's grace_hopper.jpg
lfw        8 face crops from scikit-image's ``lfw_subset`` (grayscale, native size 25×25, so
           strongly upscaled: smooth, much easier to fit than a real face photo)
mri        nilearn's MNI152 2009a T1 template: 3 axial, 3 coronal and 3 sagittal slices, plus
           matplotlib's real single-subject sagittal slice s1045 (all grayscale)
=========  ==================================================================================

Every :class:`Sample` holds ``image`` as a **NumPy float32 array in [0, 1]**, ``(H, W)`` for
grayscale and ``(H, W, 3)`` for RGB (use :meth:`Sample.tensor` for a ``(C, H, W)`` torch
tensor). Images are centre-cropped to a square and resized to ``size × size`` (see
:func:`square_resize`); grayscale stays one channel, RGB stays three. Order is fixed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch

from msglance.data.readers import (
    UnreadableFileError,
    file_kind,
    list_images,
    read_image,
    read_nifti,
)
from msglance.extras import require

__all__ = [
    "Sample",
    "available_datasets",
    "load_dataset",
    "load_image_folder",
    "square_resize",
]


@dataclasses.dataclass(frozen=True, eq=False)
class Sample:
    """One image of a set.

    Attributes:
        name: unique within its set (e.g. ``"astronaut"``, ``"mni152_axial_z085"``, or a
            relative path for user folders).
        image: float32 NumPy array in [0, 1], ``(H, W)`` grayscale or ``(H, W, 3)`` RGB.
        source: where it comes from (package and file, or the user's path).
        licence: licence / attribution text to keep with any published result.
        native_shape: shape of the image as stored, before cropping and resizing.
    """

    name: str
    image: np.ndarray
    source: str
    licence: str
    native_shape: tuple[int, ...] = ()

    @property
    def channels(self) -> int:
        """1 for grayscale, 3 for RGB."""
        return 1 if self.image.ndim == 2 else int(self.image.shape[-1])

    def tensor(self) -> torch.Tensor:
        """The image as a float32 ``(C, H, W)`` torch tensor (a copy)."""
        img = self.image if self.image.ndim == 3 else self.image[..., None]
        return torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))).clone()


def _check_size(size: int | None) -> None:
    if size is None:
        return
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer or None, got {size!r}")


def square_resize(image: np.ndarray, size: int | None) -> np.ndarray:
    """Centre-crop ``image`` to a square and resize it to ``size × size``.

    The crop keeps the central ``min(H, W)`` rows and columns (the extra pixel of an odd
    margin goes to the bottom/right). Resizing uses ``skimage.transform.resize``: bilinear
    with Gaussian anti-aliasing when shrinking, bicubic when enlarging; the result is
    clipped to [0, 1]. ``size=None`` only crops. Channels (``(H, W)`` or ``(H, W, C)``)
    are kept.

    Returns:
        float32 ``(size, size)`` or ``(size, size, C)``, C-contiguous.
    """
    _check_size(size)
    if image.ndim not in (2, 3) or image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"expected a non-empty (H, W) or (H, W, C) image, got {image.shape}")
    h, w = image.shape[:2]
    s = min(h, w)
    top, left = (h - s) // 2, (w - s) // 2
    out = np.asarray(image[top : top + s, left : left + s], dtype=np.float32)
    if size is not None and size != s:
        resize = require("skimage.transform", "data").resize

        out = resize(
            out,
            (size, size) + out.shape[2:],
            order=1 if size < s else 3,
            anti_aliasing=size < s,
            mode="reflect",
            preserve_range=True,
        )
        out = np.clip(out, 0.0, 1.0)
    return np.ascontiguousarray(out, dtype=np.float32)


def _unit_range(image: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] unless already inside it (constant images become zeros)."""
    lo, hi = float(image.min()), float(image.max())
    if lo >= 0.0 and hi <= 1.0:
        return image.astype(np.float32, copy=False)
    if hi == lo:
        return np.zeros_like(image, dtype=np.float32)
    return ((image - lo) / (hi - lo)).astype(np.float32)


def _u8(image: np.ndarray) -> np.ndarray:
    return image.astype(np.float32) / 255.0


# ----------------------------------------------------------------------------- natural

_SKIMAGE_LICENCES = {
    "astronaut": (
        "NASA Great Images (Eileen Collins); no known copyright restrictions, public domain"
    ),
    "camera": "CC0 by the photographer (Lav Varshney)",
    "coffee": "CC0 by the photographer (Rachel Michetti), courtesy of Pikolo Espresso Bar",
    "chelsea": "CC0 by the photographer (Stefan van der Walt)",
    "rocket": "SpaceX (DSCOVR launch on Falcon 9), released into the public domain",
    "immunohistochemistry": (
        "Center for Microscopy And Molecular Imaging (CMMI); no known copyright restrictions"
    ),
    "hubble_deep_field": "NASA Hubble eXtreme Deep Field; public domain",
    "retina": "Mikael Häggström, Wikimedia Commons; CC0 1.0 public domain dedication",
}

_SKLEARN_ATTRIBUTION = (
    "CC BY 2.0 (https://creativecommons.org/licenses/by/2.0/); attribution: "
    "'Some rights reserved by danielbuechele' (https://www.flickr.com/photos/danielbuechele/); "
    "retrieved 2011-08-21 by Robert Layton for scikit-learn"
)

_Raw = tuple[str, np.ndarray, str, str]  # name, image in [0, 1], source, licence


def _skimage_photo(name: str) -> _Raw:
    data = require("skimage.data", "data")

    img = _u8(getattr(data, name)())
    return name, img, f"scikit-image skimage.data.{name}()", _SKIMAGE_LICENCES[name]


def _natural() -> list[_Raw]:
    load_sample_images = require("sklearn.datasets", "data").load_sample_images

    out = [_skimage_photo(n) for n in _SKIMAGE_LICENCES]
    bunch = load_sample_images()
    for fname, img in zip(bunch.filenames, bunch.images):
        stem = Path(fname).stem
        source = f"scikit-learn sklearn.datasets.load_sample_images(): {Path(fname).name}"
        out.append((stem, _u8(img), source, _SKLEARN_ATTRIBUTION))
    return out


# ----------------------------------------------------------------------------- faces


def _grace_hopper() -> _Raw:
    cbook = require("matplotlib.cbook", "data")

    path = Path(cbook.get_sample_data("grace_hopper.jpg", asfileobj=False))
    return (
        "grace_hopper",
        read_image(path),
        f"matplotlib sample data: {path.name}",
        "US Navy photograph of Rear Admiral Grace M. Hopper (public domain), "
        "distributed with matplotlib",
    )


def _faces() -> list[_Raw]:
    return [_skimage_photo("astronaut"), _grace_hopper()]


_LFW_COUNT = 8


def _lfw() -> list[_Raw]:
    data = require("skimage.data", "data")

    crops = data.lfw_subset()  # (200, 25, 25): the first 100 are faces
    idx = np.linspace(0, 99, _LFW_COUNT).round().astype(int)
    return [
        (
            f"lfw_{i:03d}",
            _unit_range(np.asarray(crops[i], dtype=np.float32)),
            f"scikit-image skimage.data.lfw_subset()[{i}] (native 25x25 face crop)",
            "Labeled Faces in the Wild (Huang et al. 2007), subset shipped with scikit-image",
        )
        for i in idx
    ]


# ----------------------------------------------------------------------------- mri

#: (orientation, axis, index) of the MNI152 slices, spread over the brain's extent
MNI152_SLICES: tuple[tuple[str, int, int], ...] = (
    ("axial", 2, 60),
    ("axial", 2, 85),
    ("axial", 2, 110),
    ("coronal", 1, 80),
    ("coronal", 1, 115),
    ("coronal", 1, 150),
    ("sagittal", 0, 60),
    ("sagittal", 0, 80),
    ("sagittal", 0, 98),
)

_MNI_LICENCE = (
    "ICBM 2009a nonlinear symmetric T1 template (Fonov et al. 2009/2011), "
    "Copyright McConnell Brain Imaging Centre, MNI, McGill University; redistribution "
    "permitted with this notice; bundled with nilearn (BSD-3-Clause)"
)


def _mri() -> list[_Raw]:
    from msglance.data.brain import mni152_volume, s1045_slice

    vol = mni152_volume()
    out: list[_Raw] = []
    for orient, axis, k in MNI152_SLICES:
        # rot90 of the RAS slice puts superior (or anterior, for axial) at the top
        sl = np.rot90(np.take(vol, k, axis=axis)).astype(np.float32)
        out.append(
            (
                f"mni152_{orient}_{'xyz'[axis]}{k:03d}",
                sl,
                f"nilearn bundled MNI152 T1 template, {orient} slice {'xyz'[axis]}={k}",
                _MNI_LICENCE,
            )
        )
    out.append(
        (
            "s1045",
            np.asarray(s1045_slice(), dtype=np.float32),
            "matplotlib sample data: s1045.ima.gz (real sagittal T1 head slice)",
            "distributed with matplotlib (matplotlib licence, PSF-based)",
        )
    )
    return out


_SETS: dict[str, tuple[str, Callable[[], list[_Raw]]]] = {
    "natural": (
        "10 photos: 8 scikit-image (CC0/public domain) + scikit-learn china, flower (CC BY 2.0)",
        _natural,
    ),
    "faces": ("astronaut and matplotlib's grace_hopper portrait (RGB)", _faces),
    "lfw": (f"{_LFW_COUNT} grayscale LFW face crops, native 25x25 (upscaled)", _lfw),
    "mri": ("9 MNI152 T1 template slices (axial/coronal/sagittal) + the s1045 slice", _mri),
}


def available_datasets() -> dict[str, str]:
    """Names of the embedded sets mapped to a one-line description, in a fixed order."""
    return {name: desc for name, (desc, _) in _SETS.items()}


def load_dataset(name: str | os.PathLike[str], size: int | None = 512) -> list[Sample]:
    """Load an embedded set by name, or a user folder/file when ``name`` is a path.

    Args:
        name: one of :func:`available_datasets`, or a path (see :func:`load_image_folder`).
        size: side of the square output images; ``None`` keeps the centre crop's size.

    Returns:
        The set's samples in a fixed order; ``image`` is float32 in [0, 1], ``(size, size)``
        or ``(size, size, 3)``.

    Raises:
        ValueError: unknown name that is not an existing path, or a bad ``size``.
    """
    _check_size(size)
    key = os.fspath(name)
    if key in _SETS:
        return [
            Sample(n, square_resize(img, size), src, lic, tuple(img.shape))
            for n, img, src, lic in _SETS[key][1]()
        ]
    if Path(key).exists():
        return load_image_folder(key, size)
    raise ValueError(
        f"unknown dataset {key!r}: expected one of {sorted(_SETS)} or an existing folder/file"
    )


def _volume_slices(
    vol: np.ndarray, fractions: Sequence[float]
) -> list[tuple[str, np.ndarray]]:
    n = vol.shape[2]
    out = []
    for f in fractions:
        k = min(n - 1, max(0, int(round(f * (n - 1)))))
        out.append((f"z{k:03d}", np.rot90(vol[:, :, k])))
    return out


def load_image_folder(
    path: str | os.PathLike[str],
    size: int | None = 512,
    volume_slices: Sequence[float] = (0.5,),
) -> list[Sample]:
    """Load every supported image and NIfTI file under a folder (or one file).

    Files are found recursively by :func:`~msglance.data.readers.list_images` and loaded in
    sorted relative-path order. Raster images are read with
    :func:`~msglance.data.readers.read_image` (integer data scaled by the dtype max). NIfTI
    files are read with ``canonical=True`` (RAS); a 2-D file gives one image, a 3-D file one
    axial slice per entry of ``volume_slices`` (fractions of the z extent; default the
    middle slice), named ``"<relpath>[z<k>]"``. Float data outside [0, 1] (NIfTI
    intensities, float TIFF) is min-max normalised per file, which for non-negative MRI
    magnitudes is division by the volume maximum up to the minimum's offset.

    Raises:
        FileNotFoundError: ``path`` does not exist.
        ValueError: no supported file found, bad ``size`` or ``volume_slices``.
        UnreadableFileError: a file could not be read (the message names it).
    """
    _check_size(size)
    fractions = tuple(float(f) for f in volume_slices)
    if not fractions or any(not 0.0 <= f <= 1.0 for f in fractions):
        raise ValueError(f"volume_slices must be fractions in [0, 1], got {volume_slices!r}")
    root = Path(path)
    if not root.exists():
        raise FileNotFoundError(f"no such file or folder: {root}")
    if root.is_file():
        if file_kind(root) is None:
            raise UnreadableFileError(root, "unsupported file extension")
        base, rels = root.parent, [Path(root.name)]
    else:
        base, rels = root, list_images(root)
        if not rels:
            raise ValueError(f"no supported image or NIfTI files under {root}")

    samples: list[Sample] = []
    for rel in rels:
        file = base / rel
        name = rel.as_posix()
        if file_kind(file) == "nifti":
            vol = _unit_range(read_nifti(file, canonical=True))
            parts = [("", vol)] if vol.ndim == 2 else _volume_slices(vol, fractions)
            for tag, img in parts:
                samples.append(
                    Sample(
                        f"{name}[{tag}]" if tag else name,
                        square_resize(np.ascontiguousarray(img), size),
                        str(file),
                        "user data",
                        tuple(vol.shape),
                    )
                )
        else:
            img = _unit_range(read_image(file))
            samples.append(
                Sample(name, square_resize(img, size), str(file), "user data", tuple(img.shape))
            )
    return samples
