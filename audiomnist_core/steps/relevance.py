"""The relevance step on a run: the cached relevance of a fold's test set
(:func:`explain_test_set`) and, from it, the data of chapter 03's figures and numbers.
The numerics are :mod:`audiomnist_core.explain`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from torch import nn
from zennit.core import Composite

from ..errors import AudiomnistError
from ..explain.analysis import band_shares, figure1_examples, padding_share, pick, zoom_window
from ..explain.attribution import attribution
from ..explain.composites import describe, profile_composite, spectrogram_bounds
from ..explain.lrp import targets_for
from ..models import INPUTS, network_input
from ..preprocess import FREQ_BINS, TIME_FRAMES, spectrogram
from ..runs import Step, cached, file_hash, status, tensor_hash
from ..train import resolve_device
from .folds import fold_data, skipped_tasks
from .training import ensure_trained, load_model

RELEVANCE = Step("relevance", code=("steps.relevance",))


def run_composite(run, model_name: str, mean: torch.Tensor | None = None, choice: str | None = None) -> Composite:
    """The composite for ``model_name``: ``choice`` (a name of :data:`COMPOSITES` or
    ``"default"``), or where None the profile's (``explain.composites``). AlexNet's box bounds
    come from the fold's training mean (:func:`spectrogram_bounds`)."""
    if choice is None:
        choice = run.config.explain.composites.get(model_name, "default")
    low, high = spectrogram_bounds(mean) if mean is not None else (None, None)
    return profile_composite(choice, model_name, low, high)


@dataclass
class Explained:
    """A test set explained: ``relevance`` ``(N, 1, 227, 227)`` or ``(N, 1, 8000)`` float32,
    the explained class ``targets`` and the model's ``predicted`` class ``(N,)``, and the
    composite's description."""

    relevance: torch.Tensor
    targets: torch.Tensor
    predicted: torch.Tensor
    composite: str


@RELEVANCE.tracked
def explain_test_set(run, model_name: str, task: str, fold: int, composite: str | None = None,
                     device=None) -> Explained:
    """Relevance of every test recording of ``fold`` under the trained ``model_name`` for
    ``task``, in the order of ``fold_data(run, task, fold).test``.

    ``composite``: None for the profile's choice (``explain.composites``, or the attribution
    method ``explain.method`` where that is not "lrp"), else a name of :data:`COMPOSITES` or
    ``"default"``. The explained class is the profile's
    ``explain.target`` ("label" or "predicted"). Cached at ``run.path("relevance",
    f"{model}-{task}-fold{k}.npz")`` (other composites: ``...-fold{k}-{name}.npz``) with a
    stamp, and recomputed when the checkpoint, the composite, the explained classes or the
    test inputs change, or the code of :data:`RELEVANCE`.
    """
    checkpoint = ensure_trained(run, model_name, task, fold, device=device)
    data = fold_data(run, task, fold)
    mean = data.mean if INPUTS[model_name] == "spectrogram" else None
    cfg = run.config.explain
    comp = run_composite(run, model_name, mean, composite)
    # What the relevance is: LRP with the composite, or the profile's other method
    # (explain.method); a composite asked for by name is always LRP.
    method = "lrp" if composite is not None else cfg.method
    label = describe(comp) if method == "lrp" else method
    labels = data.test.labels(task)
    key = RELEVANCE.key(run, model=model_name, task=task, fold=fold, composite=label, checkpoint=file_hash(checkpoint),
                        inputs=tensor_hash(data.test.waves, labels, mean))
    suffix = "" if composite is None else f"-{composite}"

    def compute() -> dict[str, np.ndarray]:
        status(f"relevance: {model_name}/{task} fold {fold}, {len(data.test)} test recordings, {label.split(':')[0]}")
        model = _trained_model(run, model_name, task, fold, device)
        inputs = network_input(model_name, data.test.waves, mean, run.config.preprocess.waveform_norm)
        predicted = targets_for(model, inputs, labels, "predicted", cfg.batch_size)
        targets = predicted if cfg.target == "predicted" else labels.long()
        rel = attribution(model, inputs, targets, method, cfg.batch_size, composite=comp).float().cpu()
        return {"relevance": rel.numpy(), "targets": targets.numpy(), "predicted": predicted.numpy()}

    path = run.path("relevance", f"{model_name}-{task}-fold{fold}{suffix}.npz")
    arrays = cached(run, RELEVANCE, path, key, compute, kind="npz")
    return Explained(*(torch.from_numpy(arrays[k]) for k in ("relevance", "targets", "predicted")), label)


def test_relevance(run, model_name: str, task: str, fold: int, device=None) -> torch.Tensor:
    """Relevance of ``fold``'s test set with the profile's composite (see
    :func:`explain_test_set`), ``(N, 1, 227, 227)`` or ``(N, 1, 8000)`` float32."""
    return explain_test_set(run, model_name, task, fold, device=device).relevance


