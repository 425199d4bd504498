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

import base64
import contextlib
import fnmatch
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import yaml

from .errors import AudiomnistError
from .runs import open_run, repo_root

Log = Callable[..., None]

#: Third-party scripts the pages load: MathJax for math, RequireJS and the ipywidgets HTML
#: manager for saved widget state. Sphinx and myst-nb take them from CDNs by default; the build
#: copies them into the book so that pages work offline and do not depend on a CDN.
#: (npm package, version, folder inside the package, folder under _static/vendor/, files wanted
#: as fnmatch patterns relative to the package folder).
WEB_ASSETS: tuple[tuple[str, str, str, str, tuple[str, ...]], ...] = (
    ("requirejs", "2.3.7", "", "requirejs/", ("require.js",)),
    # embed-amd.js is self-contained; the fonts are Font Awesome's, used by widget icons.
    ("@jupyter-widgets/html-manager", "1.0.6", "dist/", "html-manager/",
     ("embed-amd.js", "*.woff", "*.woff2", "*.ttf", "*.eot", "*.svg")),
    # The combined TeX/MathML component, its fonts and what it loads on demand (TeX extensions,
    # the menu, the accessibility extensions); not the speech engine.
    ("mathjax", "3.2.2", "es5/", "mathjax/",
     ("tex-mml-chtml.js", "output/chtml/*", "input/tex/extensions/*", "ui/*", "a11y/*")),
)
# Staged static folder whose contents land in _static/ of the HTML (so scripts are _static/vendor/...).
VENDOR_STATIC = "_vendor"
# The widget manager still fetches modules of third-party widget libraries from a CDN.
WIDGETS_CDN = "https://cdn.jsdelivr.net/npm/"
# Goal per page (issue 6): embedded audio under 5 MB.
AUDIO_BUDGET_BYTES = 5_000_000


class BookError(AudiomnistError):
    """A chapter that fails, a broken reference or citation, a missing tool: one line, the file at fault."""


@dataclass(frozen=True)
class Chapter:
    """A notebook of the table of contents: ``docname`` as in ``_toc.yml``, ``source`` the committed file."""

    docname: str
    source: Path


# --- the table of contents --------------------------------------------------------------------

def read_toc(root: Path) -> dict:
    """``root/_toc.yml`` as a mapping (Jupyter Book's ``jb-book`` format)."""
    path = root / "_toc.yml"
    try:
        toc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise BookError(f"{path}: no table of contents; the book root needs _toc.yml and _config.yml") from None
    except yaml.YAMLError as e:
        raise BookError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(toc, dict) or "root" not in toc:
        raise BookError(f"{path}: needs a 'root' entry (format jb-book)")
    return toc


def toc_docnames(toc: dict) -> list[str]:
    """Documents of a table of contents in reading order: the root, then every ``file`` entry."""
    names = [str(toc["root"])]

    def walk(node) -> None:
        if isinstance(node, dict):
            if "file" in node:
                names.append(str(node["file"]))
            for key in ("parts", "chapters", "sections"):
                for child in node.get(key) or []:
                    walk(child)

    walk(toc)
    return names


def prune_toc(toc: dict, keep: set[str]) -> dict:
    """The same table of contents without the ``file`` entries whose document is not in ``keep``."""

    def walk(node):
        if isinstance(node, list):
            return [w for w in (walk(child) for child in node) if w is not None]
        if not isinstance(node, dict):
            return node
        if "file" in node and str(node["file"]) not in keep:
            return None
        return {k: walk(v) if k in ("parts", "chapters", "sections") else v for k, v in node.items()}

    return walk(toc)


def find_document(root: Path, docname: str) -> Path | None:
    """The file behind a docname (``book/intro`` -> ``book/intro.md``); notebooks first."""
    for suffix in (".ipynb", ".md"):
        path = root / f"{docname}{suffix}"
        if path.is_file():
            return path
    return None


# --- executing the chapters --------------------------------------------------------------------

def chapter_parameters(run, profile: str | None) -> dict[str, str]:
    """Papermill parameters that make every chapter open exactly this run.

    A profile given as a YAML path and a corpus given as a folder are passed as absolute paths,
    so that each chapter resolves the same run without re-deciding ``auto``.
    """
    if profile is not None and Path(profile).suffix in (".yaml", ".yml"):
        profile_arg = str(Path(profile).resolve())
    else:
        profile_arg = run.profile
    data_arg = run.data if run.data in ("synthetic", "audiomnist") else str(Path(run.corpus_root).resolve())
    return {"PROFILE": profile_arg, "DATA": data_arg}


