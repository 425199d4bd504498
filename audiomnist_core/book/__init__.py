"""Build the book: execute every chapter on a profile, then render HTML with Jupyter Book 1.

``make book`` runs ``audiomnist book --profile P --data D``, which is :func:`build`:

1. open the run once, so the corpus is found, fetched or synthesised here (with the loud
   notice when the synthetic one stands in) and every chapter gets the resolved source;
2. execute each notebook of ``_toc.yml`` with papermill, parameters ``PROFILE`` and ``DATA``,
   into ``_build/executed/<profile>-<data>/`` (the committed notebooks are only read), with a
   progress line per chapter and the kernel's stderr streamed as it comes;
3. stage a copy of the book root whose chapters are the executed notebooks
   (``_build/stage``), with the web assets the pages load served from the book itself;
4. run ``jupyter-book build`` on the stage with execution off, warnings as errors and nitpicky
   references, into ``_build/html``.

A failing cell, a broken cross-reference or a missing citation ends the build with one line
naming the file (:class:`BookError`) and a non-zero exit. Chapters read their results from the
run store, so a second build re-renders without retraining.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

from ..errors import BookError
from ..runs import open_run, repo_root
from .assets import assets_dir, ensure_web_assets
from .execute import LIVE_ONLY, Log, clock, chapter_parameters, execute_chapters, fit_environment, task_tag
from .html import build_html, built_html, stage_book
from .sphinx_ext import setup
from .toc import Chapter, find_document, read_toc, toc_docnames
from .weights import format_voice_weights, format_weights, page_weights, voice_weights

__all__ = ["BookError", "build", "build_book", "built_html", "setup"]


def build_book(root: Path, parameters: dict, tag: str, *, log: Log = print, fetch_assets: bool = True,
               skipped: dict[str, str] | None = None, output: Path | None = None, voice: Path | None = None) -> Path:
    """Execute the chapters of the book at ``root`` with ``parameters`` and build its HTML.

    Executed notebooks go to ``<output>/_build/executed/<tag>/``, the stage to
    ``<output>/_build/stage``, the HTML to ``<output>/_build/html``; ``output`` defaults to
    ``root``. ``skipped`` maps the tasks that the run does not run to their reason: the cells
    tagged :func:`task_tag` of those tasks are left out of every chapter. ``voice``: the folder
    of ``audiomnist export-web`` (chapter 07 writes it), served as ``_static/voice/`` where it
    exists after the chapters ran. Returns the HTML folder.
    """
    root = Path(root).resolve()
    output = Path(output).resolve() if output else root
    build_dir = output / "_build"
    toc_names = toc_docnames(read_toc(root))
    present, chapters = [], []
    for docname in toc_names:
        path = find_document(root, docname)
        if path is None:
            log(f"NOTICE: _toc.yml lists {docname} but neither {docname}.ipynb nor {docname}.md exists; "
                "it is left out of this build")
            continue
        present.append(docname)
        if path.suffix == ".ipynb":
            chapters.append(Chapter(docname, path))
    if toc_names[0] not in present:
        raise BookError(f"{root / '_toc.yml'}: the root document {toc_names[0]} does not exist")
    drop_tags = {LIVE_ONLY} | {task_tag(task) for task in skipped or {}}
    executed = execute_chapters(chapters, build_dir / "executed" / tag, parameters, log=log, drop_tags=drop_tags)
    assets = ensure_web_assets(assets_dir(root), log=log) if fetch_assets else None
    if voice is not None and assets is None:
        log("NOTICE: without the vendored web assets chapter 07's networks are not served; its section says so")
    stage = stage_book(root, build_dir / "stage", present, executed, assets=assets, voice=voice)
    sources = {str(stage / f"{c.docname}.ipynb"): str(c.source) for c in chapters}
    sources[str(stage) + os.sep] = str(root) + os.sep
    log(f"building HTML with Jupyter Book from {stage} (warnings are errors, nitpicky references)")
    started = time.monotonic()
    output.mkdir(parents=True, exist_ok=True)
    html = build_html(stage, output, log=log, sources=sources)
    log(f"HTML built in {clock(time.monotonic() - started)}: {html / 'index.html'}")
    weights = page_weights(html)
    log("page weights:")
    for line in format_weights(weights):
        log(line)
    networks = voice_weights(html)
    if networks is not None:
        for line in format_voice_weights(networks):
            log(line)
    return html



def build(profile: str | None = None, data: str | None = None, log: Log = print, *, root: Path | None = None,
          output: Path | None = None, fit: str | None = None) -> int:
    """What ``make book`` runs: resolve the run once, execute every chapter, build the HTML
    (into ``output/_build``, by default the book root's). ``fit`` overrides the profile's
    ``preprocess.fit`` (``--fit``) in every chapter (:func:`fit_environment`).

    A task that the corpus cannot be split for is named once here, with its reason, and its
    sections are left out of the chapters (each chapter says so at its top).
    Returns 0; problems raise :class:`BookError` (or the run's own error) with one line.
    """
    from ..steps import skipped_tasks
    from ..steps.voice import web_dir

    started = time.monotonic()
    run = open_run(profile, data, fit=fit, log=log)
    if run.data == "synthetic":
        log("NOTICE: this book is built on the SYNTHETIC corpus; its results exercise the pipeline and "
            "are not evidence for or against the paper (every results page says so).")
    skipped = skipped_tasks(run)
    for task, reason in skipped.items():
        log(f"NOTICE: the {task} task is not run on this corpus ({reason}); its sections are left out of the chapters.")
    parameters = chapter_parameters(run, profile)
    log(f"book: {run.label()}")
    with fit_environment(fit):
        html = build_book(Path(root) if root else repo_root(), parameters, run.root.name, log=log,
                          skipped=skipped, output=output, voice=web_dir(run))
    log(f"book: done in {clock(time.monotonic() - started)}; open {html / 'index.html'}")
    return 0

