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

**Listening on the published page** (:func:`static_player`): the book's pages are static HTML
with no kernel, so every clip a reader may ask for is computed when the chapter runs and
embedded as an 8 kHz 16-bit WAV data URI; a few lines of inline JavaScript swap the ``src`` of
an ``<audio>`` element and the prediction text when the reader picks a manipulation, an example
or a level. :func:`manipulation_player` (chapter 04) and :func:`explanation_player` (chapter 05)
build one from the models' clips; :func:`explanation_grid` is chapter 05's table of players.
"""
from __future__ import annotations

import base64
import hashlib
import html
import io
import itertools
import json
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


# --- listening on the published page --------------------------------------------------------

@dataclass
class Example:
    """One example of a :class:`Choice`: its label, a clip per level of the choice, and the
    clip before the manipulation (the recording as the model gets it; None: not shown)."""

    label: str
    clips: Sequence[Clip]
    before: Clip | None = None


@dataclass
class Choice:
    """One manipulation of a :func:`static_player`: its label, the names of its levels (the
    slider's stops, in order), its examples and the level shown first."""

    label: str
    levels: Sequence[str]
    examples: Sequence[Example]
    start: int = 0


# The player's behaviour; %(id)s is the id of its root element. ES5, no libraries: it must run
# on the static page as it is, in Jupyter and in Colab. A clip that was playing keeps playing
# when the reader changes a control (a new source, from the start).
PLAYER_SCRIPT = """(function () {
  var me = document.currentScript;
  var root = me && me.parentNode && me.parentNode.id === "%(id)s" ? me.parentNode : document.getElementById("%(id)s");
  if (!root || root.getAttribute("data-ready")) { return; }
  root.setAttribute("data-ready", "1");
  var data = JSON.parse(root.querySelector("script[data-role=payload]").textContent);
  function el(role) { return root.querySelector("[data-role=" + role + "]"); }
  var choice = el("choice"), example = el("example"), level = el("level"), levelText = el("level-text");
  var after = el("after"), afterText = el("after-text");
  var before = el("before"), beforeText = el("before-text"), beforeRow = el("before-row");
  function load(audio, k) {
    var src = data.sources[k];
    if (audio.getAttribute("src") === src) { return; }
    var playing = !audio.paused && !audio.ended;
    audio.setAttribute("src", src);
    if (playing) { var p = audio.play(); if (p && p.catch) { p.catch(function () {}); } }
  }
  function current() { return data.choices[+choice.value]; }
  function fillExamples() {
    var c = current(), keep = example.selectedIndex >= 0 ? example.options[example.selectedIndex].text : null, pick = 0;
    while (example.firstChild) { example.removeChild(example.firstChild); }
    c.examples.forEach(function (e, i) {
      var o = document.createElement("option");
      o.value = String(i);
      o.text = e.label;
      example.appendChild(o);
      if (e.label === keep) { pick = i; }
    });
    example.value = String(pick);
    level.max = String(c.levels.length - 1);
    level.value = String(c.start);
    level.disabled = c.levels.length < 2;
  }
  function render() {
    var c = current(), e = c.examples[+example.value], i = +level.value, clip = e.clips[i];
    levelText.textContent = c.levels[i];
    load(after, clip[0]);
    afterText.textContent = clip[1];
    if (beforeRow) {
      beforeRow.style.display = e.before ? "" : "none";
      if (e.before) { load(before, e.before[0]); beforeText.textContent = e.before[1]; }
    }
  }
  choice.addEventListener("change", function () { fillExamples(); render(); });
  example.addEventListener("change", render);
  level.addEventListener("input", render);
  level.addEventListener("change", render);
})();"""


_PLAYER_COUNT = itertools.count()


def _player_payload(choices: Sequence[Choice]) -> dict:
    """The player's data: each distinct clip's WAV data URI once (``sources``), and per choice
    its levels and per example ``[source index, caption]`` of each level and of ``before``."""
    sources: list[str] = []
    index: dict[str, int] = {}

    def ref(clip: Clip | None):
        if clip is None:
            return None
        uri = wav_data_uri(clip.wave)
        if uri not in index:
            index[uri] = len(sources)
            sources.append(uri)
        return [index[uri], clip.caption]

    return {"sources": sources, "choices": [
        {"label": c.label, "levels": list(c.levels), "start": c.start,
         "examples": [{"label": e.label, "before": ref(e.before), "clips": [ref(x) for x in e.clips]} for e in c.examples]}
        for c in choices]}


def _check_choices(choices: Sequence[Choice]) -> None:
    if not choices:
        raise AudiomnistError("static player: no manipulation to offer")
    for c in choices:
        if not c.levels or not c.examples:
            raise AudiomnistError(f"static player: {c.label!r} needs at least one level and one example")
        if not 0 <= c.start < len(c.levels):
            raise AudiomnistError(f"static player: {c.label!r} starts at level {c.start} of {len(c.levels)}")
        for e in c.examples:
            if len(e.clips) != len(c.levels):
                raise AudiomnistError(f"static player: {c.label!r}, {e.label!r} has {len(e.clips)} clips "
                                      f"for {len(c.levels)} levels")


def static_player(choices: Sequence[Choice], title: str = "", *, before_label: str = "before",
                  after_label: str = "after"):
    """A listening control that works on a static page, with no kernel: the reader picks a
    manipulation, an example and a level (a slider), hears the result and reads the model's
    prediction on it, beside the recording before the manipulation.

    Returns an ``IPython.display.HTML`` (``.data`` is the HTML): a ``<select>`` of the
    ``choices``, a ``<select>`` of the chosen one's examples, a range slider over its levels,
    two ``<audio>`` players with their captions, the clips as 8 kHz 16-bit WAV data URIs (each
    distinct clip once) and a few lines of inline JavaScript that swap the players' ``src`` and
    the captions. Without JavaScript the first manipulation's first example still plays.

    Why this and not ipywidgets with embedded state and ``jslink``: the examples offered
    depend on the manipulation chosen, which client-side links between widgets cannot express
    (they copy one value to another, they do not change options), so every (manipulation,
    example, level) would need its own ``Audio`` widget in nested ``Stack`` s, each a widget
    model in the page's state, drawn by the widget manager's JavaScript. A plain ``<audio>``
    element with swapped sources needs no manager, weighs only its clips, behaves the same in
    Jupyter, Colab and the book, and is testable as text. Element roles are marked
    ``data-role`` (``choice``, ``example``, ``level``, ``level-text``, ``before``, ``after``,
    ``before-text``, ``after-text``) for tests and styling.
    """
    from IPython.display import HTML

    _check_choices(choices)
    payload = _player_payload(choices)
    blob = json.dumps(payload, separators=(",", ":"), ensure_ascii=True).replace("<", "\\u003c")
    # Content and call count: the same player shown twice on a page is two players.
    pid = f"audiomnist-player-{hashlib.sha256(blob.encode()).hexdigest()[:10]}-{next(_PLAYER_COUNT)}"
    esc = html.escape
    first = payload["choices"][0]
    ex = first["examples"][0]
    clip = ex["clips"][first["start"]]
    befores = [e["before"] for c in payload["choices"] for e in c["examples"] if e["before"] is not None]
    src = lambda k: payload["sources"][k]  # noqa: E731
    options = "".join(f"<option value='{i}'>{esc(c['label'])}</option>" for i, c in enumerate(payload["choices"]))
    examples = "".join(f"<option value='{i}'>{esc(e['label'])}</option>" for i, e in enumerate(first["examples"]))
    row = "display:flex;align-items:center;gap:8px;margin:4px 0"
    player = "<audio controls preload='none' data-role='{role}' style='width:260px' src='{src}'></audio>"
    before_row = ""
    if befores:
        shown = ex["before"] or befores[0]
        hidden = "" if ex["before"] else "display:none;"
        before_row = (f"<div data-role='before-row' style='{hidden}{row}'><span style='width:4em'>{esc(before_label)}</span>"
                      + player.format(role="before", src=src(shown[0]))
                      + f"<small data-role='before-text'>{esc(shown[1])}</small></div>")
    levels = len(first["levels"])
    return HTML(
        f"<div class='audiomnist-player' id='{pid}' style='border:1px solid #ccc;border-radius:4px;padding:8px;margin:8px 0'>"
        + (f"<div style='font-weight:bold;margin-bottom:4px'>{esc(title)}</div>" if title else "")
        + f"<div style='{row};flex-wrap:wrap'>"
        f"<label>manipulation <select data-role='choice'>{options}</select></label>"
        f"<label>example <select data-role='example'>{examples}</select></label>"
        f"<label>level <input type='range' data-role='level' min='0' max='{levels - 1}' step='1' value='{first['start']}'"
        + (" disabled" if levels < 2 else "")
        + f"> <span data-role='level-text'>{esc(first['levels'][first['start']])}</span></label></div>"
        + before_row
        + f"<div style='{row}'><span style='width:4em'>{esc(after_label)}</span>"
        + player.format(role="after", src=src(clip[0]))
        + f"<small data-role='after-text'>{esc(clip[1])}</small></div>"
        f"<script type='application/json' data-role='payload'>{blob}</script>"
        f"<script>{PLAYER_SCRIPT % {'id': pid}}</script></div>"
    )


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


def scaled_batch(subject: Subject, pairs: Sequence[tuple[int, float]], n_iter: int = 64) -> list[Clip]:
    """Recordings frequency-scaled as audio, one clip per ``(index, factor)`` of ``pairs``,
    each captioned with the AlexNet prediction on the scaled spectrogram. Griffin-Lim runs once
    for the whole batch (its cost is mostly per call, not per recording)."""
    if perturb.INPUTS[subject.model_name] != "spectrogram":
        raise AudiomnistError(f"{subject.name}: frequency scaling acts on spectrogram models (AlexNet) only")
    factors = [float(f) for _, f in pairs]
    per = torch.tensor(factors, dtype=torch.float64)
    waves = subject.test.waves[torch.tensor([int(i) for i, _ in pairs], dtype=torch.long)]
    preds = subject.predict(perturb.scaled_inputs(spectrogram(waves.to(subject.device)), per.to(subject.device), subject.mean))
    audio = frequency_scaled_audio(waves, per.to(waves.dtype), n_iter)
    return [Clip(a, f"x{f:g}: predicted {subject.label(p)}") for a, f, p in zip(audio, factors, preds)]


def scaled_clips(subject: Subject, index: int, factors: Sequence[float], n_iter: int = 64) -> list[Clip]:
    """Recording ``index`` frequency-scaled by each of ``factors`` (:func:`scaled_batch`)."""
    return scaled_batch(subject, [(index, f) for f in factors], n_iter)


def scaled(subject: Subject, index: int, factor: float, n_iter: int = 64) -> Clip:
    """Frequency-scaled recording ``index`` as audio, captioned with the AlexNet prediction on
    the scaled spectrogram (:func:`scaled_clips` of one factor)."""
    return scaled_clips(subject, index, [factor], n_iter)[0]


def zeroed_clips(subject: Subject, index: int, fractions: Sequence[float], strategy: str,
                 generator: torch.Generator | None = None) -> list[Clip]:
    """Recording ``index`` with each of ``fractions`` of its non-zero samples zeroed by
    ``strategy``, each captioned with the AudioNet prediction.

    The samples are ranked once (one random draw from ``generator``), so the zeroed sets of
    increasing fractions are nested. The relevance strategy explains the true class of this
    one recording with :func:`explain.relevance` under the subject's composite.
    """
    if perturb.INPUTS[subject.model_name] != "waveform":
        raise AudiomnistError(f"{subject.name}: zeroing is played for waveform models (AudioNet) only")
    fractions = [float(f) for f in fractions]
    wave = subject.test.waves[index : index + 1]
    label = subject.test.labels(subject.task)[index : index + 1]
    inputs = subject.inputs(wave)
    rel = None
    if strategy == "relevance":
        from . import explain

        rel = explain.relevance(subject.model, inputs, label.to(subject.device), subject.composite).detach()
    masks = perturb.zero_mask(inputs[:, 0], fractions, strategy, rel, generator)[:, 0].cpu()  # (F, T)
    preds = subject.predict(inputs[:, 0].expand(len(fractions), -1).masked_fill(masks.to(inputs.device), 0.0)[:, None])
    return [Clip(wave[0].masked_fill(m, 0.0), f"{100 * f:g} %: predicted {subject.label(p)}")
            for m, f, p in zip(masks, fractions, preds)]


def zeroed(subject: Subject, index: int, fraction: float, strategy: str, generator: torch.Generator | None = None) -> Clip:
    """Recording ``index`` with ``fraction`` of its non-zero samples zeroed by ``strategy``,
    captioned with the AudioNet prediction (:func:`zeroed_clips` of one fraction)."""
    return zeroed_clips(subject, index, [fraction], strategy, generator)[0]


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
    pairs = [(i, f) for i in indices for f in (1.0, scaling_factor(subject, i, male_scale, female_scale))]
    made = scaled_batch(subject, pairs, n_iter)
    clips = [[original(subject, i), Clip(made[2 * k].wave, "Griffin-Lim artefacts only"), made[2 * k + 1]]
             for k, i in enumerate(indices)]
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


# --- the players of chapters 04 and 05 -------------------------------------------------------

SCALING_FACTORS = (0.5, 0.66, 0.8, 1.0, 1.25, 1.5, 2.0)  # frequency-scaling factors a listener can pick


def scaling_levels(male_scale: float, female_scale: float) -> list[float]:
    """The frequency-scaling factors offered to a listener: :data:`SCALING_FACTORS` and the
    paper's two (the profile's ``perturb.male_scale`` and ``female_scale``), ascending."""
    return sorted({*SCALING_FACTORS, male_scale, female_scale})


def _spanned(subject: Subject, index: int, clip: Clip) -> Clip:
    return Clip(span(clip.wave, int(subject.test.offsets[index]), int(subject.test.lengths[index])), clip.caption)


def manipulation_player(subjects_by_name: dict[str, Subject], fractions: Sequence[float], male_scale: float = 1.5,
                        female_scale: float = 0.66, seed: int = 0, n_iter: int = 64, title: str = ""):
    """Chapter 04's :func:`static_player`: frequency scaling (AlexNet gender; levels the
    factors of :func:`scaling_levels`, starting at the paper's for the first example) and
    zeroing by each strategy (AudioNet digits and gender; levels the ``fractions`` above 0,
    starting at 1 %), each on :func:`examples` (a male and a female "zero" of the model's test
    fold), with the model's prediction under each clip. The clips are those of
    :func:`scaled_batch` and :func:`zeroed_clips` (the relevance explains the true class; one
    random draw seeded with ``seed``, so the zeroed samples of increasing levels are nested),
    each played over its recording's :func:`span`. Models missing from
    ``subjects_by_name`` are left out."""
    choices = []
    if "alexnet/gender" in subjects_by_name:
        subject = subjects_by_name["alexnet/gender"]
        factors = scaling_levels(male_scale, female_scale)
        picked = examples(subject, digit=0)
        if picked:
            paper = {male_scale: "the paper's for male speakers", female_scale: "the paper's for female speakers"}
            levels = [f"x{f:g}" + (f" ({paper[f]})" if f in paper else "") for f in factors]
            start = factors.index(scaling_factor(subject, picked[0], male_scale, female_scale))
            made = scaled_batch(subject, [(i, f) for i in picked for f in factors], n_iter)
            choices.append(Choice("frequency scaling (AlexNet, gender)", levels, [
                Example(_describe(subject, i), [_spanned(subject, i, c) for c in made[k * len(factors) : (k + 1) * len(factors)]],
                        _spanned(subject, i, original(subject, i))) for k, i in enumerate(picked)], start))
    levels = [f for f in fractions if f > 0]
    for name in ("audionet/digits", "audionet/gender"):
        if name not in subjects_by_name or not levels:
            continue
        subject = subjects_by_name[name]
        picked = examples(subject, digit=0)
        for strategy in perturb.STRATEGIES:
            choices.append(Choice(
                f"zeroing by {strategy} (AudioNet, {subject.task})", [f"{100 * f:g} % zeroed" for f in levels],
                [Example(_describe(subject, i),
                         [_spanned(subject, i, c) for c in
                          zeroed_clips(subject, i, levels, strategy, torch.Generator().manual_seed(seed))],
                         _spanned(subject, i, original(subject, i))) for i in picked],
                min(range(len(levels)), key=lambda k: abs(levels[k] - 0.01))))
    choices = [c for c in choices if c.examples]
    if not choices:
        raise AudiomnistError("no model to listen to: the profile trains neither alexnet/gender nor audionet")
    return static_player(choices, title)


def _explanation_clips(audible: dict, k: int) -> dict:
    """The clips of example ``k`` of :func:`audiomnist_core.steps.audible_explanations`, each
    over the recording's :func:`span` (those with DFT bins removed: the whole second),
    captioned with the model's prediction."""
    labels = LABELS[audible["task"]]
    offset, length = int(audible["offsets"][k]), int(audible["lengths"][k])
    cut = lambda wave: span(wave, offset, length)  # noqa: E731
    said = lambda pred: f"predicted {labels[int(pred)]}"  # noqa: E731
    truth = labels[int(audible["truth"][k])]
    plain = [f"{name} {labels[int(audible[m]['predicted'][k])]}" for m, name in (("audionet", "AudioNet"), ("alexnet", "AlexNet"))
             if m in audible]
    clips = {"original": Clip(cut(audible["original"][k]), f"true {truth}" + (f"; predicted: {', '.join(plain)}" if plain else ""))}
    fractions = audible["fractions"]
    a = audible.get("audionet")
    if a is not None:
        clips["audionet"] = Clip(cut(a["original"][k]), f"AudioNet {said(a['predicted'][k])} (true {truth})")
        clips["weighted"] = Clip(cut(a["weighted"][k]), f"x relevance: AudioNet {said(a['weighted_predicted'][k])}")
        clips["removed"] = [Clip(cut(a["removed"][i][k]), f"top {100 * f:g} % of samples removed: "
                                 f"AudioNet {said(a['removed_predicted'][i][k])}") for i, f in enumerate(fractions)]
        # Removing DFT bins changes the whole second, the padding too: played in full.
        clips["bins_removed"] = [Clip(torch.as_tensor(a["bins_removed"][i][k]), f"top {100 * f:g} % of DFT bins removed: "
                                      f"AudioNet {said(a['bins_removed_predicted'][i][k])}") for i, f in enumerate(fractions)]
    x = audible.get("alexnet")
    if x is not None:
        clips["alexnet"] = Clip(cut(audible["original"][k]), f"AlexNet {said(x['predicted'][k])} (true {truth})")
        clips["masked"] = Clip(cut(x["masked"][k]), f"relevance mask: AlexNet {said(x['masked_predicted'][k])}")
        clips["complement"] = Clip(cut(x["complement"][k]), f"complement: AlexNet {said(x['complement_predicted'][k])}")
    return clips


EXPLANATIONS = {  # what each audible explanation is, in the players' words
    "weighted": "AudioNet: the input weighted by its positive relevance",
    "removed": "AudioNet: the most relevant samples removed",
    "bins_removed": "AudioNet: the most relevant DFT bins removed (DFT-LRP)",
    "masked": "AlexNet: the STFT masked by its positive relevance, resynthesised",
    "complement": "AlexNet: the complement (the STFT without what it relied on)",
}


def explanation_player(audible: dict, title: str = ""):
    """Chapter 05's :func:`static_player` over :func:`audiomnist_core.steps.audible_explanations`:
    one manipulation per audible explanation (:data:`EXPLANATIONS`) of each model that is
    there, its examples the recordings of ``audible`` (one per class), levels the removed
    fraction where there is one (starting at the one nearest 10 %), and before each the
    recording as that model gets it (AudioNet: its normalised input at the recording's level)
    with the model's prediction."""
    n = len(audible["truth"])
    per = [_explanation_clips(audible, k) for k in range(n)]
    names = [audible["titles"][k] for k in range(n)]
    fractions = list(audible["fractions"])
    near10 = min(range(len(fractions)), key=lambda i: abs(fractions[i] - 0.1)) if fractions else 0
    choices = []
    for key, text in EXPLANATIONS.items():
        if key not in per[0]:
            continue
        before = "audionet" if key in ("weighted", "removed", "bins_removed") else "alexnet"
        if key in ("removed", "bins_removed"):
            if not fractions:
                continue
            noun = "samples" if key == "removed" else "DFT bins"
            levels, start, clips = [f"{100 * f:g} % of the {noun}" for f in fractions], near10, [c[key] for c in per]
        else:
            levels, start, clips = ["–"], 0, [[c[key]] for c in per]
        choices.append(Choice(text, levels, [Example(names[k], clips[k], per[k][before]) for k in range(n)], start))
    return static_player(choices, title)


def explanation_grid(audible: dict, classes: Sequence[int] | None = None, fraction: float = 0.1, caption: str = ""):
    """Chapter 05's :func:`player_grid`: a column per recording of ``audible`` whose true class
    is in ``classes`` (None: all), a row each for the original, AudioNet's relevance-weighted
    input and that input without its most relevant samples (the fraction of
    ``audible["fractions"]`` nearest ``fraction``), AlexNet's relevance-masked resynthesis and
    its complement, every clip captioned with the model's prediction."""
    chosen = [k for k, c in enumerate(audible["truth"]) if classes is None or int(c) in set(classes)]
    fractions = list(audible["fractions"])
    rows, keys = ["original"], ["original"]
    if "audionet" in audible:
        i = min(range(len(fractions)), key=lambda j: abs(fractions[j] - fraction))
        rows += ["AudioNet: input x relevance", f"AudioNet: top {100 * fractions[i]:g} % of samples removed"]
        keys += ["weighted", ("removed", i)]
    if "alexnet" in audible:
        rows += ["AlexNet: relevance mask", "AlexNet: complement"]
        keys += ["masked", "complement"]
    per = [_explanation_clips(audible, k) for k in chosen]
    clips = [[c[key[0]][key[1]] if isinstance(key, tuple) else c[key] for c in per] for key in keys]
    return player_grid(clips, rows, [audible["titles"][k] for k in chosen], caption)


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
        factors = scaling_levels(male_scale, female_scale)
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