test_relevance.__test__ = False  # a library function, not a test, wherever pytest meets it


# --------------------------------------------------------------------------------------------
# What the chapter shows: the data of each figure and number, from a run
# --------------------------------------------------------------------------------------------

LABELS = {"digits": [str(d) for d in range(10)], "gender": ["male", "female"]}
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _describe_recording(signals, i: int) -> str:
    gender = "female" if int(signals.gender[i]) == 1 else "male"
    digit, speaker, rep = DIGIT_NAMES[int(signals.digit[i])], int(signals.speaker[i]), int(signals.rep[i])
    return f"'{digit}', {gender} speaker {speaker:02d}, rep {rep}"


def _verdict(explained: Explained, i: int, task: str) -> str:
    return f"predicted {LABELS[task][int(explained.predicted[i])]}"


def _spectrogram_db(wave: torch.Tensor) -> np.ndarray:
    return spectrogram(wave.reshape(1, -1))[0].numpy()


def _trained_model(run, model_name: str, task: str, fold: int, device=None) -> nn.Module:
    return load_model(run, model_name, task, fold, device=resolve_device(device or run.config.train.device))


def _relevance_for(run, model_name: str, task: str, fold: int, wave: torch.Tensor, target: int,
                   device=None) -> torch.Tensor:
    """Relevance of one recording that is not in the fold's test set (its own input, cached
    nowhere), with the profile's method and composite."""
    data = fold_data(run, task, fold)
    mean = data.mean if INPUTS[model_name] == "spectrogram" else None
    comp = run_composite(run, model_name, mean)
    model = _trained_model(run, model_name, task, fold, device)
    inputs = network_input(model_name, wave.reshape(1, -1), mean, run.config.preprocess.waveform_norm)
    return attribution(model, inputs, torch.tensor([target]), run.config.explain.method, composite=comp)[0]


def figure1_data(run, fold: int, device=None) -> dict:
    """Fig. 1's panels (a)-(d) for ``fold``: ``spectrograms`` ``(4, 227, 227)`` dB,
    ``relevances`` ``(4, 227, 227)``, ``titles``, ``waves`` ``(4, 8000)`` (int16 scale, for
    players) and the chosen ``examples`` (:func:`figure1_examples`)."""
    digits, gender = fold_data(run, "digits", fold).test, fold_data(run, "gender", fold).test
    rd = explain_test_set(run, "alexnet", "digits", fold, device=device)
    rg = explain_test_set(run, "alexnet", "gender", fold, device=device)
    ex = figure1_examples(digits, gender, rd.predicted == digits.digit, rg.predicted == gender.gender)
    if ex.zero_in_gender_test:
        rel_c, verdict_c = rg.relevance[ex.zero_gender], _verdict(rg, ex.zero_gender, "gender")
    else:  # the gender model has not held this speaker out; say so
        rel_c = _relevance_for(run, "alexnet", "gender", fold, digits.waves[ex.zero], int(digits.gender[ex.zero]),
                               device)
        verdict_c = "not a test speaker of this gender fold"
    waves = torch.stack([digits.waves[ex.zero], digits.waves[ex.one], digits.waves[ex.zero],
                         gender.waves[ex.male_zero]])
    return {
        "spectrograms": np.stack([_spectrogram_db(w) for w in waves]),
        "relevances": np.stack([r.reshape(FREQ_BINS, TIME_FRAMES).numpy() for r in (
            rd.relevance[ex.zero], rd.relevance[ex.one], rel_c, rg.relevance[ex.male_zero])]),
        "titles": [
            f"digit model: {_describe_recording(digits, ex.zero)} ({_verdict(rd, ex.zero, 'digits')})",
            f"digit model: {_describe_recording(digits, ex.one)} ({_verdict(rd, ex.one, 'digits')})",
            f"gender model: same input as (a) ({verdict_c})",
            f"gender model: {_describe_recording(gender, ex.male_zero)} ({_verdict(rg, ex.male_zero, 'gender')})",
        ],
        "waves": waves,
        "examples": ex,
    }


