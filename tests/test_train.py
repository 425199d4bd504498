"""The trainer: schedule, sampling, exact resume (also after kill -9), checkpoints, bad
input, Table 1, and the CLI end to end on the smoke profile.

Training runs use a tiny profile (a few iterations of batch 8 on the smoke corpus) except the
CLI test, which trains the whole smoke profile once.
"""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
import torch

from audiomnist_core import cli, paper, report, steps, train
from audiomnist_core.config import Schedule, TrainConfig, profile_path
from audiomnist_core.errors import AudiomnistError
from audiomnist_core.runs import open_run, save_json

TINY = """
data: {{source: synthetic, synth_speakers: 10, synth_reps: 3, synth_seed: 0, synth_style: clean}}
train:
  runs: [alexnet/digits, audionet/gender]
  folds: {folds}
  batch_size: 8
  eval_every: {eval_every}
  checkpoint_every: 2
  select: {select}
  max_train_per_fold: 40
  max_eval_per_fold: 20
  schedules:
    alexnet/digits:  {{learning_rate: {lr}, lr_step: 3, iterations: {iterations}, clip_norm: 5}}
    audionet/gender: {{learning_rate: 0.0001, lr_step: 3, iterations: {iterations}, clip_norm: null,
                       init: {init}, optimizer: {optimizer}, shift: {shift}}}
"""


def tiny_profile(folder: Path, name: str = "tiny", *, iterations: int = 6, select: str = "final",
                 folds: str = "[0]", lr: float = 0.001, eval_every: int = 2,
                 init: str = "original", optimizer: str = "sgd", shift: str = "false") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(TINY.format(iterations=iterations, select=select, folds=folds, lr=lr, eval_every=eval_every,
                                init=init, optimizer=optimizer, shift=shift))
    return path


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """The smoke corpus, synthesised once for this module."""
    return tmp_path_factory.mktemp("data")


@pytest.fixture
def env(tmp_path, monkeypatch, data_dir):
    monkeypatch.setenv("AUDIOMNIST_DATA_DIR", str(data_dir))
    monkeypatch.setenv("AUDIOMNIST_RUNS", str(tmp_path / "runs"))
    return tmp_path


def _runs(tmp_path: Path, name: str, monkeypatch) -> None:
    monkeypatch.setenv("AUDIOMNIST_RUNS", str(tmp_path / name))


def _states(run, model: str, task: str) -> dict:
    folder = steps.run_dir(run, model, task, 0)
    return {name: torch.load(folder / name, weights_only=True) for name in (steps.training.CHECKPOINT, steps.training.MODEL)}


def _assert_identical(a: dict, b: dict) -> None:
    for name in (steps.training.CHECKPOINT, steps.training.MODEL):
        assert a[name]["model"].keys() == b[name]["model"].keys()
        for key in a[name]["model"]:
            assert torch.equal(a[name]["model"][key], b[name]["model"][key]), (name, key)
    state_a = a[steps.training.CHECKPOINT]["optimizer"]["state"]  # momentum buffers, or Adam's moments and step
    state_b = b[steps.training.CHECKPOINT]["optimizer"]["state"]
    assert state_a.keys() == state_b.keys() and state_a
    for i in state_a:
        assert state_a[i].keys() == state_b[i].keys()
        assert all(torch.equal(state_a[i][k], state_b[i][k]) for k in state_a[i]), i
    strip = lambda ms: [{k: v for k, v in m.items() if k != "seconds"} for m in ms]  # noqa: E731
    assert strip(a[steps.training.CHECKPOINT]["metrics"]) == strip(b[steps.training.CHECKPOINT]["metrics"])


def _interrupt_at(monkeypatch, iteration: int) -> None:
    """Make the trainer stop as by Ctrl-C when it is about to run ``iteration``."""
    step = train.Trainer.step

    def interrupted(self):
        if self.iteration == iteration:
            raise KeyboardInterrupt
        step(self)

    monkeypatch.setattr(train.Trainer, "step", interrupted)


# --- pure parts ---------------------------------------------------------------------------

def test_step_schedule_counts_iterations():
    s = Schedule(learning_rate=0.001, lr_step=2500, iterations=10_000)
    assert [train.learning_rate(s, it) for it in (0, 2499, 2500, 4999, 5000, 9999)] == [
        0.001, 0.001, 0.0005, 0.0005, 0.00025, 0.000125
    ]
    assert train.learning_rate(Schedule(0.1, 10, 100, lr_gamma=0.1), 25) == pytest.approx(0.001)


