"""The study report: ``<study>.csv``, ``<study>.png`` and a Markdown section per study, gathered in ``report.md``.

Layout of ``--out``::

    report.md              every study's section present in sections/, in registry order
    report.html            the same as one self-contained page (l3sim.report.html), with each study's
                           configuration: figures embedded, viewable offline
    <study>.csv            the study's table
    <study>.png            its figure
    sections/<study>.md    its section (kept so that studies run one at a time build one report)
    sections/<study>.html  the same section for report.html
    store/                 the shared results store (l3sim.experiments.studies.points)

Every file is written atomically (temporary file, fsync, rename).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from l3sim.experiments.store import atomic_write
from l3sim.experiments.studies.base import StudyOptions, StudyResult
from l3sim.experiments.studies.tables import markdown_table, report_value
from l3sim.report.html import REPORT_HTML, HtmlPage

REPORT_FILE = "report.md"
SECTIONS_DIR = "sections"
REPORT_TITLE = "# l3sim reproduction of the L3 paper's evaluation (arXiv 2504.17584)"


def study_configuration(options: StudyOptions, command_line: str) -> dict[str, Any]:
    """What a study ran under, for its report.html section: the l3sim version, ``command_line`` and the
    options every run of the study shares (request count, assumption profile, executor)."""
    from l3sim import __version__

    return {
        "l3sim_version": __version__,
        "command_line": command_line,
        "requests_per_serving_run": options.request_count,
        "quick": options.quick,
        "assumptions": options.assumptions or "none: the presets' own values",
        "backend": options.backend,
    }


def section_html(result: StudyResult, png: Path | None, configuration: dict[str, Any]) -> str:
    """The report.html section of one study: what :func:`section_markdown` says, the figure embedded, and
    the configuration it ran under."""
    page = HtmlPage(result.name).heading(f"{result.name}: {result.title}")
    page.paragraph(result.method, lead="What ran.").paragraph(result.paper, lead="The paper.")
    if result.findings:
        page.paragraph(result.findings, lead="Ours.")
    for note in result.notes:
        page.note(f"note: {note}")
    if png is not None:
        page.figure(png, f"{result.name}: {result.title}")
    columns = list(result.table.columns)
    page.table(columns, ([report_value(v) for v in row] for row in result.table[columns].itertuples(index=False)))
    page.paragraph(f"Table as CSV: {result.name}.csv")
    return page.data(f"{result.name}: configuration", configuration).fragment()


def section_markdown(result: StudyResult, png_name: str | None) -> str:
    """The Markdown section of one study: method, paper, findings, notes, figure, table."""
    parts = [f"## {result.name}: {result.title}", "", f"**What ran.** {result.method}", "",
             f"**The paper.** {result.paper}", ""]
    if result.findings:
        parts += [f"**Ours.** {result.findings}", ""]
    parts += [f"> note: {note}" for note in result.notes]
    if result.notes:
        parts.append("")
    if png_name:
        parts += [f"![{result.name}]({png_name})", ""]
    parts += [markdown_table(result.table), "", f"Table as CSV: [{result.name}.csv]({result.name}.csv)", ""]
    return "\n".join(parts)


def failure_markdown(name: str, reason: str) -> str:
    """The section of a study that could not run: its name and why."""
    return f"## {name}: not run\n\n{reason}\n"


def failure_html(name: str, reason: str) -> str:
    """:func:`failure_markdown` for report.html."""
    return HtmlPage(name).heading(f"{name}: not run").paragraph(reason).fragment()


def _write_text(path: Path, text: str) -> None:
    atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def write_study(result: StudyResult, out_dir: Path | str, configuration: dict[str, Any]) -> dict[str, str]:
    """Write ``<name>.csv``, ``<name>.png`` (when the study draws one) and its sections (Markdown and HTML,
    the latter with ``configuration``: :func:`study_configuration`); return the paths."""
    out_dir = Path(out_dir)
    files = {"csv": out_dir / f"{result.name}.csv"}
    atomic_write(files["csv"], lambda tmp: result.table.to_csv(tmp, index=False))
    png_name = None
    if result.plot is not None and len(result.table):
        files["png"] = out_dir / f"{result.name}.png"
        atomic_write(files["png"], lambda tmp: result.plot(result.table, tmp))
        png_name = files["png"].name
    files["section"] = out_dir / SECTIONS_DIR / f"{result.name}.md"
    _write_text(files["section"], section_markdown(result, png_name))
    files["html_section"] = out_dir / SECTIONS_DIR / f"{result.name}.html"
    _write_text(files["html_section"], section_html(result, files.get("png"), configuration))
    return {kind: str(path) for kind, path in files.items()}


def write_failure(name: str, reason: str, out_dir: Path | str) -> str:
    """Record that study ``name`` did not run (its section says why); return the section's path."""
    path = Path(out_dir) / SECTIONS_DIR / f"{name}.md"
    _write_text(path, failure_markdown(name, reason))
    _write_text(path.with_suffix(".html"), failure_html(name, reason))
    return str(path)


def write_report(out_dir: Path | str, order: Iterable[str]) -> str:
    """Gather the sections present in ``out_dir/sections`` in ``order`` into ``report.md`` and ``report.html``;
    return the path of ``report.md``."""
    out_dir = Path(out_dir)
    order = list(order)
    sections = [out_dir / SECTIONS_DIR / f"{name}.md" for name in order]
    body = [path.read_text(encoding="utf-8") for path in sections if path.exists()]
    path = out_dir / REPORT_FILE
    _write_text(path, "\n".join([REPORT_TITLE, "", *body]))
    page = HtmlPage(REPORT_TITLE.lstrip("# "))
    for name in order:
        fragment = out_dir / SECTIONS_DIR / f"{name}.html"
        if fragment.exists():
            page.include(fragment.read_text(encoding="utf-8"))
        elif (out_dir / SECTIONS_DIR / f"{name}.md").exists():  # written by an l3sim without report.html
            page.heading(name).paragraph(f"In report.md only: rerun `l3sim reproduce {name}` to add it here.")
    page.write(out_dir / REPORT_HTML)
    return str(path)
