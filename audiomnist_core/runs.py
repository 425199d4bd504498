"""The artifact store of one profile and data source, ``runs/<profile>-<data>/``, and the
one cache of the pipeline's steps.

Every artifact is written atomically (a temporary file, then ``os.replace``) so that an
interrupted run never leaves a half-written file that looks complete, and carries a stamp:
profile, resolved config, its hash, data source, package version and the ``code`` hash of the
modules that computed it.

A :class:`Step` is one cached computation (the relevance of a test fold, a zeroing curve, ...),
declared once with the module that computes it. Its key is complete by construction: the
config entries the step actually read when it computed the result (recorded by an
access-tracking view of the config, :func:`audiomnist_core.provenance.tracking`), the content
hashes of its inputs (checkpoints by content, never by name or time), :func:`source_hash` of
every project module in the import closure of the step's module (module constants and
helpers included) and the versions of the libraries those modules import. A result made by
other code, libraries, config or inputs is recomputed, with one line saying which of them
changed (:func:`cached`). Trained models are keyed on the corpus's content as well
(:meth:`Run.fingerprint`).
"""
from __future__ import annotations

import ast
import contextlib
import functools
import hashlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from . import __version__
from . import provenance
from .config import Config, load_profile, with_data_source, with_fit

DEFAULT_PROFILE = "quick"


def repo_root() -> Path:
    """The checkout this package runs from (where ``profiles/`` lives)."""
    return Path(__file__).resolve().parents[1]


def runs_dir() -> Path:
    return Path(os.environ.get("AUDIOMNIST_RUNS", repo_root() / "runs"))


def data_dir() -> Path:
    return Path(os.environ.get("AUDIOMNIST_DATA_DIR", repo_root() / "data"))


def progress_bars() -> bool:
    """Whether long loops draw progress bars: not where ``AUDIOMNIST_PROGRESS=0``, which the
    book build sets (a published page should not keep a bar; its log has the status lines)."""
    return os.environ.get("AUDIOMNIST_PROGRESS", "1") != "0"


