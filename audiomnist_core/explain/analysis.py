"""The numbers behind the paper's reading of relevance (:func:`band_shares`,
:func:`padding_share`), the axes of a spectrogram, and the deterministic choice of the
examples of the paper's figures."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..errors import AudiomnistError
from ..preprocess import FIRST_FRAME, FREQ_BINS, HOP, N_FFT, TIME_FRAMES

SAMPLE_RATE = 8000  # Hz, the models' input rate (section 2.2.1)


# --------------------------------------------------------------------------------------------
# The paper's reading, in numbers
# --------------------------------------------------------------------------------------------

def spectrogram_frequencies() -> np.ndarray:
    """Frequency of each spectrogram row in Hz, ``(227,)``: bin k of a 455-point STFT at 8 kHz."""
    return np.arange(FREQ_BINS) * SAMPLE_RATE / N_FFT


def spectrogram_times() -> np.ndarray:
    """Centre time of each spectrogram column in s, ``(227,)``: frame ``k + 2`` of hop 35 with
    the window centred on its frame (zero boundary padding)."""
    return (np.arange(TIME_FRAMES) + FIRST_FRAME) * HOP / SAMPLE_RATE


BANDS_HZ = (0, 250, 500, 1000, 2000, 4000)  # the bands the relevance is read in


def frequency_band_shares(relevance, frequencies, bands_hz: Sequence[float] = BANDS_HZ) -> np.ndarray:
    """Share of each item's positive relevance per frequency band.

    ``relevance`` ``(N, F, ...)``: relevance per frequency bin, and per frame or any further
    axes (summed after clipping at 0, so positive relevance counts wherever it lies in time);
    ``frequencies`` ``(F,)``: each bin's frequency in Hz, e.g. :func:`spectrogram_frequencies`
    for AlexNet's spectrogram or :func:`dft.dft_frequencies` for DFT-LRP, so that models with
    different inputs are compared band by band. ``bands_hz`` are ascending band edges (a bin
    belongs to ``[lo, hi)``; the last band includes its upper edge). The total counts every bin,
    also those outside the bands. Returns ``(N, len(bands_hz) - 1)``; a row is NaN when an item
    has no positive relevance.
    """
    r = np.asarray(relevance, dtype=np.float64)
    f = np.asarray(frequencies, dtype=np.float64)
    if r.ndim < 2 or f.shape != (r.shape[1],):
        raise AudiomnistError(f"relevance of shape {r.shape} needs (N, F, ...) with one frequency per bin, got {f.shape}")
    edges = np.asarray(bands_hz, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise AudiomnistError(f"bands_hz {list(bands_hz)} must be at least two ascending edges in Hz")
    per_bin = np.clip(r, 0, None).reshape(r.shape[0], r.shape[1], -1).sum(axis=2)  # (N, F)
    band = np.searchsorted(edges, f, side="right") - 1
    band[f == edges[-1]] = edges.size - 2
    shares = np.stack([per_bin[:, band == k].sum(axis=1) for k in range(edges.size - 1)], axis=1)
    total = per_bin.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, shares / total, np.nan)


def band_shares(relevance_spectrograms, bands_hz: Sequence[float] = BANDS_HZ) -> np.ndarray:
    """Share of each spectrogram's positive relevance per frequency band.

    ``relevance_spectrograms`` ``(N, 227, 227)`` or ``(N, 1, 227, 227)``; ``bands_hz`` are
    ascending band edges (a row belongs to ``[lo, hi)``; the last band includes its upper edge).
    Returns ``(N, len(bands_hz) - 1)``; a row is NaN when a sample has no positive relevance.
    :func:`frequency_band_shares` on the spectrogram's rows.
    """
    r = np.asarray(relevance_spectrograms, dtype=np.float64)
    r = r.reshape(r.shape[0], FREQ_BINS, -1) if r.ndim == 4 else r
    if r.ndim != 3 or r.shape[1] != FREQ_BINS:
        raise AudiomnistError(f"relevance spectrograms have shape {r.shape}; expected (N, {FREQ_BINS}, T)")
    return frequency_band_shares(r, spectrogram_frequencies(), bands_hz)


def padding_share(relevance_waveforms, lengths, offsets) -> np.ndarray:
    """Share of each waveform's absolute relevance on its zero padding, ``(N,)``.

    ``relevance_waveforms`` ``(N, T)`` or ``(N, 1, T)``; the recording occupies samples
    ``[offsets, offsets + lengths)``. NaN for a sample with no relevance at all.
    """
    r = np.abs(np.asarray(relevance_waveforms, dtype=np.float64))
    r = r.reshape(r.shape[0], -1)
    lengths, offsets = np.asarray(lengths), np.asarray(offsets)
    if lengths.shape != (r.shape[0],) or offsets.shape != (r.shape[0],):
        raise AudiomnistError(f"lengths and offsets need shape ({r.shape[0]},), one per waveform")
    pos = np.arange(r.shape[1])
    inside = (pos >= offsets[:, None]) & (pos < (offsets + lengths)[:, None])
    total = r.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (r * ~inside).sum(axis=1) / total, np.nan)


# --------------------------------------------------------------------------------------------
# The paper's examples (deterministic choice)
# --------------------------------------------------------------------------------------------

def pick(signals, *, digit: int | None = None, gender: int | None = None, speakers=None, correct=None,
         exclude: Sequence[int] = ()) -> int | None:
    """Index of the first recording, ordered by (speaker, repetition), with the given
    digit/gender (1 female) among ``speakers``, other than those in ``exclude``; correctly
    classified ones (``correct``, ``(N,)`` bool) first. None when nothing matches."""
    mask = np.ones(len(signals), dtype=bool)
    mask[list(exclude)] = False
    if digit is not None:
        mask &= signals.digit.numpy() == digit
    if gender is not None:
        mask &= signals.gender.numpy() == gender
    if speakers is not None:
        mask &= np.isin(signals.speaker.numpy(), list(speakers))
    ok = np.ones(len(signals), dtype=bool) if correct is None else np.asarray(correct, dtype=bool)
    order = np.lexsort((signals.rep.numpy(), signals.speaker.numpy()))
    for want_ok in (True, False):
        hits = [i for i in order if mask[i] and ok[i] == want_ok]
        if hits:
            return int(hits[0])
    return None


@dataclass(frozen=True)
class Figure1Examples:
    """The recordings of Fig. 1: indices into the digit test set (``zero`` for (a) and (c),
    ``one`` for (b)) and into the gender test set (``male_zero`` for (d));
    ``zero_in_gender_test`` says whether (a)'s recording is held out for the gender model too
    (its index there is ``zero_gender``, else None)."""

    zero: int
    one: int
    male_zero: int
    zero_gender: int | None

    @property
    def zero_in_gender_test(self) -> bool:
        return self.zero_gender is not None


def figure1_examples(digit_test, gender_test, digit_correct=None, gender_correct=None) -> Figure1Examples:
    """Choose Fig. 1's recordings deterministically.

    (a)/(b): a "zero" and a "one" of the same female speaker of the digit test set, the first
    speaker (by id) for whom both are classified correctly, preferring speakers who are also
    in the gender test set so that (c) is held out for the gender model as well; (d): the
    first male "zero" of the gender test set that the gender model classifies correctly.
    Falls back to misclassified recordings only where no correct one exists.
    """
    in_both = set(digit_test.speaker.tolist()) & set(gender_test.speaker.tolist())
    females = sorted(set(digit_test.speaker[digit_test.gender == 1].tolist()))
    if not females:
        raise AudiomnistError("the digit test set has no female speaker; Fig. 1 needs one")
    g_ok = None if gender_correct is None else np.asarray(gender_correct, dtype=bool)
    paths = {p: i for i, p in enumerate(gender_test.paths)}
    best, best_key = None, None
    for spk in females:
        zero = pick(digit_test, digit=0, speakers=[spk], correct=digit_correct)
        one = pick(digit_test, digit=1, speakers=[spk], correct=digit_correct)
        if zero is None or one is None:
            continue
        ok = digit_correct is None or (bool(digit_correct[zero]) and bool(digit_correct[one]))
        zg = paths.get(digit_test.paths[zero])
        key = (spk not in in_both, not ok, g_ok is not None and zg is not None and not g_ok[zg], spk)
        if best_key is None or key < best_key:
            best, best_key = (zero, one, zg), key
    if best is None:
        raise AudiomnistError("no female speaker of the digit test set has both a 'zero' and a 'one'")
    male_zero = pick(gender_test, digit=0, gender=0, correct=gender_correct)
    if male_zero is None:
        raise AudiomnistError("the gender test set has no male 'zero'; Fig. 1(d) needs one")
    return Figure1Examples(best[0], best[1], male_zero, best[2])


def zoom_window(length: int, offset: int, relevance_wave=None, paper=(0.50, 0.55),
                rate: int = SAMPLE_RATE) -> tuple[float, float]:
    """The zoom of Fig. 2(c) in seconds: the paper's 0.50-0.55 s where the recording covers it,
    else a window of the same width centred on the largest absolute relevance inside the
    recording (or on the recording's middle)."""
    lo, hi = paper
    start, stop = offset / rate, (offset + length) / rate
    if start <= lo and hi <= stop:
        return lo, hi
    width = hi - lo
    if relevance_wave is not None:
        r = np.abs(np.asarray(relevance_wave, dtype=np.float64).reshape(-1))[offset : offset + length]
        centre = (offset + int(np.argmax(r))) / rate if r.size else (start + stop) / 2
    else:
        centre = (start + stop) / 2
    lo = min(max(centre - width / 2, 0.0), max(stop - width, 0.0))
    return lo, lo + width
