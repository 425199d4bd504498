"""One trainer for both networks (SPEC.md, Training) and the paper's Table 1.

A *run* is one model x task x fold of a profile. The trainer knows nothing about the model
beyond its name: the input kind (spectrogram or waveform) comes from :data:`models.INPUTS`,
the schedule from the profile. Features are computed per batch, on the training device,
from the padded waveforms held in memory.

Artifacts of a run live in ``runs/<profile>-<data>/train/<model>-<task>-fold<k>/``:

- ``checkpoint.pt`` and ``checkpoint.prev.pt``: the last two checkpoints (model, optimiser,
  batch sampler, iteration, metrics); an interrupted run, even by ``kill -9``, resumes from
  the newer readable one.
- ``metrics.jsonl`` (appended) and ``metrics.json`` (rewritten): one record per validation.
- ``model.pt``: the tested weights (the final iterate, or the best on validation).
- ``result.json``: test accuracy, confusion matrix, validation curve and provenance. It is
  written last, so its presence marks the run complete; a complete run is never touched.

Resuming is exact on the CPU: model initialisation, batch order (a seeded generator whose
state is checkpointed) and dropout masks (the global RNG reseeded from the iteration number)
are functions of the run's seed and the iteration, so a resumed run ends with the same
weights as an uninterrupted one.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import socket
import time
import zlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from . import splits
from .config import Schedule, TrainConfig, key_fields
from .data import GENDERS, recorded_genders
from .errors import AudiomnistError
from .models import INPUTS, N_CLASSES, build
from .preprocess import INPUT_LENGTH, Signals, corpus_signals, mean_spectrogram, model_input
from .runs import Run, atomic_path, load_json, save_json, save_torch, status

# The paper's Table 1: mean and std of the test accuracy over its splits, in percent.
PAPER_TABLE1 = {
    ("alexnet", "digits"): (95.82, 1.49),
    ("alexnet", "gender"): (95.87, 2.85),
    ("audionet", "digits"): (92.53, 2.04),
    ("audionet", "gender"): (91.74, 8.60),
}
CLASS_NAMES = {"digits": tuple(str(d) for d in range(10)), "gender": GENDERS}
CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
MODEL = "model.pt"
RESULT = "result.json"
METRICS = "metrics.json"
METRICS_LINES = "metrics.jsonl"
LOCK = "train.lock"  # held while a process trains the run: "<host> <pid>"
POSTFIX_SECONDS = 1.0  # refresh the progress bar's loss/accuracy at most this often (a device sync)

Log = Callable[[str], None]


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


# --- folds and their data -----------------------------------------------------------------

def _genders(run: Run) -> dict[int, str]:
    return recorded_genders(run.corpus_root)


def _folds(run: Run, task: str) -> list[splits.Fold]:
    return splits.folds(_genders(run), task, seed=run.config.train.seed)


def skipped_tasks(run: Run) -> dict[str, str]:
    """The tasks that the run's corpus cannot be split for, each with its reason
    (:func:`splits.task_skip_reason`): ``{"gender": "the gender task needs ..."}`` for a corpus
    with one gender, ``{}`` for AudioMNIST. Training, Table 1, the manipulations and the
    chapters leave these tasks out and say why."""
    return splits.skipped_tasks(_genders(run))


def _check_fold(run: Run, task: str, fold: int, n_folds: int) -> None:
    if not 0 <= fold < n_folds:
        raise AudiomnistError(
            f"fold {fold} is out of range: the {task} task has folds 0..{n_folds - 1} on the {run.data} corpus"
        )


def folds_of(run: Run, task: str) -> list[int]:
    """The fold indices of ``task`` that the run's profile trains (``train.folds``)."""
    n = len(_folds(run, task))
    chosen = run.config.train.folds
    if chosen == "all":
        return list(range(n))
    for k in chosen:
        if not 0 <= k < n:
            raise AudiomnistError(
                f"profile {run.profile!r}: train.folds has fold {k}, but the {task} task has folds "
                f"0..{n - 1} on the {run.data} corpus; change train.folds"
            )
    return list(chosen)


