"""The step layer: one cache keyed on what each step reads (config entries, inputs, code,
libraries), trained models keyed on the corpus; the jobs of a profile.

The cases of each declared step (:data:`steps.declared()`) are generated from what its cached key
holds, so a new step, config entry, module or library cannot go untested."""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from audiomnist_core import provenance, runs, steps
from audiomnist_core.config import load_profile
from audiomnist_core.runs import Run, Step, cached, source_hash, why_stale
from audiomnist_core.steps import benchmark, beyond, manipulations, relevance, training

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
    return {name: s.code_hash() for name, s in steps.declared().items()}


def test_editing_a_computing_module_changes_exactly_the_steps_it_reaches(tmp_path, monkeypatch):
    package = _package_copy(tmp_path)
    monkeypatch.setattr(runs, "package_dir", lambda: package)
    before = _hashes()
    assert before == _hashes()  # stable

    _append(package / "perturb.py", "\nTHRESHOLD = 1\n")  # code of the manipulations and the benchmark
    after = _hashes()
    assert {n for n in after if after[n] != before[n]} == {"zeroing", "frequency scaling", "benchmark", "band shares",
                                                          "frequency removal"}
    _append(package / "explain" / "rules.py", "\nEPS = 1e-9\n")  # an LRP rule: every step that explains
    assert _hashes()["relevance"] != after["relevance"] and _hashes()["train"] == before["train"]


def test_a_module_constant_of_a_step_enters_its_key(tmp_path, monkeypatch):
    package = _package_copy(tmp_path)
    monkeypatch.setattr(runs, "package_dir", lambda: package)
    before = _hashes()
    path = package / "steps" / "benchmark.py"
    path.write_text(path.read_text().replace("AT = 0.01", "AT = 0.02"))  # read by benchmark_fold, not declared anywhere
    after = _hashes()
    assert after["benchmark"] != before["benchmark"] and after["zeroing"] == before["zeroing"]


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


