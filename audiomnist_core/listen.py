"""Hear what the network heard: the manipulated inputs of Section 3.3 as audio.

**Frequency scaling** is turned back into sound with Griffin-Lim on the manipulated
spectrogram itself, with the paper's STFT (Hann window 455, hop 35). We chose it over an
audio-domain pitch shift because it inverts exactly what AlexNet was shown (the row
interpolation, the -80 dB floor where the 0.66 squeeze leaves the top rows empty), whereas a
pitch shift only approximates that and brings artefacts of its own. Griffin-Lim's own
artefact is phase noise ("phasiness"); the players include the Griffin-Lim reconstruction of the
*unscaled* spectrogram, so the ear can tell the artefact from the manipulation.

**Zeroing** needs no inversion: the waveform with the chosen samples set to zero.

Audio is played at 8 kHz and embedded without normalisation (``normalize=False``): int16-scale
signals are divided by the fixed factor 32768, so levels stay honest between players.
"""
from __future__ import annotations

import base64
import html
import io
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
import torch
from torch import nn

from . import perturb
from .errors import AudiomnistError
from .preprocess import FIRST_FRAME, FREQ_BINS, HOP, N_FFT, TIME_FRAMES, Signals, magnitude, model_input, spectrogram

RATE = 8000  # Hz, the networks' sample rate
INT16 = 32768.0  # int16-scale signals / INT16 -> [-1, 1]
LABELS = {"digits": [str(d) for d in range(10)], "gender": ["male", "female"]}


# --- spectrogram -> audio -----------------------------------------------------------------

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


# --- players ------------------------------------------------------------------------------

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


@dataclass
class Clip:
    """One player of a grid: an int16-scale 8 kHz waveform and the text under it."""

    wave: torch.Tensor
    caption: str = ""


def player_grid(clips: Sequence[Sequence[Clip]], row_labels: Sequence[str], column_labels: Sequence[str], title: str = ""):
    """A static HTML table of ``<audio>`` players, rows x columns, that plays without a kernel.

    Returns an ``IPython.display.HTML``; its ``.data`` is the HTML text.
    """
    from IPython.display import HTML

    if len(clips) != len(row_labels) or any(len(row) != len(column_labels) for row in clips):
        raise AudiomnistError(f"player grid: {len(row_labels)} row labels and {len(column_labels)} column labels do not match the clips")
    esc = html.escape
    head = "".join(f"<th style='padding:4px'>{esc(c)}</th>" for c in column_labels)
    rows = []
    for label, row in zip(row_labels, clips):
        cells = "".join(
            f"<td style='padding:4px;text-align:center'><audio controls preload='none' style='width:180px' "
            f"src='{wav_data_uri(c.wave)}'></audio><br><small>{esc(c.caption)}</small></td>"
            for c in row
        )
        rows.append(f"<tr><th style='padding:4px;text-align:left'>{esc(label)}</th>{cells}</tr>")
    caption = f"<caption style='caption-side:bottom;text-align:left'>{esc(title)}</caption>" if title else ""
    return HTML(f"<table class='audiomnist-players'>{caption}<thead><tr><th></th>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>")


# --- the models' side ---------------------------------------------------------------------

@dataclass
class Subject:
    """One trained model and its fold's test recordings: what a listener asks and hears."""

    model_name: str
    task: str
    fold: int
    model: nn.Module
    test: Signals
    mean: torch.Tensor | None = None  # AlexNet's training-mean spectrogram
    device: torch.device | str = "cpu"
    composite: object = None  # the LRP composite of the relevance strategy; None: explain's default
    waveform_norm: str = "original"  # AudioNet's input normalisation (preprocess.waveform_norm)

    @property
    def name(self) -> str:
        return f"{self.model_name}/{self.task}"

    def label(self, k: int) -> str:
        return LABELS[self.task][int(k)]

    @torch.no_grad()
    def predict(self, inputs: torch.Tensor) -> torch.Tensor:
        """Predicted labels of network inputs ``(B, 1, ...)``."""
        return self.model(inputs.to(self.device)).argmax(-1).cpu()

    def inputs(self, waves: torch.Tensor) -> torch.Tensor:
        return model_input(perturb.INPUTS[self.model_name], waves.to(self.device), self.mean, self.waveform_norm)

    def find(self, speaker: int, digit: int) -> int:
        """Index of the first test recording of ``speaker`` saying ``digit``."""
        hits = ((self.test.speaker == speaker) & (self.test.digit == digit)).nonzero().flatten()
        if len(hits) == 0:
            raise AudiomnistError(f"{self.name} fold {self.fold}: no test recording of speaker {speaker} saying {digit}")
        return int(hits[0])


