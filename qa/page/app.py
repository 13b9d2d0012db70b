"""The chat page: ask the documents, read verbatim answers, check each source in one click.

    python app.py                      # http://127.0.0.1:7860, building the index first if needed
    python app.py --host 0.0.0.0 --port 8080 --feedback /tmp/feedback.jsonl

``app.py`` at the repository's root is only the entry point; this module is the page's Gradio wiring.

A thin layer over ``qa``: the engine answers (through ``qa.page.live``, which
follows the index as it changes), ``qa.page.reply``, ``conversation``, ``panel``
and ``render`` write the HTML (``display`` escapes it), ``qa/page/static``
holds the page's CSS and script, ``qa.page.feedback`` stores verdicts. The
named endpoint ``/ask`` returns ``Answer.to_dict()`` for ``gradio_client``.
"""

import argparse
import json
import logging
import os
import sys
import time

from .. import config  # first: it sets the environment (no downloads, no analytics) before Gradio is imported
from ..engine import MAX_QUESTION_CHARS, normalise_question
from ..engine import check_sources as check_source_names
from ..errors import QAError
from ..options import add_store_options, storage_from_args
from . import details, feedback, pages, render
from .conversation import conversation_html, empty_html
from .panel import PANEL_EMPTY, check_span, page_panel_html, panel_empty, panel_error_html, panel_html
from .reply import answer_html, answer_markdown, citation_order, error_html, lead_sentences
from .turns import Turn, find
from .live import BusyError, Gate, LiveIndex, answer_build  # noqa: E402

log = logging.getLogger("qa.page")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
CONCURRENCY = 4
"""Questions answered at once (one Engine is safe to share between threads)."""
QUEUE_SIZE = 64
"""Requests waiting beyond this many are refused with BUSY."""
BUSY = "The page is busy answering other readers: try again in a moment."
CHANGING = ("The documents changed a moment ago and are being indexed again: this answer quotes them as they were "
            "before the change. Ask again shortly for the new text.")
OLD_BUILD = ("The documents were indexed again after this answer: this is the text it quoted, as it was then. "
             "Ask again to read the current text.")
MAX_UPLOAD_BYTES = 0
"""Uploads the page accepts: none (it has no file input; unset, Gradio stored any size anyone sent)."""
SEED_TOPIC = "leadership of NHS integrated care systems"
SEED_EXAMPLES = (
    "How many system leaders did Timmins interview?",
    "What makes collaboration between organisations hard?",
    "What does Claire Fuller find hardest about leading her system?",
    "Why is there no room for heroes in health and care leadership?",
)

SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif")
MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace")
"""Local fonts only: the theme's default web fonts would be fetched from the internet."""


class InputError(ValueError):
    """A request the page refuses, with a one-sentence message saying what to send."""


# -- inputs -------------------------------------------------------------------------------------


def check_k(k) -> int:
    """The engine's rule (qa.config.check_k), refused as a user error."""
    try:
        return config.check_k(k)
    except ValueError as e:
        raise InputError(str(e)) from None


def check_sources(sources, engine) -> list[str]:
    """The engine's rule (qa.engine.check_sources) and only indexed names, refused as a user error."""
    try:
        names = check_source_names(sources) or []
    except QAError as e:
        raise InputError(str(e)) from None
    known = {d.source for d in engine.documents}
    unknown = [s for s in names if s not in known]
    if unknown:
        raise InputError(f"No indexed document named {unknown[0][:200]!r}; leave sources empty to search all.")
    return names


def check_question(question) -> tuple[str, str]:
    """(the question as the engine reads it, cut to MAX_QUESTION_CHARS, and a note saying it was cut or "").
    Cleaned before it is measured, so control characters never push a question past the limit."""
    if not isinstance(question, str):
        raise InputError(f"The question must be text, not {type(question).__name__}.")
    q = normalise_question(question)
    if len(q) > MAX_QUESTION_CHARS:
        return q[:MAX_QUESTION_CHARS], (f"Your question was cut to its first {MAX_QUESTION_CHARS:,} characters "
                                        f"(it had {len(q):,}).")
    return q, ""