def status(message: str) -> None:
    """One line on stderr saying what long work is doing (`make book` shows it per chapter)."""
    print(message, file=sys.stderr, flush=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it into place atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def save_json(path: str | os.PathLike, obj: Any) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def load_json(path: str | os.PathLike) -> Any:
    return json.loads(Path(path).read_text())


def file_hash(path: str | os.PathLike) -> str:
    """Short sha256 of a file's bytes: what a checkpoint is, whatever its name or time."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def tensor_hash(*arrays: Any) -> str:
    """Short sha256 of arrays or tensors (shape, dtype and bytes; ``None`` allowed)."""
    import numpy as np
    import torch

    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        t = np.ascontiguousarray(torch.as_tensor(a).detach().cpu().numpy())
        h.update(str((t.shape, str(t.dtype))).encode())
        h.update(t.tobytes())
    return h.hexdigest()[:16]


def save_torch(path: str | os.PathLike, obj: Any) -> None:
    import torch

    with atomic_path(path) as tmp:
        torch.save(obj, tmp)


def resolve_data(source: str, cfg: Config, *, log=print) -> tuple[str, Path]:
    """Turn a data source name into ``(label, corpus root)``, making or fetching it if needed.

    ``synthetic`` is synthesised once per (style, speakers, reps, seed); ``audiomnist`` is fetched
    once; ``auto`` takes the real corpus where it is present or can be fetched, else (the
    network unreachable: :class:`~audiomnist_core.data.CorpusUnavailable`) the synthetic one
    with a loud notice. A real corpus that arrives but fails verification, or a download
    that keeps breaking off, is an error under ``auto`` too: the synthetic corpus never
    stands in silently for a broken real one. Anything else is a path to a folder in
    AudioMNIST's layout.
    """
    from . import data

    if source == "synthetic":
        d = cfg.data
        style = "" if d.synth_style == "clean" else f"-{d.synth_style}"  # the clean corpus keeps its folder
        root = data_dir() / f"synthetic{style}-{d.synth_speakers}x{d.synth_reps}-seed{d.synth_seed}"
        data.ensure_synthetic(root, speakers=d.synth_speakers, reps=d.synth_reps, seed=d.synth_seed, style=d.synth_style)
        return "synthetic", root
    if source == "audiomnist":
        root = data_dir() / "audiomnist"
        data.ensure_audiomnist(root)
        return "audiomnist", root
    if source == "auto":
        root = data_dir() / "audiomnist"
        try:
            data.ensure_audiomnist(root)
            return "audiomnist", root
        except data.CorpusUnavailable as e:
            log(
                "NOTICE: the real AudioMNIST corpus is not available "
                f"({e}); using the SYNTHETIC corpus. Its results exercise the pipeline and "
                "are not evidence for or against the paper.",
                file=sys.stderr,
            )
            return resolve_data("synthetic", cfg, log=log)
    root = Path(source).expanduser()
    if not root.is_dir():
        raise data.CorpusError(
            f"{root}: data source is neither 'audiomnist', 'synthetic', 'auto' nor an existing folder"
        )
    return root.resolve().name, root


@dataclass
class Run:
    """One profile on one corpus: its config, its corpus and its artifact folder."""

    config: Config
    data: str  # label: "audiomnist", "synthetic" or the folder name of another corpus
    corpus_root: Path
    root: Path

    @property
    def profile(self) -> str:
        return provenance.untracked(self.config).name  # a label: it decides no result

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def cache_dir(self) -> Path:
        """Where what is shared by every run on this corpus lives: ``runs/cache/<data>/``
        (resampled clips, file hashes, corpus manifests)."""
        return self.root.parent / "cache" / self.data

    @cached_property
    def fingerprint(self):
        """The corpus's :class:`~audiomnist_core.data.Fingerprint` (every recording's path,
        size and content hash), computed once per :class:`Run`; file hashes are cached by
        mtime and size in :meth:`cache_dir`, so a second run store over the same corpus
        pays only a ``stat`` per file."""
        from .data import corpus_fingerprint

        return corpus_fingerprint(self.corpus_root, self.cache_dir())

    def stamp(self, **extra: Any) -> dict[str, Any]:
        """Provenance recorded beside every artifact: profile, data source, corpus
        fingerprint, config and its hash, package version, and what the caller adds (the
        ``code`` hash and the ``libraries`` of the step that made it)."""
        config = provenance.untracked(self.config)
        return {
            "profile": self.profile,
            "data": self.data,
            "corpus_root": str(self.corpus_root),
            "corpus": self.fingerprint.digest,
            "config_hash": config.hash(),
            "config": config.to_dict(),
            "version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **extra,
        }

    def label(self) -> str:
        """Human label for captions: ``profile 'quick' on the SYNTHETIC corpus``, with the fit
        where it cuts recordings (``..., recordings fitted by trim_crop``)."""
        corpus = self.data.upper() if self.data == "synthetic" else self.data
        fit = provenance.untracked(self.config).preprocess.fit
        return f"profile '{self.profile}' on the {corpus} corpus" + (f", recordings fitted by {fit}" if fit != "error" else "")


def open_run(profile: str | None = None, data: str | None = None, *, fit: str | None = None, log=print) -> Run:
    """The run store for a profile, data source and ``preprocess.fit``.

    ``None`` falls back to ``$AUDIOMNIST_PROFILE`` / ``$AUDIOMNIST_DATA`` / ``$AUDIOMNIST_FIT``,
    then to the ``quick`` profile and the profile's own data source and fit; chapters call
    ``open_run(PROFILE, DATA)`` with their papermill parameters (``audiomnist book --fit`` sets
    ``$AUDIOMNIST_FIT`` for them). A fit other than ``error`` has its own folder,
    ``runs/<profile>-<data>-<fit>/``, so runs on whole and on fitted recordings live side by side.
    """
    profile = profile or os.environ.get("AUDIOMNIST_PROFILE") or DEFAULT_PROFILE
    cfg = load_profile(profile)
    cfg = with_data_source(cfg, data or os.environ.get("AUDIOMNIST_DATA"))
    cfg = with_fit(cfg, fit or os.environ.get("AUDIOMNIST_FIT"))
    label, corpus_root = resolve_data(cfg.data.source, cfg, log=log)
    suffix = "" if cfg.preprocess.fit == "error" else f"-{cfg.preprocess.fit}"
    return Run(cfg, label, corpus_root, runs_dir() / f"{cfg.name}-{label}{suffix}")


# --- the step cache -----------------------------------------------------------------------

def package_dir() -> Path:
    """The folder of this package's source, whose modules :func:`source_hash` reads."""
    return Path(__file__).resolve().parent


