"""One list of the page's actions (render.ACTIONS): what the markup writes, what the script handles and what
the server answers are the same names."""

from __future__ import annotations

import inspect
import re

from qa.page import app, conversation, display, panel, render, reply
from qa.page.render import STATIC

SCRIPT = (STATIC / "page.js").read_text(encoding="utf-8")


def test_the_script_handles_exactly_the_listed_actions():
    handled = set(re.findall(r"act === '([a-z-]+)'", SCRIPT))
    assert handled == set(render.ACTIONS)


def test_the_markup_writes_only_listed_actions():
    markup = "".join(inspect.getsource(m) for m in (render, reply, conversation, panel, display))
    written = set(re.findall(r'data-action="([a-z-]+)"', markup))
    assert written <= set(render.ACTIONS) and written, written


def test_the_server_answers_every_server_action_and_nothing_else():
    source = inspect.getsource(app.build_demo)
    answered = set(re.findall(r'kind == "([a-z-]+)"', source))
    for group in re.findall(r"kind in \(([^)]*)\)", source):
        answered |= set(re.findall(r'"([a-z-]+)"', group))
    assert answered == set(render.SERVER_ACTIONS)
    sent = set(re.findall(r"send\(\{action: '([a-z-]+)'", SCRIPT)) | set(re.findall(r"action: '([a-z-]+)'", SCRIPT))
    assert sent <= set(render.SERVER_ACTIONS), sent - set(render.SERVER_ACTIONS)
