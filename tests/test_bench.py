"""The benchmark harness: the ABBA order of its timings, and every case on tiny settings.

No timed assertions (the machines are shared and noisy): the structure of the document and
the finiteness of its figures only.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import soundfile as sf

from audiomnist_core import bench
from audiomnist_core.bench import real as real_case

# Figures every run of the case reports (on any device); the keys the test holds the cases to.
EXPECTED = {
    "preprocess": ("preprocess_cpu_time_ratio", "preprocess_cpu_time_goal", "preprocess_wall_time_ratio",
                   "preprocess_files", "preprocess_files_per_s_ours", "preprocess_files_per_s_original",
                   "preprocess_max_abs_db_diff"),
    "train": ("train_efficiency_alexnet", "train_efficiency_audionet", "train_samples_per_s_alexnet",
              "bare_samples_per_s_audionet", "paper_projected_hours", "train_bench_batch_size",
              "train_hardware_efficiency_alexnet", "train_hardware_efficiency_audionet", "matmul_gflop_per_s",
              "train_gflop_per_recording_audionet", "train_gflop_per_s_alexnet"),
    "lrp": ("lrp_vs_gradient_alexnet", "lrp_vs_gradient_audionet", "zennit_vs_gradient_alexnet",
            "zennit_vs_gradient_audionet", "relevance_test_set_seconds", "relevance_samples_per_s_alexnet"),
    "perturb": ("perturbation_curve_cost", "perturbation_curve_goal", "perturbation_curve_cpu_seconds",
                "perturbation_plain_eval_cpu_seconds"),
    "benchmark": ("benchmark_quick_projected_minutes", "benchmark_goal_minutes", "benchmark_cost_vs_gradient_lrp_alexnet",
                  "benchmark_cost_vs_gradient_occlusion_audionet"),
    "dft": ("dft_lrp_vs_lrp_audionet", "dft_lrp_frequency_vs_lrp_audionet", "dft_lrp_time_frequency_vs_lrp_audionet",
            "dft_lrp_goal", "dft_seconds_per_batch_both", "dft_lrp_samples_per_s_audionet"),
    "scale": ("scale_growth_preprocess", "scale_growth_evaluate", "scale_paper_peak_rss_gb",
              "scale_paper_preprocess_minutes", "scale_paper_evaluate_minutes", "scale_peak_rss_gb_120",
              "scale_preprocess_per_s_60", "scale_evaluate_per_s_120", "scale_sizes"),
}
HEADLINE = {
    "preprocess": ["preprocess_cpu_time_ratio"],
    "train": ["train_efficiency_alexnet", "train_efficiency_audionet", "train_hardware_efficiency_alexnet",
              "train_hardware_efficiency_audionet"],
    "lrp": ["lrp_vs_gradient_alexnet", "lrp_vs_gradient_audionet"],
    "perturb": ["perturbation_curve_cost"],
    "benchmark": ["benchmark_quick_projected_minutes"],
    "dft": ["dft_lrp_vs_lrp_audionet"],
    "scale": ["scale_growth_preprocess", "scale_growth_evaluate"],
}
PAIRED = tuple(c for c in bench.CASES if c != "scale")  # scale: one process per size, no pairs
RATIO_MARKERS = ("_ratio", "_efficiency_", "_vs_", "_cost", "_projected_", "_growth_")
TINY_REPEATS = 3


def tiny_corpus(root: Path, speakers=(1, 12), seconds: float = 0.4, rate: int = 48_000) -> Path:
    """Noise recordings in AudioMNIST's layout, one per speaker and digit (a male and a female)."""
    folder = root / "data"
    folder.mkdir(parents=True)
    meta = {f"{s:02d}": {"gender": "female" if s == 12 else "male", "age": "30"} for s in speakers}
    (folder / "audioMNIST_meta.txt").write_text(json.dumps(meta))
    rng = np.random.default_rng(0)
    for s in speakers:
        (folder / f"{s:02d}").mkdir()
        for d in range(10):
            sf.write(str(folder / f"{s:02d}" / f"{d}_{s:02d}_0.wav"), rng.uniform(-0.3, 0.3, int(seconds * rate)), rate,
                     subtype="PCM_16")
    return root


def recorder(calls: list[str], name: str):
    def fn():
        calls.append(name)

    return fn


@pytest.mark.parametrize("repeats, order", [
    (3, "ABBAAB"),
    (4, "ABBAABBA"),
    (5, "ABBAABBAAB"),
])
def test_interleaved_runs_the_sides_abba(repeats, order):
    calls: list[str] = []
    times_a, times_b = bench.interleaved(recorder(calls, "A"), recorder(calls, "B"), repeats)
    assert "".join(calls) == order
    assert len(times_a) == len(times_b) == repeats
    assert all(t.wall >= 0 and t.cpu >= 0 for t in times_a + times_b)


def test_interleaved_syncs_before_and_after_each_run():
    calls: list[str] = []
    bench.interleaved(recorder(calls, "A"), recorder(calls, "B"), 3, sync=recorder(calls, "s"))
    assert "".join(calls) == "sAssBssBssAssAssBs"


