"""The narration's cues as WebVTT and SRT sidecar files. Pure."""

from __future__ import annotations

from collections.abc import Sequence

from services.video.narration import Cue


def _clock(seconds: float, *, separator: str) -> str:
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{separator}{millis:03d}"


def _text(cue: Cue) -> str:
    # A blank line ends a cue in both formats, and "-->" would read as timing in WebVTT.
    return " ".join(cue.text.split()).replace("-->", "→")


def webvtt(cues: Sequence[Cue]) -> bytes:
    blocks = ["WEBVTT"]
    for n, cue in enumerate(cues, 1):
        blocks.append(
            f"{n}\n{_clock(cue.start, separator='.')} --> {_clock(cue.end, separator='.')}\n{_escape_vtt(_text(cue))}"
        )
    return ("\n\n".join(blocks) + "\n").encode()


def _escape_vtt(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def srt(cues: Sequence[Cue]) -> bytes:
    blocks = [
        f"{n}\n{_clock(cue.start, separator=',')} --> {_clock(cue.end, separator=',')}\n{_text(cue)}"
        for n, cue in enumerate(cues, 1)
    ]
    return ("\n\n".join(blocks) + "\n").encode()
