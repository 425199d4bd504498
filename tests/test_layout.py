"""The book's figures fit its content column with readable text (issue 20), and carry their size
and smallest font in the PNG they are shown as (what ``tests/browser/test_figures.py`` reads).

Every plotting function of :mod:`audiomnist_core.plots` is drawn here from small made-up inputs
of the shapes the chapters give it, at the largest sizes a chapter asks for (four model x task
pairs, the paper's five folds, 60 speakers), and rendered as the book renders it.
"""
from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from audiomnist_core.plots import layout  # noqa: E402
from audiomnist_core.splits import Fold  # noqa: E402

PAIRS = [("alexnet", "digits"), ("alexnet", "gender"), ("audionet", "digits"), ("audionet", "gender")]
CAPTION = ("Fig. 3: AudioNet accuracy against the zeroed fraction (mean over folds, band: min to max); "
           "profile 'quick' on the AudioMNIST corpus (pinned commit 1a2b3c4), fold 0")  # as long as the chapters' are
RNG = np.random.default_rng(0)


def spectrograms(n: int) -> np.ndarray:
    return RNG.uniform(-80, 0, (n, 227, 227))


def waves(n: int) -> np.ndarray:
    """Smooth made-up waveforms ``(n, 8000)``: as quick to draw as speech, unlike noise."""
    t = np.arange(8000) / 8000
    return 3000 * np.sin(2 * np.pi * (3 + np.arange(n)[:, None]) * t) * np.hanning(8000)


def dataset_figures():
    from audiomnist_core.plots import dataset as d

    genders = {s: "female" if s % 5 == 0 else "male" for s in range(1, 61)}
    ids = list(genders)
    folds = [Fold(ids[k * 12:(k + 1) * 12], ids[(k + 1) % 5 * 12:(k + 1) % 5 * 12 + 6], ids[(k + 2) % 5 * 12:(k + 2) % 5 * 12 + 12])
             for k in range(5)]
    seconds = RNG.uniform(0.3, 1.4, 3000)
    return {
        "speakers": d.speakers_figure({"male": 48, "female": 12}, {"male": list(range(20, 68)), "female": list(range(22, 34))},
                                      {f"accent {k}": 20 - k for k in range(16)}, CAPTION),
        "durations": d.durations_figure(seconds, RNG.integers(0, 10, 3000), 1.0, CAPTION),
        "fit": d.fit_figure(seconds, np.minimum(seconds, 1.0), seconds > 1.0, 1.0, CAPTION),
        "digit_examples": d.digit_examples(waves(10), spectrograms(10), [f"digit {k}, offset {1000 + k}" for k in range(10)],
                                           caption=CAPTION),
        "folds": d.folds_figure(folds, genders, "digits task", CAPTION),
    }


def training_figures():
    from audiomnist_core.plots import training as t

    curves = {(m, k, f): [{"iteration": i, "train_loss": 2.0 / (i + 1), "train_accuracy": 50.0 + i, "val_accuracy": 40.0 + i}
                          for i in range(0, 50, 10)] for m, k in PAIRS for f in range(5)}
    rows = [{"model": m, "task": k, "mean": 90.0, "std": 1.0, "accuracy": [89.0, 91.0], "paper_mean": 95.0, "paper_std": 1.5}
            for m, k in PAIRS]
    results = [{"model": m, "task": k, "confusion": RNG.integers(0, 300, (10, 10) if k == "digits" else (2, 2)).tolist(),
                "classes": [str(c) for c in range(10)] if k == "digits" else ["male", "female"]} for m, k in PAIRS]
    return {"curves": t.training_curves(curves, CAPTION), "table1": t.table1_bars(rows, CAPTION),
            "confusion": t.confusion_matrices(results, CAPTION)}


