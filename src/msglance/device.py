"""Device resolution: the one place every command and harness turns ``--device`` into a
:class:`torch.device` (``eval``, ``demo``, ``inr fit``/``study``, ``mri train``/``eval``).

A bad name or a device this build/machine does not have is a :class:`ValueError` naming
the argument, raised *before* any work, so the CLI can print it as one line.
"""

from __future__ import annotations

import torch

__all__ = ["resolve_device"]

#: Device types accepted besides ``auto``; each is checked for availability.
_TYPES = ("cpu", "cuda", "mps")


def _available(kind: str) -> bool:
    if kind == "cpu":
        return True
    if kind == "cuda":
        return torch.cuda.is_available()
    backend = getattr(torch.backends, kind, None)
    return bool(backend is not None and backend.is_available())


def resolve_device(device: str | torch.device = "auto", local_rank: int | None = None) -> torch.device:
    """Turn a device name into an available :class:`torch.device`.

    Rules: ``"auto"`` is ``"cuda"`` when CUDA is available, else ``"cpu"``. ``"cpu"``,
    ``"cuda"``, ``"cuda:N"`` and ``"mps"`` are accepted when this build and machine have
    them; ``N`` must be below ``torch.cuda.device_count()``. With ``local_rank`` (one process
    per GPU under ``torchrun``), a CUDA device without an index becomes ``cuda:local_rank``.

    Args:
        device: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"`` or a
            :class:`torch.device`.
        local_rank: this process's GPU index when distributed; ``None`` leaves
            ``"cuda"`` without an index (the current CUDA device).

    Returns:
        The device.

    Raises:
        ValueError: ``device`` is not a device name, is a type other than cpu/cuda/mps,
            or is not available here (e.g. ``"cuda"`` on a CPU-only build); the message
            names ``device``.

    Examples:
        >>> resolve_device("cpu")
        device(type='cpu')
        >>> resolve_device("auto").type in ("cpu", "cuda")
        True
        >>> resolve_device("bogus")
        Traceback (most recent call last):
        ...
        ValueError: device must be auto, cpu, cuda, cuda:N or mps; got 'bogus'
    """
    text = str(device).strip()
    if text == "auto":
        text = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError, TypeError):
        raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps; got {str(device)!r}") from None
    if dev.type not in _TYPES:
        raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps; got {str(device)!r}")
    if not _available(dev.type):
        raise ValueError(
            f"device {str(device)!r} requested but {dev.type.upper() if dev.type == 'cuda' else dev.type} "
            "is not available in this PyTorch build or on this machine (use --device cpu or auto)"
        )
    if dev.type == "cuda":
        count = torch.cuda.device_count()
        if dev.index is not None and dev.index >= count:
            raise ValueError(f"device {str(device)!r} requested but only {count} CUDA device(s) exist")
        if dev.index is None and local_rank is not None:
            dev = torch.device("cuda", local_rank)
    return dev
