"""The writers file `marquee run` creates for a newcomer has the current shape."""

from __future__ import annotations

import json

from services.cli.supervisor import ensure_writers_file
from shared.writers import parse_writers


def test_the_dev_writer_gets_a_submitting_secret_and_a_callback_secret_of_its_own(tmp_path):
    path = tmp_path / "var" / "writers.json"
    assert ensure_writers_file(path)
    dev = parse_writers(json.loads(path.read_text()))["dev"]
    assert len(dev.secrets) == 1 and len(dev.callback_secrets) == 1
    assert set(dev.secrets).isdisjoint(dev.callback_secrets)
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not ensure_writers_file(path)  # an existing file is left alone
