"""LRP relevance: the epsilon rule against a slow float64 re-implementation, conservation,
batch = stacked items, the model left as it was, the fused pass against stock zennit, bad
input, and the numbers and examples built on relevance."""
from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn
from zennit.attribution import Gradient
from zennit.composites import (
    EpsilonAlpha2Beta1,
    EpsilonAlpha2Beta1Flat,
    EpsilonGammaBox,
    EpsilonPlus,
    EpsilonPlusFlat,
    LayerMapComposite,
    layer_map_base,
)
from zennit.rules import Epsilon as ZEpsilon
from zennit.types import Convolution

from audiomnist_core import explain, models, steps
from audiomnist_core.errors import AudiomnistError
from audiomnist_core.models import build
from audiomnist_core.preprocess import Signals


def _init(model: nn.Module, seed: int, bias: bool) -> nn.Module:
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            m.weight.data = torch.randn(m.weight.shape, generator=g, dtype=torch.float64) * 0.5
            m.bias.data = torch.randn(m.bias.shape, generator=g, dtype=torch.float64) * 0.2
            if not bias:
                m.bias.data.zero_()
    return model


def net2d(seed: int = 0, bias: bool = False) -> nn.Module:
    """A small AlexNet-like chain: (B, 1, 20, 20) -> (B, 3); a strided single-channel first
    layer, a grouped conv, an overlapping pool."""
    model = nn.Sequential(
        nn.Conv2d(1, 4, 4, stride=2, padding=1), nn.ReLU(), nn.MaxPool2d(2, 2),  # (B, 4, 5, 5)
        nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2),  # (B, 4, 2, 2)
        nn.Flatten(), nn.Linear(16, 6), nn.ReLU(), nn.Dropout(0.5), nn.Linear(6, 3),
    ).double()
    return _init(model, seed, bias)


def net1d(seed: int = 0, bias: bool = False) -> nn.Module:
    """A small AudioNet-like chain: (B, 1, 15) -> (B, 3); ceil-mode pools, linear dense layers."""
    model = nn.Sequential(
        nn.Conv1d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool1d(3, 2, ceil_mode=True),  # (B, 3, 7)
        nn.Conv1d(3, 4, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2, 2, ceil_mode=True),  # (B, 4, 4)
        nn.Flatten(), nn.Linear(16, 5), nn.Dropout(0.5), nn.Linear(5, 3),
    ).double()
    return _init(model, seed, bias)


def net_signed(seed: int = 0) -> nn.Module:
    """No ReLU after the convolutions: signed inputs to a grouped conv and relevance at
    negative pre-activations, which exercise every branch of the rules."""
    model = nn.Sequential(
        nn.Conv1d(2, 4, 3, padding=1), nn.MaxPool1d(2, 2),  # (B, 4, 6)
        nn.Conv1d(4, 4, 3, padding=1, groups=2),  # (B, 4, 6)
        nn.Flatten(), nn.Linear(24, 7), nn.ReLU(), nn.Linear(7, 3),
    ).double()
    return _init(model, seed, bias=True)


def _inputs(shape, seed: int = 1) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# ---------------------------------------------------------------- slow float64 epsilon rule

