"""Figures of chapter 06: the zeroing curves of chosen attribution methods and the cascading
randomisation test, per model x task. Pure plotting from the result of
:func:`audiomnist_core.steps.benchmark_profile`; nothing is computed here but means over folds.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from .manipulations import LINTHRESH

CHANCE = {"digits": 10.0, "gender": 50.0}


def _entry(result: dict, method: str, model: str, task: str) -> dict | None:
    return next((r for r in result["results"] if (r["method"], r["model"], r["task"]) == (method, model, task)), None)


def _pairs(result: dict) -> list[tuple[str, str]]:
    return list(dict.fromkeys((r["model"], r["task"]) for r in result["results"]))


def curves_figure(result: dict, methods: dict[tuple[str, str], Sequence[str]], names: dict[str, str], caption: str = ""):
    """A panel per model x task: accuracy (%) against the zeroed fraction for the methods
    ``methods[(model, task)]`` (mean over folds; band: the folds' minimum to maximum), chance
    dashed. ``names`` maps method names to legend text."""
    pairs = [p for p in _pairs(result) if p in methods]
    fig, axes = plt.subplots(1, max(len(pairs), 1), figsize=(4.4 * max(len(pairs), 1), 3.6), squeeze=False)
    x = np.asarray(result["fractions"], dtype=float)
    for ax, (model, task) in zip(axes[0], pairs):
        for method in dict.fromkeys(methods[(model, task)]):
            entry = _entry(result, method, model, task)
            if entry is None:
                continue
            curves = np.asarray(entry["curves"], dtype=float)  # (folds, fractions)
            line, = ax.plot(x, curves.mean(0), marker="o", markersize=3, label=names.get(method, method),
                            color="tab:gray" if method == "random" else None)
            if curves.shape[0] > 1:
                ax.fill_between(x, curves.min(0), curves.max(0), color=line.get_color(), alpha=0.15)
        ax.axhline(CHANCE[task], color="black", linestyle="--", linewidth=1, label="chance")
        ax.set_xscale("symlog", linthresh=LINTHRESH)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 100)
        ax.set_xlabel("fraction of non-zero features zeroed")
        ax.set_ylabel("accuracy (%)")
        ax.set_title(f"{model} / {task}", fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    if caption:
        fig.suptitle(caption, fontsize=9)
    fig.tight_layout()
    return fig


def randomization_figure(result: dict, names: dict[str, str], caption: str = ""):
    """A panel per model x task: the mean Spearman correlation between each method's maps
    under the trained model and under the model with its layers re-initialised from the top
    down, against the number of layers re-initialised (mean over folds)."""
    pairs = _pairs(result)
    fig, axes = plt.subplots(1, max(len(pairs), 1), figsize=(4.4 * max(len(pairs), 1), 3.6), squeeze=False)
    for ax, (model, task) in zip(axes[0], pairs):
        for entry in (r for r in result["results"] if (r["model"], r["task"]) == (model, task)):
            rho = np.asarray([s for s in entry["randomization"] if s], dtype=float)
            if rho.size == 0:
                continue
            steps = np.arange(1, rho.shape[1] + 1)
            ax.plot(steps, np.nanmean(rho, 0), marker="o", markersize=3, label=names.get(entry["method"], entry["method"]),
                    color="tab:gray" if entry["method"] == "random" else None,
                    linestyle=":" if entry["method"] == "random" else "-")
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("layers re-initialised, from the output down")
        ax.set_ylabel("Spearman with the trained model's map")
        ax.set_title(f"{model} / {task}", fontsize=10)
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=6, loc="center left", bbox_to_anchor=(1.0, 0.5))
    if caption:
        fig.suptitle(caption, fontsize=9)
    fig.tight_layout()
    return fig
