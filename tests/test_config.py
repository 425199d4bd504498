"""Profiles: the shipped ones load; a bad one is one line naming the file and the key."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from audiomnist_core import cli
from audiomnist_core.config import PROFILES_DIR, Config, ConfigError, load_profile


@pytest.mark.parametrize("name", ["smoke", "quick", "paper"])
def test_shipped_profiles_load(name):
    cfg = load_profile(name)
    assert isinstance(cfg, Config) and cfg.name == name
    assert cfg.hash() == load_profile(PROFILES_DIR / f"{name}.yaml").hash()
    for run in cfg.train.runs:
        assert run in cfg.train.schedules


def test_profiles_differ_and_hash_stably():
    hashes = {name: load_profile(name).hash() for name in ("smoke", "quick", "paper")}
    assert len(set(hashes.values())) == 3
    assert hashes["smoke"] == load_profile("smoke").hash()


def write_profile(tmp_path: Path, edit) -> Path:
    """A copy of the smoke profile changed by ``edit(data)``."""
    data = yaml.safe_load((PROFILES_DIR / "smoke.yaml").read_text())
    edit(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


BAD = {
    "unknown top-level key": (lambda d: d.update(colour="red"), "colour"),
    "unknown nested key": (lambda d: d["train"].update(learning_rat=0.1), "learning_rat"),
    "wrong type": (lambda d: d["train"].update(batch_size="big"), "train.batch_size"),
    "bad value": (lambda d: d["preprocess"].update(resampler="linear"), "preprocess.resampler"),
    "out of range": (lambda d: d["data"].update(synth_speakers=61), "data.synth_speakers"),
    "missing schedule": (lambda d: d["train"]["schedules"].pop("alexnet/digits"), "alexnet/digits"),
    "unknown init": (lambda d: d["train"]["schedules"]["audionet/digits"].update(init="he"), "init"),
    "unknown optimizer": (lambda d: d["train"]["schedules"]["audionet/digits"].update(optimizer="rmsprop"), "optimizer"),
    "unknown attribution method": (lambda d: d.setdefault("explain", {}).update(method="saliency"), "explain.method"),
    "bad fraction": (lambda d: d["perturb"].update(fractions=[0.0, 1.5]), "perturb.fractions"),
    "unknown fit": (lambda d: d["preprocess"].update(fit="crop"), "preprocess.fit"),
    "bad trim_db": (lambda d: d["preprocess"].update(trim_db=-10), "preprocess.trim_db"),
    "removed length": (lambda d: d["preprocess"].update(length=8000), "preprocess.length"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_profile_names_the_file_and_the_key(tmp_path, case):
    edit, key = BAD[case]
    path = write_profile(tmp_path, edit)
    with pytest.raises(ConfigError) as err:
        load_profile(path)
    message = str(err.value)
    assert str(path) in message and key in message
    assert "\n" not in message


def test_unknown_profile_and_invalid_yaml(tmp_path):
    with pytest.raises(ConfigError, match="no such profile.*smoke"):
        load_profile("nonesuch")
    broken = tmp_path / "broken.yaml"
    broken.write_text("train: [unclosed\n")
    with pytest.raises(ConfigError, match="broken.yaml.*YAML"):
        load_profile(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="list.yaml"):
        load_profile(listed)


def test_cli_bad_profile_is_one_line_exit_1(tmp_path, capsys):
    path = write_profile(tmp_path, lambda d: d["train"].update(learning_rat=0.1))
    assert cli.main(["table1", "--profile", str(path), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and str(path) in captured.err and "learning_rat" in captured.err


def test_cli_bad_profile_in_a_fresh_process_has_no_traceback(tmp_path):
    path = write_profile(tmp_path, lambda d: d["preprocess"].update(resampler="linear"))
    result = subprocess.run(
        [sys.executable, "-m", "audiomnist_core.cli", "train", "--profile", str(path)],
        capture_output=True, text=True,
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and "preprocess.resampler" in lines[0]


def test_fields_added_later_enter_keys_only_when_they_leave_their_default():
    from audiomnist_core.config import Schedule, key_fields

    paper = key_fields(Schedule(0.001, 2500, 10_000, clip_norm=5.0))
    assert paper == {"learning_rate": 0.001, "lr_step": 2500, "iterations": 10_000, "lr_gamma": 0.5, "clip_norm": 5.0}
    assert key_fields(Schedule(0.001, 2500, 10_000, lr_gamma=0.5, init="glorot"))["init"] == "glorot"
    assert "optimizer" not in key_fields(Schedule(0.001, 2500, 10_000, init="glorot"))


def test_the_synthetic_style_has_one_default_and_old_runs_keep_their_keys():
    import inspect

    from audiomnist_core import cli
    from audiomnist_core.config import DEFAULT_SYNTH_STYLE, DataConfig, key_fields
    from audiomnist_core.data import synth

    assert DEFAULT_SYNTH_STYLE == "realistic" == DataConfig().synth_style
    for function in (synth.synthesize, synth.ensure_synthetic, synth.utterance):
        assert inspect.signature(function).parameters["style"].default == DEFAULT_SYNTH_STYLE
    assert cli.build_parser().parse_args(["data", "synth", "--root", "x"]).style == DEFAULT_SYNTH_STYLE
    # the clean corpus was the default when runs were keyed without the field: they stay clean runs
    assert "synth_style" not in key_fields(DataConfig(synth_style="clean"))
    assert key_fields(DataConfig(synth_style="realistic"))["synth_style"] == "realistic"


def test_fit_names_its_choices_and_length_says_why_it_left(tmp_path):
    with pytest.raises(ConfigError, match=r"preprocess\.fit must be one of error, trim, trim_crop, not 'crop'"):
        load_profile(write_profile(tmp_path, lambda d: d["preprocess"].update(fit="crop")))
    with pytest.raises(ConfigError, match=r"preprocess\.length: no longer a setting: the networks take 8000 samples"):
        load_profile(write_profile(tmp_path, lambda d: d["preprocess"].update(length=16000)))
    cfg = load_profile(write_profile(tmp_path, lambda d: d["preprocess"].update(fit="trim", trim_db=35)))
    assert (cfg.preprocess.fit, cfg.preprocess.trim_db) == ("trim", 35.0)


def test_with_fit_overrides_the_profile_and_rejects_unknown_modes():
    from audiomnist_core.config import FITS, with_fit

    smoke = load_profile("smoke")
    assert smoke.preprocess.fit == "error" and FITS == ("error", "trim", "trim_crop")
    assert with_fit(smoke, None) is smoke
    cropped = with_fit(smoke, "trim_crop")
    assert cropped.preprocess.fit == "trim_crop" and cropped.preprocess.resampler == smoke.preprocess.resampler
    assert cropped.hash() != smoke.hash()
    with pytest.raises(ConfigError, match="--fit: must be one of error, trim, trim_crop"):
        with_fit(smoke, "crop")


def test_the_fit_fields_enter_keys_only_off_their_default():
    from audiomnist_core.config import PreprocessConfig, key_fields

    assert "fit" not in key_fields(PreprocessConfig()) and "trim_db" not in key_fields(PreprocessConfig())
    assert key_fields(PreprocessConfig(fit="trim_crop", trim_db=40.0))["trim_db"] == 40.0


def test_cli_fit_override_is_documented_and_a_bad_one_is_one_line(capsys):
    for command in ("train", "book"):
        with pytest.raises(SystemExit):
            cli.main([command, "--help"])
        text = " ".join(capsys.readouterr().out.split())
        assert "--fit MODE" in text and "trim_crop" in text and "$AUDIOMNIST_FIT" in text
    assert cli.main(["table1", "--profile", "smoke", "--data", "synthetic", "--fit", "crop", "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "--fit: must be one of error, trim, trim_crop" in captured.err


def test_a_fit_override_reaches_the_run_its_folder_and_the_chapters(tmp_path, monkeypatch):
    from audiomnist_core.book.execute import fit_environment
    from audiomnist_core.runs import open_run

    monkeypatch.setenv("AUDIOMNIST_RUNS", str(tmp_path / "runs"))
    monkeypatch.delenv("AUDIOMNIST_FIT", raising=False)
    corpus = tmp_path / "mycorpus"
    corpus.mkdir()
    whole = open_run("smoke", str(corpus))
    assert whole.config.preprocess.fit == "error" and whole.root.name == "smoke-mycorpus"
    assert "fitted" not in whole.label()
    fitted = open_run("smoke", str(corpus), fit="trim_crop")
    assert fitted.config.preprocess.fit == "trim_crop" and fitted.root.name == "smoke-mycorpus-trim_crop"
    assert fitted.label().endswith("recordings fitted by trim_crop")
    with fit_environment("trim"):  # what `audiomnist book --fit trim` gives each chapter's open_run(PROFILE, DATA)
        assert open_run("smoke", str(corpus)).config.preprocess.fit == "trim"
    assert open_run("smoke", str(corpus)).config.preprocess.fit == "error"
    with fit_environment(None):
        assert "AUDIOMNIST_FIT" not in os.environ


def test_book_build_hands_its_fit_to_the_chapters(monkeypatch, tmp_path):
    from types import SimpleNamespace

    from audiomnist_core import book

    monkeypatch.delenv("AUDIOMNIST_FIT", raising=False)
    run = SimpleNamespace(profile="smoke", data="mine", corpus_root=tmp_path, root=tmp_path / "smoke-mine-trim_crop",
                          label=lambda: "profile 'smoke' on the mine corpus, recordings fitted by trim_crop")
    run.path = lambda *parts: run.root.joinpath(*parts)
    seen = {}
    monkeypatch.setattr(book, "open_run", lambda p, d, log, fit=None: seen.update(opened=fit) or run)
    monkeypatch.setattr("audiomnist_core.steps.skipped_tasks", lambda run: {}, raising=False)  # where the build asks

    def build_book(root, params, tag, **kwargs):
        seen.update(env=os.environ.get("AUDIOMNIST_FIT"), tag=tag)
        return tmp_path

    monkeypatch.setattr(book, "build_book", build_book)
    assert book.build("smoke", str(tmp_path), log=lambda *a, **k: None, root=tmp_path, fit="trim_crop") == 0
    assert seen == {"opened": "trim_crop", "env": "trim_crop", "tag": "smoke-mine-trim_crop"}
    assert "AUDIOMNIST_FIT" not in os.environ  # restored after the build
