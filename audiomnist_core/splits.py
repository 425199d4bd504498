"""Speaker-disjoint folds: the paper's exact ones, and the same construction for other corpora.

No I/O: functions take the speakers' genders (``{id: "male"|"female"}``) and return folds.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .errors import AudiomnistError

TASKS = ("digits", "gender")

# The original code's five digit-task groups of 12 speakers (SPEC.md, Speaker splits).
PAPER_DIGIT_GROUPS = (
    (1, 6, 7, 16, 19, 23, 28, 34, 35, 46, 53, 56),
    (2, 8, 9, 17, 24, 29, 36, 37, 39, 48, 54, 57),
    (3, 10, 14, 20, 25, 30, 38, 40, 43, 49, 55, 58),
    (4, 11, 12, 15, 21, 27, 31, 41, 44, 47, 50, 59),
    (5, 13, 18, 22, 26, 32, 33, 42, 45, 51, 52, 60),
)
# The gender task's four groups of 3 female + 3 male speakers.
PAPER_GENDER_GROUPS = (
    (36, 47, 56, 2, 44, 50),
    (12, 26, 57, 25, 37, 45),
    (28, 43, 52, 41, 48, 53),
    (58, 59, 60, 7, 23, 38),
)
PAPER_FEMALE = frozenset((12, 26, 28, 36, 43, 47, 52, 56, 57, 58, 59, 60))
# Fold k trains on groups k..k+n_train-1, validates on the next, tests on the one after.
N_TRAIN_GROUPS = {"digits": 3, "gender": 2}


class SplitError(AudiomnistError, ValueError):
    """The task cannot be split on this corpus; the message says why."""


@dataclass(frozen=True)
class Fold:
    train: tuple[int, ...]
    validation: tuple[int, ...]
    test: tuple[int, ...]

    def to_dict(self) -> dict[str, list[int]]:
        return {k: list(v) for k, v in asdict(self).items()}


def _rotate(groups: list[tuple[int, ...]], n_train: int) -> list[Fold]:
    n = len(groups)
    folds = []
    for k in range(n):
        train = sorted(s for i in range(n_train) for s in groups[(k + i) % n])
        folds.append(Fold(tuple(train), tuple(sorted(groups[(k + n_train) % n])), tuple(sorted(groups[(k + n_train + 1) % n]))))
    return folds


def paper_folds(task: str) -> list[Fold]:
    """The paper's folds for AudioMNIST (5 for digits, 4 for gender), in SPEC's order."""
    _check_task(task)
    groups = PAPER_DIGIT_GROUPS if task == "digits" else PAPER_GENDER_GROUPS
    return _rotate(list(groups), N_TRAIN_GROUPS[task])


def has_paper_roster(genders: dict[int, str]) -> bool:
    """True when the corpus has AudioMNIST's 60 speaker ids with their genders."""
    return set(genders) == set(range(1, 61)) and all(
        (g == "female") == (s in PAPER_FEMALE) for s, g in genders.items()
    )


# The fewest speakers a task's generic folds can be made from: five digit groups of at least
# one speaker; four gender groups of at least one female and one male speaker each.
MIN_SPEAKERS = {"digits": 5, "gender": 4}


def task_skip_reason(genders: dict[int, str], task: str) -> str | None:
    """Why ``task`` cannot be run on a corpus with these speakers, or None when it can.

    The one place that decides it: the folds, training, Table 1, the manipulations and the
    chapters all ask here. (AudioMNIST's roster passes: 60 speakers, 12 female.)
    """
    _check_task(task)
    if task == "digits":
        if len(genders) < MIN_SPEAKERS["digits"]:
            return (f"the digit task needs at least {MIN_SPEAKERS['digits']} speakers for "
                    f"{MIN_SPEAKERS['digits']} speaker-disjoint groups; the corpus has {len(genders)}")
        return None
    n_female = sum(g == "female" for g in genders.values())
    n_male = sum(g == "male" for g in genders.values())
    if min(n_female, n_male) < MIN_SPEAKERS["gender"]:
        return (f"the gender task needs at least {MIN_SPEAKERS['gender']} female and {MIN_SPEAKERS['gender']} "
                f"male speakers for {MIN_SPEAKERS['gender']} balanced groups; the corpus has "
                f"{n_female} female and {n_male} male")
    return None


def skipped_tasks(genders: dict[int, str]) -> dict[str, str]:
    """The tasks that cannot be run on this roster, each with its reason (:func:`task_skip_reason`)."""
    reasons = {task: task_skip_reason(genders, task) for task in TASKS}
    return {task: reason for task, reason in reasons.items() if reason is not None}


def format_skipped(skipped: dict[str, str]) -> str:
    """The notice a chapter shows once, above what it leaves out: a Markdown line per task of
    :func:`skipped_tasks` with its reason ("" when no task is skipped)."""
    return "\n\n".join(f"**The {task} task is not run on this corpus:** {reason}. Its folds and results are "
                        "left out of this book." for task, reason in skipped.items())


def task_folds(genders: dict[int, str], seed: int = 0) -> dict[str, list[Fold]]:
    """:func:`folds` of every task that this roster can be split for (:func:`skipped_tasks` has the others)."""
    return {task: folds(genders, task, seed) for task in TASKS if task_skip_reason(genders, task) is None}


def generic_folds(genders: dict[int, str], task: str, seed: int = 0) -> list[Fold]:
    """Speaker-disjoint folds built like the paper's, for any roster; deterministic per seed.

    digits: the speakers, shuffled, in 5 groups; gender: as many female as male speakers
    (the smaller count of each), in 4 groups with the same number of each gender. Raises
    :class:`SplitError` with :func:`task_skip_reason`'s reason where the roster is too small.
    """
    reason = task_skip_reason(genders, task)
    if reason is not None:
        raise SplitError(reason)
    rng = np.random.default_rng(seed)
    if task == "digits":
        ids = sorted(genders)
        groups = [tuple(int(s) for s in g) for g in np.array_split(rng.permutation(ids), 5)]
        return _rotate(groups, N_TRAIN_GROUPS[task])
    female = sorted(s for s, g in genders.items() if g == "female")
    male = sorted(s for s, g in genders.items() if g == "male")
    n = min(len(female), len(male))
    f_groups = np.array_split(rng.permutation(female)[:n], 4)
    m_groups = np.array_split(rng.permutation(male)[:n], 4)
    groups = [tuple(int(s) for s in np.concatenate([f, m])) for f, m in zip(f_groups, m_groups)]
    return _rotate(groups, N_TRAIN_GROUPS[task])


def folds(genders: dict[int, str], task: str, seed: int = 0) -> list[Fold]:
    """The paper's folds when the corpus has AudioMNIST's roster, else :func:`generic_folds`."""
    if has_paper_roster(genders):
        return paper_folds(task)
    return generic_folds(genders, task, seed)


def _check_task(task: str) -> None:
    if task not in TASKS:
        raise SplitError(f"unknown task {task!r}; use one of {', '.join(TASKS)}")
