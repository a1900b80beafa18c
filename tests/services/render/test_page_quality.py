"""Every page the site produces, checked by the tools the outside world uses on it.

The corpus (``site_corpus``): the fixtures, edge cases, hostile writer text, and the
catalogue's index and pages. One Nu HTML Checker run (one JVM) validates all of it;
extruct reads the structured data and sharing tags as search engines and social sites
do; lxml checks headings, text alternatives and that nothing needs JavaScript.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import extruct
import lxml.html
import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for site_corpus, whatever the import mode

import itertools

from site_corpus import BASE_URL, build_site

from tests.support.nu_checker import nu_check


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> dict[str, Path]:
    return build_site(tmp_path_factory.mktemp("site"))


def articles(site: dict[str, Path]) -> dict[str, Path]:
    return {key: path for key, path in site.items() if key.startswith("reviews/")}


def test_every_page_is_valid_html5(site):
    report = nu_check(site.values())
    assert not report, "\n".join(line.rsplit("/corpus", 1)[-1] for line in report)
    assert len(site) > 25  # the checker really saw the corpus


def test_json_ld_meets_googles_review_snippet_requirements(site):
    for key, path in articles(site).items():
        url = f"{BASE_URL}/{key}"
        data = extruct.extract(path.read_text(), base_url=url, syntaxes=["json-ld"], uniform=True)["json-ld"]
        reviews = [d for d in data if d.get("@type") == "Review"]
        assert len(reviews) == 1, key
        review = reviews[0]
        assert review["author"]["@type"] == "Person" and 0 < len(review["author"]["name"]) < 100, key
        assert review["itemReviewed"]["@type"] == "Movie" and review["itemReviewed"]["name"], key
        rating = review["reviewRating"]
        assert rating["bestRating"] == 5 and rating["worstRating"] == 0, key
        assert 0 <= float(rating["ratingValue"]) <= 5, key
        datetime.fromisoformat(review["datePublished"])
        assert review["url"] == url


def test_every_article_carries_sharing_tags_a_canonical_url_a_language_and_a_description(site):
    for key, path in articles(site).items():
        html = path.read_text()
        url = f"{BASE_URL}/{key}"
        og = extruct.extract(html, base_url=url, syntaxes=["opengraph"], uniform=True)["opengraph"][0]
        assert og["@type"] == "article", key
        for tag in ("og:title", "og:description", "og:url", "article:author", "article:published_time"):
            assert og.get(tag), f"{key}: no {tag}"
        assert og["og:url"] == url
        datetime.fromisoformat(og["article:published_time"])
        tree = lxml.html.fromstring(html)
        if tree.xpath("//meta[@property='og:image']"):  # the corpus has pages with and without a card
            assert og["og:image"].startswith(BASE_URL) and og["og:image"].endswith("/instagram/card.jpg")
            assert tree.xpath("//meta[@name='twitter:card']/@content") == ["summary_large_image"]
        assert tree.xpath("//link[@rel='canonical']/@href") == [url]
        assert tree.get("lang") == "en-GB"
        description = tree.xpath("//meta[@name='description']/@content")
        assert len(description) == 1 and description[0] and len(description[0]) <= 160
        first_paragraph = tree.xpath("string(//div[@class='body']/p[1])")
        assert first_paragraph.startswith(description[0].rstrip("…"))


def test_headings_start_at_h1_and_never_skip_a_level(site):
    for key, path in site.items():
        tree = lxml.html.fromstring(path.read_text())
        levels = [int(str(h.tag)[1]) for h in tree.iter("h1", "h2", "h3", "h4", "h5", "h6")]
        assert levels and levels[0] == 1 and levels.count(1) == 1, f"{key}: {levels}"
        assert all(b <= a + 1 for a, b in itertools.pairwise(levels)), f"{key}: {levels}"


def test_every_star_rating_has_a_text_alternative(site):
    for key, path in site.items():
        tree = lxml.html.fromstring(path.read_text())
        for stars in tree.find_class("stars"):
            assert stars.get("role") == "img", key
            label = stars.get("aria-label")
            assert label and label.endswith("out of 5 stars"), key
            assert stars.text_content() and len(stars) == 5, key  # five glyphs a reader sees


def test_pages_work_without_javascript(site):
    for key, path in site.items():
        tree = lxml.html.fromstring(path.read_text())
        assert [s.get("type") for s in tree.iter("script")] in ([], ["application/ld+json"]), key
        assert not [a for el in tree.iter() for a in el.attrib if a.lower().startswith("on")], key


def test_hostile_writer_text_makes_no_element_and_no_link(site):
    for key, path in site.items():
        tree = lxml.html.fromstring(path.read_text())
        assert not tree.xpath("//*[starts-with(@id, 'injected')]"), key
        assert not tree.xpath("//img|//iframe|//svg|//object|//embed|//form"), key
        for link in tree.xpath("//a/@href|//link/@href"):
            assert not link.strip().lower().startswith(("javascript:", "data:")), f"{key}: {link}"
            if not link.startswith("https://"):
                assert not link.startswith("/"), f"{key}: {link}"  # relative links stay inside the site
    hostile = [key for key in site if key.startswith("reviews/hostile-")]
    assert len(hostile) > 10
    text = lxml.html.fromstring(site["index.html"].read_text()).text_content() + "".join(
        lxml.html.fromstring(p.read_text()).text_content() for k, p in site.items() if k.startswith("pages/")
    )
    assert "<script>window.__pwned=1;alert(1)</script>" in text  # listed, as text
