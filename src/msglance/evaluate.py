"""Judge predictions against references with registry metrics (the library behind ``eval``).

Inputs: ``ref`` and ``pred`` are each an image file, a folder of images/NIfTI files, or a
NIfTI volume. Folders are paired by relative path *without* the file extension (so
``a/b.png`` pairs with ``a/b.tif``); names found on one side only are reported as unmatched.
A NIfTI volume is judged slice by slice (2-D slices along its last axis) or as one 3-D item.

Per item the pipeline is: read (:mod:`msglance.data.readers`) -> crop -> mask -> normalize
-> metrics from :mod:`msglance.metrics`. Conventions, all stated in the summary:

* Values are judged **as stored in the files**: 8-bit images on 0..255, 16-bit on
  0..65535, NIfTI and float images as stored (so ``mae``/``mse`` are in the files' units and
  every metric equals scikit-image's on the raw arrays). The two files of a pair must store
  values the same way (both 8-bit, both 16-bit, or both float); a mixed pair fails.
* ``data_range`` is the scale of those stored values. ``"dtype"`` (default): the full scale
  of the files' integer type (255 for 8-bit, 65535 for 16-bit, 1 for binary), 1 for float
  images and NIfTI. A number ``R`` (``"255"``, ``"4095"``): fixed; it is rejected when it
  contradicts the files (above what their integer type can store), and every item's values
  must lie in ``[0, R]`` (the item fails otherwise, with a message saying why). ``"auto"``:
  ``R`` = the target's maximum (the whole volume's for NIfTI slices), fastMRI's
  convention; predictions may exceed it, so the range check is off.
* ``normalize``: each image by its own statistics (:func:`msglance.metrics.normalize`);
  ``minmax``/``cminmax`` put data in [0, 1] so ``R = 1``; ``zscore``/``quantile`` data
  are unbounded, so ``R`` = the normalized target's ``max - min`` and no range check.
* ``mask``: a file of the items' spatial shape (a 3-D mask is sliced along with a volume
  judged slice by slice; an RGB mask image counts a pixel as inside when any channel is
  non-zero); both images are set to 0 outside the mask (values > 0 are inside) and cropped
  to the mask's bounding box, so pixel metrics average over that box. Slices whose mask
  slice is empty (the edge slices of a brain mask) are skipped and counted in the summary
  (``skipped_empty_mask``); an empty mask for a whole image, or for every slice, is an error.
* The global Glance terms draw random pixels; each item uses a generator seeded with
  ``seed`` so results are reproducible. Their grid follows the image
  (:func:`msglance.glance_grid.glance_grid_for`: ``96·side/256``, at least one 16x16
  window, at most every pixel), so every image of at least one window is judged;
  ``glance_grid`` sets the side instead (capped to what each image holds).

The library never prints; failures are collected as :class:`Failure` records.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from msglance import metrics
from msglance.data.readers import (
    UnreadableFileError,
    file_kind,
    list_images,
    read_image_stored,
    read_nifti,
)
from msglance.device import resolve_device
from msglance.glance_grid import glance_grid_for
from msglance.validation import check_data_range

__all__ = [
    "DEFAULT_METRICS",
    "EvalConfig",
    "EvalResult",
    "Failure",
    "ItemResult",
    "Pair",
    "EvalSample",
    "evaluate",
    "iter_samples",
    "load_sample",
    "match_pairs",
    "parse_crop",
    "parse_data_range",
    "read_mask",
    "resolve_metrics",
    "summarize_evaluation",
]

DEFAULT_METRICS: tuple[str, ...] = ("psnr", "ssim", "ms_glance", "nmi", "mae")
_RANDOM_METRICS = ("glance_global", "ms_glance")


@dataclass(frozen=True)
class Pair:
    """A reference/prediction file pair; ``name`` is the key they were matched by."""

    name: str
    ref: Path
    pred: Path


@dataclass
class EvalConfig:
    """Settings of one evaluation (see the module docstring for the conventions)."""

    metrics: tuple[str, ...] = DEFAULT_METRICS
    data_range: str | float = "dtype"
    normalize: str = "none"
    crop: tuple[int, int] | None = None
    mask: Path | None = None
    device: str = "cpu"
    volume_mode: str = "slices"
    seed: int = 0
    glance_grid: int = 0  # Global Glance grid side; 0 = scaled with each image


@dataclass
class EvalSample:
    """One item ready for the metrics: tensors ``(1, C, *spatial)`` on the device."""

    name: str
    pair: Pair
    index: int | None
    ref: Tensor
    pred: Tensor
    data_range: float
    check_range: bool


@dataclass
class ItemResult:
    """Metric values of one item (``nan`` where a metric failed)."""

    name: str
    ref: str
    pred: str
    data_range: float
    values: dict[str, float]
    index: int | None = None


@dataclass
class Failure:
    """Something that went wrong: a file, a pair or one metric on one item."""

    name: str
    message: str


@dataclass
class EvalResult:
    """Everything an evaluation produced."""

    config: EvalConfig
    items: list[ItemResult] = field(default_factory=list)
    failures: list[Failure] = field(default_factory=list)
    unmatched_ref: list[str] = field(default_factory=list)
    unmatched_pred: list[str] = field(default_factory=list)
    pairs: list[Pair] = field(default_factory=list)
    mask: np.ndarray | None = None  # the mask file's array, as read once for every item
    skipped_empty_mask: list[str] = field(default_factory=list)  # slices with an empty mask

    @property
    def ok(self) -> bool:
        """True when nothing failed and every file had a partner."""
        return not (self.failures or self.unmatched_ref or self.unmatched_pred)


# ------------------------------------------------------------------------------ parsing


def parse_data_range(text: str | float) -> str | float:
    """``"dtype"``, ``"auto"`` or a positive number (``"1"``, ``"255"``, ``"4095"``): the
    scale of the values as stored in the files (see the module docstring).

    Examples:
        >>> parse_data_range("255"), parse_data_range("AUTO"), parse_data_range("dtype")
        (255.0, 'auto', 'dtype')
    """
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        value = float(text)
    elif str(text).strip().lower() in ("auto", "dtype"):
        return str(text).strip().lower()
    else:
        try:
            value = float(str(text))
        except ValueError:
            raise ValueError(
                f"data range must be dtype, auto, or a number such as 255; got {text!r}"
            ) from None
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"data range must be a positive number or auto, got {text!r}")
    return value


def parse_crop(text: str | None) -> tuple[int, int] | None:
    """A centre crop ``"HxW"`` or ``"S"`` (square); ``None``/``""`` for none."""
    if text is None or str(text).strip() == "":
        return None
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX]\s*(\d+))?\s*", str(text))
    if not m:
        raise ValueError(f"crop must be 'HxW' or 'S' (a centre crop), got {text!r}")
    h = int(m.group(1))
    w = int(m.group(2)) if m.group(2) else h
    if h < 1 or w < 1:
        raise ValueError(f"crop sizes must be >= 1, got {text!r}")
    return h, w


def resolve_metrics(names: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Split ``"psnr,ssim"``, check every name exists and is available here."""
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",")]
    out = tuple(n for n in names if n)
    if not out:
        raise ValueError("no metrics given")
    for name in out:
        spec = metrics.get(name)  # UnknownMetricError lists the names
        if not spec.available:
            raise ValueError(f"metric {name!r} is unavailable: {spec.unavailable_reason}")
    if len(set(out)) != len(out):
        raise ValueError(f"metrics repeat a name: {', '.join(out)}")
    return out


