"""The MP4: H.264 (High, yuv420p, 30 fps) and AAC-LC (48 kHz), the moov atom first. PyAV.

Each distinct picture is converted to YUV and coded by x264 once; the frames that hold it
are written as copies of it (``skipframes``), a few bytes and microseconds each. The output is the same bytes for the same input:
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

from services.video.skipframes import skip_frame, stream_params

FPS = 30
AUDIO_RATE = 48000
AUDIO_BITRATE = 128_000
AAC_FRAME = 1024  # samples per AAC-LC frame
# x264 sees only the distinct pictures, each an IDR frame (keyint=1): a cut is a key frame,
# so seeking lands on a whole picture. Every frame costs x264 about 6 ms of analysis at
# 1080×1920 even when nothing moved, hence the repeats are written as skipped frames
# instead (skipframes.py), which needs CAVLC (cabac=0) and no weighted prediction; the 8×8
# transform makes it High profile (ultrafast alone is Baseline, which the platforms do not
# ask for). A quality target (CRF 18: text on flat colour) capped by VBV at 4 Mb/s, so 60 s
# can never pass 50 MB (30 MB); one thread so that the bytes repeat.
X264_OPTIONS = {
    "preset": "ultrafast",
    "crf": "18",
    "profile": "high",
    "threads": "1",
    "x264-params": "keyint=1:cabac=0:8x8dct=1:weightp=0:vbv-maxrate=4000:vbv-bufsize=8000",
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
    """Each distinct picture through x264 once, as an IDR frame at its first frame; the
    frames that hold it are skipped-macroblock copies (``skipframes``)."""
    starts, at = [], 0
    for shot in shots:
        starts.append(at)
        at += shot.frames
    coded: list[av.Packet] = []
    for shot, start in zip(shots, starts, strict=True):
        frame = av.VideoFrame.from_image(shot.image.convert("RGB")).reformat(format="yuv420p")
        frame.pts = start
        coded.extend(stream.encode(frame))
    coded.extend(stream.encode(None))
    if len(coded) != len(shots):
        raise RuntimeError(f"x264 gave {len(coded)} packets for {len(shots)} pictures")
    params = stream_params(bytes(stream.codec_context.extradata))
    for packet, shot, start in zip(coded, shots, starts, strict=True):
        container.mux(packet)
        for n in range(1, shot.frames):
            copy = av.Packet(skip_frame(params, since_idr=n))
            copy.stream, copy.time_base = stream, Fraction(1, FPS)
            copy.pts = copy.dts = start + n
            copy.duration = 1
            container.mux(copy)


def _write_audio(container, stream, audio: np.ndarray) -> None:
    samples = audio.astype(np.float32)
    for start in range(0, samples.size, AAC_FRAME):
        chunk = samples[start : start + AAC_FRAME]
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="fltp", layout="mono")
        frame.sample_rate, frame.pts = AUDIO_RATE, start
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))
