"""Integrity report of a corpus in AudioMNIST's layout: problems, and notes on its shape.

**Problems** make a corpus unusable as it stands and fail the check (exit 1): a recording
that is unreadable, empty, truncated, not a mono 16-bit PCM WAV, or longer than one second
under the fit rule ``error``; a name outside the layout; missing or broken metadata; a
speaker folder without a metadata entry, or without any recording.

**Notes** describe a valid corpus that is shaped differently from AudioMNIST and pass the
check (exit 0): repetition counts that differ from the corpus' most common one (one line
per speaker, whatever the number of files), speakers listed in the metadata without any
recording (a partial corpus, such as a sample of AudioMNIST: one line naming them all),
several sample rates (each recording is resampled), and recordings the fit rules ``trim``
and ``trim_crop`` will shorten (one line with their count).

``strict`` holds the corpus to an exact :class:`Shape`, by default AudioMNIST's (60 speakers
with their genders, 10 digits x 50 repetitions, 48 kHz): then every missing or extra
repetition, absent speaker and other rate is a problem. The ``audiomnist`` data source is
always checked strictly (:mod:`.fetch`).

Exact duplicates (same bytes) are warnings: AudioMNIST itself holds two (speaker 36, see its
notes). Only headers are parsed; samples are never decoded, so verifying stays fast.
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
from typing import Mapping

import soundfile as sf
from tqdm.auto import tqdm

from ..config import FITS
from ..errors import AudiomnistError
from .corpus import FILENAME, META_NAME, CorpusError, data_folder, data_shortfall, read_metadata
from .synth import FEMALE_IDS

TARGET_RATE = 8_000  # the paper's pipeline resamples to 8 kHz (a profile's preprocess.sample_rate) ...
MAX_SAMPLES = 8_000  # ... and pads to 8000 samples: a longer recording needs a fit rule
DIGITS = range(10)
MISSING_LISTED = 10  # more missing files than this in one folder: one line for the folder
LINES_PER_KIND = 10  # the text report shows this many problems of one kind, then a count
SPEAKER_DIR = re.compile(r"^\d{2}$")


@dataclass(frozen=True)
class Shape:
    """An exact shape that a ``strict`` check holds a corpus to.

    ``genders`` maps every speaker id to ``"male"`` or ``"female"``; every speaker has every
    digit at exactly the repetitions ``reps``, all at ``rate`` Hz.
    """

    name: str
    genders: Mapping[int, str]
    reps: frozenset[int]
    rate: int

    def describe(self) -> str:
        return (f"{self.name}'s shape ({len(self.genders)} speakers x {len(DIGITS)} digits x "
                f"{len(self.reps)} repetitions, {_khz(self.rate)})")


AUDIOMNIST = Shape(
    "AudioMNIST",
    {s: "female" if s in FEMALE_IDS else "male" for s in range(1, 61)},
    frozenset(range(50)),
    48_000,
)


@dataclass(frozen=True)
class Finding:
    """What the check found: ``kind`` (e.g. ``"truncated"``), the file or folder, and what."""

    kind: str
    path: str
    message: str

    def line(self) -> str:
        return f"{self.kind}: {self.path}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "path": self.path, "message": self.message}


class Problem(Finding):
    """Something wrong with the corpus: it fails the check."""


class Note(Finding):
    """A remark on the corpus' shape (``kind`` e.g. ``"repetitions"``); it does not fail the check."""

    def line(self) -> str:
        return f"note: {super().line()}"


@dataclass(frozen=True)
class Duplicate:
    """Files with identical bytes (a warning): ``paths`` sorted, the first is taken as the original."""

    paths: tuple[str, ...]
    sha256: str

    def line(self) -> str:
        return f"warning: duplicate: {', '.join(self.paths[1:])} identical to {self.paths[0]}"


