"""The measuring commands: ``python -m qa eval`` and ``python -m qa bench``.

``qa.cli`` hands these commands their arguments without importing this wing, so
asking a question never loads scipy, matplotlib or the benchmark scenarios.
"""

from __future__ import annotations

import argparse
import json

from ..config import MAX_K, MODES
from ..errors import EvalSetError
from ..options import add_answer_options, add_common, engine_from_args
from . import bench, breakdown, report
from .evals import calibrate, confidences, run
from .evalset import DEFAULT_QUESTIONS, SPLITS, load_questions, locate


def add_eval_arguments(p) -> None:
    p.add_argument("--questions", default=str(DEFAULT_QUESTIONS), help="question file, JSON lines (default: evals/questions.jsonl)")
    p.add_argument("--corpus", help="documents folder (default: $QA_CORPUS or seeds/)")
    p.add_argument("--k", type=int, default=10, help="passages retrieved per question (default 10)")
    p.add_argument("--mode", choices=(*MODES, "all"), default="hybrid", help="retrieval mode, or all three side by side")
    p.add_argument("--split", choices=(*SPLITS, "all"), default="all", help="which split (default: all, each reported separately)")
    p.add_argument("--run", metavar="PATH", help="write one JSON line per question with its ranked results")
    p.add_argument("--trec", metavar="PATH", help="write a TREC run file (and PATH.qrels) for trec_eval or ranx")
    p.add_argument("--report", metavar="PATH", help="write the results as Markdown, with a JSON summary beside it")
    p.add_argument("--calibrate", action="store_true", help="choose the abstention threshold on the dev split and print it")
    p.add_argument("--fit-lead", action="store_true",
                   help="fit the lead model and its calibrated chance on the dev split and print them (qa/measure/lead.py)")
    p.add_argument("--typos", action="store_true",
                   help="ask every question also misspelt by a fixed, seeded rule (qa/measure/typos.py) and compare")
    p.add_argument("--compare", nargs=2, metavar=("A", "B"),
                   help="compare two --run files question by question (a sign test per outcome); asks nothing")
    p.add_argument("--failures", type=int, default=20, help="failures printed per mode (default 20; the report lists all)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--squad", metavar="FILE", help="measure on a SQuAD-format question set instead (e.g. COVID-QA), "
                   "beside a BM25 sentence baseline; corpus and index are cached by the file's hash (qa/measure/squad_set.py)")
    p.add_argument("--squad-limit", type=int, metavar="N", help="with --squad: only the first N questions")
    add_answer_options(p)


def eval_main(args, engine=None) -> int:
    """Run the eval command; ``engine`` lets a caller (the tests) reuse an open Engine instead of opening one."""
    max_k = max(MAX_K, args.candidates or 0)
    if not 1 <= args.k <= max_k:
        raise EvalSetError(f"--k must be between 1 and {max_k} (raise --candidates for more), got {args.k}.")
    if args.squad:
        from . import squad

        return squad.main(args, engine)
    questions = load_questions(args.questions)
    if args.compare:
        a, b = args.compare
        try:
            result = breakdown.compare(breakdown.read_run(a), breakdown.read_run(b), questions)
        except (OSError, ValueError) as e:
            raise EvalSetError(f"Cannot compare the runs: {e}") from None
        print("\n".join(breakdown.compare_lines(result, a, b)))
        return 0
    if args.calibrate or args.fit_lead:
        questions = [q for q in questions if q.split in ("dev", "")]
    elif args.split != "all":
        questions = [q for q in questions if q.split == args.split]
    if not questions:
        raise EvalSetError(f"No questions in split {args.split!r} of {args.questions}.")
    engine = engine or engine_from_args(args)
    questions = locate(questions, lambda s: engine.document(s).text)
    if args.fit_lead:
        return fit_lead(engine, questions, args)
    one = "hybrid" if args.mode == "all" else args.mode
    if args.calibrate:
        kind = engine.score_kind(one)
        if kind == "logit":  # the first passage's logit alone: no sentence is measured, no answer made
            conf = confidences(engine, questions, one, args.k, progress=not args.no_progress)
        else:
            conf = {r.qid: r.confidence for r in run(engine, questions, [one], k=args.k, progress=not args.no_progress, ceiling=0)[one]}
        c = calibrate(questions, conf)
        print(json.dumps(c, indent=2))
        name = {"logit": "abstain_logit", "cosine": "abstain_threshold"}.get(kind, f"abstain_{kind}")
        print(f"AnswerSettings.{name} = {c['threshold']}  (qa/config.py; the confidence is {kind!r} under these options)")
        return 0
    modes = list(MODES) if args.mode == "all" else [args.mode]
    results = run(engine, questions, modes, k=args.k, progress=not args.no_progress, ceiling=100)
    summary = report.summarize(engine, questions, results, args)
    print(report.console(summary, results, questions, args.failures))
    if args.typos:
        print("\n" + "\n".join(typo_lines(engine, questions, results, args)))
    if args.run:
        report.write_run(args.run, results)
    if args.trec:
        report.write_trec(args.trec, questions, results)
    if args.report:
        report.write_report(args.report, summary, results, questions)
    return 0


def typo_lines(engine, questions, results, args) -> list[str]:
    """The same questions misspelt (qa/measure/typos.py), against the clean run: R@1, R@5 and lead per split."""
    from .evals import retrieval_metrics, split_groups
    from .typos import misspelt

    typo = run(engine, misspelt(questions), list(results), k=args.k, progress=not args.no_progress, ceiling=0)
    out = ["Misspelt questions (one or two content words each, seeded) against the same questions spelt right:",
           "| split | mode | n | R@1 | R@1 typos | R@5 | R@5 typos | lead | lead typos | refused | refused typos |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for split, group in split_groups(questions, args.split).items():
        for mode in results:
            a = retrieval_metrics(group, results[mode], args.k)
            b = retrieval_metrics(group, typo[mode], args.k)
            out.append(f"| {split} | {mode} | {a['questions']} | {a['recall@1']:.3f} | {b['recall@1']:.3f} | {a['recall@5']:.3f} | "
                       f"{b['recall@5']:.3f} | {a['answer_hit']:.3f} | {b['answer_hit']:.3f} | {a['abstained']} | {b['abstained']} |")
    return out


def fit_lead(engine, questions, args) -> int:
    """Fit the fused lead's weights and calibrated chance on these (dev) questions and print them."""
    from . import lead

    if engine.settings.rerank.sentences != "fused":
        raise EvalSetError("--fit-lead needs the fused sentence scorer (leave out --sentences, or pass --sentences fused).")
    result = lead.fit(lead.collect(engine, questions, k=args.k, progress=not args.no_progress))
    print(json.dumps(result, indent=2))
    for name in ("lead_weights", "chance_table", "high_chance", "medium_chance"):
        print(f"AnswerSettings.{name} = {result[name]!r}  (qa/config.py)")
    return 0


COMMANDS = {
    "eval": ("measure retrieval on a question -> source set", add_eval_arguments, eval_main),
    "bench": ("measure speed and memory", bench.add_arguments, bench.main),
}


def parser(command: str) -> argparse.ArgumentParser:
    help_text, add_arguments, func = COMMANDS[command]
    p = argparse.ArgumentParser(prog=f"qa {command}", description=help_text)
    add_arguments(p)
    add_common(p)
    p.set_defaults(func=func)
    return p


def main(command: str, argv: list[str]) -> int:
    """Parse ``argv`` for ``command`` (eval or bench) and run it; errors propagate to ``qa.cli``."""
    args = parser(command).parse_args(argv)
    return args.func(args)
