"""Staging and the HTML build: a copy of the book root whose chapters are the executed notebooks,
rendered by ``jupyter-book build`` with warnings as errors and nitpicky references."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from ..errors import BookError
from ..runs import repo_root
from .assets import VENDOR_STATIC, WIDGETS_REQUIRE_CONFIG, asset_config
from .execute import Log
from .toc import find_document, prune_toc, read_toc

def stage_book(
    root: Path, stage: Path, docnames: list[str], executed: dict[str, Path], *, assets: Path | None = None,
    voice: Path | None = None,
) -> Path:
    """A copy of the book root for Jupyter Book in which the chapters are the executed notebooks.

    ``_config.yml`` (plus :func:`asset_config`), ``_toc.yml`` pruned to ``docnames``, every
    folder that holds a document (source notebooks left out), the executed notebooks in their
    place, the web assets (served as ``_static/vendor/...``) and, with them, ``voice``: the
    networks ``audiomnist export-web`` wrote for chapter 07 (served as ``_static/voice/``).
    """
    if stage.exists():
        shutil.rmtree(stage)
    stage.mkdir(parents=True)
    config = yaml.safe_load((root / "_config.yml").read_text()) or {}
    extra = asset_config(assets)
    if extra:
        sphinx = config.setdefault("sphinx", {}) or {}
        config["sphinx"] = sphinx
        sphinx["config"] = {**(sphinx.get("config") or {}), **extra}
        vendor = stage / VENDOR_STATIC / "vendor"
        shutil.copytree(assets, vendor, ignore=shutil.ignore_patterns(".complete"))
        (vendor / "widgets-require-config.js").write_text(WIDGETS_REQUIRE_CONFIG)
        if voice is not None and voice.is_dir():
            shutil.copytree(voice, stage / VENDOR_STATIC / "voice")
    (stage / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    toc = prune_toc(read_toc(root), set(docnames))
    (stage / "_toc.yml").write_text(yaml.safe_dump(toc, sort_keys=False))
    ignore = shutil.ignore_patterns("*.ipynb", ".ipynb_checkpoints", "__pycache__")
    for folder in sorted({Path(d).parts[0] for d in docnames if len(Path(d).parts) > 1}):
        shutil.copytree(root / folder, stage / folder, ignore=ignore, dirs_exist_ok=True)
    for docname in docnames:
        if docname in executed:
            stage_notebook(executed[docname], stage / f"{docname}.ipynb")
        elif len(Path(docname).parts) == 1:
            source = find_document(root, docname)
            shutil.copy2(source, stage / source.name)
    return stage


# What a display looks like when it has nothing to show a reader: the text/plain stand-in of an
# object (``<IPython.core.display.Markdown object>``, ``<Figure size 640x480 with 1 Axes>``).
OBJECT_REPR_RE = re.compile(r"^<[\w.]+( object( at 0x[0-9a-f]+)?| size [^>]*)>$|object at 0x[0-9a-f]+")
RICH_MIMES = ("text/html", "text/markdown", "text/latex", "image/", "application/", "audio/", "video/")


def page_output(output: dict) -> bool:
    """Whether a cell output belongs on the published page.

    Not there: streams (the status lines, warnings and prints of a chapter are its build log,
    which ``make book`` shows; a live reader in Jupyter or Colab still sees them), and displays
    with nothing to show (an empty Markdown or HTML, or only the text/plain stand-in of an
    object). Everything else (figures, tables, players, glued values, text results) stays.
    """
    kind = output.get("output_type")
    if kind == "stream":
        return False
    if kind not in ("display_data", "execute_result"):
        return True  # an error: the build fails before a page is made
    data = output.get("data", {})
    rich = {k: v for k, v in data.items() if k.startswith(RICH_MIMES)}
    if rich:
        return any(("".join(v) if isinstance(v, list) else str(v)).strip() for v in rich.values())
    plain = "".join(data.get("text/plain", ""))
    return bool(plain.strip()) and not OBJECT_REPR_RE.search(plain.strip())


def stage_notebook(executed: Path, target: Path) -> None:
    """Copy an executed chapter as a reader gets it: the cell papermill injected hidden (the page
    shows the chapter's own ``parameters`` cell; captions name the profile and corpus) and only
    the outputs of :func:`page_output` kept."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if page_output(o)]
    nbformat.write(nb, target)


def jupyter_book_command() -> list[str]:
    exe = Path(sys.executable).with_name("jupyter-book")
    if exe.is_file():
        return [str(exe)]
    found = shutil.which("jupyter-book")
    if found is None:
        raise BookError("jupyter-book is not installed; install the book extra: pip install -e '.[book]'")
    return [found]


WARNING_RE = re.compile(r"\b(WARNING|ERROR|CRITICAL|SEVERE):")
EXCEPTION_RE = re.compile(r"^\s*[\w.]*(Error|Exception|Warning): \S")


def first_problem(output: str) -> str | None:
    """The first Sphinx warning or error of a build log, else the first exception line, or None.

    Jupyter Book's own closing ``RuntimeError`` ("Look above for the cause") is not the cause.
    """
    lines = [line.strip() for line in output.splitlines()]
    for line in lines:
        if WARNING_RE.search(line):
            return line
    for line in lines:
        if EXCEPTION_RE.match(line) and not line.startswith("RuntimeError:"):
            return line
    return None


def build_html(stage: Path, output: Path, *, log: Log = print, sources: dict[str, str] | None = None) -> Path:
    """``jupyter-book build`` of ``stage`` into ``output/_build/html``; strict.

    Warnings are errors (``-W``), every reference must resolve (``-n``) and the build stops at the
    first problem (no ``--keep-going``). ``sources`` maps staged paths back to the files a
    reader edits, for the error line.
    """
    cmd = jupyter_book_command() + [
        "build", str(stage), "--path-output", str(output), "--builder", "html", "--all", "-W", "-n",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=str(output))
    html = output / "_build" / "html"
    text = proc.stdout + "\n" + proc.stderr
    problem = first_problem(text)
    if proc.returncode != 0 or problem or not (html / "index.html").is_file():
        lines = [line for line in text.splitlines() if line.strip()]
        causes = [line for line in lines if WARNING_RE.search(line) or EXCEPTION_RE.match(line)]
        for line in (causes or lines)[-15:]:
            log(f"  jupyter-book | {line}")
        message = problem or (lines[-1] if lines else f"exit status {proc.returncode}")
        for staged, original in (sources or {}).items():
            message = message.replace(staged, original)
        raise BookError(f"jupyter-book build failed: {message}")
    return html


def built_html(root: Path | None = None) -> Path:
    """Where the built book is: ``root/_build/html`` (``$AUDIOMNIST_BOOK_HTML`` overrides, for checks of another build)."""
    override = os.environ.get("AUDIOMNIST_BOOK_HTML")
    return Path(override) if override else Path(root or repo_root()) / "_build" / "html"

