"""Figures of Section 3.2: relevance over spectrograms (Fig. 1) and over a waveform
(Fig. 2), and more examples per class. Pure plotting from arrays; the relevance is computed by
:mod:`audiomnist_core.explain`.

As in the paper, relevance is shown with a colour map centred at zero: red positive, blue
negative. Each panel is scaled to its own largest absolute relevance (the two models'
relevance differ in scale), so the colour bar runs from -1 to 1 of that.
"""
from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Normalize
from matplotlib.ticker import MaxNLocator

from ..explain import SAMPLE_RATE as RATE
from ..explain import spectrogram_frequencies, spectrogram_times
from ..preprocess import HOP
from .layout import WIDTH_IN, caption as set_caption, subplots, wrap

CMAP = "bwr"
FREQS_HZ = spectrogram_frequencies()  # row k of the spectrogram
TIMES_S = spectrogram_times()  # column k


def _unit(relevance: np.ndarray) -> np.ndarray:
    """Relevance divided by its largest absolute value (zeros stay zeros)."""
    r = np.asarray(relevance, dtype=np.float64)
    top = np.abs(r).max()
    return r / top if top > 0 else r


def _squeeze2d(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    return x.reshape(x.shape[-2], x.shape[-1])


def overlay(ax, spectrogram_db, relevance, title: str = "", width_in: float = WIDTH_IN / 2 - 0.4):
    """One spectrogram ``(227, 227)`` in grey (dB) with its relevance on top: red positive,
    blue negative, the more opaque the larger ``|relevance|``. Axes in seconds and Hz.
    Returns the relevance's colour mapping (for a colour bar)."""
    spec, rel = _squeeze2d(spectrogram_db), _unit(_squeeze2d(relevance))
    extent = (TIMES_S[0] - HOP / RATE / 2, TIMES_S[-1] + HOP / RATE / 2, FREQS_HZ[0], FREQS_HZ[-1])
    ax.imshow(spec, origin="lower", aspect="auto", extent=extent, cmap="gray", interpolation="nearest")
    mapping = plt.cm.ScalarMappable(Normalize(-1.0, 1.0), CMAP)
    rgba = mapping.to_rgba(rel)
    rgba[..., 3] = np.sqrt(np.abs(rel))  # near-zero relevance lets the spectrogram through
    ax.imshow(rgba, origin="lower", aspect="auto", extent=extent, interpolation="nearest")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    if title:
        ax.set_title(wrap(title, width_in, 8), fontsize=8)
    return mapping


def figure1(spectrograms, relevances, titles: Sequence[str], caption: str = ""):
    """Fig. 1: four spectrograms ``(4, 227, 227)`` (dB, before the mean subtraction) with
    their relevance ``(4, 227, 227)``, given in the paper's order (a) digit "zero", (b) digit
    "one" of the same speaker under the digit model, (c) the input of (a) and (d) a male
    "zero" under the gender model. Laid out as the paper's: gender on the top row, digits on
    the bottom, (c) above (a)."""
    fig, axes = subplots(2, 2, figsize=(WIDTH_IN, 6.4), sharex=True, sharey=True)
    places = {0: axes[1, 0], 1: axes[1, 1], 2: axes[0, 0], 3: axes[0, 1]}
    mapping = None
    for i, ax in places.items():
        mapping = overlay(ax, spectrograms[i], relevances[i], f"({'abcd'[i]}) {titles[i]}")
    for ax in axes[0]:
        ax.set_xlabel("")
    for ax in axes[:, 1]:
        ax.set_ylabel("")
    fig.colorbar(mapping, ax=axes, shrink=0.5, aspect=40, location="bottom", label="relevance / max |relevance| of the panel")
    set_caption(fig, caption)
    return fig


def _shade_padding(ax, offset: int, length: int, n: int) -> None:
    for lo, hi in ((0, offset), (offset + length, n)):
        if hi > lo:
            ax.axvspan(lo / RATE, hi / RATE, color="0.9", zorder=0, lw=0)


def figure2(wave, relevance, offset: int, length: int, window: tuple[float, float] = (0.50, 0.55),
            title: str = "", caption: str = ""):
    """Fig. 2: (a) a waveform ``(8000,)`` (the network's input), (b) its relevance per
    sample, (c) the samples inside ``window`` (seconds) coloured by their relevance. The
    zero padding (outside ``[offset, offset + length)``) is shaded grey."""
    x = np.asarray(wave, dtype=np.float64).reshape(-1)
    r = _unit(np.asarray(relevance, dtype=np.float64).reshape(-1))
    t = np.arange(x.size) / RATE
    fig, (ax_a, ax_b, ax_c) = subplots(3, 1, figsize=(WIDTH_IN, 7.4), gridspec_kw={"height_ratios": [1, 1, 1.3]})
    for ax in (ax_a, ax_b):
        _shade_padding(ax, offset, length, x.size)
        ax.axvspan(*window, facecolor="none", edgecolor="black", linestyle="--", lw=1)
        ax.set_xlim(0, x.size / RATE)
    ax_a.plot(t, x, color="black", lw=0.5)
    ax_a.set_ylabel("input (a.u.)")
    ax_a.set_title(f"(a) {title}" if title else "(a) waveform", fontsize=9)
    ax_b.fill_between(t, 0, r, where=r > 0, color="red", lw=0.5, step="mid")
    ax_b.fill_between(t, 0, r, where=r < 0, color="blue", lw=0.5, step="mid")
    ax_b.axhline(0, color="black", lw=0.3)
    ax_b.set_ylabel("relevance / max |relevance|")
    ax_b.set_title("(b) relevance per sample (grey: zero padding)", fontsize=9)
    inside = (t >= window[0]) & (t <= window[1])
    ax_c.plot(t[inside], x[inside], color="0.6", lw=0.8, zorder=1)
    # Scaled to the window's own largest |relevance|, so that its colours are visible.
    dots = ax_c.scatter(t[inside], x[inside], c=_unit(r[inside]), cmap=CMAP, norm=Normalize(-1, 1), s=18,
                        edgecolors="0.5", linewidths=0.3, zorder=2)
    ax_c.set_xlim(*window)
    ax_c.set_ylabel("input (a.u.)")
    ax_c.set_title(f"(c) {window[0]:.2f}-{window[1]:.2f} s, samples coloured by relevance", fontsize=9)
    for ax in (ax_a, ax_b, ax_c):
        ax.set_xlabel("time (s)")
    fig.colorbar(dots, ax=ax_c, label="relevance / max |relevance|\nin the window")
    set_caption(fig, caption)
    return fig


def spectrogram_examples(spectrograms, relevances, titles: Sequence[str], columns: int = 5, caption: str = ""):
    """More examples: spectrograms ``(K, 227, 227)`` with relevance, one panel each, ``columns``
    a row."""
    k = len(titles)
    rows = int(np.ceil(k / columns))
    fig, axes = subplots(rows, min(columns, k), figsize=(WIDTH_IN, 2.3 * rows + 1.3), sharex=True, sharey=True, squeeze=False)
    mapping = None
    for i, ax in enumerate(axes.flat):
        if i >= k:
            ax.set_visible(False)
            continue
        mapping = overlay(ax, spectrograms[i], relevances[i], titles[i], width_in=WIDTH_IN / min(columns, k) - 0.1)
        if i % columns:
            ax.set_ylabel("")
        if i < k - columns:
            ax.set_xlabel("")
    axes[0, 0].xaxis.set_major_locator(MaxNLocator(3))  # shared: room for the tick labels of narrow panels
    fig.colorbar(mapping, ax=axes, shrink=0.5, aspect=40, location="bottom", label="relevance / max |relevance|")
    set_caption(fig, caption)
    return fig


def waveform_examples(waves, relevances, titles: Sequence[str], offsets=None, lengths=None, columns: int = 5,
                      caption: str = ""):
    """More examples: waveforms ``(K, 8000)`` above their relevance per sample, ``columns``
    examples per row (the waveforms of a row on one scale); the zero padding (outside
    ``[offsets, offsets + lengths)``) shaded."""
    k = len(titles)
    cols, rows = min(columns, k), int(np.ceil(k / columns))
    fig, axes = subplots(2 * rows, cols, figsize=(WIDTH_IN, 3.3 * rows + 0.4), sharex=True, sharey="row", squeeze=False)
    for i in range(rows * cols):
        top, bottom = axes[2 * (i // cols), i % cols], axes[2 * (i // cols) + 1, i % cols]
        if i >= k:
            top.set_visible(False)
            bottom.set_visible(False)
            continue
        x = np.asarray(waves[i], dtype=np.float64).reshape(-1)
        r = _unit(np.asarray(relevances[i]).reshape(-1))
        t = np.arange(x.size) / RATE
        if offsets is not None and lengths is not None:
            for ax in (top, bottom):
                _shade_padding(ax, int(offsets[i]), int(lengths[i]), x.size)
        top.plot(t, x, color="black", lw=0.4)
        top.set_title(wrap(titles[i], WIDTH_IN / cols - 0.1, 8), fontsize=8)
        bottom.fill_between(t, 0, r, where=r > 0, color="red", step="mid")
        bottom.fill_between(t, 0, r, where=r < 0, color="blue", step="mid")
        bottom.set_xlabel("time (s)")
        bottom.set_ylim(-1.05, 1.05)
        if i % cols == 0:
            top.set_ylabel("input (a.u.)")
            bottom.set_ylabel("relevance / max")
    set_caption(fig, caption)
    return fig


def band_share_bars(shares: dict[str, np.ndarray], bands_hz: Sequence[float], caption: str = ""):
    """Mean share of positive relevance per frequency band (± std over recordings), one bar
    group per band and one bar per model (``{label: (N, n_bands) shares}``)."""
    labels = [f"{bands_hz[i]:g}-{bands_hz[i + 1]:g} Hz" for i in range(len(bands_hz) - 1)]
    x = np.arange(len(labels))
    width = 0.8 / max(len(shares), 1)
    fig, ax = subplots(figsize=(min(WIDTH_IN, max(5.0, 1.1 * len(labels) + 1.5)), 3.6))
    for j, (name, s) in enumerate(shares.items()):
        s = np.asarray(s, dtype=np.float64)
        ax.bar(x + (j - (len(shares) - 1) / 2) * width, np.nanmean(s, 0) * 100, width,
               yerr=np.nanstd(s, 0) * 100, capsize=3, label=name)
    ax.set_xticks(x, labels)
    ax.set_ylabel("share of positive relevance (%)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8)
    if caption:
        ax.set_title(wrap(caption, fig.get_figwidth() - 0.8), fontsize=9)
    return fig
