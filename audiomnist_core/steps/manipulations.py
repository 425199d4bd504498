"""The manipulation steps of Section 3.3 on a run: frequency scaling of one gender fold and
the zeroing curves of one model x task x fold, each cached in the run store
(``runs/<profile>-<data>/perturb/``), and both experiments over the profile's folds
(:func:`perturb_profile`). The numerics are :mod:`audiomnist_core.perturb`."""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from .. import paper
from ..listen import Subject
from ..models import INPUTS, N_CLASSES
from ..perturb import STRATEGIES, frequency_scaling_accuracy, perturbation_curve
from ..report.common import mean_std
from ..runs import Run, Step, cached, file_hash, save_json, status, tensor_hash
from ..train import resolve_device
from .folds import fold_data, folds_of, skipped_tasks
from .relevance import run_composite, test_relevance
from .training import ensure_trained, load_model

TASKS_INDEX = {"digits": 0, "gender": 1}  # stable integers for the seeds
MODELS_INDEX = {"alexnet": 0, "audionet": 1}
FREQUENCY_SCALING = Step("frequency scaling", code=("steps.manipulations",))
ZEROING = Step("zeroing", code=("steps.manipulations",))


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def _subset(n: int, limit: int | None, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded subset of ``limit`` of ``n`` test recordings (all if None)."""
    if limit is None or limit >= n:
        return torch.arange(n)
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:limit].sort().values


def _test_set(run: Run, task: str, fold: int):
    """The fold's test recordings used here (a seeded subset where the profile limits them),
    their indices into the full test set, and the fold's training mean spectrogram."""
    data = fold_data(run, task, fold)
    idx = _subset(len(data.test), run.config.perturb.max_per_fold, _seed(run.config.perturb.seed, TASKS_INDEX[task], fold))
    return data.test.select(idx), idx, data.mean


@FREQUENCY_SCALING.tracked
def frequency_scaling_fold(run: Run, fold: int, device: torch.device) -> dict:
    """Frequency scaling on one gender fold: accuracy, opposite share, unperturbed accuracy (%)."""
    checkpoint = ensure_trained(run, "alexnet", "gender", fold, device)
    cfg = run.config.perturb
    test, _, mean = _test_set(run, "gender", fold)

    def compute() -> dict:
        status(f"frequency scaling: alexnet/gender fold {fold}, {len(test)} test recordings")
        model = load_model(run, "alexnet", "gender", fold, device)
        out = frequency_scaling_accuracy(model, test.waves, test.gender, mean, cfg.male_scale, cfg.female_scale, cfg.batch_size, device)
        return {**out, "n_test": len(test)}

    key = FREQUENCY_SCALING.key(run, fold=fold, checkpoint=file_hash(checkpoint), test=tensor_hash(test.waves, test.gender))
    return cached(run, FREQUENCY_SCALING, run.path("perturb", f"frequency_scaling-fold{fold}.json"), key, compute)


@ZEROING.tracked
def zeroing_fold(run: Run, model_name: str, task: str, fold: int, device: torch.device) -> dict:
    """Zeroing curves of one model/task/fold: ``{strategy: [accuracy % per fraction], "unperturbed": [%], "n_test"}``."""
    checkpoint = ensure_trained(run, model_name, task, fold, device)
    cfg = run.config.perturb
    test, idx, mean = _test_set(run, task, fold)
    relevance = torch.as_tensor(test_relevance(run, model_name, task, fold, device))[idx]

    def compute() -> dict:
        status(f"zeroing: {model_name}/{task} fold {fold}, {len(test)} test recordings x {len(cfg.fractions)} "
               f"fractions x {len(STRATEGIES)} strategies")
        model = load_model(run, model_name, task, fold, device)
        generator = torch.Generator().manual_seed(_seed(cfg.seed, MODELS_INDEX[model_name], TASKS_INDEX[task], fold))
        out = perturbation_curve(
            model, model_name, test, test.labels(task), cfg.fractions, STRATEGIES, relevance, generator,
            cfg.random_draws, mean, cfg.batch_size, device, run.config.preprocess.waveform_norm,
        )
        return {**out, "n_test": len(test)}

    key = ZEROING.key(run, model=model_name, task=task, fold=fold, checkpoint=file_hash(checkpoint),
                      test=tensor_hash(test.waves, test.labels(task), mean), relevance=tensor_hash(relevance))
    return cached(run, ZEROING, run.path("perturb", f"zeroing-{model_name}-{task}-fold{fold}.json"), key, compute)


def perturb_profile(run, device: str | torch.device | None = None) -> dict:
    """Both experiments of Section 3.3 over every fold the profile uses.

    Returns (accuracies in percent, lists over folds in ``folds_of`` order)::

        {"profile", "data",
         "frequency_scaling": {"accuracy": [per fold], "mean", "std", "paper_mean": 20.3,
                               "paper_std": 12.6, "opposite_share": [per fold],
                               "unperturbed": [per fold], "folds", "n_test"},
         "zeroing": {"<model>/<task>": {"fractions": [...], "chance": %,
                     "curves": {"random": [[per fold] per fraction], "amplitude": ..., "relevance": ...},
                     "unperturbed": [per fold], "folds", "n_test", "in_paper": bool,
                     "feature": str, "paper_at_1pct": {...} (AudioNet digits)}}}

    ``frequency_scaling`` is ``None`` when the profile trains no AlexNet gender model. A task
    that the corpus cannot be split for (:func:`skipped_tasks`, e.g. gender on a corpus with
    one gender) is not run: its experiments are ``{"skipped": "<reason>"}`` (frequency scaling
    is a gender experiment), and ``"skipped"`` maps each such task to its reason. Each
    fold's result is cached under ``runs/<profile>-<data>/perturb/`` and reused while the
    config and the checkpoint are unchanged; the assembled result is written to
    ``perturb/profile.json``.
    """
    device = resolve_device(device or run.config.train.device)
    cfg = run.config.perturb
    trained = set(run.config.train.runs)
    skipped = skipped_tasks(run)
    result: dict = {"profile": run.profile, "data": run.data, "frequency_scaling": None, "zeroing": {},
                    "skipped": skipped}
    if "alexnet/gender" in trained and "gender" in skipped:
        result["frequency_scaling"] = {"skipped": skipped["gender"]}
    elif "alexnet/gender" in trained:
        folds = folds_of(run, "gender")
        per_fold = [frequency_scaling_fold(run, k, device) for k in folds]
        acc = [r["accuracy"] for r in per_fold]
        mean, std = mean_std(acc)
        result["frequency_scaling"] = {
            "accuracy": acc, "mean": mean, "std": std,
            "paper_mean": paper.FREQUENCY_SCALING["mean"], "paper_std": paper.FREQUENCY_SCALING["std"],
            "opposite_share": [r["opposite_share"] for r in per_fold],
            "unperturbed": [r["unperturbed"] for r in per_fold],
            "male_scale": cfg.male_scale, "female_scale": cfg.female_scale,
            "folds": list(folds), "n_test": [r["n_test"] for r in per_fold],
        }
    for name in cfg.zeroing_runs:
        if name not in trained:
            continue
        model_name, task = name.split("/")
        if task in skipped:
            result["zeroing"][name] = {"skipped": skipped[task]}
            continue
        folds = folds_of(run, task)
        per_fold = [zeroing_fold(run, model_name, task, k, device) for k in folds]
        entry = {
            "fractions": list(cfg.fractions),
            "chance": 100.0 / N_CLASSES[task],
            "curves": {s: [[r[s][i] for r in per_fold] for i in range(len(cfg.fractions))] for s in STRATEGIES},
            "unperturbed": [r["unperturbed"][0] for r in per_fold],
            "folds": list(folds),
            "n_test": [r["n_test"] for r in per_fold],
            "in_paper": name in paper.ZEROING_RUNS,
            "method": run.config.explain.method,  # what ranks the "relevance" strategy
            "feature": "waveform samples set to 0" if INPUTS[model_name] == "waveform"
            else "spectrogram bins set to the -80 dB floor (not in the paper)",
        }
        if name in paper.ZEROING_1PCT:
            entry["paper_at_1pct"] = dict(paper.ZEROING_1PCT[name])
        result["zeroing"][name] = entry
    result["stamp"] = run.stamp(**ZEROING.provenance())  # one module computes both
    save_json(run.path("perturb", "profile.json"), result)
    return result


def listening_subjects(run: Run, names: Sequence[str] = ("alexnet/gender", "audionet/digits", "audionet/gender"),
                       device=None) -> dict[str, Subject]:
    """The listening subjects of a run (:class:`listen.Subject`): each model of ``names`` that
    the profile trains, on its first fold, with that fold's test recordings (never recordings
    the model trained on). Models of a task that the corpus cannot be split for
    (:func:`skipped_tasks`) are left out."""
    device = resolve_device(device or run.config.train.device)
    skipped = skipped_tasks(run)
    out = {}
    for name in names:
        model_name, task = name.split("/")
        if name not in run.config.train.runs or task in skipped:
            continue
        fold = folds_of(run, task)[0]
        ensure_trained(run, model_name, task, fold, device)
        data = fold_data(run, task, fold)
        model = load_model(run, model_name, task, fold, device)
        mean = data.mean if INPUTS[model_name] == "spectrogram" else None
        composite = run_composite(run, model_name, mean)
        out[name] = Subject(model_name, task, fold, model, data.test, mean, device, composite,
                            run.config.preprocess.waveform_norm)
    return out
