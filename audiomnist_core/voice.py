"""One recording of anyone's voice through a trained network: the preprocessing of training
applied to a single file, and the explanation of one input.

The same steps as :func:`preprocess.load_signals` and :func:`preprocess.model_input`: resample
to 8 kHz, fit into one second by the profile's ``preprocess.fit`` rule, zero-pad to 8000
samples, then AudioNet's normalised waveform or AlexNet's dB spectrogram minus the fold's
training mean. One difference: training places a recording at a random offset inside the
padding (:func:`preprocess.offset`); here it is centred (:func:`centred_offset`), so that the
same file always gives the same input. The browser's copy of these steps
(``web/static/voice.js``) is tested against this module.

Pure: arrays in and out, no run store; the run-store side (which models, their weights and
training means) is :mod:`audiomnist_core.steps.voice`.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from zennit.core import Composite

from .config import PreprocessConfig
from .errors import AudiomnistError
from .explain import relevance
from .models import network_input
from .preprocess import INPUT_LENGTH, ClipFit, fit_clip, resample, resample_clips, trim_frames


class VoiceError(AudiomnistError):
    """A recording that cannot be explained: unreadable, or too long under the profile's fit."""


@dataclass(frozen=True)
class Prepared:
    """One recording as the networks get it: ``wave`` ``(8000,)`` float32 at 8 kHz on the int16
    scale, zero outside ``[offset, offset + length)``; ``trimmed``/``cropped``: the samples
    (at 8 kHz) that fitting cut."""

    wave: np.ndarray
    offset: int
    length: int
    trimmed: int
    cropped: int


def centred_offset(length: int, padded_length: int = INPUT_LENGTH) -> int:
    """Where a clip of ``length`` samples starts inside ``padded_length`` when centred:
    ``(padded_length - length) // 2`` (0 for a clip that fills it)."""
    return max(0, (padded_length - length) // 2)


def resample_recording(samples: np.ndarray, sample_rate: int, cfg: PreprocessConfig) -> np.ndarray:
    """``samples`` ``(T,)`` at ``sample_rate`` Hz resampled to ``cfg.sample_rate`` as training
    does (:func:`preprocess.resample_clips` for the FFT resampler), float32 ``(T',)``."""
    x = np.asarray(samples, dtype=np.float32)
    if cfg.resampler == "fft":
        return resample_clips([x], int(sample_rate), cfg.sample_rate)[0].astype(np.float32, copy=False)
    return resample(torch.from_numpy(x), int(sample_rate), cfg.sample_rate, cfg.resampler).numpy().astype(np.float32)


def fit_recording(clip: np.ndarray, cfg: PreprocessConfig, name: str = "the recording") -> ClipFit:
    """:func:`preprocess.fit_clip` of a resampled clip under ``cfg.fit``; a clip still longer
    than one second is a :class:`VoiceError` naming ``name``, its duration and the fit that
    would accept it."""
    frame_length, hop_length = trim_frames(cfg.sample_rate)
    fit = fit_clip(clip, cfg.fit, INPUT_LENGTH, top_db=cfg.trim_db, frame_length=frame_length, hop_length=hop_length)
    kept = (fit.end - fit.start) / cfg.sample_rate
    if fit.end - fit.start > INPUT_LENGTH:
        how = "" if cfg.fit == "error" else f" after trimming its silence (fit {cfg.fit})"
        fix = ("record a shorter one, or use a profile with preprocess.fit: trim_crop" if cfg.fit != "trim_crop"
               else "record a shorter one")
        raise VoiceError(f"{name}: {kept:.3f} s{how} exceed the networks' {INPUT_LENGTH / cfg.sample_rate:g} s "
                         f"input under the profile's preprocess.fit: {cfg.fit}; {fix}")
    return fit


PAGE_FIT = "trim_crop"  # the page's rule for a recording that the profile's fit leaves too long


def prepare(samples: np.ndarray, sample_rate: int, cfg: PreprocessConfig, name: str = "the recording", *,
            longer: str | None = None) -> Prepared:
    """A recording ``(T,)`` (int16 scale, any rate) as the networks get it: resampled
    (:func:`resample_recording`), fitted (:func:`fit_recording`) and centred in 8000 zeros.

    ``longer``: a ``preprocess.fit`` for a clip that ``cfg.fit`` leaves longer than one second
    (the page's :data:`PAGE_FIT`, since its microphone records 1.5 s); None: that is an error."""
    x = np.asarray(samples)
    if x.ndim != 1 or x.size == 0:
        raise VoiceError(f"{name}: expected one channel of samples, got an array of shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise VoiceError(f"{name}: holds samples that are not finite numbers")
    clip = resample_recording(x, sample_rate, cfg)
    try:
        fit = fit_recording(clip, cfg, name)
    except VoiceError:
        if longer is None:
            raise
        fit = fit_recording(clip, dataclasses.replace(cfg, fit=longer), name)
    length = fit.end - fit.start
    off = centred_offset(length)
    wave = np.zeros(INPUT_LENGTH, dtype=np.float32)
    wave[off : off + length] = clip[fit.start : fit.end]
    return Prepared(wave, off, length, fit.trimmed, fit.cropped)


def network_inputs(model_name: str, waves: np.ndarray | torch.Tensor, mean: torch.Tensor | None, norm: str) -> torch.Tensor:
    """The input of ``model_name`` for padded waveforms ``(N, 8000)``:
    :func:`models.network_input` (``(N, 1, 8000)`` or ``(N, 1, 227, 227)``, float32)."""
    return network_input(model_name, torch.as_tensor(np.asarray(waves, dtype=np.float32)), mean, norm)


@dataclass(frozen=True)
class Explanation:
    """A network's answer on inputs ``(N, ...)``: ``logits``/``probabilities`` ``(N, C)``,
    ``prediction`` ``(N,)`` and the ``relevance`` of the predicted class, shaped as the input."""

    logits: torch.Tensor
    probabilities: torch.Tensor
    prediction: torch.Tensor
    relevance: torch.Tensor


def explain_inputs(net: nn.Module, inputs: torch.Tensor, composite: Composite) -> Explanation:
    """Predictions of ``net`` on ``inputs`` and the relevance (:func:`explain.relevance` under
    ``composite``) of each input's predicted class."""
    with torch.no_grad():
        logits = net(inputs)
    prediction = logits.argmax(1)
    rel = relevance(net, inputs, prediction, composite)
    return Explanation(logits, torch.softmax(logits.double(), 1).float(), prediction, rel)
