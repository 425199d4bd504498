"""Figures and tables of the dataset chapter: the speakers, the recordings' durations, one
example of each digit as the networks receive it, and the speaker folds.

Pure drawing from arrays, counts and folds (:class:`audiomnist_core.data.CorpusSummary`,
:func:`audiomnist_core.splits.folds`); nothing shown is computed here.
"""
from __future__ import annotations

import html
from typing import Sequence

import numpy as np
from matplotlib.colors import ListedColormap

from ..explain import SAMPLE_RATE as RATE
from ..explain import spectrogram_frequencies, spectrogram_times
from ..preprocess import HOP, TOP_DB
from ..splits import Fold
from .layout import WIDTH_IN, caption as set_caption, figure, subplots, wrap

GENDER_COLOURS = {"female": "tab:orange", "male": "tab:blue"}
ROLES = ("train", "validation", "test")
ROLE_COLOURS = ("#9ecae1", "#fdae6b", "#d62728")  # train, validation, test
MAX_ACCENTS = 12  # the rest of the accents as one bar


def speakers_figure(genders: dict[str, int], ages: dict[str, Sequence[int]], accents: dict[str, int], caption: str = ""):
    """Speakers by gender, their ages (stacked by gender) and their accents.

    ``genders`` and ``accents`` map a value to its number of speakers (most frequent first);
    ``ages`` holds the known ages per gender. Gender and age on top, the accents below.
    """
    shown = dict(list(accents.items())[:MAX_ACCENTS])
    fig = figure(figsize=(WIDTH_IN, 3.4 + 0.2 * (len(shown) + (len(accents) > MAX_ACCENTS))))
    axes = fig.subplot_mosaic([["gender", "age"], ["accent", "accent"]], width_ratios=[1, 2.4],
                              height_ratios=[2.6, 0.6 + 0.2 * (len(shown) + 1)])
    ax_g, ax_a, ax_c = axes["gender"], axes["age"], axes["accent"]
    names = list(genders)
    bars = ax_g.bar(names, [genders[g] for g in names], color=[GENDER_COLOURS.get(g, "gray") for g in names])
    ax_g.bar_label(bars)
    ax_g.set_ylim(0, 1.15 * max(genders.values(), default=1))  # room for the counts above the bars
    ax_g.set_ylabel("speakers")
    ax_g.set_title("gender")

    known = [np.asarray(ages.get(g, []), dtype=float) for g in GENDER_COLOURS]
    everyone = np.concatenate(known) if any(len(a) for a in known) else np.zeros(0)
    if everyone.size:
        bins = np.arange(5 * np.floor(everyone.min() / 5), 5 * np.ceil(everyone.max() / 5 + 1e-9) + 5, 5)
        ax_a.hist(known, bins=bins, stacked=True, color=list(GENDER_COLOURS.values()), label=list(GENDER_COLOURS))
        ax_a.legend(fontsize=8)
    ax_a.set_xlabel("age (years)")
    ax_a.set_ylabel("speakers")
    ax_a.set_title(f"age ({everyone.size} of {sum(genders.values())} known)")

    rest = sum(accents.values()) - sum(shown.values())
    if rest:
        shown[f"{len(accents) - MAX_ACCENTS} others"] = rest
    labels = list(shown)[::-1]
    ax_c.barh(labels, [shown[k] for k in labels], color="tab:gray")
    ax_c.tick_params(axis="y", labelsize=8)
    ax_c.set_xlabel("speakers")
    ax_c.set_title("accent")
    set_caption(fig, caption)
    return fig


def durations_figure(seconds: np.ndarray, digits: np.ndarray, limit_s: float = 1.0, caption: str = ""):
    """Durations of the recordings (s): their histogram and their spread per digit, with the
    longest the networks accept (``limit_s``: 8000 samples at 8 kHz) as a dashed line."""
    seconds = np.asarray(seconds, dtype=float)
    digits = np.asarray(digits)
    fig, (ax_h, ax_d) = subplots(1, 2, figsize=(WIDTH_IN, 3.4), gridspec_kw={"width_ratios": [1.2, 1]})
    top = max(limit_s, float(seconds.max(initial=0.0))) * 1.05
    ax_h.hist(seconds, bins=np.arange(0, top + 0.025, 0.025), color="tab:gray")
    ax_h.axvline(limit_s, color="black", linestyle="--", linewidth=1, label=f"input length ({limit_s:g} s)")
    ax_h.axvline(float(seconds.mean()), color="tab:red", linewidth=1, label=f"mean ({seconds.mean():.2f} s)")
    ax_h.set_xlabel("duration (s)")
    ax_h.set_ylabel("recordings")
    ax_h.set_title(f"{seconds.size} recordings")
    ax_h.legend(fontsize=8)
    present = sorted(set(digits.tolist()))
    ax_d.boxplot([seconds[digits == d] for d in present], positions=present, widths=0.6, flierprops={"markersize": 2})
    ax_d.axhline(limit_s, color="black", linestyle="--", linewidth=1)
    ax_d.set_xlabel("digit")
    ax_d.set_ylabel("duration (s)")
    ax_d.set_title("per digit")
    set_caption(fig, caption)
    return fig


