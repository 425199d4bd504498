"""Benchmark: the cost of LRP relative to a plain input gradient, and of a test set's relevance.

``lrp_vs_gradient_<model>`` = relevance samples/s of :func:`explain.relevance` with the
model's default composite divided by the samples/s of the plain input gradient (one forward
and one backward through autograd to the input) of the same model, on the same batch of 32,
in the same process, the two interleaved ABBA (medians of the repeats). Both run under
the same inference-time settings (evaluation mode, parameters without gradients), so the
ratio measures the extra work of the LRP rules alone; the gradient is the floor any
backward-pass method pays, so 1.0 is the ceiling. ``zennit_vs_gradient_<model>`` is the same
ratio for stock zennit (``zennit.attribution.Gradient`` with the same composite), for
comparison, from its own ABBA pair with the gradient.

``relevance_test_set_seconds`` = the time to explain one digit fold's test set of AudioMNIST
(6,000 recordings) with both models, extrapolated from the measured relevance samples/s
(``relevance_measured_samples`` samples per model); ``relevance_test_set_seconds_<model>``
per model. The headline figures are ``lrp_vs_gradient_<model>``.

Untrained models and synthetic noise bursts keep it short: the cost does not depend on the
weights or on what the recordings say.
"""
from __future__ import annotations

import torch

from . import interleaved, median, timings_doc
from .signals import noise_bursts

BATCH = 32
REPEATS = 3
TEST_SET = 6000  # one digit fold's test set of AudioMNIST: 12 speakers x 500 recordings
MODELS = ("alexnet", "audionet")
HEADLINE = tuple(f"lrp_vs_gradient_{m}" for m in MODELS)


def _gradient(model: torch.nn.Module, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The plain input gradient of the targets' logits (the baseline)."""
    from ..explain import explaining

    with explaining(model):
        x = inputs.clone().requires_grad_(True)
        logits = model(x)
        (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), x)
    return grad


def _case(name: str, log, batch: int, repeats: int) -> dict:
    from .. import explain
    from ..models import INPUTS, build
    from ..preprocess import mean_spectrogram, model_input

    with torch.random.fork_rng():  # the untrained weights, without touching the caller's RNG
        torch.manual_seed(0)
        model = build(name, "digits")
    waves = noise_bursts(batch, seed=1)
    mean = mean_spectrogram(waves) if INPUTS[name] == "spectrogram" else None
    inputs = model_input(INPUTS[name], waves, mean)
    targets = torch.arange(batch) % 10
    low, high = explain.spectrogram_bounds(mean) if mean is not None else (None, None)

    def lrp(engine: str) -> torch.Tensor:
        composite = explain.default_composite(name, low, high)
        return explain.relevance(model, inputs, targets, composite, batch_size=batch, engine=engine)

    def gradient() -> None:
        _gradient(model, inputs, targets)

    def fused() -> None:
        lrp("fused")

    def zennit() -> None:
        lrp("zennit")

    for fn in (gradient, fused, zennit):  # warm-up: allocator, kernels, lazy imports
        fn()
    grad_f, times_fused = interleaved(gradient, fused, repeats)
    grad_z, times_zennit = interleaved(gradient, zennit, repeats)
    t_grad_f, t_fused = median(grad_f).wall, median(times_fused).wall
    t_grad_z, t_zennit = median(grad_z).wall, median(times_zennit).wall
    log(
        f"lrp {name}: fused LRP {t_fused:.3f} s against gradient {t_grad_f:.3f} s, stock zennit "
        f"{t_zennit:.3f} s against gradient {t_grad_z:.3f} s per batch of {batch} (medians of {repeats} ABBA)"
    )
    return {
        f"lrp_vs_gradient_{name}": t_grad_f / t_fused,
        f"zennit_vs_gradient_{name}": t_grad_z / t_zennit,
        f"relevance_samples_per_s_{name}": batch / t_fused,
        f"relevance_test_set_seconds_{name}": TEST_SET * t_fused / batch,
        "timings": {
            f"gradient_vs_fused_{name}": timings_doc("gradient", grad_f, "fused", times_fused),
            f"gradient_vs_zennit_{name}": timings_doc("gradient", grad_z, "zennit", times_zennit),
        },
    }


def run(log=print, *, batch: int = BATCH, repeats: int = REPEATS) -> dict:
    """Both models' ratios and the test-set time (see the module docstring) on batches of
    ``batch``, each side run ``repeats`` times per pair."""
    result: dict = {}
    timings: dict = {}
    for name in MODELS:
        case = _case(name, log, batch, repeats)
        timings.update(case.pop("timings"))
        result.update(case)
    result["relevance_test_set_seconds"] = sum(result[f"relevance_test_set_seconds_{m}"] for m in MODELS)
    result["relevance_test_set_samples"] = float(TEST_SET)
    result["relevance_measured_samples"] = float(batch * repeats)
    result["lrp_batch_size"] = float(batch)
    result["lrp_threads"] = float(torch.get_num_threads())
    result["timings"] = timings
    return result
