"""Benchmark: the wall time of the quick profile's method benchmark (chapter 06) on this
machine, projected from a measured subset.

For each model (untrained weights: the cost does not depend on them) and each method of the
quick profile's ``benchmark.methods``, one benchmark cell is timed on ``samples`` noise-burst
recordings, interleaved ABBA with one gradient of the same recordings: the method's
attribution followed by its zeroing curve over ``benchmark.fractions``
(``benchmark_cost_vs_gradient_<method>_<model>``: the median attribution time over the
gradient's). The projection (``benchmark_quick_projected_minutes``) takes each cell's median
seconds per recording times the recordings a quick fold explains (``benchmark.max_per_fold``),
the attribution's seconds times the randomisation test's attributions
(``randomization_items`` x (layers + 1)), one gradient per recording (the cost measurement),
and sums over the methods, the tasks of each model in ``benchmark.runs`` and
the folds of ``train.folds``. Training the models is not in it: the goal (15 minutes on 2
CPU cores) is for trained models.
"""
from __future__ import annotations

import statistics
import time

import torch

from . import interleaved, median, timings_doc
from .signals import noise_bursts

SAMPLES = 4
REPEATS = 3
GOAL_MINUTES = 15.0
HEADLINE = ("benchmark_quick_projected_minutes",)


def run(log=print, *, samples: int = SAMPLES, repeats: int = REPEATS, methods=None) -> dict:
    """The projection (see the module docstring), measuring ``samples`` recordings per cell,
    each side ``repeats`` times; ``methods`` (default: the quick profile's) limits the methods."""
    from ..config import load_profile
    from ..explain.faithfulness import parametrised_layers
    from ..models import INPUTS, build, network_input
    from ..perturb import perturbation_curve
    from ..preprocess import mean_spectrogram
    from ..runs import Run
    from ..steps.benchmark import _explainer, applies

    cfg = load_profile("quick")
    b = cfg.benchmark
    run_ = Run(cfg, "bench", None, None)  # the profile's settings only; nothing is stored
    waves = noise_bursts(samples, seed=3)
    out: dict = {"benchmark_goal_minutes": GOAL_MINUTES, "benchmark_measured_samples": float(samples)}
    timings, total_seconds = {}, 0.0
    n = b.max_per_fold or 1000
    folds = len(cfg.train.folds) if not isinstance(cfg.train.folds, str) else 5
    for model_name in ("alexnet", "audionet"):
        tasks = [r.split("/")[1] for r in b.runs if r.startswith(f"{model_name}/")]
        if not tasks:
            continue
        with torch.random.fork_rng():
            torch.manual_seed(0)
            model = build(model_name, "digits").eval()
        mean = mean_spectrogram(waves) if INPUTS[model_name] == "spectrogram" else None
        inputs = network_input(model_name, waves, mean, cfg.preprocess.waveform_norm)
        labels = torch.randint(0, 10, (samples,), generator=torch.Generator().manual_seed(4))
        layers = len(parametrised_layers(model))
        gradient = _explainer(run_, model_name, "gradient", mean, 0)
        for method in methods or b.methods:
            if not applies(method, model_name):
                continue
            explain = _explainer(run_, model_name, method, mean, 0)
            attr_seconds: list[float] = []

            def cell() -> None:
                start = time.perf_counter()
                attr = explain(model, inputs, labels)
                attr_seconds.append(time.perf_counter() - start)
                perturbation_curve(model, model_name, waves, labels, cfg.benchmark.fractions, ("attribution",), attr,
                                   batch_size=b.batch_size, mean=mean, waveform_norm=cfg.preprocess.waveform_norm)

            def grad() -> None:
                gradient(model, inputs, labels)

            grad()  # warm-up
            times_cell, times_grad = interleaved(cell, grad, repeats)
            t_cell, t_grad = median(times_cell).wall / samples, median(times_grad).wall / samples
            t_attr = statistics.median(attr_seconds) / samples
            key = f"{method}_{model_name}"
            out[f"benchmark_cost_vs_gradient_{key}"] = t_attr / t_grad
            timings[key] = timings_doc(f"{method} cell", times_cell, "gradient", times_grad)
            per_fold = t_cell * n + t_attr * b.randomization_items * (layers + 1) + t_grad * n
            total_seconds += per_fold * len(tasks) * folds
            log(f"benchmark {model_name} {method}: {t_cell * 1000:.0f} ms per recording (cell), "
                f"{t_attr * 1000:.0f} ms of it the attribution, {t_grad * 1000:.0f} ms a gradient")
    out["benchmark_quick_projected_minutes"] = total_seconds / 60
    log(f"benchmark: the quick profile's benchmark would take {total_seconds / 60:.1f} min here "
        f"(goal {GOAL_MINUTES:g}), projected from {samples} recordings per cell")
    out["timings"] = timings
    return out
