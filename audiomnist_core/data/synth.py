"""The offline stand-in for AudioMNIST, spoken by espeak-ng in the identical layout.

Each speaker id of AudioMNIST's roster keeps its gender; each is a distinct espeak-ng voice
(accent, voice variant, pitch, rate); repetitions vary pitch, rate and level slightly.

Two styles. ``clean``: the word alone, light white noise. ``realistic`` (the default): what
real recordings have and espeak's do not, so that a recipe that only works on clean speech
fails here too: each speaker records in a room of its own (a noise floor at 12-40 dB SNR,
small reverberation, a microphone gain spanning 30 dB; a DC offset on about a third of the
speakers and mains hum on about a quarter), and each take has silence, sometimes a breath,
before and after the word. The same arguments give byte-identical files. The corpus
exercises the pipeline; it is not evidence for or against the paper's claims.
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
import scipy.signal
from scipy.signal import resample_poly
from tqdm.auto import tqdm

from ..config import DEFAULT_SYNTH_STYLE
from ..config import SYNTH_STYLES as STYLES
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
class Room:
    """Where and how a speaker of the realistic style was recorded (all levels full scale = 1)."""

    peak: float  # the word's peak level: the microphone gain
    snr_db: float  # the word's RMS over the noise floor's
    noise_colour: float  # one-pole low-pass coefficient of the noise floor (0 white .. 0.95 rumbling)
    rt60: float  # reverberation time, s
    wet: float  # level of the reverberant tail relative to the direct sound
    dc: float  # DC offset (0 for most speakers)
    hum_hz: float  # mains hum frequency (0: none)
    hum_level: float  # hum amplitude relative to the word's peak


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


def room(speaker: int, seed: int) -> Room:
    """The recording conditions of one speaker: a pure function of (speaker, seed), drawn
    apart from :func:`voice` so the voices are the same in both styles."""
    rng = np.random.default_rng([seed, speaker, 2])
    has_dc, has_hum = rng.random() < 1 / 3, rng.random() < 1 / 4
    return Room(
        peak=float(10 ** rng.uniform(-2.0, -0.5)),  # -40 .. -10 dBFS (AudioMNIST's words peak near -35)
        snr_db=float(rng.uniform(12.0, 40.0)),
        noise_colour=float(rng.uniform(0.0, 0.95)),
        rt60=float(rng.uniform(0.05, 0.35)),
        wet=float(rng.uniform(0.05, 0.3)),
        dc=float(rng.choice([-1.0, 1.0]) * 10 ** rng.uniform(-2.7, -2.0)) if has_dc else 0.0,
        hum_hz=float(rng.choice([50.0, 60.0])) if has_hum else 0.0,
        hum_level=float(10 ** rng.uniform(-2.0, -1.0)) if has_hum else 0.0,
    )


def _word(v: Voice, digit: int, rng: np.random.Generator) -> np.ndarray:
    """The spoken digit at 48 kHz, float, its voiced part only, faded in and out at its ends."""
    pitch = int(np.clip(v.pitch + rng.integers(-4, 5), 0, 99))
    rate = int(v.rate + rng.integers(-12, 13))
    x, rate_hz = _espeak(DIGIT_WORDS[digit], v, pitch, rate)
    voiced = np.flatnonzero(np.abs(x) > 0.01 * np.abs(x).max())
    x = x[voiced[0] : voiced[-1] + 1] if voiced.size else x
    x = resample_poly(x, SAMPLE_RATE, rate_hz)
    x = x[: int(MAX_SECONDS * SAMPLE_RATE) - 1]
    fade = min(240, x.size // 4)
    if fade:
        ramp = np.linspace(0.0, 1.0, fade)
        x[:fade] *= ramp
        x[-fade:] *= ramp[::-1]
    return x


def _int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x * 32767), -32768, 32767).astype(np.int16)


def _reverberate(x: np.ndarray, r: Room, rng: np.random.Generator) -> np.ndarray:
    """``x`` plus a reverberant tail: exponentially decaying noise of ``r.rt60`` (-60 dB)."""
    t = np.arange(int(r.rt60 * SAMPLE_RATE)) / SAMPLE_RATE
    tail = rng.normal(0.0, 1.0, t.size) * 10 ** (-3.0 * t / r.rt60)
    tail *= r.wet / (np.sqrt(np.sum(tail**2)) + 1e-12)
    return x + scipy.signal.fftconvolve(x, tail)[: x.size]


def _breath(n: int, rng: np.random.Generator) -> np.ndarray:
    """A breath of ``n`` samples: band-passed noise (500-3000 Hz) under a Hann envelope, unit peak."""
    b, a = scipy.signal.butter(2, [500, 3000], btype="bandpass", fs=SAMPLE_RATE)
    x = scipy.signal.lfilter(b, a, rng.normal(0.0, 1.0, n)) * np.hanning(n)
    return x / (np.abs(x).max() + 1e-12)


def _noise_floor(n: int, r: Room, rng: np.random.Generator) -> np.ndarray:
    """``n`` samples of the room's noise floor, unit RMS."""
    x = scipy.signal.lfilter([1.0], [1.0, -r.noise_colour], rng.normal(0.0, 1.0, n))
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def take(word: np.ndarray, r: Room, rng: np.random.Generator) -> np.ndarray:
    """One realistic take of a ``word`` (float, 48 kHz) recorded in room ``r``, float
    samples shorter than one second: reverberation, silence of 20-250 ms before and after
    (shortened where the word is long), sometimes a breath before it, the gain, the noise
    floor at the room's SNR, hum and DC offset."""
    limit = int(MAX_SECONDS * SAMPLE_RATE) - 1
    word = _reverberate(word / (np.abs(word).max() + 1e-12), r, rng)
    lead, trail = (int(rng.uniform(0.02, 0.25) * SAMPLE_RATE) for _ in range(2))
    spare = max(0, limit - word.size)
    if lead + trail > spare:  # keep the margins' proportion, inside one second
        lead, trail = lead * spare // (lead + trail), trail * spare // (lead + trail)
    x = np.concatenate([np.zeros(lead), word, np.zeros(trail)])[:limit]
    breath = int(rng.uniform(0.08, 0.2) * SAMPLE_RATE)
    if rng.random() < 0.3 and breath < lead:
        start = int(rng.integers(0, lead - breath + 1))
        x[start : start + breath] += 10 ** rng.uniform(-1.5, -1.0) * _breath(breath, rng)
    gain = r.peak * 10 ** (rng.uniform(-2.0, 2.0) / 20)  # the speaker's level varies between takes
    x *= gain
    speech_rms = gain * np.sqrt(np.mean(word**2)) if word.size else gain
    x += _noise_floor(x.size, r, rng) * speech_rms * 10 ** (-r.snr_db / 20)
    if r.hum_hz:
        t = np.arange(x.size) / SAMPLE_RATE
        phase = rng.uniform(0, 2 * np.pi)
        x += r.hum_level * r.peak * (np.sin(2 * np.pi * r.hum_hz * t + phase) + 0.3 * np.sin(6 * np.pi * r.hum_hz * t + phase))
    return x + r.dc


