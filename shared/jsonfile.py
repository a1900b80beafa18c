"""A JSON configuration file, parsed once and again whenever it changes on disk.

Writers and subscribers live in such files, so a secret can be rotated or a
subscriber added without restarting anything.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


class WatchedJSON(Generic[T]):
    def __init__(self, path: Path, parse: Callable[[dict], T]):
        self.path = Path(path)
        self._parse = parse
        self._value: T | None = None
        self._mtime = -1.0
        self._lock = threading.Lock()

    def value(self) -> T:
        mtime = self.path.stat().st_mtime
        if mtime != self._mtime:
            with self._lock:
                self._value = self._parse(json.loads(self.path.read_text()))
                self._mtime = mtime
        return self._value  # type: ignore[return-value]
