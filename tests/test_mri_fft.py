"""Centred orthonormal FFTs against NumPy, round trips, Parseval, complex helpers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from msglance.mri.fft import (
    complex_abs,
    fft2c,
    ifft2c,
    simulate_single_coil,
    to_complex,
    to_real_imag,
)

AXES = (-2, -1)


def np_fft2c(x: np.ndarray) -> np.ndarray:
    """Oracle: fastMRI's definition written with NumPy."""
    return np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(x, axes=AXES), norm="ortho", axes=AXES), axes=AXES)


def np_ifft2c(k: np.ndarray) -> np.ndarray:
    return np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k, axes=AXES), norm="ortho", axes=AXES), axes=AXES)


def _random_complex(shape, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(*shape, generator=g, dtype=torch.float64)
    imag = torch.randn(*shape, generator=g, dtype=torch.float64)
    return torch.complex(real, imag).to(dtype)


@pytest.mark.parametrize("shape", [(8, 8), (7, 9), (2, 3, 6, 5), (1, 1, 16, 11)])
@pytest.mark.parametrize("dtype,tol", [(torch.complex64, 2e-5), (torch.complex128, 1e-12)])
def test_fft2c_and_ifft2c_match_numpy(shape, dtype, tol):
    x = _random_complex(shape, dtype)
    ref = np_fft2c(x.numpy().astype(np.complex128))
    np.testing.assert_allclose(fft2c(x).numpy(), ref, atol=tol, rtol=0)
    ref_inv = np_ifft2c(x.numpy().astype(np.complex128))
    np.testing.assert_allclose(ifft2c(x).numpy(), ref_inv, atol=tol, rtol=0)
    assert fft2c(x).dtype == dtype


@settings(max_examples=25, deadline=None)
@given(h=st.integers(1, 17), w=st.integers(1, 17), seed=st.integers(0, 2**16))
def test_round_trip_and_parseval(h, w, seed):
    x = _random_complex((2, h, w), torch.complex128, seed)
    k = fft2c(x)
    torch.testing.assert_close(ifft2c(k), x, atol=1e-12, rtol=0)
    torch.testing.assert_close(fft2c(ifft2c(x)), x, atol=1e-12, rtol=0)
    energy_image = (x.abs() ** 2).sum(dim=AXES)
    energy_kspace = (k.abs() ** 2).sum(dim=AXES)
    torch.testing.assert_close(energy_kspace, energy_image, atol=1e-9, rtol=1e-12)


@pytest.mark.parametrize("h,w", [(8, 8), (7, 10)])
def test_dc_sits_at_the_centre(h, w):
    k = fft2c(torch.ones(h, w, dtype=torch.complex128))
    expected = torch.zeros(h, w, dtype=torch.complex128)
    expected[h // 2, w // 2] = (h * w) ** 0.5  # orthonormal: sum / sqrt(HW)
    torch.testing.assert_close(k, expected, atol=1e-12, rtol=0)


def test_simulate_single_coil_is_fft_of_the_magnitude():
    img = torch.rand(1, 12, 10)
    k = simulate_single_coil(img)
    assert k.dtype == torch.complex64
    np.testing.assert_allclose(k.numpy(), np_fft2c(img.numpy().astype(np.float64)), atol=1e-5)
    torch.testing.assert_close(ifft2c(k).abs(), img, atol=1e-6, rtol=0)
    assert simulate_single_coil(img.double()).dtype == torch.complex128
    with pytest.raises(TypeError, match="floating-point"):
        simulate_single_coil(torch.ones(4, 4, dtype=torch.int64))


def test_complex_helpers():
    x = _random_complex((3, 4, 5), torch.complex64)
    ri = to_real_imag(x)
    assert ri.shape == (3, 4, 5, 2)
    torch.testing.assert_close(ri[..., 0], x.real)
    torch.testing.assert_close(ri[..., 1], x.imag)
    torch.testing.assert_close(to_complex(ri), x)
    assert to_complex(x) is x
    expected = torch.sqrt(x.real**2 + x.imag**2)
    torch.testing.assert_close(complex_abs(x), expected)
    torch.testing.assert_close(complex_abs(ri), expected)
    assert to_complex(ri.half()).dtype == torch.complex64


def test_errors_are_clear():
    with pytest.raises(TypeError, match="complex tensor"):
        fft2c(torch.rand(4, 4))
    with pytest.raises(TypeError, match="complex tensor"):
        ifft2c(torch.rand(4, 4))
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        fft2c(torch.ones(4, dtype=torch.complex64))
    with pytest.raises(ValueError, match=r"trailing dimension of 2.*\(4, 3\)"):
        to_complex(torch.rand(4, 3))
    with pytest.raises(TypeError):
        to_complex(torch.ones(4, 2, dtype=torch.int32))
    with pytest.raises(TypeError):
        to_real_imag(torch.rand(4, 2))
