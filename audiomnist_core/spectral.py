"""Frequency-domain operations on waveforms: the paper's STFT grid and its inverse, removing
DFT bins (Fig. 3 of the paper, in the frequency domain) and audible explanations.

The STFT is the one :mod:`audiomnist_core.preprocess` computes before it crops to 227 x 227:
``scipy.signal.stft(x, nperseg=455, noverlap=420, window="hann")``, i.e. a periodic Hann
window of ``n_fft`` samples, hop ``hop``, ``n_fft // 2`` zeros of boundary padding at both
ends, as many zeros again at the end as fill the last hop (scipy's ``padded=True``), and
scaling by ``1 / sum(window)``. For a padded 8000-sample waveform that is a grid of 228
frequency bins x 230 frames. :func:`istft` inverts it by overlap-add as
``scipy.signal.istft`` does.

All functions are pure torch, batched, on the inputs' device. Half precision is computed in
float32 (the FFT needs it); functions that return waveforms return them in the input's dtype.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F

from .errors import AudiomnistError
from .preprocess import FIRST_FRAME, FREQ_BINS, HOP, N_FFT, TIME_FRAMES

BIN_STRATEGIES = ("relevance", "magnitude", "random")
NORM_FLOOR = 1e-10  # scipy.signal.istft divides by the window norm only where it exceeds this


def _working(dtype: torch.dtype) -> torch.dtype:
    """The real dtype the transforms run in: ``dtype``, at least float32."""
    return torch.promote_types(dtype, torch.float32)


def window(n_fft: int = N_FFT, *, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """The STFT's window, ``(n_fft,)``: periodic Hann, as ``scipy.signal.get_window("hann", n_fft)``."""
    return torch.hann_window(n_fft, periodic=True, dtype=dtype, device=device)


def _check_grid(n_fft: int, hop: int) -> None:
    if not (n_fft >= 2 and 1 <= hop <= n_fft):
        raise AudiomnistError(f"STFT with n_fft {n_fft} and hop {hop}: need n_fft >= 2 and 1 <= hop <= n_fft")