def _dense_conv(layer, in_shape):
    """The convolution as a dense matrix ``(out_size, in_size)``, built by its definition."""
    w = layer.weight.detach().numpy()
    c_in, *size = in_shape
    c_out, c_group, *k = w.shape
    stride, pad = layer.stride, layer.padding
    out = [(size[d] + 2 * pad[d] - k[d]) // stride[d] + 1 for d in range(len(size))]
    m = np.zeros((c_out, *out, c_in, *size))
    per_group = c_out // layer.groups
    for o in range(c_out):
        for c_local in range(c_group):
            c = (o // per_group) * c_group + c_local
            for p in np.ndindex(*out):
                for q in np.ndindex(*k):
                    i = tuple(p[d] * stride[d] - pad[d] + q[d] for d in range(len(size)))
                    if all(0 <= i[d] < size[d] for d in range(len(size))):
                        m[(o, *p, c, *i)] += w[(o, c_local, *q)]
    return m.reshape(c_out * int(np.prod(out)), -1), (c_out, *out)


def _pool_windows(layer, shape):
    """For each output position of a max-pool, the input positions of its window."""
    c, *size = shape
    nd = len(size)
    k = (layer.kernel_size,) * nd if isinstance(layer.kernel_size, int) else layer.kernel_size
    s = (layer.stride,) * nd if isinstance(layer.stride, int) else layer.stride
    out = []
    for d in range(nd):
        n = (size[d] - k[d]) / s[d] + 1
        n = int(np.ceil(n)) if layer.ceil_mode else int(np.floor(n))
        if layer.ceil_mode and (n - 1) * s[d] >= size[d]:
            n -= 1
        out.append(n)
    windows = {}
    for ch in range(c):
        for p in np.ndindex(*out):
            ranges = [range(p[d] * s[d], min(p[d] * s[d] + k[d], size[d])) for d in range(nd)]
            windows[(ch, *p)] = [(ch, *q) for q in itertools.product(*ranges)]  # row-major, as torch
    return windows, (c, *out)


def slow_epsilon(model: nn.Sequential, x: torch.Tensor, target: int, eps: float = 1e-6) -> np.ndarray:
    """The epsilon rule the slow, obvious way, one sample ``x`` (C, ...) in float64:
    R_i = sum_j a_i w_ji R_j / (z_j + eps sign(z_j)) for linear and convolutional layers,
    winner-take-all through max-pooling, pass-through for ReLU, dropout and flattening."""
    a = x.detach().numpy().astype(np.float64)
    tape = []
    for layer in model:
        if isinstance(layer, nn.Linear):
            w = layer.weight.detach().numpy()
            z = w @ a + layer.bias.detach().numpy()
            tape.append(("linear", a, w, z, a.shape))
            a = z
        elif isinstance(layer, (nn.Conv1d, nn.Conv2d)):
            w, out_shape = _dense_conv(layer, a.shape)
            bias = np.repeat(layer.bias.detach().numpy(), int(np.prod(out_shape[1:])))
            z = w @ a.reshape(-1) + bias
            tape.append(("linear", a.reshape(-1), w, z, a.shape))
            a = z.reshape(out_shape)
        elif isinstance(layer, (nn.MaxPool1d, nn.MaxPool2d)):
            windows, out_shape = _pool_windows(layer, a.shape)
            out, winner = np.zeros(out_shape), {}
            for p, window in windows.items():
                values = [a[q] for q in window]
                winner[p] = window[int(np.argmax(values))]  # first maximum, as torch
                out[p] = max(values)
            tape.append(("pool", winner, a.shape))
            a = out
        elif isinstance(layer, nn.ReLU):
            a = np.maximum(a, 0)
        elif isinstance(layer, nn.Flatten):
            tape.append(("flatten", a.shape))
            a = a.reshape(-1)
    R = np.zeros_like(a)
    R[target] = a[target]
    for entry in reversed(tape):
        if entry[0] == "linear":
            _, a_in, w, z, shape = entry
            R, R_in = R.reshape(-1), np.zeros(a_in.size)
            for j in range(z.size):
                denominator = z[j] + eps * (1.0 if z[j] >= 0 else -1.0)
                for i in range(a_in.size):
                    R_in[i] += a_in[i] * w[j, i] * R[j] / denominator
            R = R_in.reshape(shape)
        elif entry[0] == "pool":
            _, winner, shape = entry
            R_in = np.zeros(shape)
            for p, q in winner.items():
                R_in[q] += R[p]
            R = R_in
        else:
            R = R.reshape(entry[1])
    return R


@pytest.mark.parametrize("make, shape", [(net2d, (3, 1, 20, 20)), (net1d, (3, 1, 15))])
@pytest.mark.parametrize("engine", ["fused", "zennit"])
def test_epsilon_matches_slow_reference(make, shape, engine):
    model = make(bias=False)
    x = _inputs(shape)
    targets = torch.tensor([0, 2, 1])
    got = explain.relevance(model, x, targets, "epsilon", engine=engine)
    for i in range(shape[0]):
        want = slow_epsilon(model, x[i], int(targets[i]))
        np.testing.assert_allclose(got[i].numpy(), want, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("make, shape", [(net2d, (4, 1, 20, 20)), (net1d, (4, 1, 15))])
def test_epsilon_conserves_the_target_logit(make, shape):
    model = make(bias=False)
    x = _inputs(shape)
    targets = torch.tensor([0, 1, 2, 1])
    logits = model.eval()(x).gather(1, targets[:, None]).squeeze(1)
    rel = explain.relevance(model, x, targets, "epsilon")
    # Without biases only the stabiliser (1e-6 against logits of order 1) absorbs relevance.
    np.testing.assert_allclose(rel.flatten(1).sum(1).detach().numpy(), logits.detach().numpy(), rtol=1e-4)
    assert rel.abs().sum() > 0


@pytest.mark.parametrize("engine", ["fused", "zennit"])
@pytest.mark.parametrize("composite", ["epsilon", "epsilon_plus", "epsilon_alpha2_beta1_flat"])
def test_batch_equals_stacked_items(engine, composite):
    model = net2d(bias=True)
    x = _inputs((5, 1, 20, 20))
    targets = torch.tensor([2, 0, 1, 1, 0])
    whole = explain.relevance(model, x, targets, composite, engine=engine)
    items = torch.cat([
        explain.relevance(model, x[i : i + 1], targets[i : i + 1], composite, engine=engine) for i in range(5)
    ])
    in_twos = explain.relevance(model, x, targets, composite, batch_size=2, engine=engine)
    assert whole.shape == x.shape
    torch.testing.assert_close(whole, items, rtol=1e-10, atol=1e-13)
    torch.testing.assert_close(whole, in_twos, rtol=1e-10, atol=1e-13)


def _hooks(model: nn.Module) -> int:
    return sum(
        len(m._forward_hooks) + len(m._forward_pre_hooks) + len(m._backward_hooks) + len(m._backward_pre_hooks)
        for m in model.modules()
    )


@pytest.mark.parametrize("engine", ["fused", "zennit"])
def test_model_is_left_as_it_was(engine):
    model = net2d(bias=True)
    model.train()
    model[9].eval()  # a module in another mode than its parent must keep it
    model[0].weight.requires_grad_(False)
    x = _inputs((3, 1, 20, 20))
    params = {k: v.clone() for k, v in model.state_dict().items()}
    flags = [p.requires_grad for p in model.parameters()]
    modes = [m.training for m in model.modules()]
    with torch.no_grad():
        before = model.eval()(x)
    model.train()
    model[9].eval()
    explain.relevance(model, x, torch.tensor([0, 1, 2]), "epsilon_plus", engine=engine)
    assert [m.training for m in model.modules()] == modes
    assert [p.requires_grad for p in model.parameters()] == flags
    for k, v in model.state_dict().items():
        assert torch.equal(v, params[k]), k
    assert _hooks(model) == 0
    with torch.no_grad():
        assert torch.equal(model.eval()(x), before)


def test_dropout_is_off_while_explaining():
    model = net2d(bias=True).train()
    x = _inputs((2, 1, 20, 20))
    a = explain.relevance(model, x, torch.tensor([0, 1]))
    b = explain.relevance(model.eval(), x, torch.tensor([0, 1]))
    torch.testing.assert_close(a, b, rtol=0, atol=0)


# ---------------------------------------------------------------- fused pass = stock zennit

def _stock(model, x, targets, composite):
    """Relevance with zennit's own Gradient attributor and composite, nothing of ours."""
    model.eval()
    xx = x.clone().requires_grad_(True)
    with Gradient(model, composite) as attributor:
        _, rel = attributor(xx, lambda out: torch.eye(out.shape[1], dtype=out.dtype)[targets] * out)
    return rel.detach()


def _zennit_epsilon():
    return LayerMapComposite(layer_map_base() + [(Convolution, ZEpsilon()), (nn.Linear, ZEpsilon())])


STOCK = {
    "epsilon": lambda lo, hi: _zennit_epsilon(),
    "epsilon_plus": lambda lo, hi: EpsilonPlus(),
    "epsilon_plus_flat": lambda lo, hi: EpsilonPlusFlat(),
    "epsilon_alpha2_beta1": lambda lo, hi: EpsilonAlpha2Beta1(),
    "epsilon_alpha2_beta1_flat": lambda lo, hi: EpsilonAlpha2Beta1Flat(),
    "epsilon_gamma_box": lambda lo, hi: EpsilonGammaBox(low=lo, high=hi),
}


@pytest.mark.parametrize("name", sorted(STOCK))
@pytest.mark.parametrize("make, shape", [(net2d, (4, 1, 20, 20)), (net1d, (4, 1, 15)), (net_signed, (4, 2, 12))])
def test_fused_pass_equals_stock_zennit(name, make, shape):
    model = make(bias=True) if make is not net_signed else make()
    x = _inputs(shape)
    targets = torch.tensor([0, 1, 2, 0])
    low, high = float(x.min()) - 0.5, float(x.max()) + 0.5
    ours = explain.relevance(model, x, targets, explain.make_composite(name, low, high), engine="fused")
    stock = _stock(model, x, targets, STOCK[name](low, high))
    assert stock.abs().sum() > 0
    torch.testing.assert_close(ours, stock, rtol=1e-9, atol=1e-12)


def test_gamma_negative_branch_is_exercised():
    """net_signed sends relevance to negative pre-activations of its second conv."""
    model = net_signed().eval()
    x = _inputs((4, 2, 12))
    with torch.no_grad():
        z = model[2](model[1](model[0](x)))
    assert bool((z < 0).any()) and bool((model[1](model[0](x)) < 0).any())


@pytest.mark.parametrize("name, stock", [("alexnet", "box"), ("audionet", "plus")])
def test_defaults_on_the_paper_models_equal_stock_zennit(name, stock):
    torch.manual_seed(0)
    model = build(name, "gender")
    shape = (2, *model.input_shape)
    g = torch.Generator().manual_seed(3)
    if name == "alexnet":
        mean = -40 + 10 * torch.rand(227, 227, generator=g)
        x = (-80 * torch.rand(shape, generator=g)) - mean
        low, high = explain.spectrogram_bounds(mean)
        ours = explain.default_composite(name, low, high)
        reference = EpsilonGammaBox(low=low, high=high)
    else:
        x = torch.randn(shape, generator=g)
        x[..., :2000] = 0  # zero padding, as in the data
        ours, reference = explain.default_composite(name), EpsilonPlus()
    targets = torch.tensor([1, 0])
    fused = explain.relevance(model, x, targets, ours, engine="fused")
    stock = _stock(model, x, targets, reference)
    torch.testing.assert_close(fused, stock, rtol=1e-4, atol=1e-6 * fused.abs().max().item())
    if name == "audionet":  # z+ on the first layer: no relevance on exact zeros
        assert fused[..., :2000].abs().max() == 0


def test_zennit_composites_and_unknown_models_use_the_hooks():
    class Residual(nn.Module):  # not a chain: the fused pass must not be used
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(4, 4)
            self.relu = nn.ReLU()
            self.b = nn.Linear(4, 2)

        def forward(self, x):
            return self.b(self.relu(self.a(x)) + x)

    x = _inputs((3, 4))
    t = torch.tensor([0, 1, 1])
    for model in (_init(Residual().double(), 0, bias=True), nn.Sequential(_init(Residual().double(), 0, bias=True))):
        torch.testing.assert_close(
            explain.relevance(model, x, t, "epsilon"), explain.relevance(model, x, t, "epsilon", engine="zennit")
        )
    model = net2d(bias=True)
    x = _inputs((2, 1, 20, 20))
    got = explain.relevance(model, x, torch.tensor([0, 1]), EpsilonPlus())  # a zennit object: hooks
    torch.testing.assert_close(got, _stock(model, x, torch.tensor([0, 1]), EpsilonPlus()))
    assert explain.relevance(model, x, torch.tensor([0, 1]), "guided_backprop").shape == x.shape


# ---------------------------------------------------------------- bad input

@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"targets": torch.tensor([0, 3])}, "target class 3 is out of range"),
        ({"targets": torch.tensor([-1, 0])}, "out of range"),
        ({"targets": torch.tensor([0, 1, 2])}, "one class per input"),
        ({"targets": torch.tensor([0.0, 1.0])}, "integer"),
        ({"composite": "epsilon_magic"}, "unknown composite 'epsilon_magic'"),
        ({"composite": "epsilon_gamma_box"}, "needs the input's box bounds"),
        ({"engine": "fast"}, "unknown engine"),
        ({"engine": "fused", "composite": "guided_backprop"}, "fused pass does not apply"),
    ],
)
def test_bad_input_is_one_clear_error(kwargs, message):
    args = {"model": net2d(), "inputs": _inputs((2, 1, 20, 20)), "targets": torch.tensor([0, 1])}
    args.update(kwargs)
    with pytest.raises(AudiomnistError, match=message) as e:
        explain.relevance(**args)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    "name, shape", [("alexnet", (2, 1, 8000)), ("audionet", (2, 227, 227)), ("audionet", (2, 8000))]
)
def test_inputs_of_the_wrong_shape(name, shape):
    with pytest.raises(AudiomnistError, match=r"expects \(N, "):
        explain.relevance(build(name, "digits"), torch.zeros(shape), torch.zeros(2, dtype=torch.long))


