"""What reporting shares: Markdown tables and the one spread of the book.

Every spread over folds in the book is the *sample* standard deviation (``ddof=1``; 0 for a
single fold): the folds are a sample of the speaker splits one could draw, and the paper,
which does not say which it reports, gives no reason to prefer the population one.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; 0 for a single value) over folds."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def pm(values: Sequence[float], digits: int = 1) -> str:
    """``"mean ± std"`` over folds (:func:`mean_std`), the mean alone for one fold."""
    mean, std = mean_std(values)
    return f"{mean:.{digits}f} ± {std:.{digits}f}" if len(values) > 1 else f"{mean:.{digits}f}"


def markdown_table(header: Sequence[str], lines: Sequence[Sequence[str]]) -> str:
    """A Markdown table of string cells."""
    return "\n".join(["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
                     + ["| " + " | ".join(line) + " |" for line in lines])
