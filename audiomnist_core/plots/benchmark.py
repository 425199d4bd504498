"""Figures of chapter 06: the zeroing curves of chosen attribution methods and the cascading
randomisation test, per model x task. Pure plotting from the result of
:func:`audiomnist_core.steps.benchmark_profile`; nothing is computed here but means over folds.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .layout import caption as set_caption
from .layout import WIDTH_IN, grid, subplots
from .manipulations import LINTHRESH

CHANCE = {"digits": 10.0, "gender": 50.0}


def _entry(result: dict, method: str, model: str, task: str) -> dict | None:
    return next((r for r in result["results"] if (r["method"], r["model"], r["task"]) == (method, model, task)), None)


def _pairs(result: dict) -> list[tuple[str, str]]:
    return list(dict.fromkeys((r["model"], r["task"]) for r in result["results"]))


def curves_figure(result: dict, methods: dict[tuple[str, str], Sequence[str]], names: dict[str, str], caption: str = ""):
    """A panel per model x task: accuracy (%) against the zeroed fraction for the methods
    ``methods[(model, task)]`` (mean over folds; band: the folds' minimum to maximum), chance
    dashed; two panels a row. ``names`` maps method names to legend text."""
    pairs = [p for p in _pairs(result) if p in methods]
    rows, cols = grid(len(pairs))
    fig, axes = subplots(rows, cols, figsize=(WIDTH_IN, 0.6 + 3.0 * rows), squeeze=False)
    x = np.asarray(result["fractions"], dtype=float)
    for ax in axes.flat[len(pairs):]:
        ax.set_visible(False)
    for ax, (model, task) in zip(axes.flat, pairs):
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
        ax.legend(fontsize=8, loc="lower left")
    set_caption(fig, caption)
    return fig


def randomization_figure(result: dict, names: dict[str, str], caption: str = ""):
    """A panel per model x task: the mean Spearman correlation between each method's maps
    under the trained model and under the model with its layers re-initialised from the top
    down, against the number of layers re-initialised (mean over folds); two panels a row,
    one legend below them."""
    pairs = _pairs(result)
    rows, cols = grid(len(pairs))
    fig, axes = subplots(rows, cols, figsize=(WIDTH_IN, 1.2 + 3.0 * rows), squeeze=False)
    for ax in axes.flat[len(pairs):]:
        ax.set_visible(False)
    legend = {}
    for ax, (model, task) in zip(axes.flat, pairs):
        for entry in (r for r in result["results"] if (r["model"], r["task"]) == (model, task)):
            rho = np.asarray([s for s in entry["randomization"] if s], dtype=float)
            if rho.size == 0:
                continue
            steps = np.arange(1, rho.shape[1] + 1)
            line, = ax.plot(steps, np.nanmean(rho, 0), marker="o", markersize=3, label=names.get(entry["method"], entry["method"]),
                            color="tab:gray" if entry["method"] == "random" else None,
                            linestyle=":" if entry["method"] == "random" else "-")
            legend.setdefault(line.get_label(), line)
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_ylim(-1.05, 1.05)
        ax.set_xlabel("layers re-initialised (from the output)")
        ax.set_ylabel("Spearman with the trained map")
        ax.set_title(f"{model} / {task}", fontsize=10)
        ax.grid(alpha=0.3)
    if legend:
        columns = 3 if max(map(len, legend)) <= 24 else 2  # as many as fit WIDTH_IN at 8 pt
        fig.legend(list(legend.values()), list(legend), loc="outside lower center", ncols=min(columns, len(legend)), fontsize=8)
    set_caption(fig, caption)
    return fig
