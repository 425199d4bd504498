"""The method benchmark on a run (chapter 06, ``audiomnist benchmark``): every attribution
method of ``benchmark.methods`` on every trained model x task x fold of ``benchmark.runs``,
under the paper's zeroing test and the model-parameter randomisation test.

Per method x model x task x fold (:func:`benchmark_fold`, cached in the run store under
``benchmark/``):

- the zeroing curve: accuracy against the fraction (``benchmark.fractions``) of each test
  input's non-zero features zeroed (AudioNet: samples set to 0; AlexNet: dB bins set to the
  -80 dB floor), highest attribution of the true class first (``perturb``'s ``attribution``
  ranking), its area (:func:`explain.faithfulness.curve_auc`; lower: the model relies more on
  what the method marks) and its drop at 1 %;
- the cascading randomisation test (Adebayo et al. 2018): the mean over
  ``benchmark.randomization_items`` recordings of the Spearman correlation between the
  method's attribution under the trained model and under the same model with its layers
  re-initialised from the top down, one value per step; a method whose maps do not change
  as the model is destroyed does not explain the model;
- the cost: seconds per explained recording, beside one gradient's on the same recordings,
  measured in the same call.
"""
from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from ..errors import AudiomnistError
from ..explain.attribution import attribution
from ..explain.composites import spectrogram_bounds
from ..explain.faithfulness import cascading_randomization, curve_auc, drop_at, randomization_spearman
from ..models import INPUTS, network_input
from ..perturb import FLOOR_DB, perturbation_curve
from ..report.common import mean_std
from ..runs import Run, Step, cached, file_hash, save_json, status, tensor_hash
from ..train import resolve_device
from .folds import fold_data, folds_of, skipped_tasks
from .relevance import run_composite
from .training import ensure_trained, load_model

STEP = Step("benchmark", code=("steps.benchmark",))
AT = 0.01  # the fraction of the accuracy drop the leaderboard shows
_TASKS = {"digits": 0, "gender": 1}
_MODELS = {"alexnet": 0, "audionet": 1}


def applies(method: str, model_name: str) -> bool:
    """Whether a method applies to a model: the z^B first layer of ``lrp_epsilon_gamma_box``
    needs a bounded input, the spectrogram (AlexNet), not AudioNet's waveform."""
    return not (method == "lrp_epsilon_gamma_box" and INPUTS[model_name] == "waveform")


def _seed(run: Run, model_name: str, task: str, fold: int, method: str = "") -> int:
    parts = [run.config.benchmark.seed, _MODELS[model_name], _TASKS[task], fold, *method.encode()]
    return int(np.random.SeedSequence(parts).generate_state(1)[0])


def _test_subset(run: Run, model_name: str, task: str, fold: int):
    """The fold's test recordings the benchmark explains (a seeded subset of
    ``benchmark.max_per_fold``) and the fold's training mean spectrogram."""
    data = fold_data(run, task, fold)
    n, limit = len(data.test), run.config.benchmark.max_per_fold
    idx = torch.arange(n) if limit is None or limit >= n else \
        torch.randperm(n, generator=torch.Generator().manual_seed(_seed(run, model_name, task, fold)))[:limit].sort().values
    return data.test.select(idx), data.mean if INPUTS[model_name] == "spectrogram" else None