def subsample(strata: torch.Tensor, n: int | None, seed: int) -> torch.Tensor:
    """Indices of at most ``n`` items, spread evenly over the strata.

    Items are drawn round-robin: first one random item of every stratum, then a second, and so
    on, so each stratum (speaker x class) keeps about the same share. ``strata`` is ``(N,)``
    int64; returns sorted ``(min(n, N),)`` int64 indices. ``n=None`` keeps everything.
    """
    total = strata.shape[0]
    if n is None or n >= total:
        return torch.arange(total)
    perm = torch.randperm(total, generator=torch.Generator().manual_seed(seed))
    s = strata[perm]
    order = torch.argsort(s, stable=True)  # grouped by stratum, random order inside
    sorted_s = s[order]
    first = torch.searchsorted(sorted_s, sorted_s, side="left")  # start of each item's group
    rank = torch.empty(total, dtype=torch.int64)
    rank[order] = torch.arange(total) - first  # rank of each item inside its stratum
    chosen = perm[torch.argsort(rank, stable=True)[:n]]
    return chosen.sort().values


@dataclass
class FoldData:
    """The recordings of one fold after the profile's subsampling.

    ``train``/``validation``/``test`` are :class:`preprocess.Signals`; ``mean`` is the
    element-wise mean dB spectrogram of the training recordings, ``(227, 227)``, which the
    spectrogram model's inputs subtract (SPEC, Preprocessing step 5).
    """

    task: str
    fold: int
    speakers: splits.Fold
    train: Signals
    validation: Signals
    test: Signals

    @cached_property
    def mean(self) -> torch.Tensor:
        return mean_spectrogram(self.train.waves)


_CORPUS: dict[tuple, Signals] = {}
_FOLD_DATA: dict[tuple, FoldData] = {}
_FOLD_DATA_KEPT = 2  # fold data hold copies of the waveforms; keep only the latest few


def _corpus(run: Run) -> Signals:
    key = (str(run.corpus_root), run.data, run.config.preprocess)
    if key not in _CORPUS:
        _CORPUS.clear()  # one corpus in memory at a time
        _CORPUS[key] = corpus_signals(run)
    return _CORPUS[key]


def fold_data(run: Run, task: str, fold: int) -> FoldData:
    """The recordings of ``fold`` of ``task``, subsampled per ``train.max_train_per_fold`` and
    ``train.max_eval_per_fold`` (seeded, balanced over speaker x class)."""
    if task not in N_CLASSES:
        raise AudiomnistError(f"task {task!r}: unknown; use one of {', '.join(N_CLASSES)}")
    folds = _folds(run, task)
    _check_fold(run, task, fold, len(folds))
    t = run.config.train
    key = (str(run.corpus_root), run.data, run.config.preprocess, t.max_train_per_fold, t.max_eval_per_fold, t.seed, task, fold)
    if key in _FOLD_DATA:
        return _FOLD_DATA[key]
    signals = _corpus(run)
    parts = {}
    for part_id, (part, speakers, limit) in enumerate((
        ("train", folds[fold].train, t.max_train_per_fold),
        ("validation", folds[fold].validation, t.max_eval_per_fold),
        ("test", folds[fold].test, t.max_eval_per_fold),
    )):
        subset = signals.select(torch.isin(signals.speaker, torch.tensor(speakers)))
        if len(subset) == 0:
            raise AudiomnistError(
                f"{run.corpus_root}: the {part} speakers {list(speakers)} of {task} fold {fold} have no recordings"
            )
        labels = subset.labels(task)
        strata = subset.speaker * N_CLASSES[task] + labels
        seed = int(np.random.SeedSequence([t.seed, fold, part_id, zlib.crc32(task.encode())]).generate_state(1)[0])
        parts[part] = subset.select(subsample(strata, limit, seed))
    if parts["train"].labels(task).unique().numel() < 2:
        raise AudiomnistError(f"{run.corpus_root}: the training set of {task} fold {fold} has only one class")
    data = FoldData(task, fold, folds[fold], **parts)
    while len(_FOLD_DATA) >= _FOLD_DATA_KEPT:
        _FOLD_DATA.pop(next(iter(_FOLD_DATA)))
    _FOLD_DATA[key] = data
    return data


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


