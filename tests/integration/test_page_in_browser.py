"""Published pages in a real browser: headless Chromium, driven by Selenium through chromedriver.

The review goes through the whole stack, and Chromium loads what was published over
HTTP, at a desktop and a phone width. A page passes when the title, the rating and the
byline are laid out, visible, not covered, and inside the first screen; when the text
a reader sees has enough contrast on what is really behind it (light and dark); and,
for writer text full of markup and scripts, when nothing ran and nothing was injected.

Chromium and chromedriver are system packages (Debian: chromium, chromium-driver); `make
test` installs them, and without them these tests fail. Set MARQUEE_SKIP_BROWSER_TESTS=1
to skip them on a machine that cannot have a browser; nothing else skips them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path

import pytest

from services.upload.catalogue import INDEX_KEY
from tests.conftest import FIXTURES, fixture_bytes

pytestmark = pytest.mark.integration

HOSTILE: list[str] = json.loads((FIXTURES / "hostile.json").read_text())["strings"]
VIEWPORTS = {"desktop": (1280, 800), "phone": (390, 740)}

# Before any page script: dialogs are recorded instead of shown, so an injected alert() can
# be seen without blocking the page (a real dialog is looked for as well).
RECORD_DIALOGS = """
window.__dialogs = [];
for (const name of ['alert', 'confirm', 'prompt', 'print']) {
  window[name] = (...args) => { window.__dialogs.push([name, String(args[0])]); };
}
"""

LAYOUT = """
const el = document.querySelector(arguments[0]);
if (!el) return null;
const r = el.getBoundingClientRect(), s = getComputedStyle(el);
const x = Math.min(Math.max(r.left + r.width / 2, 0), innerWidth - 1), y = Math.min(Math.max(r.top + r.height / 2, 0), innerHeight - 1);
const hit = document.elementFromPoint(x, y);
return {top: r.top, left: r.left, bottom: r.bottom, right: r.right, width: r.width, height: r.height,
        vw: innerWidth, vh: innerHeight, visibility: s.visibility, opacity: Number(s.opacity),
        uncovered: !!hit && (hit === el || el.contains(hit) || hit.contains(el)), text: el.innerText};