def test_subsample_is_balanced_seeded_and_sorted():
    strata = torch.tensor([0] * 50 + [1] * 30 + [2] * 20 + [3] * 5)
    idx = steps.subsample(strata, 41, seed=3)
    assert idx.shape == (41,) and idx.unique().numel() == 41 and torch.equal(idx, idx.sort().values)
    counts = torch.bincount(strata[idx], minlength=4).tolist()
    assert counts[3] == 5 and max(counts[:3]) - min(counts[:3]) <= 1  # 5 + 12 + 12 + 12 (one gets 12, the rest)
    assert torch.equal(idx, steps.subsample(strata, 41, seed=3))
    assert not torch.equal(idx, steps.subsample(strata, 41, seed=4))
    assert torch.equal(steps.subsample(strata, None, seed=0), torch.arange(105))
    assert torch.equal(steps.subsample(strata, 500, seed=0), torch.arange(105))


def test_epoch_sampler_permutes_each_epoch_and_resumes():
    a = train.EpochSampler(10, 4, seed=0, device=torch.device("cpu"))
    first = [a.next() for _ in range(2)]  # one epoch: 2 full batches, 2 indices dropped
    assert torch.cat(first).unique().numel() == 8
    state = a.state_dict()
    later = [a.next().clone() for _ in range(5)]
    b = train.EpochSampler(10, 4, seed=99, device=torch.device("cpu"))
    b.load_state_dict(state)
    assert all(torch.equal(x, b.next()) for x in later)
    assert train.EpochSampler(3, 8, seed=0, device=torch.device("cpu")).next().numel() == 3


def test_optimizer_and_init_follow_the_schedule():
    config = TrainConfig()
    net = torch.nn.Linear(3, 2)
    sgd = train.optimizer(net, Schedule(0.1, 10, 20), config)
    assert isinstance(sgd, torch.optim.SGD) and sgd.defaults["momentum"] == config.momentum
    adam = train.optimizer(net, Schedule(0.0005, 10, 20, optimizer="adam"), config)
    assert isinstance(adam, torch.optim.Adam) and adam.defaults["lr"] == 0.0005
    waves, labels = torch.zeros(4, 8000), torch.tensor([0, 1, 0, 1])
    trainers = {init: train.Trainer("audionet", "gender", Schedule(0.1, 10, 20, init=init), config, waves, labels)
                for init in ("original", "glorot")}
    fc7 = {init: t.net.classifier[1] for init, t in trainers.items()}
    assert fc7["original"].weight.std().item() == pytest.approx(0.1, rel=0.05)
    bound = (6 / (16000 + 1024)) ** 0.5  # Glorot-uniform
    assert fc7["glorot"].weight.abs().max().item() <= bound
    assert fc7["glorot"].weight.std().item() == pytest.approx(bound / 3 ** 0.5, rel=0.05)


def test_resolve_device():
    auto = train.resolve_device("auto")
    assert auto.type in ("cuda", "mps", "cpu")
    assert train.resolve_device(None) == auto
    assert train.resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(AudiomnistError, match="banana"):
        train.resolve_device("banana")
    if not torch.cuda.is_available():
        with pytest.raises(AudiomnistError, match="no such CUDA device"):
            train.resolve_device("cuda:3")


def test_confusion_rows_are_true_classes():
    m = train.confusion(torch.tensor([0, 0, 1, 1, 1]), torch.tensor([0, 1, 1, 1, 0]), 2)
    assert m.tolist() == [[1, 1], [1, 2]]


# --- fold data ----------------------------------------------------------------------------

def test_fold_data_is_speaker_disjoint_and_subsampled(env):
    run = open_run(str(tiny_profile(env)), "synthetic")
    d = steps.fold_data(run, "digits", 0)
    speakers = [set(p.speaker.tolist()) for p in (d.train, d.validation, d.test)]
    assert not (speakers[0] & speakers[1] or speakers[0] & speakers[2] or speakers[1] & speakers[2])
    assert (len(d.train), len(d.validation), len(d.test)) == (40, 20, 20)
    assert torch.bincount(d.train.digit, minlength=10).min() >= 3  # balanced over classes
    assert d.mean.shape == (227, 227) and d.mean.max() <= 0 and d.mean.min() >= -80
    assert steps.fold_data(run, "digits", 0) is d  # kept in memory, mean included
    with pytest.raises(AudiomnistError, match="fold 5 is out of range.*0..4"):
        steps.fold_data(run, "digits", 5)
    with pytest.raises(AudiomnistError, match="fold 4 is out of range.*0..3"):
        steps.fold_data(run, "gender", 4)


def test_profile_fold_out_of_range(env):
    run = open_run(str(tiny_profile(env, folds="[0, 4]")), "synthetic")
    assert steps.folds_of(run, "digits") == [0, 4]
    with pytest.raises(AudiomnistError, match="train.folds has fold 4.*gender"):
        steps.folds_of(run, "gender")


# --- training, resuming, checkpoints ------------------------------------------------------

