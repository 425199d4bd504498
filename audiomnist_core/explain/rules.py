"""LRP rules for linear and convolutional layers: each is a zennit hook (the reference) and a
fused computation of the same numbers (``Rule.compile``), a backward step that reuses the
stored forward pass.

Notation: layer input a, stored output z = W a + b, relevance R at the output; adj(s, W) is
the layer's adjoint (the input gradient of the linear map W applied to s).

Terms that are provably zero for a batch (the negative-input half of a rule whose inputs are
all non-negative after a ReLU; the negative-output branch of the gamma rule where no relevance
arrives at negative pre-activations) are skipped, never approximated.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
import zennit.rules as zrules
from torch import nn


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
