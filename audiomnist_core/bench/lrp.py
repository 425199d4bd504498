"""Benchmark: the cost of LRP relative to a plain input gradient, and of a test set's relevance.

``lrp_vs_gradient_<model>`` = relevance samples/s of :func:`explain.relevance` with the
model's default composite divided by the samples/s of the plain input gradient (one forward
and one backward through autograd to the input) of the same model, on the same batch of 32,
in the same process, the two timed in alternation (median of the repeats). Both run under
the same inference-time settings (evaluation mode, parameters without gradients), so the
ratio measures the extra work of the LRP rules alone; the gradient is the floor any
backward-pass method pays, so 1.0 is the ceiling. ``zennit_vs_gradient_<model>`` is the same
ratio for stock zennit (``zennit.attribution.Gradient`` with the same composite), for
comparison.

``relevance_test_set_seconds`` = the time to explain one digit fold's test set of AudioMNIST
(6,000 recordings) with both models, extrapolated from the measured relevance samples/s
(``relevance_measured_samples`` samples per model); ``relevance_test_set_seconds_<model>``
per model.

Untrained models and synthetic noise bursts keep it short: the cost does not depend on the
weights or on what the recordings say.
"""
from __future__ import annotations

import statistics
import time

import torch

from .signals import noise_bursts

BATCH = 32
REPEATS = 3
TEST_SET = 6000  # one digit fold's test set of AudioMNIST: 12 speakers x 500 recordings


def _gradient(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The plain input gradient of the targets' logits (the baseline)."""
    from ..explain import explaining

    with explaining(model):
        x = inputs.clone().requires_grad_(True)
        logits = model(x)
        (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), x)
    return grad


def _seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _case(name: str, log) -> dict[str, float]:
    from .. import explain
    from ..models import INPUTS, build
    from ..preprocess import mean_spectrogram, model_input

    torch.manual_seed(0)
    model = build(name, "digits")
    waves = noise_bursts(BATCH, seed=1)
    mean = mean_spectrogram(waves) if INPUTS[name] == "spectrogram" else None
    inputs = model_input(INPUTS[name], waves, mean)
    targets = torch.arange(BATCH) % 10
    low, high = explain.spectrogram_bounds(mean) if mean is not None else (None, None)

    def lrp(engine: str) -> torch.Tensor:
        composite = explain.default_composite(name, low, high)
        return explain.relevance(model, inputs, targets, composite, batch_size=BATCH, engine=engine)

    runs = {"gradient": lambda: _gradient(model, inputs, targets), "fused": lambda: lrp("fused"),
            "zennit": lambda: lrp("zennit")}
    for fn in runs.values():  # warm-up: allocator, kernels, lazy imports
        fn()
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(REPEATS):
        for k, fn in runs.items():
            times[k].append(_seconds(fn))
    t = {k: statistics.median(v) for k, v in times.items()}
    per_sample = t["fused"] / BATCH
    log(
        f"lrp {name}: gradient {t['gradient']:.3f} s, fused LRP {t['fused']:.3f} s, "
        f"stock zennit {t['zennit']:.3f} s per batch of {BATCH} (median of {REPEATS})"
    )
    return {
        f"lrp_vs_gradient_{name}": t["gradient"] / t["fused"],
        f"zennit_vs_gradient_{name}": t["gradient"] / t["zennit"],
        f"relevance_samples_per_s_{name}": BATCH / t["fused"],
        f"relevance_test_set_seconds_{name}": TEST_SET * per_sample,
    }


def run(log=print) -> dict[str, float]:
    """Both models' ratios and the test-set time (see the module docstring)."""
    result: dict[str, float] = {}
    for name in ("alexnet", "audionet"):
        result.update(_case(name, log))
    result["relevance_test_set_seconds"] = (
        result["relevance_test_set_seconds_alexnet"] + result["relevance_test_set_seconds_audionet"]
    )
    result["relevance_test_set_samples"] = float(TEST_SET)
    result["relevance_measured_samples"] = float(BATCH * REPEATS)
    result["lrp_threads"] = float(torch.get_num_threads())
    return result
