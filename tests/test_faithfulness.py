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


# --- the log fraction axis, per-recording areas, intervals and the paired test -------------

def test_the_log_axis_is_the_figures_symlog_axis():
    from matplotlib.scale import SymmetricalLogTransform

    from audiomnist_core.explain.faithfulness import LINTHRESH, symlog
    from audiomnist_core.plots.manipulations import LINTHRESH as FIGURES

    assert LINTHRESH == FIGURES
    x = np.asarray(GRID)
    expected = SymmetricalLogTransform(10, LINTHRESH, 1.0).transform_non_affine(x)
    assert np.allclose(symlog(x), expected)


def test_the_log_axis_area_weighs_the_first_percent_as_the_figures_show_it():
    cliff = [100.0, 100.0, 100.0, 100.0] + [0.0] * (len(GRID) - 4)  # falls to 0 right after 1 %
    late = [100.0] * 9 + [0.0] * 3  # falls after 20 %
    assert curve_auc(GRID, cliff, "linear") == pytest.approx(0.01 / 2 + 0.01 / 2, abs=0.01)
    assert curve_auc(GRID, cliff, "log") > 0.5  # half the log axis lies below 1 %
    assert curve_auc(GRID, late, "log") - curve_auc(GRID, cliff, "log") < curve_auc(GRID, late, "linear") - curve_auc(GRID, cliff, "linear") + 0.5
    assert curve_auc(GRID, [100.0] * len(GRID), "log") == pytest.approx(1.0)
    with pytest.raises(AudiomnistError, match="axis='loglog'"):
        curve_auc(GRID, cliff, "loglog")


def test_the_recordings_areas_average_to_the_area_of_the_mean_curve():
    from audiomnist_core.explain.faithfulness import item_aucs

    rng = np.random.default_rng(0)
    correct = (rng.random((len(GRID), 30)) > np.linspace(0, 1, len(GRID))[:, None]).astype(float)
    for axis in ("log", "linear"):
        items = item_aucs(GRID, correct, axis)
        assert items.shape == (30,)
        assert items.mean() == pytest.approx(curve_auc(GRID, 100 * correct.mean(1), axis))
    with pytest.raises(AudiomnistError, match="must be"):
        item_aucs(GRID, correct[1:])


def test_the_bootstrap_interval_is_seeded_and_covers_a_known_mean():
    from audiomnist_core.explain.faithfulness import bootstrap_ci

    rng = np.random.default_rng(1)
    folds = [rng.normal(0.4, 0.1, 100), rng.normal(0.5, 0.1, 100)]
    lo, hi = bootstrap_ci(folds, seed=3)
    assert bootstrap_ci(folds, seed=3) == (lo, hi) and bootstrap_ci(folds, seed=4) != (lo, hi)
    assert lo < 0.45 < hi and 0.01 < hi - lo < 0.06  # about 2 x 1.96 x 0.1 / sqrt(200)
    assert bootstrap_ci([np.full(5, 0.3)], seed=0) == pytest.approx((0.3, 0.3))
    hits = sum(lo <= 0.5 <= hi for lo, hi in (bootstrap_ci([np.random.default_rng(s).normal(0.5, 0.2, 50)], seed=s, n_boot=500)
                                              for s in range(60)))
    assert hits >= 50  # a 95 % interval covers the true mean about 57 times in 60


def test_the_paired_wilcoxon_test_is_scipys_and_says_where_no_pair_differs():
    from audiomnist_core.explain.faithfulness import paired_wilcoxon

    rng = np.random.default_rng(2)
    x = rng.normal(0.5, 0.1, 40)
    y = x - 0.05 + rng.normal(0, 0.02, 40)
    t = paired_wilcoxon(x, y)
    assert t["p"] == pytest.approx(scipy.stats.wilcoxon(x, y).pvalue) and t["p"] < 0.001
    assert (t["n"], t["n_differ"]) == (40, 40) and t["median_difference"] > 0
    same = paired_wilcoxon(x, x)
    assert same["p"] == 1.0 and same["n_differ"] == 0
    with pytest.raises(AudiomnistError, match="equal-length"):
        paired_wilcoxon(x, x[:3])


