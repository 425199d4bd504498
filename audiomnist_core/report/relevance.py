"""Chapter 03's reporting: the band shares and the padding shares as tables and sentences."""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import AudiomnistError


LOW_HZ = 1000  # "the lower frequency range" of the paper's reading of the gender model


def band_share_numbers(shares: dict[str, np.ndarray], bands_hz: Sequence[float]) -> dict[str, float]:
    """The prose's numbers from :func:`band_shares_of_run`: ``below1k_<task>``, the mean share
    (%) of positive relevance below :data:`LOW_HZ` per task, and ``below1k_diff`` (gender minus
    digits) where both tasks are there. ``bands_hz`` must have :data:`LOW_HZ` as an edge."""
    edges = list(bands_hz)
    if LOW_HZ not in edges:
        raise AudiomnistError(f"bands {edges}: {LOW_HZ} Hz must be one of the band edges")
    k = edges.index(LOW_HZ)
    out = {f"below1k_{task}": float(np.nanmean(s[:, :k].sum(1))) * 100 for task, s in shares.items()}
    if {"below1k_gender", "below1k_digits"} <= set(out):
        out["below1k_diff"] = out["below1k_gender"] - out["below1k_digits"]
    return out


def format_band_shares(shares: dict[str, np.ndarray], bands_hz: Sequence[float]) -> str:
    """Markdown table of the mean share (%) of positive relevance per band, a column per task."""
    tasks = sorted(shares, key=lambda t: t != "gender")  # the gender model first, as in the paper's reading
    rows = ["| band | " + " | ".join(f"{'digit' if t == 'digits' else t} model (%)" for t in tasks) + " |",
            "|---|" + "---|" * len(tasks)]
    for k in range(len(bands_hz) - 1):
        cells = " | ".join(f"{np.nanmean(shares[t][:, k]) * 100:.1f}" for t in tasks)
        rows.append(f"| {bands_hz[k]:g}-{bands_hz[k + 1]:g} Hz | {cells} |")
    return "\n".join(rows)


def format_padding_shares(padding: dict, composites: Sequence[str | None] = (None, "epsilon_plus_flat")) -> str:
    """Markdown table of :func:`padding_shares_of_run`: the mean share (%) of AudioNet's
    absolute relevance on the padding, a row per task, a column per composite."""
    names = {None: "default, z+ first layer"}
    rows = ["| task | " + " | ".join(f"{names.get(c, c)} (%)" for c in composites) + " |",
            "|---|" + "---|" * len(composites)]
    for task in dict.fromkeys(t for t, _ in padding):
        rows.append(f"| {task} | " + " | ".join(f"{np.nanmean(padding[(task, c)]) * 100:.2f}" for c in composites) + " |")
    return "\n".join(rows)


def padding_reading(padding: dict, task: str, flat: str = "epsilon_plus_flat") -> str:
    """What the padding shares of one task say, from the numbers: under the default composite
    (z+ in AudioNet's first layer) a zero sample's relevance is zero by construction, so its
    share tests the code, not the paper's claim; the flat rule's share is the comparison that
    can come out either way."""
    default = float(np.nanmean(padding[(task, None)])) * 100
    flat_share = float(np.nanmean(padding[(task, flat)])) * 100
    if default == 0.0:
        first = ("exactly 0 % under the default composite, as it must be: z+ gives each input the "
                 "share of its own positive contribution, and a padded sample contributes nothing, so "
                 "this number confirms the code, not the paper's reading")
    else:
        first = (f"{default:.2g} % under the default composite, where z+ should give exactly 0 %: the "
                 "padding is not exactly zero, or the first layer's rule is not z+")
    verdict = ("so the paper's \"zero relevance on the zero-embedding\" holds for this model only under "
               "rules that scale with the input" if flat_share > 0.5 else
               "so even the flat rule leaves the padding almost nothing")
    return f"{first}; under {flat}, which can give a silent sample relevance, it is {flat_share:.1f} %, {verdict}"
