"""The INR study runner: fit a SIREN to every (image, loss, seed) and keep the results.

A study is the product of a list of images (:class:`msglance.data.Sample`), a list of loss
specs (``"l2"``, ``"l2 + 0.01*global + 0.01*local"``, ... parsed by
:func:`msglance.losses.parse`) and a list of seeds. Each run calls
:func:`msglance.inr.fit_siren` and its results are written *as they come*, so an
interrupted study keeps everything it finished:

``per_run.csv``
    one row per finished run: image, dataset, loss (canonical spec), seed, psnr, ssim,
    seconds_per_step, steps, first_nonfinite_step. Rewritten atomically for each row, so a
    crash never leaves a torn row (a torn last row from elsewhere is ignored on reading).
``history.jsonl``
    one JSON object per finished run: the same keys, plus ``history`` (``[step, psnr,
    loss]`` every ``log_every`` steps) and ``terms`` (``[step, {term: value}]``).
``fits/<image>/<loss>__seed<k>.png`` and ``fits/<image>/target.png``
    the fitted images (8-bit PNG) and their targets.
``fits/<image>/position_weights.png``
    with ``position_weights``: the image's Global Glance sampling weights (scaled to a
    maximum of 1).
``study.json``
    the settings (dataset, steps, fit and loss options, position weights, image shapes).

With ``resume=True`` the (image, loss, seed) triples already in ``per_run.csv`` are
skipped (and the settings must match ``study.json``). Aggregation into tables and figures lives in :mod:`msglance.inr.summary` and
:mod:`msglance.inr.figures`. The seed of a run seeds both the SIREN initialisation and the
loss (e.g. the random draws of Global Glance), so a run is reproducible from its row.

Nothing here prints; progress goes through a callback (:class:`StudyEvent`).
"""

from __future__ import annotations

import csv
import functools
import inspect
import io
import json
import logging
import math
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import torch
from torch import nn

from msglance.atomic import atomic_write_text
from msglance.data.embedded import Sample
from msglance.inr.figures import save_png
from msglance.inr.fit import fit_siren

__all__ = [
    "CSV_NAME",
    "HISTORY_NAME",
    "LossFactory",
    "RunRecord",
    "StudyEvent",
    "CONFIG_NAME",
    "canonical_specs",
    "fit_path",
    "read_histories",
    "read_runs",
    "run_study",
    "slug",
    "target_path",
    "weights_path",
]

logger = logging.getLogger(__name__)

CSV_NAME = "per_run.csv"
HISTORY_NAME = "history.jsonl"
CONFIG_NAME = "study.json"

#: Builds the loss module of one run from its spec and seed.
LossFactory = Callable[[str, int], nn.Module]


@dataclass(frozen=True)
class RunRecord:
    """One finished run, as stored in ``per_run.csv``.

    ``psnr``/``ssim`` are NaN and ``first_nonfinite_step`` is set when the loss went
    non-finite (training stops at that step).
    """

    image: str
    dataset: str
    loss: str
    seed: int
    psnr: float
    ssim: float
    seconds_per_step: float
    steps: int
    first_nonfinite_step: int | None = None

    @property
    def key(self) -> tuple[str, str, int]:
        """``(image, loss, seed)``: what identifies a run for ``resume``."""
        return (self.image, self.loss, self.seed)


@dataclass(frozen=True)
class StudyEvent:
    """A progress report from :func:`run_study`.

    Attributes:
        kind: ``"start"`` (once, before any run; ``total`` and ``skipped`` are set),
            ``"run"`` (a run begins), ``"step"`` (a step of the current run finished),
            ``"done"`` (a run finished; ``record`` is set) or ``"skip"`` (a run found in
            the CSV was skipped; ``record`` is set).
        index: 0-based index of the run among all runs of the study.
        total: number of runs in the study (finished ones included).
        skipped: number of runs skipped because ``resume`` found them.
        image, loss, seed: the run.
        step, steps: progress within the run (``"step"`` events).
        record: the finished or skipped run.
    """

    kind: Literal["start", "run", "step", "done", "skip"]
    index: int = 0
    total: int = 0
    skipped: int = 0
    image: str = ""
    loss: str = ""
    seed: int = 0
    step: int = 0
    steps: int = 0
    record: RunRecord | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def slug(text: str) -> str:
    """A file-name-safe form of a loss spec or image name (``*`` -> ``x``, spaces dropped)."""
    s = text.replace(" ", "").replace("*", "x").replace(os.sep, "_").replace("/", "_")
    return re.sub(r"[^A-Za-z0-9._+=-]", "_", s) or "_"


