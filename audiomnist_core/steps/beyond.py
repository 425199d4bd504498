"""Chapter 05's steps, beyond the 2018 paper: where in frequency each model finds its evidence
(AudioNet's relevance through DFT-LRP beside AlexNet's spectrogram relevance), both models'
relevance of the recordings of Fig. 1 on one time-frequency grid, explanations made audible,
and Fig. 3 in the frequency domain (removing DFT bins). The per-fold results are cached in the
run store (``runs/<profile>-<data>/beyond/``); :func:`beyond_profile` assembles them over the
profile's folds. The numerics are :mod:`audiomnist_core.explain.dft` and
:mod:`audiomnist_core.spectral`.
"""
from __future__ import annotations

import numpy as np
import torch

from ..explain.analysis import band_shares, frequency_band_shares, pick
from ..explain.dft import dft_frequencies, dft_relevance
from ..listen import recording_gain
from ..models import N_CLASSES, network_input
from ..preprocess import Signals
from ..runs import Run, Step, cached, file_hash, save_json, status, tensor_hash
from ..spectral import (BIN_STRATEGIES, bin_removal_curve, masked_resynthesis, relevance_weighted, remove_bins, stft,
                        without_most_relevant)
from ..train import predict, resolve_device
from .folds import fold_data, folds_of, skipped_tasks, subsample
from .relevance import LABELS, _describe_recording, _relevance_for, explain_test_set, figure1_data, test_relevance
from .training import ensure_trained, load_model

TASKS_INDEX = {"digits": 0, "gender": 1}  # stable integers for the seeds
BAND_SHARES = Step("band shares", code=("steps.beyond",))
FREQUENCY_REMOVAL = Step("frequency removal", code=("steps.beyond",))
MODELS = ("audionet", "alexnet")
# The removed fractions a listener can pick: the table's 1 % and 10 %, and half. Every level is a
# clip per example on the page, so the profile's whole grid would weigh too much.
LISTEN_FRACTIONS = (0.01, 0.1, 0.5)


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def _test_set(run: Run, task: str, fold: int) -> tuple[Signals, torch.Tensor]:
    """The fold's test recordings used here, a seeded subset of ``beyond.max_per_fold``
    spread evenly over speaker x class (:func:`subsample`), and their indices into the full
    test set."""
    test = fold_data(run, task, fold).test
    strata = test.speaker * N_CLASSES[task] + test.labels(task)
    idx = subsample(strata, run.config.beyond.max_per_fold, _seed(run.config.beyond.seed, TASKS_INDEX[task], fold))
    return test.select(idx), idx


def _trained(run: Run, task: str) -> list[str]:
    return [m for m in MODELS if f"{m}/{task}" in run.config.train.runs]


def _nanmean(shares: np.ndarray) -> list[float | None]:
    """Mean over items of each band, None for a band no item has a number for."""
    with np.errstate(invalid="ignore"):
        means = [float(np.nanmean(col)) if np.isfinite(col).any() else None for col in shares.T]
    return means


@BAND_SHARES.tracked
def band_shares_fold(run: Run, task: str, fold: int, device=None) -> dict:
    """Share of positive relevance per band of ``beyond.bands_hz`` for each trained model of
    ``task`` on ``fold``'s test recordings (:func:`_test_set`): AudioNet's relevance taken to
    the real-DFT bins of its input by DFT-LRP (:func:`dft_relevance`, 1 Hz bins), AlexNet's
    relevance on its spectrogram rows.

    Returns ``{"<model>": [mean share per band, over the recordings], "n_test",
    "n_without_positive": {"<model>": recordings with no positive relevance (left out of the
    mean)}}``, cached at ``beyond/band_shares-<task>-fold<k>.json``.
    """
    device = resolve_device(device or run.config.train.device)
    cfg = run.config.beyond
    test, idx = _test_set(run, task, fold)
    models = _trained(run, task)
    relevance = {m: test_relevance(run, m, task, fold, device)[idx] for m in models}

    def compute() -> dict:
        out: dict = {"n_test": len(test), "n_without_positive": {}}
        for m, rel in relevance.items():
            if m == "audionet":
                inputs = network_input(m, test.waves, None, run.config.preprocess.waveform_norm)[:, 0].double()
                per_bin = dft_relevance(rel.reshape(len(test), -1).double(), inputs, "frequency").numpy()
                shares = frequency_band_shares(per_bin, dft_frequencies(inputs.shape[-1]), cfg.bands_hz)
            else:
                shares = band_shares(rel.numpy(), cfg.bands_hz)
            out[m] = _nanmean(shares)
            out["n_without_positive"][m] = int(np.isnan(shares).all(axis=1).sum())
        return out

    key = BAND_SHARES.key(run, task=task, fold=fold, test=tensor_hash(test.waves),
                          relevance={m: tensor_hash(r) for m, r in relevance.items()})
    return cached(run, BAND_SHARES, run.path("beyond", f"band_shares-{task}-fold{fold}.json"), key, compute)


