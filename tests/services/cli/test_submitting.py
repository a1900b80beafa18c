"""`marquee submit`'s parts that need no stack: finding files, signing, following with one
deadline, dry-run previews written to real files, and the progress bar's manners."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
import tempfile
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from services.cli import preview as preview_module
from services.cli import submitting
from services.cli.preview import preview_files, preview_one
from services.cli.submitting import Sent, find_reviews, follow_many, post_one
from shared.writers import Writer, new_secret, verify_signature
from tests.conftest import fixture_bytes, fixture_json
from tests.support.processes import REPO

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def write_json(path: Path, data: dict) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False))
    return path


# --- finding files -------------------------------------------------------------------------


def test_a_folder_gives_its_json_and_text_files_by_name(tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    for name in ["b.txt", "a.json", "C.JSON", "notes.md", ".hidden.json", "draft.txt~"]:
        (folder / name).write_text("x")
    (folder / "older").mkdir()
    (folder / "older" / "d.json").write_text("x")

    assert [p.name for p in find_reviews([folder])] == ["C.JSON", "a.json", "b.txt"]


def test_files_named_outright_are_taken_whatever_their_suffix_and_only_once(tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    (folder / "a.json").write_text("x")
    review = tmp_path / "review.md"
    review.write_text("x")

    found = find_reviews([review, folder, folder / "a.json", Path(str(folder) + "/./a.json")])
    assert found == [review, folder / "a.json"]
    assert submitting.media_type(review) == "text/plain"
    assert submitting.media_type(folder / "a.json") == "application/json"
    with pytest.raises(FileNotFoundError):
        find_reviews([tmp_path / "missing"])


# --- dry-run previews ----------------------------------------------------------------------


def test_a_good_review_is_previewed_as_the_pipeline_would_publish_it(tmp_path):
    review = write_json(tmp_path / "glasshouse.json", fixture_json("glasshouse.json"))
    out = tmp_path / "preview"

    preview = preview_one(review, out=out, writer="alice", now=NOW)

    assert preview.ok and preview.problems == [] and preview.slug == "glasshouse-2025"
    folder = out / "reviews" / "glasshouse-2025"
    assert preview.folder == folder
    expected = {
        "index.html",
        "review.json",
        "instagram.json",
        "youtube.json",
        "instagram/card.jpg",
        "instagram/caption.txt",
        "instagram/post.json",
        "youtube/thumbnail.jpg",
        "youtube/teaser.json",
    }
    written = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert written == expected == {str(p.relative_to(folder)) for p in preview.files}

    base = out.resolve().as_uri() + "/reviews/glasshouse-2025"
    html = (folder / "index.html").read_text()
    assert "Glasshouse" in html and "Ruth Ellery" in html
    assert f"{base}/index.html" in html and f"{base}/instagram/card.jpg" in html  # public URLs point into the preview
    data = json.loads((folder / "review.json").read_text())
    assert data["url"] == f"{base}/index.html" and data["rating"] == 4 and data["certificate"] == "12A"
    instagram = json.loads((folder / "instagram.json").read_text())
    assert instagram["article_url"] == f"{base}/index.html" and "Glasshouse" in instagram["caption"]
    assert (folder / "instagram/caption.txt").read_text() == instagram["caption"]
    youtube = json.loads((folder / "youtube.json").read_text())
    assert youtube["thumbnail_url"] == f"{base}/youtube/thumbnail.jpg" and "Glasshouse" in youtube["title"]
    with Image.open(folder / "instagram/card.jpg") as card:
        assert card.format == "JPEG" and card.size == (1080, 1350)
    with Image.open(folder / "youtube/thumbnail.jpg") as thumbnail:
        assert thumbnail.format == "JPEG" and thumbnail.size == (1280, 720)


def test_a_review_breaking_content_rules_gets_every_problem_and_writes_nothing(tmp_path):
    bad = fixture_json("glasshouse.json") | {"rating": 11, "certificate": "Z", "body": "Wow."}
    review = write_json(tmp_path / "bad.json", bad)
    out = tmp_path / "preview"

    preview = preview_one(review, out=out, now=NOW)

    assert not preview.ok and preview.would_answer is None  # accepted by ingest, then rejected
    assert {p.field for p in preview.problems} == {"rating", "certificate", "body"}
    assert not out.exists() and preview.files == []


def test_an_unreadable_review_is_what_ingest_would_refuse(tmp_path):
    untitled = tmp_path / "untitled.txt"
    untitled.write_bytes(fixture_bytes("untitled-circus.txt"))
    broken = tmp_path / "broken.json"
    broken.write_text('{"title": ')
    out = tmp_path / "preview"

    refused = preview_one(untitled, out=out, now=NOW)
    assert refused.would_answer == 422 and [p.field for p in refused.problems] == ["title"]
    assert preview_one(broken, out=out, now=NOW).would_answer == 400
    assert not out.exists()

    titled = preview_one(untitled, out=out, title="Circus Preview", now=NOW)  # --title, as for a real submission
    assert titled.ok and (out / "reviews/circus-preview/index.html").is_file()


def test_a_preview_of_an_unreadable_review_names_every_problem_as_ingest_would(tmp_path):
    review = tmp_path / "three.txt"
    review.write_text(
        "Title: The Lamplighter\nCert (UK): 21\nRuntime: -5 mins\nDirector: Ada Quill\nRating *******\n"
        "One night in a town without power. Quill keeps the camera close. It earns its end.\n\n"
        "Written by Sam Okonjo\n"
    )

    refused = preview_one(review, out=tmp_path / "preview", now=NOW)

    assert refused.would_answer == 422
    assert {p.field for p in refused.problems} == {"runtime_minutes", "certificate", "rating"}


def test_a_preview_of_a_file_whose_type_its_content_belies_is_what_ingest_would_answer_415(tmp_path):
    json_as_text = tmp_path / "glasshouse.txt"
    json_as_text.write_bytes(fixture_bytes("glasshouse.json"))  # sent as text/plain: not .json

    refused = preview_one(json_as_text, out=tmp_path / "preview", now=NOW)

    assert refused.would_answer == 415 and [p.field for p in refused.problems] == ["content-type"]


def test_preview_files_prints_paths_and_every_reason_and_fails_if_any_has_problems(tmp_path, capsys):
    good = write_json(tmp_path / "good.json", fixture_json("glasshouse.json"))
    wrong = {"title": "Other", "rating": 11, "certificate": "Z"}
    bad = write_json(tmp_path / "bad.json", fixture_json("glasshouse.json") | wrong)
    out = tmp_path / "preview"

    status = preview_files([good, bad], out=out)

    captured = capsys.readouterr()
    assert status == 1
    index = out / "reviews/glasshouse-2025/index.html"
    assert f"{good}\n" in captured.out and str(index) in captured.out and index.is_file()
    assert "nothing was sent" in captured.out
    lines = captured.err.splitlines()
    assert lines[0] == str(bad) and "validate stage would reject it" in lines[1]
    assert any(line.strip().startswith("- rating: 11") for line in lines)
    assert any(line.strip().startswith("- certificate: 'Z'") for line in lines)
    assert not (out / "reviews/other").exists()


def test_without_out_a_new_temporary_folder_is_used_and_an_empty_one_removed(tmp_path, capsys, monkeypatch):
    made = []
    real = preview_module.default_preview_dir

    def spy() -> Path:
        made.append(real())
        return made[-1]

    monkeypatch.setattr(preview_module, "default_preview_dir", spy)
    bad = write_json(tmp_path / "bad.json", fixture_json("glasshouse.json") | {"rating": 11})
    assert preview_files([bad]) == 1
    assert not made[0].exists()  # nothing to preview, no folder left behind

    good = write_json(tmp_path / "good.json", fixture_json("glasshouse.json"))
    try:
        assert preview_files([good]) == 0
        assert made[1].parent == Path(tempfile.gettempdir())
        assert (made[1] / "reviews/glasshouse-2025/index.html").is_file()
        assert f"Preview: {made[1]}" in capsys.readouterr().out
    finally:
        import shutil

        shutil.rmtree(made[1], ignore_errors=True)


# --- posting and following -----------------------------------------------------------------


def test_post_one_signs_the_file_so_that_ingest_would_verify_it(tmp_path):
    secret = new_secret()
    review = tmp_path / "r.txt"
    review.write_bytes(fixture_bytes("night-ferry.txt"))
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(202, json={"id": "a" * 32, "status_url": "http://ingest/v1/reviews/" + "a" * 32})

    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        sent = post_one(client, review, base_url="http://ingest/", writer="alice", secret=secret, title="Ignored")

    assert sent.accepted and sent.id == "a" * 32 and sent.state == "accepted"
    request = seen[0]
    assert request.url.path == "/v1/writers/alice/reviews" and request.url.params["title"] == "Ignored"
    assert request.headers["content-type"] == "text/plain; charset=utf-8"
    headers = {k.lower(): v for k, v in request.headers.items()}
    assert verify_signature(Writer("alice", (secret,)), request.content, headers)
    assert not verify_signature(Writer("alice", (new_secret(),)), request.content, headers)


@pytest.mark.parametrize(
    ("name", "fixture", "rename"), [("r.txt", "glasshouse.json", "r.json"), ("r.json", "night-ferry.txt", "r.txt")]
)
def test_a_file_whose_content_belies_its_name_is_not_sent_and_the_fix_is_named(tmp_path, name, fixture, rename):
    review = tmp_path / name
    review.write_bytes(fixture_bytes(fixture))

    def server(request: httpx.Request) -> httpx.Response:
        raise AssertionError("nothing is sent")

    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        sent = post_one(client, review, base_url="http://ingest", writer="alice", secret=new_secret())

    assert not sent.accepted and sent.refusal[0].startswith("error 415: not sent: the header says")
    assert sent.refusal[1].endswith(f"name it {rename}")


def test_a_refusal_keeps_the_problem_lines_as_marquee_always_printed_them(tmp_path):
    review = write_json(tmp_path / "r.json", {"title": 3})
    problem = {"detail": "title: must be text", "errors": [{"field": "title", "message": "must be text"}]}
    transport = httpx.MockTransport(lambda request: httpx.Response(422, json=problem))
    with httpx.Client(transport=transport) as client:
        sent = post_one(client, review, base_url="http://ingest", writer="alice", secret=new_secret())
    assert sent.state == "refused" and not sent.succeeded(waited=False)
    assert sent.refusal == ["error 422: title: must be text", "  - title: must be text"]


def test_a_429_or_503_is_sent_again_as_asked_with_the_same_webhook_id(tmp_path):
    secret = new_secret()
    review = write_json(tmp_path / "r.json", fixture_json("glasshouse.json"))
    answers = iter(
        [
            httpx.Response(429, headers={"Retry-After": "7"}, json={"detail": "Too many requests"}),
            httpx.Response(503, json={"detail": "busy"}),  # no Retry-After: a short backoff
            httpx.Response(202, json={"id": "b" * 32, "status_url": "http://ingest/v1/reviews/" + "b" * 32}),
        ]
    )
    seen: list[httpx.Request] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return next(answers)

    waits: list[float] = []
    told: list[tuple[int, float]] = []
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        sent = post_one(
            client,
            review,
            base_url="http://ingest",
            writer="alice",
            secret=secret,
            sleep=waits.append,
            on_retry=lambda path, status, wait: told.append((status, wait)),
        )

    assert sent.accepted and sent.id == "b" * 32
    assert waits == [7.0, 4.0] and told == [(429, 7.0), (503, 4.0)]
    assert len({r.headers["webhook-id"] for r in seen}) == 1  # one webhook, sent three times
    for request in seen:
        assert verify_signature(
            Writer("alice", (secret,)), request.content, {k.lower(): v for k, v in request.headers.items()}
        )


def test_retries_are_bounded_and_the_last_answer_is_reported(tmp_path):
    review = write_json(tmp_path / "r.json", fixture_json("glasshouse.json"))
    transport = httpx.MockTransport(
        lambda r: httpx.Response(429, headers={"Retry-After": "9999"}, json={"detail": "slow down"})
    )
    waits: list[float] = []
    with httpx.Client(transport=transport) as client:
        sent = post_one(
            client,
            review,
            base_url="http://ingest",
            writer="alice",
            secret=new_secret(),
            attempts=3,
            sleep=waits.append,
        )
    assert sent.state == "refused" and sent.refusal == ["error 429: slow down"]
    assert waits == [submitting.MAX_RETRY_WAIT] * 2


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_follow_many_polls_round_robin_until_each_is_final_or_the_one_deadline(tmp_path):
    states = {
        "fast": iter(["received", "validated", "published"]),
        "stuck": iter(["rendered"] * 1000),
        "blip": iter(["503", "received", "rejected"]),
    }
    asked: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        name = request.url.path.rsplit("/", 1)[1]
        asked.append(name)
        state = next(states[name])
        if state == "503":
            return httpx.Response(503, json={"detail": "busy"})
        errors = [{"field": "rating", "message": "no"}] if state == "rejected" else []
        return httpx.Response(200, json={"id": name, "state": state, "errors": errors})

    sents = [Sent(Path(n), status=202, id=n, status_url=f"http://ingest/v1/reviews/{n}") for n in states]
    sents.append(Sent(Path("refused"), status=422, refusal=["error 422: x"]))
    finals: list[str | None] = []
    clock = FakeClock()
    with httpx.Client(transport=httpx.MockTransport(server)) as client:
        follow_many(client, sents, timeout=5, on_final=lambda s: finals.append(s.id), clock=clock, sleep=clock.sleep)

    assert finals == ["fast", "blip"]  # each once, as it got there
    assert asked[:6] == ["fast", "stuck", "blip"] * 2  # round-robin
    assert [s.state for s in sents] == ["published", "rendered", "rejected", "refused"]
    assert clock.now <= 5 and sum(clock.slept) <= 5  # one deadline for all of them
    assert asked.count("stuck") == len(clock.slept) + 1


def test_a_scheduled_review_is_settled_and_shows_when_it_will_be_published():
    record: dict[str, Any] = {
        "id": "s",
        "state": "scheduled",
        "errors": [],
        "urls": None,
        "scheduled_for": "2030-01-01T09:00:00+00:00",
    }
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=record))
    sent = Sent(Path("s"), status=202, id="s", status_url="http://ingest/v1/reviews/s")
    clock = FakeClock()
    with httpx.Client(transport=transport) as client:
        follow_many(client, [sent], timeout=60, clock=clock, sleep=clock.sleep)
    assert clock.slept == [] and sent.succeeded(waited=True)  # nothing more to wait for: it is held until then
    assert sent.record is not None
    assert submitting.status_lines(sent.record) == ["state:    scheduled", "until:    2030-01-01T09:00:00+00:00"]


def test_summary_counts_each_outcome():
    sents = [
        Sent(Path("a"), status=202, id="a", status_url="u", record={"state": "published"}),
        Sent(Path("b"), status=202, id="b", status_url="u", record={"state": "rejected"}),
        Sent(Path("c"), status=202, id="c", status_url="u", record={"state": "uploaded"}),
        Sent(Path("d"), status=413),
        Sent(Path("e")),
    ]
    assert (
        submitting.summary(sents, waited=True) == "5 files: 1 published, 1 rejected, 1 not final, 1 refused, 1 not sent"
    )


# --- the progress bar ----------------------------------------------------------------------


def test_no_progress_bar_unless_on_a_terminal_with_more_than_a_few_files():
    assert not submitting.wants_progress(100, io.StringIO())
    primary, secondary = pty.openpty()
    try:
        with open(secondary, "w", closefd=False) as terminal:
            assert submitting.wants_progress(submitting.PROGRESS_MIN_FILES, terminal)
            assert not submitting.wants_progress(submitting.PROGRESS_MIN_FILES - 1, terminal)
    finally:
        os.close(primary)
        os.close(secondary)


def test_the_bar_goes_to_a_terminal_stderr_and_leaves_piped_stdout_clean(tmp_path):
    folder = tmp_path / "reviews"
    folder.mkdir()
    base = fixture_json("glasshouse.json")
    for n in range(submitting.PROGRESS_MIN_FILES):
        write_json(folder / f"r{n}.json", base | {"title": f"Bar Film {n}"})
    out = tmp_path / "preview"
    primary, secondary = pty.openpty()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TTY_", "NO_COLOR", "FORCE_COLOR"))}
    env |= {"PYTHONPATH": str(REPO), "TERM": "xterm-256color", "COLUMNS": "100"}
    process = subprocess.Popen(
        [sys.executable, "-m", "services.cli.main", "submit", "--dry-run", "--out", str(out), str(folder)],
        stdout=subprocess.PIPE,
        stderr=secondary,
        stdin=subprocess.DEVNULL,
        env=env,
        cwd=REPO,
    )
    os.close(secondary)
    terminal = bytearray()

    def read_terminal() -> None:
        while True:
            try:
                chunk = os.read(primary, 4096)
            except OSError:  # the other end closed
                return
            if not chunk:
                return
            terminal.extend(chunk)

    reader = threading.Thread(target=read_terminal, daemon=True)
    reader.start()
    stdout, _ = process.communicate(timeout=120)
    reader.join(timeout=10)
    os.close(primary)

    assert process.returncode == 0
    text = stdout.decode()
    assert "\x1b" not in text and "previewing" not in text  # piped output is plain lines
    for n in range(submitting.PROGRESS_MIN_FILES):
        assert f"{folder / f'r{n}.json'}\n  slug:     bar-film-{n}-2025\n" in text
    assert text.rstrip().endswith(f"4 files: 4 ready, 0 with problems; nothing was sent. Preview: {out}")
    assert b"previewing" in terminal  # the bar was drawn on the terminal


def test_status_shows_each_stage_with_its_time_and_how_long_it_took():
    from services.cli.submitting import status_lines

    record = {
        "state": "published",
        "errors": [],
        "urls": {},
        "history": [
            {"stage": "ingest", "state": "received", "at": "2026-11-25T02:45:44.148Z"},
            {"stage": "validate", "state": "validated", "at": "2026-11-25T02:45:44.216Z"},
            {"stage": "notify", "state": "published", "at": "2026-11-25T02:45:45.366Z"},
        ],
    }
    lines = status_lines(record)
    assert lines[lines.index("timeline:") + 1 :] == [
        "  02:45:44.148  ingest    received",
        "  02:45:44.216  validate  validated  +0.068 s",
        "  02:45:45.366  notify    published  +1.150 s",
    ]
