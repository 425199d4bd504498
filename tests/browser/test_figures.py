"""Every figure of the built book, as a reader at a 1280 px viewport sees it (issue 20).

Each figure is a PNG written by :func:`audiomnist_core.plots.layout.render`, which keeps the
figure's size (inches) and smallest font (points) in the PNG's text chunks. Per figure on every
page: the metadata is there; its smallest text renders at :data:`MIN_PX` CSS px or more
(``min_font_pt / 72 * dpi * shown_width / natural_width``); it is sharp (at least
:data:`MIN_PIXELS_PER_CSS_PX` image pixels per CSS pixel shown); it stays inside the content
column. The measurements are printed (``pytest -s``) and written to ``_build/figure-sizes.json``.
"""
from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from audiomnist_core.book import built_html
from audiomnist_core.plots.layout import read_metadata

pytestmark = pytest.mark.browser

MIN_PX = 10.0  # the smallest text a reader should have to read, CSS px
MIN_PIXELS_PER_CSS_PX = 2.0  # hi-dpi: two image pixels per CSS pixel shown
CHAPTERS = sorted(p.relative_to(built_html()).as_posix() for p in (built_html() / "book").glob("0*.html"))

# Every image of the page's article: where it comes from, how wide it is shown, how wide it is,
# and the width of the content column it sits in.
FIGURES = """() => Array.from(document.querySelectorAll('article img')).map((img) => {
  const column = img.closest('article').getBoundingClientRect();
  const box = img.getBoundingClientRect();
  return {src: img.currentSrc || img.src, shown: box.width, natural: img.naturalWidth,
          left: box.left - column.left, right: column.right - box.right, column: column.width};
})"""


def measure(page, html: Path) -> list[dict]:
    """The figures of a loaded page, each with its PNG metadata and the size of its smallest
    text on the page (``min_px``, CSS px; ``None`` without metadata) and of a nominal 10 pt
    text (``ten_pt_px``)."""
    figures = page.evaluate(FIGURES)
    for f in figures:
        path = html / unquote(urlparse(f["src"]).path).lstrip("/")
        meta = read_metadata(path.read_bytes()) if path.suffix == ".png" and path.is_file() else {}
        f.update(meta, file=path.name)
        dpi = meta.get("dpi", 100.0)  # matplotlib's default, where a PNG does not say
        per_pt = dpi / 72 * f["shown"] / f["natural"] if f["natural"] else 0.0
        f["ten_pt_px"] = round(10 * per_pt, 2)
        f["min_px"] = round(meta["min_font_pt"] * per_pt, 2) if "min_font_pt" in meta else None
        f["pixels_per_css_px"] = round(f["natural"] / f["shown"], 2) if f["shown"] else 0.0
    return figures


@pytest.fixture(scope="module")
def sizes(html, server, browser_context) -> dict[str, list[dict]]:
    """The figures of every chapter at a 1280 px viewport, also in ``_build/figure-sizes.json``."""
    out = {}
    page = browser_context.new_page()
    try:
        for path in CHAPTERS:
            page.goto(f"{server}/{path}", wait_until="load", timeout=60_000)
            page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
            page.wait_for_function("() => Array.from(document.images).every((i) => i.complete)", timeout=30_000)
            out[path] = measure(page, html)
    finally:
        page.close()
    (html.parent / "figure-sizes.json").write_text(json.dumps(out, indent=1) + "\n")
    for path, figures in out.items():
        smallest = min((f["min_px"] for f in figures if f["min_px"] is not None), default=None)
        print(f"{path}: {len(figures)} figures, smallest text {smallest} px")
    return out


def test_every_chapter_has_figures(sizes):
    assert CHAPTERS and all(sizes[p] for p in CHAPTERS), {p: len(f) for p, f in sizes.items()}


@pytest.mark.parametrize("path", CHAPTERS)
def test_figures_are_readable_sharp_and_inside_the_column(path, sizes):
    for f in sizes[path]:
        where = f"{path}: {f['file']}"
        assert "width_in" in f and "min_font_pt" in f, f"{where}: no size or font in its metadata (not made by plots.layout.render; a nominal 10 pt renders at {f['ten_pt_px']} px)"
        assert f["min_px"] >= MIN_PX, f"{where}: its smallest text ({f['min_font_pt']:g} pt, {f['width_in']:.2f} in wide) renders at {f['min_px']} px"
        assert f["pixels_per_css_px"] >= MIN_PIXELS_PER_CSS_PX, f"{where}: {f['natural']} px shown {f['shown']:.0f} px wide, not sharp"
        assert f["left"] >= -0.5 and f["right"] >= -0.5, f"{where}: sticks out of the {f['column']:.0f} px column"
        assert abs(f["natural"] / f["dpi"] - f["width_in"]) < 0.02, f"{where}: its metadata is not its size"
