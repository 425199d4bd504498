"""Section 3.3 manipulations: frequency scaling and zeroing, their counts, orders and errors."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from audiomnist_core import paper, perturb, report
from audiomnist_core.errors import AudiomnistError
from audiomnist_core.models import build
from audiomnist_core.preprocess import FREQ_BINS, N_FFT, model_input, spectrogram

FRACTIONS = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.37, 0.5, 1.0)


def padded_waves(n: int, length: int = 8000, seed: int = 0) -> torch.Tensor:
    """Noise bursts of random length at random offsets inside zero padding, int16 scale."""
    g = torch.Generator().manual_seed(seed)
    waves = torch.zeros(n, length)
    for i in range(n):
        size = int(torch.randint(500, 6000, (1,), generator=g))
        start = int(torch.randint(0, length - size, (1,), generator=g))
        waves[i, start : start + size] = 3000 * torch.randn(size, generator=g)
    return waves


# --- frequency scaling --------------------------------------------------------------------

def test_scale_by_one_is_identity():
    spec = spectrogram(padded_waves(3))
    assert torch.equal(perturb.scale_frequency(spec, 1.0), spec)
    assert torch.equal(perturb.scale_frequency(spec, torch.ones(3)), spec)


def test_scaling_moves_a_row_to_row_times_factor():
    spec = torch.full((2, FREQ_BINS, 5), perturb.FLOOR_DB)
    spec[:, 40] = 0.0  # a "harmonic" at row 40
    up = perturb.scale_frequency(spec, 1.5)
    assert int(up[0, :, 0].argmax()) == 60
    down = perturb.scale_frequency(spec, 0.5)
    assert int(down[0, :, 0].argmax()) == 20
    # rows whose source lies above the highest row get the floor
    assert torch.all(down[:, math.floor((FREQ_BINS - 1) * 0.5) + 1 :] == perturb.FLOOR_DB)


def test_scaling_a_batch_equals_its_items():
    spec = spectrogram(padded_waves(3, seed=1))
    factors = torch.tensor([1.5, 0.66, 1.0])
    batch = perturb.scale_frequency(spec, factors)
    items = torch.stack([perturb.scale_frequency(s, float(f)) for s, f in zip(spec, factors)])
    assert torch.allclose(batch, items)


def test_scaling_a_tone_matches_a_tone_of_scaled_frequency():
    t = torch.arange(8000) / 8000.0
    tone = lambda hz: 10000 * torch.sin(2 * math.pi * hz * t)  # noqa: E731
    scaled = perturb.scale_frequency(spectrogram(tone(200.0)), 1.5)
    row = lambda s: int(s.mean(-1).argmax())  # noqa: E731
    assert abs(row(scaled) - row(spectrogram(tone(300.0)))) <= 1
    assert abs(row(scaled) - 300.0 / (8000 / N_FFT)) <= 1


@pytest.mark.parametrize("factor", [0.0, -1.5, float("nan")])
def test_bad_scaling_factor(factor):
    with pytest.raises(AudiomnistError, match="positive"):
        perturb.scale_frequency(torch.zeros(FREQ_BINS, 4), factor)


class PeakRowGender(nn.Module):
    """A stand-in gender model: 'female' when the strongest row (time-averaged) lies above a threshold."""

    def __init__(self, threshold_row: float) -> None:
        super().__init__()
        self.threshold_row = threshold_row

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        row = x[:, 0].mean(-1).argmax(-1).float()
        female = (row > self.threshold_row).float()
        return torch.stack([1 - female, female], dim=1)


def test_frequency_scaling_flips_pitch_based_gender_decisions():
    t = torch.arange(8000) / 8000.0
    waves = torch.stack([10000 * torch.sin(2 * math.pi * hz * t) for hz in (120.0, 130.0, 210.0, 230.0)])
    gender = torch.tensor([0, 0, 1, 1])
    model = PeakRowGender(threshold_row=165.0 / (8000 / N_FFT))
    out = perturb.frequency_scaling_accuracy(model, waves, gender, None, 1.5, 0.66, batch_size=3)
    assert out == {"accuracy": 0.0, "opposite_share": 100.0, "unperturbed": 100.0}
    same = perturb.frequency_scaling_accuracy(model, waves, gender, None, 1.0, 1.0)
    assert same["accuracy"] == same["unperturbed"] == 100.0


# --- zeroing ------------------------------------------------------------------------------

@pytest.mark.parametrize("strategy", perturb.STRATEGIES)
def test_exactly_round_fraction_times_nonzero_count_are_zeroed(strategy):
    waves = padded_waves(6)
    relevance = torch.randn(waves.shape, generator=torch.Generator().manual_seed(3))
    masks = perturb.zero_mask(waves, FRACTIONS, strategy, relevance, torch.Generator().manual_seed(0))
    nonzero = (waves != 0).sum(1).tolist()
    for f, mask in zip(FRACTIONS, masks):
        assert mask.sum(1).tolist() == [round(f * n) for n in nonzero]
        zeroed = perturb.zero_samples(waves, f, strategy, relevance, torch.Generator().manual_seed(0))
        lost = ((waves != 0) & (zeroed == 0)).sum(1)
        if strategy != "relevance":  # relevance may also pick padding, which is already zero
            assert lost.tolist() == [round(f * n) for n in nonzero]


@pytest.mark.parametrize("strategy", ["random", "amplitude"])
def test_random_and_amplitude_never_touch_padding(strategy):
    waves = padded_waves(5, seed=2)
    masks = perturb.zero_mask(waves, FRACTIONS, strategy, generator=torch.Generator().manual_seed(1))
    assert not bool((masks & (waves == 0)).any())
    assert torch.equal(masks[-1], waves != 0)  # fraction 1: every non-zero sample


def test_amplitude_picks_the_largest_magnitudes():
    waves = padded_waves(4, seed=4)
    mask = perturb.zero_mask(waves, 0.1, "amplitude")
    for w, m in zip(waves.abs(), mask):
        kept = w[(~m) & (w != 0)]
        assert w[m].min() >= kept.max()


def test_relevance_picks_the_highest_relevance_padding_included():
    waves = padded_waves(3, seed=5)
    relevance = torch.zeros_like(waves)
    relevance[waves == 0] = 1.0  # the padding is most relevant
    mask = perturb.zero_mask(waves, 0.05, "relevance", relevance)
    assert bool((mask <= (waves == 0)).all())  # only padding chosen
    assert mask.sum(1).tolist() == [round(0.05 * int(n)) for n in (waves != 0).sum(1)]


def test_random_is_reproducible_for_a_seed():
    waves = padded_waves(4, seed=6)
    a = perturb.zero_mask(waves, 0.2, "random", generator=torch.Generator().manual_seed(7))
    b = perturb.zero_mask(waves, 0.2, "random", generator=torch.Generator().manual_seed(7))
    c = perturb.zero_mask(waves, 0.2, "random", generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_fractions_as_numpy_values():
    import numpy as np

    waves = padded_waves(2, seed=13)
    one = perturb.zero_mask(waves, 0.1, "amplitude")
    assert torch.equal(perturb.zero_mask(waves, np.float64(0.1), "amplitude"), one)
    assert torch.equal(perturb.zero_mask(waves, np.array([0.0, 0.1]), "amplitude")[1], one)


def test_masks_of_growing_fractions_are_nested():
    waves = padded_waves(3, seed=8)
    for strategy in ("random", "amplitude"):
        masks = perturb.zero_mask(waves, FRACTIONS, strategy, generator=torch.Generator().manual_seed(0))
        assert all(bool((lo <= hi).all()) for lo, hi in zip(masks[:-1], masks[1:]))


def test_spectrogram_bins_go_to_the_floor():
    spec = spectrogram(padded_waves(2, seed=9))
    above = (spec != perturb.FLOOR_DB).flatten(1).sum(1)
    out = perturb.floor_bins(spec, 0.1, "amplitude")
    changed = (out != spec).flatten(1).sum(1)
    assert changed.tolist() == [round(0.1 * int(n)) for n in above]
    assert float(out.min()) == perturb.FLOOR_DB


@pytest.mark.parametrize("fraction", [-0.01, 1.5, float("nan")])
def test_fraction_outside_unit_interval(fraction):
    with pytest.raises(AudiomnistError, match=r"outside \[0, 1\]"):
        perturb.zero_samples(padded_waves(1), fraction, "amplitude")


def test_unknown_strategy_and_missing_arguments():
    waves = padded_waves(1)
    with pytest.raises(AudiomnistError, match="unknown zeroing strategy 'loudest'"):
        perturb.zero_samples(waves, 0.1, "loudest")
    with pytest.raises(AudiomnistError, match="Generator"):
        perturb.zero_samples(waves, 0.1, "random")
    with pytest.raises(AudiomnistError, match="relevance="):
        perturb.zero_samples(waves, 0.1, "relevance")
    with pytest.raises(AudiomnistError, match="values per input"):
        perturb.zero_samples(waves, 0.1, "relevance", relevance=torch.zeros(1, 100))


# --- curves -------------------------------------------------------------------------------

def _labels_half_right(model, name, waves, n_classes, mean=None):
    """Labels that the model gets right for the first half of the inputs and wrong for the rest."""
    with torch.no_grad():
        pred = model(model_input(perturb.INPUTS[name], waves, mean)).argmax(-1)
    labels = pred.clone()
    labels[len(labels) // 2 :] = (pred[len(labels) // 2 :] + 1) % n_classes
    return labels


@pytest.mark.parametrize("name", ["audionet", "alexnet"])
def test_fraction_zero_gives_unperturbed_accuracy_for_every_strategy(name):
    torch.manual_seed(0)
    model = build(name, "digits").eval()
    waves = padded_waves(6, seed=10)
    mean = spectrogram(waves).mean(0) if name == "alexnet" else None
    labels = _labels_half_right(model, name, waves, 10, mean)
    calls = []

    def lrp(inputs, targets):  # gradient x input, standing in for LRP
        calls.append(len(inputs))
        x = inputs.clone().requires_grad_(True)
        model(x).gather(1, targets[:, None]).sum().backward()
        return (x * x.grad).detach()

    curves = perturb.perturbation_curve(
        model, name, waves, labels, (0.0, 0.01, 1.0), relevance=lrp,
        generator=torch.Generator().manual_seed(0), draws=2, mean=mean, batch_size=4,
    )
    assert curves["unperturbed"] == [50.0]
    for strategy in perturb.STRATEGIES:
        assert curves[strategy][0] == 50.0
        assert all(0.0 <= a <= 100.0 for a in curves[strategy])
    assert curves["random"][-1] == curves["amplitude"][-1]  # both zero every non-zero feature
    assert calls == [4, 2]  # relevance once per sample


def test_curve_is_reproducible_and_accepts_precomputed_relevance():
    torch.manual_seed(1)
    model = build("audionet", "gender").eval()
    waves = padded_waves(5, seed=11)
    labels = torch.tensor([0, 1, 0, 1, 1])
    relevance = torch.randn(5, 1, 8000, generator=torch.Generator().manual_seed(2))
    run = lambda seed: perturb.perturbation_curve(  # noqa: E731
        model, "audionet", waves, labels, FRACTIONS, relevance=relevance,
        generator=torch.Generator().manual_seed(seed), draws=2, batch_size=5,
    )
    assert run(3) == run(3)
    with pytest.raises(AudiomnistError, match="labels"):
        perturb.perturbation_curve(model, "audionet", waves, labels[:3], FRACTIONS, relevance=relevance)


def test_at_fraction_reads_mean_and_sample_std_over_folds():
    entry = {"fractions": [0.0, 0.01], "curves": {"random": [[90.0, 94.0], [80.0, 84.0]]}}
    mean, std = report.at_fraction(entry, 0.01)["random"]
    assert mean == 82.0 and std == pytest.approx(8 ** 0.5)  # sample std (ddof=1), as Table 1
    assert report.at_fraction({"fractions": [0.01], "curves": {"random": [[80.0]]}}, 0.01) == {"random": (80.0, 0.0)}
    with pytest.raises(AudiomnistError, match="not on the profile's grid"):
        report.at_fraction(entry, 0.3)


class Counting(nn.Module):
    """Counts forward passes of the wrapped model."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model, self.calls = model, 0

    def forward(self, x):
        self.calls += 1
        return self.model(x)