def cite_panel(engine, images: pages.PageImages, source: str, start: int, end: int, highlights, turn: int | None = None,
               n: int | None = None, total: int | None = None, view: str = "page", page: int | None = None,
               note: str = "") -> str:
    """The source panel for a cited span: only a document in ``engine``'s index, only a span inside it. A PDF
    opens on its page (or ``page``) unless ``view`` is "text" or the page cannot be shown (then its text, with
    one line saying why). ``note``: a line said above the document."""
    hls = [tuple(h) for h in highlights]
    try:
        doc = engine.document(source)
        check_span(doc, start, end, hls)
        if doc.pages and view == "page":
            try:
                boxes = engine.store.build_folder(engine.index)  # Milvus keeps none: the local build it came from
                shown = pages.page_view(doc, boxes, engine.corpus, images, start, end, hls, page)
                return page_panel_html(shown, start, end, turn, n, total, note=note)
            except pages.PageUnavailable as e:
                note = " ".join(x for x in (note, str(e)) if x)
        return panel_html(doc, start, end, hls, turn, n, total, note=note)
    except (QAError, ValueError) as e:
        return panel_error_html(str(e))


def example_questions(engine) -> list[str]:
    """Questions offered on first load: curated ones for the seed corpus, else one per document title."""
    if is_seed(engine):
        return list(SEED_EXAMPLES)
    return [f"What is {d.title} about?" for d in engine.documents[:3] if d.title]


def is_seed(engine) -> bool:
    from ..config import PROJECT_ROOT

    return engine.corpus.resolve() == (PROJECT_ROOT / "seeds").resolve()


# -- the page -----------------------------------------------------------------------------------


