"""How every ``msglance`` command reports an expected failure: ONE line on stderr
(``error: <message>``) and a non-zero exit code, never a traceback."""

from __future__ import annotations

import typer
from rich.console import Console
from rich.text import Text

__all__ = ["cli_error"]

_stderr = Console(stderr=True)


def cli_error(message: object, code: int = 2) -> typer.Exit:
    """Print ``error: message`` as one line on stderr and return the exit to raise.

    Line breaks inside ``message`` are folded into spaces and rich does not wrap the line,
    so scripts can read the error with ``2>&1 | tail -1``.

    Args:
        message: the error (an exception or text); it should name the argument at fault.
        code: the exit code (non-zero).

    Returns:
        A :class:`typer.Exit` for the caller to ``raise ... from None``.

    Examples:
        >>> exc = cli_error("--steps must be >= 1, got 0", code=2)
        >>> exc.exit_code
        2
    """
    if code == 0:
        raise ValueError("code must be non-zero for an error")
    text = " ".join(str(message).split()) or "unknown error"
    _stderr.print(Text.assemble(("error: ", "red"), text), highlight=False, soft_wrap=True)
    return typer.Exit(code=code)
