"""Integrity report of a corpus in AudioMNIST's layout.

Every recording is checked (readable, non-empty, complete, WAV, mono, 16-bit PCM, one
sample rate, at most one second), and the corpus against its own metadata: every listed
speaker has a folder, every folder is listed, and every digit of every speaker has the same
set of repetitions (the set most digits have). A corpus with AudioMNIST's 60-speaker roster
that is not marked synthetic is also checked against AudioMNIST's known shape: 60 speakers
x 10 digits x 50 repetitions at 48 kHz, with the genders of SPEC. Exact duplicates (same
bytes) are warnings, not problems: AudioMNIST itself holds two (speaker 36, see its notes).
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf
from tqdm.auto import tqdm

from .corpus import FILENAME, META_NAME, CorpusError, data_folder, data_shortfall, read_metadata
from .synth import FEMALE_IDS, STAMP as SYNTH_STAMP

AUDIOMNIST_IDS = frozenset(range(1, 61))
AUDIOMNIST_REPS = frozenset(range(50))
AUDIOMNIST_RATE = 48_000
TARGET_RATE = 8_000  # the paper's pipeline resamples to 8 kHz ...
MAX_SAMPLES = 8_000  # ... and pads to 8000 samples: a longer recording cannot be used
DIGITS = range(10)
MISSING_LISTED = 10  # more missing files than this in one folder: one line for the folder
SPEAKER_DIR = re.compile(r"^\d{2}$")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the corpus: ``kind`` (e.g. ``"truncated"``), the file, what is wrong."""

    kind: str
    path: str
    message: str

    def line(self) -> str:
        return f"{self.kind}: {self.path}: {self.message}"


@dataclass(frozen=True)
class Duplicate:
    """Files with identical bytes (a warning): ``paths`` sorted, the first is taken as the original."""

    paths: tuple[str, ...]
    sha256: str

    def line(self) -> str:
        return f"warning: duplicate: {', '.join(self.paths[1:])} identical to {self.paths[0]}"


@dataclass
class Report:
    """What :func:`verify` found. ``ok`` is true when there is no problem (duplicates are warnings)."""

    root: str
    speakers: int  # speaker folders
    files: int  # recordings checked
    sample_rate: int | None  # the rate the corpus is held to (AudioMNIST's, else its majority)
    shape: str  # what the corpus was checked against
    problems: list[Problem] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "root": self.root,
            "ok": self.ok,
            "speakers": self.speakers,
            "files": self.files,
            "sample_rate": self.sample_rate,
            "shape": self.shape,
            "problems": [{"kind": p.kind, "path": p.path, "message": p.message} for p in self.problems],
            "duplicates": [{"paths": list(d.paths), "sha256": d.sha256} for d in self.duplicates],
        }

    def summary(self) -> str:
        """Human text: a headline, then one line per problem, then one per duplicate."""
        what = f"{self.speakers} speakers, {self.files} recordings, checked against {self.shape}"
        head = f"{self.root}: OK ({what})" if self.ok else f"{self.root}: {len(self.problems)} problem(s) ({what})"
        return "\n".join([head] + [p.line() for p in self.problems] + [d.line() for d in self.duplicates])


@dataclass(frozen=True)
class _Header:
    """What one recording's bytes say; ``problems`` are (kind, message) pairs."""

    sha256: str | None
    rate: int | None
    frames: int | None
    problems: tuple[tuple[str, str], ...]


def _inspect(path: Path) -> _Header:
    """Read one file's bytes: hash them and check the header (never decodes the samples)."""
    try:
        data = path.read_bytes()
    except OSError as e:
        return _Header(None, None, None, (("unreadable", f"cannot be read ({e.strerror})"),))
    digest = hashlib.sha256(data).hexdigest()
    if not data:
        return _Header(digest, None, None, (("empty", "is empty (0 bytes)"),))
    try:
        info = sf.info(io.BytesIO(data))
    except Exception as e:  # soundfile raises its own error types and RuntimeError
        reason = getattr(e, "error_string", None) or str(e).splitlines()[0]
        return _Header(digest, None, None, (("unreadable", f"not a readable wav file ({reason.strip()})"),))
    problems = []
    if info.format != "WAV":
        problems.append(("format", f"is {info.format}, not WAV"))
    if info.channels != 1:
        problems.append(("channels", f"has {info.channels} channels; mono is required"))
    if info.subtype != "PCM_16":
        problems.append(("sample-format", f"sample format {info.subtype}; 16-bit PCM (int16) is required"))
    short = data_shortfall(data)
    if short:
        problems.append(("truncated", f"the header declares {short[0]} bytes of audio, the file holds {short[1]}"))
    elif info.frames == 0:
        problems.append(("empty", "holds no samples"))
    return _Header(digest, int(info.samplerate), int(info.frames), tuple(problems))


