"""shared/files.py: private modes whatever the umask, whole writes, and the rename made durable."""

from __future__ import annotations

import os
import stat

import pytest

from shared import files


@pytest.fixture
def permissive_umask():
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_files_and_the_directories_made_for_them_are_private_whatever_the_umask(tmp_path, permissive_umask):
    (tmp_path / "checkout").mkdir()
    os.chmod(tmp_path / "checkout", 0o755)
    tmp_path = tmp_path / "checkout"
    target = tmp_path / "var" / "log" / "stack.json"
    files.write_atomic(target, b"{}")
    files.write_atomic(target, b'{"again": 1}')  # replaced: the new file is private too
    assert target.read_bytes() == b'{"again": 1}'
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "var" / "log").stat().st_mode) == 0o700
    assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o755  # a directory that was there is left be
    assert sorted(p.name for p in target.parent.iterdir()) == ["stack.json"]  # no temporary name left


def test_the_file_is_synced_before_the_rename_and_its_directory_after(tmp_path, monkeypatch):
    calls: list[tuple[str, object]] = []
    real_fsync, real_replace = os.fsync, os.replace

    def fsync(fd: int) -> None:
        calls.append(("fsync", "directory" if stat.S_ISDIR(os.fstat(fd).st_mode) else "file"))
        real_fsync(fd)

    def replace(src, dst) -> None:
        calls.append(("replace", os.fspath(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(os, "replace", replace)
    (tmp_path / "dir").mkdir()
    target = tmp_path / "dir" / "writers.json"
    files.write_atomic(target, b"{}")
    assert calls == [("fsync", "file"), ("replace", str(target)), ("fsync", "directory")]


def test_a_directory_made_on_the_way_is_synced_into_its_parent(tmp_path, monkeypatch):
    synced: list[str] = []
    real_sync = files.sync_directory

    def sync(path):
        synced.append(path.name)
        real_sync(path)

    monkeypatch.setattr(files, "sync_directory", sync)
    files.write_atomic(tmp_path / "a" / "b" / "f", b"x")
    # a made, then synced into tmp_path; b made, synced into a; the rename synced in b.
    assert synced == [tmp_path.name, "a", "b"]


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary_name(tmp_path, monkeypatch):
    def full(fd: int, data) -> int:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(OSError, match="No space"):
        files.write_atomic(tmp_path / "f", b"data")
    assert list(tmp_path.iterdir()) == []


def test_a_private_directory_left_open_is_closed_and_a_missing_one_made(tmp_path, permissive_umask):
    (tmp_path / "var").mkdir()
    os.chmod(tmp_path / "var", 0o775)
    files.make_private_dir(tmp_path / "var")
    files.make_private_dir(tmp_path / "var" / "redis")
    assert stat.S_IMODE((tmp_path / "var").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "var" / "redis").stat().st_mode) == 0o700
