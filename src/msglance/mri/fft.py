"""Centred, orthonormal 2-D Fourier transforms and complex-tensor helpers (fastMRI convention).

k-space here is the *centred* discrete Fourier transform of an image over its last two
dimensions ``(H, W)``: the zero frequency (DC) sits at index ``(H // 2, W // 2)`` and the
transform is unitary::

    fft2c(x)  = fftshift(fft2(ifftshift(x), norm="ortho"))
    ifft2c(k) = fftshift(ifft2(ifftshift(k), norm="ortho"))

so ``ifft2c(fft2c(x)) == x`` and Parseval holds, ``sum |x|^2 == sum |fft2c(x)|^2``.

Complex data are ``torch.complex64``/``complex128`` tensors; the helpers convert to and from
the older "real tensor with a trailing dimension of 2" layout ``(..., 2) = (real, imag)``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = [
    "fft2c",
    "ifft2c",
    "to_complex",
    "to_real_imag",
    "complex_abs",
    "simulate_single_coil",
]

_DIMS = (-2, -1)


def _check_complex(x: Tensor, name: str) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_complex():
        raise TypeError(
            f"{name} must be a complex tensor (..., H, W), got dtype {x.dtype} and shape "
            f"{tuple(x.shape)}; use to_complex() for a real (..., H, W, 2) tensor or "
            "simulate_single_coil() for a magnitude image"
        )
    if x.ndim < 2:
        raise ValueError(f"{name} needs at least 2 dimensions (H, W), got shape {tuple(x.shape)}")


def fft2c(image: Tensor) -> Tensor:
    """Centred orthonormal 2-D FFT over the last two dims: image ``(..., H, W)`` → k-space.

    ``K = fftshift(F(ifftshift(x)))`` with ``F`` the unitary DFT
    ``F(x)[u, v] = (HW)^(-1/2) Σ_{h,w} x[h, w] exp(-2πi (uh/H + vw/W))``.

    Raises:
        TypeError: ``image`` is not a complex tensor.
        ValueError: fewer than two dimensions.
    """
    _check_complex(image, "image")
    x = torch.fft.ifftshift(image, dim=_DIMS)
    x = torch.fft.fftn(x, dim=_DIMS, norm="ortho")
    return torch.fft.fftshift(x, dim=_DIMS)


def ifft2c(kspace: Tensor) -> Tensor:
    """Centred orthonormal inverse 2-D FFT over the last two dims: k-space → image.

    ``x = fftshift(F⁻¹(ifftshift(K)))``; the exact inverse of :func:`fft2c`.

    Raises:
        TypeError: ``kspace`` is not a complex tensor.
        ValueError: fewer than two dimensions.
    """
    _check_complex(kspace, "kspace")
    x = torch.fft.ifftshift(kspace, dim=_DIMS)
    x = torch.fft.ifftn(x, dim=_DIMS, norm="ortho")
    return torch.fft.fftshift(x, dim=_DIMS)


def to_complex(x: Tensor) -> Tensor:
    """Real ``(..., 2)`` tensor holding (real, imag) → complex tensor ``(...)``.

    A complex input is returned unchanged. Half-precision inputs are promoted to float32
    (PyTorch has no general complex32 support).

    Raises:
        TypeError: not a floating-point or complex tensor.
        ValueError: a real tensor whose last dimension is not 2.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex():
        return x
    if not x.is_floating_point():
        raise TypeError(f"x must be a floating-point or complex tensor, got dtype {x.dtype}")
    if x.ndim == 0 or x.shape[-1] != 2:
        raise ValueError(
            f"a real tensor needs a trailing dimension of 2 (real, imag), got shape {tuple(x.shape)}"
        )
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    return torch.view_as_complex(x.contiguous())


def to_real_imag(x: Tensor) -> Tensor:
    """Complex tensor ``(...)`` → real tensor ``(..., 2)`` holding (real, imag).

    Raises:
        TypeError: ``x`` is not complex.
    """
    if not isinstance(x, Tensor) or not x.is_complex():
        got = x.dtype if isinstance(x, Tensor) else type(x).__name__
        raise TypeError(f"x must be a complex tensor, got {got}")
    return torch.view_as_real(x)


def complex_abs(x: Tensor) -> Tensor:
    """Magnitude ``sqrt(re² + im²)`` of a complex tensor or of a real ``(..., 2)`` tensor.

    Raises:
        TypeError / ValueError: as :func:`to_complex`.
    """
    return to_complex(x).abs()


def simulate_single_coil(image: Tensor) -> Tensor:
    """Single-coil k-space of a real (magnitude) image ``(..., H, W)``: ``fft2c(image + 0i)``.

    This is the simulation IXI-based reconstruction studies use: the magnitude image is
    treated as the object (zero phase) and its centred orthonormal FFT as the measurement.
    float64 images give complex128 k-space; every other real dtype gives complex64; a
    complex image is transformed as it is.

    Raises:
        TypeError: ``image`` is neither a floating-point nor a complex tensor.
    """
    if not isinstance(image, Tensor):
        raise TypeError(f"image must be a torch.Tensor, got {type(image).__name__}")
    if image.is_complex():
        return fft2c(image)
    if not image.is_floating_point():
        raise TypeError(f"image must be a floating-point tensor, got dtype {image.dtype}")
    dtype = torch.complex128 if image.dtype == torch.float64 else torch.complex64
    return fft2c(image.to(dtype))