def _metadata(folder: Path) -> tuple[set[int] | None, dict[int, str], bool, list[Problem]]:
    """Listed speaker ids (None when unusable), their genders, whether it calls itself synthetic, problems."""
    path = folder / META_NAME
    try:
        speakers = read_metadata(folder)
    except CorpusError as e:
        message = str(e).removeprefix(f"{path}: ")
        problem = Problem("metadata", str(path), message)
        try:  # a parsable file with one bad entry still tells which speakers it lists
            raw = json.loads(path.read_text(encoding="utf-8"))
            listed = {int(k) for k in raw if str(k).isdigit()} if isinstance(raw, dict) else None
        except (OSError, ValueError):
            listed = None
        return listed, {}, False, [problem]
    raw = json.loads(path.read_text(encoding="utf-8"))
    synthetic = all(str(v.get("recordingroom", "")).strip().lower() == "synthetic" for v in raw.values())
    return set(speakers), {s: sp.gender for s, sp in speakers.items()}, synthetic, []


def _scan(folder: Path) -> tuple[dict[int, Path], dict[tuple[int, int, int], Path], list[Problem]]:
    """Speaker folders, recordings keyed by (speaker, digit, rep), and misplaced/misnamed files."""
    problems, speakers, recordings = [], {}, {}
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir() and SPEAKER_DIR.match(entry.name):
            speakers[int(entry.name)] = entry
        elif entry.is_dir():
            problems.append(Problem("extra", str(entry), "folder name is not a two-digit speaker id"))
        elif entry.suffix.lower() == ".wav":
            problems.append(Problem("extra", str(entry), "recording outside a speaker folder"))
    for sid, spk_dir in speakers.items():
        for entry in sorted(spk_dir.iterdir()):
            if entry.suffix.lower() != ".wav":
                continue  # notes such as AudioMNIST's data/36/notes.txt
            m = FILENAME.match(entry.name)
            if not entry.is_file() or not m:
                problems.append(Problem("extra", str(entry), "name does not follow {digit}_{NN}_{rep}.wav"))
            elif m.group(2) != spk_dir.name:
                problems.append(Problem("extra", str(entry), f"names speaker {m.group(2)} but lies in folder {spk_dir.name}"))
            else:
                key = (sid, int(m.group(1)), int(m.group(3)))
                if key in recordings:
                    problems.append(Problem("name-clash", str(entry), f"the same recording as {recordings[key].name}"))
                else:
                    recordings[key] = entry
    return speakers, recordings, problems


def _expected_reps(recordings: dict[tuple[int, int, int], Path], speakers: set[int]) -> set[int]:
    """Repetitions that most (speaker, digit) cells hold: robust to a stray or a missing file."""
    votes = Counter(rep for (_, _, rep) in recordings)
    cells = max(1, len(speakers) * len(DIGITS))
    return {rep for rep, n in votes.items() if n > cells / 2}


def _roster_problems(folder, listed, speakers, genders, audiomnist) -> list[Problem]:
    problems = []
    if listed is not None:
        for sid in sorted(listed - set(speakers)):
            problems.append(Problem("missing", str(folder / f"{sid:02d}"), f"speaker {sid:02d} is listed in {META_NAME} but has no folder"))
        for sid in sorted(set(speakers) - listed):
            problems.append(Problem("metadata", str(speakers[sid]), f"speaker folder has no entry in {META_NAME}"))
    if audiomnist:
        for sid, gender in sorted(genders.items()):
            known = "female" if sid in FEMALE_IDS else "male"
            if gender != known:
                problems.append(Problem("metadata", str(folder / META_NAME), f"speaker {sid:02d} is {known} in AudioMNIST; the metadata says {gender}"))
    return problems


