"""The teaser's files, from the review and the YouTube narration script the social stage wrote. Pure
but for the voice.

``teaser_files`` returns, by name: ``video.mp4``, ``cover.jpg``, ``captions.vtt``,
``captions.srt``, ``youtube-teaser.json`` and ``instagram-post.json`` (the social stage's
``youtube/teaser.json`` and ``instagram/post.json`` with a ``video`` block that names the
video, the captions and the cover with their size, duration and SHA-256), and ``video.json``,
the marker, describing the whole: written last.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from typing import Any

from PIL import Image

from services.video.captions import srt, webvtt
from services.video.encode import FPS, Shot, encode_mp4
from services.video.frames import HEIGHT, SAFE_ZONE, WIDTH, draw_scene
from services.video.loudness import integrated_lufs, normalise, true_peak_dbtp
from services.video.narration import RATE, Narration, narrate
from services.video.voice import Voice
from shared.models import Review

MAX_BYTES = 50 * 1024 * 1024
COVER_QUALITY = 88


def shots_for(review: Review, narration: Narration, *, site: str) -> list[Shot]:
    """One picture per cue, on screen from its cue's start to the next one's (the first from 0)."""
    shots, at = [], 0
    for n, cue in enumerate(narration.cues):
        end = narration.cues[n + 1].start if n + 1 < len(narration.cues) else narration.duration
        frames = round(end * FPS) - at
        if frames > 0:
            shots.append(Shot(draw_scene(review, part=cue.part, caption=cue.text, site=site).image, frames))
            at += frames
    if not shots:  # nothing could be spoken: the title, silent, for the minimum length
        shots.append(
            Shot(draw_scene(review, part="hook", caption=None, site=site).image, round(narration.duration * FPS))
        )
    return shots


def cover_jpeg(review: Review, *, site: str) -> bytes:
    image: Image.Image = draw_scene(review, part="hook", caption=None, site=site).image
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=COVER_QUALITY, optimize=True)
    return out.getvalue()


def describe(name: str, data: bytes, url: str, **more: Any) -> dict[str, Any]:
    return {"key": name, "url": url, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest(), **more}


def teaser_files(
    review: Review,
    *,
    youtube_teaser: Mapping[str, Any],
    instagram_post: Mapping[str, Any],
    voice: Voice,
    site: str,
    urls: Mapping[str, str],
) -> dict[str, bytes]:
    """Every file of the teaser; ``urls`` are where each will be published, by name."""
    narration = narrate(youtube_teaser["narration"]["parts"], voice)
    audio = normalise(narration.samples, rate=RATE)
    video = encode_mp4(shots_for(review, narration, site=site), audio)
    if len(video) > MAX_BYTES:
        raise ValueError(
            f"the teaser came out at {len(video)} bytes, over {MAX_BYTES}"
        )  # the bit-rate cap rules it out
    files = {
        "video.mp4": video,
        "cover.jpg": cover_jpeg(review, site=site),
        "captions.vtt": webvtt(narration.cues),
        "captions.srt": srt(narration.cues),
    }
    duration = round(narration.duration, 3)
    block = {
        "video": describe(
            "video.mp4",
            video,
            urls["video.mp4"],
            duration=duration,
            content_type="video/mp4",
            width=WIDTH,
            height=HEIGHT,
            fps=FPS,
        ),
        "cover": describe(
            "cover.jpg", files["cover.jpg"], urls["cover.jpg"], content_type="image/jpeg", width=WIDTH, height=HEIGHT
        ),
        "captions": [
            describe(
                "captions.vtt",
                files["captions.vtt"],
                urls["captions.vtt"],
                duration=duration,
                content_type="text/vtt",
                language="en",
            ),
            describe(
                "captions.srt",
                files["captions.srt"],
                urls["captions.srt"],
                duration=duration,
                content_type="application/x-subrip",
                language="en",
            ),
        ],
    }
    files["youtube-teaser.json"] = _json({**youtube_teaser, "video": block})
    files["instagram-post.json"] = _json({**instagram_post, "video": block})
    files["video.json"] = _json(
        {
            "duration": duration,
            "cues": len(narration.cues),
            "phrases_dropped": narration.dropped,
            "loudness_lufs": round(integrated_lufs(audio, rate=RATE), 2),
            "true_peak_dbtp": round(true_peak_dbtp(audio), 2),
            "safe_zone": list(SAFE_ZONE),
        }
    )
    return files


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False).encode()
