r"""Node importance for SeSS: spectral-residual saliency mass, then relation boost.

Given each node's saliency mass ``m_u`` (the sum of a saliency map over the node's mask) and
the edge confidences ``c_{ux}`` (``u → x``), with constants ``k1, k2, k3``:

.. math::
    s_u = m_u^{1/k_1} / \sum_v m_v^{1/k_1}, \qquad
    r_u = \sum_{u \to x} c_{ux} \frac{s_u}{s_u + s_x} + \sum_{x \to u} c_{xu} \frac{s_u}{s_u + s_x},

    \tilde r_u = r_u^{1/k_2} / \sum_v r_v^{1/k_2}, \qquad
    w_u \propto k_3 s_u + (1 - k_3) \tilde r_u, \quad \sum_u w_u = 1.

This is the released ``get_semantic_imp`` with its gaps closed: a graph without edges uses
``s`` alone (the reference divides by zero there), a graph whose masses are all zero uses
uniform ``s``, and a single-node graph gets ``w = [1]``.

Saliency is the spectral residual of Hou & Zhang (CVPR 2007), written after OpenCV-contrib's
``StaticSaliencySpectralResidual`` (the reference's choice): grey image resized to 64 × 64,
log-amplitude spectrum minus its 3 × 3 mean, back-transform with the original phase, squared
magnitude, Gaussian blur (5 × 5, σ 8), min-max normalised, resized to the image.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

__all__ = ["K1", "K2", "K3", "node_importance", "saliency_masses", "spectral_residual_saliency"]

K1 = 2.5
K2 = 3.0
K3 = 0.8

_SIDE = 64


def spectral_residual_saliency(image: np.ndarray) -> np.ndarray:
    """Spectral-residual saliency map in [0, 1], same height and width as ``image``.

    Args:
        image: ``(H, W)`` grey or ``(H, W, 3)`` RGB, any real scale.

    Examples:
        >>> import numpy as np
        >>> img = 0.1 * np.random.default_rng(0).random((64, 48)); img[30:34, 20:24] = 1.0
        >>> sal = spectral_residual_saliency(img)
        >>> sal.shape, bool(sal[32, 22] > 10 * sal[5, 5])
        ((64, 48), True)
    """
    img = np.asarray(image, dtype=np.float64)
    if img.ndim == 3:
        if img.shape[2] != 3:
            raise ValueError(f"image must be (H, W) or (H, W, 3), got shape {img.shape}")
        img = img @ np.array([0.299, 0.587, 0.114])
    if img.ndim != 2 or min(img.shape) < 2:
        raise ValueError(f"image must be (H, W) or (H, W, 3) with sides >= 2, got {img.shape}")
    if not np.isfinite(img).all():
        raise ValueError("image must be finite (it holds NaN or inf)")
    h, w = img.shape
    small = ndimage.zoom(img, (_SIDE / h, _SIDE / w), order=1, mode="nearest", grid_mode=True)
    spectrum = np.fft.fft2(small)
    log_amp = np.log(np.abs(spectrum) + 1e-12)
    residual = log_amp - ndimage.uniform_filter(log_amp, size=3, mode="mirror")
    back = np.fft.ifft2(np.exp(residual + 1j * np.angle(spectrum)))
    sal = ndimage.gaussian_filter(np.abs(back) ** 2, sigma=8.0, truncate=2.0 / 8.0, mode="mirror")
    lo, hi = sal.min(), sal.max()
    sal = (sal - lo) / (hi - lo) if hi > lo else np.zeros_like(sal)
    big = ndimage.zoom(sal, (h / _SIDE, w / _SIDE), order=1, mode="nearest", grid_mode=True)
    return np.clip(big[:h, :w], 0.0, 1.0)


def saliency_masses(saliency: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """``m_u = Σ saliency[mask_u]`` for a stack of boolean masks ``(n, H, W)``.

    Examples:
        >>> import numpy as np
        >>> masks = np.zeros((2, 2, 2), bool); masks[0, 0] = True; masks[1, 1] = True
        >>> saliency_masses(np.array([[1.0, 1.0], [0.5, 0.0]]), masks).tolist()
        [2.0, 0.5]
    """
    masks = np.asarray(masks, dtype=bool)
    if masks.ndim != 3 or masks.shape[1:] != np.shape(saliency):
        raise ValueError(
            f"masks must be (n, H, W) with (H, W) = saliency shape {np.shape(saliency)}, "
            f"got {masks.shape}"
        )
    return (masks * np.asarray(saliency, dtype=np.float64)[None]).sum(axis=(1, 2))


def node_importance(
    masses: np.ndarray,
    confidence: np.ndarray | None = None,
    k1: float = K1,
    k2: float = K2,
    k3: float = K3,
) -> np.ndarray:
    """Importance weights ``w`` (non-negative, sum 1) from masses and edge confidences.

    Args:
        masses: ``(n,)`` non-negative saliency masses (or any mass: box areas, ones).
        confidence: ``(n, n)`` with ``c[u, x] > 0`` for an edge ``u → x``, 0 elsewhere
            (diagonal ignored); ``None`` = no edges.
        k1, k2: root exponents of the saliency and relation terms (> 0).
        k3: weight of the saliency term, in [0, 1].

    Examples:
        >>> import numpy as np
        >>> node_importance(np.array([1.0, 1.0])).tolist()
        [0.5, 0.5]
        >>> w = node_importance(np.array([8.0, 1.0]), np.array([[0.0, 1.0], [0.0, 0.0]]))
        >>> bool(w[0] > w[1]), round(float(w.sum()), 12)
        (True, 1.0)
    """
    m = np.asarray(masses, dtype=np.float64).reshape(-1)
    n = m.size
    if not np.isfinite(m).all() or (m < 0).any():
        raise ValueError("masses must be finite and >= 0")
    if k1 <= 0 or k2 <= 0 or not 0.0 <= k3 <= 1.0:
        raise ValueError(f"need k1 > 0, k2 > 0 and k3 in [0, 1], got {k1}, {k2}, {k3}")
    if n == 0:
        return np.zeros(0)
    if n == 1:
        return np.ones(1)
    s = m ** (1.0 / k1)
    s = s / s.sum() if s.sum() > 0 else np.full(n, 1.0 / n)
    if confidence is None:
        return s
    c = np.asarray(confidence, dtype=np.float64)
    if c.shape != (n, n):
        raise ValueError(f"confidence must have shape ({n}, {n}), got {c.shape}")
    if not np.isfinite(c).all() or (c < 0).any():
        raise ValueError("confidence must be finite and >= 0")
    c = c.copy()
    np.fill_diagonal(c, 0.0)
    pair = s[:, None] + s[None, :]
    safe = np.where(pair > 0, pair, 1.0)
    share = np.where(pair > 0, s[:, None] / safe, 0.5)  # s_u / (s_u + s_x)
    r = (c * share).sum(axis=1) + (c.T * share).sum(axis=1)
    if not (r > 0).any():
        return s
    r = r ** (1.0 / k2)
    r = r / r.sum()
    w = k3 * s + (1.0 - k3) * r
    return w / w.sum()
