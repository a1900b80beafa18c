"""Reading a submission: JSON, or plain text in the format of the reviews site.

These functions check that a request can be *read*; whether what it says is
acceptable is the content rules' business (shared/content_rules.py). Anything unreadable
raises ``MalformedSubmission`` with one problem per field, which ingest answers with 4xx,
and with the fields that could be read, so that their content problems go in the same answer.

The media type is the sender's word, and unsigned; ``media_type_problem`` holds it to the
body (signed) by one rule a writer can predict, rather than guessing either way.

The text format, as scraped from a reviews site::

    Title: Example Film            (optional; else the ?title= query parameter, unsigned)
    Cert (UK): 15
    Runtime: 126 mins              (or "2h 6m")
    Director: A Person
    Cast: B Person, C Person
    Rating ***                     (or ★★★★☆, ****½, 3.5/5)
    Body paragraphs, separated by blank lines…
    Written by NAME
    (an optional note in parentheses)
    …then the site's furniture ("Follow Us On Instagram!", "• Sat"…), dropped.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast

from pydantic import BaseModel, ValidationError, create_model

from shared.errors import MalformedSubmission, Problem
from shared.models import ReviewSubmission, TitleSource

# Scraped pages carry non-breaking and other odd spaces; they are spaces to a reader.
_ODD_SPACES = re.compile(r"[\u00a0\u2007\u202f\u2000-\u200a\u3000\t]")
_ZERO_WIDTH = re.compile(r"[\u200b\u200c\u200d\u2060\ufeff]")

_HEADERS: list[tuple[str, re.Pattern[str]]] = [
    ("title", re.compile(r"^title\s*:\s*(?P<v>.*)$", re.I)),
    ("year", re.compile(r"^(?:year|released)\s*:\s*(?P<v>.*)$", re.I)),
    ("certificate", re.compile(r"^cert(?:ificate)?\s*(?:\(\s*uk\s*\))?\s*:\s*(?P<v>.*)$", re.I)),
    ("runtime", re.compile(r"^(?:runtime|running\s+time|length)\s*:\s*(?P<v>.*)$", re.I)),
    ("directors", re.compile(r"^(?:directors?\s*:|directed\s+by\s*:?)\s*(?P<v>.*)$", re.I)),
    ("cast", re.compile(r"^(?:cast|starring)\s*:\s*(?P<v>.*)$", re.I)),
    # "Rating ***" has no colon in the seed's format; a short line only, so that a
    # body sentence beginning "Rating…" stays in the body.
    ("rating", re.compile(r"^rating(?:\s*:\s*|\s+)(?P<v>\S.{0,29})$", re.I)),
]

_BYLINE = re.compile(r"^(?:written|reviewed)\s+by\s*:?\s*(?P<v>.+)$", re.I)

# The reviews site's furniture: social links, app badges, a weekday listings widget.
_FURNITURE = re.compile(
    r"""^(?:
        follow\s+us\s+on\b.*
      | subscribe\s+to\s+our\b.*
      | download\s+the\s+app!?
      | share\s+this(?:\s+\w+)?:?
      | advertisement
      | •\s*available\s+on\b.*
      | •\s*(?:mon|tue|wed|thu|fri|sat|sun)[a-z]*
    )$""",
    re.I | re.X,
)

_NAME_SPLIT = re.compile(r"\s*(?:,|;|\band\b|&)\s*")


def clean_text(text: str) -> str:
    """Normalise what a scraped page carries: odd spaces, CRLF, trailing blanks."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _ZERO_WIDTH.sub("", text)
    text = _ODD_SPACES.sub(" ", text)
    return "\n".join(re.sub(r" {2,}", " ", line).strip() for line in text.split("\n"))


def split_paragraphs(body: str) -> list[str]:
    """Paragraphs are separated by blank lines; lines within one are joined."""
    paragraphs = []
    for block in re.split(r"\n\s*\n", clean_text(body)):
        joined = " ".join(line for line in block.split("\n") if line)
        if joined:
            paragraphs.append(joined)
    return paragraphs


