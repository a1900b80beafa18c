"""Both store backends behave alike: the local directory, and S3 over HTTP (moto server)."""

import errno
import hashlib
import os
import uuid

import botocore.exceptions
import httpx
import pytest

from shared.errors import ObjectNotFound, StorageUnavailable
from shared.storage import LocalStore, ObjectInfo, open_store


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path, monkeypatch):
    if request.param == "local":
        return open_store(f"file://{tmp_path}/store")
    moto = request.getfixturevalue("moto")
    for name, value in moto.env().items():
        monkeypatch.setenv(name, value)
    bucket = f"bucket-{uuid.uuid4().hex[:12]}"
    moto.create_bucket(bucket)
    return open_store(f"s3://{bucket}/prefix")


def test_put_then_get_head_list_delete(store):
    data = "Amélie — ★★★★★".encode()
    store.put("reviews/amelie/index.html", data, content_type="text/html; charset=utf-8", cache_control="no-cache")
    store.put("reviews/amelie/review.json", b"{}", content_type="application/json")
    assert store.get("reviews/amelie/index.html") == data
    info = store.head("reviews/amelie/index.html")
    assert info.size == len(data) and info.sha256 == hashlib.sha256(data).hexdigest()
    assert store.list("reviews/amelie") == ["reviews/amelie/index.html", "reviews/amelie/review.json"]
    assert store.list("reviews/nothing") == []
    store.delete("reviews/amelie/review.json")
    assert store.head("reviews/amelie/review.json") is None
    with pytest.raises(ObjectNotFound):
        store.get("reviews/amelie/review.json")
    store.ping()


def test_an_overwrite_replaces_the_whole_object(store):
    store.put("a/b.txt", b"first version, longer", content_type="text/plain")
    store.put("a/b.txt", b"second", content_type="text/plain")
    assert store.get("a/b.txt") == b"second"
    assert store.list("a") == ["a/b.txt"]  # no temporary files left behind


def make_store(kind: str, request, tmp_path, monkeypatch, *, public_read: bool = False):
    if kind == "local":
        return open_store(f"file://{tmp_path}/{uuid.uuid4().hex[:8]}")
    moto = request.getfixturevalue("moto")
    for name, value in moto.env().items():
        monkeypatch.setenv(name, value)
    bucket = f"bucket-{uuid.uuid4().hex[:12]}"
    moto.create_bucket(bucket, public_read=public_read)
    return open_store(f"s3://{bucket}/prefix")


@pytest.mark.parametrize("kinds", ["local>local", "s3>s3", "local>s3", "s3>local"])
def test_copy_puts_the_same_bytes_under_the_new_key_and_leaves_the_source(kinds, request, tmp_path, monkeypatch):
    source_kind, target_kind = kinds.split(">")
    source = make_store(source_kind, request, tmp_path, monkeypatch)
    target = make_store(target_kind, request, tmp_path, monkeypatch)
    data = "a card ★".encode() * 1000
    digest = hashlib.sha256(data).hexdigest()
    source.put("submissions/x/out/card.jpg", data, content_type="image/jpeg")
    target.put("reviews/x/card.jpg", b"an older card", content_type="image/jpeg")

    target.copy(
        source,
        "submissions/x/out/card.jpg",
        "reviews/x/card.jpg",
        content_type="image/jpeg",
        cache_control="public, max-age=300",
        sha256=digest,
    )

    assert target.get("reviews/x/card.jpg") == data  # the older object is replaced whole
    assert target.head("reviews/x/card.jpg") == ObjectInfo(size=len(data), sha256=digest)
    assert source.get("submissions/x/out/card.jpg") == data
    assert target.list("reviews") == ["reviews/x/card.jpg"]  # no temporary files left behind
    with pytest.raises(ObjectNotFound):
        target.copy(source, "submissions/x/out/nothing.jpg", "reviews/x/nothing.jpg", content_type="image/jpeg")


def test_a_local_copy_is_a_link_that_later_writes_to_the_source_do_not_change(tmp_path):
    archive, publish = open_store(str(tmp_path / "archive")), open_store(str(tmp_path / "publish"), public=True)
    archive.put("out/page.html", b"<p>first</p>", content_type="text/html")
    publish.copy(archive, "out/page.html", "site/page.html", content_type="text/html")
    assert (tmp_path / "publish/site/page.html").stat().st_ino == (tmp_path / "archive/out/page.html").stat().st_ino

    archive.put("out/page.html", b"<p>second</p>", content_type="text/html")  # put replaces, never edits
    assert publish.get("site/page.html") == b"<p>first</p>"
    assert (tmp_path / "publish/site/page.html").stat().st_mode & 0o777 == 0o644
    publish.copy(publish, "site/page.html", "site/page.html", content_type="text/html")  # onto itself
    assert publish.get("site/page.html") == b"<p>first</p>"
    assert [p.name for p in (tmp_path / "publish/site").iterdir()] == ["page.html"]  # no temporary name left