def test_interleaved_asks_for_three_repeats_at_least():
    with pytest.raises(ValueError, match="at least 3"):
        bench.interleaved(lambda: None, lambda: None, 2)


def test_median_of_each_clock():
    times = [bench.Timing(3.0, 0.1), bench.Timing(1.0, 0.3), bench.Timing(2.0, 0.2)]
    assert bench.median(times) == bench.Timing(2.0, 0.2)


@pytest.fixture(scope="module")
def tiny_document(tmp_path_factory):
    """Every case, run once on tiny settings (seconds, not minutes)."""
    root = tiny_corpus(tmp_path_factory.mktemp("bench") / "corpus")
    settings = {
        "preprocess": {"root": root, "repeats": TINY_REPEATS},
        "train": {"batch_size": 2, "steps": 1, "repeats": TINY_REPEATS},
        "lrp": {"batch": 2, "repeats": TINY_REPEATS},
        "perturb": {"samples": 4, "fractions": 3, "repeats": TINY_REPEATS},
        "benchmark": {"samples": 2, "repeats": TINY_REPEATS, "methods": ["lrp", "occlusion"]},
        "dft": {"batch": 2, "repeats": TINY_REPEATS},
        "scale": {"sizes": (60, 120), "workers": 1},
    }
    lines: list[str] = []
    doc = bench.run_all(log=lambda *a, **k: lines.append(" ".join(map(str, a))), settings=settings)
    return doc, lines


def test_every_case_reports_its_keys(tiny_document):
    doc, lines = tiny_document
    assert list(doc)[:2] == ["headline", "secondary"] and list(doc)[-3:] == ["timings", "runtime_s", "machine"]
    assert doc["headline"] == {case: HEADLINE[case] for case in bench.CASES}
    assert doc["secondary"] == {"preprocess": ["preprocess_wall_time_ratio"],
                                "scale": ["scale_paper_peak_rss_gb", "scale_paper_preprocess_minutes",
                                          "scale_paper_evaluate_minutes"]}
    for case, keys in ((c, EXPECTED[c]) for c in bench.CASES):
        missing = [k for k in keys if k not in doc]
        assert not missing, f"{case}: {missing}"
        assert any(line.startswith(f"bench: {case}") for line in lines)
    assert set(doc["runtime_s"]) == set(bench.CASES) | {"total"}
    json.dumps(doc, allow_nan=False)  # one JSON document, no NaN or infinity in it


def test_every_ratio_is_positive_and_finite(tiny_document):
    doc, _ = tiny_document
    figures = {k: v for k, v in doc.items() if isinstance(v, float)}
    assert all(math.isfinite(v) for v in figures.values()), figures
    ratios = {k: v for k, v in figures.items() if any(m in k for m in RATIO_MARKERS) and not k.endswith("_goal")}
    assert set(ratios) >= {k for case in bench.CASES for k in HEADLINE[case]}
    assert all(v > 0 for v in ratios.values()), ratios


def test_every_case_keeps_its_individual_abba_timings(tiny_document):
    doc, _ = tiny_document
    assert set(doc["timings"]) == set(PAIRED)
    for case, pairs in doc["timings"].items():
        assert pairs, case
        for pair in pairs.values():
            assert pair["order"] == "ABBA" and pair["repeats"] >= bench.MIN_REPEATS
            for side in (pair["a"], pair["b"]):
                assert len(pair[side]["wall_s"]) == len(pair[side]["cpu_s"]) == pair["repeats"]
                assert all(math.isfinite(t) and t >= 0 for t in pair[side]["wall_s"] + pair[side]["cpu_s"])


def test_summary_puts_the_headline_first(tiny_document):
    doc, _ = tiny_document
    text = bench.summary(doc).splitlines()
    assert text[0].startswith("preprocess_cpu_time_ratio") and text[0].endswith("(headline)")
    assert any(line.startswith("preprocess_wall_time_ratio") and line.endswith("(secondary)") for line in text)
    assert text[-1].startswith("runtime_s")


def test_the_dft_case_on_its_own():
    """The DFT-LRP case (chapter 05's inspection layer over plain relevance), registered or not."""
    from audiomnist_core.bench import dft

    result = dft.run(lambda *a, **k: None, batch=2, repeats=TINY_REPEATS)
    assert set(EXPECTED["dft"]) <= set(result) and list(dft.HEADLINE) == HEADLINE["dft"]
    assert all(math.isfinite(result[k]) and result[k] >= 0 for k in EXPECTED["dft"])
    assert set(result["timings"]) == {"lrp_vs_lrp_dft_frequency", "lrp_vs_lrp_dft_time_frequency", "lrp_vs_lrp_dft_both"}
    for pair in result["timings"].values():
        assert pair["order"] == "ABBA" and pair["repeats"] == TINY_REPEATS


def test_step_flops_count_forward_and_backward_and_keep_the_gradients():
    from audiomnist_core.bench.train import step_flops

    net = torch.nn.Sequential(torch.nn.Linear(4, 3, bias=False))
    x, y = torch.randn(2, 4), torch.tensor([0, 2])
    net(x).sum().backward()
    before = net[0].weight.grad.clone()
    # forward x @ W^T: 2 * 2 * 4 * 3; backward: the weight's gradient only (x needs none), as many
    assert step_flops(net, x, y) == 2 * (2 * 2 * 4 * 3)
    assert torch.equal(net[0].weight.grad, before)


