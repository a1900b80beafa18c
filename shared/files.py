"""Files on a local disk: written whole, private unless said otherwise, durable once written.

Everything Marquee keeps on a local disk goes through here: the archive store when it is a
directory (shared/storage.py), and what ``marquee run`` keeps under ``var/`` (the writers
file, the ops token, ``stack.json``, supervisord's configuration). The archive holds
writers' unpublished reviews and embargoed ones; ``var/`` holds the webhook secrets and
the ops token. So:

- **Private by default.** A file is created 0600 and a directory 0700 whatever the umask
  (the mode is set with ``fchmod``/``chmod``, which the umask does not touch), so another
  account on the machine reads none of it even where the umask is 000 or 002. The one
  public exception, the publish store served as a web site, asks for 0644/0755 itself.
- **Whole or not at all.** A file is written under a temporary name beside its target and
  renamed over it: a reader sees the old file or the new, never half of one.
- **Durable once written.** The data is fsynced before the rename, and the directory after
  it: without the second, a crash can lose the rename itself, and with it an archived
  request ingest already answered 202 for. A directory made on the way is fsynced into its
  parent for the same reason.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import stat
from pathlib import Path

PRIVATE_FILE, PRIVATE_DIR = 0o600, 0o700
PUBLIC_FILE, PUBLIC_DIR = 0o644, 0o755

_SEQUENCE = itertools.count()  # next() on a count is atomic under the GIL


def temporary_beside(path: Path) -> Path:
    """A temporary name next to ``path``, unique per process and call; listings skip ".tmp-" files.

    Unique by construction, so O_EXCL never meets an existing file (tempfile.mkstemp's
    random names and retries cost more than the write itself on ingest's hot path)."""
    return path.parent / f".tmp-{os.getpid()}-{next(_SEQUENCE)}-{path.name}"


def sync_directory(path: Path) -> None:
    """fsync a directory, so the names made, renamed or removed in it survive a crash."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path, *, mode: int = PRIVATE_DIR) -> None:
    """Make ``path`` and any missing parents with ``mode`` (umask or not); leave existing ones be."""
    missing: list[Path] = []
    while not path.exists():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        try:
            os.mkdir(directory, mode)
        except FileExistsError:
            continue  # made meanwhile by another process, which sets its mode
        os.chmod(directory, mode)  # mkdir's mode passed through the umask
        sync_directory(directory.parent)


def make_private_dir(path: Path) -> None:
    """``make_dirs`` at 0700, and an existing directory of ours that others can enter closed to them.

    For directories that are wholly Marquee's (``var/``, the archive's root), made before
    these modes were kept or by hand."""
    make_dirs(path, mode=PRIVATE_DIR)
    info = path.stat()
    if info.st_uid == os.geteuid() and stat.S_IMODE(info.st_mode) & 0o077:
        os.chmod(path, PRIVATE_DIR)


def replace_durably(temporary: Path, path: Path) -> None:
    """Rename ``temporary`` over ``path``, then fsync the directory so the rename is kept."""
    os.replace(temporary, path)
    sync_directory(path.parent)


def write_atomic(path: Path, data: bytes, *, mode: int = PRIVATE_FILE, dir_mode: int = PRIVATE_DIR) -> None:
    """Write ``data`` to ``path`` whole, with ``mode``, durably; missing directories get ``dir_mode``.

    Raises OSError; nothing is left under the temporary name when it does."""
    make_dirs(path.parent, mode=dir_mode)
    temporary = temporary_beside(path)
    try:
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
        try:
            os.fchmod(fd, mode)  # os.open's mode passed through the umask
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)  # the data on disk before its name is
        finally:
            os.close(fd)
        replace_durably(temporary, path)
    except OSError:
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
