"""Registry metrics as ``torchmetrics.Metric`` objects (needs ``torchmetrics``).

:class:`RegistryMetric` accumulates the sum and the count of a metric's finite per-item
values (``dist_reduce_fx="sum"``), so torchmetrics' own synchronisation gives the mean over
every item of every process, like :class:`msglance.metrics.MetricCollection`; it fits in a
``torchmetrics.MetricCollection`` or a Lightning module.

Examples:
    >>> import torch
    >>> from msglance.integrations.torchmetrics import RegistryMetric
    >>> m = RegistryMetric("mae")
    >>> m.update(torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4))
    >>> m.update(torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 4.0))
    >>> float(m.compute())
    2.0
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from msglance.extras import require
from msglance.metrics.registry import get

__all__ = ["RegistryMetric"]

_Metric = require("torchmetrics", "bench").Metric


class RegistryMetric(_Metric):
    """The mean of registry metric ``name`` over every item seen (finite values only).

    Args:
        name: a registry name (:func:`msglance.metrics.available`).
        **options: keyword options of the metric function (``data_range``, ``window``, ...).

    Raises:
        UnknownMetricError: unknown ``name``.
        RuntimeError: the metric is unavailable here.
    """

    full_state_update = False
    is_differentiable = False

    def __init__(self, name: str, **options: Any) -> None:
        super().__init__()
        spec = get(name)
        if not spec.available:
            raise RuntimeError(f"metric {name!r} is unavailable: {spec.unavailable_reason}")
        self.spec = spec
        self.options = options
        self.add_state("total", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.tensor(0.0, dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("nonfinite", default=torch.tensor(0.0, dtype=torch.float64),
                       dist_reduce_fx="sum")

    @property
    def higher_is_better(self) -> bool:  # type: ignore[override]
        """The registry's direction of the metric."""
        return self.spec.higher_is_better

    def update(self, preds: Tensor, target: Tensor | None = None) -> None:
        args = (preds, target) if self.spec.full_reference else (preds,)
        with torch.no_grad():
            value = self.spec.fn(*args, reduction="none", **self.options)
        value = value.detach().reshape(-1).to(torch.float64)
        finite = torch.isfinite(value)
        self.total += torch.where(finite, value, torch.zeros_like(value)).sum()
        self.count += finite.sum()
        self.nonfinite += (~finite).sum()

    def compute(self) -> Tensor:
        return self.total / self.count
