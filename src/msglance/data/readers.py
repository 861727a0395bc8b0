"""Readers for users' own data: raster images (PNG, JPEG, TIFF, ...) and NIfTI volumes.

Every reader returns a ``float32`` NumPy array and turns *any* failure to read a file
(missing, unsupported, corrupt, truncated, wrong shape) into one exception,
:class:`UnreadableFileError`, whose message names the file and the reason.

Intensity conventions:

* :func:`read_image`: integer images are divided by their dtype's maximum (8-bit by 255,
  16-bit by 65535), so they land in [0, 1]; ``raw=True`` keeps the stored values. Float
  images (e.g. float TIFF) are returned as stored. Grayscale stays 2-D ``(H, W)``; colour
  becomes ``(H, W, 3)`` RGB (alpha dropped, palette/CMYK/YCbCr converted to RGB).
* :func:`read_nifti`: the stored intensities (after the header's ``scl_slope``/``scl_inter``),
  2-D ``(H, W)`` or 3-D ``(X, Y, Z)``; trailing singleton axes are dropped; complex data is
  reduced to magnitude. No normalisation.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from msglance.extras import require

__all__ = [
    "IMAGE_EXTENSIONS",
    "NIFTI_EXTENSIONS",
    "SUPPORTED_EXTENSIONS",
    "UnreadableFileError",
    "file_kind",
    "list_images",
    "read_image",
    "read_image_stored",
    "read_nifti",
]

IMAGE_EXTENSIONS: tuple[str, ...] = (
    ".png",
    ".jpg",
    ".jpeg",
    ".tif",
    ".tiff",
    ".bmp",
    ".gif",
    ".webp",
    ".ppm",
    ".pgm",
    ".pbm",
    ".pnm",
)
NIFTI_EXTENSIONS: tuple[str, ...] = (".nii", ".nii.gz")
SUPPORTED_EXTENSIONS: tuple[str, ...] = IMAGE_EXTENSIONS + NIFTI_EXTENSIONS

_TIFF = (".tif", ".tiff")


class UnreadableFileError(ValueError):
    """A file could not be read as an image or volume; the message names the file.

    Attributes:
        path: the file.
        reason: why it could not be read.
    """

    def __init__(self, path: str | os.PathLike[str], reason: str):
        self.path = Path(path)
        self.reason = " ".join(str(reason).split()) or "unknown error"
        super().__init__(f"cannot read {self.path}: {self.reason}")


def file_kind(path: str | os.PathLike[str]) -> str | None:
    """``"image"``, ``"nifti"`` or ``None`` (unsupported), from the file name's extension."""
    name = Path(path).name.lower()
    if name.endswith(NIFTI_EXTENSIONS):
        return "nifti"
    if name.endswith(IMAGE_EXTENSIONS):
        return "image"
    return None


def list_images(folder: str | os.PathLike[str]) -> list[Path]:
    """All supported image and NIfTI files under ``folder``, recursively.

    Returns paths *relative to* ``folder``, sorted by their POSIX string (deterministic on
    every platform). Hidden files and folders (name starting with ``.``) are skipped.

    Raises:
        NotADirectoryError: ``folder`` is not a directory.
    """
    root = Path(folder)
    if not root.is_dir():
        raise NotADirectoryError(f"not a folder: {root}")
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if not d.startswith(".")]
        for fname in filenames:
            if fname.startswith(".") or file_kind(fname) is None:
                continue
            found.append((Path(dirpath) / fname).relative_to(root))
    return sorted(found, key=lambda p: p.as_posix())


def _check_file(path: Path) -> None:
    if not path.exists():
        raise UnreadableFileError(path, "no such file")
    if not path.is_file():
        raise UnreadableFileError(path, "not a regular file")


def _read_tiff(path: Path) -> np.ndarray:
    tifffile = require("tifffile", "io")

    return np.asarray(tifffile.imread(path, key=0))


def _read_pillow(path: Path) -> np.ndarray:
    Image = require("PIL.Image", "io")

    with Image.open(path) as im:
        im.load()  # decode now, so truncated/corrupt data raises here
        mode = im.mode
        if mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
            im = im.convert("RGB")
        elif mode == "PA":
            im = im.convert("RGBA")
        arr = np.asarray(im)
    if mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        arr = arr.astype(np.uint16)  # 16-bit grayscale opened as 32-bit by some Pillow versions
    return arr


def _to_hw_or_hwc(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        return arr
    if arr.ndim == 3 and arr.shape[-1] == 2:  # gray + alpha
        return arr[..., 0]
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):  # RGB, RGBA
        return arr[..., :3]
    raise UnreadableFileError(
        path,
        f"unsupported image layout {arr.shape} (expected (H, W), (H, W, 3) or (H, W, 4); "
        "multi-page images and volumes are not read as single images)",
    )


