"""The artifact store of one profile and data source: ``runs/<profile>-<data>/``.

Every artifact is written atomically (a temporary file, then ``os.replace``) so that an
interrupted run never leaves a half-written file that looks complete, and carries a stamp:
profile, resolved config, its hash, data source and package version.
"""
from __future__ import annotations

import contextlib
import json
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

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
