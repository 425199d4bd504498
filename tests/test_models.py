"""The two networks against SPEC.md's layer table: shapes, parameter counts, activations,
initialisation and the registry."""
import pytest
import torch
from torch import nn

from audiomnist_core import models


def _seeded(name: str, task: str = "digits") -> nn.Module:
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return models.build(name, task)


def _layers(model: nn.Module, kind: type) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, kind)]


@torch.no_grad()
def _shapes(model: nn.Module, x: torch.Tensor) -> list[tuple[str, tuple[int, ...]]]:
    """Output shape of every leaf module, in call order."""
    seen = []
    hooks = [
        m.register_forward_hook(lambda m, i, o, name=name: seen.append((name, tuple(o.shape[1:]))))
        for name, m in model.named_modules() if not list(m.children())
    ]
    try:
        model.eval()(x)
    finally:
        for h in hooks:
            h.remove()
    return seen


def test_alexnet_layer_shapes():
    shapes = dict(_shapes(_seeded("alexnet"), torch.zeros(2, 1, 227, 227)))
    convs = [name for name, m in _seeded("alexnet").named_modules() if isinstance(m, nn.Conv2d)]
    assert shapes[convs[0]] == (96, 55, 55)  # (227 - 11) / 4 + 1 = 55
    assert shapes[convs[1]] == (256, 27, 27)
    assert shapes[convs[4]] == (256, 13, 13)
    assert shapes["classifier.0"] == (9216,)  # 6 x 6 x 256 after the third pooling
    assert list(shapes.values())[-1] == (10,)


def test_audionet_layer_shapes_need_ceil_mode():
    model = _seeded("audionet")
    shapes = _shapes(model, torch.zeros(2, 1, 8000))
    pools = [s for name, s in shapes if name.startswith("features") and isinstance(model.get_submodule(name), nn.MaxPool1d)]
    assert [s[1] for s in pools] == [4000, 2000, 1000, 500, 250, 125]
    assert dict(shapes)["classifier.0"] == (16000,)  # 128 x 125
    assert all(m.ceil_mode for m in _layers(model, nn.MaxPool1d))
    # Caffe's ceil-mode pooling matters: flooring gives length 124.
    floor = nn.Sequential(*[nn.MaxPool1d(m.kernel_size, m.stride) for m in _layers(model, nn.MaxPool1d)])
    assert floor(torch.zeros(1, 1, 8000)).shape[-1] == 124


