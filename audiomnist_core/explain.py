"""Layer-wise relevance propagation (section 2.3 of the paper) on zennit 0.5.1.

:func:`relevance` explains one class per sample: the relevance that starts at the output is
that class's logit ``f(x)`` (the one-hot vector times the logits), and each layer
redistributes it to its inputs by an LRP rule, so the input relevance sums to ``f(x)`` up to
what the stabilisers and biases absorb.

Which rule a layer gets is a *composite*. Composites here are zennit ``Composite`` objects, so
``zennit.attribution.Gradient`` computes them as published; those built from the rules of
this module (:class:`RuleComposite`: every named LRP composite and each model's default) also
carry a declarative description of their rules, which lets :func:`relevance` compute the
same numbers in one fused pass: the forward pass is run once without autograd and kept, and
each layer's rule is one explicit backward step that reuses it (see ``Rule.compile``). Terms
that are provably zero for a batch (the negative-input half of a rule whose inputs are all
non-negative after a ReLU; the negative-output branch of the gamma rule where no relevance
arrives at negative pre-activations) are skipped, never approximated. The tests check the
fused pass against stock zennit and the epsilon rule against a slow float64 reference.

Also here: the per-model default composites, the explained class (true or predicted), the
examples of the paper's figures, the numbers behind the paper's reading of them
(:func:`band_shares`, :func:`padding_share`) and the cached relevance of a test set.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F
import zennit.composites as zcomposites
import zennit.rules as zrules
import zennit.types as ztypes
from torch import nn
from zennit.attribution import Gradient
from zennit.core import Composite

from . import train
from .errors import AudiomnistError
from .models import INPUTS, AlexNet, AudioNet
from .preprocess import FIRST_FRAME, FREQ_BINS, HOP, N_FFT, TIME_FRAMES, TOP_DB, model_input, spectrogram
from .runs import atomic_path, status

DEFAULT_BATCH = 64
SAMPLE_RATE = 8000  # Hz, the models' input rate (section 2.2.1)


# --------------------------------------------------------------------------------------------
# Rules: each is a zennit hook (the reference) and a fused computation of the same numbers.
# Notation: layer input a, stored output z = W a + b, relevance R at the output; adj(s, W) is
# the layer's adjoint (the input gradient of the linear map W applied to s).
# --------------------------------------------------------------------------------------------

def _forward(layer: nn.Module, x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None) -> torch.Tensor:
    """``layer``'s linear map with other parameters."""
    if isinstance(layer, nn.Linear):
        return F.linear(x, weight, bias)
    return torch.ops.aten.convolution(
        x, weight, bias, layer.stride, layer.padding, layer.dilation, False, [0] * len(layer.stride), layer.groups
    )


def _groups(layer: nn.Module) -> int:
    return 1 if isinstance(layer, nn.Linear) else layer.groups


