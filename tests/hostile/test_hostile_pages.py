"""No request leaves a published page for a URL that came from the writer.

A canary HTTP server on loopback counts every request it gets; a review whose every
field points at it (images, styles, scripts, frames, refreshes, plain links) is
published through the whole stack and opened in headless Chromium. The canary must
hear nothing, and the page must not even have tried.
"""

from __future__ import annotations

import http.server
import json
import threading
import uuid

import pytest

from tests.conftest import fixture_bytes
from tests.integration.test_page_in_browser import browser, load  # noqa: F401 - the shared browser fixture
from tests.support.processes import poll

pytestmark = pytest.mark.integration


def lures(canary: str) -> list[str]:
    return [
        f'<img src="{canary}/img">',
        f'<link rel="stylesheet" href="{canary}/css">',
        f'<script src="{canary}/js"></script>',
        f'<iframe src="{canary}/frame"></iframe>',
        f'<meta http-equiv="refresh" content="0;url={canary}/refresh">',
        f'<div style="background:url({canary}/bg)">x</div>',
        f'<video poster="{canary}/poster"></video>',
        f'<object data="{canary}/object"></object>',
        f"![image]({canary}/markdown)",
        f"{canary}/plain-text-url",
    ]


def test_nothing_is_fetched_from_a_url_in_writer_text(local_stack, browser):  # noqa: F811
    gets: list[str] = []

    class Canary(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            gets.append(self.path)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Canary)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    canary = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        bait = lures(canary)
        source = json.loads(fixture_bytes("glasshouse.json"))
        review = source | {
            "title": f"Canary {uuid.uuid4().hex[:6]} " + bait[0],
            "author": bait[1][:99],
            "note": bait[4],
            "directors": [bait[2][:100]],
            "cast": [b[:100] for b in bait[3:8]],
            "body": "\n\n".join([*bait, source["body"]]),
        }
        record = local_stack.wait_for(local_stack.submit(json.dumps(review).encode()).json()["id"])
        assert record["state"] == "published", record["errors"]

        # The reader's way in: the index, then the article (then its feed, which a browser shows as text).
        for url in (f"{local_stack.env['MARQUEE_PUBLIC_BASE_URL']}/index.html", record["urls"]["article"]):
            load(browser, url)
            tried = browser.execute_script(
                "return performance.getEntriesByType('resource').map(e => e.name).concat([location.href])"
            )
            assert not [t for t in tried if t.startswith(canary)], tried
        # A page that had fetched would have done so by now; give a stray request a bounded chance to land.
        with pytest.raises(AssertionError):
            poll(lambda: gets, timeout=1.5, what="a request to the canary")
        assert gets == []
        assert "plain-text-url" in browser.find_element("tag name", "main").text  # shown, as text
    finally:
        server.shutdown()
        server.server_close()
