"""AudioMNIST's layout: ``data/NN/{digit}_{NN}_{rep}.wav`` and ``data/audioMNIST_meta.txt``.

Reads the metadata (surviving the real file's quirks), indexes the recordings, and reads one
wav with the checks the paper's pipeline relies on (mono, 16-bit PCM, non-empty).
"""
from __future__ import annotations

import io
import json
import re
import struct
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import AudiomnistError

META_NAME = "audioMNIST_meta.txt"
FILENAME = re.compile(r"^(\d)_(\d{2})_(\d+)\.wav$")
GENDERS = ("male", "female")  # label 0 = male, 1 = female, as in the original code


class CorpusError(AudiomnistError):
    """A problem with the corpus; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Speaker:
    id: int
    gender: str  # "male" | "female"
    age: int | None  # None where the file holds a placeholder or garbage
    accent: str
    native_speaker: str
    origin: str
    recording_room: str
    recording_date: str


@dataclass(frozen=True)
class Recording:
    path: Path
    speaker: int
    digit: int
    rep: int


def data_folder(root: str | Path) -> Path:
    """The folder holding the speaker folders: ``root/data`` if it exists, else ``root``."""
    root = Path(root)
    return root / "data" if (root / "data").is_dir() else root


def _age(value: object) -> int | None:
    try:
        age = int(str(value).strip())
    except ValueError:
        return None
    return age if 0 < age < 120 else None  # speaker 45 of AudioMNIST has the placeholder "1234"


def read_metadata(root: str | Path) -> dict[int, Speaker]:
    """Speakers keyed by integer id, from ``audioMNIST_meta.txt`` under ``root``.

    Tolerates an int or string ``age``, placeholder ages, varying ``recordingroom``
    spellings and missing optional fields; a missing file, invalid JSON, a bad key or an
    unknown gender raises :class:`CorpusError` naming the file.
    """
    path = data_folder(root) / META_NAME
    if not path.is_file():
        raise CorpusError(f"{path}: metadata file is missing")
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise CorpusError(f"{path}: metadata is not valid JSON ({e})") from None
    if not isinstance(raw, dict) or not raw:
        raise CorpusError(f"{path}: metadata must be a non-empty JSON object keyed by speaker id")
    speakers = {}
    for key, entry in raw.items():
        if not re.fullmatch(r"\d{1,2}", str(key)) or not isinstance(entry, dict):
            raise CorpusError(f"{path}: speaker entry {key!r} is not an id with an object of fields")
        gender = str(entry.get("gender", "")).strip().lower()
        if gender not in GENDERS:
            raise CorpusError(f"{path}: speaker {key} has gender {entry.get('gender')!r}; expected 'male' or 'female'")
        sid = int(key)
        speakers[sid] = Speaker(
            id=sid,
            gender=gender,
            age=_age(entry.get("age")),
            accent=str(entry.get("accent", "")).strip(),
            native_speaker=str(entry.get("native speaker", "")).strip(),
            origin=str(entry.get("origin", "")).strip(),
            recording_room=str(entry.get("recordingroom", "")).strip(),
            recording_date=str(entry.get("recordingdate", "")).strip(),
        )
    return dict(sorted(speakers.items()))


def index_recordings(root: str | Path) -> list[Recording]:
    """Every ``NN/{digit}_{NN}_{rep}.wav`` under the corpus, sorted by (speaker, digit, rep).

    Files whose name does not follow the layout, or whose speaker part disagrees with their
    folder, are left out here; :func:`audiomnist_core.data.verify` reports them.
    """
    folder = data_folder(root)
    recordings = []
    for spk_dir in sorted(p for p in folder.iterdir() if p.is_dir() and re.fullmatch(r"\d{2}", p.name)):
        for wav in spk_dir.glob("*.wav"):
            m = FILENAME.match(wav.name)
            if m and m.group(2) == spk_dir.name:
                recordings.append(Recording(wav, int(m.group(2)), int(m.group(1)), int(m.group(3))))
    recordings.sort(key=lambda r: (r.speaker, r.digit, r.rep))
    return recordings


def recorded_genders(root: str | Path) -> dict[int, str]:
    """``{speaker: gender}`` of the metadata's speakers that have at least one recording: what
    the folds are made of, so a partial corpus (some speakers' folders only) is split among
    the speakers present rather than the roster of its metadata file."""
    folder = data_folder(root)
    present = {
        int(d.name) for d in folder.iterdir()
        if d.is_dir() and re.fullmatch(r"\d{2}", d.name) and any(FILENAME.match(w.name) for w in d.glob("*.wav"))
    }
    return {s: sp.gender for s, sp in read_metadata(root).items() if s in present}


def data_shortfall(data: bytes) -> tuple[int, int] | None:
    """``(declared, present)`` bytes of a RIFF/WAVE ``data`` chunk cut short, else ``None``.

    libsndfile silently reads what is there, so a truncated file would pass as a shorter
    recording; the header's chunk size is the only witness.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos = 12
    while pos + 8 <= len(data):
        chunk, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        if chunk == b"data":
            present = len(data) - pos - 8
            return (size, present) if present < size else None
        pos += 8 + size + (size & 1)  # chunks are word-aligned
    return None


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """Read a mono 16-bit PCM wav as float32 on the int16 scale (the original kept that scale).

    Returns ``(samples, sample_rate)``, samples of shape ``(time,)``. Raises
    :class:`CorpusError` naming the file for anything else: unreadable, empty, multi-channel,
    or another sample format.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CorpusError(f"{path}: cannot be read ({e.strerror})") from None
    if not raw:
        raise CorpusError(f"{path}: is empty (0 bytes)")
    try:
        info = sf.SoundFile(io.BytesIO(raw))  # the header is parsed once, for the checks and the read
    except Exception as e:  # soundfile raises its own error types and RuntimeError
        raise CorpusError(f"{path}: not a readable wav file ({str(e).splitlines()[0]})") from None
    with info:
        if info.format != "WAV":
            raise CorpusError(f"{path}: not a wav file (format {info.format})")
        if info.channels != 1:
            raise CorpusError(f"{path}: has {info.channels} channels; mono is required")
        if info.subtype != "PCM_16":
            raise CorpusError(f"{path}: sample format {info.subtype}; 16-bit PCM (int16) is required")
        short = data_shortfall(raw)
        if short:
            raise CorpusError(f"{path}: truncated: the header declares {short[0]} bytes of samples, {short[1]} are present")
        if info.frames == 0:
            raise CorpusError(f"{path}: is empty (0 samples)")
        samples = info.read(dtype="int16")
        rate = info.samplerate
    return samples.astype(np.float32), int(rate)


@dataclass(frozen=True)
class CorpusSummary:
    """What a corpus holds (:func:`corpus_summary`): its speakers and its recordings."""

    speakers: dict[int, Speaker]
    recordings: list[Recording]  # as :func:`index_recordings` orders them
    seconds: np.ndarray  # (N,) duration of each recording in seconds
    sample_rates: dict[int, int]  # sample rate (Hz) -> number of recordings

    @property
    def digits(self) -> np.ndarray:
        """``(N,)`` the digit of each recording."""
        return np.array([r.digit for r in self.recordings], dtype=np.int64)

    def count(self, field: str) -> dict[str, int]:
        """Speakers per value of a :class:`Speaker` field (``"gender"``, ``"accent"``,
        ``"native_speaker"``, ...), the most frequent first."""
        return dict(Counter(str(getattr(s, field)) or "(not given)" for s in self.speakers.values()).most_common())

    def ages(self) -> dict[str, list[int]]:
        """The known ages per gender (placeholders such as speaker 45's "1234" left out)."""
        return {g: [s.age for s in self.speakers.values() if s.gender == g and s.age is not None] for g in GENDERS}

    def rows(self) -> list[dict[str, object]]:
        """One row per speaker for a table: id, gender, age, accent, native speaker, origin,
        number of recordings."""
        per_speaker = Counter(r.speaker for r in self.recordings)
        return [
            {
                "speaker": s.id, "gender": s.gender, "age": s.age if s.age is not None else "?",
                "accent": s.accent, "native speaker": s.native_speaker, "origin": s.origin,
                "recordings": per_speaker[s.id],
            }
            for s in self.speakers.values()
        ]

    def examples(self, speaker: int | None = None) -> list[Recording]:
        """The first repetition (the lowest number) that one speaker has of each digit, in
        digit order: of ``speaker``, or of the lowest id among the speakers with the most
        digits (all ten where any speaker has them). Repetitions may start anywhere and have
        gaps; a speaker without some digit has fewer examples. :class:`CorpusError` for a
        corpus without recordings or a ``speaker`` without any."""
        first: dict[int, dict[int, Recording]] = {}
        for r in self.recordings:  # ordered by (speaker, digit, rep): the first seen is the first repetition
            first.setdefault(r.speaker, {}).setdefault(r.digit, r)
        if not first:
            raise CorpusError("the corpus has no recordings in its layout (data/NN/{digit}_{NN}_{rep}.wav)")
        if speaker is None:
            speaker = max(sorted(first), key=lambda s: len(first[s]))  # max keeps the first, lowest id, of a tie
        if speaker not in first:
            raise CorpusError(f"speaker {speaker:02d}: has no recordings in the corpus; it has speakers {sorted(first)}")
        return [first[speaker][d] for d in sorted(first[speaker])]


def corpus_summary(root: str | Path, *, workers: int = 8) -> CorpusSummary:
    """Speakers (from the metadata) and recordings (their durations and sample rates, read
    from the wav headers) of the corpus at ``root``."""
    speakers = read_metadata(root)
    recordings = index_recordings(root)

    def header(r: Recording) -> tuple[int, int]:
        try:
            info = sf.info(str(r.path))
        except Exception as e:  # soundfile raises its own error types and RuntimeError
            raise CorpusError(f"{r.path}: not a readable wav file ({str(e).splitlines()[0]})") from None
        return info.frames, info.samplerate

    with ThreadPoolExecutor(workers) as pool:
        headers = list(pool.map(header, recordings))
    frames = np.array([f for f, _ in headers], dtype=np.float64)
    rates = np.array([r for _, r in headers], dtype=np.float64)
    return CorpusSummary(
        speakers=speakers,
        recordings=recordings,
        seconds=frames / np.maximum(rates, 1),
        sample_rates=dict(Counter(int(r) for r in rates).most_common()),
    )
