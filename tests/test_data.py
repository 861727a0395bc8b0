"""Embedded image sets and readers for user images / NIfTI, on real files, offline."""

from __future__ import annotations

import socket

import nibabel as nib
import numpy as np
import pytest
import tifffile
from PIL import Image

from msglance.data import (
    SUPPORTED_EXTENSIONS,
    Sample,
    UnreadableFileError,
    available_datasets,
    list_images,
    load_dataset,
    load_image_folder,
    read_image,
    read_nifti,
    square_resize,
)

EXPECTED = {  # set -> (count, names that must be grayscale, names that must be RGB)
    "natural": (10, {"camera"}, {"astronaut", "coffee", "chelsea", "china", "flower"}),
    "faces": (2, set(), {"astronaut", "grace_hopper"}),
    "lfw": (8, {"lfw_000", "lfw_099"}, set()),
    "mri": (10, {"s1045", "mni152_axial_z085", "mni152_sagittal_x098"}, set()),
}


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a socket fails loudly."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted while loading embedded data")

    monkeypatch.setattr(socket, "socket", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_network_is_really_blocked(no_network):
    with pytest.raises(AssertionError, match="network access"):
        socket.create_connection(("pypi.org", 443), timeout=1)


def test_available_datasets_lists_the_sets():
    sets = available_datasets()
    assert list(sets) == ["natural", "faces", "lfw", "mri"]
    assert all(isinstance(d, str) and d for d in sets.values())


@pytest.mark.parametrize("name", list(EXPECTED))
def test_embedded_sets_offline_shapes_and_range(name, no_network):
    size = 40
    samples = load_dataset(name, size=size)
    count, gray, rgb = EXPECTED[name]
    assert len(samples) == count
    names = [s.name for s in samples]
    assert len(set(names)) == len(names)
    for s in samples:
        assert isinstance(s, Sample)
        assert s.image.dtype == np.float32 and s.image.flags.c_contiguous
        assert s.image.shape in ((size, size), (size, size, 3)), (s.name, s.image.shape)
        assert 0.0 <= float(s.image.min()) and float(s.image.max()) <= 1.0
        assert float(s.image.std()) > 0.02, f"{s.name} is nearly constant"
        assert s.source and s.licence and len(s.native_shape) in (2, 3)
        t = s.tensor()
        assert tuple(t.shape) == (s.channels, size, size)
        np.testing.assert_array_equal(t.numpy()[0], s.image if s.channels == 1 else s.image[..., 0])
    by_name = {s.name: s for s in samples}
    assert all(by_name[n].channels == 1 for n in gray)
    assert all(by_name[n].channels == 3 for n in rgb)


def test_sets_are_deterministic():
    a, b = load_dataset("mri", size=32), load_dataset("mri", size=32)
    assert [s.name for s in a] == [s.name for s in b]
    for sa, sb in zip(a, b):
        np.testing.assert_array_equal(sa.image, sb.image)


def test_sklearn_photos_keep_their_attribution():
    by_name = {s.name: s for s in load_dataset("natural", size=16)}
    for name in ("china", "flower"):
        assert "CC BY 2.0" in by_name[name].licence
        assert "danielbuechele" in by_name[name].licence
        assert "scikit-learn" in by_name[name].source


def test_lfw_reports_native_size_and_mri_has_all_orientations():
    lfw = load_dataset("lfw", size=32)
    assert all(s.native_shape == (25, 25) for s in lfw)
    assert all("25x25" in s.source for s in lfw)
    mri = [s.name for s in load_dataset("mri", size=16)]
    for orient in ("axial", "coronal", "sagittal"):
        assert sum(orient in n for n in mri) == 3
    assert "s1045" in mri


def test_size_none_keeps_the_centre_crop():
    by_name = {s.name: s for s in load_dataset("natural", size=None)}
    assert by_name["chelsea"].image.shape == (300, 300, 3)  # native (300, 451, 3)
    assert by_name["camera"].image.shape == (512, 512)


def test_unknown_dataset_and_bad_size():
    with pytest.raises(ValueError, match=r"unknown dataset 'nope'.*natural"):
        load_dataset("nope")
    with pytest.raises(ValueError, match="size"):
        load_dataset("faces", size=0)


def test_square_resize_crops_the_centre():
    img = np.arange(5 * 8, dtype=np.float32).reshape(5, 8) / 40
    np.testing.assert_array_equal(square_resize(img, None), img[:, 1:6])
    up = square_resize(img, 20)
    assert up.shape == (20, 20) and up.dtype == np.float32
    assert up.min() >= 0 and up.max() <= 1
    rgb = np.random.default_rng(0).random((30, 20, 3))
    assert square_resize(rgb, 10).shape == (10, 10, 3)
    with pytest.raises(ValueError, match=r"\(H, W\)"):
        square_resize(np.zeros((2, 2, 2, 2)), 4)


# ----------------------------------------------------------------------------- readers


def _rng_image(shape, dtype, seed=0):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(0, info.max, size=shape, endpoint=True).astype(dtype)


def test_read_png_8bit_gray_rgb_rgba(tmp_path):
    gray = _rng_image((12, 17), np.uint8)
    rgb = _rng_image((12, 17, 3), np.uint8, 1)
    rgba = _rng_image((12, 17, 4), np.uint8, 2)
    Image.fromarray(gray).save(tmp_path / "g.png")
    Image.fromarray(rgb).save(tmp_path / "c.png")
    Image.fromarray(rgba, mode="RGBA").save(tmp_path / "a.png")
    g = read_image(tmp_path / "g.png")
    assert g.shape == (12, 17) and g.dtype == np.float32
    np.testing.assert_array_equal(g, gray.astype(np.float32) / 255)
    np.testing.assert_array_equal(read_image(tmp_path / "c.png"), rgb.astype(np.float32) / 255)
    np.testing.assert_array_equal(read_image(tmp_path / "a.png"), rgba[..., :3] / np.float32(255))
    np.testing.assert_array_equal(read_image(tmp_path / "g.png", raw=True), gray.astype(np.float32))


def test_read_png_16bit_scaled_by_dtype_max(tmp_path):
    gray16 = _rng_image((9, 11), np.uint16)
    gray16[0, 0], gray16[0, 1] = 0, 65535
    Image.fromarray(gray16).save(tmp_path / "g16.png")
    out = read_image(tmp_path / "g16.png")
    np.testing.assert_allclose(out, gray16.astype(np.float32) / 65535, rtol=0, atol=1e-7)
    assert out.min() == 0.0 and out.max() == 1.0
    np.testing.assert_array_equal(read_image(tmp_path / "g16.png", raw=True), gray16.astype(np.float32))


def test_read_tiff_16bit_rgb_and_float(tmp_path):
    rgb16 = _rng_image((8, 10, 3), np.uint16, 3)
    tifffile.imwrite(tmp_path / "c16.tif", rgb16, photometric="rgb")
    np.testing.assert_allclose(read_image(tmp_path / "c16.tif"), rgb16 / np.float32(65535), atol=1e-7)
    f = np.random.default_rng(4).normal(100, 30, (6, 7)).astype(np.float32)
    tifffile.imwrite(tmp_path / "f.tiff", f)
    np.testing.assert_array_equal(read_image(tmp_path / "f.tiff"), f)  # floats as stored


def test_read_jpeg_close_to_source(tmp_path):
    rgb = np.zeros((16, 16, 3), np.uint8)
    rgb[:, :8] = (200, 40, 40)
    Image.fromarray(rgb).save(tmp_path / "x.JPG", quality=95)
    out = read_image(tmp_path / "x.JPG")
    assert out.shape == (16, 16, 3)
    assert np.abs(out - rgb / 255).mean() < 0.03


def _nifti(path, data, affine=None, slope=None, inter=None):
    img = nib.Nifti1Image(data, np.eye(4) if affine is None else affine)
    if slope is not None:
        img.header.set_slope_inter(slope, inter)
    nib.save(img, str(path))


def test_read_nifti_2d_and_3d_raw_intensities(tmp_path):
    vol = np.random.default_rng(5).normal(500, 100, (7, 8, 9)).astype(np.float32)
    _nifti(tmp_path / "v.nii.gz", vol)
    out = read_nifti(tmp_path / "v.nii.gz")
    assert out.dtype == np.float32 and out.shape == (7, 8, 9)
    np.testing.assert_array_equal(out, vol)
    sl = vol[:, :, 0].copy()
    _nifti(tmp_path / "s.nii", sl)
    np.testing.assert_array_equal(read_nifti(tmp_path / "s.nii"), sl)
    _nifti(tmp_path / "s1.nii", vol[:, :, :1])  # (X, Y, 1) -> 2-D
    assert read_nifti(tmp_path / "s1.nii").shape == (7, 8)
    stored = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    _nifti(tmp_path / "scaled.nii", stored, slope=2.0, inter=10.0)
    np.testing.assert_array_equal(read_nifti(tmp_path / "scaled.nii"), stored * 2.0 + 10.0)


def test_read_nifti_canonical_reorients(tmp_path):
    vol = np.arange(2 * 3 * 4, dtype=np.float32).reshape(2, 3, 4)
    las = np.diag([-1.0, 1.0, 1.0, 1.0])  # x runs right -> left
    _nifti(tmp_path / "las.nii", vol, affine=las)
    np.testing.assert_array_equal(read_nifti(tmp_path / "las.nii"), vol)
    np.testing.assert_array_equal(read_nifti(tmp_path / "las.nii", canonical=True), vol[::-1])


def test_read_nifti_rejects_4d(tmp_path):
    _nifti(tmp_path / "t.nii", np.zeros((3, 3, 3, 2), np.float32))
    with pytest.raises(UnreadableFileError, match=r"t\.nii.*2-D or 3-D"):
        read_nifti(tmp_path / "t.nii")


def test_corrupt_truncated_missing_and_unsupported_files(tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n this is not a png")
    with pytest.raises(UnreadableFileError, match=r"cannot read .*bad\.png"):
        read_image(bad)
    noisy = _rng_image((64, 64, 3), np.uint8, 6)
    full = tmp_path / "full.png"
    Image.fromarray(noisy).save(full)
    trunc = tmp_path / "trunc.png"
    trunc.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    with pytest.raises(UnreadableFileError, match=r"trunc\.png"):
        read_image(trunc)
    badnii = tmp_path / "bad.nii.gz"
    badnii.write_bytes(b"definitely not gzip")
    with pytest.raises(UnreadableFileError, match=r"bad\.nii\.gz"):
        read_nifti(badnii)
    with pytest.raises(UnreadableFileError, match="no such file"):
        read_image(tmp_path / "missing.png")
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(UnreadableFileError, match="extension"):
        read_image(tmp_path / "notes.txt")
    with pytest.raises(UnreadableFileError, match="NIfTI"):
        read_nifti(full)
    assert issubclass(UnreadableFileError, ValueError)
    err = UnreadableFileError(bad, "boom")
    assert err.path == bad and err.reason == "boom"


def test_list_images_recursive_relative_sorted(tmp_path):
    (tmp_path / "b" / "deep").mkdir(parents=True)
    (tmp_path / ".hidden").mkdir()
    for rel in ["z.png", "a.JPG", "b/deep/v.nii.gz", "b/s.nii", "b/c.tif", ".hidden/h.png", ".x.png"]:
        (tmp_path / rel).write_bytes(b"")
    (tmp_path / "readme.md").write_text("x")
    found = [p.as_posix() for p in list_images(tmp_path)]
    assert found == ["a.JPG", "b/c.tif", "b/deep/v.nii.gz", "b/s.nii", "z.png"]
    assert ".nii.gz" in SUPPORTED_EXTENSIONS and ".png" in SUPPORTED_EXTENSIONS
    with pytest.raises(NotADirectoryError):
        list_images(tmp_path / "z.png")


def test_load_image_folder_with_images_and_volumes(tmp_path, no_network):
    (tmp_path / "sub").mkdir()
    Image.fromarray(_rng_image((30, 50, 3), np.uint8)).save(tmp_path / "photo.png")
    Image.fromarray(_rng_image((40, 40), np.uint16)).save(tmp_path / "sub" / "gray16.png")
    vol = np.random.default_rng(7).gamma(2.0, 300.0, (20, 24, 11)).astype(np.float32)
    _nifti(tmp_path / "sub" / "brain.nii.gz", vol)
    samples = load_image_folder(tmp_path, size=16, volume_slices=(0.25, 0.5))
    assert [s.name for s in samples] == [
        "photo.png",
        "sub/brain.nii.gz[z002]",
        "sub/brain.nii.gz[z005]",
        "sub/gray16.png",
    ]
    shapes = [s.image.shape for s in samples]
    assert shapes == [(16, 16, 3), (16, 16), (16, 16), (16, 16)]
    for s in samples:
        assert s.image.dtype == np.float32
        assert 0.0 <= s.image.min() and s.image.max() <= 1.0
        assert s.licence == "user data"
    assert samples[1].native_shape == (20, 24, 11)
    # load_dataset accepts a path and gives the same result
    again = load_dataset(tmp_path, size=16)
    assert [s.name for s in again] == ["photo.png", "sub/brain.nii.gz[z005]", "sub/gray16.png"]
    # one file works too
    single = load_image_folder(tmp_path / "photo.png", size=8)
    assert len(single) == 1 and single[0].image.shape == (8, 8, 3)


def test_load_image_folder_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        load_image_folder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no supported"):
        load_image_folder(tmp_path)
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(UnreadableFileError, match=r"broken\.jpg"):
        load_image_folder(tmp_path)
    with pytest.raises(ValueError, match="volume_slices"):
        load_image_folder(tmp_path, volume_slices=(1.5,))
