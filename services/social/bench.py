"""What the social stage costs: CPU time per review of each generator, and JPEG settings.

    python -m services.social.bench            # a few sample reviews, 5 rounds
    python -m services.social.bench --rounds 20

Prints two tables: milliseconds of CPU per review for the card, the thumbnail, the
caption and the YouTube teaser text (layout, drawing and encoding separately for the
images); then, for one card and one thumbnail already drawn, the encoding time and
size of each combination of JPEG quality, optimize, progressive and subsampling.
Figures and the chosen settings are recorded in docs/SOCIAL.md.
"""

from __future__ import annotations

import argparse
import io
import itertools
import statistics
import time
from collections.abc import Callable

from services.social.card import card_layout, draw_card, instagram_card
from services.social.instagram import instagram_caption, instagram_files, instagram_post
from services.social.jpeg import srgb_profile
from services.social.look import LOOK
from services.social.samples import SAMPLES
from services.social.text import _pull_quote
from services.social.thumbnail import draw_thumbnail, thumbnail_layout, youtube_thumbnail
from services.social.youtube import youtube_files, youtube_teaser
from shared.models import Review

URL = "https://example.org/reviews/sample/index.html"


def cpu_ms(fn: Callable[[], object], rounds: int) -> float:
    """Median CPU milliseconds of ``fn`` over ``rounds`` runs (after one warm-up)."""
    fn()
    times = []
    for _ in range(rounds):
        _pull_quote.cache_clear()  # each run does the whole job, reading included
        start = time.process_time()
        fn()
        times.append((time.process_time() - start) * 1000)
    return statistics.median(times)


def generators(rounds: int) -> list[tuple[str, float]]:
    rows: list[tuple[str, list[float]]] = []

    def add(name: str, make: Callable[[Review], Callable[[], object]]) -> None:
        rows.append((name, [cpu_ms(make(review), rounds) for review in SAMPLES]))

    add("card: layout", lambda r: lambda: card_layout(r))
    add("card: draw", lambda r: (lambda lay: lambda: draw_card(lay))(card_layout(r)))
    add("card: whole (layout+draw+encode)", lambda r: lambda: instagram_card(r))
    add("thumbnail: layout", lambda r: lambda: thumbnail_layout(r))
    add("thumbnail: draw", lambda r: (lambda lay: lambda: draw_thumbnail(lay))(thumbnail_layout(r)))
    add("thumbnail: whole (layout+draw+encode)", lambda r: lambda: youtube_thumbnail(r))
    add("caption (caption.txt)", lambda r: lambda: instagram_caption(r))
    add("post.json text (no image checks)", lambda r: lambda: instagram_post(r, article_url=URL))
    add("teaser.json text (no image checks)", lambda r: lambda: youtube_teaser(r, article_url=URL))
    add("instagram part: all 4 files", lambda r: lambda: instagram_files(r, article_url=URL, card_url=URL))
    add("youtube part: all 3 files", lambda r: lambda: youtube_files(r, article_url=URL, thumbnail_url=URL))
    return [(name, statistics.mean(values)) for name, values in rows]


def jpeg_matrix(rounds: int) -> list[tuple[str, str, float, int]]:
    images = {
        "card": draw_card(card_layout(SAMPLES[0])),
        "thumbnail": draw_thumbnail(thumbnail_layout(SAMPLES[0])),
    }
    out = []
    for (name, image), quality, optimize, progressive, subsampling in itertools.product(
        images.items(), (80, 85, 90, 95), (False, True), (False, True), (0, 2)
    ):
        size = 0

        def save() -> None:
            nonlocal size
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=quality, optimize=optimize, progressive=progressive,
                       subsampling=subsampling, icc_profile=srgb_profile())  # fmt: skip
            size = len(buffer.getvalue())

        ms = cpu_ms(save, rounds)
        label = f"q{quality} opt={int(optimize)} prog={int(progressive)} {('4:4:4', '', '4:2:0')[subsampling]}"
        out.append((name, label, ms, size))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-jpeg", action="store_true", help="skip the JPEG settings table")
    args = parser.parse_args()

    print(f"CPU ms per review (mean over {len(SAMPLES)} sample reviews of the median of {args.rounds} runs)")
    print(f"{'generator':42} {'ms':>8}")
    for name, ms in generators(args.rounds):
        print(f"{name:42} {ms:8.1f}")

    if args.no_jpeg:
        return
    j = LOOK.jpeg
    print(
        f"\nJPEG encoding (chosen: q{j.quality} opt={int(j.optimize)} prog={int(j.progressive)} subsampling={j.subsampling})"
    )
    print(f"{'image':10} {'settings':32} {'ms':>7} {'KB':>7}")
    for name, label, ms, size in jpeg_matrix(args.rounds):
        print(f"{name:10} {label:32} {ms:7.1f} {size / 1024:7.1f}")


if __name__ == "__main__":
    main()
