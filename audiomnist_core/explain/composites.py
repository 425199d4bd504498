"""Composites: which LRP rule each layer gets.

Composites here are zennit ``Composite`` objects, so ``zennit.attribution.Gradient`` computes
them as published; those built from the rules of :mod:`.rules` (:class:`RuleComposite`: every
named LRP composite and each model's default) also carry a declarative description of their
rules, which lets :func:`~.lrp.relevance` compute the same numbers in one fused pass.

Also here: the per-model default composites, the profile's choice and the box bounds of
AlexNet's input.
"""
from __future__ import annotations

from typing import Callable

import torch
import zennit.composites as zcomposites
import zennit.rules as zrules
import zennit.types as ztypes
from torch import nn
from zennit.core import Composite

from ..errors import AudiomnistError
from ..models import INPUTS
from ..preprocess import FREQ_BINS, TIME_FRAMES, TOP_DB
from .rules import AlphaBeta, Epsilon, Flat, Gamma, Rule, ZBox, ZPlus


class RuleComposite(zcomposites.SpecialFirstLayerMapComposite):
    """A zennit composite given by three rules, mapped as zennit's named composites map them.

    ``first`` (if any) applies to the first module of ``first_types`` in registration order,
    ``conv`` to the other convolutions, ``linear`` to the other ``nn.Linear`` layers;
    activations and batch norms pass relevance through (zennit's ``layer_map_base``); other
    modules (max-pooling, flattening, dropout) use the gradient.
    """

    def __init__(
        self,
        name: str,
        linear: Rule,
        conv: Rule,
        first: Rule | None = None,
        first_types: type = ztypes.Convolution,
    ) -> None:
        self.name = name
        self.rules = {"first": first, "conv": conv, "linear": linear}
        self._templates: dict[int, Rule] = {}
        layer_map = zcomposites.layer_map_base() + [
            (ztypes.Convolution, self._template(conv)),
            (nn.Linear, self._template(linear)),
        ]
        first_map = [] if first is None else [(first_types, self._template(first))]
        super().__init__(layer_map=layer_map, first_map=first_map)

    def _template(self, rule: Rule) -> zrules.BasicHook:
        hook = rule.hook()
        self._templates[id(hook)] = rule
        return hook

    def rule_of(self, hook) -> Rule | None:
        """The rule behind one of this composite's hook templates."""
        return self._templates.get(id(hook))

    def describe(self) -> str:
        parts = [f"{k}={r.describe()}" for k, r in self.rules.items() if r is not None]
        return f"{self.name}: " + ", ".join(parts)


def _epsilon_gamma_box(low=None, high=None) -> RuleComposite:
    if low is None or high is None:
        raise AudiomnistError(
            "composite 'epsilon_gamma_box' needs the input's box bounds: use "
            "make_composite('epsilon_gamma_box', low=..., high=...) or default_composite('alexnet', low, high)"
        )
    return RuleComposite("epsilon_gamma_box", Epsilon(), Gamma(), ZBox(low, high), ztypes.Convolution)


# Named LRP composites with the rules and defaults of zennit's registered composites of the
# same name, plus "epsilon" (the plain rule on every linear and convolutional layer).
_RULE_COMPOSITES: dict[str, Callable[..., RuleComposite]] = {
    "epsilon": lambda low=None, high=None: RuleComposite("epsilon", Epsilon(), Epsilon()),
    "epsilon_gamma_box": _epsilon_gamma_box,
    "epsilon_plus": lambda low=None, high=None: RuleComposite("epsilon_plus", Epsilon(), ZPlus()),
    "epsilon_plus_flat": lambda low=None, high=None: RuleComposite(
        "epsilon_plus_flat", Epsilon(), ZPlus(), Flat(), ztypes.Linear
    ),
    "epsilon_alpha2_beta1": lambda low=None, high=None: RuleComposite(
        "epsilon_alpha2_beta1", Epsilon(), AlphaBeta(2.0, 1.0)
    ),
    "epsilon_alpha2_beta1_flat": lambda low=None, high=None: RuleComposite(
        "epsilon_alpha2_beta1_flat", Epsilon(), AlphaBeta(2.0, 1.0), Flat(), ztypes.Linear
    ),
}
# Every name a composite can be given by: ours and the rest of zennit's registry (those run
# on zennit's hooks).
COMPOSITES: dict[str, Callable[..., Composite]] = {
    **{name: (lambda low=None, high=None, _c=c: _c()) for name, c in zcomposites.COMPOSITES.items()},
    **_RULE_COMPOSITES,
}


