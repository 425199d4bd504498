"""Every page of the built book in a real browser: what a reader of the published book gets.

Per page: no console errors, failed requests or HTTP errors; every image decoded; every
``<audio>`` with a source of positive duration; results tables rendered as tables and no saved
progress bars; saved widgets rendered; the Colab button of a chapter pointing at that
chapter's notebook; a screenshot under ``_build/screenshots/``.
Page weights (bytes of embedded audio) are written to ``_build/page-weights.json``.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from audiomnist_core.book import built_html
from audiomnist_core.book.weights import AUDIO_BUDGET_BYTES, format_weights, page_weights
from audiomnist_core.runs import repo_root

pytestmark = pytest.mark.browser


def book_pages(html: Path) -> list[str]:
    """Pages of the book (not Sphinx's search/index pages), relative to the HTML folder."""
    return sorted(page_weights(html)) if (html / "index.html").is_file() else []


PAGES = [p for p in book_pages(built_html()) if p != "index.html"]  # index.html only redirects


def colab_url(notebook: str) -> str:
    """The launch link Jupyter Book should make for ``notebook`` from ``_config.yml``."""
    cfg = yaml.safe_load((repo_root() / "_config.yml").read_text())
    repo = cfg["repository"]["url"].rstrip("/").removeprefix("https://github.com/")
    base = cfg["launch_buttons"]["colab_url"].rstrip("/")
    prefix = cfg["repository"].get("path_to_book", "").strip("/")
    path = f"{prefix}/{notebook}" if prefix else notebook
    return f"{base}/github/{repo}/blob/{cfg['repository']['branch']}/{path}"


AUDIO_DURATIONS = """async () => {
  const wait = (a) => new Promise((resolve) => {
    if (a.readyState >= 1 || a.error) return resolve();
    a.addEventListener('loadedmetadata', resolve, {once: true});
    a.addEventListener('error', resolve, {once: true});
    setTimeout(resolve, 15000);
    a.preload = 'metadata';
    a.load();
  });
  const audios = Array.from(document.querySelectorAll('audio'));
  await Promise.all(audios.map(wait));
  return audios.map((a, i) => ({index: i, src: (a.currentSrc || '').slice(0, 40),
                                duration: a.duration, error: a.error ? a.error.code : null}));
}"""

BROKEN_IMAGES = """() => Array.from(document.images)
  .filter((img) => !(img.complete && img.naturalWidth > 0))
  .map((img) => img.currentSrc || img.src)"""

# Markdown that was printed instead of rendered: paragraphs that are table rows.
RAW_TABLES = """() => Array.from(document.querySelectorAll('article p'))
  .map((p) => p.textContent.trim()).filter((t) => t.startsWith('|')).map((t) => t.slice(0, 80))"""

# What a reader should never see on a page: a log line, a warning, a progress bar, an object's
# text stand-in, a traceback. (Status lines and warnings belong in the build log.)
DEBRIS = r"<IPython\.|object at 0x[0-9a-f]+|<Figure size|\d+(\.\d+)?(it|s/it|file)/s\]|\|[#█▏▎▍▌▋▊▉ ]{3,}\||Traceback \(most recent|\w+Warning: |^(decoding|resampling|training|explaining|computing)\b.*\(cached"

# Output blocks with nothing in them (no text, no image, player, table or widget).
EMPTY_OUTPUTS = """() => Array.from(document.querySelectorAll('article .cell_output'))
  .filter((o) => !o.innerText.trim() && !o.querySelector('img, svg, audio, video, table, canvas, iframe, input, select, .widget-subarea, script[type="application/vnd.jupyter.widget-view+json"]'))
  .map((o) => o.outerHTML.slice(0, 120))"""

# One entry per saved widget view: was it rendered by the widget manager, with a visible size?
WIDGET_VIEWS = """() => Array.from(document.querySelectorAll('script[type="application/vnd.jupyter.widget-view+json"]'))
  .map((tag) => {
    const area = tag.previousElementSibling;
    const ok = !!area && area.classList.contains('widget-subarea') && area.children.length > 0;
    const box = ok ? area.getBoundingClientRect() : {width: 0, height: 0};
    return {rendered: ok, width: box.width, height: box.height};
  })"""


@pytest.mark.parametrize("page_path", PAGES)
def test_page(page_path, html, server, browser_context):
    problems: list[str] = []
    page = browser_context.new_page()
    page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url[:120]} ({r.failure})"))
    page.on("response", lambda r: problems.append(f"HTTP {r.status}: {r.url[:120]}") if r.status >= 400 else None)
    try:
        page.goto(f"{server}/{page_path}", wait_until="load", timeout=60_000)
        page.wait_for_load_state("networkidle", timeout=60_000)

        # Images below the fold load too (none are lazy, but scroll as a reader would).
        page.evaluate("window.scrollTo(0, document.body.scrollHeight)")
        page.wait_for_function("() => Array.from(document.images).every((i) => i.complete)", timeout=30_000)
        assert page.evaluate(BROKEN_IMAGES) == [], f"{page_path}: images that did not load"

        audios = page.evaluate(AUDIO_DURATIONS)
        silent = [a for a in audios if not (a["duration"] and a["duration"] > 0 and a["duration"] != float("inf"))]
        assert not silent, f"{page_path}: <audio> without a playable source: {silent[:5]}"

        assert page.evaluate(RAW_TABLES) == [], f"{page_path}: Markdown tables shown as text"
        text = page.inner_text("article")
        debris = sorted({m.group(0)[:60] for m in re.finditer(DEBRIS, text, re.MULTILINE)})
        assert not debris, f"{page_path}: text a reader should not see: {debris[:5]}"
        assert page.evaluate(EMPTY_OUTPUTS) == [], f"{page_path}: empty output blocks"
        assert "FloatProgressModel" not in (html / page_path).read_text(), f"{page_path}: keeps a progress bar"
        if page_path.endswith("02_training.html"):  # Table 1, the paper's numbers beside ours
            tables = page.eval_on_selector_all("article table", "(els) => els.map((e) => e.innerText)")
            assert any("paper" in t and "alexnet" in t for t in tables), f"{page_path}: no rendered Table 1"

        views = page.evaluate(WIDGET_VIEWS)
        if views:
            page.wait_for_function(
                "() => Array.from(document.querySelectorAll('script[type=\"application/vnd.jupyter.widget-view+json\"]'))"
                ".every((t) => t.previousElementSibling && t.previousElementSibling.classList.contains('widget-subarea')"
                " && t.previousElementSibling.children.length > 0)",
                timeout=30_000,
            )
            views = page.evaluate(WIDGET_VIEWS)
            blank = [v for v in views if not (v["rendered"] and v["width"] > 0 and v["height"] > 0)]
            assert not blank, f"{page_path}: {len(blank)} of {len(views)} saved widgets did not render"

        notebook = (html / "_sources" / page_path).with_suffix(".ipynb")
        if notebook.is_file():
            links = page.eval_on_selector_all(
                "a[href*='colab.research.google.com']", "(els) => els.map((e) => e.href)"
            )
            expected = colab_url(Path(page_path).with_suffix(".ipynb").as_posix())
            assert expected in links, f"{page_path}: Colab link {links} is not {expected}"

        page.evaluate("window.scrollTo(0, 0)")  # sticky headers drawn where a reader sees them
        shots = html.parent / "screenshots"
        shots.mkdir(exist_ok=True)
        page.screenshot(path=str(shots / f"{page_path.replace('/', '__')}.png"), full_page=True)
        assert not problems, f"{page_path}: " + "; ".join(problems[:10])
    finally:
        page.close()


def test_page_weights(html):
    """Embedded audio per page stays under the 5 MB goal; the figures go to _build/page-weights.json."""
    weights = page_weights(html)
    (html.parent / "page-weights.json").write_text(json.dumps(weights, indent=2) + "\n")
    print("\n".join(["page weights:", *format_weights(weights)]))
    heavy = {p: w["audio_bytes"] for p, w in weights.items() if w["audio_bytes"] > AUDIO_BUDGET_BYTES}
    assert not heavy, f"pages over {AUDIO_BUDGET_BYTES / 1e6:.0f} MB of embedded audio: {heavy}"