def build_demo(engine, feedback_path=None, examples: list[str] | None = None, live: LiveIndex | None = None,
               concurrency: int = CONCURRENCY, queue_size: int = QUEUE_SIZE):
    """The page over ``engine``; ``feedback_path`` is where verdicts go (default: ``QA_FEEDBACK`` or feedback/)."""
    import gradio as gr

    live = live or LiveIndex(engine)
    gate = Gate(concurrency, queue_size, BUSY)
    examples = example_questions(engine) if examples is None else examples
    topic = SEED_TOPIC if is_seed(engine) else ""
    target = feedback.feedback_path(feedback_path)
    doc_choices = [(d.title or d.source, d.source) for d in engine.documents]
    images = pages.PageImages(engine.index_dir / "pages")
    empty = empty_html(examples)

    def header():
        eng = live.engine
        return render.header_html(eng.documents, topic, render.nice_date(live.indexed()))

    def run(q, k, mode, sources):
        """The question as check_question cleaned it, and the other inputs checked here -> (answer, settings,
        build id, engine that answered)."""
        mode, eng = render.mode_name(mode), live.current()
        settings = {"k": check_k(k), "mode": mode, "sources": check_sources(sources, eng)}
        answer = gate.run(eng.ask, q, k=settings["k"], mode=mode, sources=settings["sources"] or None)
        return answer, settings, answer_build(answer, eng), eng

    def ask_api(question: str, k: int = 5, mode: str = "hybrid", sources: list[str] | None = None) -> dict:
        """The structured answer (Answer.to_dict()): passages with source, title, section, start, end, score and
        highlight offsets. mode: hybrid, semantic (dense) or keyword (bm25); sources: file names to search (empty: all)."""
        try:
            answer, *_ = run(check_question(question)[0], k, mode, sources)
        except (QAError, ValueError, BusyError) as e:
            log.warning("/ask refused: %s", str(e).splitlines()[0] if str(e) else e.__class__.__name__)
            raise gr.Error(str(e), print_exception=False) from None
        return answer.to_dict()

    def make_turn(n, question, note, k, mode, sources):
        """Turn ``n`` answering ``question``, cleaned already (add_question), with its ``note`` (cut, say)."""
        try:
            answer, settings, build, eng = run(question, k, mode, sources)
        except (QAError, ValueError, BusyError) as e:
            log.warning("question refused: %s", str(e).splitlines()[0] if str(e) else e.__class__.__name__)
            return Turn(n, question, note, "error", html=error_html(str(e)),
                        text=f"Q: {question}\n\nCannot answer. {e}\n")
        docs = {d.source: d for d in eng.documents}
        dates = {s: d.date for s, d in docs.items()}
        titles = {s: d.title for s, d in docs.items()}
        order = citation_order(answer)
        md = answer_markdown(answer, settings, dates)
        said = " ".join(dict.fromkeys(x for x in (note, CHANGING if live.changing() else "") if x))
        return Turn(
            n, question, said, "answer", build=build, settings=settings, answer=answer.to_dict(),
            cites=[(answer.passages[i].source, answer.passages[i].start, answer.passages[i].end,
                    [list(h) for h in answer.passages[i].highlights]) for i in order],
            lead=[(answer.passages[i].source, a, b) for i, (a, b) in lead_sentences(answer)],
            html=answer_html(answer, n, settings, dates, len(docs), titles, render.nice_date(live.indexed())),
            details=details.details_html(answer), text=md,
        )

    def show(turns):
        return conversation_html(turns, empty)

    def add_question(question, turns):
        turns = list(turns or [])
        if not isinstance(question, str) or not question.strip():
            return gr.update(), turns, show(turns), ""
        q, note = check_question(question)
        turns.append(Turn(len(turns) + 1, q, note))
        return "", turns, show(turns), q

    def respond(question, turns, sources, k, mode):
        turns = list(turns or [])
        if not turns or turns[-1].kind != "pending":
            return turns, show(turns), gr.update(), header()
        last = turns.pop()
        turns.append(make_turn(last.number, last.question, last.note, k, mode, sources))
        return turns, show(turns), panel_empty(last.number), header()

    def open_cite(turns, n_turn, n, view="page", page=None):
        """The source panel for marker ``n`` of answer ``n_turn``, from the build that answered."""
        turn = find(turns, n_turn)
        if turn is None or not 1 <= n <= len(turn.cites):
            return panel_error_html("That source is no longer in the conversation. Ask again to see it.")
        eng = live.engine_for(turn.build)
        if eng is None:
            return panel_error_html("The documents were indexed again since this answer; ask again to "
                                    "cite the current text.")
        source, start, end, hls = turn.cites[n - 1]
        note = OLD_BUILD if turn.build != live.build else ""
        return cite_panel(eng, images, source, start, end, hls, n_turn, n, len(turn.cites), view, page, note)

    def on_action(payload, turns, sources, k, mode):
        """Clicks in the conversation and the panel, sent by the page's script as JSON."""
        turns, same = list(turns or []), gr.update()
        try:
            act = json.loads(payload) if isinstance(payload, str) and len(payload) < 20_000 else {}
            kind, n_turn = act.get("action"), _count(act.get("turn"))
        except (ValueError, TypeError, AttributeError):
            return turns, same, same, same
        if kind not in render.SERVER_ACTIONS:
            return turns, same, same, same
        if kind in ("open", "page"):
            page = _count(act.get("page")) if act.get("page") not in (None, "") else None
            view = "text" if act.get("view") == "text" else "page"
            return turns, same, open_cite(turns, n_turn, _count(act.get("n")), view, page), same
        if kind == "close":
            return turns, same, panel_empty(), same
        if kind == "clear":
            return [], show([]), PANEL_EMPTY, same
        turn = find(turns, n_turn)
        if turn is None:
            return turns, same, same, same
        if kind in ("helpful", "not-helpful") and not turn.verdict:
            verdict = "helpful" if kind == "helpful" else "not helpful"
            reason = act.get("reason") if isinstance(act.get("reason"), str) and act["reason"] in feedback.REASONS else None
            feedback.record(target, turn.answer, verdict, k=turn.settings["k"], sources=turn.settings["sources"],
                            reason=reason, comment=str(act.get("comment") or "")[:1000], build=turn.build,
                            lead=[list(x) for x in turn.lead])
            turn.verdict = verdict
            return turns, show(turns), same, same
        if kind == "search-all":
            turns.append(make_turn(len(turns) + 1, turn.question, "", turn.settings["k"], turn.settings["mode"], []))
            return turns, show(turns), panel_empty(len(turns)), []
        return turns, same, same, same

    with gr.Blocks(title="Ask the documents") as demo:
        head = gr.HTML(header(), elem_id="qa-head")
        turns = gr.State([])
        pending = gr.State("")
        with gr.Row(equal_height=False, elem_id="qa-main"):
            with gr.Column(scale=3, min_width=320, elem_id="qa-left"):
                with gr.Row(elem_id="qa-askbar"):
                    box = gr.Textbox(label="Your question", show_label=False, placeholder="Ask a question about the documents",
                                     elem_id="qa-question", scale=6, max_lines=4, lines=1, submit_btn=False, autofocus=True)
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=70, elem_id="qa-ask")
                with gr.Accordion("Search settings", open=False, elem_id="qa-settings"):
                    pick = gr.Dropdown(choices=doc_choices, value=[], multiselect=True, label="Only these documents",
                                       info="Leave empty to search all documents.", elem_id="qa-docs")
                    k = gr.Slider(1, 10, value=5, step=1, label="Passages", info="How many to show.", elem_id="qa-k")
                    mode = gr.Radio(choices=list(render.MODE_CHOICES), value="hybrid", label="Retrieval",
                                    info="Hybrid combines meaning (semantic) and exact words (keyword).",
                                    elem_id="qa-mode")
                chat = gr.HTML(show([]), elem_id="qa-chat")
            with gr.Column(scale=2, min_width=320, elem_id="qa-side"):
                panel = gr.HTML(PANEL_EMPTY, elem_id="qa-panel")
        bridge = gr.Textbox(visible="hidden", elem_id="qa-bridge")
        bridge_btn = gr.Button("act", visible="hidden", elem_id="qa-bridge-btn")

        private = {"api_visibility": "private"}
        # Gradio lets the waiting questions through to the gate, which answers `concurrency` at once
        # and tells readers past `queue_size` waiting that the page is busy.
        engine_q = {"concurrency_limit": None, **private}
        for trigger in (box.submit, send.click):
            trigger(add_question, [box, turns], [box, turns, chat, pending], queue=False, **private).then(
                respond, [pending, turns, pick, k, mode], [turns, chat, panel, head], **engine_q)
        bridge_btn.click(on_action, [bridge, turns, pick, k, mode], [turns, chat, panel, pick], **engine_q)
        gr.api(ask_api, api_name="ask", concurrency_limit=None)
    demo.queue(max_size=2 * (concurrency + queue_size), default_concurrency_limit=concurrency)
    _busy_message(demo)
    demo.live_index, demo.gate = live, gate
    _optional_api_arguments(demo, "ask", ASK_DEFAULTS)
    return demo


