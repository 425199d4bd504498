"""Benchmark: the cost of a whole zeroing curve (Fig. 3) relative to one plain evaluation.

``perturbation_curve_cost`` = time of :func:`perturb.perturbation_curve` for one fold
(three strategies, every fraction of the quick profile's grid, its random draws, LRP
relevance included) / time of one plain evaluation (:func:`train.predict`) of the same test
set. Each fraction is one forward pass per strategy (and per random draw), so the goal is
below ``2 x n_fractions x 3``. An untrained AudioNet and 64 synthetic padded waveforms (one
batch) keep it short: the cost does not depend on the weights, nor the ranking work on what
the samples say. Both sides run single-process on the CPU and are measured in CPU time of
this process (``time.process_time``), so other work on a shared machine does not enter the
ratio; the wall-clock seconds are reported beside it.
"""
from __future__ import annotations

import statistics
import time

import torch

from .signals import noise_bursts

N_SAMPLES = 64
BATCH = 100


def run(log=print) -> dict[str, float]:
    from .. import explain, perturb, train
    from ..config import load_profile
    from ..models import build

    cfg = load_profile("quick").perturb
    with torch.random.fork_rng():  # the untrained weights, without touching the caller's RNG
        torch.manual_seed(0)
        model = build("audionet", "digits").eval()
    waves = noise_bursts(N_SAMPLES, seed=1)
    labels = torch.randint(0, 10, (N_SAMPLES,), generator=torch.Generator().manual_seed(2))
    composite = explain.default_composite("audionet")

    def lrp(inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return explain.relevance(model, inputs, targets, composite, batch_size=BATCH)

    def plain() -> None:
        train.predict(model, "audionet", waves, batch_size=BATCH, device="cpu")

    def curve() -> None:
        perturb.perturbation_curve(
            model, "audionet", waves, labels, cfg.fractions, perturb.STRATEGIES, lrp,
            torch.Generator().manual_seed(0), cfg.random_draws, batch_size=BATCH,
        )

    def timed(f) -> tuple[float, float]:
        wall, cpu = time.perf_counter(), time.process_time()
        f()
        return time.process_time() - cpu, time.perf_counter() - wall

    plain()  # warm-up: first-call allocations do not belong to either side
    plain_times = [timed(plain) for _ in range(3)]
    curve_time, curve_wall = timed(curve)
    plain_time = statistics.median(cpu for cpu, _ in plain_times)
    plain_wall = statistics.median(wall for _, wall in plain_times)
    n = len(cfg.fractions)
    ratio = curve_time / plain_time
    log(f"perturbation curve: {curve_time:.2f} CPU s ({curve_wall:.2f} s wall) for {N_SAMPLES} samples, "
        f"{n} fractions, {cfg.random_draws} random draws; plain evaluation {plain_time:.3f} CPU s "
        f"({plain_wall:.3f} s wall); ratio {ratio:.1f} (goal < {2 * n * 3})")
    return {
        "perturbation_curve_cost": ratio,
        "perturbation_curve_goal": float(2 * n * 3),
        "perturbation_fractions": float(n),
        "perturbation_random_draws": float(cfg.random_draws),
        "perturbation_curve_cpu_seconds": curve_time,
        "perturbation_plain_eval_cpu_seconds": plain_time,
        "perturbation_curve_wall_seconds": curve_wall,
        "perturbation_plain_eval_wall_seconds": plain_wall,
    }
