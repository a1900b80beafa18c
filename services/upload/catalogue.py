"""The catalogue: the site's index pages and feeds, built from small per-review entries. Pure.

What it makes, at the root of the publish store::

    index.html            the newest reviews: the newest page's and the page before's
    pages/<n>.html        every review, PAGE_SIZE to a page, numbered from the oldest:
                          page 1 holds the 1st to 20th reviews ever published, page 2 the
                          21st to 40th… so a page, once full, never changes again
    feeds/reviews.json    JSON Feed 1.1: the latest FEED_SIZE reviews, newest first
    feeds/reviews.atom    Atom (RFC 4287): the same items

Each review has a ``seq``, its place in the order of first publication (1, 2, 3…),
fixed when it is first published. A publication therefore changes a bounded set of
objects, whatever the size of the catalogue: the page holding its ``seq`` (and, when
it opens a new page, the page before, whose "newer" link now leads there), the index
and the two feeds. ``objects_for`` builds exactly those from the entries it is given.

A feed item's id is a tag URI (RFC 4151) made from the slug and the day the review was
first published (``shared.catalogue.review_item_id``), so it never changes when the review
is revised, nor when Redis is rebuilt from the publish store.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from feedgen.feed import FeedGenerator
from markupsafe import escape

import shared.catalogue as catalogue_state
from shared.catalogue import SHARE_IMAGE as SHARE_IMAGE  # re-exported: they were defined here first
from shared.catalogue import item_id as item_id
from shared.catalogue import review_item_id
from shared.catalogue import tag_prefix as tag_prefix
from shared.keys import MANIFEST, public_url, published_key
from shared.models import Review
from shared.site.formatting import format_date, html_datetime, star_kinds, stars_glyphs, stars_text
from shared.site.look import ATOM_FEED_KEY, BEST_RATING, INDEX_KEY, JSON_FEED_KEY, LANGUAGE, SITE_NAME, WORST_RATING
from shared.site.templates import page_context, templates

PAGE_SIZE = 20
FEED_SIZE = 50

FEED_TITLE = f"{SITE_NAME}: latest film reviews"
FEED_DESCRIPTION = f"The latest {FEED_SIZE} film reviews published on {SITE_NAME}."
JSON_FEED_VERSION = "https://jsonfeed.org/version/1.1"
JSON_FEED_CONTENT_TYPE = "application/feed+json"
ATOM_CONTENT_TYPE = "application/atom+xml; charset=utf-8"
HTML_CONTENT_TYPE = "text/html; charset=utf-8"
# Readers poll the index and feeds, so caches may keep them a minute; a full page never
# changes again, and the newest is rewritten with each publication.
LISTING_CACHE_CONTROL = "public, max-age=60"


def page_key(number: int) -> str:
    if number < 1:
        raise ValueError(f"no page {number}")
    return f"pages/{number}.html"


def page_of(seq: int) -> int:
    return (seq - 1) // PAGE_SIZE + 1


def page_bounds(number: int) -> tuple[int, int]:
    """The first and last ``seq`` page ``number`` can hold."""
    return (number - 1) * PAGE_SIZE + 1, number * PAGE_SIZE


def newest_page(count: int) -> int:
    return max(1, math.ceil(count / PAGE_SIZE))


def pages_touched(seq: int) -> list[int]:
    """The pages a publication at ``seq`` changes: its own, and the one before if it opens a page."""
    page = page_of(seq)
    return [page, page - 1] if page > 1 and seq == page_bounds(page)[0] else [page]


def index_bounds(count: int) -> tuple[int, int]:
    """The ``seq`` range index.html shows: the newest page and the one before it."""
    first_page = max(1, newest_page(count) - 1)
    return page_bounds(first_page)[0], count


def feed_bounds(count: int) -> tuple[int, int]:
    return max(1, count - FEED_SIZE + 1), count


# The newest entries a publication reads: enough for the feeds and for the index, which
# shows at most two pages. A constant, so reading them costs the same at any catalogue size.
RECENT = max(FEED_SIZE, 2 * PAGE_SIZE)


@dataclass(frozen=True)
class Entry:
    """What the index and the feeds show of one review: its latest revision, and when it first appeared."""

    slug: str
    seq: int
    revision: int
    title: str
    year: int | None
    rating: float
    certificate: str
    author: str
    summary: str
    updated: datetime  # this revision's publication (its date_modified)
    published: datetime  # the first revision's publication (date_published)
    image: str | None  # key of the share image in the publish store, if there is one

    @property
    def article_key(self) -> str:
        return published_key(self.slug, "index.html")

    @property
    def stars_label(self) -> str:
        return stars_text(self.rating)

    @property
    def display_title(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title


def entry_fields(review: Review, *, image_key: str | None) -> dict[str, Any]:
    """The part of an entry that comes with each revision (``seq`` and ``published`` come once).
    The same fields as a rebuild reads from the published review.json, so the two agree."""
    return catalogue_state.entry_fields(
        slug=review.slug,
        revision=review.revision,
        title=review.title,
        year=review.year,
        rating=review.rating,
        certificate=review.certificate,
        author=review.author,
        paragraphs=review.paragraphs,
        updated=(review.date_modified or review.date_published).isoformat(),
        image_key=image_key,
    )


def make_entry(fields: Mapping[str, Any], *, seq: int, published: str) -> Entry:
    return Entry(
        slug=fields["slug"],
        seq=seq,
        revision=int(fields["revision"]),
        title=fields["title"],
        year=fields.get("year"),
        rating=float(fields["rating"]),
        certificate=fields["certificate"],
        author=fields["author"],
        summary=fields["summary"],
        updated=datetime.fromisoformat(fields["updated"]),
        published=datetime.fromisoformat(published),
        image=fields.get("image"),
    )


@dataclass(frozen=True)
class Snapshot:
    """What the catalogue holds at one version: how many reviews, the site's old id prefix
    ("" for ids derived from each review), some entries by ``seq``."""

    version: int
    count: int
    tag: str
    entries: Mapping[int, Entry]

    def between(self, first: int, last: int) -> list[Entry]:
        """Entries with ``first <= seq <= last``, newest first."""
        return [self.entries[seq] for seq in range(last, first - 1, -1) if seq in self.entries]


# Pages


def _card(entry: Entry, *, root: str) -> dict[str, Any]:
    return {
        "href": root + entry.article_key,
        "title": entry.title,
        "year": entry.year,
        "author": entry.author,
        "summary": entry.summary,
        "certificate": entry.certificate,
        "stars_label": entry.stars_label,
        "star_kinds": star_kinds(entry.rating),
        "published": format_date(entry.published),
        "published_iso": html_datetime(entry.published),
    }


def render_index(snapshot: Snapshot) -> str:
    count = snapshot.count
    newest = newest_page(count)
    first, last = index_bounds(count)
    older = newest - 2 if newest > 2 else None
    return templates.get_template("listing.html").render(
        **page_context(root=""),
        current="index",
        heading="Latest film reviews",
        page_title=f"{SITE_NAME}: latest film reviews",
        subtitle=f"{count:,} review{'' if count == 1 else 's'} published",
        cards=[_card(e, root="") for e in snapshot.between(first, last)],
        older_href=page_key(older) if older else None,
        older_label="Older reviews",
        newer_href=None,
        newer_label=None,
    )


def render_page(snapshot: Snapshot, number: int) -> str:
    first, last = page_bounds(number)
    entries = snapshot.between(first, last)
    newest = newest_page(snapshot.count)
    shown_last = min(last, snapshot.count)
    newer_href = f"{number + 1}.html" if number < newest else "../" + INDEX_KEY
    return templates.get_template("listing.html").render(
        **page_context(root="../"),
        current="page",
        heading=f"Film reviews {first} to {shown_last}",
        page_title=f"{SITE_NAME}: film reviews {first} to {shown_last} (page {number})",
        subtitle=f"Page {number}, newest first",
        cards=[_card(e, root="../") for e in entries],
        older_href=f"{number - 1}.html" if number > 1 else None,
        older_label="Older reviews",
        newer_href=newer_href,
        newer_label="Newer reviews" if number < newest else "Latest reviews",
    )


# Feeds


def _content_html(entry: Entry, *, url: str, image_url: str | None) -> str:
    """The item's HTML for feed readers: escaped writer text, absolute links."""
    parts = []
    if image_url:
        parts.append(f'<p><img src="{escape(image_url)}" alt="{escape(entry.title)}: {escape(entry.stars_label)}"></p>')
    parts.append(
        f"<p>{escape(stars_glyphs(entry.rating))} {escape(entry.stars_label)} · "
        f"Certificate {escape(entry.certificate)} · By {escape(entry.author)}</p>"
    )
    parts.append(f"<p>{escape(entry.summary)}</p>")
    parts.append(f'<p><a href="{escape(url)}">Read the review</a></p>')
    return "\n".join(parts)