def _count(value) -> int:
    """A whole number >= 0 sent by the page's script; anything else is 0 (which opens nothing)."""
    return int(value) if isinstance(value, int) and value >= 0 or isinstance(value, str) and value.isdigit() and len(value) < 9 else 0


ASK_DEFAULTS = (5, "hybrid", None)
"""What /ask takes for k, mode and sources when a caller leaves them out (its signature's defaults)."""


def _optional_api_arguments(demo, api_name: str, defaults: tuple) -> None:
    """Let a caller of ``api_name`` leave out its trailing arguments: Gradio wants every input and, given only the
    question, logged a traceback and answered "<...Api object at 0x...>"; the missing ones take ``defaults``."""
    validate = demo.validate_inputs

    def fill_then_validate(block_fn, inputs):
        wanted = len(block_fn.inputs)
        if getattr(block_fn, "api_name", None) == api_name and 0 < len(inputs) < wanted:
            inputs.extend(defaults[len(inputs) - (wanted - len(defaults)) :])
        return validate(block_fn, inputs)

    demo.validate_inputs = fill_then_validate


def _busy_message(demo) -> None:
    """This page's queue-full refusal in words a reader can act on (its own queue only: Gradio is not patched)."""
    queue = demo._queue
    if getattr(queue.push, "_qa_busy", False):
        return
    original = queue.push

    async def push(*args, **kwargs):
        ok, message, status = await original(*args, **kwargs)
        return (ok, BUSY, status) if status == "queue_full" else (ok, message, status)

    push._qa_busy = True
    queue.push = push


