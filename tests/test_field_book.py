"""Corpora shaped like field recordings, end to end (issues 12 and 20).

The field corpus of ``conftest`` (16 kHz, low-level noise around each word, ragged repetitions)
and the odd corpus (its male speakers only, at 22.05 and 44.1 kHz, repetitions numbered from 1
with gaps, a speaker without a "7"): the fixtures' own shape, then the whole book built on the
odd corpus (every odd shape that ``data verify`` accepts at once) with a smoke-sized profile
that sets ``preprocess.fit: trim_crop`` (built once per session, a few minutes on 2 cores;
``-m "not book"`` leaves it out), and ``fit: error`` stopping at the first recording that does
not fit.
"""
from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import soundfile as sf
import yaml

from corpora import FIELD_RATE, FIELD_REPS, NOISE_LEVEL, NOISE_SECONDS, ODD, RAGGED

from audiomnist_core.runs import repo_root

ROOT = repo_root()
CHAPTERS = ("book/01_dataset", "book/02_training", "book/03_relevance", "book/04_manipulations", "book/05_beyond",
            "book/06_benchmark", "book/07_voice")
NOTICE = "The gender task is not run on this corpus:"


def takes(root: Path) -> Counter:
    """Recordings per (speaker, digit)."""
    return Counter((p.parent.name, p.name.split("_")[0]) for p in (root / "data").rglob("*.wav"))


def digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


# --- the fixture ---------------------------------------------------------------------------