@FREQUENCY_REMOVAL.tracked
def frequency_removal_fold(run: Run, task: str, fold: int, device=None) -> dict:
    """AudioNet's accuracy (%) on ``fold``'s test recordings (:func:`_test_set`) with a
    fraction of each input's real-DFT bins removed (:func:`spectral.remove_bins`), per
    fraction of ``beyond.fractions`` and strategy: highest DFT-LRP relevance (of the
    profile's relevance of the input, :func:`test_relevance`), largest magnitude, or at random
    (``beyond.random_draws`` draws averaged, seeded by ``beyond.seed``, the task and the fold).

    Returns ``{"relevance": [...], "magnitude": [...], "random": [...], "unperturbed": [%],
    "n_test"}``, cached at ``beyond/frequency_removal-audionet-<task>-fold<k>.json``.
    """
    device = resolve_device(device or run.config.train.device)
    checkpoint = ensure_trained(run, "audionet", task, fold, device)
    cfg = run.config.beyond
    test, idx = _test_set(run, task, fold)
    labels = test.labels(task)
    relevance = test_relevance(run, "audionet", task, fold, device)[idx]

    def compute() -> dict:
        status(f"frequency removal: audionet/{task} fold {fold}, {len(test)} test recordings x "
               f"{len(cfg.fractions)} fractions x {len(BIN_STRATEGIES)} strategies")
        model = load_model(run, "audionet", task, fold, device)
        inputs = network_input("audionet", test.waves, None, run.config.preprocess.waveform_norm)[:, 0].to(device)
        scores = dft_relevance(relevance.reshape(len(test), -1).to(device), inputs, "frequency")
        generator = torch.Generator(device=device).manual_seed(_seed(cfg.seed, TASKS_INDEX[task], fold))
        out = bin_removal_curve(model, inputs, labels, scores, cfg.fractions, BIN_STRATEGIES, generator,
                                cfg.random_draws, cfg.batch_size)
        return {**out, "n_test": len(test)}

    key = FREQUENCY_REMOVAL.key(run, task=task, fold=fold, checkpoint=file_hash(checkpoint),
                                test=tensor_hash(test.waves, labels), relevance=tensor_hash(relevance))
    return cached(run, FREQUENCY_REMOVAL, run.path("beyond", f"frequency_removal-audionet-{task}-fold{fold}.json"),
                  key, compute)


def beyond_profile(run: Run, device=None) -> dict:
    """Chapter 05's measured results over every fold the profile uses.

    Returns (shares in [0, 1], accuracies in percent, lists over folds in ``folds_of`` order)::

        {"profile", "data", "bands_hz", "skipped": {task: reason},
         "band_shares": {task: {"<model>": [[per fold] per band], "folds", "n_test"}},
         "frequency_removal": {"audionet/<task>": {"fractions", "chance", "folds", "n_test",
                               "curves": {"relevance"|"magnitude"|"random": [[per fold] per fraction]},
                               "unperturbed": [per fold]}},
         "stamp"}

    A task that the corpus cannot be split for (:func:`skipped_tasks`) is ``{"skipped":
    reason}`` in both parts; models the profile does not train are absent. The assembled
    result is written to ``beyond/profile.json``; each fold's part is cached
    (:func:`band_shares_fold`, :func:`frequency_removal_fold`).
    """
    device = resolve_device(device or run.config.train.device)
    cfg = run.config.beyond
    skipped = skipped_tasks(run)
    result: dict = {"profile": run.profile, "data": run.data, "bands_hz": list(cfg.bands_hz), "skipped": skipped,
                    "band_shares": {}, "frequency_removal": {}}
    for task in LABELS:
        if task in skipped:
            result["band_shares"][task] = {"skipped": skipped[task]}
            if "audionet" in _trained(run, task):
                result["frequency_removal"][f"audionet/{task}"] = {"skipped": skipped[task]}
            continue
        models = _trained(run, task)
        if not models:
            continue
        folds = folds_of(run, task)
        shares = [band_shares_fold(run, task, k, device) for k in folds]
        result["band_shares"][task] = {
            **{m: [[s[m][b] for s in shares] for b in range(len(cfg.bands_hz) - 1)] for m in models},
            "folds": list(folds), "n_test": [s["n_test"] for s in shares],
        }
        if "audionet" in models:
            per_fold = [frequency_removal_fold(run, task, k, device) for k in folds]
            result["frequency_removal"][f"audionet/{task}"] = {
                "fractions": list(cfg.fractions),
                "chance": 100.0 / N_CLASSES[task],
                "curves": {s: [[r[s][i] for r in per_fold] for i in range(len(cfg.fractions))] for s in BIN_STRATEGIES},
                "unperturbed": [r["unperturbed"][0] for r in per_fold],
                "folds": list(folds),
                "n_test": [r["n_test"] for r in per_fold],
            }
    result["stamp"] = run.stamp(**BAND_SHARES.provenance())  # one module computes both
    save_json(run.path("beyond", "profile.json"), result)
    return result


