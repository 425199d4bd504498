"""Attribution methods beside LRP: each on models whose answer is known in closed form, which
checks that we call the libraries right."""
import pytest
import torch
from torch import nn

from audiomnist_core import explain
from audiomnist_core.errors import AudiomnistError
from audiomnist_core.explain.attribution import LRP_COMPOSITES, ReluMaxPool, deeplift_model


def linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 3))


def relu_model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))


def alexnet_like() -> nn.Module:
    """AlexNet's layer types (strided and grouped convolutions, overlapping max-pooling,
    dropout) on ``(N, 1, 35, 35)``."""
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Conv2d(1, 4, 5, stride=2), nn.ReLU(), nn.MaxPool2d(3, 2),  # (N, 4, 7, 7)
        nn.Conv2d(4, 4, 3, padding=1, groups=2), nn.ReLU(), nn.MaxPool2d(3, 2),  # (N, 4, 3, 3)
        nn.Flatten(), nn.Linear(36, 8), nn.ReLU(), nn.Dropout(0.5), nn.Linear(8, 3),
    )


def audionet_like() -> nn.Module:
    """AudioNet's layer types (ceil-mode max-pooling, linear fc layers, dropout) on
    ``(N, 1, 320)``."""
    torch.manual_seed(3)
    return nn.Sequential(
        nn.Conv1d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool1d(3, 2, ceil_mode=True),  # (N, 4, 160)
        nn.Conv1d(4, 4, 3, padding=1), nn.ReLU(), nn.MaxPool1d(2, 2, ceil_mode=True),  # (N, 4, 80)
        nn.Flatten(), nn.Linear(320, 8), nn.Dropout(0.5), nn.Linear(8, 3),
    )


def seeded_randn(*shape, seed: int) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


X = seeded_randn(5, 1, 6, seed=2)
T = torch.tensor([0, 1, 2, 1, 0])
SPECTROGRAMS = seeded_randn(3, 1, 35, 35, seed=4) * 10 - 40  # dB-like, above the -80 floor
WAVES = seeded_randn(3, 1, 320, seed=5)
T3 = torch.tensor([0, 2, 1])


def logit_gap(model, x, t, baseline) -> torch.Tensor:
    """``f(x) - f(baseline)`` of each input's target logit, in evaluation mode."""
    model.eval()
    with torch.no_grad():
        return (model(x) - model(torch.as_tensor(baseline, dtype=x.dtype).expand_as(x))).gather(1, t[:, None])[:, 0]


def test_gradient_of_a_linear_model_is_its_weight_row():
    model = linear_model()
    grad = explain.attribution(model, X, T, "gradient")
    assert grad.shape == X.shape
    assert torch.allclose(grad[:, 0], model[1].weight[T].detach())


def test_gradient_x_input_of_a_linear_model_is_weight_times_input():
    model = linear_model()
    a = explain.attribution(model, X, T, "gradient_x_input")
    assert torch.allclose(a[:, 0], model[1].weight[T].detach() * X[:, 0])


@pytest.mark.parametrize("method", ["integrated_gradients", "deeplift", "gradient_shap"])
def test_path_methods_on_a_linear_model_are_weight_times_input_minus_baseline(method):
    model = linear_model()
    a = explain.attribution(model, X, T, method, baseline=0.5, noise=0.0)  # GradientShap noises x
    assert torch.allclose(a[:, 0], model[1].weight[T].detach() * (X[:, 0] - 0.5), atol=1e-6)


def test_occlusion_of_one_feature_on_a_linear_model_is_weight_times_input_minus_baseline():
    model = linear_model()
    for baseline in (0.0, -0.7, torch.linspace(-1, 1, 6)):
        a = explain.attribution(model, X, T, "occlusion", window=1, baseline=baseline)
        assert torch.allclose(a[:, 0], model[1].weight[T].detach() * (X[:, 0] - baseline), atol=1e-6)


def test_integrated_gradients_is_complete_on_a_relu_network():
    model = relu_model()
    a = explain.attribution(model, X, T, "integrated_gradients", steps=256)
    gap = logit_gap(model, X, T, 0.0)
    assert torch.allclose(a.flatten(1).sum(1), gap, atol=1e-3 * gap.abs().max().item())