# ------------------------------------------------------------------------------ pairing


def _key(rel: Path) -> str:
    posix = rel.as_posix()
    lower = posix.lower()
    for ext in (".nii.gz",):
        if lower.endswith(ext):
            return posix[: -len(ext)]
    return posix[: -len(rel.suffix)] if rel.suffix else posix


def match_pairs(ref: Path, pred: Path) -> tuple[list[Pair], list[str], list[str]]:
    """Pair two files or two folders.

    Returns:
        ``(pairs, unmatched_ref, unmatched_pred)``; folder pairs are sorted by name.

    Raises:
        FileNotFoundError: a path does not exist.
        ValueError: a file and a folder, or a key found twice on one side.
    """
    ref, pred = Path(ref), Path(pred)
    for p in (ref, pred):
        if not p.exists():
            raise FileNotFoundError(f"no such file or folder: {p}")
    if ref.is_file() and pred.is_file():
        return [Pair(ref.name, ref, pred)], [], []
    if ref.is_dir() != pred.is_dir():
        raise ValueError(f"give two files or two folders, got {ref} and {pred}")

    def index(root: Path) -> dict[str, Path]:
        keys: dict[str, Path] = {}
        for rel in list_images(root):
            k = _key(rel)
            if k in keys:
                raise ValueError(f"{root}: both {keys[k]} and {rel} map to the name {k!r}")
            keys[k] = rel
        return keys

    r, p = index(ref), index(pred)
    pairs = [Pair(k, ref / r[k], pred / p[k]) for k in sorted(r.keys() & p.keys())]
    return pairs, sorted(r[k].as_posix() for k in r.keys() - p.keys()), sorted(
        p[k].as_posix() for k in p.keys() - r.keys()
    )


