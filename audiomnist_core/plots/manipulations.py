"""Figures of Section 3.3: Fig. 3's zeroing curves, the frequency-scaling results, and
spectrograms before and after scaling. Pure plotting from arrays and result dicts of
:func:`audiomnist_core.steps.perturb_profile`; nothing is computed here but means over folds.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from .layout import WIDTH_IN, caption as set_caption, grid, subplots, wrap

STYLE = {  # strategy -> (colour, marker, legend text)
    "random": ("tab:gray", "o", "random"),
    "amplitude": ("tab:blue", "s", "largest amplitude"),
    "relevance": ("tab:red", "^", "highest relevance (LRP)"),
}
LINTHRESH = 1e-3  # the x axis is linear below 0.1 % and logarithmic above, so 0 is on it


def zeroing_axes(ax, entry: dict, title: str = "", paper_at_1pct: dict | None = None) -> None:
    """One panel of Fig. 3: accuracy (%) against the zeroed fraction for each strategy.

    Lines are the mean over folds, the band spans the folds' minimum to maximum (absent with
    one fold), the dashed line is chance. ``paper_at_1pct`` (``{strategy: %}``) marks the
    paper's values at 1 % with hollow markers.
    """
    x = np.asarray(entry["fractions"], dtype=float)
    for strategy, per_fraction in entry["curves"].items():
        colour, marker, text = STYLE.get(strategy, ("black", "x", strategy))
        if strategy == "relevance" and entry.get("method", "lrp") != "lrp":
            text = f"highest relevance ({entry['method'].replace('_', ' ')})"
        acc = np.asarray(per_fraction, dtype=float)  # (fractions, folds)
        ax.plot(x, acc.mean(1), color=colour, marker=marker, markersize=4, label=text)
        if acc.shape[1] > 1:
            ax.fill_between(x, acc.min(1), acc.max(1), color=colour, alpha=0.15, linewidth=0)
    ax.axhline(entry["chance"], color="black", linestyle="--", linewidth=1, label="chance")
    if paper_at_1pct:
        for strategy, value in paper_at_1pct.items():
            if strategy in STYLE:
                colour, marker, _ = STYLE[strategy]
                ax.plot([0.01], [value], linestyle="none", marker=marker, markersize=9,
                        markerfacecolor="none", markeredgecolor=colour, markeredgewidth=1.5)
        ax.plot([], [], linestyle="none", marker="o", markerfacecolor="none", markeredgecolor="black", label="paper, at 1 %")
    ax.set_xscale("symlog", linthresh=LINTHRESH)
    ax.set_xlim(0, 1)
    ax.set_ylim(-2, 102)
    spectrogram = entry.get("feature", "").startswith("spectrogram")
    ax.set_xlabel("fraction of above-floor bins set to -80 dB" if spectrogram else "fraction of non-zero samples set to zero")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)


def figure3(zeroing: dict[str, dict], keys: Sequence[str], caption: str = "", paper: dict | None = None):
    """Fig. 3: a panel per ``"model/task"`` key of ``zeroing`` (the ``"zeroing"`` part of
    :func:`perturb_profile`), two a row; keys that are absent or skipped have none.
    ``paper`` maps keys to the paper's values at 1 %."""
    keys = [k for k in keys if k in zeroing and "skipped" not in zeroing[k]]
    rows, cols = grid(len(keys))
    fig, axes = subplots(rows, cols, figsize=(WIDTH_IN if cols > 1 else 4.2, 0.6 + 3.3 * rows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, keys):
        entry = zeroing[key]
        folds = len(entry.get("folds", [None]))
        note = "" if entry.get("in_paper", True) else " (not in the paper)"
        zeroing_axes(ax, entry, f"{key}{note}, {folds} fold{'s' if folds != 1 else ''}", (paper or {}).get(key))
    axes[0][0].legend(fontsize=8, loc="lower left")
    set_caption(fig, caption)
    return fig


def frequency_scaling_figure(result: dict, caption: str = ""):
    """Accuracy of the gender model on unmodified and on frequency-scaled test sets per fold,
    with the paper's mean +- std on the scaled sets beside it."""
    acc = np.asarray(result["accuracy"], dtype=float)
    plain = np.asarray(result["unperturbed"], dtype=float)
    folds = result.get("folds", list(range(len(acc))))
    fig, ax = subplots(figsize=(5.5, 3.6))
    pos = np.arange(len(acc))
    ax.bar(pos - 0.2, plain, width=0.4, color="tab:gray", label="unmodified")
    ax.bar(pos + 0.2, acc, width=0.4, color="tab:purple", label="frequency-scaled")
    p = len(acc) + 0.5
    ax.errorbar([p], [result["paper_mean"]], yerr=[result["paper_std"]], fmt="D", color="black", capsize=4,
                label="paper, scaled (mean ± std)")
    ax.axhline(50.0, color="black", linestyle="--", linewidth=1, label="chance")
    ax.set_xticks(list(pos) + [p], [f"fold {k}" for k in folds] + ["paper"])
    ax.set_ylim(0, 100)
    ax.set_ylabel("gender accuracy (%)")
    ax.legend(fontsize=8, loc="upper right", framealpha=0.9)
    if caption:
        ax.set_title(wrap(caption, fig.get_figwidth() - 0.8), fontsize=9)
    return fig


def scaled_spectrograms(originals: np.ndarray, scaled: np.ndarray, titles: Sequence[str], rate: int = 8000, caption: str = ""):
    """Spectrograms before (top) and after (bottom) frequency scaling, a column per example.

    ``originals``/``scaled``: ``(n, 227, 227)`` dB (frequency x time); the frequency axis is
    drawn in Hz (row spacing ``rate / 455``), up to the Nyquist frequency.
    """
    originals, scaled = np.asarray(originals), np.asarray(scaled)
    n = originals.shape[0]
    fig, axes = subplots(2, n, figsize=(WIDTH_IN if n > 2 else 1.8 + 2.4 * n, 5.4), squeeze=False, sharex=True, sharey=True)
    top = originals.shape[1] * rate / 455
    extent = (0, 1.0, 0, top)
    for j in range(n):
        for i, (spec, what) in enumerate(((originals[j], "original"), (scaled[j], "scaled"))):
            im = axes[i][j].imshow(spec, origin="lower", aspect="auto", extent=extent, cmap="magma", vmin=-80, vmax=0)
            axes[i][j].set_title(wrap(f"{titles[j]}: {what}", WIDTH_IN / max(n, 2) - 0.2, 8), fontsize=8)
        axes[1][j].set_xlabel("time (s)")
    for i in range(2):
        axes[i][0].set_ylabel("frequency (Hz)")
    fig.colorbar(im, ax=axes, label="dB", shrink=0.5, aspect=40, location="bottom")
    set_caption(fig, caption)
    return fig
