"""Benchmark: the cost of a whole zeroing curve (Fig. 3) relative to one plain evaluation.

``perturbation_curve_cost`` = time of :func:`perturb.perturbation_curve` for one fold
(three strategies, every fraction of the quick profile's grid, its random draws, LRP
relevance included) / time of one plain evaluation (:func:`train.predict`) of the same test
set. Each fraction is one forward pass per strategy (and per random draw), so the goal is
below ``2 x n_fractions x 3``. An untrained AudioNet and 64 synthetic padded waveforms (one
batch) keep it short: the cost does not depend on the weights, nor the ranking work on what
the samples say. Both sides run single-process on the CPU and are measured in CPU time of
this process (``time.process_time``), so other work on a shared machine does not enter the
ratio; the two are interleaved ABBA and the ratio is of their medians. The wall-clock
seconds are reported beside it.
"""
from __future__ import annotations

import torch

from . import interleaved, median, timings_doc
from .signals import noise_bursts

N_SAMPLES = 64
BATCH = 100
REPEATS = 3
HEADLINE = ("perturbation_curve_cost",)


def run(log=print, *, samples: int = N_SAMPLES, fractions: int | None = None, repeats: int = REPEATS) -> dict:
    """The cost ratio (see the module docstring) on ``samples`` noise bursts, over the first
    ``fractions`` fractions of the quick profile's grid (all of them by default), each side
    run ``repeats`` times."""
    from .. import explain, perturb, train
    from ..config import load_profile
    from ..models import build

    cfg = load_profile("quick").perturb
    grid = list(cfg.fractions)[:fractions] if fractions is not None else list(cfg.fractions)
    with torch.random.fork_rng():  # the untrained weights, without touching the caller's RNG
        torch.manual_seed(0)
        model = build("audionet", "digits").eval()
    waves = noise_bursts(samples, seed=1)
    labels = torch.randint(0, 10, (samples,), generator=torch.Generator().manual_seed(2))
    composite = explain.default_composite("audionet")

    def lrp(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return explain.relevance(model, inputs, targets, composite, batch_size=BATCH)

    def plain() -> None:
        train.predict(model, "audionet", waves, batch_size=BATCH, device="cpu")

    def curve() -> None:
        perturb.perturbation_curve(
            model, "audionet", waves, labels, grid, perturb.STRATEGIES, lrp,
            torch.Generator().manual_seed(0), cfg.random_draws, batch_size=BATCH,
        )

    plain()  # warm-up: first-call allocations do not belong to either side
    times_curve, times_plain = interleaved(curve, plain, repeats)
    t_curve, t_plain = median(times_curve), median(times_plain)
    n = len(grid)
    ratio = t_curve.cpu / t_plain.cpu
    log(f"perturbation curve: {t_curve.cpu:.2f} CPU s ({t_curve.wall:.2f} s wall) for {samples} samples, "
        f"{n} fractions, {cfg.random_draws} random draws; plain evaluation {t_plain.cpu:.3f} CPU s "
        f"({t_plain.wall:.3f} s wall); ratio {ratio:.1f} (goal < {2 * n * 3}; medians of {repeats} ABBA)")
    return {
        "perturbation_curve_cost": ratio,
        "perturbation_curve_goal": float(2 * n * 3),
        "perturbation_samples": float(samples),
        "perturbation_fractions": float(n),
        "perturbation_random_draws": float(cfg.random_draws),
        "perturbation_curve_cpu_seconds": t_curve.cpu,
        "perturbation_plain_eval_cpu_seconds": t_plain.cpu,
        "perturbation_curve_wall_seconds": t_curve.wall,
        "perturbation_plain_eval_wall_seconds": t_plain.wall,
        "timings": {"curve_vs_plain": timings_doc("curve", times_curve, "plain", times_plain)},
    }