def fit_path(out_dir: str | os.PathLike[str], image: str, loss: str, seed: int) -> Path:
    """Where the fitted PNG of one run is written."""
    return Path(out_dir) / "fits" / slug(image) / f"{slug(loss)}__seed{seed}.png"


def target_path(out_dir: str | os.PathLike[str], image: str) -> Path:
    """Where the target PNG of one image is written."""
    return Path(out_dir) / "fits" / slug(image) / "target.png"


def weights_path(out_dir: str | os.PathLike[str], image: str) -> Path:
    """Where the position-weight map of one image is written."""
    return Path(out_dir) / "fits" / slug(image) / "position_weights.png"


def _default_factory(spec: str, seed: int, **options: Any) -> nn.Module:
    from msglance.losses import parse  # deferred: pulls in the whole metric suite

    return parse(spec, seed=seed, **options)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def _fit_defaults(fit_options: dict[str, Any]) -> dict[str, Any]:
    """``fit_options`` completed with :func:`fit_siren`'s defaults (for comparing studies)."""
    sig = inspect.signature(fit_siren)
    names = ("lr", "clip", "log_every", "hidden", "hidden_layers", "omega0")
    unknown = set(fit_options) - set(names)
    if unknown:
        raise ValueError(f"unknown fit options {sorted(unknown)}; valid: {list(names)}")
    return {n: fit_options.get(n, sig.parameters[n].default) for n in names}


def _check_config(out: Path, config: dict[str, Any], resume: bool) -> None:
    path = out / CONFIG_NAME
    if resume and path.exists():
        old = json.loads(path.read_text())
        differ = sorted(k for k in set(old) | set(config)
                        if k != "image_shapes" and old.get(k) != config.get(k))
        old_shapes, new_shapes = old.get("image_shapes", {}), config.get("image_shapes", {})
        if any(old_shapes[n] != new_shapes[n] for n in set(old_shapes) & set(new_shapes)):
            differ.append("image_shapes")
        if differ:
            raise ValueError(
                f"{path}: cannot resume with different settings: "
                + "; ".join(f"{k}: {old.get(k)!r} then, {config.get(k)!r} now" for k in differ)
            )
        config = {**config, "image_shapes": {**old_shapes, **new_shapes}}
    path.write_text(json.dumps(config, indent=1))


def canonical_specs(
    specs: Sequence[str], factory: LossFactory | None = None
) -> list[str]:
    """Parse every spec once (so typos fail before any run) and return canonical forms.

    The canonical form is the built module's ``spec`` attribute (or ``str()``) when it has
    one, so ``"l2+0.01*global"`` and ``"l2 + 0.01*global"`` name the same runs.

    Raises:
        ValueError: an empty list, an invalid spec (the parser's message), or two specs
            with the same canonical form.
    """
    if not specs:
        raise ValueError("no loss specs given")
    factory = factory or _default_factory
    out: list[str] = []
    for spec in specs:
        module = factory(spec, 0)
        canon = str(getattr(module, "spec", spec))
        if canon in out:
            raise ValueError(f"loss spec {spec!r} repeats {canon!r}")
        out.append(canon)
    return out


# ----------------------------------------------------------------------------- records I/O

_CSV_FIELDS = [f.name for f in fields(RunRecord)]


