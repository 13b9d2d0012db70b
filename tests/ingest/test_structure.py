"""Heading detection, debris, and section paths on small hand-made texts."""

from qa.ingest.structure import detect_structure, section_at, structure_title


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


MAN = (
    "LS(1)                        User Commands                        LS(1)\n\n"
    "NAME\n       ls - list directory contents\n\n"
    "SYNOPSIS\n       ls [OPTION]... [FILE]...\n\n"
    "DESCRIPTION\n       List information about the FILEs (the current directory by default).\n\n"
    "   Sorting\n       Entries are sorted alphabetically unless an option says otherwise.\n\n"
    "SEE ALSO\n       dir(1), vdir(1)\n\n"
    "GNU coreutils 9.1                 September 2022                      LS(1)\n"
)


def test_man_page_sections_are_headings_and_its_header_and_footer_are_debris():
    headings, debris = detect_structure(MAN)
    assert [(h.title, h.level) for h in headings] == [
        ("NAME", 1), ("SYNOPSIS", 1), ("DESCRIPTION", 1), ("Sorting", 2), ("SEE ALSO", 1)
    ]
    assert all(MAN[h.start : h.end] == h.title for h in headings)
    found = {MAN[a:b].split()[0] for a, b in debris}
    assert found == {"LS(1)", "GNU"}
    assert section_at(headings, MAN.index("Entries are")) == ("DESCRIPTION", "Sorting")
    assert structure_title(MAN, headings, debris) == "ls - list directory contents"


def test_names_and_captions_alone_on_a_line_are_not_headings():
    text = (
        "Steve Barwick\n\nSteve has written about councils and the health service for many years now.\n\n"
        "Video: Chris Ham on systems leadership\n\nChris Ham talks about what systems leadership asks of local leaders.\n\n"
        "Figure 3 Spending by year\n\nSpending rose every year, though more slowly after the second year.\n\n"
        "Source: NHS England\n\nThe figures come from the annual accounts of every trust in England.\n\n"
        "We need to learn to walk in each other’s shoes.\n\nDavid Pearson – Corporate Director, Nottinghamshire County Council\n\n"
        "David Pearson on systems leadership\n\nThe drive towards integrated care gained new form and impetus in 2014.\n\n"
        "Learning Together\n\nLeaders said learning together across organisations mattered most of all.\n"
    )
    assert titles(text) == [("Learning Together", 1)]


def test_back_matter_headings_listed_in_a_contents_page_are_top_level_sections():
    text = (
        "Contents\n\n1 Money\t3\n\tWhere it goes\t4\n2 People\t5\n\tReferences\t9\n\tAbout the author\t10\n\n"
        "1 Money\n\nMoney is tight everywhere and getting tighter each year.\n\n"
        "Where it goes\n\nMostly to hospitals, as it always has done in the past.\n\n"
        "2 People\n\nStaff are the largest cost and the biggest asset we have.\n\n"
        "References\n\nHam C (2018). 'A progress report'. Blog. London: The King's Fund.\n\n"
        "About the author\n\nNicholas Timmins is a senior fellow at the Institute for Government.\n"
    )
    assert titles(text) == [("1 Money", 1), ("Where it goes", 2), ("2 People", 1), ("References", 1), ("About the author", 1)]


def test_title_comes_from_the_first_real_level_one_heading_then_the_first_line():
    text = "Skip to content\n\nRiver report\n\nIntroduction\n\nThe river rose by two metres in a single night in March.\n"
    headings, debris = detect_structure(text)
    assert [h.title for h in headings][-1] == "Introduction"
    assert structure_title(text, [h for h in headings if h.title == "Introduction"], debris) == "River report"


def test_seed_reports_file_references_and_about_the_author_as_their_own_sections_and_skip_video_captions():
    from pathlib import Path

    from qa.ingest.load import load_folder

    docs = {d.source[:3]: d for d in load_folder(Path(__file__).resolve().parents[2] / "seeds")[0]}
    report = docs["002"]
    for name in ("References", "About the author"):
        pos = report.text.index(name + "\n\n", report.text.index("And finally..."))
        assert section_at(report.headings, pos + len(name) + 5) == (name,)
    scie = docs["003"]
    pos = scie.text.index("The drive towards integrated care gained new form")
    assert section_at(scie.headings, pos) == ("Context",)
    assert not any("David Pearson on" in h.title for h in scie.headings)


def _back(text, markdown=False):
    from qa.ingest.backmatter import find_back_matter

    headings, _ = detect_structure(text, markdown=markdown)
    spans = find_back_matter(text, headings)
    assert all(0 <= a < b <= len(text) for a, b in spans)
    return [text[a:b] for a, b in spans]


def test_back_matter_sections_run_to_the_next_heading_of_the_same_level():
    text = (
        "# Rivers\n\nThe Thames floods in winter.\n\n## References\n\nSome list.\n\n### Books\n\nA book.\n\n"
        "## Floods\n\nThe barrier closes twice a year.\n"
    )
    assert _back(text, markdown=True) == ["References\n\nSome list.\n\n### Books\n\nA book."]


