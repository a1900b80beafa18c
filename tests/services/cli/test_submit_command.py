"""`marquee submit` with folders, --wait and --dry-run, run as a writer runs it, against
the real stack (redis-server, ingest, a Celery worker per stage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.processes import REPO

pytestmark = pytest.mark.integration

MARQUEE = [sys.executable, "-m", "services.cli.main"]
FIXTURES = REPO / "tests/fixtures/reviews"


def marquee(*args: str, env: dict, cwd: Path = REPO) -> subprocess.CompletedProcess:
    return subprocess.run([*MARQUEE, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180)


def writer_env(stack) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "MARQUEE_WRITER_SECRET"}
    return env | {"PYTHONPATH": str(REPO), "MARQUEE_WRITERS_FILE": str(stack.writers_file)}


def blocks(output: str) -> dict[str, list[str]]:
    """Each file's lines: a line at the margin names a file, the indented ones below are its."""
    found: dict[str, list[str]] = {}
    current = None
    for line in output.splitlines():
        if line.startswith("  ") and current is not None:
            found[current].append(line.strip())
        else:
            current = line
            found.setdefault(current, [])
    return found


def glasshouse(title: str, **changes) -> str:
    return json.dumps(json.loads((FIXTURES / "glasshouse.json").read_text()) | {"title": title} | changes)


def night_ferry(title: str) -> str:
    first, rest = (FIXTURES / "night-ferry.txt").read_text().split("\n", 1)
    assert first.startswith("Title:")  # (with a non-breaking space after the colon, as scraped)
    return f"Title: {title}\n{rest}"


def submission_ids(stack) -> set[str]:
    return {key.split(":")[2] for key in stack.redis.scan_iter("marquee:sub:*") if key.count(":") == 2}


def test_a_folder_with_one_bad_review_publishes_the_good_and_fails_naming_the_bad(local_stack, tmp_path):
    tag = uuid.uuid4().hex[:6]
    folder = tmp_path / "reviews"
    folder.mkdir()
    (folder / "glasshouse.json").write_text(glasshouse(f"Glasshouse Folder {tag}"))
    (folder / "night-ferry.txt").write_text(night_ferry(f"Night Ferry Folder {tag}"))
    (folder / "bad.json").write_text(glasshouse(f"Bad Folder {tag}", rating=11, certificate="Z"))
    (folder / "notes.md").write_text("not a review: a folder's .json and .txt files are its reviews")

    done = marquee(
        "submit",
        str(folder),
        "--writer",
        "alice",
        "--url",
        local_stack.url,
        "--wait",
        "--timeout",
        "90",
        env=writer_env(local_stack),
    )

    assert done.returncode == 1, done.stdout + done.stderr
    out = blocks(done.stdout)
    bad = out[str(folder / "bad.json")]
    assert "state:    rejected" in bad
    assert any(line.startswith("- rating: 11") for line in bad) and any(
        line.startswith("- certificate: 'Z'") for line in bad
    )
    for name, slug in (
        ("glasshouse.json", f"glasshouse-folder-{tag}-2025"),
        ("night-ferry.txt", f"night-ferry-folder-{tag}"),
    ):
        lines = out[str(folder / name)]
        assert lines[0].startswith("accepted: ") and "state:    published" in lines
        article = next(line.split()[1] for line in lines if line.startswith("article:"))
        assert article.endswith(f"/reviews/{slug}/index.html")
        page = httpx.get(article, timeout=10)
        assert page.status_code == 200 and f"Folder {tag}" in page.text
        submission = lines[0].split()[1]
        assert local_stack.status(submission)["state"] == "published"  # the stack agrees
    assert str(folder / "notes.md") not in out
    assert done.stdout.rstrip().endswith("3 files: 2 published, 1 rejected")


def test_a_refused_file_is_named_with_its_reasons_and_the_others_still_go(local_stack, tmp_path):
    tag = uuid.uuid4().hex[:6]
    good = tmp_path / "good.json"
    good.write_text(glasshouse(f"Glasshouse Refusal {tag}"))
    untitled = tmp_path / "untitled.txt"
    untitled.write_bytes((FIXTURES / "untitled-circus.txt").read_bytes())

    done = marquee(
        "submit", str(untitled), str(good), "--writer", "alice", "--url", local_stack.url, env=writer_env(local_stack)
    )

    assert done.returncode == 1
    refused = blocks(done.stderr)[str(untitled)]
    assert refused[0].startswith("error 422") and any(line.startswith("- title: no title given") for line in refused)
    accepted = blocks(done.stdout)[str(good)]
    submission = accepted[0].removeprefix("accepted: ")
    assert local_stack.wait_for(submission)["state"] == "published"
    assert done.stdout.rstrip().endswith("2 files: 1 accepted, 1 refused")


def test_dry_run_writes_the_article_and_teasers_and_posts_nothing(local_stack, tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    (folder / "glasshouse.json").write_text(glasshouse("Glasshouse Dry Run"))
    (folder / "bad.json").write_text(glasshouse("Bad Dry Run", rating=11))
    out = tmp_path / "preview"
    before = submission_ids(local_stack)
    archived = set((Path(local_stack.env["MARQUEE_ARCHIVE_URL"].removeprefix("file://")) / "submissions").glob("*"))

    # With everything it would need to post, and told where to: it still posts nothing.
    done = marquee(
        "submit",
        str(folder),
        "--writer",
        "alice",
        "--url",
        local_stack.url,
        "--dry-run",
        "--out",
        str(out),
        env=writer_env(local_stack),
    )

    assert done.returncode == 1  # one file has a problem
    review = out / "reviews/glasshouse-dry-run-2025"
    for name in (
        "index.html",
        "review.json",
        "instagram.json",
        "instagram/card.jpg",
        "instagram/caption.txt",
        "youtube.json",
        "youtube/thumbnail.jpg",
        "youtube/teaser.json",
    ):
        assert (review / name).is_file() and (review / name).stat().st_size > 0
        assert str(review / name) in done.stdout
    assert "Glasshouse Dry Run" in (review / "index.html").read_text()
    assert (review / "review.json").read_text().count(out.resolve().as_uri()) == 1  # its URL is in the preview
    assert not (out / "reviews/bad-dry-run-2025").exists()
    bad = blocks(done.stderr)[str(folder / "bad.json")]
    assert any(line.startswith("- rating: 11") for line in bad)

    assert submission_ids(local_stack) == before  # the stack got no submission
    assert (
        set((Path(local_stack.env["MARQUEE_ARCHIVE_URL"].removeprefix("file://")) / "submissions").glob("*"))
        == archived
    )
    assert httpx.get(f"{local_stack.url}/site/reviews/glasshouse-dry-run-2025/index.html").status_code == 404


def test_dry_run_needs_no_writer_secret_or_stack_and_writes_outside_the_checkout(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARQUEE_")} | {"PYTHONPATH": str(REPO)}
    review = tmp_path / "the-salt-road.txt"
    review.write_bytes((REPO / "examples/reviews/the-salt-road.txt").read_bytes())
    cwd = tmp_path / "work"
    cwd.mkdir()

    done = marquee("submit", str(review), "--dry-run", env=env, cwd=cwd)

    assert done.returncode == 0, done.stderr
    assert list(cwd.iterdir()) == []  # nothing in the folder it was run from
    preview = Path(done.stdout.rstrip().rsplit("Preview: ", 1)[1])
    try:
        assert (preview / "reviews/the-salt-road/index.html").is_file()
    finally:
        import shutil

        shutil.rmtree(preview)
