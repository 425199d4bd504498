"""Fetch AudioMNIST at a pinned commit (placeholder until the fetch is written)."""
from __future__ import annotations

from pathlib import Path

from .corpus import CorpusError, META_NAME, data_folder


def ensure_audiomnist(root: str | Path) -> Path:
    root = Path(root)
    if (data_folder(root) / META_NAME).is_file():
        return data_folder(root)
    raise CorpusError(f"{root}: AudioMNIST is not present")


def fetch(root: str | Path, url: str | None = None) -> Path:
    raise CorpusError("fetch is not written yet")