# ------------------------------------------------------------------------------ loading


def _read(path: Path) -> tuple[np.ndarray, float | None]:
    """``(float32 values as stored, full scale of the stored integer type or None)``."""
    kind = file_kind(path)
    if kind == "nifti":
        return read_nifti(path), None
    if kind == "image":
        arr = read_image_stored(path)
        if arr.dtype == np.bool_:
            scale: float | None = 1.0
        elif np.issubdtype(arr.dtype, np.integer):
            scale = float(np.iinfo(arr.dtype).max)
        else:
            scale = None
        return np.ascontiguousarray(arr, dtype=np.float32), scale
    raise UnreadableFileError(path, "unsupported file type")


def _storage(scale: float | None) -> str:
    if scale is None:
        return "values as floats"
    if scale == 1.0:
        return "binary values"
    bits = int(round(math.log2(scale + 1)))
    return f"{bits}-bit values (0..{scale:g})" if 2**bits - 1 == scale else f"values in 0..{scale:g}"


def _pair_range(pair: Pair, config: EvalConfig, ref_scale: float | None,
                pred_scale: float | None) -> float | None:
    """The fixed data range of a pair (``None`` for ``auto``), checked against the files."""
    if ref_scale != pred_scale:
        raise ValueError(
            f"{pair.name}: reference {pair.ref} stores {_storage(ref_scale)}, prediction "
            f"{pair.pred} stores {_storage(pred_scale)}; values are compared as stored, so "
            "save both the same way"
        )
    if config.data_range == "auto":
        return None
    if config.data_range == "dtype":
        return ref_scale if ref_scale is not None else 1.0
    value = float(config.data_range)
    if ref_scale is not None and value > ref_scale:
        raise ValueError(
            f"--data-range {value:g} contradicts {pair.ref}: it stores {_storage(ref_scale)}, "
            f"so no value can reach {value:g}; the data range is the scale of the values as "
            "stored (255 for 8-bit files, 65535 for 16-bit, the raw range for NIfTI)"
        )
    return value


def _to_items(arr: np.ndarray, is_volume: bool, volume_mode: str) -> list[tuple[int | None, np.ndarray]]:
    """-> list of ``(slice index or None, (C, *spatial) array)``."""
    if is_volume and arr.ndim == 3:
        if volume_mode == "volume":
            return [(None, arr[None])]
        return [(k, arr[None, :, :, k]) for k in range(arr.shape[2])]
    if arr.ndim == 3:  # (H, W, 3) RGB
        return [(None, np.moveaxis(arr, -1, 0))]
    return [(None, arr[None])]


def _center_crop(a: np.ndarray, crop: tuple[int, int], name: str) -> np.ndarray:
    h, w = a.shape[-2:]
    ch, cw = crop
    if ch > h or cw > w:
        raise ValueError(f"{name}: crop {ch}x{cw} is larger than the image {h}x{w}")
    top, left = (h - ch) // 2, (w - cw) // 2
    return a[..., top : top + ch, left : left + cw]


