"""Figures of the training chapter: learning curves, Table 1 beside the paper's, and
confusion matrices. Pure plotting from the records of :mod:`audiomnist_core.train`
(``metrics``, ``results`` and ``table1`` rows); nothing is computed here but sums over folds.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.lines import Line2D

from .layout import WIDTH_IN, caption as set_caption, grid, subplots, wrap

TASKS = ("digits", "gender")
CHANCE = {"digits": 10.0, "gender": 50.0}  # percent, balanced classes
COLOURS = {"alexnet": "tab:blue", "audionet": "tab:orange"}


def training_curves(curves: dict[tuple[str, str, int], list[dict]], caption: str = ""):
    """Training loss and accuracies against the iteration, one column per task.

    ``curves`` maps ``(model, task, fold)`` to its metrics records (``iteration``,
    ``train_loss``, ``train_accuracy``, ``val_accuracy``; accuracies in %). Top row: training
    loss (log scale); bottom row: validation accuracy (solid) and training accuracy since the
    previous record (dotted), with chance dashed; a line per model and fold, coloured by model,
    and one legend for all below.
    """
    tasks = [t for t in TASKS if any(k[1] == t for k in curves)] or list(TASKS)
    fig, axes = subplots(2, len(tasks), figsize=(WIDTH_IN, 6.6), squeeze=False, sharex="col")
    models = sorted({m for m, _, _ in curves})
    for col, task in enumerate(tasks):
        loss_ax, acc_ax = axes[0, col], axes[1, col]
        for (model, t, fold), records in sorted(curves.items()):
            if t != task or not records:
                continue
            it = [r["iteration"] for r in records]
            colour = COLOURS.get(model)
            loss_ax.plot(it, [r["train_loss"] for r in records], color=colour, marker=".")
            acc_ax.plot(it, [r["val_accuracy"] for r in records], color=colour, marker=".")
            acc_ax.plot(it, [r["train_accuracy"] for r in records], color=colour, linestyle=":")
        acc_ax.axhline(CHANCE[task], color="black", linestyle="--", linewidth=1)
        loss_ax.set_yscale("log")
        loss_ax.set_title(f"{task} task")
        loss_ax.set_ylabel("training loss (cross-entropy)")
        acc_ax.set_ylabel("accuracy (%)")
        acc_ax.set_xlabel("iteration")
        acc_ax.set_ylim(-2, 102)
        for ax in (loss_ax, acc_ax):
            ax.grid(alpha=0.3)
    handles = [Line2D([], [], color=COLOURS.get(m), marker=".", label=f"{m} (a line per fold)") for m in models]
    handles += [Line2D([], [], color="gray", marker=".", label="validation accuracy"),
                Line2D([], [], color="gray", linestyle=":", label="training accuracy"),
                Line2D([], [], color="black", linestyle="--", linewidth=1, label="chance")]
    fig.legend(handles=handles, loc="outside lower center", ncols=3, fontsize=8)
    set_caption(fig, caption)
    return fig


def table1_bars(rows: Sequence[dict], caption: str = ""):
    """Table 1 as bars: our mean test accuracy (± std over folds, dots for single folds)
    beside the paper's (± its std), per model and task, with chance dashed. A skipped row
    (``mean`` None) has the paper's bar only and "not run" in place of ours."""
    pairs = [(r["model"], r["task"]) for r in rows]
    x = np.arange(len(rows))
    fig, ax = subplots(figsize=(min(WIDTH_IN, max(4.0, 1.4 * len(rows) + 1.4)), 3.8))
    ours = [np.nan if r["mean"] is None else r["mean"] for r in rows]
    paper = [r["paper_mean"] for r in rows]
    ax.bar(x - 0.2, ours, 0.4, yerr=[0.0 if r["std"] is None else r["std"] for r in rows], capsize=3,
           color="tab:green", label="ours")
    ax.bar(x + 0.2, paper, 0.4, yerr=[r["paper_std"] for r in rows], capsize=3, color="lightgray",
           edgecolor="black", label="paper")
    for i, r in enumerate(rows):
        ax.plot([i - 0.2] * len(r["accuracy"]), r["accuracy"], linestyle="none", marker="o", markersize=3, color="black")
        ax.hlines(CHANCE[r["task"]], i - 0.45, i + 0.45, colors="black", linestyles="--", linewidth=1)
        if r["mean"] is None:
            ax.text(i - 0.2, 2, "not run", rotation=90, ha="center", va="bottom", fontsize=8)
    ax.set_xticks(x, [f"{m}\n{t}" for m, t in pairs])
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 105)
    ax.plot([], [], color="black", linestyle="--", linewidth=1, label="chance")
    ax.legend(fontsize=8, loc="lower left")
    ax.grid(axis="y", alpha=0.3)
    if caption:
        ax.set_title(wrap(caption, fig.get_figwidth() - 0.8), fontsize=9)
    return fig


def confusion_axes(ax, matrix, classes: Sequence[str], title: str = "") -> None:
    """One confusion matrix: rows are the true classes, columns the predicted ones; colour is
    the row-normalised share (%), the text the count."""
    m = np.asarray(matrix, dtype=float)
    share = 100.0 * m / np.maximum(m.sum(1, keepdims=True), 1)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=100)
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(j, i, f"{int(m[i, j])}", ha="center", va="center", fontsize=8 if m.shape[0] > 5 else 10,
                    color="white" if share[i, j] > 60 else "black")
    ax.set_xticks(range(len(classes)), classes, fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title, fontsize=9)


def confusion_matrices(results: Sequence[dict], caption: str = ""):
    """A confusion matrix per model x task, summed over the folds in ``results`` (the
    ``result.json`` records of :func:`audiomnist_core.steps.results`); two a row."""
    summed: dict[tuple[str, str], list] = {}
    for r in results:
        key = (r["model"], r["task"])
        m = np.asarray(r["confusion"])
        summed[key] = [summed[key][0] + m, r["classes"], summed[key][2] + 1] if key in summed else [m, r["classes"], 1]
    keys = sorted(summed, key=lambda k: (TASKS.index(k[1]), k[0]))
    rows, cols = grid(len(keys))
    fig, axes = subplots(rows, cols, figsize=(WIDTH_IN if cols > 1 else 3.8, 0.5 + 3.5 * rows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, keys):
        matrix, classes, folds = summed[key]
        accuracy = 100.0 * np.trace(matrix) / max(matrix.sum(), 1)
        confusion_axes(ax, matrix, classes, f"{key[0]}, {key[1]}: {accuracy:.1f} % ({folds} fold{'s' if folds != 1 else ''})")
    set_caption(fig, caption)
    return fig
