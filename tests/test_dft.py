"""DFT-LRP (audiomnist_core.explain.dft) against an explicit float64 reference: the inverse
transform as an ``nn.Linear`` layer (real and imaginary parts of the components as its input
features, scipy's inverse transforms as its weights) explained by zennit's Epsilon rule; and
its properties (conservation, batch = stacked items, tones, silent samples), and the band
shares that make AudioNet's and AlexNet's relevance comparable."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import torch
from torch import nn
from zennit.attribution import Gradient
from zennit.composites import LayerMapComposite
from zennit.rules import Epsilon

from audiomnist_core import explain
from audiomnist_core.errors import AudiomnistError
from audiomnist_core.explain import analysis, dft


def _generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _zennit_epsilon(weight: np.ndarray, features: np.ndarray, relevance: np.ndarray, epsilon: float) -> np.ndarray:
    """Relevance of the input features of ``y = weight @ a`` by zennit's Epsilon rule, float64."""
    layer = nn.Linear(weight.shape[1], weight.shape[0], bias=False).double()
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(weight))
    composite = LayerMapComposite([(nn.Linear, Epsilon(epsilon=epsilon))])
    with Gradient(layer, composite) as attributor:
        _, rel = attributor(torch.from_numpy(features).requires_grad_(), torch.from_numpy(relevance))
    return rel.numpy()


def _reference_frequency(relevance: np.ndarray, signal: np.ndarray, epsilon: float) -> np.ndarray:
    """DFT-LRP the slow way: the T x 2K inverse real DFT explained by zennit."""
    t = signal.shape[-1]
    k = t // 2 + 1
    basis = np.concatenate([np.eye(k), 1j * np.eye(k)])  # (2K, K): unit real, then imaginary parts
    weight = np.fft.irfft(basis, n=t, axis=-1).T  # (T, 2K)
    spec = np.fft.rfft(signal, axis=-1)
    rel = _zennit_epsilon(weight, np.concatenate([spec.real, spec.imag], axis=-1), relevance, epsilon)
    return rel[:, :k] + rel[:, k:]


def _reference_time_frequency(relevance: np.ndarray, signal: np.ndarray, epsilon: float, n_fft: int, hop: int) -> np.ndarray:
    """The same with scipy's inverse STFT: one weight column per real/imaginary part of a bin."""
    t = signal.shape[-1]
    kw = dict(nperseg=n_fft, noverlap=n_fft - hop, window="hann")
    _, _, spec = scipy.signal.stft(signal, **kw)  # (N, F, M)
    n_bins = spec.shape[1] * spec.shape[2]
    units = np.eye(n_bins).reshape(n_bins, *spec.shape[1:])
    _, columns = scipy.signal.istft(np.concatenate([units, 1j * units]), **kw)  # (2 F M, T')
    weight = columns[:, :t].T
    flat = spec.reshape(spec.shape[0], -1)
    rel = _zennit_epsilon(weight, np.concatenate([flat.real, flat.imag], axis=-1), relevance, epsilon)
    return (rel[:, :n_bins] + rel[:, n_bins:]).reshape(spec.shape)


def _signal_and_relevance(n: int, t: int, seed: int = 0, dtype=torch.float64):
    g = _generator(seed)
    return torch.randn(n, t, generator=g, dtype=dtype), torch.randn(n, t, generator=g, dtype=dtype)


@pytest.mark.parametrize("length", [64, 63])  # with and without a Nyquist bin
def test_frequency_equals_zennit_reference(length):
    x, r = _signal_and_relevance(3, length)
    epsilon = 0.1  # large enough that a wrong stabiliser shows
    got = dft.dft_relevance(r, x, "frequency", epsilon)
    assert got.shape == (3, length // 2 + 1) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), _reference_frequency(r.numpy(), x.numpy(), epsilon), rtol=1e-9, atol=1e-11)


@pytest.mark.parametrize("n_fft, hop", [(16, 4), (15, 5)])  # even window; odd window with scipy's end padding
def test_time_frequency_equals_zennit_reference(n_fft, hop):
    x, r = _signal_and_relevance(2, 64, seed=1)
    epsilon = 0.1
    got = dft.dft_relevance(r, x, "time-frequency", epsilon, n_fft=n_fft, hop=hop)
    want = _reference_time_frequency(r.numpy(), x.numpy(), epsilon, n_fft, hop)
    assert got.shape == want.shape
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-9, atol=1e-11)