def test_each_distinct_input_is_evaluated_once():
    torch.manual_seed(2)
    model = Counting(build("audionet", "digits").eval())
    waves = padded_waves(4, seed=12)
    relevance = torch.randn(4, 8000, generator=torch.Generator().manual_seed(0))
    perturb.perturbation_curve(
        model, "audionet", waves, torch.zeros(4, dtype=torch.long), (0.0, 0.01, 1.0), relevance=relevance,
        generator=torch.Generator().manual_seed(0), draws=2, batch_size=4,
    )
    # unperturbed 1; random 0.01 twice, 1.0 once; amplitude 0.01 (1.0 = random's); relevance 0.01 and 1.0
    assert model.calls == 1 + 3 + 1 + 2


def test_robust_until_and_tables():
    entry = {
        "fractions": [0.0, 0.01, 0.5, 1.0], "unperturbed": [90.0, 92.0],
        "curves": {"random": [[90, 92], [88, 90], [80, 82], [50, 50]],
                   "amplitude": [[90, 92], [70, 72], [50, 50], [50, 50]],
                   "relevance": [[90, 92], [60, 62], [50, 50], [50, 50]]},
    }
    assert report.robust_until(entry, "random", 5.0) == 0.01
    assert report.robust_until(entry, "random", 20.0) == 0.5
    table = report.format_zeroing_at(entry, 0.01, paper.ZEROING_1PCT["audionet/digits"])
    # spreads are sample stds over the folds (ddof=1): [70, 72] -> 1.4, [20, 30] -> 7.1
    assert "| amplitude | 71.0 ± 1.4 | 85.0 |" in table and "| unperturbed | 91.0 ± 1.4 | 92.53 |" in table
    fs = {"folds": [0, 1], "unperturbed": [96.0, 94.0], "accuracy": [20.0, 30.0], "opposite_share": [80.0, 70.0],
          "paper_mean": 20.3, "paper_std": 12.6}
    assert "**25.0 ± 7.1**" in report.format_frequency_scaling(fs)


