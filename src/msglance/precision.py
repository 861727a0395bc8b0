"""Which precision the Glance window moments use: the ``moments`` option and its ``"auto"`` rule.

* ``"float64"``: raw moments ``E[x^2], E[xy]`` by float64 box filters (after removing each
  plane's mean), the index and its analytic gradient in float64: exact to ~1e-16, the
  reference path and the CPU default.
* ``"float32"``: the two-pass central moments of :mod:`msglance.central_moments` in float32
  (no ``E[x^2] - E[x]^2`` cancellation, so flat windows stay exact), the index and its
  gradient in float32. For devices where float64 is slow or missing.
* ``"auto"`` (the default): ``"float64"`` where the device has fast float64
  (:func:`has_fast_float64`), else ``"float32"``.

The rule (:func:`has_fast_float64`): the CPU has full-rate float64; on CUDA only the data
centre chips of compute capability 6.0, 7.0, 8.0 and 9.0 (P100, V100, A100, H100/H200)
run float64 at half the float32 rate, every other capability (consumer and workstation
GPUs, Jetson, ...) at 1/32 to 1/64 of it; Apple MPS has no float64 at all. Other device
types keep float64.
"""

from __future__ import annotations

from typing import Literal

import torch

__all__ = [
    "FAST_FLOAT64_CAPABILITIES",
    "MOMENTS",
    "MomentsPrecision",
    "check_moments",
    "has_fast_float64",
    "resolve_moments",
]

MomentsPrecision = Literal["auto", "float64", "float32"]

#: the accepted values of the ``moments`` option
MOMENTS: tuple[str, ...] = ("auto", "float64", "float32")

#: CUDA compute capabilities with full-rate (1/2 of float32) float64: P100, V100, A100, H100
FAST_FLOAT64_CAPABILITIES: frozenset[tuple[int, int]] = frozenset({(6, 0), (7, 0), (8, 0), (9, 0)})


def check_moments(moments: object) -> MomentsPrecision:
    """Validate the ``moments`` option; returns it.

    Examples:
        >>> check_moments("float32")
        'float32'
        >>> check_moments("double")
        Traceback (most recent call last):
        ...
        ValueError: moments must be 'auto', 'float64' or 'float32', got 'double'
    """
    if not isinstance(moments, str) or moments not in MOMENTS:
        raise ValueError(f"moments must be 'auto', 'float64' or 'float32', got {moments!r}")
    return moments  # type: ignore[return-value]  # one of MOMENTS


def has_fast_float64(device: torch.device | str) -> bool:
    """Whether ``device`` runs float64 at full rate (see the module doc for the rule).

    Examples:
        >>> has_fast_float64("cpu"), has_fast_float64("mps")
        (True, False)
    """
    device = torch.device(device)
    if device.type == "cuda":
        major, minor = torch.cuda.get_device_capability(device)
        return (major, minor) in FAST_FLOAT64_CAPABILITIES
    return device.type != "mps"


def resolve_moments(moments: MomentsPrecision, device: torch.device | str) -> Literal["float64", "float32"]:
    """The precision the moments use on ``device``: ``moments`` itself, or for ``"auto"``
    ``"float64"`` where :func:`has_fast_float64`, else ``"float32"``.

    Examples:
        >>> resolve_moments("auto", "cpu"), resolve_moments("float32", "cpu")
        ('float64', 'float32')
    """
    if check_moments(moments) != "auto":
        return "float32" if moments == "float32" else "float64"
    return "float64" if has_fast_float64(device) else "float32"
