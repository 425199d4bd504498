"""Benchmark: how close training runs to the bare speed of the network.

``train_efficiency_<model>`` = training samples/s through our whole pipeline
(:meth:`train.Trainer.step`: batch sampling from the padded waveforms in memory, the input
features computed on the device, forward, loss, backward, clipping where the paper's schedule
clips, the SGD step, the running metrics, the dropout reseeding) divided by the samples/s of
a bare forward + backward + SGD step of the same network on a random tensor of the input
shape, same batch, same device, measured in the same process with the two interleaved ABBA
(medians of the repeats, wall-clock with the device synchronised). The goal is at least 0.9
(the headline figures). The absolute samples/s of both are reported too.

Batch 100 (the paper's) on an accelerator, 32 on the CPU to keep the benchmark short. The
numbers do not depend on what the recordings say, so random noise stands in for them.

``paper_projected_hours`` multiplies out the pipeline's samples/s to the ``paper`` profile's
training iterations over every fold (380,000 batches of 100), training steps only (validation
every 500 iterations adds a few per cent). On an accelerator each model runs 200 iterations
per side, and once more with bf16 autocast (``*_bf16``, ``paper_projected_hours_bf16``).

``train_hardware_efficiency_<model>`` says how close the training step itself comes to what
the hardware does: the step's achieved FLOP/s (forward + backward FLOPs of one batch counted by
``torch.utils.flop_counter``, times the steps, over the pipeline's median wall time) divided by
the FLOP/s of a large square ``torch.mm`` in the same dtype on the same device, measured in the
same run (:func:`matmul_flops_per_s`, the best of the medians taken before and after the
models, so that a busy moment does not flatter the step). 1 would be matrix-multiply speed.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from . import interleaved, median, timings_doc
from .signals import noise_bursts

HEADLINE = ("train_efficiency_alexnet", "train_efficiency_audionet",
            "train_hardware_efficiency_alexnet", "train_hardware_efficiency_audionet")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


def step_flops(net: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """FLOPs of one forward + backward of ``net`` on the batch ``x`` (``torch.utils.flop_counter``;
    the optimizer's few element-wise FLOPs are not counted). Gradients are left as they were."""
    from torch.utils.flop_counter import FlopCounterMode

    saved = [None if p.grad is None else p.grad.clone() for p in net.parameters()]
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(net(x), y).backward()
    for p, g in zip(net.parameters(), saved):
        p.grad = g
    return float(counter.get_total_flops())


def matmul_flops_per_s(device: torch.device, repeats: int, size: int = 2048) -> tuple[float, list]:
    """FLOP/s of a ``size`` x ``size`` float32 ``torch.mm`` (``2 size^3`` FLOPs): the median of
    ``repeats`` runs of 4 products each, after a warm-up. Returns it and the timings."""
    from . import timed

    g = torch.Generator(device="cpu").manual_seed(0)
    a, b = (torch.randn(size, size, generator=g).to(device) for _ in range(2))

    def products() -> None:
        for _ in range(4):
            torch.mm(a, b)

    products()
    times = [timed(products, sync=lambda: _sync(device)) for _ in range(max(repeats, 3))]
    return 4 * 2 * size**3 / median(times).wall, times


def efficiency(model_name: str, device: torch.device, batch_size: int, steps: int, repeats: int, log=print,
               *, bf16: bool = False) -> dict:
    """Pipeline and bare samples/s of one model, and their ratio: ``repeats`` runs of ``steps``
    steps per side, interleaved ABBA, medians. ``bf16`` (CUDA only) runs both sides under
    bf16 autocast. ``"timings"`` holds the individual runs."""
    import dataclasses

    from ..config import load_profile
    from ..models import INPUTS
    from ..preprocess import mean_spectrogram
    from ..train import Trainer, rng_scope

    paper = load_profile("paper").train
    config = dataclasses.replace(paper, batch_size=batch_size, bf16=bf16, channels_last=False)
    schedule = paper.schedules[f"{model_name}/digits"]
    waves = noise_bursts(4 * batch_size, seed=0)
    labels = torch.randint(0, 10, (waves.shape[0],), generator=torch.Generator().manual_seed(1))
    mean = mean_spectrogram(waves) if INPUTS[model_name] == "spectrogram" else None
    trainer = Trainer(model_name, "digits", schedule, config, waves, labels, mean=mean, device=device)

    net, optimizer = trainer.net, trainer.optimizer
    x = trainer.inputs(trainer.waves[:batch_size]).detach().clone()  # same shape, fixed tensor
    y = trainer.labels[:batch_size]

    def pipeline() -> None:
        for _ in range(steps):
            trainer.step()

    def bare() -> None:
        for _ in range(steps):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=trainer.bf16):
                loss = F.cross_entropy(net(x), y)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()

    with rng_scope(device):
        trainer.step()  # warm-up of both: first-call allocations and kernel choices count for neither
        bare()
        t_pipe, t_bare = interleaved(pipeline, bare, repeats, sync=lambda: _sync(device))
    pipe = steps * batch_size / median(t_pipe).wall
    raw = steps * batch_size / median(t_bare).wall
    flops = step_flops(net, x, y)
    suffix = "_bf16" if trainer.bf16 else ""
    log(f"train {model_name}{suffix}: pipeline {pipe:.1f} samples/s, bare {raw:.1f} samples/s, "
        f"efficiency {pipe / raw:.3f} (batch {batch_size}, {steps} steps x {repeats} ABBA, medians, {device}); "
        f"{flops / batch_size / 1e9:.2f} GFLOP per recording, {flops * pipe / batch_size / 1e9:.1f} GFLOP/s")
    return {
        f"train_efficiency_{model_name}{suffix}": pipe / raw,
        f"train_gflop_per_recording_{model_name}{suffix}": flops / batch_size / 1e9,
        f"train_gflop_per_s_{model_name}{suffix}": flops * pipe / batch_size / 1e9,
        f"train_samples_per_s_{model_name}{suffix}": pipe,
        f"bare_samples_per_s_{model_name}{suffix}": raw,
        "timings": {f"pipeline_vs_bare_{model_name}{suffix}": timings_doc("pipeline", t_pipe, "bare", t_bare)},
    }


