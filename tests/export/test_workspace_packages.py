"""The workspace's package folder: default file names and the listing the Registry page shows."""

import os

from deepsynth.export.workspace_packages import default_package_path, workspace_packages


def test_default_path_makes_the_run_name_safe_and_keeps_the_run_id(tmp_path):
    path = default_package_path("rank 16 / lr=3e-3", "0123456789abcdef", folder=tmp_path)
    assert path == tmp_path / "rank-16-lr-3e-3-01234567.zip"
    assert default_package_path("", "fedcba9876543210", folder=tmp_path).name == "adapter-fedcba98.zip"
    assert default_package_path("///", "fedcba9876543210", folder=tmp_path).name == "adapter-fedcba98.zip"


def test_listing_is_newest_first_and_only_zip_files(tmp_path):
    old, new = tmp_path / "old.zip", tmp_path / "new.zip"
    old.write_bytes(b"x" * 10)
    new.write_bytes(b"y" * 20)
    (tmp_path / "notes.txt").write_text("not a package")
    (tmp_path / "folder.zip").mkdir()
    os.utime(old, (1_000, 1_000))
    os.utime(new, (2_000, 2_000))
    listed = workspace_packages(tmp_path)
    assert [package.path.name for package in listed] == ["new.zip", "old.zip"]
    assert [package.size_bytes for package in listed] == [20, 10]


def test_a_missing_folder_lists_nothing(tmp_path):
    assert workspace_packages(tmp_path / "absent") == []