ALEXNET_PARAMS = {  # weights + biases, from SPEC's layer table (groups halve the input channels)
    "conv1": 96 * 1 * 11 * 11 + 96,  # 11,712
    "conv2": 256 * (96 // 2) * 5 * 5 + 256,  # 307,456
    "conv3": 384 * 256 * 3 * 3 + 384,  # 885,120
    "conv4": 384 * (384 // 2) * 3 * 3 + 384,  # 663,936
    "conv5": 256 * (384 // 2) * 3 * 3 + 256,  # 442,624
    "fc6": 9216 * 1024 + 1024,  # 9,438,208
    "fc7": 1024 * 1024 + 1024,  # 1,049,600
}
AUDIONET_PARAMS = {
    "conv1": 100 * 1 * 3 + 100,  # 400
    "conv2": 64 * 100 * 3 + 64,  # 19,264
    "conv3": 128 * 64 * 3 + 128,  # 24,704
    "conv4": 128 * 128 * 3 + 128,  # 49,280
    "conv5": 128 * 128 * 3 + 128,
    "conv6": 128 * 128 * 3 + 128,
    "fc7": 16000 * 1024 + 1024,  # 16,385,024
    "fc8": 1024 * 512 + 512,  # 524,800
}


@pytest.mark.parametrize("name, table, last_in", [("alexnet", ALEXNET_PARAMS, 1024), ("audionet", AUDIONET_PARAMS, 512)])
@pytest.mark.parametrize("task, classes", [("digits", 10), ("gender", 2)])
def test_parameter_counts(name, table, last_in, task, classes):
    model = models.build(name, task)
    layers = _layers(model, (nn.Conv1d, nn.Conv2d, nn.Linear))
    expected = list(table.values()) + [last_in * classes + classes]
    assert [sum(p.numel() for p in m.parameters()) for m in layers] == expected
    assert sum(p.numel() for p in model.parameters()) == sum(expected)


def test_parameter_totals():
    assert sum(ALEXNET_PARAMS.values()) + 1024 * 10 + 10 == 12_808_906
    assert sum(AUDIONET_PARAMS.values()) + 512 * 10 + 10 == 17_107_162


@pytest.mark.parametrize("name, n_relu", [("alexnet", 7), ("audionet", 6)])
def test_activations_are_separate_non_inplace_relu_modules(name, n_relu):
    model = models.build(name, "digits")
    relus = _layers(model, nn.ReLU)
    assert len(relus) == n_relu  # AlexNet: 5 convs + fc6 + fc7; AudioNet: 6 convs only
    assert len({id(r) for r in relus}) == n_relu  # one module per activation, none reused
    assert not any(r.inplace for r in relus)


def test_grouped_convolutions_and_no_lrn():
    model = models.build("alexnet", "digits")
    assert [c.groups for c in _layers(model, nn.Conv2d)] == [1, 2, 1, 2, 2]
    assert not _layers(model, nn.LocalResponseNorm)


@pytest.mark.parametrize("name", ["alexnet", "audionet"])
def test_dropout_half_in_the_classifier(name):
    assert [d.p for d in _layers(models.build(name, "digits"), nn.Dropout)] == [0.5, 0.5]


@torch.no_grad()
def test_audionet_fc7_fc8_are_linear():
    """From the flattened features to fc8's output the map is affine (no ReLU), as in the
    original files: f(a + b) - f(0) = (f(a) - f(0)) + (f(b) - f(0))."""
    head = _seeded("audionet").eval().classifier[1:5]  # fc7, dropout, fc8, dropout
    assert [type(m) for m in head] == [nn.Linear, nn.Dropout, nn.Linear, nn.Dropout]
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(1, 16000, generator=g), torch.randn(1, 16000, generator=g)
    zero = head(torch.zeros(1, 16000))
    assert torch.allclose(head(a + b) - zero, (head(a) - zero) + (head(b) - zero), atol=1e-3, rtol=1e-4)
    assert (head(-a) - zero).sign().eq(-(head(a) - zero).sign()).all()  # a ReLU would clip one side


def _init_table(model: nn.Module) -> list[tuple[float, float]]:
    layers = _layers(model, (nn.Conv1d, nn.Conv2d, nn.Linear))
    return [(m.weight.std().item(), m.bias.mean().item()) for m in layers]


def test_alexnet_initialisation():
    stds = [0.01, 0.01, 0.01, 0.01, 0.01, 0.005, 0.005, 0.01]
    biases = [0.0, 0.1, 0.0, 0.1, 0.1, 0.1, 0.1, 0.0]
    model = _seeded("alexnet")
    for (std, bias), want_std, want_bias in zip(_init_table(model), stds, biases):
        assert std == pytest.approx(want_std, rel=0.1)
        assert bias == pytest.approx(want_bias, abs=1e-7)
    for m in _layers(model, (nn.Conv2d, nn.Linear)):
        assert m.weight.mean().abs() < 0.2 * m.weight.std()
        assert torch.all(m.bias == m.bias[0])


def test_audionet_initialisation():
    for std, bias in _init_table(_seeded("audionet")):
        assert std == pytest.approx(0.1, rel=0.1)  # the smallest layer (conv1) has 300 weights
        assert bias == 0.0


@pytest.mark.parametrize("name, shape", [("alexnet", (1, 227, 227)), ("audionet", (1, 8000))])
@pytest.mark.parametrize("task, classes", [("digits", 10), ("gender", 2)])
def test_outputs_per_task(name, shape, task, classes):
    model = models.build(name, task)
    assert model.input_shape == shape
    assert model.eval()(torch.zeros(3, *shape)).shape == (3, classes)


@pytest.mark.parametrize("name", ["alexnet", "audionet"])
def test_glorot_initialisation_is_an_option(name):
    torch.manual_seed(0)
    model = models.build(name, "digits", init="glorot")
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            fan_in = m.weight[0].numel()
            fan_out = m.weight.shape[0] * m.weight[0, 0].numel()
            assert m.weight.abs().max() <= (6 / (fan_in + fan_out)) ** 0.5
            assert torch.all(m.bias == 0)
    with pytest.raises(ValueError, match="unknown init"):
        models.build(name, "digits", init="he")


def test_registry():
    assert set(models.MODELS) == set(models.INPUTS) == {"alexnet", "audionet"}
    assert models.INPUTS == {"alexnet": "spectrogram", "audionet": "waveform"}
    assert models.N_CLASSES == {"digits": 10, "gender": 2}
    assert isinstance(models.build("alexnet", "gender"), models.AlexNet)
    assert isinstance(models.build("audionet", "digits"), models.AudioNet)
    with pytest.raises(ValueError, match="unknown model"):
        models.build("resnet", "digits")
    with pytest.raises(ValueError, match="unknown task"):
        models.build("alexnet", "speaker")