def _feed_title(entry: Entry) -> str:
    return f"{entry.display_title} review — {entry.stars_label}"


def json_feed(snapshot: Snapshot, *, base_url: str) -> dict[str, Any]:
    items = []
    for entry in snapshot.between(*feed_bounds(snapshot.count)):
        url = public_url(base_url, entry.article_key)
        image_url = public_url(base_url, entry.image) if entry.image else None
        item: dict[str, Any] = {
            "id": review_item_id(snapshot.tag, entry.slug, entry.published, base_url=base_url),
            "url": url,
            "title": _feed_title(entry),
            "content_html": _content_html(entry, url=url, image_url=image_url),
            "summary": entry.summary,
            "date_published": entry.published.isoformat(),
            "date_modified": entry.updated.isoformat(),
            "authors": [{"name": entry.author}],
            "language": LANGUAGE,
            "tags": ["film review", f"certificate {entry.certificate}"],
            "_marquee": {
                "about": "Marquee's review data: the rating and where the whole review is published.",
                "slug": entry.slug,
                "revision": entry.revision,
                "title": entry.title,
                "year": entry.year,
                "rating": entry.rating,
                "best_rating": BEST_RATING,
                "worst_rating": WORST_RATING,
                "certificate": entry.certificate,
                "review_url": public_url(base_url, published_key(entry.slug, "review.json")),
                "manifest_url": public_url(base_url, published_key(entry.slug, MANIFEST)),
            },
        }
        if image_url:
            item["image"] = image_url
        items.append(item)
    return {
        "version": JSON_FEED_VERSION,
        "title": FEED_TITLE,
        "home_page_url": public_url(base_url, INDEX_KEY),
        "feed_url": public_url(base_url, JSON_FEED_KEY),
        "description": FEED_DESCRIPTION,
        "language": LANGUAGE,
        "authors": [{"name": SITE_NAME}],
        "items": items,
    }


