"""Chapter 05 (beyond the paper): its steps on tiny trained models, their cache, the reporting
sentences (computed from the numbers, never typed), the figures, and its players."""
from __future__ import annotations

import base64
import dataclasses
import io
import json
import re

import matplotlib
import numpy as np
import pytest
import soundfile

matplotlib.use("Agg")

from audiomnist_core import listen, spectral  # noqa: E402
from audiomnist_core.errors import AudiomnistError  # noqa: E402
from audiomnist_core.explain.analysis import frequency_band_shares  # noqa: E402
from audiomnist_core.explain.dft import dft_frequencies, dft_relevance  # noqa: E402
from audiomnist_core.models import network_input  # noqa: E402
from audiomnist_core.plots import beyond as figures  # noqa: E402
from audiomnist_core.report import beyond as report  # noqa: E402
from audiomnist_core.runs import open_run  # noqa: E402
from audiomnist_core.steps import beyond  # noqa: E402
from audiomnist_core.steps.relevance import test_relevance  # noqa: E402

TINY = """
train:
  runs: [alexnet/digits, alexnet/gender, audionet/digits, audionet/gender]
  folds: [0]
  batch_size: 8
  eval_every: 2
  checkpoint_every: 2
  max_train_per_fold: 40
  max_eval_per_fold: 40
  schedules:
    alexnet/digits:  {learning_rate: 0.001,  lr_step: 2, iterations: 2, clip_norm: 5}
    alexnet/gender:  {learning_rate: 0.001,  lr_step: 2, iterations: 2, clip_norm: 5}
    audionet/digits: {learning_rate: 0.0005, lr_step: 2, iterations: 2, clip_norm: null, init: glorot, optimizer: adam}
    audionet/gender: {learning_rate: 0.0001, lr_step: 2, iterations: 2, clip_norm: null}
explain: {batch_size: 8}
beyond:
  fractions: [0.0, 0.01, 0.1, 1.0]
  random_draws: 2
  max_per_fold: 8
  batch_size: 4
"""


@pytest.fixture(scope="module")
def run(synth_corpus, tmp_path_factory):
    """A tiny run: all four models trained for two iterations on the synthetic corpus."""
    root = tmp_path_factory.mktemp("beyond")
    profile = root / "tiny.yaml"
    profile.write_text(TINY)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIOMNIST_RUNS", str(root / "runs"))
        yield open_run(str(profile), str(synth_corpus))


@pytest.fixture(scope="module")
def result(run):
    return beyond.beyond_profile(run, "cpu")


# --- the steps ------------------------------------------------------------------------------

def test_profile_result_has_both_parts_per_task(result):
    assert result["skipped"] == {} and result["bands_hz"] == [0, 250, 500, 1000, 2000, 4000]
    for task in ("digits", "gender"):
        shares = result["band_shares"][task]
        assert shares["folds"] == [0] and shares["n_test"] == [8]
        for model in ("audionet", "alexnet"):
            per_band = np.array(shares[model], dtype=float)  # (bands, folds)
            assert per_band.shape == (5, 1) and np.all(per_band >= 0)
            assert per_band.sum(0) == pytest.approx([1.0])  # every bin lies in a band
        entry = result["frequency_removal"][f"audionet/{task}"]
        assert entry["fractions"] == [0.0, 0.01, 0.1, 1.0] and entry["chance"] == (10.0 if task == "digits" else 50.0)
        for strategy in spectral.BIN_STRATEGIES:
            curve = entry["curves"][strategy]
            assert len(curve) == 4 and curve[0] == entry["unperturbed"]  # nothing removed: the model's accuracy


def test_the_assembled_result_is_written_to_the_run(run, result):
    written = json.loads(run.path("beyond", "profile.json").read_text())
    assert written["frequency_removal"] == result["frequency_removal"] and written["band_shares"] == result["band_shares"]
    assert written["stamp"]["profile"] == "tiny" and len(written["stamp"]["code"]) == 12


