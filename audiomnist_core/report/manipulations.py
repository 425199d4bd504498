"""Chapter 04's reporting: the manipulations' tables and the sentences computed from them,
the paper's numbers beside ours."""
from __future__ import annotations

import math

import numpy as np

from .. import paper
from ..errors import AudiomnistError
from ..perturb import _check_strategy
from .common import mean_std, pm


def at_fraction(entry: dict, fraction: float) -> dict[str, tuple[float, float]]:
    """Mean and std over folds of each strategy at one fraction of a zeroing entry of
    :func:`perturb_profile`: ``{strategy: (mean %, std %)}``."""
    i = _fraction_index(entry, fraction)
    return {s: mean_std(entry["curves"][s][i]) for s in entry["curves"]}


def _fraction_index(entry: dict, fraction: float) -> int:
    fractions = entry["fractions"]
    matches = [i for i, f in enumerate(fractions) if math.isclose(f, fraction)]
    if not matches:
        raise AudiomnistError(f"fraction {fraction} is not on the profile's grid {fractions}; add it to perturb.fractions")
    return matches[0]


def robust_until(entry: dict, strategy: str = "random", tolerance: float = 5.0) -> float:
    """The largest fraction up to which the strategy's mean accuracy over folds stays within
    ``tolerance`` percentage points of the unperturbed mean (the paper: gender is robust to
    random zeroing until about 60 %)."""
    _check_strategy(strategy)
    plain = float(np.mean(entry["unperturbed"]))
    last = 0.0
    for f, accs in zip(entry["fractions"], entry["curves"][strategy]):
        if float(np.mean(accs)) < plain - tolerance:
            break
        last = float(f)
    return last


def format_frequency_scaling(fs: dict) -> str:
    """Markdown table of the frequency-scaling experiment, per fold and over folds, the
    paper's result beside ours."""
    rows = ["| | unmodified (%) | frequency-scaled (%) | predicted the opposite gender (%) |", "|---|---|---|---|"]
    for k, plain, acc, opp in zip(fs["folds"], fs["unperturbed"], fs["accuracy"], fs["opposite_share"]):
        rows.append(f"| fold {k} | {plain:.1f} | {acc:.1f} | {opp:.1f} |")
    rows.append(f"| **ours, over folds** | {pm(fs['unperturbed'])} | **{pm(fs['accuracy'])}** | {pm(fs['opposite_share'])} |")
    table1_mean, table1_std = paper.TABLE1[("alexnet", "gender")]
    rows.append(f"| paper | {table1_mean} ± {table1_std} (Table 1) | {fs['paper_mean']} ± {fs['paper_std']} "
                f"| ≈ {paper.FREQUENCY_SCALING['opposite_share']:.0f} |")
    return "\n".join(rows)


def format_zeroing_at(entry: dict, fraction: float, paper: dict | None = None) -> str:
    """Markdown table of each strategy's accuracy at one fraction (mean ± std over folds),
    the paper's value beside it where it gave one."""
    i = _fraction_index(entry, fraction)
    paper = paper or {}
    rows = [f"| {100 * fraction:g} % zeroed | ours (%) | paper (%) |", "|---|---|---|"]
    rows.append(f"| unperturbed | {pm(entry['unperturbed'])} | {paper.get('unperturbed', '–')} |")
    for s, per_fraction in entry["curves"].items():
        rows.append(f"| {s} | {pm(per_fraction[i])} | {paper.get(s, '–')} |")
    return "\n".join(rows)


def frequency_scaling_reading(fs: dict) -> str:
    """One sentence on what the frequency-scaling result says, measured against chance (50 %)."""
    if fs["mean"] + fs["std"] < 50.0:
        return ("below chance: like the paper's model, ours hears the opposite gender in most scaled "
                "recordings, so the pitch cue that LRP marks is what it decides by")
    if fs["mean"] < 50.0:
        return ("below chance on average, but the spread over folds reaches chance, so the reversal is "
                "weaker than the paper's")
    return ("not below chance: unlike the paper's model, ours does not turn its decision around on the "
            "scaled recordings, so pitch and harmonic spacing alone do not carry its gender decision")


def zeroing_order(entry: dict, fraction: float) -> str:
    """The strategies at one fraction, lowest mean accuracy first, e.g.
    ``"relevance 77.0 % < amplitude 85.0 % < random 92.0 %"`` (``=`` for ties)."""
    means = sorted(((m, s) for s, (m, _) in at_fraction(entry, fraction).items()), key=lambda p: p[0])
    text = f"{means[0][1]} {means[0][0]:.1f} %"
    for (prev, _), (m, s) in zip(means, means[1:]):
        text += f" {'=' if math.isclose(prev, m) else '<'} {s} {m:.1f} %"
    return text
