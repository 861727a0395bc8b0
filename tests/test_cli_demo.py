"""The README's front door: `msglance demo`, the README snippet and `--version`."""

import re
from pathlib import Path

from typer.testing import CliRunner

from msglance.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"


def test_demo_runs_end_to_end_and_writes_the_figure(tmp_path):
    res = CliRunner().invoke(app, ["demo", "--size", "32", "--steps", "15", "--device", "cpu",
                                   "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    assert "L2 + MS-Glance" in res.output and "PSNR" in res.output
    rows = re.findall(r"│\s*(L2[^│]*?)\s*│\s*([\d.]+)\s*│\s*([\d.]+)\s*│\s*([\d.]+)\s*│", res.output)
    assert len(rows) == 2
    for _, psnr, ssim, ms in rows:
        assert 10 < float(psnr) < 60 and 0 < float(ssim) <= 1 and float(ms) > 0
    png = tmp_path / "demo.png"
    assert png.exists() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_readme_training_snippet_runs():
    text = README.read_text()
    snippet = re.search(r"```python\n(.*?)```", text, re.S).group(1)
    namespace: dict = {}
    exec(compile(snippet, "README.md", "exec"), namespace)  # noqa: S102
    terms = namespace["criterion"].last_terms
    assert set(terms) == {"global", "local", "pixel"}


def test_version():
    res = CliRunner().invoke(app, ["--version"])
    assert res.exit_code == 0 and "msglance 0.1.0" in res.output