def _strip_docstrings(tree: ast.AST) -> ast.AST:
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if (isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body
                and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
                and isinstance(body[0].value.value, str)):
            node.body = body[1:] or [ast.Pass()]
    return tree


@functools.lru_cache(maxsize=256)
def _code_of(path: Path, mtime_ns: int, size: int) -> str:
    """The code of a source file without comments and docstrings: ``ast.dump`` of its syntax tree."""
    return ast.dump(_strip_docstrings(ast.parse(path.read_text(), filename=str(path))))


def source_hash(modules: Sequence[str], root: Path | None = None) -> str:
    """A short hash of the code of ``modules`` (names relative to the package, ``"explain.lrp"``;
    a package's name, ``""`` the top one, stands for its ``__init__``). Whole modules, so their
    constants and helpers count. Comments and docstrings do not enter it, so rewording them
    keeps every cached result; any change to what runs does."""
    root = root or package_dir()
    h = hashlib.sha256()
    for name in sorted(set(modules)):
        path = provenance.module_file(name, root)
        if path is None:
            raise ValueError(f"{root}: no module {name!r} in the package")
        st = path.stat()
        h.update(f"{path.relative_to(root)}\n".encode())
        h.update(_code_of(path, st.st_mtime_ns, st.st_size).encode())
    return h.hexdigest()[:12]


# Libraries that draw or log and compute nothing a result holds: their versions stay out of keys.
NOT_NUMERIC = frozenset({"tqdm", "IPython", "ipywidgets"})


@dataclass(frozen=True)
class Step:
    """One cached computation: its name and the project module(s) whose code computes it
    (names relative to the package, ``"steps.benchmark"``).

    What its key holds is found, not listed: :meth:`modules` is the import closure of
    ``code`` (:func:`provenance.import_closure`), :meth:`code_hash` the hash of their source,
    :meth:`libraries` the versions of what they import, and the config entries are those the
    step reads (recorded by :func:`cached` and :meth:`tracked`)."""

    name: str
    code: tuple[str, ...]

    def modules(self) -> list[str]:
        return provenance.import_closure(self.code, package_dir())

    def code_hash(self) -> str:
        return source_hash(self.modules())

    def libraries(self) -> dict[str, str]:
        imported = [m for m in provenance.outside_imports(self.code, package_dir()) if m not in NOT_NUMERIC]
        return provenance.library_versions(imported)

    def provenance(self) -> dict[str, Any]:
        """``{"code": ..., "libraries": {...}}``, for stamps."""
        return {"code": self.code_hash(), "libraries": self.libraries()}

    def key(self, run: "Run", **inputs: Any) -> dict[str, Any]:
        """The key of one result before it is computed: input hashes (and parameters such as
        the fold), the code hash and the library versions; :func:`cached` adds the config
        entries that the computation reads."""
        key = {"step": self.name, "inputs": inputs, **self.provenance()}
        return json.loads(json.dumps(key, sort_keys=True, default=str))  # as it reads back from a file

    def tracked(self, function: Callable) -> Callable:
        """Decorate a step function ``f(run, ...)``: the config entries it reads before it
        calls :func:`cached` (what decides its inputs) enter the key as well. What it reads
        counts for itself only, not for a step that calls it: its result reaches that step by
        content, hashed as one of its inputs (so a nested result read from the cache or
        computed anew gives the calling step the same key)."""
        @functools.wraps(function)
        def wrapper(run, *args, **kwargs):
            with provenance.detached(), provenance.tracking(run):
                return function(run, *args, **kwargs)

        return wrapper


