"""A comparison grid: named configurations (loss spec + TrainConfig overrides) × seeds.

A grid file is JSON::

    {
      "seeds": [0, 1, 2],                      # default [0]
      "splits": ["test", "s1045"],             # default both
      "baseline": "l1",                        # default: the first configuration
      "base": {"size": 128, "chans": 8, ...},  # TrainConfig fields shared by every run
      "select": {"lambda_best": {"metric": "val_psnr",
                                 "among": {"lam0.01": 0.01, "lam0.1": 0.1}}},
      "configs": [
        {"name": "l1", "loss": "l1"},
        {"name": "lam0.01", "loss": "l1+0.01*global+0.01*local"},
        {"name": "l1-acc8", "loss": "l1", "acceleration": 8, "center_fraction": 0.04},
        {"name": "lam0.01-acc8", "loss": "l1+0.01*global+0.01*local",
         "acceleration": 8, "center_fraction": 0.04, "baseline": "l1-acc8"},
        {"name": "global-best", "loss": "l1+{lambda_best}*global"}
      ]
    }

Each configuration has a ``name`` (letters, digits, ``+ . _ -``; its run directory), a
``loss`` spec, optionally ``baseline`` (the configuration it is paired with, seed by seed;
default the grid's ``baseline``), ``group`` and ``note`` (free text), and any
:class:`~msglance.mri.config.TrainConfig` field except ``out``, ``seed`` and ``loss`` (e.g.
``"delta": null``, ``"position_weights": "ltrp:ranker/last.pt"``).
``{placeholder}`` in a loss spec is filled by a *selection*: the value of the configuration
in ``among`` whose mean over seeds of the run's best validation metric (``val_psnr`` or
``val_ssim``, the selected checkpoint's; never a test metric) is highest, ties to the
smaller value. Configurations with placeholders are trained after those they select from.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from msglance.mri.config import TrainConfig, build_loss, build_target_weights

__all__ = ["GridEntry", "Selection", "Grid", "load_grid", "parse_grid", "grid_from_losses"]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9+._-]*$")
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")
_ENTRY_KEYS = {"name", "loss", "baseline", "group", "note"}
_FIXED = {"out", "seed", "loss"}
_METRICS = {"val_psnr": "best_val_psnr", "val_ssim": "best_val_ssim"}
_SPLITS = {"test", "val", "s1045"}


@dataclass(frozen=True)
class GridEntry:
    """One named configuration: ``loss`` spec and TrainConfig ``overrides``."""

    name: str
    loss: str
    overrides: dict[str, Any] = field(default_factory=dict)
    baseline: str | None = None
    group: str = ""
    note: str = ""

    @property
    def placeholders(self) -> list[str]:
        """The ``{name}`` placeholders of the loss spec."""
        return _PLACEHOLDER.findall(self.loss)


@dataclass(frozen=True)
class Selection:
    """Pick a value by the best mean validation metric among configurations."""

    name: str
    among: dict[str, float]
    metric: str = "val_psnr"

    def choose(self, validation: dict[str, list[float]]) -> float:
        """The value of the configuration with the highest mean of ``validation[name]``.

        Raises:
            ValueError: a configuration of ``among`` has no validation values.

        Examples:
            >>> s = Selection("lam", {"a": 0.01, "b": 0.1, "c": 0.001})
            >>> s.choose({"a": [30.0, 31.0], "b": [29.0, 30.0], "c": [30.5, 30.5]})  # tie a/c
            0.001
        """
        best: tuple[float, float] | None = None
        for name, value in self.among.items():
            vals = validation.get(name)
            if not vals:
                raise ValueError(f"selection {self.name!r}: no validation results for {name!r}")
            mean = sum(vals) / len(vals)
            if best is None or mean > best[0] or (mean == best[0] and value < best[1]):
                best = (mean, value)
        assert best is not None
        return best[1]


@dataclass
class Grid:
    """A parsed grid: ``base`` config, ``entries``, ``seeds``, ``splits``, selections."""

    base: TrainConfig
    entries: list[GridEntry]
    seeds: list[int]
    splits: tuple[str, ...] = ("test", "s1045")
    baseline: str = ""
    select: dict[str, Selection] = field(default_factory=dict)

    def entry(self, name: str) -> GridEntry:
        """The entry called ``name`` (KeyError if none)."""
        for e in self.entries:
            if e.name == name:
                return e
        raise KeyError(name)

    def pair_of(self, entry: GridEntry) -> str | None:
        """The name ``entry`` is paired with (``None`` for the grid baseline itself)."""
        pair = entry.baseline or self.baseline
        return None if pair == entry.name else pair

    def resolve_loss(self, entry: GridEntry, values: dict[str, float]) -> str:
        """``entry.loss`` with its placeholders replaced by ``values`` (``%g`` format)."""
        return _PLACEHOLDER.sub(lambda m: f"{values[m.group(1)]:g}", entry.loss)

    def config(self, entry: GridEntry, seed: int, out: str | os.PathLike[str],
               values: dict[str, float] | None = None) -> TrainConfig:
        """The TrainConfig of ``entry`` at ``seed`` writing to ``out``."""
        loss = self.resolve_loss(entry, values or {})
        return replace(self.base, **entry.overrides, loss=loss, seed=int(seed), out=str(out))


def _fail(where: str, message: str) -> ValueError:
    return ValueError(f"{where}: {message}")


def parse_grid(data: Any, source: str = "grid") -> Grid:
    """Check and parse a grid (the JSON object of a grid file; see the module doc).

    Raises:
        ValueError: one line naming ``source``, the entry and the problem.

    Examples:
        >>> g = parse_grid({"base": {"size": 64}, "configs": [
        ...     {"name": "l1", "loss": "l1"},
        ...     {"name": "l1-acc8", "loss": "l1", "acceleration": 8, "center_fraction": 0.04}]})
        >>> [e.name for e in g.entries], g.baseline, g.seeds
        (['l1', 'l1-acc8'], 'l1', [0])
        >>> g.config(g.entries[1], seed=2, out="runs/x").acceleration
        8
        >>> parse_grid({"configs": [{"name": "a", "loss": "l1", "chanz": 4}]})
        Traceback (most recent call last):
        ...
        ValueError: grid: configs[0] ('a'): unknown key 'chanz' (did you mean 'chans'?)
    """
    if not isinstance(data, dict):
        raise _fail(source, "a grid must be a JSON object with a 'configs' list")
    unknown = set(data) - {"study", "description", "seeds", "splits", "baseline", "base",
                           "select", "configs"}
    if unknown:
        raise _fail(source, f"unknown top-level key {sorted(unknown)[0]!r}")
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    base_raw = data.get("base", {})
    if not isinstance(base_raw, dict):
        raise _fail(source, "'base' must be an object of TrainConfig fields")
    bad = sorted(set(base_raw) - (fields - _FIXED))
    if bad:
        raise _fail(source, f"base: unknown or fixed key {bad[0]!r}")
    try:
        base = TrainConfig(**base_raw)
        base.validate()
    except (TypeError, ValueError) as exc:
        raise _fail(source, f"base: {exc}") from None

    seeds = data.get("seeds", [0])
    if (not isinstance(seeds, list) or not seeds
            or not all(isinstance(s, int) and not isinstance(s, bool) for s in seeds)
            or len(set(seeds)) != len(seeds)):
        raise _fail(source, f"'seeds' must be a non-empty list of distinct integers, got {seeds!r}")
    splits = data.get("splits", ["test", "s1045"])
    if not isinstance(splits, list) or not splits or not set(splits) <= _SPLITS:
        raise _fail(source, f"'splits' must be a non-empty list of {sorted(_SPLITS)}, got {splits!r}")

    raw_entries = data.get("configs")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise _fail(source, "'configs' must be a non-empty list")
    entries: list[GridEntry] = []
    for i, raw in enumerate(raw_entries):
        where = f"{source}: configs[{i}]"
        if not isinstance(raw, dict):
            raise ValueError(f"{where}: must be an object with 'name' and 'loss'")
        name = raw.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            raise ValueError(f"{where}: 'name' must be letters, digits, '+._-', got {name!r}")
        where = f"{where} ({name!r})"
        if any(e.name.lower() == name.lower() for e in entries):
            raise ValueError(f"{where}: the name is used twice")
        loss = raw.get("loss")
        if not isinstance(loss, str) or not loss.strip():
            raise ValueError(f"{where}: 'loss' must be a loss spec string")
        for key in raw:
            if key not in _ENTRY_KEYS and key not in fields - _FIXED:
                valid = sorted(_ENTRY_KEYS | (fields - _FIXED))
                close = difflib.get_close_matches(key, valid, n=1)
                hint = f"did you mean {close[0]!r}?" if close else "valid: " + ", ".join(valid)
                raise ValueError(f"{where}: unknown key {key!r} ({hint})")
        overrides = {k: v for k, v in raw.items() if k not in _ENTRY_KEYS}
        entries.append(GridEntry(name, loss, overrides, raw.get("baseline"),
                                 str(raw.get("group", "")), str(raw.get("note", ""))))

    names = [e.name for e in entries]
    by_name = {e.name: e for e in entries}
    baseline = data.get("baseline", names[0])
    if baseline not in names:
        raise _fail(source, f"baseline {baseline!r} is not a configuration name")

    select: dict[str, Selection] = {}
    raw_select = data.get("select", {})
    if not isinstance(raw_select, dict):
        raise _fail(source, "'select' must be an object")
    for key, spec in raw_select.items():
        where = f"{source}: select {key!r}"
        if not isinstance(spec, dict) or not isinstance(spec.get("among"), dict) or not spec["among"]:
            raise ValueError(f"{where}: needs 'among': {{configuration name: value}}")
        metric = spec.get("metric", "val_psnr")
        if metric not in _METRICS:
            raise ValueError(f"{where}: metric must be one of {sorted(_METRICS)} (validation "
                             f"only), got {metric!r}")
        for name, value in spec["among"].items():
            if name not in names:
                raise ValueError(f"{where}: {name!r} is not a configuration name")
            if by_name[name].placeholders:
                raise ValueError(f"{where}: {name!r} has placeholders itself")
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"{where}: the value of {name!r} must be a number")
        select[key] = Selection(key, {k: float(v) for k, v in spec["among"].items()}, metric)

    grid = Grid(base, entries, list(seeds), tuple(splits), baseline, select)
    for i, entry in enumerate(entries):
        where = f"{source}: configs[{i}] ({entry.name!r})"
        if entry.baseline is not None and entry.baseline not in names:
            raise ValueError(f"{where}: baseline {entry.baseline!r} is not a configuration name")
        missing = [p for p in entry.placeholders if p not in select]
        if missing:
            raise ValueError(f"{where}: placeholder {{{missing[0]}}} has no 'select' entry")
        probe = {p: next(iter(select[p].among.values())) for p in entry.placeholders}
        try:
            config = grid.config(entry, grid.seeds[0], "probe", probe)
            config.validate()
            build_loss(config)  # a bad spec fails now, not after hours of training
            build_target_weights(config)  # so does a bad position_weights spec/checkpoint
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{where}: {' '.join(str(exc).split())}") from None
    return grid


def load_grid(path: str | os.PathLike[str]) -> Grid:
    """:func:`parse_grid` of a JSON grid file.

    Raises:
        FileNotFoundError: no such file. ValueError: not JSON, or an invalid grid (one line).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"grid file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc.msg} at line {exc.lineno})") from None
    return parse_grid(data, source=str(path))


def grid_from_losses(base: TrainConfig, losses: list[str], seeds: list[int],
                     splits: tuple[str, ...] = ("test", "s1045")) -> Grid:
    """The grid of ``--losses``: one entry per spec, named by the spec, paired with the first.

    Raises:
        ValueError: no losses or seeds.

    Examples:
        >>> g = grid_from_losses(TrainConfig(size=64), ["l1", "l1+0.01*local"], [0, 1])
        >>> [e.name for e in g.entries], g.pair_of(g.entries[1]), g.seeds
        (['l1', 'l1+0.01*local'], 'l1', [0, 1])
    """
    if not losses or not seeds:
        raise ValueError("compare needs at least one loss spec and one seed")
    for spec in losses:  # fail early on a bad spec, before hours of training
        build_loss(replace(base, loss=spec))
    entries = [GridEntry(spec, spec) for spec in losses]
    return Grid(base, entries, [int(s) for s in seeds], tuple(splits), losses[0])
