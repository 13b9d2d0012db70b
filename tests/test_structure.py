"""Heading detection, debris, and section paths on small hand-made texts."""

from qa.structure import detect_structure, section_at


def titles(text, **kw):
    headings, _ = detect_structure(text, **kw)
    return [(h.title, h.level) for h in headings]


def test_numbered_sections_are_level_one_and_their_subheadings_level_two():
    text = (
        "1 Skills and authority\n\nLeaders need many skills to get anything done in a system.\n\n"
        "What authority do leads have?\n\nVery little formal authority, most of them say in interviews.\n\n"
        "2 Governance and the centre\n\nGovernance arrangements differ a great deal between systems.\n"
    )
    assert titles(text) == [
        ("1 Skills and authority", 1),
        ("What authority do leads have?", 2),
        ("2 Governance and the centre", 1),
    ]
    headings, _ = detect_structure(text)
    pos = text.index("Very little")
    assert section_at(headings, pos) == ("1 Skills and authority", "What authority do leads have?")
    assert section_at(headings, text.index("Governance arrangements")) == ("2 Governance and the centre",)


def test_heading_offsets_slice_the_heading_text():
    text = "Intro line that is long enough to be a paragraph of body text.\n\n  Key messages  \n\nSome longer body text follows here, with detail.\n"
    headings, _ = detect_structure(text)
    assert [(text[h.start : h.end], h.title) for h in headings] == [("Key messages", "Key messages")]


def test_sentences_bylines_and_list_items_are_not_headings():
    text = (
        "Local government leader, ICS\n\nA quote that is longer than the attribution line above it.\n\n"
        "It ended well.\n\nAnother paragraph of body text that is long enough.\n\n"
        "• A bullet point\n\nBody text again, long enough to follow a heading.\n\n"
        "November 2019\n\nBody text again, long enough to follow a heading.\n"
    )
    assert titles(text) == []


def test_markdown_headings_use_hash_levels():
    text = "# Rivers\n\nThe Thames flows east.\n\n## Floods\n\nThe barrier closes.\n"
    assert titles(text, markdown=True) == [("Rivers", 1), ("Floods", 2)]
    headings, _ = detect_structure(text, markdown=True)
    assert [text[h.start : h.end] for h in headings] == ["Rivers", "Floods"]


def test_table_of_contents_gives_headings_and_is_itself_debris():
    text = (
        "Contents\n\nForeword\t3\n1 Money matters\t5\n\tWhere does it go?\t7\n2 People\t9\n\n"
        "Foreword\n\nThis report looks at money and people in some detail.\n\n"
        "1 Money matters\n\nMoney is tight everywhere and getting tighter.\n\n"
        "Where does it go?\n\nMostly to hospitals, as it always has done.\n\n"
        "2 People\n\nStaff are the largest cost and the biggest asset.\n"
    )
    headings, debris = detect_structure(text)
    assert [(h.title, h.level) for h in headings] == [
        ("Foreword", 1), ("1 Money matters", 1), ("Where does it go?", 2), ("2 People", 1)
    ]
    toc_end = text.index("2 People\t9") + len("2 People\t9")
    assert (0, toc_end) in debris


def test_debris_nav_page_numbers_and_running_headers():
    page = "Annual report 2020\n\nBody text about {topic} that is long enough to be a paragraph.\n\n{n}\n"
    topics = ["money", "people", "buildings", "patients"]
    text = "Skip to content\n\n" + "\f\n".join(page.format(n=n, topic=t) for n, t in enumerate(topics, 1))
    _, debris = detect_structure(text)
    found = {text[a:b] for a, b in debris}
    assert "Skip to content" in found
    assert {"1", "2", "3", "4"} <= found
    assert "Annual report 2020" in found
    assert not any("Body text" in s for s in found)
