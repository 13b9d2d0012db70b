"""The source panel's page view: the PDF page rendered and cached, with the passage boxed where it is printed."""

from __future__ import annotations

import re

import pytest

from qa.index import record_files
from qa.ingest.load import read_document
from qa.page import pages, render
from qa.page.panel import page_panel_html, panel_html
from tests.pdfs import make_pdf

PAGE_H = 792.0  # tests/pdfs.py: US Letter, first baseline at y=720, 14 pt leading, 12 pt Helvetica


@pytest.fixture
def paged(tmp_path):
    """A two-page PDF in a corpus folder, read as the builder reads it, with its boxes in a build folder."""
    corpus, build = tmp_path / "docs", tmp_path / "build"
    corpus.mkdir()
    build.mkdir()
    lines1 = ["The first page opens the report.", "Chairs were asked what authority they hold.",
              "Most said none at all."]
    lines2 = ["The second page carries on the argument.", "Funding rose by 1.2 billion pounds."]
    (corpus / "report.pdf").write_bytes(make_pdf([lines1, lines2]))
    doc = read_document(corpus / "report.pdf", "report.pdf")
    record_files.write_boxes(build, [doc])
    return doc, build, corpus


def span_of(doc, words: str) -> tuple[int, int]:
    at = doc.text.index(words)
    return at, at + len(words)


def test_the_passage_is_boxed_where_it_is_printed(paged, tmp_path):
    doc, build, corpus = paged
    images = pages.PageImages(tmp_path / "cache")
    a, b = span_of(doc, "Chairs were asked what authority they hold.")
    view = pages.page_view(doc, build, corpus, images, a, b, [(a, b)])
    assert view.index == 0 and view.spans == (0,)
    assert view.png.startswith(b"\x89PNG")
    assert len(view.passage) == 1  # one line: one box
    x0, y0, x1, y1 = view.passage[0]
    # the second line's baseline is 720 - 14 = 706 pt from the bottom: its box holds that height
    baseline = (PAGE_H - 706) / PAGE_H
    assert y0 < baseline < y1 + 0.01 and y1 - y0 < 0.03
    assert x0 == pytest.approx(72 / 612, abs=0.01)
    assert view.highlights == view.passage


def test_a_passage_across_a_page_break_is_marked_on_both_pages(paged, tmp_path):
    doc, build, corpus = paged
    images = pages.PageImages(tmp_path / "cache")
    a = doc.text.index("Most said none")
    b = doc.text.index("carries on") + len("carries on")
    first = pages.page_view(doc, build, corpus, images, a, b)
    assert first.spans == (0, 1) and first.index == 0 and first.passage
    second = pages.page_view(doc, build, corpus, images, a, b, page=1)
    assert second.index == 1 and second.passage
    assert second.passage[0][1] < 0.15  # the top line of page 2
    html = page_panel_html(first, a, b, turn=1, n=1, total=2)
    assert "continues on page 2" in html and 'data-page="1"' in html


def test_pages_are_rendered_once_then_read_from_the_cache(paged, tmp_path, monkeypatch):
    doc, build, corpus = paged
    images = pages.PageImages(tmp_path / "cache")
    a, b = span_of(doc, "Most said none at all.")
    one = pages.page_view(doc, build, corpus, images, a, b)
    import qa.ingest.pdf_render as pdf_render

    monkeypatch.setattr(pdf_render, "render_page", lambda *args: pytest.fail("rendered again"))
    assert pages.page_view(doc, build, corpus, images, a, b).png == one.png


def test_a_changed_file_falls_back_to_text_with_a_reason(paged, tmp_path):
    doc, build, corpus = paged
    (corpus / "report.pdf").write_bytes(make_pdf([["Something else entirely."]]))
    a, b = span_of(doc, "Most said none at all.")
    with pytest.raises(pages.PageUnavailable, match="changed since it was indexed"):
        pages.page_view(doc, build, corpus, pages.PageImages(tmp_path / "cache"), a, b)


def test_a_build_without_boxes_says_to_rebuild(paged, tmp_path):
    doc, _, corpus = paged
    a, b = span_of(doc, "Most said none at all.")
    with pytest.raises(pages.PageUnavailable, match="index --force"):
        pages.page_view(doc, tmp_path / "old-build", corpus, pages.PageImages(tmp_path / "cache"), a, b)


def test_a_file_outside_the_folder_is_never_rendered(paged, tmp_path):
    doc, build, corpus = paged
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (corpus / "report.pdf").rename(outside / "report.pdf")
    (corpus / "report.pdf").symlink_to(outside / "report.pdf")
    a, b = span_of(doc, "Most said none at all.")
    with pytest.raises(pages.PageUnavailable, match="outside the document folder"):
        pages.page_view(doc, build, corpus, pages.PageImages(tmp_path / "cache"), a, b)


