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
- :mod:`.chapter`: what works on a run: the cached relevance of a test set
  (:func:`explain_test_set`) and the data of the chapter's figures and numbers.

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
from .chapter import (
    DIGIT_NAMES,
    LABELS,
    Explained,
    band_share_numbers,
    band_shares_of_run,
    class_examples,
    explain_run,
    explain_test_set,
    figure1_data,
    figure2_data,
    format_band_shares,
    format_padding_shares,
    model_inputs,
    padding_shares_of_run,
    run_composite,
    tasks_run,
    test_relevance,
)
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
    # chapter
    "run_composite", "model_inputs", "Explained", "explain_test_set", "test_relevance", "LABELS",
    "DIGIT_NAMES", "figure1_data", "figure2_data", "class_examples", "band_shares_of_run",
    "padding_shares_of_run", "tasks_run", "explain_run", "band_share_numbers", "format_band_shares",
    "format_padding_shares",
]