@pytest.mark.parametrize("model_name, gflop", [("alexnet", 4.39), ("audionet", 1.38)])
def test_step_flops_of_the_networks_per_recording(model_name, gflop):
    """Forward + backward FLOPs per recording as counted for issue 21 (batch 32, 2 cores)."""
    from audiomnist_core.bench.train import step_flops
    from audiomnist_core.models import build

    net = build(model_name, "digits")
    x = torch.randn(2, *((1, 227, 227) if model_name == "alexnet" else (1, 8000)))
    assert step_flops(net, x, torch.tensor([0, 1])) / 2 / 1e9 == pytest.approx(gflop, rel=0.02)


def test_scale_reports_each_size_from_a_process_of_its_own(tiny_document):
    doc, lines = tiny_document
    sizes = doc["scale_sizes"]
    assert [r["recordings"] for r in sizes] == [60, 120]
    assert all(r["peak_rss_gb"] > 0.05 and r["preprocess_s"] > 0 and r["evaluate_s"] > 0 for r in sizes)
    assert doc["scale_growth_evaluate"] == pytest.approx(
        (sizes[1]["evaluate_s"] / 120) / (sizes[0]["evaluate_s"] / 60))
    assert sum(line.startswith("scale ") and " recordings: preprocessing " in line for line in lines) == 2


def test_the_scale_corpus_is_in_audiomnists_layout(tmp_path):
    from audiomnist_core.bench.scale import SPEAKERS, write_corpus
    from audiomnist_core.data import index_recordings, read_metadata

    root = write_corpus(tmp_path / "c", 130)
    recordings = index_recordings(root)
    assert len(recordings) == 130 and len(read_metadata(root)) == SPEAKERS
    assert {r.rep for r in recordings} == {0} and len({(r.speaker, r.digit) for r in recordings}) == 130


FSDD = real_case.fsdd_root()
REAL_PROFILE = """
train:
  runs: [alexnet/digits, audionet/digits]
  folds: [0]
  batch_size: 8
  eval_every: 2
  checkpoint_every: 2
  max_train_per_fold: 40
  max_eval_per_fold: 20
  schedules:
    alexnet/digits:  {learning_rate: 0.001,  lr_step: 2, iterations: 2, clip_norm: 5}
    audionet/digits: {learning_rate: 0.0001, lr_step: 2, iterations: 2, clip_norm: null}
"""


@pytest.mark.skipif(not (FSDD / "data").is_dir(), reason=f"FSDD is not at {FSDD} (set AUDIOMNIST_FSDD)")
def test_real_trains_both_digit_models_on_fsdds_speakers_and_reads_them_back(tmp_path, monkeypatch):
    """The opt-in case on a copy of FSDD with 3 repetitions per speaker and digit, 2 iterations."""
    import shutil

    corpus = tmp_path / "fsdd"
    (corpus / "data").mkdir(parents=True)
    shutil.copy(FSDD / "data" / "audioMNIST_meta.txt", corpus / "data")
    for path in sorted((FSDD / "data").glob("0[1-6]/*_[0-2].wav")):
        (corpus / "data" / path.parent.name).mkdir(exist_ok=True)
        shutil.copy(path, corpus / "data" / path.parent.name)
    monkeypatch.setenv("AUDIOMNIST_RUNS", str(tmp_path / "runs"))
    profile = tmp_path / "tiny.yaml"
    profile.write_text(REAL_PROFILE)
    lines: list[str] = []
    doc = bench.run_all(only=["real"], log=lambda *a, **k: lines.append(" ".join(map(str, a))),
                        settings={"real": {"profile": str(profile), "root": corpus, "device": "cpu"}})
    assert doc["headline"] == {"real": ["real_audionet_digits_accuracy", "real_alexnet_digits_accuracy"]}
    for model in ("alexnet", "audionet"):
        assert 0.0 <= doc[f"real_{model}_digits_accuracy"] <= 100.0 and doc[f"real_{model}_digits_iterations"] == 2
    assert doc["real_gap_paper_minus_audionet"] == pytest.approx(92.53 - doc["real_audionet_digits_accuracy"])
    assert len(doc["real_test_speakers"]) >= 1 and set(doc["real_test_speakers"]) <= {1, 2, 3, 4, 5, 6}
    again = bench.run_all(only=["real"], log=lambda *a, **k: lines.append(" ".join(map(str, a))),
                          settings={"real": {"profile": str(profile), "root": corpus, "device": "cpu"}})
    assert again["real_audionet_digits_accuracy"] == doc["real_audionet_digits_accuracy"]
    assert sum("already complete, kept" in line for line in lines) == 2  # read back, not retrained


def test_opt_in_cases_run_only_when_named():
    assert "real" in bench.OPT_IN and "real" not in bench.CASES
    with pytest.raises(bench.AudiomnistError, match="unknown benchmark 'nope'"):
        bench.run_all(only=["nope"])
