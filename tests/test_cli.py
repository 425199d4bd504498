"""The ``audiomnist bench`` command: JSON only on stdout, cases in order, missing ones skipped.

(The harness itself, its ABBA order and every case on tiny settings: test_bench.py.)

(The splits and profile errors of the CLI are tested in test_splits.py and test_config.py.)
"""
from __future__ import annotations

import json
import sys
import types

import numpy as np
import pytest
import torch

from audiomnist_core import bench, cli
from audiomnist_core.bench import preprocess as bench_preprocess
from audiomnist_core.config import PreprocessConfig
from audiomnist_core.data import index_recordings, read_metadata


def fake_case(name: str, figures: dict[str, float]) -> types.ModuleType:
    module = types.ModuleType(f"audiomnist_core.bench.{name}")

    def run(log=print):
        log(f"{name} is running")  # progress must not reach stdout
        return figures

    module.run = run
    return module


@pytest.fixture
def fake_cases(monkeypatch):
    """Two cases that answer at once and one whose module does not exist."""
    monkeypatch.setattr(bench, "CASES", ("first", "missing", "second"))
    monkeypatch.setitem(sys.modules, "audiomnist_core.bench.first", fake_case("first", {"first_speedup": 2.5}))
    monkeypatch.setitem(sys.modules, "audiomnist_core.bench.second", fake_case("second", {"second_ratio": 0.5}))


def test_bench_json_is_the_only_stdout(fake_cases, capsys):
    assert cli.main(["bench", "--json"]) == 0
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    assert list(doc) == ["headline", "secondary", "first_speedup", "second_ratio", "timings", "runtime_s", "machine"]
    assert doc["first_speedup"] == 2.5 and doc["machine"]["cpu_count"] >= 1
    assert set(doc["runtime_s"]) == {"first", "second", "total"}
    assert "missing" in captured.err and "skipped" in captured.err
    assert "first is running" in captured.err


def test_bench_only_runs_the_named_cases(fake_cases, capsys):
    assert cli.main(["bench", "--json", "--only", "second"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert "first_speedup" not in doc and doc["second_ratio"] == 0.5 and set(doc["runtime_s"]) == {"second", "total"}


def test_bench_text_lists_the_figures(fake_cases, capsys):
    assert cli.main(["bench"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["first_speedup", "2.5"] and out[-1].startswith("runtime_s")


def test_bench_unknown_case_is_one_line(fake_cases, capsys):
    assert cli.main(["bench", "--only", "nonesuch"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "nonesuch" in captured.err


def test_the_harness_puts_preprocessing_first():
    assert bench.CASES[0] == "preprocess"


def test_bench_preprocess_sides_compute_the_same_spectrograms(tmp_path, make_noise_corpus):
    """The two pipelines the benchmark times agree: the speedup compares equal work."""
    root = make_noise_corpus(tmp_path / "corpus", speakers=(1, 12), reps=1, seconds=0.4)
    recordings = index_recordings(root)
    genders = {s: sp.gender for s, sp in read_metadata(root).items()}
    cfg = PreprocessConfig()
    original = bench_preprocess.original(recordings, cfg.offset_seed)
    ours = bench_preprocess.ours(recordings, genders, cfg, tmp_path, workers=2)
    assert ours.shape == original.shape == (20, 227, 227)
    assert np.abs(ours.numpy() - original).max() < 0.05
    assert not list(tmp_path.glob("cold-cache-*"))  # the cold cache is removed afterwards
    assert torch.all(ours.amax(dim=(-2, -1)) == 0)


def test_paper_projection_counts_every_run_and_fold_of_the_paper_profile():
    from audiomnist_core.bench import train as bench_train

    samples = bench_train.paper_samples()
    # SPEC: AlexNet 10,000 iterations x (5 digit + 4 gender folds); AudioNet 50,000 x 5 + 10,000 x 4; batch 100.
    assert samples == {"alexnet": (5 + 4) * 10_000 * 100, "audionet": (5 * 50_000 + 4 * 10_000) * 100}
    hours = bench_train.projected_hours({"alexnet": 1000.0, "audionet": 500.0}, samples)
    assert hours == pytest.approx((9_000_000 / 1000 + 29_000_000 / 500) / 3600)
