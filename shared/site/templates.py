"""The Jinja2 environment for every public page, and what each page's template needs.

Templates are files, autoescaped; what a writer sent only ever fills them in, it is
never compiled as a template itself.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from shared.site.formatting import clean, html_datetime
from shared.site.look import ATOM_FEED_KEY, INDEX_KEY, JSON_FEED_KEY, LANGUAGE, PALETTES, SITE_NAME


def _finalize(value: Any) -> Any:
    # Every {{ value }} in every template passes here before it is escaped.
    if isinstance(value, str) and not isinstance(value, Markup):
        return clean(value)
    return value


templates = Environment(
    loader=PackageLoader("shared.site", "templates"),
    autoescape=select_autoescape(["html"], default=True),
    trim_blocks=True,
    lstrip_blocks=True,
    finalize=_finalize,
)
templates.filters["html_datetime"] = html_datetime


def page_context(*, root: str) -> dict[str, Any]:
    """What every public page's template needs: where the site's root is, and the palette."""
    return {
        "root": root,
        "site_name": SITE_NAME,
        "language": LANGUAGE,
        "palettes": PALETTES,
        "index_href": root + INDEX_KEY,
        "atom_href": root + ATOM_FEED_KEY,
        "json_feed_href": root + JSON_FEED_KEY,
    }
