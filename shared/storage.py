"""Stores: an S3 bucket (any S3-compatible server) or a local directory, named by URL.

``s3://bucket/prefix`` uses boto3 and honours ``AWS_ENDPOINT_URL``; ``file:///path``
or a plain path is a directory. Both offer the same few operations, and both write
an object whole or not at all, so a reader never sees half a file.

An S3 failure that may pass (a 5xx, throttling, a reset or timed-out connection, a body
cut short) is StorageUnavailable, which stages retry; botocore retries each call, and
S3Store.get also retries a GET whose body breaks off, which botocore does not.

A directory store writes through shared/files.py: each file under a temporary name,
fsynced, renamed, and its directory fsynced, so what was written survives a crash. Its
modes depend on what it holds. The archive (private, the default) is 0600 files in 0700
directories, whatever the umask: unpublished and embargoed reviews, and the requests as
writers sent them, are nobody else's on the machine. The publish store (``public=True``)
is 0644 files in 0755 directories: it *is* the public site, and the web server that
serves it (nginx, a CDN's origin, ``make run``'s /site/) usually runs as another user,
so it must be able to read it; nothing in it is secret, and an embargoed review reaches
it only when the embargo lifts.

A copy from the archive into the publish store is a hard link (one inode, two names), so
the archive's name of a published asset has the public mode too; the archive's 0700
directories still keep everyone else from reaching it by that name.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import io
import os
import random
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol
from urllib.parse import urlparse

import boto3
import boto3.s3.transfer
import botocore.config
import botocore.exceptions
import urllib3.exceptions

from shared.errors import ObjectNotFound, StorageUnavailable
from shared.files import (
    PRIVATE_DIR,
    PRIVATE_FILE,
    PUBLIC_DIR,
    PUBLIC_FILE,
    make_dirs,
    make_private_dir,
    replace_durably,
    temporary_beside,
    write_atomic,
)

# Above this, S3Store.put_large sends a file in parts of this size (S3's minimum part is 5 MiB).
MULTIPART_THRESHOLD = 8 * 1024 * 1024

# botocore's request_checksum_calculation and response_checksum_validation
ChecksumCalculation = Literal["when_supported", "when_required"]


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    sha256: str | None  # hex; None where the store does not know it

    @classmethod
    def of(cls, data: bytes) -> ObjectInfo:
        return cls(size=len(data), sha256=sha256_hex(data))


class Store(Protocol):
    url: str

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> None: ...
    def get(self, key: str) -> bytes: ...
    def put_large(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> None: ...
    def head(self, key: str) -> ObjectInfo | None: ...
    def copy(
        self,
        source: Store,
        source_key: str,
        key: str,
        *,
        content_type: str,
        cache_control: str | None = None,
        sha256: str | None = None,
    ) -> None: ...
    def list(self, prefix: str) -> list[str]: ...
    def delete(self, key: str) -> None: ...
    def ping(self) -> None: ...


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def check_key(key: str) -> str:
    """Keys are built by Marquee from ids and checked slugs; refuse anything that could escape."""
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts) or "\\" in key:
        raise ValueError(f"unsafe storage key {key!r}")
    return key


class LocalStore:
    def __init__(self, root: Path, url: str, *, public: bool = False):
        self.root = root
        self.url = url
        self.public = public
        self.file_mode, self.dir_mode = (PUBLIC_FILE, PUBLIC_DIR) if public else (PRIVATE_FILE, PRIVATE_DIR)

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> None:
        # Durable before it is visible, and the rename durable too: an accepted request
        # survives a crash (shared/files.py).
        try:
            write_atomic(self._path(key), data, mode=self.file_mode, dir_mode=self.dir_mode)
        except OSError as exc:
            raise StorageUnavailable(f"cannot write {key}: {exc.strerror}") from exc

    def put_large(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> None:
        """As ``put``: a file is a file, however large."""
        self.put(key, data, content_type=content_type, cache_control=cache_control)

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise ObjectNotFound(key) from None
        except OSError as exc:
            raise StorageUnavailable(f"cannot read {key}: {exc.strerror}") from exc

    def head(self, key: str) -> ObjectInfo | None:
        try:
            data = self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:  # the key only, never the directory: errors reach writers' status
            raise StorageUnavailable(f"cannot read {key}: {exc.strerror}") from exc
        return ObjectInfo.of(data)

    def copy(
        self,
        source: Store,
        source_key: str,
        key: str,
        *,
        content_type: str,
        cache_control: str | None = None,
        sha256: str | None = None,
    ) -> None:
        """Copy ``source_key`` from ``source`` to ``key`` here: from another directory on the
        same filesystem, a hard link, with no read or write of the data."""
        if not isinstance(source, LocalStore):
            self.put(key, source.get(source_key), content_type=content_type, cache_control=cache_control)
            return
        path, origin = self._path(key), source._path(source_key)
        # Linked beside the target and renamed over it, as put writes. Sharing the inode is
        # safe because no store changes a file in place: put and copy replace it whole.
        tmp = temporary_beside(path)
        try:
            make_dirs(path.parent, mode=self.dir_mode)
            os.link(origin, tmp)
        except FileNotFoundError:
            raise ObjectNotFound(source_key) from None
        except OSError:  # another filesystem, or one without hard links: copy the bytes
            self.put(key, source.get(source_key), content_type=content_type, cache_control=cache_control)
            return
        try:
            if not self._takes_mode_of(tmp):
                tmp.unlink()  # a private copy of a public file: its own bytes, its own mode
                self.put(key, source.get(source_key), content_type=content_type, cache_control=cache_control)
                return
            replace_durably(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StorageUnavailable(f"cannot write {key}: {exc.strerror}") from exc
        # Renaming onto a link to the same file (a copy onto itself) does nothing, and
        # leaves the temporary name behind.
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()

    def _takes_mode_of(self, linked: Path) -> bool:
        """Whether a file linked in here has (or now has) this store's mode.

        Into the publish store, a private archive file is opened up to 0644: it is being
        published. Into the archive, a public file is not closed down, which would hide it
        from the web server: the caller copies its bytes instead."""
        if stat.S_IMODE(linked.stat().st_mode) == self.file_mode:
            return True
        if not self.public:
            return False
        os.chmod(linked, self.file_mode)
        return True

    def list(self, prefix: str) -> list[str]:
        base = self._path(prefix.rstrip("/"))
        if not base.is_dir():
            return []
        return sorted(
            str(p.relative_to(self.root)) for p in base.rglob("*") if p.is_file() and not p.name.startswith(".tmp-")
        )

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink(missing_ok=True)
        except OSError as exc:
            raise StorageUnavailable(f"cannot delete {key}: {exc.strerror}") from exc

    def ping(self) -> None:
        if not self.root.is_dir() or not os.access(self.root, os.W_OK):
            raise StorageUnavailable(f"store directory {self.root} is missing or not writable")


_TRANSIENT_CODES = {"500", "502", "503", "504", "SlowDown", "RequestTimeout", "InternalError", "ServiceUnavailable"}

# What the connection can raise, during a call or while reading a body. botocore wraps
# most of it (ResponseStreamingError, ReadTimeoutError, IncompleteReadError, ...: all
# BotoCoreError), but not all: an error answer's body (a 404's XML) is read outside its
# wrapping, and a reset there escapes as urllib3's ProtocolError.
_CONNECTION_ERRORS = (
    botocore.exceptions.BotoCoreError,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
)


class _BrokenAnswer(StorageUnavailable):
    """An S3 answer broke off after its headers, which botocore does not retry."""


class S3Store:
    def __init__(
        self,
        bucket: str,
        prefix: str,
        url: str,
        *,
        checksum_calculation: ChecksumCalculation = "when_supported",
        timeout: float = 20.0,
        max_attempts: int = 5,
    ):
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = url
        config = botocore.config.Config(
            connect_timeout=min(timeout, 5.0),
            read_timeout=timeout,
            # A whole stage retries on failure, but redoing one call is far cheaper than redoing
            # the stage's forty: botocore tries each call this many times, with backoff. "legacy"
            # mode, because "standard" stops retrying once its retry quota is spent, which a
            # store failing a third of its calls spends in seconds (seen in make chaos).
            retries={"mode": "legacy", "max_attempts": max_attempts},
            request_checksum_calculation=checksum_calculation,
            response_checksum_validation=checksum_calculation,
            max_pool_connections=20,
        )
        # boto3 reads AWS_ENDPOINT_URL itself, so MinIO or moto need no code here.
        self.client = boto3.client("s3", config=config)
        self.max_attempts = max_attempts
        # "when_required" is for servers that refuse checksum headers: send none of ours either.
        self.send_checksums = checksum_calculation == "when_supported"

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _call(self, what: str, fn, /, **kwargs):
        try:
            return fn(Bucket=self.bucket, **kwargs)
        except botocore.exceptions.ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code", ""))
            status = str(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", ""))
            if code in ("NoSuchKey", "404", "NotFound"):
                raise ObjectNotFound(kwargs.get("Key", "")) from None
            if code in _TRANSIENT_CODES or status.startswith("5"):
                raise StorageUnavailable(f"S3 {what} failed: {code}") from exc
            raise
        except _CONNECTION_ERRORS as exc:
            raise StorageUnavailable(f"S3 {what} failed: {type(exc).__name__}") from exc

    def put(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> None:
        extra = {"CacheControl": cache_control} if cache_control else {}
        digest = hashlib.sha256(data).digest()
        if self.send_checksums:
            # S3 verifies the SHA-256 on arrival and keeps it, so head() can compare
            # without a download; the metadata copy serves servers that keep none.
            extra |= {"ChecksumAlgorithm": "SHA256", "ChecksumSHA256": base64.b64encode(digest).decode()}
        self._call(
            "put",
            self.client.put_object,
            Key=self._key(key),
            Body=data,
            ContentType=content_type,
            Metadata={"sha256": digest.hex()},
            **extra,
        )

    def get(self, key: str) -> bytes:
        """The whole object. botocore retries a request but not the reading of an answer's
        body, so a GET whose answer breaks off (reset, timeout, cut short) is made again
        here, up to max_attempts times, before StorageUnavailable hands over to the
        stage's retries."""
        full = self._key(key)
        attempt = 1
        while True:
            try:
                return self._get_once(full)
            except _BrokenAnswer:
                if attempt >= self.max_attempts:
                    raise
            time.sleep(random.uniform(0, min(1.0, 0.05 * 2**attempt)))  # full jitter: readers do not retry in step
            attempt += 1

    def _get_once(self, full: str) -> bytes:
        try:
            body = self._call("get", self.client.get_object, Key=full)["Body"]
        except StorageUnavailable as exc:
            cause = exc.__cause__
            if isinstance(cause, _CONNECTION_ERRORS) and not isinstance(cause, botocore.exceptions.BotoCoreError):
                # Not botocore's own error, so it never retried it: an error answer's body
                # (a 404's XML) broke off after the headers.
                raise _BrokenAnswer(f"S3 get failed while reading the answer: {type(cause).__name__}") from cause
            raise
        try:
            # read() without a size ends by comparing the bytes read with the Content-Length
            # the server announced (IncompleteReadError if fewer), so a body cut short is
            # never taken for the object. Never read it by parts here.
            return body.read()
        except _CONNECTION_ERRORS as exc:
            with contextlib.suppress(*_CONNECTION_ERRORS):
                body.close()
            raise _BrokenAnswer(f"S3 get failed while reading the answer: {type(exc).__name__}") from exc

    def put_large(self, key: str, data: bytes, *, content_type: str, cache_control: str | None = None) -> None:
        """``put`` for files of megabytes (a teaser video): above MULTIPART_THRESHOLD, a
        multipart upload (boto3's managed transfer), each part retried on its own rather than
        the whole file. The hash goes in the metadata, as ``put`` does, since a multipart
        object's own checksum is a composite of its parts'."""
        extra: dict[str, str | dict[str, str]] = {"ContentType": content_type, "Metadata": {"sha256": sha256_hex(data)}}
        if cache_control:
            extra["CacheControl"] = cache_control
        transfer = boto3.s3.transfer.TransferConfig(
            multipart_threshold=MULTIPART_THRESHOLD, multipart_chunksize=MULTIPART_THRESHOLD, max_concurrency=2
        )
        self._call(
            "multipart put",
            lambda Bucket, **kw: self.client.upload_fileobj(io.BytesIO(data), Bucket, **kw),
            Key=self._key(key),
            ExtraArgs=extra,
            Config=transfer,
        )

    def head(self, key: str) -> ObjectInfo | None:
        mode = {"ChecksumMode": "ENABLED"} if self.send_checksums else {}
        try:
            meta = self._call("head", self.client.head_object, Key=self._key(key), **mode)
        except ObjectNotFound:
            return None
        checksum = meta.get("ChecksumSHA256")
        if checksum and "-" not in checksum:  # "-N" marks a multipart composite, not the object's hash
            return ObjectInfo(size=meta["ContentLength"], sha256=base64.b64decode(checksum).hex())
        return ObjectInfo(size=meta["ContentLength"], sha256=meta.get("Metadata", {}).get("sha256"))

    def copy(
        self,
        source: Store,
        source_key: str,
        key: str,
        *,
        content_type: str,
        cache_control: str | None = None,
        sha256: str | None = None,
    ) -> None:
        """Copy ``source_key`` from ``source`` to ``key`` here: between buckets of the same
        S3 server, server-side (CopyObject), with no download or upload of the data."""
        if not (isinstance(source, S3Store) and source.client.meta.endpoint_url == self.client.meta.endpoint_url):
            self.put(key, source.get(source_key), content_type=content_type, cache_control=cache_control)
            return
        extra = {"CacheControl": cache_control} if cache_control else {}
        # No x-amz-checksum-algorithm: some S3-compatible servers refuse it on a copy (R2
        # answers 501). S3 and MinIO carry the source's checksum over; for servers that
        # do not, head() reads the hash from the metadata copy set here.
        self._call(
            "copy",
            self.client.copy_object,
            Key=self._key(key),
            CopySource={"Bucket": source.bucket, "Key": source._key(source_key)},
            MetadataDirective="REPLACE",
            ContentType=content_type,
            Metadata={"sha256": sha256} if sha256 else {},
            **extra,
        )

    def list(self, prefix: str) -> list[str]:
        full = self._key(prefix.rstrip("/")) + "/"
        keys: list[str] = []
        token: dict[str, str] = {}
        while True:
            page = self._call("list", self.client.list_objects_v2, Prefix=full, **token)
            keys += [obj["Key"][len(self.prefix) + 1 if self.prefix else 0 :] for obj in page.get("Contents", [])]
            if not page.get("IsTruncated"):
                return sorted(keys)
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def list_folders(self, prefix: str) -> Iterator[str]:
        """The names of the folders directly under ``prefix``, one listing page at a time,
        without listing what is inside them."""
        full = self._key(prefix.rstrip("/")) + "/"
        token: dict[str, str] = {}
        while True:
            page = self._call("list", self.client.list_objects_v2, Prefix=full, Delimiter="/", **token)
            for common in page.get("CommonPrefixes", []):
                yield common["Prefix"][len(full) :].rstrip("/")
            if not page.get("IsTruncated"):
                return
            token = {"ContinuationToken": page["NextContinuationToken"]}

    def delete(self, key: str) -> None:
        self._call("delete", self.client.delete_object, Key=self._key(key))

    def ping(self) -> None:
        self._call("ping", self.client.head_bucket)


