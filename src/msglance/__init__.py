"""msglance: MS-Glance losses and metrics for supervising and judging image reconstruction.

The public API is re-exported here; see the README for the table.
"""

from msglance.glance import (
    GlobalGlanceLoss,
    LocalGlanceLoss,
    MSGlanceLoss,
    glance_index,
    global_glance_index,
    ms_glance_index,
)

__version__ = "0.1.0"

__all__ = [
    "GlobalGlanceLoss",
    "LocalGlanceLoss",
    "MSGlanceLoss",
    "__version__",
    "glance_index",
    "global_glance_index",
    "ms_glance_index",
]
