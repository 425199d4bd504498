"""Fetch AudioMNIST from its public repository at a pinned commit: resumable, safe, atomic, verified.

The repository's archive is downloaded to a ``.part`` file beside the target (an HTTP Range
request resumes it; a server that ignores Range restarts it), then read once, member by
member, into a temporary sibling folder: a member whose name or link would leave that folder
rejects the whole archive. Only ``data/`` is kept. The result is verified strictly
(:func:`audiomnist_core.data.verify` with ``strict=True``: AudioMNIST's 60 speakers x 500
recordings at 48 kHz), a completion stamp is written last, and the folder is moved into
place: a folder at ``root`` is always a complete, verified corpus.

Only a corpus that cannot be had (the network is unreachable, the server has no archive)
raises :class:`CorpusUnavailable`, on which ``data: auto`` falls back to the synthetic
corpus; an archive that arrives but is corrupt or fails verification is a plain
:class:`CorpusError` that stops the run.
"""
from __future__ import annotations

import gzip
import hashlib
import http.client
import json
import os
import shutil
import tarfile
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path, PurePosixPath

from tqdm.auto import tqdm

from .. import __version__
from .corpus import CorpusError, data_folder
from .verify import Report, verify

# soerenab/AudioMNIST at the commit that added speakers 17, 22 and 34 (their recordings and
# metadata); the commit before it holds 57 speakers. No later commit changes data/.
PINNED_COMMIT = "ce04129aaa56d47d11a8d9cc1247bac2cafac9b7"
DEFAULT_URL = f"https://codeload.github.com/soerenab/AudioMNIST/tar.gz/{PINNED_COMMIT}"
URL_ENV = "AUDIOMNIST_URL"
STAMP = ".audiomnist-complete.json"
FULL_SPEAKERS, FULL_FILES = 60, 30_000
CHUNK = 1 << 20  # bytes per read while downloading and extracting
TIMEOUT_S = 30  # connect and per-read timeout; a stalled transfer counts as interrupted
RETRIES = 3  # automatic resumes after an interrupted transfer, before giving up
OFFLINE_HINT = "the offline corpus is `--data synthetic` (or `audiomnist data synth --root DIR`)"


class CorpusUnavailable(CorpusError):
    """The corpus cannot be had from here: the network is unreachable, or the server answers
    with an HTTP error instead of the archive."""


class _Interrupted(Exception):
    """The transfer stopped early; what arrived is kept in the ``.part`` file."""


def default_root() -> Path:
    """Where the real corpus lives unless told otherwise: ``runs.data_dir()/audiomnist``."""
    from ..runs import data_dir

    return data_dir() / "audiomnist"


def resolve_url(url: str | None = None) -> str:
    """``url``, else ``$AUDIOMNIST_URL``, else the pinned GitHub archive."""
    return url or os.environ.get(URL_ENV) or DEFAULT_URL


def read_stamp(root: str | Path) -> dict | None:
    """The completion stamp of a fetched (or adopted) corpus at ``root``, or ``None``."""
    try:
        stamp = json.loads((Path(root) / STAMP).read_text())
    except (OSError, ValueError):
        return None
    return stamp if isinstance(stamp, dict) else None


def ensure_audiomnist(root: str | Path | None = None, url: str | None = None, *, progress: bool = True) -> Path:
    """The data folder of a complete, verified AudioMNIST at ``root``, fetching it if absent.

    A corpus placed at ``root`` by other means (a git clone) is verified once and adopted.
    Raises :class:`CorpusUnavailable` (one line) when the network is unreachable, and
    :class:`CorpusError` when ``root`` holds something that fails the strict verification
    (it is never overwritten) or a downloaded archive does.
    """
    root = Path(root) if root is not None else default_root()
    if read_stamp(root) is not None:
        return data_folder(root)
    if root.is_dir() and any(root.iterdir()):
        report = verify(root, strict=True, progress=progress)
        _require(report, full=True, source=str(root), fix=f"run `audiomnist data verify --root {root}` for every problem, or remove the folder to fetch the corpus again")
        _write_stamp(root, report, source="verified in place")
        return data_folder(root)
    return fetch(root, url, progress=progress)


