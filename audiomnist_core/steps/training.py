"""The training step: one run (model x task x fold) of a profile trained, tested and stored.

Artifacts of a run live in ``runs/<profile>-<data>/train/<model>-<task>-fold<k>/``:

- ``checkpoint.pt`` and ``checkpoint.prev.pt``: the last two checkpoints (model, optimiser,
  batch sampler, iteration, metrics); an interrupted run, even by ``kill -9``, resumes from
  the newer readable one.
- ``metrics.jsonl`` (appended) and ``metrics.json`` (rewritten): one record per validation.
- ``model.pt``: the tested weights (the final iterate, or the best on validation).
- ``result.json``: test accuracy, confusion matrix, validation curve and provenance. It is
  written last, so its presence marks the run complete.

A run is keyed by :func:`run_key` (the config that decides its weights), by the corpus's
content (:attr:`Run.fingerprint`: every recording's path, size and hash), and by the code and
libraries of :data:`STEP` (every project module this one imports, transitively, and the
versions of the libraries they import). A finished run or a checkpoint made on another corpus,
by other code or other libraries is trained again, with a line saying why ("the corpus changed
(2 recordings added, 1 changed, 0 removed)"); one with another config is an error, since its
folder belongs to the profile's current config.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn
from tqdm.auto import tqdm

from .. import provenance
from ..config import Schedule, key_fields
from ..data import GENDERS, describe_change
from ..errors import AudiomnistError
from ..models import INPUTS, N_CLASSES, build
from ..preprocess import INPUT_LENGTH
from ..runs import Run, Step, atomic_path, load_json, save_json, save_torch, status, why_stale
from ..train import Trainer, chance_accuracy, confusion, did_not_learn, learning_rate, learning_verdict, resolve_device, rng_scope, run_seeds
from .folds import _check_fold, _folds, corpus, fold_data, folds_of, skipped_tasks

CLASS_NAMES = {"digits": tuple(str(d) for d in range(10)), "gender": GENDERS}
CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
MODEL = "model.pt"
RESULT = "result.json"
METRICS = "metrics.json"
METRICS_LINES = "metrics.jsonl"
LOCK = "train.lock"  # held while a process trains the run: "<host> <pid>"
WAIT_SECONDS = 2.0  # how often a waiting job looks whether another process finished the run
POSTFIX_SECONDS = 1.0  # refresh the progress bar's loss/accuracy at most this often (a device sync)

# What decides a run's weights besides its config (run_key) and its corpus: the code of this
# module's import closure and the libraries it imports.
STEP = Step("train", code=("steps.training",))

# Config entries training reads that do not decide the weights, so run_key leaves them out:
# where and how often it checkpoints, on which device it runs.
NOT_DECIDING = ("train.checkpoint_every", "train.device", "train.channels_last")

Log = Callable[[str], None]


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


def _finished(run: Run, model: str, task: str, fold: int) -> dict | None:
    """The result of a run that finished with the profile's current config (whatever code made
    it), else None; a result of another config is an error naming the folder."""
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


def _made_by(record: dict) -> dict:
    """What made a result or checkpoint: its code hash, libraries and corpus fingerprint."""
    return {"code": record.get("code"), "libraries": record.get("libraries"), "corpus": record.get("corpus")}


def made_now(run: Run) -> dict:
    """What weights trained now would be made by: :meth:`Step.provenance` and the corpus."""
    return {**STEP.provenance(), "corpus": run.fingerprint.digest}


def _stale(run: Run, made_by: dict) -> str | None:
    """Why weights made by ``made_by`` (:func:`_made_by`) are not those the current code,
    libraries and corpus would make (None: they are)."""
    now = made_now(run)
    reason = why_stale({"step": STEP.name, **made_by}, {"step": STEP.name, **now})
    if reason is not None:
        return reason
    if made_by.get("corpus") != now["corpus"]:
        return describe_change(made_by.get("corpus"), run.fingerprint, run.cache_dir())
    return None


def _complete(run: Run, model: str, task: str, fold: int) -> dict | None:
    """The result of a finished run with the current configuration, code, libraries and
    corpus, else None."""
    result = _finished(run, model, task, fold)
    return None if result is None or _stale(run, _made_by(result.get("stamp", {}))) else result


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
    key, made = run_key(run, model, task), made_now(run)
    folder = run_dir(run, model, task, fold)
    data = fold_data(run, task, fold)
    mean = data.mean if INPUTS[model] == "spectrogram" else None
    trainer = Trainer(
        model, task, schedule, t, data.train.waves, data.train.labels(task),
        mean=mean, device=device, seeds=run_seeds(t.seed, model, task, fold),
        waveform_norm=run.config.preprocess.waveform_norm,
    )
    folder.mkdir(parents=True, exist_ok=True)
    state = _load_checkpoint(folder, log)
    if state is not None:
        stale = _stale(run, _made_by(state)) if state["key"] == key else None
        if stale is not None:
            log(f"{model}/{task} fold {fold}: the checkpoint at iteration {state['iteration']} is not one of this "
                f"run: {stale}; training from the start")
            state = None
        elif state["key"] != key:
            raise AudiomnistError(
                f"{folder / CHECKPOINT}: written with another configuration than profile {run.profile!r} now gives; "
                f"delete {folder} to train this run from the start, or restore the profile"
            )
    if state is not None:
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
                    _save_checkpoint(folder, {**trainer.state_dict(), "key": key, **made})
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
        # every config entry training read; tests check that each is in run_key or NOT_DECIDING
        "config_read": provenance.minimal(provenance.open_reads()),
        "stamp": run.stamp(**made, fit=corpus(run).fit_report(run.config.preprocess.fit, run.config.preprocess.sample_rate).to_dict()),
    }
    save_json(folder / RESULT, result)
    (folder / PREVIOUS).unlink(missing_ok=True)  # the run is complete; the final checkpoint stays
    return result


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


def training_runs(run: Run, model: str | None = None, task: str | None = None, fold: int | None = None) -> list[tuple[str, str, int]]:
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
                   *, progress: bool = True, log: Log = status, wait: bool = False) -> Path:
    """The tested weights (``model.pt``) of a finished run; trains or resumes it first if needed.

    A run finished by other code is trained again, after a line saying so. Raises
    :class:`Busy` when another process is training that run now, or with ``wait=True`` waits
    for that process and uses its result (the jobs of :mod:`.jobs` wait on each other so).

    Called from another step, what training reads of the config counts for that step only
    through the checkpoint it hashes (:func:`provenance.detached`).
    """
    with provenance.detached():
        return _ensure_trained(run, model, task, fold, device, progress=progress, log=log, wait=wait)


def _ensure_trained(run: Run, model: str, task: str, fold: int, device, *, progress: bool, log: Log, wait: bool) -> Path:
    folder = run_dir(run, model, task, fold)
    while _complete(run, model, task, fold) is None:
        try:
            with run_lock(folder), provenance.tracking(run):  # what training reads: config_read
                finished = _finished(run, model, task, fold)  # another process may have just finished it
                stale = None if finished is None else _stale(run, _made_by(finished.get("stamp", {})))
                if finished is not None and stale is None:
                    break
                if finished is not None:
                    log(f"{model}/{task} fold {fold}: retraining: {stale}")
                dev = resolve_device(device or run.config.train.device)
                result = _train(run, model, task, fold, dev, progress=progress, log=log)
                log(f"{model}/{task} fold {fold}: test accuracy {result['test_accuracy']:.2f} % "
                    f"after {result['iterations']} iterations ({result['train_seconds']:.0f} s on {dev})")
                if did_not_learn(result):
                    log(f"WARNING: {learning_verdict(result)}")
        except Busy:
            if not wait:
                raise
            time.sleep(WAIT_SECONDS)
    return folder / MODEL


def train_profile(run: Run, model: str | None = None, task: str | None = None, fold: int | None = None,
                  device: str | torch.device | None = None, *, progress: bool = True, log: Log = status) -> None:
    """Train every run the request names (see :func:`training_runs`) that is not complete yet.

    Each (model, task, fold) is an independent job, so folds can be spread over machines
    that share the run folder; a run that another process is training is skipped with a line,
    and so is, once, a task that the corpus cannot be split for (:func:`skipped_tasks`).
    """
    skipped = skipped_tasks(run)
    for k in dict.fromkeys(k for _, k in _pairs(run, model, task)):
        if k in skipped:
            log(f"{k} task: not run: {skipped[k]}")
    for m, k, f in training_runs(run, model, task, fold):
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


def curves(run: Run) -> dict[tuple[str, str, int], list[dict]]:
    """The metrics records of every finished run the profile lists, keyed ``(model, task, fold)``."""
    return {(r["model"], r["task"], r["fold"]): metrics(run, r["model"], r["task"], r["fold"]) for r in results(run)}
