"""The social task and the render task's hand-off and og:image, run against in-memory fakes.

No broker, no Redis, no storage: ``get_runtime`` and ``hand_off`` are replaced, and the
tasks' own functions are called directly (without finalising the Celery app).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any, cast

import pytest
from social_corpus import CORPUS

import services.render.render as render_module
import services.social.social as social_module
from shared.keys import output_key, review_key
from shared.models import State
from shared.storage import ObjectInfo, sha256_hex
from tests.support.tasks import raw

ID = "ab" * 16
BASE = "https://cdn.example.org"


@dataclass
class FakeStore:
    objects: dict[str, tuple[bytes, str]] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)

    heads: list[str] = field(default_factory=list)
    loads: int = 0

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> None:
        self.objects[key] = (data, content_type)
        self.order.append(key)

    def get(self, key: str) -> bytes:
        self.loads += 1
        return self.objects[key][0]

    def head(self, key: str) -> ObjectInfo | None:
        self.heads.append(key)
        if key not in self.objects:
            return None
        data = self.objects[key][0]
        return ObjectInfo(size=len(data), sha256=sha256_hex(data))


@dataclass
class FakeStates:
    state: State = State.RENDERED
    moves: list[tuple[State, str]] = field(default_factory=list)

    def advance(self, id: str, state: State, *, stage: str, **_: object) -> State:
        self.state = state
        self.moves.append((state, stage))
        return state


@pytest.fixture
def runtime(monkeypatch: pytest.MonkeyPatch):
    from shared.pipeline import Runtime

    archive = FakeStore()
    review = CORPUS["harbour-lights-2026"].model_copy(update={"id": ID})
    archive.put(review_key(ID), review.model_dump_json().encode(), content_type="application/json")
    archive.order.clear()
    rt = Runtime(  # the stage reads only these parts of its runtime
        settings=cast(Any, SimpleNamespace(public_base_url=BASE)),
        states=cast(Any, FakeStates()),
        archive=cast(Any, archive),
        publish=cast(Any, FakeStore()),
    )
    handed: list[tuple[str, str]] = []
    for module in (social_module, render_module):
        monkeypatch.setattr(module, "get_runtime", lambda: rt)
        monkeypatch.setattr(module, "hand_off", lambda task, sid: handed.append((task, sid)))
    return SimpleNamespace(archive=archive, states=rt.states, handed=handed)


INSTAGRAM = ["instagram/card.jpg", "instagram/caption.txt", "instagram/post.json", "instagram.json"]
YOUTUBE = ["youtube/thumbnail.jpg", "youtube/teaser.json", "youtube.json"]


def written(runtime) -> list[str]:
    return [key.removeprefix(output_key(ID, "")) for key in runtime.archive.order]


def test_social_writes_each_part_with_its_marker_last(runtime) -> None:
    raw(social_module.social)(ID)
    assert written(runtime) == INSTAGRAM + YOUTUBE
    types = {key.rsplit("/", 1)[-1]: ct for key, (_, ct) in runtime.archive.objects.items()}
    assert types["card.jpg"] == types["thumbnail.jpg"] == "image/jpeg"
    assert types["caption.txt"].startswith("text/plain")
    assert types["instagram.json"] == types["teaser.json"] == "application/json"
    post = json.loads(runtime.archive.get(output_key(ID, "instagram/post.json")))
    assert post["image"]["url"] == f"{BASE}/reviews/harbour-lights-2026/instagram/card.jpg"
    assert post["article_url"] == f"{BASE}/reviews/harbour-lights-2026/index.html"
    teaser = json.loads(runtime.archive.get(output_key(ID, "youtube/teaser.json")))
    assert teaser["thumbnail"]["url"] == f"{BASE}/reviews/harbour-lights-2026/youtube/thumbnail.jpg"


def test_social_reads_the_review_once_advances_and_hands_off_once(runtime) -> None:
    raw(social_module.social)(ID)
    assert runtime.archive.loads == 1
    assert runtime.states.moves == [(State.SOCIAL_READY, "social")]
    assert runtime.handed == [("upload", ID)]


def test_a_redelivery_with_both_markers_only_advances_and_hands_off(runtime) -> None:
    raw(social_module.social)(ID)
    runtime.archive.order.clear()
    runtime.archive.heads.clear()
    runtime.archive.loads = 0
    runtime.states.state = State.RENDERED
    runtime.handed.clear()
    raw(social_module.social)(ID)
    assert runtime.archive.order == []
    assert runtime.archive.loads == 0  # the markers' HEADs were enough
    assert runtime.archive.heads == [output_key(ID, "instagram.json"), output_key(ID, "youtube.json")]
    assert runtime.states.state == State.SOCIAL_READY
    assert runtime.handed == [("upload", ID)]


def test_a_redelivery_after_instagram_makes_only_youtube(runtime) -> None:
    raw(social_module.social)(ID)
    for name in YOUTUBE:  # died after instagram's marker, before youtube's
        del runtime.archive.objects[output_key(ID, name)]
    runtime.archive.order.clear()
    raw(social_module.social)(ID)
    assert written(runtime) == YOUTUBE


def test_a_part_without_its_marker_is_made_again(runtime) -> None:
    raw(social_module.social)(ID)
    del runtime.archive.objects[output_key(ID, "instagram.json")]  # died before the marker
    runtime.archive.order.clear()
    raw(social_module.social)(ID)
    assert written(runtime) == INSTAGRAM


def test_a_social_task_past_social_ready_does_not_hand_off_again(runtime, monkeypatch) -> None:
    monkeypatch.setattr(runtime.states, "advance", lambda *a, **k: State.UPLOADED)  # upload already took it
    raw(social_module.social)(ID)
    assert runtime.handed == []


def test_render_hands_off_one_social_task(runtime) -> None:
    runtime.states.state = State.VALIDATED
    raw(render_module.render)(ID)
    assert runtime.handed == [("social", ID)]
    assert runtime.states.moves == [(State.RENDERED, "render")]


def test_render_points_og_image_at_the_instagram_card(runtime) -> None:
    raw(render_module.render)(ID)
    html = runtime.archive.get(output_key(ID, "index.html")).decode()
    card = f"{BASE}/reviews/harbour-lights-2026/instagram/card.jpg"
    og = re.search(r'<meta\s+property="og:image"\s+content="([^"]*)"', html)
    assert og and og.group(1) == card
