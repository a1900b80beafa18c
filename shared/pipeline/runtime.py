"""What a stage task works with: the settings, submission states, and the two stores.

Built once per process (``get_runtime``), from the settings.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass

import redis

from shared.config import Settings, get_settings
from shared.connection import connect
from shared.errors import ObjectNotFound, TransientError
from shared.keys import MANIFEST, public_url, published_key, review_key
from shared.models import Manifest, Review
from shared.observability import logs
from shared.outbound.deliveries import Deliveries, Subscriber
from shared.outbound.events import announce, recipients
from shared.state import SubmissionStates
from shared.storage import Store, open_store, serves_one_host

log = logging.getLogger("marquee.runtime")


@dataclass(frozen=True)
class Runtime:
    settings: Settings
    states: SubmissionStates
    archive: Store
    publish: Store

    def public_url(self, key: str) -> str:
        return public_url(self.settings.public_base_url, key)

    def load_review(self, id: str) -> Review:
        return Review.model_validate_json(self.archive.get(review_key(id)))

    def published_revision(self, slug: str) -> int:
        """The revision now public at ``slug``, from its manifest; 0 if none is."""
        try:
            return Manifest.model_validate_json(self.publish.get(published_key(slug, MANIFEST))).revision
        except ObjectNotFound:
            return 0

    @contextlib.contextmanager
    def slug_lease(self, slug: str) -> Iterator[None]:
        """Hold ``slug``'s lease (``SubmissionStates.slug_lock``) for the block: one writer
        of a slug's public objects at a time. Waiting too long is transient: retried."""
        lock = self.states.slug_lock(
            slug, seconds=self.settings.task_time_limit + 30, wait=self.settings.task_soft_time_limit / 2
        )
        if not lock.acquire():
            raise TransientError(f"the slug {slug} is busy: another upload, withdrawal or rollback holds it")
        try:
            yield
        finally:
            try:
                lock.release()
            except redis.exceptions.LockError:
                # It lapsed: this holder outlived the lease, and another may have taken it.
                log.warning("the lease on %s lapsed before it was released", slug)

    def announce(self, event: dict) -> list[str]:
        """Fan an event out to the outbound webhook subscribers that want it."""
        return announce(event, deliveries=Deliveries(self.states.redis), to=self.recipients())

    def recipients(self) -> dict[str, Subscriber]:
        return recipients(
            subscribers_file=self.settings.subscribers_file,
            writers_file=self.settings.writers_file,
            allow=self.settings.outbound_allow,
        )


def announce_one_host_stores(settings: Settings) -> list[str]:
    """At start-up, say in the log which stores are local directories and so serve one host only.

    Called by the ingest service and each worker as they start (not per task): an operator who
    spreads the services over machines reads it before the first submission goes missing."""
    local = [
        name
        for name, url in (("archive", settings.archive_url), ("publish", settings.publish_url))
        if serves_one_host(url)
    ]
    for name in local:
        logs.event(
            "store.one_host",
            store=name,
            url=getattr(settings, f"{name}_url"),
            detail=(
                f"the {name} store is a local directory: it serves this host only. Run ingest and every "
                "worker on this one host, or use an s3:// store to spread them over several."
            ),
        )
    return local


@functools.lru_cache(maxsize=1)
def get_runtime() -> Runtime:
    settings = get_settings()
    open_s3 = functools.partial(
        open_store,
        checksum_calculation=settings.s3_checksum_calculation,
        timeout=settings.s3_timeout,
        max_attempts=settings.s3_max_attempts,
    )
    return Runtime(
        settings=settings,
        states=SubmissionStates(connect(settings.redis)),
        archive=open_s3(settings.archive_url),
        publish=open_s3(settings.publish_url, public=True),
    )