# --------------------------------------------------------------------------------------------
# What the chapter shows besides: one grid, and explanations to listen to
# --------------------------------------------------------------------------------------------

def _db(spec: torch.Tensor, floor: float = -80.0) -> np.ndarray:
    """``20 log10 |Z| / max |Z|`` per item, floored at ``floor`` dB: ``(N, F, M) -> (N, F, M)``."""
    mag = spec.abs()
    peak = mag.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-12)
    return (20 * torch.log10(mag.clamp_min(1e-12) / peak)).clamp_min(floor).numpy()


def time_frequency_data(run: Run, fold: int, device=None) -> dict:
    """The recordings of Fig. 1 (:func:`figure1_data`) under both models on one grid.

    Keys: ``alexnet`` ``(4, 227, 227)`` AlexNet's relevance (Fig. 1's) and ``spectrograms``
    ``(4, 227, 227)`` its dB inputs; ``audionet`` ``(4, 228, 230)`` AudioNet's relevance of the
    same recordings under the same task, taken to the paper's full STFT grid by DFT-LRP
    (``dft_relevance(..., "time-frequency")``; AlexNet's 227 x 227 is its rows 0-226 and frames
    2-228) and ``grid_spectrograms`` ``(4, 228, 230)`` the dB STFT of AudioNet's input there;
    ``titles`` (AlexNet's, Fig. 1's) and ``audionet_titles``. Panel (c), the digit "zero" under
    the gender model, is explained on its own where the gender fold did not hold its speaker out.
    """
    device = resolve_device(device or run.config.train.device)
    f1 = figure1_data(run, fold, device)
    ex = f1["examples"]
    digits, gender = fold_data(run, "digits", fold).test, fold_data(run, "gender", fold).test
    ad = explain_test_set(run, "audionet", "digits", fold, device=device)
    ag = explain_test_set(run, "audionet", "gender", fold, device=device)
    verdict = lambda e, i, task: f"predicted {LABELS[task][int(e.predicted[i])]}"  # noqa: E731
    if ex.zero_in_gender_test:
        rel_c, verdict_c = ag.relevance[ex.zero_gender], verdict(ag, ex.zero_gender, "gender")
    else:
        rel_c = _relevance_for(run, "audionet", "gender", fold, digits.waves[ex.zero], int(digits.gender[ex.zero]), device)
        verdict_c = "not a test speaker of this gender fold"
    relevance = torch.stack([r.reshape(-1) for r in (ad.relevance[ex.zero], ad.relevance[ex.one], rel_c,
                                                     ag.relevance[ex.male_zero])]).double()
    inputs = network_input("audionet", torch.as_tensor(f1["waves"]), None, run.config.preprocess.waveform_norm)[:, 0].double()
    return {
        "spectrograms": f1["spectrograms"],
        "alexnet": f1["relevances"],
        "audionet": dft_relevance(relevance, inputs, "time-frequency").numpy(),
        "grid_spectrograms": _db(stft(inputs)),
        "titles": f1["titles"],
        "audionet_titles": [
            f"digit model: {_describe_recording(digits, ex.zero)} ({verdict(ad, ex.zero, 'digits')})",
            f"digit model: {_describe_recording(digits, ex.one)} ({verdict(ad, ex.one, 'digits')})",
            f"gender model: same input as (a) ({verdict_c})",
            f"gender model: {_describe_recording(gender, ex.male_zero)} ({verdict(ag, ex.male_zero, 'gender')})",
        ],
    }


@torch.no_grad()
def _predicted(model: torch.nn.Module, inputs: torch.Tensor) -> np.ndarray:
    return model(inputs).argmax(-1).cpu().numpy()


