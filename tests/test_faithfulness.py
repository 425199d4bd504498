"""Faithfulness numbers: the zeroing curve's area and drop, and the randomisation test."""
import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

from audiomnist_core.errors import AudiomnistError
from audiomnist_core.explain.faithfulness import (
    cascading_randomization,
    curve_auc,
    drop_at,
    parametrised_layers,
    randomization_spearman,
)

GRID = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)  # the profile's fractions


def small_net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv1d(1, 3, 3), nn.ReLU(), nn.MaxPool1d(2),
        nn.Conv1d(3, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(6, 4), nn.Dropout(0.5), nn.Linear(4, 2),
    )


def test_auc_of_a_constant_curve_at_100_percent_is_one():
    assert curve_auc(GRID, [100.0] * len(GRID)) == pytest.approx(1.0)
    assert curve_auc((0.0, 0.5), (100.0, 100.0)) == pytest.approx(1.0)  # normalised by the span


def test_auc_of_a_linear_decline_to_zero_is_one_half_on_any_grid():
    for grid in (GRID, np.linspace(0, 1, 5)):
        assert curve_auc(grid, [100.0 * (1 - f) for f in grid]) == pytest.approx(0.5)
    assert curve_auc((0.0, 0.1, 1.0), (100.0, 0.0, 0.0)) == pytest.approx(0.05)


def test_a_curve_is_checked():
    with pytest.raises(AudiomnistError, match="as many accuracies as fractions"):
        curve_auc((0.0, 0.5, 1.0), (90.0, 50.0))
    with pytest.raises(AudiomnistError, match="increase strictly"):
        curve_auc((0.0, 0.5, 0.5), (90.0, 50.0, 40.0))


def test_drop_at_is_the_accuracy_lost_at_a_grid_fraction():
    acc = [90.0, 85.0, 80.0, 70.0] + [10.0] * (len(GRID) - 4)
    assert drop_at(GRID, acc) == pytest.approx(20.0)
    assert drop_at(GRID, acc, 0.005) == pytest.approx(10.0)
    assert drop_at(GRID, acc, 0.0) == 0.0
    with pytest.raises(AudiomnistError, match="fraction 0.03 is not on the curve's grid"):
        drop_at(GRID, acc, 0.03)
    with pytest.raises(AudiomnistError, match="fraction 0.0 is not on"):
        drop_at(GRID[1:], acc[1:], 0.01)


def test_spearman_of_identical_maps_is_one_and_of_reversed_ranks_minus_one():
    a = torch.randn(4, 1, 50, generator=torch.Generator().manual_seed(0))
    assert torch.allclose(randomization_spearman(a, a), torch.ones(4, dtype=torch.float64))
    assert torch.allclose(randomization_spearman(a, -a), -torch.ones(4, dtype=torch.float64))
    assert randomization_spearman(a, a).shape == (4,)


def test_spearman_is_invariant_to_monotone_transforms_and_matches_scipy_with_ties():
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(3, 2, 20, generator=g), torch.randn(3, 2, 20, generator=g)
    rho = randomization_spearman(a, b)
    assert torch.allclose(randomization_spearman(torch.exp(a), b ** 3), rho)
    tied = a.round()  # many ties
    expected = [scipy.stats.spearmanr(tied[i].flatten(), b[i].flatten()).statistic for i in range(3)]
    assert torch.allclose(randomization_spearman(tied, b.numpy()), torch.tensor(expected, dtype=torch.float64))
    assert abs(float(rho[0])) < 0.5  # unrelated maps are not alike


def test_spearman_needs_two_batches_of_one_shape():
    with pytest.raises(AudiomnistError, match="not two batches"):
        randomization_spearman(torch.zeros(2, 5), torch.zeros(2, 6))


def test_parametrised_layers_run_from_input_to_output():
    assert parametrised_layers(small_net()) == ["0", "3", "6", "8"]


def test_cascading_randomization_changes_exactly_the_top_k_layers_at_step_k():
    model = small_net()
    original = {k: v.clone() for k, v in model.state_dict().items()}
    steps = list(cascading_randomization(model))
    assert [name for name, _ in steps] == ["8", "6", "3", "0"]
    layers = parametrised_layers(model)
    for k, (_, randomized) in enumerate(steps, 1):
        changed = {name for name in layers
                   if not torch.equal(randomized.get_submodule(name).weight, model.get_submodule(name).weight)}
        assert changed == set(layers[-k:])
        for name in changed:  # the bias is re-initialised too
            assert not torch.equal(randomized.get_submodule(name).bias, model.get_submodule(name).bias)
    assert all(torch.equal(v, original[k]) for k, v in model.state_dict().items())
    assert steps[0][1] is not steps[1][1] and steps[0][1] is not model


def test_cascading_randomization_is_seeded_and_leaves_the_global_generator_alone():
    model = small_net()
    torch.manual_seed(5)
    before = torch.rand(1)
    torch.manual_seed(5)
    one = [m.state_dict() for _, m in cascading_randomization(model, seed=1)]
    assert torch.equal(torch.rand(1), before)
    two = [m.state_dict() for _, m in cascading_randomization(model, seed=1)]
    other = [m.state_dict() for _, m in cascading_randomization(model, seed=2)]
    assert all(torch.equal(x[k], y[k]) for x, y in zip(one, two) for k in x)
    assert not torch.equal(one[0]["8.weight"], other[0]["8.weight"])


def test_cascading_randomization_follows_a_given_order_and_checks_it():
    model = small_net()
    (name, randomized), = cascading_randomization(model, reset_order=["3"])
    assert name == "3" and not torch.equal(randomized[3].weight, model[3].weight)
    assert torch.equal(randomized[8].weight, model[8].weight)
    with pytest.raises(AudiomnistError, match="'1' is not a layer with parameters"):
        list(cascading_randomization(model, reset_order=["1"]))
