"""Reviews for the social tests: the samples, and the extremes a generator must survive.

Every text here is made up for these tests.
"""

from __future__ import annotations

import functools
import random

from services.social.instagram import instagram_files
from services.social.samples import SAMPLES, review
from services.social.youtube import youtube_files

LONG_TITLE = (
    "The Unbelievably Long and Occasionally True Chronicle of the Night the Lighthouse Keepers of "
    "Saint-Aubin-sur-Mer Went on Strike, Refused to Light the Lamp, and Started a Brass Band Instead of It All!!"
)[:200]
assert len(LONG_TITLE) == 200, len(LONG_TITLE)

# 200 characters, no spaces at all: must be broken between characters.
UNBROKEN_TITLE = "Supercalifragilisticexpialidocious" * 5 + "W" * 30

_VOCAB = [
    "the",
    "film",
    "lingers",
    "over",
    "kitchens",
    "corridors",
    "harbours",
    "and",
    "trains",
    "while",
    "its",
    "actors",
    "argue",
    "about",
    "grief",
    "money",
    "football",
    "weather",
    "and",
    "the",
    "price",
    "of",
    "bread",
    "until",
    "the",
    "light",
    "goes",
    "and",
    "the",
    "credits",
    "roll",
    "over",
    "a",
    "silent",
    "town",
]


EVALUATIVE_ENDING = "The superb final reel, all silence and salt wind, is the best thing the director has ever shot."


def _long_body(words: int, seed: int = 4) -> list[str]:
    """About ``words`` words of sentence-shaped text in paragraphs of ~120 words."""
    rng = random.Random(seed)
    paragraphs, current, count = [], [], 0
    evaluative = [
        "The middle hour is tedious beyond words, a loop of kitchens and corridors going nowhere.",
        "Nothing here is the worst thing you will see this year, but almost none of it is the best.",
    ]
    while count < words:
        n = rng.randint(8, 24)
        sentence = " ".join(rng.choice(_VOCAB) for _ in range(n))
        sentence = sentence[0].upper() + sentence[1:] + "."
        if rng.random() < 0.03:
            sentence = rng.choice(evaluative)
        current.append(sentence)
        count += len(sentence.split())
        if len(current) >= 7:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    # The verdict, as reviews often put it, at the very end.
    paragraphs.append(EVALUATIVE_ENDING)
    return paragraphs


BODY_20000 = _long_body(20000)