# --- the randomisation comparisons ----------------------------------------------------------

def test_spearman_over_the_non_zero_features_ignores_shared_zeros_of_the_padding():
    g = torch.Generator().manual_seed(3)
    signal = torch.rand(2, 40, generator=g)  # positive maps, as LRP's z+ gives
    a = torch.cat([signal, torch.zeros(2, 160)], 1)  # an input-weighted map: exactly 0 on the padding
    b = torch.cat([torch.rand(2, 40, generator=g), torch.zeros(2, 160)], 1)  # unrelated where the input is not 0
    mask = torch.cat([torch.ones(2, 40), torch.zeros(2, 160)], 1).bool()
    assert float(randomization_spearman(a, b).min()) > 0.6  # the zeros agree: rho inflated
    assert torch.allclose(randomization_spearman(a, b, mask),
                          torch.tensor([scipy.stats.spearmanr(signal[i], b[i, :40]).statistic for i in range(2)],
                                       dtype=torch.float64))
    assert torch.isnan(randomization_spearman(a, b, torch.zeros(2, 200, dtype=torch.bool))).all()


def test_the_top_k_intersection_counts_the_shared_top_features():
    from audiomnist_core.explain.faithfulness import topk_intersection

    a = torch.arange(200.0)[None].repeat(2, 1)
    assert topk_intersection(a, a).tolist() == [1.0, 1.0]
    assert topk_intersection(a, -a).tolist() == [0.0, 0.0]
    b = a.clone()
    b[0, 199], b[0, 0] = 0.0, 199.0  # one of the top two (1 % of 200) swapped out
    assert topk_intersection(a, b).tolist() == [0.5, 1.0]
    mask = torch.zeros(2, 200, dtype=torch.bool)
    mask[:, :100] = True  # the top 1 % of the first 100 features: one, 99 in a; 0 in b's first item
    assert topk_intersection(a, b, mask).tolist() == [0.0, 1.0]


def _ssim_slow(a: np.ndarray, b: np.ndarray, w: int = 7) -> float:
    """SSIM by its definition, window by window (the reference of the fast one)."""
    def unit(x):
        return (x - x.min()) / (x.max() - x.min()) if x.max() > x.min() else np.zeros_like(x)

    a, b = unit(a), unit(b)
    c1, c2 = 0.01**2, 0.03**2
    values = []
    for i in range(a.shape[0] - w + 1):
        for j in range(a.shape[1] - w + 1):
            x, y = a[i : i + w, j : j + w].ravel(), b[i : i + w, j : j + w].ravel()
            mx, my = x.mean(), y.mean()
            vx, vy = x.var(ddof=1), y.var(ddof=1)
            cxy = ((x - mx) * (y - my)).sum() / (x.size - 1)
            values.append(((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx**2 + my**2 + c1) * (vx + vy + c2)))
    return float(np.mean(values))


def test_ssim_matches_its_definition_and_is_one_for_identical_maps():
    from audiomnist_core.explain.faithfulness import ssim

    rng = np.random.default_rng(4)
    a = rng.normal(size=(3, 1, 12, 15))
    b = a + rng.normal(scale=0.7, size=a.shape)
    fast = ssim(a, b)
    assert fast.shape == (3,)
    assert np.allclose(fast.numpy(), [_ssim_slow(a[i, 0], b[i, 0]) for i in range(3)])
    assert np.allclose(ssim(a, a).numpy(), 1.0) and np.allclose(ssim(a, 3 * a + 1).numpy(), 1.0)  # scaled to [0, 1] first
    assert float(ssim(a, rng.normal(size=a.shape)).max()) < 0.3
    with pytest.raises(AudiomnistError, match="smaller than the 7 x 7 window"):
        ssim(a[..., :5, :5], b[..., :5, :5])
