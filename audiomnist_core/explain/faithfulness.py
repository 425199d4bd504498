"""How faithful an attribution method is (issue 11): numbers from its zeroing curve and the
model-randomisation test of Adebayo et al. 2018, as pure functions on arrays and models, and
the statistics that say how sure a comparison of methods is (issue 19).

- :func:`curve_auc` and :func:`drop_at` summarise a zeroing curve (accuracy in percent after
  zeroing the top ``fraction`` of features that a method marks, as
  :func:`~audiomnist_core.perturb.perturbation_curve` gives it): the lower, the more the
  model relies on what the method marks. The area is taken on the figures' fraction axis,
  linear below 0.1 % and logarithmic above (``axis="log"``, the headline: each decade from
  0.1 % to 100 % weighs alike, so the first 1 % counts as much as the rest), or on a linear
  one (``axis="linear"``, where 80 % of the area comes from 20-100 % zeroed).
  :func:`item_aucs` gives the area of each recording's own curve (correct or not at each
  fraction); their mean is the area of the mean curve.
- :func:`bootstrap_ci` gives a seeded percentile interval of a mean over recordings (within
  folds, then over folds); :func:`paired_wilcoxon` tests two methods on the same recordings.
- :func:`cascading_randomization` yields the model with its layers re-initialised from the
  output down, and :func:`randomization_spearman` (over the features that are non-zero in the
  input, so that both maps' exact zeros on padding or the spectrogram's floor do not count as
  agreement), :func:`topk_intersection` and :func:`ssim` compare the attributions before and
  after: a method whose maps stay alike when the weights they explain are gone does not
  explain the weights.
"""
from __future__ import annotations

import copy
from typing import Iterator, Sequence

import numpy as np
import scipy.stats
import torch
from torch import nn

from ..errors import AudiomnistError
from .attribution import seeded


def _curve(fractions, accuracies) -> tuple[np.ndarray, np.ndarray]:
    f = np.asarray(fractions, dtype=np.float64)
    a = np.asarray(accuracies, dtype=np.float64)
    if f.ndim != 1 or f.shape != a.shape or f.size < 2:
        raise AudiomnistError(
            f"a curve needs as many accuracies as fractions, at least 2, not {a.shape} and {f.shape}"
        )
    if not bool(np.all(np.diff(f) > 0)):
        raise AudiomnistError(f"fractions must increase strictly, not {f.tolist()}")
    return f, a


# The fraction axis of the figures (matplotlib's symlog, base 10, linscale 1): linear below
# LINTHRESH, logarithmic above; plots.manipulations.LINTHRESH is the same number (a test checks).
LINTHRESH = 1e-3
AXES = ("log", "linear")


def symlog(fractions, linthresh: float = LINTHRESH) -> np.ndarray:
    """The fractions as the figures' x axis places them: matplotlib's symmetric-log transform
    (base 10, ``linscale=1``), ``x * c`` up to ``linthresh`` and ``linthresh * (c + log10(x /
    linthresh))`` above, ``c = 1 / (1 - 1/10)``. ``(n,) -> (n,)`` float64."""
    x = np.asarray(fractions, dtype=np.float64)
    c = 1.0 / (1.0 - 1.0 / 10.0)
    with np.errstate(divide="ignore"):
        logged = linthresh * (c + np.log10(np.maximum(np.abs(x), linthresh) / linthresh))
    return np.sign(x) * np.where(np.abs(x) <= linthresh, np.abs(x) * c, logged)


def _axis(f: np.ndarray, axis: str) -> np.ndarray:
    if axis not in AXES:
        raise AudiomnistError(f"axis={axis!r}: use one of {', '.join(AXES)}")
    return symlog(f) if axis == "log" else f


