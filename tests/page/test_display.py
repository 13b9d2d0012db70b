"""Source text as the page shows it: Markdown debris hidden, offsets exact."""

import re

from qa.page import display, panel
from tests.page.sample import text_doc, visible_text


def test_markdown_debris_is_hidden_for_display_only():
    text = 'See ([Ham 2018](#)) and *NHS five year forward view* with ""quoted"" words.\n\n\n\n\nNext **bold** para.\n'
    assert display.display_text(text) == 'See (Ham 2018) and NHS five year forward view with "quoted" words.\n\nNext bold para.\n'
    assert display.display_text("snake_case_name and 2*3*4 stay") == "snake_case_name and 2*3*4 stay"
    assert display.display_text("Intro:\n• Building commitment\n## Next") == "Intro:\nBuilding commitment\nNext"
    d = text_doc(text)
    start, end = text.index("and *NHS"), text.index("words.") + len("words.")
    a = text.index("*NHS")
    b = a + len("*NHS five year forward view*")
    out = panel.panel_html(d, start, end, [(a, b)])
    body = re.search(r'id="qa-doc-text"[^>]*>(.*)</div></div>$', out, re.S).group(1)
    assert visible_text(body) == display.display_text(text)
    mark = re.search(r'<mark class="qa-passage" id="qa-focus" data-start="(\d+)" data-end="(\d+)">', body)
    assert (int(mark.group(1)), int(mark.group(2))) == (start, end)  # offsets stay exact
    sent = re.search(r'<mark class="qa-sentence" data-start="(\d+)" data-end="(\d+)">(.*?)</mark>', body)
    assert (int(sent.group(1)), int(sent.group(2))) == (a, b) and visible_text(sent.group(3)) == "NHS five year forward view"