@dataclass
class Report:
    """What :func:`verify` found. ``ok`` is true when there is no problem (notes and duplicates pass)."""

    root: str
    speakers: int  # speaker folders
    files: int  # recordings checked
    sample_rate: int | None  # the rate the corpus is held to (the strict shape's, else its majority)
    shape: str  # what the corpus was checked against
    problems: list[Problem] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    strict: bool = False
    fit: str = "error"
    listed_speakers: int | None = None  # speakers in the metadata; None where it is unusable
    absent_speakers: list[int] = field(default_factory=list)  # listed, without any recording
    genders: dict[str, int] = field(default_factory=dict)  # speakers present per gender
    sample_rates: dict[int, int] = field(default_factory=dict)  # Hz -> recordings

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict:
        return {
            "root": self.root,
            "ok": self.ok,
            "strict": self.strict,
            "fit": self.fit,
            "speakers": self.speakers,
            "files": self.files,
            "sample_rate": self.sample_rate,
            "sample_rates": {str(rate): n for rate, n in self.sample_rates.items()},
            "listed_speakers": self.listed_speakers,
            "absent_speakers": self.absent_speakers,
            "genders": self.genders,
            "shape": self.shape,
            "problems": [p.to_dict() for p in self.problems],
            "notes": [n.to_dict() for n in self.notes],
            "duplicates": [{"paths": list(d.paths), "sha256": d.sha256} for d in self.duplicates],
        }

    def headline(self) -> str:
        """One line: the verdict, what the corpus holds and lacks, and what it was checked against."""
        counts = [_plural(len(self.problems), "problem")] if self.problems else ["OK"]
        if self.notes:
            counts.append(_plural(len(self.notes), "note"))
        return f"{self.root}: {', '.join(counts)}: {self.inventory()}; checked against {self.shape}"

    def inventory(self) -> str:
        """``47 recordings of 15 speakers (12 male, 3 female) at 48 kHz; the metadata lists ...``."""
        genders = f" ({', '.join(f'{n} {g}' for g, n in self.genders.items())})" if self.genders else ""
        rates = " and ".join(_khz(rate) for rate in self.sample_rates)
        text = f"{self.files} recordings of {self.speakers} speakers{genders}" + (f" at {rates}" if rates else "")
        if self.absent_speakers:
            text += (f"; the metadata lists {self.listed_speakers} speakers, {len(self.absent_speakers)} "
                     f"without recordings: {_id_ranges(self.absent_speakers)}")
        return text

    def summary(self) -> str:
        """Human text: the headline, the problems (at most :data:`LINES_PER_KIND` of one kind,
        then their count), the notes, the duplicates."""
        lines, shown = [self.headline()], Counter()
        for p in self.problems:
            shown[p.kind] += 1
            if shown[p.kind] <= LINES_PER_KIND:
                lines.append(p.line())
        for kind, n in shown.items():
            if n > LINES_PER_KIND:
                lines.append(f"{kind}: ... and {n - LINES_PER_KIND} more (--json lists every one)")
        return "\n".join(lines + [n.line() for n in self.notes] + [d.line() for d in self.duplicates])


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


def _metadata(folder: Path) -> tuple[set[int] | None, dict[int, str], list[Problem]]:
    """Listed speaker ids (None when unusable), their genders, problems."""
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
        return listed, {}, [problem]
    return set(speakers), {s: sp.gender for s, sp in speakers.items()}, []


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


def _roster(folder: Path, listed: set[int] | None, speakers: dict[int, Path], with_recordings: set[int],
            genders: dict[int, str], shape: Shape | None) -> tuple[list[Problem], list[Note], list[int]]:
    """Speakers against the metadata (and ``shape``): problems, notes and the absent speakers.

    A folder without a metadata entry, or without recordings, is a problem. Speakers listed
    without any recording are one note (a partial corpus), or one problem under ``shape``.
    """
    problems, notes = [], []
    if listed is not None:
        for sid in sorted(set(speakers) - listed):
            problems.append(Problem("metadata", str(speakers[sid]), f"speaker folder has no entry in {META_NAME}"))
    if shape is None:
        problems += [Problem("missing", str(speakers[sid]), "speaker folder holds no recordings")
                     for sid in sorted(set(speakers) - with_recordings)]
    absent = sorted((listed or set()) - with_recordings - set(speakers))  # empty folders: a problem above
    if shape is not None:
        unknown = sorted(((listed or set()) | set(speakers)) - set(shape.genders))
        if unknown:
            problems.append(Problem("extra", str(folder), f"speakers {_id_ranges(unknown)} are not among {shape.name}'s {len(shape.genders)}"))
        absent = sorted(set(shape.genders) - with_recordings)
        for sid, gender in sorted(genders.items()):
            known = shape.genders.get(sid)
            if known is not None and gender != known:
                problems.append(Problem("metadata", str(folder / META_NAME), f"speaker {sid:02d} is {known} in {shape.name}; the metadata says {gender}"))
        unlisted = sorted(set(shape.genders) - listed) if listed is not None else []
        if unlisted:
            problems.append(Problem("metadata", str(folder / META_NAME), f"speakers {_id_ranges(unlisted)} of {shape.name} have no entry"))
    if absent:
        if shape is not None:
            what = f"speakers of {shape.name} without recordings: {_id_ranges(absent)} ({len(absent)} of {len(shape.genders)})"
            problems.append(Problem("missing", str(folder), what))
        elif with_recordings:
            notes.append(Note("speakers", str(folder), f"speakers in {META_NAME} without recordings: {_id_ranges(absent)} "
                                                       f"({len(absent)} of {len(listed)}; a partial corpus)"))
    return problems, notes, absent


