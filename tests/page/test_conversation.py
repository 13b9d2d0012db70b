"""The conversation: questions clamped when long, thumbs under answers and not under errors."""

from qa.page import conversation, reply
from qa.page.turns import Turn


def test_long_questions_are_clamped_and_cut_questions_say_so():
    out = conversation.question_html("x" * 1300, note="Your question was cut to its first 2,000 characters (it had 5,000).")
    assert "qa-clamped" in out and "Show more" in out and "cut to its first 2,000 characters" in out
    assert "qa-clamped" not in conversation.question_html("short?")


def test_errors_get_no_thumbs_and_answers_do():
    err = conversation.turn_html(Turn(1, "q", kind="error", html=reply.error_html("bad")))
    assert "qa-thumb" not in err and "Copy answer" not in err
    ok = conversation.turn_html(Turn(2, "q", kind="answer", html="<div></div>", text="**Q:** q"))
    assert ok.count("qa-thumb") == 2 and 'data-md="**Q:** q"' in ok and "What was wrong?" in ok
    assert 'aria-label="Answer 2"' in ok and 'aria-label="Question 2"' in ok
