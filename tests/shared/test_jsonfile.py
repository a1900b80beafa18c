"""A watched configuration file: a changed version takes over only once it is whole and valid."""

from __future__ import annotations

import json
import logging
import os
import time

import pytest

from shared.writers import WritersFile, new_secret


def write(path, text: str, *, bump: float) -> None:
    path.write_text(text)
    later = time.time() + bump  # a new mtime even on a coarse-clocked filesystem
    os.utime(path, (later, later))


@pytest.mark.parametrize(
    "broken",
    [
        '{"writers": {"alice": {"secrets": ["whsec_',  # caught half-written
        '{"writers": {"alice": {"secrets": ["plain-password"]}}}',  # whole, but wrong
        "[" * 100_000,  # deeper than the parser goes
        None,  # gone, as mid-way through a replace
    ],
    ids=["half-written", "invalid", "deep", "missing"],
)
def test_a_broken_change_is_refused_once_and_the_last_good_version_stays(tmp_path, caplog, broken):
    path, secret = tmp_path / "writers.json", new_secret()
    write(path, json.dumps({"writers": {"alice": {"secrets": [secret]}}}), bump=0)
    writers = WritersFile(path)
    assert secrets_of(writers, "alice") == (secret,)

    if broken is None:
        path.unlink()
    else:
        write(path, broken, bump=2)
    with caplog.at_level(logging.WARNING, logger="marquee.config"):
        for _ in range(3):
            assert secrets_of(writers, "alice") == (secret,)
    [line] = [r.getMessage() for r in caplog.records if r.name == "marquee.config"]
    assert "refused" in line and str(path) in line
    assert secret.removeprefix("whsec_") not in line and "plain-password" not in line

    # Once the file is put right, it is read again.
    other = new_secret()
    write(path, json.dumps({"writers": {"bob": {"secrets": [other]}}}), bump=4)
    assert secrets_of(writers, "bob") == (other,) and writers.get("alice") is None


def secrets_of(writers: WritersFile, name: str) -> tuple[str, ...]:
    writer = writers.get(name)
    assert writer is not None, name
    return writer.secrets


def test_a_file_completed_within_the_same_clock_tick_is_read_again(tmp_path):
    path, secret = tmp_path / "writers.json", new_secret()
    whole = json.dumps({"writers": {"alice": {"secrets": [secret]}}})
    write(path, whole, bump=0)
    writers = WritersFile(path)
    writers.get("alice")
    write(path, whole[:20], bump=2)
    assert writers.get("alice")  # the half-written version is refused
    path.write_text(whole.replace("alice", "carol"))
    os.utime(path, (time.time() + 2, time.time() + 2))  # the same second as the half-written one
    assert writers.get("carol") and writers.get("alice") is None


def test_with_no_good_version_yet_the_error_is_raised(tmp_path):
    path = tmp_path / "writers.json"
    path.write_text('{"writers": ')
    with pytest.raises(ValueError):
        WritersFile(path).get("alice")
