"""Bundled brain MRI, slice splits, the MNI/IXI/fastMRI/s1045 datasets and their errors."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import nibabel as nib
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from msglance.data import brain
from msglance.data.brain import BundledDataError, mni152_path, mni152_volume, s1045_slice
from msglance.mri.datasets import (
    DataFileError,
    FastMRISlices,
    IXISlices,
    MNISlices,
    S1045Slice,
    contiguous_split,
    fit_to_square,
    mni_split,
    volume_block_split,
)
from msglance.mri.fft import fft2c, ifft2c
from msglance.mri.masks import mask_for_slice

SPLIT_NAMES = ("train", "val", "test")


# --------------------------------------------------------------------------- bundled data


def test_mni_template_is_read_from_the_installed_nilearn():
    import nilearn

    path = mni152_path()
    assert path.is_file()
    assert Path(nilearn.__file__).parent in path.parents
    vol = mni152_volume()
    assert vol.shape == (197, 233, 189) and vol.dtype == np.float32
    assert vol.min() == 0.0 and vol.max() == 1.0
    raw = np.asarray(nib.load(str(path)).dataobj, dtype=np.float64)
    np.testing.assert_allclose(vol, raw / raw.max(), atol=1e-7)
    assert not vol.flags.writeable
    # the 2009a *symmetric* template: sagittal slice x equals slice 196 - x
    np.testing.assert_array_equal(vol, vol[::-1])


def test_s1045_is_a_256_square_big_endian_uint16_slice():
    img = s1045_slice()
    assert img.shape == (256, 256) and img.dtype == np.float32
    assert img.min() == 0.0 and img.max() == 1.0
    # 8-bit values 0..215 in big-endian uint16: integers after undoing the normalisation
    levels = img * 215
    np.testing.assert_allclose(levels, np.round(levels), atol=1e-4)
    assert 0.35 < (img > 0.05).mean() < 0.55  # a head, not an empty or saturated frame


def test_missing_bundled_files_raise_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setattr(brain, "_package_dir", lambda package: tmp_path / package)
    with pytest.raises(BundledDataError, match="mni_icbm152_t1_tal_nlin_sym_09a_converted"):
        mni152_path()
    with pytest.raises(BundledDataError, match="s1045.ima.gz"):
        s1045_slice()
    assert issubclass(BundledDataError, FileNotFoundError)


# --------------------------------------------------------------------------- splits


def _min_distance(a, b):
    return min(abs(i - j) for i in a for j in b)


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(40, 250),
    start=st.integers(0, 50),
    gap=st.integers(0, 12),
    val=st.floats(0.05, 0.3),
    test=st.floats(0.05, 0.3),
)
def test_contiguous_split_properties(n, start, gap, val, test):
    indices = list(range(start, start + n))
    parts = contiguous_split(indices, val, test, gap)
    sets = {k: set(v) for k, v in parts.items()}
    assert all(sets[k] for k in SPLIT_NAMES)
    assert sets["train"] | sets["val"] | sets["test"] <= set(indices)
    for a, b in [("train", "val"), ("train", "test"), ("val", "test")]:
        assert not sets[a] & sets[b]
        assert _min_distance(sets[a], sets[b]) >= gap + 1
    # val and test are contiguous blocks
    for k in ("val", "test"):
        assert max(sets[k]) - min(sets[k]) == len(sets[k]) - 1
    assert len(indices) - sum(len(s) for s in sets.values()) == 3 * gap


def test_contiguous_split_errors():
    with pytest.raises(ValueError, match="too few"):
        contiguous_split(range(30), 0.15, 0.15, gap=10)
    with pytest.raises(ValueError, match="val_fraction"):
        contiguous_split(range(100), 0.0, 0.15)
    with pytest.raises(ValueError, match="< 1"):
        contiguous_split(range(100), 0.5, 0.5)
    with pytest.raises(ValueError, match="unique"):
        contiguous_split([1, 1, 2] * 20)
    with pytest.raises(ValueError, match="at least 3 volumes"):
        volume_block_split(["a", "b"])


def test_mni_split_has_no_shared_slice_and_gaps_of_at_least_10():
    vol = mni152_volume()
    table = mni_split()
    assert set(table) == {"sagittal", "coronal", "axial"}
    for orientation, parts in table.items():
        axis = ("sagittal", "coronal", "axial").index(orientation)
        fractions = (np.moveaxis(vol, axis, 0) > 0.05).mean(axis=(1, 2))
        for a, b in [("train", "val"), ("train", "test"), ("val", "test")]:
            assert not set(parts[a]) & set(parts[b])
            assert _min_distance(parts[a], parts[b]) > 10, (orientation, a, b)
        for k in SPLIT_NAMES:
            assert parts[k], (orientation, k)
            assert all(fractions[i] >= 0.10 for i in parts[k])  # the near-empty rule
        if orientation == "sagittal":
            # mirror duplicates excluded: only the midline (x = 98) and one hemisphere
            assert min(min(parts[k]) for k in SPLIT_NAMES) >= 98
    # the whole rule, recomputed: every non-empty candidate is kept (minus the 3 gaps)
    kept = {o: sum(len(p[k]) for k in SPLIT_NAMES) + 30 for o, p in table.items()}
    assert kept == {"sagittal": 65, "coronal": 157, "axial": 123}


# --------------------------------------------------------------------------- MNI dataset


def _check_item(item, size):
    assert item["target"].shape == (1, size, size) and item["target"].dtype == torch.float32
    assert item["kspace"].shape == (1, size, size) and item["kspace"].dtype == torch.complex64
    assert item["mask"].shape == (size,) and item["zero_filled"].shape == (1, size, size)
    target, kspace, mask = item["target"], item["kspace"], item["mask"]
    assert 0.0 <= float(target.min()) and float(target.max()) <= 1.0
    cols = mask.bool()
    full = fft2c(target.to(torch.complex64))
    torch.testing.assert_close(kspace[..., cols], full[..., cols], atol=1e-5, rtol=0)
    assert bool((kspace[..., ~cols] == 0).all())
    torch.testing.assert_close(item["zero_filled"], ifft2c(kspace).abs())


def test_mni_slices_items_and_fixed_eval_masks():
    test = MNISlices("test", size=64)
    assert len(test) == 5 + 19 + 14
    assert len(MNISlices("val", size=64)) == 5 + 19 + 14
    assert len(MNISlices("train", size=64)) == 25 + 89 + 65
    ids = test.slice_ids
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"mni/(sagittal|coronal|axial)/\d{3}", i) for i in ids)
    item = test[7]
    _check_item(item, 64)
    assert item["slice_id"] == ids[7] and item["volume_id"] == ids[7].rsplit("/", 1)[0]
    # fixed masks: the slice id decides, not the epoch or the instance
    expected = mask_for_slice(ids[7], 64, acceleration=5.0, center_fraction=0.08, seed=0)
    torch.testing.assert_close(item["mask"], expected)
    test.set_epoch(3)
    torch.testing.assert_close(test[7]["mask"], expected)
    torch.testing.assert_close(MNISlices("test", size=64)[7]["mask"], expected)
    assert not torch.equal(MNISlices("test", size=64, seed=1)[7]["mask"], expected)


def test_mni_train_masks_change_per_epoch_reproducibly():
    train = MNISlices("train", size=64, orientations=("axial",))
    train.set_epoch(0)
    a = train[3]["mask"]
    train.set_epoch(1)
    b = train[3]["mask"]
    assert not torch.equal(a, b)
    again = MNISlices("train", size=64, orientations=("axial",))
    again.set_epoch(1)
    torch.testing.assert_close(again[3]["mask"], b)


def test_mni_full_size_is_padding_only():
    ds = MNISlices("test", orientations=("axial",))
    orientation, number = ds.items[0]
    native = np.rot90(mni152_volume()[:, :, number])  # (233, 197)
    img = ds.image(0)
    assert img.shape == (256, 256)
    top, left = (256 - 233) // 2, (256 - 197) // 2
    np.testing.assert_array_equal(img[top : top + 233, left : left + 197].numpy(), native)
    assert float(img.sum()) == pytest.approx(float(native.sum()), rel=1e-6)


def test_fit_to_square_shrinks_keeping_aspect():
    img = np.zeros((40, 20), dtype=np.float32)
    img[10:30, 5:15] = 1.0
    out = fit_to_square(img, 20)
    assert out.shape == (20, 20)
    assert float(out.max()) <= 1.0 and float(out.min()) >= 0.0
    assert bool((out[:, :5] == 0).all()) and bool((out[:, 15:] == 0).all())  # 10-wide, centred
    with pytest.raises(ValueError, match="2-D"):
        fit_to_square(np.zeros((2, 3, 4)), 8)


def test_batches_collate():
    loader = DataLoader(MNISlices("val", size=32, orientations=("sagittal",)), batch_size=2)
    batch = next(iter(loader))
    assert batch["kspace"].shape == (2, 1, 32, 32) and batch["kspace"].is_complex()
    assert batch["mask"].shape == (2, 32) and len(batch["slice_id"]) == 2


def test_invalid_dataset_arguments():
    with pytest.raises(ValueError, match="split"):
        MNISlices("dev", size=64)
    with pytest.raises(ValueError, match="orientation"):
        MNISlices("test", size=64, orientations=("oblique",))
    with pytest.raises(ValueError, match="acceleration"):
        MNISlices("test", size=64, acceleration=0.5)
    with pytest.raises(ValueError, match="center_fraction"):
        MNISlices("test", size=64, center_fraction=1.5)
    with pytest.raises(ValueError, match="exceed"):
        MNISlices("test", size=64, acceleration=8, center_fraction=0.2)


def test_s1045_dataset():
    ds = S1045Slice(size=256)
    assert len(ds) == 1
    item = ds[0]
    _check_item(item, 256)
    assert item["slice_id"] == "s1045/sagittal/000"
    np.testing.assert_array_equal(item["target"][0].numpy(), s1045_slice())
    torch.testing.assert_close(item["mask"], mask_for_slice("s1045/sagittal/000", 256))


# --------------------------------------------------------------------------- IXI (NIfTI)


def _blob_volume(shape=(20, 24, 16), seed=0):
    rng = np.random.default_rng(seed)
    vol = np.zeros(shape, dtype=np.float32)
    vol[4:16, 5:19, 3:13] = 100 + 50 * rng.random((12, 14, 10), dtype=np.float32)
    return vol


def _write_nifti(path, data, affine=None):
    nib.save(nib.Nifti1Image(data, np.eye(4) if affine is None else affine), str(path))


def test_ixi_folder_of_nifti(tmp_path):
    for i, contrast in enumerate(["T1", "T2", "PD"]):
        _write_nifti(tmp_path / f"IXI00{i}-Guys-000{i}-{contrast}.nii.gz", _blob_volume(seed=i))
    _write_nifti(tmp_path / "IXI009-HH-0009-T1.nii", _blob_volume(seed=9))
    (tmp_path / "notes.txt").write_text("not a volume")
    ds = IXISlices(tmp_path, size=32)
    assert len(ds.files) == 4
    assert len(ds) == 4 * 10  # z slices 3..12 hold the blob; the rest are empty and dropped
    item = ds[0]
    _check_item(item, 32)
    assert item["slice_id"] == "ixi/IXI000-Guys-0000-T1/003"
    assert float(max(ds[i]["target"].max() for i in range(10))) == pytest.approx(1.0)
    t1 = IXISlices(tmp_path, contrast="t1", size=32)
    assert sorted(t1.files) == ["IXI000-Guys-0000-T1", "IXI009-HH-0009-T1"]
    parts = {s: set(IXISlices(tmp_path, s, size=32).files) for s in SPLIT_NAMES}
    assert all(parts.values())
    assert not (parts["train"] & parts["val"] or parts["train"] & parts["test"] or parts["val"] & parts["test"])


def test_ixi_reorients_to_ras(tmp_path):
    vol = _blob_volume()
    vol[5, 6, 8] = 400.0  # a marker that makes flips visible
    _write_nifti(tmp_path / "ras.nii", vol)
    flip = np.diag([-1.0, 1.0, -1.0, 1.0])  # LAI storage of the same object
    flip[0, 3], flip[2, 3] = vol.shape[0] - 1, vol.shape[2] - 1
    (tmp_path / "las").mkdir()
    _write_nifti(tmp_path / "las" / "lai.nii", np.ascontiguousarray(vol[::-1, :, ::-1]), flip)
    a, b = IXISlices(tmp_path / "ras.nii", size=32), IXISlices(tmp_path / "las", size=32)
    assert len(a) == len(b)
    for i in range(len(a)):
        torch.testing.assert_close(a.image(i), b.image(i))


def test_ixi_corrupt_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        IXISlices(tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match="no NIfTI files"):
        IXISlices(tmp_path)
    _write_nifti(tmp_path / "good.nii.gz", _blob_volume())
    (tmp_path / "broken.nii.gz").write_bytes(b"\x1f\x8b garbage, not a NIfTI volume" * 10)
    with pytest.raises(DataFileError, match="broken.nii.gz") as info:
        IXISlices(tmp_path, size=32)
    message = str(info.value)
    assert "\n" not in message and "NIfTI" in message
    (tmp_path / "broken.nii.gz").unlink()
    (tmp_path / "plain.nii").write_bytes(b"0123456789" * 50)
    with pytest.raises(DataFileError, match="plain.nii"):
        IXISlices(tmp_path, size=32)
    assert issubclass(DataFileError, ValueError)


# --------------------------------------------------------------------------- fastMRI (.h5)


def _write_fastmri(path, n_slices=2, raw=(40, 36), crop=32, peak=5.0, with_max=True, seed=0):
    rng = np.random.default_rng(seed)
    image = np.zeros((n_slices, *raw), dtype=np.float32)
    image[:, 10:30, 8:28] = peak * rng.random((n_slices, 20, 20), dtype=np.float32)
    kspace = np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(image, axes=(-2, -1)), norm="ortho"), axes=(-2, -1))
    top, left = (raw[0] - crop) // 2, (raw[1] - crop) // 2
    rec = image[:, top : top + crop, left : left + crop]
    with h5py.File(path, "w") as hf:
        hf.create_dataset("kspace", data=kspace.astype(np.complex64))
        ds = hf.create_dataset("reconstruction_esc", data=rec)
        if with_max:
            ds.attrs["max"] = float(rec.max())
    return rec


def test_fastmri_simulated_and_raw(tmp_path):
    rec = _write_fastmri(tmp_path / "file1000001.h5", seed=1)
    _write_fastmri(tmp_path / "file1000002.h5", n_slices=3, with_max=False, seed=2)
    ds = FastMRISlices(tmp_path, crop=32, acceleration=4)
    assert len(ds) == 5 and ds.slice_ids[0] == "fastmri/file1000001/000"
    item = ds[1]
    _check_item(item, 32)
    np.testing.assert_allclose(item["target"][0].numpy(), rec[1] / rec.max(), rtol=1e-6)
    raw = FastMRISlices(tmp_path, crop=32, kspace="raw", acceleration=4)
    r = raw[1]
    assert r["kspace"].shape == (1, 40, 36) and r["mask"].shape == (36,)
    assert r["zero_filled"].shape == (1, 32, 32)
    torch.testing.assert_close(r["target"], item["target"])
    # fully sampled raw k-space reproduces the target on the crop
    full = FastMRISlices(tmp_path, crop=32, kspace="raw", acceleration=1, center_fraction=0.5)[1]
    torch.testing.assert_close(full["zero_filled"], full["target"], atol=1e-5, rtol=0)


def test_fastmri_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no fastMRI .h5"):
        FastMRISlices(tmp_path)
    with pytest.raises(FileNotFoundError, match="missing.h5"):
        FastMRISlices(tmp_path / "missing.h5")
    (tmp_path / "garbage.h5").write_bytes(b"this is not hdf5" * 20)
    with pytest.raises(DataFileError, match="garbage.h5") as info:
        FastMRISlices(tmp_path / "garbage.h5", crop=32)
    assert "\n" not in str(info.value)
    with h5py.File(tmp_path / "multicoil.h5", "w") as hf:
        hf.create_dataset("kspace", data=np.zeros((2, 4, 40, 36), dtype=np.complex64))
    with pytest.raises(DataFileError, match=r"multicoil.h5 has no 'reconstruction_esc'"):
        FastMRISlices(tmp_path / "multicoil.h5", crop=32)
    _write_fastmri(tmp_path / "small.h5", crop=32)
    with pytest.raises(DataFileError, match="smaller than the 320"):
        FastMRISlices(tmp_path / "small.h5")