FIT_COLOURS = {"kept whole": "tab:gray", "trimmed, not cropped": "tab:blue", "cropped": "tab:red"}


def fit_figure(before_s: np.ndarray, after_s: np.ndarray, cropped: np.ndarray, limit_s: float = 1.0, caption: str = ""):
    """Durations (s) of the recordings before and after fitting them into the input
    (``preprocess.fit``): both histograms, and each recording's duration after against
    before, coloured by what fitting did (kept whole, trimmed only, or cropped).

    ``before_s``, ``after_s`` ``(N,)`` seconds; ``cropped`` ``(N,)`` bool; ``limit_s`` the
    input's length (one second), a dashed line.
    """
    before_s, after_s = np.asarray(before_s, dtype=float), np.asarray(after_s, dtype=float)
    cropped = np.asarray(cropped, dtype=bool)
    kinds = {"kept whole": after_s >= before_s, "trimmed, not cropped": (after_s < before_s) & ~cropped, "cropped": cropped}
    fig, (ax_h, ax_s) = subplots(1, 2, figsize=(WIDTH_IN, 3.8), gridspec_kw={"width_ratios": [1.2, 1]})
    top = max(limit_s, float(before_s.max(initial=0.0))) * 1.05
    bins = np.arange(0, top + 0.025, 0.025)
    ax_h.hist(before_s, bins=bins, color="tab:gray", alpha=0.5, label="before fitting")
    ax_h.hist(after_s, bins=bins, histtype="step", color="black", linewidth=1.2, label="after (the networks' input)")
    ax_h.axvline(limit_s, color="black", linestyle="--", linewidth=1, label=f"input length ({limit_s:g} s)")
    ax_h.set_xlabel("duration (s)")
    ax_h.set_ylabel("recordings")
    ax_h.set_title(f"{before_s.size} recordings")
    ax_h.legend(fontsize=8)
    ax_s.plot([0, top], [0, top], color="black", linewidth=0.6, linestyle=":")
    for kind, mask in kinds.items():
        ax_s.scatter(before_s[mask], after_s[mask], s=6, color=FIT_COLOURS[kind], label=f"{kind} ({int(mask.sum())})")
    ax_s.axhline(limit_s, color="black", linestyle="--", linewidth=1)
    ax_s.set_xlim(0, top)
    ax_s.set_ylim(0, top)
    ax_s.set_xlabel("before (s)")
    ax_s.set_ylabel("after (s)")
    ax_s.set_title("each recording")
    ax_s.legend(fontsize=8, loc="upper left")
    set_caption(fig, caption)
    return fig


def waveform_axes(ax, wave: np.ndarray, title: str = "", rate: int = RATE) -> None:
    """A padded int16-scale waveform against time (s)."""
    wave = np.asarray(wave, dtype=float).reshape(-1)
    ax.plot(np.arange(wave.size) / rate, wave, color="black", linewidth=0.4)
    ax.set_xlim(0, wave.size / rate)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("amplitude (int16)")
    ax.set_title(title, fontsize=9)


def spectrogram_axes(ax, db: np.ndarray, title: str = ""):
    """A 227 x 227 dB spectrogram (the AlexNet input) with its axes in seconds and Hz."""
    freqs, times = spectrogram_frequencies(), spectrogram_times()
    half = HOP / RATE / 2
    image = ax.imshow(np.asarray(db), origin="lower", aspect="auto", cmap="magma", vmin=-TOP_DB, vmax=0,
                      extent=(times[0] - half, times[-1] + half, freqs[0], freqs[-1]), interpolation="nearest")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (Hz)")
    ax.set_title(title, fontsize=9)
    return image