def _forward_sum(layer: nn.Module, xs: Sequence[torch.Tensor], weights: Sequence[torch.Tensor],
                 bias: torch.Tensor | None) -> torch.Tensor:
    """``sum_k layer(xs[k]; weights[k]) + bias`` as one call: the inputs stacked along the
    channels (group by group) against the weights stacked along their input channels."""
    g, k = _groups(layer), len(xs)
    b, c = xs[0].shape[:2]
    x = torch.stack([t.reshape(b, g, c // g, *t.shape[2:]) for t in xs], 2).reshape(b, k * c, *xs[0].shape[2:])
    return _forward(layer, x, torch.cat(list(weights), 1), bias)


def _adjoints(layer: nn.Module, s: torch.Tensor, weights: Sequence[torch.Tensor],
              like: torch.Tensor) -> list[torch.Tensor]:
    """Gradients of ``<s, layer(a; w)>`` with respect to ``a`` (shaped like ``like``), one per
    weight in ``weights``, computed as one call with the weights stacked along their input
    channels: on CPU a strided first layer costs about the same for three as for one."""
    g, k = _groups(layer), len(weights)
    b, c, *spatial = like.shape
    w = torch.cat(list(weights), 1) if k > 1 else weights[0]
    if isinstance(layer, nn.Linear):
        out = s @ w
    elif _col2im(layer, like):
        cols = w.reshape(w.shape[0], -1).t() @ s.reshape(b, w.shape[0], -1)  # (B, k C kh kw, L)
        out = F.fold(cols, tuple(spatial), layer.kernel_size, layer.dilation, layer.padding, layer.stride)
    else:
        shape = like.shape if k == 1 else (b, k * c, *spatial)
        out = torch.ops.aten.convolution_backward(
            s, like if k == 1 else like.new_empty(shape), w, None, layer.stride, layer.padding, layer.dilation,
            False, [0] * len(layer.stride), layer.groups, [True, False, False],
        )[0]
    if k == 1:
        return [out]
    return [t.reshape(like.shape) for t in out.reshape(b, g, k, c // g, *spatial).unbind(2)]


def _col2im(layer: nn.Module, like: torch.Tensor) -> bool:
    """Whether to compute a conv's adjoint as an explicit matrix product and col2im: on CPU,
    for a strided 2-D first layer on one input channel (AlexNet's conv1) it is about twice as
    fast as the native input-gradient kernel; elsewhere the native kernel is the faster."""
    return (
        isinstance(layer, nn.Conv2d) and layer.groups == 1 and layer.in_channels == 1
        and like.device.type == "cpu" and max(layer.stride) > 1
    )


def _pos(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.clamp(min=0)


def _neg(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.clamp(max=0)


def _nonnegative(a: torch.Tensor) -> bool:
    """True when ``a`` has no negative entry, so the negative-input terms of a rule vanish."""
    return bool(a.min() >= 0)


def _stabilize(z: torch.Tensor, eps: float) -> torch.Tensor:
    """zennit's ``stabilize(z, eps)`` (``z + eps``, ``z - eps`` where ``z < 0``), bit for bit,
    in fewer passes over memory."""
    return z + torch.where(z < 0, z.new_tensor(-eps), z.new_tensor(eps))


def _stabilize_nonnegative(z: torch.Tensor, eps: float) -> torch.Tensor:
    """:func:`_stabilize` of a ``z`` that cannot be negative (a sum of non-negative terms): ``z + eps``."""
    return z.add_(eps)


Step = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


class Rule:
    """An LRP rule for linear and convolutional layers.

    ``hook()`` is the zennit rule; ``compile(layer)`` returns ``step(a, z, R) -> R_in`` that
    computes the same relevance from the stored forward pass (layer input ``a``, output
    ``z = W a + b``, relevance ``R`` at the output), with the rule's modified parameters
    prepared once.
    """

    def hook(self) -> zrules.BasicHook:
        raise NotImplementedError

    def compile(self, layer: nn.Module) -> Step:
        raise NotImplementedError

    def describe(self) -> str:
        raise NotImplementedError


@dataclass(frozen=True)
class Epsilon(Rule):
    """LRP-epsilon (Bach et al. 2015): ``R_i = a_i sum_j w_ij R_j / (z_j + eps sign z_j)``;
    eq. (1) of the paper with a stabiliser."""

    epsilon: float = 1e-6

    def hook(self):
        return zrules.Epsilon(epsilon=self.epsilon)

    def compile(self, layer):
        w, eps = layer.weight, self.epsilon

        def step(a, z, R):
            return a * _adjoints(layer, R / _stabilize(z, eps), [w], a)[0]

        return step

    def describe(self):
        return f"Epsilon(epsilon={self.epsilon})"


@dataclass(frozen=True)
class ZPlus(Rule):
    """LRP-z+ (alpha 1, beta 0): relevance in proportion to the positive contributions
    ``a+ w+`` and ``a- w-``, so it is defined for signed inputs too."""

    stabilizer: float = 1e-6

    def hook(self):
        return zrules.ZPlus(stabilizer=self.stabilizer)

    def compile(self, layer):
        w, b, eps = layer.weight, layer.bias, self.stabilizer
        wp, wn, bp = _pos(w), _neg(w), _pos(b)

        def step(a, z, R):
            # The denominator sums non-negative contributions, so its stabiliser is + eps.
            if _nonnegative(a):  # below a ReLU: a- = 0 and its terms are exactly zero
                s = R / _stabilize_nonnegative(_forward(layer, a, wp, bp), eps)
                return a * _adjoints(layer, s, [wp], a)[0]
            ap, an = a.clamp(min=0), a.clamp(max=0)
            s = R / _stabilize_nonnegative(_forward_sum(layer, [ap, an], [wp, wn], bp), eps)
            gp, gn = _adjoints(layer, s, [wp, wn], a)
            return ap * gp + an * gn

        return step

    def describe(self):
        return f"ZPlus(stabilizer={self.stabilizer})"


@dataclass(frozen=True)
class AlphaBeta(Rule):
    """LRP-alpha-beta (Bach et al. 2015): ``alpha`` times the positive minus ``beta`` times
    the negative contributions, each normalised separately."""

    alpha: float = 2.0
    beta: float = 1.0
    stabilizer: float = 1e-6

    def hook(self):
        return zrules.AlphaBeta(alpha=self.alpha, beta=self.beta, stabilizer=self.stabilizer)

    def compile(self, layer):
        w, b, eps = layer.weight, layer.bias, self.stabilizer
        wp, wn, bp, bn = _pos(w), _neg(w), _pos(b), _neg(b)
        alpha, beta = self.alpha, self.beta

        def step(a, z, R):
            if _nonnegative(a):
                sp = R / _stabilize_nonnegative(_forward(layer, a, wp, bp), eps)
                sn = R / _stabilize(_forward(layer, a, wn, bn), eps)
                return alpha * (a * _adjoints(layer, sp, [wp], a)[0]) - beta * (a * _adjoints(layer, sn, [wn], a)[0])
            ap, an = a.clamp(min=0), a.clamp(max=0)
            sp = R / _stabilize_nonnegative(_forward_sum(layer, [ap, an], [wp, wn], bp), eps)
            sn = R / _stabilize(_forward_sum(layer, [ap, an], [wn, wp], bn), eps)
            gpp, gpn = _adjoints(layer, sp, [wp, wn], a)
            gnn, gnp = _adjoints(layer, sn, [wn, wp], a)
            return alpha * (ap * gpp + an * gpn) - beta * (ap * gnn + an * gnp)

        return step

    def describe(self):
        return f"AlphaBeta(alpha={self.alpha}, beta={self.beta}, stabilizer={self.stabilizer})"


@dataclass(frozen=True)
class Gamma(Rule):
    """Generalised LRP-gamma (Montavon et al. 2019; Andeol et al. 2021): positive
    contributions weighted up by ``gamma`` for positive outputs, negative ones for negative
    outputs."""

    gamma: float = 0.25
    stabilizer: float = 1e-6

    def hook(self):
        return zrules.Gamma(gamma=self.gamma, stabilizer=self.stabilizer)

    def compile(self, layer):
        w, b, eps, g = layer.weight, layer.bias, self.stabilizer, self.gamma
        wgp, wgn = w + g * _pos(w), w + g * _neg(w)
        bgp = None if b is None else b + g * _pos(b)
        bgn = None if b is None else b + g * _neg(b)

        def step(a, z, R):
            rp = (z > 0) * R
            # Below a ReLU no relevance reaches a non-positive pre-activation, so the branch
            # of negative outputs is exactly zero; it is computed only where it is not.
            negative = not torch.equal(rp, R)
            rn = (z < 0) * R if negative else None
            if _nonnegative(a):
                out = a * _adjoints(layer, rp / _stabilize(_forward(layer, a, wgp, bgp), eps), [wgp], a)[0]
                if negative:
                    out = out + a * _adjoints(layer, rn / _stabilize(_forward(layer, a, wgn, bgn), eps), [wgn], a)[0]
                return out
            ap, an = a.clamp(min=0), a.clamp(max=0)
            sp = rp / _stabilize(_forward_sum(layer, [ap, an], [wgp, wgn], bgp), eps)
            gp, gn = _adjoints(layer, sp, [wgp, wgn], a)
            out = ap * gp + an * gn
            if negative:
                sn = rn / _stabilize(_forward_sum(layer, [ap, an], [wgn, wgp], bgn), eps)
                gn2, gp2 = _adjoints(layer, sn, [wgn, wgp], a)
                out = out + ap * gn2 + an * gp2
            return out

        return step

    def describe(self):
        return f"Gamma(gamma={self.gamma}, stabilizer={self.stabilizer})"


def _bound(value: float | torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """A box bound as a tensor broadcastable to ``like`` (batch dimension 1 where possible)."""
    t = torch.as_tensor(value).to(like)
    if t.ndim == 0:
        return t.expand((1, *like.shape[1:]))
    if t.shape[0] == 1 or t.ndim < like.ndim:
        return t.reshape((1,) * (like.ndim - t.ndim) + tuple(t.shape)).expand((1, *like.shape[1:]))
    return t[: like.shape[0]]


@dataclass(frozen=True, eq=False)
class ZBox(Rule):
    """LRP-z^B (Montavon et al. 2017) for inputs known to lie in ``[low, high]`` (floats or
    tensors shaped like one input with a leading 1)."""

    low: float | torch.Tensor
    high: float | torch.Tensor
    stabilizer: float = 1e-6

    def hook(self):
        return zrules.ZBox(low=self.low, high=self.high, stabilizer=self.stabilizer)

    def compile(self, layer):
        w, b, eps = layer.weight, layer.bias, self.stabilizer
        wp, wn, bp, bn = _pos(w), _neg(w), _pos(b), _neg(b)

        def step(a, z, R):
            low, high = _bound(self.low, a), _bound(self.high, a)
            # The bounds are the same for every sample: their forward terms are one sample's.
            s = R / _stabilize(z - (_forward(layer, low, wp, bp) + _forward(layer, high, wn, bn)), eps)
            # zennit's a g(W) - low g(W+) - high g(W-), with g(W) = g(W+) + g(W-): two adjoints.
            gp, gn = _adjoints(layer, s, [wp, wn], a)
            return (a - low) * gp + (a - high) * gn

        return step

    def describe(self):
        def show(v):
            t = torch.as_tensor(v)
            if t.ndim == 0:
                return repr(float(t))
            digest = hashlib.sha256(t.detach().cpu().double().numpy().tobytes()).hexdigest()[:12]
            return f"tensor{tuple(t.shape)}:{digest}"

        return f"ZBox(low={show(self.low)}, high={show(self.high)}, stabilizer={self.stabilizer})"


@dataclass(frozen=True)
class Flat(Rule):
    """LRP-flat (Lapuschkin et al. 2019): a neuron's relevance spread uniformly over its
    receptive field, whatever the input values."""

    stabilizer: float = 1e-6

    def hook(self):
        return zrules.Flat(stabilizer=self.stabilizer)

    def compile(self, layer):
        ones, eps = torch.ones_like(layer.weight), self.stabilizer

        def step(a, z, R):
            # Receptive-field sizes (>= 1) do not depend on the sample: one sample's forward.
            size = _stabilize_nonnegative(_forward(layer, torch.ones_like(a[:1]), ones, None), eps)
            return _adjoints(layer, R / size, [ones], a)[0]

        return step

    def describe(self):
        return f"Flat(stabilizer={self.stabilizer})"


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


# --------------------------------------------------------------------------------------------
# The fused pass: the model as a chain of leaf modules, each with one backward step.
# --------------------------------------------------------------------------------------------

_MAXPOOL = {nn.MaxPool1d: F.max_pool1d, nn.MaxPool2d: F.max_pool2d}
# Module types whose forward is exactly their children (leaves) applied in order.
_CHAIN_TYPES = (nn.Sequential, AlexNet, AudioNet)


@dataclass
class _Plan:
    """Leaves of a chain model with what each does on the way back: ``("rule", step)``,
    ``("pool", fn)``, ``("reshape", None)`` or ``("pass", None)``."""

    layers: list[tuple[nn.Module, str, object]] = field(default_factory=list)
    verified: bool = False


def _plan(model: nn.Module, composite: Composite) -> _Plan | None:
    """The fused pass of ``composite`` on ``model``, or None where it does not apply (then
    zennit's hooks compute the relevance)."""
    if not isinstance(composite, RuleComposite) or composite.canonizers:
        return None
    containers = [m for m in model.modules() if next(m.children(), None) is not None]
    plan = _Plan(verified=all(type(m) in _CHAIN_TYPES for m in containers))
    ctx: dict = {}
    for name, module in model.named_modules():
        hook = composite.module_map(ctx, name, module)  # the same assignment as zennit's
        if next(module.children(), None) is not None:
            if hook is not None:
                return None
            continue
        rule = composite.rule_of(hook) if hook is not None else None
        if rule is not None:
            if not isinstance(module, (nn.Linear, nn.Conv1d, nn.Conv2d)):
                return None
            if isinstance(module, nn.Conv1d | nn.Conv2d) and (
                module.padding_mode != "zeros" or isinstance(module.padding, str)
            ):
                return None
            plan.layers.append((module, "rule", rule.compile(module)))
        elif isinstance(hook, zrules.Pass) or (hook is None and isinstance(module, (nn.Dropout, nn.Identity))):
            plan.layers.append((module, "pass", None))
        elif hook is None and type(module) in _MAXPOOL:
            plan.layers.append((module, "pool", _MAXPOOL[type(module)]))
        elif hook is None and isinstance(module, nn.Flatten):
            plan.layers.append((module, "reshape", None))
        else:
            return None
    return plan


def _fused(plan: _Plan, x: torch.Tensor) -> tuple[torch.Tensor, list]:
    """Forward pass through the chain, keeping what the backward steps need."""
    tape = []
    for module, kind, fn in plan.layers:
        if kind == "pool":
            out, idx = fn(
                x, module.kernel_size, module.stride, module.padding, module.dilation,
                ceil_mode=module.ceil_mode, return_indices=True,
            )
            tape.append((x.shape, idx))
        elif kind == "rule":
            out = module(x)
            tape.append((x, out))
        else:
            out = module(x)
            tape.append(x.shape)
        x = out
    return x, tape


def _fused_backward(plan: _Plan, tape: list, R: torch.Tensor) -> torch.Tensor:
    """Relevance ``R`` at the output back to the input; empties ``tape`` on the way."""
    for module, kind, fn in reversed(plan.layers):
        saved = tape.pop()  # frees each layer's tensors once its step is done
        if kind == "rule":
            a, z = saved
            R = fn(a, z, R)
        elif kind == "pool":  # the gradient: each output's relevance to its maximum
            shape, idx = saved
            flat = R.new_zeros(shape[:2] + (int(np.prod(shape[2:])),))
            R = flat.scatter_add_(2, idx.flatten(2), R.flatten(2)).reshape(shape)
        elif kind == "reshape":
            R = R.reshape(saved)
    return R


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------

@contextlib.contextmanager
def explaining(model: nn.Module) -> Iterator[nn.Module]:
    """Evaluation mode and frozen parameters for the duration; every module's mode and every
    parameter's ``requires_grad`` are restored afterwards."""
    modes = [(m, m.training) for m in model.modules()]
    grads = [(p, p.requires_grad) for p in model.parameters()]
    try:
        model.eval()
        for p, _ in grads:
            p.requires_grad_(False)
        yield model
    finally:
        for m, mode in modes:
            m.training = mode
        for p, flag in grads:
            p.requires_grad_(flag)


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    p = next(model.parameters(), None)
    return (p.device, p.dtype) if p is not None else (torch.device("cpu"), torch.get_default_dtype())


def _check_inputs(model: nn.Module, inputs) -> torch.Tensor:
    inputs = torch.as_tensor(inputs)
    if not inputs.is_floating_point():
        raise AudiomnistError(f"inputs must be floating point, not {inputs.dtype}")
    expected = getattr(model, "input_shape", None)
    name = type(model).__name__
    if expected is not None and tuple(inputs.shape[1:]) != tuple(expected):
        raise AudiomnistError(
            f"inputs have shape {tuple(inputs.shape)}; {name} expects (N, {', '.join(map(str, expected))})"
        )
    if inputs.ndim < 2 or inputs.shape[0] == 0:
        raise AudiomnistError(f"inputs have shape {tuple(inputs.shape)}; expected a non-empty batch (N, ...)")
    return inputs


def _check_targets(targets, n: int) -> torch.Tensor:
    targets = torch.as_tensor(targets)
    if targets.ndim == 0:
        targets = targets.expand(n)
    if targets.is_floating_point() or targets.is_complex() or targets.dtype == torch.bool:
        raise AudiomnistError(f"targets must be integer class indices, not {targets.dtype}")
    if tuple(targets.shape) != (n,):
        raise AudiomnistError(f"targets have shape {tuple(targets.shape)}; expected ({n},), one class per input")
    if bool((targets < 0).any()):
        raise AudiomnistError(f"target class {int(targets.min())} is out of range; classes start at 0")
    return targets.long()


def _check_classes(targets: torch.Tensor, n_classes: int) -> None:
    if int(targets.max()) >= n_classes:
        raise AudiomnistError(
            f"target class {int(targets.max())} is out of range; the model has {n_classes} classes (0..{n_classes - 1})"
        )


def _start(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Relevance at the output: the target's logit, zero elsewhere."""
    return torch.zeros_like(logits).scatter_(1, targets[:, None], 1.0) * logits


def relevance(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor | int,
    composite: Composite | str | None = None,
    batch_size: int | None = None,
    engine: str = "auto",
) -> torch.Tensor:
    """LRP relevance of ``inputs`` for class ``targets`` (one per input) under ``model``.

    Parameters
    ----------
    model : the network; used in evaluation mode and left exactly as it was (modes,
        ``requires_grad`` flags, no hooks), on whatever device it lives.
    inputs : ``(N, ...)`` float tensor on any device; ``(N, 1, 227, 227)`` for AlexNet,
        ``(N, 1, 8000)`` for AudioNet.
    targets : ``(N,)`` int class per input (an int: the same class for all).
    composite : a zennit ``Composite``, a name from :data:`COMPOSITES` (zennit's registered
        names plus ``"epsilon"``), or None for ``"epsilon"``.
    batch_size : inputs per pass (default 64).
    engine : ``"auto"`` (the fused pass where the composite and model allow, else zennit's
        hooks), ``"zennit"`` (always zennit's hooks) or ``"fused"`` (an error where it does
        not apply).

    Returns
    -------
    ``(N, ...)`` relevance, the dtype of the model, on the inputs' device. Each sample's
    relevance starts as its target's logit, so under "epsilon" with zero biases it sums to
    that logit.
    """
    if engine not in ("auto", "zennit", "fused"):
        raise AudiomnistError(f"unknown engine {engine!r}; use 'auto', 'zennit' or 'fused'")
    composite = resolve_composite(composite)
    inputs = _check_inputs(model, inputs)
    targets = _check_targets(targets, inputs.shape[0])
    batch_size = batch_size or DEFAULT_BATCH
    device, dtype = _device_dtype(model)
    plan = None if engine == "zennit" else _plan(model, composite)
    if engine == "fused" and plan is None:
        raise AudiomnistError(
            f"the fused pass does not apply to {describe(composite)} on {type(model).__name__}; use engine='auto'"
        )
    out = []
    with explaining(model):
        if plan is not None:
            with torch.no_grad():
                for start in range(0, inputs.shape[0], batch_size):
                    x = inputs[start : start + batch_size].to(device, dtype)
                    t = targets[start : start + batch_size].to(device)
                    logits, tape = _fused(plan, x)
                    if not plan.verified:  # a model of unknown type: is it really this chain?
                        if not torch.allclose(model(x), logits, rtol=1e-5, atol=1e-6):
                            plan = None
                            break
                        plan.verified = True
                    if start == 0:
                        _check_classes(targets, logits.shape[1])
                    out.append(_fused_backward(plan, tape, _start(logits, t)).to(inputs.device))
        if plan is None:
            out = []
            with Gradient(model, composite) as attributor:
                for start in range(0, inputs.shape[0], batch_size):
                    x = inputs[start : start + batch_size].to(device, dtype).requires_grad_(True)
                    t = targets[start : start + batch_size].to(device)

                    def start_relevance(logits, t=t, first=start == 0):
                        if first:
                            _check_classes(targets, logits.shape[1])
                        return _start(logits.detach(), t)

                    _, rel = attributor(x, start_relevance)
                    out.append(rel.detach().to(inputs.device))
    return torch.cat(out)


def targets_for(model: nn.Module, inputs: torch.Tensor, labels: torch.Tensor, mode: str = "label",
                batch_size: int | None = None) -> torch.Tensor:
    """The class to explain per input: the true ``labels`` (``mode="label"``, as the
    chapters do) or the model's prediction (``mode="predicted"``). ``(N,)`` int64."""
    labels = torch.as_tensor(labels).long()
    if mode == "label":
        return labels
    if mode != "predicted":
        raise AudiomnistError(f"unknown target mode {mode!r}; use 'label' or 'predicted'")
    inputs = _check_inputs(model, inputs)
    device, dtype = _device_dtype(model)
    batch_size = batch_size or DEFAULT_BATCH
    preds = []
    with explaining(model), torch.no_grad():
        for start in range(0, inputs.shape[0], batch_size):
            preds.append(model(inputs[start : start + batch_size].to(device, dtype)).argmax(1).cpu())
    return torch.cat(preds)


# --------------------------------------------------------------------------------------------
# The paper's reading, in numbers
# --------------------------------------------------------------------------------------------

def spectrogram_frequencies() -> np.ndarray:
    """Frequency of each spectrogram row in Hz, ``(227,)``: bin k of a 455-point STFT at 8 kHz."""
    return np.arange(FREQ_BINS) * SAMPLE_RATE / N_FFT


def spectrogram_times() -> np.ndarray:
    """Centre time of each spectrogram column in s, ``(227,)``: frame ``k + 2`` of hop 35 with
    the window centred on its frame (zero boundary padding)."""
    return (np.arange(TIME_FRAMES) + FIRST_FRAME) * HOP / SAMPLE_RATE


def band_shares(relevance_spectrograms, bands_hz: Sequence[float] = (0, 250, 500, 1000, 2000, 4000)) -> np.ndarray:
    """Share of each spectrogram's positive relevance per frequency band.

    ``relevance_spectrograms`` ``(N, 227, 227)`` or ``(N, 1, 227, 227)``; ``bands_hz`` are
    ascending band edges (a row belongs to ``[lo, hi)``; the last band includes its upper edge).
    Returns ``(N, len(bands_hz) - 1)``; a row is NaN when a sample has no positive relevance.
    """
    r = np.asarray(relevance_spectrograms, dtype=np.float64)
    r = r.reshape(r.shape[0], FREQ_BINS, -1) if r.ndim == 4 else r
    if r.ndim != 3 or r.shape[1] != FREQ_BINS:
        raise AudiomnistError(f"relevance spectrograms have shape {r.shape}; expected (N, {FREQ_BINS}, T)")
    edges = np.asarray(bands_hz, dtype=np.float64)
    if edges.ndim != 1 or edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise AudiomnistError(f"bands_hz {list(bands_hz)} must be at least two ascending edges in Hz")
    per_row = np.clip(r, 0, None).sum(axis=2)  # (N, 227)
    f = spectrogram_frequencies()
    band = np.searchsorted(edges, f, side="right") - 1
    band[f == edges[-1]] = edges.size - 2
    shares = np.stack([per_row[:, band == k].sum(axis=1) for k in range(edges.size - 1)], axis=1)
    total = per_row.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, shares / total, np.nan)


def padding_share(relevance_waveforms, lengths, offsets) -> np.ndarray:
    """Share of each waveform's absolute relevance on its zero padding, ``(N,)``.

    ``relevance_waveforms`` ``(N, T)`` or ``(N, 1, T)``; the recording occupies samples
    ``[offsets, offsets + lengths)``. NaN for a sample with no relevance at all.
    """
    r = np.abs(np.asarray(relevance_waveforms, dtype=np.float64))
    r = r.reshape(r.shape[0], -1)
    lengths, offsets = np.asarray(lengths), np.asarray(offsets)
    if lengths.shape != (r.shape[0],) or offsets.shape != (r.shape[0],):
        raise AudiomnistError(f"lengths and offsets need shape ({r.shape[0]},), one per waveform")
    pos = np.arange(r.shape[1])
    inside = (pos >= offsets[:, None]) & (pos < (offsets + lengths)[:, None])
    total = r.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (r * ~inside).sum(axis=1) / total, np.nan)


# --------------------------------------------------------------------------------------------
# The paper's examples (deterministic choice)
# --------------------------------------------------------------------------------------------

def pick(signals, *, digit: int | None = None, gender: int | None = None, speakers=None, correct=None,
         exclude: Sequence[int] = ()) -> int | None:
    """Index of the first recording, ordered by (speaker, repetition), with the given
    digit/gender (1 female) among ``speakers``, other than those in ``exclude``; correctly
    classified ones (``correct``, ``(N,)`` bool) first. None when nothing matches."""
    mask = np.ones(len(signals), dtype=bool)
    mask[list(exclude)] = False
    if digit is not None:
        mask &= signals.digit.numpy() == digit
    if gender is not None:
        mask &= signals.gender.numpy() == gender
    if speakers is not None:
        mask &= np.isin(signals.speaker.numpy(), list(speakers))
    ok = np.ones(len(signals), dtype=bool) if correct is None else np.asarray(correct, dtype=bool)
    order = np.lexsort((signals.rep.numpy(), signals.speaker.numpy()))
    for want_ok in (True, False):
        hits = [i for i in order if mask[i] and ok[i] == want_ok]
        if hits:
            return int(hits[0])
    return None


@dataclass(frozen=True)
class Figure1Examples:
    """The recordings of Fig. 1: indices into the digit test set (``zero`` for (a) and (c),
    ``one`` for (b)) and into the gender test set (``male_zero`` for (d));
    ``zero_in_gender_test`` says whether (a)'s recording is held out for the gender model too
    (its index there is ``zero_gender``, else None)."""

    zero: int
    one: int
    male_zero: int
    zero_gender: int | None

    @property
    def zero_in_gender_test(self) -> bool:
        return self.zero_gender is not None


def figure1_examples(digit_test, gender_test, digit_correct=None, gender_correct=None) -> Figure1Examples:
    """Choose Fig. 1's recordings deterministically.

    (a)/(b): a "zero" and a "one" of the same female speaker of the digit test set, the first
    speaker (by id) for whom both are classified correctly, preferring speakers who are also
    in the gender test set so that (c) is held out for the gender model as well; (d): the
    first male "zero" of the gender test set that the gender model classifies correctly.
    Falls back to misclassified recordings only where no correct one exists.
    """
    in_both = set(digit_test.speaker.tolist()) & set(gender_test.speaker.tolist())
    females = sorted(set(digit_test.speaker[digit_test.gender == 1].tolist()))
    if not females:
        raise AudiomnistError("the digit test set has no female speaker; Fig. 1 needs one")
    g_ok = None if gender_correct is None else np.asarray(gender_correct, dtype=bool)
    paths = {p: i for i, p in enumerate(gender_test.paths)}
    best, best_key = None, None
    for spk in females:
        zero = pick(digit_test, digit=0, speakers=[spk], correct=digit_correct)
        one = pick(digit_test, digit=1, speakers=[spk], correct=digit_correct)
        if zero is None or one is None:
            continue
        ok = digit_correct is None or (bool(digit_correct[zero]) and bool(digit_correct[one]))
        zg = paths.get(digit_test.paths[zero])
        key = (spk not in in_both, not ok, g_ok is not None and zg is not None and not g_ok[zg], spk)
        if best_key is None or key < best_key:
            best, best_key = (zero, one, zg), key
    if best is None:
        raise AudiomnistError("no female speaker of the digit test set has both a 'zero' and a 'one'")
    male_zero = pick(gender_test, digit=0, gender=0, correct=gender_correct)
    if male_zero is None:
        raise AudiomnistError("the gender test set has no male 'zero'; Fig. 1(d) needs one")
    return Figure1Examples(best[0], best[1], male_zero, best[2])


def zoom_window(length: int, offset: int, relevance_wave=None, paper=(0.50, 0.55),
                rate: int = SAMPLE_RATE) -> tuple[float, float]:
    """The zoom of Fig. 2(c) in seconds: the paper's 0.50-0.55 s where the recording covers it,
    else a window of the same width centred on the largest absolute relevance inside the
    recording (or on the recording's middle)."""
    lo, hi = paper
    start, stop = offset / rate, (offset + length) / rate
    if start <= lo and hi <= stop:
        return lo, hi
    width = hi - lo
    if relevance_wave is not None:
        r = np.abs(np.asarray(relevance_wave, dtype=np.float64).reshape(-1))[offset : offset + length]
        centre = (offset + int(np.argmax(r))) / rate if r.size else (start + stop) / 2
    else:
        centre = (start + stop) / 2
    lo = min(max(centre - width / 2, 0.0), max(stop - width, 0.0))
    return lo, lo + width


# --------------------------------------------------------------------------------------------
# Relevance of a run's test set, cached in the run store
# --------------------------------------------------------------------------------------------

def _sha(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        if a is None:
            h.update(b"none")
            continue
        t = torch.as_tensor(a).detach().cpu().contiguous()
        h.update(str((tuple(t.shape), str(t.dtype))).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def _file_sha(path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def run_composite(run, model_name: str, mean: torch.Tensor | None = None, choice: str | None = None) -> Composite:
    """The composite for ``model_name``: ``choice`` (a name of :data:`COMPOSITES` or
    ``"default"``), or where None the profile's (``explain.composites``). AlexNet's box bounds
    come from the fold's training mean (:func:`spectrogram_bounds`)."""
    if choice is None:
        choice = run.config.explain.composites.get(model_name, "default")
    low, high = spectrogram_bounds(mean) if mean is not None else (None, None)
    return profile_composite(choice, model_name, low, high)


def model_inputs(model_name: str, waves: torch.Tensor, mean: torch.Tensor | None) -> torch.Tensor:
    """The network input of padded waveforms ``(N, 8000)`` for ``model_name``."""
    return model_input(INPUTS[model_name], waves, mean if INPUTS[model_name] == "spectrogram" else None)


@dataclass
class Explained:
    """A test set explained: ``relevance`` ``(N, 1, 227, 227)`` or ``(N, 1, 8000)`` float32,
    the explained class ``targets`` and the model's ``predicted`` class ``(N,)``, and the
    composite's description."""

    relevance: torch.Tensor
    targets: torch.Tensor
    predicted: torch.Tensor
    composite: str


def explain_test_set(run, model_name: str, task: str, fold: int, composite: str | None = None,
                     device=None) -> Explained:
    """Relevance of every test recording of ``fold`` under the trained ``model_name`` for
    ``task``, in the order of ``train.fold_data(run, task, fold).test``.

    ``composite``: None for the profile's choice (``explain.composites``), else a name of
    :data:`COMPOSITES` or ``"default"``. The explained class is the profile's
    ``explain.target`` ("label" or "predicted"). Cached at ``run.path("relevance",
    f"{model}-{task}-fold{k}.npz")`` (other composites: ``...-fold{k}-{name}.npz``) with a
    stamp, and recomputed when the checkpoint, the composite, the explained classes or the
    test inputs change.
    """
    checkpoint = train.ensure_trained(run, model_name, task, fold, device=device)
    data = train.fold_data(run, task, fold)
    mean = data.mean if INPUTS[model_name] == "spectrogram" else None
    cfg = run.config.explain
    comp = run_composite(run, model_name, mean, composite)
    stamp = {
        "checkpoint": _file_sha(checkpoint),
        "composite": describe(comp),
        "target": cfg.target,
        "inputs": _sha(data.test.waves, data.test.labels(task), mean),
    }
    suffix = "" if composite is None else f"-{composite}"
    path = run.path("relevance", f"{model_name}-{task}-fold{fold}{suffix}.npz")
    if path.is_file():
        try:
            with np.load(path) as z:
                if json.loads(str(z["stamp"]))["key"] == stamp:
                    arrays = (torch.from_numpy(z[k]) for k in ("relevance", "targets", "predicted"))
                    return Explained(*arrays, stamp["composite"])
        except (OSError, ValueError, KeyError):
            pass  # a damaged or older cache entry is recomputed, not trusted
    status(f"relevance: {model_name}/{task} fold {fold}, {len(data.test)} test recordings, {stamp['composite']}")
    model = _trained_model(run, model_name, task, fold, device)
    inputs = model_inputs(model_name, data.test.waves, mean)
    labels = data.test.labels(task)
    predicted = targets_for(model, inputs, labels, "predicted", cfg.batch_size)
    targets = predicted if cfg.target == "predicted" else labels.long()
    rel = relevance(model, inputs, targets, comp, batch_size=cfg.batch_size).float().cpu()
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.savez(f, relevance=rel.numpy(), targets=targets.numpy(), predicted=predicted.numpy(),
                     stamp=json.dumps(run.stamp(key=stamp, model=model_name, task=task, fold=fold), default=str))
    return Explained(rel, targets, predicted, stamp["composite"])


def test_relevance(run, model_name: str, task: str, fold: int, device=None) -> torch.Tensor:
    """Relevance of ``fold``'s test set with the profile's composite (see
    :func:`explain_test_set`), ``(N, 1, 227, 227)`` or ``(N, 1, 8000)`` float32."""
    return explain_test_set(run, model_name, task, fold, device=device).relevance


test_relevance.__test__ = False  # a library function, not a test, wherever pytest meets it


# --------------------------------------------------------------------------------------------
# What the chapter shows: the data of each figure and number, from a run
# --------------------------------------------------------------------------------------------

LABELS = {"digits": [str(d) for d in range(10)], "gender": ["male", "female"]}
DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _describe_recording(signals, i: int) -> str:
    gender = "female" if int(signals.gender[i]) == 1 else "male"
    digit, speaker, rep = DIGIT_NAMES[int(signals.digit[i])], int(signals.speaker[i]), int(signals.rep[i])
    return f"'{digit}', {gender} speaker {speaker:02d}, rep {rep}"


def _verdict(explained: Explained, i: int, task: str) -> str:
    return f"predicted {LABELS[task][int(explained.predicted[i])]}"


def _spectrogram_db(wave: torch.Tensor) -> np.ndarray:
    return spectrogram(wave.reshape(1, -1))[0].numpy()


def _trained_model(run, model_name: str, task: str, fold: int, device=None) -> nn.Module:
    return train.load_model(run, model_name, task, fold, device=train.resolve_device(device or run.config.train.device))


def _relevance_for(run, model_name: str, task: str, fold: int, wave: torch.Tensor, target: int,
                   device=None) -> torch.Tensor:
    """Relevance of one recording that is not in the fold's test set (its own input, cached
    nowhere), with the profile's composite."""
    data = train.fold_data(run, task, fold)
    mean = data.mean if INPUTS[model_name] == "spectrogram" else None
    comp = run_composite(run, model_name, mean)
    model = _trained_model(run, model_name, task, fold, device)
    return relevance(model, model_inputs(model_name, wave.reshape(1, -1), mean), torch.tensor([target]), comp)[0]


def figure1_data(run, fold: int, device=None) -> dict:
    """Fig. 1's panels (a)-(d) for ``fold``: ``spectrograms`` ``(4, 227, 227)`` dB,
    ``relevances`` ``(4, 227, 227)``, ``titles``, ``waves`` ``(4, 8000)`` (int16 scale, for
    players) and the chosen ``examples`` (:func:`figure1_examples`)."""
    digits, gender = train.fold_data(run, "digits", fold).test, train.fold_data(run, "gender", fold).test
    rd = explain_test_set(run, "alexnet", "digits", fold, device=device)
    rg = explain_test_set(run, "alexnet", "gender", fold, device=device)
    ex = figure1_examples(digits, gender, rd.predicted == digits.digit, rg.predicted == gender.gender)
    if ex.zero_in_gender_test:
        rel_c, verdict_c = rg.relevance[ex.zero_gender], _verdict(rg, ex.zero_gender, "gender")
    else:  # the gender model has not held this speaker out; say so
        rel_c = _relevance_for(run, "alexnet", "gender", fold, digits.waves[ex.zero], int(digits.gender[ex.zero]),
                               device)
        verdict_c = "not a test speaker of this gender fold"
    waves = torch.stack([digits.waves[ex.zero], digits.waves[ex.one], digits.waves[ex.zero],
                         gender.waves[ex.male_zero]])
    return {
        "spectrograms": np.stack([_spectrogram_db(w) for w in waves]),
        "relevances": np.stack([r.reshape(FREQ_BINS, TIME_FRAMES).numpy() for r in (
            rd.relevance[ex.zero], rd.relevance[ex.one], rel_c, rg.relevance[ex.male_zero])]),
        "titles": [
            f"digit model: {_describe_recording(digits, ex.zero)} ({_verdict(rd, ex.zero, 'digits')})",
            f"digit model: {_describe_recording(digits, ex.one)} ({_verdict(rd, ex.one, 'digits')})",
            f"gender model: same input as (a) ({verdict_c})",
            f"gender model: {_describe_recording(gender, ex.male_zero)} ({_verdict(rg, ex.male_zero, 'gender')})",
        ],
        "waves": waves,
        "examples": ex,
    }


def figure2_data(run, fold: int, prefer: int | None = None, device=None) -> dict:
    """Fig. 2 for ``fold``: AudioNet's gender relevance of a male "zero" of the gender test
    set: recording ``prefer`` (an index into it, e.g. Fig. 1(d)'s) where it is a male "zero"
    that AudioNet classifies correctly, else the first male "zero" it does. Keys ``input``
    (the network's waveform ``(8000,)``), ``wave`` (int16 scale), ``relevance`` ``(8000,)``, ``offset``, ``length``, ``window`` (s), ``title``."""
    gender = train.fold_data(run, "gender", fold).test
    ra = explain_test_set(run, "audionet", "gender", fold, device=device)
    correct = ra.predicted == gender.gender
    wanted = prefer is not None and int(gender.digit[prefer]) == 0 and int(gender.gender[prefer]) == 0
    i = prefer if wanted and bool(correct[prefer]) else pick(gender, digit=0, gender=0, correct=correct)
    if i is None:
        raise AudiomnistError("the gender test set has no male 'zero'; Fig. 2 needs one")
    rel = ra.relevance[i].reshape(-1)
    offset, length = int(gender.offsets[i]), int(gender.lengths[i])
    return {
        "input": model_inputs("audionet", gender.waves[i : i + 1], None).reshape(-1).numpy(),
        "wave": gender.waves[i],
        "relevance": rel.numpy(),
        "offset": offset,
        "length": length,
        "window": zoom_window(length, offset, rel.numpy()),
        "title": f"gender model: {_describe_recording(gender, i)} ({_verdict(ra, i, 'gender')})",
    }


def class_examples(run, model_name: str, task: str, fold: int, per_class: int = 1, device=None) -> dict:
    """More examples: ``per_class`` test recordings of each class (correctly classified
    first, each from another speaker where possible). Keys ``inputs`` (dB spectrograms
    ``(K, 227, 227)`` or network waveforms ``(K, 8000)``), ``relevances`` (same shape),
    ``waves`` ``(K, 8000)`` int16 scale, ``offsets``, ``lengths``, ``titles``, ``labels``."""
    test = train.fold_data(run, task, fold).test
    ex = explain_test_set(run, model_name, task, fold, device=device)
    labels = test.labels(task)
    correct = ex.predicted == labels
    chosen = []
    for c in range(len(LABELS[task])):
        key = {"digit" if task == "digits" else "gender": c}
        used: list[int] = []
        for _ in range(per_class):
            others = sorted(set(test.speaker[labels == c].tolist()) - set(used))
            i = pick(test, **key, speakers=others, correct=correct) if others else None
            i = pick(test, **key, correct=correct, exclude=chosen) if i is None else i
            if i is None:
                break
            chosen.append(i)
            used.append(int(test.speaker[i]))
    idx = torch.tensor(chosen, dtype=torch.long)
    spectral = INPUTS[model_name] == "spectrogram"
    inputs = (np.stack([_spectrogram_db(test.waves[i]) for i in chosen]) if spectral
              else model_inputs(model_name, test.waves[idx], None).reshape(len(chosen), -1).numpy())
    return {
        "inputs": inputs,
        "relevances": ex.relevance[idx].reshape(inputs.shape).numpy(),
        "waves": test.waves[idx],
        "offsets": test.offsets[idx].numpy(),
        "lengths": test.lengths[idx].numpy(),
        "titles": [f"{LABELS[task][int(labels[i])]}: spk {int(test.speaker[i]):02d}, rep {int(test.rep[i])} "
                   f"(pred. {LABELS[task][int(ex.predicted[i])]})" for i in chosen],
        "labels": [LABELS[task][int(labels[i])] for i in chosen],
    }


def band_shares_of_run(run, fold: int, bands_hz: Sequence[float], device=None) -> dict[str, np.ndarray]:
    """:func:`band_shares` of AlexNet's relevance over the whole test set of ``fold``, per
    task: ``{"digits": (N_digits, n_bands), "gender": (N_gender, n_bands)}``."""
    return {task: band_shares(test_relevance(run, "alexnet", task, fold, device).numpy(), bands_hz)
            for task in ("digits", "gender")}


def padding_shares_of_run(run, fold: int, composites: Sequence[str | None] = (None,), device=None) -> dict:
    """:func:`padding_share` of AudioNet's relevance over the whole test set of ``fold``, per
    task and composite (None: the profile's): ``{(task, composite): (N,)}``."""
    out = {}
    for task in ("digits", "gender"):
        test = train.fold_data(run, task, fold).test
        for composite in composites:
            rel = explain_test_set(run, "audionet", task, fold, composite, device).relevance
            out[(task, composite)] = padding_share(rel.numpy(), test.lengths.numpy(), test.offsets.numpy())
    return out
