"""Figures of chapter 05: both models' relevance per frequency band, both models' relevance of
one recording on one time-frequency grid, and Fig. 3 in the frequency domain. Pure plotting
from arrays and the result dicts of :mod:`audiomnist_core.steps.beyond`; nothing is computed
here but means and ranges over folds.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.patches import Rectangle

from ..explain import SAMPLE_RATE as RATE
from ..preprocess import FIRST_FRAME, FREQ_BINS, HOP, N_FFT, TIME_FRAMES
from .layout import WIDTH_IN, caption as set_caption, grid, subplots, wrap
from .manipulations import LINTHRESH
from .relevance import CMAP

MODEL_STYLE = {"audionet": ("tab:orange", "AudioNet (DFT-LRP of its waveform relevance)"),
               "alexnet": ("tab:purple", "AlexNet (its spectrogram relevance)")}
STRATEGY_STYLE = {  # strategy -> (colour, marker, legend text)
    "random": ("tab:gray", "o", "random bins"),
    "magnitude": ("tab:blue", "s", "largest magnitude"),
    "relevance": ("tab:red", "^", "highest DFT-LRP relevance"),
}
FRAME_S = HOP / RATE  # seconds between STFT frames
BIN_HZ = RATE / N_FFT  # Hz between STFT rows


def band_share_figure(band_shares: dict, bands_hz: Sequence[float], caption: str = ""):
    """A panel per task of ``band_shares`` (the ``"band_shares"`` part of
    :func:`beyond_profile`; skipped tasks have none): the share (%) of positive relevance per
    frequency band, a bar per model (mean over folds; the whiskers span the folds' minimum to
    maximum where there are several), one legend below the panels."""
    tasks = [t for t, e in band_shares.items() if "skipped" not in e]
    fig, axes = subplots(1, max(len(tasks), 1), figsize=(WIDTH_IN if len(tasks) > 1 else 4.5, 4.0), squeeze=False, sharey=True)
    labels = [f"{lo:g}-{hi:g}" for lo, hi in zip(bands_hz[:-1], bands_hz[1:])]
    x = np.arange(len(labels))
    for ax, task in zip(axes[0], tasks):
        models = [m for m in MODEL_STYLE if m in band_shares[task]]
        width = 0.8 / max(len(models), 1)
        for j, m in enumerate(models):
            per_band = np.array([[np.nan if v is None else 100 * v for v in folds] for folds in band_shares[task][m]])
            mean = np.nanmean(per_band, axis=1) if per_band.size else per_band
            colour, text = MODEL_STYLE[m]
            pos = x - 0.4 + width * (j + 0.5)
            ax.bar(pos, mean, width, color=colour, label=text)
            if per_band.shape[1] > 1:
                ax.errorbar(pos, mean, yerr=[mean - np.nanmin(per_band, 1), np.nanmax(per_band, 1) - mean],
                            fmt="none", ecolor="black", capsize=2, linewidth=1)
        ax.set_xticks(x, labels, rotation=30, fontsize=8)
        ax.set_xlabel("frequency band (Hz)")
        ax.set_title(f"{task} task ({len(band_shares[task]['folds'])} fold(s))", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].set_ylabel("share of positive relevance (%)")
    if tasks:
        fig.legend(*axes[0][0].get_legend_handles_labels(), loc="outside lower center", ncols=2 if len(tasks) > 1 else 1, fontsize=8)
    set_caption(fig, caption)
    return fig


def _unit(relevance: np.ndarray) -> np.ndarray:
    r = np.asarray(relevance, dtype=np.float64)
    top = np.abs(r).max()
    return r / top if top > 0 else r


def _extent(first_frame: int, frames: int, rows: int) -> tuple[float, float, float, float]:
    """Bin edges in seconds and Hz of ``rows`` STFT rows from 0 Hz and ``frames`` frames from
    ``first_frame`` (frame ``m`` is centred at ``m HOP / RATE`` s)."""
    return ((first_frame - 0.5) * FRAME_S, (first_frame + frames - 0.5) * FRAME_S, -0.5 * BIN_HZ, (rows - 0.5) * BIN_HZ)


def _overlay(ax, spectrogram_db: np.ndarray, relevance: np.ndarray, extent, title: str):
    rel = _unit(relevance)
    ax.imshow(spectrogram_db, origin="lower", aspect="auto", extent=extent, cmap="gray", interpolation="nearest")
    mapping = plt.cm.ScalarMappable(Normalize(-1.0, 1.0), CMAP)
    rgba = mapping.to_rgba(rel)
    rgba[..., 3] = np.sqrt(np.abs(rel))  # near-zero relevance lets the spectrogram through
    ax.imshow(rgba, origin="lower", aspect="auto", extent=extent, interpolation="nearest")
    ax.set_title(wrap(title, WIDTH_IN / 2 - 0.3, 8), fontsize=8)
    return mapping


def time_frequency_grid(tf: dict, caption: str = ""):
    """The recordings of Fig. 1 under both models on one grid: a row per recording ((a)-(d)),
    AlexNet's relevance over its 227 x 227 input on the left, AudioNet's DFT-LRP relevance over
    the full 228 x 230 STFT grid on the right (the dashed box: AlexNet's crop), both on the same
    axes in seconds and Hz, each panel scaled to its own largest absolute relevance (red
    positive, blue negative). ``tf`` is :func:`time_frequency_data`."""
    n = len(tf["titles"])
    fig, axes = subplots(n, 2, figsize=(WIDTH_IN, 2.5 * n + 1.4), sharex=True, sharey=True, squeeze=False)
    crop = _extent(FIRST_FRAME, TIME_FRAMES, FREQ_BINS)
    bins, frames = np.asarray(tf["audionet"]).shape[-2:]
    full = _extent(0, frames, bins)
    mapping = None
    for i in range(n):
        left, right = axes[i]
        _overlay(left, tf["spectrograms"][i], tf["alexnet"][i], crop, f"({'abcd'[i]}) AlexNet, {tf['titles'][i]}")
        mapping = _overlay(right, tf["grid_spectrograms"][i], tf["audionet"][i], full,
                           f"({'abcd'[i]}) AudioNet, {tf['audionet_titles'][i]}")
        right.add_patch(Rectangle((crop[0], crop[2]), crop[1] - crop[0], crop[3] - crop[2], fill=False,
                                  linestyle="--", linewidth=1.2, edgecolor="gold"))
        left.set_ylabel("frequency (Hz)")
    for ax in axes.flat:
        ax.set_xlim(full[0], full[1])
        ax.set_ylim(full[2], full[3])
    for ax in axes[-1]:
        ax.set_xlabel("time (s)")
    fig.colorbar(mapping, ax=axes, shrink=0.5, aspect=40, location="bottom", label="relevance / max |relevance| of the panel")
    set_caption(fig, caption)
    return fig


def removal_axes(ax, entry: dict, title: str = "") -> None:
    """One panel of Fig. 3 in the frequency domain: accuracy (%) against the fraction of DFT
    bins removed per strategy; lines the mean over folds, bands the folds' minimum to maximum
    (absent with one fold), the dashed line chance."""
    x = np.asarray(entry["fractions"], dtype=float)
    for strategy, per_fraction in entry["curves"].items():
        colour, marker, text = STRATEGY_STYLE.get(strategy, ("black", "x", strategy))
        acc = np.asarray(per_fraction, dtype=float)  # (fractions, folds)
        ax.plot(x, acc.mean(1), color=colour, marker=marker, markersize=4, label=text)
        if acc.shape[1] > 1:
            ax.fill_between(x, acc.min(1), acc.max(1), color=colour, alpha=0.15, linewidth=0)
    ax.axhline(entry["chance"], color="black", linestyle="--", linewidth=1, label="chance")
    ax.set_xscale("symlog", linthresh=LINTHRESH)
    ax.set_xlim(0, max(float(x.max()), LINTHRESH) if x.size else 1)
    ax.set_ylim(-2, 102)
    ax.set_xlabel("fraction of the real-DFT bins removed")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title, fontsize=9)
    ax.grid(alpha=0.3)


def removal_figure(removal: dict, keys: Sequence[str], caption: str = ""):
    """A panel per ``"audionet/<task>"`` key of ``removal`` (the ``"frequency_removal"`` part
    of :func:`beyond_profile`), two a row; keys that are absent or skipped have none."""
    keys = [k for k in keys if k in removal and "skipped" not in removal[k]]
    rows, cols = grid(len(keys))
    fig, axes = subplots(rows, cols, figsize=(WIDTH_IN if cols > 1 else 4.2, 0.6 + 3.3 * rows), squeeze=False)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    for ax, key in zip(axes.flat, keys):
        entry = removal[key]
        removal_axes(ax, entry, f"AudioNet, {key.split('/')[1]} ({len(entry['folds'])} fold(s))")
    if keys:
        axes[0][0].legend(fontsize=8, loc="lower left")
    set_caption(fig, caption)
    return fig
