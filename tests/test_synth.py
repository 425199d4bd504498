"""The synthetic corpus: AudioMNIST's layout, format, roster and schema; byte-identical for the same arguments."""
from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest
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


# --- the realistic style: what real recordings have ------------------------------------------

def test_clean_and_realistic_styles_differ_and_both_are_deterministic(tmp_path):
    from audiomnist_core.data.synth import utterance, voice

    v = voice(12, 0)
    clean, real = utterance(v, 3, 1, 0, "clean"), utterance(v, 3, 1, 0, "realistic")
    assert clean.dtype == real.dtype == np.int16 and not np.array_equal(clean, real)
    assert np.array_equal(real, utterance(v, 3, 1, 0, "realistic"))
    assert real.size < 48_000 and clean.size < 48_000  # both fit the paper's one second
    with pytest.raises(ValueError, match="style"):
        utterance(v, 3, 1, 0, "studio")


def test_realistic_takes_have_rooms_margins_and_offsets():
    from audiomnist_core.data.synth import room, utterance, voice

    rooms = {s: room(s, 0) for s in range(1, 61)}
    peaks_db = [20 * np.log10(r.peak) for r in rooms.values()]
    assert max(peaks_db) - min(peaks_db) > 20  # microphone gains differ as people's do
    with_dc = [s for s, r in rooms.items() if r.dc]
    with_hum = [s for s, r in rooms.items() if r.hum_hz]
    assert 10 <= len(with_dc) <= 30 and 5 <= len(with_hum) <= 25
    s = with_dc[0]
    x = utterance(voice(s, 0), 5, 0, 0).astype(np.float64) / 32767
    assert abs(x.mean() - rooms[s].dc) < 0.5 * abs(rooms[s].dc)  # the offset is in the file
    edge = int(0.015 * 48_000)  # the first and last 15 ms are silence (with the room's noise), not the word
    middle = np.abs(x - x.mean()).max()
    assert np.abs(x[:edge] - x.mean()).max() < 0.5 * middle and np.abs(x[-edge:] - x.mean()).max() < 0.5 * middle
    assert np.abs(x[:edge] - x.mean()).max() > 0  # a noise floor, never digital silence


def test_the_original_scaling_fails_on_the_realistic_corpus_and_the_profiles_do_not(synth_corpus):
    """What makes CI catch a recipe that only works on clean speech: on the realistic corpus the
    original AudioNet scaling blows some inputs up by orders of magnitude; the normalisation the
    smoke and quick profiles use keeps every input bounded."""
    import torch

    from audiomnist_core.config import PreprocessConfig, load_profile
    from audiomnist_core.preprocess import load_signals, waveform_input

    genders = {s: sp.gender for s, sp in read_metadata(synth_corpus).items()}
    from audiomnist_core.data import index_recordings

    waves = load_signals(index_recordings(synth_corpus), genders, PreprocessConfig(), synth_corpus.parent / "cache", progress=False).waves
    original = waveform_input(waves, "original").abs().amax(-1)
    assert (original > 1e3).any()
    for name in ("smoke", "quick"):
        cfg = load_profile(name)
        assert cfg.data.synth_style == "realistic"
        peak = waveform_input(waves, cfg.preprocess.waveform_norm).abs().amax(-1)
        assert bool(torch.isfinite(peak).all()) and float(peak.max()) <= 100.0, name