def test_the_import_closure_follows_every_import_of_the_project(tmp_path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("VERSION = 1\n")
    (pkg / "sub" / "__init__.py").write_text("from .c import C\n")
    (pkg / "a.py").write_text("import numpy as np\nfrom . import b\nfrom .sub import C\n\ndef f():\n    from .d import g\n")
    (pkg / "b.py").write_text("import os\nfrom . import VERSION\n")
    (pkg / "sub" / "c.py").write_text("import scipy.stats\nC = 1\n")
    (pkg / "d.py").write_text("def g():\n    pass\n")
    (pkg / "e.py").write_text("import torch\n")  # imported by nobody
    assert provenance.import_closure(["a"], pkg) == ["", "a", "b", "d", "sub", "sub.c"]
    assert provenance.outside_imports(["a"], pkg) == ["numpy", "os", "scipy"]
    assert source_hash(["a"], pkg) != source_hash(["b"], pkg)
    with pytest.raises(ValueError, match="no module 'missing'"):
        source_hash(["missing"], pkg)


def test_library_versions_are_those_installed_and_leave_the_standard_library_out():
    from importlib.metadata import version

    assert provenance.library_versions(["numpy", "torch", "os", "json"]) == {"numpy": version("numpy"),
                                                                            "torch": version("torch")}
    assert {"torch", "zennit", "captum", "numpy", "scipy"} <= set(benchmark.STEP.libraries())
    assert "tqdm" not in training.STEP.libraries()  # it draws bars, it computes nothing


# --- the access-tracking view of the config -----------------------------------------------

@dataclasses.dataclass
class _Holder:
    config: object


def test_the_tracked_view_records_what_is_read_through_helpers_dicts_and_whole_sections():
    holder = _Holder(load_profile("smoke"))
    plain_config = holder.config

    def helper(cfg):  # a helper that a step calls, deep down
        return cfg.benchmark.samples

    with provenance.tracking(holder) as reads:
        assert helper(holder.config) == 2
        assert holder.config.explain.composites.get("alexnet") == "default"
        assert "nonexistent" not in holder.config.explain.composites
        assert holder.config.train.schedules["audionet/digits"].learning_rate == 0.0001
        hash(holder.config.preprocess)  # a memo keyed on the section
        assert dataclasses.asdict(holder.config.perturb)["seed"] == 0
        with provenance.detached():
            holder.config.beyond.seed  # noqa: B018 - counts for no open frame
        with provenance.tracking(holder) as inner:
            holder.config.train.seed  # noqa: B018 - counts for both frames
    assert holder.config is plain_config  # the view is gone after the block
    assert inner == {"train.seed"}
    perturb = {f"perturb.{f.name}" for f in dataclasses.fields(plain_config.perturb)}  # asdict reads every field
    assert set(provenance.minimal(reads)) == {
        "benchmark.samples", "explain.composites.alexnet", "explain.composites.nonexistent", "preprocess",
        "train.schedules.audionet/digits.learning_rate", "train.seed"} | perturb
    assert provenance.config_value(plain_config, "explain.composites.nonexistent") == provenance.ABSENT


# --- the cache ----------------------------------------------------------------------------

@pytest.fixture
def roster(tmp_path) -> Path:
    from corpora import write_roster

    return write_roster(tmp_path / "corpus", range(1, 11))


def _run(tmp_path: Path, corpus: Path) -> Run:
    return Run(load_profile("smoke"), "synthetic", corpus, tmp_path / "runs" / "run")


def test_a_cached_step_is_recomputed_when_what_it_reads_changes_and_says_why(tmp_path, roster, monkeypatch, capsys):
    run = _run(tmp_path, roster)
    (tmp_path / "m.py").write_text("import numpy\n\ndef f():\n    return 1\n")
    monkeypatch.setattr(runs, "package_dir", lambda: tmp_path)
    step = Step("toy", code=("m",))
    calls = []
    path = run.path("toy.json")

    def compute():
        calls.append(1)
        return {"value": len(calls), "fractions": list(run.config.perturb.fractions)}  # what it reads

    def get(**inputs):
        return cached(run, step, path, step.key(run, **inputs), compute)

    assert get(checkpoint="a")["value"] == 1
    assert get(checkpoint="a")["value"] == 1 and len(calls) == 1  # a tuple in the config reads back as a list: same key
    doc = json.loads(path.read_text())
    assert doc["key"]["config"] == {"perturb.fractions": list(run.config.perturb.fractions)}
    assert doc["stamp"]["code"] == step.code_hash() and doc["stamp"]["libraries"] == {"numpy": np.__version__}
    assert doc["stamp"]["corpus"] == run.fingerprint.digest
    capsys.readouterr()

    get(checkpoint="b")
    assert "toy: toy.json: recomputing: input checkpoint changed" in capsys.readouterr().err
    (tmp_path / "m.py").write_text("import numpy\n\ndef f():\n    return 2\n")
    get(checkpoint="b")
    assert "recomputing: the code of toy changed" in capsys.readouterr().err
    cfg = run.config
    run.config = dataclasses.replace(cfg, perturb=dataclasses.replace(cfg.perturb, seed=7))  # not read by the step
    get(checkpoint="b")
    assert capsys.readouterr().err == "" and len(calls) == 3
    run.config = dataclasses.replace(cfg, perturb=dataclasses.replace(cfg.perturb, fractions=(0.0, 1.0)))  # read
    get(checkpoint="b")
    assert "recomputing: config perturb.fractions changed" in capsys.readouterr().err
    versions = provenance.library_versions
    monkeypatch.setattr(provenance, "library_versions", lambda names: {**versions(names), "numpy": "0.0"})
    get(checkpoint="b")
    assert f"recomputing: library numpy {np.__version__} -> 0.0 changed" in capsys.readouterr().err
    path.write_text("{ not json")
    get(checkpoint="b")
    assert "recomputing: the cached file is damaged" in capsys.readouterr().err
    assert len(calls) == 6


def test_arrays_are_cached_in_npz(tmp_path, roster):
    run = _run(tmp_path, roster)
    step = Step("arrays", code=("perturb",))
    key = step.key(run, fold=0)
    made = cached(run, step, run.path("a.npz"), key, lambda: {"x": np.arange(3.0)}, kind="npz")
    again = cached(run, step, run.path("a.npz"), key, lambda: pytest.fail("recomputed"), kind="npz")
    assert np.array_equal(made["x"], again["x"])


def test_a_finished_training_of_other_code_libraries_or_corpus_is_not_a_result(tmp_path, roster):
    run = _run(tmp_path, roster)
    folder = steps.run_dir(run, "audionet", "digits", 0)
    folder.mkdir(parents=True)
    (folder / training.MODEL).write_bytes(b"weights")
    result = {"key": steps.run_key(run, "audionet", "digits"), "stamp": training.made_now(run)}
    runs.save_json(folder / training.RESULT, result)
    assert training._complete(run, "audionet", "digits", 0) is not None
    stale = {"code": "0ther0code000"}, {"libraries": {**result["stamp"]["libraries"], "torch": "0.1"}}, {"corpus": "0ther0corpus0000"}, {"corpus": None}
    reasons = []
    for change in stale:
        runs.save_json(folder / training.RESULT, {**result, "stamp": {**result["stamp"], **change}})
        assert training._complete(run, "audionet", "digits", 0) is None
        reasons.append(training._stale(run, training._made_by(training._result(folder)["stamp"])))
    assert reasons[0].startswith("the code of train changed (0ther0code000")
    assert reasons[1].startswith("library torch 0.1 -> ") and reasons[1].endswith(" changed")
    assert reasons[2] == "the corpus changed (fingerprint 0ther0corpus0000 -> " + run.fingerprint.digest + ")"
    assert reasons[3] == "it was made before results were keyed on the corpus's content"


# --- the corpus fingerprint ---------------------------------------------------------------

def test_the_fingerprint_hashes_each_file_once_and_says_what_changed(tmp_path, roster, monkeypatch, write_wav):
    from audiomnist_core.data import corpus_fingerprint as fingerprint
    from audiomnist_core.data import describe_change
    from audiomnist_core.data import fingerprint as module

    cache = tmp_path / "cache"
    first = fingerprint(roster, cache)
    assert first.recordings == 10 and "audioMNIST_meta.txt" in first.files
    monkeypatch.setattr(module, "_sha256",
                        lambda path: pytest.fail(f"{path} hashed again"))
    assert fingerprint(roster, cache) == first  # unchanged files: their stat only
    monkeypatch.undo()
    data = roster / "data"
    write_wav(data / "01" / "0_01_0.wav", seconds=0.01, seed=99)  # changed
    write_wav(data / "02" / "1_02_0.wav", seconds=0.01, seed=98)  # added
    write_wav(data / "02" / "2_02_0.wav", seconds=0.01, seed=97)  # added
    (data / "03" / "0_03_0.wav").unlink()  # removed (its speaker has no recording left)
    second = fingerprint(roster, cache)
    assert second.digest != first.digest
    assert describe_change(first.digest, second, cache) == "the corpus changed (2 recordings added, 1 changed, 1 removed)"
    assert module.corpus_files(roster)[-1].name == "audioMNIST_meta.txt"


# --- every declared step, cases generated from what it read ------------------------------

PIPELINE_PROFILE = """
train:
  runs: [alexnet/gender, audionet/digits]
  folds: [0]
  batch_size: 8
  eval_every: 2
  checkpoint_every: 2
  max_train_per_fold: 40
  max_eval_per_fold: 20
  schedules:
    alexnet/gender:  {learning_rate: 0.001,  lr_step: 2, iterations: 2, clip_norm: 5}
    audionet/digits: {learning_rate: 0.0001, lr_step: 2, iterations: 2, clip_norm: null}
explain: {batch_size: 8}
perturb: {fractions: [0.0, 0.01, 1.0], random_draws: 2, max_per_fold: 6, batch_size: 4}
beyond: {fractions: [0.0, 0.01, 1.0], random_draws: 1, max_per_fold: 6, batch_size: 4}
benchmark:
  methods: [lrp, gradient]
  fractions: [0.0, 0.01, 1.0]
  max_per_fold: 6
  randomization_items: 2
  batch_size: 4
"""
# How each declared step is called on the pipeline's run: a step missing here fails
# test_every_declared_step_is_exercised, so none goes without its generated cases.
CALLS = {
    "relevance": lambda run: steps.explain_test_set(run, "audionet", "digits", 0, device="cpu"),
    "zeroing": lambda run: steps.zeroing_fold(run, "audionet", "digits", 0, "cpu"),
    "frequency scaling": lambda run: steps.frequency_scaling_fold(run, 0, "cpu"),
    "band shares": lambda run: steps.band_shares_fold(run, "digits", 0, "cpu"),
    "frequency removal": lambda run: steps.frequency_removal_fold(run, "digits", 0, "cpu"),
    "benchmark": lambda run: steps.benchmark_fold(run, "lrp", "alexnet", "gender", 0, "cpu"),
}


@pytest.fixture(scope="module")
def pipeline(synth_corpus, tmp_path_factory):
    """A tiny profile with every step run once: ``(run, {step: cached key})``."""
    tmp = tmp_path_factory.mktemp("pipeline")
    profile = tmp / "tiny.yaml"
    profile.write_text(PIPELINE_PROFILE)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIOMNIST_RUNS", str(tmp / "runs"))
        mp.setenv("AUDIOMNIST_PROGRESS", "0")
        run = runs.open_run(str(profile), str(synth_corpus))
        steps.train_profile(run, device="cpu", progress=False, log=lambda line: None)
        before = set(run.root.rglob("*.json")) | set(run.root.rglob("*.npz"))
        keys = {}
        for name, call in CALLS.items():
            call(run)
            made = sorted((set(run.root.rglob("*.json")) | set(run.root.rglob("*.npz"))) - before)
            before |= set(made)
            keys[name] = [runs._read_cached(p, p.suffix[1:])[0] for p in made]
            keys[name] = [k for k in keys[name] if k and k.get("step") == name]
        yield run, keys, mp


def test_every_declared_step_is_exercised(pipeline):
    _, keys, _ = pipeline
    assert set(CALLS) | {"train"} == set(steps.declared())
    assert all(keys[name] for name in CALLS), {n: len(k) for n, k in keys.items()}


def _changed(value):
    """Another value of the same kind (the config is not validated here, only keyed)."""
    if value == provenance.ABSENT or value is None:
        return "changed"
    if isinstance(value, bool):
        return not value
    if isinstance(value, (int, float)):
        return value * 2 + 1
    if isinstance(value, str):
        return value + "-changed"
    if isinstance(value, tuple):
        return (*value, _changed(value[-1]) if value else 1)
    if isinstance(value, dict):
        return {**value, "changed": "changed"}
    raise TypeError(f"no change for {value!r}")


def _with(cfg, path: str):
    """``cfg`` with the entry at dotted ``path`` changed (:func:`_changed`)."""
    head, _, rest = path.partition(".")
    if isinstance(cfg, dict):
        current = cfg.get(head, provenance.ABSENT)
        return {**cfg, head: _with(current, rest) if rest else _changed(current)}
    current = getattr(cfg, head)
    return dataclasses.replace(cfg, **{head: _with(current, rest) if rest else _changed(current)})


def _covered(path: str, recorded) -> bool:
    return any(path == r or path.startswith(r + ".") or r == "" for r in recorded)


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_change_to_each_config_entry_a_step_read_recomputes_it_and_no_other_does(pipeline, name):
    run, keys, _ = pipeline
    cfg = provenance.untracked(run.config)
    for key in keys[name]:
        now = steps.declared()[name].key(run, **key["inputs"])
        assert why_stale(key, now, cfg) is None
        assert key["config"], f"{name} read no config entry"
        for path in key["config"]:  # a section read as a whole (a memo's key): each of its entries
            for leaf in provenance.config_paths(provenance.config_value_raw(cfg, path), path):
                assert why_stale(key, now, _with(cfg, leaf)) == f"config {path} changed", leaf
        for path in provenance.config_paths(cfg):
            if not _covered(path, key["config"]):
                assert why_stale(key, now, _with(cfg, path)) is None, f"{name} does not read {path}"


@pytest.mark.parametrize("name", sorted(CALLS))
def test_a_change_to_each_input_and_library_of_a_step_recomputes_it(pipeline, name):
    run, keys, mp = pipeline
    key = keys[name][0]
    now = steps.declared()[name].key(run, **key["inputs"])
    for field in key["inputs"]:
        other = {**now, "inputs": {**now["inputs"], field: "0ther"}}
        assert why_stale(key, other, run.config) == f"input {field} changed"
    assert {"torch", "numpy"} <= set(key["libraries"])
    for library, version in key["libraries"].items():
        other = {**now, "libraries": {**now["libraries"], library: version + ".post1"}}
        assert why_stale(key, other, run.config) == f"library {library} {version} -> {version}.post1 changed"


@pytest.mark.parametrize("name", sorted(steps.declared()))
def test_a_change_to_each_module_a_step_reaches_recomputes_it_and_no_other_module_does(name, tmp_path, monkeypatch):
    package = _package_copy(tmp_path)
    monkeypatch.setattr(runs, "package_dir", lambda: package)
    step = steps.declared()[name]
    reached, before = set(step.modules()), step.code_hash()
    assert step.code[0] in reached and "explain.rules" not in reached or name != "train"
    for path in sorted(package.rglob("*.py")):
        module = ".".join(path.relative_to(package).with_suffix("").parts).removesuffix("__init__").rstrip(".")
        source = path.read_text()
        path.write_text(source + "\n_PROBE = 1\n")
        assert (step.code_hash() != before) == (module in reached), module
        path.write_text(source)


def _bumped(cfg, path: str):
    """``cfg`` with the number at ``path`` one larger (a valid config, to compute with)."""
    head, _, rest = path.partition(".")
    current = getattr(cfg, head)
    return dataclasses.replace(cfg, **{head: _bumped(current, rest) if rest else current + 1})


def test_a_step_recomputes_for_an_entry_it_read_and_says_so_and_keeps_for_one_it_did_not(pipeline, capsys):
    run, keys, _ = pipeline
    original = run.config
    try:
        for name, call in CALLS.items():
            read = sorted(keys[name][0]["config"])
            unread = "perturb.male_scale" if name != "frequency scaling" else "beyond.seed"
            assert not _covered(unread, read)
            capsys.readouterr()
            run.config = _with(original, unread)
            call(run)
            assert "recomputing" not in capsys.readouterr().err, name
            path = next(p for p in read if p.rpartition(".")[2] in ("seed", "max_per_fold", "batch_size", "random_draws"))
            run.config = _bumped(original, path)
            call(run)
            err = capsys.readouterr().err  # "<step>: <file>: recomputing: input test, config <path> changed"
            assert f"{name}: " in err and "recomputing: " in err and f"config {path}" in err, err
            run.config = original
            call(run)  # the cache as the next step expects it
    finally:
        run.config = original


def test_training_reads_only_what_its_run_key_holds(pipeline):
    run, _, _ = pipeline
    for model, task in (("alexnet", "gender"), ("audionet", "digits")):
        result = training._result(steps.run_dir(run, model, task, 0))
        assert result["config_read"]
        key = steps.run_key(run, model, task)
        for path in result["config_read"]:
            if _covered(path, training.NOT_DECIDING):
                continue
            for leaf in provenance.config_paths(provenance.config_value_raw(run.config, path), path):
                changed = dataclasses.replace(run, config=_with(run.config, leaf))
                assert steps.run_key(changed, model, task) != key, f"training reads {leaf}, which run_key leaves out"


def test_a_run_trained_on_another_corpus_is_retrained_and_says_how_the_corpus_changed(synth_corpus, tmp_path, monkeypatch,
                                                                                     write_wav):
    corpus = Path(shutil.copytree(synth_corpus, tmp_path / "corpus"))
    profile = tmp_path / "tiny.yaml"
    profile.write_text(PIPELINE_PROFILE.replace("[alexnet/gender, audionet/digits]", "[audionet/digits]"))
    monkeypatch.setenv("AUDIOMNIST_RUNS", str(tmp_path / "runs"))
    lines: list[str] = []
    steps.train_profile(runs.open_run(str(profile), str(corpus)), device="cpu", progress=False, log=lines.append)
    steps.train_profile(runs.open_run(str(profile), str(corpus)), device="cpu", progress=False, log=lines.append)
    assert lines[-1] == "audionet/digits fold 0: already complete, kept"
    data = corpus / "data"
    write_wav(data / "01" / "0_01_0.wav", rate=48_000, seconds=0.5, seed=5)  # changed
    shutil.copy(data / "01" / "1_01_0.wav", data / "01" / "1_01_7.wav")  # added
    lines.clear()
    steps.train_profile(runs.open_run(str(profile), str(corpus)), device="cpu", progress=False, log=lines.append)
    assert lines[0] == "audionet/digits fold 0: retraining: the corpus changed (1 recordings added, 1 changed, 0 removed)"
    assert any("test accuracy" in line for line in lines)


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
run = runs.open_run(sys.argv[2], sys.argv[3])
n = len(steps.jobs(run))
for index in range(int(sys.argv[1]), n, 2):
    steps.run_job(run, index, device="cpu")
"""
# The smoke profile's four runs and sections at the pipeline profile's sizes: the jobs' shapes, not their cost.
WORKER_PROFILE = PIPELINE_PROFILE.replace("runs: [alexnet/gender, audionet/digits]",
                                          "runs: [alexnet/digits, alexnet/gender, audionet/digits, audionet/gender]")
WORKER_PROFILE = WORKER_PROFILE.replace(
    "    audionet/digits: {learning_rate: 0.0001, lr_step: 2, iterations: 2, clip_norm: null}\n",
    "    audionet/digits: {learning_rate: 0.0001, lr_step: 2, iterations: 2, clip_norm: null}\n"
    "    alexnet/digits:  {learning_rate: 0.001,  lr_step: 2, iterations: 2, clip_norm: 5}\n"
    "    audionet/gender: {learning_rate: 0.0001, lr_step: 2, iterations: 2, clip_norm: null}\n")


def test_two_concurrent_workers_finish_a_profile_running_every_job_once(tmp_path, synth_corpus):
    profile = tmp_path / "workers.yaml"
    profile.write_text(WORKER_PROFILE)
    env = {**os.environ, "AUDIOMNIST_RUNS": str(tmp_path / "runs"), "AUDIOMNIST_PROGRESS": "0", "OMP_NUM_THREADS": "1"}
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, str(k), str(profile), str(synth_corpus)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in (0, 1)]
    logs = [w.communicate(timeout=600) for w in workers]
    assert [w.returncode for w in workers] == [0, 0], [err[-2000:] for _, err in logs]
    root = next((tmp_path / "runs").glob("*/jobs.jsonl")).parent  # the run store both workers share
    done = [json.loads(line) for line in (root / "jobs.jsonl").read_text().splitlines()]
    assert sorted(d["index"] for d in done) == list(range(8))  # every job ran, each once
    assert len({d["pid"] for d in done}) == 2
    trained = sum(err.count("iterations on cpu") for _, err in logs)  # "training N iterations on cpu"
    assert trained == 4  # each run trained by one worker only, the other waited for it
    assert len(list(root.glob("train/*/result.json"))) == 4
    assert len(list(root.glob("perturb/zeroing-*.json"))) == 4 and (root / "perturb" / "frequency_scaling-fold0.json").is_file()
    assert len(list(root.glob("relevance/*.npz"))) == 4
