"""Section 2.2.1 of the paper: resample to 8 kHz, zero-pad to 8000 samples at a random
offset, then either the AlexNet spectrogram (227 x 227, dB) or the AudioNet waveform input.
A recording longer than those 8000 samples is an error (the paper's rule), or, where the
profile's ``preprocess.fit`` says so, has its silence trimmed and its loudest second kept.

The numerics are pure torch functions that work on batches on any device. The corpus is
decoded and resampled once into a per-speaker cache keyed by the files and the parameters, so
a change of either rebuilds only what it affects, and an interrupted build keeps the
speakers already done.
"""
from __future__ import annotations

import hashlib
import json
import math
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import scipy.fft
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from .config import FITS, WAVEFORM_NORMS, PreprocessConfig
from .data import CorpusError, Recording, read_wav
from .runs import atomic_path, progress_bars, source_hash, status

# STFT of the original code: scipy.signal.stft(x, 8000, nperseg=455, noverlap=420, window="hann")
N_FFT = 455
HOP = N_FFT - 420
FREQ_BINS = 227  # rows 0..226 of 228 (the highest bin dropped)
FIRST_FRAME = 2  # columns 2..228 of 230 (edge frames dropped)
TIME_FRAMES = 227
AMIN = 1e-5
TOP_DB = 80.0
PERCENTILE = 0.95  # AudioNet: divide by the 95th percentile of the signed signal ...
PERCENTILE_EPS = 0.001  # ... plus this (the original code)
# The robust normalisation's floor on its divisor: a fraction of the centred recording's peak
# (so no input exceeds 1 / ROBUST_FLOOR in magnitude) and at least one int16 step.
ROBUST_FLOOR = 0.01
ROBUST_MIN_DIVISOR = 1.0


