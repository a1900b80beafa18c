"""Writers and their webhook secrets, from the JSON file named by ``MARQUEE_WRITERS_FILE``::

    {"writers": {"<writer id>": {"secrets": ["whsec_…"],
                                 "callback_url": "https://…", "callback_secrets": ["whsec_…"],
                                 "rate_limit": "600/minute", "require_signed_title": true}}}

Each direction has secrets of its own. ``secrets`` are the writer's: any one of them
verifies a submission (or withdrawal) from them. ``callback_secrets`` are Marquee's: a
writer with a ``callback_url`` is sent their own reviews' events there, signed with each
of them (one ``v1,`` signature per secret in ``webhook-signature``). So whoever verifies
callbacks cannot submit as the writer, and a callback is never signed with an inbound
secret: a writer with a ``callback_url`` but no ``callback_secrets`` (an entry from before
they existed) still submits, and gets no callbacks until they are added.

Both lists rotate the same way: add the new secret beside the old, move the other side
over, then remove the old. The file is re-read when it changes.

A writer with ``require_signed_title`` has text reviews without a ``Title:`` line
refused: the ?title= query parameter is outside the signature, so whoever relays a
request could change it (docs/SECURITY.md).
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
    callback_secrets: tuple[str, ...] = ()  # sign callbacks; never the inbound ones
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
        callback_keys = _callback_secrets(writer_id, entry, inbound=keys)
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
        writers[writer_id] = Writer(writer_id, keys, callback, rate, callback_keys, require_signed_title=signed_title)
    return writers


def _callback_secrets(writer_id: str, entry: dict, *, inbound: tuple[str, ...]) -> tuple[str, ...]:
    keys = entry.get("callback_secrets") or []
    if not isinstance(keys, list) or not all(isinstance(k, str) and k.startswith("whsec_") for k in keys):
        raise ValueError(f"writer {writer_id!r}: callback_secrets must be a list of secrets, each starting whsec_")
    for key in keys:
        Webhook(key)
        if key in inbound:
            raise ValueError(
                f"writer {writer_id!r}: a callback secret must not also be in secrets "
                "(whoever can verify callbacks could then submit as the writer): give callbacks secrets of their own"
            )
    return tuple(keys)


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
