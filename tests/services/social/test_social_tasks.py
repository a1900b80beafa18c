"""The two social tasks and the render task's og:image, run against in-memory fakes.

No broker, no Redis, no storage: ``get_runtime`` and ``hand_off`` are replaced, and the
tasks' own functions are called directly (without finalising the Celery app).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest
from social_corpus import CORPUS

import services.render.render as render_module
import services.social.instagram as instagram_module
import services.social.teaser_task as teaser_task
import services.social.youtube as youtube_module
from shared.keys import output_key, review_key
from shared.models import State
from shared.storage import ObjectInfo, sha256_hex

ID = "ab" * 16
BASE = "https://cdn.example.org"


def raw(task):
    """The function behind a Celery task, without finalising the app (which needs settings).
    (Tasks are reached through their modules: a task object in this module's namespace
    would be evaluated, and the app finalised, when pytest collects.)"""
    try:
        return object.__getattribute__(task, "_Proxy__args")[0]
    except AttributeError:  # already evaluated
        return task.run


@dataclass
class FakeStore:
    objects: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> None:
        self.objects[key] = (data, content_type)
        self.order.append(key)

    def get(self, key: str) -> bytes:
        return self.objects[key][0]

    def head(self, key: str) -> ObjectInfo | None:
        if key not in self.objects:
            return None
        data = self.objects[key][0]
        return ObjectInfo(size=len(data), sha256=sha256_hex(data))


@dataclass
class FakeStates:
    parts: set[str] = field(default_factory=set)
    state: State = State.RENDERED

    def mark_social_part(self, id: str, part: str) -> int:
        self.parts.add(part)
        return len(self.parts)

    def advance(self, id: str, state: State, *, stage: str, **_: object) -> State:
        self.state = state
        return state


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch):
    from shared.stage import Runtime

    archive = FakeStore()
    review = CORPUS["harbour-lights-2026"].model_copy(update={"id": ID})
    archive.put(review_key(ID), review.model_dump_json().encode(), content_type="application/json")
    archive.order.clear()
    rt = Runtime(settings=SimpleNamespace(public_base_url=BASE), states=FakeStates(), archive=archive, publish=FakeStore())
    handed: list[tuple[str, str]] = []
    for module in (teaser_task, render_module):
        monkeypatch.setattr(module, "get_runtime", lambda: rt)
    monkeypatch.setattr(teaser_task, "hand_off", lambda task, sid: handed.append((task, sid)))
    monkeypatch.setattr(render_module, "hand_off_many", handed.extend)
    return SimpleNamespace(archive=archive, states=rt.states, handed=handed)


def test_instagram_task_writes_its_files_with_the_marker_last(runtime) -> None:
    raw(instagram_module.instagram)(ID)
    names = [key.removeprefix(output_key(ID, "")) for key in runtime.archive.order]
    assert names == ["instagram/card.jpg", "instagram/caption.txt", "instagram/post.json", "instagram.json"]
    types = {key.rsplit("/", 1)[-1]: ct for key, (_, ct) in runtime.archive.objects.items()}
    assert types["card.jpg"] == "image/jpeg"
    assert types["caption.txt"].startswith("text/plain")
    post = json.loads(runtime.archive.get(output_key(ID, "instagram/post.json")))
    assert post["image"]["url"] == f"{BASE}/reviews/harbour-lights-2026/instagram/card.jpg"
    assert post["article_url"] == f"{BASE}/reviews/harbour-lights-2026/index.html"
    assert runtime.handed == []  # youtube is not done yet


def test_youtube_task_writes_its_files_with_the_marker_last(runtime) -> None:
    raw(youtube_module.youtube)(ID)
    names = [key.removeprefix(output_key(ID, "")) for key in runtime.archive.order]
    assert names == ["youtube/thumbnail.jpg", "youtube/teaser.json", "youtube.json"]
    teaser = json.loads(runtime.archive.get(output_key(ID, "youtube/teaser.json")))
    assert teaser["thumbnail"]["url"] == f"{BASE}/reviews/harbour-lights-2026/youtube/thumbnail.jpg"


def test_second_task_hands_off_to_upload(runtime) -> None:
    raw(instagram_module.instagram)(ID)
    raw(youtube_module.youtube)(ID)
    assert runtime.handed == [("upload", ID)]
    assert runtime.states.state == State.SOCIAL_READY


def test_redelivery_skips_work_already_done(runtime) -> None:
    raw(instagram_module.instagram)(ID)
    written = len(runtime.archive.order)
    raw(instagram_module.instagram)(ID)
    assert len(runtime.archive.order) == written


def test_a_part_without_its_marker_is_made_again(runtime) -> None:
    raw(instagram_module.instagram)(ID)
    del runtime.archive.objects[output_key(ID, "instagram.json")]  # died before the marker
    runtime.archive.order.clear()
    raw(instagram_module.instagram)(ID)
    assert runtime.archive.order[-1] == output_key(ID, "instagram.json")
    assert len(runtime.archive.order) == 4


def test_render_points_og_image_at_the_instagram_card(runtime) -> None:
    raw(render_module.render)(ID)
    html = runtime.archive.get(output_key(ID, "index.html")).decode()
    card = f"{BASE}/reviews/harbour-lights-2026/instagram/card.jpg"
    og = re.search(r'<meta\s+property="og:image"\s+content="([^"]*)"', html)
    assert og and og.group(1) == card
