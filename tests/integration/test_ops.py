"""Operators' views against the real stack: `marquee queues|failed|retry`, /ops in headless
Chromium, /metrics, the JSON log lines that tell one submission's story, and, last,
`marquee reconcile` after Redis loses everything (FLUSHALL): submissions held at
different stages are each published exactly once.

A submission is made to fail honestly: the archive path its render stage must use
(``submissions/<id>/out/``) is occupied by a file, so the store cannot read or write
there (NotADirectoryError), and this stack gives up at once (MARQUEE_MAX_RETRIES=0). Removing
the file is the fix an operator would make before pressing Retry.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import fixture_bytes
from tests.support.processes import NO_SWEEPER, REPO, RedisServer, Stack, poll, stop_process

pytestmark = pytest.mark.integration

OPS_TOKEN = "ops_" + secrets.token_urlsafe(24)
BEARER = {"authorization": f"Bearer {OPS_TOKEN}"}


@pytest.fixture(scope="module")
def ops_stack(tmp_path_factory):
    """A stack of its own, on a redis-server of its own (test_reconcile flushes it), with
    an ops token, and no retries, so a stage whose store fails gives up at once."""
    root = tmp_path_factory.mktemp("ops-stack")
    server = RedisServer(root / "redis").start()
    stack = Stack(
        root,
        redis_url=server.url,
        archive_url=str(root / "archive"),
        publish_url=str(root / "publish"),
        # The operator's reconcile, with no sweeper reconciling before it (tests/chaos covers that).
        extra_env={"MARQUEE_OPS_TOKEN": OPS_TOKEN, "MARQUEE_MAX_RETRIES": "0", **NO_SWEEPER},
    )
    try:
        yield stack.start()
    finally:
        stack.stop()
        server.stop()


def marquee(stack: Stack, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    """Run the `marquee` command as an operator would, with the services' settings."""
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", *args],
        env=stack.env,
        cwd=stack.dir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def review(title: str) -> bytes:
    return fixture_bytes("glasshouse.json").replace(b"Glasshouse", title.encode())


def break_archive_for(stack: Stack, submission_id: str) -> Path:
    """Occupy the directory the render stage writes to with a file: its writes fail."""
    blocker = stack.dir / "archive" / "submissions" / submission_id / "out"  # ops_stack's archive_url
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_text("not a directory")
    return blocker


def hold_in_render(stack: Stack, title: str) -> str:
    """Submit a review and hold it at the start of render (tests/support/pause.py)."""
    (stack.pause_dir / "marquee.render").touch()
    submission_id = stack.submit(review(title)).json()["id"]
    poll(lambda: (stack.pause_dir / "marquee.render.pid").exists(), timeout=30, what="render to start")
    (stack.pause_dir / "marquee.render.pid").unlink()
    return submission_id


def stop_worker(stack: Stack, queue: str) -> None:
    """Stop a stage's worker once it holds no message: stop_process signals the whole
    process group, so a pool child still acknowledging its last task would be lost."""
    poll(
        lambda: all(json.loads(raw)[2] != queue for raw in stack.redis.hvals("unacked")),
        timeout=30,
        what=f"the {queue} worker to finish what it holds",
    )
    stop_process(stack.workers[queue])


def queues_json(stack: Stack) -> dict[str, dict]:
    return {row["queue"]: row for row in json.loads(marquee(stack, "queues", "--json").stdout)["queues"]}


def settled_task_runs(stack: Stack) -> dict[tuple[str, tuple], float]:
    """/metrics once the runs of earlier tests are all counted: each worker sends its runs'
    counts once a second, so a count unchanged for two seconds has nothing on its way."""
    last: dict[str, float | None] = {"total": None, "since": 0.0}

    def unchanged() -> dict | None:
        samples = metric_samples(stack.client.get("/metrics", headers=BEARER).text)
        total = sum(
            v
            for (name, labels), v in samples.items()
            if name == "marquee_task_runs_total" and ("task", "release") not in labels
        )  # beat's, every second
        if total != last["total"]:
            last.update(total=total, since=time.monotonic())
            return None
        return samples if time.monotonic() - (last["since"] or 0.0) >= 2 else None

    return poll(unchanged, timeout=30, what="earlier task runs to be counted", interval=0.25)


