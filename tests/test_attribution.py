"""Attribution methods beside LRP: each on models whose answer is known in closed form."""
import pytest
import torch
from torch import nn

from audiomnist_core import explain
from audiomnist_core.errors import AudiomnistError


def linear_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 3))


def relu_model() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Flatten(), nn.Linear(6, 16), nn.ReLU(), nn.Dropout(0.5), nn.Linear(16, 3))


X = torch.randn(5, 1, 6, generator=torch.Generator().manual_seed(2))
T = torch.tensor([0, 1, 2, 1, 0])


def test_gradient_of_a_linear_model_is_its_weight_row():
    model = linear_model()
    grad = explain.attribution(model, X, T, "gradient")
    assert grad.shape == X.shape
    assert torch.allclose(grad[:, 0], model[1].weight[T].detach())


@pytest.mark.parametrize("method", ["gradient_x_input", "integrated_gradients"])
def test_input_times_gradient_of_a_linear_model_sums_to_the_logit_without_bias(method):
    model = linear_model()
    a = explain.attribution(model, X, T, method)
    logits = model(X).detach().gather(1, T[:, None])[:, 0]
    assert torch.allclose(a.flatten(1).sum(1), logits - model[1].bias[T].detach(), atol=1e-5)


def test_integrated_gradients_is_complete_on_a_relu_network():
    model = relu_model()
    a = explain.attribution(model, X, T, "integrated_gradients", steps=512)
    model.eval()
    with torch.no_grad():
        gap = (model(X) - model(torch.zeros_like(X))).gather(1, T[:, None])[:, 0]
    assert torch.allclose(a.flatten(1).sum(1), gap, atol=1e-3 * gap.abs().max().item())


def test_smoothgrad_is_seeded_and_without_noise_is_the_gradient():
    model = relu_model()
    one = explain.attribution(model, X, T, "smoothgrad", generator=torch.Generator().manual_seed(3))
    two = explain.attribution(model, X, T, "smoothgrad", generator=torch.Generator().manual_seed(3))
    other = explain.attribution(model, X, T, "smoothgrad", generator=torch.Generator().manual_seed(4))
    assert torch.equal(one, two) and not torch.equal(one, other)
    plain = explain.attribution(model, X, T, "smoothgrad", noise=0.0, samples=3)
    assert torch.allclose(plain, explain.attribution(model, X, T, "gradient"), atol=1e-6)


def test_lrp_by_name_is_relevance_and_batching_changes_nothing():
    model = relu_model()
    assert torch.equal(explain.attribution(model, X, T, "lrp", composite="epsilon"),
                       explain.relevance(model, X, T, "epsilon"))
    for method in ("gradient", "integrated_gradients"):
        assert torch.allclose(explain.attribution(model, X, T, method, batch_size=2),
                              explain.attribution(model, X, T, method), atol=1e-6)


def test_the_model_is_left_as_it_was():
    model = relu_model().train()
    model[1].weight.requires_grad_(False)
    explain.attribution(model, X, T, "smoothgrad", samples=2)
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