def optimizer(net: nn.Module, schedule: Schedule, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with momentum (the paper), or Adam where a short schedule asks for it."""
    if schedule.optimizer == "adam":
        return torch.optim.Adam(net.parameters(), lr=schedule.learning_rate, weight_decay=config.weight_decay)
    return torch.optim.SGD(
        net.parameters(), lr=schedule.learning_rate, momentum=config.momentum, weight_decay=config.weight_decay
    )


def _seeds(seed: int, model: str, task: str, fold: int) -> tuple[int, int, int]:
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
        x, y = self.inputs(self.waves[idx]), self.labels[idx]
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate(self.schedule, it)
        # Dropout masks are a function of the iteration, so a resumed run draws the same ones.
        torch.manual_seed(self.dropout_seed + it)
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


# --- runs on disk -------------------------------------------------------------------------

def run_dir(run: Run, model: str, task: str, fold: int) -> Path:
    return run.path("train", f"{model}-{task}-fold{fold}")


def run_key(run: Run, model: str, task: str) -> str:
    """Hash of everything that decides a run's weights (not the device, folds list or
    checkpoint interval); a finished run or checkpoint with another key is stale."""
    t = run.config.train
    relevant = {
        "data": run.data,
        "synthetic": (key_fields(run.config.data) | {"source": None}) if run.data == "synthetic" else None,
        # fields added to these sections later enter only where they leave their default, as below
        # preprocess.length left the profiles (the networks' input is fixed at 8000 samples); its
        # value stays in the key so that runs trained while it was a field stay valid
        "preprocess": key_fields(run.config.preprocess) | {"length": INPUT_LENGTH},
        "train": {k: getattr(t, k) for k in ("batch_size", "momentum", "weight_decay", "eval_every", "select",
                                              "max_train_per_fold", "max_eval_per_fold", "seed", "bf16")},
        # the recipe fields (init, optimizer) only where they leave the paper's recipe, so that
        # runs trained before they existed (a GPU's paper run) stay valid
        "schedule": key_fields(_schedule(run, model, task)),
    }
    return hashlib.sha256(json.dumps(relevant, sort_keys=True, default=str).encode()).hexdigest()[:12]


def _schedule(run: Run, model: str, task: str) -> Schedule:
    name = f"{model}/{task}"
    if model not in INPUTS or task not in N_CLASSES:
        raise AudiomnistError(f"run {name!r}: unknown model or task; models: {', '.join(INPUTS)}, tasks: {', '.join(N_CLASSES)}")
    if name not in run.config.train.schedules:
        raise AudiomnistError(
            f"profile {run.profile!r}: train.schedules has no entry for {name!r}; add one to train this run"
        )
    return run.config.train.schedules[name]


def _result(folder: Path) -> dict | None:
    path = folder / RESULT
    if not path.is_file():
        return None
    try:
        return load_json(path)
    except (OSError, ValueError) as e:
        raise AudiomnistError(f"{path}: unreadable result ({e}); delete it to test this run again") from None


def _complete(run: Run, model: str, task: str, fold: int) -> dict | None:
    """The result of a finished run with the current configuration, else None."""
    folder = run_dir(run, model, task, fold)
    result = _result(folder)
    if result is None:
        return None
    if result.get("key") != run_key(run, model, task):
        raise AudiomnistError(
            f"{folder}: finished with another configuration than profile {run.profile!r} now gives "
            f"({result.get('key')} vs {run_key(run, model, task)}); delete the folder to retrain it, or restore the profile"
        )
    if not (folder / MODEL).is_file():
        raise AudiomnistError(f"{folder / MODEL}: missing although {RESULT} says the run finished; delete {folder} to retrain it")
    return result


class Busy(AudiomnistError):
    """Another process holds the run's lock: it is training that run now."""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, as another user's
    return True