def test_a_shifted_batch_holds_each_recording_whole_at_any_place_of_its_padding():
    waves = torch.zeros(3, 12)
    waves[0, 2:6] = torch.tensor([1.0, -2.0, 0.0, 3.0])  # a zero sample inside the word stays
    waves[1, :] = 1.0  # no padding: it cannot move
    start, length = train.spans(waves)
    assert start.tolist() == [2, 0, 0] and length.tolist() == [4, 12, 0]
    seen = set()
    torch.manual_seed(0)
    for _ in range(200):
        out = train.shifted(waves, start, length)
        s, n = train.spans(out)
        assert torch.equal(out[0, s[0] : s[0] + 4], waves[0, 2:6]) and out[0].abs().sum() == 6
        assert torch.equal(out[1:], waves[1:])
        seen.add(int(s[0]))
    assert seen == set(range(9))  # every offset of 12 - 4 + 1
    torch.manual_seed(1)
    a = train.shifted(waves, start, length)
    torch.manual_seed(1)
    assert torch.equal(a, train.shifted(waves, start, length))


def test_a_schedule_without_shift_trains_on_the_preprocessed_placement_and_one_with_it_does_not():
    waves = torch.zeros(8, 8000)
    waves[:, 100:1100] = torch.randn(8, 1000)
    labels = torch.arange(8) % 2
    given = {}
    for shift in (False, True):
        trainer = train.Trainer("audionet", "gender", Schedule(0.0001, 10, 1, shift=shift), TrainConfig(batch_size=8),
                                waves, labels)
        def recorded(w, shift=shift, inputs=trainer.inputs):
            given[shift] = w.clone()
            return inputs(w)

        trainer.inputs = recorded
        trainer.step()
    assert (train.spans(given[False])[0] == 100).all()
    assert (train.spans(given[True])[0] != 100).any()
    assert torch.equal(given[True].sort(1).values, given[False].sort(1).values)  # the same samples, moved

@pytest.mark.parametrize("model, task, recipe", [
    ("alexnet", "digits", {}),
    ("audionet", "gender", {}),
    ("audionet", "gender", {"init": "glorot", "optimizer": "adam", "shift": "true"}),
])
def test_interrupted_run_resumes_to_identical_weights(env, monkeypatch, model, task, recipe):
    profile = str(tiny_profile(env, **recipe))
    _runs(env, "straight", monkeypatch)
    straight = open_run(profile, "synthetic")
    steps.train_profile(straight, model, task, 0, "cpu", progress=False)

    _runs(env, "resumed", monkeypatch)
    resumed = open_run(profile, "synthetic")
    with monkeypatch.context() as m:
        _interrupt_at(m, 3)  # checkpoint at 2, iteration 3 done and lost
        with pytest.raises(KeyboardInterrupt):
            steps.train_profile(resumed, model, task, 0, "cpu", progress=False)
    folder = steps.run_dir(resumed, model, task, 0)
    assert torch.load(folder / steps.training.CHECKPOINT, weights_only=True)["iteration"] == 2
    assert not (folder / steps.training.RESULT).exists()
    log = []
    steps.train_profile(resumed, model, task, 0, "cpu", progress=False, log=log.append)
    assert any("resuming at iteration 2" in line for line in log)
    assert any("iteration 4/6, validation accuracy" in line for line in log)  # no bar: a line per validation
    _assert_identical(_states(straight, model, task), _states(resumed, model, task))
    lines = (folder / steps.training.METRICS_LINES).read_text().splitlines()
    assert [json.loads(line)["iteration"] for line in lines] == [2, 4, 6]


