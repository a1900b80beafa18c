"""Loaded into test workers with ``--include``: holds a task mid-stage so a test can kill it.

A test writes ``<pause dir>/<task name>`` (e.g. ``marquee.render``). The next run
of that task, in whichever process, writes its pid to ``<pause dir>/<task>.pid``
and waits (bounded) until the file is removed. Each task pauses at most once per
submission, so the redelivered run goes straight through.
"""

import os
import time
from pathlib import Path

from celery.signals import task_prerun

HOLD_SECONDS = 60


@task_prerun.connect
def _hold(sender=None, args=(), **_):
    pause_dir = os.environ.get("MARQUEE_TEST_PAUSE_DIR")
    if not pause_dir or not args:
        return
    trigger = Path(pause_dir) / sender.name
    done = Path(pause_dir) / f"{sender.name}.{args[0]}.paused"
    if not trigger.exists() or done.exists():
        return
    done.touch()
    (Path(pause_dir) / f"{sender.name}.pid").write_text(str(os.getpid()))
    deadline = time.monotonic() + HOLD_SECONDS
    while trigger.exists() and time.monotonic() < deadline:
        time.sleep(0.05)  # polling a file the test removes, bounded by the deadline