def _apply_mask(ref: np.ndarray, pred: np.ndarray, mask: np.ndarray, name: str):
    m = mask > 0
    if m.shape != ref.shape[1:]:
        raise ValueError(f"{name}: mask shape {m.shape} differs from the image's {ref.shape[1:]}")
    if not m.any():
        raise ValueError(f"{name}: the mask is empty")
    box = tuple(slice(int(idx.min()), int(idx.max()) + 1) for idx in np.nonzero(m))
    ref = np.where(m, ref, 0.0)[(slice(None),) + box]
    pred = np.where(m, pred, 0.0)[(slice(None),) + box]
    return ref, pred


def read_mask(path: Path) -> np.ndarray:
    """A mask file as ``float32`` (inside where > 0); an RGB mask image becomes 2-D, inside
    where any channel is non-zero.

    Raises:
        UnreadableFileError: the file cannot be read.
    """
    arr, _ = _read(Path(path))
    if file_kind(path) == "image" and arr.ndim == 3:
        arr = (arr > 0).any(axis=-1).astype(np.float32)
    return arr


def _pair_items(
    pair: Pair, config: EvalConfig, mask: np.ndarray | None
) -> tuple[list[tuple[str, int | None, Callable[[], EvalSample]]], list[str]]:
    """Read a pair: ``([(name, index, prepare)], skipped)``; ``prepare()`` builds that one
    item's :class:`EvalSample` (its errors concern that item only); ``skipped`` names the slices
    whose mask slice is empty.

    Raises:
        UnreadableFileError: a file cannot be read.
        ValueError: the files' shapes or storage differ, the data range contradicts them,
            or the mask is empty on every slice.
    """
    (ref_arr, ref_scale), (pred_arr, pred_scale) = _read(pair.ref), _read(pair.pred)
    if ref_arr.shape != pred_arr.shape:
        raise ValueError(
            f"{pair.name}: reference {pair.ref} has shape {ref_arr.shape}, prediction "
            f"{pair.pred} has shape {pred_arr.shape}"
        )
    is_volume = file_kind(pair.ref) == "nifti"
    fixed_range = _pair_range(pair, config, ref_scale, pred_scale)
    auto_range = float(ref_arr.max()) if fixed_range is None else None
    refs = _to_items(ref_arr, is_volume, config.volume_mode)
    preds = _to_items(pred_arr, is_volume, config.volume_mode)
    items: list[tuple[str, int | None, Callable[[], EvalSample]]] = []
    skipped: list[str] = []
    for (index, r), (_, p) in zip(refs, preds):
        name = pair.name if index is None else f"{pair.name}[{index}]"
        item_mask = mask
        if mask is not None and index is not None and mask.ndim == 3:
            item_mask = mask[:, :, index]  # a 3-D mask for a volume judged slice by slice
            if not (item_mask > 0).any():
                skipped.append(name)
                continue
        items.append((name, index, functools.partial(
            _prepare, name, pair, index, r, p, config, item_mask, auto_range, fixed_range)))
    if skipped and not items:
        raise ValueError(f"{pair.name}: the mask is empty on every slice")
    return items, skipped


def iter_samples(
    pair: Pair, config: EvalConfig, mask: np.ndarray | None = None
) -> Iterator[EvalSample]:
    """Read a pair and yield its items (one, or one per NIfTI slice), prepared; slices
    whose mask slice is empty are left out.

    Raises:
        UnreadableFileError: a file cannot be read.
        ValueError: the two files' shapes differ, or crop/mask do not fit.
    """
    items, _ = _pair_items(pair, config, mask)
    for _, _, prepare in items:
        yield prepare()


def load_sample(pair: Pair, index: int | None, config: EvalConfig, mask: np.ndarray | None = None) -> EvalSample:
    """The one item ``index`` (slice) of a pair, as :func:`iter_samples` prepares it."""
    items, _ = _pair_items(pair, config, mask)
    for _, item_index, prepare in items:
        if item_index == index:
            return prepare()  # only this item: another item's error does not matter here
    raise ValueError(f"{pair.name} has no item {index}")


