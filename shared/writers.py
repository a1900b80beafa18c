"""Writers and their webhook secrets, from the JSON file named by ``MARQUEE_WRITERS_FILE``::

    {"writers": {"<writer id>": {"secrets": ["whsec_…", "whsec_…"],
                                 "callback_url": "https://…", "rate_limit": "600/minute",
                                 "require_signed_title": true}}}

Any one of a writer's secrets verifies, so a secret can be rotated by adding the new
one, moving senders over, then removing the old. The file is re-read when it changes.
A writer with a ``callback_url`` is sent their own reviews' events there, signed with
their first secret. A writer with ``require_signed_title`` has text reviews without a
``Title:`` line refused: the ?title= query parameter is outside the signature, so whoever
relays a request could change it (docs/SECURITY.md).
"""

from __future__ import annotations

import base64
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeGuard

from limits import parse as parse_rate
from standardwebhooks import Webhook

from shared.jsonfile import WatchedJSON

WRITER_ID = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


@dataclass(frozen=True)
class Writer:
    id: str
    secrets: tuple[str, ...]
    callback_url: str | None = None
    rate_limit: str | None = None  # overrides MARQUEE_RATE_LIMIT, e.g. for a busy CMS
    require_signed_title: bool = False  # refuse titles from the unsigned ?title= query parameter


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def parse_writers(data: dict) -> dict[str, Writer]:
    writers = {}
    for writer_id, entry in (data.get("writers") or {}).items():
        if not WRITER_ID.match(writer_id):
            raise ValueError(f"writer id {writer_id!r}: use lower-case letters, digits, - and _")
        keys = tuple(entry.get("secrets") or ())
        if not keys or not all(isinstance(k, str) and k.startswith("whsec_") for k in keys):
            raise ValueError(f"writer {writer_id!r}: give at least one secret, each starting whsec_")
        for key in keys:
            Webhook(key)  # fails now, at load, on a secret that is not base64
        callback = entry.get("callback_url")
        if callback is not None and not str(callback).startswith(("http://", "https://")):
            raise ValueError(f"writer {writer_id!r}: callback_url must be an http(s) URL")
        rate = entry.get("rate_limit")
        if rate is not None:
            try:
                parse_rate(rate)
            except ValueError:
                raise ValueError(f"writer {writer_id!r}: rate_limit {rate!r} is not like '60/minute'") from None
        signed_title = entry.get("require_signed_title", False)
        if not isinstance(signed_title, bool):
            raise ValueError(f"writer {writer_id!r}: require_signed_title must be true or false")
        writers[writer_id] = Writer(writer_id, keys, callback, rate, require_signed_title=signed_title)
    return writers


class WritersFile:
    def __init__(self, path: Path):
        self._file = WatchedJSON(path, parse_writers)

    def get(self, writer_id: str) -> Writer | None:
        return self._file.value().get(writer_id)

    def all(self) -> dict[str, Writer]:
        return self._file.value()


def verify_signature(writer: Writer | None, body: bytes, headers: dict[str, str]) -> TypeGuard[Writer]:
    """True if any of the writer's secrets signed this request, within five minutes
    (so True also says the writer is not None).

    ``standardwebhooks`` compares in constant time and checks the timestamp. An
    unknown writer is checked against a throwaway secret, so the answer takes as long
    and says as little as a wrong signature.
    """
    candidates = writer.secrets if writer else (_DECOY,)
    verified = False
    for secret in candidates:
        try:
            Webhook(secret).verify(body, headers, json_parse=False)
            verified = True
        except Exception:  # noqa: BLE001 - any malformed header is simply "not verified"
            pass
    return verified and writer is not None


_DECOY = new_secret()


def sign(secret: str, *, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Headers for a signed request, as a webhook sender would make them."""
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(timestamp, UTC), body.decode())
    return {"webhook-id": msg_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}