@contextlib.contextmanager
def run_lock(folder: Path) -> Iterator[None]:
    """Hold ``folder/train.lock`` while training the run in ``folder``.

    Two processes given the same run (two tasks of a job array, two notebooks) would interleave
    their checkpoints; the second stops with :class:`Busy` instead. The lock is made by a hard
    link, which is atomic on local and network file systems. A lock left by a process of this
    host that no longer exists (``kill -9``) is taken over; one from another host is reported.
    """
    folder.mkdir(parents=True, exist_ok=True)
    path, host = folder / LOCK, socket.gethostname()
    tmp = folder / f".{LOCK}.{host}.{os.getpid()}.tmp"
    tmp.write_text(f"{host} {os.getpid()}\n")
    try:
        for _ in range(3):
            try:
                os.link(tmp, path)
                break
            except FileExistsError:
                try:
                    owner_host, _, pid = path.read_text(errors="replace").strip().partition(" ")
                except FileNotFoundError:
                    continue  # released meanwhile
                if owner_host == host and pid.isdigit() and not _alive(int(pid)):
                    path.unlink(missing_ok=True)  # left by a killed process of this host
                    continue
                raise Busy(
                    f"{path}: {folder.name} is being trained by process {pid or '?'} on {owner_host or '?'}; "
                    "wait for it to finish, or delete the lock if that process is gone"
                ) from None
        else:
            raise Busy(f"{path}: could not take the lock of {folder.name}; another process keeps taking it")
    finally:
        tmp.unlink(missing_ok=True)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _load_checkpoint(folder: Path, log: Log) -> dict | None:
    """The newest readable checkpoint, or None when there is none.

    A corrupt newest one (say, a disk that filled up) is deleted with a warning and the
    previous one is used; when no checkpoint is readable the error names the file.
    """
    for stale in folder.glob(".*.part"):  # temporary files of writes that a kill interrupted
        stale.unlink()
    candidates = [p for p in (folder / CHECKPOINT, folder / PREVIOUS) if p.is_file()]
    for i, path in enumerate(candidates):
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
            if not isinstance(state, dict) or not {"key", "model", "optimizer", "sampler", "iteration"} <= set(state):
                raise ValueError("not a checkpoint of this trainer")
            return state
        except Exception as e:  # torch.load raises many types for a damaged file
            reason = str(e).splitlines()[0] if str(e) else type(e).__name__
            if i + 1 == len(candidates):
                raise AudiomnistError(
                    f"{path}: checkpoint is corrupt or half-written ({reason}); delete it to train this run from the start"
                ) from None
            log(f"warning: {path}: checkpoint is corrupt ({reason}); deleting it and resuming from {candidates[i + 1].name}")
            path.unlink()
    return None


def _save_checkpoint(folder: Path, state: dict) -> None:
    """Keep the last two checkpoints: the newest becomes the previous one, then the new one
    is written atomically."""
    newest = folder / CHECKPOINT
    if newest.is_file():
        os.replace(newest, folder / PREVIOUS)
    save_torch(newest, state)


def _write_metrics(folder: Path, metrics: list[dict]) -> None:
    save_json(folder / METRICS, metrics)
    with atomic_path(folder / METRICS_LINES) as tmp:
        tmp.write_text("".join(json.dumps(m) + "\n" for m in metrics))


def _append_metrics(folder: Path, metrics: list[dict]) -> None:
    with open(folder / METRICS_LINES, "a") as f:
        f.write(json.dumps(metrics[-1]) + "\n")
    save_json(folder / METRICS, metrics)


