"""The artifact store of one profile and data source, ``runs/<profile>-<data>/``, and the
one cache of the pipeline's steps.

Every artifact is written atomically (a temporary file, then ``os.replace``) so that an
interrupted run never leaves a half-written file that looks complete, and carries a stamp:
profile, resolved config, its hash, data source, package version and the ``code`` hash of the
modules that computed it.

A :class:`Step` is one cached computation (the relevance of a test fold, a zeroing curve, ...),
declared once with the config sections and the modules that decide its result. Its key
(:meth:`Step.key`) holds those sections, the content hashes of its inputs (checkpoints by
content, never by name or time) and :func:`source_hash` of the modules, so a result made by
other code, another config or other inputs is recomputed, with one line saying which of
them changed (:func:`cached`).
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
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from . import __version__
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
        return self.config.name

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)

    def stamp(self, **extra: Any) -> dict[str, Any]:
        """Provenance recorded beside every artifact."""
        return {
            "profile": self.profile,
            "data": self.data,
            "corpus_root": str(self.corpus_root),
            "config_hash": self.config.hash(),
            "config": self.config.to_dict(),
            "version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            **extra,
        }

    def label(self) -> str:
        """Human label for captions: ``profile 'quick' on the SYNTHETIC corpus``, with the fit
        where it cuts recordings (``..., recordings fitted by trim_crop``)."""
        corpus = self.data.upper() if self.data == "synthetic" else self.data
        fit = self.config.preprocess.fit
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
def _code_of(path: Path, mtime_ns: int, size: int, function: str | None) -> str:
    """The code of a source file (or of one top-level function in it) without comments and
    docstrings: ``ast.dump`` of its syntax tree."""
    tree = _strip_docstrings(ast.parse(path.read_text(), filename=str(path)))
    if function is not None:
        found = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef)) and n.name == function]
        if not found:
            raise ValueError(f"{path}: has no top-level function or class {function!r}")
        tree = found[0]
    return ast.dump(tree)


def _source_files(name: str, root: Path) -> list[Path]:
    """The files of a module name relative to the package (``"perturb"``, ``"explain.lrp"``);
    a subpackage (``"explain"``) stands for all of its modules."""
    base = root.joinpath(*name.split("."))
    if base.is_dir():
        return sorted(base.rglob("*.py"))
    path = base.with_suffix(".py")
    if not path.is_file():
        raise ValueError(f"{path}: no module {name!r} in {root}")
    return [path]


def source_hash(modules: Sequence[str], root: Path | None = None) -> str:
    """A short hash of the code of ``modules`` (names relative to the package; ``"m:f"`` is
    only the top-level function or class ``f`` of module ``m``). Comments and docstrings do
    not enter it, so rewording them keeps every cached result; any change to what runs does."""
    root = root or package_dir()
    h = hashlib.sha256()
    for entry in sorted(set(modules)):
        name, _, function = entry.partition(":")
        for path in _source_files(name, root):
            st = path.stat()
            h.update(f"{path.relative_to(root)}:{function}\n".encode())
            h.update(_code_of(path, st.st_mtime_ns, st.st_size, function or None).encode())
    return h.hexdigest()[:12]


def _config_value(cfg: Config, dotted: str) -> Any:
    import dataclasses

    value: Any = cfg
    for part in dotted.split("."):
        value = getattr(value, part)
    return dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value


@dataclass(frozen=True)
class Step:
    """One cached computation: its name, the config entries it reads (sections such as
    ``"perturb"`` or single fields such as ``"preprocess.waveform_norm"``) and the modules
    whose code computes it (see :func:`source_hash`)."""

    name: str
    config: tuple[str, ...]
    code: tuple[str, ...]

    def code_hash(self) -> str:
        return source_hash(self.code)

    def key(self, run: "Run", **inputs: Any) -> dict[str, Any]:
        """The key of one result: config entries, input hashes (and parameters such as the
        fold) and the code hash."""
        key = {
            "step": self.name,
            "config": {c: _config_value(run.config, c) for c in self.config},
            "inputs": inputs,
            "code": self.code_hash(),
        }
        return json.loads(json.dumps(key, sort_keys=True, default=str))  # as it reads back from a file


def why_stale(old: dict | None, new: dict) -> str | None:
    """Why a cached result with key ``old`` is not the one ``new`` asks for (None: it is)."""
    if old is None:
        return None if new is None else "no cached result"
    if old == new:
        return None
    if old.get("code") != new.get("code"):
        return f"the code of {new.get('step', 'the step')} changed ({old.get('code')} -> {new.get('code')})"
    changed = [f"config {c}" for c in new.get("config", {}) if old.get("config", {}).get(c) != new["config"][c]]
    changed += [f"input {i}" for i in new.get("inputs", {}) if old.get("inputs", {}).get(i) != new["inputs"][i]]
    return ", ".join(changed) + " changed" if changed else "its key changed"


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
    """The result of ``step`` with ``key``: read from ``path`` when it was made with that key,
    else computed, written atomically with a stamp, and returned. ``kind`` is ``"json"`` (a
    JSON-able result) or ``"npz"`` (a dict of numpy arrays). A result recomputed over an
    older one says why in one line (:func:`why_stale`)."""
    old, result = _read_cached(path, kind)
    if old == key:
        return result
    if old is not None:
        status(f"{step.name}: {path.name}: recomputing: "
               + ("the cached file is damaged" if old.get("damaged") else why_stale(old, key)))
    result = compute()
    _write_cached(path, kind, key, result, run.stamp(step=step.name, code=key["code"]))
    return result
