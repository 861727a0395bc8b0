"""Checkpoint files of MRI training runs and the RNG state they carry.

A checkpoint is a ``torch.save`` dictionary (``format`` :data:`CHECKPOINT_FORMAT`) written
atomically; it holds the model, optimizer, scheduler and scaler states, one RNG state per
process (:func:`rng_state`), the history and the config, so a resumed run continues exactly.

Examples:
    >>> import random, torch
    >>> from msglance.mri.checkpoint import rng_state, set_rng_state
    >>> state = rng_state(); a = (torch.rand(1).item(), random.random())
    >>> set_rng_state(state); a == (torch.rand(1).item(), random.random())
    True
"""

from __future__ import annotations

import io
import os
import random
from pathlib import Path
from typing import Any

import numpy as np
import torch

from msglance.atomic import atomic_write_bytes

__all__ = [
    "CHECKPOINT_FORMAT",
    "load_checkpoint",
    "load_torch_file",
    "rng_state",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
]

CHECKPOINT_FORMAT = 1




def save_checkpoint(path: Path, payload: dict[str, Any]) -> None:
    """``torch.save(payload)`` to ``path`` atomically: a crash never leaves half a file."""
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    atomic_write_bytes(path, buffer.getvalue())


def load_torch_file(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> Any:
    """``torch.load(path, weights_only=True)`` (no code is unpickled) with one-line errors.

    Raises:
        FileNotFoundError: no such file.
        ValueError: unreadable (the message names the file and the reason).

    Examples:
        >>> load_torch_file("/nonexistent.pt")
        Traceback (most recent call last):
        ...
        FileNotFoundError: checkpoint not found: /nonexistent.pt
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any failure is an unreadable file
        reason = " ".join(str(exc).split())[:300]
        raise ValueError(f"cannot read checkpoint {path}: {reason}") from None


def load_checkpoint(path: str | os.PathLike[str], map_location: str | torch.device = "cpu") -> dict:
    """Load a checkpoint written by :func:`train` (``weights_only``: no code is unpickled).

    Raises:
        FileNotFoundError: no such file.
        ValueError: not a readable msglance MRI checkpoint (the message names the file).
    """
    payload = load_torch_file(path, map_location)
    if not isinstance(payload, dict) or payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path} is not a msglance MRI checkpoint (format {CHECKPOINT_FORMAT})")
    return payload



def rng_state() -> dict[str, Any]:
    """The torch, NumPy, Python (and CUDA) RNG states, as tensors and plain values."""
    kind, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (kind, torch.from_numpy(keys.astype(np.int64)), int(pos), int(has_gauss), float(cached)),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the RNG states saved by :func:`rng_state`."""
    torch.set_rng_state(state["torch"].cpu())
    kind, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    if "cuda" in state and torch.cuda.is_available():
        cuda_states = [s.cpu() for s in state["cuda"]]
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