def scaling_factor(subject: Subject, index: int, male_scale: float, female_scale: float) -> float:
    """The paper's factor for a recording: ``male_scale`` for male, ``female_scale`` for female speakers."""
    return float(perturb.gender_factors(subject.test.gender[index : index + 1], male_scale, female_scale)[0])


def scaled(subject: Subject, index: int, factor: float, n_iter: int = 64) -> Clip:
    """Frequency-scaled recording ``index`` as audio, captioned with the AlexNet prediction on
    the scaled spectrogram."""
    if perturb.INPUTS[subject.model_name] != "spectrogram":
        raise AudiomnistError(f"{subject.name}: frequency scaling acts on spectrogram models (AlexNet) only")
    wave = subject.test.waves[index : index + 1]
    pred = subject.predict(perturb.scaled_inputs(spectrogram(wave.to(subject.device)), factor, subject.mean))
    return Clip(frequency_scaled_audio(wave, factor, n_iter)[0], f"x{factor:g}: predicted {subject.label(pred[0])}")


def zeroed(subject: Subject, index: int, fraction: float, strategy: str, generator: torch.Generator | None = None) -> Clip:
    """Recording ``index`` with ``fraction`` of its non-zero samples zeroed by ``strategy``,
    captioned with the AudioNet prediction.

    The relevance strategy explains the true class of this one recording with
    :func:`explain.relevance` under the subject's composite.
    """
    if perturb.INPUTS[subject.model_name] != "waveform":
        raise AudiomnistError(f"{subject.name}: zeroing is played for waveform models (AudioNet) only")
    wave = subject.test.waves[index : index + 1]
    label = subject.test.labels(subject.task)[index : index + 1]
    inputs = subject.inputs(wave)
    rel = None
    if strategy == "relevance":
        from . import explain

        rel = explain.relevance(subject.model, inputs, label.to(subject.device), subject.composite).detach()
    mask = perturb.zero_mask(inputs[:, 0], fraction, strategy, rel, generator).cpu()
    pred = subject.predict(inputs.masked_fill(mask[:, None].to(inputs.device), 0.0))
    return Clip(wave.masked_fill(mask, 0.0)[0], f"{100 * fraction:g} %: predicted {subject.label(pred[0])}")


def original(subject: Subject, index: int) -> Clip:
    """Recording ``index`` unchanged, captioned with the prediction and the truth."""
    wave = subject.test.waves[index : index + 1]
    pred = subject.predict(subject.inputs(wave))
    truth = subject.test.labels(subject.task)[index]
    return Clip(wave[0], f"predicted {subject.label(pred[0])} (true {subject.label(truth)})")


def examples(subject: Subject, digit: int = 0) -> list[int]:
    """One test recording of ``digit`` per gender (male first) that the subject's model gets
    right where there is one: the examples of the listening grids."""
    from .explain import pick
    from .train import predict

    predicted = predict(subject.model, subject.model_name, subject.test, subject.mean, device=subject.device,
                        norm=subject.waveform_norm)
    correct = predicted == subject.test.labels(subject.task)
    picks = [pick(subject.test, digit=digit, gender=g, correct=correct) for g in (0, 1)]
    return [i for i in picks if i is not None]


def _describe(subject: Subject, index: int) -> str:
    t = subject.test
    return f"speaker {int(t.speaker[index]):02d} ({LABELS['gender'][int(t.gender[index])]}), digit {int(t.digit[index])}"


def scaling_grid(subject: Subject, indices: Sequence[int], male_scale: float, female_scale: float, caption: str = "", n_iter: int = 64):
    """Players for frequency scaling: per recording the original, the Griffin-Lim of its
    unscaled spectrogram (the method's artefacts alone) and of the scaled one."""
    clips = []
    for i in indices:
        factor = scaling_factor(subject, i, male_scale, female_scale)
        unscaled = Clip(frequency_scaled_audio(subject.test.waves[i], 1.0, n_iter), "Griffin-Lim artefacts only")
        clips.append([original(subject, i), unscaled, scaled(subject, i, factor, n_iter)])
    columns = ["original", "Griffin-Lim, unscaled", "Griffin-Lim, frequency-scaled"]
    return player_grid(clips, [_describe(subject, i) for i in indices], columns, caption)


