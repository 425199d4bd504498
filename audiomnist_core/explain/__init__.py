"""Layer-wise relevance propagation (section 2.3 of the paper) on zennit 0.5.1.

:func:`relevance` explains one class per sample: the relevance that starts at the output is
that class's logit ``f(x)`` (the one-hot vector times the logits), and each layer
redistributes it to its inputs by an LRP rule, so the input relevance sums to ``f(x)`` up to
what the stabilisers and biases absorb.

Which rule a layer gets is a *composite*. Those built from this package's rules compute the
same numbers as zennit's hooks in one fused pass.

One step per module:

- :mod:`.rules`: the LRP rules, each a zennit hook and its fused backward step.
- :mod:`.composites`: which rule each layer gets; the named composites and each model's default.
- :mod:`.lrp`: :func:`relevance` of a batch (the fused pass, else zennit's hooks) and the
  explained class (:func:`targets_for`).
- :mod:`.attribution`: other attribution methods (gradient, gradient x input, SmoothGrad,
  integrated gradients) under one call, :func:`attribution`, for the same tests as LRP.
- :mod:`.analysis`: the numbers behind the paper's reading (:func:`band_shares`,
  :func:`padding_share`) and the examples of the paper's figures.

What works on a run (the cached relevance of a test fold, the data of chapter 03's figures) is
the step :mod:`audiomnist_core.steps.relevance`; the chapter's tables are
:mod:`audiomnist_core.report.relevance`.

Every public name is re-exported here: ``from audiomnist_core import explain`` then
``explain.relevance(...)``.
"""
from .analysis import (
    SAMPLE_RATE,
    Figure1Examples,
    band_shares,
    figure1_examples,
    padding_share,
    pick,
    spectrogram_frequencies,
    spectrogram_times,
    zoom_window,
)
from .attribution import METHODS, attribution
from .composites import (
    COMPOSITES,
    RuleComposite,
    default_composite,
    describe,
    make_composite,
    profile_composite,
    resolve_composite,
    spectrogram_bounds,
)
from .lrp import DEFAULT_BATCH, explaining, relevance, targets_for
from .rules import AlphaBeta, Epsilon, Flat, Gamma, Rule, Step, ZBox, ZPlus

__all__ = [
    # rules
    "Rule", "Step", "Epsilon", "ZPlus", "AlphaBeta", "Gamma", "ZBox", "Flat",
    # composites
    "RuleComposite", "COMPOSITES", "make_composite", "spectrogram_bounds", "default_composite",
    "profile_composite", "describe", "resolve_composite",
    # lrp
    "DEFAULT_BATCH", "explaining", "relevance", "targets_for",
    # attribution
    "METHODS", "attribution",
    # analysis
    "SAMPLE_RATE", "spectrogram_frequencies", "spectrogram_times", "band_shares", "padding_share",
    "pick", "Figure1Examples", "figure1_examples", "zoom_window",
]