def metric_samples(text: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


# --- the browser -------------------------------------------------------------------------


@pytest.fixture
def browser(tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver")
    chromium, driver_path = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver_path):
        pytest.skip("needs Debian's chromium and chromium-driver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = chromium
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--window-size=1280,1500",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def page_queues(driver) -> dict[str, dict[str, str]]:
    """The stages table as the browser has it, read in one call: a page refreshing every
    second replaces its elements under a cell-by-cell read, which on a loaded machine
    takes longer than that and never finishes without a stale element."""
    from lxml import html

    page = html.fromstring(driver.page_source)
    return {
        row.get("data-queue", ""): {
            cell.get("data-field", ""): " ".join(cell.text_content().split())
            for cell in row.cssselect("td[data-field]")
        }
        for row in page.cssselect("#stages tr[data-queue]")
    }


def assert_not_blank(png: Path) -> None:
    from PIL import Image

    with Image.open(png) as image:
        assert image.width >= 1000 and image.height >= 800
        colours = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colours and len(colours) > 50, "the screenshot is (nearly) one colour"
    most = max(count for count, _ in colours)
    assert most < 0.9 * image.width * image.height, "the screenshot is mostly one colour"


def test_the_dashboard_matches_the_queues_refreshes_itself_and_retries_a_failure(ops_stack, browser, tmp_path):
    from selenium.webdriver.common.by import By

    stack = ops_stack
    stop_worker(stack, "render")
    failing = stack.submit(review("Dashboard Fails")).json()["id"]
    passing = stack.submit(review("Dashboard Passes")).json()["id"]
    for submission_id in (failing, passing):
        stack.wait_for(submission_id, "validated")
    blocker = break_archive_for(stack, failing)

    # With render stopped both wait in its queue: the command and the page say the same.
    # (A worker sends its runs' counts once a second: validate's two arrive within that.)
    cli = poll(
        lambda: (rows := queues_json(stack))["validate"]["processed_5m"] >= 2 and rows,
        timeout=10,
        what="validate's two runs to be counted",
    )
    assert cli["render"]["waiting"] == 2 and cli["render"]["workers"] == 0
    assert cli["render"]["oldest_age_seconds"] is not None and cli["render"]["oldest_age_seconds"] >= 0
    assert cli["validate"]["workers"] == 1 and cli["validate"]["processed_5m"] >= 2
    host = stack.url.removeprefix("http://")
    browser.get(f"http://ops:{OPS_TOKEN}@{host}/ops?refresh=0")  # Basic auth, as a person's browser does it
    shown = page_queues(browser)
    assert set(shown) == set(cli)
    for queue, row in cli.items():
        for field in ("waiting", "unacked", "workers", "processed_5m", "failed_5m", "retried_5m"):
            assert shown[queue][field] == str(row[field]), (queue, field, shown[queue], row)
    assert "bad" in browser.find_element(
        By.CSS_SELECTOR, '#stages tr[data-queue="render"] td[data-field="workers"]'
    ).get_attribute("class")
    states = {
        row.get_attribute("data-submission"): row.find_element(By.CSS_SELECTOR, '[data-field="state"]').text
        for row in browser.find_elements(By.CSS_SELECTOR, "#submissions tr[data-submission]")
    }
    assert states[failing] == states[passing] == "validated"
    # … and so does /metrics.
    gauges = metric_samples(stack.client.get("/metrics", headers=BEARER).text)
    for queue, row in cli.items():
        assert gauges[("marquee_queue_messages", (("queue", queue), ("state", "waiting")))] == row["waiting"]
        assert gauges[("marquee_queue_workers", (("queue", queue),))] == row["workers"]
    assert gauges[("marquee_queue_oldest_message_age_seconds", (("queue", "render"),))] > 0

    # It refreshes itself (no JavaScript): start render, and watch the page catch up.
    browser.get(f"http://{host}/ops?refresh=1")
    assert browser.find_element(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]').get_attribute("content").startswith("1")
    stack.start_worker("render")
    stack.wait_for_worker("render")
    assert stack.wait_for(passing)["state"] == "published"
    assert stack.wait_for(failing)["state"] == "failed"
    poll(
        lambda: browser.find_elements(By.CSS_SELECTOR, f'#failures tr[data-failure="{failing}"]'),
        timeout=15,
        what="the failure to appear on the refreshing page",
    )
    poll(lambda: page_queues(browser)["render"]["waiting"] == "0", timeout=15, what="render's queue to show empty")

    browser.get(f"http://{host}/ops?refresh=0")
    row = browser.find_element(By.CSS_SELECTOR, f'#failures tr[data-failure="{failing}"]')
    assert "render" in row.text and "Not a directory" in row.text
    screenshot = tmp_path / "ops-dashboard.png"
    assert browser.save_screenshot(str(screenshot))
    assert_not_blank(screenshot)

    # The operator fixes the store and presses Retry.
    blocker.unlink()
    row.find_element(By.CSS_SELECTOR, "button").click()
    poll(lambda: browser.find_elements(By.ID, "notice"), timeout=15, what="the retry's notice")
    assert "Retried" in browser.find_element(By.ID, "notice").text
    record = stack.wait_for(failing)
    assert record["state"] == "published", record
    assert [h["state"] for h in record["history"]].count("published") == 1
    assert len(stack.events("review.published", failing)) == 1
    browser.get(f"http://{host}/ops?refresh=0")
    assert not browser.find_elements(By.CSS_SELECTOR, f'#failures tr[data-failure="{failing}"]')
    browser.save_screenshot(str(tmp_path / "ops-dashboard-after-retry.png"))

    # Its own page tells its story: failed in render, retried, published.
    browser.find_element(By.CSS_SELECTOR, f'#submissions tr[data-submission="{failing}"] a').click()
    story = browser.find_element(By.TAG_NAME, "main").text
    assert failing in story and "awaiting retry" in story and story.count("published") >= 2
    browser.save_screenshot(str(tmp_path / "ops-submission.png"))


def test_failed_lists_the_stage_error_and_attempts_and_retry_replays_it(ops_stack):
    stack = ops_stack
    before = settled_task_runs(stack)
    submission_id = hold_in_render(stack, "Command Line Failure")
    blocker = break_archive_for(stack, submission_id)
    (stack.pause_dir / "marquee.render").unlink()
    assert stack.wait_for(submission_id)["state"] == "failed"

    listed = {f["id"]: f for f in json.loads(marquee(stack, "failed", "--json").stdout)}
    failure = listed[submission_id]
    assert failure["source"] == "submission" and failure["stage"] == "render" and failure["attempts"] == 1
    assert "render failed after 1 attempt(s)" in failure["error"] and "Not a directory" in failure["error"]
    assert failure["subject"] == "alice" and failure["failed_at"]
    table = marquee(stack, "failed").stdout
    assert submission_id in table and "render" in table

    # Retried while the store is still broken: it fails again, and that is recorded afresh.
    assert f"retried {submission_id}" in marquee(stack, "retry", submission_id).stdout
    poll(
        lambda: (
            stack.status(submission_id)["state"] == "failed"
            and stack.redis.hget(f"marquee:sub:{submission_id}", "replays") == "1"
        ),
        timeout=30,
        what="the second failure",
    )
    again = {f["id"]: f for f in json.loads(marquee(stack, "failed", "--json").stdout)}[submission_id]
    assert again["replays"] == 1 and again["failed_at"] >= failure["failed_at"]
    assert len(stack.events("review.failed", submission_id)) == 2

    blocker.unlink()
    marquee(stack, "retry", submission_id)
    record = stack.wait_for(submission_id, "published")
    assert [h["state"] for h in record["history"]].count("published") == 1
    assert record["errors"] == []
    assert submission_id not in {f["id"] for f in json.loads(marquee(stack, "failed", "--json").stdout)}
    # Retrying again is harmless; an unknown id is an error.
    assert "not failed: it is published" in marquee(stack, "retry", submission_id).stdout
    assert marquee(stack, "retry", "0" * 32, check=False).returncode == 1
    assert len(stack.events("review.published", submission_id)) == 1

    expected = {
        ("marquee_submissions_failed_total", (("stage", "render"),)): 2,
        ("marquee_task_runs_total", (("queue", "render"), ("result", "failed"), ("task", "render"))): 2,
        ("marquee_submissions_requeued_total", (("reason", "retry"),)): 2,
        ("marquee_submissions_awaiting_retry", ()): 0,
    }

    def counted() -> dict:
        after = metric_samples(stack.client.get("/metrics", headers=BEARER).text)
        return {key: after[key] - before.get(key, 0) for key in expected}

    # Runs are counted within a second of ending (each worker sends its counts once a second).
    poll(lambda: counted() == expected, timeout=10, what="the metrics to count the failures")


def test_every_transition_is_one_json_line_with_the_same_fields_in_every_service(ops_stack):
    stack = ops_stack
    submission_id = stack.submit(review("Log Story")).json()["id"]
    assert stack.wait_for(submission_id)["state"] == "published"

    def story() -> list[dict]:
        lines = []
        for log in sorted(stack.dir.glob("*.log")):
            for line in log.read_text(errors="replace").splitlines():
                if submission_id in line and line.startswith("{") and '"event": "transition"' in line:
                    lines.append(json.loads(line) | {"file": log.name})
        return lines

    lines = poll(lambda: len(story()) >= 6 and story(), timeout=10, what="the transition lines")
    assert {tuple(sorted(k for k in line if k != "file")) for line in lines} == {
        ("at", "duration_seconds", "event", "id", "stage", "state", "task_id", "writer")
    }
    by_state = {line["state"]: line for line in lines}
    assert set(by_state) == {"received", "validated", "rendered", "social_ready", "uploaded", "published"}
    assert len(lines) == 6  # one line each
    assert by_state["received"]["file"] == "ingest.log" and by_state["received"]["stage"] == "ingest"
    assert by_state["received"]["task_id"] is None and by_state["received"]["duration_seconds"] >= 0
    assert by_state["rendered"]["file"] == "worker-render.log"
    assert by_state["published"]["file"] == "worker-notify.log"
    for state in ("validated", "rendered", "social_ready", "uploaded", "published"):
        line = by_state[state]
        assert line["writer"] == "alice" and line["task_id"] and line["duration_seconds"] >= 0, line


def test_metrics_count_the_pipeline_and_read_the_queues(ops_stack):
    stack = ops_stack
    before = settled_task_runs(stack)
    accepted = ("marquee_submissions_accepted_total", ())
    published = ("marquee_submissions_published_total", ())

    submission_id = stack.submit(review("Metrics Counted")).json()["id"]
    assert stack.wait_for(submission_id)["state"] == "published"
    render_runs = ("marquee_task_runs_total", (("queue", "render"), ("result", "succeeded"), ("task", "render")))
    social_durations = ("marquee_task_duration_seconds_count", (("queue", "social"), ("task", "social")))
    notify_waits = ("marquee_queue_wait_seconds_count", (("queue", "notify"),))

    def counted() -> dict | None:
        samples = metric_samples(stack.client.get("/metrics", headers=BEARER).text)
        render, social, notify = (
            samples.get(key, 0) - before.get(key, 0) for key in (render_runs, social_durations, notify_waits)
        )
        # (the notify queue also carries outbound webhook deliveries: at least one wait)
        return samples if (render, social) == (1, 1) and notify >= 1 else None

    # Each run is counted within a second of its end (workers send their counts once a second).
    after = poll(counted, timeout=10, what="the render, social and notify runs to be counted")
    assert after[accepted] == before[accepted] + 1
    assert after[published] == before[published] + 1
    assert after[("marquee_redis_up", ())] == 1
    # Ingest's own: the submission's POST, by route template (not by writer or id).
    assert (
        after[
            (
                "marquee_http_requests_total",
                (("method", "POST"), ("route", "/v1/writers/{writer}/reviews"), ("status", "202")),
            )
        ]
        >= 1
    )
    for name, _ in after:
        assert name.startswith(("marquee_", "process_", "python_")), name


def test_ops_takes_the_token_and_refuses_everything_else(ops_stack):
    client = ops_stack.client
    assert client.get("/ops").status_code == 401
    assert client.get("/ops").headers["www-authenticate"].startswith("Basic ")
    assert client.get("/ops", headers={"authorization": "Bearer nope-nope-nope-nope-nope"}).status_code == 401
    assert client.get("/ops", auth=("anyone", "wrong" + OPS_TOKEN)).status_code == 401
    assert client.get("/metrics").status_code == 401  # with a token set, /metrics takes it too
    page = client.get("/ops", auth=("anyone", OPS_TOKEN))
    assert page.status_code == 200 and "Marquee operations" in page.text
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert client.get("/ops", headers=BEARER).status_code == 200

    # A browser attaches Basic credentials by itself, so its POST must be our own form.
    assert client.post("/ops/retry", auth=("ops", OPS_TOKEN), data={"id": "0" * 32}).status_code == 403
    from services.ingest.ops import csrf_token

    form = {"id": "0" * 32, "csrf": csrf_token(OPS_TOKEN)}
    cross = client.post("/ops/retry", auth=("ops", OPS_TOKEN), data=form, headers={"sec-fetch-site": "cross-site"})
    assert cross.status_code == 403
    same = client.post("/ops/retry", auth=("ops", OPS_TOKEN), data=form, headers={"sec-fetch-site": "same-origin"})
    assert same.status_code == 303 and "Not+retried" in same.headers["location"]
    # A script with the Bearer token needs no form token.
    scripted = client.post("/ops/retry", headers={**BEARER, "accept": "application/json"}, data={"id": "0" * 32})
    assert scripted.status_code == 200 and scripted.json()[0]["retried"] is False


def test_without_a_token_ops_and_metrics_refuse_everyone(redis_server, tmp_path):
    """An ingest deployed with no MARQUEE_OPS_TOKEN serves neither page open: each answers 401
    with a challenge, whatever credentials come, and says what the operator must set."""
    closed = Stack(
        tmp_path,
        redis_url=redis_server.url.replace("/0", "/15"),  # a database no other test uses
        archive_url=str(tmp_path / "archive"),
        publish_url=str(tmp_path / "publish"),
        extra_env={"MARQUEE_OPS_TOKEN": ""},  # a variable left blank is no token either
    )
    closed.ingest = closed._spawn("ingest", ["ingest"])  # ingest alone: no worker is needed
    try:
        poll(lambda: closed.client.get("/readyz").status_code == 200, timeout=30, what="ingest /readyz")
        anyone = {"authorization": "Bearer " + "x" * 32}
        for method, path, headers in (
            ("GET", "/metrics", {}),
            ("GET", "/metrics", anyone),
            ("GET", "/ops", {}),
            ("GET", "/ops", anyone),
            ("POST", "/ops/retry", anyone),
        ):
            answer = closed.client.request(
                method, path, headers=headers, data={"all": "1"} if method == "POST" else None
            )
            assert answer.status_code == 401, (method, path, answer.status_code)
            assert answer.headers["www-authenticate"].startswith("Basic realm="), path
            assert "MARQUEE_OPS_TOKEN" in answer.text and "marquee_" not in answer.text, path
        assert "/ops and /metrics refuse every request" in (tmp_path / "ingest.log").read_text()
    finally:
        closed.stop()


def test_queues_and_failed_find_the_make_run_stack_from_its_checkout(ops_stack, tmp_path):
    """In the checkout where `make run` runs, var/stack.json is all the commands need."""
    stack = ops_stack
    (tmp_path / "var").mkdir()
    (tmp_path / "var" / "stack.json").write_text(
        json.dumps(
            {
                "ingest_url": stack.url,
                "redis_url": stack.env["MARQUEE_REDIS_URL"],
                "writers_file": str(stack.writers_file),
            }
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("MARQUEE_")} | {"PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "queues", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows = {row["queue"]: row for row in json.loads(done.stdout)["queues"]}
    assert rows["validate"]["workers"] == 1
    table = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "queues"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert table.returncode == 0 and "validate" in table.stdout and "oldest" in table.stdout
    (tmp_path / "elsewhere").mkdir()
    elsewhere = subprocess.run(
        [sys.executable, "-m", "services.cli.main", "failed"],
        env=env,
        cwd=tmp_path / "elsewhere",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert elsewhere.returncode != 0 and "MARQUEE_REDIS_URL" in elsewhere.stderr
    assert httpx.get(f"{stack.url}/healthz").status_code == 200


# --- reconcile: last, as it flushes this stack's Redis -------------------------------------


def by_id(findings: list[dict]) -> dict[str, dict]:
    return {f["id"]: f for f in findings}


def test_reconcile_after_flushall_publishes_every_held_submission_once(ops_stack):
    stack = ops_stack
    earlier = stack.submit(review("Already Out")).json()["id"]
    assert stack.wait_for(earlier)["state"] == "published"

    # Hold reviews at three stages: each stage's worker stopped, its messages waiting.
    stop_worker(stack, "upload")
    at_upload = stack.submit(review("Held For Upload")).json()["id"]
    stack.wait_for(at_upload, "social_ready")
    stop_worker(stack, "render")
    at_render = [stack.submit(review(f"Held For Render {n}")).json()["id"] for n in (1, 2)]
    for submission_id in at_render:
        stack.wait_for(submission_id, "validated")
    stop_worker(stack, "validate")
    at_validate = stack.submit(review("Held For Validate")).json()["id"]
    stack.wait_for(at_validate, "received")
    held = [at_validate, *at_render, at_upload]

    # While Redis is whole, reconcile sees them all queued and leaves them be.
    seen = by_id(json.loads(marquee(stack, "reconcile", "--dry-run", "--min-age", "0", "--json").stdout))
    assert {seen[i]["action"] for i in held} == {"in_flight"}
    assert seen[earlier]["action"] == "final"

    stack.redis.flushall()
    assert stack.redis.dbsize() == 0
    assert stack.client.get(f"/v1/reviews/{at_render[0]}").status_code == 404

    done = by_id(json.loads(marquee(stack, "reconcile", "--min-age", "0", "--json").stdout))
    expected = {
        at_validate: ("received", ["validate"]),
        at_render[0]: ("validated", ["render"]),
        at_render[1]: ("validated", ["render"]),
        at_upload: ("social_ready", ["upload"]),
        earlier: ("published", []),
    }  # its manifest is public: it was announced when it went out, and is not again
    for submission_id, (state, tasks) in expected.items():
        assert done[submission_id]["action"] == "recreated", done[submission_id]
        assert (done[submission_id]["state"], done[submission_id]["tasks"]) == (state, tasks)
    record = stack.status(at_render[0])
    assert record["writer"] == "alice" and record["slug"] == "held-for-render-1-2025"
    assert [h["stage"] for h in record["history"]][:2] == ["ingest", "reconcile"]

    for queue in ("validate", "render", "upload"):
        stack.start_worker(queue)
    for queue in ("validate", "render", "upload"):
        stack.wait_for_worker(queue)
    for submission_id in [*held, earlier]:
        record = stack.wait_for(submission_id, timeout=60)
        assert record["state"] == "published", record
        assert [h["state"] for h in record["history"]].count("published") == 1
        assert len(stack.events("review.published", submission_id)) == (submission_id != earlier)
        manifest = httpx.get(record["urls"]["manifest"], timeout=10).json()
        assert manifest["id"] == submission_id

    # Run again: everything is final, nothing is sent.
    again = by_id(json.loads(marquee(stack, "reconcile", "--min-age", "0", "--json").stdout))
    assert {again[i]["action"] for i in [*held, earlier]} == {"final"}
    summary = marquee(stack, "reconcile").stdout
    assert "final" in summary and "requeued" not in summary and "recreated" not in summary