def read_rating(text: str) -> float | None:
    """``***``, ``★★★★☆``, ``****½``, ``4½``, ``3.5/5``, ``3 stars`` → a number of stars."""
    text = text.strip()
    half = 0.5 if ("½" in text or re.search(r"\b1/2\b", text)) else 0.0
    stars = text.count("*") + text.count("★")
    if stars:
        return stars + half
    match = re.match(r"^(\d+(?:\.\d+)?)\s*½?\s*(?:/\s*5|out\s+of\s+5|stars?)?\s*$", text, re.I)
    if match:
        return float(match.group(1)) + half
    if text == "½":
        return 0.5
    return None


def read_runtime(text: str) -> int | None:
    """``126 mins``, ``126``, ``2h 6m``, ``1 hr 45 mins``, ``2:06`` → minutes."""
    text = text.strip().lower()
    if match := re.fullmatch(r"(\d+)\s*(?:m|mins?|minutes?)?\.?", text):
        return int(match.group(1))
    if match := re.fullmatch(r"(\d+):(\d{2})", text):
        return int(match.group(1)) * 60 + int(match.group(2))
    match = re.fullmatch(r"(\d+)\s*(?:h|hrs?|hours?)\.?(?:\s*(?:and\s*)?(\d+)\s*(?:m|mins?|minutes?)?\.?)?", text)
    if match:
        return int(match.group(1)) * 60 + int(match.group(2) or 0)
    return None


def read_names(text: str) -> list[str]:
    return [name for name in _NAME_SPLIT.split(text.strip().rstrip(".")) if name]


def parse_text_review(text: str, *, title: str | None = None, signed_title: bool = False) -> ReviewSubmission:
    """A text review; ``title`` is the ?title= query parameter, used when the text has no
    ``Title:`` line, unless ``signed_title`` (the writer accepts only a title in the body,
    which the signature covers)."""
    lines = clean_text(text).split("\n")
    fields: dict[str, Any] = {}
    problems: list[Problem] = []

    index = 0
    while index < len(lines):
        line = lines[index]
        if not line:
            index += 1
            continue
        header = next(((name, m) for name, p in _HEADERS if (m := p.match(line))), None)
        if header is None:
            break
        name, header_match = header
        fields[name] = header_match.group("v").strip()
        index += 1

    body_lines: list[str] = []
    tail: list[str] = []
    for position in range(index, len(lines)):
        if byline := _BYLINE.match(lines[position]):
            fields["author"] = byline.group("v").strip()
            tail = lines[position + 1 :]
            break
        if not _FURNITURE.match(lines[position]):
            body_lines.append(lines[position])
    fields["body"] = "\n".join(body_lines).strip()

    # The note is the first paragraph after the byline when it is in parentheses.
    after = split_paragraphs("\n".join(tail))
    if after and after[0].startswith("(") and after[0].endswith(")"):
        fields["note"] = after[0][1:-1].strip()

    signed = fields.pop("title", None) or None  # an empty 'Title:' line is no title
    unsigned = (title or "").strip() or None
    source: TitleSource = "body"
    if signed is not None:
        fields["title"] = signed
    elif signed_title:
        problems.append(
            Problem(
                "title",
                "the title must be in the signed body: add a 'Title: …' line (this writer's reviews may not "
                "take their title from the ?title= query parameter, which the signature does not cover)",
            )
        )
    elif unsigned is not None:
        fields["title"], source = unsigned, "query"
    else:
        problems.append(Problem("title", "no title given: add a 'Title: …' line or the ?title= query parameter"))
    if "certificate" not in fields:
        problems.append(Problem("certificate", "no certificate line found, such as 'Cert (UK): 15'"))
    if "directors" in fields:
        fields["directors"] = read_names(fields["directors"])
    else:
        problems.append(Problem("directors", "no director line found, such as 'Director: A Name'"))
    if "cast" in fields:
        fields["cast"] = read_names(fields["cast"])
    if "author" not in fields:
        problems.append(Problem("author", "no byline found: end the review with 'Written by NAME'"))

    raw_runtime = fields.pop("runtime", None)
    if raw_runtime is None:
        problems.append(Problem("runtime_minutes", "no runtime line found, such as 'Runtime: 126 mins'"))
    elif (minutes := read_runtime(raw_runtime)) is None:
        problems.append(
            Problem("runtime_minutes", f"cannot read {raw_runtime!r} as a runtime; write '126 mins' or '2h 6m'")
        )
    else:
        fields["runtime_minutes"] = minutes

    raw_rating = fields.pop("rating", None)
    if raw_rating is None:
        problems.append(Problem("rating", "no rating line found, such as 'Rating ***'"))
    elif (stars := read_rating(raw_rating)) is None:
        problems.append(
            Problem("rating", f"cannot read {raw_rating!r} as a rating; write stars, as in '***' or '3.5/5'")
        )
    else:
        fields["rating"] = stars

    raw_year = fields.pop("year", None)
    if raw_year is not None:
        if raw_year.isdigit():
            fields["year"] = int(raw_year)
        else:
            problems.append(Problem("year", f"cannot read {raw_year!r} as a year"))

    submission = _build(fields, problems)
    submission._title_source = source  # the parser's finding, which no sender can set
    return submission


