"""msglance: MS-Glance losses and metrics for supervising and judging image reconstruction.

``import msglance`` is cheap (it imports neither torch nor any submodule): the Glance
functions and losses re-exported here, ``__version__`` and every submodule
(``msglance.metrics``, ``msglance.losses``, ``msglance.inr``, ``msglance.mri``, ...) are
loaded on first attribute access (PEP 562), so the whole documented API is reachable from
the one import. See the README for the table and ``docs/design.md`` for the definitions.

Examples:
    >>> import msglance
    >>> msglance.metrics.get("psnr").higher_is_better
    True
    >>> msglance.losses.parse("l1 + 0.01*local").spec
    'l1 + 0.01*local'
    >>> callable(msglance.ms_glance_index)
    True
"""

from __future__ import annotations

import importlib

TYPE_CHECKING = False  # not typing.TYPE_CHECKING: importing typing costs more than the rest
if TYPE_CHECKING:  # for type checkers and IDEs; at run time these load lazily
    from typing import Any

    from msglance import (  # noqa: F401
        chunking,
        data,
        filters,
        glance,
        inr,
        losses,
        metrics,
        mri,
        report,
        validation,
    )
    from msglance.glance import (
        GlobalGlanceLoss,
        LocalGlanceLoss,
        MSGlanceLoss,
        glance_index,
        global_glance_index,
        ms_glance_index,
    )

    __version__: str

#: names re-exported at the top level -> the submodule defining them
_EXPORTS: dict[str, str] = {
    "GlobalGlanceLoss": "msglance.glance",
    "LocalGlanceLoss": "msglance.glance",
    "MSGlanceLoss": "msglance.glance",
    "glance_index": "msglance.glance",
    "global_glance_index": "msglance.glance",
    "ms_glance_index": "msglance.glance",
}

__all__ = [
    "GlobalGlanceLoss",
    "LocalGlanceLoss",
    "MSGlanceLoss",
    "__version__",
    "glance_index",
    "global_glance_index",
    "ms_glance_index",
]


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("msglance")
    except PackageNotFoundError:  # pragma: no cover - a source tree that was never installed
        return "0+unknown"


def _is_submodule(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"{__name__}.{name}") is not None


def __getattr__(name: str) -> Any:
    """Load a re-exported name, ``__version__`` or a submodule on first access."""
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name == "__version__":
        value = _version()
    elif not name.startswith("_") and _is_submodule(name):
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # later accesses skip __getattr__
    return value


def __dir__() -> list[str]:
    import pkgutil

    submodules = [m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")]
    return sorted(set(globals()) | set(__all__) | set(submodules))
