"""Preprocessing (paper section 2.2.1) against the original code's libraries.

References: ``scipy.signal.stft`` + ``librosa.amplitude_to_db`` for the spectrogram,
``librosa.resample(res_type="scipy")`` for the resampler, ``numpy.percentile`` for the
AudioNet scaling. Test signals come from seeded generators; the global RNG is left alone.
"""
from __future__ import annotations

import librosa
import numpy as np
import pytest
import scipy.signal
import torch

from audiomnist_core import preprocess
from audiomnist_core.config import PreprocessConfig
from audiomnist_core.data import CorpusError, Recording, index_recordings, read_metadata
from audiomnist_core.preprocess import (
    FREQ_BINS,
    TIME_FRAMES,
    TOP_DB,
    load_signals,
    magnitude,
    offset,
    resample_clips,
    resample_fft,
    spectrogram,
    waveform_input,
)


def padded_clips(n: int, seed: int) -> np.ndarray:
    """``(n, 8000)`` int16-scale signals: noise bursts and tones of 0.2-0.9 s inside zero
    padding, plus edge cases: a lone non-zero sample, all zeros, no padding at all."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n + 3, 8000))
    t = np.arange(8000) / 8000
    for i in range(n):
        size = int(rng.integers(1600, 7200))
        start = int(rng.integers(0, 8000 - size))
        tone = np.sin(2 * np.pi * rng.uniform(100, 3000) * t[:size])
        x[i, start : start + size] = np.round(rng.uniform(500, 20000) * (tone + 0.3 * rng.standard_normal(size)))
    x[n, 4321] = 1.0
    x[n + 2] = np.round(3000 * rng.standard_normal(8000))
    return x


def reference_spectrogram(x: np.ndarray) -> np.ndarray:
    """The original code's spectrogram of one padded 8 kHz signal."""
    _, _, z = scipy.signal.stft(x, 8000, nperseg=455, noverlap=420, window="hann")
    return librosa.amplitude_to_db(np.abs(z[0:227, 2:-1]), ref=np.max)


@pytest.mark.parametrize("dtype, tolerance", [(torch.float64, 1e-6), (torch.float32, 0.02)])
def test_spectrogram_matches_scipy_and_librosa(dtype, tolerance):
    x = padded_clips(12, seed=0)
    ours = spectrogram(torch.from_numpy(x).to(dtype)).double().numpy()
    reference = np.stack([reference_spectrogram(v) for v in x])
    diff = np.abs(ours - reference).max()
    print(f"largest difference to scipy.signal.stft + librosa.amplitude_to_db ({dtype}): {diff:.3g} dB")
    assert diff < tolerance


def test_magnitude_matches_scipy():
    x = padded_clips(4, seed=1)
    _, _, z = scipy.signal.stft(x, 8000, nperseg=455, noverlap=420, window="hann")
    np.testing.assert_allclose(magnitude(torch.from_numpy(x)).numpy(), np.abs(z[:, 0:227, 2:-1]), rtol=1e-9, atol=1e-9)


def test_spectrogram_shape_and_range():
    x = torch.from_numpy(padded_clips(6, seed=2)).float()
    s = spectrogram(x.reshape(3, 3, 8000))
    assert s.shape == (3, 3, FREQ_BINS, TIME_FRAMES)
    assert s.min() >= -TOP_DB and s.max() <= 0
    assert torch.all(s.amax(dim=(-2, -1)) == 0)  # each spectrogram relative to its own maximum
    assert torch.all(spectrogram(torch.zeros(2, 8000)) == 0)  # silence: the maximum is the floor itself


def test_batch_equals_items_stacked():
    x = torch.from_numpy(padded_clips(8, seed=3)).float()
    stacked = torch.stack([spectrogram(v) for v in x])
    torch.testing.assert_close(spectrogram(x), stacked, rtol=0, atol=1e-4)


@pytest.mark.parametrize("length", [9_600, 18_349, 20_011, 26_180, 39_994, 47_999, 48_000])
@pytest.mark.parametrize("rates", [(48_000, 8_000), (44_100, 8_000), (16_000, 8_000), (4_000, 8_000)])
def test_resample_fft_matches_librosa(length, rates):
    x = np.random.default_rng(length).standard_normal(length) * 3000
    ours = resample_fft(torch.from_numpy(x), *rates).numpy()
    reference = librosa.resample(x, orig_sr=rates[0], target_sr=rates[1], res_type="scipy")
    assert ours.shape == reference.shape
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6)


