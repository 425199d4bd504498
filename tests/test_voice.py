"""``audiomnist explain`` and ``export-web``: one recording preprocessed as training does (but
centred), explained by the run's networks, and the networks with their LRP pass as ONNX."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from audiomnist_core import cli
from audiomnist_core.config import PreprocessConfig
from audiomnist_core.data import index_recordings, read_metadata, read_wav
from audiomnist_core.explain import make_composite, relevance
from audiomnist_core.models import build, network_input
from audiomnist_core.preprocess import load_signals
from audiomnist_core.steps import voice
from audiomnist_core.voice import VoiceError, centred_offset, prepare
from audiomnist_core.web.export import Agreement, agreement, cosine, export_explainer, onnx_bytes, run_onnx, top_overlap
from audiomnist_core.web.graph import ExplainGraph


@pytest.fixture
def tiny(voice_tiny_run, monkeypatch):
    """The tiny trained run of ``voice_run``, its run store in ``AUDIOMNIST_RUNS``."""
    run, profile = voice_tiny_run
    monkeypatch.setenv("AUDIOMNIST_RUNS", str(run.root.parent))
    return run, profile


# --- preprocessing one recording ----------------------------------------------------------------

def test_a_recording_gets_the_training_preprocessing_centred(real_sample, tmp_path):
    """The real sample through voice.prepare equals load_signals' clips (to float32 rounding),
    only placed in the middle."""
    cfg = PreprocessConfig()
    recordings = index_recordings(real_sample)[:12]
    genders = {s: sp.gender for s, sp in read_metadata(real_sample).items()}
    signals = load_signals(recordings, genders, cfg, tmp_path / "cache", progress=False)
    for i, r in enumerate(recordings):
        p = prepare(*read_wav(r.path), cfg, str(r.path))
        n, o = int(signals.lengths[i]), int(signals.offsets[i])
        assert p.length == n and p.offset == centred_offset(n) == (8000 - n) // 2
        expected = signals.waves[i, o : o + n].numpy()  # the same FFTs, batched: float32 rounding apart
        np.testing.assert_allclose(p.wave[p.offset : p.offset + n], expected, rtol=0, atol=1e-6 * np.abs(expected).max())
        assert not p.wave[: p.offset].any() and not p.wave[p.offset + n :].any()


@pytest.mark.parametrize("rate", [8000, 11025, 16000, 22050, 44100])
def test_other_rates_are_resampled_to_8khz(write_wav, tmp_path, rate):
    path = write_wav(tmp_path / "x.wav", rate=rate, seconds=0.5, seed=rate)
    samples, sr = read_wav(path)
    p = prepare(samples, sr, PreprocessConfig())
    assert sr == rate and p.length == int(np.ceil(samples.size * 8000 / rate)) and p.wave.shape == (8000,)
    if rate == 8000:
        np.testing.assert_array_equal(p.wave[p.offset : p.offset + p.length], samples)


def test_too_long_is_an_error_under_fit_error_and_cropped_under_trim_crop(write_wav, tmp_path):
    path = write_wav(tmp_path / "long.wav", rate=16000, seconds=1.4)
    samples, sr = read_wav(path)
    with pytest.raises(VoiceError, match=r"long\.wav: 1\.400 s exceed the networks' 1 s input .*fit: error.*trim_crop"):
        prepare(samples, sr, PreprocessConfig(), str(path))
    p = prepare(samples, sr, dataclasses.replace(PreprocessConfig(), fit="trim_crop"), str(path))
    assert p.length == 8000 and p.offset == 0 and p.cropped > 0


# --- the command line ---------------------------------------------------------------------------

def _explain(capsys, tiny, *args):
    run, profile = tiny
    code = cli.main(["explain", *map(str, args), "--profile", str(profile), "--data", str(run.corpus_root)])
    return code, capsys.readouterr()


@pytest.mark.parametrize("bad, expected", [
    ("missing", "cannot be read"), ("corrupt", "not a readable wav file"), ("empty", "is empty"),
    ("stereo", "has 2 channels; mono is required"), ("24bit", "sample format PCM_24"), ("long", "exceed the networks' 1 s input"),
])
def test_bad_input_is_one_clear_line(tiny, capsys, tmp_path, write_wav, bad, expected):
    path = tmp_path / f"{bad}.wav"
    if bad == "corrupt":
        path.write_bytes(b"RIFF1234WAVEjunk" * 4)
    elif bad == "empty":
        path.write_bytes(b"")
    elif bad == "stereo":
        write_wav(path, channels=2)
    elif bad == "24bit":
        write_wav(path, subtype="PCM_24")
    elif bad == "long":
        write_wav(path, seconds=1.3)
    code, out = _explain(capsys, tiny, path, "--json")
    assert code == 1 and out.out == ""
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0] and expected in lines[0], out.err


def test_explain_json_is_the_library_on_the_same_input(tiny, capsys, real_sample):
    run, _ = tiny
    wav = sorted((real_sample / "data").rglob("*.wav"))[0]
    code, out = _explain(capsys, tiny, wav, "--json")
    assert code == 0
    doc = json.loads(out.out)
    assert doc["fold"] == 0 and doc["stamp"]["profile"] == "voice-tiny" and doc["run"] == run.label()
    (entry,) = doc["files"]
    assert entry["file"] == str(wav) and set(entry["results"]) == {"alexnet/digits", "alexnet/gender", "audionet/digits", "audionet/gender"}
    prepared = prepare(*read_wav(wav), run.config.preprocess)
    assert entry["offset"] == prepared.offset and entry["length"] == prepared.length
    for name, r in entry["results"].items():
        model, task = name.split("/")
        vm = voice.voice_model(run, model, task)
        x = network_input(model, torch.from_numpy(prepared.wave[None]), vm.mean, run.config.preprocess.waveform_norm)
        assert r["shape"] == list(x.shape[1:])
        np.testing.assert_allclose(np.array(r["input"]), x.flatten().numpy(), rtol=1e-6, atol=1e-6)
        probs = np.array(r["probabilities"])
        assert probs.sum() == pytest.approx(1.0) and r["prediction"] == int(probs.argmax()) and r["label"] == vm.classes[r["prediction"]]
        expected = relevance(vm.net, x, r["prediction"], vm.composite)
        np.testing.assert_allclose(np.array(r["relevance"]), expected.flatten().numpy(), rtol=1e-5, atol=1e-6)


def test_explain_prints_a_line_per_model(tiny, capsys, real_sample):
    wav = sorted((real_sample / "data").rglob("*.wav"))[1]
    code, out = _explain(capsys, tiny, wav, "--model", "audionet")
    assert code == 0
    lines = out.out.strip().splitlines()
    assert lines[0].startswith(str(wav)) and len(lines) == 3
    assert all(line.strip().startswith("audionet/") and "probabilities" in line for line in lines[1:])


# --- the exportable LRP graph -------------------------------------------------------------------

@pytest.mark.parametrize("model", ["alexnet", "audionet"])
@pytest.mark.parametrize("composite", ["default", "epsilon_alpha2_beta1_flat"])
def test_the_graph_computes_explain_relevance(model, composite):
    torch.manual_seed(0)
    net = build(model, "digits", init="glorot").eval()
    shape = net.input_shape
    x = torch.randn(3, *shape) * (10.0 if model == "alexnet" else 1.0)
    if composite == "default":
        from audiomnist_core.explain import default_composite

        comp = default_composite(model, x.min() - 1, x.max() + 1)
    else:
        comp = make_composite(composite)
    with torch.no_grad():
        logits, rel = ExplainGraph(net, comp, shape)(x)
        expected_logits = net(x)
    expected = relevance(net, x, expected_logits.argmax(1), comp)
    torch.testing.assert_close(logits, expected_logits)
    scale = expected.abs().amax()
    assert float((rel - expected).abs().max() / scale) < 1e-4


def test_the_onnx_graph_agrees_with_torch(tiny):
    run, _ = tiny
    vm = voice.voice_model(run, "audionet", "gender")
    from audiomnist_core.steps.folds import fold_data

    x = network_input("audionet", fold_data(run, "gender", 0).test.waves[:20], None, vm.norm)
    from audiomnist_core.voice import explain_inputs

    reference = explain_inputs(vm.net, x, vm.composite)
    exported = export_explainer(vm.net, vm.composite, x, reference)
    assert exported.agreement.passes() and exported.agreement.n == 20
    assert exported.storage in exported.tried and len(exported.model) == exported.tried[exported.storage]["bytes"]
    full = onnx_bytes(ExplainGraph(vm.net, vm.composite, (1, 8000)), x[:1])
    logits, rel = run_onnx(full, x.numpy())
    a = agreement(logits, rel, reference)
    assert a.predictions_equal == 20 and a.max_probability_difference < 1e-5 and a.min_cosine > 0.99999
    assert len(full) < 4.2 * sum(p.numel() for p in vm.net.parameters())  # each weight stored once, float32


def test_agreement_measures():
    a = np.array([[5.0, 4, 3, 2, 1] * 40])
    assert top_overlap(a, a)[0] == 1.0 and top_overlap(a, -a)[0] == 0.0
    assert cosine(a, 2 * a)[0] == pytest.approx(1.0) and cosine(a, -a)[0] == pytest.approx(-1.0)
    assert Agreement(20, 20, 5e-4, 0.995, 0.95).passes()
    assert not Agreement(20, 19, 0.0, 1.0, 1.0).passes() and not Agreement(20, 20, 2e-3, 1.0, 1.0).passes()
    assert not Agreement(20, 20, 0.0, 0.98, 1.0).passes() and not Agreement(20, 20, 0.0, 1.0, 0.85).passes()


def test_the_label_says_which_networks_and_warns_on_the_synthetic_corpus():
    from audiomnist_core.web.page import runs_label, section_html

    manifest = {"models": {"audionet/digits": {}, "alexnet/digits": {}, "audionet/gender": {}}, "synthetic": True,
                "data": "synthetic", "profile": "quick", "fold": 0, "bytes": 5e7,
                "preprocess": {"sample_rate": 8000, "fit": "error"}}
    label = runs_label(manifest)
    assert label.startswith("Runs AudioNet and AlexNet for digits and gender, trained by profile 'quick' on the SYNTHETIC corpus, fold 0.")
    assert "espeak" in label and "not people" in label
    assert "espeak" not in runs_label({**manifest, "synthetic": False, "data": "audiomnist"})
    page = section_html(manifest)
    assert label.replace("'", "&#x27;") in page and 'src="../_static/voice/voice.js"' in page and "centred" in page
    embedded = page.split('data-role="manifest">', 1)[1].split("</script>", 1)[0]
    assert json.loads(embedded) == manifest  # nothing to fetch before the reader asks


def test_the_book_states_what_the_section_loads(tmp_path):
    from audiomnist_core.book.weights import format_voice_weights, voice_weights

    assert voice_weights(tmp_path) is None
    (tmp_path / "_static" / "voice").mkdir(parents=True)
    (tmp_path / "_static" / "vendor" / "onnxruntime-web").mkdir(parents=True)
    (tmp_path / "_static" / "vendor" / "onnxruntime-web" / "ort.wasm").write_bytes(b"x" * 1000)
    (tmp_path / "_static" / "voice" / "voice.json").write_text(json.dumps({"models": {"audionet/digits": {"bytes": 2_000_000}}}))
    weights = voice_weights(tmp_path)
    assert weights == {"models": {"audionet/digits": 2_000_000}, "runtime_bytes": 1000, "total_bytes": 2_001_000}
    assert "audionet/digits 2.0 MB" in format_voice_weights(weights)[0]
