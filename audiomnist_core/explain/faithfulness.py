"""How faithful an attribution method is (issue 11): numbers from its zeroing curve and the
model-randomisation test of Adebayo et al. 2018, as pure functions on arrays and models.

- :func:`curve_auc` and :func:`drop_at` summarise a zeroing curve (accuracy in percent after
  zeroing the top ``fraction`` of features that a method marks, as
  :func:`~audiomnist_core.perturb.perturbation_curve` gives it): the lower, the more the
  model relies on what the method marks.
- :func:`cascading_randomization` yields the model with its layers re-initialised from the
  output down, and :func:`randomization_spearman` compares the attributions before and after:
  a method whose maps stay alike when the weights they explain are gone does not explain the
  weights.
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


def curve_auc(fractions: Sequence[float], accuracies: Sequence[float]) -> float:
    """Area under the accuracy-vs-fraction curve, normalised to ``[0, 1]``.

    The trapezoidal area over the fraction axis, divided by the fraction span
    ``fractions[-1] - fractions[0]`` and by 100, since ``accuracies`` are in percent: a
    curve that stays at 100 % has area 1, a straight fall from 100 % to 0 has area 0.5.
    Lower means that the model relies more on what the method marks.
    """
    f, a = _curve(fractions, accuracies)
    area = float(np.sum((a[1:] + a[:-1]) / 2 * np.diff(f)))
    return area / (f[-1] - f[0]) / 100.0


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


def randomization_spearman(attr_a, attr_b) -> torch.Tensor:
    """Spearman rank correlation, item by item, of two attribution batches ``(N, ...)``
    (tensors or arrays of one shape; each item flattened, ties ranked by their average rank).

    Returns ``(N,)`` float64; NaN for an item whose map is constant in either batch. For
    the test of Adebayo et al. compare ``attr.abs()`` too, where the sign is not the point.
    """
    ta, tb = torch.as_tensor(attr_a), torch.as_tensor(attr_b)
    if ta.shape != tb.shape or ta.ndim < 2:
        raise AudiomnistError(
            f"attributions of shapes {tuple(ta.shape)} and {tuple(tb.shape)} are not two batches (N, ...) of one shape"
        )
    a, b = (t.detach().cpu().flatten(1).double().numpy() for t in (ta, tb))
    ra = scipy.stats.rankdata(a, axis=1)
    rb = scipy.stats.rankdata(b, axis=1)
    ra -= ra.mean(1, keepdims=True)
    rb -= rb.mean(1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = (ra * rb).sum(1) / np.sqrt((ra**2).sum(1) * (rb**2).sum(1))
    return torch.from_numpy(rho)
