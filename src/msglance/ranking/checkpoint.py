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
from dataclasses import asdict
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch

from msglance.mri.checkpoint import load_torch_file

__all__ = ["FORMAT", "Checkpointed", "read_checkpoint"]

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


_Model = TypeVar("_Model", bound="Checkpointed")


class Checkpointed:
    """Mixin of the LTRP models: ``config_dict()`` for the checkpoint and
    ``from_checkpoint(path)`` to rebuild the model from it.

    A subclass sets ``checkpoint_kind`` (the ``kind`` it reads) and ``config_class`` (its
    sizes dataclass), keeps that dataclass in ``self.config`` and takes it as the only
    argument of ``__init__``.
    """

    checkpoint_kind: ClassVar[str]
    config_class: ClassVar[type]
    config: Any

    def config_dict(self) -> dict[str, Any]:
        """The model's config dataclass as a dict (for checkpoints)."""
        return asdict(self.config)

    @classmethod
    def from_checkpoint(
        cls: type[_Model], path: str | os.PathLike[str], map_location: str | torch.device = "cpu"
    ) -> _Model:
        """The model of a checkpoint written by :mod:`msglance.ranking.training`, in eval mode.

        Raises:
            FileNotFoundError: no such file.
            ValueError: not an LTRP checkpoint, or one of another kind.
        """
        payload = read_checkpoint(path, cls.checkpoint_kind, map_location)
        model = cls(cls.config_class(**payload["model_config"]))  # type: ignore[call-arg]
        model.load_state_dict(payload["model"])  # type: ignore[attr-defined]
        return model.eval()  # type: ignore[attr-defined]
