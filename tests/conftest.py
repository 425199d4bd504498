"""Shared fixtures: small corpora made on the spot, and a writer of wav files of any format.

Only generic fixtures live here. Corpora are built in pytest's temporary folders; tests that
change a corpus work on their own copy (``corpus_copy``), never on the session one.
"""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
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


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory) -> Path:
    """The synthetic corpus (10 speakers x 10 digits x 2 repetitions, seed 0), built once; do not modify."""
    from audiomnist_core.data import synthesize

    root = tmp_path_factory.mktemp("synthetic") / "corpus"
    synthesize(root, speakers=10, reps=2, seed=0, progress=False)
    return root


@pytest.fixture
def corpus_copy(synth_corpus, tmp_path) -> Path:
    """A private copy of ``synth_corpus`` that a test may change."""
    return Path(shutil.copytree(synth_corpus, tmp_path / "corpus"))


@pytest.fixture(name="write_wav")
def write_wav_fixture():
    return write_wav


@pytest.fixture(name="write_metadata")
def write_metadata_fixture():
    return write_metadata


@pytest.fixture(name="make_noise_corpus")
def make_noise_corpus_fixture():
    return make_noise_corpus


@pytest.fixture(scope="session")
def real_sample() -> Path:
    """The 47 real AudioMNIST recordings and the full metadata (``$AUDIOMNIST_SAMPLE``, else the
    shared copy); tests that need it are skipped, with the reason, where it is absent. Read only."""
    root = Path(os.environ.get(SAMPLE_ENV) or SAMPLE_DEFAULT)
    if not (root / "data" / "audioMNIST_meta.txt").is_file():
        pytest.skip(f"the real AudioMNIST sample is not at {root}; set {SAMPLE_ENV} to its folder")
    return root