def test_field_corpus_is_16k_with_noise_around_each_word(field_corpus, synth_corpus_8reps):
    files = sorted((field_corpus / "data").rglob("*.wav"))
    assert files
    for path in files[:: max(1, len(files) // 40)]:
        info = sf.info(str(path))
        assert (info.samplerate, info.channels, info.subtype) == (FIELD_RATE, 1, "PCM_16")
        source = sf.info(str(synth_corpus_8reps / "data" / path.parent.name / path.name))
        extra = info.duration - source.duration
        assert NOISE_SECONDS[0] - 0.01 <= extra <= NOISE_SECONDS[1] + 0.01, path
        x, _ = sf.read(str(path))
        edge = int(0.05 * FIELD_RATE)  # the first and last 50 ms are the added noise alone
        assert max(x[:edge].std(), x[-edge:].std()) < 1.2 * NOISE_LEVEL[1], path
    assert sum(sf.info(str(p)).duration > 1.0 for p in files) > len(files) // 2  # most need fitting


def test_field_corpus_has_ragged_repetitions(field_corpus):
    counts = takes(field_corpus)
    first = min(s for s, _ in counts)
    assert {d: counts[(first, str(d))] for d in RAGGED} == RAGGED  # 3 takes of "0", 8 of "1"
    assert 1 <= min(counts.values()) and max(counts.values()) == FIELD_REPS
    assert len(set(counts.values())) > 3
    for (speaker, digit), n in counts.items():  # repetitions are numbered 0..n-1
        reps = sorted(int(p.stem.split("_")[2]) for p in (field_corpus / "data" / speaker).glob(f"{digit}_*.wav"))
        assert reps == list(range(n))


def repetitions(root: Path) -> dict[tuple[str, str], list[int]]:
    """The repetition numbers of each (speaker, digit), in order."""
    out: dict[tuple[str, str], list[int]] = {}
    for p in (root / "data").rglob("*.wav"):
        digit, _, rep = p.stem.split("_")
        out.setdefault((p.parent.name, digit), []).append(int(rep))
    return {k: sorted(v) for k, v in out.items()}


def test_the_odd_corpus_is_the_male_speakers_at_two_rates_from_repetition_1_with_gaps(field_corpus, odd_corpus):
    from audiomnist_core.data import read_metadata, verify

    both, male = read_metadata(field_corpus), read_metadata(odd_corpus)
    assert {sp.gender for sp in male.values()} == {"male"} and len(male) == 5
    assert set(male) == {s for s, sp in both.items() if sp.gender == "male"}
    speakers = sorted(p.name for p in (odd_corpus / "data").iterdir() if p.is_dir())
    lacking = (speakers[1], "7")  # ODD["missing"]: the second speaker has no "7"
    expected = {k: v for k, v in takes(field_corpus).items() if int(k[0]) in male and k != lacking}
    assert takes(odd_corpus) == expected and lacking not in takes(odd_corpus)
    gapped = [ODD["first_rep"] + t + t // 2 for t in range(FIELD_REPS)]  # 1, 2, 4, 5, 7, 8, 10, 11
    assert all(reps == gapped[:len(reps)] for reps in repetitions(odd_corpus).values())
    rates = {sf.info(str(next((odd_corpus / "data" / s).glob("*.wav")))).samplerate for s in speakers}
    assert rates == set(ODD["rates"])
    report = verify(odd_corpus, fit="trim_crop", progress=False)
    assert report.ok and {n.kind for n in report.notes} >= {"repetitions", "sample-rates", "fit"}


def test_field_corpus_is_deterministic_for_a_seed(synth_corpus_8reps, odd_corpus, make_field_corpus, tmp_path):
    again = make_field_corpus(synth_corpus_8reps, tmp_path / "again", genders=("male",), **ODD)
    assert digest(again) == digest(odd_corpus)
    other = make_field_corpus(synth_corpus_8reps, tmp_path / "other", genders=("male",), seed=1, **ODD)
    assert digest(other) != digest(odd_corpus)


# --- the book on it ------------------------------------------------------------------------

def field_profile(folder: Path, fit: str) -> Path:
    """The smoke profile with ``preprocess.fit`` set: what a user writes for their own corpus;
    chapters 05 and 06 on the fewest recordings and methods that show they run."""
    profile = yaml.safe_load((ROOT / "profiles" / "smoke.yaml").read_text())
    profile.setdefault("preprocess", {})["fit"] = fit
    profile["beyond"] = {**profile.get("beyond", {}), "fractions": [0.0, 0.01, 0.1], "max_per_fold": 4}  # the page reads 1 and 10 %
    profile["benchmark"] = {**profile.get("benchmark", {}), "methods": ["lrp", "random"], "max_per_fold": 4,
                            "randomization_items": 1}
    path = folder / f"smoke-{fit.replace('_', '-')}.yaml"
    path.write_text(yaml.safe_dump(profile, sort_keys=False))
    return path


BOOK_TIMEOUT = 1200  # s; a smoke book takes a few minutes on 2 cores


def environment(runs: Path) -> dict[str, str]:
    """Our environment with its own run store, and no profile or corpus of the caller's."""
    env = {**os.environ, "AUDIOMNIST_RUNS": str(runs), "PYTHONUNBUFFERED": "1"}
    for key in ("AUDIOMNIST_PROFILE", "AUDIOMNIST_DATA", "AUDIOMNIST_FIT"):
        env.pop(key, None)
    return env


def audiomnist(*args: str, runs: Path, timeout: float = BOOK_TIMEOUT) -> subprocess.CompletedProcess:
    """The ``audiomnist`` command in a subprocess, with its own run store."""
    return subprocess.run([sys.executable, "-m", "audiomnist_core.cli", *args], capture_output=True, text=True,
                          env=environment(runs), timeout=timeout)


def build(corpus: Path, folder: Path, fit: str = "trim_crop") -> dict:
    """``audiomnist book`` on ``corpus`` into ``folder/_build``; the pages' text and the log
    (also in ``folder/book.log``, for a build that fails or hangs)."""
    started = time.monotonic()
    log = folder / "book.log"
    with open(log, "w") as f:
        rc = subprocess.run([sys.executable, "-m", "audiomnist_core.cli", "book", "--profile", str(field_profile(folder, fit)),
                             "--data", str(corpus), "--output", str(folder)], stdout=f, stderr=subprocess.STDOUT,
                            env=environment(folder / "runs"), timeout=BOOK_TIMEOUT).returncode
    proc = subprocess.CompletedProcess([], rc, "", log.read_text())
    seconds = time.monotonic() - started
    html = folder / "_build" / "html"
    pages = {name: (html / f"{name}.html").read_text() for name in CHAPTERS if (html / f"{name}.html").is_file()}
    print(f"audiomnist book on {corpus.name}: {seconds:.0f} s", file=sys.stderr)
    return {"proc": proc, "pages": pages, "seconds": seconds, "html": html}


def text(page: str) -> str:
    """A page's visible text, roughly: tags dropped, whitespace collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", page).split())


@pytest.fixture(scope="session")
def odd_book(odd_corpus, tmp_path_factory) -> dict:
    return build(odd_corpus, tmp_path_factory.mktemp("odd-book"))


@pytest.mark.book
def test_the_book_builds_on_the_odd_corpus_and_says_once_per_chapter_that_it_has_one_gender(odd_book):
    proc = odd_book["proc"]
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert set(odd_book["pages"]) == set(CHAPTERS)
    assert f"[{len(CHAPTERS)}/{len(CHAPTERS)}] {CHAPTERS[-1].split('/')[1]}: done" in proc.stderr
    assert proc.stderr.count("NOTICE: the gender task is not run on this corpus") == 1
    reason = "the gender task needs at least 4 female and 4 male speakers for 4 balanced groups; the corpus has 0 female and 5 male"
    for name, page in odd_book["pages"].items():
        assert text(page).count(NOTICE) == 1, name
        assert reason in text(page), name
    pages = {name: text(page) for name, page in odd_book["pages"].items()}
    assert f"gender task not run: {reason}" in pages["book/02_training"]  # Table 1's note under its rows
    assert pages["book/02_training"].count("gender 0 not run") == 2  # Table 1's rows of both models
    assert "Figure 1: AlexNet" not in pages["book/03_relevance"]  # the gender sections are left out
    assert "Figure 2: AudioNet" not in pages["book/03_relevance"]
    assert "digit model" in pages["book/03_relevance"]
    assert "Frequency scaling (Section 3.3.1)" not in pages["book/04_manipulations"]
    assert "Zeroing samples (Section 3.3.2, Fig. 3)" in pages["book/04_manipulations"]
    assert "gender task" in pages["book/01_dataset"] and "digits task" in pages["book/01_dataset"]


@pytest.mark.book
def test_the_dataset_chapter_shows_the_first_repetition_each_speaker_has(odd_book):
    assert odd_book["proc"].returncode == 0, odd_book["proc"].stderr[-3000:]
    page = text(odd_book["pages"]["book/01_dataset"])
    # 01 has all ten digits, numbered from 1 (the glued values stand between tags: spaces around them)
    assert "each digit as speaker 01 (male) first says it in the corpus ( repetition 1 )" in page
    assert "22050 Hz" in page and "44100 Hz" in page
    for where in [odd_book["proc"].stderr, *odd_book["pages"].values()]:
        assert "speaker None" not in where and "Traceback" not in where


@pytest.mark.book
def test_fit_error_stops_the_book_with_one_line_naming_the_first_file(field_corpus, tmp_path):
    from audiomnist_core.data import index_recordings

    proc = audiomnist("book", "--profile", str(field_profile(tmp_path, "error")), "--data", str(field_corpus),
                      "--output", str(tmp_path), runs=tmp_path / "runs", timeout=600)
    assert proc.returncode == 1
    error = proc.stderr.strip().splitlines()[-1]
    assert error.startswith("audiomnist: error: ") and "Traceback" not in proc.stderr
    first = next(r.path for r in index_recordings(field_corpus) if sf.info(str(r.path)).duration > 1.0)
    assert str(first) in error and "trim_crop" in error, error