def _train(run: Run, model: str, task: str, fold: int, device: torch.device, *, progress: bool, log: Log) -> dict:
    """Train (or resume) one run to the end, test it and write its artifacts; the result."""
    t = run.config.train
    schedule = _schedule(run, model, task)
    key = run_key(run, model, task)
    folder = run_dir(run, model, task, fold)
    data = fold_data(run, task, fold)
    mean = data.mean if INPUTS[model] == "spectrogram" else None
    trainer = Trainer(
        model, task, schedule, t, data.train.waves, data.train.labels(task),
        mean=mean, device=device, seeds=_seeds(t.seed, model, task, fold),
        waveform_norm=run.config.preprocess.waveform_norm,
    )
    folder.mkdir(parents=True, exist_ok=True)
    state = _load_checkpoint(folder, log)
    if state is not None:
        if state["key"] != key:
            raise AudiomnistError(
                f"{folder / CHECKPOINT}: written with another configuration than profile {run.profile!r} now gives; "
                f"delete {folder} to train this run from the start, or restore the profile"
            )
        trainer.load_state_dict(state)
        log(f"{model}/{task} fold {fold}: resuming at iteration {trainer.iteration} of {schedule.iterations}")
    _write_metrics(folder, trainer.metrics)  # drops records newer than the checkpoint
    if not progress:  # no bar: a line at the start and at each validation says what is running
        log(f"{model}/{task} fold {fold}: training {schedule.iterations} iterations on {device}")

    bar = tqdm(total=schedule.iterations, initial=trainer.iteration, desc=f"{model}/{task} fold {fold}",
               unit="it", disable=not progress, dynamic_ncols=True)
    postfix: dict[str, str] = {}
    cudnn_benchmark = torch.backends.cudnn.benchmark
    torch.backends.cudnn.benchmark = device.type == "cuda"  # fixed input shapes: let cuDNN pick
    session_start, seconds_before = time.monotonic(), trainer.seconds
    last_postfix = session_start
    try:
        with rng_scope(device):
            while trainer.iteration < schedule.iterations:
                trainer.step()
                it = trainer.iteration
                done = it == schedule.iterations
                trainer.seconds = seconds_before + time.monotonic() - session_start
                if it % t.eval_every == 0 or done:
                    record = trainer.validate(data.validation)
                    _append_metrics(folder, trainer.metrics)
                    postfix["val_acc"] = f"{record['val_accuracy']:.1f}"
                    if not progress:
                        log(f"{model}/{task} fold {fold}: iteration {it}/{schedule.iterations}, validation accuracy "
                            f"{record['val_accuracy']:.1f} %, {trainer.seconds:.0f} s")
                if it % t.checkpoint_every == 0 or done:
                    _save_checkpoint(folder, {**trainer.state_dict(), "key": key})
                bar.update(1)
                if progress and time.monotonic() - last_postfix > POSTFIX_SECONDS:
                    loss, acc = trainer.running("bar")
                    postfix.update(loss=f"{loss:.3f}", acc=f"{acc:.1f}", lr=f"{learning_rate(schedule, it - 1):.2g}")
                    bar.set_postfix(postfix)
                    last_postfix = time.monotonic()
    finally:
        torch.backends.cudnn.benchmark = cudnn_benchmark
        bar.close()

    weights, tested_iteration = trainer.tested_state()
    save_torch(folder / MODEL, {
        "model": weights, "model_name": model, "task": task, "fold": fold,
        "iteration": tested_iteration, "mean": None if mean is None else mean.cpu(), "key": key,
    })
    trainer.net.load_state_dict(weights)
    _, test_acc, predicted = trainer.evaluate(data.test)
    labels = data.test.labels(task)
    matrix = confusion(labels, predicted, N_CLASSES[task])
    per_class = (100.0 * matrix.diag() / matrix.sum(1).clamp_min(1)).tolist()
    result = {
        "model": model, "task": task, "fold": fold, "key": key,
        "test_accuracy": test_acc,
        "chance_accuracy": chance_accuracy(data.validation.labels(task), N_CLASSES[task]),
        "n_test": len(data.test), "n_train": len(data.train), "n_validation": len(data.validation),
        "classes": list(CLASS_NAMES[task]),
        "confusion": matrix.tolist(),
        "per_class_accuracy": per_class,
        "select": t.select, "tested_iteration": tested_iteration, "iterations": schedule.iterations,
        "validation": [{"iteration": m["iteration"], "val_accuracy": m["val_accuracy"], "val_loss": m["val_loss"]} for m in trainer.metrics],
        "speakers": data.speakers.to_dict(),
        "train_seconds": trainer.seconds, "device": str(device),
        "stamp": run.stamp(fit=_corpus(run).fit_report(run.config.preprocess.fit, run.config.preprocess.sample_rate).to_dict()),
    }
    save_json(folder / RESULT, result)
    (folder / PREVIOUS).unlink(missing_ok=True)  # the run is complete; the final checkpoint stays
    return result


# A run "did not learn" when its final validation accuracy has not left chance (the share of
# the validation set's most common class) by this fraction of the way to 100 %: 28 % for ten
# balanced digits, 60 % for two balanced genders.
LEARNED_MARGIN = 0.2


def chance_accuracy(labels: torch.Tensor, n_classes: int) -> float:
    """The accuracy (%) of always answering the most common class of ``labels`` ``(N,)``."""
    if len(labels) == 0:
        return 100.0 / n_classes
    return 100.0 * torch.bincount(labels.long(), minlength=n_classes).max().item() / len(labels)


def did_not_learn(result: dict) -> bool:
    """Whether a finished run's final validation accuracy is still near chance (see
    :data:`LEARNED_MARGIN`); such a run is flagged wherever its numbers are shown."""
    chance, final = _chance_and_final(result)
    return final < chance + LEARNED_MARGIN * (100.0 - chance)