def _parse_row(row: dict[str, str], path: Path, line: int) -> RunRecord:
    try:
        nonfinite = row["first_nonfinite_step"]
        return RunRecord(
            image=row["image"],
            dataset=row["dataset"],
            loss=row["loss"],
            seed=int(row["seed"]),
            psnr=float(row["psnr"]),
            ssim=float(row["ssim"]),
            seconds_per_step=float(row["seconds_per_step"]),
            steps=int(row["steps"]),
            first_nonfinite_step=int(nonfinite) if nonfinite not in ("", "None") else None,
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise ValueError(f"{path}: malformed row at line {line}: {row!r} ({exc})") from exc


def _read_csv(path: Path) -> list[RunRecord]:
    if not path.exists():
        return []
    with path.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
        fieldnames = list(rows[0].keys()) if rows else None
    if not rows:
        return []
    missing = set(_CSV_FIELDS) - set(fieldnames or ())
    if missing:
        raise ValueError(f"{path}: not a study CSV, missing columns {sorted(missing)}")
    by_key: dict[tuple[str, str, int], RunRecord] = {}
    for i, row in enumerate(rows, start=2):
        torn = None in row.values() or None in row  # fields missing, or extra fields
        try:
            if torn:
                raise ValueError(f"{path}: malformed row at line {i}: {row!r} (wrong field count)")
            rec = _parse_row(row, path, i)
        except ValueError:
            if i == len(rows) + 1:
                logger.warning("%s: ignoring a torn last row (an interrupted write)", path)
                break
            raise
        by_key[rec.key] = rec
    return list(by_key.values())


def read_runs(out_dir: str | os.PathLike[str]) -> list[RunRecord]:
    """The runs recorded in ``out_dir/per_run.csv`` (empty if the file does not exist).

    A run recorded twice keeps its last row; a torn last row (an interrupted write by an
    older version, which appended in place) is ignored, so ``--resume`` re-runs that run.

    Raises:
        ValueError: the file exists but its header or a row before the last is not what
            this module writes.
    """
    return _read_csv(Path(out_dir) / CSV_NAME)


def read_histories(out_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The objects of ``out_dir/history.jsonl`` (empty if absent).

    A run written twice (interrupted between its history line and its CSV row, then
    resumed) keeps its last line; a truncated last line (an interrupted write) is ignored.
    """
    path = Path(out_dir) / HISTORY_NAME
    if not path.exists():
        return []
    out: list[dict[str, Any]] = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                break
            raise ValueError(f"{path}: line {i + 1} is not JSON") from None
    last = {(o.get("image"), o.get("loss"), o.get("seed")): o for o in out}
    return list(last.values())


def _append_csv(path: Path, rec: RunRecord) -> None:
    """Add ``rec`` by rewriting the whole CSV atomically (:func:`msglance.atomic.atomic_write_text`):
    a crash leaves the old file or the new one, never a torn row. A study has at most a few
    thousand rows, so the rewrite costs nothing next to one fit."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=_CSV_FIELDS)
    writer.writeheader()
    for r in [*_read_csv(path), rec]:
        row = asdict(r)
        row["first_nonfinite_step"] = "" if r.first_nonfinite_step is None else r.first_nonfinite_step
        writer.writerow(row)
    atomic_write_text(path, buffer.getvalue())


def _json_float(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _append_history(path: Path, rec: RunRecord, history, term_history) -> None:
    obj = {
        "image": rec.image,
        "dataset": rec.dataset,
        "loss": rec.loss,
        "seed": rec.seed,
        "psnr": _json_float(rec.psnr),
        "ssim": _json_float(rec.ssim),
        "seconds_per_step": rec.seconds_per_step,
        "steps": rec.steps,
        "first_nonfinite_step": rec.first_nonfinite_step,
        "history": [[s, _json_float(p), _json_float(v)] for s, p, v in history],
        "terms": [[s, {k: _json_float(v) for k, v in t.items()}] for s, t in term_history],
    }
    with path.open("a") as fh:
        fh.write(json.dumps(obj) + "\n")
        fh.flush()
        os.fsync(fh.fileno())


# ----------------------------------------------------------------------------- runner


def run_study(
    samples: Sequence[Sample],
    losses: Sequence[str],
    seeds: int | Iterable[int],
    out_dir: str | os.PathLike[str],
    *,
    dataset: str,
    steps: int = 500,
    device: str | torch.device = "auto",
    resume: bool = False,
    progress: Callable[[StudyEvent], None] | None = None,
    loss_factory: LossFactory | None = None,
    loss_options: dict[str, Any] | None = None,
    position_weights: Callable[[torch.Tensor], torch.Tensor] | None = None,
    step_events: bool = True,
    **fit_options: Any,
) -> list[RunRecord]:
    """Run every (image, loss, seed) of a study, writing each result as it finishes.

    Args:
        samples: the images (e.g. ``load_dataset("natural", 128)``); names must be unique.
        losses: loss specs; the first is the reference of the summary table.
        seeds: a count ``n`` (seeds ``0 .. n-1``) or explicit seeds.
        out_dir: created if needed; holds ``per_run.csv``, ``history.jsonl`` and ``fits/``.
        dataset: the set's name, stored in every row (e.g. ``"natural"`` or a folder name).
        steps: optimisation steps per run.
        device: ``"auto"``, ``"cpu"``, ``"cuda"``...
        resume: skip runs already in ``per_run.csv``. Without it, an ``out_dir`` that
            already holds results is refused rather than overwritten.
        progress: called with a :class:`StudyEvent` at each start/step/end of a run.
        loss_factory: builds a loss from ``(spec, seed)``; default
            ``msglance.losses.parse(spec, seed=seed, **loss_options)``.
        loss_options: options for the default factory (e.g. ``grid=(32, 32)``,
            ``delta=0.01``); ignored with a custom ``loss_factory``.
        position_weights: ``image (C, H, W) -> (H, W)`` map of Global Glance sampling
            weights (e.g. :func:`msglance.position_weights.weight_source`), built once per
            image and passed to the default factory as ``position_weights``; its ``label``
            attribute (or ``repr``) is recorded in ``study.json``.
        step_events: emit ``"step"`` events (turn off to save callback overhead).
        **fit_options: forwarded to :func:`fit_siren` (``lr``, ``clip``, ``log_every``,
            ``hidden``, ``hidden_layers``, ``omega0``).

    Returns:
        The records of *all* runs of this study (finished now or found by ``resume``), in
        (image, loss, seed) order.

    Raises:
        ValueError: empty inputs, duplicate image names, a bad seed count, an invalid loss
            spec, existing results without ``resume``, or ``position_weights`` with a
            custom ``loss_factory``.
    """
    if not samples:
        raise ValueError("no images to fit")
    names = [s.name for s in samples]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"image names must be unique, repeated: {dupes}")
    if isinstance(seeds, int):
        if seeds < 1:
            raise ValueError(f"seeds must be >= 1, got {seeds}")
        seed_list = list(range(seeds))
    else:
        seed_list = [int(s) for s in seeds]
        if not seed_list or len(set(seed_list)) != len(seed_list):
            raise ValueError(f"seeds must be a non-empty list of distinct ints, got {seed_list}")
    if steps < 1:
        raise ValueError(f"steps must be >= 1, got {steps}")
    if position_weights is not None and loss_factory is not None:
        raise ValueError("position_weights needs the default loss factory (no loss_factory)")
    factory = loss_factory or functools.partial(_default_factory, **(loss_options or {}))
    specs = canonical_specs(losses, factory)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    csv_path, hist_path = out / CSV_NAME, out / HISTORY_NAME
    existing = read_runs(out)
    if existing and not resume:
        raise ValueError(
            f"{csv_path} already holds {len(existing)} runs: pass resume=True (--resume) "
            "to continue that study, or choose another output folder"
        )
    done = {r.key: r for r in existing}
    _check_config(out, {
        "dataset": dataset,
        "steps": steps,
        "fit_options": _jsonable(_fit_defaults(fit_options)),
        "loss_options": _jsonable(loss_options or {}) if loss_factory is None else "custom",
        "position_weights": None if position_weights is None
        else str(getattr(position_weights, "label", repr(position_weights))),
        "image_shapes": {s.name: list(s.image.shape) for s in samples},
    }, resume)

    plan = [(s, spec, seed) for s in samples for spec in specs for seed in seed_list]
    n_skip = sum((s.name, spec, seed) in done for s, spec, seed in plan)
    emit = progress or (lambda _e: None)
    emit(StudyEvent("start", total=len(plan), skipped=n_skip))

    records: list[RunRecord] = []
    weights: dict[str, torch.Tensor] = {}
    for index, (sample, spec, seed) in enumerate(plan):
        key = (sample.name, spec, seed)
        common = dict(index=index, total=len(plan), skipped=n_skip, image=sample.name,
                      loss=spec, seed=seed, steps=steps)
        if key in done:
            records.append(done[key])
            emit(StudyEvent("skip", record=done[key], **common))
            continue
        tpath = target_path(out, sample.name)
        if not tpath.exists():
            save_png(sample.tensor(), tpath)
        extra: dict[str, Any] = {}
        if position_weights is not None:
            if sample.name not in weights:
                weights[sample.name] = position_weights(sample.tensor())
                w = weights[sample.name]
                save_png((w / w.max())[None], weights_path(out, sample.name))
            extra["position_weights"] = weights[sample.name]
        emit(StudyEvent("run", **common))
        on_step = None
        if step_events and progress is not None:
            def on_step(step: int, _loss: float, _c=common) -> None:
                emit(StudyEvent("step", **{**_c, "step": step}))
        result = fit_siren(
            sample.tensor(), factory(spec, seed, **extra), steps=steps, seed=seed, device=device,
            on_step=on_step, **fit_options,
        )
        rec = RunRecord(
            image=sample.name,
            dataset=dataset,
            loss=spec,
            seed=seed,
            psnr=float(result.psnr),
            ssim=float(result.ssim),
            seconds_per_step=float(result.seconds_per_step),
            steps=int(result.steps),
            first_nonfinite_step=result.first_nonfinite_step,
        )
        save_png(result.output[0], fit_path(out, sample.name, spec, seed))
        _append_history(hist_path, rec, result.history, result.term_history)
        _append_csv(csv_path, rec)  # last: a row in the CSV means the run is complete
        records.append(rec)
        emit(StudyEvent("done", record=rec, **common))
    return records
