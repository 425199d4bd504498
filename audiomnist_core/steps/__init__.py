"""The steps of the pipeline over the run store: what turns a profile and a corpus into results.

Each step reads its inputs from the run store, calls the pure stages (``preprocess``,
``train``, ``explain``, ``perturb``, ...) and caches its result by one mechanism,
:func:`audiomnist_core.runs.cached`, keyed on its config, its inputs' content and its code.

- :mod:`.folds`: the corpus as the profile preprocesses it, and one fold's recordings.
- :mod:`.training`: train, test and store one run (model x task x fold); the finished results.
- :mod:`.relevance`: the relevance of a test fold, and the data of chapter 03's figures.
- :mod:`.manipulations`: frequency scaling and zeroing curves per fold, both over the profile.
- :mod:`.beyond`: chapter 05's band shares, frequency-domain curves, time-frequency grid and
  audible explanations.
- :mod:`.benchmark`: attribution methods under the zeroing and randomisation tests (chapter 06).
- :mod:`.jobs`: all of it as independent jobs for many workers (``audiomnist jobs``).

:func:`declared` finds every :class:`~audiomnist_core.runs.Step` these modules declare (the tests
generate each step's cases from it). Every public name is re-exported here: ``from audiomnist_core import steps`` then
``steps.train_profile(run)``.
"""
import importlib
import pkgutil

from ..runs import Step
from .benchmark import benchmark_fold, benchmark_profile
from .beyond import LISTEN_FRACTIONS, audible_explanations, band_shares_fold, beyond_profile, frequency_removal_fold, time_frequency_data
from .folds import FoldData, corpus_signals, fold_data, folds_of, skipped_tasks, subsample
from .jobs import Job, describe as describe_jobs, jobs, run_job
from .manipulations import frequency_scaling_fold, listening_subjects, perturb_profile, zeroing_fold
from .relevance import (
    DIGIT_NAMES,
    LABELS,
    Explained,
    band_shares_of_run,
    class_examples,
    explain_run,
    explain_test_set,
    figure1_data,
    figure2_data,
    padding_shares_of_run,
    run_composite,
    tasks_run,
    test_relevance,
)
from .training import Busy, curves, ensure_trained, load_model, metrics, results, run_dir, run_key, train_profile, training_runs



def declared() -> dict[str, Step]:
    """Every :class:`Step` declared at module level in a module of this package, by name."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.update({s.name: s for s in vars(module).values() if isinstance(s, Step)})
    return dict(sorted(found.items()))


__all__ = [
    "declared",
    "benchmark_fold", "benchmark_profile",
    "LISTEN_FRACTIONS", "audible_explanations", "band_shares_fold", "beyond_profile", "frequency_removal_fold",
    "time_frequency_data",
    "FoldData", "corpus_signals", "fold_data", "folds_of", "skipped_tasks", "subsample",
    "Job", "describe_jobs", "jobs", "run_job",
    "frequency_scaling_fold", "listening_subjects", "perturb_profile", "zeroing_fold",
    "DIGIT_NAMES", "LABELS", "Explained", "band_shares_of_run", "class_examples", "explain_run", "explain_test_set",
    "figure1_data", "figure2_data", "padding_shares_of_run", "run_composite", "tasks_run", "test_relevance",
    "Busy", "curves", "ensure_trained", "load_model", "metrics", "results", "run_dir", "run_key", "train_profile",
    "training_runs",
]
