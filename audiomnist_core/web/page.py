"""The "Your voice, explained" section of the published page: its HTML (``static/voice.html``)
around ``static/voice.js``, which loads the networks that :func:`steps.voice.export_web` wrote
only when the reader asks."""
from __future__ import annotations

import html
import json
import shutil
import uuid
from pathlib import Path
from string import Template

STATIC = Path(__file__).with_name("static")
SCRIPTS = ("voice.js", "voice.css")  # copied beside the exported networks
# Where the built book serves the networks and the scripts, relative to a chapter's page
# (book/07_voice.html -> _static/voice/).
PAGE_BASE = "../_static/voice/"
MODEL_NAMES = {"audionet": "AudioNet", "alexnet": "AlexNet"}


def copy_scripts(out: Path) -> None:
    """Put :data:`SCRIPTS` into ``out`` (the folder of the exported networks)."""
    for name in SCRIPTS:
        shutil.copyfile(STATIC / name, Path(out) / name)


def runs_label(manifest: dict) -> str:
    """Which networks the section runs, for the label next to the record button:
    ``AudioNet and AlexNet for digits and gender, trained by profile 'quick' on the audiomnist
    corpus, fold 0``; on the synthetic corpus, that they have heard espeak voices, not people."""
    pairs = [name.split("/") for name in manifest["models"]]
    models = " and ".join(dict.fromkeys(MODEL_NAMES[m] for m, _ in pairs))
    tasks = " and ".join(dict.fromkeys(t for _, t in pairs))
    corpus = "SYNTHETIC" if manifest["synthetic"] else manifest["data"]
    text = (f"Runs {models} for {tasks}, trained by profile '{manifest['profile']}' on the {corpus} corpus, "
            f"fold {manifest['fold']}.")
    if manifest["synthetic"]:
        text += " These networks have heard only espeak's synthetic voices, not people: expect them to misjudge yours."
    return text


def section_html(manifest: dict, base: str = PAGE_BASE) -> str:
    """The section: record (1.5 s, level meter), drop or choose a file, or pick a test recording;
    then per model x task the prediction, probabilities, relevance map and players. ``base``:
    the URL of the exported folder relative to the page. The manifest (without its stamp) is
    embedded, so that the page fetches nothing before the reader asks."""
    c = manifest["preprocess"]
    runs = (f"The recording is resampled to {c['sample_rate'] // 1000} kHz, fitted into one second by the profile's rule "
            f"(preprocess.fit: {c['fit']}; a longer recording has its silence trimmed and its loudest second kept) and "
            "centred in the networks' one-second input, where training placed each recording at a random offset. "
            "Everything runs in this page: nothing you record leaves your computer.")
    # the manifest travels with the page, so that nothing is fetched before the reader asks
    embedded = json.dumps({k: v for k, v in manifest.items() if k not in ("stamp", "key")}).replace("</", "<\\/")
    return Template((STATIC / "voice.html").read_text()).substitute(
        manifest=embedded,
        id=f"audiomnist-voice-{uuid.uuid4().hex[:8]}", base=html.escape(base, quote=True),
        runs=html.escape(runs), label=html.escape(runs_label(manifest)),
        waiting=html.escape("This section runs on the book's published page, which serves the networks. Where its "
                            "buttons find nothing to load (Jupyter, Colab), the cells below explain a recording with Python."),
    )
