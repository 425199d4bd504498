"""`verify`: a whole corpus passes; each planted problem is reported with its file; the CLI contract."""
from __future__ import annotations

import json
import shutil

import pytest

from audiomnist_core.cli import main
from audiomnist_core.data import CorpusError, verify

META = "audioMNIST_meta.txt"


def test_whole_synthetic_corpus_passes(synth_corpus):
    report = verify(synth_corpus, progress=False)
    assert report.ok, report.summary()
    assert (report.speakers, report.files, report.sample_rate) == (10, 200, 48_000)
    assert report.duplicates == []
    doc = json.loads(json.dumps(report.to_dict()))
    assert doc["ok"] is True and doc["problems"] == [] and doc["root"] == str(synth_corpus)
    assert "OK" in report.summary().splitlines()[0]


def _wav(folder, speaker=1, digit=0, rep=0):
    return folder / f"{speaker:02d}" / f"{digit}_{speaker:02d}_{rep}.wav"


def _truncate(folder, write_wav):
    path = _wav(folder)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path, "truncated"


def _empty(folder, write_wav):
    path = _wav(folder)
    path.write_bytes(b"")
    return path, "empty"


def _no_samples(folder, write_wav):
    return write_wav(_wav(folder), seconds=0), "empty"


def _not_wav(folder, write_wav):
    path = _wav(folder)
    path.write_text("this is not audio\n")
    return path, "unreadable"


def _flac(folder, write_wav):
    return write_wav(_wav(folder), format="FLAC"), "format"


def _stereo(folder, write_wav):
    return write_wav(_wav(folder), channels=2), "channels"


def _8bit(folder, write_wav):
    return write_wav(_wav(folder), subtype="PCM_U8"), "sample-format"


def _24bit(folder, write_wav):
    return write_wav(_wav(folder), subtype="PCM_24"), "sample-format"


def _float(folder, write_wav):
    return write_wav(_wav(folder), subtype="FLOAT"), "sample-format"


def _too_long(folder, write_wav):
    return write_wav(_wav(folder), seconds=1.01), "too-long"


def _wrong_rate(folder, write_wav):
    return write_wav(_wav(folder), rate=44_100), "sample-rate"


def _missing(folder, write_wav):
    path = _wav(folder, 26, 3, 1)
    path.unlink()
    return path, "missing"


def _extra_rep(folder, write_wav):
    return write_wav(_wav(folder, 2, 5, 7)), "extra"


def _extra_name(folder, write_wav):
    return write_wav(folder / "03" / "three.wav"), "extra"


def _wrong_folder(folder, write_wav):
    return write_wav(folder / "03" / "0_04_0.wav"), "extra"


def _name_clash(folder, write_wav):
    return write_wav(folder / "01" / "0_01_00.wav"), "name-clash"


def _bad_json(folder, write_wav):
    (folder / META).write_text('{"01": {"gender": "male",')
    return folder / META, "metadata"


def _no_metadata(folder, write_wav):
    (folder / META).unlink()
    return folder / META, "metadata"


def _bad_gender(folder, write_wav):
    meta = json.loads((folder / META).read_text())
    meta["04"]["gender"] = "robot"
    (folder / META).write_text(json.dumps(meta))
    return folder / META, "metadata"


def _listed_without_folder(folder, write_wav):
    shutil.rmtree(folder / "43")
    return folder / "43", "missing"


def _folder_without_metadata(folder, write_wav):
    meta = json.loads((folder / META).read_text())
    del meta["05"]
    (folder / META).write_text(json.dumps(meta))
    return folder / "05", "metadata"


PLANTS = [
    _truncate, _empty, _no_samples, _not_wav, _flac, _stereo, _8bit, _24bit, _float, _too_long, _wrong_rate,
    _missing, _extra_rep, _extra_name, _wrong_folder, _name_clash, _bad_json, _no_metadata, _bad_gender,
    _listed_without_folder, _folder_without_metadata,
]


@pytest.mark.parametrize("plant", PLANTS, ids=lambda f: f.__name__.strip("_"))
def test_planted_problem_is_named_with_its_file(plant, corpus_copy, write_wav):
    path, kind = plant(corpus_copy / "data", write_wav)
    report = verify(corpus_copy, progress=False)
    assert not report.ok
    found = [p for p in report.problems if p.path == str(path)]
    assert [p.kind for p in found] == [kind], report.summary()
    # nothing else is blamed: a single bad file does not flood the report
    assert len(report.problems) == 1, report.summary()
    assert str(path) in report.summary()


