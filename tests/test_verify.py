"""`verify`: a whole corpus passes; each planted problem is reported with its file; a corpus
shaped differently gets notes (problems under --strict); fit rules; the real partial sample;
the CLI contract."""
from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from audiomnist_core.cli import main
from audiomnist_core.data import CorpusError, read_metadata, verify
from audiomnist_core.data.verify import AUDIOMNIST, Shape
from audiomnist_core.errors import AudiomnistError

META = "audioMNIST_meta.txt"
SAMPLE_ENV = "AUDIOMNIST_SAMPLE"
SAMPLE_DEFAULT = Path("/work/shared/data/audiomnist-sample")


def own_shape(root, reps=2) -> Shape:
    """The exact shape of a corpus made by the fixtures: its metadata's speakers, ``reps`` per digit, 48 kHz."""
    return Shape("the test corpus", {s: sp.gender for s, sp in read_metadata(root).items()}, frozenset(range(reps)), 48_000)


def test_whole_synthetic_corpus_passes(synth_corpus):
    report = verify(synth_corpus, progress=False)
    assert report.ok, report.summary()
    assert report.notes == [] and report.problems == []
    assert (report.speakers, report.files, report.sample_rate) == (10, 200, 48_000)
    assert report.duplicates == []
    doc = json.loads(json.dumps(report.to_dict()))
    assert doc["ok"] is True and doc["problems"] == [] and doc["notes"] == [] and doc["root"] == str(synth_corpus)
    assert report.summary().splitlines() == [report.headline()]
    assert report.headline().startswith(f"{synth_corpus}: OK: 200 recordings of 10 speakers (5 male, 5 female) at 48 kHz")
    strict = verify(synth_corpus, strict=True, shape=own_shape(synth_corpus), progress=False)
    assert strict.ok and strict.notes == [], strict.summary()
    assert "the test corpus's shape (10 speakers x 10 digits x 2 repetitions, 48 kHz)" in strict.headline()


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


def _empty_speaker_folder(folder, write_wav):
    for path in (folder / "02").glob("*.wav"):
        path.unlink()
    return folder / "02", "missing"


def _folder_without_metadata(folder, write_wav):
    meta = json.loads((folder / META).read_text())
    del meta["05"]
    (folder / META).write_text(json.dumps(meta))
    return folder / "05", "metadata"


