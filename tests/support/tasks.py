"""Calling a task's own function in-process, for unit and interleaving tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


def raw(task: Any) -> Callable[..., Any]:
    """The function behind a Celery task, without finalising the app (which needs settings).
    (Tasks are reached through their modules: a task object in a test module's namespace
    would be evaluated, and the app finalised, when pytest collects.)"""
    try:
        return object.__getattribute__(task, "_Proxy__args")[0]
    except AttributeError:  # already evaluated
        return task.run