# --- the command line, end to end ---------------------------------------------------------

TINY = """
train:
  runs: [alexnet/gender, audionet/digits]
  folds: [0]
  batch_size: 8
  eval_every: 2
  checkpoint_every: 2
  max_train_per_fold: 40
  max_eval_per_fold: 20
  schedules:
    alexnet/gender:  {learning_rate: 0.001,  lr_step: 2, iterations: 2, clip_norm: 5}
    audionet/digits: {learning_rate: 0.0001, lr_step: 2, iterations: 2, clip_norm: null}
explain: {batch_size: 8}
perturb:
  fractions: [0.0, 0.01, 1.0]
  random_draws: 2
  max_per_fold: 6
  batch_size: 4
"""


def test_cli_perturb_json(synth_corpus, tmp_path, monkeypatch, capsys):
    from audiomnist_core import cli

    monkeypatch.setenv("AUDIOMNIST_RUNS", str(tmp_path / "runs"))
    profile = tmp_path / "tiny.yaml"
    profile.write_text(TINY)
    argv = ["perturb", "--profile", str(profile), "--data", str(synth_corpus), "--device", "cpu", "--json"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)  # stdout holds the JSON document only
    for line in ("frequency scaling: alexnet/gender fold 0", "zeroing: audionet/digits fold 0",
                 "relevance: audionet/digits fold 0"):  # what it computes, on stderr
        assert line in captured.err
    fs = out["frequency_scaling"]
    assert len(fs["accuracy"]) == len(fs["opposite_share"]) == 1
    assert (fs["paper_mean"], fs["paper_std"]) == (20.3, 12.6)
    assert fs["accuracy"][0] + fs["opposite_share"][0] == pytest.approx(100.0)
    assert fs["mean"] == fs["accuracy"][0] and fs["std"] == 0.0
    assert set(out["zeroing"]) == {"audionet/digits", "alexnet/gender"}
    for name, entry in out["zeroing"].items():
        assert entry["fractions"] == [0.0, 0.01, 1.0]
        assert entry["chance"] == (10.0 if name.endswith("digits") else 50.0)
        assert entry["in_paper"] == name.startswith("audionet")
        for strategy in perturb.STRATEGIES:
            curve = entry["curves"][strategy]
            assert len(curve) == 3 and all(len(per_fold) == 1 for per_fold in curve)
            assert curve[0] == entry["unperturbed"]  # fraction 0: the unperturbed accuracy
    assert out["zeroing"]["audionet/digits"]["paper_at_1pct"]["relevance"] == 77.0
    cached = sorted((tmp_path / "runs").glob("*/perturb/*.json"))
    assert {p.name for p in cached} >= {"profile.json", "frequency_scaling-fold0.json", "zeroing-audionet-digits-fold0.json"}
    stamps = {p: p.stat().st_mtime_ns for p in cached if p.name != "profile.json"}
    stamp = out.pop("stamp")  # what made these numbers: the profile, the corpus, the config and the code
    assert (stamp["profile"], stamp["data"]) == ("tiny", "corpus") and len(stamp["code"]) == 12
    assert cli.main(argv) == 0  # a second run reads the cache
    again = json.loads(capsys.readouterr().out)
    assert again.pop("stamp")["code"] == stamp["code"] and again == out
    assert stamps == {p: p.stat().st_mtime_ns for p in stamps}