def serves_one_host(url: str) -> bool:
    """Whether the store at ``url`` is a local directory: only processes on this host see it.

    Services on several hosts share nothing but Redis and the S3 API: a directory store there
    would split the archive (or the site) into one per host, and submissions accepted on one
    would be missing on the others. Fine for ``make run`` and a single machine."""
    return urlparse(url).scheme in ("file", "")


def open_store(
    url: str,
    *,
    public: bool = False,
    checksum_calculation: ChecksumCalculation = "when_supported",
    timeout: float = 20.0,
    max_attempts: int = 5,
) -> Store:
    """The store at ``url``. ``public``: the publish store, whose files a directory store
    leaves world-readable (see above); S3 buckets keep their own policy either way."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ValueError(f"store URL {url!r} names no bucket")
        return S3Store(
            parsed.netloc,
            parsed.path,
            url,
            checksum_calculation=checksum_calculation,
            timeout=timeout,
            max_attempts=max_attempts,
        )
    if parsed.scheme in ("file", ""):
        root = Path(parsed.path if parsed.scheme == "file" else url).resolve()
        if public:
            make_dirs(root, mode=PUBLIC_DIR)
        else:
            make_private_dir(root)
        return LocalStore(root, url, public=public)
    raise ValueError(f"store URL {url!r}: use s3://bucket/prefix, file:///path or a plain path")
