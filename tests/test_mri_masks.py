"""Column masks: fastMRI rules, achieved acceleration, fixed per-slice masks, errors, I/O."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
import torch

from msglance.mri.fft import fft2c
from msglance.mri.masks import (
    PRESETS,
    achieved_acceleration,
    apply_mask,
    equispaced_mask,
    load_masks,
    make_mask,
    mask_for_slice,
    num_center_columns,
    random_mask,
    save_masks,
    slice_seed,
)


def fastmri_random_oracle(width, acceleration, center_fraction, seed):
    """fastMRI RandomMaskFunc, written out, drawing from the same NumPy generator."""
    rng = np.random.default_rng(seed)
    num_low = round(width * center_fraction)
    prob = (width / acceleration - num_low) / (width - num_low)
    mask = rng.uniform(size=width) < prob
    pad = (width - num_low + 1) // 2
    mask[pad : pad + num_low] = True
    return mask.astype(np.float32)


def center_window(width, center_fraction):
    num_low = round(width * center_fraction)
    pad = (width - num_low + 1) // 2
    return slice(pad, pad + num_low)


@pytest.mark.parametrize("kind", ["random", "equispaced"])
@pytest.mark.parametrize("preset", sorted(PRESETS))
@pytest.mark.parametrize("width", [256, 320, 368])
def test_acceleration_achieved_within_5_percent(kind, preset, width):
    acceleration, cf = PRESETS[preset]
    counts = [float(make_mask(kind, width, acceleration, cf, seed).sum()) for seed in range(200)]
    achieved = width / np.mean(counts)
    assert abs(achieved / acceleration - 1) < 0.05, (kind, preset, width, achieved)


def test_defaults_are_the_papers_5x_with_8_percent_centre():
    assert PRESETS == {"5x": (5.0, 0.08), "4x": (4.0, 0.08), "8x": (8.0, 0.04)}
    m = random_mask(256, rng=0)
    assert int(m[center_window(256, 0.08)].sum()) == round(256 * 0.08) == 20
    torch.testing.assert_close(m, random_mask(256, 5.0, 0.08, rng=0))


@pytest.mark.parametrize("kind", ["random", "equispaced"])
@pytest.mark.parametrize("width,cf", [(256, 0.08), (257, 0.04), (64, 0.08), (31, 0.1)])
def test_centre_columns_always_kept(kind, width, cf):
    window = center_window(width, cf)
    for seed in range(50):
        m = make_mask(kind, width, 4.0, cf, seed)
        assert m.shape == (width,) and m.dtype == torch.float32
        assert set(m.unique().tolist()) <= {0.0, 1.0}
        assert bool((m[window] == 1).all())
        assert m[width // 2] == 1  # the DC column of fft2c


def test_random_mask_is_the_fastmri_rule():
    for seed in range(10):
        for width, (acc, cf) in [(256, PRESETS["5x"]), (320, PRESETS["8x"]), (101, (3.0, 0.1))]:
            ours = random_mask(width, acc, cf, rng=seed).numpy()
            np.testing.assert_array_equal(ours, fastmri_random_oracle(width, acc, cf, seed))


def test_random_mask_outer_probability():
    width, acc, cf = 256, 5.0, 0.08
    num_low = 20
    p = (width / acc - num_low) / (width - num_low)
    outside = np.ones(width, dtype=bool)
    outside[center_window(width, cf)] = False
    kept = np.mean([random_mask(width, acc, cf, rng=s).numpy()[outside].mean() for s in range(300)])
    assert abs(kept - p) < 0.01


def test_equispaced_mask_is_regular():
    width, acc, cf = 320, 4.0, 0.08
    num_low = round(width * cf)
    spacing = acc * (num_low - width) / (num_low * acc - width)
    for seed in range(10):
        m = equispaced_mask(width, acc, cf, rng=seed).numpy().astype(bool)
        m[center_window(width, cf)] = False
        cols = np.flatnonzero(m)
        gaps = np.diff(cols)
        gaps = gaps[gaps <= np.ceil(spacing)]  # drop the jump over the centre block
        assert set(gaps.tolist()) <= {int(np.floor(spacing)), int(np.ceil(spacing))}
        assert cols[0] < round(spacing)


def test_same_seed_same_mask_different_seed_different_mask():
    a = random_mask(256, rng=123)
    torch.testing.assert_close(a, random_mask(256, rng=123))
    torch.testing.assert_close(a, random_mask(256, rng=np.random.default_rng(123)))
    distinct = {tuple(random_mask(256, rng=s).tolist()) for s in range(20)}
    assert len(distinct) == 20


def test_mask_for_slice_fixed_per_id_and_distinct_across_ids():
    np.random.seed(1)  # global NumPy state must not matter
    a = mask_for_slice("mni/axial/087", 256)
    np.random.seed(2)
    torch.testing.assert_close(a, mask_for_slice("mni/axial/087", 256))
    ids = [f"mni/axial/{i:03d}" for i in range(30)]
    masks = {tuple(mask_for_slice(i, 256).tolist()) for i in ids}
    assert len(masks) == len(ids)
    assert not torch.equal(a, mask_for_slice("mni/axial/087", 256, seed=1))
    # per-epoch training masks: reproducible, different across epochs and from the fixed one
    e0 = mask_for_slice("mni/axial/087", 256, epoch=0)
    torch.testing.assert_close(e0, mask_for_slice("mni/axial/087", 256, epoch=0))
    assert not torch.equal(e0, mask_for_slice("mni/axial/087", 256, epoch=1))
    assert not torch.equal(e0, a)


def test_slice_seed_is_a_stable_sha256_hash():
    digest = hashlib.sha256(b"7|mni/sagittal/120").digest()
    assert slice_seed("mni/sagittal/120", 7) == int.from_bytes(digest[:8], "little")
    digest = hashlib.sha256(b"0|x|3").digest()
    assert slice_seed("x", 0, epoch=3) == int.from_bytes(digest[:8], "little")
    with pytest.raises(TypeError):
        slice_seed(87)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "width,acc,cf,match",
    [
        (256, 0.5, 0.08, "acceleration must be"),
        (256, 0.0, 0.08, "acceleration must be"),
        (256, float("nan"), 0.08, "acceleration must be"),
        (256, 4.0, 0.0, r"open interval \(0, 1\)"),
        (256, 4.0, 1.0, r"open interval \(0, 1\)"),
        (256, 4.0, -0.1, r"open interval \(0, 1\)"),
        (256, 8.0, 0.2, "exceed"),  # 51 centre columns > 32 allowed
        (4, 2.0, 0.08, "0 centre columns"),
        (0, 4.0, 0.08, "width must be >= 1"),
    ],
)
@pytest.mark.parametrize("kind", ["random", "equispaced"])
def test_invalid_parameters_raise_value_error(kind, width, acc, cf, match):
    with pytest.raises(ValueError, match=match):
        make_mask(kind, width, acc, cf, 0)


def test_other_errors():
    with pytest.raises(ValueError, match="mask kind"):
        make_mask("radial", 256)
    with pytest.raises(TypeError, match="width must be an int"):
        random_mask(256.0)  # type: ignore[arg-type]
    kspace = torch.zeros(1, 8, 8, dtype=torch.complex64)
    with pytest.raises(ValueError, match=r"width 8.*\(1, 8, 8\)"):
        apply_mask(kspace, torch.ones(10))  # a mask wider than the image
    with pytest.raises(ValueError, match="does not broadcast"):
        apply_mask(kspace, torch.ones(3, 1, 1, 8))
    with pytest.raises(TypeError, match="complex"):
        apply_mask(torch.zeros(8, 8), torch.ones(8))


def test_acceleration_one_keeps_everything_and_budget_edge():
    assert bool((random_mask(64, 1.0, 0.5, rng=0) == 1).all())
    # exactly the budget in the centre: only the centre is sampled
    m = random_mask(100, 10.0, 0.1, rng=0)
    assert int(m.sum()) == 10 and num_center_columns(100, 10.0, 0.1) == 10
    assert int(equispaced_mask(100, 10.0, 0.1, rng=0).sum()) == 10


def test_apply_mask_zero_fills_like_numpy():
    g = torch.Generator().manual_seed(0)
    image = torch.rand(2, 1, 16, 12, generator=g, dtype=torch.float64)
    kspace = fft2c(image.to(torch.complex128))
    masks = torch.stack([random_mask(12, 3.0, 0.2, rng=s) for s in range(2)])
    masked, zero_filled = apply_mask(kspace, masks)  # (B, W) masks, one per item
    for b in range(2):
        cols = masks[b].bool()
        assert bool((masked[b, ..., ~cols] == 0).all())
        torch.testing.assert_close(masked[b, ..., cols], kspace[b, ..., cols])
        k = kspace[b, 0].numpy() * masks[b].numpy()[None, :]
        ref = np.abs(np.fft.fftshift(np.fft.ifft2(np.fft.ifftshift(k), norm="ortho")))
        np.testing.assert_allclose(zero_filled[b, 0].numpy(), ref, atol=1e-12)
    # a fully sampled mask gives the image back
    _, full = apply_mask(kspace, torch.ones(12))
    torch.testing.assert_close(full, image, atol=1e-12, rtol=0)
    assert achieved_acceleration(torch.ones(12)) == 1.0


def test_save_and_load_masks(tmp_path):
    masks = {f"mni/axial/{i:03d}": mask_for_slice(f"mni/axial/{i:03d}", 64) for i in range(5)}
    path = save_masks(tmp_path / "masks", masks)
    assert path.name == "masks.npz" and path.is_file()
    assert not list(tmp_path.glob("*.tmp"))
    loaded = load_masks(path)
    assert list(loaded) == list(masks)
    for key, value in masks.items():
        torch.testing.assert_close(loaded[key], value)
    np.save(tmp_path / "one.npy", masks["mni/axial/000"].numpy())
    torch.testing.assert_close(load_masks(tmp_path / "one.npy")[""], masks["mni/axial/000"])
    with pytest.raises(FileNotFoundError, match="nope.npz"):
        load_masks(tmp_path / "nope.npz")
    (tmp_path / "bad.npz").write_bytes(b"not a zip file at all")
    with pytest.raises(ValueError, match="bad.npz") as info:
        load_masks(tmp_path / "bad.npz")
    assert "\n" not in str(info.value)
