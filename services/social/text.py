"""Reading a review for the teasers: sentences, site furniture, the pull quote, the verdict.

Pure functions over ``Review``; none of them looks further into a long review than
it needs, so a 20,000-word body costs milliseconds.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

from shared.models import Review

QUOTE_MIN = 60
QUOTE_MAX = 160
QUOTE_IDEAL = 115

# Verdicts by rating, in half stars: what the stars say in words.
VERDICTS = {
    10: "a masterpiece",
    9: "outstanding",
    8: "excellent",
    7: "very good",
    6: "worth seeing",
    5: "mixed",
    4: "disappointing",
    3: "poor",
    2: "poor",
    1: "dire",
    0: "one to avoid",
}

NUMBER_WORDS = ["no", "one", "two", "three", "four", "five"]


def verdict(rating: float) -> str:
    """``4.0`` → ``"excellent"``; always lower case, for use mid-sentence."""
    return VERDICTS[max(0, min(10, round(rating * 2)))]


def spoken_stars(rating: float) -> str:
    """``3.5`` → ``"three and a half stars out of five"``, for a narrator."""
    whole, half = int(rating), rating - int(rating) >= 0.5
    if whole == 0 and half:
        return "half a star out of five"
    word = NUMBER_WORDS[whole]
    noun = "star" if whole == 1 and not half else "stars"
    return f"{word}{' and a half' if half else ''} {noun} out of five"


def rating_text(rating: float) -> str:
    return f"{rating:g}/5"


# --- sentences ---------------------------------------------------------------------------

_ABBREVIATIONS = {
    "mr", "mrs", "ms", "dr", "st", "jr", "sr", "prof", "vs", "etc", "e.g", "i.e", "no", "vol",
    "mt", "ft", "fig", "approx", "dept", "est", "inc", "ltd", "co", "sgt", "capt", "lt", "col", "gen",
}  # fmt: skip
# A sentence ends at . ! ? or … (with any closing quotes or brackets) before a space.
_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_SPACE = re.compile(r"\s+")


def sentences(paragraph: str) -> list[str]:
    """Split a paragraph into sentences, keeping "Dr. Strangelove" and "J. R. Bartlett" whole."""
    text = _SPACE.sub(" ", paragraph).strip()
    out, start = [], 0
    for match in _END.finditer(text):
        end = match.end()
        before = text[start : match.start()].rsplit(" ", 1)[-1].lstrip("\"'“‘(")
        following = text[end + 1 : end + 2]
        if match.group() == ".":  # "Dr." and "J." are no ends; "No.”" (closing quote) is
            if before.lower() in _ABBREVIATIONS or (len(before) == 1 and before.isalpha()):
                continue
        if following and following.islower():
            continue
        out.append(text[start:end].strip())
        start = end + 1
    tail = text[start:].strip()
    if tail:
        out.append(tail)
    return out


# --- furniture ---------------------------------------------------------------------------

# What a scraped page or a careless paste carries that is no part of the review.
_FURNITURE = re.compile(
    r"""(
        \bfollow\s+us\b | \bsubscribe\b | \bdownload\s+(the|our)\s+app\b | \bshare\s+this\b
      | \badvertisement\b | \bsponsored\b | \bapp\s+store\b | \bgoogle\s+play\b | \bnewsletter\b
      | \bsign\s+up\b | \bclick\s+here\b | \bread\s+more\b | \bcookies?\b | \bprivacy\s+policy\b
      | \ball\s+rights\s+reserved\b | © | \bcopyright\b | \bwritten\s+by\b | \breviewed\s+by\b
      | \bin\s+cinemas?\s+(from|now|on)\b | \bon\s+(general\s+)?release\b | \bstreaming\s+(now|on)\b
      | \bphoto(graph)?\s*(:|credit|by)\b | \bimage\s*(:|credit)\b | \btrailer\b | \bspoilers?\b
      | https?:// | \bwww\. | \S+@\S+\.\w+ | (?<!\w)[@#]\w
      | \b(mon|tue|wed|thu|fri|sat|sun)(day)?s?\s*\d
    )""",
    re.I | re.X,
)


def is_furniture(sentence: str) -> bool:
    letters = [c for c in sentence if c.isalpha()]
    shouting = len(letters) >= 8 and sum(c.isupper() for c in letters) > 0.7 * len(letters)
    return shouting or bool(_FURNITURE.search(sentence)) or sentence.startswith(("•", "-", "*", "|"))


# --- the pull quote ----------------------------------------------------------------------

_POSITIVE = {
    "brilliant", "superb", "best", "masterpiece", "masterly", "masterful", "wonderful", "stunning",
    "gorgeous", "beautiful", "beautifully", "triumph", "triumphant", "dazzling", "extraordinary",
    "remarkable", "moving", "funny", "hilarious", "gripping", "thrilling", "tender", "exquisite",
    "magnificent", "marvellous", "marvelous", "terrific", "excellent", "astonishing", "delightful",
    "joyous", "riveting", "captivating", "haunting", "powerful", "luminous", "assured", "sublime",
    "unforgettable", "finest", "perfect", "perfectly", "great", "greatest", "glorious", "electric",
    "earns", "lovely", "sharp", "witty", "bold", "confident", "compelling", "charming", "rich",
}  # fmt: skip
_NEGATIVE = {
    "tedious", "worst", "fails", "fail", "failure", "dull", "boring", "bland", "clumsy", "flat",
    "mess", "messy", "lifeless", "plodding", "leaden", "tiresome", "turgid", "laboured", "labored",
    "contrived", "predictable", "forgettable", "disappointing", "disappointment", "misfire",
    "inert", "shallow", "hollow", "overlong", "bloated", "wasted", "wastes", "awful", "terrible",
    "dreadful", "dire", "lazy", "limp", "muddled", "incoherent", "stale", "tired", "weak", "worse",
    "unconvincing", "squanders", "botched", "sloppy", "tepid", "lacklustre", "lackluster", "misguided",
}  # fmt: skip
# A sentence that opens like this leans on the one before it: it does not stand alone.
_LEANS_ON_CONTEXT = {
    "but", "and", "or", "so", "yet", "still", "however", "also", "then", "which", "because",
    "though", "although", "meanwhile", "instead", "otherwise", "besides", "moreover", "thus",
    "hence", "nor", "that", "these", "those", "he", "she", "they", "his", "her", "their",
    "him", "them", "here", "there", "such", "both", "neither", "later", "again", "as", "while",
}  # fmt: skip
# "It is…", "This is…": on a card for the film, "it" is the film; a little less good.
_LEANS_A_LITTLE = {"it", "its", "this"}
_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")


def _words(sentence: str) -> list[str]:
    return [w.lower() for w in _WORD.findall(sentence)]


def polarity(sentence: str) -> tuple[int, int]:
    words = _words(sentence)
    return sum(w in _POSITIVE for w in words), sum(w in _NEGATIVE for w in words)


def _balanced(sentence: str) -> bool:
    pairs = [("(", ")"), ("[", "]"), ("“", "”"), ("‘", "’")]
    if any(sentence.count(a) < sentence.count(b) or sentence.count(a) > sentence.count(b) for a, b in pairs[:3]):
        return False
    return sentence.count('"') % 2 == 0


def stands_alone(sentence: str) -> bool:
    """A complete sentence a reader can take out of the review: capital start, full stop
    (or ! or ?) at the end, quotes and brackets closed, not leaning on what came before."""
    core = sentence.lstrip("\"'“‘(")
    if not core or not (core[0].isupper() or core[0].isdigit()):
        return False
    if not re.search(r"[.!?][\"'”’)]*$", sentence) or sentence.endswith("..."):
        return False
    words = _words(sentence)
    return len(words) >= 5 and words[0] not in _LEANS_ON_CONTEXT and _balanced(sentence)


@dataclass(frozen=True)
class Candidate:
    text: str
    score: float
    position: int


def _score(sentence: str, position: int, rating: float) -> float:
    positive, negative = polarity(sentence)
    score = 3.0 * min(positive + negative, 2)
    # A quote should agree with the stars: praise on a one-star card misleads.
    if rating >= 3.5:
        score += 1.5 * min(positive, 2) - 1.0 * min(negative, 2)
    elif rating <= 2:
        score += 1.5 * min(negative, 2) - 1.0 * min(positive, 2)
    score -= abs(len(sentence) - QUOTE_IDEAL) / 40  # closer to a comfortable length
    score -= position * 0.002  # earlier wins a tie
    if _words(sentence)[:1] and _words(sentence)[0] in _LEANS_A_LITTLE:
        score -= 1.0
    if "!" in sentence or "?" in sentence:
        score -= 0.5
    return score


def _sentences_of(paragraphs: tuple[str, ...], limit: int) -> list[str]:
    found: list[str] = []
    for paragraph in paragraphs:
        for sentence in sentences(paragraph):
            found.append(sentence)
            if len(found) >= limit:
                return found
    return found


def candidate_sentences(review: Review, *, limit: int = 4000) -> list[tuple[int, str]]:
    """Sentences of the body in order (with their position), furniture dropped; at most
    ``limit`` sentences are read."""
    return [(i, s) for i, s in enumerate(_sentences_of(tuple(review.paragraphs), limit)) if not is_furniture(s)]


def pull_quote(review: Review, *, low: int = QUOTE_MIN, high: int = QUOTE_MAX) -> str | None:
    """The sentence to print on the card: complete, standing alone, ``low``–``high``
    characters, evaluative if any is; else a shorter complete sentence; else None."""
    return _pull_quote(tuple(review.paragraphs), review.rating, low, high)


@functools.lru_cache(maxsize=32)
def _pull_quote(paragraphs: tuple[str, ...], rating: float, low: int, high: int) -> str | None:
    # Cheap tests first (length, shape), the furniture patterns only on what passes.
    best: Candidate | None = None
    short: list[tuple[int, str]] = []
    for position, sentence in enumerate(_sentences_of(paragraphs, 4000)):
        if len(sentence) > high or not stands_alone(sentence) or is_furniture(sentence):
            continue
        if len(sentence) < low:
            short.append((position, sentence))
            continue
        score = _score(sentence, position, rating)
        if best is None or score > best.score:
            best = Candidate(sentence, score, position)
    if best:
        return best.text
    if short:
        return max(short, key=lambda ps: _score(ps[1], ps[0], rating) + len(ps[1]) / 20)[1]
    return None


def first_sentence(review: Review, *, max_words: int = 40, skip: str | None = None) -> str | None:
    """The first complete sentence of the body (usually the premise), within ``max_words``."""
    for _, sentence in candidate_sentences(review, limit=60):
        if sentence == skip:
            continue
        words = len(sentence.split())
        core = sentence.lstrip("\"'“‘(")
        if 5 <= words <= max_words and core[:1].isupper() and re.search(r"[.!?][\"'”’)]*$", sentence):
            return sentence
    return None


# --- names and tags ----------------------------------------------------------------------


def hashtag(text: str, *, max_length: int = 40) -> str | None:
    """``Spike Jonze`` → ``#SpikeJonze``: letters, digits and underscores only, at least one
    letter. Apostrophes vanish (``Schindler's`` → ``Schindlers``); a title of digits gains
    "Film" (``1917`` → ``#1917Film``); long ones keep their first words."""
    text = unicodedata.normalize("NFC", text).replace("'", "").replace("’", "")
    words = list(re.findall(r"[^\W_]+", text))
    tag = ""
    for w in words:
        piece = w[:1].upper() + w[1:]
        if tag and len(tag) + len(piece) > max_length:
            break
        tag += piece
    tag = tag[:max_length]
    if not tag:
        return None
    if not any(c.isalpha() for c in tag):
        tag += "Film"
    return "#" + tag
