"""Chapter 05's reporting: the band shares of both models and the frequency-domain removal
curves as tables, and the sentences that say from the numbers what they show. Every function
reads the result of :func:`audiomnist_core.steps.beyond_profile`."""
from __future__ import annotations

import math
from typing import Sequence

import numpy as np

from ..errors import AudiomnistError
from .common import markdown_table, mean_std, pm
from .relevance import LOW_HZ

MODEL_NAMES = {"audionet": "AudioNet (DFT-LRP)", "alexnet": "AlexNet"}
STRATEGY_NAMES = {"relevance": "highest DFT-LRP relevance", "magnitude": "largest magnitude", "random": "random"}
BINS = {"relevance": "DFT-LRP's bins", "magnitude": "the loudest bins", "random": "random bins"}  # in sentences
SIMILAR_POINTS = 5.0  # percentage points within which two shares or accuracies read as "about alike"


def _band_label(bands_hz: Sequence[float], k: int) -> str:
    return f"{bands_hz[k]:g}-{bands_hz[k + 1]:g} Hz"


def _models(entry: dict) -> list[str]:
    return [m for m in MODEL_NAMES if m in entry]


def band_means(entry: dict, model: str) -> np.ndarray:
    """Mean over folds of each band's share (%) of one model of a ``band_shares`` task entry;
    NaN for a band without a number."""
    return np.array([100 * np.nanmean([np.nan if v is None else v for v in per_fold]) if any(v is not None for v in per_fold)
                     else np.nan for per_fold in entry[model]])


def format_model_band_shares(result: dict) -> str:
    """Markdown table of the share (%) of positive relevance per band, mean ± std over folds,
    a column per task and model (AudioNet through DFT-LRP, AlexNet on its spectrogram)."""
    bands = result["bands_hz"]
    tasks = [t for t, e in result["band_shares"].items() if "skipped" not in e]
    cols = [(t, m) for t in tasks for m in _models(result["band_shares"][t])]
    header = ["band"] + [f"{t}: {MODEL_NAMES[m]} (%)" for t, m in cols]

    def cell(t: str, m: str, k: int) -> str:
        values = [100 * v for v in result["band_shares"][t][m][k] if v is not None]
        return pm(values) if values else "–"

    lines = [[_band_label(bands, k)] + [cell(t, m, k) for t, m in cols] for k in range(len(bands) - 1)]
    return markdown_table(header, lines)


def _low_index(bands_hz: Sequence[float]) -> int:
    edges = list(bands_hz)
    if LOW_HZ not in edges:
        raise AudiomnistError(f"beyond.bands_hz {edges}: {LOW_HZ} Hz must be one of the band edges")
    return edges.index(LOW_HZ)


def band_reading(result: dict, task: str) -> str:
    """One sentence on where in frequency the models of ``task`` find their evidence, from the
    numbers: each model's share below :data:`LOW_HZ` and in the lowest band, which model leans
    lower (alike within :data:`SIMILAR_POINTS`), and each model's largest band."""
    entry = result["band_shares"][task]
    if "skipped" in entry:
        return f"the {task} task was not run: {entry['skipped']}"
    bands = result["bands_hz"]
    k = _low_index(bands)
    means = {m: band_means(entry, m) for m in _models(entry)}
    silent = [m for m, v in means.items() if not np.isfinite(v).any()]
    means = {m: v for m, v in means.items() if m not in silent}
    if not means:
        return f"on the {task} task no model has positive relevance on these recordings"
    low = {m: float(np.nansum(v[:k])) for m, v in means.items()}
    first, *rest = list(means)
    text = (f"On the {task} task, {MODEL_NAMES[first]} puts {low[first]:.1f} % of its positive relevance below "
            f"{LOW_HZ:g} Hz ({means[first][0]:.1f} % in the lowest band, {_band_label(bands, 0)})")
    text += "".join(f", {MODEL_NAMES[m]} {low[m]:.1f} % ({means[m][0]:.1f} %)" for m in rest)
    if len(means) == 2:
        diff = low["audionet"] - low["alexnet"]
        if abs(diff) < SIMILAR_POINTS:
            text += (f"; the two models weigh the frequencies below {LOW_HZ:g} Hz about alike (within "
                     f"{SIMILAR_POINTS:g} percentage points)")
        else:
            lower, higher = ("AudioNet", "AlexNet") if diff > 0 else ("AlexNet", "AudioNet")
            text += f"; {lower} leans {abs(diff):.1f} percentage points further towards the low frequencies than {higher}"
    tops = [f"{MODEL_NAMES[m].split(' ')[0]}'s in {_band_label(bands, int(np.nanargmax(v)))} ({np.nanmax(v):.1f} %)"
            for m, v in means.items() if np.isfinite(v).any()]
    text += "".join(f"; {MODEL_NAMES[m]} has no positive relevance on these recordings" for m in silent)
    return text + (". The largest share is " + ", ".join(tops) + "." if tops else ".")