def figure2_data(run, fold: int, prefer: int | None = None, device=None) -> dict:
    """Fig. 2 for ``fold``: AudioNet's gender relevance of a male "zero" of the gender test
    set: recording ``prefer`` (an index into it, e.g. Fig. 1(d)'s) where it is a male "zero"
    that AudioNet classifies correctly, else the first male "zero" it does. Keys ``input``
    (the network's waveform ``(8000,)``), ``wave`` (int16 scale), ``relevance`` ``(8000,)``, ``offset``, ``length``, ``window`` (s), ``title``."""
    gender = fold_data(run, "gender", fold).test
    ra = explain_test_set(run, "audionet", "gender", fold, device=device)
    correct = ra.predicted == gender.gender
    wanted = prefer is not None and int(gender.digit[prefer]) == 0 and int(gender.gender[prefer]) == 0
    i = prefer if wanted and bool(correct[prefer]) else pick(gender, digit=0, gender=0, correct=correct)
    if i is None:
        raise AudiomnistError("the gender test set has no male 'zero'; Fig. 2 needs one")
    rel = ra.relevance[i].reshape(-1)
    offset, length = int(gender.offsets[i]), int(gender.lengths[i])
    return {
        "input": network_input("audionet", gender.waves[i : i + 1], None, run.config.preprocess.waveform_norm).reshape(-1).numpy(),
        "wave": gender.waves[i],
        "relevance": rel.numpy(),
        "offset": offset,
        "length": length,
        "window": zoom_window(length, offset, rel.numpy()),
        "title": f"gender model: {_describe_recording(gender, i)} ({_verdict(ra, i, 'gender')})",
    }


def class_examples(run, model_name: str, task: str, fold: int, per_class: int = 1, device=None) -> dict:
    """More examples: ``per_class`` test recordings of each class (correctly classified
    first, each from another speaker where possible). Keys ``inputs`` (dB spectrograms
    ``(K, 227, 227)`` or network waveforms ``(K, 8000)``), ``relevances`` (same shape),
    ``waves`` ``(K, 8000)`` int16 scale, ``offsets``, ``lengths``, ``titles``, ``labels``."""
    test = fold_data(run, task, fold).test
    ex = explain_test_set(run, model_name, task, fold, device=device)
    labels = test.labels(task)
    correct = ex.predicted == labels
    chosen = []
    for c in range(len(LABELS[task])):
        key = {"digit" if task == "digits" else "gender": c}
        used: list[int] = []
        for _ in range(per_class):
            others = sorted(set(test.speaker[labels == c].tolist()) - set(used))
            i = pick(test, **key, speakers=others, correct=correct) if others else None
            i = pick(test, **key, correct=correct, exclude=chosen) if i is None else i
            if i is None:
                break
            chosen.append(i)
            used.append(int(test.speaker[i]))
    idx = torch.tensor(chosen, dtype=torch.long)
    spectral = INPUTS[model_name] == "spectrogram"
    inputs = (np.stack([_spectrogram_db(test.waves[i]) for i in chosen]) if spectral
              else network_input(model_name, test.waves[idx], None, run.config.preprocess.waveform_norm)
              .reshape(len(chosen), -1).numpy())
    return {
        "inputs": inputs,
        "relevances": ex.relevance[idx].reshape(inputs.shape).numpy(),
        "waves": test.waves[idx],
        "offsets": test.offsets[idx].numpy(),
        "lengths": test.lengths[idx].numpy(),
        "titles": [f"{LABELS[task][int(labels[i])]}: spk {int(test.speaker[i]):02d}, rep {int(test.rep[i])} "
                   f"(pred. {LABELS[task][int(ex.predicted[i])]})" for i in chosen],
        "labels": [LABELS[task][int(labels[i])] for i in chosen],
    }


def tasks_run(run) -> tuple[str, ...]:
    """The tasks whose models this run explains: both, less those that the corpus cannot be
    split for (:func:`skipped_tasks`; e.g. gender on a corpus with one gender)."""
    skipped = skipped_tasks(run)
    return tuple(task for task in LABELS if task not in skipped)


def explain_run(run, fold: int, device=None) -> dict[tuple[str, str], Explained]:
    """:func:`explain_test_set` of both models for every task of :func:`tasks_run` on ``fold``,
    keyed ``(model, task)``."""
    return {(m, t): explain_test_set(run, m, t, fold, device=device) for m in ("alexnet", "audionet") for t in tasks_run(run)}


def band_shares_of_run(run, fold: int, bands_hz: Sequence[float], device=None) -> dict[str, np.ndarray]:
    """:func:`band_shares` of AlexNet's relevance over the whole test set of ``fold``, per
    task of :func:`tasks_run`: ``{"digits": (N_digits, n_bands), "gender": (N_gender, n_bands)}``."""
    return {task: band_shares(test_relevance(run, "alexnet", task, fold, device).numpy(), bands_hz)
            for task in tasks_run(run)}


def padding_shares_of_run(run, fold: int, composites: Sequence[str | None] = (None,), device=None) -> dict:
    """:func:`padding_share` of AudioNet's relevance over the whole test set of ``fold``, per
    task of :func:`tasks_run` and composite (None: the profile's): ``{(task, composite): (N,)}``."""
    out = {}
    for task in tasks_run(run):
        test = fold_data(run, task, fold).test
        for composite in composites:
            rel = explain_test_set(run, "audionet", task, fold, composite, device).relevance
            out[(task, composite)] = padding_share(rel.numpy(), test.lengths.numpy(), test.offsets.numpy())
    return out
