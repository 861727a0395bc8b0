r"""Accumulate registry metrics over a data loader: :class:`MetricCollection`.

A collection keeps, per metric, four numbers in float64 — the sum ``S`` and the sum of
squares ``Q`` of its finite per-item values, their count ``n`` and the count of non-finite
values — so its memory is O(number of metrics) however many items it sees, and two
collections (or the collections of several processes) combine exactly by adding those
numbers:

.. math::

    \text{mean} = S / n, \qquad
    \text{std} = \sqrt{\frac{Q - S^2 / n}{n - 1}} \quad (n > 1;\ 0 \text{ for } n = 1)

The mean is over every finite item value seen (not a mean of batch means); non-finite
values (e.g. the infinite PSNR of a perfect prediction) are counted apart, never averaged.
Under ``torch.distributed`` :meth:`MetricCollection.compute` and
:meth:`MetricCollection.summary` all-reduce the sums and counts (``sync=True`` by default),
so every process gets the statistics of the whole data set.

Examples:
    >>> import torch
    >>> from msglance.metrics import MetricCollection
    >>> g = torch.Generator().manual_seed(0)
    >>> y = torch.rand(6, 1, 32, 32, generator=g)
    >>> x = (y + 0.05 * torch.randn(6, 1, 32, 32, generator=g)).clamp(0, 1)
    >>> mc = MetricCollection(["psnr", "mae"], data_range=1.0)
    >>> for i in range(0, 6, 4):   # two batches, of 4 and 2 items
    ...     mc.update(x[i:i + 4], y[i:i + 4])
    >>> means = mc.compute()
    >>> abs(means["mae"] - float((x - y).abs().mean())) < 1e-6
    True
    >>> mc.summary()["psnr"]["count"]
    6
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor

from msglance.metrics.registry import get

__all__ = ["MetricCollection"]

def _accepts(fn: Callable[..., Tensor], key: str) -> bool:
    """Whether ``fn`` (or the function it wraps) takes the keyword ``key``."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        return False
    return key in params or any(p.kind is p.VAR_KEYWORD for p in params.values())


