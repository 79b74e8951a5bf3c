"""A real browser (Debian's Chromium, driven by Playwright) on the pages a newcomer opens."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from urllib.parse import urlparse

import pytest
from playwright.sync_api import Browser, sync_playwright

pytestmark = [pytest.mark.browser, pytest.mark.live]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Headless Chromium; tests/bootstrap.sh installs it (Debian package `chromium`)."""
    if not shutil.which("chromium"):
        pytest.fail("Chromium is missing: run tests/bootstrap.sh (installs Debian's chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield b
        b.close()


def test_docs_render_offline(browser: Browser, live_server) -> None:
    """/docs shows the API, and every request the page makes goes to the service itself."""
    page = browser.new_page()
    hosts = []
    page.on("request", lambda r: hosts.append(urlparse(r.url).netloc))
    page.goto(live_server.url + "/docs")
    page.wait_for_selector("text=/sparql", timeout=30_000)
    assert page.locator(".info .title").first.inner_text().startswith("lec-kg")
    assert set(hosts) == {urlparse(live_server.url).netloc}, hosts
    page.close()


def test_query_form_answers_a_competency_question(browser: Browser, live_server) -> None:
    """The form at /sparql runs a query typed by a person and shows the report's answer."""
    page = browser.new_page()
    page.goto(live_server.sparql)
    query = (
        "PREFIX lec: <https://w3id.org/lec-kg/ontology#> "
        "SELECT ?person WHERE { ?e a lec:Extradition ; "
        "lec:fromState <https://w3id.org/lec-kg/id/state/FR> ; lec:personConcerned ?person }"
    )
    page.fill("textarea[name=query]", query)
    page.select_option("select[name=format]", "html")
    with page.expect_navigation():
        page.click("button[type=submit]")
    cells = page.locator("#answer td").all_inner_texts()
    assert cells == ["https://w3id.org/lec-kg/id/person/chen-wenhua"]
    # Each IRI links to a page describing it: follow it and find the person's name.
    with page.expect_navigation():
        page.click("#answer td a")
    assert "Chen Wenhua" in page.locator("#answer").inner_text()
    page.close()


def test_pages_run_under_their_content_security_policy(browser: Browser, live_server) -> None:
    """The service page, a results page and /docs work with their Content-Security-Policy:
    Chromium reports no violation (Swagger UI still renders; the pages' inline style applies),
    and a javascript: IRI in a result is no link of its own."""
    page = browser.new_page()
    refused: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(live_server.url + "/docs")
    page.wait_for_selector("text=/sparql", timeout=30_000)
    page.goto(live_server.sparql)
    # The inline stylesheet is allowed by its hash: the page is in the house font, not Times.
    assert "system-ui" in page.evaluate("getComputedStyle(document.body).fontFamily")
    page.fill("textarea[name=query]", "SELECT ?x WHERE { BIND(<javascript:alert(1)> AS ?x) }")
    page.select_option("select[name=format]", "html")
    with page.expect_navigation():
        page.click("button[type=submit]")
    hrefs = page.eval_on_selector_all("a", "els => els.map(e => e.href)")
    assert hrefs and not any(h.lower().startswith("javascript:") for h in hrefs), hrefs
    assert refused == [], refused
    page.close()


def test_ontology_page_loads_under_its_policy(browser: Browser, live_server) -> None:
    """/ontology, opened as a browser opens it, is the page: no console error (no Content
    Security Policy violation), the house style applies, ids are unique and `#Actor` lands on
    the class's section."""
    page = browser.new_page()
    errors: list[str] = []

    def console(message) -> None:
        if message.type == "error" and "favicon" not in message.location.get("url", ""):
            errors.append(message.text)

    page.on("console", console)
    page.on("pageerror", lambda e: errors.append(str(e)))
    reply = page.goto(live_server.url + "/ontology#Actor")
    assert reply is not None and reply.status == 200
    assert reply.headers["content-type"].startswith("text/html")
    assert "system-ui" in page.evaluate("getComputedStyle(document.body).fontFamily")
    ids = page.eval_on_selector_all("[id]", "els => els.map(e => e.id)")
    assert len(ids) > 300 and len(ids) == len(set(ids))
    assert page.locator("#Actor h3").inner_text().startswith("actor")
    assert errors == [], errors


def test_a_newcomer_follows_links_from_home_to_a_treaty_and_back(
    browser: Browser, live_server
) -> None:
    """From the home page to the kinds, to a Figure 1 treaty, whose reconstructed kind opens its
    argument with one click, and back to the report's page; no CSP violation on the way."""
    page = browser.new_page()
    refused: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    page.goto(live_server.url + "/")
    with page.expect_navigation():
        page.click("#start a[href='/browse']")
    with page.expect_navigation():
        page.click("#kinds a:text-is('mutual legal assistance treaty')")
    with page.expect_navigation():
        page.click("#members a[href='/id/instrument/mlat-cn-bg']")
    assert "Bulgaria" in page.locator("#label").inner_text()
    badge = page.locator("#properties .badge.reconstructed").first
    assert badge.is_visible()
    argument = page.locator("#properties details").first
    assert not argument.locator("p.argument").first.is_visible()
    argument.locator("summary").click()
    assert argument.locator("p.argument").first.is_visible()
    with page.expect_navigation():  # the link of a quote in the Sources section
        page.locator("a[href='/id/document/merics-china-monitor-2017-01-18']:visible").first.click()
    assert "China's global law enforcement drive" in page.locator("#label").inner_text()
    assert refused == [], refused
    page.close()