EXTREMES = {
    "one-letter-title": review(slug="m-2026", title="M", certificate="R18", rating=0.5),
    "long-title": review(slug="long-2026", title=LONG_TITLE, rating=5, certificate="U"),
    "unbroken-title": review(slug="unbroken-2026", title=UNBROKEN_TITLE, rating=0),
    "single-sentence": review(
        slug="single-2026", paragraphs=["A small, sad and funny film about two brothers and a dog."], rating=3
    ),
    "tiny-sentence": review(slug="tiny-2026", paragraphs=["Wow."], rating=2),
    "body-20000-words": review(slug="huge-2026", paragraphs=BODY_20000, rating=4),
    "accented": review(
        slug="portrait-2026",
        title="Portrait de la Jeune Fille en Été",
        directors=["Céline Sciamma-Dupré"],
        cast=["Noémie Merlant-Åberg", "Adèle Hænel", "Łucja Żółkowska", "Ștefan Mișu", "Çağla Öztürk"],
        paragraphs=[
            "Héloïse, a painter, arrives on an island in Brittany to finish a portrait that nobody is meant to know about.",
            "Merlant-Åberg is magnificent, and the final scene in the concert hall is the best ending of the decade.",
        ],
        author="Zoë Łopieńska",
        rating=5,
    ),
    "japanese": review(
        slug="japanese-2026",
        title="千と千尋の神隠し・夏の終わりの物語",
        directors=["宮崎 一郎"],
        cast=["山田 花子", "佐藤 健"],
        paragraphs=[
            "A girl wanders into a bathhouse for spirits and has to work her way out. It is a gorgeous, strange and wonderful film that rewards every second of attention."
        ],
        rating=4.5,
        certificate="PG",
    ),
    "arabic": review(
        slug="arabic-2026",
        title="الطريق إلى البحر",
        directors=["ليلى حداد"],
        cast=["عمر الشريف الصغير"],
        paragraphs=[
            "Two sisters drive from Amman to the coast in a car that keeps breaking down. The road movie is tender, funny and beautifully acted from start to finish."
        ],
        rating=4,
        certificate="12",
    ),
    "cyrillic": review(
        slug="cyrillic-2026",
        title="Брат и сестра: Последний поезд на Мурманск",
        directors=["Алексей Громов"],
        cast=["Анна Светлова", "Юрий Ким"],
        paragraphs=[
            "A brother and sister share a sleeper cabin for three days on the way north. The film is brilliant when it stays in the cabin and tedious when it leaves."
        ],
        rating=3.5,
        certificate="15",
    ),
    "emoji": review(
        slug="emoji-2026",
        title="Party Animals 🎉🐶🍕 The Movie 🎬",
        directors=["Kit Jolly 😎"],
        cast=["Dee Lite ✨", "Bo Bark 🐕"],
        paragraphs=[
            "A dog throws a party while its owners are away 🐾. It is exhausting, loud and about forty minutes too long for anyone over eight. The pug is the best actor in it 🏆."
        ],
        rating=1,
        certificate="U",
    ),
    "furniture": review(
        slug="furniture-2026",
        title="The Salt Flats",
        paragraphs=[
            "Follow Us On Instagram!",
            "Subscribe To Our YouTube Channel for more reviews like this one every single week!",
            "A lorry driver on his last run before retirement picks up a hitchhiker he swore he never would.",
            "The film is at its best when it lets the two of them argue about nothing at all for minutes on end.",
            "Download the app: available on the App Store and Google Play, with offline reading for subscribers.",
            "• Thu",
            "• Fri",
        ],
        rating=4,
    ),
    "tags-in-text": review(
        slug="tags-2026",
        title="#Trending",
        directors=["@director"],
        cast=[f"Actor Number{i}" for i in range(60)],
        paragraphs=[
            " ".join(f"#tag{i} @user{i}" for i in range(80))
            + ". The film is a clever satire that never quite lands its punches."
        ],
        rating=2.5,
    ),
    "mentions-title": review(
        slug="mentions-2026",
        title=" ".join(f"@u{i}" for i in range(60))[:200],
        paragraphs=["A film told entirely in replies. It is clever for ten minutes and tedious for the other eighty."],
        rating=2,
    ),
    "many-names": review(
        slug="names-2026",
        title="Ensemble",
        directors=[f"Director {chr(65 + i)} Verylongsurname-Doublebarrelled" for i in range(20)],
        cast=[f"Performer {chr(65 + i % 26)}{i} With-A-Rather-Long-Stage-Name-Indeed" for i in range(80)],
        author="A" * 99,
        rating=3,
    ),
    "no-year-angles": review(
        slug="angles-2026",
        title="<script>alert('x')</script> & Other Stories",
        year=None,
        paragraphs=[
            "A <b>bold</b> anthology of five shorts, with one brilliant segment and four forgettable ones. The best of them is worth the ticket alone."
        ],
        author="Sam <Okonjo>",
        rating=3,
    ),
}

CORPUS = {**{r.slug: r for r in SAMPLES}, **EXTREMES}


ARTICLE_URL = "https://cdn.example.org/reviews/{slug}/index.html"
CARD_URL = "https://cdn.example.org/reviews/{slug}/instagram/card.jpg"
THUMBNAIL_URL = "https://cdn.example.org/reviews/{slug}/youtube/thumbnail.jpg"


@functools.cache
def instagram_for(name: str) -> dict[str, bytes]:
    """The Instagram part's files for a corpus review, made once per test run."""
    r = CORPUS[name]
    return instagram_files(r, article_url=ARTICLE_URL.format(slug=r.slug), card_url=CARD_URL.format(slug=r.slug))


@functools.cache
def youtube_for(name: str) -> dict[str, bytes]:
    """The YouTube part's files for a corpus review, made once per test run."""
    r = CORPUS[name]
    return youtube_files(
        r, article_url=ARTICLE_URL.format(slug=r.slug), thumbnail_url=THUMBNAIL_URL.format(slug=r.slug)
    )
