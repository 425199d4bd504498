"""A corpus's fingerprint: what every trained model is keyed on, so that a model trained on
other recordings is never taken for one of this corpus.

The fingerprint covers what preprocessing reads: every recording that
:func:`~audiomnist_core.data.index_recordings` finds (its path inside the corpus, its size and
the sha256 of its bytes) and the metadata file. A file's hash is kept in a small cache keyed
by its absolute path, modification time and size, so a second fingerprint of 30,000 files
costs their ``stat`` calls only. The manifest of a fingerprint (each file and its hash) is
kept beside the cache, so that a later fingerprint can say what changed.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from .corpus import META_NAME, data_folder, index_recordings

HASH_CHARS = 16
CACHE_NAME = "file-hashes.json"  # {absolute path: [mtime_ns, size, sha256]}


@dataclass(frozen=True)
class Fingerprint:
    """``digest``: a short hash of the whole corpus; ``files``: ``{path inside the corpus:
    "<size>:<sha256>"}`` of each recording and of the metadata file."""

    digest: str
    files: dict[str, str]

    @property
    def recordings(self) -> int:
        return sum(1 for name in self.files if name.endswith(".wav"))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:HASH_CHARS]


def _load(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}  # a missing or damaged cache only costs hashing again


def _write(path: Path, obj: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.part")
    tmp.write_text(json.dumps(obj, sort_keys=True))
    os.replace(tmp, path)


def corpus_files(root: str | Path) -> list[Path]:
    """The files the fingerprint covers: the recordings preprocessing reads and the metadata."""
    folder = data_folder(root)
    return [r.path for r in index_recordings(root)] + [folder / META_NAME]


def corpus_fingerprint(root: str | Path, cache_dir: str | Path) -> Fingerprint:
    """The :class:`Fingerprint` of the corpus at ``root``; file hashes are cached in
    ``cache_dir`` (by absolute path, mtime and size) and the manifest is written there as
    ``corpus-<digest>.json`` for :func:`describe_change`."""
    root, cache_dir = Path(root), Path(cache_dir)
    cache_path = cache_dir / CACHE_NAME
    cache = _load(cache_path)
    folder = data_folder(root)
    absolute = folder.resolve()  # once: resolving each of 30,000 paths would cost more than their stat
    files, changed = {}, False
    for path in corpus_files(root):
        st = path.stat()
        name = path.relative_to(folder).as_posix()
        where = str(absolute / name)
        entry = cache.get(where)
        if not (isinstance(entry, list) and entry[:2] == [st.st_mtime_ns, st.st_size]):
            entry = [st.st_mtime_ns, st.st_size, _sha256(path)]
            cache[where], changed = entry, True
        files[name] = f"{st.st_size}:{entry[2]}"
    if changed:
        _write(cache_path, cache)
    digest = hashlib.sha256("".join(f"{k}\t{v}\n" for k, v in sorted(files.items())).encode()).hexdigest()[:HASH_CHARS]
    manifest = cache_dir / f"corpus-{digest}.json"
    if not manifest.is_file():
        _write(manifest, files)
    return Fingerprint(digest, files)


def describe_change(old_digest: str | None, new: Fingerprint, cache_dir: str | Path) -> str:
    """Why a result made on the corpus ``old_digest`` is not one of ``new``: ``"the corpus
    changed (N recordings added, M changed, K removed)"`` (and the metadata, where it
    changed), from the old manifest where it is still in ``cache_dir``."""
    if old_digest is None:
        return "it was made before results were keyed on the corpus's content"
    old = _load(Path(cache_dir) / f"corpus-{old_digest}.json")
    if not old:
        return f"the corpus changed (fingerprint {old_digest} -> {new.digest})"
    wav = lambda names: {n for n in names if n.endswith(".wav")}  # noqa: E731
    added, removed = wav(new.files.keys() - old.keys()), wav(old.keys() - new.files.keys())
    changed = wav(n for n in new.files.keys() & old.keys() if new.files[n] != old[n])
    parts = [f"{len(added)} recordings added", f"{len(changed)} changed", f"{len(removed)} removed"]
    meta = old.get(META_NAME) != new.files.get(META_NAME)
    return f"the corpus changed ({', '.join(parts)}{'; the metadata changed' if meta else ''})"
