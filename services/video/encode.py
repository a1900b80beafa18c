"""The MP4: H.264 (High, yuv420p, 30 fps) and AAC-LC (48 kHz), the moov atom first. PyAV.

Each distinct picture is converted to YUV once and the same frame is sent for every frame
it is on screen; x264 codes a repeated frame as skipped blocks in a few bytes. The output is the same bytes for the same input:
``bitexact`` keeps the libraries' version strings and any time out of the container, x264
runs one thread with fixed settings, and the AAC encoder is FFmpeg's own, which is
deterministic.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

FPS = 30
AUDIO_RATE = 48000
AUDIO_BITRATE = 128_000
AAC_FRAME = 1024  # samples per AAC-LC frame
# x264 for pictures that hold still and then cut. Every frame costs x264 its analysis
# (about 6 ms at 1080×1920 even when nothing moved), so the cheapest analysis, ultrafast,
# with CABAC back on (Main profile, which the platforms ask for; ultrafast alone is
# Baseline) and a quality target rather than a bit rate, capped so that 60 s can never pass
# 50 MB (4 Mb/s × 60 s = 30 MB). A key frame every 10 s; one thread so the bytes repeat.
X264_OPTIONS = {
    "preset": "ultrafast",
    "crf": "20",
    "profile": "main",
    "threads": "1",
    "x264-params": "keyint=300:min-keyint=30:cabac=1:vbv-maxrate=4000:vbv-bufsize=8000",
}


@dataclass(frozen=True)
class Shot:
    """A picture and how long it is on screen, in frames."""

    image: Image.Image
    frames: int


def encode_mp4(shots: Sequence[Shot], audio: np.ndarray) -> bytes:
    """The shots in order, with ``audio`` (mono float samples at AUDIO_RATE), as MP4 bytes."""
    # Fast start moves the moov atom in a second pass over the file, so FFmpeg writes a real
    # file (a temporary one), not a buffer.
    with tempfile.TemporaryDirectory(prefix="marquee-video-") as folder:
        path = Path(folder) / "teaser.mp4"
        _write(path, shots, audio)
        return path.read_bytes()


def _write(path: Path, shots: Sequence[Shot], audio: np.ndarray) -> None:
    with av.open(
        str(path),
        mode="w",
        format="mp4",
        options={"movflags": "+faststart", "fflags": "+bitexact"},
    ) as container:
        video = container.add_stream("libx264", rate=FPS, options=X264_OPTIONS)
        video.width, video.height, video.pix_fmt = shots[0].image.width, shots[0].image.height, "yuv420p"
        video.codec_context.flags |= av.codec.context.Flags.bitexact
        video.time_base = Fraction(1, FPS)
        sound = container.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        sound.bit_rate = AUDIO_BITRATE
        sound.codec_context.flags |= av.codec.context.Flags.bitexact
        _write_video(container, video, shots)
        _write_audio(container, sound, audio)


def _write_video(container, stream, shots: Sequence[Shot]) -> None:
    pts = 0
    for shot in shots:
        frame = av.VideoFrame.from_image(shot.image.convert("RGB")).reformat(format="yuv420p")
        for _ in range(shot.frames):
            frame.pts = pts
            pts += 1
            container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


def _write_audio(container, stream, audio: np.ndarray) -> None:
    samples = audio.astype(np.float32)
    for start in range(0, samples.size, AAC_FRAME):
        chunk = samples[start : start + AAC_FRAME]
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