def test_a_local_copy_across_filesystems_copies_the_bytes(tmp_path, monkeypatch):
    archive, publish = open_store(str(tmp_path / "archive")), open_store(str(tmp_path / "publish"))
    archive.put("out/page.html", b"<p>hi</p>", content_type="text/html")

    def cross_device(*args, **kwargs):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(os, "link", cross_device)
    publish.copy(archive, "out/page.html", "site/page.html", content_type="text/html")
    assert publish.get("site/page.html") == b"<p>hi</p>" and publish.list("site") == ["site/page.html"]


def test_an_s3_copy_between_buckets_is_server_side_and_sets_the_copys_headers(moto, request, tmp_path, monkeypatch):
    archive = make_store("s3", request, tmp_path, monkeypatch)
    publish = make_store("s3", request, tmp_path, monkeypatch, public_read=True)
    archive.put("out/index.html", b"<p>hi</p>", content_type="text/html; charset=utf-8")

    def no_download(**kwargs):
        raise AssertionError("the copy downloaded the object")

    monkeypatch.setattr(archive.client, "get_object", no_download)
    publish.copy(
        archive,
        "out/index.html",
        "reviews/x/index.html",
        content_type="text/html; charset=utf-8",
        cache_control="public, max-age=300",
        sha256=hashlib.sha256(b"<p>hi</p>").hexdigest(),
    )

    response = httpx.get(f"{moto.endpoint}/{publish.bucket}/prefix/reviews/x/index.html")
    assert response.content == b"<p>hi</p>"
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=300"


def test_s3_objects_keep_content_type_and_cache_control(moto, monkeypatch):
    for name, value in moto.env().items():
        monkeypatch.setenv(name, value)
    moto.create_bucket("public-bucket", public_read=True)
    store = open_store("s3://public-bucket")
    store.put(
        "reviews/x/index.html",
        b"<p>hi</p>",
        content_type="text/html; charset=utf-8",
        cache_control="public, max-age=300",
    )
    response = httpx.get(f"{moto.endpoint}/public-bucket/reviews/x/index.html")
    assert response.headers["content-type"] == "text/html; charset=utf-8"
    assert response.headers["cache-control"] == "public, max-age=300"


def test_an_unreachable_s3_is_a_transient_error(monkeypatch):
    from tests.support.processes import free_port

    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{free_port()}")  # nothing listens there
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "x")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    store = open_store("s3://nowhere")
    with pytest.raises(StorageUnavailable):
        store.put("a.txt", b"x", content_type="text/plain")


def test_store_urls_name_their_backend(tmp_path):
    assert isinstance(open_store(str(tmp_path / "plain")), LocalStore)
    with pytest.raises(ValueError, match="s3://bucket"):
        open_store("ftp://example/x")


def test_local_store_errors_name_the_key_never_the_directory(tmp_path):
    store = open_store(str(tmp_path / "store"))
    store.put("submissions/a", b"a file where a folder should be", content_type="text/plain")
    with pytest.raises(StorageUnavailable) as caught:
        store.head("submissions/a/out/index.html")
    assert "submissions/a/out/index.html" in str(caught.value) and str(tmp_path) not in str(caught.value)


class StrictS3Proxy:
    """An S3-compatible server of the kind that refuses botocore's newer checksum headers:
    a proxy in front of moto answering 400 to any request that carries one."""

    def __init__(self, upstream: str):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        from urllib.parse import urlparse

        from tests.chaos.faults import forward

        target = urlparse(upstream)
        self.refused = 0
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self):
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                if any(
                    k.lower().startswith(("x-amz-checksum-", "x-amz-sdk-checksum"))
                    or (k.lower() == "x-amz-checksum-mode")
                    for k in self.headers
                ):
                    proxy.refused += 1
                    payload = b"<Error><Code>InvalidArgument</Code><Message>checksum headers</Message></Error>"
                    self.send_response(400)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                forward(self, body, host=target.hostname, port=target.port)

            do_GET = do_PUT = do_HEAD = do_DELETE = do_POST = _handle

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_when_required_works_with_servers_that_refuse_checksum_headers(moto, monkeypatch):
    moto.create_bucket("strict-bucket")
    proxy = StrictS3Proxy(moto.endpoint)
    try:
        for name, value in moto.env().items():
            monkeypatch.setenv(name, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
        with pytest.raises(botocore.exceptions.ClientError):  # the default is refused there…
            open_store("s3://strict-bucket").put("a.txt", b"x", content_type="text/plain")
        store = open_store("s3://strict-bucket", checksum_calculation="when_required")  # …this is not
        store.put("reviews/x/index.html", b"<p>hi</p>", content_type="text/html")
        assert store.get("reviews/x/index.html") == b"<p>hi</p>"
        info = store.head("reviews/x/index.html")
        assert info and info.sha256 == hashlib.sha256(b"<p>hi</p>").hexdigest()  # from the metadata copy
        refused_before = proxy.refused
        store.list("reviews")
        store.copy(
            store,
            "reviews/x/index.html",
            "reviews/y/index.html",
            content_type="text/html",
            sha256=hashlib.sha256(b"<p>hi</p>").hexdigest(),
        )
        copied = store.head("reviews/y/index.html")
        assert copied and copied.sha256 == hashlib.sha256(b"<p>hi</p>").hexdigest()
        assert proxy.refused == refused_before
    finally:
        proxy.stop()


@pytest.fixture
def permissive_umask():
    """A umask that would leave every file world-writable, were modes left to it."""
    previous = os.umask(0)
    yield
    os.umask(previous)


def modes(root) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mode & 0o777 for p in [root, *root.rglob("*")]}


