"""Doctest collection (``pytest --doctest-modules src/msglance``) skips the modules whose
optional dependencies (extras) are not installed, instead of failing to import them."""

from __future__ import annotations

import importlib.util

#: glob (relative to this folder) -> top-level modules it imports at module level
_NEEDS = {
    "src/msglance/cli.py": ("typer", "rich"),
    "src/msglance/*_command.py": ("typer", "rich"),
    "src/msglance/*/commands.py": ("typer", "rich"),
    "src/msglance/semantic/*.py": ("scipy", "skimage", "matplotlib"),
    "src/msglance/integrations/torchmetrics.py": ("torchmetrics",),
}

collect_ignore_glob = [
    pattern for pattern, modules in _NEEDS.items()
    if any(importlib.util.find_spec(m) is None for m in modules)
]
