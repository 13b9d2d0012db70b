"""The chat page: ask the documents, read verbatim answers, check each source in one click.

    python app.py                      # http://127.0.0.1:7860, building the index first if needed
    python app.py --host 0.0.0.0 --port 8080 --feedback /tmp/feedback.jsonl

A thin layer over ``qa``: the engine answers, ``qa.render`` writes (and
escapes) the HTML, ``qa.feedback`` stores verdicts. The named endpoint
``/ask`` returns ``Answer.to_dict()`` for ``gradio_client``.
"""

import argparse
import logging
import os
import sys
import time

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # no network calls from the page
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from qa import feedback, render  # noqa: E402  (after the environment is set)
from qa.errors import QAError  # noqa: E402

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 7860
SEED_EXAMPLES = (
    "How many system leaders did Timmins interview?",
    "What makes collaboration between organisations hard?",
    "What does Claire Fuller find hardest about leading her system?",
    "Why is there no room for heroes in health and care leadership?",
)

SYSTEM_FONTS = ("ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif")
MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace")
"""Local fonts only: the theme's default web fonts would be fetched from the internet."""

CSS = """
.qa-header h1 {margin: 0 0 2px 0; font-size: 1.6rem;}
.qa-header p {margin: 0; color: var(--body-text-color-subdued);}
.qa-answer {font-size: 0.95rem; line-height: 1.5;}
.qa-quote {border-left: 4px solid #6366f1; padding: 6px 12px; margin: 2px 0 10px 0; font-size: 1.02rem;}
.qa-quote-text {font-style: italic;}
.qa-cite {all: unset; cursor: pointer; color: #4338ca; background: #e0e7ff; border-radius: 6px;
  padding: 0 5px; font-weight: 600; font-size: 0.85em; font-style: normal; white-space: nowrap;}
.qa-cite:hover, .qa-cite:focus-visible, .qa-cite.qa-active {background: #4338ca; color: #fff;}
.qa-cards-label {font-size: 0.8rem; text-transform: uppercase; letter-spacing: .05em; margin: 8px 0 4px;
  color: var(--body-text-color-subdued);}
.qa-card {border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 8px 12px; margin: 6px 0;
  background: var(--background-fill-primary);}
.qa-card-head {display: flex; gap: 8px; align-items: baseline;}
.qa-card-title {font-weight: 600;}
.qa-card-meta {font-size: 0.8rem; color: var(--body-text-color-subdued); margin: 2px 0 4px;}
.qa-card-text {font-size: 0.9rem;}
.qa-show {all: unset; cursor: pointer; font-size: 0.82rem; color: #4338ca; font-weight: 600; margin-top: 4px;
  display: inline-block;}
.qa-show:hover, .qa-show:focus-visible {text-decoration: underline;}
mark.qa-sentence {background: #fde047; color: #111827; border-radius: 3px; padding: 0 1px; font-weight: 600;}
.qa-weak mark.qa-sentence {background: #fef3c7; font-weight: normal;}
mark.qa-passage {background: #fef9c3; color: #111827; border-radius: 3px;}
.qa-abstain {background: #fff7ed; border: 1px solid #fdba74; color: #7c2d12; border-radius: 8px; padding: 8px 12px;}
.qa-panel {padding: 4px 6px;}
.qa-doc-title {font-size: 1.1rem; font-weight: 700;}
.qa-doc-meta {color: var(--body-text-color-subdued); font-size: 0.88rem; margin-top: 2px;}
.qa-doc-where {font-size: 0.8rem; color: var(--body-text-color-subdued); margin: 2px 0 8px;}
.qa-doc-text {white-space: pre-wrap; position: relative; overflow-y: auto; max-height: calc(60vh - 70px); font-size: 0.92rem;
  line-height: 1.55; border-top: 1px solid var(--border-color-primary); padding-top: 8px;}
#qa-chat button.example {border: 1px solid var(--border-color-primary); border-radius: 10px;}
#qa-chat button.example:hover {border-color: #6366f1;}
.qa-panel-empty p {color: var(--body-text-color-subdued);}
.qa-panel-error {color: #b91c1c !important;}
"""

