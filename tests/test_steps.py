"""The step layer: one cache keyed on config, input content and code; the jobs of a profile."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from audiomnist_core import runs, steps
from audiomnist_core.config import load_profile
from audiomnist_core.runs import Run, Step, cached, source_hash
from audiomnist_core.steps import manipulations, relevance, training

REPO = Path(__file__).resolve().parents[1]


# --- the code hash ------------------------------------------------------------------------

def _package_copy(tmp_path: Path) -> Path:
    """A copy of the package's source and of the chapters, to edit."""
    shutil.copytree(REPO / "audiomnist_core", tmp_path / "audiomnist_core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "book", tmp_path / "book")
    return tmp_path / "audiomnist_core"


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text() + text)


def _hashes() -> dict[str, str]:
    return {s.name: s.code_hash() for s in (training.STEP, relevance.RELEVANCE, manipulations.ZEROING,
                                             manipulations.FREQUENCY_SCALING)}


def test_editing_a_computing_module_changes_exactly_the_steps_it_computes(tmp_path, monkeypatch):
    package = _package_copy(tmp_path)
    monkeypatch.setattr(runs, "package_dir", lambda: package)
    before = _hashes()
    assert before == _hashes()  # stable

    _append(package / "perturb.py", "\nTHRESHOLD = 1\n")  # code of the manipulations
    after = _hashes()
    assert after["zeroing"] != before["zeroing"] and after["frequency scaling"] != before["frequency scaling"]
    assert after["train"] == before["train"] and after["relevance"] == before["relevance"]

    _append(package / "explain" / "rules.py", "\nEPS = 1e-9\n")  # an LRP rule
    assert _hashes()["relevance"] != after["relevance"]


def test_editing_a_chapter_a_comment_or_a_docstring_changes_no_step(tmp_path, monkeypatch):
    package = _package_copy(tmp_path)
    monkeypatch.setattr(runs, "package_dir", lambda: package)
    before = _hashes()
    chapter = tmp_path / "book" / "04_manipulations.ipynb"
    chapter.write_text(chapter.read_text().replace("Fig. 3", "Figure 3"))
    _append(package / "perturb.py", "\n# a comment that explains more\n")
    source = (package / "train.py").read_text()
    (package / "train.py").write_text(source.replace('"""One trainer for both networks', '"""The one trainer for both networks', 1))
    assert _hashes() == before


def test_a_function_entry_hashes_only_that_function(tmp_path):
    (tmp_path / "m.py").write_text("def f():\n    return 1\n\n\ndef g():\n    return 2\n")
    f, whole = source_hash(["m:f"], tmp_path), source_hash(["m"], tmp_path)
    (tmp_path / "m.py").write_text("def f():\n    return 1\n\n\ndef g():\n    return 3\n")
    assert source_hash(["m:f"], tmp_path) == f and source_hash(["m"], tmp_path) != whole
    with pytest.raises(ValueError, match="no module 'missing'"):
        source_hash(["missing"], tmp_path)


# --- the cache ----------------------------------------------------------------------------

def _run(tmp_path: Path) -> Run:
    return Run(load_profile("smoke"), "synthetic", tmp_path / "corpus", tmp_path / "run")


def test_a_cached_step_is_recomputed_when_its_code_config_or_input_changes_and_says_why(tmp_path, monkeypatch, capsys):
    run = _run(tmp_path)
    (tmp_path / "m.py").write_text("def f():\n    return 1\n")
    monkeypatch.setattr(runs, "package_dir", lambda: tmp_path)
    step = Step("toy", config=("perturb.fractions",), code=("m",))
    calls = []
    path = run.path("toy.json")

    def compute():
        calls.append(1)
        return {"value": len(calls)}

    def get(**inputs):
        return cached(run, step, path, step.key(run, **inputs), compute)

    assert get(checkpoint="a") == {"value": 1}
    assert get(checkpoint="a") == {"value": 1} and len(calls) == 1  # a tuple in the config reads back as a list: same key
    assert json.loads(path.read_text())["stamp"]["code"] == step.code_hash()
    capsys.readouterr()

    get(checkpoint="b")
    assert "toy: toy.json: recomputing: input checkpoint changed" in capsys.readouterr().err
    (tmp_path / "m.py").write_text("def f():\n    return 2\n")
    get(checkpoint="b")
    assert "recomputing: the code of toy changed" in capsys.readouterr().err
    cfg = run.config
    run.config = dataclasses.replace(cfg, perturb=dataclasses.replace(cfg.perturb, fractions=(0.0, 1.0)))  # read by the step
    get(checkpoint="b")
    assert "recomputing: config perturb.fractions changed" in capsys.readouterr().err
    path.write_text("{ not json")
    get(checkpoint="b")
    assert "recomputing: the cached file is damaged" in capsys.readouterr().err
    assert len(calls) == 5


