"""The one metric registry: name -> callable + metadata, read by the CLI, losses and reports.

Calling convention (so every consumer can call every entry the same way):

* full-reference: ``spec.fn(x, y, data_range=..., reduction=..., check_range=..., **kw)``;
* no-reference: ``spec.fn(x, data_range=..., reduction=..., check_range=..., **kw)``.

Every registered ``fn`` accepts those three keywords. Entries with ``needs_data_range=False``
use ``data_range`` only as an optional range check (pixel, statistical, no-reference) or
ignore it (the Glance indices, which are scale free); ``check_range=False`` turns the range
check off (for data whose range is set per target, e.g. ``--data-range auto``).

``loss_factory(**options)`` builds an ``nn.Module`` returning a value to *minimise* for any
real inputs (no range check). Adding a metric is one :func:`register` call.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from msglance import glance
from msglance.metrics import line_correlations, noref, pixel, statistical, structural
from msglance.validation import as_data_range

__all__ = [
    "KINDS",
    "MetricSpec",
    "UnknownMetricError",
    "available",
    "get",
    "register",
]

KINDS: tuple[str, ...] = ("pixel", "structural", "glance", "statistical", "perceptual", "noref")


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric and what callers need to know about it."""

    name: str
    fn: Callable[..., Tensor]
    kind: str
    higher_is_better: bool
    needs_data_range: bool
    differentiable: bool
    supports_3d: bool
    full_reference: bool = True
    convention: str = ""
    loss_factory: Callable[..., torch.nn.Module] | None = None
    available: bool = True
    unavailable_reason: str | None = None


class UnknownMetricError(KeyError, ValueError):
    """An unknown metric name; the message lists the registered names."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else ""


_REGISTRY: dict[str, MetricSpec] = {}


def register(spec: MetricSpec, replace: bool = False) -> MetricSpec:
    """Add ``spec`` to the registry and return it.

    Raises:
        ValueError: a bad ``kind``, or a name already registered (unless ``replace``).
    """
    if not isinstance(spec, MetricSpec):
        raise TypeError(f"register needs a MetricSpec, got {type(spec).__name__}")
    if spec.kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {spec.kind!r}")
    if spec.name in _REGISTRY and not replace:
        raise ValueError(f"a metric named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> MetricSpec:
    """The :class:`MetricSpec` registered as ``name`` (unavailable ones included).

    Raises:
        UnknownMetricError: (a ``KeyError`` and a ``ValueError``) listing the known names.
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        known = ", ".join(sorted(_REGISTRY))
        raise UnknownMetricError(f"unknown metric {name!r}; available: {known}") from None


def available(kind: str | None = None, include_unavailable: bool = False) -> list[str]:
    """Registered metric names (registration order), optionally of one ``kind``."""
    if kind is not None and kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    return [
        name
        for name, spec in _REGISTRY.items()
        if (kind is None or spec.kind == kind) and (include_unavailable or spec.available)
    ]


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


def _ms_glance_loss(**options) -> torch.nn.Module:
    return glance.MSGlanceLoss(global_weight=1.0, local_weight=1.0, **options)