def _differs(old: dict, new: dict, field: str) -> list[str]:
    a, b = old.get(field) or {}, new.get(field) or {}
    return sorted(k for k in set(a) | set(b) if a.get(k, provenance.ABSENT) != b.get(k, provenance.ABSENT))


def why_stale(old: dict | None, new: dict, config: Config | None = None, reads: set[str] = frozenset()) -> str | None:
    """Why a cached result with key ``old`` is not the one ``new`` asks for (None: it is).

    ``new`` is a :meth:`Step.key`; the config entries ``old`` recorded are compared with their
    values in ``config`` (where given), and ``reads``, entries read before the computation,
    must be among them."""
    if old is None:
        return None if new is None else "no cached result"
    if old.get("code") != new.get("code"):
        return f"the code of {new.get('step', 'the step')} changed ({old.get('code')} -> {new.get('code')})"
    if old.get("libraries") is None and new.get("libraries") is not None:
        return "it was made before keys held the versions of the libraries"
    libraries = _differs(old, new, "libraries")
    if libraries:
        a, b = old.get("libraries") or {}, new.get("libraries") or {}
        return "library " + ", ".join(f"{n} {a.get(n, 'absent')} -> {b.get(n, 'absent')}" for n in libraries) + " changed"
    changed = [f"input {i}" for i in _differs(old, new, "inputs")]
    recorded = old.get("config") or {}
    if config is not None:
        changed += [f"config {p or 'as a whole'}" for p in sorted(recorded)
                    if provenance.config_value(config, p) != recorded[p]]
        covered = set(recorded)
        changed += [f"config {p} (not read before)" for p in provenance.minimal(reads)
                    if not any(p == c or p.startswith(c + ".") or c == "" for c in covered)]
    if changed:
        return ", ".join(changed) + " changed"
    return None if old.get("step") == new.get("step") else "its key changed"


def _read_cached(path: Path, kind: str) -> tuple[dict | None, Any]:
    """``(key, result)`` of a cache file; ``(None, None)`` where it is missing or damaged."""
    import numpy as np

    if not path.is_file():
        return None, None
    try:
        if kind == "json":
            doc = load_json(path)
            return doc["key"], doc["result"]
        with np.load(path) as z:
            meta = json.loads(str(z["stamp"]))
            return meta["key"], {k: z[k] for k in z.files if k != "stamp"}
    except (OSError, ValueError, KeyError, TypeError):
        return {"damaged": True}, None  # a damaged entry is recomputed, not trusted


def _write_cached(path: Path, kind: str, key: dict, result: Any, stamp: dict) -> None:
    import numpy as np

    if kind == "json":
        save_json(path, {"key": key, "result": result, "stamp": stamp})
        return
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **result, stamp=json.dumps({"key": key, **stamp}, default=str))


def cached(run: "Run", step: Step, path: Path, key: dict, compute: Callable[[], Any], *, kind: str = "json") -> Any:
    """The result of ``step`` with ``key``: read from ``path`` when it was made with that key
    and every config entry it read then still has its value, else computed, written
    atomically with a stamp, and returned. ``kind`` is ``"json"`` (a JSON-able result) or
    ``"npz"`` (a dict of numpy arrays). The config entries ``compute`` reads (and those the
    enclosing :meth:`Step.tracked` function read before) are recorded in the key. A result
    recomputed over an older one says why in one line (:func:`why_stale`)."""
    before = provenance.open_reads()
    old, result = _read_cached(path, kind)
    reason = "the cached file is damaged" if old is not None and old.get("damaged") else \
        why_stale(old, key, run.config, before)
    if reason is None:
        return result
    if old is not None:
        status(f"{step.name}: {path.name}: recomputing: {reason}")
    with provenance.tracking(run) as reads:
        result = compute()
    config = {p: provenance.config_value(run.config, p) for p in provenance.minimal(reads | before)}
    full = {**key, "config": config}
    _write_cached(path, kind, full, result, run.stamp(step=step.name, code=key["code"], libraries=key["libraries"]))
    return result
