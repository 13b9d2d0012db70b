"""Figures as the bench prints them: numbers with thousands separators, Markdown tables under a heading."""

from __future__ import annotations


def fmt(x, nd=1) -> str:
    """``x`` with ``nd`` decimals and thousands separators; "-" for a figure not measured."""
    return "-" if x is None else f"{x:,.{nd}f}"


def table(title: str, header: tuple[str, ...], rows: list[tuple[str, ...]]) -> list[str]:
    """A Markdown table under a heading: the first column left-aligned, the figures right-aligned."""
    return [f"### {title}", "", "| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1),
            *("| " + " | ".join(row) + " |" for row in rows), ""]
