"""A few made-up reviews (invented films, invented text) for the benchmark and previews."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from shared.models import Review


def review(**fields) -> Review:
    """A valid ``Review`` with sensible defaults; pass any field to change it."""
    base: dict[str, Any] = {
        "id": "0" * 32,
        "writer": "samples",
        "slug": "sample-film-2026",
        "revision": 1,
        "title": "Sample Film",
        "year": 2026,
        "certificate": "15",
        "runtime_minutes": 104,
        "directors": ["Ada Pennington"],
        "cast": ["Milo Hart", "Rosa Quint"],
        "rating": 3.5,
        "paragraphs": [
            "A sample film about a sample town. It has a beginning, a middle and an end. The cast do fine work."
        ],
        "author": "Jo Reviewer",
        "note": None,
        "date_published": datetime(2026, 3, 6, 9, 0, tzinfo=UTC),
    }
    base.update(fields)
    return Review(**base)


SAMPLES: list[Review] = [
    review(
        slug="harbour-lights-2026",
        title="Harbour Lights",
        year=2026,
        certificate="12A",
        runtime_minutes=112,
        directors=["Noémie Castellan"],
        cast=["Zoë Brennan", "Łukasz Wróbel", "Søren Ågård"],
        rating=4,
        paragraphs=[
            (
                "Harbour Lights follows a lighthouse keeper's daughter who comes home to a fishing town that has quietly "
                "decided to stop needing her. Castellan shoots the coast in cold blues and sodium orange, and lets whole "
                "scenes play out in a single, patient take."
            ),
            (
                "Brennan is superb as the daughter, all clipped sentences and sideways glances, and Wróbel brings a "
                "battered warmth to the ferryman who remembers her as a child. The script by Ågård is sharp about the "
                "small cruelties of a place where everyone knows your business."
            ),
            (
                "The final half hour wobbles when a storm subplot arrives to force a reconciliation the film had been "
                "earning perfectly well on its own. Still, it is the most assured British debut in years."
            ),
        ],
        author="Priya Ramanathan",
    ),
    review(
        slug="velocity-zero-2026",
        title="Velocity Zero",
        year=2026,
        certificate="15",
        runtime_minutes=148,
        directors=["Brock Malden"],
        cast=["Dane Stroud", "Kira Vale", "Otis Mbeki"],
        rating=1.5,
        paragraphs=[
            "Velocity Zero is a heist film set on a maglev train, which sounds like fun for about four minutes.",
            (
                "Stroud plays a disgraced engineer with a grudge, and spends most of the running time explaining the plot "
                "to people who were in the room when it happened. The action is shot so close and cut so fast that the "
                "geography of the train never makes sense."
            ),
            (
                "At nearly two and a half hours, this is a tedious, overlong slog that wastes a terrific cast on dialogue "
                "nobody could make sing. Vale tries hard. Nothing survives the final act."
            ),
        ],
        author="Sam Okonjo",
    ),
    review(
        slug="the-orchard-at-kessel-2025",
        title="The Orchard at Kessel",
        year=2025,
        certificate="PG",
        runtime_minutes=96,
        directors=["Ilse Brandauer", "Matthias Kühn"],
        cast=["Greta Wendt", "Jonas Feld"],
        rating=4.5,
        paragraphs=[
            (
                "Over one summer, three generations of a family argue about whether to sell the apple orchard that has "
                "bankrupted each of them in turn."
            ),
            (
                "It is a small film that feels enormous. Brandauer and Kühn find comedy in every quarrel and grief under "
                "every joke, and Wendt, as the grandmother who pretends to be deafer than she is, gives the funniest "
                "performance of the year."
            ),
            (
                "This is a gorgeous, generous film about what we owe the places that made us, and it is the best thing "
                "in cinemas this spring."
            ),
        ],
        author="Hannah Lowe-Whitaker",
    ),
    review(
        slug="night-shift-2026",
        title="Night Shift",
        year=2026,
        certificate="18",
        runtime_minutes=89,
        directors=["Dev Anand Rao"],
        cast=["Tamsin Oyelaran"],
        rating=3,
        paragraphs=[
            (
                "A hospital porter on the night shift starts to notice that the same patient is admitted every night, "
                "and discharged every morning, without anyone else remembering."
            ),
            (
                "Rao builds dread well out of fluorescent corridors and the hum of vending machines, and Oyelaran holds "
                "the screen with very little dialogue. The twist is guessable, but the journey there is handsomely made."
            ),
        ],
        author="Chris Adebayo",
    ),
    review(
        slug="a-very-long-title-2024",
        title="The Extraordinary and Entirely True Adventures of Mrs Philippa Gantry-Holme, Retired Schoolteacher",
        year=2024,
        certificate="U",
        runtime_minutes=101,
        directors=["Rupert Ashby-Clarke"],
        cast=["Judith Penrose", "Alfie Dunmore", "Beatrix Cole"],
        rating=2.5,
        paragraphs=[
            (
                "A retired teacher sets off across Wales in a borrowed camper van to return a library book that is "
                "forty years overdue."
            ),
            (
                "Penrose is a delight and the scenery is lovely, but the film is as baggy as its title and the jokes "
                "land about half the time. Children will enjoy the runaway goat."
            ),
        ],
        author="Ellis Marr",
    ),
]
