"""The page in real headless Chromium (Debian's package), driven by Playwright.

Screenshots go to artifacts/. A Gradio page never reaches "network idle", so
every step waits for an element instead.
"""

import json
import os
import shutil
import time

import pytest

from tests.conftest import ARTIFACTS
from tests.test_app import seed_app, unsafe_app, unsafe_engine  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser, pytest.mark.model, pytest.mark.filterwarnings("ignore::Warning:gradio.queueing")]

CHROMIUM = os.environ.get("QA_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WAIT = 90_000  # ms; answers take well under a second, but the machine may be busy
TOP_TITLE = "System leadership: new King's Fund report by Nicholas Timmins"


@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail(
            f"Chromium not found at {CHROMIUM}: the browser tests need Debian's chromium. Install it with "
            "`apt-get install chromium chromium-driver` (as root) or `make browser`."
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser):
    page = browser.new_page(viewport={"width": 1400, "height": 950})
    page.set_default_timeout(WAIT)
    page.dialogs = []
    page.on("dialog", lambda d: (page.dialogs.append(d.message), d.dismiss()))
    yield page
    page.close()


def ask(page, question: str) -> None:
    n = page.locator("#qa-chat .qa-answer").count()
    page.fill("#qa-question textarea", question)
    page.press("#qa-question textarea", "Enter")
    page.locator("#qa-chat .qa-answer").nth(n).wait_for()


def squash(text: str) -> str:
    return " ".join(text.split())


def wait_for_lines(path, n: int, timeout: float = 30.0) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and len(lines := path.read_text(encoding="utf-8").splitlines()) >= n:
            return [json.loads(x) for x in lines]
        time.sleep(0.2)
    raise AssertionError(f"no feedback line in {path} after {timeout} s")


def test_ask_check_a_citation_in_the_source_panel_and_mark_the_answer(page, seed_app, engine):
    url, feedback_file = seed_app
    page.goto(url)
    page.locator("#qa-chat button.example").first.wait_for()  # examples are offered on first load
    assert page.locator("#qa-chat button.example").count() >= 3

    question = "How many system leaders did Timmins talk to for the King's Fund study?"
    ask(page, question)
    expected = engine.ask(question, k=5)
    titles = page.locator("#qa-chat .qa-card .qa-card-title").all_inner_texts()
    assert titles == [p.title for p in expected.passages] and TOP_TITLE in titles

    # click the first citation marker in the quoted answer: the panel opens its passage
    marker = page.locator("#qa-chat .qa-quote a.qa-cite").first
    n = int(marker.inner_text().strip("[]"))
    cited = expected.passages[n - 1]
    marker.click()
    page.locator("#qa-panel mark.qa-passage").wait_for()
    assert page.locator("#qa-panel .qa-doc-title").inner_text() == cited.title
    assert "The King's Fund" in page.locator("#qa-panel .qa-doc-meta").inner_text()
    assert squash(page.locator("#qa-panel mark.qa-passage").inner_text()) == squash(cited.text)
    a, b = cited.highlights[0]
    assert squash(page.locator("#qa-panel mark.qa-sentence").first.inner_text()) == squash(
        engine.document(cited.source).text[a:b])

    # a follow-up keeps the history; "Show in document" on its last card scrolls the panel to the passage
    follow = "What does Claire Fuller find hardest about leading her system?"
    ask(page, follow)
    assert page.locator("#qa-chat .qa-q").all_inner_texts() == [question, follow]
    last = engine.ask(follow, k=5).passages[-1]
    page.locator("#qa-chat .qa-answer").nth(1).locator("a.qa-show").last.click()
    page.wait_for_function(
        "t => document.querySelector('#qa-panel .qa-doc-title')?.innerText === t", arg=last.title)
    # the panel may already show the same document (the first citation): wait for the new passage itself
    page.wait_for_function(
        "t => (document.querySelector('#qa-panel mark.qa-passage')?.innerText || '').split(/\\s+/).join(' ').trim() === t",
        arg=squash(last.text))
    page.wait_for_function("""() => {
        const box = document.getElementById('qa-doc-text'), el = document.getElementById('qa-focus');
        if (!box || !el) return false;
        const b = box.getBoundingClientRect(), e = el.getBoundingClientRect();
        return e.top >= b.top - 1 && e.top < b.bottom;
    }""")
    assert squash(page.locator("#qa-panel mark.qa-passage").inner_text()) == squash(last.text)

    # back to the first answer's [1] marker, for the screenshot
    page.locator("#qa-chat .qa-answer").first.locator(".qa-quote a.qa-cite").first.click()
    page.wait_for_function(
        "t => document.querySelector('#qa-panel .qa-doc-title')?.innerText === t", arg=cited.title)
    page.evaluate("() => { document.querySelector('#qa-chat [role=log]').scrollTop = 0; }")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "chat-page.png"))

    # "helpful" on the second answer appends one line with its question and cited spans
    before = len(feedback_file.read_text().splitlines()) if feedback_file.exists() else 0
    page.locator("#qa-chat button[aria-label='Like']").last.click()
    line = wait_for_lines(feedback_file, before + 1)[-1]
    assert line["verdict"] == "helpful" and line["question"] == follow
    assert [(p["source"], p["start"], p["end"]) for p in line["passages"]] == [
        (p.source, p.start, p.end) for p in engine.ask(follow, k=5).passages]
    assert page.dialogs == []


def test_an_example_question_is_answered_when_clicked(page, seed_app):
    page.goto(seed_app[0])
    first = page.locator("#qa-chat button.example").first
    first.wait_for()
    text = first.inner_text().strip()
    first.click()
    page.locator("#qa-chat .qa-card").first.wait_for()
    assert page.locator("#qa-chat .qa-q").inner_text() == text


def test_markup_in_a_document_is_shown_as_text_and_never_runs(page, unsafe_app):
    page.goto(unsafe_app)
    ask(page, "What does the viewer do with markup such as script tags?")
    card = page.locator("#qa-chat .qa-card").first
    assert card.locator(".qa-card-title").inner_text() == "Markup in documents"
    assert "<script>alert(1)</script>" in card.inner_text()
    assert "<b>bold html</b>" in card.inner_text()
    card.locator("a.qa-show").click()
    page.locator("#qa-panel mark.qa-passage").wait_for()
    panel = page.locator("#qa-panel .qa-doc-text").inner_text()
    assert "<script>alert(1)</script>" in panel and "<img src=x onerror=alert(2)>" in panel
    for where in ("#qa-chat .qa-answer", "#qa-panel"):
        assert page.locator(f"{where} script, {where} img, {where} b:text('bold html')").count() == 0
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "escaped-markup.png"))
    page.wait_for_timeout(500)
    assert page.dialogs == []
