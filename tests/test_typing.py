"""mypy is clean on the core modules (the ``[tool.mypy]`` files in pyproject.toml)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_mypy_clean_on_core_modules(tmp_path: Path) -> None:
    pytest.importorskip("mypy", reason="mypy is not installed (it is in the 'test' extra)")
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", str(tmp_path / "mypy-cache")],
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "Success" in output, output
