"""HTML to text: titles from <title> or <h1>, permalink pilcrows dropped, navigation dropped,
footers reported, and heading offsets that slice the text exactly."""

from qa.ingest.html import choose_title, html_to_text
from qa.ingest.load import read_document
from qa.ingest.structure import drop_captions_and_names

SPHINX = (
    "<html><head><title>argparse — Parser for command-line options — Python 3.13 documentation</title></head><body>"
    '<div class="related" role="navigation"><h3>Navigation</h3><ul><li><a href="x">index</a></li></ul></div>'
    '<section><h1>argparse — Parser for command-line options<a class="headerlink" href="#a" title="Link">¶</a></h1>'
    "<p>The argparse module makes it easy to write user-friendly command-line interfaces.</p>"
    '<section><h2>Core Functionality<a class="headerlink" href="#b">¶</a></h2>'
    "<ul><li><p>ArgumentParser objects hold all the information needed.</p></li></ul>"
    '<dl><dt>add_argument()<a class="headerlink" href="#c">¶</a></dt><dd><p>Define one argument.</p></dd></dl>'
    "</section></section>"
    '<div class="sphinxsidebar" role="navigation"><h3>Table of Contents</h3><ul><li>argparse</li></ul></div>'
    '<div class="footer">© Copyright 2001-2024, Python Software Foundation.<br/>Created using Sphinx.</div>'
    "</body></html>"
)


def test_sphinx_pilcrows_never_reach_text_or_headings_and_offsets_slice_the_text():
    page = html_to_text(SPHINX)
    assert "¶" not in page.text
    assert [(h.title, h.level) for h in page.headings] == [
        ("argparse — Parser for command-line options", 1), ("Core Functionality", 2)
    ]
    for h in page.headings:
        assert page.text[h.start : h.end] == h.title
    assert "add_argument()\n\nDefine one argument." in page.text


def test_title_is_the_h1_when_the_title_is_the_h1_plus_the_site_name():
    assert html_to_text(SPHINX).title == "argparse — Parser for command-line options"
    assert choose_title("Guide", "Roses") == "Guide"
    assert choose_title("", "Roses") == "Roses"
    assert choose_title("Roses | Garden Weekly", "Roses") == "Roses"


def test_navigation_is_dropped_and_the_footer_is_reported_as_a_span():
    page = html_to_text(SPHINX)
    assert "Navigation" not in page.text and "Table of Contents" not in page.text
    assert page.text.startswith("argparse")
    [(a, b)] = page.footers
    assert page.text[a:b].startswith("© Copyright 2001-2024") and page.text[a:b].endswith("Created using Sphinx.")


def test_list_item_paragraphs_stay_on_their_bullet_line():
    page = html_to_text("<ul><li><p>First point.</p></li><li>Second point.</li></ul>")
    assert page.text == "• First point.\n\n• Second point."


def test_captions_and_names_marked_up_as_headings_are_not_sections(tmp_path):
    markup = (
        "<html><body><h1>Twelve steps to better care</h1><p>Integrated care needs steady leadership and time.</p>"
        "<h2>Video: Phil Hope on the twelve steps</h2><p>A short film about the steps and what they mean.</p>"
        "<h3>Figure 3: Spending by year</h3><p>Spending rose every year of the plan, slowly at first.</p>"
        "<h2>What needs to change</h2><p>Money should follow the patient, not the building.</p>"
        "<h4>Steve Barwick</h4><p>Writes about local government and health for the magazine.</p>"
        "</body></html>"
    )
    p = tmp_path / "article.html"
    p.write_text(markup, encoding="utf-8")
    doc = read_document(p, "article.html")
    assert [h.title for h in doc.headings] == ["Twelve steps to better care", "What needs to change"]
    assert doc.title == "Twelve steps to better care"  # no <title>: the first <h1>
    assert "Video: Phil Hope on the twelve steps" in doc.text  # kept as text, just not a section
    page = html_to_text(markup)
    assert len(drop_captions_and_names(page.headings, page.text)) == 2


def test_html_with_a_declared_legacy_charset_is_decoded(tmp_path):
    p = tmp_path / "old.html"
    p.write_bytes('<html><head><meta charset="windows-1252"><title>Café</title></head><body><p>Crème brûlée.</p></body></html>'.encode("cp1252"))
    doc = read_document(p, "old.html")
    assert doc.title == "Café" and "Crème brûlée." in doc.text


def test_anchor_links_with_words_are_kept_and_bare_permalinks_dropped():
    page = html_to_text(
        '<h2><a class="anchor" href="#setup">Setup</a></h2><p>Install it first.</p>'
        '<h2>Usage<a href="#usage">#</a></h2><p>Run it.</p>'
        '<p>See <a href="#setup">¶ 3</a> above.</p>'
    )
    assert [h.title for h in page.headings] == ["Setup", "Usage"]
    assert "See ¶ 3 above." in page.text


def test_html_nested_20000_deep_is_read_not_skipped():
    """Reading walks the tree with a list, not recursion: 20,000 nested elements once gave RecursionError."""
    n = 20_000
    markup = ("<html><head><title>Deep</title></head><body>" + "<div>" * n + "<h2>Inside</h2><p>Deep text here.</p>"
              + "<nav>" + "<span>" * n + "Menu" + "</span>" * n + "</nav>" + "</div>" * n + "<p>After.</p></body></html>")
    page = html_to_text(markup)
    assert page.text == "Inside\n\nDeep text here.\n\nAfter."
    assert [(page.text[h.start:h.end], h.level) for h in page.headings] == [("Inside", 2)]