def utterance(v: Voice, digit: int, rep: int, seed: int, style: str = DEFAULT_SYNTH_STYLE) -> np.ndarray:
    """One recording as int16 samples at 48 kHz, shape ``(time,)``, shorter than one second.

    ``style="clean"``: the word at a random level with light white noise; ``"realistic"``:
    the word as :func:`take` records it in the speaker's :func:`room`.
    """
    if style not in STYLES:
        raise ValueError(f"unknown synthetic style {style!r}; use one of {', '.join(STYLES)}")
    rng = np.random.default_rng([seed, v.speaker, digit, rep, 1])
    x = _word(v, digit, rng)
    if style == "realistic":
        return _int16(take(x, room(v.speaker, seed), np.random.default_rng([seed, v.speaker, digit, rep, 3])))
    x = x / (np.abs(x).max() + 1e-9) * rng.uniform(0.25, 0.8)
    x = x + rng.normal(0.0, 10 ** rng.uniform(-3.5, -2.8), x.size)
    return _int16(x)


def _describe_room(r: Room) -> str:
    extras = ([f"DC {r.dc:+.4f}"] if r.dc else []) + ([f"{r.hum_hz:g} Hz hum"] if r.hum_hz else [])
    return ", ".join([f"synthetic: peak {20 * np.log10(r.peak):.0f} dBFS, SNR {r.snr_db:.0f} dB, RT60 {r.rt60:.2f} s", *extras])