def _explainer(run: Run, model_name: str, method: str, mean: torch.Tensor | None, seed: int):
    """``(model, inputs, targets) -> attribution`` of ``method`` with the profile's settings:
    the model's composite for ``lrp``; the absence of signal as the baseline (silence; the
    -80 dB floor of the mean-subtracted spectrogram, ``-80 - mean``); the occlusion window of
    the input kind."""
    b = run.config.benchmark
    spectrogram = INPUTS[model_name] == "spectrogram"
    composite = run_composite(run, model_name, mean) if method == "lrp" else None
    baseline = (FLOOR_DB - mean)[None] if spectrogram and mean is not None else None
    bounds = spectrogram_bounds(mean) if spectrogram and mean is not None else None
    window, stride = b.occlusion_spectrogram if spectrogram else b.occlusion_waveform

    def explain(model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return attribution(model, inputs, targets, method, b.batch_size, composite=composite, samples=b.samples,
                           steps=b.steps, generator=torch.Generator().manual_seed(seed), baseline=baseline,
                           window=window, stride=stride, bounds=bounds).detach().float().cpu()

    return explain


def _randomization(explain, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, seed: int) -> tuple[list[str], list[float]]:
    """The layers re-initialised, top down, and after each step the mean Spearman correlation
    of the attribution with the trained model's."""
    reference = explain(model, inputs, targets)
    layers, means = [], []
    for name, randomised in cascading_randomization(model, seed=seed):
        rho = randomization_spearman(reference, explain(randomised.eval(), inputs, targets))
        layers.append(name)
        means.append(float(np.nanmean(rho.numpy())) if not bool(torch.isnan(rho).all()) else float("nan"))
    return layers, means


@STEP.tracked
def benchmark_fold(run: Run, method: str, model_name: str, task: str, fold: int, device: torch.device) -> dict:
    """One method on one fold: ``{"curve": [accuracy % per fraction], "auc", "drop_at_1pct",
    "randomization": [mean Spearman per step], "layers", "seconds_per_recording",
    "gradient_seconds_per_recording", "n_test"}``."""
    if not applies(method, model_name):
        raise AudiomnistError(f"benchmark: {method} does not apply to {model_name} (its first layer needs a bounded input)")
    checkpoint = ensure_trained(run, model_name, task, fold, device)
    cfg = run.config
    test, mean = _test_subset(run, model_name, task, fold)
    labels = test.labels(task)

    def compute() -> dict:
        status(f"benchmark: {method} on {model_name}/{task} fold {fold}, {len(test)} test recordings")
        model = load_model(run, model_name, task, fold, device)
        inputs = network_input(model_name, test.waves, mean, cfg.preprocess.waveform_norm).to(device)
        seed = _seed(run, model_name, task, fold, method)
        explain = _explainer(run, model_name, method, mean, seed)
        gradient = _explainer(run, model_name, "gradient", mean, seed)
        start = time.perf_counter()
        attr = explain(model, inputs, labels.to(device))
        seconds = time.perf_counter() - start
        start = time.perf_counter()
        gradient(model, inputs, labels.to(device))
        gradient_seconds = time.perf_counter() - start
        curve = perturbation_curve(model, model_name, test, labels, cfg.benchmark.fractions, ("attribution",), attr,
                                   batch_size=cfg.benchmark.batch_size, device=device, mean=mean,
                                   waveform_norm=cfg.preprocess.waveform_norm)["attribution"]
        k = min(cfg.benchmark.randomization_items, len(test))
        layers, rho = _randomization(explain, model, inputs[:k], labels[:k].to(device), seed)
        n = max(len(test), 1)
        return {"curve": curve, "auc": curve_auc(cfg.benchmark.fractions, curve),
                "drop_at_1pct": drop_at(cfg.benchmark.fractions, curve, AT), "layers": layers, "randomization": rho,
                "seconds_per_recording": seconds / n, "gradient_seconds_per_recording": gradient_seconds / n,
                "n_test": len(test)}

    key = STEP.key(run, method=method, model=model_name, task=task, fold=fold, checkpoint=file_hash(checkpoint),
                   test=tensor_hash(test.waves, labels, mean))
    return cached(run, STEP, run.path("benchmark", f"{method}-{model_name}-{task}-fold{fold}.json"), key, compute)


def benchmark_runs(run: Run) -> list[str]:
    """The model/task pairs of ``benchmark.runs`` that the profile trains and the corpus can split."""
    skipped = skipped_tasks(run)
    return [r for r in run.config.benchmark.runs if r in run.config.train.runs and r.split("/")[1] not in skipped]


def benchmark_profile(run: Run, device: str | torch.device | None = None) -> dict:
    """Every method on every fold of every pair of :func:`benchmark_runs`, assembled as
    ``audiomnist benchmark --json`` prints it::

        {"profile", "data", "methods", "fractions", "skipped": {task: reason},
         "results": [{"method", "model", "task", "folds", "curves": [[% per fraction] per fold],
                      "auc": [per fold], "auc_mean", "auc_std", "drop_at_1pct": [per fold],
                      "randomization_spearman": [per fold, after the last step],
                      "randomization": [[per step] per fold], "layers", "cost_vs_gradient",
                      "n_test": [per fold]}],
         "stamp"}

    ``cost_vs_gradient`` is the median over folds of the method's seconds per recording over
    one gradient's, both measured in the same fold's call. Written to ``benchmark/profile.json``.
    """
    device = resolve_device(device or run.config.train.device)
    cfg = run.config.benchmark
    results = []
    for name in benchmark_runs(run):
        model_name, task = name.split("/")
        folds = folds_of(run, task)
        for method in cfg.methods:
            if not applies(method, model_name):
                continue
            per_fold = [benchmark_fold(run, method, model_name, task, k, device) for k in folds]
            auc = [r["auc"] for r in per_fold]
            auc_mean, auc_std = mean_std(auc)
            results.append({
                "method": method, "model": model_name, "task": task, "folds": list(folds),
                "curves": [r["curve"] for r in per_fold], "auc": auc, "auc_mean": auc_mean, "auc_std": auc_std,
                "drop_at_1pct": [r["drop_at_1pct"] for r in per_fold],
                "randomization_spearman": [r["randomization"][-1] if r["randomization"] else float("nan") for r in per_fold],
                "randomization": [r["randomization"] for r in per_fold], "layers": per_fold[0]["layers"],
                "cost_vs_gradient": float(np.median([r["seconds_per_recording"] / r["gradient_seconds_per_recording"]
                                                     for r in per_fold])),
                "n_test": [r["n_test"] for r in per_fold],
            })
    out = {"profile": run.profile, "data": run.data, "methods": list(cfg.methods), "fractions": list(run.config.benchmark.fractions),
           "skipped": {t: r for t, r in skipped_tasks(run).items()}, "results": results,
           "stamp": run.stamp(**STEP.provenance())}
    save_json(run.path("benchmark", "profile.json"), out)
    return out