def test_default_composites_and_names():
    assert "epsilon" in explain.COMPOSITES and "epsilon_gamma_box" in explain.COMPOSITES
    assert set(explain.COMPOSITES) >= {"epsilon_plus_flat", "epsilon_alpha2_beta1", "deconvnet"}
    with pytest.raises(AudiomnistError, match="unknown model"):
        explain.default_composite("vgg")
    alex = explain.default_composite("alexnet", -3.0, 2.0)
    assert "ZBox(low=-3.0, high=2.0" in explain.describe(alex) and "Gamma" in explain.describe(alex)
    assert "ZPlus" in explain.describe(explain.default_composite("audionet"))
    assert explain.describe(explain.profile_composite("epsilon", "audionet")).startswith("epsilon:")
    low, high = explain.spectrogram_bounds(torch.full((227, 227), -30.0))
    assert low.shape == (1, 1, 227, 227) and float(low.max()) == -50.0 and float(high.min()) == 30.0


def test_targets_for():
    model = net2d(bias=True)
    x = _inputs((4, 1, 20, 20))
    labels = torch.tensor([2, 2, 0, 1])
    assert torch.equal(explain.targets_for(model, x, labels, "label"), labels)
    with torch.no_grad():
        want = model.eval()(x).argmax(1)
    assert torch.equal(explain.targets_for(model.train(), x, labels, "predicted", batch_size=3), want)
    assert model.training
    with pytest.raises(AudiomnistError, match="unknown target mode"):
        explain.targets_for(model, x, labels, "truth")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_on_cuda_equals_cpu():
    model = net2d(bias=True)
    x = _inputs((3, 1, 20, 20))
    t = torch.tensor([0, 1, 2])
    cpu = explain.relevance(model, x, t, "epsilon_plus")
    gpu = explain.relevance(model.cuda(), x, t, "epsilon_plus")
    assert gpu.device == x.device
    torch.testing.assert_close(gpu, cpu, rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- the paper's reading in numbers

def test_band_shares():
    r = np.zeros((3, 227, 227))
    f = explain.spectrogram_frequencies()
    row_500, row_2k = int(np.argmin(abs(f - 500))), int(np.argmin(abs(f - 2000)))
    r[0, row_500, 10] = 3.0
    r[0, row_2k, 20] = 1.0
    r[0, row_2k, 30] = -5.0  # negative relevance does not count
    r[1, 0, 0] = 2.0
    shares = explain.band_shares(r[:, None], bands_hz=(0, 1000, 4000))
    np.testing.assert_allclose(shares[0], [0.75, 0.25])
    np.testing.assert_allclose(shares[1], [1.0, 0.0])
    assert np.isnan(shares[2]).all()
    assert f[1] == pytest.approx(8000 / 455) and explain.spectrogram_times()[0] == pytest.approx(2 * 35 / 8000)
    with pytest.raises(AudiomnistError, match="ascending"):
        explain.band_shares(r, bands_hz=(1000, 0))


def test_padding_share():
    r = np.zeros((3, 1, 20))
    r[0, 0, 5:10] = 1.0  # all inside [5, 10)
    r[1, 0, 4] = -1.0  # one sample before the recording
    r[1, 0, 6] = 3.0
    shares = explain.padding_share(r, lengths=[5, 5, 5], offsets=[5, 5, 5])
    np.testing.assert_allclose(shares[:2], [0.0, 0.25])
    assert np.isnan(shares[2])
    with pytest.raises(AudiomnistError, match="one per waveform"):
        explain.padding_share(r, lengths=[5], offsets=[5, 5, 5])


# ---------------------------------------------------------------- the paper's examples

def _signals(rows):
    """Fake test signals from (speaker, digit, rep, gender) rows."""
    n = len(rows)
    col = lambda k: torch.tensor([r[k] for r in rows])  # noqa: E731
    return Signals(
        torch.zeros(n, 8000), col(0), col(1), col(2), col(3), torch.full((n,), 4000), torch.full((n,), 1000),
        [f"data/{r[0]:02d}/{r[1]}_{r[0]:02d}_{r[2]}.wav" for r in rows],
    )


def test_pick_prefers_correct_then_lowest_speaker_and_rep():
    s = _signals([(5, 0, 1, 0), (3, 0, 2, 0), (3, 0, 0, 0), (3, 1, 0, 0)])
    assert explain.pick(s, digit=0) == 2
    assert explain.pick(s, digit=0, correct=[True, True, False, True]) == 1
    assert explain.pick(s, digit=0, speakers=[5]) == 0
    assert explain.pick(s, digit=7) is None


def test_figure1_examples():
    digit_test = _signals([(26, 0, 0, 1), (26, 1, 0, 1), (60, 0, 0, 1), (60, 1, 3, 1), (60, 1, 1, 1), (5, 0, 0, 0)])
    gender_test = _signals([(7, 0, 2, 0), (7, 0, 1, 0), (60, 0, 0, 1)])
    ex = explain.figure1_examples(digit_test, gender_test)
    # speaker 60 is held out for both models, so it is preferred over 26
    assert (ex.zero, ex.one, ex.male_zero, ex.zero_gender) == (2, 4, 1, 2) and ex.zero_in_gender_test
    # a misclassified "one" of speaker 60 (rep 1) gives way to its other "one"
    ex = explain.figure1_examples(digit_test, gender_test, digit_correct=[1, 1, 1, 1, 0, 1], gender_correct=[1, 0, 1])
    assert (ex.zero, ex.one, ex.male_zero) == (2, 3, 0)
    with pytest.raises(AudiomnistError, match="female"):
        explain.figure1_examples(_signals([(5, 0, 0, 0)]), gender_test)


def test_zoom_window():
    assert explain.zoom_window(length=6000, offset=1000) == (0.50, 0.55)
    lo, hi = explain.zoom_window(length=2000, offset=500)  # the recording ends at 0.3125 s
    assert hi - lo == pytest.approx(0.05) and 500 / 8000 <= lo and hi <= 2500 / 8000
    r = np.zeros(8000)
    r[1200] = 5.0
    lo, hi = explain.zoom_window(length=2000, offset=500, relevance_wave=r)
    assert lo < 1200 / 8000 < hi


# ---------------------------------------------------------------- cached relevance of a test set

class _FoldData:
    def __init__(self, test):
        self.test, self.mean = test, None
        self.train = self.validation = test


def test_test_relevance_is_cached_and_stamped(tmp_path, monkeypatch, capsys, synth_corpus):
    from audiomnist_core.config import load_profile
    from audiomnist_core.steps import relevance as step
    from audiomnist_core.runs import Run

    run = Run(load_profile("smoke"), "synthetic", synth_corpus, tmp_path / "run")
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"weights v1")
    test = _signals([(1, 0, 0, 0), (2, 1, 0, 1), (3, 1, 1, 0)])
    test.waves = torch.randn(3, 8000, generator=torch.Generator().manual_seed(0)) * 1000
    model = nn.Sequential(nn.Conv1d(1, 2, 50, stride=50), nn.ReLU(), nn.Flatten(), nn.Linear(320, 2))
    calls = []
    monkeypatch.setattr(step, "ensure_trained", lambda *a, **k: checkpoint)
    monkeypatch.setattr(step, "fold_data", lambda *a, **k: _FoldData(test))
    monkeypatch.setattr(step, "resolve_device", lambda name: torch.device("cpu"))
    monkeypatch.setattr(step, "load_model", lambda *a, **k: calls.append(1) or model)

    first = steps.test_relevance(run, "audionet", "gender", 0)
    assert first.shape == (3, 1, 8000) and first.dtype == torch.float32
    assert run.path("relevance", "audionet-gender-fold0.npz").is_file()
    assert "relevance: audionet/gender fold 0, 3 test recordings" in capsys.readouterr().err
    second = steps.test_relevance(run, "audionet", "gender", 0)
    assert torch.equal(first, second) and len(calls) == 1  # read from the cache
    assert "relevance:" not in capsys.readouterr().err  # nothing computed, nothing said
    checkpoint.write_bytes(b"weights v2")
    steps.test_relevance(run, "audionet", "gender", 0)
    assert len(calls) == 2  # a new checkpoint is explained again
    assert "recomputing: input checkpoint changed" in capsys.readouterr().err