def _prepare(name, pair, index, r, p, config, mask, auto_range, fixed_range) -> EvalSample:
    if config.crop is not None:
        r, p = _center_crop(r, config.crop, name), _center_crop(p, config.crop, name)
        if mask is not None and mask.shape[-2:] != r.shape[-2:]:
            mask = _center_crop(mask, config.crop, name)
    if mask is not None:
        r, p = _apply_mask(r, p, mask, name)
    device = resolve_device(config.device)  # "auto" included (torch.device rejects it)
    ref = torch.from_numpy(np.ascontiguousarray(r, dtype=np.float32))[None].to(device)
    pred = torch.from_numpy(np.ascontiguousarray(p, dtype=np.float32))[None].to(device)
    if not torch.isfinite(pred).all():
        raise ValueError(f"{name}: the prediction {pair.pred} holds NaN or inf values")
    method = config.normalize
    if method != "none":
        ref, pred = metrics.normalize(ref, method), metrics.normalize(pred, method)
    if method in ("minmax", "cminmax"):
        data_range, check = 1.0, True
    elif method in ("zscore", "quantile"):
        span = float(ref.max() - ref.min())
        data_range, check = (span if span > 0 else 1.0), False
    elif auto_range is not None:
        data_range, check = (auto_range if auto_range > 0 else 1.0), False
    else:
        data_range, check = float(fixed_range), True
        for what, t in (("reference", ref), ("prediction", pred)):
            try:
                check_data_range(t, data_range, f"{name}: the {what}")
            except ValueError as exc:
                raise ValueError(
                    f"{exc} (the data range is the scale of the values as stored: 255 for "
                    "8-bit files, 65535 for 16-bit, the raw range for NIfTI; set --data-range "
                    "to it, or auto)"
                ) from None
    return EvalSample(name, pair, index, ref, pred, data_range, check)


def data_range_note(config: EvalConfig) -> str:
    """One line stating how the data range was chosen (printed and saved)."""
    if config.normalize in ("minmax", "cminmax"):
        return f"data range 1 after {config.normalize} normalization of each image"
    if config.normalize in ("zscore", "quantile"):
        return (f"data range = max - min of each {config.normalize}-normalized target "
                "(unbounded data: no range check)")
    if config.data_range == "auto":
        return ("data range auto = maximum of each target (whole volume for NIfTI slices), "
                "fastMRI convention; predictions may exceed it")
    if config.data_range == "dtype":
        return ("data range = full scale of the files' stored type (255 for 8-bit, 65535 for "
                "16-bit; 1 for float images and NIfTI); values judged as stored, in [0, range]")
    return (f"data range fixed at {config.data_range:g} (the scale of the values as stored); "
            f"inputs must lie in [0, {config.data_range:g}]")


# ------------------------------------------------------------------------------ metrics


def _metric_kwargs(name: str, sample: EvalSample, seed: int, glance_grid: int) -> dict:
    if name in _RANDOM_METRICS:
        g = torch.Generator(device=sample.ref.device)
        g.manual_seed(seed)
        return {"generator": g,
                "grid": glance_grid_for(tuple(sample.ref.shape[2:]), glance_grid or None)}
    return {}


def compute_sample(
    sample: EvalSample, names: tuple[str, ...], seed: int = 0, glance_grid: int = 0
) -> tuple[dict[str, float], list[Failure]]:
    """All metrics of one sample; a metric that raises gives ``nan`` and a :class:`Failure`.

    ``glance_grid``: the Global Glance grid side, 0 for the scaled rule of
    :func:`msglance.glance_grid.glance_grid_for`.
    """
    values: dict[str, float] = {}
    failures: list[Failure] = []
    for name in names:
        spec = metrics.get(name)
        try:
            kw = _metric_kwargs(name, sample, seed, glance_grid)
            with torch.no_grad():
                if spec.full_reference:
                    v = spec.fn(sample.pred, sample.ref, data_range=sample.data_range,
                                check_range=sample.check_range, **kw)
                else:
                    v = spec.fn(sample.pred, data_range=sample.data_range,
                                check_range=sample.check_range, **kw)
            values[name] = float(v)
        except (ValueError, TypeError, RuntimeError) as exc:
            values[name] = math.nan
            failures.append(Failure(sample.name, f"{name}: {exc}"))
    return values, failures


