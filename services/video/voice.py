"""Text to speech behind one small interface, so a better voice can be plugged in by setting.

A ``Voice`` turns a phrase into mono float samples at its own rate. The one shipped is
espeak-ng (Debian's ``espeak-ng`` package): offline, deterministic (the same text gives the
same samples), and quick, about a hundredth of the phrase's length in CPU time. Another
engine is a class with the same ``speak`` and an entry in ``VOICES``; the setting
``MARQUEE_VIDEO_VOICE`` picks it and ``MARQUEE_VIDEO_VOICE_NAME`` its voice.
"""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from shared.errors import TransientError

SPEAK_TIMEOUT = 30.0  # seconds for one phrase; espeak-ng takes a few hundredths


class Voice(Protocol):
    @property
    def rate(self) -> int: ...  # samples a second of what ``speak`` returns

    def speak(self, text: str) -> np.ndarray: ...


@dataclass(frozen=True)
class EspeakVoice:
    """espeak-ng, run once per phrase; its WAV on stdout is 16-bit mono at 22,050 Hz."""

    name: str = "en-gb"
    words_per_minute: int = 165
    rate: int = 22050

    def speak(self, text: str) -> np.ndarray:
        program = shutil.which("espeak-ng")
        if program is None:
            raise TransientError("espeak-ng is not installed (Debian's espeak-ng package; `make run` installs it)")
        # The text goes on stdin, never the command line: a phrase starting with "-" stays text.
        done = subprocess.run(
            [program, "--stdout", "-v", self.name, "-s", str(self.words_per_minute), "-b", "1"],
            input=text.encode(),
            capture_output=True,
            timeout=SPEAK_TIMEOUT,
            check=False,
        )
        if done.returncode != 0:
            raise TransientError(f"espeak-ng failed ({done.returncode}): {done.stderr.decode(errors='replace')[:200]}")
        return wav_samples(done.stdout)


def wav_samples(wav: bytes) -> np.ndarray:
    """The samples of a 16-bit mono WAV as floats in [-1, 1]. Streamed to a pipe, espeak-ng
    cannot go back to fill in the lengths, so the data runs to the end of the bytes."""
    start = wav.find(b"data")
    if not wav.startswith(b"RIFF") or start < 0:
        raise TransientError("the voice answered with something that is not a WAV file")
    data = wav[start + 8 :]
    data = data[: len(data) // 2 * 2]
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


VOICES = {"espeak-ng": EspeakVoice}


def voice_for(engine: str, name: str) -> Voice:
    """The configured voice (``Settings.video_voice`` and ``video_voice_name``)."""
    try:
        return VOICES[engine](name=name)
    except KeyError:
        raise ValueError(f"unknown voice engine {engine!r}; known: {', '.join(sorted(VOICES))}") from None