def _chance_and_final(result: dict) -> tuple[float, float]:
    """A result's chance accuracy and final validation accuracy (%); results written before
    the chance was recorded assume balanced classes."""
    chance = result.get("chance_accuracy", 100.0 / N_CLASSES[result["task"]])
    final = result["validation"][-1]["val_accuracy"] if result.get("validation") else result["test_accuracy"]
    return chance, final


def learning_verdict(result: dict) -> str:
    """One line on a run that did not learn ("" for one that did), for logs and pages."""
    if not did_not_learn(result):
        return ""
    chance, final = _chance_and_final(result)
    return (f"{result['model']}/{result['task']} fold {result['fold']} DID NOT LEARN: final validation accuracy "
            f"{final:.1f} % against {chance:.1f} % by chance after "
            f"{result['iterations']:,} iterations; its numbers are not a result")


# --- the public entry points --------------------------------------------------------------

def _pairs(run: Run, model: str | None, task: str | None) -> list[tuple[str, str]]:
    """The (model, task) pairs a request names: with model and task, that pair; otherwise the
    profile's ``train.runs`` matching the given filters."""
    if model is not None and task is not None:
        _schedule(run, model, task)
        return [(model, task)]
    pairs = [tuple(r.split("/")) for r in run.config.train.runs]
    pairs = [(m, k) for m, k in pairs if model in (None, m) and task in (None, k)]
    if not pairs:
        raise AudiomnistError(
            f"profile {run.profile!r}: train.runs lists no run for model={model} task={task}; "
            f"it lists {', '.join(run.config.train.runs)}"
        )
    return pairs


def jobs(run: Run, model: str | None = None, task: str | None = None, fold: int | None = None) -> list[tuple[str, str, int]]:
    """The (model, task, fold) runs that a request names: with model and task, that pair;
    otherwise the profile's ``train.runs`` matching the given filters; all folds of
    :func:`folds_of` unless ``fold`` is given. Tasks of :func:`skipped_tasks` have none."""
    skipped = skipped_tasks(run)
    out = []
    for m, k in _pairs(run, model, task):
        if k in skipped:
            continue
        if fold is None:
            out += [(m, k, f) for f in folds_of(run, k)]
        else:
            _check_fold(run, k, fold, len(_folds(run, k)))
            out.append((m, k, fold))
    return out


def ensure_trained(run: Run, model: str, task: str, fold: int, device: str | torch.device | None = None,
                   *, progress: bool = True, log: Log = status) -> Path:
    """The tested weights (``model.pt``) of a finished run; trains or resumes it first if needed.

    Raises :class:`Busy` when another process is training that run now.
    """
    folder = run_dir(run, model, task, fold)
    if _complete(run, model, task, fold) is None:
        with run_lock(folder):
            if _complete(run, model, task, fold) is None:  # another process may have just finished it
                dev = resolve_device(device or run.config.train.device)
                result = _train(run, model, task, fold, dev, progress=progress, log=log)
                log(f"{model}/{task} fold {fold}: test accuracy {result['test_accuracy']:.2f} % "
                    f"after {result['iterations']} iterations ({result['train_seconds']:.0f} s on {dev})")
                if did_not_learn(result):
                    log(f"WARNING: {learning_verdict(result)}")
    return folder / MODEL


def train_profile(run: Run, model: str | None = None, task: str | None = None, fold: int | None = None,
                  device: str | torch.device | None = None, *, progress: bool = True, log: Log = status) -> None:
    """Train every run the request names (see :func:`jobs`) that is not complete yet.

    Each (model, task, fold) is an independent job, so folds can be spread over machines
    that share the run folder; a run that another process is training is skipped with a line,
    and so is, once, a task that the corpus cannot be split for (:func:`skipped_tasks`).
    """
    skipped = skipped_tasks(run)
    for k in dict.fromkeys(k for _, k in _pairs(run, model, task)):
        if k in skipped:
            log(f"{k} task: not run: {skipped[k]}")
    for m, k, f in jobs(run, model, task, fold):
        if _complete(run, m, k, f) is not None:
            log(f"{m}/{k} fold {f}: already complete, kept")
            continue
        try:
            ensure_trained(run, m, k, f, device, progress=progress, log=log)
        except Busy as e:
            log(f"{m}/{k} fold {f}: skipped: {e}")