def _fraction_index(entry: dict, fraction: float) -> int:
    matches = [i for i, f in enumerate(entry["fractions"]) if math.isclose(f, fraction)]
    if not matches:
        raise AudiomnistError(f"fraction {fraction} is not on the profile's grid {entry['fractions']}; "
                              "add it to beyond.fractions")
    return matches[0]


def removal_at(entry: dict, fraction: float) -> dict[str, tuple[float, float]]:
    """Mean and std over folds (%) of each strategy at one fraction of a ``frequency_removal``
    entry of :func:`beyond_profile`: ``{strategy: (mean, std)}``."""
    i = _fraction_index(entry, fraction)
    return {s: mean_std(curve[i]) for s, curve in entry["curves"].items()}


def format_removal_at(entry: dict, fractions: Sequence[float] = (0.01, 0.1)) -> str:
    """Markdown table of AudioNet's accuracy (mean ± std over folds) with each fraction of the
    DFT bins removed, a row per strategy, the unperturbed accuracy and chance first."""
    idx = [_fraction_index(entry, f) for f in fractions]
    header = ["bins removed by"] + [f"{100 * f:g} % of the bins (%)" for f in fractions]
    lines = [["nothing (unperturbed)"] + [pm(entry["unperturbed"])] * len(idx),
             ["chance"] + [f"{entry['chance']:.1f}"] * len(idx)]
    lines += [[STRATEGY_NAMES.get(s, s)] + [pm(curve[i]) for i in idx] for s, curve in entry["curves"].items()]
    return markdown_table(header, lines)


def removal_order(entry: dict, fraction: float) -> str:
    """The strategies at one fraction, lowest mean accuracy first, e.g.
    ``"relevance 12.0 % < magnitude 40.0 % < random 88.0 %"`` (``=`` for equal means)."""
    means = sorted(((m, s) for s, (m, _) in removal_at(entry, fraction).items()), key=lambda p: p[0])
    text = f"{means[0][1]} {means[0][0]:.1f} %"
    for (prev, _), (m, s) in zip(means, means[1:]):
        text += f" {'=' if math.isclose(prev, m) else '<'} {s} {m:.1f} %"
    return text


def removal_reading(entry: dict, fraction: float) -> str:
    """One sentence on the removal curves at ``fraction``, from the numbers: the strategies in
    order, and whether DFT-LRP's ranking hurts the model most (what a faithful explanation in
    frequency predicts), as much as the loudest bins, or less; or that the model is too near
    chance to tell."""
    at = {s: m for s, (m, _) in removal_at(entry, fraction).items()}
    plain = float(np.mean(entry["unperturbed"]))
    text = f"with {100 * fraction:g} % of the DFT bins removed: {removal_order(entry, fraction)}"
    if plain - entry["chance"] < SIMILAR_POINTS:
        return (text + f"; unperturbed the model is at {plain:.1f} %, not {SIMILAR_POINTS:g} points above chance "
                f"({entry['chance']:.1f} %), so these curves cannot tell the rankings apart")
    rel, others = at["relevance"], {s: v for s, v in at.items() if s != "relevance"}
    if all(rel < v - SIMILAR_POINTS for v in others.values()):
        verdict = ("removing the bins that DFT-LRP ranks highest hurts the model most, as it should where the "
                   "explanation is faithful in frequency")
    elif all(rel <= v + SIMILAR_POINTS for v in others.values()):
        close = [s for s, v in others.items() if abs(rel - v) <= SIMILAR_POINTS]
        verdict = (f"DFT-LRP's bins hurt about as much as {' and '.join(BINS.get(s, s) for s in close)} (within "
                   f"{SIMILAR_POINTS:g} points), so in frequency its ranking is no better than that here")
    else:
        worse = min(others, key=others.get)
        verdict = (f"removing {BINS.get(worse, worse)} hurts more than removing DFT-LRP's, so its ranking of the "
                   "bins is not the one the model depends on most")
    return f"{text}; {verdict}"
