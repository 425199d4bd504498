"""Shared fixtures: small corpora made on the spot, and a writer of wav files of any format.

Only generic fixtures live here. Corpora are built in pytest's temporary folders; tests that
change a corpus work on their own copy (``corpus_copy``), never on the session one.
"""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from corpora import FIELD_REPS, ODD, SAMPLE_DEFAULT, SAMPLE_ENV, make_field_corpus, make_noise_corpus, write_metadata, write_wav


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "book: builds the whole book on a corpus (minutes; once per session)")
    if os.environ.get("PYTEST_XDIST_WORKER"):  # one of several workers (make unit): a thread each, theirs too
        import torch

        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


def pytest_collection_modifyitems(config, items) -> None:
    """The whole-book builds first: on several workers (make unit) the longest file then starts at
    once, instead of running alone at the end."""
    items.sort(key=lambda item: item.get_closest_marker("book") is None)


@pytest.fixture(scope="session")
def synth_corpus(tmp_path_factory) -> Path:
    """The synthetic corpus (10 speakers x 10 digits x 2 repetitions, seed 0), built once; do not modify."""
    from audiomnist_core.data import synthesize

    root = tmp_path_factory.mktemp("synthetic") / "corpus"
    synthesize(root, speakers=10, reps=2, seed=0, progress=False)
    return root


@pytest.fixture(scope="session")
def synth_corpus_8reps(tmp_path_factory) -> Path:
    """The synthetic corpus with :data:`FIELD_REPS` repetitions (10 speakers, 5 female), the
    source of the field corpora; built once per session."""
    from audiomnist_core.data import synthesize

    root = tmp_path_factory.mktemp("synthetic8") / "corpus"
    synthesize(root, speakers=10, reps=FIELD_REPS, seed=0, progress=False)
    return root


@pytest.fixture(scope="session")
def field_corpus(synth_corpus_8reps, tmp_path_factory) -> Path:
    """:func:`make_field_corpus` of 10 speakers (5 female, 5 male), seed 0, built once; do not modify."""
    return make_field_corpus(synth_corpus_8reps, tmp_path_factory.mktemp("field") / "field16k")


@pytest.fixture(scope="session")
def odd_corpus(synth_corpus_8reps, tmp_path_factory) -> Path:
    """:func:`make_field_corpus` of the 5 male speakers only, with every odd shape of
    :data:`corpora.ODD` (22.05 and 44.1 kHz, repetitions from 1 with gaps, a speaker without a
    "7"), seed 0, built once; do not modify."""
    return make_field_corpus(synth_corpus_8reps, tmp_path_factory.mktemp("field") / "odd-male", genders=("male",), **ODD)


@pytest.fixture
def corpus_copy(synth_corpus, tmp_path) -> Path:
    """A private copy of ``synth_corpus`` that a test may change."""
    return Path(shutil.copytree(synth_corpus, tmp_path / "corpus"))


@pytest.fixture(name="write_wav")
def write_wav_fixture():
    return write_wav


@pytest.fixture(name="write_metadata")
def write_metadata_fixture():
    return write_metadata


@pytest.fixture(name="make_noise_corpus")
def make_noise_corpus_fixture():
    return make_noise_corpus


@pytest.fixture(name="make_field_corpus")
def make_field_corpus_fixture():
    return make_field_corpus


@pytest.fixture(scope="session")
def real_sample() -> Path:
    """The 47 real AudioMNIST recordings and the full metadata (``$AUDIOMNIST_SAMPLE``, else the
    shared copy); tests that need it are skipped, with the reason, where it is absent. Read only."""
    root = Path(os.environ.get(SAMPLE_ENV) or SAMPLE_DEFAULT)
    if not (root / "data" / "audioMNIST_meta.txt").is_file():
        pytest.skip(f"the real AudioMNIST sample is not at {root}; set {SAMPLE_ENV} to its folder")
    return root


@pytest.fixture(scope="session")
def voice_tiny_run(synth_corpus, tmp_path_factory):
    """``(run, profile path)``: the tiny run of ``voice_run`` trained once on ``synth_corpus``
    (its own ``AUDIOMNIST_RUNS`` while a test uses it: set it with ``monkeypatch`` from ``run.root``)."""
    from voice_run import write_profile

    from audiomnist_core.runs import open_run
    from audiomnist_core.steps import train_profile

    root = tmp_path_factory.mktemp("voice")
    profile = write_profile(root)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AUDIOMNIST_RUNS", str(root / "runs"))
        run = open_run(str(profile), str(synth_corpus), log=lambda *a: None)
        train_profile(run, progress=False, log=lambda *a: None)
    return run, profile
