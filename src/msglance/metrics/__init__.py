"""msglance.metrics: full-reference and no-reference image metrics with one registry.

Functional metrics follow docs/design.md §3: ``fn(x, y, data_range=..., reduction=...)``,
explicit ``data_range``, ``ValueError`` naming the observed range for out-of-range inputs,
fp16/bf16 computed in float32. Importing this package registers every built-in entry::

    >>> from msglance import metrics
    >>> spec = metrics.get("ssim")
    >>> spec.higher_is_better, spec.needs_data_range
    (True, True)
    >>> metrics.available("structural")
    ['ssim', 'ms_ssim']
    >>> metrics.create("ssim", as_loss=True)
    SSIMLoss(data_range=1.0, window='gaussian')
"""

from msglance.metrics.collection import MetricCollection
from msglance.metrics.line_correlations import (
    line_correlation,
    mean_line_correlation,
    mean_shifted_line_correlation,
)
from msglance.metrics.noref import BlurEffect, blur_effect
from msglance.metrics.normalization import NORMALIZATIONS, normalize
from msglance.metrics.perceptual import (
    EffNetDistance,
    effnet_distance,
    effnet_unavailable_reason,
    lpips_unavailable_reason,
)
from msglance.metrics.pixel import (
    PSNR,
    MAELoss,
    MSELoss,
    NMSELoss,
    mae,
    mse,
    nmse,
    psnr,
)
from msglance.metrics.registry import (
    KINDS,
    MetricModule,
    MetricSpec,
    UnknownMetricError,
    available,
    create,
    get,
    register,
)
from msglance.metrics.statistical import NMI, PCC, nmi, pcc
from msglance.metrics.structural import (
    MS_SSIM_WEIGHTS,
    MSSSIM,
    SSIM,
    MSSSIMLoss,
    SSIMLoss,
    ms_ssim,
    ssim,
)

__all__ = [
    "KINDS",
    "MS_SSIM_WEIGHTS",
    "MSSSIM",
    "MSSSIMLoss",
    "MAELoss",
    "MSELoss",
    "MetricCollection",
    "MetricModule",
    "MetricSpec",
    "NMI",
    "NMSELoss",
    "NORMALIZATIONS",
    "PCC",
    "PSNR",
    "SSIM",
    "SSIMLoss",
    "BlurEffect",
    "EffNetDistance",
    "UnknownMetricError",
    "available",
    "blur_effect",
    "create",
    "effnet_distance",
    "effnet_unavailable_reason",
    "get",
    "line_correlation",
    "lpips_unavailable_reason",
    "mae",
    "mean_line_correlation",
    "mean_shifted_line_correlation",
    "ms_ssim",
    "mse",
    "nmi",
    "nmse",
    "normalize",
    "pcc",
    "psnr",
    "register",
    "ssim",
]