@pytest.mark.parametrize("make, inputs, baseline", [
    (alexnet_like, SPECTROGRAMS, -80.0), (audionet_like, WAVES, 0.0), (audionet_like, WAVES, -0.5),
])
def test_deeplift_sums_to_the_logit_gap_through_overlapping_max_pooling(make, inputs, baseline):
    model = make().double()
    a = explain.attribution(model, inputs.double(), T3, "deeplift", baseline=baseline)
    assert torch.allclose(a.flatten(1).sum(1), logit_gap(model, inputs.double(), T3, baseline), rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("pool, shape", [
    (nn.MaxPool1d(3, 2, ceil_mode=True), (2, 3, 9)), (nn.MaxPool1d(2, 2, ceil_mode=True), (2, 3, 9)),
    (nn.MaxPool1d(4, 3, padding=2), (2, 3, 12)), (nn.MaxPool2d(3, 2), (2, 3, 11, 10)),
    (nn.MaxPool2d((3, 2), (2, 1), padding=1, ceil_mode=True), (2, 3, 8, 7)),
])
def test_the_relu_chain_is_the_max_pooling(pool, shape):
    x = seeded_randn(*shape, seed=6).double()
    assert torch.allclose(ReluMaxPool(pool)(x), pool(x), rtol=0, atol=1e-12)


def test_deeplift_model_is_a_copy_with_relu_pooling_and_no_in_place_activations():
    model = nn.Sequential(nn.Conv1d(1, 2, 3), nn.ReLU(inplace=True), nn.MaxPool1d(2))
    copy = deeplift_model(model)
    assert isinstance(copy[2], ReluMaxPool) and not copy[1].inplace
    assert isinstance(model[2], nn.MaxPool1d) and model[1].inplace
    x = seeded_randn(2, 1, 9, seed=7)
    assert torch.allclose(copy(x), model(x.clone()), atol=1e-6)


def test_smoothgrad_is_seeded_and_without_noise_is_the_gradient():
    model = relu_model()
    one = explain.attribution(model, X, T, "smoothgrad", generator=torch.Generator().manual_seed(3))
    two = explain.attribution(model, X, T, "smoothgrad", generator=torch.Generator().manual_seed(3))
    other = explain.attribution(model, X, T, "smoothgrad", generator=torch.Generator().manual_seed(4))
    assert torch.equal(one, two) and not torch.equal(one, other)
    plain = explain.attribution(model, X, T, "smoothgrad", noise=0.0, samples=3)
    assert torch.allclose(plain, explain.attribution(model, X, T, "gradient"), atol=1e-6)


def test_smoothgrad_noise_scales_with_each_inputs_range():
    """The noise is relative to the input's range: ``10 x`` on the network whose first weights
    are divided by 10 meets the same noisy points as ``x`` on the original, so its SmoothGrad
    is a tenth of the original's."""
    model = relu_model()
    scaled = relu_model()
    with torch.no_grad():
        scaled[1].weight /= 10
    a = explain.attribution(model, X, T, "smoothgrad", samples=4)
    b = explain.attribution(scaled, 10 * X, T, "smoothgrad", samples=4)
    assert torch.allclose(a, 10 * b, atol=1e-5)


def test_random_is_seeded_reproducible_and_differs_across_seeds():
    model = linear_model()
    def draw(seed, **kw):
        return explain.attribution(model, X, T, "random", generator=torch.Generator().manual_seed(seed), **kw)
    assert draw(0).shape == X.shape
    assert torch.equal(draw(0), draw(0)) and torch.equal(draw(0), draw(0, batch_size=2))
    assert not torch.equal(draw(0), draw(1))
    assert torch.equal(explain.attribution(model, X, T, "random"), draw(0))


def test_gradient_shap_is_seeded_and_leaves_the_global_generators_alone():
    model = relu_model()
    torch.manual_seed(11)
    before = torch.rand(1)
    torch.manual_seed(11)
    one = explain.attribution(model, X, T, "gradient_shap", generator=torch.Generator().manual_seed(3))
    assert torch.equal(torch.rand(1), before)
    two = explain.attribution(model, X, T, "gradient_shap", generator=torch.Generator().manual_seed(3))
    other = explain.attribution(model, X, T, "gradient_shap", generator=torch.Generator().manual_seed(4))
    assert torch.equal(one, two) and not torch.equal(one, other)


def test_lrp_by_name_is_relevance_and_batching_changes_nothing():
    model = relu_model()
    assert torch.equal(explain.attribution(model, X, T, "lrp", composite="epsilon"),
                       explain.relevance(model, X, T, "epsilon"))
    for method in ("gradient", "integrated_gradients", "deeplift", "occlusion", "smoothgrad", "gradient_shap"):
        kw = {"window": 2} if method == "occlusion" else {}
        assert torch.allclose(explain.attribution(model, X, T, method, batch_size=2, **kw),
                              explain.attribution(model, X, T, method, **kw), atol=1e-6), method


@pytest.mark.parametrize("method", sorted(LRP_COMPOSITES))
def test_each_lrp_method_is_relevance_under_its_named_composite(method):
    assert LRP_COMPOSITES[method] in explain.COMPOSITES
    model = alexnet_like()
    bounds = (-80.0, 0.0)
    composite = explain.make_composite(LRP_COMPOSITES[method], *bounds)
    expected = explain.relevance(model, SPECTROGRAMS, T3, composite)
    assert torch.equal(explain.attribution(model, SPECTROGRAMS, T3, method, bounds=bounds), expected)


def test_the_box_composite_does_not_apply_to_a_waveform_model():
    with pytest.raises(AudiomnistError, match="'lrp_epsilon_gamma_box' does not apply to Sequential"):
        explain.attribution(audionet_like(), WAVES, T3, "lrp_epsilon_gamma_box")


def test_methods_lists_lrp_first_and_every_new_name():
    assert explain.METHODS[0] == "lrp"
    assert {"occlusion", "deeplift", "gradient_shap", "random", *LRP_COMPOSITES} <= set(explain.METHODS)


@pytest.mark.parametrize("method, make, inputs", [
    (method, make, inputs)
    for make, inputs in [(alexnet_like, SPECTROGRAMS), (audionet_like, WAVES)]
    for method in explain.METHODS
    if not (method == "lrp_epsilon_gamma_box" and make is audionet_like)  # see the test above
])
def test_every_method_runs_on_both_kinds_of_network_with_its_defaults(method, make, inputs):
    model = make().train()
    a = explain.attribution(model, inputs, T3, method, samples=3, steps=8)
    assert a.shape == inputs.shape and a.dtype == torch.float32 and bool(torch.isfinite(a).all())
    assert a.abs().sum() > 0
    assert model.training and all(m.training for m in model.modules())
    assert all(not m._forward_hooks and not m._backward_hooks and not m._forward_pre_hooks for m in model.modules())


def test_occlusion_windows_default_per_input_rank():
    model = audionet_like()
    default = explain.attribution(model, WAVES, T3, "occlusion")
    assert torch.equal(default, explain.attribution(model, WAVES, T3, "occlusion", window=160, stride=80))
    assert not torch.equal(default, explain.attribution(model, WAVES, T3, "occlusion", window=160))
    silence = explain.attribution(model, WAVES, T3, "occlusion", baseline=0.0)
    assert torch.equal(default, silence)


def test_the_model_is_left_as_it_was():
    model = relu_model().train()
    model[1].weight.requires_grad_(False)
    for method in ("smoothgrad", "deeplift", "gradient_shap"):
        explain.attribution(model, X, T, method, samples=2)
    assert model.training and all(m.training for m in model.modules())
    assert not model[1].weight.requires_grad and model[4].weight.requires_grad
    assert all(p.grad is None for p in model.parameters())


def test_bad_requests_are_one_clear_error():
    model = linear_model()
    with pytest.raises(AudiomnistError, match="unknown attribution method 'saliency'"):
        explain.attribution(model, X, T, "saliency")
    with pytest.raises(AudiomnistError, match="out of range"):
        explain.attribution(model, X, torch.tensor([0, 1, 2, 3, 0]), "gradient")
    with pytest.raises(AudiomnistError, match="steps >= 1"):
        explain.attribution(model, X, T, "integrated_gradients", steps=0)
    with pytest.raises(AudiomnistError, match="does not broadcast to one input"):
        explain.attribution(model, X, T, "deeplift", baseline=torch.zeros(2, 6))
    with pytest.raises(AudiomnistError, match="window .* is larger than the input"):
        explain.attribution(model, X, T, "occlusion")
    with pytest.raises(AudiomnistError, match="window must be a positive int or 1 positive ints"):
        explain.attribution(model, X, T, "occlusion", window=(1, 1))
