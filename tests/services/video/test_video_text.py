"""Hard input: what is drawn stays inside the safe zone, and what is spoken within 15–60 s.

The pictures are drawn and measured (no encoding); the narration is spoken by espeak-ng."""

from __future__ import annotations

import shutil
from typing import Any

import pytest

from services.social.samples import review as sample_review
from services.social.youtube import narration
from services.video.frames import HEIGHT, SAFE_ZONE, WIDTH, draw_scene
from services.video.narration import MAX_SECONDS, MIN_SECONDS, PARTS, narrate, split_phrases
from services.video.voice import EspeakVoice

HARD: dict[str, dict[str, Any]] = {
    "long title": {"title": "The " + "Very " * 38 + "Long Film"},  # 200 characters
    "one letter": {"title": "M"},
    "long body": {"paragraphs": [" ".join(["A sentence of words that goes on."] * 2900)]},  # 20,300 words
    "accents": {"title": "Ça été déjà l'été à Łódź", "author": "Zoë Ørsted-Núñez"},
    "arabic": {"title": "الطريق إلى المدينة", "author": "ليلى حداد"},
    "hebrew": {"title": "הדרך הביתה", "directors": ["נועה כהן"]},
    "cjk": {"title": "千と千尋の神隠し" * 6, "author": "宮崎駿"},
    "emoji": {"title": "🎬🍿 Popcorn 🎉🎉🎉 " * 5},
}


def inside(box: tuple[int, int, int, int], zone: tuple[int, int, int, int]) -> bool:
    return zone[0] <= box[0] and zone[1] <= box[1] and box[2] <= zone[2] and box[3] <= zone[3]


@pytest.mark.parametrize("case", sorted(HARD))
def test_every_text_and_caption_box_lies_inside_the_safe_zone(case):
    review = sample_review(**HARD[case])
    script = narration(review)
    captions = [phrase.text for part in PARTS for phrase in split_phrases(script["parts"][part], part=part)]
    longest = max(captions, key=len)
    for part in PARTS:
        drawing = draw_scene(review, part=part, caption=longest, site="Marquee")
        assert drawing.image.size == (WIDTH, HEIGHT)
        roles = {role for role, _ in drawing.boxes}
        assert {"header", "caption", "caption_box"} <= roles, roles
        for role, box in drawing.boxes:
            assert inside(box, SAFE_ZONE), f"{case}: {role} at {box} leaves the safe zone {SAFE_ZONE}"


def test_the_safe_zone_keeps_clear_of_the_apps_buttons():
    left, top, right, bottom = SAFE_ZONE
    assert top >= 0.14 * HEIGHT and bottom <= 0.65 * HEIGHT  # profile row above, caption and buttons below
    assert right <= 0.88 * WIDTH and left >= 0.06 * WIDTH  # like/comment/share column on the right


def test_a_phrase_is_never_longer_than_two_caption_lines():
    for text in ("word " * 40, "千" * 300, "a" * 500):
        phrases = split_phrases(text, part="premise")
        assert all(len(p.text) <= 64 and len(p.text.split()) <= 9 for p in phrases)
        assert "".join(p.text for p in phrases).replace(" ", "") == text.replace(" ", "")


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (make test installs it)")
@pytest.mark.parametrize("case", ["one letter", "long body", "cjk", "arabic"])
def test_the_narration_lasts_15_to_60_seconds(case):
    spoken = narrate(narration(sample_review(**HARD[case]))["parts"], EspeakVoice())
    assert MIN_SECONDS <= spoken.duration <= MAX_SECONDS
    assert spoken.cues and spoken.cues[-1].end <= spoken.duration


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="needs espeak-ng (make test installs it)")
def test_a_script_too_long_for_60_seconds_loses_its_middle_not_its_title_or_verdict():
    parts = {
        "hook": "Sample Film. A sample film about a sample town.",
        "premise": " ".join(f"Sentence number {n} of a premise that goes on and on." for n in range(40)),
        "verdict": "Jo Reviewer gives it four stars out of five: excellent.",
        "call_to_action": "Read the full review on Marquee.",
    }
    spoken = narrate(parts, EspeakVoice())
    assert spoken.duration <= MAX_SECONDS and spoken.dropped > 0
    said = " ".join(cue.text for cue in spoken.cues)
    assert said.startswith("Sample Film.")
    assert said.endswith("four stars out of five: excellent. Read the full review on Marquee.")
    assert [cue.start for cue in spoken.cues] == sorted(cue.start for cue in spoken.cues)
