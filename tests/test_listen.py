"""Listening: Griffin-Lim of manipulated spectrograms, honest players, the widget."""
from __future__ import annotations

import base64
import io
import math
import re

import numpy as np
import pytest
import soundfile
import torch

from audiomnist_core import listen, perturb
from audiomnist_core.errors import AudiomnistError
from audiomnist_core.models import build
from audiomnist_core.preprocess import AMIN, TOP_DB, Signals, magnitude, spectrogram


def vowel(f0: float, start: int = 1500, size: int = 4000, amplitude: float = 8000.0) -> torch.Tensor:
    """A voiced-sounding test signal: harmonics of ``f0`` with falling amplitudes, Hann-gated
    inside zero padding (int16 scale)."""
    t = torch.arange(size, dtype=torch.float64) / listen.RATE
    x = sum(torch.sin(2 * math.pi * k * f0 * t + k) / k for k in range(1, 12))
    wave = torch.zeros(8000, dtype=torch.float64)
    wave[start : start + size] = amplitude * x * torch.hann_window(size, periodic=False, dtype=torch.float64)
    return wave.float()


def test_reference_is_the_db_reference_of_the_spectrogram():
    x = torch.stack([vowel(120.0), 0.1 * vowel(200.0)])
    db = 20 * torch.log10(magnitude(x).clamp_min(AMIN) / listen.reference(x)[:, None, None])
    db = torch.maximum(db, db.amax(dim=(-2, -1), keepdim=True) - TOP_DB)
    assert torch.allclose(db, spectrogram(x), atol=1e-4)


@pytest.mark.parametrize("factor", [1.5, 0.66])
def test_griffin_lim_audio_has_the_manipulated_spectrogram(factor):
    x = vowel(130.0)
    target = perturb.scale_frequency(spectrogram(x), factor)
    heard = spectrogram(listen.frequency_scaled_audio(x, factor))
    # Where the sound is. A squeezed spectrogram is not the STFT of any signal (its partials
    # crowd within a window's main lobe), so Griffin-Lim can only come close to it.
    loud = target > -30
    error = (heard - target)[loud].abs().mean()
    to_original = (heard - spectrogram(x))[loud].abs().mean()
    assert error < 5.0  # dB
    assert error < to_original / 4


def test_griffin_lim_of_the_unscaled_spectrogram_is_close_and_keeps_the_level():
    x = vowel(200.0)
    y = listen.frequency_scaled_audio(x, 1.0)
    loud = spectrogram(x) > -40
    assert (spectrogram(y) - spectrogram(x))[loud].abs().mean() < 1.5
    assert listen.reference(y) == pytest.approx(float(listen.reference(x)), rel=0.05)


def test_griffin_lim_is_deterministic_and_leaves_the_global_rng_alone():
    state = torch.get_rng_state()
    a = listen.frequency_scaled_audio(vowel(150.0), 1.5, n_iter=8)
    b = listen.frequency_scaled_audio(vowel(150.0), 1.5, n_iter=8)
    assert torch.equal(a, b)
    assert torch.equal(state, torch.get_rng_state())


def _decode(uri: str) -> tuple[np.ndarray, int]:
    raw = base64.b64decode(uri.split(",", 1)[1])
    return soundfile.read(io.BytesIO(raw), dtype="int16")


def test_players_are_not_normalised():
    quiet = torch.round(100 * torch.sin(torch.arange(8000) / 5.0))
    data, rate = _decode(listen.wav_data_uri(quiet))
    assert rate == listen.RATE
    assert np.array_equal(data, quiet.numpy().astype(np.int16))  # a quiet signal stays quiet
    player = listen.audio(quiet)
    assert player.data[:4] == b"RIFF"
    assert listen.audio(40000 * torch.ones(10)) is not None  # overshoot is clipped, not an error


def test_player_grid_is_static_html():
    clips = [[listen.Clip(vowel(120.0), "a"), listen.Clip(vowel(180.0), "b & c")]]
    grid = listen.player_grid(clips, ["row"], ["one", "two"], "caption <x>")
    assert len(re.findall(r"<audio [^>]*src='data:audio/wav;base64,", grid.data)) == 2
    assert "b &amp; c" in grid.data and "caption &lt;x&gt;" in grid.data
    with pytest.raises(AudiomnistError, match="do not match"):
        listen.player_grid(clips, ["row"], ["one"])


