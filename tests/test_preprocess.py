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
    INPUT_LENGTH,
    TIME_FRAMES,
    TOP_DB,
    crop_window,
    fit_clip,
    load_signals,
    magnitude,
    offset,
    resample_clips,
    resample_fft,
    spectrogram,
    trim_frames,
    trim_silence,
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


def test_a_too_long_clip_names_its_file_its_duration_and_the_fit_that_takes_it(tmp_path, make_noise_corpus, write_wav):
    recordings, genders = tiny_corpus(tmp_path / "corpus", make_noise_corpus)
    long = write_wav(recordings[3].path, seconds=1.01, seed=5)  # 8080 samples at 8 kHz
    write_wav(recordings[7].path, seconds=1.5, seed=6)  # a later one: the first is named
    with pytest.raises(CorpusError) as err:
        load_signals(recordings, genders, PreprocessConfig(), tmp_path / "cache", progress=False)
    message = str(err.value)
    assert message.startswith(f"{long}: 1.010 s at 8000 Hz exceed the 1 s input; ")
    assert "preprocess.fit: trim_crop" in message and "--fit trim_crop" in message
    assert "length" not in message and "\n" not in message
    assert not list((tmp_path / "cache").glob("speaker01-*.npz"))  # nothing cached for the failed speaker


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


# --- fitting a recording into the one second (preprocess.fit) -----------------------------

FRAMES = trim_frames(8000)  # (512, 128): the frames the pipeline trims with


def speech_like(seed: int, *, word_s: float = 0.5, silence_s=(0.1, 0.8), noise_db: float = -70.0, rate: int = 8000):
    """A word-like float32 clip ``(T,)`` on the int16 scale, and where its word lies.

    One to three voiced syllables (harmonics of a 90-260 Hz fundamental under smooth
    envelopes, ``word_s`` seconds in all), between leading and trailing silence of
    ``silence_s`` seconds each that holds white noise ``noise_db`` below the word's peak.
    Returns ``(clip, start, end)``, the word being ``clip[start:end]``.
    """
    rng = np.random.default_rng(seed)
    n = int(word_s * rate)
    t = np.arange(n) / rate
    f0 = rng.uniform(90, 260)
    voiced = sum(rng.uniform(0.2, 1.0) / k * np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 2 * np.pi)) for k in range(1, 12))
    envelope = np.zeros(n)
    bounds = np.sort(rng.choice(np.arange(1, n), int(rng.integers(0, 3)), replace=False))
    for a, b in zip(np.r_[0, bounds], np.r_[bounds, n]):
        envelope[a:b] = np.sin(np.pi * np.arange(b - a) / (b - a)) ** rng.uniform(0.5, 2.0) * rng.uniform(0.4, 1.0)
    word = voiced * envelope
    word *= rng.uniform(300, 20000) / np.abs(word).max()
    lead, tail = (int(rng.uniform(*silence_s) * rate) for _ in range(2))
    noise = rng.standard_normal(lead + n + tail) * np.abs(word).max() * 10 ** (noise_db / 20)
    clip = noise.copy()
    clip[lead : lead + n] += word
    return clip.astype(np.float32), lead, lead + n


@pytest.mark.parametrize("frames", [FRAMES, (2048, 512), (455, 35), (301, 77)])
@pytest.mark.parametrize("top_db", [30.0, 60.0])
@pytest.mark.parametrize("noise_db", [-95.0, -70.0, -45.0])
def test_trim_silence_matches_librosa(frames, top_db, noise_db):
    for seed in range(6):
        x, _, _ = speech_like(seed, noise_db=noise_db)
        _, reference = librosa.effects.trim(x, top_db=top_db, frame_length=frames[0], hop_length=frames[1])
        assert trim_silence(x, top_db, *frames) == tuple(reference), seed


