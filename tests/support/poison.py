"""Loaded into chaos workers with ``--include``: a stage that kills its own worker process
for the submissions listed in ``<MARQUEE_TEST_PAUSE_DIR>/poison``, every time it runs them."""

import os
import signal
from pathlib import Path

from celery.signals import task_prerun


@task_prerun.connect
def _die(sender=None, args=(), **_):
    pause_dir = os.environ.get("MARQUEE_TEST_PAUSE_DIR")
    if not pause_dir or not args or sender.name != "marquee.render":
        return
    poison = Path(pause_dir) / "poison"
    if poison.exists() and args[0] in poison.read_text().split():
        with open(Path(pause_dir) / "poison-attempts", "a") as log:
            log.write(args[0] + "\n")
        os.kill(os.getpid(), signal.SIGKILL)