def _signals(n: int = 6) -> Signals:
    waves = torch.stack([vowel(110.0 + 25 * i, start=500 + 300 * i) for i in range(n)])
    ints = lambda v: torch.tensor(v, dtype=torch.int64)  # noqa: E731
    return Signals(
        waves, speaker=ints([1, 1, 2, 2, 3, 3][:n]), digit=ints([0, 1, 0, 1, 0, 1][:n]), rep=ints([0] * n),
        gender=ints([0, 0, 1, 1, 0, 0][:n]), lengths=ints([4000] * n), offsets=ints([0] * n), paths=[""] * n,
    )


@pytest.fixture(scope="module")
def subjects():
    torch.manual_seed(0)
    test = _signals()
    return {
        "alexnet/gender": listen.Subject("alexnet", "gender", 0, build("alexnet", "gender").eval(), test, spectrogram(test.waves).mean(0)),
        "audionet/digits": listen.Subject("audionet", "digits", 0, build("audionet", "digits").eval(), test),
    }


def test_zeroed_clip_zeroes_exactly_the_counted_samples(subjects):
    s = subjects["audionet/digits"]
    for strategy in ("random", "amplitude"):
        clip = listen.zeroed(s, 2, 0.05, strategy, torch.Generator().manual_seed(0))
        before = s.test.waves[2]
        assert int(((before != 0) & (clip.wave == 0)).sum()) == round(0.05 * int((before != 0).sum()))
        assert clip.caption.startswith("5 %: predicted ")
    with pytest.raises(AudiomnistError, match="waveform models"):
        listen.zeroed(subjects["alexnet/gender"], 0, 0.1, "amplitude")


def test_scaled_clip_and_grids(subjects):
    s = subjects["alexnet/gender"]
    clip = listen.scaled(s, 0, 1.5, n_iter=4)
    assert clip.wave.shape == (8000,) and re.match(r"x1\.5: predicted (male|female)$", clip.caption)
    assert listen.scaling_factor(s, 0, 1.5, 0.66) == 1.5 and listen.scaling_factor(s, 2, 1.5, 0.66) == 0.66
    grid = listen.scaling_grid(s, [0, 2], 1.5, 0.66, "synthetic", n_iter=4)
    assert grid.data.count("<audio ") == 6
    grid = listen.zeroing_grid(subjects["audionet/digits"], 1, [0.01, 0.1], ["random", "amplitude"])
    assert grid.data.count("<audio ") == 4
    with pytest.raises(AudiomnistError, match="no test recording of speaker 9"):
        s.find(9, 0)


def test_widget_plays_and_reacts(subjects, capsys):
    # Outside a kernel the widget's Output area prints to stdout, which capsys reads.
    widget = listen.audio_widget(subjects, fractions=[0.0, 0.01, 0.1], seed=0)
    (manipulation, level), (speaker, digit) = widget.children[0].children, widget.children[1].children
    assert level.value == 1.5  # the paper's factor for speaker 1 (male)
    assert "after:  x1.5: predicted" in capsys.readouterr().out
    manipulation.value = 2  # zero by amplitude, AudioNet digits
    assert level.value == 0.01
    capsys.readouterr()
    digit.value = 1
    shown = capsys.readouterr().out
    assert "speaker 01 (male), digit 1" in shown and "after:  1 %: predicted" in shown
    speaker.value = 2
    assert "speaker 02 (female), digit 1" in capsys.readouterr().out


def test_examples_are_one_per_gender_male_first(subjects):
    s = subjects["audionet/digits"]
    picked = listen.examples(s, digit=1)
    assert [int(s.test.gender[i]) for i in picked] == [0, 1]
    assert all(int(s.test.digit[i]) == 1 for i in picked)


# --- listening on the published page ------------------------------------------------------

def _player_payload(player) -> dict:
    import json

    blob = re.search(r"<script type='application/json' data-role='payload'>(.*?)</script>", player.data, re.S).group(1)
    return json.loads(blob)


