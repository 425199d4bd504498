"""The profile's work as independent jobs, for many machines on one shared ``runs/``.

Train jobs come first, one per model x task x fold (:func:`training.training_runs`); then one
analysis job per trained run that the later chapters need: its test fold's relevance, its
zeroing curves (``perturb.zeroing_runs``), for the AlexNet gender model frequency scaling, and
the method benchmark (``benchmark.runs``).
An analysis job depends on its run's train job only, so a Slurm array over the train jobs and a
dependent array over the analysis jobs cover the profile (``scripts/slurm/``). Every job is
idempotent: a finished step is read back from the step cache, a run another process is
training is waited for.
"""
from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import dataclass

from ..errors import AudiomnistError
from ..runs import Run, status
from ..train import resolve_device
from .benchmark import applies, benchmark_fold
from .folds import folds_of
from .manipulations import frequency_scaling_fold, zeroing_fold
from .relevance import test_relevance
from .training import ensure_trained, training_runs

LOG = "jobs.jsonl"  # one line per job run: index, name, host, pid, seconds


@dataclass(frozen=True)
class Job:
    """One job: its index in :func:`jobs`, its stage (``train`` or ``analysis``), what it does,
    the indices it depends on, and the run (model, task, fold) it works on."""

    index: int
    stage: str
    name: str
    depends: tuple[int, ...]
    model: str
    task: str
    fold: int
    analyses: tuple[str, ...] = ()

    def to_dict(self) -> dict:
        return {"index": self.index, "stage": self.stage, "name": self.name, "depends": list(self.depends)}


def _analyses(run: Run, model: str, task: str, fold: int) -> tuple[str, ...]:
    """What the chapters need from one trained run beyond Table 1."""
    name = f"{model}/{task}"
    zeroing = name in run.config.perturb.zeroing_runs
    out = ("relevance",) if zeroing or fold == folds_of(run, task)[0] else ()
    out += ("zeroing",) if zeroing else ()
    out += ("frequency scaling",) if name == "alexnet/gender" else ()
    return out + (("benchmark",) if name in run.config.benchmark.runs else ())


def jobs(run: Run) -> list[Job]:
    """Every job of the profile, in dependency order (train jobs, then analysis jobs)."""
    train = training_runs(run)
    out = [Job(i, "train", f"train {m}/{k} fold {f}", (), m, k, f) for i, (m, k, f) in enumerate(train)]
    for i, (m, k, f) in enumerate(train):
        analyses = _analyses(run, m, k, f)
        if analyses:
            out.append(Job(len(out), "analysis", f"{', '.join(analyses)}: {m}/{k} fold {f}", (i,), m, k, f, analyses))
    return out


def arrays(job_list: list[Job]) -> dict[str, str]:
    """The Slurm ``--array`` range of each stage that has jobs: ``{"train": "0-3", ...}``."""
    out = {}
    for stage in ("train", "analysis"):
        idx = [j.index for j in job_list if j.stage == stage]
        if idx:
            out[stage] = f"{idx[0]}-{idx[-1]}" if len(idx) > 1 else str(idx[0])
    return out


def describe(run: Run) -> dict:
    """What ``audiomnist jobs --json`` prints: the jobs and the arrays of each stage."""
    job_list = jobs(run)
    return {"profile": run.profile, "data": run.data, "jobs": [j.to_dict() for j in job_list], "arrays": arrays(job_list)}


def run_job(run: Run, index: int, device=None, *, progress: bool = False) -> Job:
    """Run job ``index`` of :func:`jobs` (a finished one returns at once) and log it to
    ``runs/<profile>-<data>/jobs.jsonl``."""
    job_list = jobs(run)
    if not 0 <= index < len(job_list):
        raise AudiomnistError(f"job {index}: profile {run.profile!r} on the {run.data} corpus has jobs 0..{len(job_list) - 1}; "
                              f"list them with `audiomnist jobs --profile {run.profile} --data {run.data}`")
    job = job_list[index]
    dev = resolve_device(device or run.config.train.device)
    start = time.monotonic()
    status(f"job {index}: {job.name}")
    ensure_trained(run, job.model, job.task, job.fold, dev, progress=progress, wait=True)
    if "relevance" in job.analyses:
        test_relevance(run, job.model, job.task, job.fold, dev)
    if "zeroing" in job.analyses:
        zeroing_fold(run, job.model, job.task, job.fold, dev)
    if "frequency scaling" in job.analyses:
        frequency_scaling_fold(run, job.fold, dev)
    for method in run.config.benchmark.methods if "benchmark" in job.analyses else ():
        if applies(method, job.model):
            benchmark_fold(run, method, job.model, job.task, job.fold, dev)
    record = {"index": index, "name": job.name, "host": socket.gethostname(), "pid": os.getpid(),
              "seconds": round(time.monotonic() - start, 3)}
    run.root.mkdir(parents=True, exist_ok=True)
    with open(run.path(LOG), "a") as f:  # one short line per write: appends of several workers do not interleave
        f.write(json.dumps(record) + "\n")
    return job
