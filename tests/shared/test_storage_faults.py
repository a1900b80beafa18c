"""S3Store over moto behind the fault proxy (tests/chaos/faults.py): a GET whose body breaks
off after the headers (reset mid-body, or cut short behind a full Content-Length) gives
the exact object after the store's own retries, or StorageUnavailable; never short bytes,
never an error the stages would not retry."""

import os
import uuid

import pytest

from shared.errors import ObjectNotFound, StorageUnavailable
from shared.operations.reconcile import submission_ids
from shared.storage import S3Store, open_store
from tests.chaos.faults import BODY_FAULTS, FaultyProxy

TRIES = 3  # the store's max_attempts here


@pytest.fixture
def proxy(moto):
    proxy = FaultyProxy(moto.endpoint, rate=0.0, stall_seconds=1.0, faults=BODY_FAULTS).start()
    yield proxy
    proxy.stop()


def store_behind(proxy: FaultyProxy, moto, monkeypatch) -> S3Store:
    for name, value in moto.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    bucket = f"bucket-{uuid.uuid4().hex[:12]}"
    moto.create_bucket(bucket)
    store = open_store(f"s3://{bucket}/prefix", timeout=2.0, max_attempts=TRIES)
    assert isinstance(store, S3Store)
    return store


@pytest.fixture
def store(proxy, moto, monkeypatch) -> S3Store:
    return store_behind(proxy, moto, monkeypatch)


@pytest.mark.parametrize("fault", BODY_FAULTS)
def test_a_body_that_breaks_off_once_is_fetched_again_whole(store, proxy, fault):
    data = os.urandom(300_000)
    store.put("out/card.jpg", data, content_type="image/jpeg")
    proxy.force(fault)
    assert store.get("out/card.jpg") == data
    assert proxy.counts[fault] == 1  # the fault was met, and the store got past it


@pytest.mark.parametrize("fault", BODY_FAULTS)
def test_a_body_that_keeps_breaking_off_is_storage_unavailable_then_recovers(store, proxy, fault):
    data = b"<p>a page</p>" * 1000
    store.put("out/index.html", data, content_type="text/html")
    proxy.force(*[fault] * TRIES)
    with pytest.raises(StorageUnavailable, match="reading the answer"):
        store.get("out/index.html")
    assert proxy.counts[fault] == TRIES
    assert store.get("out/index.html") == data  # the stage's retry, once the store heals


def test_gets_under_body_faults_give_the_exact_bytes_or_storage_unavailable(store, proxy):
    objects = {f"out/{size}.bin": os.urandom(size) for size in (1, 2, 1000, 70_000, 400_000)}
    proxy.rate = 1.0  # PUTs have no body to break: every one passes
    for key, data in objects.items():
        store.put(key, data, content_type="application/octet-stream")
    assert proxy.counts == {"ok": len(objects)}

    proxy.rate = 0.5  # half the GETs break: some gets meet more faults than the store's tries
    outcomes = {"exact": 0, "unavailable": 0}
    for _ in range(8):
        for key, data in objects.items():
            try:
                got = store.get(key)
            except StorageUnavailable:
                outcomes["unavailable"] += 1
                continue
            assert got == data, f"{key}: {len(got)} bytes of {len(data)}"
            outcomes["exact"] += 1
    assert all(proxy.counts[fault] > 0 for fault in BODY_FAULTS), proxy.counts
    assert outcomes["exact"] > 0 and outcomes["unavailable"] > 0, outcomes  # both ways were met


def test_a_missing_objects_error_answer_that_breaks_off_is_asked_for_again(store, proxy):
    # The 404's XML is read outside botocore's wrapping and retries: a reset there used to
    # escape as urllib3's ProtocolError, which fails a submission for good.
    proxy.force("midbody_reset")
    with pytest.raises(ObjectNotFound):
        store.get("out/missing.json")
    proxy.force("truncated")  # the status line still says 404
    with pytest.raises(ObjectNotFound):
        store.get("out/missing.json")
    proxy.force(*["midbody_reset"] * TRIES)
    with pytest.raises(StorageUnavailable):
        store.get("out/missing.json")
    assert proxy.counts["midbody_reset"] == 1 + TRIES and proxy.counts["truncated"] == 1


def test_listing_the_archives_submissions_maps_s3_failures_to_storage_unavailable(moto, monkeypatch):
    # reconcile lists the submissions' folders: once its own call, outside the store's error mapping.
    proxy = FaultyProxy(moto.endpoint, rate=0.0, stall_seconds=1.0).start()
    try:
        store = store_behind(proxy, moto, monkeypatch)
        sid = uuid.uuid4().hex
        store.put(f"submissions/{sid}/request.json", b"{}", content_type="application/json")
        proxy.force(*["500"] * (TRIES + 1))  # more than botocore's tries
        with pytest.raises(StorageUnavailable):
            list(submission_ids(store))
        assert list(submission_ids(store)) == [sid]
    finally:
        proxy.stop()