@pytest.mark.parametrize("dtype, rtol", [(np.float64, 1e-9), (np.float32, 2e-6)])
def test_resample_clips_equals_resample_fft(dtype, rtol):
    """The batched chirp-z path gives the numbers of the plain FFT resampler, for smooth and
    prime lengths, in batches split by a small element limit and run by two workers."""
    rng = np.random.default_rng(7)
    lengths = [7, 100, 101, 6_000, 6_007, 18_349, 18_350, 20_011, 26_180, 40_000, 47_981]
    clips = [(rng.standard_normal(n) * 3000).astype(dtype) for n in lengths]
    for rates in [(48_000, 8_000), (44_100, 8_000), (4_000, 8_000), (8_000, 8_000)]:
        out = resample_clips(clips, *rates, workers=2, max_elements=1 << 15)
        for x, y in zip(clips, out):
            expected = resample_fft(torch.from_numpy(x.astype(np.float64)), *rates).numpy()
            assert y.shape == expected.shape
            np.testing.assert_allclose(y, expected, rtol=0, atol=rtol * np.abs(expected).max())


def test_waveform_input_is_the_original_percentile_scaling():
    x = padded_clips(5, seed=4)
    expected = x / (np.percentile(x, 95, axis=-1, keepdims=True) + 0.001)
    np.testing.assert_allclose(waveform_input(torch.from_numpy(x)).numpy(), expected, rtol=1e-12)


def test_offsets_are_seeded_deterministic_and_inside_the_padding():
    recordings = [Recording(path=None, speaker=s, digit=d, rep=r) for s in (1, 12) for d in range(10) for r in range(5)]
    lengths = np.random.default_rng(5).integers(1000, 8000, len(recordings))
    first = [offset(int(n), r, seed=0) for n, r in zip(lengths, recordings)]
    assert first == [offset(int(n), r, seed=0) for n, r in zip(lengths, recordings)]
    assert all(0 <= o < 8000 - n for o, n in zip(first, lengths))
    assert first != [offset(int(n), r, seed=1) for n, r in zip(lengths, recordings)]
    assert len(set(first)) > len(first) // 2  # spread, not a constant
    assert offset(8000, recordings[0], seed=0) == 0  # a full-length clip has no room to move


def tiny_corpus(root, make_noise_corpus, seconds=0.05):
    make_noise_corpus(root, speakers=(1, 12), reps=2, seconds=seconds)
    genders = {s: sp.gender for s, sp in read_metadata(root).items()}
    return index_recordings(root), genders


def test_load_signals_on_a_tiny_corpus(tmp_path, make_noise_corpus):
    recordings, genders = tiny_corpus(tmp_path / "corpus", make_noise_corpus)
    cfg = PreprocessConfig()
    s = load_signals(recordings, genders, cfg, tmp_path / "cache", progress=False)
    assert s.waves.shape == (40, 8000) and s.waves.dtype == torch.float32
    assert s.speaker.tolist() == [1] * 20 + [12] * 20
    assert s.gender.tolist() == [0] * 20 + [1] * 20  # speaker 12 is female
    assert s.digit.tolist() == [d for _ in range(2) for d in range(10) for _ in range(2)]
    assert s.labels("digits") is s.digit and s.labels("gender") is s.gender
    assert s.paths == [str(r.path) for r in recordings]
    assert torch.all(s.lengths == 400)  # 0.05 s at 48 kHz = 2400 samples -> 400 at 8 kHz
    for i, r in enumerate(recordings):
        samples, rate = preprocess.read_wav(r.path)
        clip = resample_fft(torch.from_numpy(samples.astype(np.float64)), rate, 8000)
        start, n = int(s.offsets[i]), int(s.lengths[i])
        assert start == offset(n, r, cfg.offset_seed)
        torch.testing.assert_close(s.waves[i, start : start + n].double(), clip, rtol=0, atol=0.05)
        assert not s.waves[i, :start].any() and not s.waves[i, start + n :].any()
    female = s.select(s.gender == 1)
    assert len(female) == 20 and set(female.speaker.tolist()) == {12}


def counting_reads(monkeypatch) -> list:
    """Record every wav that preprocessing decodes."""
    reads = []
    original = preprocess.read_wav

    def read(path):
        reads.append(path)
        return original(path)

    monkeypatch.setattr(preprocess, "read_wav", read)
    return reads