def audible_explanations(run: Run, task: str, fold: int, device=None) -> dict:
    """Explanations to listen to: one test recording of each class of ``task`` (correctly
    classified by both models where one is; the first by speaker and repetition), each
    explanation with the model's prediction on it.

    Keys: ``task``, ``fold``, ``titles``, ``truth`` ``(K,)``, ``offsets``/``lengths``
    ``(K,)``, ``original`` ``(K, 8000)`` (int16 scale), ``fractions`` (:data:`LISTEN_FRACTIONS`),
    and per trained model:

    - ``audionet``: ``original`` (its normalised input, played at the recording's level:
      :func:`listen.recording_gain`), ``weighted`` (:func:`spectral.relevance_weighted`,
      "heatmap x signal" of the journal version), ``removed`` ``(L, K, 8000)``
      (:func:`spectral.without_most_relevant` at each fraction) and ``bins_removed`` (the
      fraction of DFT bins of highest DFT-LRP relevance removed, :func:`spectral.remove_bins`),
      each as audio at the same level, with ``predicted``, ``weighted_predicted``,
      ``removed_predicted`` ``(L, K)``, ``bins_removed_predicted``: AudioNet on the manipulated
      input itself.
    - ``alexnet``: ``masked`` and ``complement`` (:func:`spectral.masked_resynthesis`, the
      recording's own phase), int16 scale, with ``predicted``, ``masked_predicted`` and
      ``complement_predicted``: AlexNet on the spectrogram of the resynthesised audio.

    The relevance is the cached test-set relevance (:func:`explain_test_set`: the profile's
    composite and explained class). Not cached itself: a few forward passes.
    """
    device = resolve_device(device or run.config.train.device)
    data = fold_data(run, task, fold)
    test, labels = data.test, data.test.labels(task)
    models = _trained(run, task)
    explained = {m: explain_test_set(run, m, task, fold, device=device) for m in models}
    correct = torch.ones(len(test), dtype=torch.bool)
    for e in explained.values():
        correct &= e.predicted == labels
    key = "digit" if task == "digits" else "gender"
    chosen = [i for c in range(N_CLASSES[task]) if (i := pick(test, **{key: c}, correct=correct)) is not None]
    idx = torch.tensor(chosen, dtype=torch.long)
    waves = test.waves[idx]
    fractions = list(LISTEN_FRACTIONS)
    out: dict = {
        "task": task, "fold": fold, "fractions": fractions,
        "titles": [f"{LABELS[task][int(labels[i])]}: speaker {int(test.speaker[i]):02d}, rep {int(test.rep[i])}" for i in chosen],
        "truth": labels[idx].numpy(), "offsets": test.offsets[idx].numpy(), "lengths": test.lengths[idx].numpy(),
        "original": waves.numpy(),
    }
    if "audionet" in explained:
        model = load_model(run, "audionet", task, fold, device)
        x = network_input("audionet", waves, None, run.config.preprocess.waveform_norm)[:, 0]
        rel = explained["audionet"].relevance[idx].reshape(len(chosen), -1)
        gain = recording_gain(x, waves)
        heard = lambda inputs: (inputs * gain).numpy()  # noqa: E731
        ask = lambda inputs: _predicted(model, inputs[:, None].to(device))  # noqa: E731
        weighted = relevance_weighted(x, rel)
        removed = [without_most_relevant(x, rel, f) for f in fractions]
        scores = dft_relevance(rel, x, "frequency")
        bins = [remove_bins(x, scores, f, "relevance") for f in fractions]
        out["audionet"] = {
            "original": heard(x), "predicted": ask(x),
            "weighted": heard(weighted), "weighted_predicted": ask(weighted),
            "removed": np.stack([heard(r) for r in removed]), "removed_predicted": np.stack([ask(r) for r in removed]),
            "bins_removed": np.stack([heard(b) for b in bins]), "bins_removed_predicted": np.stack([ask(b) for b in bins]),
        }
    if "alexnet" in explained:
        model = load_model(run, "alexnet", task, fold, device)
        rel = explained["alexnet"].relevance[idx]
        masked, complement = masked_resynthesis(waves, rel), masked_resynthesis(waves, rel, complement=True)
        ask = lambda w: predict(model, "alexnet", w, data.mean, device=device).numpy()  # noqa: E731
        out["alexnet"] = {
            "predicted": ask(waves),
            "masked": masked.numpy(), "masked_predicted": ask(masked),
            "complement": complement.numpy(), "complement_predicted": ask(complement),
        }
    return out