PLANTS = [
    _truncate, _empty, _no_samples, _not_wav, _flac, _stereo, _8bit, _24bit, _float, _too_long,
    _extra_name, _wrong_folder, _name_clash, _bad_json, _no_metadata, _bad_gender,
    _folder_without_metadata, _empty_speaker_folder,
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
    assert report.notes == [], report.summary()


# --- the corpus' shape: notes, or problems under strict ------------------------------------

def _wrong_rate(folder, write_wav):
    path = write_wav(_wav(folder), rate=44_100)
    return folder, "sample-rates", path, "sample-rate"


def _missing_rep(folder, write_wav):
    path = _wav(folder, 26, 3, 1)
    path.unlink()
    return folder / "26", "repetitions", path, "missing"


def _extra_rep(folder, write_wav):
    path = write_wav(_wav(folder, 2, 5, 7))
    return folder / "02", "repetitions", path, "extra"


def _listed_without_folder(folder, write_wav):
    shutil.rmtree(folder / "43")
    return folder, "speakers", folder, "missing"


SHAPE_PLANTS = [_wrong_rate, _missing_rep, _extra_rep, _listed_without_folder]


@pytest.mark.parametrize("plant", SHAPE_PLANTS, ids=lambda f: f.__name__.strip("_"))
def test_shape_difference_is_one_note_and_a_problem_under_strict(plant, corpus_copy, write_wav):
    shape = own_shape(corpus_copy)
    note_path, note_kind, problem_path, problem_kind = plant(corpus_copy / "data", write_wav)
    report = verify(corpus_copy, progress=False)
    assert report.ok and report.problems == [], report.summary()
    assert [(n.kind, n.path) for n in report.notes] == [(note_kind, str(note_path))], report.summary()
    assert report.summary().splitlines()[1] == report.notes[0].line()
    assert report.notes[0].line().startswith(f"note: {note_kind}: ")

    strict = verify(corpus_copy, strict=True, shape=shape, progress=False)
    assert not strict.ok and strict.notes == []
    assert [(p.kind, p.path) for p in strict.problems] == [(problem_kind, str(problem_path))], strict.summary()


def test_notes_name_what_differs(corpus_copy, write_wav):
    folder = corpus_copy / "data"
    write_wav(_wav(folder, 2, 5, 7))
    write_wav(_wav(folder, 1, 9, 1), rate=16_000)  # replaces a file: speaker 01 keeps its repetitions
    shutil.rmtree(folder / "43")
    report = verify(corpus_copy, progress=False)
    messages = {n.kind: n.message for n in report.notes}
    assert messages["repetitions"].startswith("21 recordings; per digit 0-9: 2 2 2 2 2 3 2 2 2 2")
    assert "usual count is 2" in messages["repetitions"]
    assert messages["sample-rates"].startswith("recordings at several rates (180 at 48000 Hz, 1 at 16000 Hz)")
    assert messages["speakers"] == f"speakers in {META} without recordings: 43 (1 of 10; a partial corpus)"
    assert report.absent_speakers == [43] and report.listed_speakers == 10
    assert "the metadata lists 10 speakers, 1 without recordings: 43" in report.headline()


def test_duplicate_is_a_warning_naming_both_files(corpus_copy):
    folder = corpus_copy / "data" / "36"
    original, copy = folder / "3_36_0.wav", folder / "3_36_1.wav"
    shutil.copyfile(original, copy)
    report = verify(corpus_copy, progress=False)
    assert report.ok, report.summary()
    assert [d.paths for d in report.duplicates] == [(str(original), str(copy))]
    assert report.to_dict()["duplicates"][0]["paths"] == [str(original), str(copy)]
    assert f"{copy} identical to {original}" in report.summary()


def test_many_missing_files_of_one_speaker_are_one_line_under_strict(corpus_copy):
    for path in list((corpus_copy / "data" / "02").glob("*.wav"))[:15]:
        path.unlink()
    report = verify(corpus_copy, strict=True, shape=own_shape(corpus_copy), progress=False)
    assert [(p.kind, p.path) for p in report.problems] == [("missing", str(corpus_copy / "data" / "02"))]
    assert "holds 5 of 20" in report.problems[0].message


def test_audiomnist_roster_is_held_to_its_known_shape_under_strict(tmp_path, make_noise_corpus):
    """60 speakers with AudioMNIST's ids and 1 repetition: a valid corpus; --strict wants 50."""
    root = make_noise_corpus(tmp_path / "c", speakers=range(1, 61), reps=1, seconds=0.01)
    report = verify(root, progress=False)
    assert report.ok and report.notes == [], report.summary()
    assert report.shape == "its own shape"
    strict = verify(root, strict=True, progress=False)
    assert not strict.ok and strict.shape == AUDIOMNIST.describe() and strict.strict
    assert {p.kind for p in strict.problems} == {"missing"} and len(strict.problems) == 60
    assert "holds 10 of 500" in strict.problems[0].message
    # the text shows ten problems of a kind, then their count; --json carries every one
    text = strict.summary().splitlines()
    assert len(text) == 1 + 10 + 1 and text[-1] == "missing: ... and 50 more (--json lists every one)"
    assert len(strict.to_dict()["problems"]) == 60


def test_audiomnist_genders_and_rate_are_checked_under_strict(tmp_path, make_noise_corpus, write_wav):
    root = make_noise_corpus(tmp_path / "c", speakers=range(1, 61), reps=1, seconds=0.01)
    meta_path = root / "data" / META
    meta = json.loads(meta_path.read_text())
    meta["12"]["gender"] = "male"
    meta_path.write_text(json.dumps(meta))
    odd = write_wav(root / "data" / "07" / "3_07_0.wav", rate=16_000, seconds=0.01)
    assert verify(root, progress=False).ok  # a corpus of its own: any genders, any rates
    problems = verify(root, strict=True, progress=False).problems
    metadata = [p for p in problems if p.kind == "metadata"]
    assert len(metadata) == 1 and "speaker 12 is female in AudioMNIST" in metadata[0].message
    assert [p.path for p in problems if p.kind == "sample-rate"] == [str(odd)]


def test_corpus_at_another_rate_passes_and_majority_rate_rules(tmp_path, make_noise_corpus, write_wav):
    root = make_noise_corpus(tmp_path / "c", speakers=(1, 12), reps=2, rate=16_000)
    report = verify(root, progress=False)
    assert report.ok and report.notes == [] and report.sample_rate == 16_000
    write_wav(root / "data" / "12" / "9_12_1.wav", rate=8_000)
    report = verify(root, progress=False)
    assert report.ok and report.sample_rate == 16_000
    assert report.sample_rates == {16_000: 39, 8_000: 1}
    assert [n.kind for n in report.notes] == ["sample-rates"]
    assert "at 16 kHz and 8 kHz" in report.headline()


# --- a ragged corpus: one note per speaker, not one line per file ---------------------------

# repetitions per (speaker, digit): 5 unless listed here
RAGGED = {2: {1: 3, 7: 8}, 3: {d: 3 if d < 5 else 8 for d in range(10)}, 5: {9: 1}, 6: {2: 10}}
RAGGED_SPEAKERS = (1, 2, 3, 4, 5, 6, 12, 26)


def make_ragged_corpus(root, write_wav, write_metadata, seconds=0.3):
    """Speakers with 3 takes of one digit and 8 of another, and more: a valid corpus at 16 kHz."""
    folder = Path(root) / "data"
    write_metadata(folder, RAGGED_SPEAKERS)
    for s in RAGGED_SPEAKERS:
        for d in range(10):
            for r in range(RAGGED.get(s, {}).get(d, 5)):
                write_wav(folder / f"{s:02d}" / f"{d}_{s:02d}_{r}.wav", rate=16_000, seconds=seconds, seed=s * 1000 + d * 100 + r)
    return Path(root)


def test_ragged_corpus_passes_with_one_note_per_ragged_speaker(tmp_path, write_wav, write_metadata, capsys):
    root = make_ragged_corpus(tmp_path / "ragged", write_wav, write_metadata, seconds=0.05)
    report = verify(root, progress=False)
    assert report.ok, report.summary()
    assert [(n.kind, n.path) for n in report.notes] == [("repetitions", str(root / "data" / f"{s:02d}")) for s in sorted(RAGGED)]
    assert report.notes[0].message == "51 recordings; per digit 0-9: 5 3 5 5 5 5 5 8 5 5 (the corpus' usual count is 5)"
    assert report.summary().count("\n") == len(RAGGED)  # the headline and one line per ragged speaker

    assert main(["data", "verify", "--root", str(root)]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 1 + len(RAGGED)
    assert main(["data", "verify", "--root", str(root), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["problems"] == [] and len(doc["notes"]) == len(RAGGED)
    assert doc["notes"][1] == {"kind": "repetitions", "path": str(root / "data" / "03"),
                               "message": "55 recordings; per digit 0-9: 3 3 3 3 3 8 8 8 8 8 (the corpus' usual count is 5)"}
    # AudioMNIST's exact shape it is not
    assert main(["data", "verify", "--root", str(root), "--strict"]) == 1
    assert "checked against AudioMNIST's shape" in capsys.readouterr().out.splitlines()[0]


# --- the fit rule --------------------------------------------------------------------------

def _lengthen(folder, write_wav, seconds=(1.2, 1.5, 2.5)):
    return [write_wav(_wav(folder, 1, d, 0), seconds=s) for d, s in enumerate(seconds)]


def test_too_long_is_a_problem_only_under_error(corpus_copy, write_wav):
    long = _lengthen(corpus_copy / "data", write_wav)
    report = verify(corpus_copy, progress=False)
    assert [(p.kind, p.path) for p in report.problems] == [("too-long", str(p)) for p in long]
    assert "fit 'trim' or 'trim_crop'" in report.problems[0].message and report.fit == "error"
    for fit, says in [("trim", "cuts their leading and trailing silence; training stops on any still too long"),
                      ("trim_crop", "crops any still too long to its loudest second")]:
        report = verify(corpus_copy, fit=fit, progress=False)
        assert report.ok and report.fit == fit, report.summary()
        (note,) = report.notes
        assert note.kind == "fit" and note.path == str(corpus_copy / "data")
        assert note.message.startswith("3 recordings are longer than 8000 samples at 8000 Hz (longest 2.500 s: 2_01_0.wav)")
        assert says in note.message


def test_exactly_one_second_fits(corpus_copy, write_wav):
    write_wav(_wav(corpus_copy / "data"), seconds=1.0)
    assert verify(corpus_copy, progress=False).ok


def test_the_limit_is_8000_samples_at_the_profiles_sample_rate(corpus_copy, write_wav, tmp_path, capsys):
    path = write_wav(_wav(corpus_copy / "data"), seconds=0.9)  # fits 8000 samples at 8 kHz, not at 16 kHz
    assert verify(corpus_copy, progress=False).ok
    problems = verify(corpus_copy, sample_rate=16_000, progress=False).problems
    problem = next(p for p in problems if p.path == str(path))
    assert {p.kind for p in problems} == {"too-long"} and "0.900 s, more than the 8000 samples at 16000 Hz" in problem.message
    profile = tmp_path / "sixteen.yaml"
    profile.write_text((Path(__file__).resolve().parents[1] / "profiles" / "smoke.yaml").read_text()
                       .replace("preprocess:\n", "preprocess:\n  sample_rate: 16000\n"))
    assert main(["data", "verify", "--root", str(corpus_copy), "--profile", str(profile)]) == 1
    assert "8000 samples at 16000 Hz" in capsys.readouterr().out
    assert main(["data", "verify", "--root", str(corpus_copy), "--profile", "smoke"]) == 0


def test_unknown_fit_is_one_clear_error(synth_corpus, capsys):
    with pytest.raises(AudiomnistError, match="fit 'crop' is not a fit rule; use one of error, trim, trim_crop"):
        verify(synth_corpus, fit="crop", progress=False)
    assert main(["data", "verify", "--root", str(synth_corpus), "--fit", "crop"]) == 1
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err.count("\n") == 1 and "use one of error, trim, trim_crop" in captured.err


# --- the real partial sample ---------------------------------------------------------------

@pytest.fixture
def real_sample() -> Path:
    """The 47 real AudioMNIST recordings (``$AUDIOMNIST_SAMPLE``, else the shared copy)."""
    root = Path(os.environ.get(SAMPLE_ENV) or SAMPLE_DEFAULT)
    if not (root / "data" / META).is_file():
        pytest.skip(f"the real AudioMNIST sample is not at {root}; set {SAMPLE_ENV} to its folder")
    return root


def test_partial_audiomnist_says_what_is_there_in_its_first_line(real_sample, capsys):
    report = verify(real_sample, progress=False)
    assert report.ok, report.summary()
    assert (report.files, report.speakers, report.listed_speakers) == (47, 15, 60)
    assert report.genders == {"male": 12, "female": 3}
    present = {1, 2, 3, 5, 8, 10, 16, 23, 26, 32, 35, 42, 51, 52, 56}
    assert report.absent_speakers == sorted(set(range(1, 61)) - present)
    first = report.summary().splitlines()[0]
    assert first.startswith(f"{real_sample}: OK, 16 notes: 47 recordings of 15 speakers (12 male, 3 female) at 48 kHz; "
                            "the metadata lists 60 speakers, 45 without recordings: 04, 06-07, 09, 11-15, 17-22,")
    assert [n.kind for n in report.notes].count("speakers") == 1  # the absent speakers: one note, not 45
    assert len(report.summary().splitlines()) == 1 + len(present) + 1

    strict = verify(real_sample, strict=True, progress=False)
    assert not strict.ok and strict.notes == []
    assert strict.problems[0].line() == (
        f"missing: {real_sample / 'data'}: speakers of AudioMNIST without recordings: "
        "04, 06-07, 09, 11-15, 17-22, 24-25, 27-31, 33-34, 36-41, 43-50, 53-55, 57-60 (45 of 60)"
    )
    assert {p.kind for p in strict.problems} == {"missing"} and len(strict.problems) == 1 + len(present)

    assert main(["data", "verify", "--root", str(real_sample), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["absent_speakers"][:3] == [4, 6, 7] and doc["strict"] is False
    assert main(["data", "verify", "--root", str(real_sample), "--strict", "--json"]) == 1
    assert json.loads(capsys.readouterr().out)["strict"] is True


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
