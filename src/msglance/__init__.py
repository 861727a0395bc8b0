"""msglance: MS-Glance losses and metrics for supervising and judging image reconstruction."""

__version__ = "0.1.0"
