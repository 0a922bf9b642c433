"""``statetrack report``: the sections of each report kind, the CLI, and the pages in a real browser (headless
Chromium: loads without console errors, every section and figure present, a screenshot kept as an artifact)."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from statetrack.automata.catalog import get_language
from statetrack.cli import main
from statetrack.report import render_html, report_language, report_run, write_report

LANGUAGE_SECTIONS = ["dfa", "monoid", "verdicts", "compiled", "eigenvalues"]
RUN_SECTIONS = ["dfa", "monoid", "verdicts", "training", "lengths", "eigenvalues"]
ARTIFACTS = Path(os.environ.get("STATETRACK_TEST_ARTIFACTS", "test-artifacts"))


def _browser() -> str | None:
    return next((shutil.which(b) for b in ("chromium", "chromium-browser", "google-chrome") if shutil.which(b)), None)


@pytest.fixture(scope="module")
def pages(tmp_path_factory, parity_run) -> dict[str, Path]:
    """One page of each kind: a language (tomita:3), a compiled model (group:S5), a trained parity run."""
    out = tmp_path_factory.mktemp("reports")
    pages = {}
    write_report(report_language(get_language("tomita:3"), "tomita:3", numeric_len=64), out / "tomita3.html")
    pages["language"] = out / "tomita3.html"
    assert main(["compile", "--lang", "group:S5", "-o", str(out / "s5.safetensors")]) == 0
    assert main(["report", str(out / "s5.safetensors"), "--numeric-len", "32", "-o", str(out / "s5.html")]) == 0
    pages["compiled"] = out / "s5.html"
    write_report(report_run(parity_run((-1, 1)), max_len=48, per_length=16), out / "run.html")
    pages["run"] = out / "run.html"
    return pages


@pytest.mark.parametrize("kind,sections", [("language", LANGUAGE_SECTIONS), ("compiled", LANGUAGE_SECTIONS),
                                           ("run", RUN_SECTIONS)])
def test_page_has_every_section_in_order(pages, kind, sections):
    text = pages[kind].read_text()
    found = re.findall(r'<section id="([a-z]+)">', text)
    assert found == sections
    # figures inline: group:S5's 120-state DFA is a table, not a drawing
    assert text.count("<svg") >= {"language": 2, "compiled": 1, "run": 4}[kind]
    assert "http://" not in text.replace("http://www.w3.org/2000/svg", "") and "https://" not in text
    assert "<script" not in text


def test_language_report_content():
    r = report_language(get_language("parity"), "parity", numeric_len=32)
    assert r.title == "statetrack report: parity"
    assert "impossible: diagonal[0,1], deltanet[0,1]" in r.summary
    comp = next(s for s in r.sections if s.id == "compiled")
    assert comp.data["proved"] is True
    eig = next(s for s in r.sections if s.id == "eigenvalues")
    assert eig.data["spectral_radius"] == pytest.approx(1.0)
    assert any(abs(z[0] + 1) < 1e-9 for g in eig.data["groups"] for z in g["eigenvalues"])  # parity's -1
    html = render_html(r)
    assert html.startswith("<!DOCTYPE html>") and "</html>" in html


def test_cli_json_and_errors(tmp_path, capsys):
    assert main(["report", "--lang", "flipflop", "--numeric-len", "16", "-o", str(tmp_path / "f.html"),
                 "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [s["id"] for s in out["sections"]] == LANGUAGE_SECTIONS and out["output"].endswith("f.html")
    assert all(s["bytes"] > 0 for s in out["sections"])
    assert main(["report", "-o", str(tmp_path / "x.html")]) == 2
    assert main(["report", str(tmp_path / "missing.safetensors"), "-o", str(tmp_path / "x.html")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.skipif(_browser() is None, reason="headless Chromium is not installed (apt-get install chromium)")
@pytest.mark.parametrize("kind", ["language", "compiled", "run"])
def test_pages_in_headless_chromium(pages, kind, tmp_path):
    """The page loads without console errors, renders every section and figure, and is kept as a screenshot."""
    page = pages[kind]
    probe = page.with_suffix(".probe.html")
    # the same page plus a check that runs after load and writes its findings into the document title
    checker = ("<script>window.addEventListener('load',()=>{const s=[...document.querySelectorAll('section')]"
               ".map(e=>e.id+':'+e.getBoundingClientRect().height.toFixed(0)+':'+e.querySelectorAll('svg,table')"
               ".length);document.title='PROBE '+JSON.stringify(s)});</script>")
    probe.write_text(page.read_text().replace("</body>", checker + "</body>"))
    base = [_browser(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
            f"--user-data-dir={tmp_path / 'profile'}"]
    def load(url: str) -> subprocess.CompletedProcess:
        return subprocess.run(base + ["--enable-logging=stderr", "--v=0", "--dump-dom", url], capture_output=True,
                              text=True, timeout=120)

    def console_lines(proc: subprocess.CompletedProcess) -> list[str]:
        # Chromium logs every console message (errors and uncaught exceptions included) as a CONSOLE line; the
        # report has no script of its own and the probe logs nothing, so any such line is a failure
        return [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln]

    planted = tmp_path / "planted.html"
    planted.write_text("<html><body><script>console.error('planted')</script></body></html>")
    assert console_lines(load(planted.as_uri())), "the console check must see a planted console.error"
    dom = load(probe.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert not console_lines(dom), console_lines(dom)
    m = re.search(r"<title>PROBE (.*?)</title>", dom.stdout)
    assert m, "the page did not finish loading"
    sections = json.loads(m.group(1).replace("&quot;", '"'))
    assert len(sections) == (5 if kind != "run" else 6)
    for entry in sections:
        sid, height, figures = entry.split(":")
        assert int(height) > 40, entry  # rendered, not collapsed
        assert int(figures) >= 1, entry
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / f"report-{kind}.png"
    res = subprocess.run(base + ["--window-size=1280,1800", f"--screenshot={shot}", page.as_uri()],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0 and shot.stat().st_size > 10_000, res.stderr[-2000:]