"""

# The colour of each element's text and of the first opaque background behind it.
COLOURS = """
const out = [];
for (const sel of arguments[0]) {
  for (const el of document.querySelectorAll(sel)) {
    let bg = 'rgba(0, 0, 0, 0)', node = el;
    while (node && node.nodeType === 1) {
      const c = getComputedStyle(node).backgroundColor;
      if (!/rgba\\(.*, 0\\)$/.test(c) && c !== 'transparent') { bg = c; break; }
      node = node.parentElement;
    }
    if (bg === 'rgba(0, 0, 0, 0)') bg = 'rgb(255, 255, 255)';  // the canvas
    out.push([sel, getComputedStyle(el).color, bg]);
  }
}
return out;
"""
TEXT_SELECTORS = [
    "h1",
    ".kicker",
    ".year",
    ".score",
    ".stars",
    ".byline",
    ".byline .author",
    ".facts dt",
    ".facts dd",
    ".cert",
    ".body p",
    ".note",
    ".more a",
    ".brand",
    ".masthead nav a",
    ".site-footer p",
    ".site-footer a",
    ".card h2 a",
    ".card .meta",
    ".card .summary",
    ".listing-head p",
    ".pager a",
]


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    if os.environ.get("MARQUEE_SKIP_BROWSER_TESTS") == "1":
        pytest.skip("MARQUEE_SKIP_BROWSER_TESTS=1: browser checks skipped on request")
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    assert chromium and driver, "headless Chromium is needed: apt-get install chromium chromium-driver"
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
        "--disable-extensions",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}",
    ):
        options.add_argument(flag)
    options.set_capability("unhandledPromptBehavior", "ignore")  # a dialog stays open for us to find
    log = tmp_path_factory.mktemp("chromedriver") / "chromedriver.log"
    session = webdriver.Chrome(service=Service(executable_path=driver, log_output=str(log)), options=options)
    session.set_page_load_timeout(20)
    session.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": RECORD_DIALOGS})
    yield session
    session.quit()


def load(browser, url: str, *, viewport: str = "desktop", scheme: str = "light") -> None:
    width, height = VIEWPORTS[viewport]
    browser.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": viewport == "phone"},
    )
    browser.execute_cdp_cmd(
        "Emulation.setEmulatedMedia",
        {"media": "screen", "features": [{"name": "prefers-color-scheme", "value": scheme}]},
    )
    browser.get(url)
    assert browser.execute_script("return document.readyState") == "complete"


def assert_on_first_screen(browser, selector: str) -> dict:
    box = browser.execute_script(LAYOUT, selector)
    assert box is not None, f"{selector} is not on the page"
    assert box["width"] > 0 and box["height"] > 0, f"{selector} has no size: {box}"
    assert box["visibility"] == "visible" and box["opacity"] > 0.9, f"{selector} is hidden: {box}"
    assert box["top"] >= 0 and box["bottom"] <= box["vh"] and box["left"] >= 0 and box["right"] <= box["vw"], (
        f"{selector} is not inside the first screen: {box}"
    )
    assert box["uncovered"], f"{selector} is covered by another element"
    assert browser.find_element("css selector", selector).is_displayed()
    return box


def contrast(foreground: str, background: str) -> float:
    def luminance(rgb: str) -> float:
        r, g, b = (int(v) / 255 for v in re.findall(r"[\d.]+", rgb)[:3])
        r, g, b = (c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    hi, lo = sorted((luminance(foreground), luminance(background)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def assert_readable_contrast(browser, where: str) -> None:
    checked = browser.execute_script(COLOURS, TEXT_SELECTORS)
    assert len(checked) > 10, checked
    for selector, colour, background in checked:
        assert "rgba" not in colour, f"{where}: {selector} has translucent text {colour}"
        ratio = contrast(colour, background)
        assert ratio >= 4.5, f"{where}: {selector} is {colour} on {background}, {ratio:.2f}:1"


def published(stack, body: bytes, content_type: str = "application/json") -> dict:
    response = stack.submit(body, content_type=content_type)
    assert response.status_code == 202, response.text
    record = stack.wait_for(response.json()["id"])
    assert record["state"] == "published", record
    return record


def test_title_rating_and_byline_are_visible_on_a_published_page(local_stack, browser):
    title = f"The Night Ferry {uuid.uuid4().hex[:6]}"
    text = re.sub(r"^Title:.*$", f"Title: {title}", fixture_bytes("night-ferry.txt").decode(), count=1, flags=re.M)
    record = published(local_stack, text.encode(), "text/plain; charset=utf-8")
    for viewport in VIEWPORTS:
        for scheme in ("light", "dark"):
            load(browser, record["urls"]["article"], viewport=viewport, scheme=scheme)
            where = f"{viewport}/{scheme}"
            assert browser.title.startswith(title), where
            assert title in assert_on_first_screen(browser, "h1.title")["text"], where
            assert_on_first_screen(browser, ".verdict .stars")
            stars = browser.find_element("css selector", ".verdict .stars")
            assert stars.get_attribute("role") == "img" and stars.get_attribute("aria-label") == "3.5 out of 5 stars"
            assert "Dana Whitlock" in assert_on_first_screen(browser, ".byline")["text"], where
            assert_readable_contrast(browser, where)
            width = browser.execute_script("return document.documentElement.scrollWidth")
            assert width <= VIEWPORTS[viewport][0], f"{where}: the page scrolls sideways ({width}px)"


def test_the_index_lists_the_latest_review_first_and_readably(local_stack, browser):
    title = f"Index Check {uuid.uuid4().hex[:6]}"
    body = json.loads(fixture_bytes("glasshouse.json")) | {"title": title, "year": None}
    record = published(local_stack, json.dumps(body).encode())
    index_url = f"{local_stack.env['MARQUEE_PUBLIC_BASE_URL']}/{INDEX_KEY}"
    for viewport in VIEWPORTS:
        load(browser, index_url, viewport=viewport)
        box = assert_on_first_screen(browser, ".card:first-child h2 a")
        assert title in box["text"]
        assert_on_first_screen(browser, ".card:first-child .stars")
        assert_readable_contrast(browser, f"index/{viewport}")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= VIEWPORTS[viewport][0]
    browser.find_element("css selector", ".card:first-child h2 a").click()
    assert browser.current_url == record["urls"]["article"]


def test_hostile_writer_text_does_nothing_in_the_browser_and_stays_in_its_slug(local_stack, browser):
    source = json.loads(fixture_bytes("glasshouse.json"))
    suffix = uuid.uuid4().hex[:6]
    records = []
    titles = [HOSTILE[0], HOSTILE[1], HOSTILE[2], HOSTILE[9], HOSTILE[12]]
    for i, title in enumerate(titles):
        others = HOSTILE[i + 1 :] + HOSTILE[: i + 1]
        body = source | {
            "title": f"{title} {suffix}",
            "year": None,
            "author": others[0][:99],
            "note": others[1],
            "directors": [others[2][:100]],
            "cast": [o[:100] for o in others[3:8]],
            "body": "\n\n".join([*others, source["body"]]),
        }
        response = local_stack.submit(json.dumps(body).encode())
        assert response.status_code == 202, response.text
        records.append(response.json())
    records = [local_stack.wait_for(r["id"]) for r in records]
    assert all(r["state"] == "published" for r in records), [(r["state"], r["errors"]) for r in records]

    root = Path(local_stack.env["MARQUEE_PUBLISH_URL"])
    base = local_stack.env["MARQUEE_PUBLIC_BASE_URL"]
    for record in records:
        slug = record["slug"]
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", slug), slug
        assert record["urls"]["article"] == f"{base}/reviews/{slug}/index.html"
        assert (root / "reviews" / slug / "index.html").is_file()
    # Nothing outside reviews/<slug>/ but the catalogue's own files, and the index is still the index.
    allowed = re.compile(r"(index\.html|pages/\d+\.html|feeds/reviews\.(json|atom)|reviews/[a-z0-9-]+/.+)")
    stray = [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith(".tmp-") and not allowed.fullmatch(str(p.relative_to(root)))
    ]
    assert not stray, stray
    assert "Latest film reviews" in (root / INDEX_KEY).read_text()

    for url in [r["urls"]["article"] for r in records] + [f"{base}/{INDEX_KEY}"]:
        load(browser, url)
        dialogs = browser.execute_script("return window.__dialogs")
        state = browser.execute_script(
            "return {pwned: typeof window.__pwned, frames: window.frames.length,"
            " injected: document.querySelectorAll('[id^=injected], iframe, svg, img, object, embed').length,"
            " scripts: [...document.scripts].map(s => s.type),"
            " handlers: [...document.querySelectorAll('*')].filter(e => [...e.attributes].some(a => a.name.startsWith('on'))).length,"
            " badLinks: [...document.links].filter(a => /^(javascript|data):/i.test(a.getAttribute('href').trim())).length}"
        )
        from selenium.common.exceptions import NoAlertPresentException

        with pytest.raises(NoAlertPresentException):
            _ = browser.switch_to.alert.text  # no real dialog is open either
        assert dialogs == [] and state == {
            "pwned": "undefined",
            "frames": 0,
            "injected": 0,
            "scripts": ["application/ld+json"] if "/reviews/" in url else [],
            "handlers": 0,
            "badLinks": 0,
        }, (url, dialogs, state)
        visible = browser.find_element("tag name", "main").text
        assert "window.__pwned=1" in visible  # the writer's text is there, as text