def _repetition_notes(speakers: dict[int, Path], recordings: dict[tuple[int, int, int], Path]) -> list[Note]:
    """One note per speaker whose repetitions per digit differ from the corpus' most common count.

    The most common count is taken over the (speaker, digit) pairs that have recordings (ties:
    the larger count), so a partial corpus is compared with what it holds.
    """
    counts = Counter((sid, digit) for sid, digit, _ in recordings)
    usual = Counter(counts.values())
    if not usual:
        return []
    mode = max(usual, key=lambda n: (usual[n], n))
    notes = []
    for sid, spk_dir in sorted(speakers.items()):
        per_digit = [counts[(sid, d)] for d in DIGITS]
        if any(per_digit) and any(n != mode for n in per_digit):
            notes.append(Note(
                "repetitions", str(spk_dir),
                f"{_plural(sum(per_digit), 'recording')}; per digit 0-9: {' '.join(map(str, per_digit))} "
                f"(the corpus' usual count is {mode})",
            ))
    return notes


def _file_set_problems(speakers: dict[int, Path], recordings: dict[tuple[int, int, int], Path], shape: Shape) -> list[Problem]:
    """Under ``shape``: every repetition outside its set, every one of its set that is absent."""
    problems = []
    for (sid, digit, rep), path in sorted(recordings.items()):
        if rep not in shape.reps:
            problems.append(Problem("extra", str(path), f"repetition {rep} is outside {shape.name}'s repetitions {_id_ranges(shape.reps, width=1, sep='..')}"))
    for sid, spk_dir in sorted(speakers.items()):
        want = [(digit, rep) for digit in DIGITS for rep in sorted(shape.reps)]
        missing = [f"{d}_{sid:02d}_{r}.wav" for d, r in want if (sid, d, r) not in recordings]
        if len(missing) > MISSING_LISTED:
            have = len(want) - len(missing)
            problems.append(Problem("missing", str(spk_dir), f"holds {have} of {len(want)} recordings; missing {len(missing)}, e.g. {', '.join(missing[:5])}"))
        else:
            problems += [Problem("missing", str(spk_dir / name), "missing recording") for name in missing]
    return problems


def _header_problems(headers: dict[Path, _Header], rate: int | None) -> list[Problem]:
    """What each file's header reveals, and (``rate`` given) a sample rate other than ``rate``."""
    problems = []
    for path, h in headers.items():
        problems += [Problem(kind, str(path), message) for kind, message in h.problems]
        if rate is not None and h.rate is not None and h.frames and h.rate != rate:
            problems.append(Problem("sample-rate", str(path), f"{h.rate} Hz; the corpus must be at {rate} Hz"))
    return problems


def _too_long(headers: dict[Path, _Header], sample_rate: int) -> list[tuple[Path, float]]:
    """Recordings longer than :data:`MAX_SAMPLES` once resampled to ``sample_rate`` Hz, with their seconds."""
    return [
        (path, h.frames / h.rate)
        for path, h in headers.items()
        if h.rate and h.frames and not h.problems and math.ceil(h.frames * sample_rate / h.rate) > MAX_SAMPLES
    ]


def _fit_findings(long: list[tuple[Path, float]], fit: str, folder: Path, sample_rate: int) -> tuple[list[Problem], list[Note]]:
    """Under ``error`` every recording over one second is a problem; under ``trim`` and
    ``trim_crop`` they are one note with their count (the check reads headers only, so it
    cannot tell which ones trimming will save)."""
    if not long:
        return [], []
    limit = f"{MAX_SAMPLES} samples at {sample_rate} Hz"
    if fit == "error":
        return [
            Problem("too-long", str(path), f"{seconds:.3f} s, more than the {limit}; "
                    "fit 'trim' or 'trim_crop' (--fit, preprocess.fit in the profile) accepts it")
            for path, seconds in long
        ], []
    path, seconds = max(long, key=lambda item: item[1])
    head = f"{len(long)} recordings are longer than {limit} (longest {seconds:.3f} s: {path.name})"
    if fit == "trim":
        tail = "fit 'trim' cuts their leading and trailing silence; training stops on any still too long"
    else:
        tail = "fit 'trim_crop' cuts their silence, then crops any still too long to its loudest second"
    return [], [Note("fit", str(folder), f"{head}; {tail}")]


