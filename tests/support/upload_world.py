"""The upload queue's tasks run in-process against a real redis-server and real local stores.

As tests/services/upload/test_slug_lease.py does it, with the rollback task and retention's
settings too: submissions are made as if validate, render and social had run (their
outputs archived), then upload, retract and rollback run as the worker runs them, each in
a thread with the runtime the test gives it. Hand-offs are recorded, not sent; webhook
fan-out is off (the event stream is written by Redis itself).
"""

from __future__ import annotations

import json
import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import redis

from services.upload import retract as retract_module
from services.upload import rollback as rollback_module
from services.upload import upload as upload_module
from services.validate.rules import build_review
from shared.keys import MANIFEST, output_key, published_key, review_key
from shared.models import Manifest, State
from shared.parsing import parse_submission
from shared.pipeline import Runtime
from shared.state import SubmissionStates, now_iso
from shared.storage import LocalStore
from tests.conftest import fixture_bytes
from tests.support.tasks import raw

SLUG = "glasshouse-2025"
HELD_SECONDS = 10  # the longest a held task waits for the test: a bound, not a pause


class HeldDoor(SubmissionStates):
    """States whose slug lease is handed out only once ``release`` is set."""

    def __init__(self, client: redis.Redis):
        super().__init__(client)
        self.at_door = threading.Event()
        self.release = threading.Event()

    def slug_lock(self, slug: str, *, seconds: float, wait: float):
        if not self.release.is_set():
            self.at_door.set()
            assert self.release.wait(HELD_SECONDS), "the test never opened the door"
        return super().slug_lock(slug, seconds=seconds, wait=wait)


class HeldPut(LocalStore):
    """Holds the first put of ``hold_key`` (made by whoever gets there first) until ``release``."""

    def __init__(self, root: Path):
        super().__init__(root, str(root))
        self.hold_key: str | None = None
        self.holding = threading.Event()
        self.release = threading.Event()

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> None:
        if key == self.hold_key and not self.holding.is_set():
            self.holding.set()
            assert self.release.wait(HELD_SECONDS), "the test never let the held put go"
        super().put(key, data, content_type=content_type, cache_control=cache_control)


class World:
    def __init__(self, client: redis.Redis, root: Path, monkeypatch, *, keep: int = 5, min_age: float = 24 * 3600):
        self.client = client
        self.root = root / "publish"
        self.settings = SimpleNamespace(
            public_base_url="https://reviews.example",
            task_time_limit=120,
            task_soft_time_limit=100,
            retention_keep=keep,
            retention_min_age=min_age,
        )
        self.archive = LocalStore(root / "archive", str(root / "archive"))
        self.publish = LocalStore(self.root, str(self.root))
        self.handed: list[tuple[str, str]] = []
        self.errors: list[BaseException] = []
        self.current = threading.local()
        for module in (upload_module, retract_module, rollback_module):
            monkeypatch.setattr(module, "get_runtime", lambda: getattr(self.current, "rt", None) or self.runtime())
        monkeypatch.setattr(upload_module, "hand_off", lambda task, sid: self.handed.append((task, sid)))
        monkeypatch.setattr(Runtime, "announce", lambda self, event: [])

    def runtime(self, states: SubmissionStates | None = None) -> Runtime:
        return Runtime(
            settings=self.settings,  # type: ignore[arg-type]  # the few settings the tasks read
            states=states or SubmissionStates(self.client),
            archive=self.archive,
            publish=self.publish,
        )

    def submission(self, revision: int, *, note: str, slug: str = SLUG) -> str:
        """A review that has been through validate, render and social: its outputs archived."""
        id = uuid.uuid4().hex
        sub = parse_submission(fixture_bytes("glasshouse.json"), content_type="application/json")
        review = build_review(
            sub, id=id, writer="alice", slug=slug, revision=revision, date_published=datetime.now(UTC)
        ).model_copy(update={"note": note})
        self.archive.put(review_key(id), review.model_dump_json().encode(), content_type="application/json")
        self.archive.put(
            output_key(id, "review.json"), json.dumps({"note": note}).encode(), content_type="application/json"
        )
        self.archive.put(output_key(id, "index.html"), f"<p>{note}</p>".encode(), content_type="text/html")
        states = SubmissionStates(self.client)
        states.create(id, writer="alice", webhook_id=f"msg_{id}", received_at=now_iso())
        for state, stage in ((State.VALIDATED, "validate"), (State.RENDERED, "render"), (State.SOCIAL_READY, "social")):
            states.advance(id, state, stage=stage, slug=slug)
        return id

    def start(self, task, *args, states: SubmissionStates | None = None) -> threading.Thread:
        def target() -> None:
            self.current.rt = self.runtime(states)
            try:
                raw(task)(*args)
            except BaseException as exc:  # a thread's exception is otherwise only printed
                self.errors.append(exc)
                raise

        thread = threading.Thread(target=target, daemon=True)
        thread.start()
        return thread

    def run(self, task, *args, states: SubmissionStates | None = None) -> None:
        finish(self.start(task, *args, states=states))
        assert not self.errors, self.errors

    def publish_revisions(self, count: int) -> list[str]:
        """Revisions 1..count, each uploaded in turn (the last is live)."""
        ids = []
        for n in range(1, count + 1):
            ids.append(self.submission(n, note=f"take {n}"))
            self.run(upload_module.upload, ids[-1])
        return ids

    def live(self, slug: str = SLUG) -> Manifest:
        """The live manifest (the test expects one)."""
        return Manifest.model_validate_json((self.root / published_key(slug, MANIFEST)).read_bytes())


def finish(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(HELD_SECONDS + 5)
        assert not thread.is_alive()