def relevance_figures():
    from audiomnist_core.plots import relevance as r

    titles = [f"({k}) speaker 12 (female), digit {k}: predicted {k} (p = 0.97)" for k in range(4)]
    return {
        "figure1": r.figure1(spectrograms(4), spectrograms(4), titles, CAPTION),
        "figure2": r.figure2(waves(1)[0], waves(1)[0], 1000, 6000, title="speaker 12 (female), digit 0", caption=CAPTION),
        "spectrogram_examples": r.spectrogram_examples(spectrograms(10), spectrograms(10), [f"digit {k}: predicted {k}" for k in range(10)],
                                                       caption=CAPTION),
        "waveform_examples": r.waveform_examples(waves(10), waves(10), [f"digit {k}: predicted {k}" for k in range(10)],
                                                 [500] * 10, [6000] * 10, caption=CAPTION),
        "band_share_bars": r.band_share_bars({"digits model": RNG.uniform(0, 0.4, (20, 5)), "gender model": RNG.uniform(0, 0.4, (20, 5))},
                                             (0, 250, 500, 1000, 2000, 4000), CAPTION),
    }


def manipulation_figures():
    from audiomnist_core.plots import manipulations as p

    fractions = [0.0, 0.001, 0.01, 0.1, 1.0]
    entry = {"fractions": fractions, "chance": 10.0, "folds": list(range(5)), "feature": "waveform samples set to 0",
             "curves": {s: RNG.uniform(10, 90, (len(fractions), 5)).tolist() for s in ("random", "amplitude", "relevance")}}
    zeroing = {f"{m}/{k}": entry for m, k in PAIRS}
    scaling = {"accuracy": [60.0, 55.0, 58.0, 52.0], "unperturbed": [95.0, 94.0, 96.0, 93.0], "folds": [0, 1, 2, 3],
               "paper_mean": 57.0, "paper_std": 3.0}
    return {
        "figure3": p.figure3(zeroing, list(zeroing), CAPTION, {"audionet/digits": {"random": 90.0, "relevance": 40.0}}),
        "frequency_scaling": p.frequency_scaling_figure(scaling, CAPTION),
        "scaled_spectrograms": p.scaled_spectrograms(spectrograms(4), spectrograms(4), [f"speaker {k} (female)" for k in range(4)],
                                                     caption=CAPTION),
    }


def beyond_figures():
    from audiomnist_core.plots import beyond as b

    shares = {k: {"folds": list(range(5)), **{m: RNG.uniform(0, 0.5, (5, 5)).tolist() for m in ("alexnet", "audionet")}}
              for k in ("digits", "gender")}
    fractions = [0.0, 0.01, 0.1, 0.5]
    removal = {f"audionet/{k}": {"fractions": fractions, "chance": 10.0, "folds": list(range(5)),
                                 "curves": {s: RNG.uniform(10, 90, (4, 5)).tolist() for s in ("random", "magnitude", "relevance")}}
               for k in ("digits", "gender")}
    tf = {"titles": [f"speaker 12 (female), digit {k}: predicted {k}" for k in range(4)], "spectrograms": spectrograms(4),
          "alexnet": spectrograms(4), "grid_spectrograms": RNG.uniform(-80, 0, (4, 228, 230)),
          "audionet": RNG.normal(size=(4, 228, 230)), "audionet_titles": [f"digit {k}: predicted {k}" for k in range(4)]}
    return {"band_shares": b.band_share_figure(shares, (0, 250, 500, 1000, 2000, 4000), CAPTION),
            "removal": b.removal_figure(removal, list(removal), CAPTION),
            "time_frequency": b.time_frequency_grid(tf, CAPTION)}


def benchmark_figures():
    from audiomnist_core.plots import benchmark as b

    methods = ["lrp", "lrp_epsilon", "gradient", "integrated_gradients", "smoothgrad", "occlusion", "random"]
    fractions = [0.0, 0.001, 0.01, 0.1, 1.0]
    results = [{"method": name, "model": m, "task": k, "curves": RNG.uniform(10, 90, (5, len(fractions))).tolist(),
                "randomization": RNG.uniform(-1, 1, (5, 8)).tolist()} for m, k in PAIRS for name in methods]
    result = {"fractions": fractions, "results": results}
    names = {n: n.replace("_", " ") + " (a long name)" for n in methods}
    return {"curves": b.curves_figure(result, {p: methods[:3] + ["random"] for p in PAIRS}, names, CAPTION),
            "randomization": b.randomization_figure(result, names, CAPTION)}


