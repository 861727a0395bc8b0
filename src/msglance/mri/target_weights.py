r"""Global Glance sampling weights of MRI training targets (``TrainConfig.position_weights``).

With ``position_weights = SPEC`` (any :func:`msglance.position_weights.weight_source` spec,
e.g. ``"ltrp:ranker/last.pt"`` or ``"variance"``) the training loop builds, for every item
of a batch, a weight map :math:`w = \mathrm{source}(y)` of its **fully-sampled target**
:math:`y` (the ground truth, never the network's input or output) and hands it to the Global
Glance term(s) of the loss, which then draw positions with probability proportional to
:math:`w` (:func:`msglance.glance.sample_positions`). Like the air prior ``delta`` (which
also looks at the target), the weights are a property of the target, not of the
reconstruction, and carry no gradient. Both may be given: a position is then eligible only
where :math:`w > 0` *and* :math:`y > \delta` (an item where the prior leaves no positive
weight falls back to the weights alone, with a warning).

A training slice's target is the same every epoch (only its mask changes), so each map is
computed once per ``slice_id`` and cached (on the CPU); items without an id are computed
every time. Building the maps consumes no random numbers, so a resumed run (whose cache
starts empty) draws exactly what the uninterrupted run drew.

Examples:
    >>> import torch
    >>> weights = TargetWeights("gradient", patch=4)
    >>> y = torch.zeros(2, 1, 8, 8); y[:, :, :, 5:] = 1.0   # an edge in the right half
    >>> w = weights(y, ["a", "b"])
    >>> w.shape, float(w[0, 0, :, :4].sum()), len(weights.cache)
    (torch.Size([2, 1, 8, 8]), 0.0, 2)
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from msglance.position_weights import WeightSource, weight_source

__all__ = ["TargetWeights"]


class TargetWeights:
    """Per-item sampling weights ``(B, 1, H, W)`` of a batch of targets, cached by slice id.

    Args:
        spec: a :func:`~msglance.position_weights.weight_source` spec.
        patch: patch side of the per-patch sources (``variance``, ``gradient``); the
            ``ltrp`` source uses its ranker's own grid.

    Raises:
        ValueError: a bad spec or a missing checkpoint (one line, from ``weight_source``).
    """

    def __init__(self, spec: str, patch: int = 16) -> None:
        self.source: WeightSource = weight_source(spec, patch)
        self.cache: dict[str, Tensor] = {}

    @property
    def label(self) -> str:
        """The source's label (spec, and patch size for the per-patch sources)."""
        return self.source.label

    def __call__(self, targets: Tensor, slice_ids: Sequence[str] | None = None) -> Tensor:
        """The maps of ``targets (B, C, H, W)`` (each mean 1), on the targets' device.

        Raises:
            ValueError: ``slice_ids`` of another length than the batch, or a map the source
                cannot build (e.g. an all-zero target).
        """
        if targets.ndim != 4:
            raise ValueError(f"targets must be (B, C, H, W), got {tuple(targets.shape)}")
        if slice_ids is not None and len(slice_ids) != targets.shape[0]:
            raise ValueError(f"{len(slice_ids)} slice ids for a batch of {targets.shape[0]}")
        maps = []
        for i, target in enumerate(targets.detach()):
            key = None if slice_ids is None else str(slice_ids[i])
            cached = self.cache.get(key) if key is not None else None
            if cached is None:
                cached = self.source(target.float().cpu())
                if key is not None:
                    self.cache[key] = cached
            maps.append(cached)
        return torch.stack(maps).unsqueeze(1).to(targets.device)