def _register_builtins() -> None:
    register(MetricSpec(
        "mse", pixel.mse, "pixel", False, False, True, True,
        convention="mean over channels and pixels per item",
        loss_factory=pixel.MSELoss,
    ))
    register(MetricSpec(
        "mae", pixel.mae, "pixel", False, False, True, True,
        convention="mean over channels and pixels per item",
        loss_factory=pixel.MAELoss,
    ))
    register(MetricSpec(
        "psnr", pixel.psnr, "pixel", True, True, True, True,
        convention="10 log10(R^2 / MSE) per item (= skimage), then mean over items",
    ))
    register(MetricSpec(
        "nmse", pixel.nmse, "pixel", False, False, True, True,
        convention="||x - y||^2 / ||y||^2 per item (fastMRI)",
        loss_factory=pixel.NMSELoss,
    ))
    register(MetricSpec(
        "ssim", structural.ssim, "structural", True, True, True, True,
        convention="Gaussian 11/sigma 1.5, K1 0.01, K2 0.03, valid windows (= skimage "
        "gaussian_weights=True, use_sample_covariance=False); window='box7' = skimage "
        "default / fastMRI",
        loss_factory=structural.SSIMLoss,
    ))
    register(MetricSpec(
        "ms_ssim", structural.ms_ssim, "structural", True, True, True, True,
        convention="5 scales, Wang 2003 weights, avg-pool 2, Gaussian 11/1.5 "
        "(= pytorch_msssim.ms_ssim); sides > 160",
        loss_factory=structural.MSSSIMLoss,
    ))
    register(MetricSpec(
        "glance_local", _scale_free(glance.glance_index), "glance", True, False, True, True,
        convention="mean Glance Index (Pearson) over 16x16 windows, stride 1, valid",
        loss_factory=glance.LocalGlanceLoss,
    ))
    register(MetricSpec(
        "glance_global", _scale_free(glance.global_glance_index), "glance", True, False,
        True, True,
        convention="Local Glance of 96x(96*10) mosaics of randomly drawn pixels (random "
        "per call; seed torch for reproducible values)",
        loss_factory=glance.GlobalGlanceLoss,
    ))
    register(MetricSpec(
        "ms_glance", _scale_free(glance.ms_glance_index), "glance", True, False, True, True,
        convention="(GI_global + GI_local) / 2; loss = (1 - GI_global) + (1 - GI_local)",
        loss_factory=_ms_glance_loss,
    ))
    register(MetricSpec(
        "pcc", statistical.pcc, "statistical", True, False, False, True,
        convention="Pearson correlation over channels and pixels per item (0 if constant)",
    ))
    register(MetricSpec(
        "nmi", statistical.nmi, "statistical", True, False, False, True,
        convention="(H(X)+H(Y))/H(X,Y), 100-bin joint histogram (= skimage)",
    ))
    _register_perceptual()
    register(MetricSpec(
        "blur_effect", noref.blur_effect, "noref", False, False, False, True,
        full_reference=False,
        convention="Crete et al. 2007, h_size 11, max over axes (= skimage.measure.blur_effect)",
    ))
    register(MetricSpec(
        "mlc", line_correlations.mean_line_correlation, "noref", True, False, False, False,
        full_reference=False,
        convention="Dohmen et al. 2024: mean Pearson correlation of neighbouring rows and columns",
    ))
    register(MetricSpec(
        "mslc", line_correlations.mean_shifted_line_correlation, "noref", False, False, False, False,
        full_reference=False,
        convention="Dohmen et al. 2024: mean correlation of rows and columns W // 2 apart",
    ))


def _register_perceptual() -> None:
    """``effnet_distance`` and ``lpips`` from :mod:`msglance.metrics.perceptual` if present."""
    if importlib.util.find_spec("msglance.metrics.perceptual") is None:
        reason = "msglance.metrics.perceptual is not part of this installation"
        for name in ("effnet_distance", "lpips"):
            register(MetricSpec(
                name, _missing(name, reason), "perceptual", False, True, True, False,
                available=False, unavailable_reason=reason,
            ))
        return
    from msglance.metrics import perceptual

    register(MetricSpec(
        "effnet_distance", perceptual.effnet_distance, "perceptual", False, True, True, False,
        convention="LPIPS-style distance on ImageNet EfficientNet-Lite0 features, uniform "
        "weights (not calibrated LPIPS)",
        loss_factory=perceptual.EffNetDistance,
    ))
    reason = perceptual.lpips_unavailable_reason()
    register(MetricSpec(
        "lpips", perceptual.lpips_distance, "perceptual", False, True, True, False,
        convention="LPIPS v0.1 (alex) via the lpips package, weights cached locally",
        available=reason is None, unavailable_reason=reason,
    ))


def _missing(name: str, reason: str) -> Callable[..., Tensor]:
    def unavailable(*args, **kwargs) -> Tensor:
        raise RuntimeError(f"metric {name!r} is unavailable: {reason}")

    return unavailable


_register_builtins()