def test_band_shares_are_dft_lrp_of_the_cached_relevance(run, result):
    test, idx = beyond._test_set(run, "gender", 0)
    rel = test_relevance(run, "audionet", "gender", 0, "cpu")[idx].reshape(len(test), -1).double()
    inputs = network_input("audionet", test.waves, None, run.config.preprocess.waveform_norm)[:, 0].double()
    shares = frequency_band_shares(dft_relevance(rel, inputs).numpy(), dft_frequencies(8000), result["bands_hz"])
    assert [b[0] for b in result["band_shares"]["gender"]["audionet"]] == pytest.approx(list(np.nanmean(shares, 0)))


def test_the_cache_is_read_on_the_second_call(run, result, monkeypatch, capsys):
    files = sorted(run.path("beyond").glob("*-fold0.json"))
    assert {f.name for f in files} == {"band_shares-digits-fold0.json", "band_shares-gender-fold0.json",
                                       "frequency_removal-audionet-digits-fold0.json",
                                       "frequency_removal-audionet-gender-fold0.json"}
    stamps = {f: f.stat().st_mtime_ns for f in files}

    def fail(*args, **kwargs):
        raise AssertionError("recomputed a cached step")

    monkeypatch.setattr(beyond, "bin_removal_curve", fail)
    monkeypatch.setattr(beyond, "frequency_band_shares", fail)
    again = beyond.beyond_profile(run, "cpu")
    assert {k: v for k, v in again.items() if k != "stamp"} == {k: v for k, v in result.items() if k != "stamp"}
    assert stamps == {f: f.stat().st_mtime_ns for f in files}
    assert "frequency removal" not in capsys.readouterr().err


def test_another_config_recomputes_and_says_why(run, result, capsys):
    cfg = run.config
    other = dataclasses.replace(run, config=dataclasses.replace(cfg, beyond=dataclasses.replace(cfg.beyond, fractions=(0.0, 0.5))))
    out = beyond.frequency_removal_fold(other, "digits", 0, "cpu")
    assert len(out["relevance"]) == 2 and out["relevance"][0] == out["unperturbed"][0]
    assert "recomputing: config beyond.fractions changed" in capsys.readouterr().err
    beyond.frequency_removal_fold(run, "digits", 0, "cpu")  # the profile's own result back in place


def test_time_frequency_data_is_fig1_on_the_full_grid(run):
    tf = beyond.time_frequency_data(run, 0, "cpu")
    assert tf["alexnet"].shape == tf["spectrograms"].shape == (4, 227, 227)
    assert tf["audionet"].shape == tf["grid_spectrograms"].shape == (4, 228, 230)
    assert len(tf["titles"]) == len(tf["audionet_titles"]) == 4
    assert tf["grid_spectrograms"].max() == pytest.approx(0.0) and tf["grid_spectrograms"].min() >= -80.0
    assert all("digit model" in t for t in tf["audionet_titles"][:2]) and all("gender model" in t for t in tf["audionet_titles"][2:])


def test_audible_explanations_one_per_class_and_their_properties(run):
    a = beyond.audible_explanations(run, "gender", 0, "cpu")
    k = len(a["truth"])
    assert sorted(a["truth"].tolist()) == [0, 1] and len(a["titles"]) == k
    assert a["fractions"] == list(beyond.LISTEN_FRACTIONS)
    n = len(a["fractions"])
    au, ax = a["audionet"], a["alexnet"]
    assert au["removed"].shape == au["bins_removed"].shape == (n, k, 8000)
    assert au["removed_predicted"].shape == (n, k) and set(np.ravel(au["removed_predicted"])) <= {0, 1}
    np.testing.assert_allclose(ax["masked"] + ax["complement"], a["original"], atol=1e-2)  # int16 scale
    # heatmap x signal: silent where the input is, never louder than the recording
    assert np.all(au["weighted"][a["original"] == 0] == 0)
    assert np.abs(au["weighted"]).max(1).max() <= np.abs(a["original"]).max() * (1 + 1e-5)
    # the recording's level: AudioNet's input at the recording's peak
    np.testing.assert_allclose(np.abs(au["original"]).max(1), np.abs(a["original"]).max(1), rtol=1e-5)


