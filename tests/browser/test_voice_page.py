"""Chapter 07's section in a real browser: the page's preprocessing and networks against the
library's, and a recording through Chromium's fake microphone.

The page is the built book's chapter 07 (``make browser-test`` builds the smoke book), with the
networks its ``export-web`` wrote to ``_static/voice/``; the library's side is the run that the
export's manifest names. The time from "stop" to the shown explanation is measured on the fake
microphone and written to ``_build/page-weights.json`` beside the page weights.
"""
from __future__ import annotations

import json
from math import gcd
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from scipy.signal import resample_poly

from audiomnist_core.book import built_html
from audiomnist_core.data import read_wav
from audiomnist_core.runs import open_run
from audiomnist_core.steps import voice
from audiomnist_core.steps.folds import fold_data
from audiomnist_core.voice import PAGE_FIT, explain_inputs, network_inputs, prepare
from audiomnist_core.web.export import MIN_COSINE, MIN_TOP1, PROB_TOL, cosine, top_overlap
from audiomnist_core.web.page import runs_label

pytestmark = pytest.mark.browser
RECORDINGS = 20  # per model x task (issue 18)
INPUT_TOL = 1e-4  # the page's network inputs against Python's, relative to the input's peak


@pytest.fixture(scope="module")
def site(html, server, tmp_path_factory):
    """``(run, url of the chapter's page, manifest, fake microphone wav)``: the built book's
    chapter 07 and the run its export was made from (the manifest names it)."""
    path = html / "_static" / "voice" / "voice.json"
    if not path.is_file():
        pytest.skip(f"no export at {path}; the book's chapter 07 writes it")
    manifest = json.loads(path.read_text())
    data = "synthetic" if manifest["synthetic"] else manifest["stamp"]["corpus_root"]
    run = open_run(manifest["profile"], data, fit=manifest["preprocess"]["fit"], log=lambda *a, **k: None)
    mic = _fake_microphone_wav(run, tmp_path_factory.mktemp("voice") / "mic.wav")
    return run, f"{server}/book/07_voice.html", manifest, mic