def voice_figures():
    from audiomnist_core.plots import voice as v

    results = {f"{m}/{k}": {"prediction": 1, "probabilities": RNG.dirichlet(np.ones(10 if k == "digits" else 2)),
                            "input": spectrograms(1)[0] if m == "alexnet" else waves(1)[0],
                            "relevance": RNG.normal(size=(227, 227) if m == "alexnet" else 8000)} for m, k in PAIRS}
    labels = {"digits": [str(d) for d in range(10)], "gender": ["male", "female"]}
    return {"explanation": v.explanation_figure({"results": results}, labels, CAPTION)}


CHAPTERS = {"dataset": dataset_figures, "training": training_figures, "relevance": relevance_figures,
            "manipulations": manipulation_figures, "beyond": beyond_figures, "benchmark": benchmark_figures,
            "voice": voice_figures}


@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_every_figure_fits_the_column_with_readable_text(chapter):
    import matplotlib.pyplot as plt

    for name, fig in CHAPTERS[chapter]().items():
        assert isinstance(fig, layout.BookFigure), f"{chapter}.{name}: not made by plots.layout.subplots"
        shown = layout.render(fig, dpi=30)  # sizes and fonts do not depend on the dpi; a low one is quick
        plt.close(fig)
        assert shown.width_in <= layout.COLUMN_IN + 0.01, f"{chapter}.{name}: {shown.width_in:.2f} in wide"
        assert shown.min_font_pt >= layout.MIN_FONT_PT, f"{chapter}.{name}: text of {shown.min_font_pt:g} pt"
        assert shown.min_font_pt / 72 * layout.CSS_PX_PER_IN >= 10.0


def test_render_writes_the_size_and_smallest_font_into_the_png():
    import matplotlib.pyplot as plt

    fig, ax = layout.subplots(figsize=(4.0, 3.0))
    ax.plot([0, 1], [0, 1])
    ax.set_title("title", fontsize=11)
    ax.text(0.5, 0.5, "small", fontsize=8.5)
    ax.text(0.5, 0.2, "hidden", fontsize=5, visible=False)
    ax.tick_params(labelsize=9)
    shown = layout.render(fig)
    plt.close(fig)
    meta = layout.read_metadata(shown.png)
    assert meta["min_font_pt"] == 8.5 == shown.min_font_pt  # the hidden 5-pt text does not count
    assert meta["dpi"] == pytest.approx(layout.DPI, abs=0.5)
    assert meta["width_in"] == pytest.approx(shown.width_in, abs=1e-3) and 2.5 < shown.width_in <= 4.0 + 2 * layout.PAD_IN
    from PIL import Image
    import io

    with Image.open(io.BytesIO(shown.png)) as image:
        assert abs(image.width / layout.DPI - shown.width_in) < 0.01
        assert abs(image.height / layout.DPI - shown.height_in) < 0.01


def test_a_book_figure_shows_itself_as_that_png_at_its_physical_size(monkeypatch):
    import matplotlib.pyplot as plt
    from IPython.display import Image

    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **kw: shown.append(obj))
    fig, ax = layout.subplots(figsize=(5.0, 2.0))
    ax.plot([0, 1], [1, 0])
    fig._ipython_display_()
    width = layout.render(fig).css_width
    plt.close(fig)
    (image,) = shown
    assert isinstance(image, Image) and image.width == width
    assert layout.read_metadata(image.data)["width_in"] <= 5.0 + 2 * layout.PAD_IN


def test_grid_puts_two_panels_a_row():
    assert [layout.grid(n) for n in (0, 1, 2, 3, 4, 5)] == [(1, 1), (1, 1), (1, 2), (2, 2), (2, 2), (3, 2)]