def load_model(run: Run, model: str, task: str, fold: int, device: str | torch.device = "cpu",
               *, train: bool = True, log: Log = status) -> nn.Module:
    """The tested model of a run, in evaluation mode on ``device``.

    With ``train=True`` a missing run is trained first (on the profile's device); with
    ``train=False`` it is an error that says how to train it.
    """
    if train:
        path = ensure_trained(run, model, task, fold, log=log)
    else:
        if _complete(run, model, task, fold) is None:
            raise AudiomnistError(
                f"{run_dir(run, model, task, fold)}: no finished training; run `audiomnist train --profile "
                f"{run.profile} --data {run.data} --model {model} --task {task} --fold {fold}`"
            )
        path = run_dir(run, model, task, fold) / MODEL
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        net = build(model, task)
        net.load_state_dict(state["model"])
    except Exception as e:  # a damaged file fails in torch.load or in load_state_dict
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise AudiomnistError(f"{path}: corrupt model file ({reason}); delete {path.parent} to retrain this run") from None
    return net.to(resolve_device(device)).eval()


def results(run: Run) -> list[dict]:
    """The results of every finished run the profile lists, in profile order."""
    out = []
    skipped = skipped_tasks(run)
    for m, k in (tuple(r.split("/")) for r in run.config.train.runs):
        for f in [] if k in skipped else folds_of(run, k):
            result = _complete(run, m, k, f)
            if result is not None:
                out.append(result)
    return out


def metrics(run: Run, model: str, task: str, fold: int) -> list[dict]:
    """The metrics records of a run so far (empty when it has not started)."""
    path = run_dir(run, model, task, fold) / METRICS
    return load_json(path) if path.is_file() else []


def table1(run: Run) -> list[dict]:
    """Table 1 over the finished folds: one row per model x task with at least one, in
    profile order.

    ``accuracy`` lists the test accuracy (%) per fold in ``folds``; ``std`` is the sample
    standard deviation over folds (ddof=1; 0 for a single fold) — the paper does not say
    which it reports. ``paper_mean``/``paper_std`` are the paper's numbers. A task that the
    corpus cannot be split for (:func:`skipped_tasks`) has a row per model with ``mean`` and
    ``std`` None, no folds, and ``skipped``: the reason. ``did_not_learn`` lists the folds
    whose run ended near chance (:func:`did_not_learn`), ``did_not_learn_reason`` says how.
    """
    by_pair: dict[tuple[str, str], list[dict]] = {}
    for r in results(run):
        by_pair.setdefault((r["model"], r["task"]), []).append(r)
    skipped = skipped_tasks(run)
    rows = []
    for m, k in (tuple(r.split("/")) for r in run.config.train.runs):
        paper_mean, paper_std = PAPER_TABLE1[(m, k)]
        if k in skipped:
            rows.append({
                "model": m, "task": k, "data": run.data, "profile": run.profile, "folds": [], "accuracy": [],
                "mean": None, "std": None, "paper_mean": paper_mean, "paper_std": paper_std, "skipped": skipped[k],
            })
            continue
        found = by_pair.get((m, k))
        if not found:
            continue
        acc = [r["test_accuracy"] for r in found]
        rows.append({
            "model": m, "task": k, "data": run.data, "profile": run.profile,
            "folds": [r["fold"] for r in found],
            "accuracy": acc,
            "mean": float(np.mean(acc)),
            "std": float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0,
            "paper_mean": paper_mean, "paper_std": paper_std,
            "did_not_learn": [r["fold"] for r in found if did_not_learn(r)],
            "did_not_learn_reason": "; ".join(learning_verdict(r) for r in found if did_not_learn(r)) or None,
        })
    return rows


def table1_numbers(rows: list[dict]) -> dict[str, float | int]:
    """The numbers a chapter's prose glues from Table 1, per row ``<model>_<task>_``: ``mean``,
    ``std``, ``paper``, ``diff`` (ours - paper) and ``folds``; a skipped row has ``paper`` only."""
    out: dict[str, float | int] = {}
    for r in rows:
        name = f"{r['model']}_{r['task']}"
        out[f"{name}_paper"] = r["paper_mean"]
        if r.get("skipped") is None:
            out.update({f"{name}_mean": r["mean"], f"{name}_std": r["std"], f"{name}_diff": r["mean"] - r["paper_mean"],
                        f"{name}_folds": len(r["folds"])})
    return out