def fetch(
    root: str | Path | None = None,
    url: str | None = None,
    *,
    progress: bool = True,
    expect_full: bool | None = None,
    retries: int = RETRIES,
) -> Path:
    """Download, extract and verify AudioMNIST into ``root``; return its data folder.

    Parameters
    ----------
    root : target folder (default ``runs.data_dir()/"audiomnist"``); the corpus goes to ``root/data``.
    url : archive URL (default ``$AUDIOMNIST_URL``, else the pinned commit's GitHub archive).
    progress : progress bars on stderr.
    expect_full : verify strictly, against AudioMNIST's exact shape (60 speakers x 500
        recordings, 48 kHz); default: only for the pinned URL, so that a test server (or
        ``$AUDIOMNIST_URL``) can serve a small corpus, which is verified against its own shape.
    retries : automatic resumes of an interrupted transfer within this call.

    A complete corpus already at ``root`` is returned without any network access. An
    interrupted download leaves only the ``.part`` file (the next call resumes it); a corrupt
    archive, or one that fails verification, is removed and named; nothing appears at
    ``root`` unless it is verified. Raises :class:`CorpusUnavailable` when the server cannot
    be reached, :class:`CorpusError` for everything else.
    """
    root = Path(root) if root is not None else default_root()
    url = resolve_url(url)
    full = url == DEFAULT_URL if expect_full is None else expect_full
    if read_stamp(root) is not None:
        return data_folder(root)
    if root.exists() and not (root.is_dir() and not any(root.iterdir())):
        raise CorpusError(f"{root}: exists and is not a fetched corpus (no {STAMP}); remove it or choose another --root")
    root.parent.mkdir(parents=True, exist_ok=True)
    archive = root.with_name(f".{root.name}-{hashlib.sha1(url.encode()).hexdigest()[:12]}.tar.gz")
    download(url, archive, progress=progress, retries=retries)

    tmp = root.with_name(f".{root.name}.partial")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        extract_data(archive, tmp, progress=progress)
        report = verify(tmp, strict=full, progress=progress)
        try:
            _require(report, full=full, source=f"{archive} (downloaded from {url})",
                     fix="the archive was removed and nothing was installed; check the URL")
        except CorpusError:
            archive.unlink(missing_ok=True)  # complete but wrong: fetching it again cannot help
            raise
        _write_stamp(tmp, report, source=url, archive=archive)
        if root.is_dir():
            root.rmdir()  # an empty folder, checked above
        os.replace(tmp, root)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    archive.unlink()
    return data_folder(root)


def _require(report: Report, *, full: bool, source: str, fix: str) -> None:
    """Raise one line when (``full``) the corpus lacks AudioMNIST's size, or fails verification."""
    if full and (report.speakers, report.files) != (FULL_SPEAKERS, FULL_FILES):
        raise CorpusError(
            f"{source}: expected AudioMNIST's {FULL_SPEAKERS} speakers x 500 recordings, "
            f"found {report.speakers} speakers and {report.files} recordings; {fix}"
        )
    if not report.ok:
        more = f" (and {len(report.problems) - 1} more)" if len(report.problems) > 1 else ""
        raise CorpusError(f"{source}: the corpus fails verification: {report.problems[0].line()}{more}; {fix}")


def _write_stamp(root: Path, report: Report, *, source: str, archive: Path | None = None) -> None:
    stamp = {
        "source": source,
        "commit": PINNED_COMMIT if source == DEFAULT_URL else None,
        "speakers": report.speakers,
        "files": report.files,
        "sample_rate": report.sample_rate,
        # relative paths: the stamp stays true when the folder is moved into place
        "duplicates": [[str(Path(p).relative_to(root)) for p in d.paths] for d in report.duplicates],
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "version": __version__,
    }
    if archive is not None:
        stamp["archive_bytes"] = archive.stat().st_size
        stamp["archive_sha256"] = _sha256(archive)
    tmp = root / f"{STAMP}.tmp"
    tmp.write_text(json.dumps(stamp, indent=2) + "\n")
    os.replace(tmp, root / STAMP)


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


# --- download -----------------------------------------------------------------------------

def download(url: str, archive: Path, *, progress: bool = True, retries: int = RETRIES) -> Path:
    """Download ``url`` to ``archive`` through ``archive.part``, resuming what is there.

    An existing ``archive`` (a finished download whose extraction was interrupted) is reused.
    Raises :class:`CorpusUnavailable` when the server cannot be reached (with the offline
    hint) or answers with an HTTP error, :class:`CorpusError` when the transfer stops
    ``retries + 1`` times.
    """
    if archive.is_file():
        return archive
    part = archive.with_name(archive.name + ".part")
    for attempt in range(retries + 1):
        try:
            _download_once(url, part, progress)
            break
        except _Interrupted as e:
            if attempt == retries:
                have = part.stat().st_size if part.exists() else 0
                raise CorpusError(
                    f"{url}: download interrupted ({e}); {have} bytes kept in {part}, run the command again to resume"
                ) from None
    os.replace(part, archive)
    return archive


