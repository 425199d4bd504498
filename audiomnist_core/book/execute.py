"""Executing the chapters: each notebook of the table of contents run by papermill on the book's
profile and corpus, with a progress line per chapter and the kernel's stderr streamed to the log."""
from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from ..errors import AudiomnistError, BookError
from .toc import Chapter

Log = Callable[..., None]


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

