"""Reading AudioMNIST's layout: the metadata's quirks, the index of recordings, read_wav's checks."""
from __future__ import annotations

import json

import numpy as np
import soundfile as sf
import pytest

from audiomnist_core.data import CorpusError, index_recordings, read_metadata, read_wav

META = "audioMNIST_meta.txt"


def entry(age, gender="male", room="vr-room"):
    return {
        "accent": "German", "age": age, "gender": gender, "native speaker": "no",
        "origin": "Europe, Germany, Berlin", "recordingdate": "17-09-11-12-07-04", "recordingroom": room,
    }


def write_meta(folder, meta):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / META).write_text(json.dumps(meta) if not isinstance(meta, str) else meta)
    return folder / META


def test_metadata_quirks_of_the_real_file(tmp_path):
    """Speaker 01's age is an int, 45's the placeholder "1234", rooms spelled several ways."""
    write_meta(tmp_path / "data", {
        "01": entry(30, room="Kino"),
        "12": entry("26", gender="female", room="VR-Room"),
        "45": entry("1234"),
        "52": entry("34", gender="female", room="vr-romm"),
    })
    speakers = read_metadata(tmp_path)
    assert list(speakers) == [1, 12, 45, 52]
    assert (speakers[1].age, speakers[12].age, speakers[45].age, speakers[52].age) == (30, 26, None, 34)
    assert [s.gender for s in speakers.values()] == ["male", "female", "male", "female"]
    assert speakers[52].recording_room == "vr-romm" and speakers[1].recording_room == "Kino"
    assert speakers[1].native_speaker == "no" and speakers[1].origin == "Europe, Germany, Berlin"
    assert read_metadata(tmp_path / "data") == speakers  # the root or its data/ folder


def test_old_copy_without_speakers_17_22_34(tmp_path):
    ids = [i for i in range(1, 61) if i not in (17, 22, 34)]
    write_meta(tmp_path / "data", {f"{i:02d}": entry("25") for i in ids})
    assert list(read_metadata(tmp_path)) == ids


@pytest.mark.parametrize(
    "content, match",
    [
        ('{"01": {"gender": "male",', "not valid JSON"),
        ("[]", "non-empty JSON object"),
        ('{"01": {"gender": "robot"}}', "speaker 01 has gender 'robot'"),
        ('{"x1": {"gender": "male"}}', "'x1'"),
    ],
    ids=["bad-json", "not-object", "bad-gender", "bad-key"],
)
def test_broken_metadata_names_the_file(tmp_path, content, match):
    path = write_meta(tmp_path / "data", content)
    with pytest.raises(CorpusError, match=match) as e:
        read_metadata(tmp_path)
    assert str(e.value).startswith(f"{path}: ") and "\n" not in str(e.value)


def test_missing_metadata_names_the_file(tmp_path):
    (tmp_path / "data").mkdir()
    with pytest.raises(CorpusError, match="metadata file is missing") as e:
        read_metadata(tmp_path)
    assert str(tmp_path / "data" / META) in str(e.value)


def test_index_recordings_sorted_and_filtered(tmp_path, write_wav):
    folder = tmp_path / "data"
    for name in ["1_02_0.wav", "0_02_10.wav", "0_02_9.wav", "0_01_3.wav"]:
        write_wav(folder / name.split("_")[1] / name)
    write_wav(folder / "02" / "0_03_1.wav")  # another speaker's name in folder 02
    write_wav(folder / "02" / "zero.wav")
    (folder / "02" / "notes.txt").write_text("3_19 was copied\n")
    (folder / "misc").mkdir()
    write_wav(folder / "misc" / "0_01_0.wav")
    recs = index_recordings(tmp_path)
    assert [(r.speaker, r.digit, r.rep) for r in recs] == [(1, 0, 3), (2, 0, 9), (2, 0, 10), (2, 1, 0)]
    assert recs[2].path == folder / "02" / "0_02_10.wav"


