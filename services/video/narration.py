"""The spoken narration: the script cut into phrases, each spoken on its own, laid end to end.

Speaking phrase by phrase makes the captions exact: a phrase's cue starts where its samples
start and ends where they end (its silences trimmed), measured, never estimated from a
words-a-second rate. The whole stays within the platforms' limits: a narration longer than
``MAX_SECONDS`` loses whole phrases, the middle of the script first (the premise, then the
rest of the hook), so the title, the verdict and the call to action are always heard; one
shorter than ``MIN_SECONDS`` is followed by silence over the last picture. Pure but for the
voice it is given.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import av
import numpy as np

from services.video.voice import Voice

RATE = 48000  # AAC-LC at 48 kHz: Instagram Reels' highest, and YouTube's recommendation
MIN_SECONDS = 15.0  # Instagram Reels play 3 s to 15 min; a teaser under 15 s says too little
MAX_SECONDS = 59.0  # a second under 60 s, the Reels and Shorts teaser cap this stage keeps
LEAD_IN = 0.4  # silence before the first phrase: the title is on screen before it is read
GAP = 0.3  # silence between phrases
TAIL = 0.8  # silence after the last phrase before the video ends
PHRASE_WORDS = 9  # at most this many words in a phrase (two caption lines)
PHRASE_CHARS = 64  # and at most this many characters: scripts without spaces (CJK) too
SILENCE = 0.01  # below this amplitude a phrase's first and last samples are trimmed as silence

# Parts of the script, in the order they are given up when the narration is too long.
PARTS = ("hook", "premise", "verdict", "call_to_action")
DROP_ORDER = ("premise", "hook", "call_to_action")


@dataclass(frozen=True)
class Phrase:
    text: str
    part: str  # which part of the script it comes from


@dataclass(frozen=True)
class Cue:
    start: float  # seconds
    end: float
    text: str
    part: str


@dataclass(frozen=True)
class Narration:
    samples: np.ndarray  # mono float32 at RATE
    cues: tuple[Cue, ...]
    duration: float  # seconds, the video's length too
    dropped: int  # phrases left out to keep within MAX_SECONDS


def split_phrases(text: str, *, part: str) -> list[Phrase]:
    """Sentences, then clauses, then runs of at most PHRASE_WORDS words and PHRASE_CHARS characters."""
    phrases: list[Phrase] = []
    for sentence in re.split(r"(?<=[.!?…。！？])\s+", " ".join(text.split())):
        for clause in re.split(r"(?<=[,;:，；：])\s+", sentence):
            phrases.extend(Phrase(piece, part) for piece in _runs(clause))
    return [p for p in phrases if p.text.strip()]


def _runs(clause: str) -> list[str]:
    words = clause.split()
    count = max(-(-len(words) // PHRASE_WORDS), -(-len(clause) // PHRASE_CHARS), 1)
    size = -(-len(words) // count)
    even = [" ".join(words[i : i + size]) for i in range(0, len(words), size)]
    if all(len(run) <= PHRASE_CHARS for run in even):
        return even  # runs of about the same length read better than a long one and a stub
    runs: list[str] = []
    current: list[str] = []
    for word in words:
        while len(word) > PHRASE_CHARS:  # a run of text without spaces: cut by characters
            if current:
                runs.append(" ".join(current))
                current = []
            runs.append(word[:PHRASE_CHARS])
            word = word[PHRASE_CHARS:]
        if current and (len(current) >= PHRASE_WORDS or len(" ".join([*current, word])) > PHRASE_CHARS):
            runs.append(" ".join(current))
            current = []
        current.append(word)
    if current:
        runs.append(" ".join(current))
    return runs


def script_phrases(parts: Mapping[str, str]) -> list[Phrase]:
    """The narration script's parts (``teaser.json``'s ``narration.parts``) as phrases, in order."""
    phrases = []
    for part in PARTS:
        phrases.extend(split_phrases(parts.get(part) or "", part=part))
    return phrases


def trim_silence(samples: np.ndarray, *, rate: int) -> np.ndarray:
    """Without the silence before the first sound and after the last (20 ms kept each side)."""
    loud = np.flatnonzero(np.abs(samples) > SILENCE)
    if loud.size == 0:
        return samples[:0]
    keep = int(0.02 * rate)
    return samples[max(0, loud[0] - keep) : loud[-1] + keep + 1]


def resample(samples: np.ndarray, *, rate: int) -> np.ndarray:
    """Mono float samples from ``rate`` to RATE, with FFmpeg's resampler (deterministic)."""
    if rate == RATE or samples.size == 0:
        return samples.astype(np.float32)
    frame = av.AudioFrame.from_ndarray(samples.astype(np.float32).reshape(1, -1), format="fltp", layout="mono")
    frame.sample_rate = rate
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=RATE)
    out = [f.to_ndarray()[0] for f in [*resampler.resample(frame), *resampler.resample(None)]]
    return np.concatenate(out).astype(np.float32) if out else samples[:0].astype(np.float32)


def fit_phrases(spoken: list[tuple[Phrase, np.ndarray]], *, max_seconds: float = MAX_SECONDS) -> list[int]:
    """The indices of the phrases to keep so that the narration lasts at most ``max_seconds``:
    phrases go from the end of the parts in DROP_ORDER; the first phrase (the title) stays."""
    keep = list(range(len(spoken)))

    def length() -> float:
        return LEAD_IN + TAIL + sum(spoken[i][1].size / RATE for i in keep) + GAP * max(0, len(keep) - 1)

    for part in DROP_ORDER:
        for i in reversed([i for i in keep if spoken[i][0].part == part and i != 0]):
            if length() <= max_seconds:
                return keep
            keep.remove(i)
    while length() > max_seconds and len(keep) > 1:
        keep.pop()  # only a script of one very long part gets here
    return keep


def narrate(parts: Mapping[str, str], voice: Voice) -> Narration:
    """Speak the script, phrase by phrase, and lay it out with each phrase's cue."""
    spoken = []
    for phrase in script_phrases(parts):
        samples = resample(trim_silence(voice.speak(phrase.text), rate=voice.rate), rate=voice.rate)
        if samples.size:
            spoken.append((phrase, samples))
    kept = fit_phrases(spoken)
    pieces, cues, at = [np.zeros(int(LEAD_IN * RATE), np.float32)], [], LEAD_IN
    for n, i in enumerate(kept):
        phrase, samples = spoken[i]
        if n:
            pieces.append(np.zeros(int(GAP * RATE), np.float32))
            at += int(GAP * RATE) / RATE
        cues.append(Cue(start=round(at, 3), end=round(at + samples.size / RATE, 3), text=phrase.text, part=phrase.part))
        pieces.append(samples)
        at += samples.size / RATE
    total = max(MIN_SECONDS, at + TAIL)
    body = np.concatenate(pieces)
    padded = np.zeros(round(total * RATE), np.float32)
    padded[: body.size] = body[: padded.size]
    return Narration(samples=padded, cues=tuple(cues), duration=padded.size / RATE, dropped=len(spoken) - len(kept))
