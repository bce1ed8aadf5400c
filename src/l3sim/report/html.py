"""``report.html``: one self-contained page beside ``report.md`` (``demo``, ``compare --out``, ``reproduce``).

Everything the page shows is inside the file: figures are the PNGs written beside it, embedded as
``data:image/png;base64`` URIs; the style sheet is inline; there is no script, no font and no link to
fetch, so the page opens from disk, offline, without a server. Every piece of text (titles, cells,
notes, configuration values) goes through :func:`html.escape`, so a model or workload name holding
``<`` or ``&`` is shown as written and cannot break the page.

A page is built part by part with :class:`HtmlPage` and written atomically (``l3sim.outputs``). The
``reproduce`` report is gathered from per-study fragments (:meth:`HtmlPage.fragment`), as its
Markdown report is gathered from per-study sections.
"""

from __future__ import annotations

import base64
import html
import json
from pathlib import Path
from typing import Any, Iterable, Sequence

from l3sim.outputs import write_text

REPORT_HTML = "report.html"

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em auto; max-width: 72em; padding: 0 1em; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 1em 0; font-size: 0.9em; display: block; overflow-x: auto; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; } td:first-child, th:first-child { text-align: left; }
figure { margin: 1em 0; } figure img { max-width: 100%; height: auto; }
figcaption { font-size: 0.9em; color: #555; }
blockquote { border-left: 4px solid #e0a000; margin: 0.5em 0; padding: 0.2em 0.8em; background: #fff8e0; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
code { background: #f0f0f0; padding: 0 0.2em; }
"""


def esc(text: Any) -> str:
    """``text`` as HTML text (``&``, ``<``, ``>`` and both quotes escaped)."""
    return html.escape(str(text), quote=True)


def png_data_uri(path: Path) -> str:
    """The PNG file ``path`` as a ``data:`` URI, so the page needs no file beside it."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode("ascii")


class HtmlPage:
    """A report page: parts appended in reading order, then :meth:`render`-ed or :meth:`write`-n whole."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.parts: list[str] = []

    def heading(self, text: str, level: int = 2) -> "HtmlPage":
        """A section heading (``<h2>`` by default)."""
        self.parts.append(f"<h{level}>{esc(text)}</h{level}>")
        return self

    def paragraph(self, text: str, lead: str = "") -> "HtmlPage":
        """A paragraph; ``lead`` (e.g. "What ran.") is set in bold before it."""
        strong = f"<strong>{esc(lead)}</strong> " if lead else ""
        self.parts.append(f"<p>{strong}{esc(text)}</p>")
        return self

    def command(self, text: str, lead: str = "Reproduce with") -> "HtmlPage":
        """A command line the reader can copy."""
        self.parts.append(f"<p>{esc(lead)} <code>{esc(text)}</code></p>")
        return self

    def note(self, text: str) -> "HtmlPage":
        """A warning or caveat, set off from the text."""
        self.parts.append(f"<blockquote>{esc(text)}</blockquote>")
        return self

    def table(self, columns: Sequence[str], rows: Iterable[Sequence[Any]], caption: str = "") -> "HtmlPage":
        """A table of text cells (each cell through ``str``)."""
        head = "".join(f"<th>{esc(c)}</th>" for c in columns)
        body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in row) + "</tr>" for row in rows)
        cap = f"<caption>{esc(caption)}</caption>" if caption else ""
        self.parts.append(f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")
        return self

    def figure(self, path: Path, caption: str) -> "HtmlPage":
        """The PNG at ``path``, embedded; ``caption`` is its alt text and caption."""
        self.parts.append(
            f'<figure><img src="{png_data_uri(path)}" alt="{esc(caption)}">'
            f"<figcaption>{esc(caption)}</figcaption></figure>"
        )
        return self

    def data(self, summary: str, value: Any, open_: bool = False) -> "HtmlPage":
        """A JSON-ready value (a resolved configuration) as indented JSON, folded under ``summary``."""
        text = json.dumps(value, indent=2, sort_keys=False, default=str)
        self.parts.append(
            f"<details{' open' if open_ else ''}><summary>{esc(summary)}</summary><pre>{esc(text)}</pre></details>"
        )
        return self

    def include(self, fragment: str) -> "HtmlPage":
        """Parts another page made (its :meth:`fragment`, already escaped), as they are."""
        self.parts.append(fragment)
        return self

    def fragment(self) -> str:
        """The parts alone (no page around them), for a report gathered from sections."""
        return "\n".join(self.parts)

    def render(self) -> str:
        """The whole page: doctype, inline style, the title as ``<h1>``, then the parts."""
        return (
            '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{esc(self.title)}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n"
            f"<h1>{esc(self.title)}</h1>\n{self.fragment()}\n</body>\n</html>\n"
        )

    def write(self, path: Path) -> Path:
        """Write the page to ``path`` atomically (a temporary file, then a rename)."""
        return write_text(path, self.render(), "report")