class MetricCollection:
    """Running mean, std and counts of several registry metrics over many batches.

    Args:
        names: registry names (:func:`msglance.metrics.available`), e.g.
            ``["psnr", "ssim", "ms_glance"]``; no-reference metrics are computed on the
            prediction only.
        metric_options: per-metric keyword options, e.g. ``{"ssim": {"window": "box7"}}``.
        **options: keyword options given to every metric whose function accepts them
            (``data_range``, ``check_range``, ``generator``, ...).

    Raises:
        UnknownMetricError: an unknown name (with did-you-mean suggestions).
        ValueError: no names, a repeated name, or options for a metric not in ``names``.
        RuntimeError: a metric unavailable here.

    The per-item values of each batch come from the metric with ``reduction="none"``,
    under ``torch.no_grad()``.

    Examples:
        >>> import torch
        >>> from msglance.metrics import MetricCollection
        >>> a = MetricCollection(["mse"]); b = MetricCollection(["mse"])
        >>> a.update(torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4))
        >>> b.update(torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 4.0))
        >>> a.merge(b).compute()
        {'mse': 6.0}
    """

    def __init__(
        self,
        names: Sequence[str],
        metric_options: Mapping[str, Mapping[str, Any]] | None = None,
        **options: Any,
    ) -> None:
        if isinstance(names, str):
            names = [names]
        self.names: list[str] = list(names)
        if not self.names:
            raise ValueError("names must list at least one metric")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"names repeats a metric: {self.names}")
        metric_options = dict(metric_options or {})
        stray = sorted(set(metric_options) - set(self.names))
        if stray:
            raise ValueError(f"metric_options for metrics not in names: {stray}")
        self._specs = {name: get(name) for name in self.names}
        for name, spec in self._specs.items():
            if not spec.available:
                raise RuntimeError(f"metric {name!r} is unavailable: {spec.unavailable_reason}")
        self._options: dict[str, dict[str, Any]] = {}
        for name, spec in self._specs.items():
            common = {k: v for k, v in options.items() if _accepts(spec.fn, k)}
            self._options[name] = {**common, **metric_options.get(name, {})}
        self._state = torch.zeros(len(self.names), 4, dtype=torch.float64)

    # ------------------------------------------------------------------ accumulation

    @torch.no_grad()
    def update(self, pred: Tensor, target: Tensor | None = None, **options: Any) -> None:
        """Add one batch (each metric's per-item values).

        ``options`` override the collection's options for this batch only, for the metrics
        that accept them (e.g. a per-volume ``data_range``, as fastMRI's evaluation uses).

        Raises:
            ValueError: ``target`` missing while a full-reference metric is in the collection
                (and whatever the metrics raise for bad inputs).
        """
        rows = []
        for name in self.names:
            spec = self._specs[name]
            opts = {**self._options[name],
                    **{k: v for k, v in options.items() if _accepts(spec.fn, k)}}
            if spec.full_reference:
                if target is None:
                    raise ValueError(f"metric {name!r} needs a target: update(pred, target)")
                value = spec.fn(pred, target, reduction="none", **opts)
            else:
                value = spec.fn(pred, reduction="none", **opts)
            rows.append(self._row(value.detach().reshape(-1).to(torch.float64)))
        self._state += torch.stack(rows).cpu()

    def add_values(self, values: Mapping[str, Tensor | Sequence[float]]) -> None:
        """Add per-item values computed elsewhere (e.g. with per-item options), one sequence
        or 1-D tensor per metric of the collection.

        Raises:
            ValueError: ``values`` misses a metric of the collection or names another one.

        Examples:
            >>> from msglance.metrics import MetricCollection
            >>> mc = MetricCollection(["psnr"])
            >>> mc.add_values({"psnr": [30.0, 32.0, float("inf")]})
            >>> mc.summary()["psnr"]["mean"], mc.summary()["psnr"]["nonfinite"]
            (31.0, 1)
        """
        if set(values) != set(self.names):
            raise ValueError(f"add_values needs exactly {self.names}, got {sorted(values)}")
        self._state += torch.stack([
            self._row(torch.as_tensor(values[name], dtype=torch.float64).reshape(-1).cpu())
            for name in self.names
        ])

    @staticmethod
    def _row(value: Tensor) -> Tensor:
        """(sum, sum of squares, finite count, non-finite count) of float64 values."""
        finite = torch.isfinite(value)
        kept = torch.where(finite, value, torch.zeros_like(value))
        return torch.stack([
            kept.sum(), kept.square().sum(), finite.sum().to(torch.float64),
            (~finite).sum().to(torch.float64),
        ])

    def reset(self) -> None:
        """Forget every value seen."""
        self._state.zero_()

    def merge(self, other: MetricCollection) -> MetricCollection:
        """Add ``other``'s values to this collection (in place) and return ``self``.

        Raises:
            ValueError: the two collections hold different metrics.
        """
        if not isinstance(other, MetricCollection):
            raise TypeError(f"merge needs a MetricCollection, got {type(other).__name__}")
        if other.names != self.names:
            raise ValueError(f"cannot merge collections of {other.names} into {self.names}")
        self._state += other._state
        return self

    # ------------------------------------------------------------------ results

    def state(self, sync: bool = True) -> Tensor:
        """The ``(metrics, 4)`` float64 state (sum, sum of squares, count, non-finite count),
        summed over all processes when ``sync`` and ``torch.distributed`` is initialised.

        The local state is left unchanged, so calling this twice never counts twice.
        """
        state = self._state.clone()
        dist = torch.distributed
        if sync and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
            device = torch.device("cpu")
            if dist.get_backend() == "nccl":
                device = torch.device("cuda", torch.cuda.current_device())
            reduced = state.to(device)
            dist.all_reduce(reduced, op=dist.ReduceOp.SUM)
            state = reduced.cpu()
        return state

    def compute(self, sync: bool = True) -> dict[str, float]:
        """Mean of each metric over every finite item value seen (NaN if there is none)."""
        return {name: entry["mean"] for name, entry in self.summary(sync).items()}

    def summary(self, sync: bool = True) -> dict[str, dict[str, Any]]:
        """Per metric: ``mean``, ``std`` (ddof 1; 0 for one value), ``count`` (finite
        values), ``nonfinite`` (NaN/inf values, not in the mean) and ``higher_is_better``.
        ``mean``/``std`` are NaN when no finite value was seen."""
        out: dict[str, dict[str, Any]] = {}
        for name, row in zip(self.names, self.state(sync).tolist()):
            total, squares, count, nonfinite = row
            n = int(count)
            mean = total / n if n else math.nan
            if n > 1:
                std = math.sqrt(max(squares - total * total / n, 0.0) / (n - 1))
            else:
                std = 0.0 if n == 1 else math.nan
            out[name] = {
                "mean": mean,
                "std": std,
                "count": n,
                "nonfinite": int(nonfinite),
                "higher_is_better": self._specs[name].higher_is_better,
            }
        return out

    def __repr__(self) -> str:
        seen = int(self._state[0, 2] + self._state[0, 3])  # finite + non-finite values
        return f"MetricCollection({self.names}, items={seen})"