def evaluate(
    ref: Path,
    pred: Path,
    config: EvalConfig,
    keep_going: bool = False,
    on_item: Callable[[str, int, int], None] | None = None,
) -> EvalResult:
    """Pair, read and judge everything.

    Args:
        ref, pred: files or folders (see the module docstring).
        config: metrics and conventions.
        keep_going: collect failures and go on; otherwise the first failure is raised.
        on_item: progress callback ``(name, done_pairs, total_pairs)`` after each pair.

    Raises:
        FileNotFoundError, ValueError, UnreadableFileError: bad arguments, or (without
            ``keep_going``) the first unreadable file or failing metric, with its name.
    """
    names = resolve_metrics(config.metrics)
    resolve_device(config.device)  # a bad or unavailable device fails here, before any reading
    pairs, only_ref, only_pred = match_pairs(Path(ref), Path(pred))
    mask = read_mask(Path(config.mask)) if config.mask is not None else None
    result = EvalResult(config, unmatched_ref=only_ref, unmatched_pred=only_pred, pairs=pairs,
                        mask=mask)
    if not pairs:
        raise ValueError(f"no pairs: nothing in {ref} matches anything in {pred}")
    for done, pair in enumerate(pairs, start=1):
        try:
            items, skipped = _pair_items(pair, config, mask)
        except (UnreadableFileError, ValueError) as exc:
            if not keep_going:
                raise
            result.failures.append(Failure(pair.name, str(exc)))
            items, skipped = [], []
        result.skipped_empty_mask.extend(skipped)
        for name, _, prepare in items:  # one bad item never drops the pair's other items
            try:
                sample = prepare()
            except ValueError as exc:
                if not keep_going:
                    raise
                result.failures.append(Failure(name, str(exc)))
                continue
            values, failures = compute_sample(sample, names, config.seed, config.glance_grid)
            if failures and not keep_going:
                raise ValueError(f"{failures[0].name}: {failures[0].message}")
            result.failures.extend(failures)
            result.items.append(ItemResult(
                sample.name, str(pair.ref), str(pair.pred), sample.data_range, values,
                sample.index,
            ))
        if on_item is not None:
            on_item(pair.name, done, len(pairs))
    return result


def summarize_evaluation(result: EvalResult) -> dict:
    """Mean, std (ddof 1), count and direction of every metric, plus the conventions.

    The statistics come from a :class:`msglance.metrics.MetricCollection` of the per-item
    values (finite values only; infinite ones are counted in ``n_infinite``)."""
    per_metric = {}
    names = resolve_metrics(result.config.metrics)
    values = {name: [it.values.get(name, math.nan) for it in result.items] for name in names}
    collection = metrics.MetricCollection(list(names))
    collection.add_values(values)
    stats = collection.summary(sync=False)
    for name in names:
        spec = metrics.get(name)
        entry = stats[name]
        per_metric[name] = {
            "mean": entry["mean"] if entry["count"] else None,
            "std": entry["std"] if entry["count"] else None,
            "n": entry["count"],
            "n_infinite": int(np.isinf(np.asarray(values[name], dtype=float)).sum()),
            "higher_is_better": spec.higher_is_better,
            "convention": spec.convention,
        }
    cfg = result.config
    return {
        "metrics": per_metric,
        "items": len(result.items),
        "pairs": len(result.pairs),
        "failures": [{"name": f.name, "message": f.message} for f in result.failures],
        "unmatched_reference": result.unmatched_ref,
        "unmatched_prediction": result.unmatched_pred,
        "data_range": data_range_note(cfg),
        "normalize": cfg.normalize,
        "crop": list(cfg.crop) if cfg.crop else None,
        "mask": str(cfg.mask) if cfg.mask else None,
        "volume_mode": cfg.volume_mode,
        "skipped_empty_mask": len(result.skipped_empty_mask),
        "skipped_items": list(result.skipped_empty_mask),
        "glance_grid": (f"{cfg.glance_grid} (capped to each image)" if cfg.glance_grid else
                        "scaled with each image: 96·side/256, at least 16, at most every pixel"),
        "ok": result.ok,
    }
