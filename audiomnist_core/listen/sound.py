"""Sound from the pipeline's tensors: AlexNet's spectrograms back into audio (Griffin-Lim with
the paper's STFT), an 8 kHz waveform as a player or a WAV data URI, the span of a padded
recording and the level it is played at."""
from __future__ import annotations

import base64
import io

import numpy as np
import torch

from .. import perturb
from ..preprocess import FIRST_FRAME, FREQ_BINS, HOP, N_FFT, TIME_FRAMES, magnitude, spectrogram

RATE = 8000  # Hz, the networks' sample rate
INT16 = 32768.0  # int16-scale signals / INT16 -> [-1, 1]


def reference(waves: torch.Tensor) -> torch.Tensor:
    """The dB reference of :func:`preprocess.spectrogram`: each spectrogram's largest
    magnitude. ``(..., 8000) -> (...)``."""
    return magnitude(waves).amax(dim=(-2, -1))


def spectrogram_to_audio(db: torch.Tensor, ref: torch.Tensor | float, n_iter: int = 64, length: int = 8000) -> torch.Tensor:
    """Griffin-Lim inversion of AlexNet's dB spectrograms.

    ``(..., 227, 227) -> (..., length)`` in the scale of the waveform the reference came from.
    The dB are undone with ``ref`` (:func:`reference` of the original waveform); the rows and
    frames that the 227 x 227 crop dropped (the highest bin, the two first frames) are
    silent. The phase starts at zero (``rand_init=False``), so the result is deterministic
    and the global random state is left alone.
    """
    import torchaudio.functional as AF

    ref = torch.as_tensor(ref, dtype=db.dtype, device=db.device)
    window = torch.hann_window(N_FFT, periodic=True, dtype=db.dtype, device=db.device)
    mag = ref[..., None, None] * torch.pow(10.0, db / 20.0) * window.sum()  # undo preprocess' scaling
    n_frames = 1 + length // HOP  # torch.stft(center=True) frames of `length` samples
    full = torch.zeros(*db.shape[:-2], N_FFT // 2 + 1, n_frames, dtype=db.dtype, device=db.device)
    full[..., :FREQ_BINS, FIRST_FRAME : FIRST_FRAME + TIME_FRAMES] = mag
    return AF.griffinlim(full, window, N_FFT, HOP, N_FFT, 1.0, n_iter, 0.99, length, False)


def frequency_scaled_audio(waves: torch.Tensor, factor: float | torch.Tensor, n_iter: int = 64) -> torch.Tensor:
    """Audio of frequency-scaled recordings: ``(..., 8000) -> (..., 8000)``, int16 scale.

    Griffin-Lim of :func:`perturb.scale_frequency` applied to the recording's dB
    spectrogram; ``factor`` 1 gives the Griffin-Lim reconstruction of the unscaled one.
    """
    return spectrogram_to_audio(perturb.scale_frequency(spectrogram(waves), factor), reference(waves), n_iter)


def _unit(wave: torch.Tensor | np.ndarray) -> np.ndarray:
    """int16 scale -> [-1, 1] by the fixed factor; Griffin-Lim may overshoot, so clip."""
    x = torch.as_tensor(wave).detach().cpu().double().numpy().reshape(-1) / INT16
    return np.clip(x, -1.0, 1.0)


def audio(wave: torch.Tensor | np.ndarray):
    """An ``IPython.display.Audio`` player of an int16-scale 8 kHz waveform, not normalised."""
    from IPython.display import Audio

    return Audio(_unit(wave), rate=RATE, normalize=False)


def wav_data_uri(wave: torch.Tensor | np.ndarray) -> str:
    """A ``data:audio/wav;base64,...`` URI (16-bit PCM at 8 kHz) that plays on a static page."""
    import soundfile

    buf = io.BytesIO()
    soundfile.write(buf, _unit(wave), RATE, subtype="PCM_16", format="WAV")
    return "data:audio/wav;base64," + base64.b64encode(buf.getvalue()).decode("ascii")



def span(wave: torch.Tensor | np.ndarray, offset: int, length: int, margin: int = N_FFT) -> torch.Tensor:
    """The part of a padded waveform that holds its recording, ``margin`` samples more at each
    end: ``(T,) -> (<= T,)``. The default margin, one STFT window, covers what a resynthesis
    spreads beyond the recording. Players of a recording's manipulations play this span: the
    padding around it is silence, and leaving it out halves the audio a page embeds."""
    wave = torch.as_tensor(wave).reshape(-1)
    lo, hi = max(int(offset) - margin, 0), min(int(offset) + int(length) + margin, wave.shape[0])
    return wave[lo:hi]


def at_recording_level(inputs: torch.Tensor, waves: torch.Tensor) -> torch.Tensor:
    """AudioNet inputs (normalised waveforms) as audio at their recordings' level:
    ``(N, T), (N, T) -> (N, T)`` int16 scale, ``inputs * recording_gain(inputs, waves)``.

    Manipulations of these inputs are played with the gain of the unmanipulated ones
    (multiply them by :func:`recording_gain` of the originals), so that all clips of one
    recording share one gain and their levels compare honestly."""
    return inputs * recording_gain(inputs, waves)


def recording_gain(inputs: torch.Tensor, waves: torch.Tensor) -> torch.Tensor:
    """``(N, 1)``: ``max|waves| / max|inputs|`` per row (1 where an input is all zero)."""
    peak_in = inputs.abs().amax(-1, keepdim=True)
    peak_wave = waves.to(inputs.dtype).abs().amax(-1, keepdim=True)
    return torch.where(peak_in > 0, peak_wave / torch.where(peak_in > 0, peak_in, torch.ones_like(peak_in)),
                       torch.ones_like(peak_in))

