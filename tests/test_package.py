"""The top-level package: lazy submodule access (PEP 562), version, ``python -m msglance``."""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys

import pytest

import msglance


def _run(code: str) -> str:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True).stdout.strip()


def test_plain_import_loads_no_torch_and_no_submodule():
    out = _run("import sys, msglance; "
               "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('msglance.')))")
    assert out == "[]"


API = [
    "MSGlanceLoss", "LocalGlanceLoss", "GlobalGlanceLoss", "glance_index",
    "global_glance_index", "ms_glance_index",
    "glance.sample_positions", "filters.box_filter", "filters.gaussian_filter",
    "losses.parse", "losses.CompositeLoss", "metrics.get", "metrics.available",
    "metrics.psnr", "metrics.ssim", "inr.Siren", "inr.fit_siren", "mri.UNet",
    "data.load_dataset",
]


def test_readme_api_reachable_after_plain_import():
    code = "import msglance; print(" + " and ".join(f"callable(msglance.{d})" for d in API) + ")"
    assert _run(code) == "True"


def test_top_level_names_are_the_glance_objects():
    from msglance import glance

    for name in ("MSGlanceLoss", "glance_index", "ms_glance_index"):
        assert getattr(msglance, name) is getattr(glance, name)
    assert set(msglance.__all__) <= set(dir(msglance))
    assert {"metrics", "losses", "inr", "mri", "glance"} <= set(dir(msglance))


def test_unknown_attribute_raises_attribute_error():
    with pytest.raises(AttributeError, match="no_such_thing"):
        msglance.no_such_thing  # noqa: B018
    assert not hasattr(msglance, "_private")


def test_version_comes_from_the_installed_metadata():
    assert msglance.__version__ == importlib.metadata.version("msglance")


def test_python_dash_m_runs_the_command():
    out = subprocess.run([sys.executable, "-m", "msglance", "--version"], capture_output=True,
                         text=True, check=True).stdout
    assert out.strip() == f"msglance {msglance.__version__}"


def test_figures_use_no_pyplot_and_leave_the_backend_alone(tmp_path):
    png = tmp_path / "f.png"
    code = (
        "import sys, matplotlib; matplotlib.use('svg'); "
        "from msglance.report import subplots, save_figure; "
        "fig, axes = subplots(1, 2, figsize=(2, 1)); axes[0].plot([0, 1]); "
        f"save_figure(fig, {str(png)!r}); "
        "print(matplotlib.get_backend(), 'matplotlib.pyplot' in sys.modules)"
    )
    assert _run(code) == "svg False"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_package_is_typed():
    from importlib.resources import files

    assert files("msglance").joinpath("py.typed").is_file()
