"""The words both teasers share: lengths as the platforms count them, cutting to a limit,
and the pieces (headline, credits, facts) each caption and description is built from. Pure.

Lengths are counted in UTF-16 code units (``platform_len``), as the platforms' apps count
them; that is never less than the number of characters, so it errs on the safe side.
"""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image, ImageCms

from services.social.text import (
    rating_text,
    verdict,
)
from shared.models import Review
from shared.site.formatting import format_runtime, stars_glyphs


def platform_len(text: str) -> int:
    """Length as the platforms count it: UTF-16 code units (an emoji counts two)."""
    return len(text.encode("utf-16-le")) // 2


def shorten(text: str, limit: int) -> str:
    """Cut at a word boundary with an ellipsis; text within the limit is unchanged."""
    if platform_len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    cut = text
    while platform_len(cut) > limit - 1:
        cut = cut[: max(0, len(cut) - max(1, (platform_len(cut) - limit + 1) // 2))]
    if " " in cut[len(cut) // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:—–-") + "…"


def truncate_utf8(text: str, limit: int) -> str:
    """At most ``limit`` UTF-8 bytes, cut at a word (if one ends in the last half) with an ellipsis."""
    data = text.encode()
    if len(data) <= limit:
        return text
    cut = data[: max(0, limit - len("…".encode()))].decode(errors="ignore")
    if " " in cut[len(cut) // 2 :]:
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:—–-") + "…"


def strip_angle_brackets(text: str) -> str:
    # YouTube refuses < and > in titles, descriptions and tags.
    return text.replace("<", "‹").replace(">", "›")


def one_line(text: str) -> str:
    return " ".join(text.split())


def names_list(names: list[str], limit: int) -> str:
    """``A, B and C``, shortened to ``limit`` characters if a list runs long."""
    names = [one_line(n) for n in names if n.strip()]
    text = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1] if names else ""
    return shorten(text, limit)


def headline(review: Review, *, limit: int) -> str:
    """``Her (2013) — ★★★★½ 4.5/5. Outstanding.``, title shortened so that all of it fits."""
    year = f" ({review.year})" if review.year else ""
    rest = (
        f"{year} — {stars_glyphs(review.rating)} {rating_text(review.rating)}. {verdict(review.rating).capitalize()}."
    )
    return shorten(one_line(review.title), limit - platform_len(rest)) + rest


def credits(review: Review, *, cast: int = 5, limit: int = 400) -> str:
    line = f"Directed by {names_list(review.directors, limit // 2)}."
    if review.cast:
        more = " and others" if len(review.cast) > cast else ""
        line += f" Starring {names_list(review.cast[:cast], limit // 2)}{more}."
    return line


def facts(review: Review) -> str:
    return f"Certificate {review.certificate} · {format_runtime(review.runtime_minutes)}"


def image_checks(data: bytes, *, size: tuple[int, int], max_bytes: int) -> dict[str, bool]:
    """What the platform checks of an image, read back from the encoded bytes."""
    with Image.open(io.BytesIO(data)) as image:
        icc = image.info.get("icc_profile")
        srgb = True
        if icc:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            srgb = "srgb" in ImageCms.getProfileDescription(profile).lower()
        return {
            "image_format": image.format == "JPEG",
            "image_mode": image.mode == "RGB",
            "image_size": image.size == size,
            "image_bytes": len(data) <= max_bytes,
            "image_srgb": srgb,
        }


def json_bytes(data: dict[str, Any]) -> bytes:
    return json.dumps(data, ensure_ascii=False, indent=2).encode()