def test_the_page_panel_is_an_image_with_boxes_and_a_switch_to_text(paged, tmp_path):
    doc, build, corpus = paged
    a, b = span_of(doc, "Chairs were asked what authority they hold.")
    view = pages.page_view(doc, build, corpus, pages.PageImages(tmp_path / "cache"), a, b, [(a, b)])
    html = page_panel_html(view, a, b, turn=2, n=1, total=3)
    assert re.search(r'<img src="data:image/png;base64,[A-Za-z0-9+/=]{100,}" alt="Page 1 of 2 of ', html)
    assert html.count('class="qa-hbox"') == 1 and html.count('class="qa-pbox"') == 1
    assert 'id="qa-focus"' in html and 'data-view="text"' in html
    assert "Page ›" in html and "‹ Page" not in html  # no page before the first
    assert "The passage: Chairs were asked" in html  # read aloud, since the image cannot be
    text = panel_html(doc, a, b, [(a, b)], turn=2, n=1, total=3, note="Why not the page.")
    assert 'data-view="page"' in text and "Why not the page." in text and "p. 1" in text


def test_the_page_can_be_zoomed_with_a_labelled_toggle_that_holds_the_image_and_its_boxes(paged, tmp_path):
    doc, build, corpus = paged
    a, b = span_of(doc, "Chairs were asked what authority they hold.")
    view = pages.page_view(doc, build, corpus, pages.PageImages(tmp_path / "cache"), a, b, [(a, b)])
    html = page_panel_html(view, a, b, turn=2, n=1, total=3)
    button = re.search(r'<button type="button" class="[^"]*qa-zoom"[^>]*>([^<]+)</button>', html)
    assert button and button.group(1) == "Zoom"
    assert 'data-action="zoom"' in button.group(0) and 'aria-pressed="false"' in button.group(0)
    target = re.search(r'aria-controls="([^"]+)"', button.group(0)).group(1)
    # what it controls holds the page: the image and every box, placed in fractions of the page
    inside = re.search(rf'<div class="qa-page-zoom" id="{target}"[^>]*>(<div class="qa-page">.*?</div>)</div>', html).group(1)
    assert "<img " in inside and inside.count('class="qa-hbox"') == 1 and 'id="qa-focus"' in inside
    styles = re.findall(r"(?:left|top|width|height):([\d.%-]+)", inside)
    assert len(styles) == 4 * inside.count("<span") and all(s.endswith("%") for s in styles)
    assert render.ACTIONS["zoom"] == "browser"


def test_a_pdf_citation_opens_on_its_page_and_switches_to_text(tmp_path):
    """Through the page's own handlers: ask, open [1] (the page, boxed), next page, text view."""
    import json

    from qa.engine import Engine
    from qa.page import app
    from tests.fakes import FakeEmbedder, model_free_settings
    from tests.test_app import _page_fn

    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "report.pdf").write_bytes(make_pdf([
        ["Integrated care boards plan health services for their area.", "They were set up in July 2022."],
        ["Chairs were asked what authority they hold.", "Most said they had none at all."],
    ]))
    engine = Engine(corpus=corpus, index_dir=tmp_path / "index", embedder=FakeEmbedder(), settings=model_free_settings())
    demo = app.build_demo(engine, tmp_path / "fb.jsonl", examples=[])
    add, respond, act = (_page_fn(demo, n) for n in ("add_question", "respond", "on_action"))
    _, turns, _, q = add("What authority do chairs hold?", [])
    turns, chat, _, _ = respond(q, turns, [], 2, "keyword")
    assert turns[-1].answer["passages"][0]["pages"] in ("p. 2", "pp. 1-2")
    _, _, panel, _ = act(json.dumps({"action": "open", "turn": 1, "n": 1}), turns, [], 2, "keyword")
    assert "data:image/png;base64," in panel and 'class="qa-hbox"' in panel, panel[:400]
    assert (tmp_path / "index" / "pages").is_dir()  # rendered once, kept
    _, _, panel, _ = act(json.dumps({"action": "page", "turn": 1, "n": 1, "view": "text"}), turns, [], 2, "keyword")
    assert "data:image/png" not in panel and 'class="qa-passage"' in panel and 'data-view="page"' in panel
    _, _, panel, _ = act(json.dumps({"action": "page", "turn": 1, "n": 1, "view": "page", "page": 0}), turns, [], 2,
                         "keyword")
    assert "Page 1 of 2" in panel and "data:image/png" in panel
    _, _, panel, _ = act(json.dumps({"action": "page", "turn": 1, "n": 1, "page": "x; drop"}), turns, [], 2, "keyword")
    assert "data:image/png" in panel  # junk page numbers open the passage's own page


def test_a_milvus_store_shows_pages_from_the_local_build_it_was_published_from(tmp_path):
    """Milvus keeps no boxes; the builder's machine has them in the local build the publish came from."""
    from qa.config import StoreSettings
    from qa.engine import Engine
    from qa.index import milvus_client
    from qa.page import app
    from tests.fakes import FakeEmbedder, model_free_settings

    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "report.pdf").write_bytes(make_pdf([["Chairs were asked what authority they hold."],
                                                  ["Most said they had none at all."]]))
    settings = StoreSettings(kind="milvus", milvus_uri=str(tmp_path / "milvus.db"))
    try:
        engine = Engine(corpus=corpus, index_dir=tmp_path / "index", embedder=FakeEmbedder(),
                        settings=model_free_settings(), storage=settings)
        p = engine.ask("What authority do chairs hold?", k=1).passages[0]
        html = app.cite_panel(engine, pages.PageImages(tmp_path / "cache"), p.source, p.start, p.end, p.highlights)
        assert "data:image/png;base64," in html and 'class="qa-hbox"' in html
    finally:
        milvus_client.close(settings.milvus_uri)