def test_cli_perturb_json_says_what_a_one_gender_corpus_skips(tmp_path, monkeypatch, capsys, write_metadata):
    from audiomnist_core import cli, splits

    monkeypatch.setenv("AUDIOMNIST_RUNS", str(tmp_path / "runs"))
    from corpora import write_roster

    write_roster(tmp_path / "male", [1, 2, 3, 4, 5])  # one short file each: the folds need no more
    profile = tmp_path / "gender.yaml"
    profile.write_text(TINY.replace("audionet/digits", "audionet/gender"))
    argv = ["perturb", "--profile", str(profile), "--data", str(tmp_path / "male"), "--device", "cpu", "--json"]
    assert cli.main(argv) == 0
    captured = capsys.readouterr()
    out = json.loads(captured.out)
    reason = splits.task_skip_reason({s: "male" for s in range(1, 6)}, "gender")
    assert out["skipped"] == {"gender": reason}
    assert out["frequency_scaling"] == {"skipped": reason}
    assert out["zeroing"] == {"audionet/gender": {"skipped": reason}, "alexnet/gender": {"skipped": reason}}
    assert not list((tmp_path / "runs").rglob("result.json"))  # nothing was trained


def test_cli_perturb_bad_profile(tmp_path, monkeypatch, capsys):
    from audiomnist_core import cli

    monkeypatch.setenv("AUDIOMNIST_RUNS", str(tmp_path / "runs"))
    bad = tmp_path / "bad.yaml"
    bad.write_text(TINY.replace("[0.0, 0.01, 1.0]", "[0.0, 1.5]"))
    assert cli.main(["perturb", "--profile", str(bad), "--json"]) == 1
    err = capsys.readouterr()
    assert err.out == "" and "perturb.fractions must lie in [0, 1]" in err.err and len(err.err.strip().splitlines()) == 1


