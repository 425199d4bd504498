"""The recordings a step works on: the corpus decoded and preprocessed per the profile, the
speaker folds of each task, and one fold's training, validation and test recordings."""
from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from .. import splits
from ..data import index_recordings, read_metadata, recorded_genders
from ..errors import AudiomnistError
from ..models import N_CLASSES
from ..preprocess import Signals, load_signals, mean_spectrogram
from ..runs import Run, runs_dir


def corpus_signals(run: Run, *, progress: bool = True) -> Signals:
    """Every recording of a run's corpus, decoded, resampled and padded per its profile.

    The resampled clips are cached under ``runs/cache/<data>/``, shared by all profiles that
    use the same corpus with the same resampling parameters.
    """
    genders = {s: sp.gender for s, sp in read_metadata(run.corpus_root).items()}
    recordings = index_recordings(run.corpus_root)
    return load_signals(
        recordings, genders, run.config.preprocess, runs_dir() / "cache" / run.data, progress=progress
    )


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


def corpus(run: Run) -> Signals:
    """The run's :func:`corpus_signals`, decoded once per process (one corpus at a time)."""
    # the config's section itself in the keys (not a copy): a recording view records it read
    # on every call, also where the memo answers
    key = (str(run.corpus_root), run.data, run.fingerprint.digest, run.config.preprocess)
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
    key = (str(run.corpus_root), run.data, run.fingerprint.digest, run.config.preprocess, t.max_train_per_fold, t.max_eval_per_fold, t.seed, task, fold)
    if key in _FOLD_DATA:
        return _FOLD_DATA[key]
    signals = corpus(run)
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