def _file_set_problems(speakers, recordings, reps: set[int]) -> list[Problem]:
    problems = []
    for (sid, digit, rep), path in sorted(recordings.items()):
        if rep not in reps:
            problems.append(Problem("extra", str(path), f"repetition {rep} is outside the corpus' repetitions {_span(reps)}"))
    for sid, spk_dir in sorted(speakers.items()):
        want = [(digit, rep) for digit in DIGITS for rep in sorted(reps)]
        missing = [f"{d}_{sid:02d}_{r}.wav" for d, r in want if (sid, d, r) not in recordings]
        if len(missing) > MISSING_LISTED:
            have = len(want) - len(missing)
            problems.append(Problem("missing", str(spk_dir), f"holds {have} of {len(want)} recordings; missing {len(missing)}, e.g. {', '.join(missing[:5])}"))
        else:
            problems += [Problem("missing", str(spk_dir / name), "missing recording") for name in missing]
    return problems


def _span(reps: set[int]) -> str:
    if not reps:
        return "(none)"
    lo, hi = min(reps), max(reps)
    return f"{lo}..{hi}" if reps == set(range(lo, hi + 1)) else ", ".join(map(str, sorted(reps)))


def _signal_problems(headers: dict[Path, _Header], rate: int | None) -> list[Problem]:
    problems = []
    for path, h in headers.items():
        problems += [Problem(kind, str(path), message) for kind, message in h.problems]
        if h.rate is None or not h.frames:
            continue
        if rate is not None and h.rate != rate:
            problems.append(Problem("sample-rate", str(path), f"{h.rate} Hz; the corpus is at {rate} Hz"))
        resampled = math.ceil(h.frames * TARGET_RATE / h.rate)
        if resampled > MAX_SAMPLES:
            problems.append(Problem("too-long", str(path), f"{h.frames / h.rate:.3f} s ({resampled} samples at {TARGET_RATE} Hz; at most {MAX_SAMPLES} fit)"))
    return problems


def _duplicates(headers: dict[Path, _Header]) -> list[Duplicate]:
    groups = defaultdict(list)
    for path, h in headers.items():
        if h.sha256 is not None and h.frames:
            groups[h.sha256].append(path)
    dups = [Duplicate(tuple(str(p) for p in sorted(paths, key=_order)), digest) for digest, paths in groups.items() if len(paths) > 1]
    return sorted(dups, key=lambda d: d.paths)


def _order(path: Path) -> tuple[str, int, int]:
    """(speaker folder, digit, rep) of a recording's path: the original of duplicates comes first."""
    digit, rep = FILENAME.match(path.name).group(1, 3)
    return path.parent.name, int(digit), int(rep)


def verify(root: str | Path, *, workers: int | None = None, progress: bool = True) -> Report:
    """Check a corpus in AudioMNIST's layout and report every problem, each naming its file.

    Parameters
    ----------
    root : folder holding ``data/`` (or the speaker folders themselves).
    workers : threads that read and hash files (default: twice the CPU count, at most 16).
    progress : show a progress bar on stderr.

    Raises :class:`CorpusError` only when ``root`` is not a folder; everything else is a
    :class:`Problem` in the report.
    """
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: no such folder")
    folder = data_folder(root)
    listed, genders, meta_synthetic, problems = _metadata(folder)
    speakers, recordings, scan_problems = _scan(folder)
    ids = set(speakers) | (listed or set())
    synthetic = meta_synthetic or (root / SYNTH_STAMP).is_file() or (folder.parent / SYNTH_STAMP).is_file()
    audiomnist = ids == AUDIOMNIST_IDS and not synthetic
    if not ids:
        problems.append(Problem("missing", str(folder), "no speaker folders (NN/) found"))

    paths = list(recordings.values())
    with ThreadPoolExecutor(workers or min(16, 2 * (os.cpu_count() or 1))) as pool:
        results = list(tqdm(pool.map(_inspect, paths), total=len(paths), desc="verifying", unit="file", disable=not progress))
    headers = dict(zip(paths, results))

    rates = Counter(h.rate for h in headers.values() if h.rate)
    rate = AUDIOMNIST_RATE if audiomnist else (min(rates, key=lambda r: (-rates[r], r)) if rates else None)
    reps = set(AUDIOMNIST_REPS) if audiomnist else _expected_reps(recordings, set(speakers))

    problems += _roster_problems(folder, listed, speakers, genders, audiomnist)
    problems += scan_problems
    problems += _file_set_problems(speakers, recordings, reps)
    problems += _signal_problems(headers, rate)
    shape = "AudioMNIST's shape (60 speakers x 10 digits x 50 repetitions, 48 kHz)" if audiomnist else "its own metadata"
    return Report(str(root), len(speakers), len(headers), rate, shape, problems, _duplicates(headers))