def paper_samples() -> dict[str, int]:
    """Training samples per model of the whole ``paper`` profile: every run, every fold."""
    from ..config import load_profile
    from ..splits import paper_folds

    t = load_profile("paper").train
    total: dict[str, int] = {}
    for name in t.runs:
        model, task = name.split("/")
        folds = len(paper_folds(task)) if t.folds == "all" else len(t.folds)
        total[model] = total.get(model, 0) + folds * t.schedules[name].iterations * t.batch_size
    return total


def projected_hours(samples_per_s: dict[str, float], samples: dict[str, int]) -> float:
    """Hours of training steps for ``samples`` per model at ``samples_per_s`` per model."""
    return sum(n / samples_per_s[model] for model, n in samples.items()) / 3600


def run(log=print, *, batch_size: int | None = None, steps: int | None = None, repeats: int | None = None) -> dict:
    """Both models' efficiencies and the projection (see the module docstring). The sizes
    default by device: on the CPU batch 32, one step per run (about a second), 8 runs per
    side; on an accelerator batch 100, 40 steps per run, 5 runs per side (200 iterations)."""
    from ..models import MODELS
    from ..train import resolve_device

    device = resolve_device("auto")
    cpu = device.type == "cpu"
    batch_size = batch_size or (32 if cpu else 100)
    steps = steps or (1 if cpu else 40)
    repeats = repeats or (8 if cpu else 5)
    out: dict = {}
    timings: dict = {}
    precisions = (False, True) if device.type == "cuda" else (False,)
    samples = paper_samples()
    peak_before, mm_before = matmul_flops_per_s(device, repeats)  # the best of before and after
    for bf16 in precisions:
        suffix = "_bf16" if bf16 else ""
        for model_name in MODELS:
            figures = efficiency(model_name, device, batch_size, steps, repeats, log, bf16=bf16)
            timings.update(figures.pop("timings"))
            out.update(figures)
        speed = {m: out[f"train_samples_per_s_{m}{suffix}"] for m in MODELS}
        out[f"paper_projected_hours{suffix}"] = projected_hours(speed, samples)
        log(f"train: the paper profile's {sum(samples.values()) // 100:,} batches of 100 would take "
            f"{out[f'paper_projected_hours{suffix}']:.1f} h of training steps on {device}{' with bf16' if bf16 else ''}")
    peak_after, mm_after = matmul_flops_per_s(device, repeats)
    peak = max(peak_before, peak_after)
    out["matmul_gflop_per_s"] = peak / 1e9
    for model_name in MODELS:
        out[f"train_hardware_efficiency_{model_name}"] = out[f"train_gflop_per_s_{model_name}"] * 1e9 / peak
    log("train: achieved FLOP/s of the training step over a 2048 x 2048 torch.mm's "
        f"({peak / 1e9:.1f} GFLOP/s): " + ", ".join(
            f"{m} {out[f'train_hardware_efficiency_{m}']:.3f}" for m in MODELS))
    out["matmul_seconds_before"] = median(mm_before).wall
    out["matmul_seconds_after"] = median(mm_after).wall
    out["train_bench_batch_size"] = float(batch_size)
    out["train_bench_steps"] = float(steps)
    out["timings"] = timings
    return out