def resample_fft(x: torch.Tensor, orig_sr: int, new_sr: int) -> torch.Tensor:
    """FFT resampling as the original code did it (``librosa.resample(res_type="scipy")``,
    i.e. ``scipy.signal.resample`` to ``ceil(T * new_sr / orig_sr)`` samples).

    ``(..., T) -> (..., ceil(T * new_sr / orig_sr))``.
    """
    n_x = x.shape[-1]
    num = math.ceil(n_x * new_sr / orig_sr)
    if num == n_x:
        return x
    m = min(num, n_x)
    spec = _rfft(x)[..., : m // 2 + 1]
    if m % 2 == 0:  # the unpaired bin at m // 2
        spec = spec.clone()
        spec[..., m // 2] *= 2.0 if num < n_x else 0.5
    return _irfft(spec * (num / n_x), num)


def _on_scipy(x: torch.Tensor) -> bool:
    # scipy's pocketfft is about twice as fast as torch's CPU FFT for the lengths here (455,
    # and the recordings' arbitrary lengths); it serves CPU tensors that need no gradient.
    return x.device.type == "cpu" and not x.requires_grad


def _rfft(x: torch.Tensor) -> torch.Tensor:
    """``torch.fft.rfft`` over the last axis."""
    if _on_scipy(x):
        return torch.from_numpy(scipy.fft.rfft(x.numpy(), workers=torch.get_num_threads()))
    return torch.fft.rfft(x)


def _irfft(z: torch.Tensor, n: int) -> torch.Tensor:
    """``torch.fft.irfft(z, n)`` over the last axis."""
    if _on_scipy(z):
        return torch.from_numpy(scipy.fft.irfft(z.resolve_conj().numpy(), n, workers=torch.get_num_threads()))
    return torch.fft.irfft(z, n=n)


def resample(x: torch.Tensor, orig_sr: int, new_sr: int, method: str = "fft") -> torch.Tensor:
    """Resample ``(..., T)`` from ``orig_sr`` to ``new_sr`` Hz: ``"fft"`` (the original's) or
    ``"sinc"`` (torchaudio's windowed-sinc interpolation)."""
    if orig_sr == new_sr:
        return x
    if method == "fft":
        return resample_fft(x, orig_sr, new_sr)
    if method == "sinc":
        import torchaudio.functional as AF

        return AF.resample(x, orig_sr, new_sr)
    raise ValueError(f"unknown resampler {method!r}; use 'fft' or 'sinc'")


# Bluestein's chirp-z transform: rfft(x)[:bins] of a clip whose length has large prime factors,
# where pocketfft would fall back to Bluestein at twice the length, from FFTs of a 5-smooth
# size >= length + bins - 1. The sizes come from this ladder (m * 2^k, about 6 per octave) so
# that clips of similar lengths share an FFT size: one batched FFT serves them all.
FFT_LADDER = (16, 18, 20, 24, 27, 30)


def _fft_size(n: int) -> int:
    """The smallest ``m * 2**k >= n`` with ``m`` in :data:`FFT_LADDER`."""
    return min(m << max(0, math.ceil(math.log2(n / m))) for m in FFT_LADDER)


def _chirp(n: int, dtype: np.dtype) -> np.ndarray:
    """``exp(-i pi j^2 / n)`` for ``j < n``, complex of ``dtype``'s precision."""
    j = np.arange(n, dtype=np.float64)
    turns = j * j  # exact below 2^53
    turns *= 1.0 / (2 * n)
    turns -= np.floor(turns)  # the phase in turns, reduced before the precision is lost
    phase = (turns * (2 * np.pi)).astype(dtype)
    w = np.empty(n, dtype=np.result_type(dtype, np.complex64))
    w.real = np.cos(phase)
    w.imag = np.sin(phase)
    return w.conj()


def _spectrum_heads(clips: list[np.ndarray], bins: list[int], size: int) -> list[np.ndarray]:
    """``rfft(clip)[:b]`` for each 1-D clip and its ``b``, via the chirp-z transform with
    FFTs of ``size >= len(clip) + b - 1``, batched over the clips."""
    width = max(bins)
    dtype = np.result_type(clips[0].dtype, np.complex64)
    a = np.zeros((len(clips), size), dtype)
    kernel = np.zeros((len(clips), size), dtype)
    chirps = np.empty((len(clips), width), dtype)
    for row, x in enumerate(clips):
        n = x.shape[-1]
        w = _chirp(n, x.dtype)
        np.multiply(x, w, out=a[row, :n])
        kernel[row, :width] = w[:width].conj()  # lags 0 .. width - 1
        kernel[row, size - n + 1 :] = w[:0:-1].conj()  # lags -(n - 1) .. -1, wrapped around
        chirps[row] = w[:width]
    a = scipy.fft.fft(a, axis=-1, overwrite_x=True)
    a *= scipy.fft.fft(kernel, axis=-1, overwrite_x=True)
    heads = scipy.fft.ifft(a, axis=-1, overwrite_x=True)[:, :width] * chirps
    return [h[:b] for h, b in zip(heads, bins)]


def resample_clips(clips: list[np.ndarray], orig_sr: int, new_sr: int, *, workers: int = 1, max_elements: int = 1 << 20) -> list[np.ndarray]:
    """:func:`resample_fft` of many 1-D clips of any lengths at once (numpy, on the CPU).

    The same numbers as :func:`resample_fft`, about twice as fast for recordings: only the
    bins that survive the resampling are computed (see :data:`FFT_LADDER`), in batches of
    at most ``max_elements`` complex values, ``workers`` batches at a time.
    """
    if orig_sr == new_sr:
        return list(clips)
    nums = [math.ceil(x.shape[-1] * new_sr / orig_sr) for x in clips]
    keep = [min(num, x.shape[-1]) // 2 + 1 for x, num in zip(clips, nums)]
    groups: dict[int, list[int]] = {}  # FFT size -> clips; 0: plain rfft, pocketfft is fast on such lengths
    for i, x in enumerate(clips):
        n = x.shape[-1]
        groups.setdefault(0 if scipy.fft.next_fast_len(n, real=True) == n else _fft_size(n + keep[i] - 1), []).append(i)
    batches = []
    for size, idx in groups.items():
        rows = max(1, max_elements // size) if size else len(idx)
        batches += [(size, idx[start : start + rows]) for start in range(0, len(idx), rows)]

    def run(batch: tuple[int, list[int]]) -> list[np.ndarray]:
        size, idx = batch
        if size:
            heads = _spectrum_heads([clips[i] for i in idx], [keep[i] for i in idx], size)
        else:
            heads = [scipy.fft.rfft(clips[i])[: keep[i]] for i in idx]
        out = []
        for i, spec in zip(idx, heads):
            n, num = clips[i].shape[-1], nums[i]
            m = min(num, n)
            if m % 2 == 0:  # the unpaired bin at m // 2, as in resample_fft
                spec[m // 2] *= 2.0 if num < n else 0.5
            out.append(scipy.fft.irfft(spec * (num / n), num))
        return out

    resampled: list[np.ndarray] = [np.empty(0)] * len(clips)
    with ThreadPoolExecutor(workers) as pool:
        for (_, idx), out in zip(batches, pool.map(run, batches)):
            for i, y in zip(idx, out):
                resampled[i] = y
    return resampled


# --- fitting a recording into the networks' one second ------------------------------------

INPUT_LENGTH = 8000  # samples of both networks' input: one second at 8 kHz (the paper's; not a setting)
# Silence is measured in frames of 64 ms every 16 ms of the resampled clip (512 and 128 samples at
# 8 kHz): librosa.effects.trim's 2048 and 512 samples as they are at 32 kHz. The same durations
# whatever a file's own rate; short enough that the margin of silence trimming leaves (up to half
# a frame before the word, half a frame plus a hop after it) is small beside one second.
TRIM_FRAME_S = 0.064
TRIM_HOP_S = 0.016


def trim_frames(sample_rate: int) -> tuple[int, int]:
    """``(frame_length, hop_length)`` in samples at ``sample_rate`` Hz for :func:`trim_silence`:
    :data:`TRIM_FRAME_S` and :data:`TRIM_HOP_S`, i.e. ``(512, 128)`` at 8 kHz."""
    return max(1, round(TRIM_FRAME_S * sample_rate)), max(1, round(TRIM_HOP_S * sample_rate))


def frame_rms(x: np.ndarray, frame_length: int, hop_length: int) -> np.ndarray:
    """RMS of centred frames, as ``librosa.feature.rms(y=x, center=True)``: ``(T,) -> (F,)``.

    ``x`` is zero-padded by ``frame_length // 2`` on both sides; frame ``k`` is samples
    ``[k hop, k hop + frame_length)`` of that, so ``F = 1 + (T + 2 (frame_length // 2) -
    frame_length) // hop_length`` (``1 + T // hop_length`` for an even frame length). Needs
    ``T >= 1``; computed in float64.
    """
    half = frame_length // 2
    padded = np.pad(np.asarray(x, dtype=np.float64), (half, half))
    frames = np.lib.stride_tricks.sliding_window_view(padded, frame_length)[::hop_length]
    return np.sqrt(np.einsum("ij,ij->i", frames, frames) / frame_length)


def trim_silence(x: np.ndarray, top_db: float, frame_length: int, hop_length: int) -> tuple[int, int]:
    """Where the sound of a clip ``x`` ``(T,)`` lies once its leading and trailing silence are
    cut: samples ``[start, end)``.

    A frame (:func:`frame_rms`) is silent when its RMS is more than ``top_db`` dB below the
    loudest frame's (amplitudes floored at :data:`AMIN`, as ``librosa.amplitude_to_db``);
    ``start`` is the first loud frame times the hop, ``end`` one hop past the last loud one
    (at most ``T``). This is ``librosa.effects.trim(x, top_db=top_db, frame_length=...,
    hop_length=...)`` with its default ``ref=np.max``; an empty clip gives ``(0, 0)``.
    """
    x = np.asarray(x)
    if x.size == 0:
        return 0, 0
    rms = np.maximum(frame_rms(x, frame_length, hop_length), AMIN)
    loud = np.flatnonzero(20.0 * np.log10(rms / rms.max()) > -top_db)  # the loudest frame is always loud
    return int(loud[0]) * hop_length, min(x.size, (int(loud[-1]) + 1) * hop_length)


def crop_window(x: np.ndarray, length: int) -> int:
    """Start of the ``length`` consecutive samples of ``x`` ``(T,)`` with the most energy (sum
    of squares; the earliest of equal ones); 0 where ``T <= length``."""
    x = np.asarray(x, dtype=np.float64)
    if x.size <= length:
        return 0
    energy = np.concatenate([[0.0], np.cumsum(x * x)])
    return int(np.argmax(energy[length:] - energy[:-length]))


class ClipFit(NamedTuple):
    """The part of a clip that is kept, ``[start, end)``, and the samples cut on the way."""

    start: int
    end: int
    trimmed: int  # samples cut as leading and trailing silence
    cropped: int  # samples cut by the crop to the loudest window


def fit_clip(x: np.ndarray, mode: str, length: int = INPUT_LENGTH, *, top_db: float = 60.0,
             frame_length: int = 512, hop_length: int = 128) -> ClipFit:
    """How a clip ``x`` ``(T,)`` is fitted into ``length`` samples under ``preprocess.fit``.

    ``"error"``: kept whole. ``"trim"``: :func:`trim_silence`. ``"trim_crop"``: trimmed, then
    where still longer than ``length``, the ``length`` samples of highest energy
    (:func:`crop_window`). Silence is trimmed from every clip, not only the long ones, so all
    recordings of a corpus are treated alike. Whether the result fits (``end - start <=
    length``) is the caller's to check: ``"error"`` and ``"trim"`` may return a longer part.
    Frame sizes in samples: :func:`trim_frames`.
    """
    if mode not in FITS:
        raise ValueError(f"unknown fit {mode!r}; use one of {', '.join(FITS)}")
    n = int(np.asarray(x).shape[-1])
    if mode == "error":
        return ClipFit(0, n, 0, 0)
    start, end = trim_silence(x, top_db, frame_length, hop_length)
    trimmed = n - (end - start)
    if mode == "trim" or end - start <= length:
        return ClipFit(start, end, trimmed, 0)
    start += crop_window(np.asarray(x)[start:end], length)
    return ClipFit(start, start + length, trimmed, n - trimmed - length)


@dataclass(frozen=True)
class FitReport:
    """What fitting did to a corpus' recordings (:meth:`Signals.fit_report`); seconds of audio
    at the working rate."""

    fit: str  # preprocess.fit
    recordings: int
    trimmed: int  # recordings that lost leading or trailing silence
    cropped: int  # recordings cropped to the one second of highest energy
    seconds_before: float  # all recordings' audio, resampled, before fitting
    seconds_trimmed: float  # of it, cut as silence
    seconds_cropped: float  # of it, cut by cropping

    def to_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        """One line: ``fit trim_crop: 120 of 5000 recordings trimmed (12.3 s of silence cut), 7
        cropped to one second (2.1 s cut)``."""
        if self.fit == "error":
            return f"fit error: all {self.recordings} recordings kept whole"
        line = (f"fit {self.fit}: {self.trimmed} of {self.recordings} recordings trimmed "
                f"({self.seconds_trimmed:.1f} s of silence cut)")
        if self.fit == "trim_crop":
            line += f", {self.cropped} cropped to one second ({self.seconds_cropped:.1f} s cut)"
        return line


def offset(length: int, recording: Recording, seed: int, padded_length: int = INPUT_LENGTH) -> int:
    """Where a recording of ``length`` samples starts inside the zero-padding.

    Uniform in ``[0, padded_length - length)`` as in the original code, seeded per
    recording so it does not depend on the order in which recordings are read.
    """
    if length >= padded_length:
        return 0
    rng = np.random.default_rng([seed, recording.speaker, recording.digit, recording.rep])
    return int(rng.integers(0, padded_length - length))


def _frames(x: torch.Tensor) -> torch.Tensor:
    """The kept STFT frames 2..228 of ``(B, T)`` waveforms, as a view ``(B, 227, 455)``.

    ``scipy.signal.stft`` pads ``N_FFT // 2`` zeros at both ends (boundary="zeros"); the
    extra zeros it appends to fill the last hop only reach frame 229, which is dropped.
    """
    half = N_FFT // 2
    return F.pad(x, (half, half)).unfold(-1, N_FFT, HOP)[:, FIRST_FRAME : FIRST_FRAME + TIME_FRAMES]


def _active_frames(x: torch.Tensor) -> torch.Tensor:
    """``(B, T) -> (B, 227)`` bool: which kept frames hold a non-zero sample."""
    half = N_FFT // 2
    count = F.pad((x != 0).to(torch.int32), (half + 1, half)).cumsum(-1)  # non-zeros before each index
    starts = torch.arange(FIRST_FRAME, FIRST_FRAME + TIME_FRAMES, device=x.device) * HOP
    return count[:, starts + N_FFT] > count[:, starts]


def _power(frames: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Unscaled power ``|rfft(frame * window)|^2`` of rows 0..226: ``(S, 455) -> (S, 227)``."""
    z = torch.view_as_real(_rfft(frames * window)[:, :FREQ_BINS])
    return z[..., 0].square().addcmul_(z[..., 1], z[..., 1])


def magnitude(x: torch.Tensor) -> torch.Tensor:
    """Cropped STFT magnitude of padded 8 kHz waveforms, before dB: ``(..., 8000) -> (..., 227, 227)``.

    STFT with a periodic Hann window of 455 samples and hop 35, zero boundary padding and
    scaling as ``scipy.signal.stft``; magnitude; rows 0..226 and frames 2..228.
    """
    lead = x.shape[:-1]
    x = x.reshape(-1, x.shape[-1])
    window = torch.hann_window(N_FFT, periodic=True, dtype=x.dtype, device=x.device)
    power = _power(_frames(x).reshape(-1, N_FFT), window)
    mag = power.sqrt_().reshape(x.shape[0], TIME_FRAMES, FREQ_BINS).transpose(-1, -2) / window.sum()
    return mag.reshape(*lead, FREQ_BINS, TIME_FRAMES)


def spectrogram(x: torch.Tensor) -> torch.Tensor:
    """The AlexNet input: dB amplitude spectrogram of padded 8 kHz waveforms.

    ``(..., 8000) -> (..., 227, 227)`` (frequency x time), values in ``[-80, 0]``: the
    :func:`magnitude` in dB relative to each spectrogram's maximum with amin 1e-5 and top_db
    80, computed on the power as ``librosa.amplitude_to_db`` does.

    Frames that lie wholly in the zero padding have zero power, so only the others are
    transformed (half of them for a typical recording); the zero ones get the floor value
    the full computation would give them.
    """
    lead = x.shape[:-1]
    x = x.reshape(-1, x.shape[-1])
    window = torch.hann_window(N_FFT, periodic=True, dtype=x.dtype, device=x.device)
    b, t = _active_frames(x).nonzero(as_tuple=True)
    power = _power(_frames(x)[b, t], window)  # (S, 227)
    floor = (AMIN * window.sum()) ** 2  # amin on the scaled magnitude = this on the unscaled power
    ref = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device).scatter_reduce_(0, b, power.amax(-1), "amax")
    ref_db = 10.0 * torch.log10(torch.maximum(ref, floor))
    # The maximum is 0 dB, so librosa's floor (maximum - top_db) is -top_db.
    silent = (10.0 * torch.log10(floor) - ref_db).clamp_min(-TOP_DB)
    db = silent[:, None, None].expand(-1, FREQ_BINS, TIME_FRAMES).contiguous()
    db[b, :, t] = (10.0 * torch.log10(power.clamp_min(floor)) - ref_db[b, None]).clamp_min(-TOP_DB)
    return db.reshape(*lead, FREQ_BINS, TIME_FRAMES)


def percentile(x: torch.Tensor, q: float) -> torch.Tensor:
    """``numpy.percentile(x, 100 q, axis=-1)`` (linear interpolation), ``(..., T) -> (..., 1)``."""
    s = x.sort(dim=-1).values
    pos = q * (x.shape[-1] - 1)
    lo = int(math.floor(pos))
    hi = min(lo + 1, x.shape[-1] - 1)
    return s[..., lo : lo + 1] + (pos - lo) * (s[..., hi : hi + 1] - s[..., lo : lo + 1])


def nonzero_percentile(x: torch.Tensor, q: float) -> torch.Tensor:
    """``numpy.percentile`` (linear) of each row's non-zero entries, ``(B, T) -> (B, 1)``;
    0 for a row without any."""
    n = (x != 0).sum(-1, keepdim=True)
    s = torch.where(x != 0, x, torch.full_like(x, -math.inf)).sort(dim=-1).values  # zeros first
    pos = (x.shape[-1] - n) + q * (n - 1).clamp_min(0).to(torch.float64)  # exact for any length
    lo = pos.floor().long().clamp(0, x.shape[-1] - 1)
    hi = (lo + 1).clamp_max(x.shape[-1] - 1)
    a, b = s.gather(-1, lo), s.gather(-1, hi)
    b = torch.where(torch.isfinite(b), b, a)
    value = a + (pos - lo).to(x.dtype) * (b - a)
    return torch.where(n > 0, value, torch.zeros_like(value))


def robust_waveform_input(x: torch.Tensor) -> torch.Tensor:
    """AudioNet's input made safe for real recordings: ``(B, T) -> (B, T)``.

    The recording is the non-zero span of its padding: its DC offset (the mean of its
    non-zero samples) is removed there, and it is divided by the 95th percentile of its
    samples' magnitudes, floored at :data:`ROBUST_FLOOR` of its peak and at
    :data:`ROBUST_MIN_DIVISOR`. So a DC offset, a short word in a long padding or a quiet
    recording cannot shrink the divisor to the original's 0.001, and no input exceeds
    ``1 / ROBUST_FLOOR`` in magnitude. The padding stays exactly zero (as do samples of
    the recording that are exactly zero: digital silence inside a recording keeps its value).
    """
    active = x != 0
    n = active.sum(-1, keepdim=True).clamp_min(1)
    centred = torch.where(active, x - x.sum(-1, keepdim=True) / n, x)
    magnitude = centred.abs()
    divisor = torch.maximum(nonzero_percentile(magnitude, PERCENTILE), ROBUST_FLOOR * magnitude.amax(-1, keepdim=True))
    return centred / divisor.clamp_min(ROBUST_MIN_DIVISOR)


def waveform_input(x: torch.Tensor, norm: str = "original") -> torch.Tensor:
    """The AudioNet input of padded waveforms, ``(..., 8000) -> (..., 8000)``.

    ``norm="original"``: divided by (95th percentile of the signed padded signal + 0.001),
    as the original code did (the paper says only "used directly"); on recordings with a
    DC offset or a short word the percentile can be zero or negative (reproduction notes).
    ``norm="robust"``: :func:`robust_waveform_input`.
    """
    if norm == "original":
        return x / (percentile(x, PERCENTILE) + PERCENTILE_EPS)
    if norm == "robust":
        lead = x.shape[:-1]
        return robust_waveform_input(x.reshape(-1, x.shape[-1])).reshape(*lead, x.shape[-1])
    raise ValueError(f"unknown waveform normalisation {norm!r}; use one of {', '.join(WAVEFORM_NORMS)}")


@dataclass
class Signals:
    """Padded 8 kHz waveforms of a corpus, int16 scale, with their labels.

    ``waves`` is ``(N, 8000)`` float32; the other fields are ``(N,)`` int64 tensors.
    ``lengths``/``offsets`` locate each recording inside its padding; ``trimmed``/``cropped``
    count the samples that fitting (``preprocess.fit``, :func:`fit_clip`) cut from it, so
    ``lengths + trimmed + cropped`` is its resampled length before (zeros when none given).
    """

    waves: torch.Tensor
    speaker: torch.Tensor
    digit: torch.Tensor
    rep: torch.Tensor
    gender: torch.Tensor  # 0 male, 1 female
    lengths: torch.Tensor
    offsets: torch.Tensor
    paths: list[str]
    trimmed: torch.Tensor | None = None
    cropped: torch.Tensor | None = None

    def __post_init__(self) -> None:
        for name in ("trimmed", "cropped"):
            if getattr(self, name) is None:
                setattr(self, name, torch.zeros_like(self.lengths))

    def __len__(self) -> int:
        return self.waves.shape[0]

    def select(self, mask: torch.Tensor) -> "Signals":
        idx = torch.as_tensor(mask).nonzero().flatten() if torch.as_tensor(mask).dtype == torch.bool else torch.as_tensor(mask)
        return Signals(
            self.waves[idx], self.speaker[idx], self.digit[idx], self.rep[idx], self.gender[idx],
            self.lengths[idx], self.offsets[idx], [self.paths[i] for i in idx.tolist()],
            self.trimmed[idx], self.cropped[idx],
        )

    def durations(self, sample_rate: int = 8000) -> tuple[np.ndarray, np.ndarray]:
        """``(before, after)`` fitting, each recording's duration in seconds, ``(N,)`` float64."""
        before = (self.lengths + self.trimmed + self.cropped).numpy() / sample_rate
        return before, self.lengths.numpy() / sample_rate

    def fit_report(self, fit: str, sample_rate: int = 8000) -> FitReport:
        """What fitting under ``fit`` cut from these recordings (at ``sample_rate`` Hz)."""
        before = self.lengths + self.trimmed + self.cropped
        return FitReport(
            fit, len(self), int((self.trimmed > 0).sum()), int((self.cropped > 0).sum()),
            float(before.sum()) / sample_rate, float(self.trimmed.sum()) / sample_rate,
            float(self.cropped.sum()) / sample_rate,
        )

    def labels(self, task: str) -> torch.Tensor:
        return self.digit if task == "digits" else self.gender


def _resample_recordings(recordings: list[Recording], decoded: list[tuple[np.ndarray, int]], cfg: PreprocessConfig, workers: int) -> list[np.ndarray]:
    """Resample decoded recordings to ``cfg.sample_rate`` as float32 clips ``(T_i,)``."""
    clips: list[np.ndarray] = [np.empty(0, dtype=np.float32)] * len(recordings)
    for rate in sorted({r for _, r in decoded}):
        idx = [i for i, (_, r) in enumerate(decoded) if r == rate]
        # float32 as the original (librosa.resample of float32 samples)
        samples = [decoded[i][0] for i in idx]
        if cfg.resampler == "fft":
            out = resample_clips(samples, rate, cfg.sample_rate, workers=workers)
        else:
            out = [resample(torch.from_numpy(x), rate, cfg.sample_rate, cfg.resampler).numpy() for x in samples]
        for i, y in zip(idx, out):
            clips[i] = y.astype(np.float32, copy=False)
    return clips


def _fit_recordings(recordings: list[Recording], clips: list[np.ndarray], cfg: PreprocessConfig) -> list[ClipFit]:
    """:func:`fit_clip` of each resampled clip under ``cfg.fit``; a clip that still exceeds
    :data:`INPUT_LENGTH` is a :class:`CorpusError` naming the first such file, its duration
    and the ``preprocess.fit`` that would accept it."""
    frame_length, hop_length = trim_frames(cfg.sample_rate)
    limit = f"the {INPUT_LENGTH / cfg.sample_rate:g} s input"
    fits = []
    for r, y in zip(recordings, clips):
        fit = fit_clip(y, cfg.fit, INPUT_LENGTH, top_db=cfg.trim_db, frame_length=frame_length, hop_length=hop_length)
        kept = (fit.end - fit.start) / cfg.sample_rate
        if fit.end - fit.start > INPUT_LENGTH and cfg.fit == "error":
            raise CorpusError(
                f"{r.path}: {kept:.3f} s at {cfg.sample_rate} Hz exceed {limit}; set preprocess.fit: trim_crop "
                "in the profile (or trim), or pass --fit trim_crop, to cut it"
            )
        if fit.end - fit.start > INPUT_LENGTH:
            raise CorpusError(
                f"{r.path}: {kept:.3f} s at {cfg.sample_rate} Hz after trimming its silence ({cfg.trim_db:g} dB "
                f"below its loudest frame) exceed {limit}; set preprocess.fit: trim_crop in the profile, "
                "or pass --fit trim_crop, to crop it"
            )
        fits.append(fit)
    return fits


CACHE_FIELDS = ("samples", "lengths", "digit", "rep", "trimmed", "cropped")
# the code that makes a cache entry: a change to it (not to its comments) makes new entries
CACHE_CODE = ("preprocess", "data.corpus")


def _speaker_key(recordings: list[Recording], cfg: PreprocessConfig) -> str:
    fit = [cfg.fit] if cfg.fit == "error" else [cfg.fit, cfg.trim_db, TRIM_FRAME_S, TRIM_HOP_S]
    h = hashlib.sha256(json.dumps([source_hash(CACHE_CODE), cfg.sample_rate, INPUT_LENGTH, cfg.resampler, *fit]).encode())
    for r in recordings:
        st = r.path.stat()
        h.update(f"{r.path.name}:{st.st_size}:{st.st_mtime_ns};".encode())
    return h.hexdigest()[:16]


def _load_speaker(recordings: list[Recording], cfg: PreprocessConfig, cache_dir: Path, workers: int) -> dict[str, np.ndarray]:
    path = cache_dir / f"speaker{recordings[0].speaker:02d}-{_speaker_key(recordings, cfg)}.npz"
    if path.is_file():
        try:
            with np.load(path) as z:
                entry = {k: z[k] for k in CACHE_FIELDS}
            if entry["lengths"].sum() == entry["samples"].size and len(entry["digit"]) == len(recordings):
                return entry
        except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile):
            pass
        path.unlink()  # a damaged cache entry is rebuilt, not trusted
    with ThreadPoolExecutor(workers) as pool:
        decoded = list(pool.map(lambda r: read_wav(r.path), recordings))
    clips = _resample_recordings(recordings, decoded, cfg, workers)
    fits = _fit_recordings(recordings, clips, cfg)
    entry = {
        "samples": np.concatenate([c[f.start : f.end] for c, f in zip(clips, fits)]),
        "lengths": np.array([f.end - f.start for f in fits], dtype=np.int64),
        "digit": np.array([r.digit for r in recordings], dtype=np.int64),
        "rep": np.array([r.rep for r in recordings], dtype=np.int64),
        "trimmed": np.array([f.trimmed for f in fits], dtype=np.int64),
        "cropped": np.array([f.cropped for f in fits], dtype=np.int64),
    }
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, **entry)
    return entry


def load_signals(
    recordings: list[Recording],
    genders: dict[int, str],
    cfg: PreprocessConfig,
    cache_dir: str | Path,
    *,
    workers: int = 4,
    progress: bool = True,
) -> Signals:
    """Decode, resample, fit (``cfg.fit``) and pad ``recordings``, cached per speaker under
    ``cache_dir``. Recordings that fitting shortened are named in one status line."""
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    by_speaker: dict[int, list[Recording]] = {}
    for r in recordings:
        by_speaker.setdefault(r.speaker, []).append(r)
    waves, meta = [], {k: [] for k in ("speaker", "digit", "rep", "gender", "lengths", "offsets", "trimmed", "cropped")}
    paths: list[str] = []
    bar = progress and progress_bars()
    if progress and not bar:
        status(f"decoding + resampling: {len(recordings)} recordings of {len(by_speaker)} speakers (cached per speaker)")
    for spk, recs in tqdm(sorted(by_speaker.items()), desc="decoding + resampling", unit="speaker", disable=not bar):
        if spk not in genders:
            raise CorpusError(f"speaker {spk:02d}: has recordings but no entry in the metadata")
        entry = _load_speaker(recs, cfg, cache_dir, workers)
        starts = np.concatenate([[0], np.cumsum(entry["lengths"])[:-1]])
        padded = np.zeros((len(recs), INPUT_LENGTH), dtype=np.float32)
        for i, (r, start, n) in enumerate(zip(recs, starts, entry["lengths"])):
            off = offset(int(n), r, cfg.offset_seed, INPUT_LENGTH)
            padded[i, off : off + n] = entry["samples"][start : start + n]
            meta["offsets"].append(off)
        waves.append(padded)
        meta["speaker"] += [spk] * len(recs)
        meta["digit"] += entry["digit"].tolist()
        meta["rep"] += entry["rep"].tolist()
        meta["gender"] += [int(genders[spk] == "female")] * len(recs)
        meta["lengths"] += entry["lengths"].tolist()
        meta["trimmed"] += entry["trimmed"].tolist()
        meta["cropped"] += entry["cropped"].tolist()
        paths += [str(r.path) for r in recs]
    if not waves:
        raise CorpusError("no recordings to load")
    signals = Signals(torch.from_numpy(np.concatenate(waves)), **{k: torch.tensor(v) for k, v in meta.items()}, paths=paths)
    report = signals.fit_report(cfg.fit, cfg.sample_rate)
    if report.trimmed or report.cropped:  # never silently, whatever ``progress`` says
        cut = (signals.cropped > 0) if report.cropped else (signals.trimmed > 0)
        first = signals.paths[int(cut.nonzero()[0])]
        status(f"preprocess: {report.summary()}; the first {'cropped' if report.cropped else 'trimmed'}: {first}")
    return signals


def model_input(kind: str, waves: torch.Tensor, mean: torch.Tensor | None = None, norm: str = "original") -> torch.Tensor:
    """The network input of a batch of padded waveforms ``(B, 8000)``.

    ``kind="spectrogram"``: ``(B, 1, 227, 227)``, the dB spectrogram minus ``mean`` (the
    fold's training-set mean spectrogram, ``(227, 227)``) when given.
    ``kind="waveform"``: ``(B, 1, 8000)``, the waveform normalised by ``norm``
    (:func:`waveform_input`; the profile's ``preprocess.waveform_norm``).
    """
    if kind == "spectrogram":
        x = spectrogram(waves)
        if mean is not None:
            x = x - mean.to(x.device, x.dtype)
        return x.unsqueeze(1)
    if kind == "waveform":
        return waveform_input(waves, norm).unsqueeze(1)
    raise ValueError(f"unknown input kind {kind!r}; use 'spectrogram' or 'waveform'")


def mean_spectrogram(waves: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """Element-wise mean dB spectrogram of ``(N, 8000)`` waveforms, ``(227, 227)``, in float64
    accumulation so the result does not depend on the batch size."""
    total = torch.zeros(FREQ_BINS, TIME_FRAMES, dtype=torch.float64, device=waves.device)
    for start in range(0, waves.shape[0], batch_size):
        total += spectrogram(waves[start : start + batch_size]).sum(0, dtype=torch.float64)
    return (total / waves.shape[0]).to(torch.float32)