class NoDevRoutes:
    """ASGI middleware: Gradio's development reload stream (``/gradio_api/dev/reload``) answers 404. The page
    never opens it (only Gradio's reload mode does), and each stream left open polled every 50 ms forever."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope.get("type") == "http" and scope.get("path", "").rstrip("/").endswith("/dev/reload"):
            await send({"type": "http.response.start", "status": 404,
                        "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
            await send({"type": "http.response.body", "body": b"Not found: this page has no development reload."})
            return
        await self.app(scope, receive, send)


def launch(demo, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, block: bool = True):
    """Serve ``demo`` on ``host:port`` (never shared publicly)."""
    import gradio as gr
    from starlette.middleware import Middleware

    return demo.launch(
        app_kwargs={"middleware": [Middleware(NoDevRoutes)]},
        server_name=host, server_port=port, share=False, prevent_thread_lock=not block, show_error=True,
        max_file_size=MAX_UPLOAD_BYTES,  # the page takes no files: an upload of any size is refused
        footer_links=["api"],  # "Use via API": /ask documented for scripts; nothing else in the footer
        head=render.page_head(),
        theme=gr.themes.Soft(primary_hue="indigo", font=SYSTEM_FONTS, font_mono=MONO_FONTS), quiet=not block,
    )


# -- command line -----------------------------------------------------------------------------------


def _env_port(value: str | None) -> int:
    if value in (None, ""):
        return DEFAULT_PORT
    try:
        return int(value)
    except ValueError:
        raise SystemExit(f"error: QA_PORT must be a port number such as {DEFAULT_PORT}, got {value!r}") from None


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(description="Serve the Q&A chat page (built on the qa engine).")
    ap.add_argument("--host", default=os.environ.get("QA_HOST") or DEFAULT_HOST,
                    help=f"address to listen on (default: $QA_HOST or {DEFAULT_HOST})")
    ap.add_argument("--port", type=int, default=_env_port(os.environ.get("QA_PORT")),
                    help=f"port (default: $QA_PORT or {DEFAULT_PORT})")
    ap.add_argument("--corpus", help="documents folder to serve (default: the one the index was built from, else seeds/)")
    ap.add_argument("--index-dir", help="index folder (default: $QA_INDEX_DIR or index/)")
    ap.add_argument("--model", help="sentence-transformers name or folder (default: $QA_MODEL or all-MiniLM-L6-v2)")
    add_store_options(ap)
    ap.add_argument("--feedback", help="JSON Lines file for helpful / not helpful verdicts "
                    "(default: $QA_FEEDBACK or feedback/feedback.jsonl)")
    return ap


def main(argv: list[str] | None = None) -> int:
    try:
        return serve(parser().parse_args(argv))
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 130


def serve(args) -> int:
    """Load (or build) the index, serve the page, load the model, then serve until interrupted."""
    if not 0 < args.port < 65536:
        print(f"error: --port must be between 1 and 65535, got {args.port}", file=sys.stderr)
        return 2
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    for noisy in ("faiss.loader", "sentence_transformers", "bm25s", "httpx"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    from ..engine import Engine
    from ..progress import printer

    t0 = time.perf_counter()
    print("Loading the index (building it first if it is missing or stale)...", file=sys.stderr)
    try:
        engine = Engine(
            corpus=args.corpus, index_dir=args.index_dir, model=args.model,
            switch_corpus=bool(args.corpus),  # --corpus FOLDER: serve that folder, (re)indexing it if need be
            storage=storage_from_args(args),
            progress=printer(),
            warn=lambda s: print(f"warning: {s}", file=sys.stderr),
        )
    except (QAError, ValueError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    c = engine.status()["counts"]
    print(f"Index ready: {c['documents']} documents, {c['chunks']} passages ({time.perf_counter() - t0:.1f} s). "
          f"Feedback goes to {feedback.feedback_path(args.feedback)}.", file=sys.stderr)
    demo = build_demo(engine, args.feedback)
    try:
        launch(demo, args.host, args.port, block=False)
    except OSError as e:
        print(f"error: cannot serve on {args.host}:{args.port} ({e}). Pass another --port or set QA_PORT.",
              file=sys.stderr)
        return 2
    print(f"Serving on http://{args.host}:{args.port}; loading the model...", file=sys.stderr, flush=True)
    try:
        engine.ask("warm up", k=1)  # load the model now: a question asked meanwhile waits for it
    except QAError as e:
        print(f"error: {e}", file=sys.stderr)
        demo.close()
        return 2
    print(f"Ready for questions at http://{args.host}:{args.port} ({time.perf_counter() - t0:.1f} s; Ctrl+C to stop)",
          file=sys.stderr, flush=True)
    demo.block_thread()
    return 0


if __name__ == "__main__":
    sys.exit(main())
