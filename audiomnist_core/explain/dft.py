"""Relevance in frequency and time-frequency: a virtual inspection layer (DFT-LRP, Vielhaben et
al. 2024) on top of a waveform model's relevance.

The waveform is written as the sum of the contributions of its frequency components,
``x_t = sum_k c_k(t)``: the inverse real DFT (``c_k(t) = (w_k / T) Re(X_k exp(2 pi i k t / T))``,
``w_k`` the number of DFT bins that the real bin ``k`` stands for) or, in time-frequency, the
inverse STFT of :mod:`audiomnist_core.spectral` (each bin ``(f, m)`` an inverse DFT of one
frame, windowed, overlap-added and divided by the window norm, so that the bins again sum to
the signal). That synthesis is a linear layer in front of the model, and one more epsilon-LRP
step through it shares each sample's relevance ``R_t`` among the components in proportion to
what they contribute to the sample:

    R_k = sum_t c_k(t) R_t / (x_t + epsilon sign(x_t)),   sign(0) = 1 (zennit's stabiliser).

The sum over ``t`` is an inverse transform read backwards, so it costs two FFTs: with
``s_t = R_t / z_t``, ``R_k = (w_k / T) Re(X_k conj(S_k))`` for ``S = rfft(s)``, and likewise per
frame for the STFT (:func:`dft_relevance`).
"""
from __future__ import annotations

import numpy as np
import torch

from ..errors import AudiomnistError
from ..preprocess import HOP, N_FFT
from ..spectral import overlap_norm, stft, window
from .analysis import SAMPLE_RATE

DOMAINS = ("frequency", "time-frequency")


def dft_frequencies(length: int, rate: float = SAMPLE_RATE) -> np.ndarray:
    """Frequency of each real-DFT bin of ``length`` samples at ``rate`` Hz, ``(length // 2 + 1,)``:
    ``k rate / length``. ``dft_frequencies(455)`` are the rows of the paper's STFT grid."""
    return np.arange(length // 2 + 1) * rate / length


def bin_multiplicity(n: int, *, dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """``w_k``, ``(n // 2 + 1,)``: how many bins of the full ``n``-point DFT the real bin ``k``
    stands for, 1 for DC (and the Nyquist bin of an even ``n``), 2 for the others (``k`` and
    ``n - k``)."""
    w = torch.full((n // 2 + 1,), 2.0, dtype=dtype, device=device)
    w[0] = 1.0
    if n % 2 == 0:
        w[-1] = 1.0
    return w


def _stabilised(signal: torch.Tensor, epsilon: float) -> torch.Tensor:
    """``x + epsilon sign(x)`` with ``sign(0) = 1``, as ``zennit.core.stabilize``."""
    return signal + epsilon * torch.where(signal >= 0, 1.0, -1.0).to(signal.dtype)


def _real_product(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``Re(a conj(b))`` of complex tensors."""
    return a.real * b.real + a.imag * b.imag


def dft_relevance(relevance: torch.Tensor, signal: torch.Tensor, domain: str = "frequency", epsilon: float = 1e-6,
                  *, n_fft: int = N_FFT, hop: int = HOP) -> torch.Tensor:
    """Relevance of each frequency (or time-frequency) component of a waveform input.

    Parameters
    ----------
    relevance : ``(N, T)`` relevance of each sample of the waveform input (e.g. AudioNet's LRP).
    signal : ``(N, T)`` that input, the one the relevance explains.
    domain : ``"frequency"``: per real-DFT bin, ``(N, T // 2 + 1)``, bin ``k`` at
        ``k 8000 / T`` Hz (:func:`dft_frequencies`). ``"time-frequency"``: per bin of the
        STFT grid of :func:`audiomnist_core.spectral.stft` with window ``n_fft`` and hop
        ``hop`` (the paper's 455 and 35: ``(N, 228, 230)`` for T = 8000), frequency x frame.
    epsilon : the stabiliser of the LRP step (``x_t + epsilon sign(x_t)``).

    Returns
    -------
    Tensor in the inputs' dtype and on their device. The step conserves relevance up to the
    stabiliser: the bins sum to ``sum_t R_t x_t / (x_t + epsilon sign(x_t))``.

    Notes
    -----
    Frequency: ``R_k = (w_k / T) Re(X_k conj(S_k))``, ``X = rfft(x)``, ``S = rfft(R / z)``,
    ``w_k`` from :func:`bin_multiplicity`. Time-frequency: bin ``(f, m)`` contributes
    ``c_fm(t) = (W w_f / n_fft) Re(Z_fm exp(2 pi i f n / n_fft)) window(n) / norm(t)`` at
    ``n = t + n_fft // 2 - m hop`` (``W = sum(window)``, ``norm`` the inverse STFT's
    :func:`~audiomnist_core.spectral.overlap_norm`), so ``R_fm = (W^2 w_f / n_fft)
    Re(Z_fm conj(U_fm))`` with ``Z = stft(x)`` and ``U = stft(R / (z norm))``.

    An exactly silent sample (zero padding) has ``z_t = epsilon``. Its components sum to zero
    there, so its relevance adds nothing to the total, but each bin gets ``c_k(t) R_t /
    epsilon``: large, of either sign, up to ``(w_k / T) |X_k| |R_t| / epsilon`` per bin in
    frequency (the size of ``c_k(t)``). Rules that weigh by the input (epsilon, alpha-beta,
    z-plus in the first layer) give silent samples no relevance; with others (flat, z-box) read
    such bins with this in mind.
    """
    if domain not in DOMAINS:
        raise AudiomnistError(f"unknown domain {domain!r}; use one of {', '.join(DOMAINS)}")
    if relevance.shape != signal.shape or signal.ndim != 2:
        raise AudiomnistError(f"relevance {tuple(relevance.shape)} and signal {tuple(signal.shape)} must both be (N, T)")
    out_dtype = torch.promote_types(relevance.dtype, signal.dtype)
    work = torch.promote_types(out_dtype, torch.float32)
    x = signal.to(work)
    share = relevance.to(device=x.device, dtype=work) / _stabilised(x, epsilon)  # R_t / z_t
    length = x.shape[-1]
    if domain == "frequency":
        w = bin_multiplicity(length, dtype=work, device=x.device)
        bins = (w / length) * _real_product(torch.fft.rfft(x, dim=-1), torch.fft.rfft(share, dim=-1))
    else:
        norm = overlap_norm(length, n_fft=n_fft, hop=hop, dtype=work, device=x.device)
        w = bin_multiplicity(n_fft, dtype=work, device=x.device)
        scale = window(n_fft, dtype=work, device=x.device).sum().square() * w / n_fft
        spec_x = stft(x, n_fft=n_fft, hop=hop)
        spec_s = stft(share / norm, n_fft=n_fft, hop=hop)
        bins = scale[:, None] * _real_product(spec_x, spec_s)
    return bins.to(out_dtype)
