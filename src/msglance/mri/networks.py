"""Reconstruction networks: a fastMRI-style U-Net, hard data consistency, and ReconNet.

``ReconNet`` (one cascade)::

    z   = zero-filled magnitude                      (B, 1, H, W)
    x   = z + UNet(z)                                (residual)
    k   = fft2c(x)
    k'  = m · k_measured + (1 − m) · k               (hard data consistency)
    out = |ifft2c(k')|

With ``num_cascades = N > 1`` the U-Net + DC block is repeated N times (each with its own
U-Net), the magnitude of one cascade being the input of the next (an unrolled scheme).
The complex image ``ifft2c(k')`` of the last cascade is exactly consistent with the
measurement (``fft2c`` of it equals ``k_measured`` on every sampled column); its magnitude,
the returned image, is what losses and metrics compare with the magnitude target.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from msglance.mri.fft import fft2c, ifft2c
from msglance.mri.masks import broadcast_mask

__all__ = [
    "ConvBlock",
    "TransposeConvBlock",
    "UNet",
    "data_consistency",
    "ReconNet",
    "count_parameters",
]


class ConvBlock(nn.Sequential):
    """Two × (3×3 conv without bias → InstanceNorm → LeakyReLU(0.2) → Dropout2d)."""

    def __init__(self, in_chans: int, out_chans: int, drop_prob: float = 0.0) -> None:
        super().__init__(
            nn.Conv2d(in_chans, out_chans, kernel_size=3, padding=1, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
            nn.Dropout2d(drop_prob),
            nn.Conv2d(out_chans, out_chans, kernel_size=3, padding=1, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
            nn.Dropout2d(drop_prob),
        )


class TransposeConvBlock(nn.Sequential):
    """2×2 stride-2 transpose conv without bias → InstanceNorm → LeakyReLU(0.2) (2× upsampling)."""

    def __init__(self, in_chans: int, out_chans: int) -> None:
        super().__init__(
            nn.ConvTranspose2d(in_chans, out_chans, kernel_size=2, stride=2, bias=False),
            nn.InstanceNorm2d(out_chans),
            nn.LeakyReLU(negative_slope=0.2, inplace=True),
        )


class UNet(nn.Module):
    """fastMRI U-Net (Ronneberger et al. 2015; Zbontar et al. 2018 baseline).

    Encoder: ``num_pool_layers`` ConvBlocks with ``chans · 2^i`` channels, each followed by
    2×2 average pooling; a bottleneck ConvBlock; decoder: transpose-conv upsampling, skip
    concatenation, ConvBlock, and a final 1×1 conv to ``out_chans``. Odd sizes work: after
    each upsampling the map is reflect-padded by one pixel on the bottom/right where it is
    smaller than the skip connection.

    Raises (forward):
        ValueError: input is not ``(B, in_chans, H, W)`` or ``min(H, W) < 2^num_pool_layers``.
    """

    def __init__(
        self,
        in_chans: int = 1,
        out_chans: int = 1,
        chans: int = 32,
        num_pool_layers: int = 4,
        drop_prob: float = 0.0,
    ) -> None:
        super().__init__()
        if chans < 1 or num_pool_layers < 1 or in_chans < 1 or out_chans < 1:
            raise ValueError(
                f"in_chans, out_chans, chans and num_pool_layers must be >= 1, got "
                f"{in_chans}, {out_chans}, {chans}, {num_pool_layers}"
            )
        self.in_chans, self.out_chans = in_chans, out_chans
        self.chans, self.num_pool_layers = chans, num_pool_layers
        self.down_sample_layers = nn.ModuleList([ConvBlock(in_chans, chans, drop_prob)])
        ch = chans
        for _ in range(num_pool_layers - 1):
            self.down_sample_layers.append(ConvBlock(ch, ch * 2, drop_prob))
            ch *= 2
        self.conv = ConvBlock(ch, ch * 2, drop_prob)
        self.up_conv = nn.ModuleList()
        self.up_transpose_conv = nn.ModuleList()
        for _ in range(num_pool_layers - 1):
            self.up_transpose_conv.append(TransposeConvBlock(ch * 2, ch))
            self.up_conv.append(ConvBlock(ch * 2, ch, drop_prob))
            ch //= 2
        self.up_transpose_conv.append(TransposeConvBlock(ch * 2, ch))
        self.up_conv.append(
            nn.Sequential(ConvBlock(ch * 2, ch, drop_prob), nn.Conv2d(ch, out_chans, kernel_size=1))
        )

    def forward(self, image: Tensor) -> Tensor:
        if image.ndim != 4 or image.shape[1] != self.in_chans:
            raise ValueError(
                f"UNet expects (B, {self.in_chans}, H, W), got shape {tuple(image.shape)}"
            )
        smallest = 2**self.num_pool_layers
        if min(image.shape[-2:]) < smallest:
            raise ValueError(
                f"UNet with {self.num_pool_layers} pooling layers needs H, W >= {smallest}, "
                f"got shape {tuple(image.shape)}"
            )
        stack = []
        output = image
        for layer in self.down_sample_layers:
            output = layer(output)
            stack.append(output)
            output = F.avg_pool2d(output, kernel_size=2, stride=2, padding=0)
        output = self.conv(output)
        for transpose_conv, conv in zip(self.up_transpose_conv, self.up_conv):
            skip = stack.pop()
            output = transpose_conv(output)
            pad = [0, skip.shape[-1] - output.shape[-1], 0, skip.shape[-2] - output.shape[-2]]
            if any(pad):
                output = F.pad(output, pad, mode="reflect")
            output = conv(torch.cat([output, skip], dim=1))
        return output


def data_consistency(image: Tensor, measured_kspace: Tensor, mask: Tensor) -> Tensor:
    """Hard data consistency: replace the sampled columns of ``fft2c(image)`` by the measured.

    ``ifft2c(m · k_measured + (1 − m) · fft2c(image))``, computed in float32/complex64 (or
    float64/complex128 for double inputs) whatever the autocast state.

    Args:
        image: real ``(B, 1, H, W)`` / ``(B, H, W)`` or complex image of the same shape.
        measured_kspace: complex k-space with the shape of ``image``.
        mask: column mask ``(W,)`` or ``(B, W)`` (see :func:`msglance.mri.masks.broadcast_mask`).

    Returns:
        the consistent complex image, shape of ``image``.

    Raises:
        TypeError: ``measured_kspace`` is not complex.
        ValueError: shapes differ or the mask width does not match.
    """
    if not isinstance(measured_kspace, Tensor) or not measured_kspace.is_complex():
        raise TypeError("measured_kspace must be a complex tensor")
    if image.shape != measured_kspace.shape:
        raise ValueError(
            f"image {tuple(image.shape)} and measured k-space {tuple(measured_kspace.shape)} "
            "must have the same shape (data consistency needs one grid)"
        )
    double = image.dtype in (torch.float64, torch.complex128) or measured_kspace.dtype == torch.complex128
    cdtype = torch.complex128 if double else torch.complex64
    with torch.autocast(device_type=image.device.type, enabled=False):
        kspace = fft2c(image.to(cdtype))
        measured = measured_kspace.to(cdtype)
        m = broadcast_mask(mask, measured)
        return ifft2c(m * measured + (1 - m) * kspace)


class ReconNet(nn.Module):
    """Residual U-Net on the zero-filled magnitude + hard data consistency, ×``num_cascades``.

    ``forward(zero_filled, kspace, mask)`` takes the items of
    :mod:`msglance.mri.datasets` (batched): zero-filled ``(B, 1, H, W)``, masked k-space
    ``(B, 1, H, W)`` complex, mask ``(B, W)`` or ``(W,)``, and returns the reconstructed
    magnitude ``(B, 1, H, W)``. ``return_complex=True`` returns the last cascade's complex,
    measurement-consistent image instead.
    """

    def __init__(
        self,
        chans: int = 32,
        num_pool_layers: int = 4,
        num_cascades: int = 1,
        drop_prob: float = 0.0,
        data_consistency: bool = True,
    ) -> None:
        super().__init__()
        if num_cascades < 1:
            raise ValueError(f"num_cascades must be >= 1, got {num_cascades}")
        self.chans, self.num_pool_layers, self.num_cascades = chans, num_pool_layers, num_cascades
        self.use_data_consistency = bool(data_consistency)
        self.unets = nn.ModuleList(
            UNet(1, 1, chans, num_pool_layers, drop_prob) for _ in range(num_cascades)
        )

    def forward(
        self, zero_filled: Tensor, kspace: Tensor, mask: Tensor, *, return_complex: bool = False
    ) -> Tensor:
        if zero_filled.ndim != 4 or zero_filled.shape[1] != 1:
            raise ValueError(
                f"zero_filled must be (B, 1, H, W), got shape {tuple(zero_filled.shape)}"
            )
        if kspace.shape != zero_filled.shape:
            raise ValueError(
                f"kspace {tuple(kspace.shape)} must have the zero-filled image's shape "
                f"{tuple(zero_filled.shape)} (simulated single-coil k-space on the image grid)"
            )
        x = zero_filled
        cdtype = torch.complex128 if x.dtype == torch.float64 else torch.complex64
        consistent = x.to(cdtype)
        for unet in self.unets:
            x = x + unet(x)
            if self.use_data_consistency:
                consistent = data_consistency(x, kspace, mask)
                x = consistent.abs().to(zero_filled.dtype)
            else:
                consistent = x.to(cdtype)
        return consistent if return_complex else x


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameters of ``model``."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