def test_reference_entries_bylines_and_imprint_lines_are_back_matter():
    lines = [
        "- Brennan S (2019). 'Councils accuse local STP of excluding them'. Health Service Journal website.",
        "Author A, Author B (2016). Title of the book. Publisher.",
        "Smith, J., & Jones, K. (2016). Working together. London: Sage.",
        "NHS England (2019a). The NHS long term plan [online]. NHS England website.",
        "[3] A. Smith and B. Jones, Rivers of England, Water Press, 2016.",
        "Ham C, Smith J. Leading systems. BMJ 2018;360:k123.",
        "ISBN: 978 1 909029 95 8",
        "© The King's Fund 2019",
        "Copyright 2001-2024, Python Software Foundation. All rights reserved.",
        "doi:10.1000/182",
        "https://www.kingsfund.org.uk/publications",
        "publications@kingsfund.org.uk",
        "By Steve Barwick | 23 July 2024",
        "By Professor Sir Chris Ham, former chief executive of the Kings Fund @profchrisham",
        "Share this article",
        "This work is licensed under a Creative Commons Attribution 4.0 licence.",
    ]
    body = "Money was tight in 2019. By 2021, all of England was covered by an integrated care system."
    text = "\n\n".join([body] + lines + [body]) + "\n"
    assert _back(text) == lines


def test_ordinary_sentences_with_years_and_names_are_not_back_matter():
    text = (
        "This was later confirmed by NHS England (2019). The plan was published in January.\n\n"
        "By 2021, all of England was covered by an integrated care system.\n\n"
        "By April 2021 every area had a system leader in post.\n\n"
        "Claire Fuller said the work was personal: she grew up in Surrey (1970s).\n\n"
        "The report draws on interviews with 16 leaders, e.g. chairs and chief officers.\n"
    )
    assert _back(text) == []


def test_seed_back_matter_covers_references_about_the_author_and_bylines_but_not_the_body():
    from pathlib import Path

    from qa.ingest.load import load_folder

    docs = {d.source[:3]: d for d in load_folder(Path(__file__).resolve().parents[2] / "seeds")[0]}
    report = docs["002"]
    refs = report.text.index("References\n\n- Brennan")
    covered = lambda d, pos: any(a <= pos < b for a, b in d.back_matter)  # noqa: E731
    assert covered(report, refs) and covered(report, report.text.index("ISBN 978-1-909029-95-8"))
    assert covered(report, report.text.index("Nicholas Timmins, former public policy commentator"))
    assert not covered(report, report.text.index("When the NHS was established in 1948"))
    assert covered(docs["004"], docs["004"].text.index("By\xa0Professor Sir Chris Ham"))
    article = docs["001"]
    assert covered(article, article.text.index("By Steve Barwick | 23 July 2024"))
    assert not covered(article, article.text.index("No room for heroes"))
    assert docs["000"].back_matter == () and docs["003"].back_matter == ()


def test_an_imprint_page_of_a_pdf_is_back_matter_as_a_whole():
    text = (
        "Rivers of England\nA report on floods and droughts in the last ten years.\n\f\n"
        "Published by\nThe River Trust\nLondon\n© The River Trust 2020\nISBN 978 1 909029 95 8\nEdited by Kathryn Smith\n\f\n"
        "1 Floods\nThe Thames floods in winter, most years, and the barrier closes.\n"
    )
    pages = text.split("\n\f\n")
    assert _back(text) == [pages[1]]


def test_about_the_authors_with_a_bracketed_plural_is_a_back_matter_heading():
    text = "# Rivers\n\nThe Thames floods.\n\n## About the author(s)\n\nJane Smith writes about rivers.\n"
    assert _back(text, markdown=True) == ["About the author(s)\n\nJane Smith writes about rivers."]


def test_a_footnote_marker_stuck_to_a_heading_is_not_part_of_its_name():
    text = "Systems leadership2\n\nLeaders of a system work across organisations they do not run.\n\n" \
           "# Python3\n\nText.\n"
    assert titles(text)[0] == ("Systems leadership", 1)
    headings, _ = detect_structure(text)
    assert text[headings[0].start : headings[0].end] == "Systems leadership2"  # offsets still slice the line
    assert titles("# Python3\n\nText about it.\n\n# Web 3 today\n\nMore text here.\n", markdown=True) == [
        ("Python3", 1), ("Web 3 today", 1)]


def test_sections_by_bisection_agree_with_section_at_everywhere():
    from qa.records import Heading
    from qa.ingest.structure import Sections

    hs = [Heading(0, 1, "A", 1), Heading(10, 11, "A.1", 2), Heading(20, 21, "A.1.a", 3), Heading(30, 31, "B", 1),
          Heading(40, 41, "B.1", 2), Heading(50, 51, "C", 1)]
    sections = Sections(hs)
    assert all(sections(p) == section_at(hs, p) for p in range(-3, 70))
    assert Sections([])(5) == ()


def test_running_heads_that_carry_the_page_number_are_debris_but_a_heading_that_starts_with_it_is_not():
    from qa.ingest.structure import detect_structure, page_number_lines
    from qa.records import Page

    pages_text = [f"Chapter {n}: Topic {n} {n}\nBody text of page {n} goes on here.\nMore body." for n in range(1, 6)]
    pages_text[0] = "1 Introduction\nThe first page starts with a heading that begins with its number."
    text, pages, pos = "", [], 0
    for i, t in enumerate(pages_text):
        if i:
            text += "\n\f\n"
        start = len(text)
        text += t
        pages.append(Page(start, len(text), i + 1, str(i + 1)))
    spans = page_number_lines(text, pages)
    assert [text[a:b] for a, b in spans] == [f"Chapter {n}: Topic {n} {n}" for n in range(2, 6)]
    _, debris = detect_structure(text, pages=pages)
    assert all(text[a:b] != "1 Introduction" for a, b in debris)
    # too few pages show the pattern: nothing is taken, but a line that is the page's number alone always is
    assert page_number_lines(text, pages[:2]) == []
    alone = "Some prose on the page.\nMore prose here.\niv"
    assert [alone[a:b] for a, b in page_number_lines(alone, [Page(0, len(alone), 4, "iv")])] == ["iv"]