def test_arrays_are_cached_in_npz(tmp_path):
    import numpy as np

    run = _run(tmp_path)
    step = Step("arrays", config=(), code=("perturb",))
    key = step.key(run, fold=0)
    made = cached(run, step, run.path("a.npz"), key, lambda: {"x": np.arange(3.0)}, kind="npz")
    again = cached(run, step, run.path("a.npz"), key, lambda: pytest.fail("recomputed"), kind="npz")
    assert np.array_equal(made["x"], again["x"])


def test_a_finished_training_of_other_code_is_not_a_result(tmp_path, monkeypatch):
    run = _run(tmp_path)
    folder = steps.run_dir(run, "audionet", "digits", 0)
    folder.mkdir(parents=True)
    (folder / training.MODEL).write_bytes(b"weights")
    result = {"key": steps.run_key(run, "audionet", "digits"), "stamp": {"code": training.STEP.code_hash()}}
    runs.save_json(folder / training.RESULT, result)
    assert training._complete(run, "audionet", "digits", 0) is not None
    runs.save_json(folder / training.RESULT, {**result, "stamp": {"code": "0ther0code000"}})
    assert training._complete(run, "audionet", "digits", 0) is None
    assert "the code of train changed (0ther0code000" in training._stale(training._result(folder))


# --- jobs ---------------------------------------------------------------------------------

def test_the_paper_profile_jobs_are_train_jobs_then_analysis_jobs_that_depend_on_them(tmp_path):
    from audiomnist_core.splits import PAPER_FEMALE
    from corpora import write_roster

    corpus = write_roster(tmp_path / "roster", range(1, 61))
    assert len(PAPER_FEMALE) == 12
    run = Run(load_profile("paper"), "audiomnist", corpus, tmp_path / "run")
    job_list = steps.jobs(run)
    train = [j for j in job_list if j.stage == "train"]
    analysis = [j for j in job_list if j.stage == "analysis"]
    assert len(train) == 2 * 5 + 2 * 4  # both models: 5 digit folds, 4 gender folds
    assert [j.index for j in job_list] == list(range(len(job_list)))
    assert job_list[: len(train)] == train  # train jobs first
    for j in analysis:  # each analysis job waits for the training of its own run
        (dep,) = j.depends
        assert (job_list[dep].stage, job_list[dep].model, job_list[dep].task, job_list[dep].fold) == ("train", j.model, j.task, j.fold)
    zeroing = {f"{j.model}/{j.task}" for j in analysis if "zeroing" in j.analyses}
    assert zeroing == set(run.config.perturb.zeroing_runs)
    assert sum("frequency scaling" in j.analyses for j in analysis) == 4  # one per gender fold
    listing = steps.describe_jobs(run)
    assert listing["arrays"] == {"train": f"0-{len(train) - 1}", "analysis": f"{len(train)}-{len(job_list) - 1}"}
    assert listing["jobs"][len(train)]["depends"] == list(analysis[0].depends)


def test_run_job_names_the_range_of_a_wrong_index(tmp_path, capsys, monkeypatch):
    from audiomnist_core import cli
    from corpora import write_roster

    monkeypatch.setenv("AUDIOMNIST_RUNS", str(tmp_path / "runs"))
    corpus = write_roster(tmp_path / "roster", range(1, 11))
    assert cli.main(["run-job", "--profile", "smoke", "--data", str(corpus), "--index", "99"]) == 1
    assert "job 99: profile 'smoke'" in capsys.readouterr().err


WORKER = """
import sys
from audiomnist_core import runs, steps
run = runs.open_run("smoke", "synthetic")
n = len(steps.jobs(run))
for index in range(int(sys.argv[1]), n, 2):
    steps.run_job(run, index, device="cpu")
"""


def test_two_concurrent_workers_finish_the_smoke_profile_running_every_job_once(tmp_path):
    env = {**os.environ, "AUDIOMNIST_RUNS": str(tmp_path / "runs"), "AUDIOMNIST_DATA_DIR": str(tmp_path / "data"),
           "AUDIOMNIST_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", "from audiomnist_core import runs; runs.open_run('smoke', 'synthetic')"],
                   env=env, check=True, capture_output=True)  # the corpus, made once before the workers start
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(k)], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for k in (0, 1)]
    logs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err[-2000:] for _, err in logs]
    root = tmp_path / "runs" / "smoke-synthetic"
    done = [json.loads(line) for line in (root / "jobs.jsonl").read_text().splitlines()]
    assert sorted(d["index"] for d in done) == list(range(8))  # every job ran, each once
    assert len({d["pid"] for d in done}) == 2
    trained = sum(err.count("iterations on cpu") for _, err in logs)  # "training N iterations on cpu"
    assert trained == 4  # each run trained by one worker only, the other waited for it
    assert len(list(root.glob("train/*/result.json"))) == 4
    assert len(list(root.glob("perturb/zeroing-*.json"))) == 4 and (root / "perturb" / "frequency_scaling-fold0.json").is_file()
    assert len(list(root.glob("relevance/*.npz"))) == 4