def test_the_archive_is_private_and_the_publish_store_readable_whatever_the_umask(tmp_path, permissive_umask):
    archive, publish = open_store(str(tmp_path / "a/archive")), open_store(str(tmp_path / "publish"), public=True)
    archive.put("submissions/x/request.json", b"{}", content_type="application/json")
    archive.put("submissions/x/out/index.html", b"<p>draft</p>", content_type="text/html")
    archive.put("submissions/x/request.json", b"{}", content_type="application/json")  # replaced: still private
    publish.put("index.html", b"<p>site</p>", content_type="text/html")
    publish.copy(archive, "submissions/x/out/index.html", "reviews/x/index.html", content_type="text/html")

    assert modes(tmp_path / "a/archive") == {
        ".": 0o700,
        "submissions": 0o700,
        "submissions/x": 0o700,
        "submissions/x/out": 0o700,
        "submissions/x/request.json": 0o600,
        # Published, so a link to the public file: readable, but only through 0700 directories.
        "submissions/x/out/index.html": 0o644,
    }
    assert modes(tmp_path / "publish") == {
        ".": 0o755,
        "index.html": 0o644,
        "reviews": 0o755,
        "reviews/x": 0o755,
        "reviews/x/index.html": 0o644,
    }

    # Into the archive, a public file is copied, not linked and closed down under the web server.
    archive.copy(publish, "index.html", "submissions/x/out/site.html", content_type="text/html")
    assert (tmp_path / "a/archive/submissions/x/out/site.html").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "publish/index.html").stat().st_mode & 0o777 == 0o644
    assert archive.get("submissions/x/out/site.html") == b"<p>site</p>"


def test_an_archive_directory_left_open_by_an_older_version_is_closed(tmp_path):
    (tmp_path / "archive").mkdir(mode=0o755)
    os.chmod(tmp_path / "archive", 0o755)
    open_store(str(tmp_path / "archive"))
    assert (tmp_path / "archive").stat().st_mode & 0o777 == 0o700


def test_a_local_put_and_a_linked_copy_sync_the_directory_after_the_rename(tmp_path, monkeypatch):
    from shared import files

    archive, publish = open_store(str(tmp_path / "archive")), open_store(str(tmp_path / "publish"), public=True)
    archive.put("out/page.html", b"<p>hi</p>", content_type="text/html")
    steps: list[str] = []
    real_replace, real_sync = os.replace, files.sync_directory

    def replace(src, dst):
        steps.append(f"replace {dst}")
        real_replace(src, dst)

    def sync(path):
        steps.append(f"sync {path}")
        real_sync(path)

    monkeypatch.setattr(os, "replace", replace)
    monkeypatch.setattr(files, "sync_directory", sync)
    archive.put("out/page.html", b"<p>again</p>", content_type="text/html")
    publish.copy(archive, "out/page.html", "site/page.html", content_type="text/html")
    assert steps == [
        f"replace {tmp_path}/archive/out/page.html",
        f"sync {tmp_path}/archive/out",
        f"sync {tmp_path}/publish",  # site/ made, and synced into its parent
        f"replace {tmp_path}/publish/site/page.html",
        f"sync {tmp_path}/publish/site",
    ]


def test_a_large_file_goes_up_in_parts_and_keeps_its_hash(store):
    from shared.storage import MULTIPART_THRESHOLD

    data = os.urandom(MULTIPART_THRESHOLD + 1024 * 1024)  # two parts
    store.put_large("reviews/x/r/1/video/video.mp4", data, content_type="video/mp4", cache_control="immutable")
    assert store.get("reviews/x/r/1/video/video.mp4") == data
    assert store.head("reviews/x/r/1/video/video.mp4") == ObjectInfo.of(data)
    if not isinstance(store, LocalStore):
        meta = store.client.head_object(Bucket=store.bucket, Key=store._key("reviews/x/r/1/video/video.mp4"))
        assert meta["ETag"].strip('"').endswith("-2"), meta["ETag"]  # S3 marks a multipart object's ETag
        assert meta["ContentType"] == "video/mp4" and meta["CacheControl"] == "immutable"
