"""The output folder of a command, created and proven writable *before* any work starts
(so an hour of fitting never ends in "permission denied")."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["prepare_out_dir"]


def prepare_out_dir(path: str | os.PathLike[str], name: str = "out") -> Path:
    """Create ``path`` (with parents) if needed and check a file can be written in it.

    The check writes and removes one empty temporary file, so it sees read-only folders,
    read-only file systems and paths whose parent is a file.

    Args:
        path: the output folder.
        name: the argument's name for the message (the CLI passes ``"--out"``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.

    Raises:
        ValueError: ``path`` is a file, cannot be created, or is not writable; the message
            names ``name`` and the reason.

    Examples:
        >>> import tempfile, pathlib
        >>> root = pathlib.Path(tempfile.mkdtemp())
        >>> prepare_out_dir(root / "a" / "b").is_dir()
        True
        >>> (root / "f").write_text("x")
        1
        >>> prepare_out_dir(root / "f")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        ValueError: out ... is a file, not a folder
    """
    out = Path(path)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{name} {out} is a file, not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-test-", dir=out)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ValueError(f"{name} {out} is not a writable folder ({reason})") from None
    return out