def metadata(voices: list[Voice], rooms: list[Room] | None = None) -> dict[str, dict[str, str]]:
    """Metadata in AudioMNIST's schema, describing the synthetic voices (and rooms) truthfully."""
    rooms = rooms or [None] * len(voices)
    return {
        f"{v.speaker:02d}": {
            "accent": f"synthetic ({v.accent})",
            "age": str(v.age),
            "gender": v.gender,
            "native speaker": "no",
            "origin": f"espeak-ng voice {v.accent}+{v.variant}, pitch {v.pitch}, rate {v.rate}",
            "recordingdate": "synthetic",
            "recordingroom": "synthetic" if r is None else _describe_room(r),
        }
        for v, r in zip(voices, rooms)
    }


def synthesize(root: str | Path, *, speakers: int = 60, reps: int = 50, seed: int = 0, style: str = DEFAULT_SYNTH_STYLE,
               workers: int = 4, progress: bool = True) -> Path:
    """Write the synthetic corpus (``style`` of :data:`STYLES`) to ``root/data`` and return that folder.

    The corpus is built in a temporary sibling folder and moved into place at the end, so
    an interrupted synthesis never looks complete.
    """
    if not 1 <= reps <= 50:
        raise ValueError(f"reps must be between 1 and 50, not {reps}")
    if style not in STYLES:
        raise ValueError(f"unknown synthetic style {style!r}; use one of {', '.join(STYLES)}")
    root = Path(root)
    voices = [voice(s, seed) for s in roster(speakers)]
    rooms = [room(v.speaker, seed) for v in voices] if style == "realistic" else None
    tmp = root.with_name(root.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    folder = tmp / "data"
    for v in voices:
        (folder / f"{v.speaker:02d}").mkdir(parents=True, exist_ok=True)
    (folder / META_NAME).write_text(json.dumps(metadata(voices, rooms), indent=1, sort_keys=True) + "\n")
    jobs = [(v, d, r) for v in voices for d in range(10) for r in range(reps)]

    def write(job: tuple[Voice, int, int]) -> None:
        v, d, r = job
        path = folder / f"{v.speaker:02d}" / f"{d}_{v.speaker:02d}_{r}.wav"
        sf.write(str(path), utterance(v, d, r, seed, style), SAMPLE_RATE, subtype="PCM_16", format="WAV")

    with ThreadPoolExecutor(workers) as pool:
        for _ in tqdm(pool.map(write, jobs), total=len(jobs), desc="synthesising", unit="file", disable=not progress):
            pass
    stamp = {"speakers": speakers, "reps": reps, "seed": seed, "style": style, "files": len(jobs)}
    (tmp / STAMP).write_text(json.dumps(stamp, sort_keys=True) + "\n")
    if root.exists():
        shutil.rmtree(root)
    tmp.rename(root)
    return root / "data"


def ensure_synthetic(root: str | Path, *, speakers: int, reps: int, seed: int, style: str = DEFAULT_SYNTH_STYLE) -> Path:
    """The synthetic corpus at ``root``, synthesised unless a complete one with these arguments is there."""
    root = Path(root)
    stamp = root / STAMP
    if stamp.is_file():
        try:
            done = json.loads(stamp.read_text())
        except json.JSONDecodeError:
            done = {}
        if (done.get("speakers"), done.get("reps"), done.get("seed"), done.get("style", "clean")) == (speakers, reps, seed, style):
            return root / "data"
    return synthesize(root, speakers=speakers, reps=reps, seed=seed, style=style)