def test_readings_in_words():
    entry = {"fractions": [0.01], "curves": {"random": [[92.0]], "amplitude": [[85.0]], "relevance": [[77.0]]}}
    assert report.zeroing_order(entry, 0.01) == "relevance 77.0 % < amplitude 85.0 % < random 92.0 %"
    entry["curves"]["amplitude"] = [[77.0]]
    assert report.zeroing_order(entry, 0.01) == "amplitude 77.0 % = relevance 77.0 % < random 92.0 %"
    assert report.frequency_scaling_reading({"mean": 20.3, "std": 12.6}).startswith("below chance:")
    assert report.frequency_scaling_reading({"mean": 45.0, "std": 10.0}).startswith("below chance on average")
    assert report.frequency_scaling_reading({"mean": 60.0, "std": 0.0}).startswith("not below chance")


def test_figure3_panels_lines_and_chance():
    import matplotlib

    matplotlib.use("Agg")
    from audiomnist_core.plots import manipulations as figures

    entry = {"fractions": [0.0, 0.01, 1.0], "chance": 10.0, "folds": [0, 1], "in_paper": True,
             "feature": "waveform samples set to 0",
             "curves": {s: [[90.0, 92.0], [80.0, 84.0], [10.0, 10.0]] for s in perturb.STRATEGIES}}
    fig = figures.figure3({"audionet/digits": entry, "alexnet/digits": {**entry, "in_paper": False}},
                          ["audionet/digits", "alexnet/digits", "audionet/gender"], "synthetic",
                          {"audionet/digits": paper.ZEROING_1PCT["audionet/digits"]})
    left, right = fig.axes
    assert "not in the paper" in right.get_title() and "2 folds" in left.get_title()
    means = [line.get_ydata() for line in left.get_lines()[:3]]
    assert all(list(m) == [91.0, 82.0, 10.0] for m in means)
    assert any(list(line.get_ydata()) == [10.0, 10.0] for line in left.get_lines())  # chance
    assert any(list(line.get_ydata()) == [77.0] for line in left.get_lines())  # the paper's LRP at 1 %
    labels = [line.get_label() for line in left.get_lines()]
    assert "highest relevance (LRP)" in labels
    fig = figures.figure3({"audionet/digits": {**entry, "method": "integrated_gradients"}}, ["audionet/digits"])
    assert "highest relevance (integrated gradients)" in [line.get_label() for line in fig.axes[0].get_lines()]


