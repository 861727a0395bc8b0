"""Atomic file writes: a reader (or a resumed run after a crash) sees the old file or the
new one, never half of one."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["atomic_write_bytes", "atomic_write_text"]


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: a temporary file beside it, flushed and
    ``fsync``-ed, then renamed over ``path`` with :func:`os.replace` (atomic on POSIX and
    Windows), so a crash at any point leaves the previous file intact.

    Examples:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> atomic_write_bytes(f, b"one")
        >>> f.read_bytes()
        b'one'
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """:func:`atomic_write_bytes` of ``text`` encoded as UTF-8.

    Examples:
        >>> import tempfile, pathlib
        >>> f = pathlib.Path(tempfile.mkdtemp()) / "a.txt"
        >>> atomic_write_text(f, "two\\n")
        >>> f.read_text()
        'two\\n'
    """
    atomic_write_bytes(path, text.encode("utf-8"))
