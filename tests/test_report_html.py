"""report.html: one self-contained page (l3sim.report.html), checked as text and in a real headless browser.

The browser tests drive Debian's Chromium through Playwright (``make test`` installs both where it runs as
root); where either is missing they skip and say which.
"""

from __future__ import annotations

import base64
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from l3sim.cli import app
from l3sim.report.html import HtmlPage

RUNNER = CliRunner()
CHROMIUM_PATHS = ("/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome")


def _png(path: Path, width: int = 30) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(width / 10, 2), dpi=10)
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def test_page_escapes_every_text_and_embeds_the_figure(tmp_path) -> None:
    png = _png(tmp_path / "f.png")
    nasty = '<script>alert("x")</script> & co'
    page = HtmlPage(nasty).heading(nasty).paragraph(nasty, lead=nasty).note(nasty).command(nasty)
    page.table([nasty], [[nasty]]).figure(png, nasty).data(nasty, {"name": nasty})
    text = page.render()
    assert "<script" not in text and "alert(\"x\")" not in text
    assert text.count("&lt;script&gt;") >= 8  # title, h1, heading, lead, paragraph, note, command, cell, ...
    # the figure is the file itself, base64-encoded in a data URI: nothing to fetch beside the page
    uri = re.search(r'<img src="data:image/png;base64,([A-Za-z0-9+/=]+)"', text).group(1)
    assert base64.b64decode(uri) == png.read_bytes()
    assert not re.search(r'(src|href)="(?!data:)', text) and "<link" not in text and "@import" not in text


def test_include_keeps_a_fragment_as_it_is() -> None:
    fragment = HtmlPage("part").heading("a & b").fragment()
    page = HtmlPage("whole").include(fragment)
    assert "<h2>a &amp; b</h2>" in page.render()


def _browser():
    """A headless Chromium under Playwright, or a skip that says what is missing."""
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (pip: the test extra)")
    executable = next((p for p in CHROMIUM_PATHS if Path(p).exists()), None) or shutil.which("chromium")
    if executable is None:
        pytest.skip(f"no Chromium found (looked for {', '.join(CHROMIUM_PATHS)}); Debian: apt-get install chromium")
    manager = sync_api.sync_playwright().start()
    try:
        browser = manager.chromium.launch(executable_path=executable, args=["--no-sandbox"])
    except Exception as exc:  # a browser that cannot start here (missing libraries, no sandbox support)
        manager.stop()
        pytest.skip(f"Chromium at {executable} does not start: {str(exc).splitlines()[0]}")
    return manager, browser


@pytest.fixture(scope="module")
def browser():
    manager, browser = _browser()
    yield browser
    browser.close()
    manager.stop()


def open_report(browser, path: Path) -> dict:
    """Load ``path`` from disk and return what the page shows: its figures' natural widths, its tables'
    row counts, its console errors and every request that was not for the file itself or a data URI."""
    page = browser.new_page()
    problems: list[str] = []
    page.on("console", lambda message: problems.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("request", lambda request: None if request.url.startswith(("file:", "data:"))
            else problems.append(f"fetched {request.url}"))
    page.goto(path.resolve().as_uri(), wait_until="load")
    shown = {
        "figures": page.eval_on_selector_all("img", "els => els.map(e => e.complete ? e.naturalWidth : 0)"),
        "tables": page.eval_on_selector_all("table", "els => els.map(e => e.querySelectorAll('tbody tr').length)"),
        "text": page.inner_text("body"),
        "problems": problems,
    }
    page.close()
    return shown


COMPARE = ["compare", "--systems", "gpu-only,l3", "--platform", "dgx-a100", "--model", "gpt-175b",
           "--workload", "openr1", "--requests", "6", "--json", "--out"]


@pytest.mark.parametrize("command", [["demo", "--json", "--out"], COMPARE], ids=["demo", "compare"])
def test_comparison_report_shows_every_figure_and_table(browser, tmp_path, monkeypatch, command) -> None:
    monkeypatch.setattr("l3sim.cli.demo_cmd.DEMO_FIELDS", {"platform": "dgx-a100", "model": "gpt-175b",
                                                          "workload": "openr1", "requests": 6})
    monkeypatch.setattr("l3sim.cli.demo_cmd.DEFAULT_SYSTEMS", "gpu-only,l3")
    result = RUNNER.invoke(app, [*command, str(tmp_path)])
    assert result.exit_code == 0, result.output
    shown = open_report(browser, tmp_path / "report.html")
    assert shown["problems"] == []
    pngs = sorted(tmp_path.glob("*.png"))
    assert {p.name for p in pngs} == {"throughput.png", "account.png", "timeline.png"}
    assert len(shown["figures"]) == len(pngs) and all(width > 0 for width in shown["figures"])
    # the comparison (a row per system); the account: bound, the ten loss categories of docs/validation.md,
    # makespan, and the two time-averaged batch rows
    assert shown["tables"] == [2, 1 + 10 + 1 + 2]
    for text in ("gpu-only", "l3", "Where the time goes", "resolved spec", "gpt-175b"):
        assert text in shown["text"]


def test_reproduce_report_shows_every_study(browser, tmp_path) -> None:
    for study in ("pcie", "hw-ablation"):
        result = RUNNER.invoke(app, ["reproduce", study, "--out", str(tmp_path), "--json"])
        assert result.exit_code == 0, result.output
    shown = open_report(browser, tmp_path / "report.html")
    assert shown["problems"] == []
    assert len(shown["figures"]) == 2 and all(width > 0 for width in shown["figures"])
    # one table per study, a row per line of its CSV
    assert shown["tables"] == [6, 40]
    assert shown["text"].index("pcie:") < shown["text"].index("hw-ablation:")  # the registry's order