# --- the curve against the obvious loop ---------------------------------------------------

class Linear(nn.Module):
    """A small linear classifier of any input shape: quick, and sensitive to every feature."""

    def __init__(self, n_features: int, n_classes: int, seed: int) -> None:
        super().__init__()
        self.fc = nn.Linear(n_features, n_classes)
        with torch.no_grad():
            self.fc.weight.copy_(torch.randn(n_classes, n_features, generator=torch.Generator().manual_seed(seed)))

    def forward(self, x):
        return self.fc(x.flatten(1))


def naive_curve(model, name, waves, labels, fractions, strategy, relevance, scores, mean, norm):
    """Zero, then predict, one input and one fraction at a time, with numpy's stable sort."""
    import numpy as np

    feats = perturb._features(name, waves, norm)[0] if name == "audionet" else spectrogram(waves)
    floor = 0.0 if name == "audionet" else perturb.FLOOR_DB
    out = []
    for f in fractions:
        correct = 0
        for i in range(len(waves)):
            x = feats[i].reshape(-1).clone()
            active = (x != floor).numpy()
            if strategy == "amplitude":
                score = np.where(active, np.abs((x - floor).numpy()), -np.inf)
            elif strategy == "random":
                score = np.where(active, scores[i].reshape(-1).numpy(), -np.inf)
            else:
                score = relevance[i].reshape(-1).numpy()
            k = round(f * int(active.sum()))
            x[np.argsort(-score, kind="stable")[:k]] = floor
            x = x.reshape(feats[i].shape)
            if mean is not None:
                x = x - mean
            with torch.no_grad():
                correct += int(model(x[None, None]).argmax(-1)[0] == labels[i])
        out.append(100.0 * correct / len(waves))
    return out


@pytest.mark.parametrize(("name", "norm"), [("audionet", "original"), ("audionet", "robust"), ("alexnet", "original")])
@pytest.mark.parametrize("strategy", perturb.STRATEGIES)
def test_perturbation_curve_equals_the_naive_loop(name, strategy, norm):
    waves = padded_waves(6, seed=21)
    n = 8000 if name == "audionet" else FREQ_BINS * FREQ_BINS
    model = Linear(n, 10, seed=3).eval()
    mean = spectrogram(waves).mean(0) if name == "alexnet" else None
    labels = _labels_half_right(model, name, waves, 10, mean) if name == "audionet" else torch.arange(6) % 10
    relevance = torch.randn(6, n, generator=torch.Generator().manual_seed(4))
    fractions = (0.0, 0.01, 0.1, 0.37, 0.9, 1.0)
    curves = perturb.perturbation_curve(
        model, name, waves, labels, fractions, (strategy,), relevance, torch.Generator().manual_seed(5),
        draws=1, mean=mean, batch_size=len(waves), waveform_norm=norm,
    )
    scores = torch.rand((6, n), generator=torch.Generator().manual_seed(5))  # the draw the curve's one batch makes
    assert curves[strategy] == naive_curve(model, name, waves, labels, fractions, strategy, relevance, scores, mean, norm)
    assert len(set(curves[strategy])) > 1  # the fractions change the answer: the comparison can fail