def test_static_player_has_one_source_per_distinct_clip_and_valid_wavs():
    a, b, c = vowel(120.0), vowel(180.0), vowel(240.0)
    choices = [
        listen.Choice("louder <b>", ["x1", "x2"], [listen.Example("one", [listen.Clip(a, "p 1"), listen.Clip(2 * a, "p 2")],
                                                                 listen.Clip(a, "before one"))], start=1),
        listen.Choice("other", ["only"], [listen.Example("two", [listen.Clip(b, "p b")], listen.Clip(c, "before two")),
                                          listen.Example("three", [listen.Clip(a, "p a")])]),
    ]
    player = listen.static_player(choices, "title & more")
    payload = _player_payload(player)
    assert len(payload["sources"]) == 4  # a (used three times), 2a, b, c: each distinct clip once
    first, second = payload["choices"]
    assert first["label"] == "louder <b>" and first["levels"] == ["x1", "x2"] and first["start"] == 1
    assert [e["label"] for e in second["examples"]] == ["two", "three"] and second["examples"][1]["before"] is None
    sources = [first["examples"][0]["clips"][0][0], first["examples"][0]["clips"][1][0], second["examples"][0]["clips"][0][0],
               second["examples"][0]["before"][0]]
    assert sorted(sources) == [0, 1, 2, 3] and first["examples"][0]["before"][0] == first["examples"][0]["clips"][0][0]
    for uri, wave in zip([payload["sources"][k] for k in sources], [a, 2 * a, b, c]):
        data, rate = _decode(uri)
        assert rate == listen.RATE and np.abs(data - np.clip(wave.numpy(), -32768, 32767)).max() <= 1  # 16-bit, not normalised
    # The page as it loads: the first choice's first example at its start level, before and after.
    assert "<select data-role='choice'><option value='0'>louder &lt;b&gt;</option><option value='1'>other</option>" in player.data
    after = re.search(r"<audio [^>]*data-role='after'[^>]*src='([^']+)'", player.data).group(1)
    before = re.search(r"<audio [^>]*data-role='before'[^>]*src='([^']+)'", player.data).group(1)
    assert after == payload["sources"][first["examples"][0]["clips"][1][0]] and before == payload["sources"][0]
    assert "<small data-role='after-text'>p 2</small>" in player.data and "title &amp; more" in player.data
    assert "</script" not in player.data.split("data-role='payload'>", 1)[1].split("</script>", 1)[0]
    assert "http" not in player.data.split("<script>", 1)[1]  # no external script


def test_static_player_rejects_what_it_cannot_show():
    clip = listen.Clip(vowel(120.0))
    with pytest.raises(AudiomnistError, match="no manipulation"):
        listen.static_player([])
    with pytest.raises(AudiomnistError, match="has 1 clips for 2 levels"):
        listen.static_player([listen.Choice("c", ["a", "b"], [listen.Example("e", [clip])])])
    with pytest.raises(AudiomnistError, match="starts at level 3 of 1"):
        listen.static_player([listen.Choice("c", ["a"], [listen.Example("e", [clip])], start=3)])


def test_span_and_recording_level():
    wave = torch.arange(8000, dtype=torch.float32)
    assert torch.equal(listen.span(wave, 1000, 2000, margin=100), wave[900:3100])
    assert listen.span(wave, 50, 7990, margin=455).shape == (8000,)
    inputs = torch.stack([torch.linspace(-2, 4, 8000), torch.zeros(8000)])
    waves = torch.stack([1000 * torch.linspace(-2, 4, 8000) + 3, torch.zeros(8000)])
    heard = listen.at_recording_level(inputs, waves)
    assert heard[0].abs().max() == pytest.approx(float(waves[0].abs().max())) and torch.equal(heard[1], torch.zeros(8000))


def test_manipulation_player_offers_scaling_and_each_zeroing(subjects):
    player = listen.manipulation_player(subjects, [0.0, 0.01, 0.1], 1.5, 0.66, seed=0, n_iter=2)
    payload = _player_payload(player)
    labels = [c["label"] for c in payload["choices"]]
    assert labels == ["frequency scaling (AlexNet, gender)", "zeroing by random (AudioNet, digits)",
                      "zeroing by amplitude (AudioNet, digits)", "zeroing by relevance (AudioNet, digits)"]
    scaling, *zeroing = payload["choices"]
    assert len(scaling["levels"]) == len(listen.scaling_levels(1.5, 0.66)) == 7
    assert scaling["levels"][scaling["start"]] == "x1.5 (the paper's for male speakers)"  # the first example is male
    for c in zeroing:
        assert c["levels"] == ["1 % zeroed", "10 % zeroed"] and c["start"] == 0
    for c in payload["choices"]:
        assert len(c["examples"]) == 2  # a male and a female "zero"
        for e in c["examples"]:
            assert len(e["clips"]) == len(c["levels"]) and e["before"][1].startswith("predicted ")
    texts = [clip[1] for clip in zeroing[1]["examples"][0]["clips"]]
    assert texts[0].startswith("1 %: predicted ") and texts[1].startswith("10 %: predicted ")
    # the batched clips are those of the one-level functions
    s = subjects["audionet/digits"]
    many = listen.zeroed_clips(s, 1, [0.01, 0.1], "amplitude")
    assert torch.equal(many[1].wave, listen.zeroed(s, 1, 0.1, "amplitude").wave) and many[1].caption == listen.zeroed(s, 1, 0.1, "amplitude").caption
    assert int((many[0].wave == 0).sum()) < int((many[1].wave == 0).sum())
