"""A JSON configuration file, parsed once and again whenever it changes on disk.

Writers and subscribers live in such files, so a secret can be rotated or a
subscriber added without restarting anything. A changed file takes over only once it
reads, parses and passes its checks: one caught half-written, or with a mistake in it,
is refused with one log line saying why, and the last good version stays in force (a
broken file would otherwise fail every request until someone fixed it).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")

log = logging.getLogger("marquee.config")


class WatchedJSON(Generic[T]):
    def __init__(self, path: Path, parse: Callable[[dict], T]):
        self.path = Path(path)
        self._parse = parse
        self._value: T | None = None
        self._good = False  # whether _value holds a version that was read and checked
        self._error: Exception | None = None  # why the version on disk was refused
        # The version last read, good or not: size as well as mtime, so that a file
        # completed within the same clock tick as its half-written state is read again.
        self._version: tuple[int, int] | None = (-1, -1)  # None: the file was not there
        self._lock = threading.Lock()

    def value(self) -> T:
        """The last good version; raises only when there has never been one."""
        version = self._stat()
        if version != self._version:
            with self._lock:
                if version != self._version:
                    self._reload(version)
        if not self._good and self._error is not None:
            raise self._error
        return self._value  # type: ignore[return-value]

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = self.path.stat()
        except OSError:
            return None  # gone, perhaps mid-replace: _reload says so
        return stat.st_mtime_ns, stat.st_size

    def _reload(self, version: tuple[int, int] | None) -> None:
        try:
            value = self._parse(json.loads(self.path.read_text()))
        except Exception as exc:  # noqa: BLE001 - whatever is wrong with it, the file is refused
            self._version, self._error = version, exc
            if self._good:  # once per version: it is not read again until it changes
                # The reason only: parse errors name a position or a writer, never file contents.
                reason = f"{type(exc).__name__}: {str(exc)[:300]}"
                log.warning("refused the changed %s (%s); the version read before stays in force", self.path, reason)
            return
        self._value, self._good, self._error, self._version = value, True, None, version