def grid_shape(length: int, *, n_fft: int = N_FFT, hop: int = HOP) -> tuple[int, int]:
    """``(frequency bins, frames)`` of the :func:`stft` of ``length`` samples; ``(228, 230)``
    for 8000 samples on the paper's grid.

    The boundary padding makes ``length + 2 (n_fft // 2)`` samples; scipy appends zeros until
    the frames fill it exactly, so there are ``ceil((padded - n_fft) / hop) + 1`` frames.
    """
    _check_grid(n_fft, hop)
    padded = length + 2 * (n_fft // 2)
    return n_fft // 2 + 1, -(-(padded - n_fft) // hop) + 1


def _overlap_add(frames: torch.Tensor, hop: int) -> torch.Tensor:
    """Sum frames ``(..., M, n)`` placed ``hop`` apart: ``-> (..., (M - 1) hop + n)``."""
    lead, (m, n) = frames.shape[:-2], frames.shape[-2:]
    cols = frames.reshape(-1, m, n).transpose(1, 2)  # (B, n, M): fold's column layout
    out = F.fold(cols, output_size=(1, (m - 1) * hop + n), kernel_size=(1, n), stride=(1, hop))
    return out.reshape(*lead, -1)


def _norm(frames: int, n_fft: int, hop: int, dtype: torch.dtype, device) -> torch.Tensor:
    """The inverse STFT's normaliser over the padded signal, ``((frames - 1) hop + n_fft,)``:
    the sum of the squared windows covering each sample, replaced by 1 where it is at most
    :data:`NORM_FLOOR` (as scipy does)."""
    w2 = window(n_fft, dtype=dtype, device=device).square().expand(frames, n_fft)
    norm = _overlap_add(w2, hop)
    return torch.where(norm > NORM_FLOOR, norm, torch.ones_like(norm))


def overlap_norm(length: int, *, n_fft: int = N_FFT, hop: int = HOP, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """What :func:`istft` divides sample ``t`` of a ``length``-sample signal by, ``(length,)``:
    ``sum_m window(t + n_fft // 2 - m hop)^2`` over the frames ``m`` of :func:`grid_shape`."""
    half = n_fft // 2
    return _norm(grid_shape(length, n_fft=n_fft, hop=hop)[1], n_fft, hop, dtype, device)[half : half + length]


def stft(waves: torch.Tensor, *, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """STFT on the paper's grid, as ``scipy.signal.stft(waves, nperseg=n_fft, noverlap=n_fft - hop,
    window="hann")``: ``(..., T) -> (..., n_fft // 2 + 1, frames)`` complex (:func:`grid_shape`).

    ``Z[f, m] = sum_n window(n) x_pad(m hop + n) exp(-2 pi i f n / n_fft) / sum(window)``,
    ``x_pad`` the waveform after ``n_fft // 2`` leading zeros.
    """
    frames = grid_shape(waves.shape[-1], n_fft=n_fft, hop=hop)[1]
    x = waves.to(_working(waves.dtype))
    half = n_fft // 2
    padded = waves.shape[-1] + 2 * half
    x = F.pad(x, (half, half + (frames - 1) * hop + n_fft - padded))
    w = window(n_fft, dtype=x.dtype, device=x.device)
    spec = torch.fft.rfft(x.unfold(-1, n_fft, hop) * w, dim=-1) / w.sum()  # (..., M, bins)
    return spec.transpose(-1, -2)


def istft(spec: torch.Tensor, length: int, *, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """Inverse of :func:`stft` by weighted overlap-add, as ``scipy.signal.istft``, cut to
    ``length`` samples: ``(..., n_fft // 2 + 1, M) -> (..., length)``.

    Each frame is ``sum(window) irfft(Z[:, m], n_fft)``, weighted by the window once more and
    added at its place; the sum is divided by :func:`overlap_norm` and the boundary padding
    dropped. ``istft(stft(x), T) == x`` to rounding. The imaginary parts of the DC (and, for
    even ``n_fft``, Nyquist) bins are ignored, as by any inverse real DFT.
    """
    _check_grid(n_fft, hop)
    bins, m = spec.shape[-2:]
    half = n_fft // 2
    if bins != n_fft // 2 + 1:
        raise AudiomnistError(f"a spectrum of {bins} bins is not of an STFT with n_fft {n_fft} ({n_fft // 2 + 1} bins)")
    if length > (m - 1) * hop + n_fft - 2 * half:
        raise AudiomnistError(f"{m} frames of hop {hop} hold {(m - 1) * hop + n_fft - 2 * half} samples, not {length}")
    real = _working(spec.real.dtype)
    spec = spec.to(torch.complex128 if real == torch.float64 else torch.complex64)
    w = window(n_fft, dtype=real, device=spec.device)
    frames = torch.fft.irfft(spec.transpose(-1, -2), n=n_fft, dim=-1) * (w.sum() * w)  # (..., M, n_fft)
    out = _overlap_add(frames, hop) / _norm(m, n_fft, hop, real, spec.device)
    return out[..., half : half + length]


# --- removing DFT bins (Fig. 3 in the frequency domain) -------------------------------------

def _count(fraction: float, n: int) -> int:
    """``round(fraction * n)``, half to even (Python's ``round``, as :func:`perturb.counts`)."""
    if not 0.0 <= float(fraction) <= 1.0:
        raise AudiomnistError(f"fraction {fraction!r} lies outside [0, 1]")
    return round(float(fraction) * n)


def _top(score: torch.Tensor, count: int) -> torch.Tensor:
    """``(N, K)`` bool: the ``count`` highest scores of each row; ties go to the lower index."""
    order = torch.argsort(score, dim=-1, descending=True, stable=True)[:, :count]
    return torch.zeros(score.shape, dtype=torch.bool, device=score.device).scatter_(-1, order, True)


def remove_bins(waves: torch.Tensor, scores: torch.Tensor | None, fraction: float, strategy: str,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """Waveforms with a fraction of their real-DFT bins set to zero: ``(N, T) -> (N, T)``.

    ``round(fraction * (T // 2 + 1))`` bins of each waveform (half to even, as the time-domain
    zeroing of :mod:`audiomnist_core.perturb`) are chosen by ``strategy``:
    ``"relevance"`` the highest ``scores`` ``(N, T // 2 + 1)`` first (a bin's DFT-LRP
    relevance, :func:`audiomnist_core.explain.dft.dft_relevance`), ``"magnitude"`` the largest
    ``|X_k|`` first, ``"random"`` uniformly (``generator`` required, drawn on its device).
    Ties go to the lower frequency. The result is the waveform minus the inverse real DFT of the
    chosen bins, so fraction 0 returns the input exactly and fraction 1 gives zeros to rounding.
    """
    if strategy not in BIN_STRATEGIES:
        raise AudiomnistError(f"unknown bin strategy {strategy!r}; use one of {', '.join(BIN_STRATEGIES)}")
    n, t = waves.shape
    count = _count(fraction, t // 2 + 1)
    spectrum = torch.fft.rfft(waves.to(_working(waves.dtype)), dim=-1)  # (N, K)
    if strategy == "relevance":
        if scores is None or scores.shape != spectrum.shape:
            raise AudiomnistError(f"the relevance strategy needs scores of shape {tuple(spectrum.shape)}, got "
                                  f"{None if scores is None else tuple(scores.shape)}")
        score = scores.to(waves.device)
    elif strategy == "magnitude":
        score = spectrum.abs()
    else:
        if generator is None:
            raise AudiomnistError("the random bin strategy needs a seeded torch.Generator (generator=...)")
        score = torch.rand(spectrum.shape, generator=generator, device=generator.device).to(waves.device)
    removed = torch.fft.irfft(spectrum * _top(score, count), n=t, dim=-1)
    return waves - removed.to(waves.dtype)


@torch.no_grad()
def bin_removal_curve(model: torch.nn.Module, inputs: torch.Tensor, labels: torch.Tensor, scores: torch.Tensor | None,
                      fractions: Sequence[float], strategies: Sequence[str] = BIN_STRATEGIES,
                      generator: torch.Generator | None = None, draws: int = 1, batch_size: int = 64) -> dict[str, list[float]]:
    """Accuracy of a waveform model against the fraction of DFT bins removed (Fig. 3 of the
    paper in the frequency domain), for each strategy of :func:`remove_bins`.

    Parameters
    ----------
    model : in eval mode, on the inputs' device; takes ``(B, 1, T)``.
    inputs : ``(N, T)`` the network's inputs (AudioNet: the normalised waveform, which is what
        the relevance explains and what the bins are removed from).
    labels : ``(N,)`` classes.
    scores : ``(N, T // 2 + 1)`` each bin's relevance (DFT-LRP), for ``"relevance"``.
    fractions : shares of the bins removed, each in [0, 1].
    generator : draws the ``"random"`` bins (its device); ``draws`` of them are averaged.

    Returns
    -------
    ``{strategy: [accuracy % per fraction]}`` and ``"unperturbed": [accuracy %]``. A fraction
    that removes no bin reuses the unperturbed predictions.
    """
    fractions = [float(f) for f in fractions]
    for f in fractions:
        _count(f, 1)  # each in [0, 1]
    if draws < 1:
        raise AudiomnistError(f"draws={draws}: average over at least one random draw")
    if len(labels) != len(inputs):
        raise AudiomnistError(f"{len(inputs)} inputs but {len(labels)} labels")
    n_bins = inputs.shape[-1] // 2 + 1
    correct = {s: [0.0] * len(fractions) for s in strategies}
    plain = 0
    for start in range(0, len(inputs), batch_size):
        x, y = inputs[start : start + batch_size], labels[start : start + batch_size].to(inputs.device)
        score = None if scores is None else scores[start : start + batch_size]

        def n_correct(batch: torch.Tensor) -> int:
            return int((model(batch[:, None]).argmax(-1) == y).sum())

        base = n_correct(x)
        plain += base
        for strategy in strategies:
            n_draws = draws if strategy == "random" else 1
            for i, f in enumerate(fractions):
                if _count(f, n_bins) == 0:
                    correct[strategy][i] += base
                    continue
                hits = sum(n_correct(remove_bins(x, score, f, strategy, generator)) for _ in range(n_draws))
                correct[strategy][i] += hits / n_draws
    n = max(len(inputs), 1)
    return {**{s: [100.0 * c / n for c in correct[s]] for s in strategies}, "unperturbed": [100.0 * plain / n]}


# --- audible explanations -------------------------------------------------------------------

def _unit_positive(relevance: torch.Tensor, dims: tuple[int, ...]) -> torch.Tensor:
    """Positive relevance scaled to a maximum of 1 over ``dims`` (all zeros where there is none)."""
    pos = relevance.clamp_min(0)
    peak = pos.amax(dim=dims, keepdim=True)
    return torch.where(peak > 0, pos / torch.where(peak > 0, peak, torch.ones_like(peak)), torch.zeros_like(pos))


def relevance_weighted(waves: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """The waveform weighted by its positive relevance ("heatmap x signal"): ``(N, T) -> (N, T)``.

    Sample ``t`` becomes ``x_t max(R_t, 0) / max_s max(R_s, 0)``: what the model found
    evidence for keeps its loudness, the rest fades. A waveform without positive relevance
    becomes silent.
    """
    return waves * _unit_positive(relevance, (-1,)).to(waves.dtype)


def without_most_relevant(waves: torch.Tensor, relevance: torch.Tensor, fraction: float) -> torch.Tensor:
    """The complement of :func:`relevance_weighted`: the waveform with its most relevant
    samples set to 0, ``(N, T) -> (N, T)``.

    The ``round(fraction * T)`` samples of highest relevance (half to even; ties to the earlier
    sample) are zeroed, but only those with positive relevance: a sample that speaks against the
    class or not at all is never removed.
    """
    drop = _top(relevance, _count(fraction, waves.shape[-1])) & (relevance > 0)
    return waves.masked_fill(drop, 0)


def relevance_mask(spectrogram_relevance: torch.Tensor, length: int) -> torch.Tensor:
    """Mask on the STFT grid of ``length``-sample waveforms from AlexNet's relevance:
    ``(N, 227, 227)`` or ``(N, 1, 227, 227)`` -> ``(N, 228, 230)`` for 8000 samples.

    AlexNet sees rows 0..226 and frames ``FIRST_FRAME .. FIRST_FRAME + 226`` of the grid. There
    the mask is the positive relevance scaled to a maximum of 1 per item; elsewhere it is 0: the
    model never saw those bins, so nothing marks them as evidence, and the complement
    (``1 - mask``) keeps them, so that mask and complement together give the recording back.
    """
    r = spectrogram_relevance
    r = r[:, 0] if r.ndim == 4 and r.shape[1] == 1 else r
    if r.ndim != 3 or r.shape[-2:] != (FREQ_BINS, TIME_FRAMES):
        raise AudiomnistError(f"spectrogram relevance has shape {tuple(spectrogram_relevance.shape)}; "
                              f"expected (N, {FREQ_BINS}, {TIME_FRAMES}) or (N, 1, {FREQ_BINS}, {TIME_FRAMES})")
    bins, frames = grid_shape(length)
    mask = torch.zeros(r.shape[0], bins, frames, dtype=_working(r.dtype), device=r.device)
    mask[:, :FREQ_BINS, FIRST_FRAME : FIRST_FRAME + TIME_FRAMES] = _unit_positive(r, (-2, -1))
    return mask


def resynthesise(waves: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """The waveform's STFT (paper's grid) times ``mask``, back to ``T`` samples by the inverse
    STFT with the recording's own phase: ``(N, T), (N, 228, 230) -> (N, T)`` for T = 8000.

    Linear in the mask: an all-ones mask returns the waveform, and masks that sum to one give
    parts that sum to it.
    """
    spec = stft(waves)
    return istft(spec * mask.to(spec.real.dtype), waves.shape[-1]).to(waves.dtype)


def masked_resynthesis(waves: torch.Tensor, spectrogram_relevance: torch.Tensor, complement: bool = False) -> torch.Tensor:
    """An audible AlexNet explanation: the recording filtered in time and frequency by where the
    model found evidence, ``(N, T) -> (N, T)``.

    :func:`resynthesise` with :func:`relevance_mask` (or ``1 - mask`` for ``complement=True``,
    the recording without what the model relied on); ``masked + complement == waves``.
    """
    mask = relevance_mask(spectrogram_relevance, waves.shape[-1])
    return resynthesise(waves, 1 - mask if complement else mask)
