"""msglance.out_dir.prepare_out_dir: output folders are proven writable before any work."""

from __future__ import annotations

import os

import pytest

from msglance.out_dir import prepare_out_dir


def test_creates_nested_folders_and_leaves_nothing_behind(tmp_path):
    out = prepare_out_dir(tmp_path / "a" / "b")
    assert out.is_dir() and list(out.iterdir()) == []


def test_a_file_or_a_path_under_a_file_is_refused_with_the_option_name(tmp_path):
    f = tmp_path / "f"
    f.write_text("x")
    with pytest.raises(ValueError, match=r"--out .* is a file, not a folder"):
        prepare_out_dir(f, "--out")
    with pytest.raises(ValueError, match=r"--out .*f/sub is not a writable folder"):
        prepare_out_dir(f / "sub", "--out")


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_folder_is_refused(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        with pytest.raises(ValueError, match="not a writable folder"):
            prepare_out_dir(ro, "--out")
    finally:
        ro.chmod(0o755)