def test_paper_grid_shape_and_conservation():
    x, r = _signal_and_relevance(2, 8000, seed=2)
    x = x + 0.5 * torch.where(x >= 0, 1.0, -1.0).double()  # no sample near zero
    kept = (r * x / (x + 1e-6 * x.sign())).sum(-1)  # what the stabiliser leaves
    for domain, shape in [("frequency", (2, 4001)), ("time-frequency", (2, 228, 230))]:
        bins = dft.dft_relevance(r, x, domain)
        assert bins.shape == shape
        total = bins.reshape(2, -1).sum(-1)
        torch.testing.assert_close(total, kept, rtol=1e-10, atol=1e-9)
        torch.testing.assert_close(total, r.sum(-1), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("domain", dft.DOMAINS)
def test_batch_equals_stacked_items(domain):
    x, r = _signal_and_relevance(3, 8000, seed=3, dtype=torch.float32)
    batch = dft.dft_relevance(r, x, domain)
    assert batch.dtype == torch.float32
    stacked = torch.cat([dft.dft_relevance(r[i : i + 1], x[i : i + 1], domain) for i in range(3)])
    torch.testing.assert_close(batch, stacked)


@pytest.mark.parametrize("domain", dft.DOMAINS)
def test_zero_relevance_passes_nothing(domain):
    x, r = _signal_and_relevance(2, 64, seed=4)
    r[1] = 0.0
    kw = dict(n_fft=16, hop=4)
    bins = dft.dft_relevance(r, x, domain, **kw)
    assert bins[1].abs().max() == 0 and bins[0].abs().max() > 0
    # Linear in the relevance: the samples a relevance leaves at zero add nothing to the bins.
    first = r.clone()
    first[:, 32:] = 0.0
    split = dft.dft_relevance(first, x, domain, **kw) + dft.dft_relevance(r - first, x, domain, **kw)
    torch.testing.assert_close(split, bins, rtol=1e-12, atol=1e-12)


def test_pure_tone_lands_on_its_bin():
    t = torch.arange(8000, dtype=torch.float64)
    tone = torch.cos(2 * torch.pi * 440 * t / 8000 + 0.3)[None]  # 440 Hz, bin 440 of 8000 samples
    r = torch.rand(1, 8000, generator=_generator(5), dtype=torch.float64)
    bins = dft.dft_relevance(r, tone, "frequency")[0]
    assert int(bins.abs().argmax()) == 440
    assert bins.abs().sum() - bins[440].abs() < 1e-9 * bins[440].abs()
    # Time-frequency: a tone on row 25 of the 455-point grid; with relevance inside the signal
    # every frame that shares it is a whole frame, whose Hann spectrum has rows 24..26 only.
    tone = torch.cos(2 * torch.pi * 25 * t / 455 + 0.3)[None]
    r[:, :1000] = 0.0
    r[:, 7000:] = 0.0
    grid = dft.dft_relevance(r, tone, "time-frequency")[0]
    rows = grid.abs().sum(-1)
    assert rows[24:27].sum() > (1 - 1e-9) * rows.sum()


def test_silent_samples_stay_finite_and_bounded():
    x, r = _signal_and_relevance(2, 8000, seed=6)
    x[:, :3000] = 0.0  # zero padding that carries relevance
    silent = x == 0
    epsilon = 1e-6
    for domain in dft.DOMAINS:
        bins = dft.dft_relevance(r, x, domain, epsilon)
        assert torch.isfinite(bins).all()
        # The components cancel on a silent sample: its relevance adds nothing to the total ...
        padding = dft.dft_relevance(r * silent, x, domain, epsilon)
        scale = padding.abs().max()
        assert scale > 1e3 * r.abs().max()  # ... but is large in each bin
        assert padding.reshape(2, -1).sum(-1).abs().max() < 1e-9 * scale
    # ... and at most (w_k / T) |X_k| sum |R_t| / epsilon per DFT bin.
    padding = dft.dft_relevance(r * silent, x, "frequency", epsilon)
    bound = dft.bin_multiplicity(8000) / 8000 * torch.fft.rfft(x).abs() * (r * silent).abs().sum(-1, keepdim=True) / epsilon
    assert (padding.abs() <= bound * (1 + 1e-9)).all()


def test_dtypes_and_errors():
    x, r = _signal_and_relevance(1, 64, seed=7, dtype=torch.float16)
    half = dft.dft_relevance(r, x, "frequency", 1e-3)
    assert half.dtype == torch.float16 and torch.isfinite(half).all()
    with pytest.raises(AudiomnistError, match="domain"):
        dft.dft_relevance(r, x, "wavelet")
    with pytest.raises(AudiomnistError, match=r"\(N, T\)"):
        dft.dft_relevance(r[:, :10], x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("domain", dft.DOMAINS)
def test_on_cuda_equals_cpu(domain):
    x, r = _signal_and_relevance(2, 8000, seed=8)
    cuda = dft.dft_relevance(r.cuda(), x.cuda(), domain)
    assert cuda.device.type == "cuda"
    torch.testing.assert_close(cuda.cpu(), dft.dft_relevance(r, x, domain), rtol=1e-9, atol=1e-9)


# ------------------------------------------------------------------ frequencies and band shares

def test_dft_frequencies():
    f = dft.dft_frequencies(8000)
    assert f.shape == (4001,) and f[1] == 1.0 and f[-1] == 4000.0
    np.testing.assert_allclose(dft.dft_frequencies(455)[:227], analysis.spectrogram_frequencies())
    assert dft.dft_frequencies(455, rate=16000)[1] == pytest.approx(16000 / 455)


def test_band_shares_of_a_tone_agree_between_domains():
    t = torch.arange(8000, dtype=torch.float64)
    tone = torch.cos(2 * torch.pi * 300 * t / 8000 + 0.3)[None]  # 300 Hz: band 250-500 Hz
    r = torch.rand(1, 8000, generator=_generator(9), dtype=torch.float64)
    freq = analysis.frequency_band_shares(dft.dft_relevance(r, tone, "frequency"), dft.dft_frequencies(8000))
    np.testing.assert_allclose(freq, [[0.0, 1.0, 0.0, 0.0, 0.0]], atol=1e-9)
    # The STFT's frames see the tone off their bins and cut at the signal's ends: Hann leakage
    # moves a little relevance to other bands.
    grid = dft.dft_relevance(r, tone, "time-frequency")
    tf = analysis.frequency_band_shares(grid, dft.dft_frequencies(455))
    assert tf.shape == (1, 5) and tf[0, 1] > 0.98


def test_frequency_band_shares_generalise_band_shares():
    g = np.random.default_rng(10)
    r = g.standard_normal((2, 227, 227))
    np.testing.assert_array_equal(explain.band_shares(r), analysis.frequency_band_shares(r, analysis.spectrogram_frequencies()))
    per_bin = np.zeros((2, 5))
    per_bin[0] = [1.0, -3.0, 2.0, 1.0, 0.0]  # bins at 0, 250, 500, 750, 1000 Hz
    shares = analysis.frequency_band_shares(per_bin, [0, 250, 500, 750, 1000], bands_hz=(0, 500, 1000))
    np.testing.assert_allclose(shares[0], [0.25, 0.75])  # 1000 Hz is in the last band, -3 does not count
    assert np.isnan(shares[1]).all()
    with pytest.raises(AudiomnistError, match="one frequency per bin"):
        analysis.frequency_band_shares(per_bin, [0, 250])
