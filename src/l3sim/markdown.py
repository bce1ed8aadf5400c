"""Markdown pipe tables, written one way for the CLI's ``--format markdown`` and the reports."""

from __future__ import annotations

from typing import Iterable, Sequence


def pipe_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A GitHub pipe table of text cells (``|`` in a cell escaped, line breaks as spaces)."""

    def cell(text: str) -> str:
        return str(text).replace("|", r"\|").replace("\n", " ")

    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"
