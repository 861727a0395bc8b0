"""Implicit neural representations: SIREN image fitting (docs/design.md §4)."""

from msglance.inr.fit import FitResult, fit_siren
from msglance.inr.siren import Siren, coordinate_grid

__all__ = ["FitResult", "Siren", "coordinate_grid", "fit_siren"]