# --- the reporting: sentences from the numbers ----------------------------------------------

def _band_result(audionet: list[float], alexnet: list[float]) -> dict:
    return {"bands_hz": [0, 250, 500, 1000, 2000, 4000],
            "band_shares": {"gender": {"audionet": [[v] for v in audionet], "alexnet": [[v] for v in alexnet], "folds": [0],
                                       "n_test": [10]}}}


def test_band_reading_follows_the_numbers():
    low_audionet = report.band_reading(_band_result([0.4, 0.3, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.3, 0.4]), "gender")
    assert "AudioNet (DFT-LRP) puts 80.0 % of its positive relevance below 1000 Hz (40.0 % in the lowest band" in low_audionet
    assert "AlexNet 30.0 % (10.0 %)" in low_audionet
    assert "AudioNet leans 50.0 percentage points further towards the low frequencies than AlexNet" in low_audionet
    assert "AudioNet's in 0-250 Hz (40.0 %), AlexNet's in 2000-4000 Hz (40.0 %)" in low_audionet
    low_alexnet = report.band_reading(_band_result([0.1, 0.1, 0.1, 0.3, 0.4], [0.4, 0.3, 0.1, 0.1, 0.1]), "gender")
    assert "AlexNet leans 50.0 percentage points further" in low_alexnet
    alike = report.band_reading(_band_result([0.2] * 5, [0.21, 0.2, 0.2, 0.2, 0.19]), "gender")
    assert "about alike" in alike and "leans" not in alike
    assert report.band_reading({"bands_hz": [0, 1000, 4000], "band_shares": {"gender": {"skipped": "one gender"}}},
                               "gender") == "the gender task was not run: one gender"
    with pytest.raises(AudiomnistError, match="1000 Hz must be one of the band edges"):
        report.band_reading({**_band_result([0.5, 0.5], [0.5, 0.5]), "bands_hz": [0, 500, 4000]}, "gender")


def test_band_share_table_has_a_column_per_task_and_model():
    table = report.format_model_band_shares(_band_result([0.4, 0.3, 0.1, 0.1, 0.1], [0.1, 0.1, 0.1, 0.3, 0.4]))
    lines = table.splitlines()
    assert lines[0] == "| band | gender: AudioNet (DFT-LRP) (%) | gender: AlexNet (%) |"
    assert lines[2] == "| 0-250 Hz | 40.0 | 10.0 |" and len(lines) == 7


def _removal(relevance: float, magnitude: float, random: float, plain: float = 90.0, chance: float = 10.0) -> dict:
    return {"fractions": [0.0, 0.01], "chance": chance, "unperturbed": [plain, plain], "folds": [0, 1], "n_test": [5, 5],
            "curves": {"relevance": [[plain, plain], [relevance - 1, relevance + 1]],
                       "magnitude": [[plain, plain], [magnitude, magnitude]], "random": [[plain, plain], [random, random]]}}


def test_removal_reading_follows_the_numbers():
    faithful = report.removal_reading(_removal(20.0, 50.0, 85.0), 0.01)
    assert faithful.startswith("with 1 % of the DFT bins removed: relevance 20.0 % < magnitude 50.0 % < random 85.0 %")
    assert "DFT-LRP ranks highest hurts the model most" in faithful
    tie = report.removal_reading(_removal(48.0, 50.0, 85.0), 0.01)
    assert "about as much as the loudest bins" in tie and "random" not in tie.split(";")[1]
    worse = report.removal_reading(_removal(70.0, 50.0, 85.0), 0.01)
    assert "removing the loudest bins hurts more than removing DFT-LRP's" in worse
    chance = report.removal_reading(_removal(10.0, 10.0, 12.0, plain=12.0), 0.01)
    assert "unperturbed the model is at 12.0 %" in chance and "cannot tell" in chance
    assert report.removal_at(_removal(20.0, 50.0, 85.0), 0.01)["relevance"] == pytest.approx((20.0, np.sqrt(2)))
    with pytest.raises(AudiomnistError, match="add it to beyond.fractions"):
        report.removal_at(_removal(20.0, 50.0, 85.0), 0.1)


