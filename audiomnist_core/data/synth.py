"""The offline stand-in for AudioMNIST, spoken by espeak-ng in the identical layout.

Each speaker id of AudioMNIST's roster keeps its gender; each is a distinct espeak-ng voice
(accent, voice variant, pitch, rate); repetitions vary pitch, rate and level slightly; light
noise is added. The same arguments give byte-identical files. The corpus exercises the
pipeline; it is not evidence for or against the paper's claims.
"""
from __future__ import annotations

import io
import json
import shutil
import subprocess
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf
from scipy.signal import resample_poly
from tqdm.auto import tqdm

from .corpus import META_NAME, CorpusError

SAMPLE_RATE = 48_000
MAX_SECONDS = 1.0
DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FEMALE_IDS = (12, 26, 28, 36, 43, 47, 52, 56, 57, 58, 59, 60)  # AudioMNIST's female speakers
ACCENTS = ("en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
VARIANTS = {
    "male": ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "Andy", "Gene", "john", "max", "Michael"),
    "female": ("f1", "f2", "f3", "f4", "f5", "Annie", "Andrea", "linda", "belinda", "Alicia"),
}
PITCH = {"male": (15, 45), "female": (55, 85)}  # espeak-ng -p range per gender (0..99)
STAMP = ".synthetic-complete.json"


@dataclass(frozen=True)
class Voice:
    speaker: int
    gender: str
    accent: str
    variant: str
    pitch: int
    rate: int  # words per minute
    age: int


def roster(n: int) -> list[int]:
    """Speaker ids for a corpus of ``n`` speakers: all 60 of AudioMNIST, or a balanced subset.

    A subset takes the lowest female ids for half of it (at most 12) and the lowest male ids
    for the rest, so that both tasks stay possible.
    """
    if not 1 <= n <= 60:
        raise ValueError(f"speakers must be between 1 and 60, not {n}")
    males = [i for i in range(1, 61) if i not in FEMALE_IDS]
    n_female = len(FEMALE_IDS) if n == 60 else min(len(FEMALE_IDS), n // 2)
    return sorted(FEMALE_IDS[:n_female] + tuple(males[: n - n_female]))


def voice(speaker: int, seed: int) -> Voice:
    """The voice of one speaker: a pure function of (speaker, seed)."""
    rng = np.random.default_rng([seed, speaker])
    gender = "female" if speaker in FEMALE_IDS else "male"
    lo, hi = PITCH[gender]
    return Voice(
        speaker=speaker,
        gender=gender,
        accent=str(rng.choice(ACCENTS)),
        variant=str(rng.choice(VARIANTS[gender])),
        pitch=int(rng.integers(lo, hi + 1)),
        rate=int(rng.integers(140, 191)),
        age=int(rng.integers(20, 62)),
    )


def _espeak(text: str, v: Voice, pitch: int, rate: int) -> tuple[np.ndarray, int]:
    args = ["espeak-ng", "-v", f"{v.accent}+{v.variant}", "-p", str(pitch), "-s", str(rate), "--stdout", text]
    try:
        out = subprocess.run(args, check=True, capture_output=True).stdout
    except FileNotFoundError:
        raise CorpusError(
            "espeak-ng is not installed; install it with 'apt-get install -y espeak-ng' "
            "(or 'conda install -c conda-forge espeak-ng')"
        ) from None
    samples, rate_hz = sf.read(io.BytesIO(out), dtype="float32")
    return samples, rate_hz


def utterance(v: Voice, digit: int, rep: int, seed: int) -> np.ndarray:
    """One recording as int16 samples at 48 kHz, shape ``(time,)``, at most one second."""
    rng = np.random.default_rng([seed, v.speaker, digit, rep, 1])
    pitch = int(np.clip(v.pitch + rng.integers(-4, 5), 0, 99))
    rate = int(v.rate + rng.integers(-12, 13))
    x, rate_hz = _espeak(DIGIT_WORDS[digit], v, pitch, rate)
    voiced = np.flatnonzero(np.abs(x) > 0.01 * np.abs(x).max())
    x = x[voiced[0] : voiced[-1] + 1] if voiced.size else x
    x = resample_poly(x, SAMPLE_RATE, rate_hz)
    x = x[: int(MAX_SECONDS * SAMPLE_RATE) - 1]
    # a short fade at both ends, then a random level and light noise
    fade = min(240, x.size // 4)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    x = x / (np.abs(x).max() + 1e-9) * rng.uniform(0.25, 0.8)
    x = x + rng.normal(0.0, 10 ** rng.uniform(-3.5, -2.8), x.size)
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def metadata(voices: list[Voice]) -> dict[str, dict[str, str]]:
    """Metadata in AudioMNIST's schema, describing the synthetic voices truthfully."""
    return {
        f"{v.speaker:02d}": {
            "accent": f"synthetic ({v.accent})",
            "age": str(v.age),
            "gender": v.gender,
            "native speaker": "no",
            "origin": f"espeak-ng voice {v.accent}+{v.variant}, pitch {v.pitch}, rate {v.rate}",
            "recordingdate": "synthetic",
            "recordingroom": "synthetic",
        }
        for v in voices
    }


def synthesize(root: str | Path, *, speakers: int = 60, reps: int = 50, seed: int = 0, workers: int = 4, progress: bool = True) -> Path:
    """Write the synthetic corpus to ``root/data`` and return that folder.

    The corpus is built in a temporary sibling folder and moved into place at the end, so
    an interrupted synthesis never looks complete.
    """
    if not 1 <= reps <= 50:
        raise ValueError(f"reps must be between 1 and 50, not {reps}")
    root = Path(root)
    voices = [voice(s, seed) for s in roster(speakers)]
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    folder = tmp / "data"
    for v in voices:
        (folder / f"{v.speaker:02d}").mkdir(parents=True, exist_ok=True)
    (folder / META_NAME).write_text(json.dumps(metadata(voices), indent=1, sort_keys=True) + "\n")
    jobs = [(v, d, r) for v in voices for d in range(10) for r in range(reps)]

    def write(job: tuple[Voice, int, int]) -> None:
        v, d, r = job
        path = folder / f"{v.speaker:02d}" / f"{d}_{v.speaker:02d}_{r}.wav"
        sf.write(str(path), utterance(v, d, r, seed), SAMPLE_RATE, subtype="PCM_16", format="WAV")

    with ThreadPoolExecutor(workers) as pool:
        for _ in tqdm(pool.map(write, jobs), total=len(jobs), desc="synthesising", unit="file", disable=not progress):
            pass
    stamp = {"speakers": speakers, "reps": reps, "seed": seed, "files": len(jobs)}
    (tmp / STAMP).write_text(json.dumps(stamp, sort_keys=True) + "\n")
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)
    return root / "data"


def ensure_synthetic(root: str | Path, *, speakers: int, reps: int, seed: int) -> Path:
    """The synthetic corpus at ``root``, synthesised unless a complete one with these arguments is there."""
    root = Path(root)
    stamp = root / STAMP
    if stamp.is_file():
        try:
            done = json.loads(stamp.read_text())
        except json.JSONDecodeError:
            done = {}
        if (done.get("speakers"), done.get("reps"), done.get("seed")) == (speakers, reps, seed):
            return root / "data"
    return synthesize(root, speakers=speakers, reps=reps, seed=seed)
