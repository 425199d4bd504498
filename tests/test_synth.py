"""The synthetic corpus: AudioMNIST's layout, format, roster and schema; byte-identical for the same arguments."""
from __future__ import annotations

import hashlib
import json
import re

import soundfile as sf

from audiomnist_core.data import ensure_synthetic, read_metadata, synthesize
from audiomnist_core.data.synth import roster

FEMALE = {12, 26, 28, 36, 43, 47, 52, 56, 57, 58, 59, 60}  # SPEC: AudioMNIST's 12 female speakers
SCHEMA = {"accent", "age", "gender", "native speaker", "origin", "recordingdate", "recordingroom"}


def digests(root):
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((root / "data").rglob("*")) if p.is_file()}


def test_same_arguments_give_byte_identical_files(tmp_path):
    a = digests(synthesize(tmp_path / "a", speakers=4, reps=2, seed=0, progress=False).parent)
    b = digests(synthesize(tmp_path / "b", speakers=4, reps=2, seed=0, progress=False).parent)
    assert len(a) == 4 * 10 * 2 + 1 and a == b
    # each file is a function of (speaker, digit, rep, seed) alone, and the seed matters
    one = digests(synthesize(tmp_path / "one", speakers=1, reps=1, seed=0, progress=False).parent)
    other = digests(synthesize(tmp_path / "other", speakers=1, reps=1, seed=1, progress=False).parent)
    wavs = [k for k in one if k.endswith(".wav")]
    assert len(wavs) == 10 and all(one[k] == a[k] for k in wavs)
    assert all(one[k] != other[k] for k in wavs)


def test_layout(synth_corpus):
    folder = synth_corpus / "data"
    speakers = sorted(p.name for p in folder.iterdir() if p.is_dir())
    assert speakers == [f"{s:02d}" for s in roster(10)]
    assert {p.name for p in folder.iterdir() if p.is_file()} == {"audioMNIST_meta.txt"}
    for name in speakers:
        files = sorted(p.name for p in (folder / name).iterdir())
        assert files == sorted(f"{d}_{name}_{r}.wav" for d in range(10) for r in range(2))


def test_48khz_int16_mono_at_most_one_second(synth_corpus):
    for path in (synth_corpus / "data").rglob("*.wav"):
        info = sf.info(str(path))
        assert (info.format, info.subtype, info.channels, info.samplerate) == ("WAV", "PCM_16", 1, 48_000), path
        assert 0.1 * 48_000 < info.frames <= 48_000, path


def test_roster_keeps_audiomnist_ids_and_genders(synth_corpus):
    assert roster(60) == list(range(1, 61))
    small = roster(10)
    assert sum(s in FEMALE for s in small) == 5 and len(set(small)) == 10 and set(small) <= set(range(1, 61))
    speakers = read_metadata(synth_corpus)
    assert list(speakers) == small
    assert all((sp.gender == "female") == (sid in FEMALE) for sid, sp in speakers.items())


def test_metadata_schema(synth_corpus):
    meta = json.loads((synth_corpus / "data" / "audioMNIST_meta.txt").read_text())
    assert all(re.fullmatch(r"\d{2}", key) for key in meta)
    assert all(set(entry) == SCHEMA for entry in meta.values())
    assert all(entry["gender"] in ("male", "female") and "synthetic" in entry["accent"] for entry in meta.values())


def test_ensure_synthetic_reuses_a_complete_corpus(tmp_path):
    root = tmp_path / "s"
    folder = ensure_synthetic(root, speakers=1, reps=1, seed=0)
    first = (folder / "01" / "0_01_0.wav").stat().st_mtime_ns
    assert ensure_synthetic(root, speakers=1, reps=1, seed=0) == folder
    assert (folder / "01" / "0_01_0.wav").stat().st_mtime_ns == first
    ensure_synthetic(root, speakers=1, reps=1, seed=1)  # other arguments: made again
    assert not list(tmp_path.glob("*.partial"))
    assert digests(root) == digests(synthesize(tmp_path / "t", speakers=1, reps=1, seed=1, progress=False).parent)
