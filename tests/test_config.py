"""Profiles: the shipped ones load; a bad one is one line naming the file and the key."""
from __future__ import annotations

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
