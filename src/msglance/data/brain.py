"""Real brain MRI that ships inside installed wheels (no download, ever).

Two sources, both read from files that ``pip install`` already put on disk:

**MNI152 2009 T1 template** (:func:`mni152_volume`), nilearn's bundled
``nilearn/datasets/data/mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz``: the ICBM 2009a
nonlinear *symmetric* T1-weighted average of 152 adults (Fonov et al., NeuroImage 54(1),
2011; Fonov et al., NeuroImage 47 S102, 2009; Collins et al., 1999), skull-stripped,
197×233×189 voxels of 1 mm in RAS orientation, stored by nilearn as uint8 (0..255).
Copyright McConnell Brain Imaging Centre, Montreal Neurological Institute, McGill
University; the MNI distribution grants use, copying and redistribution provided the
copyright notice is kept (nilearn's dataset description lists the licence as "unknown").
nilearn itself is BSD-3-Clause. Because the template is *symmetric*, sagittal slice ``x``
equals sagittal slice ``196 - x`` exactly (voxel for voxel).

**s1045** (:func:`s1045_slice`), matplotlib's sample file ``mpl-data/sample_data/s1045.ima.gz``
used by matplotlib's MRI examples: one real single-subject sagittal T1-weighted head slice
*with* skull and neck, 256×256, stored as gzip-compressed raw big-endian uint16 (131072
bytes) holding 8-bit values 0..215. Distributed under matplotlib's licence (PSF-based);
matplotlib does not document its acquisition further.

Both loaders return float32 arrays normalised to [0, 1] by their maximum, and never call
nilearn's fetchers or any network function.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
from pathlib import Path

import numpy as np

from msglance.data.readers import UnreadableFileError, read_nifti

__all__ = [
    "BundledDataError",
    "MNI152_FILENAME",
    "MNI152_SHAPE",
    "S1045_SHAPE",
    "mni152_path",
    "mni152_volume",
    "s1045_path",
    "s1045_slice",
]

MNI152_FILENAME = "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz"
MNI152_SHAPE = (197, 233, 189)
S1045_SHAPE = (256, 256)


class BundledDataError(FileNotFoundError):
    """A data file that should ship inside an installed wheel is missing or unreadable."""


def _package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise BundledDataError(
            f"the {package!r} package is not installed; pip install 'msglance[data]'"
        )
    return Path(next(iter(spec.submodule_search_locations)))


def mni152_path() -> Path:
    """Path of nilearn's bundled MNI152 T1 template inside the installed nilearn wheel.

    Raises:
        BundledDataError: nilearn is missing or its wheel lacks the template file.
    """
    path = _package_dir("nilearn") / "datasets" / "data" / MNI152_FILENAME
    if not path.is_file():
        raise BundledDataError(
            f"nilearn's bundled MNI152 template is missing: {path} "
            "(reinstall nilearn>=0.10 from a wheel; msglance never downloads it)"
        )
    return path


@functools.lru_cache(maxsize=1)
def _mni152_cached() -> np.ndarray:
    path = mni152_path()
    try:  # the package's one NIfTI reader; canonical: RAS (the template is stored so)
        data = read_nifti(path, canonical=True)
    except UnreadableFileError as exc:
        raise BundledDataError(f"cannot read the MNI152 template {path}: {exc.reason}") from None
    if data.shape != MNI152_SHAPE:
        raise BundledDataError(
            f"unexpected MNI152 template {path}: shape {data.shape}; expected {MNI152_SHAPE} in RAS"
        )
    peak = float(data.max())
    if not peak > 0:
        raise BundledDataError(f"the MNI152 template {path} is all zeros")
    data /= peak
    data.setflags(write=False)
    return data


def mni152_volume() -> np.ndarray:
    """The MNI152 2009a symmetric T1 template, float32 ``(197, 233, 189)``, RAS, in [0, 1].

    ``volume[x, y, z]`` with x left→right, y posterior→anterior, z inferior→superior,
    divided by the volume maximum (255). The array is cached and read-only; copy it before
    modifying.

    Raises:
        BundledDataError: the file is missing from the installed nilearn or unreadable.
    """
    return _mni152_cached()


def s1045_path() -> Path:
    """Path of matplotlib's sample ``s1045.ima.gz`` inside the installed matplotlib wheel.

    Raises:
        BundledDataError: matplotlib is missing or its wheel lacks the sample file.
    """
    path = _package_dir("matplotlib") / "mpl-data" / "sample_data" / "s1045.ima.gz"
    if not path.is_file():
        raise BundledDataError(f"matplotlib's sample MRI slice is missing: {path}")
    return path


def s1045_slice() -> np.ndarray:
    """matplotlib's real sagittal head slice, float32 ``(256, 256)`` in [0, 1].

    Decoded as gzip → raw big-endian uint16, reshaped row-major to 256×256 (superior at
    the top, face to the left), divided by its maximum (215).

    Raises:
        BundledDataError: the file is missing or not a 256×256 uint16 image.
    """
    path = s1045_path()
    try:
        with gzip.open(path, "rb") as fh:
            raw = fh.read()
    except Exception as exc:  # noqa: BLE001
        reason = " ".join(str(exc).split())
        raise BundledDataError(f"cannot read {path}: {reason}") from None
    expected = S1045_SHAPE[0] * S1045_SHAPE[1] * 2
    if len(raw) != expected:
        raise BundledDataError(f"{path} holds {len(raw)} bytes, expected {expected} (256×256 uint16)")
    image = np.frombuffer(raw, dtype=">u2").reshape(S1045_SHAPE).astype(np.float32)
    peak = float(image.max())
    if not peak > 0:
        raise BundledDataError(f"{path} is all zeros")
    return image / peak