# A review is two levels deep with a few dozen values; these bound what a sender can make
# the parser and the validator walk. Python's parser recurses: 100,000 brackets exhaust it.
MAX_JSON_DEPTH = 20
MAX_JSON_MEMBERS = 1_000  # in any one array or object


def load_json(body: bytes) -> Any:
    """Parse a JSON request body within MAX_JSON_DEPTH and MAX_JSON_MEMBERS, or raise
    ``MalformedSubmission`` naming the problem (the body's size is bounded by the caller)."""
    try:
        data = json.loads(body.decode("utf-8"))  # RFC 8259: JSON exchanged between systems is UTF-8
    except UnicodeDecodeError:
        raise MalformedSubmission([Problem("body", "the request body is not UTF-8 text")]) from None
    except json.JSONDecodeError as exc:
        raise MalformedSubmission(
            [Problem("body", f"not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}")]
        ) from None
    except RecursionError:  # deeper than the parser can go, so far deeper than the limit
        raise MalformedSubmission([_too_deep()]) from None
    _check_shape(data)
    return data


def _too_deep() -> Problem:
    return Problem("body", f"the JSON is nested more than {MAX_JSON_DEPTH} levels deep (the limit)")


def _check_shape(data: Any) -> None:
    # Iterative, so that checking a deep value cannot exhaust the stack either.
    pending = [(data, 1)]
    while pending:
        value, depth = pending.pop()
        if not isinstance(value, dict | list):
            continue
        if depth > MAX_JSON_DEPTH:
            raise MalformedSubmission([_too_deep()])
        if len(value) > MAX_JSON_MEMBERS:
            kind = "an object" if isinstance(value, dict) else "an array"
            raise MalformedSubmission(
                [Problem("body", f"{kind} in the JSON has {len(value)} members, over the limit of {MAX_JSON_MEMBERS}")]
            )
        pending.extend((member, depth + 1) for member in (value.values() if isinstance(value, dict) else value))


def parse_json_review(body: bytes) -> ReviewSubmission:
    data = load_json(body)
    if not isinstance(data, dict):
        raise MalformedSubmission([Problem("body", "expected a JSON object with the review's fields")])
    return _build(data)


def parse_submission(
    body: bytes, *, content_type: str, title: str | None = None, signed_title: bool = False
) -> ReviewSubmission:
    """Read a request body of either accepted kind; the media type was checked by the caller.
    ``title`` (the query parameter) and ``signed_title`` concern text reviews alone: a JSON
    review's title is always its body's."""
    if content_type == "application/json":
        return parse_json_review(body)
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise MalformedSubmission([Problem("body", "the request body is not UTF-8 text")]) from None
    return parse_text_review(text, title=title, signed_title=signed_title)


