"""The table of contents: which documents the book has, in reading order, and where each lives."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import BookError

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