def clock(seconds: float) -> str:
    """``75.2`` -> ``1:15``; ``3725`` -> ``1:02:05``."""
    s = int(round(seconds))
    h, rem = divmod(s, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class ProgressLines:
    """A file-like sink for a chapter kernel's stderr: each line becomes a log line with the
    chapter and the elapsed time.

    Progress bars redraw one line with carriage returns; those redraws are logged at most every
    ``every`` seconds so the log stays readable. :meth:`heartbeat` adds a line when the kernel
    has been silent for a while, so a long cell never looks hung.
    """

    def __init__(self, log: Log, label: str, *, every: float = 10.0, clock_fn=time.monotonic):
        self.log, self.label, self.every, self._now = log, label, every, clock_fn
        self.start = self._now()
        self.last_emit = self.start
        self.last_line = ""
        self._buffer = ""
        self._redrawing = False
        self._pending = ""
        self._lock = threading.Lock()

    def _emit(self, line: str) -> None:
        line = line.strip()
        if not line:
            return
        self._pending = ""
        self.last_line = line
        self.last_emit = self._now()
        self.log(f"  {self.label} +{clock(self.last_emit - self.start)}  {line}")

    def write(self, text: str) -> int:
        with self._lock:
            self._buffer += text.replace("\r\n", "\n")
            while True:
                cut = min((i for i in (self._buffer.find("\n"), self._buffer.find("\r")) if i >= 0), default=-1)
                if cut < 0:
                    break
                line, sep, self._buffer = self._buffer[:cut], self._buffer[cut], self._buffer[cut + 1:]
                if sep == "\n":  # a bar that ends with a bare newline shows its last, skipped state
                    self._emit(line if line.strip() or not self._redrawing else self._pending)
                else:
                    self._redraw(line)
                self._redrawing = sep == "\r"
            if self._redrawing and self._buffer:  # a bar redraws with "\r" + text: the text is the bar now
                self._redraw(self._buffer)
                self._buffer = ""
        return len(text)

    def _redraw(self, line: str) -> None:
        if self._now() - self.last_emit >= self.every:
            self._emit(line)
        elif line.strip():
            self.last_line = self._pending = line.strip()  # skipped; remembered for the heartbeat

    def flush(self) -> None:
        with self._lock:
            if self._buffer.strip():
                self._emit(self._buffer)
            self._buffer = ""

    @contextlib.contextmanager
    def heartbeat(self, every: float = 60.0) -> Iterator[None]:
        """While inside, log "still running" after each ``every`` seconds without output."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(min(every, 5.0)):
                with self._lock:
                    if self._now() - self.last_emit >= every:
                        last = f"; last: {self.last_line}" if self.last_line else ""
                        self.last_emit = self._now()
                        self.log(f"  {self.label} +{clock(self.last_emit - self.start)}  still running{last}")

        thread = threading.Thread(target=beat, name=f"heartbeat {self.label}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join()


@contextlib.contextmanager
def kernel_environment() -> Iterator[None]:
    """Kernels inherit our environment; without ``MPLBACKEND`` they choose the inline backend,
    which is what puts figures into the executed notebooks (nbval runs set ``Agg``), and with
    ``AUDIOMNIST_PROGRESS=0`` the library draws no progress bars into the pages (it writes
    status lines to stderr instead, which the build log shows)."""
    saved = {k: os.environ.get(k) for k in ("MPLBACKEND", "AUDIOMNIST_PROGRESS")}
    os.environ.pop("MPLBACKEND", None)
    os.environ["AUDIOMNIST_PROGRESS"] = "0"
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


# Cells only for a live kernel (Jupyter, Colab): the live widget, whose output the page removes
# anyway. The build leaves them out: a widget's comm traffic is where the rare lost execute
# reply of a papermill run has been seen (chapter 04), and the page loses nothing.
LIVE_ONLY = "live-only"


def task_tag(task: str) -> str:
    """The tag of a chapter's cells (prose and code) that show ``task``'s results: they are
    left out of a build on a corpus that cannot be split for that task."""
    return f"task-{task}"


def without_cells(source: Path, target: Path, tags: set[str]) -> Path:
    """Write notebook ``source`` to ``target`` without the cells tagged with any of ``tags``."""
    import nbformat

    nb = nbformat.read(source, as_version=4)
    nb.cells = [c for c in nb.cells if not tags & set(c.metadata.get("tags", []))]
    nbformat.write(nb, target)
    return target


def execute_chapter(
    source: Path,
    target: Path,
    parameters: dict,
    *,
    log: Log = print,
    label: str | None = None,
    kernel_name: str = "python3",
    heartbeat: float = 60.0,
    drop_tags: set[str] = frozenset(),
) -> float:
    """Run one notebook through papermill into ``target``; return the seconds it took.

    Parameters
    ----------
    source : committed notebook (only read); the kernel runs in its folder.
    target : executed copy, written as cells finish (kept on failure: it shows the traceback).
    parameters : injected after the cell tagged ``parameters``.
    drop_tags : cells with any of these tags are left out (neither run nor shown).

    Raises
    ------
    BookError
        naming the notebook, the failing cell and the error, and where the executed copy is.
    """
    try:
        import papermill
        from papermill.exceptions import PapermillExecutionError
    except ImportError:
        raise BookError("papermill is not installed; install the book extra: pip install -e '.[book]'") from None
    target.parent.mkdir(parents=True, exist_ok=True)
    stream = ProgressLines(log, label or source.stem)
    chapter = without_cells(source, target.with_name(f".{target.stem}.source.ipynb"), drop_tags) if drop_tags else source
    try:
        with kernel_environment(), stream.heartbeat(heartbeat):
            papermill.execute_notebook(
                str(chapter),
                str(target),
                parameters=parameters,
                kernel_name=kernel_name,
                cwd=str(source.parent),
                progress_bar=False,
                stderr_file=stream,
                # The kernel's own start-up notices (transport, debugger) are not the chapter's.
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
    except PapermillExecutionError as e:
        message = (str(e.evalue).strip().splitlines() or [""])[0]
        raise BookError(
            f"{source}: cell In [{e.exec_count}] failed: {e.ename}: {message} (traceback in {target})"
        ) from None
    except AudiomnistError:
        raise
    except Exception as e:  # a dead kernel, a timeout, an unreadable notebook
        first = (str(e).strip().splitlines() or [""])[0]
        raise BookError(f"{source}: execution failed: {type(e).__name__}: {first}") from None
    finally:
        stream.flush()
        if chapter != source:
            chapter.unlink(missing_ok=True)
    return time.monotonic() - stream.start


def execute_chapters(
    chapters: list[Chapter], executed_dir: Path, parameters: dict, *, log: Log = print,
    drop_tags: set[str] = frozenset(),
) -> dict[str, Path]:
    """Execute every chapter in order into ``executed_dir/<docname>.ipynb``; a progress line
    each. Cells tagged with any of ``drop_tags`` are left out."""
    done: dict[str, Path] = {}
    for k, chapter in enumerate(chapters, 1):
        target = executed_dir / f"{chapter.docname}.ipynb"
        tag = f"[{k}/{len(chapters)}] {Path(chapter.docname).name}"
        log(f"{tag}: executing {chapter.source.name} with {parameters}")
        seconds = execute_chapter(chapter.source, target, parameters, log=log, label=tag, drop_tags=drop_tags)
        log(f"{tag}: done in {clock(seconds)}")
        done[chapter.docname] = target
    return done


# --- web assets served from the book ----------------------------------------------------------

def assets_dir(root: Path) -> Path:
    return root / ".cache" / "web"


def ensure_web_assets(cache: Path, *, log: Log = print, npm: str | None = None) -> Path | None:
    """Unpack :data:`WEB_ASSETS` into ``cache`` (once), fetched with ``npm pack``.

    Returns ``cache``, or None when npm is missing or the registry cannot be reached; the book
    then loads these scripts from their CDNs (and its pages need the network).
    """
    stamp = cache / ".complete"
    wanted = repr(WEB_ASSETS)
    if stamp.is_file() and stamp.read_text() == wanted:
        return cache
    npm = npm or shutil.which("npm")
    if npm is None:
        log("NOTICE: npm not found; the book's pages will load MathJax and the widget manager from CDNs")
        return None
    log(f"fetching web assets with npm pack into {cache}")
    cache.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".web.", dir=cache.parent))  # same disk: the move is atomic
    try:
        for package, version, folder, dest, patterns in WEB_ASSETS:
            proc = subprocess.run(
                [npm, "pack", "--silent", "--pack-destination", str(staging), f"{package}@{version}"],
                capture_output=True, text=True, timeout=600,
            )
            tgz = staging / (proc.stdout.strip().splitlines() or [""])[-1]
            if proc.returncode != 0 or not tgz.is_file():
                reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
                log(f"NOTICE: npm pack {package}@{version} failed ({reason}); pages will load the scripts from CDNs")
                return None
            _unpack(tgz, folder, dest, patterns, staging / "out")
            tgz.unlink()
        if cache.exists():
            shutil.rmtree(cache)
        os.replace(staging / "out", cache)
        stamp.write_text(wanted)
        return cache
    except (OSError, subprocess.SubprocessError, tarfile.TarError) as e:
        log(f"NOTICE: web assets not fetched ({type(e).__name__}: {e}); pages will load them from CDNs")
        return None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _unpack(tgz: Path, folder: str, dest: str, patterns: tuple[str, ...], out: Path) -> None:
    """Copy the files of an npm tarball (``package/<folder>...``) that match ``patterns`` to ``out/dest``."""
    with tarfile.open(tgz) as tar:
        for member in tar.getmembers():
            name = member.name.split("/", 1)[-1]
            if not member.isfile() or not name.startswith(folder) or name.endswith(".map"):
                continue
            rel = name[len(folder):]
            if not any(fnmatch.fnmatch(rel, pattern) for pattern in patterns):
                continue
            path = Path(dest, rel)
            if path.is_absolute() or ".." in path.parts:
                raise tarfile.TarError(f"{tgz.name}: unsafe member {member.name}")
            (out / path).parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as f_in, open(out / path, "wb") as f_out:
                shutil.copyfileobj(f_in, f_out)


# The widget manager's bundled modules (@jupyter-widgets/base, controls, html-manager/dist/...)
# find their fonts next to their own RequireJS URL, which RequireJS derives from the page's
# folder; this maps every one of them onto the book's copy of the manager.
WIDGETS_REQUIRE_CONFIG = """// Written by audiomnist_core.book: the widget manager's files are in ./html-manager/.
(function () {
  var src = document.currentScript.src;
  var dir = src.slice(0, src.lastIndexOf("/") + 1) + "html-manager";
  require.config({paths: {"@jupyter-widgets/html-manager/dist": dir, "@jupyter-widgets": dir}});
})();
"""


def asset_config(assets: Path | None) -> dict:
    """Sphinx settings that point MathJax and the widget manager at the book's own copies."""
    if assets is None:
        return {}
    return {
        # Not the book's `_static`: Jupyter Book would add every script found there to every page.
        "html_static_path": [VENDOR_STATIC],
        "mathjax_path": "vendor/mathjax/tex-mml-chtml.js",
        "nb_ipywidgets_js": {
            "vendor/requirejs/require.js": {},
            "vendor/widgets-require-config.js": {},
            "vendor/html-manager/embed-amd.js": {"data-jupyter-widgets-cdn": WIDGETS_CDN},
        },
    }


# --- staging and the HTML build -----------------------------------------------------------------

def stage_book(
    root: Path, stage: Path, docnames: list[str], executed: dict[str, Path], *, assets: Path | None = None
) -> Path:
    """A copy of the book root for Jupyter Book in which the chapters are the executed notebooks.

    ``_config.yml`` (plus :func:`asset_config`), ``_toc.yml`` pruned to ``docnames``, every
    folder that holds a document (source notebooks left out), the executed notebooks in their
    place, and the web assets (served as ``_static/vendor/...``).
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


def stage_notebook(executed: Path, target: Path) -> None:
    """Copy an executed chapter, hiding the cell papermill injected (the page shows the
    chapter's own ``parameters`` cell; captions name the profile and corpus)."""
    import nbformat

    nb = nbformat.read(executed, as_version=4)
    for cell in nb.cells:
        tags = cell.metadata.setdefault("tags", [])
        if "injected-parameters" in tags and "remove-cell" not in tags:
            tags.append("remove-cell")
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


# --- page weights ------------------------------------------------------------------------------

AUDIO_URI_RE = re.compile(rb"data:audio/[a-zA-Z0-9.+-]+;base64,([A-Za-z0-9+/=\s]+)")


def page_weights(html: Path) -> dict[str, dict[str, int]]:
    """Bytes per page of the built book and of the audio embedded in it (decoded).

    Returns ``{"book/01_dataset.html": {"bytes": ..., "audio_bytes": ..., "audio_clips": ...}}``
    for every page except Sphinx's own (search, genindex).
    """
    weights = {}
    for page in sorted(html.rglob("*.html")):
        rel = page.relative_to(html).as_posix()
        if rel.startswith(("_static/", "_sources/", "_images/")) or rel in ("search.html", "genindex.html"):
            continue
        blob = page.read_bytes()
        clips = AUDIO_URI_RE.findall(blob)
        audio = sum(len(base64.b64decode(b"".join(c.split()), validate=False)) for c in clips)
        weights[rel] = {"bytes": len(blob), "audio_bytes": audio, "audio_clips": len(clips)}
    return weights


def format_weights(weights: dict[str, dict[str, int]]) -> list[str]:
    lines = []
    for page, w in weights.items():
        flag = "  OVER the 5 MB audio goal" if w["audio_bytes"] > AUDIO_BUDGET_BYTES else ""
        lines.append(
            f"  {page}: {w['bytes'] / 1e6:.2f} MB, audio {w['audio_bytes'] / 1e6:.2f} MB"
            f" in {w['audio_clips']} clips{flag}"
        )
    return lines


# --- the whole build ---------------------------------------------------------------------------

def build_book(root: Path, parameters: dict, tag: str, *, log: Log = print, fetch_assets: bool = True,
               skipped: dict[str, str] | None = None, output: Path | None = None) -> Path:
    """Execute the chapters of the book at ``root`` with ``parameters`` and build its HTML.

    Executed notebooks go to ``<output>/_build/executed/<tag>/``, the stage to
    ``<output>/_build/stage``, the HTML to ``<output>/_build/html``; ``output`` defaults to
    ``root``. ``skipped`` maps the tasks that the run does not run to their reason: the cells
    tagged :func:`task_tag` of those tasks are left out of every chapter. Returns the HTML folder.
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
    stage = stage_book(root, build_dir / "stage", present, executed, assets=assets)
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
    return html


@contextlib.contextmanager
def fit_environment(fit: str | None) -> Iterator[None]:
    """``$AUDIOMNIST_FIT`` set to ``fit`` while the chapters execute (their kernels inherit it),
    so that each chapter's ``open_run(PROFILE, DATA)`` fits the recordings as ``--fit`` says;
    nothing changes for ``None``."""
    saved = os.environ.get("AUDIOMNIST_FIT")
    if fit:
        os.environ["AUDIOMNIST_FIT"] = fit
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("AUDIOMNIST_FIT", None)
        else:
            os.environ["AUDIOMNIST_FIT"] = saved


def build(profile: str | None = None, data: str | None = None, log: Log = print, *, root: Path | None = None,
          output: Path | None = None, fit: str | None = None) -> int:
    """What ``make book`` runs: resolve the run once, execute every chapter, build the HTML
    (into ``output/_build``, by default the book root's). ``fit`` overrides the profile's
    ``preprocess.fit`` (``--fit``) in every chapter (:func:`fit_environment`).

    A task that the corpus cannot be split for is named once here, with its reason, and its
    sections are left out of the chapters (each chapter says so at its top).
    Returns 0; problems raise :class:`BookError` (or the run's own error) with one line.
    """
    from .steps import skipped_tasks

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
                          skipped=skipped, output=output)
    log(f"book: done in {clock(time.monotonic() - started)}; open {html / 'index.html'}")
    return 0


# --- a Sphinx extension for the book (listed in _config.yml) -----------------------------------

def _unique_scripts(app, pagename, templatename, context, doctree) -> None:
    """Drop repeated inline scripts from a page.

    Sphinx 7.4 registers inline scripts (no file) a second time before writing, under the file
    name '' instead of None, so every page would declare them twice; sphinx-thebe's
    ``const THEBE_JS_URL`` then fails with a SyntaxError in the reader's console.
    """
    scripts = context.get("script_files")
    if not scripts:
        return
    seen, unique = set(), []
    for js in scripts:
        attributes = getattr(js, "attributes", {}) or {}
        key = (getattr(js, "filename", js) or "", tuple(sorted((k, str(v)) for k, v in attributes.items())))
        if key not in seen:
            seen.add(key)
            unique.append(js)
    scripts[:] = unique


# The theme stores the reader's colour mode in localStorage and logs an error on a first visit,
# when there is none; sphinx-book-theme 1.x accepts no default_mode option, so set the theme's own
# default ("auto") before its script runs.
DEFAULT_MODE_JS = 'document.documentElement.dataset.mode = document.documentElement.dataset.mode || "auto";'


def setup(app) -> dict:
    """Sphinx entry point (``sphinx.extra_extensions: [audiomnist_core.book]``)."""
    app.connect("html-page-context", _unique_scripts, priority=900)  # after the themes add theirs
    app.connect("builder-inited", lambda app: app.add_js_file(None, body=DEFAULT_MODE_JS, priority=100))
    return {"parallel_read_safe": True, "parallel_write_safe": True}