def read_image_stored(path: str | os.PathLike[str]) -> np.ndarray:
    """Read a raster image with its values and dtype *as stored* (``uint8``, ``uint16``,
    ``bool``, ``float32``, ...), ``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB).

    The layout is normalised as in :func:`read_image` (alpha dropped, palette/CMYK/YCbCr
    converted to RGB); the values are not. Callers that need the files' scale use the dtype:
    ``np.iinfo(a.dtype).max`` is 255 for 8-bit and 65535 for 16-bit files.

    Raises:
        UnreadableFileError: as :func:`read_image`.

    Examples:
        >>> import tempfile, pathlib, numpy as np
        >>> from PIL import Image
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "g.png"
        >>> Image.fromarray(np.full((2, 3), 200, np.uint8)).save(f)
        >>> a = read_image_stored(f)
        >>> a.dtype, a.shape, int(a.max())
        (dtype('uint8'), (2, 3), 200)
    """
    path = Path(path)
    _check_file(path)
    if file_kind(path) != "image":
        raise UnreadableFileError(
            path,
            f"not a supported image extension (supported: {', '.join(IMAGE_EXTENSIONS)}; "
            "use read_nifti for .nii/.nii.gz)",
        )
    try:
        arr = _read_tiff(path) if path.name.lower().endswith(_TIFF) else _read_pillow(path)
    except UnreadableFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "unreadable"
        raise UnreadableFileError(path, f"{type(exc).__name__}: {exc}") from exc
    arr = _to_hw_or_hwc(arr, path)
    if arr.size == 0:
        raise UnreadableFileError(path, f"empty image, shape {arr.shape}")
    if not (arr.dtype == np.bool_ or np.issubdtype(arr.dtype, np.integer)
            or np.issubdtype(arr.dtype, np.floating)):
        raise UnreadableFileError(path, f"unsupported pixel type {arr.dtype}")
    return np.ascontiguousarray(arr)


def read_image(path: str | os.PathLike[str], raw: bool = False) -> np.ndarray:
    """Read a raster image as ``float32`` ``(H, W)`` (grayscale) or ``(H, W, 3)`` (RGB).

    Integer data is scaled by its dtype's maximum to [0, 1] (``x / 255`` for 8-bit,
    ``x / 65535`` for 16-bit, booleans to 0/1); ``raw=True`` returns the stored values
    unscaled. Float data is returned as stored either way. TIFF goes through ``tifffile``
    (first page), everything else through Pillow. Pillow decodes 16-bit *colour* PNGs at
    8-bit precision (their scaling to [0, 1] is still right).

    Raises:
        UnreadableFileError: missing, unsupported, corrupt or truncated file, or an image
            layout other than gray/gray+alpha/RGB/RGBA.
    """
    arr = read_image_stored(path)
    out = arr.astype(np.float32)
    if not raw and arr.dtype != np.bool_ and np.issubdtype(arr.dtype, np.integer):
        out /= float(np.iinfo(arr.dtype).max)
    return np.ascontiguousarray(out)


def read_nifti(path: str | os.PathLike[str], canonical: bool = False) -> np.ndarray:
    """Read a NIfTI file (``.nii`` / ``.nii.gz``) as ``float32``, 2-D or 3-D, raw intensities.

    Values are the stored data after the header's scaling (``scl_slope``, ``scl_inter``),
    not normalised. Trailing singleton axes are dropped (an ``(X, Y, 1)`` file is 2-D);
    complex data becomes its magnitude.

    Args:
        path: the file.
        canonical: reorient 3-D data to the closest RAS+ orientation first (so axis 2 runs
            inferior→superior and ``volume[:, :, k]`` is an axial slice).

    Raises:
        UnreadableFileError: missing, not NIfTI, corrupt or truncated, or not 2-D/3-D after
            dropping singleton axes.
    """
    path = Path(path)
    _check_file(path)
    if file_kind(path) != "nifti":
        raise UnreadableFileError(path, "not a NIfTI file (expected .nii or .nii.gz)")
    nib = require("nibabel", "io")

    try:
        img = nib.load(str(path))
        if canonical and len(img.shape) >= 3:
            img = nib.as_closest_canonical(img)
        data = np.asanyarray(img.dataobj)
        data = np.abs(data) if np.iscomplexobj(data) else data
        if data.dtype.fields is not None:
            raise UnreadableFileError(path, f"structured (e.g. RGB) NIfTI data {data.dtype}")
        data = np.asarray(data, dtype=np.float32)
    except UnreadableFileError:
        raise
    except Exception as exc:  # noqa: BLE001 - nibabel, gzip, zlib and EOF errors alike
        raise UnreadableFileError(path, f"{type(exc).__name__}: {exc}") from exc
    while data.ndim > 2 and data.shape[-1] == 1:
        data = data[..., 0]
    if data.ndim not in (2, 3):
        raise UnreadableFileError(
            path, f"expected 2-D or 3-D data, got shape {data.shape} (4-D series are unsupported)"
        )
    if data.size == 0:
        raise UnreadableFileError(path, f"empty volume, shape {data.shape}")
    return np.ascontiguousarray(data)