def test_trim_silence_cuts_quiet_silence_back_to_the_word_within_a_frame():
    frame_length, hop = FRAMES
    for seed in range(10):
        x, start, end = speech_like(seed, noise_db=-80.0)
        s, e = trim_silence(x, 60.0, frame_length, hop)
        # the centred frames stop up to half a frame before the word and a hop plus half a frame after it
        assert start - (frame_length // 2 + hop) <= s <= start, seed
        assert end <= e <= end + frame_length // 2 + hop, seed
        # silence louder than the threshold is kept
        loud, _, _ = speech_like(seed, noise_db=-40.0)
        assert trim_silence(loud, 60.0, frame_length, hop) == (0, loud.size)


def test_trim_silence_edge_cases_as_librosa():
    for x in (np.zeros(3000, np.float32), np.ones(700, np.float32), np.r_[np.zeros(2000), 1.0, np.zeros(2000)].astype(np.float32)):
        assert trim_silence(x, 60.0, *FRAMES) == tuple(librosa.effects.trim(x, top_db=60, frame_length=FRAMES[0], hop_length=FRAMES[1])[1])
    assert trim_silence(np.zeros(0), 60.0, *FRAMES) == (0, 0)
    assert trim_silence(np.full(10, 5.0), 60.0, *FRAMES) == (0, 10)  # shorter than a frame


def test_crop_window_keeps_the_window_of_highest_energy():
    rng = np.random.default_rng(11)
    for _ in range(200):
        x = rng.integers(-50, 50, int(rng.integers(1, 300))).astype(np.float64)  # integers: exact sums, exact ties
        length = int(rng.integers(1, x.size + 20))
        energies = [float(np.sum(x[i : i + length] ** 2)) for i in range(max(1, x.size - length + 1))]
        assert crop_window(x, length) == int(np.argmax(energies))  # the first of equal windows
    x, start, end = speech_like(3, word_s=1.6, noise_db=-80.0)
    chosen = crop_window(x, 8000)
    assert start <= chosen and chosen + 8000 <= end  # the window lies inside the word


def test_fit_clip_modes():
    x, start, end = speech_like(5, word_s=1.4, noise_db=-80.0)  # 1.4 s of word in silence
    n = x.size
    assert fit_clip(x, "error") == (0, n, 0, 0)
    s, e = trim_silence(x, 60.0, *FRAMES)
    assert fit_clip(x, "trim") == (s, e, n - (e - s), 0) and e - s > INPUT_LENGTH
    fit = fit_clip(x, "trim_crop")
    assert fit.end - fit.start == INPUT_LENGTH and s <= fit.start and fit.end <= e
    assert fit.start == s + crop_window(x[s:e], INPUT_LENGTH)
    assert (fit.end - fit.start) + fit.trimmed + fit.cropped == n and fit.trimmed == n - (e - s)
    short, _, _ = speech_like(6, word_s=0.5, noise_db=-80.0)
    assert fit_clip(short, "trim_crop") == fit_clip(short, "trim") and fit_clip(short, "trim").cropped == 0
    assert fit_clip(x, "trim", top_db=20.0) != fit_clip(x, "trim")  # trim_db decides
    with pytest.raises(ValueError, match="error, trim, trim_crop"):
        fit_clip(x, "crop")


def test_a_real_recording_in_added_silence_trims_back_close_to_itself(real_sample, tmp_path, write_wav, write_metadata):
    """Real AudioMNIST recordings with 0.4 s of digital silence written around them (as a 48 kHz
    int16 file) come back from ``fit: trim`` about as long as they were: the added silence is
    cut except for the margin of the frames (at most half a frame and a hop on each side)."""
    recordings = index_recordings(real_sample)[::5]
    corpus = tmp_path / "padded" / "data"
    write_metadata(corpus, sorted({r.speaker for r in recordings}))
    pad = 19_200  # 0.4 s at 48 kHz: 3200 samples at 8 kHz
    for r in recordings:
        samples, rate = preprocess.read_wav(r.path)
        assert rate == 48_000
        padded = np.r_[np.zeros(pad), samples, np.zeros(pad)] / 32768.0
        write_wav(corpus / f"{r.speaker:02d}" / r.path.name, padded, rate=rate)
    genders = {s: sp.gender for s, sp in read_metadata(corpus).items()}
    cfg = PreprocessConfig(fit="trim")
    plain = load_signals(recordings, genders, PreprocessConfig(), tmp_path / "cache", progress=False)
    trimmed = load_signals(index_recordings(corpus.parent), genders, cfg, tmp_path / "cache", progress=False)
    assert trimmed.paths != plain.paths and len(trimmed) == len(plain) == len(recordings)
    margin = 2 * (FRAMES[0] // 2 + FRAMES[1])
    grown = (trimmed.lengths - plain.lengths).numpy()
    print(f"trimmed back to within {grown.min()}..{grown.max()} samples of the originals' {plain.lengths.tolist()}")
    assert np.all(grown >= 0) and np.all(grown <= margin)
    assert torch.all(trimmed.trimmed > 6400 - margin) and torch.all(trimmed.cropped == 0)
    with pytest.raises(CorpusError, match=r"exceed the 1 s input; set preprocess\.fit: trim_crop"):
        load_signals(index_recordings(corpus.parent), genders, PreprocessConfig(), tmp_path / "cache", progress=False)


def write_speech(write_wav, path, seed: int, **kwargs):
    """A :func:`speech_like` clip at 8 kHz as an int16 wav, written by the ``write_wav`` fixture."""
    x, _, _ = speech_like(seed, **kwargs)
    return write_wav(path, x / 32768.0, rate=8000)


def test_trim_leaves_a_long_word_an_error_that_points_to_trim_crop(tmp_path, make_noise_corpus, write_wav):
    recordings, genders = tiny_corpus(tmp_path / "corpus", make_noise_corpus)
    long = write_speech(write_wav, recordings[4].path, 1, word_s=1.3, noise_db=-80.0)
    with pytest.raises(CorpusError) as err:
        load_signals(recordings, genders, PreprocessConfig(fit="trim"), tmp_path / "cache", progress=False)
    message = str(err.value)
    assert message.startswith(f"{long}: ") and "after trimming its silence (60 dB below its loudest frame)" in message
    assert "preprocess.fit: trim_crop" in message and "\n" not in message


def test_trim_crop_fits_counts_and_says_what_it_cut(tmp_path, make_noise_corpus, write_wav, capsys):
    recordings, genders = tiny_corpus(tmp_path / "corpus", make_noise_corpus)
    write_speech(write_wav, recordings[3].path, 2, word_s=1.5, noise_db=-80.0)  # trimmed and cropped
    write_speech(write_wav, recordings[5].path, 3, word_s=0.4, silence_s=(0.4, 0.5), noise_db=-80.0)  # trimmed only
    s = load_signals(recordings, genders, PreprocessConfig(fit="trim_crop"), tmp_path / "cache", progress=False)
    assert s.waves.shape == (40, INPUT_LENGTH) and int(s.lengths.max()) == INPUT_LENGTH
    assert int(s.lengths[3]) == INPUT_LENGTH and s.cropped[3] > 0 and s.trimmed[3] > 0
    assert int(s.cropped[5]) == 0 and s.trimmed[5] > 0 and int(s.lengths[5]) < 0.6 * 8000
    assert torch.all(s.trimmed[[i for i in range(40) if i not in (3, 5)]] == 0)  # noise bursts: no silence
    report = s.fit_report("trim_crop")
    assert (report.fit, report.recordings, report.trimmed, report.cropped) == ("trim_crop", 40, 2, 1)
    assert report.seconds_before == pytest.approx(float((s.lengths + s.trimmed + s.cropped).sum()) / 8000)
    assert report.seconds_trimmed == pytest.approx(float(s.trimmed.sum()) / 8000) and report.seconds_cropped > 0.4
    assert report.to_dict()["cropped"] == 1
    err = capsys.readouterr().err  # not silent, even without progress
    assert err.count("\n") == 1 and "2 of 40 recordings trimmed" in err and "1 cropped" in err
    assert str(recordings[3].path) in err
    part = s.select(torch.tensor([3, 5]))
    assert part.cropped.tolist() == [int(s.cropped[3]), 0] and part.trimmed.tolist() == s.trimmed[[3, 5]].tolist()
    assert part.fit_report("trim_crop").cropped == 1


def test_the_cache_is_keyed_by_the_fit(tmp_path, make_noise_corpus, write_wav, monkeypatch):
    recordings, genders = tiny_corpus(tmp_path / "corpus", make_noise_corpus)
    write_speech(write_wav, recordings[3].path, 2, word_s=0.4, silence_s=(0.2, 0.25), noise_db=-50.0)
    keys = {
        (fit, db): preprocess._speaker_key(recordings[:20], PreprocessConfig(fit=fit, trim_db=db))
        for fit in ("error", "trim", "trim_crop") for db in (60.0, 40.0)
    }
    assert keys[("error", 60.0)] == keys[("error", 40.0)]  # trim_db means nothing without trimming
    assert len(set(keys.values())) == 5
    reads = counting_reads(monkeypatch)
    cache = tmp_path / "cache"
    first = load_signals(recordings, genders, PreprocessConfig(fit="trim"), cache, progress=False)
    again = load_signals(recordings, genders, PreprocessConfig(fit="trim"), cache, progress=False)
    assert len(reads) == 40 and torch.equal(first.waves, again.waves) and torch.equal(first.trimmed, again.trimmed)
    strict = load_signals(recordings, genders, PreprocessConfig(fit="trim", trim_db=40.0), cache, progress=False)
    assert len(reads) == 80 and len(list(cache.glob("*.npz"))) == 4
    assert int(first.trimmed[3]) == 0 < int(strict.trimmed[3])  # noise 50 dB down: silence only at 40 dB


# --- AudioNet's robust normalisation (preprocess.waveform_norm: robust) ---------------------

def robust_reference(x: np.ndarray) -> np.ndarray:
    """The robust normalisation the slow, obvious way, in float64, one row at a time."""
    out = np.zeros_like(x, dtype=np.float64)
    for i, row in enumerate(x.astype(np.float64)):
        active = row != 0
        if not active.any():
            continue
        centred = row.copy()
        centred[active] -= row[active].mean()
        mag = np.abs(centred)
        nonzero = mag[mag != 0]
        p95 = np.percentile(nonzero, 95) if nonzero.size else 0.0
        divisor = max(p95, preprocess.ROBUST_FLOOR * mag.max(), preprocess.ROBUST_MIN_DIVISOR)
        out[i] = centred / divisor
    return out


def real_like_clips(seed: int) -> np.ndarray:
    """``(8, 8000)`` int16-scale clips of what real recordings do to the original scaling: DC
    offsets of either sign, a short quiet word in a long padding, a clipped word, a lone sample,
    silence, and two ordinary words."""
    rng = np.random.default_rng(seed)
    x = np.zeros((8, 8000))
    word = lambda n, level: level * rng.normal(0, 1, n) * np.hanning(n)  # noqa: E731
    x[0, 1000:6000] = word(5000, 150) - 300  # a quiet word with a negative DC offset
    x[1, 2000:7000] = word(5000, 800) + 300  # positive DC offset
    x[2, 3000:3250] = word(250, 50)  # a 31 ms word: under 5 % of the samples are positive
    x[3, 500:7500] = np.clip(word(7000, 30000), -32768, 32767)  # clipped
    x[4, 4000] = 17.0
    x[6, 100:7900] = word(7800, 2000)
    x[7, 0:8000] = word(8000, 500) + rng.normal(0, 5, 8000)
    return x  # row 5: silence


def test_robust_normalisation_equals_its_float64_reference():
    x = np.concatenate([real_like_clips(0), padded_clips(6, seed=9)])
    got = waveform_input(torch.from_numpy(x), "robust").numpy()
    np.testing.assert_allclose(got, robust_reference(x), rtol=1e-10, atol=1e-12)


def test_robust_normalisation_is_bounded_where_the_original_blows_up():
    x = torch.from_numpy(real_like_clips(1)).float()
    original = waveform_input(x, "original").abs().amax(-1)
    robust = waveform_input(x, "robust").abs().amax(-1)
    assert original[[0, 2]].min() > 1e3  # a negative DC offset, a short word: the divisor is near 0.001
    assert robust.max() <= 1 / preprocess.ROBUST_FLOOR + 1e-4
    assert torch.isfinite(robust).all() and robust[5] == 0  # silence stays silence


def test_robust_normalisation_removes_dc_keeps_padding_and_ignores_level():
    x = torch.from_numpy(padded_clips(4, seed=2)[:4]).float()
    base = waveform_input(x, "robust")
    shifted = torch.where(x != 0, x + 250.37, x)
    torch.testing.assert_close(waveform_input(shifted, "robust"), base, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(waveform_input(3.0 * x, "robust"), base, rtol=1e-5, atol=1e-6)
    assert bool((base[x == 0] == 0).all())


def test_robust_normalisation_batch_equals_stacked_items_and_model_input_passes_it_on():
    x = torch.from_numpy(real_like_clips(3)).float()
    stacked = torch.cat([waveform_input(x[i : i + 1], "robust") for i in range(len(x))])
    torch.testing.assert_close(waveform_input(x, "robust"), stacked)
    torch.testing.assert_close(preprocess.model_input("waveform", x, norm="robust")[:, 0], stacked)
    torch.testing.assert_close(waveform_input(x.reshape(2, 4, -1), "robust").reshape(8, -1), stacked)
    with pytest.raises(ValueError, match="robust"):
        waveform_input(x, "loudest")


def test_nonzero_percentile_is_numpys_over_the_nonzero_entries():
    x = padded_clips(5, seed=6)
    got = preprocess.nonzero_percentile(torch.from_numpy(np.abs(x)), 0.95).numpy()[:, 0]
    want = [np.percentile(np.abs(r[r != 0]), 95) if (r != 0).any() else 0.0 for r in x]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_fit_figure_shows_each_recording_by_what_fitting_did():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from audiomnist_core.plots.dataset import fit_figure

    before = np.array([0.6, 0.9, 1.4, 2.0, 0.5])
    after = np.array([0.6, 0.7, 0.95, 1.0, 0.5])
    fig = fit_figure(before, after, np.array([False, False, False, True, False]), limit_s=1.0, caption="c")
    hist, scatter = fig.axes
    labels = scatter.get_legend_handles_labels()[1]
    assert labels == ["kept whole (2)", "trimmed, not cropped (2)", "cropped (1)"]
    assert sum(len(c.get_offsets()) for c in scatter.collections) == 5
    assert hist.get_title() == "5 recordings"
    plt.close(fig)
