"""U-Net shapes, hard data consistency, parameter counts, and a short real training run."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader

from msglance.mri.datasets import MNISlices
from msglance.mri.fft import fft2c
from msglance.mri.masks import apply_mask, random_mask
from msglance.mri.networks import ReconNet, UNet, count_parameters, data_consistency


@pytest.fixture(autouse=True)
def one_thread():
    """Small convolutions run faster on one thread than on two busy shared cores."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _measurement(b, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    target = torch.rand(b, 1, h, w, generator=g)
    masks = torch.stack([random_mask(w, 4.0, 0.1, rng=seed + i) for i in range(b)])
    kspace, zero_filled = apply_mask(fft2c(target.to(torch.complex64)), masks)
    return zero_filled, kspace, masks


@pytest.mark.parametrize("h,w", [(32, 32), (33, 31), (37, 50), (16, 17)])
@pytest.mark.parametrize("pools", [1, 2, 3])
def test_unet_keeps_the_input_shape(h, w, pools):
    if min(h, w) < 2**pools:
        pytest.skip("too small")
    net = UNet(1, 2, chans=4, num_pool_layers=pools)
    assert net(torch.rand(2, 1, h, w)).shape == (2, 2, h, w)


def test_unet_input_errors():
    net = UNet(1, 1, chans=4, num_pool_layers=3)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\).*\(2, 3, 16, 16\)"):
        net(torch.rand(2, 3, 16, 16))
    with pytest.raises(ValueError, match=r"H, W >= 8.*\(1, 1, 7, 16\)"):
        net(torch.rand(1, 1, 7, 16))
    with pytest.raises(ValueError):
        UNet(chans=0)


def _expected_unet_parameters(in_chans, out_chans, chans, pools):
    """Closed form: 3×3 convs and 2×2 transpose convs without bias, affine-free norms."""
    def conv_block(i, o):
        return 9 * i * o + 9 * o * o

    total, ch = conv_block(in_chans, chans), chans
    for _ in range(pools - 1):
        total += conv_block(ch, 2 * ch)
        ch *= 2
    total += conv_block(ch, 2 * ch)
    for _ in range(pools):
        total += 4 * (2 * ch) * ch + conv_block(2 * ch, ch)
        ch //= 2
    return total + (2 * ch) * out_chans + out_chans  # final 1×1 conv with bias


def test_parameter_count_matches_the_fastmri_unet():
    assert count_parameters(ReconNet(chans=32, num_pool_layers=4)) == 7_756_097
    assert count_parameters(UNet(1, 1, 32, 4)) == _expected_unet_parameters(1, 1, 32, 4)
    assert count_parameters(UNet(2, 3, 8, 2)) == _expected_unet_parameters(2, 3, 8, 2)
    assert count_parameters(ReconNet(chans=8, num_pool_layers=2, num_cascades=3)) == 3 * (
        _expected_unet_parameters(1, 1, 8, 2)
    )
    net = UNet(1, 1, 4, 1)
    for p in net.parameters():
        p.requires_grad_(False)
    assert count_parameters(net) == 0 and count_parameters(net, trainable_only=False) > 0


@pytest.mark.parametrize("h,w", [(32, 32), (33, 35)])
@pytest.mark.parametrize("cascades", [1, 2])
def test_reconnet_shapes_and_data_consistency(h, w, cascades):
    torch.manual_seed(0)
    zero_filled, kspace, masks = _measurement(2, h, w)
    net = ReconNet(chans=4, num_pool_layers=2, num_cascades=cascades)
    out = net(zero_filled, kspace, masks)
    assert out.shape == (2, 1, h, w) and out.dtype == torch.float32
    assert bool((out >= 0).all())  # a magnitude
    consistent = net(zero_filled, kspace, masks, return_complex=True)
    torch.testing.assert_close(consistent.abs(), out)
    k_out = fft2c(consistent.detach())
    cols = masks.bool()[:, None, None, :].expand_as(k_out)
    assert int(cols.sum()) > 0
    assert float((k_out - kspace).abs()[cols].max()) < 1e-5
    # the network did change the unsampled lines (DC replaces only the measured ones)
    assert float((k_out - kspace).abs()[~cols].max()) > 1e-3


def test_data_consistency_replaces_only_sampled_columns():
    g = torch.Generator().manual_seed(1)
    image = torch.rand(1, 1, 12, 10, generator=g, dtype=torch.float64)
    measured = fft2c(torch.rand(1, 1, 12, 10, generator=g, dtype=torch.float64).to(torch.complex128))
    mask = random_mask(10, 2.0, 0.2, rng=0)
    out = data_consistency(image, measured * mask, mask)
    assert out.dtype == torch.complex128
    k = fft2c(out)
    cols = mask.bool()
    torch.testing.assert_close(k[..., cols], measured[..., cols], atol=1e-12, rtol=0)
    torch.testing.assert_close(k[..., ~cols], fft2c(image.to(torch.complex128))[..., ~cols], atol=1e-12, rtol=0)
    with pytest.raises(ValueError, match="same shape"):
        data_consistency(image, measured[..., :8], mask)
    with pytest.raises(TypeError, match="complex"):
        data_consistency(image, image, mask)


def test_reconnet_rejects_mismatched_inputs():
    zero_filled, kspace, masks = _measurement(1, 16, 16)
    net = ReconNet(chans=4, num_pool_layers=2)
    with pytest.raises(ValueError, match=r"kspace \(1, 1, 16, 12\)"):
        net(zero_filled, kspace[..., :12], masks)
    with pytest.raises(ValueError, match=r"\(B, 1, H, W\)"):
        net(zero_filled[:, 0], kspace, masks)
    with pytest.raises(ValueError, match="num_cascades"):
        ReconNet(num_cascades=0)


def test_a_few_steps_lower_the_l1_loss_on_real_mni_slices():
    torch.manual_seed(0)
    loader = DataLoader(MNISlices("train", size=64, orientations=("axial",)), batch_size=4, shuffle=False)
    batch = next(iter(loader))
    net = ReconNet(chans=8, num_pool_layers=2)
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        out = net(batch["zero_filled"], batch["kspace"], batch["mask"])
        loss = torch.nn.functional.l1_loss(out, batch["target"])
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    zero_filled_l1 = float(torch.nn.functional.l1_loss(batch["zero_filled"], batch["target"]))
    assert losses[-1] < 0.7 * losses[0], losses
    assert losses[-1] < zero_filled_l1, (losses[-1], zero_filled_l1)