def _fake_microphone_wav(run, path: Path) -> Path:
    """A test recording as Chromium's fake capture device plays it (from its start, looped):
    0.2 s of silence, the word, silence to 1.6 s, 48 kHz int16."""
    test = fold_data(run, "digits", 0).test
    samples, rate = read_wav(test.paths[3])
    x = np.zeros(int(1.6 * rate), dtype=np.float64)
    start = int(0.2 * rate)
    n = min(samples.size, x.size - start)
    x[start : start + n] = samples[:n] / 32768
    sf.write(str(path), x, rate, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def page(site, chromium, playwright, tmp_path_factory):
    """The chapter's page in Chromium with a fake microphone that plays ``mic.wav``; the
    console's errors and the page's uncaught exceptions collected in ``page.problems``."""
    _, url, _, mic = site
    executable, flags = chromium
    args = flags + ["--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream",
                            f"--use-file-for-fake-audio-capture={mic}", "--autoplay-policy=no-user-gesture-required"]
    context = playwright.chromium.launch_persistent_context(
        str(tmp_path_factory.mktemp("chromium-voice")), executable_path=str(executable),
        headless=True, args=args, viewport={"width": 1280, "height": 900},
    )
    tab = context.new_page()
    tab.problems = []
    tab.on("console", lambda m: tab.problems.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: tab.problems.append(str(e)))
    tab.goto(url)
    tab.wait_for_function("() => window.audiomnist && window.audiomnist.explain")
    yield tab
    context.close()


def _samples(path) -> tuple[list[float], int]:
    x, rate = read_wav(path)
    return x.astype(float).tolist(), rate


def _other_rates(run, folder: Path) -> list[Path]:
    """Synthetic recordings at 8, 11.025, 16, 22.05 and 44.1 kHz (test recordings resampled)."""
    test = fold_data(run, "digits", 0).test
    out = []
    for k, rate in enumerate((8000, 11025, 16000, 22050, 44100)):
        x, source = read_wav(test.paths[k])
        g = gcd(rate, source)
        y = resample_poly(x / 32768, rate // g, source // g)
        path = folder / f"rate{rate}.wav"
        sf.write(str(path), np.clip(y, -1, 1), rate, subtype="PCM_16")
        out.append(path)
    return out


def test_the_page_preprocesses_as_python(site, page, real_sample, tmp_path):
    run, _, manifest, _ = site
    models = {vm.name: vm for vm in voice.voice_models(run)}
    files = sorted((real_sample / "data").rglob("*.wav"))[:3] + _other_rates(run, tmp_path)
    for path in files:
        samples, rate = _samples(path)
        got = page.evaluate("([x, r]) => window.audiomnist.inputs(new Float64Array(x), r)", [samples, rate])
        prepared = prepare(*read_wav(path), run.config.preprocess, str(path))
        assert got["prepared"]["offset"] == prepared.offset and got["prepared"]["length"] == prepared.length, path
        for name, vm in models.items():
            expected = network_inputs(vm.model, prepared.wave[None], vm.mean, vm.norm).flatten().numpy()
            error = np.abs(np.array(got["inputs"][name]) - expected).max() / np.abs(expected).max()
            assert error <= INPUT_TOL, f"{path.name} {name}: relative difference {error:.2e}"
    assert page.problems == []


def test_the_page_explains_as_python(site, page):
    """On 20 test recordings: the same predictions, probabilities within 1e-3, relevance within
    a cosine of 0.99 and a top-1 % overlap of 90 % of explain.relevance."""
    run, _, manifest, _ = site
    models = voice.voice_models(run)
    paths = fold_data(run, "digits", 0).test.paths[:RECORDINGS]
    figures = {vm.name: {"cosine": [], "top1": [], "prob": [], "equal": 0} for vm in models}
    got = page.evaluate("""async (recordings) => { const all = [];
        for (const [x, r] of recordings) { const out = await window.audiomnist.explain(new Float64Array(x), r), plain = {};
          for (const k in out) plain[k] = {prediction: out[k].prediction, probabilities: Array.from(out[k].probabilities),
                                            relevance: Array.from(out[k].relevance)};
          all.push(plain); }
        return all; }""", [_samples(path) for path in paths])
    waves = np.stack([prepare(*read_wav(path), run.config.preprocess, str(path)).wave for path in paths])
    for vm in models:
        e = explain_inputs(vm.net, network_inputs(vm.model, waves, vm.mean, vm.norm), vm.composite)
        f = figures[vm.name]
        for i, g in enumerate(got):
            g = g[vm.name]
            f["equal"] += g["prediction"] == int(e.prediction[i])
            f["prob"].append(float(np.abs(np.array(g["probabilities"]) - e.probabilities[i].double().numpy()).max()))
            a, b = np.array([g["relevance"]]), e.relevance[i].reshape(1, -1).numpy()
            f["cosine"].append(float(cosine(a, b)[0]))
            f["top1"].append(float(top_overlap(a, b)[0]))
    summary = {k: {"recordings": len(paths), "predictions_equal": f["equal"], "max_probability_difference": max(f["prob"]),
                   "min_cosine": min(f["cosine"]), "min_top1_overlap": min(f["top1"]),
                   "storage": manifest["models"][k]["storage"]} for k, f in figures.items()}
    _record({"agreement": summary, "total_model_bytes": manifest["bytes"],
             "model_bytes": {k: m["bytes"] for k, m in manifest["models"].items()}})
    for name, s in summary.items():
        assert s["predictions_equal"] == len(paths), (name, s)
        assert s["max_probability_difference"] <= PROB_TOL and s["min_cosine"] >= MIN_COSINE and s["min_top1_overlap"] >= MIN_TOP1, (name, s)
    assert page.problems == []


def test_the_microphone_gets_the_prediction_of_the_file(site, page):
    """A digit through the fake microphone: the page's predictions are the library's on the
    samples it recorded, and those of the same samples given as a (float) WAV file; then a test recording."""
    run, _, manifest, mic = site
    root = page.locator(".audiomnist-voice")
    label = root.locator(".voice-label").inner_text()
    assert label == runs_label(manifest) and f"profile '{run.profile}'" in label and "fold 0" in label
    page.locator("[data-role=record]").click()
    page.wait_for_function("() => document.querySelector('.audiomnist-voice').dataset.state === 'done'", timeout=60_000)
    by_mic = page.evaluate("() => window.audiomnist.last")
    recorded = page.evaluate("() => ({x: Array.from(window.audiomnist.recorded.samples), rate: window.audiomnist.recorded.sampleRate})")
    prepared = prepare(np.array(recorded["x"]), recorded["rate"], run.config.preprocess, "the recording", longer=PAGE_FIT)
    for vm in voice.voice_models(run):  # the page's answer on what it recorded is the library's
        x = network_inputs(vm.model, prepared.wave[None], vm.mean, vm.norm)
        assert by_mic["predictions"][vm.name] == int(explain_inputs(vm.net, x, vm.composite).prediction[0]), vm.name
    shot = built_html().parent / "screenshots" / "voice-microphone.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    root.screenshot(path=str(shot))
    assert len(page.locator(".voice-card").all()) == len(manifest["models"])
    assert len(page.locator(".voice-card audio").all()) == 3 * len(manifest["models"])
    page.evaluate("() => { document.querySelector('.audiomnist-voice').dataset.state = 'idle'; window.audiomnist.last = null; }")
    # The same sound as a file: what the microphone recorded (the fake device loops mic.wav from
    # wherever it stands when recording starts, so the window need not hold the file's word whole).
    as_file = mic.with_name("recorded.wav")
    sf.write(str(as_file), np.array(recorded["x"]) / 32768, recorded["rate"], subtype="FLOAT")  # not rounded to 16 bits
    page.locator("[data-role=file]").set_input_files(str(as_file))
    page.wait_for_function("() => window.audiomnist.last && document.querySelector('.audiomnist-voice').dataset.state === 'done'")
    by_file = page.evaluate("() => window.audiomnist.last")
    assert by_mic["predictions"] == by_file["predictions"]
    page.evaluate("() => { document.querySelector('.audiomnist-voice').dataset.state = 'idle'; window.audiomnist.last = null; }")
    page.locator("[data-role=pick]").select_option("1")  # one of the book's test recordings
    page.locator("[data-role=pick-go]").click()
    page.wait_for_function("() => window.audiomnist.last && document.querySelector('.audiomnist-voice').dataset.state === 'done'")
    assert manifest["recordings"][1]["title"] and set(page.evaluate("() => window.audiomnist.last")["predictions"]) == set(manifest["models"])
    _record({"seconds_stop_to_explanation": {"microphone_first": by_mic["seconds"], "file_again": by_file["seconds"]},
             "seconds_per_network_file_again": by_file["modelSeconds"]})
    assert page.problems == []


def test_a_refused_microphone_says_so(site, chromium, playwright):
    """Without the fake prompt that grants it, the reader refuses the microphone: one sentence,
    the button off, the other choices still there."""
    _, url, _, _ = site
    executable, flags = chromium
    browser = playwright.chromium.launch(executable_path=str(executable), headless=True,
                                         args=flags + ["--use-fake-device-for-media-stream", "--deny-permission-prompts"])
    try:
        tab = browser.new_page()
        tab.goto(url)
        tab.locator("[data-role=record]").click()
        tab.wait_for_function("() => document.querySelector('[data-role=mic]').textContent.length > 0")
        text = tab.locator("[data-role=mic]").inner_text()
        assert tab.locator("[data-role=record]").is_disabled() and tab.locator("[data-role=file]").is_enabled()
    finally:
        browser.close()
    assert "refused" in text and "choose a file" in text


def _record(entry: dict) -> None:
    """Merge ``entry`` into the ``voice`` part of ``_build/page-weights.json``."""
    path = built_html().parent / "page-weights.json"
    doc = json.loads(path.read_text()) if path.is_file() else {}
    doc.setdefault("voice", {"note": "chapter 07's section of the built book, on the run its export names"}).update(entry)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
