"""The pdf section of `qa bench` works: it reads, renders and caches pages and reports every figure.

Structure only, never timings (benchmarks/README.md publishes the figures); no model is loaded."""

from __future__ import annotations

import shutil
from pathlib import Path
from types import SimpleNamespace

from qa.measure import pdf_bench

DOCS = Path(__file__).resolve().parents[1] / "docs"
SEEDS = Path(__file__).resolve().parents[2] / "seeds"


def test_pdf_section_reads_renders_and_caches_pages(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    shutil.copy(DOCS / "nics-firearm-checks-2015-11.pdf", real)
    opt = SimpleNamespace(corpus=str(SEEDS), pdf_dir=str(real), pdf_runs=2, ocr_runs=1, render_pages=2)
    work = tmp_path / "work"
    work.mkdir()
    r = pdf_bench.pdf_section(opt, work)
    assert [(x["name"], x["pages"], x["read_s"]["n"]) for x in r["reading"]] == [
        ("generated-50-pages.pdf", 50, 2), ("nics-firearm-checks-2015-11.pdf", 1, 2)]
    assert all(x["pages_per_s"] > 0 and x["read_s"]["p50"] <= x["read_s"]["p95"] for x in r["reading"])
    assert r["ocr"] == []  # no scan in the folder
    assert {k: v["n"] for k, v in r["render_ms"].items()} == {"cold": 2 + 1, "cache_miss": 3, "cache_hit": 3}
    assert not (work / "page-cache").exists()  # the rendered pages are removed afterwards
    text = "\n".join(pdf_bench.render(r))
    assert "| generated-50-pages.pdf | 50 |" in text and "from its cache" in text
