import pytest

from shared.keys import is_submission_id, output_key, public_url, published_key, request_key
from shared.slugs import is_safe_slug, is_variant_of, make_slug, variant
from shared.storage import check_key


@pytest.mark.parametrize(
    ("title", "year", "slug"),
    [
        ("Amélie", 2001, "amelie-2001"),
        ("Her", None, "her"),
        ("Crouching Tiger, Hidden Dragon!", 2000, "crouching-tiger-hidden-dragon-2000"),
        ("../../etc/passwd", None, "etc-passwd"),
        ("{{ 7*7 }}", None, "7-7"),
        ("???", None, "review"),
        ("東京物語", 1953, "dong-jing-wu-yu-1953"),
    ],
)
def test_slugs_are_lowercase_ascii_words_and_hyphens(title, year, slug):
    assert make_slug(title, year) == slug
    assert is_safe_slug(slug)


def test_a_long_title_makes_a_bounded_slug():
    slug = make_slug("word " * 100, 2020)
    assert len(slug) <= 80 and is_safe_slug(slug)


def test_a_variant_cannot_be_computed_ahead():
    """Nothing about the owner goes into a variant: each is drawn afresh (and kept in Redis),
    so no writer can work out another's and claim it first."""
    drawn = {variant("her-2013") for _ in range(200)}
    assert len(drawn) == 200
    assert all(is_safe_slug(v) and is_variant_of(v, "her-2013") for v in drawn)
    assert is_safe_slug(variant(make_slug("word " * 100, 2020)))  # a bounded slug stays bounded
    assert not is_variant_of("her-2013", "her-2013")
    assert not is_variant_of("her-2013-part-2", "her-2013")
    assert not is_variant_of("her-2013-abc", "her-2013")


@pytest.mark.parametrize("slug", ["../x", "a/b", "", "A-b", "a--b", "-a", "a b", "a\nb"])
def test_unsafe_slugs_never_make_a_key(slug):
    assert not is_safe_slug(slug)
    with pytest.raises(ValueError):
        published_key(slug, "index.html")


@pytest.mark.parametrize("key", ["../x", "a/../b", "/abs", "a//b", "a\\b", ""])
def test_store_keys_cannot_escape(key):
    with pytest.raises(ValueError):
        check_key(key)


def test_submission_keys_take_only_submission_ids():
    good = "0123456789abcdef0123456789abcdef"
    assert is_submission_id(good) and request_key(good) == f"submissions/{good}/request.json"
    for bad in ("../" + good[3:], good.upper(), good[:-1]):
        assert not is_submission_id(bad)
        with pytest.raises(ValueError):
            output_key(bad, "index.html")


def test_public_urls_join_the_base_and_key():
    assert (
        public_url("https://cdn.example/site/", "reviews/her/index.html")
        == "https://cdn.example/site/reviews/her/index.html"
    )