HEAD = """
<script>
(() => {
  // A click on a citation marker or a card's "Show in document" sends its reference to Python
  // through a hidden textbox and button (event delegation: works for every message, old or new).
  function send(ref) {
    const box = document.querySelector('#qa-cite-box textarea, #qa-cite-box input');
    const btn = document.querySelector('#qa-cite-btn');
    if (!box || !btn) return;
    box.value = ref;
    box.dispatchEvent(new Event('input', {bubbles: true}));
    setTimeout(() => btn.click(), 30);
  }
  function activate(el) {
    document.querySelectorAll('.qa-active').forEach(x => x.classList.remove('qa-active'));
    el.classList.add('qa-active');
    send(el.getAttribute('href'));
  }
  document.addEventListener('click', (e) => {
    const el = e.target.closest && e.target.closest('a[href^="#qa-cite/"]');
    if (!el) return;
    e.preventDefault();
    e.stopPropagation();
    activate(el);
  }, true);
})();
</script>
"""

SCROLL_JS = """
() => {
  let tries = 0;
  const go = () => {
    const box = document.getElementById('qa-doc-text');
    const el = document.getElementById('qa-focus');
    if (!box || !el) { if (tries++ < 40) setTimeout(go, 50); return; }
    box.scrollTop = Math.max(0, el.offsetTop - 48);
  };
  setTimeout(go, 30);
}
"""


def source_panel(engine, ref: str) -> str:
    """The source panel for a citation link; only documents in the index can be opened."""
    try:
        source, start, end, highlights = render.parse_ref(render.ref_from_href(ref))
        return render.panel_html(engine.document(source), start, end, highlights)
    except (QAError, ValueError) as e:
        return render.panel_error_html(str(e))


def example_questions(engine) -> list[str]:
    """Questions offered on first load: curated ones for the seed corpus, else one per document title."""
    from qa.config import PROJECT_ROOT

    if engine.corpus.resolve() == (PROJECT_ROOT / "seeds").resolve():
        return list(SEED_EXAMPLES)
    return [f"What is {d.title} about?" for d in engine.documents[:3] if d.title]


