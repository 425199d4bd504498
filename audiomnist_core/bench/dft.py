"""Benchmark: the cost of DFT-LRP's virtual inspection layer on top of AudioNet's relevance.

``dft_lrp_vs_lrp_audionet`` = samples/s of AudioNet's relevance followed by both inspection
layers (:func:`explain.dft.dft_relevance` in frequency and in time-frequency, the two that
chapter 05 uses) divided by the samples/s of the relevance alone, on the same batch of 32, in
the same process, the two interleaved ABBA (medians of the repeats). 1.0 means the inspection
layer is free; the goal (issue 10) is at least :data:`GOAL`.
``dft_lrp_frequency_vs_lrp_audionet`` and ``dft_lrp_time_frequency_vs_lrp_audionet`` are the
same ratio for one domain each, from their own ABBA pairs. ``dft_seconds_per_batch_<domain>``
is the inspection layer's own time (the difference of the medians).

An untrained AudioNet and synthetic noise bursts keep it short: the cost does not depend on the
weights or on what the recordings say.
"""
from __future__ import annotations

import torch

from . import interleaved, median, timings_doc
from .signals import noise_bursts

BATCH = 32
REPEATS = 3
GOAL = 0.8
DOMAINS = {"frequency": ("frequency",), "time_frequency": ("time-frequency",), "both": ("frequency", "time-frequency")}
HEADLINE = ("dft_lrp_vs_lrp_audionet",)


def run(log=print, *, batch: int = BATCH, repeats: int = REPEATS) -> dict:
    """The ratios of the module docstring on batches of ``batch``, each side run ``repeats``
    times per pair."""
    from .. import explain
    from ..explain.dft import dft_relevance
    from ..models import build
    from ..preprocess import model_input

    with torch.random.fork_rng():  # the untrained weights, without touching the caller's RNG
        torch.manual_seed(0)
        model = build("audionet", "digits")
    inputs = model_input("waveform", noise_bursts(batch, seed=1))
    targets = torch.arange(batch) % 10
    composite = explain.default_composite("audionet")

    def relevance() -> torch.Tensor:
        return explain.relevance(model, inputs, targets, composite, batch_size=batch)

    def inspected(domains: tuple[str, ...]):
        def fn() -> None:
            rel = relevance()[:, 0]
            for domain in domains:
                dft_relevance(rel, inputs[:, 0], domain)
        return fn

    sides = {name: inspected(domains) for name, domains in DOMAINS.items()}
    for fn in (relevance, *sides.values()):  # warm-up: allocator, kernels, lazy imports
        fn()
    result: dict = {"dft_lrp_goal": GOAL, "dft_lrp_batch_size": float(batch)}
    timings: dict = {}
    for name, fn in sides.items():
        plain, with_layer = interleaved(relevance, fn, repeats)
        t_plain, t_layer = median(plain).wall, median(with_layer).wall
        figure = "dft_lrp_vs_lrp_audionet" if name == "both" else f"dft_lrp_{name}_vs_lrp_audionet"
        result[figure] = t_plain / t_layer
        result[f"dft_seconds_per_batch_{name}"] = max(t_layer - t_plain, 0.0)
        timings[f"lrp_vs_lrp_dft_{name}"] = timings_doc("lrp", plain, f"lrp_dft_{name}", with_layer)
        log(f"dft {name}: relevance + inspection layer {t_layer:.3f} s against relevance {t_plain:.3f} s per batch "
            f"of {batch} (medians of {repeats} ABBA)")
    result["dft_lrp_samples_per_s_audionet"] = batch / median(with_layer).wall
    result["timings"] = timings
    return result
