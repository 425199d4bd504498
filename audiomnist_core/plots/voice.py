"""Chapter 07's figure: one recording explained by each network (``steps.voice.explain_recording``),
its class probabilities beside the relevance of its prediction, over the waveform (AudioNet)
or the spectrogram (AlexNet), in Fig. 1's colour map. Pure plotting from arrays."""
from __future__ import annotations

import numpy as np
from matplotlib.colors import Normalize

from ..explain import SAMPLE_RATE, spectrogram_frequencies, spectrogram_times
from . import layout
from .relevance import CMAP

TITLES = {"audionet": "AudioNet", "alexnet": "AlexNet"}


def _unit(r: np.ndarray) -> np.ndarray:
    top = np.abs(r).max()
    return r / top if top > 0 else r


def explanation_figure(explained: dict, classes: dict[str, list[str]], caption: str = ""):
    """``explained``: one entry of ``steps.voice.explain_files`` (``results`` per "model/task");
    ``classes``: the class names per task. One row per network: probabilities, then relevance."""
    names = list(explained["results"])
    fig, axes = layout.subplots(len(names), 2, figsize=(layout.WIDTH_IN, 2.1 * len(names)),
                                gridspec_kw={"width_ratios": [1, 2.6]}, squeeze=False)
    for (ax_p, ax_r), name in zip(axes, names):
        r = explained["results"][name]
        model, task = name.split("/")
        labels = classes[task]
        probs = np.asarray(r["probabilities"])
        colours = ["tab:red" if k == r["prediction"] else "tab:gray" for k in range(len(labels))]
        ax_p.barh(range(len(labels)), 100 * probs, color=colours)
        ax_p.set_yticks(range(len(labels)), labels, fontsize=layout.MIN_FONT_PT)
        ax_p.invert_yaxis()
        ax_p.set_xlim(0, 100)
        ax_p.set_xlabel("probability (%)")
        ax_p.set_title(f"{TITLES[model]}, {task}: {labels[r['prediction']]}", fontsize=9)
        rel = _unit(np.asarray(r["relevance"], dtype=np.float64))
        if model == "audionet":
            x = np.asarray(r["input"], dtype=np.float64).reshape(-1)
            t = np.arange(x.size) / SAMPLE_RATE
            ax_r.plot(t, x, color="0.6", lw=0.5)
            ax_r.scatter(t, x, c=rel.reshape(-1), cmap=CMAP, norm=Normalize(-1, 1), s=2)
            ax_r.set_xlabel("time (s)")
            ax_r.set_ylabel("input")
        else:
            times, freqs = spectrogram_times(), spectrogram_frequencies()
            ax_r.imshow(rel.reshape(len(freqs), len(times)), origin="lower", aspect="auto", cmap=CMAP,
                        norm=Normalize(-1, 1), extent=(times[0], times[-1], freqs[0], freqs[-1]), interpolation="nearest")
            ax_r.set_xlabel("time (s)")
            ax_r.set_ylabel("frequency (Hz)")
        ax_r.set_title(f"relevance of {labels[r['prediction']]} (red: for it, blue: against it)", fontsize=9)
    layout.caption(fig, caption)
    return fig
