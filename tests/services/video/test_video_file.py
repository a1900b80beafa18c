"""The teaser video as a platform would inspect it: ffprobe on the MP4, the audio decoded
and measured, the captions parsed and held against the speech, and the same bytes twice.

One teaser of the sample review is made once for the module (a few seconds of CPU)."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import struct
import subprocess
from pathlib import Path

import av
import numpy as np
import pytest

from services.social.samples import review as sample_review
from services.social.youtube import narration
from services.video.loudness import integrated_lufs, true_peak_dbtp
from services.video.teaser import teaser_files
from services.video.voice import EspeakVoice

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None or shutil.which("ffprobe") is None,
    reason="needs espeak-ng and ffprobe (Debian's espeak-ng and ffmpeg; make test installs them)",
)

URLS = {
    name: f"https://example.test/reviews/sample-film-2026/r/1/video/{name}"
    for name in ("video.mp4", "cover.jpg", "captions.vtt", "captions.srt", "youtube-teaser.json", "instagram-post.json")
}


def make(review=None) -> dict[str, bytes]:
    review = review or sample_review()
    return teaser_files(
        review,
        youtube_teaser={"platform": "youtube", "narration": narration(review)},
        instagram_post={"platform": "instagram"},
        voice=EspeakVoice(),
        site="Marquee",
        urls=URLS,
    )


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return make()


@pytest.fixture(scope="module")
def mp4(files, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("teaser") / "video.mp4"
    path.write_bytes(files["video.mp4"])
    return path


def ffprobe(path: Path) -> dict:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-show_streams", "-show_format", "-of", "json", str(path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return json.loads(done.stdout)


def top_level_atoms(data: bytes) -> list[str]:
    atoms, at = [], 0
    while at + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[at : at + 8])
        if size == 1:
            size = struct.unpack(">Q", data[at + 8 : at + 16])[0]
        atoms.append(kind.decode("latin-1"))
        if size < 8:
            break
        at += size
    return atoms


def test_the_mp4_is_what_shorts_and_reels_take(files, mp4):
    probe = ffprobe(mp4)
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    audio = next(s for s in probe["streams"] if s["codec_type"] == "audio")
    assert len(probe["streams"]) == 2
    assert (video["codec_name"], video["pix_fmt"]) == ("h264", "yuv420p")
    assert video["profile"] in ("Main", "High")  # what both platforms ask for (Baseline they do not)
    assert (video["width"], video["height"]) == (1080, 1920)
    assert video["r_frame_rate"] == video["avg_frame_rate"] == "30/1"
    assert (audio["codec_name"], audio["profile"], audio["sample_rate"], audio["channels"]) == ("aac", "LC", "48000", 1)
    duration = float(probe["format"]["duration"])
    assert 15 <= duration <= 60
    assert abs(duration - json.loads(files["video.json"])["duration"]) < 0.1
    assert int(probe["format"]["size"]) <= 50 * 1024 * 1024
    atoms = top_level_atoms(files["video.mp4"])
    assert atoms.index("moov") < atoms.index("mdat"), atoms  # fast start: playable while it downloads
    # nothing in the container says when or by which library version it was made
    assert "creation_time" not in json.dumps(probe)
    assert b"Lavf" not in files["video.mp4"]


def decoded_audio(path: Path) -> tuple[np.ndarray, int]:
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        chunks = [frame.to_ndarray().reshape(-1) for frame in container.decode(stream)]
        return np.concatenate(chunks).astype(np.float64), stream.rate


def test_the_narration_is_heard_at_minus_14_lufs_with_headroom(mp4):
    samples, rate = decoded_audio(mp4)  # measured on what a player decodes, after AAC
    assert rate == 48000
    assert float(np.sqrt(np.mean(samples**2))) > 0.01, "the audio is silent"
    assert abs(integrated_lufs(samples, rate=rate) - (-14.0)) <= 1.0
    assert true_peak_dbtp(samples) <= -1.0


def parse_cues(text: str, *, separator: str) -> list[tuple[float, float, str]]:
    clock = rf"(\d\d):(\d\d):(\d\d){re.escape(separator)}(\d\d\d)"
    cue = re.compile(rf"^\d+\n{clock} --> {clock}\n(.+)$")
    found = []
    for block in text.strip().split("\n\n"):
        match = cue.match(block)
        assert match, f"not a cue: {block!r}"
        g = [int(x) for x in match.groups()[:8]]
        start = g[0] * 3600 + g[1] * 60 + g[2] + g[3] / 1000
        end = g[4] * 3600 + g[5] * 60 + g[6] + g[7] / 1000
        found.append((start, end, match.group(9)))
    return found


def loud_spans(samples: np.ndarray, rate: int) -> np.ndarray:
    """Per 10 ms, whether the narration is sounding."""
    window = rate // 100
    frames = samples[: samples.size // window * window].reshape(-1, window)
    return np.sqrt(np.mean(frames**2, axis=1)) > 0.01


def test_captions_follow_the_speech_in_order(files, mp4):
    vtt = files["captions.vtt"].decode()
    assert vtt.startswith("WEBVTT\n\n")
    cues = parse_cues(vtt.removeprefix("WEBVTT\n\n"), separator=".")
    assert cues == parse_cues(files["captions.srt"].decode(), separator=",")
    # every word of the script, in order
    script = narration(sample_review())["script"]
    assert " ".join(text for _, _, text in cues).split() == script.split()
    # each cue's words are heard within 0.3 s of its times
    loud = loud_spans(*decoded_audio(mp4))
    previous_end = 0.0
    for start, end, text in cues:
        assert previous_end <= start < end
        previous_end = end
        first = start - 0.3
        onset = int(first * 100) + int(np.argmax(loud[int(first * 100) :]))
        assert abs(onset / 100 - start) <= 0.3, f"{text!r} is heard at {onset / 100}, its cue starts at {start}"
        last = int((end + 0.3) * 100)
        offset = int(np.flatnonzero(loud[:last])[-1]) / 100
        assert abs(offset - end) <= 0.3, f"{text!r} ends at {offset}, its cue at {end}"


def test_the_social_files_point_at_the_video_with_size_duration_and_hash(files):
    for name in ("youtube-teaser.json", "instagram-post.json"):
        block = json.loads(files[name])["video"]
        assert block["video"]["sha256"] == hashlib.sha256(files["video.mp4"]).hexdigest()
        assert block["video"]["bytes"] == len(files["video.mp4"])
        assert block["video"]["url"] == URLS["video.mp4"]
        assert 15 <= block["video"]["duration"] <= 60
        assert block["cover"]["sha256"] == hashlib.sha256(files["cover.jpg"]).hexdigest()
        assert [c["key"] for c in block["captions"]] == ["captions.vtt", "captions.srt"]


def test_the_cover_is_a_1080_by_1920_jpeg(files):
    from io import BytesIO

    from PIL import Image

    cover = Image.open(BytesIO(files["cover.jpg"]))
    assert (cover.format, cover.size, cover.mode) == ("JPEG", (1080, 1920), "RGB")


def test_the_same_review_makes_the_same_bytes(files):
    again = make()
    assert again == files


def test_every_frame_decodes_and_each_picture_holds_until_the_next_cue(files, mp4):
    """The held frames are skipped-macroblock copies written without x264: a decoder must
    show each as exactly the picture before it, and every cue must change the picture."""
    cues = parse_cues(files["captions.srt"].decode(), separator=",")
    with av.open(str(mp4)) as container:
        stream = container.streams.video[0]
        lumas = [frame.to_ndarray(format="gray") for frame in container.decode(stream)]
    duration = json.loads(files["video.json"])["duration"]
    assert len(lumas) == round(duration * 30)
    changes = [n for n in range(1, len(lumas)) if not np.array_equal(lumas[n], lumas[n - 1])]
    # a new picture exactly at each cue's first frame after the first cue, and nowhere else
    assert changes == [round(start * 30) for start, _, _ in cues[1:]]
