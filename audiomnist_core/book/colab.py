"""The repository the book names, in one place: ``_config.yml``'s ``repository`` (its ``url``
and ``branch``). The launch buttons read it there; the Colab install cell, the first code cell
of every chapter, is written from it by :func:`install_cell`, because Colab opens the chapter
from the repository and cannot read the configuration before it has cloned it.
:func:`retarget` (``audiomnist retarget OWNER/NAME [--branch B]``) points every place at a fork.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

from ..errors import BookError

GITHUB = "https://github.com/"
REPO_NAME_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


def install_cell(url: str, branch: str) -> str:
    """The source of the install cell for the repository at ``url`` (any URL ``git clone``
    takes), branch ``branch``.

    Where ``audiomnist_core`` is not importable (a fresh Colab runtime) it clones the branch
    into ``audiomnist-book`` beside the notebook's working folder (``/content`` on Colab) and
    installs it editable with the kernel's own pip, keeping Colab's torch and torchaudio.
    """
    return (
        "# On Colab: install the package (Colab's own torch/torchaudio are kept).\n"
        "import importlib.util, os, subprocess, sys\n"
        f"REPOSITORY, BRANCH = {url.removesuffix('.git') + '.git'!r}, {branch!r}  # audiomnist retarget OWNER/NAME\n"
        'if importlib.util.find_spec("audiomnist_core") is None:\n'
        '    target = os.path.abspath("audiomnist-book")\n'
        '    subprocess.run(["git", "clone", "-q", "--depth", "1", "--branch", BRANCH, REPOSITORY, target], check=True)\n'
        '    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-e", target], check=True)\n'
        "    sys.path.insert(0, target)"
    )


def repository(root: Path) -> tuple[str, str]:
    """``(url, branch)`` of ``root/_config.yml``'s ``repository``."""
    path = Path(root) / "_config.yml"
    url, branch = repository_of_text(path.read_text())
    if not url:
        raise BookError(f"{path}: no repository.url; the launch buttons and install cells need it")
    return url, branch


def chapters(root: Path) -> list[Path]:
    """The committed chapters (``book/*.ipynb``), each of which opens with the install cell."""
    return sorted((Path(root) / "book").glob("*.ipynb"))


def read_chapter(path: Path) -> dict:
    """A chapter as the JSON it is stored as (written back the same way, so that a rewrite
    changes only the cells it rewrites)."""
    return json.loads(Path(path).read_text())


def write_chapter(path: Path, nb: dict) -> None:
    Path(path).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n")


def install_source(nb: dict, path: Path) -> str:
    """The source of the chapter's install cell, its first code cell."""
    cell = next((c for c in nb["cells"] if c["cell_type"] == "code"), None)
    if cell is None:
        raise BookError(f"{path}: no code cell, so no install cell")
    return "".join(cell["source"])


def retarget(root: Path, name: str, branch: str | None = None) -> list[Path]:
    """Point the book at ``github.com/<name>`` (``OWNER/NAME``), branch ``branch`` (default: the
    configured one): ``_config.yml``'s ``repository`` and every chapter's install cell.
    Returns the files changed."""
    if not REPO_NAME_RE.match(name):
        raise BookError(f"retarget: {name!r} is not OWNER/NAME (a GitHub repository, e.g. me/audiomnist-book)")
    root = Path(root)
    url, branch = GITHUB + name, branch or repository(root)[1]
    changed = []
    config = root / "_config.yml"
    text = config.read_text()
    new = re.sub(r"(?m)^(repository:\n(?:[ \t]+.*\n)*?[ \t]+url:[ \t]*).*$", lambda m: m.group(1) + url, text, count=1)
    new = re.sub(r"(?m)^(repository:\n(?:[ \t]+.*\n)*?[ \t]+branch:[ \t]*).*$", lambda m: m.group(1) + branch, new, count=1)
    if repository_of_text(new) != (url, branch):
        raise BookError(f"{config}: could not rewrite repository.url and repository.branch; edit them by hand")
    if new != text:
        config.write_text(new)
        changed.append(config)
    source = install_cell(url, branch)
    for path in chapters(root):
        nb = read_chapter(path)
        if install_source(nb, path) != source:
            cell = next(c for c in nb["cells"] if c["cell_type"] == "code")
            cell["source"] = source.splitlines(keepends=True)
            write_chapter(path, nb)
            changed.append(path)
    return changed


def repository_of_text(text: str) -> tuple[str, str]:
    """``(url, branch)`` of a ``_config.yml``'s text (url empty where there is none)."""
    repo = (yaml.safe_load(text) or {}).get("repository") or {}
    return str(repo.get("url") or ""), str(repo.get("branch") or "main")
