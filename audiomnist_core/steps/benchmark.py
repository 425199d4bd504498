"""The method benchmark on a run (chapter 06, ``audiomnist benchmark``): every attribution
method of ``benchmark.methods`` on every trained model x task x fold of ``benchmark.runs``,
under the paper's zeroing test and the model-parameter randomisation test.

Per method x model x task x fold (:func:`benchmark_fold`, cached in the run store under
``benchmark/``):

- the zeroing curve: accuracy against the fraction (``benchmark.fractions``) of each test
  input's non-zero features zeroed (AudioNet: samples set to 0; AlexNet: dB bins set to the
  -80 dB floor), highest attribution of the true class first (``perturb``'s ``attribution``
  ranking); whether each recording is still classified correctly at each fraction; the
  curve's area on the figures' log-spaced fraction axis (the headline) and on a linear one
  (:func:`explain.faithfulness.curve_auc`; lower: the model relies more on what the method
  marks), per recording too (:func:`~audiomnist_core.explain.faithfulness.item_aucs`), and
  its drop at 1 %;
- the cascading randomisation test (Adebayo et al. 2018): over ``benchmark.randomization_items``
  recordings, the mean Spearman correlation between the method's attribution under the
  trained model and under the same model with its layers re-initialised from the top down,
  over the features that are non-zero in the input, one value per step, with the top-1 %
  intersection and, for AlexNet's maps, the SSIM beside it; a method whose maps do not change
  as the model is destroyed does not explain the model;
- the cost: seconds per recording on the randomisation recordings, after a warm-up, timed
  interleaved with one gradient's (A B B A ..., :data:`TIMING_REPEATS` each) and taken as
  medians, as ``audiomnist bench`` times.

:func:`benchmark_profile` assembles them with seeded bootstrap intervals over recordings and
a paired Wilcoxon test of each method against LRP over the same recordings.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from ..bench import interleaved, median
from ..errors import AudiomnistError
from ..explain.attribution import attribution
from ..explain.composites import spectrogram_bounds
from ..explain.faithfulness import (bootstrap_ci, cascading_randomization, curve_auc, drop_at, item_aucs,
                                    paired_wilcoxon, randomization_spearman, ssim, topk_intersection)
from ..models import INPUTS, network_input
from ..perturb import FLOOR_DB, active_features, perturbation_curve
from ..report.common import mean_std
from ..runs import Run, Step, cached, file_hash, save_json, status, tensor_hash
from ..train import resolve_device
from .folds import fold_data, folds_of, skipped_tasks
from .relevance import run_composite
from .training import ensure_trained, load_model

STEP = Step("benchmark", code=("steps.benchmark",))
AT = 0.01  # the fraction of the accuracy drop the leaderboard shows
TIMING_REPEATS = 3  # timed runs of the method and of the gradient each, interleaved, after a warm-up
BOOTSTRAP = 2000  # resamples of the recordings behind each interval
LEVEL = 0.95  # the intervals' coverage
REFERENCE = "lrp"  # every method is tested against it
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


def _mean(values: torch.Tensor) -> float:
    v = values.numpy()
    return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")


def _randomization(explain, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, active: torch.Tensor,
                   seed: int) -> dict:
    """The layers re-initialised, top down, and after each step the mean over the recordings
    of the Spearman correlation of the attribution with the trained model's over the
    input's non-zero features ``active`` ``(k, n)``, their top-1 % intersection and, for
    2-D maps, their SSIM (None for waveforms)."""
    reference = explain(model, inputs, targets)
    spatial = reference.ndim == 4
    out: dict = {"layers": [], "spearman": [], "topk": [], "ssim": [] if spatial else None}
    for name, randomised in cascading_randomization(model, seed=seed):
        attr = explain(randomised.eval(), inputs, targets)
        out["layers"].append(name)
        out["spearman"].append(_mean(randomization_spearman(reference, attr, active)))
        out["topk"].append(_mean(topk_intersection(reference, attr, active)))
        if spatial:
            out["ssim"].append(_mean(ssim(reference, attr)))
    return out


def _cost(explain, gradient, model: nn.Module, inputs: torch.Tensor, targets: torch.Tensor, device) -> dict:
    """Seconds per recording of ``explain`` and of one ``gradient`` on the same recordings:
    one warm-up call each, then :data:`TIMING_REPEATS` of each interleaved (A B B A ...),
    medians of the wall-clock times (:func:`audiomnist_core.bench.interleaved`)."""
    sync = torch.cuda.synchronize if torch.device(device).type == "cuda" else None
    explain(model, inputs, targets)
    gradient(model, inputs, targets)
    times_a, times_b = interleaved(lambda: explain(model, inputs, targets), lambda: gradient(model, inputs, targets),
                                   TIMING_REPEATS, sync)
    n = max(len(inputs), 1)
    return {"seconds_per_recording": median(times_a).wall / n, "gradient_seconds_per_recording": median(times_b).wall / n,
            "timing": {"recordings": len(inputs), "repeats": TIMING_REPEATS, "method_s": [t.wall for t in times_a],
                       "gradient_s": [t.wall for t in times_b]}}


@STEP.tracked
def benchmark_fold(run: Run, method: str, model_name: str, task: str, fold: int, device: torch.device) -> dict:
    """One method on one fold: ``{"curve": [accuracy % per fraction], "correct": [[1/0 per
    recording] per fraction], "auc" (log axis, the headline), "auc_linear", "auc_items",
    "auc_linear_items" (per recording), "drop_at_1pct", "layers", "randomization": [mean
    Spearman per step], "randomization_topk", "randomization_ssim" (AlexNet; else None),
    "seconds_per_recording", "gradient_seconds_per_recording", "timing", "n_test"}``."""
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
        attr = explain(model, inputs, labels.to(device))
        fractions = cfg.benchmark.fractions
        zeroed = perturbation_curve(model, model_name, test, labels, fractions, ("attribution",), attr,
                                    batch_size=cfg.benchmark.batch_size, device=device, mean=mean,
                                    waveform_norm=cfg.preprocess.waveform_norm, per_item=True)
        curve, correct = zeroed["attribution"], zeroed["correct"]["attribution"]
        k = min(cfg.benchmark.randomization_items, len(test))
        active = active_features(model_name, test.waves[:k], cfg.preprocess.waveform_norm)
        randomized = _randomization(explain, model, inputs[:k], labels[:k].to(device), active, seed)
        return {"curve": curve, "correct": correct,
                "auc": curve_auc(fractions, curve, "log"), "auc_linear": curve_auc(fractions, curve, "linear"),
                "auc_items": item_aucs(fractions, correct, "log").tolist(),
                "auc_linear_items": item_aucs(fractions, correct, "linear").tolist(),
                "drop_at_1pct": drop_at(fractions, curve, AT), "layers": randomized["layers"],
                "randomization": randomized["spearman"], "randomization_topk": randomized["topk"],
                "randomization_ssim": randomized["ssim"],
                **_cost(explain, gradient, model, inputs[:k], labels[:k].to(device), device),
                "n_test": len(test)}

    key = STEP.key(run, method=method, model=model_name, task=task, fold=fold, checkpoint=file_hash(checkpoint),
                   test=tensor_hash(test.waves, labels, mean))
    return cached(run, STEP, run.path("benchmark", f"{method}-{model_name}-{task}-fold{fold}.json"), key, compute)


def benchmark_runs(run: Run) -> list[str]:
    """The model/task pairs of ``benchmark.runs`` that the profile trains and the corpus can split."""
    skipped = skipped_tasks(run)
    return [r for r in run.config.benchmark.runs if r in run.config.train.runs and r.split("/")[1] not in skipped]


def _interval_seed(run: Run, model_name: str, task: str, method: str, axis: str) -> int:
    return _seed(run, model_name, task, 0, f"{method}/{axis}/bootstrap")


def _statistics(run: Run, method: str, model_name: str, task: str, per_fold: list[dict],
                reference: list[dict] | None) -> dict:
    """Intervals and the paired test of one method on one model x task, from its folds'
    per-recording areas: for each axis ``auc_<axis>_ci`` (the bootstrap interval of the mean
    over folds, resampling recordings within each fold) and, against ``reference`` (LRP's
    folds, the same recordings), ``vs_lrp`` (Wilcoxon over the recordings of all folds)."""
    out: dict = {}
    for axis, field in (("log", "auc_items"), ("linear", "auc_linear_items")):
        groups = [np.asarray(r[field]) for r in per_fold]
        name = "auc_ci" if axis == "log" else "auc_linear_ci"
        out[name] = list(bootstrap_ci(groups, _interval_seed(run, model_name, task, method, axis), BOOTSTRAP, LEVEL))
    if reference is not None and method != REFERENCE:
        mine = np.concatenate([r["auc_items"] for r in per_fold])
        theirs = np.concatenate([r["auc_items"] for r in reference])
        out["vs_lrp"] = paired_wilcoxon(mine, theirs)
    else:
        out["vs_lrp"] = None
    return out


def benchmark_profile(run: Run, device: str | torch.device | None = None) -> dict:
    """Every method on every fold of every pair of :func:`benchmark_runs`, assembled as
    ``audiomnist benchmark --json`` prints it::

        {"profile", "data", "methods", "fractions", "skipped": {task: reason},
         "headline_axis": "log", "level": 0.95, "bootstrap": 2000,
         "results": [{"method", "model", "task", "folds", "curves": [[% per fraction] per fold],
                      "auc": [per fold, log axis], "auc_mean", "auc_std", "auc_ci": [lo, hi],
                      "auc_linear": [per fold], "auc_linear_mean", "auc_linear_ci",
                      "vs_lrp": {"p", "statistic", "n", "n_differ", "median_difference"} | None,
                      "drop_at_1pct": [per fold],
                      "randomization_spearman": [per fold, after the last step], "randomization_topk",
                      "randomization_ssim" (AlexNet; None for AudioNet),
                      "randomization": [[per step] per fold], "layers", "cost_vs_gradient",
                      "n_test": [per fold]}],
         "stamp"}

    ``auc`` is the area on the figures' log-spaced fraction axis (the headline), ``auc_linear``
    on a linear one. ``auc_ci`` is a seeded bootstrap interval (``level``) over recordings
    within folds of the mean over folds; ``vs_lrp`` Wilcoxon's signed-rank test of the
    recordings' areas against LRP's on the same recordings (None for LRP, or where the profile
    does not run LRP). ``cost_vs_gradient`` is the median over folds of the method's seconds
    per recording over one gradient's, timed warm and interleaved in the same fold's call.
    Written to ``benchmark/profile.json``.
    """
    device = resolve_device(device or run.config.train.device)
    cfg = run.config.benchmark
    results = []
    for name in benchmark_runs(run):
        model_name, task = name.split("/")
        folds = folds_of(run, task)
        methods = [m for m in cfg.methods if applies(m, model_name)]
        per_method = {m: [benchmark_fold(run, m, model_name, task, k, device) for k in folds] for m in methods}
        reference = per_method.get(REFERENCE)
        for method, per_fold in per_method.items():
            auc, auc_linear = [r["auc"] for r in per_fold], [r["auc_linear"] for r in per_fold]
            auc_mean, auc_std = mean_std(auc)
            last = lambda field: [r[field][-1] if r[field] else float("nan") for r in per_fold]  # noqa: E731
            results.append({
                "method": method, "model": model_name, "task": task, "folds": list(folds),
                "curves": [r["curve"] for r in per_fold], "auc": auc, "auc_mean": auc_mean, "auc_std": auc_std,
                "auc_linear": auc_linear, "auc_linear_mean": mean_std(auc_linear)[0],
                **_statistics(run, method, model_name, task, per_fold, reference),
                "drop_at_1pct": [r["drop_at_1pct"] for r in per_fold],
                "randomization_spearman": last("randomization"), "randomization_topk": last("randomization_topk"),
                "randomization_ssim": last("randomization_ssim") if per_fold[0]["randomization_ssim"] is not None else None,
                "randomization": [r["randomization"] for r in per_fold], "layers": per_fold[0]["layers"],
                "cost_vs_gradient": float(np.median([r["seconds_per_recording"] / r["gradient_seconds_per_recording"]
                                                     for r in per_fold])),
                "n_test": [r["n_test"] for r in per_fold],
            })
    out = {"profile": run.profile, "data": run.data, "methods": list(cfg.methods), "fractions": list(cfg.fractions),
           "headline_axis": "log", "level": LEVEL, "bootstrap": BOOTSTRAP,
           "skipped": {t: r for t, r in skipped_tasks(run).items()}, "results": results,
           "stamp": run.stamp(**STEP.provenance())}
    save_json(run.path("benchmark", "profile.json"), out)
    return out
