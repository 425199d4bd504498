"""The attribution benchmark (chapter 06): the step on a tiny trained run, the command line,
and the leaderboard and sentences computed from the numbers."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from audiomnist_core import perturb, report
from audiomnist_core.explain.faithfulness import curve_auc, parametrised_layers
from audiomnist_core.models import build
from audiomnist_core.steps.benchmark import applies
from test_perturb import TINY

METHODS = ["lrp", "lrp_epsilon_gamma_box", "gradient", "integrated_gradients", "occlusion", "random"]
PROFILE = TINY + f"""benchmark:
  methods: [{", ".join(METHODS)}]
  fractions: [0.0, 0.01, 1.0]
  max_per_fold: 6
  randomization_items: 2
  samples: 2
  steps: 4
  occlusion_waveform: [4000, 4000]      # 2 windows, 4 on the spectrogram: the method's path, not its cost
  occlusion_spectrogram: [114, 113]
  batch_size: 8
"""


def test_epsilon_gamma_box_applies_to_the_spectrogram_model_only():
    assert applies("lrp_epsilon_gamma_box", "alexnet") and not applies("lrp_epsilon_gamma_box", "audionet")
    assert applies("gradient", "audionet")


def test_the_attribution_ranking_zeroes_only_non_zero_features():
    x = torch.tensor([[0.0, 0.0, 1.0, 2.0, 3.0]])
    rel = torch.tensor([[9.0, 8.0, 0.1, 0.2, 0.3]])  # the padding most attributed
    # two thirds of the three non-zero samples: the paper's ranking spends both on the padding
    assert perturb.zero_mask(x, 0.67, "relevance", rel).tolist() == [[True, True, False, False, False]]
    assert perturb.zero_mask(x, 0.67, "attribution", rel).tolist() == [[False, False, False, True, True]]


@pytest.fixture(scope="module")
def benchmarked(synth_corpus, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("benchmark")
    profile = tmp / "tiny.yaml"
    profile.write_text(PROFILE)
    argv = ["benchmark", "--profile", str(profile), "--data", str(synth_corpus), "--device", "cpu", "--json"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIOMNIST_RUNS", str(tmp / "runs"))
        yield argv, tmp, mp


def _call(argv, capsys):
    from audiomnist_core import cli

    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    return json.loads(captured.out), captured.err


def test_benchmark_json_has_every_method_model_task_and_fold(benchmarked, capsys):
    argv, tmp, _ = benchmarked
    out, err = _call(argv, capsys)
    assert out["methods"] == METHODS and out["fractions"] == [0.0, 0.01, 1.0]
    cells = {(r["method"], r["model"], r["task"]) for r in out["results"]}
    expected = {(m, model, task) for m in METHODS for model, task in (("alexnet", "gender"), ("audionet", "digits"))
                if applies(m, model)}
    assert cells == expected
    assert out["headline_axis"] == "log" and out["level"] == 0.95
    for r in out["results"]:
        assert r["folds"] == [0] and len(r["curves"]) == len(r["auc"]) == len(r["drop_at_1pct"]) == 1
        assert len(r["curves"][0]) == 3 and 0.0 <= r["auc"][0] <= 1.0 and r["auc_mean"] == r["auc"][0]
        assert r["auc"][0] == pytest.approx(curve_auc(out["fractions"], r["curves"][0], "log"))
        assert r["auc_linear"][0] == pytest.approx(curve_auc(out["fractions"], r["curves"][0], "linear"))
        for field in ("auc", "auc_linear"):  # a bootstrap interval over the 6 recordings brackets their mean
            lo, hi = r[f"{field}_ci"]
            assert 0.0 <= lo <= r[f"{field}_mean"] <= hi <= 1.0
        if r["method"] == "lrp":
            assert r["vs_lrp"] is None
        else:
            assert r["vs_lrp"]["n"] == 6 and 0.0 <= r["vs_lrp"]["p"] <= 1.0 and r["vs_lrp"]["n_differ"] <= 6
        assert (r["randomization_ssim"] is None) == (r["model"] == "audionet")
        assert r["drop_at_1pct"][0] == pytest.approx(r["curves"][0][0] - r["curves"][0][1])
        assert math.isfinite(r["cost_vs_gradient"]) and r["cost_vs_gradient"] > 0
        assert r["layers"] == parametrised_layers(build(r["model"], r["task"]))[::-1]  # top layer first
        assert len(r["randomization"][0]) == len(r["layers"])
    random = next(r for r in out["results"] if r["method"] == "random")
    assert random["randomization_spearman"] == [pytest.approx(1.0)]  # a map that ignores the model fails the check
    assert out["stamp"]["profile"] == "tiny" and len(out["stamp"]["code"]) == 12
    assert {"torch", "zennit", "captum", "numpy", "scipy"} <= set(out["stamp"]["libraries"]) and out["stamp"]["corpus"]
    assert err.count("benchmark: ") == len(expected)  # each cell computed once, said once
    cached = sorted((tmp / "runs").glob("*/benchmark/*-fold0.json"))
    assert len(cached) == len(expected)
    fold = json.loads(cached[0].read_text())["result"]
    assert fold["timing"]["repeats"] == 3 and len(fold["timing"]["method_s"]) == len(fold["timing"]["gradient_s"]) == 3
    assert np.mean(fold["auc_items"]) == pytest.approx(fold["auc"])  # the mean of the recordings' areas


def test_a_second_benchmark_reads_the_cache_and_a_new_method_computes_only_itself(benchmarked, capsys):
    argv, tmp, _ = benchmarked
    first, _ = _call(argv, capsys)
    again, err = _call(argv, capsys)
    assert "benchmark: " not in err.replace("attribution benchmark", "")
    assert [r["auc"] for r in again["results"]] == [r["auc"] for r in first["results"]]
    profile = tmp / "tiny.yaml"
    profile.write_text(PROFILE.replace("random]", "random, gradient_x_input]"))
    _, err = _call(argv, capsys)
    assert err.count("benchmark: gradient_x_input") == 2 and err.count("benchmark: ") == 2
    profile.write_text(PROFILE)


def test_the_cli_prints_the_leaderboards_and_the_readings(benchmarked, capsys):
    from audiomnist_core import cli

    argv, _, _ = benchmarked
    assert cli.main([a for a in argv if a != "--json"]) == 0
    text = capsys.readouterr().out
    assert "alexnet / gender" in text and "audionet / digits" in text and "random (the floor)" in text
    assert "LRP with the chapters' composite" in text


# --- the reporting, on made-up numbers ------------------------------------------------------

def _result(aucs: dict[tuple[str, str, str], float], rho: float = 0.1, half_width: float = 0.02, p: float = 0.002) -> dict:
    return {"profile": "p", "data": "d", "level": 0.95, "results": [
        {"method": m, "model": model, "task": task, "folds": [0, 1], "auc": [a - 0.01, a + 0.01],
         "auc_ci": [a - half_width, a + half_width], "auc_linear_mean": a / 2,
         "auc_linear_ci": [a / 2 - half_width, a / 2 + half_width],
         "vs_lrp": None if m == "lrp" else {"p": p, "statistic": 10.0, "n": 100, "n_differ": 60, "median_difference": 0.0},
         "drop_at_1pct": [1.0, 2.0], "randomization_spearman": [rho, rho], "randomization_topk": [0.2, 0.2],
         "randomization_ssim": None if model == "audionet" else [0.3, 0.3], "randomization": [[rho], [rho]],
         "cost_vs_gradient": 2.0, "n_test": [50, 50]} for (m, model, task), a in aucs.items()]}


def test_the_leaderboard_puts_the_lowest_area_first_and_bolds_the_methods_that_tie_with_it():
    result = _result({("lrp", "audionet", "digits"): 0.4, ("gradient", "audionet", "digits"): 0.3,
                      ("random", "audionet", "digits"): 0.8})
    assert [r["method"] for r in report.leaderboard(result, "audionet", "digits")] == ["gradient", "lrp", "random"]
    table = report.format_leaderboard(result, "audionet", "digits").splitlines()
    assert table[0].startswith("| method | AUC, log axis [95 % CI] | AUC, linear [95 % CI]")
    assert table[2].startswith("| **gradient** | **0.300 [0.280, 0.320]** | **0.150 [0.130, 0.170]**")
    assert "**p = 0.002 (n = 100)**" in table[2] and table[3].startswith("| LRP (the chapters' composite) | 0.400")
    assert "SSIM" not in table[0]  # waveforms: no SSIM column
    tie = _result({("lrp", "alexnet", "gender"): 0.31, ("gradient", "alexnet", "gender"): 0.30}, half_width=0.05)
    lines = report.format_leaderboard(tie, "alexnet", "gender").splitlines()
    assert "randomised: Spearman / top-1 % / SSIM" in lines[0] and all(line.startswith("| **") for line in lines[2:])
    assert lines[2].split(" | ")[5] == "**0.10 / 0.20 / 0.30**" and len(lines[0].split(" | ")) == 7
    assert report.best_methods(tie, "alexnet", "gender") == ["gradient", "lrp"]


def test_the_reading_follows_the_numbers_and_says_how_sure_it_is():
    lrp_wins = _result({("lrp", "audionet", "digits"): 0.2, ("gradient", "audionet", "digits"): 0.3,
                        ("random", "audionet", "digits"): 0.8})
    reading = report.faithfulness_reading(lrp_wins)
    assert reading.startswith("LRP with the chapters' composite is the most faithful method on every model and task, "
                              "its interval clear of every other method's")
    assert ("audionet/digits (AUC 0.200 [0.180, 0.220] against the next, gradient's 0.300 [0.280, 0.320] "
            "(Wilcoxon p = 0.002 over 100 recordings in 2 folds))") in reading
    assert "Every method beats random" in reading
    gradient_wins = _result({("lrp", "audionet", "digits"): 0.4, ("gradient", "audionet", "digits"): 0.3,
                             ("random", "audionet", "digits"): 0.41})
    reading = report.faithfulness_reading(gradient_wins)
    assert reading.startswith("LRP with the chapters' composite is clearly the most faithful on no model and task")
    assert ("on audionet/digits gradient is more faithful than LRP, AUC 0.300 [0.280, 0.320] against LRP's "
            "0.400 [0.380, 0.420] (Wilcoxon p = 0.002 over 100 recordings in 2 folds)") in reading
    assert "No better than random (intervals overlapping random's, or above it): LRP (the chapters' composite) on audionet/digits" in reading
    close = _result({("lrp", "audionet", "digits"): 0.31, ("gradient", "audionet", "digits"): 0.30}, half_width=0.05)
    reading = report.faithfulness_reading(close)  # a mean lower by 0.01 is no winner when the intervals overlap
    assert "it ties with gradient: their intervals overlap LRP's" in reading and "more faithful than" not in reading


def test_no_reading_names_a_winner_without_its_interval_and_test():
    for aucs in ({("lrp", "alexnet", "gender"): 0.2, ("occlusion", "alexnet", "gender"): 0.5},
                 {("lrp", "alexnet", "gender"): 0.5, ("occlusion", "alexnet", "gender"): 0.2}):
        reading = report.faithfulness_reading(_result(aucs))
        for claim in ("most faithful method on", "more faithful than"):
            for part in reading.split(claim)[1:]:
                assert "Wilcoxon p" in part.split(";")[0] and "[" in part.split(";")[0]


def test_the_sanity_reading_names_the_methods_whose_maps_survive_randomisation():
    assert "every method's maps lose their rank order" in report.sanity_reading(_result({("lrp", "alexnet", "gender"): 0.3}, rho=0.1))
    assert "LRP (the chapters' composite) on alexnet/gender" in report.sanity_reading(_result({("lrp", "alexnet", "gender"): 0.3}, rho=0.9))
