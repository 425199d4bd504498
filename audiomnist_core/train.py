"""One trainer for both networks (SPEC.md, Training): tensors in, weights out, no run store.

The trainer knows nothing about the model beyond its name: the input kind (spectrogram or
waveform) comes from :data:`models.INPUTS`, the schedule from the caller. Features are
computed per batch, on the training device, from the padded waveforms held in memory.

Resuming is exact on the CPU: model initialisation, batch order (a seeded generator whose
state is in :meth:`Trainer.state_dict`) and dropout masks (the global RNG reseeded from the
iteration number) are functions of the run's seeds and the iteration, so a resumed run ends
with the same weights as an uninterrupted one. Where the runs, their checkpoints and
results live is :mod:`audiomnist_core.steps.training`.
"""
from __future__ import annotations

import contextlib
import math
import zlib
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import Schedule, TrainConfig
from .errors import AudiomnistError
from .models import INPUTS, N_CLASSES, build
from .preprocess import Signals, model_input

# --- devices ------------------------------------------------------------------------------

def resolve_device(name: str | torch.device | None = "auto") -> torch.device:
    """``"auto"`` (or ``None``): CUDA, then MPS, then the CPU; otherwise the named device,
    which must be available here."""
    if isinstance(name, torch.device):
        return name
    name = name or "auto"
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise AudiomnistError(f"device {name!r}: unknown; use auto, cpu, cuda, cuda:N or mps") from None
    if device.type == "cuda" and (not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()):
        raise AudiomnistError(f"device {name!r}: no such CUDA device on this machine; use --device auto or cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise AudiomnistError(f"device {name!r}: MPS is not available on this machine; use --device auto or cpu")
    if device.type not in ("cpu", "cuda", "mps"):
        raise AudiomnistError(f"device {name!r}: unsupported; use auto, cpu, cuda, cuda:N or mps")
    return device


@contextlib.contextmanager
def rng_scope(device: torch.device) -> Iterator[None]:
    """Fork the global RNGs that training reseeds (CPU and the training device), so that
    training leaves the caller's random state as it found it."""
    if device.type == "cuda":
        scope = torch.random.fork_rng(devices=[device.index if device.index is not None else torch.cuda.current_device()])
    elif device.type == "mps":
        scope = torch.random.fork_rng(device_type="mps")
    else:
        scope = torch.random.fork_rng(devices=[])
    with scope:
        yield


# --- inference ----------------------------------------------------------------------------

def _autocast(device: torch.device, bf16: bool):
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16 and device.type == "cuda")


@torch.no_grad()
def logits(
    model: nn.Module,
    model_name: str,
    signals_or_waves: Signals | torch.Tensor,
    mean: torch.Tensor | None = None,
    batch_size: int = 100,
    device: str | torch.device | None = None,
    bf16: bool = False,
    norm: str = "original",
) -> torch.Tensor:
    """Logits of padded waveforms ``(N, 8000)`` (or :class:`Signals`), ``(N, n_classes)``
    float32 on the CPU, computed in evaluation mode in batches on ``device`` (default: the
    model's). ``mean`` is the training-mean spectrogram of the spectrogram model, ``norm``
    the waveform model's normalisation (``preprocess.waveform_norm``)."""
    waves = signals_or_waves.waves if isinstance(signals_or_waves, Signals) else signals_or_waves
    device = torch.device(device) if device is not None else next(model.parameters()).device
    kind = INPUTS[model_name]
    was_training = model.training
    model.eval()
    out = []
    try:
        for start in range(0, waves.shape[0], batch_size):
            x = model_input(kind, waves[start : start + batch_size].to(device), mean, norm)
            with _autocast(device, bf16):
                out.append(model(x).float())
    finally:
        model.train(was_training)
    if not out:
        return torch.empty(0, 0)
    return torch.cat(out).cpu()


def predict(
    model: nn.Module,
    model_name: str,
    signals_or_waves: Signals | torch.Tensor,
    mean: torch.Tensor | None = None,
    batch_size: int = 100,
    device: str | torch.device | None = None,
    bf16: bool = False,
    norm: str = "original",
) -> torch.Tensor:
    """Predicted labels ``(N,)`` int64 (see :func:`logits`)."""
    return logits(model, model_name, signals_or_waves, mean, batch_size, device, bf16, norm).argmax(1)