def test_removal_table_rows():
    table = report.format_removal_at(_removal(20.0, 50.0, 85.0), (0.0, 0.01)).splitlines()
    assert table[0] == "| bins removed by | 0 % of the bins (%) | 1 % of the bins (%) |"
    assert table[2] == "| nothing (unperturbed) | 90.0 ± 0.0 | 90.0 ± 0.0 |" and table[3] == "| chance | 10.0 | 10.0 |"
    assert table[4] == "| highest DFT-LRP relevance | 90.0 ± 0.0 | 20.0 ± 1.4 |"


# --- the figures ----------------------------------------------------------------------------

def test_figures_draw_what_they_are_given(result, run):
    fig = figures.band_share_figure(result["band_shares"], result["bands_hz"], "cap")
    assert len(fig.axes) == 2 and [len(ax.patches) for ax in fig.axes] == [10, 10]  # 5 bands x 2 models
    one = figures.band_share_figure({**result["band_shares"], "gender": {"skipped": "one gender"}}, result["bands_hz"])
    assert len(one.axes) == 1
    fig = figures.removal_figure({"audionet/digits": _removal(20.0, 50.0, 85.0)}, ["audionet/digits", "audionet/gender"])
    assert len(fig.axes) == 1  # no gender entry, no panel
    lines = fig.axes[0].get_lines()
    assert [list(line.get_ydata()) for line in lines[:3]] == [[90.0, 20.0], [90.0, 50.0], [90.0, 85.0]]
    assert list(lines[3].get_ydata()) == [10.0, 10.0]  # chance
    fig = figures.time_frequency_grid(beyond.time_frequency_data(run, 0, "cpu"), "cap")
    assert len(fig.axes) == 9  # 4 x 2 panels and the colour bar
    box = [p for p in fig.axes[1].patches]
    assert len(box) == 1 and box[0].get_width() == pytest.approx(227 * 35 / 8000)


# --- the players ----------------------------------------------------------------------------

def _payload(player) -> dict:
    blob = re.search(r"<script type='application/json' data-role='payload'>(.*?)</script>", player.data, re.S).group(1)
    return json.loads(blob)


def _wav(uri: str) -> tuple[np.ndarray, int, str]:
    raw = base64.b64decode(uri.split(",", 1)[1], validate=True)
    info = soundfile.info(io.BytesIO(raw))
    data, rate = soundfile.read(io.BytesIO(raw), dtype="int16")
    return data, rate, info.subtype


def test_explanation_player_offers_every_explanation_and_level(run):
    audible = beyond.audible_explanations(run, "digits", 0, "cpu")
    player = listen.explanation_player(audible, "digits")
    payload = _payload(player)
    labels = [c["label"] for c in payload["choices"]]
    assert labels == list(listen.EXPLANATIONS.values())
    k = len(audible["truth"])
    for c in payload["choices"]:
        assert len(c["examples"]) == k
        assert len(c["levels"]) == (len(beyond.LISTEN_FRACTIONS) if "removed" in c["label"] else 1)
        for e in c["examples"]:
            assert len(e["clips"]) == len(c["levels"]) and e["before"] is not None
    removed = payload["choices"][1]
    assert removed["levels"][removed["start"]] == "10 % of the samples"
    assert removed["examples"][0]["clips"][0][1].startswith("top 1 % of samples removed: AudioNet predicted ")
    for uri in payload["sources"]:
        data, rate, subtype = _wav(uri)
        assert rate == 8000 and subtype == "PCM_16" and 0 < len(data) <= 8000
    grid = listen.explanation_grid(audible, classes=(0, 1))
    assert grid.data.count("<audio ") == 2 * 5 and "AudioNet: top 10 % of samples removed" in grid.data
    assert grid.data.count("<tr>") == 1 + 5  # the recordings' header, a row per explanation
