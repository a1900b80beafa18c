"""Finding the ``make run`` stack of this checkout from another terminal, and its ops token."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from shared.files import write_atomic


def use_local_stack(root: Path | None = None) -> dict | None:
    """Default the settings to the ``make run`` stack of this checkout, if one is running.

    ``marquee run`` writes ``var/stack.json`` (ingest URL, Redis URL, writers file) and
    keeps the archive and publish stores in ``var/archive`` and ``var/publish`` unless
    told otherwise. Settings already in the environment win, one by one, as they do for
    ``marquee run`` itself; elsewhere the commands take the services' own settings.
    """
    root = Path.cwd() if root is None else root
    stack_file = root / "var" / "stack.json"
    if not stack_file.exists():
        return None
    stack = json.loads(stack_file.read_text())
    var = (root / "var").resolve()
    defaults = {
        "MARQUEE_REDIS_URL": stack["redis_url"],
        "MARQUEE_WRITERS_FILE": stack.get("writers_file", str(var / "writers.json")),
        "MARQUEE_ARCHIVE_URL": stack.get("archive_url", str(var / "archive")),
        "MARQUEE_PUBLISH_URL": stack.get("publish_url", str(var / "publish")),
        "MARQUEE_PUBLIC_BASE_URL": stack.get("public_base_url", f"{stack['ingest_url'].rstrip('/')}/site"),
    }
    if stack.get("redis_sentinel_master") and "MARQUEE_REDIS_URL" not in os.environ:
        os.environ["MARQUEE_REDIS_SENTINEL_MASTER"] = stack["redis_sentinel_master"]  # goes with the stack's URL
    for name, value in defaults.items():
        os.environ.setdefault(name, value)
    return stack


def ensure_ops_token(path: Path) -> str:
    """The ``marquee run`` stack's ops token: read from ``path``, made there (mode 0600) the first time."""
    if path.exists() and (token := path.read_text().strip()):
        return token
    token = "mqops_" + secrets.token_urlsafe(24)
    write_atomic(path, (token + "\n").encode())  # 0600 from the first byte, in a 0700 var/
    return token