def atom_feed(snapshot: Snapshot, *, base_url: str) -> bytes:
    entries = snapshot.between(*feed_bounds(snapshot.count))
    feed = FeedGenerator()
    # The feed's own id: the old site-wide tag's where a site keeps one, else its address.
    feed.id(f"{snapshot.tag}feeds/reviews" if snapshot.tag else public_url(base_url, ATOM_FEED_KEY))
    feed.title(FEED_TITLE)
    feed.subtitle(FEED_DESCRIPTION)
    feed.language(LANGUAGE)
    feed.author({"name": SITE_NAME})
    feed.link(href=public_url(base_url, ATOM_FEED_KEY), rel="self", type="application/atom+xml")
    feed.link(href=public_url(base_url, INDEX_KEY), rel="alternate", type="text/html")
    # The feed changes when an entry does: the same entries make the same bytes.
    feed.updated(max((e.updated for e in entries), default=datetime.fromisoformat("2000-01-01T00:00:00+00:00")))
    for entry in entries:
        url = public_url(base_url, entry.article_key)
        image_url = public_url(base_url, entry.image) if entry.image else None
        item = feed.add_entry(order="append")
        item.id(review_item_id(snapshot.tag, entry.slug, entry.published, base_url=base_url))
        item.title(_feed_title(entry))
        item.link(href=url, rel="alternate", type="text/html")
        item.published(entry.published)
        item.updated(max(entry.updated, entry.published))
        item.author({"name": entry.author})
        item.summary(entry.summary)
        item.content(_content_html(entry, url=url, image_url=image_url), type="html")
        item.category(term="film-review", label="Film review")
    return feed.atom_str(pretty=True)


def objects_for(snapshot: Snapshot, *, pages: Iterable[int], base_url: str) -> list[tuple[str, bytes, str]]:
    """``(key, bytes, content type)`` of every object a publication changes; the index last."""
    objects = [(page_key(n), render_page(snapshot, n).encode(), HTML_CONTENT_TYPE) for n in sorted(set(pages))]
    objects.append(
        (
            JSON_FEED_KEY,
            json.dumps(json_feed(snapshot, base_url=base_url), ensure_ascii=False, indent=1).encode(),
            JSON_FEED_CONTENT_TYPE,
        )
    )
    objects.append((ATOM_FEED_KEY, atom_feed(snapshot, base_url=base_url), ATOM_CONTENT_TYPE))
    objects.append((INDEX_KEY, render_index(snapshot).encode(), HTML_CONTENT_TYPE))
    return objects
