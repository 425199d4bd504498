"""Reporting: the tables and the sentences that chapters and the command line show, computed
from the steps' results, with the paper's numbers (:mod:`audiomnist_core.paper`) beside ours.

- :mod:`.common`: Markdown tables and the book's one spread over folds (sample std).
- :mod:`.training`: Table 1, the schedules and the runs (chapter 02, ``audiomnist table1``).
- :mod:`.relevance`: band shares and padding shares (chapter 03).
- :mod:`.manipulations`: frequency scaling and zeroing (chapter 04, ``audiomnist perturb``).
- :mod:`.beyond`: chapter 05's band shares and frequency-domain curves.
- :mod:`.benchmark`: the attribution methods' leaderboard and readings (chapter 06,
  ``audiomnist benchmark``).

Every public name is re-exported here: ``from audiomnist_core import report``.
"""
from .benchmark import best as best_methods
from .benchmark import NAMES as METHOD_NAMES
from .benchmark import faithfulness_reading, format_benchmark, format_leaderboard, leaderboard, sanity_reading
from .benchmark import pairs as benchmark_pairs
from .beyond import band_reading, format_model_band_shares, format_removal_at, removal_at, removal_order, removal_reading
from .common import markdown_table, mean_std, pm
from .manipulations import (
    at_fraction,
    format_frequency_scaling,
    format_zeroing_at,
    frequency_scaling_reading,
    robust_until,
    zeroing_order,
)
from .relevance import LOW_HZ, band_share_numbers, format_band_shares, format_padding_shares, padding_reading
from .training import format_runs, format_schedules, format_table1, table1, table1_numbers

__all__ = [
    "band_reading", "format_model_band_shares", "format_removal_at", "removal_at", "removal_order", "removal_reading",
    "best_methods", "METHOD_NAMES", "benchmark_pairs", "faithfulness_reading", "format_benchmark", "format_leaderboard",
    "leaderboard", "sanity_reading",
    "markdown_table", "mean_std", "pm",
    "at_fraction", "format_frequency_scaling", "format_zeroing_at", "frequency_scaling_reading", "robust_until",
    "zeroing_order",
    "LOW_HZ", "band_share_numbers", "format_band_shares", "format_padding_shares", "padding_reading",
    "format_runs", "format_schedules", "format_table1", "table1", "table1_numbers",
]