def _rate_notes(rates: Counter, folder: Path, sample_rate: int) -> list[Note]:
    if len(rates) < 2:
        return []
    shares = ", ".join(f"{n} at {rate} Hz" for rate, n in rates.most_common())
    return [Note("sample-rates", str(folder), f"recordings at several rates ({shares}); each is resampled to {sample_rate} Hz")]


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


def _id_ranges(ids, *, width: int = 2, sep: str = "-") -> str:
    """``04, 06-07, 09``: sorted ids with runs collapsed."""
    ids = sorted(ids)
    runs, start = [], None
    for i, n in enumerate(ids):
        start = n if start is None else start
        if i + 1 == len(ids) or ids[i + 1] != n + 1:
            runs.append(f"{start:0{width}d}" if start == n else f"{start:0{width}d}{sep}{n:0{width}d}")
            start = None
    return ", ".join(runs) if runs else "(none)"


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _khz(rate: int) -> str:
    return f"{rate / 1000:g} kHz"


def check_fit(fit: str) -> str:
    """``fit`` if it names a fit rule (:data:`audiomnist_core.config.FITS`), else one clear error."""
    if fit not in FITS:
        raise AudiomnistError(f"fit {fit!r} is not a fit rule; use one of {', '.join(FITS)}")
    return fit


def verify(
    root: str | Path,
    *,
    fit: str = "error",
    strict: bool = False,
    sample_rate: int = TARGET_RATE,
    shape: Shape = AUDIOMNIST,
    workers: int | None = None,
    progress: bool = True,
) -> Report:
    """Check a corpus in AudioMNIST's layout: problems, each naming its file, and notes on its shape.

    Parameters
    ----------
    root : folder holding ``data/`` (or the speaker folders themselves).
    fit : the fit rule the corpus will be preprocessed with (``error``, ``trim``,
        ``trim_crop``; ``preprocess.fit`` of a profile). Under ``error`` a recording longer
        than the networks' 8000 samples at ``sample_rate`` is a problem; under the others the
        recordings to be trimmed or cropped are one note with their count.
    strict : hold the corpus to ``shape`` exactly (``--strict``; the ``audiomnist`` source).
        Otherwise the corpus is checked against itself: any speakers, repetitions and rates.
    sample_rate : the rate preprocessing resamples to (a profile's ``preprocess.sample_rate``;
        the paper's 8 kHz by default).
    shape : the exact shape of ``strict`` (default AudioMNIST's).
    workers : threads that read and hash files (default: twice the CPU count, at most 16).
    progress : show a progress bar on stderr.

    Raises :class:`CorpusError` only when ``root`` is not a folder, and
    :class:`AudiomnistError` when ``fit`` is unknown; everything else is in the report.
    """
    check_fit(fit)
    root = Path(root)
    if not root.is_dir():
        raise CorpusError(f"{root}: no such folder")
    folder = data_folder(root)
    target = shape if strict else None
    listed, genders, problems = _metadata(folder)
    speakers, recordings, scan_problems = _scan(folder)
    if not speakers:
        problems.append(Problem("missing", str(folder), "no speaker folders (NN/) found"))

    paths = list(recordings.values())
    with ThreadPoolExecutor(workers or min(16, 2 * (os.cpu_count() or 1))) as pool:
        results = list(tqdm(pool.map(_inspect, paths), total=len(paths), desc="verifying", unit="file", disable=not progress))
    headers = dict(zip(paths, results))
    rates = Counter(h.rate for h in headers.values() if h.rate and h.frames)
    majority = min(rates, key=lambda r: (-rates[r], r)) if rates else None

    present = {sid for sid, _, _ in recordings}
    roster_problems, notes, absent = _roster(folder, listed, speakers, present, genders, target)
    problems += roster_problems + scan_problems
    if target is not None:
        problems += _file_set_problems(speakers, recordings, target)
    else:
        notes = _repetition_notes(speakers, recordings) + notes + _rate_notes(rates, folder, sample_rate)
    problems += _header_problems(headers, target.rate if target else None)
    fit_problems, fit_notes = _fit_findings(_too_long(headers, sample_rate), fit, folder, sample_rate)
    problems += fit_problems
    notes += fit_notes

    present_genders = Counter(genders[s] for s in present if s in genders)
    return Report(
        root=str(root),
        speakers=len(speakers),
        files=len(headers),
        sample_rate=target.rate if target else majority,
        shape=target.describe() if target else "its own shape",
        problems=problems,
        duplicates=_duplicates(headers),
        notes=notes,
        strict=strict,
        fit=fit,
        listed_speakers=len(listed) if listed is not None else None,
        absent_speakers=absent,
        genders={g: present_genders[g] for g in ("male", "female") if present_genders[g]},
        sample_rates=dict(rates.most_common()),
    )