def test_duplicate_is_a_warning_naming_both_files(corpus_copy):
    folder = corpus_copy / "data" / "36"
    original, copy = folder / "3_36_0.wav", folder / "3_36_1.wav"
    shutil.copyfile(original, copy)
    report = verify(corpus_copy, progress=False)
    assert report.ok, report.summary()
    assert [d.paths for d in report.duplicates] == [(str(original), str(copy))]
    assert report.to_dict()["duplicates"][0]["paths"] == [str(original), str(copy)]
    assert f"{copy} identical to {original}" in report.summary()


def test_many_missing_files_of_one_speaker_are_one_line(corpus_copy):
    for path in (corpus_copy / "data" / "02").glob("*.wav"):
        path.unlink()
    report = verify(corpus_copy, progress=False)
    assert [(p.kind, p.path) for p in report.problems] == [("missing", str(corpus_copy / "data" / "02"))]
    assert "holds 0 of 20" in report.problems[0].message


def test_audiomnist_roster_is_held_to_its_known_shape(tmp_path, make_noise_corpus):
    """60 speakers with AudioMNIST's ids: 50 repetitions per digit are required, unless synthetic."""
    root = make_noise_corpus(tmp_path / "c", speakers=range(1, 61), reps=1, seconds=0.01)
    report = verify(root, progress=False)
    assert not report.ok and "AudioMNIST" in report.shape
    assert {p.kind for p in report.problems} == {"missing"} and len(report.problems) == 60
    assert "holds 10 of 500" in report.problems[0].message

    meta_path = root / "data" / META
    meta = json.loads(meta_path.read_text())
    for entry in meta.values():
        entry["recordingroom"] = "synthetic"  # how the synthetic corpus describes itself
    meta_path.write_text(json.dumps(meta))
    assert verify(root, progress=False).ok


def test_audiomnist_genders_are_checked(tmp_path, make_noise_corpus):
    root = make_noise_corpus(tmp_path / "c", speakers=range(1, 61), reps=1, seconds=0.01)
    meta_path = root / "data" / META
    meta = json.loads(meta_path.read_text())
    meta["12"]["gender"] = "male"
    meta_path.write_text(json.dumps(meta))
    problems = [p for p in verify(root, progress=False).problems if p.kind == "metadata"]
    assert len(problems) == 1 and "speaker 12 is female in AudioMNIST" in problems[0].message


def test_corpus_at_another_rate_passes_and_majority_rate_rules(tmp_path, make_noise_corpus, write_wav):
    root = make_noise_corpus(tmp_path / "c", speakers=(1, 12), reps=2, rate=16_000)
    assert verify(root, progress=False).ok
    odd = write_wav(root / "data" / "12" / "9_12_1.wav", rate=8_000)
    report = verify(root, progress=False)
    assert report.sample_rate == 16_000
    assert [(p.kind, p.path) for p in report.problems] == [("sample-rate", str(odd))]


def test_root_may_be_the_data_folder_itself(synth_corpus):
    assert verify(synth_corpus / "data", progress=False).ok


def test_missing_root_is_an_error(tmp_path):
    with pytest.raises(CorpusError, match="no such folder"):
        verify(tmp_path / "nowhere", progress=False)


# --- the CLI contract ----------------------------------------------------------------------

def test_cli_exit_codes_and_json(synth_corpus, corpus_copy, write_wav, capsys):
    assert main(["data", "verify", "--root", str(synth_corpus)]) == 0
    assert capsys.readouterr().out.startswith(f"{synth_corpus}: OK")

    assert main(["data", "verify", "--root", str(synth_corpus), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True

    bad, _ = _stereo(corpus_copy / "data", write_wav)
    assert main(["data", "verify", "--root", str(corpus_copy), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)  # one JSON document and nothing else on stdout
    assert doc["ok"] is False
    assert doc["problems"] == [{"kind": "channels", "path": str(bad), "message": "has 2 channels; mono is required"}]
    assert set(doc) >= {"root", "ok", "speakers", "files", "problems", "duplicates"}

    assert main(["data", "verify", "--root", str(corpus_copy)]) == 1
    assert f"channels: {bad}: has 2 channels" in capsys.readouterr().out


def test_cli_missing_root_is_one_line(tmp_path, capsys):
    assert main(["data", "verify", "--root", str(tmp_path / "nowhere")]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.strip().count("\n") == 0 and "no such folder" in captured.err
