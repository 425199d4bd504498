"""Corpora and wav files made on the spot, as plain functions: the fixtures of ``conftest``
wrap them, and a test that needs one of their constants imports this module (``conftest``
itself cannot be imported by name: ``tests/browser`` has one too).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import soundfile as sf

FEMALE_IDS = (12, 26, 28, 36, 43, 47, 52, 56, 57, 58, 59, 60)  # SPEC: AudioMNIST's female speakers
SAMPLE_ENV = "AUDIOMNIST_SAMPLE"  # the folder of the real sample; CI clones elsewhere and sets it
SAMPLE_DEFAULT = Path("/work/shared/data/audiomnist-sample")


def write_wav(
    path: str | Path,
    samples: np.ndarray | None = None,
    *,
    rate: int = 48_000,
    seconds: float = 0.1,
    channels: int = 1,
    subtype: str = "PCM_16",
    format: str = "WAV",
    seed: int = 0,
) -> Path:
    """Write a wav (or another ``format``) file; default: ``seconds`` of seeded noise, int16 scale.

    ``samples`` of shape ``(time,)`` or ``(time, channels)`` in [-1, 1] override the noise.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if samples is None:
        rng = np.random.default_rng(seed)
        shape = (int(seconds * rate), channels) if channels > 1 else (int(seconds * rate),)
        samples = rng.uniform(-0.3, 0.3, shape)
    sf.write(str(path), samples, rate, subtype=subtype, format=format)
    return path


def write_metadata(folder: str | Path, speakers, **overrides) -> dict:
    """``audioMNIST_meta.txt`` in AudioMNIST's schema for ``speakers`` (genders as in AudioMNIST)."""
    meta = {
        f"{s:02d}": {
            "accent": "German",
            "age": str(20 + s % 40),
            "gender": "female" if s in FEMALE_IDS else "male",
            "native speaker": "no",
            "origin": "Europe, Germany, Berlin",
            "recordingdate": "17-08-31-18-06-03",
            "recordingroom": "vr-room",
            **overrides,
        }
        for s in speakers
    }
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "audioMNIST_meta.txt").write_text(json.dumps(meta, indent=1))
    return meta


def make_noise_corpus(root: str | Path, speakers=(1, 12), reps: int = 2, *, rate: int = 48_000, seconds: float = 0.05) -> Path:
    """A corpus in AudioMNIST's layout at ``root/data`` with short distinct noise files (no espeak-ng)."""
    folder = Path(root) / "data"
    write_metadata(folder, speakers)
    for s in speakers:
        for d in range(10):
            for r in range(reps):
                write_wav(folder / f"{s:02d}" / f"{d}_{s:02d}_{r}.wav", rate=rate, seconds=seconds, seed=s * 10_000 + d * 100 + r)
    return Path(root)


FIELD_RATE = 16_000  # the field corpus' sample rate, as many real corpora have
FIELD_REPS = 8  # at most this many takes of a digit per speaker
RAGGED = {0: 3, 1: FIELD_REPS}  # the first speaker's takes of digits 0 and 1 (issue 12's example)
NOISE_SECONDS = (0.4, 1.5)  # noise around each word, in all (split at random between its two ends)
NOISE_LEVEL = (10 ** -4.2, 10 ** -3.6)  # its standard deviation on the [-1, 1] scale: -84 to -72 dB


ODD = {"rates": (22_050, 44_100), "first_rep": 1, "gaps": True, "missing": {1: 7}}  # issue 20's corpus: see make_field_corpus


def make_field_corpus(source: str | Path, root: str | Path, *, seed: int = 0, genders=("female", "male"),
                      rate: int = FIELD_RATE, rates: tuple[int, ...] | None = None, first_rep: int = 0,
                      gaps: bool = False, missing: dict[int, int] | None = None) -> Path:
    """A corpus shaped like field recordings, made from a synthetic one at ``source`` (48 kHz,
    at least :data:`FIELD_REPS` repetitions): at ``rate`` Hz, with 0.4 to 1.5 s of low-level
    noise around each word and ragged repetitions (1 to 8 takes per speaker and digit; the
    first speaker has 3 takes of "0" and 8 of "1"), in ``root/data``. ``genders`` keeps only the
    speakers of these genders (``("male",)``: a corpus with one gender). Deterministic for a seed.

    Odd but valid shapes (what ``data verify`` accepts; :data:`ODD` sets them all): ``rates``
    gives the speakers' rates in turn instead of ``rate`` (22.05 and 44.1 kHz files in one
    corpus); repetitions are numbered from ``first_rep``, and with ``gaps`` every third number
    is skipped (1, 2, 4, 5, 7...); ``missing`` maps a speaker's position to a digit it has no
    recording of.
    """
    from math import gcd

    from scipy.signal import resample_poly

    src = Path(source) / "data"
    meta = json.loads((src / "audioMNIST_meta.txt").read_text())
    kept = {k: v for k, v in sorted(meta.items()) if v["gender"] in genders}
    folder = Path(root) / "data"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "audioMNIST_meta.txt").write_text(json.dumps(kept, indent=1, sort_keys=True))
    for n, speaker in enumerate(kept):
        speaker_rate = rates[n % len(rates)] if rates else rate
        for digit in range(10):
            rng = np.random.default_rng([seed, int(speaker), digit])
            drawn = int(rng.integers(1, FIELD_REPS + 1))
            takes = RAGGED.get(digit, drawn) if n == 0 else drawn
            if (missing or {}).get(n) == digit:
                continue
            for take in range(takes):
                word, source_rate = sf.read(str(src / speaker / f"{digit}_{speaker}_{take}.wav"), dtype="float64")
                g = gcd(speaker_rate, source_rate)
                word = resample_poly(word, speaker_rate // g, source_rate // g)
                noise = int(rng.uniform(*NOISE_SECONDS) * speaker_rate)
                lead = int(rng.uniform(0.2, 0.8) * noise)
                x = np.zeros(word.size + noise)
                x[lead : lead + word.size] = word
                x += rng.normal(0.0, rng.uniform(*NOISE_LEVEL), x.size)
                rep = first_rep + (take + take // 2 if gaps else take)
                write_wav(folder / speaker / f"{digit}_{speaker}_{rep}.wav", np.clip(x, -1.0, 1.0), rate=speaker_rate)
    return Path(root)


def write_roster(root: str | Path, speakers) -> Path:
    """A corpus at ``root/data`` of ``speakers`` with their metadata and one short noise file
    each: the least that decides the folds (the speakers present) and the skipped tasks."""
    write_metadata(Path(root) / "data", speakers)
    for s in speakers:
        write_wav(Path(root) / "data" / f"{s:02d}" / f"0_{s:02d}_0.wav", seconds=0.01, seed=s)
    return Path(root)
