"""audiomnist_core.spectral: the paper's STFT grid against scipy.signal.stft/istft and the
preprocessing's spectrogram, bin removal against the obvious per-item loop, and the audible
explanations' properties (identity, linearity, batch = stacked items)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch

from audiomnist_core import preprocess, spectral
from audiomnist_core.errors import AudiomnistError


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _waves(n: int, t: int = 8000, seed: int = 0, dtype=torch.float32) -> torch.Tensor:
    return torch.randn(n, t, generator=_generator(seed), dtype=dtype)


# ------------------------------------------------------------------------------- the STFT grid

@pytest.mark.parametrize("length, n_fft, hop", [(8000, 455, 35), (64, 16, 4), (64, 15, 5), (50, 15, 5)])
def test_stft_and_istft_equal_scipy(length, n_fft, hop):
    x = _waves(3, length, dtype=torch.float64)
    kw = dict(nperseg=n_fft, noverlap=n_fft - hop, window="hann")
    _, _, want = scipy.signal.stft(x.numpy(), **kw)
    spec = spectral.stft(x, n_fft=n_fft, hop=hop)
    assert spec.shape == want.shape == (3, *spectral.grid_shape(length, n_fft=n_fft, hop=hop))
    np.testing.assert_allclose(spec.numpy(), want, rtol=1e-10, atol=1e-13)
    g = np.random.default_rng(1)
    other = want + 0.1 * (g.standard_normal(want.shape) + 1j * g.standard_normal(want.shape))  # not an STFT of anything
    _, inverse = scipy.signal.istft(other, **kw)
    got = spectral.istft(torch.from_numpy(other), length, n_fft=n_fft, hop=hop)
    np.testing.assert_allclose(got.numpy(), inverse[..., :length], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(spectral.istft(spec, length, n_fft=n_fft, hop=hop), x)


def test_paper_grid_is_the_preprocessing_one():
    assert spectral.grid_shape(8000) == (228, 230)
    x = _waves(2) * 1000
    crop = spectral.stft(x)[:, : preprocess.FREQ_BINS, preprocess.FIRST_FRAME : preprocess.FIRST_FRAME + preprocess.TIME_FRAMES]
    torch.testing.assert_close(crop.abs(), preprocess.magnitude(x), rtol=1e-4, atol=1e-3)


def test_overlap_norm_and_errors():
    norm = spectral.overlap_norm(8000)
    w2 = spectral.window().square()
    t = 4000  # sum over the frames m covering it: sample t sits at n = t + 227 - 35 m of frame m
    assert norm[t] == pytest.approx(sum(float(w2[t + 227 - 35 * m]) for m in range(230) if 0 <= t + 227 - 35 * m < 455))
    with pytest.raises(AudiomnistError, match="samples, not"):
        spectral.istft(spectral.stft(_waves(1)), 9000)
    with pytest.raises(AudiomnistError, match="hop"):
        spectral.grid_shape(100, n_fft=16, hop=17)


# ---------------------------------------------------------------------------- removing bins

def _remove_bins_loop(waves, scores, fraction, strategy, seed):
    """One waveform at a time in numpy: zero the chosen bins, invert."""
    t = waves.shape[-1]
    k = t // 2 + 1
    count = round(fraction * k)
    draws = torch.rand(waves.shape[0], k, generator=_generator(seed)).numpy()
    out = []
    for i, x in enumerate(waves.numpy()):
        spec = np.fft.rfft(x)
        score = {"relevance": scores[i].numpy(), "magnitude": np.abs(spec), "random": draws[i]}[strategy]
        spec[np.argsort(-score, kind="stable")[:count]] = 0
        out.append(np.fft.irfft(spec, n=t))
    return np.stack(out)


@pytest.mark.parametrize("strategy", spectral.BIN_STRATEGIES)
@pytest.mark.parametrize("fraction", [0.1, 0.37, 0.9])
@pytest.mark.parametrize("length", [64, 63])
def test_remove_bins_equals_loop(strategy, fraction, length):
    x = _waves(4, length, seed=2, dtype=torch.float64)
    scores = torch.randn(4, length // 2 + 1, generator=_generator(3), dtype=torch.float64)
    got = spectral.remove_bins(x, scores, fraction, strategy, generator=_generator(4))
    np.testing.assert_allclose(got.numpy(), _remove_bins_loop(x, scores, fraction, strategy, 4), atol=1e-12)
    kept = torch.fft.rfft(got).abs() > 1e-9
    assert (~kept).sum(-1).tolist() == [round(fraction * (length // 2 + 1))] * 4


def test_remove_bins_ends_and_rounding():
    x = _waves(3, 64, seed=5)
    scores = torch.randn(3, 33, generator=_generator(6))
    assert torch.equal(spectral.remove_bins(x, scores, 0.0, "relevance"), x)
    torch.testing.assert_close(spectral.remove_bins(x, None, 1.0, "magnitude"), torch.zeros_like(x), atol=1e-5, rtol=0)
    # 0.5 of 5 bins (T = 8) is 2.5: rounded half to even, 2 bins go, those of the largest scores.
    tone = torch.cos(2 * torch.pi * torch.arange(8.0)[None] * torch.arange(5.0)[:, None] / 8).sum(0, keepdim=True)
    left = spectral.remove_bins(tone, torch.tensor([[0.0, 3.0, 1.0, 2.0, -1.0]]), 0.5, "relevance")
    assert (torch.fft.rfft(left).abs()[0] > 1e-5).tolist() == [True, False, True, False, True]
    with pytest.raises(AudiomnistError, match="generator"):
        spectral.remove_bins(x, None, 0.5, "random")
    with pytest.raises(AudiomnistError, match="scores of shape"):
        spectral.remove_bins(x, scores[:, :10], 0.5, "relevance")
    with pytest.raises(AudiomnistError, match="outside"):
        spectral.remove_bins(x, scores, 1.5, "magnitude")
    with pytest.raises(AudiomnistError, match="unknown bin strategy"):
        spectral.remove_bins(x, scores, 0.5, "amplitude")


# ----------------------------------------------------------------------- audible explanations

def test_relevance_weighted():
    x = _waves(3, 100, seed=7)
    r = torch.randn(3, 100, generator=_generator(8))
    r[2] = -r[2].abs()  # no positive relevance: silence
    got = spectral.relevance_weighted(x, r)
    for i in range(2):
        torch.testing.assert_close(got[i], x[i] * r[i].clamp_min(0) / r[i].max())
    assert torch.equal(got[2], torch.zeros(100))
    torch.testing.assert_close(spectral.relevance_weighted(x, 7 * r), got)  # the relevance's scale does not matter


def test_without_most_relevant():
    x = _waves(2, 100, seed=9) + 10  # no zero samples
    r = torch.randn(2, 100, generator=_generator(10))
    r[1, :5] = r[1, :5].abs() + 0.1
    r[1, 5:] = -1.0  # only five positive samples
    got = spectral.without_most_relevant(x, r, 0.1)
    for i, n in [(0, 10), (1, 5)]:
        zeroed = (got[i] == 0).nonzero().flatten()
        assert sorted(zeroed.tolist()) == sorted(r[i].argsort(descending=True)[:n].tolist())
    assert torch.equal(got[got != 0], x[got != 0])
    assert torch.equal(spectral.without_most_relevant(x, r, 0.0), x)


def test_relevance_mask():
    r = torch.randn(2, 1, 227, 227, generator=_generator(11))
    mask = spectral.relevance_mask(r, 8000)
    assert mask.shape == (2, 228, 230)
    inside = mask[:, :227, 2:229]
    torch.testing.assert_close(inside, r[:, 0].clamp_min(0) / r[:, 0].amax((-2, -1), keepdim=True))
    border = mask.clone()
    border[:, :227, 2:229] = 0
    assert border.abs().max() == 0 and inside.amax((-2, -1)).tolist() == [1.0, 1.0]
    with pytest.raises(AudiomnistError, match="227"):
        spectral.relevance_mask(torch.zeros(2, 228, 230), 8000)


def test_resynthesis_identity_linearity_and_batch():
    x = _waves(3, seed=12) * 1000
    r = torch.randn(3, 227, 227, generator=_generator(13))
    torch.testing.assert_close(spectral.resynthesise(x, torch.ones(3, 228, 230)), x, rtol=0, atol=1e-5 * x.abs().max().item())
    masked = spectral.masked_resynthesis(x, r)
    rest = spectral.masked_resynthesis(x, r, complement=True)
    assert masked.shape == rest.shape == x.shape and masked.dtype == x.dtype
    torch.testing.assert_close(masked + rest, x, rtol=0, atol=1e-5 * x.abs().max().item())
    stacked = torch.cat([spectral.masked_resynthesis(x[i : i + 1], r[i : i + 1]) for i in range(3)])
    torch.testing.assert_close(masked, stacked)
    silent = spectral.masked_resynthesis(x, -r.abs())  # nothing positive: nothing to hear
    assert silent.abs().max() == 0


def test_resynthesis_keeps_the_relevant_band():
    # Tones on rows 25 and 100 of the 455-point grid: a whole Hann-windowed frame of each has
    # rows 24..26 (99..101) only, so a mask on rows 22..28 separates them exactly.
    t = torch.arange(8000, dtype=torch.float64)
    low, high = torch.cos(2 * torch.pi * 25 * t / 455), torch.cos(2 * torch.pi * 100 * t / 455 + 1.0)
    r = torch.zeros(1, 227, 227, dtype=torch.float64)
    r[:, 22:29] = 1.0
    middle = slice(1000, 7000)  # away from the frames outside AlexNet's crop
    got = spectral.masked_resynthesis((low + high)[None], r)[0]
    torch.testing.assert_close(got[middle], low[middle], rtol=0, atol=1e-9)
    rest = spectral.masked_resynthesis((low + high)[None], r, complement=True)[0]
    torch.testing.assert_close(rest[middle], high[middle], rtol=0, atol=1e-9)
