"""The LTRP checkpoint format: what :mod:`msglance.ranking.training` writes and models read.

A checkpoint is a ``torch.save`` dict (written atomically by
:func:`msglance.mri.train.save_checkpoint`, read by :func:`msglance.mri.train.read_torch_file`) with ``format`` (:data:`FORMAT`), ``kind``
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
    from msglance.mri.train import read_torch_file

    payload = read_torch_file(path, map_location)
    path = Path(path)
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "kind" not in payload:
        raise ValueError(f"{path} is not an msglance LTRP checkpoint (format {FORMAT})")
    if payload["kind"] != kind:
        raise ValueError(f"{path} is a {payload['kind']} checkpoint, not a {kind} checkpoint")
    return payload
