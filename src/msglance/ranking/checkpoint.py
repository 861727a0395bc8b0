"""The LTRP checkpoint format: what :mod:`msglance.ranking.training` writes and models read.

A checkpoint is a ``torch.save`` dict (written atomically by
:func:`msglance.mri.train.save_checkpoint`) with ``format`` (:data:`FORMAT`), ``kind``
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
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure is an unreadable file
        reason = " ".join(str(exc).split())[:200]
        raise ValueError(f"cannot read checkpoint {path}: {reason}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT or "kind" not in payload:
        raise ValueError(f"{path} is not an msglance LTRP checkpoint (format {FORMAT})")
    if payload["kind"] != kind:
        raise ValueError(f"{path} is a {payload['kind']} checkpoint, not a {kind} checkpoint")
    return payload