def test_the_profile_can_swap_lrp_for_another_attribution_method(tmp_path, monkeypatch, synth_corpus):
    import dataclasses

    from audiomnist_core.config import load_profile
    from audiomnist_core.steps import relevance as step
    from audiomnist_core.runs import Run

    lrp_config = load_profile("smoke")
    gradient_config = dataclasses.replace(lrp_config, explain=dataclasses.replace(lrp_config.explain, method="gradient_x_input"))
    checkpoint = tmp_path / "model.pt"
    checkpoint.write_bytes(b"weights")
    test = _signals([(1, 0, 0, 0), (2, 1, 0, 1), (3, 1, 1, 0)])
    test.waves = torch.randn(3, 8000, generator=torch.Generator().manual_seed(0)) * 1000
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv1d(1, 2, 50, stride=50), nn.ReLU(), nn.Flatten(), nn.Linear(320, 2))
    monkeypatch.setattr(step, "ensure_trained", lambda *a, **k: checkpoint)
    monkeypatch.setattr(step, "fold_data", lambda *a, **k: _FoldData(test))
    monkeypatch.setattr(step, "resolve_device", lambda name: torch.device("cpu"))
    monkeypatch.setattr(step, "load_model", lambda *a, **k: model)

    inputs = models.network_input("audionet", test.waves, None, lrp_config.preprocess.waveform_norm)
    labels = test.labels("gender")
    lrp = steps.explain_test_set(Run(lrp_config, "synthetic", synth_corpus, tmp_path / "run"), "audionet", "gender", 0)
    swapped = steps.explain_test_set(Run(gradient_config, "synthetic", synth_corpus, tmp_path / "run"), "audionet", "gender", 0)
    assert swapped.composite == "gradient_x_input"
    assert torch.allclose(swapped.relevance, explain.attribution(model, inputs, labels, "gradient_x_input"))
    assert not torch.allclose(swapped.relevance, lrp.relevance)  # recomputed, not the cached LRP
    # a composite asked for by name stays LRP whatever the method
    named = steps.explain_test_set(Run(gradient_config, "synthetic", synth_corpus, tmp_path / "run"),
                                     "audionet", "gender", 0, composite="epsilon")
    assert torch.allclose(named.relevance, explain.relevance(model, inputs, labels, "epsilon"))
