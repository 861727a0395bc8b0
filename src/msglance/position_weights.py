r"""Position-weight maps for weighted Global Glance sampling (``position_weights``).

:func:`msglance.glance.sample_positions` draws Global Glance positions in proportion to a
non-negative ``(H, W)`` map. This module builds such maps from an image, by name
(:func:`weight_source`, the ``--position-weights`` option of ``msglance inr fit/study``):

``variance``
    per-patch variance of the target (over the patch's pixels and channels), spread over
    the patch's pixels: a label-free texture score, like the ``variance`` selector of LTRP's
    baselines. Flat patches get weight 0 and are only drawn when too few others are left.
``gradient``
    per-patch gradient energy, the patch mean of
    :math:`\sum_c (\partial_x y_c)^2 + (\partial_y y_c)^2` (forward differences, 0 across
    the last row/column): where the edges are.
``ltrp:CKPT``
    the patch scores ``s`` of an LTRP ranker checkpoint
    (``msglance.ranking.PatchRanker.from_checkpoint(CKPT).rank(images) -> (N, L)``; the
    image is first area-resized to the ranker's ``config.image_size`` and averaged to / repeated
    into its ``config.channels``), each patch's score spread over its pixels, as weights :math:`w = e^{s - \max s}`: the Plackett-Luce weights its ListMLE loss fits, so
    weighted sampling without replacement draws patches in the ranker's own model of the
    order. Needs :mod:`msglance.ranking`; until that package is installed this source says
    so in one line.
``PATH.npy``
    an ``(H, W)`` map from a file (e.g. saved ranker scores), at the image's size.

Other sources plug in with :func:`register_weight_source`: any function
``image (C, H, W) -> (H, W)`` map. Every map is checked (shape, finite, ``>= 0``, not all
zero) and scaled to mean 1 (the scale does not change the sampling).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "WeightMap",
    "WeightSource",
    "patch_gradient_energy",
    "patch_variance",
    "register_weight_source",
    "spread_patch_scores",
    "weight_source",
    "weight_source_names",
]

#: A weight map builder: ``image (C, H, W) -> (H, W)`` non-negative weights.
WeightMap = Callable[[Tensor], Tensor]
#: Builds a :data:`WeightMap` from the text after ``name:`` (``""`` if none) and a patch side.
SourceFactory = Callable[[str, int], WeightMap]


def _check_image(image: Tensor, patch: int) -> tuple[int, int]:
    if not isinstance(image, Tensor) or image.ndim != 3 or not image.is_floating_point():
        raise ValueError(
            f"image must be a floating (C, H, W) tensor, got "
            f"{getattr(image, 'shape', type(image).__name__)}"
        )
    if not isinstance(patch, int) or patch < 1:
        raise ValueError(f"patch must be a positive int, got {patch!r}")
    h, w = image.shape[1:]
    if h % patch or w % patch:
        raise ValueError(f"image {h}x{w} is not divisible into {patch}x{patch} patches")
    return h // patch, w // patch


def spread_patch_scores(scores: Tensor, patch: int) -> Tensor:
    """Give each pixel its patch's score: ``(..., gh, gw) -> (..., gh*patch, gw*patch)``.

    Examples:
        >>> import torch
        >>> spread_patch_scores(torch.tensor([[1.0, 2.0]]), 2)
        tensor([[1., 1., 2., 2.],
                [1., 1., 2., 2.]])
    """
    if not isinstance(patch, int) or patch < 1:
        raise ValueError(f"patch must be a positive int, got {patch!r}")
    return scores.repeat_interleave(patch, dim=-2).repeat_interleave(patch, dim=-1)


def patch_variance(image: Tensor, patch: int = 16) -> Tensor:
    r"""Per-patch variance ``(H/p, W/p)`` of a ``(C, H, W)`` image, over the patch's pixels
    and channels: :math:`E[y^2] - E[y]^2` (population moments, clamped at 0).

    Examples:
        >>> import torch
        >>> img = torch.zeros(1, 4, 4); img[0, :2, :2] = torch.tensor([[0., 1.], [1., 0.]])
        >>> patch_variance(img, 2)
        tensor([[0.2500, 0.0000],
                [0.0000, 0.0000]])
    """
    _check_image(image, patch)
    x = image.double().unsqueeze(0)
    mean = F.avg_pool2d(x, patch).mean(dim=1)
    second = F.avg_pool2d(x * x, patch).mean(dim=1)
    return (second - mean * mean).clamp_min(0.0)[0].to(image.dtype)


def patch_gradient_energy(image: Tensor, patch: int = 16) -> Tensor:
    r"""Per-patch mean gradient energy ``(H/p, W/p)`` of a ``(C, H, W)`` image:
    :math:`\frac{1}{p^2} \sum_{(i, j) \in P} \sum_c (y_{c,i,j+1} - y_{c,i,j})^2
    + (y_{c,i+1,j} - y_{c,i,j})^2`, differences taken as 0 past the last row/column.

    Examples:
        >>> import torch
        >>> img = torch.zeros(1, 4, 4); img[0, :, 2:] = 1.0  # a vertical edge
        >>> patch_gradient_energy(img, 2)
        tensor([[0.5000, 0.0000],
                [0.5000, 0.0000]])
    """
    _check_image(image, patch)
    x = image.double()
    gx = F.pad(x[:, :, 1:] - x[:, :, :-1], (0, 1))
    gy = F.pad(x[:, 1:, :] - x[:, :-1, :], (0, 0, 0, 1))
    energy = (gx * gx + gy * gy).sum(dim=0, keepdim=True)
    return F.avg_pool2d(energy.unsqueeze(0), patch)[0, 0].to(image.dtype)


def _variance_source(arg: str, patch: int) -> WeightMap:
    _no_argument("variance", arg)
    return lambda image: spread_patch_scores(patch_variance(image, patch), patch)


def _gradient_source(arg: str, patch: int) -> WeightMap:
    _no_argument("gradient", arg)
    return lambda image: spread_patch_scores(patch_gradient_energy(image, patch), patch)


def _no_argument(name: str, arg: str) -> None:
    if arg:
        raise ValueError(f"position weights {name!r} take no argument, got {name}:{arg}")


def _ltrp_source(arg: str, patch: int) -> WeightMap:
    if not arg:
        raise ValueError("position weights 'ltrp' need a ranker checkpoint: ltrp:PATH")
    try:
        from msglance.ranking import PatchRanker  # type: ignore[attr-defined]
    except ImportError:
        raise ValueError(
            f"ltrp:{arg}: the LTRP ranker (msglance.ranking.PatchRanker) is not part of this "
            "installation yet; use 'variance', 'gradient' or a .npy map"
        ) from None
    if not Path(arg).is_file():
        raise ValueError(f"ltrp:{arg}: no such checkpoint file")
    ranker = PatchRanker.from_checkpoint(arg)
    config = getattr(ranker, "config", None)
    size, channels = getattr(config, "image_size", None), getattr(config, "channels", None)

    def ranked(image: Tensor) -> Tensor:
        x = image.unsqueeze(0).float()
        if channels is not None and x.shape[1] != channels:
            if channels == 1:
                x = x.mean(dim=1, keepdim=True)
            elif x.shape[1] == 1:
                x = x.expand(1, channels, *x.shape[2:])
            else:
                raise ValueError(f"ltrp:{arg}: the ranker takes {channels} channels, the "
                                 f"image has {x.shape[1]}")
        if size is not None and tuple(x.shape[2:]) != (size, size):
            x = F.interpolate(x, size=(size, size), mode="area")
        with torch.no_grad():
            scores = torch.as_tensor(ranker.rank(x))[0].double()
        side = math.isqrt(scores.numel())
        h, w = image.shape[1:]
        if side * side != scores.numel() or h % side or w % side or h // side != w // side:
            raise ValueError(
                f"ltrp:{arg}: {scores.numel()} patch scores do not tile a {h}x{w} image"
            )
        weights = (scores - scores.max()).exp().view(side, side)
        return spread_patch_scores(weights, h // side)

    return ranked


def _npy_source(path: str) -> WeightMap:
    if not Path(path).is_file():
        raise ValueError(f"position weights file {path!r} does not exist")
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise ValueError(f"{path}: not a readable .npy array ({exc})") from None
    if array.ndim != 2 or not np.issubdtype(array.dtype, np.number):
        raise ValueError(f"{path}: expected a 2-D numeric (H, W) map, got {array.dtype} "
                         f"{array.shape}")
    weights = torch.from_numpy(array.astype(np.float64))

    def loaded(image: Tensor) -> Tensor:
        if tuple(weights.shape) != tuple(image.shape[1:]):
            raise ValueError(
                f"{path}: map {tuple(weights.shape)} does not match the image "
                f"{tuple(image.shape[1:])} (give a map at the fitted size)"
            )
        return weights

    return loaded


_SOURCES: dict[str, SourceFactory] = {
    "variance": _variance_source,
    "gradient": _gradient_source,
    "ltrp": _ltrp_source,
}


def register_weight_source(name: str, factory: SourceFactory) -> None:
    """Make ``name`` / ``name:ARG`` a :func:`weight_source` spec.

    ``factory(arg, patch)`` returns the :data:`WeightMap` (``arg`` is the text after the
    colon, ``""`` without one). An existing name is replaced (e.g. a real LTRP loader).

    Examples:
        >>> import torch
        >>> register_weight_source("ones", lambda arg, patch: lambda img: torch.ones(img.shape[1:]))
        >>> weight_source("ones")(torch.rand(1, 8, 8)).shape
        torch.Size([8, 8])
    """
    if not isinstance(name, str) or not name.isidentifier():
        raise ValueError(f"a weight source name must be an identifier, got {name!r}")
    if not callable(factory):
        raise TypeError("factory must be callable as factory(arg, patch)")
    _SOURCES[name] = factory


def weight_source_names() -> list[str]:
    """The registered source names (plus any ``PATH.npy``)."""
    return sorted(_SOURCES)


@dataclass(frozen=True)
class WeightSource:
    """A named, validated position-weight map builder (see :func:`weight_source`).

    Calling it with a ``(C, H, W)`` image returns a float32 ``(H, W)`` map with mean 1.

    Raises (on call):
        ValueError: the map has the wrong shape, negative/NaN/inf values, or is all zero.
    """

    spec: str
    build: WeightMap
    patch: int | None = None

    @property
    def label(self) -> str:
        """``spec`` and, for the per-patch sources, the patch size (recorded by studies)."""
        if self.patch is None:
            return self.spec
        return f"{self.spec} ({self.patch}x{self.patch} patches)"

    def __call__(self, image: Tensor) -> Tensor:
        weights = torch.as_tensor(self.build(image)).detach().to(torch.float64)
        if tuple(weights.shape) != tuple(image.shape[1:]):
            raise ValueError(f"position weights {self.spec!r} gave shape "
                             f"{tuple(weights.shape)} for an image {tuple(image.shape)}")
        if not bool(torch.isfinite(weights).all()) or bool((weights < 0).any()):
            raise ValueError(f"position weights {self.spec!r} must be finite and >= 0")
        total = float(weights.sum())
        if total <= 0:
            raise ValueError(f"position weights {self.spec!r} are all zero for this image "
                             "(a constant image?)")
        return (weights * (weights.numel() / total)).float()


def weight_source(spec: str, patch: int = 16) -> WeightSource:
    """Parse ``"variance"``, ``"gradient"``, ``"ltrp:CKPT"``, ``"PATH.npy"`` or a registered
    ``"name[:arg]"`` into a :class:`WeightSource` (see the module docstring).

    Args:
        spec: the source.
        patch: patch side of the per-patch sources (default 16: an 8x8 grid at 128x128).

    Raises:
        ValueError: an unknown source (the message lists the valid ones) or a bad argument.

    Examples:
        >>> import torch
        >>> src = weight_source("gradient", patch=4)
        >>> img = torch.zeros(1, 8, 8); img[0, :, 6:] = 1.0
        >>> w = src(img)
        >>> w.shape, float(w.mean()), float(w[:, :4].sum())
        (torch.Size([8, 8]), 1.0, 0.0)
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError(f"empty position weights spec {spec!r}")
    text = spec.strip()
    name, _, arg = text.partition(":")
    if name in _SOURCES:
        per_patch = name in ("variance", "gradient")
        return WeightSource(text, _SOURCES[name](arg, patch), patch if per_patch else None)
    if text.lower().endswith(".npy"):
        return WeightSource(text, _npy_source(text))
    raise ValueError(
        f"unknown position weights {spec!r}; valid: "
        + ", ".join(n + (":CKPT" if n == "ltrp" else "") for n in weight_source_names())
        + ", or a PATH.npy"
    )