def format_table1(rows: list[dict], *, markdown: bool = False) -> str:
    """Table 1 as text (or a Markdown table): ours beside the paper's, and the difference.
    A skipped row reads "not run"; its reason follows the table once per task. A row with a
    fold that did not learn is marked so, and the verdict follows the table."""
    header = ["model", "input", "task", "folds", "ours (%)", "paper (%)", "ours - paper"]
    lines = []
    for r in rows:
        ran = r.get("skipped") is None
        ours = f"{r['mean']:.2f} ± {r['std']:.2f}" if ran else "not run"
        if r.get("did_not_learn"):
            ours += f" (DID NOT LEARN: fold {', '.join(map(str, r['did_not_learn']))})"
        lines.append([
            r["model"], INPUTS[r["model"]], r["task"], str(len(r["folds"])),
            ours, f"{r['paper_mean']:.2f} ± {r['paper_std']:.2f}",
            f"{r['mean'] - r['paper_mean']:+.2f}" if ran else "–",
        ])
    source = (f"ours: profile {rows[0]['profile']!r} on the {rows[0]['data']} corpus; "
              "mean ± sample std (ddof=1) over folds") if rows else "no finished runs"
    reasons = {r["task"]: r["skipped"] for r in rows if r.get("skipped") is not None}
    notes = [f"{task} task not run: {reason}" for task, reason in reasons.items()]
    failed = [r["did_not_learn_reason"] for r in rows if r.get("did_not_learn_reason")]
    if markdown:  # a run that did not learn is a warning above everything that quotes its numbers
        warnings = "".join(f"\n\n> **Warning:** {line}." for line in failed)
        return _markdown(header, lines) + warnings + "".join(
            f"\n\n*{line}.*" for line in [f"{source}; paper: Becker et al., Table 1", *notes])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), *(fmt.format(*line) for line in lines), source, *notes,
                      *(f"WARNING: {line}" for line in failed)])


def curves(run: Run) -> dict[tuple[str, str, int], list[dict]]:
    """The metrics records of every finished run the profile lists, keyed ``(model, task, fold)``."""
    return {(r["model"], r["task"], r["fold"]): metrics(run, r["model"], r["task"], r["fold"]) for r in results(run)}


def _markdown(header: list[str], lines: list[list[str]]) -> str:
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(line) + " |" for line in lines])


def format_schedules(run: Run) -> str:
    """The profile's training schedules, each value with the paper's in brackets, as a Markdown table."""
    from .config import load_profile

    paper = load_profile("paper").train
    t = run.config.train

    def clip(s: Schedule) -> str:
        return "off" if s.clip_norm is None else f"{s.clip_norm:g}"

    def recipe(s: Schedule) -> str:
        return f"{'SGD' if s.optimizer == 'sgd' else 'Adam'}, {s.init}"

    header = ["model / task", "learning rate", "halved every", "iterations", "batch", "clip norm", "optimiser, init"]
    lines = []
    for name in t.runs:
        s, p = t.schedules[name], paper.schedules[name]
        lines.append([
            name, f"{s.learning_rate:g} ({p.learning_rate:g})", f"{s.lr_step:,} ({p.lr_step:,})",
            f"{s.iterations:,} ({p.iterations:,})", f"{t.batch_size} ({paper.batch_size})", f"{clip(s)} ({clip(p)})",
            f"{recipe(s)} ({recipe(p)})",
        ])
    return _markdown(header, lines)


def format_runs(results: list[dict]) -> str:
    """One Markdown row per finished fold: test accuracy, set sizes, tested iteration, time."""
    header = ["model", "task", "fold", "test accuracy (%)", "train / validation / test recordings", "tested iteration", "training time", "device"]
    lines = [[
        r["model"], r["task"], str(r["fold"]), f"{r['test_accuracy']:.2f}" + (" (did not learn)" if did_not_learn(r) else ""),
        f"{r['n_train']} / {r['n_validation']} / {r['n_test']}",
        f"{r['tested_iteration']:,} of {r['iterations']:,} ({r['select']})",
        f"{r['train_seconds'] / 60:.1f} min", r["device"],
    ] for r in results]
    return _markdown(header, lines)