def media_type_problem(body: bytes, *, content_type: str) -> Problem | None:
    """The problem, if the body is plainly not what ``content_type`` (the unsigned header)
    says it is; None if it may be. The rule, so that a writer can predict it:

    - sent as ``text/plain``, a body that parses, whole, as a JSON object is JSON. A text
      review may begin with ``{``: only one that is a JSON object from end to end is taken
      for JSON, and a text review never is (its lines are not JSON).
    - sent as ``application/json``, a body that does not parse as JSON and does not begin
      with ``{`` or ``[`` (after white space) is text. JSON that begins as JSON and breaks
      later is broken JSON, answered 400 with where it breaks.

    A body that is not UTF-8 is neither: the caller answers that on its own.
    """
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    start = text.lstrip()
    if content_type == "text/plain":
        if start.startswith("{") and isinstance(_json_value(text), dict):
            return Problem(
                "content-type",
                "the header says text/plain, but the body is a JSON object: send it as application/json",
            )
        return None
    if not start or start.startswith(("{", "[")) or _json_value(text) is not _NOT_JSON:
        return None
    first_line = clean_text(start.split("\n", 1)[0])[:40]
    return Problem(
        "content-type",
        f"the header says application/json, but the body is not JSON (it begins {first_line!r}): "
        "send a text review as text/plain",
    )


_NOT_JSON = object()


def _json_value(text: str) -> Any:
    """``text`` parsed as JSON, or ``_NOT_JSON``."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: nested beyond the parser, so no review
        return _NOT_JSON


_TYPE_WORDS = {
    "string_type": "must be text",
    "int_type": "must be a whole number",
    "float_type": "must be a number",
    "list_type": "must be a list",
    "datetime_type": "must be a date and time such as 2026-01-31T09:00:00Z",
    "datetime_parsing": "must be a date and time such as 2026-01-31T09:00:00Z",
    "datetime_from_date_parsing": "must be a date and time such as 2026-01-31T09:00:00Z",
    "missing": "is required",
    "extra_forbidden": "is not a field of a review",
}


# ReviewSubmission with every field optional: the same types, checks and clean-up, for
# reading the fields of a submission that could be read while others could not.
_OPTIONAL: dict[str, Any] = {
    name: (cast(Any, field.annotation) | None, None) for name, field in ReviewSubmission.model_fields.items()
}
_READABLE_FIELDS: type[BaseModel] = create_model("ReadableFields", __base__=ReviewSubmission, **_OPTIONAL)


def _readable(data: dict[str, Any], *, unreadable: set[str]) -> dict[str, Any]:
    """The fields of ``data`` but the ``unreadable`` ones, read as ``ReviewSubmission`` reads them."""
    fields = {name: value for name, value in data.items() if name not in unreadable}
    try:
        return _READABLE_FIELDS.model_validate(fields).model_dump(exclude_unset=True)
    except ValidationError:  # not expected: each field read on its own before. Then judge none.
        return {}


def _build(data: dict[str, Any], problems_found: list[Problem] | None = None) -> ReviewSubmission:
    """``data`` as a ``ReviewSubmission``; or, with any problem (``problems_found`` by the
    caller, or the model's), ``MalformedSubmission`` naming each and carrying the rest."""
    found = list(problems_found or ())
    if found:
        raise MalformedSubmission(found, readable=_readable(data, unreadable={p.field for p in found}))
    try:
        return ReviewSubmission.model_validate(data)
    except ValidationError as exc:
        problems: dict[str, Problem] = {}
        for err in exc.errors():
            loc = [str(p) for p in err["loc"] if not str(p).endswith(("[int]", "[float]"))]
            # A union (int | float) reports once per member; a field needs one message.
            field = ".".join(p for p in loc if p not in ("int", "float")) or "body"
            message = _TYPE_WORDS.get(err["type"], err["msg"].lower())
            if field == "rating" and err["type"] in ("int_type", "float_type"):
                message = "must be a number from 0 to 5"
            problems.setdefault(field, Problem(field, message))
        unreadable = {field.split(".")[0] for field in problems}
        raise MalformedSubmission(list(problems.values()), readable=_readable(data, unreadable=unreadable)) from None