def test_read_wav_keeps_the_int16_scale(tmp_path, write_wav):
    x = np.array([0, 1000, -32768, 32767, 5], dtype=np.int16)
    path = write_wav(tmp_path / "a.wav", x.astype(np.float64) / 32768, rate=48_000)
    samples, rate = read_wav(path)
    assert rate == 48_000 and samples.dtype == np.float32 and samples.shape == (5,)
    np.testing.assert_array_equal(samples, x.astype(np.float32))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"channels": 2}, "2 channels"),
        ({"subtype": "PCM_U8"}, "PCM_U8"),
        ({"subtype": "PCM_24"}, "PCM_24"),
        ({"subtype": "FLOAT"}, "FLOAT"),
        ({"seconds": 0}, "empty"),
        ({"format": "FLAC"}, "not a wav file"),
    ],
    ids=["stereo", "8-bit", "24-bit", "float", "no-samples", "flac"],
)
def test_read_wav_rejects_other_formats(tmp_path, write_wav, kwargs, match):
    path = write_wav(tmp_path / "bad.wav", **kwargs)
    with pytest.raises(CorpusError, match=match) as e:
        read_wav(path)
    assert str(e.value).startswith(f"{path}: ")


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b"plain text, not audio\n", "not a readable wav file")],
    ids=["zero-bytes", "text"],
)
def test_read_wav_rejects_unreadable_files(tmp_path, content, message):
    path = tmp_path / "bad.wav"
    path.write_bytes(content)
    with pytest.raises(CorpusError, match=message) as e:
        read_wav(path)
    assert str(e.value).startswith(f"{path}: ")


def test_read_wav_rejects_a_truncated_file(tmp_path):
    # libsndfile would read the samples that are there; the header's size betrays the cut
    path = tmp_path / "0_01_0.wav"
    sf.write(str(path), np.zeros(4800, dtype=np.int16), 48000, subtype="PCM_16")
    path.write_bytes(path.read_bytes()[:-1000])
    with pytest.raises(CorpusError, match="truncated") as e:
        read_wav(path)
    assert str(e.value).startswith(f"{path}: ")


# --- the dataset chapter's examples (issue 20) -----------------------------------------------

def _summary(takes: dict[int, dict[int, list[int]]]):
    """A :class:`CorpusSummary` of ``{speaker: {digit: [repetitions]}}`` (no files needed)."""
    from pathlib import Path

    from audiomnist_core.data import CorpusSummary, Recording

    recordings = sorted((Recording(Path(f"{s:02d}/{d}_{s:02d}_{r}.wav"), s, d, r)
                         for s, digits in takes.items() for d, reps in digits.items() for r in reps),
                        key=lambda r: (r.speaker, r.digit, r.rep))
    return CorpusSummary(speakers={}, recordings=recordings, seconds=np.ones(len(recordings)), sample_rates={8000: len(recordings)})


def test_examples_are_the_first_repetition_a_speaker_has_of_each_digit():
    summary = _summary({3: {d: [1, 2, 5] if d != 4 else [3, 7] for d in range(10)}, 5: {d: [0] for d in range(9)}})
    picked = summary.examples()  # repetitions from 1, with gaps, and "4" only from 3
    assert [(r.speaker, r.digit, r.rep) for r in picked] == [(3, d, 3 if d == 4 else 1) for d in range(10)]
    nine = summary.examples(5)  # a speaker without a "9" shows the nine it has
    assert [r.digit for r in nine] == list(range(9)) and {r.rep for r in nine} == {0}


def test_examples_prefer_the_speaker_with_the_most_digits_and_name_a_missing_one():
    summary = _summary({2: {d: [4] for d in range(8)}, 7: {d: [1] for d in range(9)}, 9: {d: [1] for d in range(9)}})
    assert {r.speaker for r in summary.examples()} == {7}  # no one has all ten: the lowest id of the most
    with pytest.raises(CorpusError, match=r"speaker 04: has no recordings in the corpus; it has speakers \[2, 7, 9\]"):
        summary.examples(4)
    with pytest.raises(CorpusError, match="the corpus has no recordings"):
        _summary({}).examples()