def curve_auc(fractions: Sequence[float], accuracies: Sequence[float], axis: str = "linear") -> float:
    """Area under the accuracy-vs-fraction curve, normalised to ``[0, 1]``.

    The trapezoidal area over the fraction axis (``"linear"``, or ``"log"``: the figures'
    symmetric-log axis, :func:`symlog`), divided by the axis span and by 100, since
    ``accuracies`` are in percent: a curve that stays at 100 % has area 1. On the linear axis
    a straight fall from 100 % to 0 has area 0.5. Lower means that the model relies more on
    what the method marks.
    """
    f, a = _curve(fractions, accuracies)
    x = _axis(f, axis)
    area = float(np.sum((a[1:] + a[:-1]) / 2 * np.diff(x)))
    return area / (x[-1] - x[0]) / 100.0


def item_aucs(fractions: Sequence[float], correct, axis: str = "log") -> np.ndarray:
    """:func:`curve_auc` of each recording's own curve: ``correct`` ``(n_fractions, N)``, 1
    where the recording is still classified correctly at that fraction (a share of draws for
    a random ranking). Returns ``(N,)`` float64; its mean is the area of the mean curve."""
    f = np.asarray(fractions, dtype=np.float64)
    c = np.asarray(correct, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] != f.size:
        raise AudiomnistError(f"correct must be (n_fractions, N) = ({f.size}, N), not {c.shape}")
    _curve(f, np.zeros(f.size))  # the fractions' checks
    x = _axis(f, axis)
    return ((c[1:] + c[:-1]) / 2 * np.diff(x)[:, None]).sum(0) / (x[-1] - x[0])