def build_demo(engine, feedback_path=None, examples: list[str] | None = None):
    """The page over ``engine``; ``feedback_path`` is where verdicts go (default: ``QA_FEEDBACK`` or feedback/)."""
    import gradio as gr

    examples = example_questions(engine) if examples is None else examples
    target = feedback.feedback_path(feedback_path)
    docs = engine.documents
    doc_choices = [(d.title or d.source, d.source) for d in docs]

    def ask(question, k, mode, sources):
        """The page's controls as engine arguments: page mode names, an empty filter meaning all documents."""
        return engine.ask(question, k=int(k), mode=render.mode_name(mode), sources=list(sources or []) or None)

    def ask_api(question: str, k: int = 5, mode: str = "hybrid", sources: list[str] | None = None) -> dict:
        """The structured answer (Answer.to_dict()): passages with source, title, section, start, end, score and
        highlight offsets. mode: hybrid, semantic (dense) or keyword (bm25); sources: file names to search (empty: all)."""
        try:
            answer = ask(question, k, mode, sources)
        except (QAError, ValueError) as e:
            raise gr.Error(str(e)) from None
        return answer.to_dict()

    def add_question(question, history):
        history = list(history or [])
        if question and question.strip():
            history.append({"role": "user", "content": f'<p class="qa-q">{render.esc(question.strip())}</p>'})
        return "", history, question

    def respond(question, history, sources, k, mode, answers):
        history, answers = list(history or []), dict(answers or {})
        if not question or not question.strip():
            return history, answers
        try:
            answer = ask(question, k, mode, sources)
        except (QAError, ValueError) as e:
            history.append({"role": "assistant", "content": render.error_html(str(e))})
            return history, answers
        answers[str(len(history))] = {"answer": answer.to_dict(), "k": int(k), "sources": list(sources or [])}
        history.append({"role": "assistant", "content": render.answer_html(answer)})
        return history, answers

    def pick_example(history, evt: gr.SelectData):
        return add_question(evt.value["text"], history)

    def open_source(ref):
        return source_panel(engine, ref)

    def on_like(answers, evt: gr.LikeData):
        verdict = {True: "helpful", False: "not helpful"}.get(evt.liked) if isinstance(evt.liked, bool) else None
        asked = (answers or {}).get(str(evt.index if isinstance(evt.index, int) else evt.index[0]))
        if verdict is None or asked is None:
            return
        feedback.record(target, asked["answer"], verdict, k=asked["k"], sources=asked["sources"])
        gr.Info(f"Saved as {verdict}. Thank you.")

    with gr.Blocks(title="Ask the documents") as demo:
        gr.HTML(
            '<div class="qa-header"><h1>Ask the documents</h1>'
            f"<p>Answers are sentences quoted word for word from {len(docs)} indexed documents, each with a "
            "citation: click <b>[1]</b> to read the passage in its document. Nothing is generated.</p></div>"
        )
        answers = gr.State({})
        pending = gr.State("")
        with gr.Row(variant="panel", elem_id="qa-options"):
            pick = gr.Dropdown(
                choices=doc_choices, value=[], multiselect=True, label="Only these documents",
                info="Leave empty to search all documents.", scale=4, elem_id="qa-docs",
            )
            k = gr.Slider(1, 10, value=5, step=1, label="Passages", info="How many to show.", scale=2,
                          elem_id="qa-k")
            mode = gr.Radio(
                choices=list(render.MODE_CHOICES), value="hybrid", label="Retrieval",
                info="Hybrid combines meaning (semantic) and exact words (keyword).", scale=3, elem_id="qa-mode",
            )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=420):
                chat = gr.Chatbot(
                    show_label=False, elem_id="qa-chat", height="60vh", latex_delimiters=[], buttons=["copy_all"],
                    placeholder="**Ask a question about the documents**, or pick an example.",
                    examples=[{"text": q} for q in examples] or None, feedback_options=("Like", "Dislike"),
                )
                with gr.Row():
                    box = gr.Textbox(
                        show_label=False, placeholder="Type a question and press Enter",
                        elem_id="qa-question", scale=6, max_lines=4, submit_btn=False,
                    )
                    send = gr.Button("Ask", variant="primary", scale=1, min_width=80, elem_id="qa-ask")
            with gr.Column(scale=2, min_width=360):
                panel = gr.HTML(render.PANEL_EMPTY, elem_id="qa-panel", container=True, padding=True)
        cite_box = gr.Textbox(visible="hidden", elem_id="qa-cite-box")
        cite_btn = gr.Button("open", visible="hidden", elem_id="qa-cite-btn")

        private = {"api_visibility": "private"}
        for trigger in (box.submit, send.click):
            trigger(add_question, [box, chat], [box, chat, pending], queue=False, **private).then(
                respond, [pending, chat, pick, k, mode, answers], [chat, answers], **private
            )
        chat.example_select(pick_example, [chat], [box, chat, pending], **private).then(
            respond, [pending, chat, pick, k, mode, answers], [chat, answers], **private
        )
        cite_btn.click(open_source, cite_box, panel, **private).then(None, js=SCROLL_JS, **private)
        chat.like(on_like, [answers], None, **private)
        gr.api(ask_api, api_name="ask")
    return demo


def launch(demo, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, block: bool = True):
    """Serve ``demo`` on ``host:port`` (never shared publicly)."""
    import gradio as gr

    return demo.launch(
        server_name=host, server_port=port, share=False, prevent_thread_lock=not block, show_error=True,
        css=CSS, head=HEAD, theme=gr.themes.Soft(primary_hue="indigo", font=SYSTEM_FONTS, font_mono=MONO_FONTS),
        quiet=not block,
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
    ap.add_argument("--corpus", help="documents folder (default: $QA_CORPUS or seeds/)")
    ap.add_argument("--index-dir", help="index folder (default: $QA_INDEX_DIR or index/)")
    ap.add_argument("--model", help="sentence-transformers name or folder (default: $QA_MODEL or all-MiniLM-L6-v2)")
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
    from qa.progress import printer
    from qa.engine import Engine

    t0 = time.perf_counter()
    print("Loading the index (building it first if it is missing or stale)...", file=sys.stderr)
    try:
        engine = Engine(
            corpus=args.corpus, index_dir=args.index_dir, model=args.model,
            progress=printer(),
            warn=lambda s: print(f"warning: {s}", file=sys.stderr),
        )
    except QAError as e:
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
