"""Speaker folds: the paper's exact tables (SPEC, written out literally here), the CLI's JSON,
and the generic folds of other rosters."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from corpora import write_roster

from audiomnist_core import cli, splits
from audiomnist_core.data import synth
from audiomnist_core.splits import SplitError, folds, generic_folds, paper_folds

# SPEC.md, "Speaker splits", digit task
A = [1, 6, 7, 16, 19, 23, 28, 34, 35, 46, 53, 56]
B = [2, 8, 9, 17, 24, 29, 36, 37, 39, 48, 54, 57]
C = [3, 10, 14, 20, 25, 30, 38, 40, 43, 49, 55, 58]
D = [4, 11, 12, 15, 21, 27, 31, 41, 44, 47, 50, 59]
E = [5, 13, 18, 22, 26, 32, 33, 42, 45, 51, 52, 60]
DIGIT_TABLE = [  # split: train, validation, test
    (A + B + C, D, E),
    (B + C + D, E, A),
    (C + D + E, A, B),
    (D + E + A, B, C),
    (E + A + B, C, D),
]
# gender task: 3 female + 3 male per group
G1 = [36, 47, 56, 2, 44, 50]
G2 = [12, 26, 57, 25, 37, 45]
G3 = [28, 43, 52, 41, 48, 53]
G4 = [58, 59, 60, 7, 23, 38]
GENDER_TABLE = [
    (G1 + G2, G3, G4),
    (G2 + G3, G4, G1),
    (G3 + G4, G1, G2),
    (G4 + G1, G2, G3),
]
FEMALE = {12, 26, 28, 36, 43, 47, 52, 56, 57, 58, 59, 60}


def as_sets(table):
    return [tuple(frozenset(part) for part in split) for split in table]


def fold_sets(fs):
    return [(frozenset(f.train), frozenset(f.validation), frozenset(f.test)) for f in fs]


@pytest.mark.parametrize("task, table", [("digits", DIGIT_TABLE), ("gender", GENDER_TABLE)])
def test_paper_folds_are_the_spec_tables(task, table):
    assert fold_sets(paper_folds(task)) == as_sets(table)


def audiomnist_genders() -> dict[int, str]:
    return {s: "female" if s in FEMALE else "male" for s in range(1, 61)}


@pytest.mark.parametrize("task, table", [("digits", DIGIT_TABLE), ("gender", GENDER_TABLE)])
def test_a_corpus_with_audiomnists_roster_gets_the_paper_folds(task, table):
    assert fold_sets(folds(audiomnist_genders(), task, seed=123)) == as_sets(table)


def test_the_synthetic_60_speaker_roster_gets_the_paper_folds():
    voices = [synth.voice(s, seed=0) for s in synth.roster(60)]
    genders = {int(k): v["gender"] for k, v in synth.metadata(voices).items()}
    assert fold_sets(folds(genders, "digits")) == as_sets(DIGIT_TABLE)
    assert fold_sets(folds(genders, "gender")) == as_sets(GENDER_TABLE)


def expected_json(task: str, table) -> dict:
    return {"task": task, "folds": [{"train": sorted(t), "validation": sorted(v), "test": sorted(s)} for t, v, s in table]}


@pytest.mark.parametrize("task, table", [("digits", DIGIT_TABLE), ("gender", GENDER_TABLE)])
def test_cli_splits_json_is_exactly_the_spec(task, table):
    out = subprocess.run(
        [sys.executable, "-m", "audiomnist_core.cli", "data", "splits", "--task", task, "--json"],
        capture_output=True, text=True, check=True,
    )
    doc = json.loads(out.stdout)  # stdout holds the JSON document and nothing else
    assert list(doc) == ["task", "folds"]
    assert all(list(f) == ["train", "validation", "test"] for f in doc["folds"])
    assert all(type(s) is int for f in doc["folds"] for part in f.values() for s in part)
    assert {**doc, "folds": [{k: sorted(v) for k, v in f.items()} for f in doc["folds"]]} == expected_json(task, table)


def test_cli_splits_of_a_corpus_root(tmp_path, capsys):
    write_roster(tmp_path, [1, 2, 3, 4, 5, 6, 12, 26, 28, 36, 43, 47, 52, 56])
    assert cli.main(["data", "splits", "--task", "gender", "--root", str(tmp_path), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    expected = [f.to_dict() for f in generic_folds({s: "female" if s in FEMALE else "male" for s in
                                                   [1, 2, 3, 4, 5, 6, 12, 26, 28, 36, 43, 47, 52, 56]}, "gender", seed=0)]
    assert doc == {"task": "gender", "folds": expected}


def test_cli_splits_impossible_task_is_one_line(tmp_path, capsys):
    write_roster(tmp_path, [1, 2, 3, 4, 5])  # male only
    assert cli.main(["data", "splits", "--task", "gender", "--root", str(tmp_path), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "female" in captured.err and "Traceback" not in captured.err


def roster(n_female: int, n_male: int) -> dict[int, str]:
    return {**{100 + i: "female" for i in range(n_female)}, **{200 + i: "male" for i in range(n_male)}}


@pytest.mark.parametrize("task, n_folds", [("digits", 5), ("gender", 4)])
def test_generic_folds_are_speaker_disjoint_and_cover_each_split(task, n_folds):
    genders = roster(9, 14)
    fs = generic_folds(genders, task, seed=3)
    assert len(fs) == n_folds
    for f in fs:
        parts = [set(f.train), set(f.validation), set(f.test)]
        assert all(parts)
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2])
        assert set().union(*parts) <= set(genders)
    # every speaker used is tested exactly once over the folds
    tested = [s for f in fs for s in f.test]
    assert len(tested) == len(set(tested))
    if task == "digits":
        assert set(tested) == set(genders)


def test_generic_folds_are_deterministic_per_seed():
    genders = roster(8, 20)
    for task in ("digits", "gender"):
        assert generic_folds(genders, task, seed=5) == generic_folds(genders, task, seed=5)
        assert generic_folds(genders, task, seed=5) != generic_folds(genders, task, seed=6)


def test_generic_gender_folds_are_balanced():
    genders = roster(9, 30)
    for f in generic_folds(genders, "gender", seed=0):
        for part in (f.train, f.validation, f.test):
            n_female = sum(genders[s] == "female" for s in part)
            assert n_female == len(part) - n_female
    # every speaker of the rarer gender, and as many of the other
    used = [genders[s] for f in generic_folds(genders, "gender", seed=0) for s in f.test]
    assert used.count("female") == 9 and used.count("male") == 9


def test_one_gender_only_is_a_split_error():
    with pytest.raises(SplitError, match="female"):
        generic_folds(roster(0, 20), "gender")


@pytest.mark.parametrize("task, genders", [("digits", roster(2, 2)), ("gender", roster(3, 10))])
def test_too_few_speakers_is_a_split_error(task, genders):
    with pytest.raises(SplitError):
        generic_folds(genders, task)


def test_unknown_task_is_a_split_error():
    with pytest.raises(SplitError, match="task"):
        splits.paper_folds("age")


@pytest.mark.parametrize("genders, task, reason", [
    (roster(0, 20), "gender", "needs at least 4 female and 4 male speakers for 4 balanced groups; the corpus has 0 female and 20 male"),
    (roster(3, 10), "gender", "the corpus has 3 female and 10 male"),
    (roster(20, 0), "gender", "the corpus has 20 female and 0 male"),
    (roster(2, 2), "digits", "needs at least 5 speakers for 5 speaker-disjoint groups; the corpus has 4"),
])
def test_task_skip_reason_names_what_the_roster_lacks(genders, task, reason):
    got = splits.task_skip_reason(genders, task)
    assert got is not None and reason in got and "\n" not in got
    with pytest.raises(SplitError) as err:  # the folds raise exactly that reason
        generic_folds(genders, task)
    assert str(err.value) == got


@pytest.mark.parametrize("genders", [roster(4, 4), roster(9, 30), audiomnist_genders()])
def test_a_roster_that_can_be_split_has_no_skip_reason(genders):
    assert splits.skipped_tasks(genders) == {}
    assert all(splits.task_skip_reason(genders, task) is None for task in splits.TASKS)
    assert all(folds(genders, task) for task in splits.TASKS)


def test_skipped_tasks_of_a_corpus_with_one_gender():
    genders = roster(0, 6)
    assert splits.skipped_tasks(genders) == {"gender": splits.task_skip_reason(genders, "gender")}
    assert len(folds(genders, "digits")) == 5


def test_a_partial_corpus_is_split_among_the_speakers_present(real_sample, capsys):
    """The real sample: 15 of the metadata's 60 speakers have recordings (3 of them female). The
    digit folds are made of those 15, not of AudioMNIST's roster; the gender task is skipped."""
    from audiomnist_core.data import recorded_genders

    genders = recorded_genders(real_sample)
    assert len(genders) == 15 and sorted(s for s, g in genders.items() if g == "female") == [26, 52, 56]
    assert cli.main(["data", "splits", "--task", "digits", "--root", str(real_sample), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    used = {s for f in doc["folds"] for part in ("train", "validation", "test") for s in f[part]}
    assert used == set(genders)
    assert "female" in (splits.task_skip_reason(genders, "gender") or "")