def test_kill_9_then_resume_gives_identical_weights(env, monkeypatch):
    # Validation every 3 iterations, checkpoints every 2: a resume restores the running
    # training loss of the current validation window too.
    profile = str(tiny_profile(env, "long", iterations=16, eval_every=3))
    _runs(env, "straight", monkeypatch)
    straight = open_run(profile, "synthetic")
    steps.train_profile(straight, "alexnet", "digits", 0, "cpu", progress=False)

    _runs(env, "killed", monkeypatch)
    killed = open_run(profile, "synthetic")
    folder = steps.run_dir(killed, "alexnet", "digits", 0)
    child = subprocess.Popen(
        [sys.executable, "-m", "audiomnist_core.cli", "train", "--profile", profile, "--data", "synthetic",
         "--model", "alexnet", "--task", "digits", "--fold", "0", "--device", "cpu"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while not (folder / steps.training.CHECKPOINT).exists():
            assert child.poll() is None and time.monotonic() < deadline, "the child ended before its first checkpoint"
            time.sleep(0.05)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait()
    assert child.returncode == -signal.SIGKILL
    assert not (folder / steps.training.RESULT).exists(), "the child finished before it was killed"
    steps.train_profile(killed, "alexnet", "digits", 0, "cpu", progress=False, log=lambda _: None)
    _assert_identical(_states(straight, "alexnet", "digits"), _states(killed, "alexnet", "digits"))
    assert not list(folder.glob(".*.part"))


def test_corrupt_newest_checkpoint_falls_back_to_previous(env, monkeypatch):
    profile = str(tiny_profile(env))
    _runs(env, "straight", monkeypatch)
    straight = open_run(profile, "synthetic")
    steps.train_profile(straight, "audionet", "gender", 0, "cpu", progress=False)

    _runs(env, "damaged", monkeypatch)
    damaged = open_run(profile, "synthetic")
    with monkeypatch.context() as m:
        _interrupt_at(m, 5)  # checkpoints at 2 (previous) and 4 (newest)
        with pytest.raises(KeyboardInterrupt):
            steps.train_profile(damaged, "audionet", "gender", 0, "cpu", progress=False)
    folder = steps.run_dir(damaged, "audionet", "gender", 0)
    newest = folder / steps.training.CHECKPOINT
    newest.write_bytes(newest.read_bytes()[: newest.stat().st_size // 2])  # half-written
    log = []
    steps.train_profile(damaged, "audionet", "gender", 0, "cpu", progress=False, log=log.append)
    assert any(str(newest) in line and "corrupt" in line for line in log)
    assert any("resuming at iteration 2" in line for line in log)
    _assert_identical(_states(straight, "audionet", "gender"), _states(damaged, "audionet", "gender"))


def test_corrupt_only_checkpoint_is_one_clear_error(env, monkeypatch, capsys):
    profile = str(tiny_profile(env))
    with monkeypatch.context() as m:
        _interrupt_at(m, 3)
        with pytest.raises(KeyboardInterrupt):
            steps.train_profile(open_run(profile, "synthetic"), "alexnet", "digits", 0, "cpu", progress=False)
    folder = steps.run_dir(open_run(profile, "synthetic"), "alexnet", "digits", 0)
    (folder / steps.training.CHECKPOINT).write_bytes(b"not a checkpoint")
    capsys.readouterr()
    rc = cli.main(["train", "--profile", profile, "--data", "synthetic", "--model", "alexnet", "--task", "digits"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 1
    assert len(err) == 1 and str(folder / steps.training.CHECKPOINT) in err[0] and "delete it" in err[0]
    assert "Traceback" not in err[0]


def test_checkpoint_and_model_files_hold_only_plain_data(env):
    run = open_run(str(tiny_profile(env, select="best_val")), "synthetic")
    steps.train_profile(run, "alexnet", "digits", 0, "cpu", progress=False)
    folder = steps.run_dir(run, "alexnet", "digits", 0)
    ckpt = torch.load(folder / steps.training.CHECKPOINT, weights_only=True)
    assert {"model", "optimizer", "sampler", "iteration", "metrics", "best", "key"} <= set(ckpt)
    assert ckpt["iteration"] == 6 and isinstance(ckpt["sampler"]["generator"], torch.Tensor)
    model = torch.load(folder / steps.training.MODEL, weights_only=True)
    assert model["mean"].shape == (227, 227)  # the spectrogram model's training mean travels with it
    result = json.loads((folder / steps.training.RESULT).read_text())
    best = max(result["validation"], key=lambda r: r["val_accuracy"])  # the first of equal maxima
    assert result["select"] == "best_val" and result["tested_iteration"] == best["iteration"]
    assert torch.equal(model["model"]["classifier.1.weight"], ckpt["best"]["model"]["classifier.1.weight"])
    assert not (folder / steps.training.PREVIOUS).exists()


def test_load_model_predict_and_logits(env):
    run = open_run(str(tiny_profile(env)), "synthetic")
    net = steps.load_model(run, "audionet", "gender", 0, log=lambda _: None)  # trains it first
    assert not net.training
    test = steps.fold_data(run, "gender", 0).test
    out = train.logits(net, "audionet", test, batch_size=7)
    assert out.shape == (len(test), 2)
    assert torch.allclose(out, train.logits(net, "audionet", test.waves, batch_size=100), atol=1e-4, rtol=1e-4)
    assert torch.equal(train.predict(net, "audionet", test, batch_size=7), out.argmax(1))
    result = json.loads((steps.run_dir(run, "audionet", "gender", 0) / steps.training.RESULT).read_text())
    accuracy = 100.0 * (out.argmax(1) == test.gender).float().mean().item()
    assert result["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert sum(map(sum, result["confusion"])) == result["n_test"] == len(test)


def test_missing_or_corrupt_model_file(env):
    run = open_run(str(tiny_profile(env)), "synthetic")
    with pytest.raises(AudiomnistError, match="no finished training.*audiomnist train"):
        steps.load_model(run, "alexnet", "digits", 0, train=False)
    steps.train_profile(run, "alexnet", "digits", 0, "cpu", progress=False)
    path = steps.run_dir(run, "alexnet", "digits", 0) / steps.training.MODEL
    path.write_bytes(b"garbage")
    with pytest.raises(AudiomnistError, match=f"{path}: corrupt model file.*delete"):
        steps.load_model(run, "alexnet", "digits", 0)
    path.unlink()
    with pytest.raises(AudiomnistError, match=f"{path}: missing"):
        steps.load_model(run, "alexnet", "digits", 0)


def test_changed_profile_leaves_finished_run_untouched(env):
    path = tiny_profile(env)
    run = open_run(str(path), "synthetic")
    steps.train_profile(run, "alexnet", "digits", 0, "cpu", progress=False)
    result = steps.run_dir(run, "alexnet", "digits", 0) / steps.training.RESULT
    before = result.read_text()
    tiny_profile(env, lr=0.01)
    with pytest.raises(AudiomnistError, match="another configuration.*delete the folder"):
        steps.train_profile(open_run(str(path), "synthetic"), "alexnet", "digits", 0, "cpu", progress=False)
    assert result.read_text() == before


def test_table1_sample_std_over_finished_folds(env):
    run = open_run(str(tiny_profile(env, folds="[0, 1, 2, 3]")), "synthetic")
    for fold, accuracy in zip((0, 1, 3), (90.0, 92.0, 97.0)):  # fold 2 unfinished
        folder = steps.run_dir(run, "alexnet", "digits", fold)
        save_json(folder / steps.training.RESULT, {"model": "alexnet", "task": "digits", "fold": fold, "test_accuracy": accuracy,
                                          "key": steps.run_key(run, "alexnet", "digits"),
            "stamp": steps.training.made_now(run)})
        (folder / steps.training.MODEL).write_bytes(b"")
    rows = report.table1(run)
    assert len(rows) == 1  # audionet/gender has no finished fold
    row = rows[0]
    assert set(row) == {"model", "task", "data", "profile", "folds", "accuracy", "mean", "std", "paper_mean", "paper_std",
                        "did_not_learn", "did_not_learn_reason"}
    assert row["did_not_learn"] == [] and row["did_not_learn_reason"] is None
    assert row["folds"] == [0, 1, 3] and row["accuracy"] == [90.0, 92.0, 97.0]
    assert row["mean"] == pytest.approx(93.0)
    assert row["std"] == pytest.approx(((9 + 1 + 16) / 2) ** 0.5)  # sample std, ddof = 1
    assert (row["paper_mean"], row["paper_std"]) == (95.82, 1.49)
    text = report.format_table1(rows)
    assert "93.00 ± 3.61" in text and "95.82 ± 1.49" in text and "-2.82" in text
    assert "| alexnet | spectrogram | digits | 3 |" in report.format_table1(rows, markdown=True)


def result_code(run) -> str:
    """The code hash that every finished result of ``run`` records (they agree)."""
    (code,) = {json.loads(p.read_text())["stamp"]["code"] for p in run.path("train").glob("*/result.json")}
    return code


def result_at(task: str, val_accuracy: float, chance: float | None = None, fold: int = 0) -> dict:
    r = {"model": "audionet", "task": task, "fold": fold, "test_accuracy": val_accuracy, "iterations": 600,
         "classes": list(steps.training.CLASS_NAMES[task]), "validation": [{"iteration": 600, "val_accuracy": val_accuracy}]}
    return r if chance is None else r | {"chance_accuracy": chance}


def test_a_run_near_chance_did_not_learn():
    assert train.chance_accuracy(torch.tensor([0, 1, 1, 1]), 2) == 75.0
    assert train.chance_accuracy(torch.arange(10).repeat(3), 10) == pytest.approx(10.0)
    # digits: chance 10 %, the line at 28 %; gender: chance 50 % (60 %), or the majority's share
    assert train.did_not_learn(result_at("digits", 14.7)) and not train.did_not_learn(result_at("digits", 40.0))
    assert train.did_not_learn(result_at("gender", 58.0)) and not train.did_not_learn(result_at("gender", 90.0))
    assert train.did_not_learn(result_at("gender", 70.0, chance=68.0))  # always "male" on a 68 % male set
    assert "DID NOT LEARN" in train.learning_verdict(result_at("digits", 14.7)) and train.learning_verdict(result_at("digits", 90.0)) == ""


def test_under_select_best_the_kept_iterate_decides_whether_a_run_learnt():
    late = result_at("digits", 14.7) | {"validation": [{"iteration": 300, "val_accuracy": 80.0},
                                                       {"iteration": 600, "val_accuracy": 14.7}], "tested_iteration": 300}
    assert train.did_not_learn(late | {"select": "final"})  # the final iterate is the one tested
    assert not train.did_not_learn(late | {"select": "best_val"})  # the kept one, at 80 %, learnt
    collapsed = late | {"validation": [{"iteration": 300, "val_accuracy": 12.0}, {"iteration": 600, "val_accuracy": 80.0}]}
    assert train.did_not_learn(collapsed | {"select": "best_val"})  # a tested iterate near chance is flagged
    assert "best (iteration 300) validation accuracy 12.0 %" in train.learning_verdict(collapsed | {"select": "best_val"})
    assert "final validation accuracy 14.7 %" in train.learning_verdict(late | {"select": "final"})


def test_table1_and_the_runs_table_flag_a_run_that_did_not_learn(env):
    run = open_run(str(tiny_profile(env, folds="[0, 1]")), "synthetic")
    for fold, accuracy in ((0, 14.7), (1, 91.0)):
        folder = steps.run_dir(run, "alexnet", "digits", fold)
        save_json(folder / steps.training.RESULT, result_at("digits", accuracy, fold=fold) | {
            "model": "alexnet", "key": steps.run_key(run, "alexnet", "digits"),
            "stamp": steps.training.made_now(run)})
        (folder / steps.training.MODEL).write_bytes(b"")
    (row,) = report.table1(run)
    assert row["did_not_learn"] == [0] and "fold 0 DID NOT LEARN" in row["did_not_learn_reason"]
    for text in (report.format_table1([row]), report.format_table1([row], markdown=True)):
        assert "DID NOT LEARN: fold 0" in text and "14.7 % against 10.0 % by chance" in text
    runs = report.format_runs([result_at("digits", 14.7) | {"model": "alexnet", "n_train": 1, "n_validation": 1, "n_test": 1,
                                                            "tested_iteration": 600, "select": "final", "train_seconds": 60, "device": "cpu"}])
    assert "14.70 (did not learn)" in runs


# --- bad input through the CLI ------------------------------------------------------------

def _cli(capsys, *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    rc = cli.main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_cli_fold_out_of_range(env, capsys):
    open_run("smoke", "synthetic")  # the corpus first: its synthesis reports progress on stderr
    capsys.readouterr()
    rc, _, err = _cli(capsys, "train", "--profile", "smoke", "--data", "synthetic", "--model", "alexnet", "--task", "digits", "--fold", "7")
    assert rc == 1 and "fold 7 is out of range" in err and len(err.strip().splitlines()) == 1


def test_cli_unknown_profile_key(env, capsys):
    path = env / "bad.yaml"
    path.write_text("train:\n  bogus: 1\n")
    rc, _, err = _cli(capsys, "train", "--profile", str(path), "--data", "synthetic")
    assert rc == 1 and str(path) in err and "unknown key 'bogus'" in err and len(err.strip().splitlines()) == 1


def test_cli_task_the_corpus_cannot_support_is_not_run_with_its_reason(env, capsys):
    from audiomnist_core.data import synthesize

    root = env / "six"
    synthesize(root, speakers=6, reps=1, seed=0, progress=False)  # 3 female + 3 male speakers
    rc, _, err = _cli(capsys, "train", "--profile", "smoke", "--data", str(root), "--model", "audionet", "--task", "gender")
    assert rc == 0 and err.strip().splitlines() == [
        "gender task: not run: the gender task needs at least 4 female and 4 male speakers for 4 balanced groups; "
        "the corpus has 3 female and 3 male"]
    assert not list((env / "runs").rglob("result.json"))


# --- a corpus with one gender -------------------------------------------------------------

def one_gender(folder: Path, write_metadata) -> Path:
    """A corpus of 5 male speakers (metadata and a short file each)."""
    from corpora import write_roster

    return write_roster(folder, [1, 2, 3, 4, 5])


def test_the_gender_task_of_a_one_gender_corpus_is_skipped_once_with_its_reason(env, write_metadata):
    run = open_run(str(tiny_profile(env, folds="[0, 1]")), str(one_gender(env / "male", write_metadata)))
    reason = steps.skipped_tasks(run)["gender"]
    assert "the corpus has 0 female and 5 male" in reason
    assert steps.training_runs(run) == [("alexnet", "digits", 0), ("alexnet", "digits", 1)]
    assert steps.training_runs(run, task="gender") == [] and steps.training_runs(run, "audionet", "gender", 0) == []
    lines: list[str] = []
    steps.train_profile(run, task="gender", log=lines.append)
    steps.train_profile(run, "audionet", "gender", 0, log=lines.append)
    assert lines == [f"gender task: not run: {reason}"] * 2
    with pytest.raises(AudiomnistError, match="0 female and 5 male"):  # asked for directly, it says why
        steps.fold_data(run, "gender", 0)


def test_table1_has_a_row_per_skipped_run_with_its_reason(env, write_metadata, capsys):
    root = one_gender(env / "male", write_metadata)
    run = open_run("smoke", str(root))
    folder = steps.run_dir(run, "alexnet", "digits", 0)
    save_json(folder / steps.training.RESULT, {"model": "alexnet", "task": "digits", "fold": 0, "test_accuracy": 80.0,
                                      "key": steps.run_key(run, "alexnet", "digits"),
            "stamp": steps.training.made_now(run)})
    (folder / steps.training.MODEL).write_bytes(b"")
    rc, out, _ = _cli(capsys, "table1", "--profile", "smoke", "--data", str(root), "--json")
    rows = json.loads(out)["rows"]
    reason = steps.skipped_tasks(run)["gender"]
    assert rc == 0 and [(r["model"], r["task"]) for r in rows] == [("alexnet", "digits"), ("alexnet", "gender"), ("audionet", "gender")]
    assert rows[0]["mean"] == 80.0 and "skipped" not in rows[0]
    for r in rows[1:]:
        assert r["mean"] is None and r["std"] is None and r["skipped"] == reason
        assert r["folds"] == [] and r["accuracy"] == []
        assert (r["paper_mean"], r["paper_std"]) == paper.TABLE1[(r["model"], "gender")]
    for text in (report.format_table1(rows), report.format_table1(rows, markdown=True)):
        assert text.count(reason) == 1 and text.count("not run") == 3  # twice in the table, once before the reason
    assert "| alexnet | spectrogram | gender | 0 | not run | 95.87 ± 2.85 | – |" in report.format_table1(rows, markdown=True)
    rc, out, _ = _cli(capsys, "table1", "--profile", "smoke", "--data", str(root))
    assert rc == 0 and f"gender task not run: {reason}" in out


def test_table1_bars_draw_a_skipped_row_without_ours(env, write_metadata):
    import matplotlib

    matplotlib.use("Agg")
    from audiomnist_core.plots import training as plots

    run = open_run("smoke", str(one_gender(env / "male", write_metadata)))
    rows = report.table1(run)
    fig = plots.table1_bars(rows)
    ax = fig.axes[0]
    heights = [bar.get_height() for bar in ax.patches]
    assert len(heights) == 2 * len(rows) and all(h != h for h in heights[: len(rows)])  # ours: NaN, not drawn
    assert [t.get_text() for t in ax.texts] == ["not run"] * len(rows)


def test_cli_no_schedule_for_the_run(env, capsys):
    rc, _, err = _cli(capsys, "train", "--profile", str(tiny_profile(env)), "--data", "synthetic", "--model", "audionet", "--task", "digits")
    assert rc == 1 and "no entry for 'audionet/digits'" in err


# --- the smoke profile end to end ---------------------------------------------------------

def test_cli_smoke_profile_trains_then_table1(env, capsys):
    rc, _, err = _cli(capsys, "train", "--profile", "smoke", "--data", "synthetic")
    assert rc == 0, err
    run = open_run("smoke", "synthetic")
    pairs = [("alexnet", "digits"), ("alexnet", "gender"), ("audionet", "digits"), ("audionet", "gender")]
    for model, task in pairs:
        folder = steps.run_dir(run, model, task, 0)
        result = json.loads((folder / steps.training.RESULT).read_text())
        assert 0.0 <= result["test_accuracy"] <= 100.0
        assert len(result["confusion"]) == len(result["classes"]) == (10 if task == "digits" else 2)
        assert result["stamp"]["profile"] == "smoke" and result["stamp"]["data"] == "synthetic"
        assert result["stamp"]["fit"] == {"fit": "error", "recordings": 300, "trimmed": 0, "cropped": 0,
                                          "seconds_before": result["stamp"]["fit"]["seconds_before"],
                                          "seconds_trimmed": 0.0, "seconds_cropped": 0.0}
        iterations, every = run.config.train.schedules[f"{model}/{task}"].iterations, run.config.train.eval_every
        assert len((folder / steps.training.METRICS_LINES).read_text().splitlines()) == len(range(every, iterations + 1, every))

    mtimes = {p: p.stat().st_mtime_ns for p in run.path("train").rglob("*") if p.is_file()}
    rc, _, err = _cli(capsys, "train", "--profile", "smoke", "--data", "synthetic")
    assert rc == 0 and err.count("already complete") == 4
    assert {p: p.stat().st_mtime_ns for p in run.path("train").rglob("*") if p.is_file()} == mtimes

    rc, out, _ = _cli(capsys, "table1", "--profile", "smoke", "--data", "synthetic", "--json")
    doc = json.loads(out)
    rows = doc["rows"]
    assert doc["stamp"]["code"] == result_code(run) and doc["stamp"]["profile"] == "smoke"
    assert rc == 0 and [(r["model"], r["task"]) for r in rows] == pairs
    for r in rows:
        assert r["data"] == "synthetic" and r["profile"] == "smoke" and r["folds"] == [0] and r["std"] == 0.0
        assert r["mean"] == r["accuracy"][0]
        result = json.loads((steps.run_dir(run, r["model"], r["task"], 0) / steps.training.RESULT).read_text())
        assert r["did_not_learn"] == ([0] if train.did_not_learn(result) else [])
        assert (r["paper_mean"], r["paper_std"]) == paper.TABLE1[(r["model"], r["task"])]
    rc, out, _ = _cli(capsys, "table1", "--profile", "smoke", "--data", "synthetic")
    assert rc == 0 and "paper (%)" in out and "95.87 ± 2.85" in out


def test_schedules_table_sets_each_recipe_beside_the_papers():
    from types import SimpleNamespace

    from audiomnist_core.config import load_profile

    table = report.format_schedules(SimpleNamespace(config=load_profile("quick"))).splitlines()
    assert table[0].startswith("| model / task | learning rate |") and "optimiser, init" in table[0]
    rows = {line.split("|")[1].strip(): line for line in table[2:]}
    assert set(rows) == {"alexnet/digits", "alexnet/gender", "audionet/digits", "audionet/gender"}
    assert "0.01 (0.001)" in rows["alexnet/digits"] and "SGD, original (SGD, original)" in rows["alexnet/digits"]
    assert "0.0005 (0.0001)" in rows["audionet/digits"] and "Adam, glorot (SGD, original)" in rows["audionet/digits"]


def test_a_run_another_process_trains_is_not_touched(env):
    import socket

    run = open_run(str(tiny_profile(env)), "synthetic")
    folder = steps.run_dir(run, "alexnet", "digits", 0)
    folder.mkdir(parents=True)
    lock = folder / steps.training.LOCK
    lock.write_text(f"{socket.gethostname()} {os.getpid()}\n")  # a live process of this host
    with pytest.raises(steps.Busy, match=f"{lock}: alexnet-digits-fold0 is being trained by process {os.getpid()}"):
        steps.ensure_trained(run, "alexnet", "digits", 0, "cpu", progress=False)
    log = []
    steps.train_profile(run, "alexnet", "digits", 0, "cpu", progress=False, log=log.append)
    assert log == [f"alexnet/digits fold 0: skipped: {lock}: alexnet-digits-fold0 is being trained by process "
                   f"{os.getpid()} on {socket.gethostname()}; wait for it to finish, or delete the lock if that process is gone"]
    assert sorted(p.name for p in folder.iterdir()) == [steps.training.LOCK]  # nothing written beside the lock
    lock.write_text(f"another-host {os.getpid()}\n")  # another host: cannot tell, reported
    with pytest.raises(steps.Busy, match="another-host"):
        steps.ensure_trained(run, "alexnet", "digits", 0, "cpu", progress=False)


def test_a_lock_left_by_a_killed_process_is_taken_over_and_released(env):
    import socket

    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    run = open_run(str(tiny_profile(env)), "synthetic")
    folder = steps.run_dir(run, "audionet", "gender", 0)
    folder.mkdir(parents=True)
    (folder / steps.training.LOCK).write_text(f"{socket.gethostname()} {gone.pid}\n")
    assert steps.ensure_trained(run, "audionet", "gender", 0, "cpu", progress=False).is_file()
    assert not (folder / steps.training.LOCK).exists() and not list(folder.glob(".*.tmp"))


def test_the_run_key_of_the_paper_recipe_is_what_it_was_before_the_recipe_fields(env):
    # Artifacts trained before `init` and `optimizer` existed (hours of a GPU) must stay valid:
    # at the paper's recipe the key is unchanged. Changing it invalidates every trained run.
    # The smoke profile as it was then: the clean synthetic corpus, the original waveform scaling.
    old_smoke = yaml.safe_load(profile_path("smoke").read_text())
    old_smoke["data"]["synth_style"] = "clean"
    old_smoke["preprocess"]["waveform_norm"] = "original"
    (env / "old-smoke.yaml").write_text(yaml.safe_dump(old_smoke | {"name": "smoke"}))
    smoke = open_run(str(env / "old-smoke.yaml"), "synthetic")
    assert steps.run_key(smoke, "alexnet", "digits") == "1447d1039fb1"
    glorot = open_run(str(tiny_profile(env, init="glorot")), "synthetic")
    adam = open_run(str(tiny_profile(env, optimizer="adam")), "synthetic")
    paper_recipe = open_run(str(tiny_profile(env)), "synthetic")
    keys = {steps.run_key(r, "audionet", "gender") for r in (glorot, adam, paper_recipe)}
    assert len(keys) == 3
