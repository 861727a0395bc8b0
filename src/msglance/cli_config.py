"""``--config FILE``: take a command's option values from a JSON file it wrote before.

``msglance mri train`` writes ``RUN_DIR/config.json`` and ``msglance inr study`` writes
``OUT/config.json``; passing that file back with ``--config`` re-runs the same experiment.
The file's values become the options' defaults (Click's ``default_map``), so any option
given on the command line as well wins (e.g. ``--out`` for a new folder, ``--epochs`` for a
longer run). Keys that are not options of the command are an error naming them.
A ``null`` in the file is given to an option named in ``nulls`` as that option's
command-line spelling of "none" (e.g. ``"delta": null`` → ``--delta -1``): Click reads a
``None`` default as "no default" and would fall back to the option's own default.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import typer

from msglance.atomic import atomic_write_text
from msglance.cli_error import cli_error

__all__ = ["config_option", "load_config_defaults", "write_command_config"]


def load_config_defaults(
    ctx: typer.Context, path: Path | None, renames: Mapping[str, str] | None = None,
    nulls: Mapping[str, Any] | None = None,
) -> None:
    """Read the JSON object at ``path`` into ``ctx.default_map`` (``renames``: file key ->
    option name; ``nulls``: option name -> the value that means ``null`` on the command
    line). Expected failures end the command with one line on stderr."""
    if path is None:
        return
    try:
        raw = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise cli_error(f"--config {path}: cannot read it as JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise cli_error(f"--config {path}: expected a JSON object, got {type(raw).__name__}")
    renames = dict(renames or {})
    names = {p.name for p in ctx.command.params if p.name}
    values = {renames.get(k, k): v for k, v in raw.items()}
    values.update({k: nulls[k] for k, v in values.items() if v is None and k in (nulls or {})})
    unknown = sorted(k for k in values if k not in names or k == "config")
    if unknown:
        raise cli_error(f"--config {path}: not options of this command: {', '.join(unknown)}")
    ctx.default_map = {**(ctx.default_map or {}), **values}


def config_option(
    renames: Mapping[str, str] | None = None, nulls: Mapping[str, Any] | None = None
) -> Any:
    """The ``--config FILE`` typer option (eager, so the file is read before the others);
    ``renames`` and ``nulls`` as in :func:`load_config_defaults`."""

    def callback(ctx: typer.Context, value: Path | None) -> Path | None:
        load_config_defaults(ctx, value, renames, nulls)
        return value

    return typer.Option(
        None, "--config", is_eager=True, callback=callback, exists=False, dir_okay=False,
        help="JSON file of option values (e.g. the config.json a previous run wrote); "
        "options given on the command line override it.",
    )


def write_command_config(path: str | os.PathLike[str], values: Mapping[str, Any]) -> Path:
    """Write option values as the JSON object ``--config`` reads (atomically).

    ``Path`` values become strings; returns the path.
    """
    def plain(v: Any) -> Any:
        if isinstance(v, os.PathLike):
            return os.fspath(v)
        if isinstance(v, (list, tuple)):
            return [plain(x) for x in v]
        return v

    path = Path(path)
    atomic_write_text(path, json.dumps({k: plain(v) for k, v in values.items()}, indent=2) + "\n")
    return path
