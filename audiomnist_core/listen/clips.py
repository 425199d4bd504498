"""The models' side of listening: a trained model and its test recordings (:class:`Subject`),
the clips of its manipulated inputs with its predictions on them, and the players of chapters
04 and 05 built from those clips."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from .. import perturb
from ..errors import AudiomnistError
from ..preprocess import Signals, model_input, spectrogram
from .player import Choice, Clip, Example, player_grid, static_player
from .sound import frequency_scaled_audio, span

LABELS = {"digits": [str(d) for d in range(10)], "gender": ["male", "female"]}


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
        from .. import explain

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
    from ..explain import pick
    from ..train import predict

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