def digit_examples(waves: np.ndarray, spectrograms: np.ndarray, titles: Sequence[str], columns: int = 5, caption: str = ""):
    """Each example as the networks receive it: the padded 8 kHz waveform (AudioNet) above its
    dB spectrogram (AlexNet), ``columns`` a row, the waveforms of a row on one amplitude scale.
    ``waves`` ``(n, 8000)``, ``spectrograms`` ``(n, 227, 227)``."""
    n = len(titles)
    blocks = -(-n // columns)
    fig, axes = subplots(2 * blocks, columns, figsize=(WIDTH_IN, 2.6 * blocks + 1.2), squeeze=False, sharey="row",
                         gridspec_kw={"height_ratios": [1, 1.6] * blocks})
    image = None
    for i in range(blocks * columns):
        ax_w, ax_s = axes[2 * (i // columns), i % columns], axes[2 * (i // columns) + 1, i % columns]
        if i >= n:
            ax_w.set_visible(False)
            ax_s.set_visible(False)
            continue
        waveform_axes(ax_w, waves[i], wrap(titles[i], WIDTH_IN / columns - 0.1, 9))
        image = spectrogram_axes(ax_s, spectrograms[i])
        ax_s.set_xlim(ax_w.get_xlim())  # the padded second, aligned with the waveform above
        if i % columns:
            ax_w.set_ylabel("")
            ax_s.set_ylabel("")
    if image is not None:
        fig.colorbar(image, ax=axes.ravel().tolist(), label="dB (re. maximum)", shrink=0.5, aspect=40, location="bottom")
    set_caption(fig, caption)
    return fig


MAX_SPEAKERS_A_ROW = 40  # speaker ids a row of the folds figure has room for at 8 pt


def folds_figure(folds: Sequence[Fold], genders: dict[int, str], title: str = "", caption: str = ""):
    """Which speaker each fold trains, validates and tests on: a fold x speaker grid coloured
    by role, female speakers' ids in orange; speakers a task leaves out are not shown. More than
    :data:`MAX_SPEAKERS_A_ROW` speakers are split over rows of equal size."""
    used = sorted({s for f in folds for s in (*f.train, *f.validation, *f.test)})
    rows = max(1, -(-len(used) // MAX_SPEAKERS_A_ROW))
    per_row = -(-len(used) // rows) if used else 0
    fig, axes = subplots(rows, 1, figsize=(WIDTH_IN, rows * (0.3 * len(folds) + 0.8) + 0.9), squeeze=False)
    for row, ax in enumerate(axes[:, 0]):
        shown = used[row * per_row:(row + 1) * per_row]
        column = {s: j for j, s in enumerate(shown)}
        grid = np.full((len(folds), per_row), np.nan)
        for k, f in enumerate(folds):
            for role, speakers in enumerate((f.train, f.validation, f.test)):
                grid[k, [column[s] for s in speakers if s in column]] = role
        ax.imshow(grid, cmap=ListedColormap(ROLE_COLOURS), vmin=-0.5, vmax=2.5, aspect="auto", interpolation="nearest")
        ax.set_xticks(range(len(shown)), [f"{s:02d}" for s in shown], rotation=90, fontsize=8)
        for label, s in zip(ax.get_xticklabels(), shown):
            label.set_color(GENDER_COLOURS.get(genders.get(s, ""), "black"))
        ax.set_yticks(range(len(folds)), [f"fold {k}" for k in range(len(folds))], fontsize=8)
        ax.set_xlim(-0.5, per_row - 0.5)
        for side in ("top", "right"):
            ax.spines[side].set_visible(False)
    axes[-1, 0].set_xlabel("speaker (female ids in orange)")
    axes[0, 0].set_title(title, fontsize=10)
    handles = [axes[0, 0].plot([], [], "s", color=colour, markersize=9, label=role)[0] for role, colour in zip(ROLES, ROLE_COLOURS)]
    fig.legend(handles=handles, loc="outside lower center", ncols=len(ROLES), fontsize=8, frameon=False)
    set_caption(fig, caption)
    return fig


def repetitions_text(reps: Sequence[int]) -> str:
    """Which repetitions the examples of a speaker are, for a caption: ``"repetition 1"``
    when all are the same, else ``"repetitions 1 to 4 (in the titles)"``."""
    shown = sorted(set(int(r) for r in reps))
    if len(shown) == 1:
        return f"repetition {shown[0]}"
    return f"repetitions {shown[0]} to {shown[-1]} (in the titles)"


def folds_markdown(folds: Sequence[Fold], genders: dict[int, str]) -> str:
    """The folds as a Markdown table of speaker ids, female ids in bold, with the counts."""
    def ids(speakers: Sequence[int]) -> str:
        shown = [f"**{s}**" if genders.get(s) == "female" else str(s) for s in sorted(speakers)]
        return f"{' '.join(shown)} ({len(speakers)})"

    lines = ["| fold | train | validation | test |", "|---|---|---|---|"]
    lines += [f"| {k} | {ids(f.train)} | {ids(f.validation)} | {ids(f.test)} |" for k, f in enumerate(folds)]
    return "\n".join(lines)


def corpus_notice(label: str, synthetic: bool) -> str:
    """An HTML notice box saying which corpus a page was built on; a warning for the synthetic one."""
    if synthetic:
        kind, heading = "warning", "Built on the SYNTHETIC corpus"
        text = ("This page was built with " + html.escape(label) + ". Its recordings are spoken by "
                "espeak-ng, not by people: they exercise the pipeline, and nothing measured on them is "
                "evidence for or against the paper.")
    else:
        kind, heading = "note", "Corpus"
        text = "This page was built with " + html.escape(label) + "."
    return (f"<div class='admonition {kind}'><p class='admonition-title'>{heading}</p>"
            f"<p>{text}</p></div>")


def table_markdown(rows: Sequence[dict]) -> str:
    """Rows of equal keys (``CorpusSummary.rows()``) as a Markdown table."""
    if not rows:
        return ""
    keys = list(rows[0])
    cell = lambda v: html.escape(str(v)).replace("|", "\\|")  # noqa: E731 - a one-line formatter
    lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
    lines += ["| " + " | ".join(cell(row[k]) for k in keys) + " |" for row in rows]
    return "\n".join(lines)