def make_composite(name: str, low=None, high=None) -> Composite:
    """The composite called ``name`` (see :data:`COMPOSITES`); ``low``/``high`` are the input
    bounds that ``epsilon_gamma_box`` needs."""
    if name not in COMPOSITES:
        raise AudiomnistError(f"unknown composite {name!r}; use one of {', '.join(sorted(COMPOSITES))}")
    return COMPOSITES[name](low=low, high=high)


def spectrogram_bounds(mean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact range of AlexNet's input: a dB spectrogram lies in ``[-80, 0]`` by construction
    (top_db 80 below its maximum), so after subtracting the fold's training mean ``(227, 227)``
    each pixel lies in ``[-80 - mean, -mean]``. Returns ``(low, high)``, each ``(1, 1, 227, 227)``."""
    mean = torch.as_tensor(mean, dtype=torch.float32).reshape(1, 1, FREQ_BINS, TIME_FRAMES)
    return -TOP_DB - mean, -mean


def default_composite(model_name: str, low=None, high=None) -> RuleComposite:
    """Each model's documented default composite, chosen for faithfulness as Montavon et al.
    2019 ("Layer-wise relevance propagation: an overview") recommend rules per layer: LRP-0 or
    epsilon for the upper dense layers, LRP-gamma (or its limit z+) for the lower
    convolutions, and an input-layer rule that matches the input domain.

    ``"alexnet"``: zennit's EpsilonGammaBox. The input is a mean-subtracted dB spectrogram,
    bounded by construction, so the first layer uses the z^B rule with the box ``[low,
    high]`` (pass :func:`spectrogram_bounds` of the fold's training mean; without them, the
    widest range any mean-subtracted spectrogram can take, ``[-80, 80]`` dB); gamma 0.25 on
    the other convolutions; epsilon on fc6-fc8.

    ``"audionet"``: zennit's EpsilonPlus. The input is a signed, unbounded waveform padded
    with exact zeros. z^B needs a bounded domain; the w^2 rule that deep Taylor decomposition
    derives for unbounded inputs (Montavon et al. 2017) and its flat variant (Lapuschkin et al.
    2019) distribute a neuron's relevance by squared weights or uniformly, whatever the input,
    and so hand the relevance that bias-driven activity in the silence carries onto silent
    samples, which did not cause it. The z+ rule (alpha 1, beta 0 of
    Bach et al. 2015) splits the *contributions* ``a_i w_ij`` by sign, so it is defined for
    signed inputs and keeps each sample's relevance proportional to its own contribution: a
    silent sample gets none (what the paper's Fig. 2 shows). z+ also suits conv2-conv6, whose
    inputs are non-negative after ReLU and max-pooling (the gamma -> infinity end of
    LRP-gamma); fc7-fc9, plain linear maps in the original network, use epsilon.
    """
    if model_name == "alexnet":
        if low is None or high is None:
            low, high = -TOP_DB, TOP_DB
        return RuleComposite("alexnet default (epsilon_gamma_box)", Epsilon(), Gamma(), ZBox(low, high))
    if model_name == "audionet":
        return RuleComposite("audionet default (epsilon_plus)", Epsilon(), ZPlus())
    raise AudiomnistError(f"unknown model {model_name!r}; use one of {', '.join(INPUTS)}")


def profile_composite(choice: str, model_name: str, low=None, high=None) -> Composite:
    """The composite a profile names for a model (``explain.composites``): ``"default"`` or
    a name from :data:`COMPOSITES`."""
    if choice == "default":
        return default_composite(model_name, low, high)
    return make_composite(choice, low, high)


def describe(composite: Composite) -> str:
    """Text that identifies a composite (for captions and cache stamps)."""
    if isinstance(composite, RuleComposite):
        return composite.describe()
    return f"zennit {type(composite).__name__}"


def resolve_composite(composite: Composite | str | None) -> Composite:
    """A composite from a composite, a name, or ``None`` (the plain "epsilon" rule)."""
    if composite is None:
        return make_composite("epsilon")
    if isinstance(composite, str):
        return make_composite(composite)
    if isinstance(composite, Composite):
        return composite
    raise AudiomnistError(f"composite must be a zennit Composite or a name, not {type(composite).__name__}")
