"""The report checks' own tools can fail: axe-core in headless Chromium finds planted faults, PDF helpers read pages.

Chromium, poppler and axe-core come from scripts/setup-test-tools; when one is missing these tests fail and say so.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import browser
from browser import (
    PageError,
    ToolMissingError,
    axe_violations,
    describe,
    page_colour_share,
    page_has_ink,
    pdf_page_images,
    pdf_text,
)

PIXEL = "data:image/gif;base64,R0lGODlhAQABAAAAACw="
FAINT = "#d3d3d3"  # on white: contrast 1.50:1 (WCAG AA asks 4.5:1 for body text)

BAD = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Planted faults</title></head>
<body><main><h1>Planted faults</h1>
<img src="{PIXEL}">
<form><input type="text" name="q"></form>
<p style="color:{FAINT}; background:#ffffff">Text nobody can read</p>
</main></body></html>
"""

GOOD = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>No faults</title></head>
<body><main><h1>No faults</h1>
<img src="{PIXEL}" alt="A blank square">
<form><label for="q">Search</label> <input id="q" type="text" name="q"></form>
<p style="color:#333333; background:#ffffff">Readable text</p>
</main></body></html>
"""

SCRIPTED = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drawn by script</title></head>
<body><main><h1>Drawn by script</h1><div id="chart"></div></main>
<script>
{setup}
window.addEventListener("load", () => setTimeout(() => {{
  const img = document.createElement("img");
  img.src = "{pixel}";
  document.getElementById("chart").appendChild(img);
  {done}
}}, {delay}));
</script></body></html>
"""


def relative_luminance(hex_colour: str) -> float:
    channels = [int(hex_colour[i:i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def write(folder: Path, name: str, html: str) -> Path:
    path = folder / name
    path.write_text(html, "utf-8")
    return path


def test_axe_finds_each_planted_fault_and_nothing_else(tmp_path: Path) -> None:
    violations = axe_violations(write(tmp_path, "bad.html", BAD))
    by_id = {v["id"]: v for v in violations}
    assert set(by_id) == {"image-alt", "label", "color-contrast", "html-has-lang"}, describe(violations)
    assert [n["html"] for n in by_id["image-alt"]["nodes"]] == [f'<img src="{PIXEL}">']
    assert [n["target"] for n in by_id["label"]["nodes"]] == [["input"]]
    contrast = by_id["color-contrast"]["nodes"]
    assert len(contrast) == 1 and "Text nobody can read" in contrast[0]["html"]
    expected = 1.05 / (relative_luminance(FAINT) + 0.05)
    assert expected == pytest.approx(1.5, abs=0.01)
    assert contrast[0]["any"][0]["data"]["contrastRatio"] == pytest.approx(expected, abs=0.01)


def test_axe_passes_a_clean_page(tmp_path: Path) -> None:
    violations = axe_violations(write(tmp_path, "good.html", GOOD))
    assert violations == [], describe(violations)


@pytest.mark.parametrize(("setup", "done", "delay"), [
    ("", "", 100),  # no readiness flag: axe waits for load and a quiet DOM
    ("window.__reportReady = false;", "window.__reportReady = true;", 1200),  # flag: axe waits for it
])
def test_axe_runs_after_the_page_scripts_have_drawn(tmp_path: Path, setup: str, done: str, delay: int) -> None:
    page = write(tmp_path, "scripted.html", SCRIPTED.format(setup=setup, done=done, delay=delay, pixel=PIXEL))
    violations = axe_violations(page)
    assert [v["id"] for v in violations] == ["image-alt"], describe(violations)


def test_page_errors_and_a_page_that_never_gets_ready_fail(tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.html", GOOD.replace("</main>", "</main><script>null.draw()</script>"))
    with pytest.raises(PageError, match="TypeError"):
        axe_violations(broken)
    assert axe_violations(broken, allow_page_errors=True) == []
    never = "</main><script>window.__reportReady = false</script>"
    stuck = write(tmp_path, "stuck.html", GOOD.replace("</main>", never))
    with pytest.raises(PageError, match="__reportReady"):
        axe_violations(stuck, settle_timeout=0.5)


def test_a_missing_tool_is_an_error_that_says_how_to_install_it(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    page = write(tmp_path, "good.html", GOOD)
    with monkeypatch.context() as patch:
        patch.setattr(browser, "AXE_JS", browser.REPO / ".tools" / "no-such-axe" / "axe.min.js")
        with pytest.raises(ToolMissingError, match=r"axe-core not found .*scripts/setup-test-tools"):
            axe_violations(page)
    with monkeypatch.context() as patch:
        patch.setattr(browser, "CHROMIUM_NAMES", ("no-such-chromium",))
        with pytest.raises(ToolMissingError, match=r"Chromium not found .*scripts/setup-test-tools"):
            axe_violations(page)
    with monkeypatch.context() as patch:
        patch.setenv("PATH", str(tmp_path))
        with pytest.raises(ToolMissingError, match=r"pdftoppm not found .*scripts/setup-test-tools"):
            pdf_page_images(tmp_path / "any.pdf", tmp_path)


def test_pdf_pages_as_text_and_images_tell_a_chart_from_text(tmp_path: Path) -> None:
    from weasyprint import HTML

    pdf = tmp_path / "two.pdf"
    HTML(string="""<html lang="en"><body style="margin:0">
        <section><h1>First page</h1><p>Only words here.</p></section>
        <section style="break-before: page"><h1>Second page</h1>
          <div style="width:8cm; height:5cm; background:#1f77b4"></div></section>
        </body></html>""").write_pdf(pdf)

    text = pdf_text(pdf)
    assert len(text) == 2
    assert "First page" in text[0] and "Only words here." in text[0] and "Second" not in text[0]
    assert "Second page" in text[1] and "First" not in text[1]

    pages = pdf_page_images(pdf, tmp_path / "png")
    assert [p.name for p in pages] == ["page-1.png", "page-2.png"]
    words, chart = pages
    assert 0 < page_has_ink(words) < 0.05
    assert page_colour_share(words) < 0.001
    # the rectangle is 8 x 5 cm of an A4 page (21 x 29.7 cm): 6.4 % of it
    assert page_colour_share(chart) == pytest.approx(8 * 5 / (21 * 29.7), abs=0.01)
    assert page_has_ink(chart) > page_colour_share(chart)