def test_second_load_reads_the_cache(tmp_path, make_noise_corpus, monkeypatch):
    recordings, genders = tiny_corpus(tmp_path / "corpus", make_noise_corpus)
    cfg = PreprocessConfig()
    reads = counting_reads(monkeypatch)
    first = load_signals(recordings, genders, cfg, tmp_path / "cache", progress=False)
    assert len(reads) == 40
    second = load_signals(recordings, genders, cfg, tmp_path / "cache", progress=False)
    assert len(reads) == 40  # nothing decoded again
    assert torch.equal(first.waves, second.waves)


def test_a_parameter_change_rebuilds_the_cache(tmp_path, make_noise_corpus, monkeypatch):
    recordings, genders = tiny_corpus(tmp_path / "corpus", make_noise_corpus)
    reads = counting_reads(monkeypatch)
    fft = load_signals(recordings, genders, PreprocessConfig(resampler="fft"), tmp_path / "cache", progress=False)
    sinc = load_signals(recordings, genders, PreprocessConfig(resampler="sinc"), tmp_path / "cache", progress=False)
    assert len(reads) == 80
    assert len(list((tmp_path / "cache").glob("*.npz"))) == 4  # 2 speakers x 2 resamplers
    assert not torch.equal(fft.waves, sinc.waves)


def test_a_changed_file_rebuilds_its_speaker_only(tmp_path, make_noise_corpus, write_wav, monkeypatch):
    recordings, genders = tiny_corpus(tmp_path / "corpus", make_noise_corpus)
    cfg = PreprocessConfig()
    load_signals(recordings, genders, cfg, tmp_path / "cache", progress=False)
    write_wav(recordings[-1].path, seconds=0.08, seed=99)  # speaker 12's last file
    reads = counting_reads(monkeypatch)
    s = load_signals(recordings, genders, cfg, tmp_path / "cache", progress=False)
    assert {path.parent.name for path in reads} == {"12"} and len(reads) == 20
    assert int(s.lengths[-1]) == 640


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_cache_file_is_rebuilt(tmp_path, make_noise_corpus, monkeypatch, damage):
    recordings, genders = tiny_corpus(tmp_path / "corpus", make_noise_corpus)
    cfg = PreprocessConfig()
    first = load_signals(recordings, genders, cfg, tmp_path / "cache", progress=False)
    entry = sorted((tmp_path / "cache").glob("speaker01-*.npz"))[0]
    raw = entry.read_bytes()
    entry.write_bytes({"truncate": raw[: len(raw) // 2], "garbage": b"not a cache" * 50, "empty": b""}[damage])
    reads = counting_reads(monkeypatch)
    again = load_signals(recordings, genders, cfg, tmp_path / "cache", progress=False)
    assert len(reads) == 20  # speaker 01 decoded again, speaker 12 from its intact entry
    assert torch.equal(first.waves, again.waves)
    with np.load(entry) as z:  # rewritten whole
        assert z["samples"].size == first.lengths[:20].sum()


def test_a_too_long_clip_names_its_file(tmp_path, make_noise_corpus, write_wav):
    recordings, genders = tiny_corpus(tmp_path / "corpus", make_noise_corpus)
    long = write_wav(recordings[3].path, seconds=1.01, seed=5)  # 8080 samples at 8 kHz
    with pytest.raises(CorpusError, match=str(long).replace(".", r"\.") + ".*8080 samples"):
        load_signals(recordings, genders, PreprocessConfig(), tmp_path / "cache", progress=False)


def test_a_speaker_missing_from_the_metadata_is_an_error(tmp_path, make_noise_corpus):
    recordings, genders = tiny_corpus(tmp_path / "corpus", make_noise_corpus)
    del genders[12]
    with pytest.raises(CorpusError, match="speaker 12"):
        load_signals(recordings, genders, PreprocessConfig(), tmp_path / "cache", progress=False)


def test_spectrogram_is_differentiable_with_the_same_values():
    """With a gradient the FFT runs in torch, without it in scipy: the same numbers."""
    x = torch.from_numpy(padded_clips(2, seed=6)).requires_grad_(True)
    s = spectrogram(x)
    torch.testing.assert_close(s.detach(), spectrogram(x.detach()), rtol=0, atol=1e-9)
    s.sum().backward()
    assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0