def confusion(labels: torch.Tensor, predicted: torch.Tensor, n_classes: int) -> torch.Tensor:
    """``(n_classes, n_classes)`` counts: row = true class, column = predicted class."""
    flat = labels.long() * n_classes + predicted.long()
    return torch.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


# --- the trainer --------------------------------------------------------------------------

def learning_rate(schedule: Schedule, iteration: int) -> float:
    """Caffe's "step" policy: ``lr * gamma ** (iteration // lr_step)``, iterations from 0."""
    return schedule.learning_rate * schedule.lr_gamma ** (iteration // schedule.lr_step)


class EpochSampler:
    """Batches of training indices: a fresh random permutation each epoch, consumed in
    full batches (the rest of an epoch is dropped), drawn from a seeded generator whose
    state is checkpointed."""

    def __init__(self, n: int, batch_size: int, seed: int, device: torch.device) -> None:
        self.n = n
        self.batch_size = min(batch_size, n)
        self.device = device
        self.generator = torch.Generator().manual_seed(seed)
        self._new_epoch()

    def _new_epoch(self) -> None:
        self.perm = torch.randperm(self.n, generator=self.generator)
        self._perm_device = self.perm.to(self.device)
        self.pos = 0

    def next(self) -> torch.Tensor:
        """``(batch_size,)`` int64 indices on the device."""
        if self.pos + self.batch_size > self.n:
            self._new_epoch()
        idx = self._perm_device[self.pos : self.pos + self.batch_size]
        self.pos += self.batch_size
        return idx

    def state_dict(self) -> dict:
        return {"generator": self.generator.get_state(), "perm": self.perm, "pos": self.pos}

    def load_state_dict(self, state: dict) -> None:
        self.generator.set_state(state["generator"])
        self.perm = state["perm"]
        self._perm_device = self.perm.to(self.device)
        self.pos = int(state["pos"])


def spans(waves: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(start, length)`` ``(N,)`` int64 of each padded waveform's recording: from its first
    to its last non-zero sample (an all-zero row: start 0, length 0)."""
    nonzero = waves != 0
    n = waves.shape[1]
    any_ = nonzero.any(1)
    first = torch.where(any_, nonzero.int().argmax(1), 0)
    last = torch.where(any_, n - 1 - nonzero.flip(1).int().argmax(1), -1)
    return first.long(), (last - first + 1).clamp(min=0).long()


def shifted(waves: torch.Tensor, start: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """``waves`` ``(B, L)`` with each recording (``start``, ``length``, from :func:`spans`)
    moved to a random offset of its zero padding, uniform over the ``L - length + 1`` places,
    drawn from the global RNG: the random placement of preprocessing drawn anew per batch."""
    n = waves.shape[1]
    new = (torch.rand(waves.shape[0], device=waves.device) * (n - length + 1)).long().clamp(max=n - length)
    index = (torch.arange(n, device=waves.device) - (new - start)[:, None]) % n
    return waves.gather(1, index)


def optimizer(net: nn.Module, schedule: Schedule, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum (the paper), or Adam where a short schedule asks for it."""
    if schedule.optimizer == "adam":
        return torch.optim.Adam(net.parameters(), lr=schedule.learning_rate, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        net.parameters(), lr=schedule.learning_rate, momentum=config.momentum, weight_decay=config.weight_decay
    )


def run_seeds(seed: int, model: str, task: str, fold: int) -> tuple[int, int, int]:
    """Independent seeds of one run: model initialisation, batch order, dropout."""
    ss = np.random.SeedSequence([seed, fold, zlib.crc32(f"{model}/{task}".encode())])
    return tuple(int(s) for s in ss.generate_state(3))


class Trainer:
    """SGD on one model x task: the state of a run and its training step.

    ``waves`` ``(N, 8000)`` and ``labels`` ``(N,)`` are the training set; they move to
    ``device`` once and each batch's features are computed there. ``mean`` is the training-mean
    spectrogram (spectrogram input only), ``waveform_norm`` the waveform input's normalisation.
    """

    def __init__(
        self,
        model_name: str,
        task: str,
        schedule: Schedule,
        config: TrainConfig,
        waves: torch.Tensor,
        labels: torch.Tensor,
        *,
        mean: torch.Tensor | None = None,
        device: torch.device = torch.device("cpu"),
        seeds: tuple[int, int, int] = (0, 1, 2),
        waveform_norm: str = "original",
    ) -> None:
        self.model_name, self.task, self.schedule, self.config = model_name, task, schedule, config
        self.waveform_norm = waveform_norm
        self.kind = INPUTS[model_name]
        self.device = device
        self.bf16 = config.bf16 and device.type == "cuda"
        self.channels_last = config.channels_last and device.type == "cuda"
        self.waves = waves.to(device)
        self.spans = spans(self.waves) if schedule.shift else None
        self.labels = labels.to(device)
        self.mean = mean.to(device) if mean is not None else None
        init_seed, sampler_seed, self.dropout_seed = seeds
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(init_seed)
            net = build(model_name, task, schedule.init)  # on the CPU: the same weights on every device
        self.net = net.to(device, memory_format=torch.channels_last if self.channels_last else torch.preserve_format)
        self.optimizer = optimizer(self.net, schedule, config)
        self.sampler = EpochSampler(waves.shape[0], config.batch_size, sampler_seed, device)
        self.iteration = 0
        self.metrics: list[dict] = []
        self.best: dict | None = None  # {"iteration", "val_accuracy", "model"} when selecting on validation
        self.seconds = 0.0  # training wall time so far, over all sessions
        # Running training loss sum and correct count on the device (no sync per step), and
        # the number of samples, for the metrics ("eval") and the progress bar ("bar").
        self._stats = {k: torch.zeros(2, device=device) for k in ("eval", "bar")}
        self._counts = {k: 0 for k in self._stats}

    def inputs(self, waves: torch.Tensor) -> torch.Tensor:
        x = model_input(self.kind, waves, self.mean, self.waveform_norm)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last and x.dim() == 4 else x

    def step(self) -> None:
        """One SGD iteration. Reseeds the global RNG (dropout); run it inside :func:`rng_scope`."""
        it = self.iteration
        idx = self.sampler.next()
        # Dropout masks (and shifts) are a function of the iteration, so a resumed run draws the same ones.
        torch.manual_seed(self.dropout_seed + it)
        waves = self.waves[idx]
        if self.spans is not None:
            waves = shifted(waves, self.spans[0][idx], self.spans[1][idx])
        x, y = self.inputs(waves), self.labels[idx]
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.schedule, it)
        with _autocast(self.device, self.bf16):
            out = self.net(x)
            loss = F.cross_entropy(out, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.schedule.clip_norm is not None:
            nn.utils.clip_grad_norm_(self.net.parameters(), self.schedule.clip_norm)
        self.optimizer.step()
        with torch.no_grad():
            batch = torch.stack([loss.detach().float() * y.shape[0], (out.argmax(1) == y).sum().float()])
        for k, s in self._stats.items():
            s += batch
            self._counts[k] += y.shape[0]
        self.iteration += 1

    def running(self, which: str) -> tuple[float, float]:
        """Mean training loss and accuracy (%) since the last call for ``which``; resets it."""
        loss_sum, correct = self._stats[which].tolist()
        count = self._counts[which]
        self._stats[which].zero_()
        self._counts[which] = 0
        return (loss_sum / count, 100.0 * correct / count) if count else (math.nan, math.nan)

    def evaluate(self, signals: Signals) -> tuple[float, float, torch.Tensor]:
        """``(loss, accuracy %, predictions (N,))`` of the current weights on ``signals``."""
        out = logits(self.net, self.model_name, signals.waves, self.mean, self.config.batch_size, self.device,
                     self.bf16, self.waveform_norm)
        labels = signals.labels(self.task)
        predicted = out.argmax(1)
        return F.cross_entropy(out, labels).item(), 100.0 * (predicted == labels).sum().item() / len(labels), predicted

    def validate(self, signals: Signals) -> dict:
        """Append and return a metrics record: training loss/accuracy since the last one,
        validation loss/accuracy, learning rate; keep the best weights when selecting on validation."""
        train_loss, train_acc = self.running("eval")
        val_loss, val_acc, _ = self.evaluate(signals)
        record = {
            "iteration": self.iteration,
            "lr": learning_rate(self.schedule, self.iteration - 1),
            "train_loss": train_loss,
            "train_accuracy": train_acc,
            "val_loss": val_loss,
            "val_accuracy": val_acc,
            "seconds": round(self.seconds, 3),
        }
        self.metrics.append(record)
        if self.config.select == "best_val" and (self.best is None or val_acc > self.best["val_accuracy"]):
            self.best = {"iteration": self.iteration, "val_accuracy": val_acc, "model": _cpu_state(self.net)}
        return record

    def state_dict(self) -> dict:
        """Everything a resumed run needs; tensors and plain containers only (``weights_only``)."""
        return {
            "model": _cpu_state(self.net),
            "optimizer": self.optimizer.state_dict(),
            "sampler": self.sampler.state_dict(),
            "iteration": self.iteration,
            "metrics": self.metrics,
            "best": self.best,
            "seconds": self.seconds,
            # the training loss/accuracy sums since the last validation record
            "running": self._stats["eval"].cpu(),
            "running_count": self._counts["eval"],
        }

    def load_state_dict(self, state: dict) -> None:
        self.net.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.sampler.load_state_dict(state["sampler"])
        self.iteration = int(state["iteration"])
        self.metrics = list(state["metrics"])
        self.best = state["best"]
        self.seconds = float(state["seconds"])
        self._stats["eval"] = state["running"].to(self.device)
        self._counts["eval"] = int(state["running_count"])

    def tested_state(self) -> tuple[dict, int]:
        """The weights to test and their iteration: the final iterate, or the best on validation."""
        if self.config.select == "best_val" and self.best is not None:
            return self.best["model"], self.best["iteration"]
        return _cpu_state(self.net), self.iteration


def _cpu_state(net: nn.Module) -> dict:
    return {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}


# A run "did not learn" when the validation accuracy of the weights it tested (the final
# iterate, or under select: best_val the best one kept) has not left chance (the share of the
# validation set's most common class) by this fraction of the way to 100 %: 28 % for ten
# balanced digits, 60 % for two balanced genders.
LEARNED_MARGIN = 0.2


def chance_accuracy(labels: torch.Tensor, n_classes: int) -> float:
    """The accuracy (%) of always answering the most common class of ``labels`` ``(N,)``."""
    if len(labels) == 0:
        return 100.0 / n_classes
    return 100.0 * torch.bincount(labels.long(), minlength=n_classes).max().item() / len(labels)


def did_not_learn(result: dict) -> bool:
    """Whether the validation accuracy of the weights a finished run tested is still near
    chance (see :data:`LEARNED_MARGIN`); such a run is flagged wherever its numbers are shown."""
    chance, kept, _ = _chance_and_kept(result)
    return kept < chance + LEARNED_MARGIN * (100.0 - chance)


def _chance_and_kept(result: dict) -> tuple[float, float, str]:
    """A result's chance accuracy, the validation accuracy (%) of the weights it tested and
    which those are (``"final"`` or ``"best (iteration N)"``): under ``select: best_val``
    the validation record of ``tested_iteration``, else the last one. Results written before
    the chance was recorded assume balanced classes."""
    chance = result.get("chance_accuracy", 100.0 / N_CLASSES[result["task"]])
    records = result.get("validation") or []
    if not records:
        return chance, result["test_accuracy"], "final"
    if result.get("select") == "best_val":
        tested = result.get("tested_iteration")
        kept = next((r for r in records if r["iteration"] == tested), None)
        if kept is not None:
            return chance, kept["val_accuracy"], f"best (iteration {tested:,})"
    return chance, records[-1]["val_accuracy"], "final"


def learning_verdict(result: dict) -> str:
    """One line on a run that did not learn ("" for one that did), for logs and pages."""
    if not did_not_learn(result):
        return ""
    chance, kept, which = _chance_and_kept(result)
    return (f"{result['model']}/{result['task']} fold {result['fold']} DID NOT LEARN: {which} validation accuracy "
            f"{kept:.1f} % against {chance:.1f} % by chance after "
            f"{result['iterations']:,} iterations; its numbers are not a result")