def _download_once(url: str, part: Path, progress: bool) -> None:
    have = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": f"audiomnist-core/{__version__}"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        response = urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=TIMEOUT_S)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # nothing left to send: complete, or the file changed
            if _content_range(e.headers.get("Content-Range", ""))[1] == have:
                return
            part.unlink()
            raise _Interrupted("the server rejected the resume point; restarting") from None
        raise CorpusUnavailable(f"{url}: the server answered HTTP {e.code} {e.reason}; {OFFLINE_HINT}") from None
    except (urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise CorpusUnavailable(f"cannot reach {url} ({reason}): the network is unreachable; {OFFLINE_HINT}") from None
    with response:
        if response.status == 206:
            start, total = _content_range(response.headers.get("Content-Range", ""))
            if start != have:
                part.unlink()
                raise _Interrupted(f"the server resumed at byte {start}, not {have}; restarting")
            mode = "ab"
        else:  # 200: the server ignored Range and sends everything again
            have, mode = 0, "wb"
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
        with open(part, mode) as out, tqdm(
            total=total, initial=have, unit="B", unit_scale=True, unit_divisor=1024,
            desc="downloading AudioMNIST", disable=not progress,
        ) as bar:
            while True:
                try:
                    block = response.read(CHUNK)
                except (OSError, http.client.HTTPException) as e:
                    raise _Interrupted(f"{type(e).__name__}: {e}") from None
                if not block:
                    break
                out.write(block)
                have += len(block)
                bar.update(len(block))
    if total is not None and have < total:
        raise _Interrupted(f"connection closed after {have} of {total} bytes")


def _content_range(value: str) -> tuple[int | None, int | None]:
    """``(start, total)`` of ``bytes START-END/TOTAL`` or ``bytes */TOTAL``; None where absent."""
    spec = value.strip().removeprefix("bytes").strip()
    first, _, total = spec.partition("/")
    start = first.split("-")[0]
    return (int(start) if start.isdigit() else None, int(total) if total.isdigit() else None)


# --- extraction ---------------------------------------------------------------------------

def _member_parts(name: str, archive: Path) -> tuple[str, ...]:
    """The member's path parts; a name that is absolute or climbs out rejects the archive."""
    path = PurePosixPath(name.replace("\\", "/"))
    if path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
        raise CorpusError(f"{archive}: member {name!r} would be written outside the target folder; the archive is refused")
    return tuple(p for p in path.parts if p != ".")


def _check_link(member: tarfile.TarInfo, archive: Path) -> None:
    """A link whose target is absolute or climbs above the archive's top rejects the archive."""
    target = PurePosixPath(member.linkname.replace("\\", "/"))
    base = PurePosixPath(member.name).parent if member.issym() else PurePosixPath()  # hard links: from the top
    depth = 0
    for part in (base / target).parts:
        depth += {"..": -1, ".": 0}.get(part, 1)
        if depth < 0:
            break
    if target.is_absolute() or depth < 0:
        raise CorpusError(
            f"{archive}: link {member.name!r} -> {member.linkname!r} points outside the target folder; the archive is refused"
        )


def _data_relpath(parts: tuple[str, ...]) -> tuple[str, ...] | None:
    """``data/...`` of a member, under GitHub's top-level ``<repo>-<commit>/`` folder or not."""
    if parts[:1] == ("data",):
        return parts
    if len(parts) > 1 and parts[1] == "data":
        return parts[1:]
    return None


def extract_data(archive: Path, dest: Path, *, progress: bool = True) -> int:
    """Extract the ``data/`` tree of a ``.tar.gz`` into ``dest`` in one streaming pass.

    Every member is checked before anything is written for it: absolute names, ``..`` and
    links leading outside reject the archive (:class:`CorpusError` naming the member). Links,
    devices and everything outside ``data/`` are not extracted. A corrupt or truncated
    archive is removed and named. Returns the number of files written.
    """
    dest.mkdir(parents=True)
    written = 0
    try:
        with tarfile.open(archive, mode="r|gz") as tar, tqdm(desc="extracting", unit="file", disable=not progress) as bar:
            for member in tar:
                parts = _member_parts(member.name, archive)
                if member.issym() or member.islnk():
                    _check_link(member, archive)
                    continue
                rel = _data_relpath(parts)
                if rel is None or not member.isfile():
                    continue
                target = dest.joinpath(*rel)
                target.parent.mkdir(parents=True, exist_ok=True)
                with tar.extractfile(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, CHUNK)
                written += 1
                bar.update()
    except (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile) as e:
        archive.unlink(missing_ok=True)
        raise CorpusError(f"{archive}: corrupt or truncated archive ({e}); it was removed, run the command again to download it afresh") from None
    if not written:
        archive.unlink(missing_ok=True)
        raise CorpusError(f"{archive}: holds no data/ folder in AudioMNIST's layout; it was removed")
    return written