def zeroing_grid(subject: Subject, index: int, fractions: Sequence[float], strategies: Sequence[str] = perturb.STRATEGIES, seed: int = 0, caption: str = ""):
    """Players for zeroing one recording: a row per strategy, a column per fraction."""
    clips = [
        [zeroed(subject, index, f, s, torch.Generator().manual_seed(seed)) for f in fractions]
        for s in strategies
    ]
    title = f"{_describe(subject, index)}; {original(subject, index).caption}. {caption}".strip()
    return player_grid(clips, list(strategies), [f"{100 * f:g} % zeroed" for f in fractions], title)


# --- the live control ---------------------------------------------------------------------

@dataclass
class _Choice:
    label: str
    subject: str
    strategy: str | None = None  # None: frequency scaling
    levels: list = field(default_factory=list)


def audio_widget(subjects_by_name: dict[str, Subject], fractions: Sequence[float], male_scale: float = 1.5, female_scale: float = 0.66, seed: int = 0):
    """An ipywidgets control: pick speaker, digit, manipulation and level; it plays the
    manipulated recording and shows the model's prediction before and after.

    Manipulations: frequency scaling (AlexNet gender; levels are factors, the paper's for the
    speaker's gender marked) and zeroing by each strategy (AudioNet digits and gender; levels
    are fractions). Speakers are those of the chosen model's test fold.
    """
    import ipywidgets as w
    from IPython.display import display

    choices = []
    if "alexnet/gender" in subjects_by_name:
        factors = sorted({0.5, 0.66, 0.8, 1.0, 1.25, 1.5, 2.0, male_scale, female_scale})
        choices.append(_Choice("frequency scaling (AlexNet, gender)", "alexnet/gender", None, factors))
    for name in ("audionet/digits", "audionet/gender"):
        if name in subjects_by_name:
            for s in perturb.STRATEGIES:
                choices.append(_Choice(f"zero by {s} (AudioNet, {name.split('/')[1]})", name, s, [f for f in fractions if f > 0]))
    if not choices:
        raise AudiomnistError("no model to listen to: the profile trains neither alexnet/gender nor audionet")
    manipulation = w.Dropdown(options=[(c.label, i) for i, c in enumerate(choices)], description="manipulation")
    speaker = w.Dropdown(description="speaker")
    digit = w.Dropdown(options=list(range(10)), description="digit")
    level = w.SelectionSlider(options=[1.0], description="level")
    out = w.Output()
    refreshing = [False]  # options being replaced: one render afterwards, not one per change

    def refresh_options():
        c = choices[manipulation.value]
        subject = subjects_by_name[c.subject]
        refreshing[0] = True
        try:
            kept = speaker.value
            speaker.options = sorted({int(s) for s in subject.test.speaker})
            speaker.value = kept if kept in speaker.options else speaker.options[0]
            level.options = [(f"x{v:g}" if c.strategy is None else f"{100 * v:g} %", v) for v in c.levels]
            if c.strategy is None:  # the paper's factor for the speaker's gender
                first = int((subject.test.speaker == speaker.value).nonzero()[0, 0])
                level.value = scaling_factor(subject, first, male_scale, female_scale)
            else:
                level.value = min(c.levels, key=lambda f: abs(f - 0.01))
        finally:
            refreshing[0] = False

    def render(*_):
        if refreshing[0]:
            return
        c = choices[manipulation.value]
        subject = subjects_by_name[c.subject]
        out.clear_output(wait=True)
        with out:
            try:
                i = subject.find(speaker.value, digit.value)
            except AudiomnistError as e:
                print(e)
                return
            if c.strategy is None:
                paper = scaling_factor(subject, i, male_scale, female_scale)
                clip = scaled(subject, i, level.value)
                note = f" (the paper's factor for this speaker: x{paper:g})"
            else:
                clip = zeroed(subject, i, level.value, c.strategy, torch.Generator().manual_seed(seed))
                note = ""
            before = original(subject, i)
            print(f"{subject.name}, {_describe(subject, i)}")
            print(f"before: {before.caption}")
            display(audio(before.wave))
            print(f"after:  {clip.caption}{note}")
            display(audio(clip.wave))

    manipulation.observe(lambda ch: (refresh_options(), render()), names="value")
    for control in (speaker, digit, level):
        control.observe(render, names="value")
    refresh_options()
    render()
    return w.VBox([w.HBox([manipulation, level]), w.HBox([speaker, digit]), out])