def bootstrap_ci(groups: Sequence[np.ndarray], seed: int, n_boot: int = 2000, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean over ``groups`` (folds) of each group's mean over its
    items (recordings), from ``n_boot`` resamples of the items within each group, with
    replacement, seeded by ``seed``. A single item per group gives a zero-width interval."""
    if not groups or any(len(g) == 0 for g in groups):
        raise AudiomnistError("the bootstrap needs at least one recording in every fold")
    rng = np.random.default_rng(seed)
    stats = np.zeros(n_boot)
    for g in groups:
        g = np.asarray(g, dtype=np.float64)
        stats += g[rng.integers(0, g.size, (n_boot, g.size))].mean(1)
    stats /= len(groups)
    tail = (1.0 - level) / 2 * 100
    lo, hi = np.percentile(stats, [tail, 100 - tail])
    return float(lo), float(hi)


def paired_wilcoxon(x, y) -> dict:
    """Wilcoxon's signed-rank test of ``x`` against ``y``, paired item by item (the same
    recordings; two-sided; recordings with equal values dropped, as Wilcoxon did).

    Returns ``{"p", "statistic", "n": pairs, "n_differ": pairs that differ,
    "median_difference": median of x - y}``; ``p`` is 1 where no pair differs."""
    a, b = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1:
        raise AudiomnistError(f"a paired test needs two equal-length series, not {a.shape} and {b.shape}")
    d = a - b
    differ = int(np.count_nonzero(d))
    if differ == 0:
        p, statistic = 1.0, 0.0
    else:
        test = scipy.stats.wilcoxon(a, b, zero_method="wilcox")
        p, statistic = float(test.pvalue), float(test.statistic)
    return {"p": p, "statistic": statistic, "n": int(a.size), "n_differ": differ,
            "median_difference": float(np.median(d)) if d.size else float("nan")}


def drop_at(fractions: Sequence[float], accuracies: Sequence[float], fraction: float = 0.01) -> float:
    """Accuracy at fraction 0 minus accuracy at ``fraction`` (percentage points); both must
    be on the grid ``fractions``."""
    f, a = _curve(fractions, accuracies)

    def at(value: float) -> float:
        hits = np.flatnonzero(np.isclose(f, value, rtol=0.0, atol=1e-12))
        if hits.size == 0:
            raise AudiomnistError(f"fraction {value} is not on the curve's grid {f.tolist()}")
        return float(a[hits[0]])

    return at(0.0) - at(fraction)


def parametrised_layers(model: nn.Module) -> list[str]:
    """Names of the modules that hold parameters of their own, in registration order (input
    to output for the package's models)."""
    return [name for name, m in model.named_modules() if next(m.parameters(recurse=False), None) is not None]


def cascading_randomization(
    model: nn.Module, reset_order: Sequence[str] | None = None, seed: int = 0
) -> Iterator[tuple[str, nn.Module]]:
    """Cascading model-parameter randomisation (Adebayo et al. 2018, "Sanity checks for
    saliency maps").

    Yields ``(name, randomized)`` for ``k = 1, 2, ...``: a copy of ``model`` whose first ``k``
    layers of ``reset_order`` are re-initialised, cumulatively. ``reset_order`` names modules
    with parameters; by default :func:`parametrised_layers` from the output layer down. Each
    layer gets PyTorch's default initialisation of its type (``reset_parameters``) from a
    generator seeded by ``(seed, k)``, so the sequence is reproducible and the global
    generators are left as they were. ``model`` itself is not changed; each copy is the
    caller's to change.
    """
    layers = parametrised_layers(model)
    order = list(reversed(layers)) if reset_order is None else list(reset_order)
    modules = dict(model.named_modules())
    for name in order:
        if name not in layers:
            raise AudiomnistError(
                f"{name!r} is not a layer with parameters of {type(model).__name__}; use some of {', '.join(layers)}"
            )
        if not hasattr(modules[name], "reset_parameters"):
            raise AudiomnistError(f"layer {name!r} ({type(modules[name]).__name__}) has no reset_parameters")
    randomized = copy.deepcopy(model)
    current = dict(randomized.named_modules())
    for k, name in enumerate(order, 1):
        with seeded(int(np.random.SeedSequence([seed, k]).generate_state(1)[0])), torch.no_grad():
            current[name].reset_parameters()
        yield name, copy.deepcopy(randomized)


def _pairs(attr_a, attr_b) -> tuple[np.ndarray, np.ndarray]:
    ta, tb = torch.as_tensor(attr_a), torch.as_tensor(attr_b)
    if ta.shape != tb.shape or ta.ndim < 2:
        raise AudiomnistError(
            f"attributions of shapes {tuple(ta.shape)} and {tuple(tb.shape)} are not two batches (N, ...) of one shape"
        )
    return tuple(t.detach().cpu().flatten(1).double().numpy() for t in (ta, tb))


def _active(mask, shape: tuple[int, int]) -> np.ndarray:
    if mask is None:
        return np.ones(shape, dtype=bool)
    m = torch.as_tensor(mask).detach().cpu().reshape(shape[0], -1).numpy().astype(bool)
    if m.shape != shape:
        raise AudiomnistError(f"the mask has {m.shape[1]} features per item, the attributions {shape[1]}")
    return m


def randomization_spearman(attr_a, attr_b, mask=None) -> torch.Tensor:
    """Spearman rank correlation, item by item, of two attribution batches ``(N, ...)``
    (tensors or arrays of one shape; each item flattened, ties ranked by their average rank),
    over the features where ``mask`` (same number of elements per item) is true, all where
    it is None. For the randomisation test the mask is the features that are non-zero in the
    input: an input-weighted method is exactly 0 on padding under any weights, and those
    shared zeros would count as agreement.

    Returns ``(N,)`` float64; NaN for an item whose map is constant in either batch (over the
    mask) or with fewer than two features in it. For the test of Adebayo et al. compare
    ``attr.abs()`` too, where the sign is not the point.
    """
    a, b = _pairs(attr_a, attr_b)
    active = _active(mask, a.shape)
    rho = np.full(a.shape[0], np.nan)
    for i in range(a.shape[0]):
        xa, xb = a[i, active[i]], b[i, active[i]]
        if xa.size < 2:
            continue
        ra, rb = scipy.stats.rankdata(xa), scipy.stats.rankdata(xb)
        ra -= ra.mean()
        rb -= rb.mean()
        with np.errstate(invalid="ignore", divide="ignore"):
            rho[i] = (ra * rb).sum() / np.sqrt((ra**2).sum() * (rb**2).sum())
    return torch.from_numpy(rho)


TOPK = 0.01  # the top-k intersection compares the top 1 % of each map: the paper's reading point


def topk_intersection(attr_a, attr_b, mask=None, fraction: float = TOPK) -> torch.Tensor:
    """Share of the ``k`` highest-attributed features of each item of ``attr_a`` that are
    among the ``k`` highest of ``attr_b``, ``k = max(1, round(fraction x features in mask))``,
    over the features where ``mask`` is true (as :func:`randomization_spearman`; the ranking
    of the zeroing test: highest attribution first, ties in feature order). 1: the same top
    features; about ``fraction``: unrelated maps. ``(N,)`` float64, NaN for an empty mask."""
    a, b = _pairs(attr_a, attr_b)
    active = _active(mask, a.shape)
    out = np.full(a.shape[0], np.nan)
    for i in range(a.shape[0]):
        xa, xb = a[i, active[i]], b[i, active[i]]
        if xa.size == 0:
            continue
        k = max(1, int(round(fraction * xa.size)))
        top_a = np.argsort(-xa, kind="stable")[:k]
        top_b = np.argsort(-xb, kind="stable")[:k]
        out[i] = np.intersect1d(top_a, top_b).size / k
    return torch.from_numpy(out)


SSIM_WINDOW = 7  # as scikit-image's structural_similarity: a 7 x 7 uniform window ...
SSIM_K1, SSIM_K2 = 0.01, 0.03  # ... these constants, sample covariances, data range 1


def _unit(maps: torch.Tensor) -> torch.Tensor:
    """Each map scaled to [0, 1] by its own minimum and maximum (a constant map: 0)."""
    flat = maps.flatten(1)
    lo, hi = flat.min(1).values[:, None, None], flat.max(1).values[:, None, None]
    return torch.where(hi > lo, (maps - lo) / (hi - lo).clamp_min(1e-300), torch.zeros_like(maps))


def ssim(maps_a, maps_b) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) of two batches of 2-D maps ``(N, H, W)`` (or
    ``(N, 1, H, W)``), as Adebayo et al. compare saliency maps: each map scaled to [0, 1]
    (:func:`_unit`), then the mean over every 7 x 7 window inside the map of
    ``(2 mu_a mu_b + C1)(2 s_ab + C2) / ((mu_a^2 + mu_b^2 + C1)(s_a^2 + s_b^2 + C2))`` with
    sample (co)variances, ``C1 = 0.01^2``, ``C2 = 0.03^2`` (scikit-image's defaults). 1:
    identical maps. ``(N,)`` float64."""
    a, b = (torch.as_tensor(m).detach().cpu().double() for m in (maps_a, maps_b))
    if a.shape != b.shape or a.ndim not in (3, 4) or (a.ndim == 4 and a.shape[1] != 1):
        raise AudiomnistError(f"ssim needs two batches of 2-D maps (N, H, W) of one shape, not {tuple(a.shape)} and {tuple(b.shape)}")
    a, b = _unit(a.reshape(a.shape[0], *a.shape[-2:])), _unit(b.reshape(b.shape[0], *b.shape[-2:]))
    w = SSIM_WINDOW
    if min(a.shape[-2:]) < w:
        raise AudiomnistError(f"maps of {tuple(a.shape[-2:])} are smaller than the {w} x {w} window")
    pool = lambda x: torch.nn.functional.avg_pool2d(x[:, None], w, stride=1)[:, 0]  # noqa: E731
    n = w * w
    mu_a, mu_b = pool(a), pool(b)
    var_a = (pool(a * a) - mu_a**2) * n / (n - 1)
    var_b = (pool(b * b) - mu_b**2) * n / (n - 1)
    cov = (pool(a * b) - mu_a * mu_b) * n / (n - 1)
    c1, c2 = SSIM_K1**2, SSIM_K2**2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.flatten(1).mean(1)
