"""The LTRP checkpoint format: what :mod:`msglance.ranking.training` writes and models read.

A checkpoint is a ``torch.save`` dict (written atomically by
:func:`msglance.mri.checkpoint.save_checkpoint`) with ``format`` (:data:`FORMAT`), ``kind``
(``"mae"``, ``"ranker"`` or ``"classifier"``), ``model_config`` (the model's sizes),
``model`` (its ``state_dict``) and, for resumable training, ``optimizer``, ``rng``,
``epoch``, ``history`` and ``settings``. Reading uses ``weights_only=True``: no code is
unpickled.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from msglance.mri.checkpoint import load_torch_file

__all__ = ["FORMAT", "read_checkpoint"]

FORMAT = 1


def read_checkpoint(
    path: str | os.PathLike[str], kind: str, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load an LTRP checkpoint of ``kind``; one-line errors for anything else.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable, not an LTRP checkpoint, or of another kind.

    Examples:
        >>> read_checkpoint("/nonexistent.pt", "ranker")
        Traceback (most recent call last):
        ...
        FileNotFoundError: checkpoint not found: /nonexistent.pt
    """
    path = Path(path)
    payload = load_torch_file(path, map_location)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "kind" not in payload:
        raise ValueError(f"{path} is not an msglance LTRP checkpoint (format {FORMAT})")
    if payload["kind"] != kind:
        raise ValueError(f"{path} is a {payload['kind']} checkpoint, not a {kind} checkpoint")
    return payload
