"""A trained network and its LRP pass as one graph for export (ONNX): ``x -> (logits,
relevance of the predicted class)``.

:func:`explain.relevance` computes LRP in one fused pass of explicit backward steps (no
autograd); :class:`ExplainGraph` is the same computation written with operators that export
and run in ONNX Runtime (Web): every rule's adjoint is the layer's transposed map
(``ConvTranspose``, ``MatMul``), max-pooling sends each output's relevance to its maximum
(``MaxPool`` indices and an add-scatter), and nothing branches on the data. Where the fused pass
skips a term that is zero for a batch (the negative inputs below a ReLU), this graph decides
so from the network's structure: a layer whose input comes from a ReLU (through pooling,
flattening or dropout) gets the non-negative form of its rule. The tests hold it to
:func:`explain.relevance`.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import zennit.rules as zrules
from torch import nn

from ..errors import AudiomnistError
from ..explain.composites import RuleComposite, describe
from ..explain.rules import AlphaBeta, Epsilon, Flat, Gamma, Rule, ZBox, ZPlus

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d)
_POOLS = (nn.MaxPool1d, nn.MaxPool2d)
_PASSING = (nn.Dropout, nn.Identity)


def _stab(z: torch.Tensor, eps: float) -> torch.Tensor:
    """zennit's stabiliser: ``z + eps`` where ``z >= 0``, ``z - eps`` where ``z < 0``."""
    return z + eps * (2.0 * (z >= 0).to(z.dtype) - 1.0)


STORAGES = ("float32", "float16", "int8")


def stored_weight(w: torch.Tensor, storage: str) -> tuple[torch.Tensor, torch.Tensor | None]:
    """``w`` as stored in the exported graph: ``(values, scale)``. ``"float32"``/``"float16"``:
    the values in that type (no scale); ``"int8"``: symmetric per output channel, ``w ~ values *
    scale`` with ``scale`` ``(C_out, 1, ...)`` the row's largest magnitude / 127."""
    if storage == "float32":
        return w.float(), None
    if storage == "float16":
        return w.half(), None
    if storage == "int8":
        peak = w.abs().flatten(1).amax(1).clamp_min(1e-30).reshape(-1, *([1] * (w.ndim - 1)))
        scale = (peak / 127.0).float()
        return torch.round(w / scale).clamp(-127, 127).to(torch.int8), scale
    raise AudiomnistError(f"unknown weight storage {storage!r}; use one of {', '.join(STORAGES)}")


class _Layer(nn.Module):
    """A linear or convolutional layer with its LRP rule's backward step.

    ``shape`` is the layer input's shape without the batch axis (the adjoint's output size);
    ``nonnegative``: whether that input comes from a ReLU, so the rule's negative-input terms
    vanish. Only the layer's own weights are stored (as ``storage``, :func:`stored_weight`);
    the rule's modified weights are computed from them in the graph.
    """

    def __init__(self, layer: nn.Module, rule: Rule, shape: tuple[int, ...], nonnegative: bool, storage: str = "float32") -> None:
        super().__init__()
        self.kind = "linear" if isinstance(layer, nn.Linear) else ("conv1d" if isinstance(layer, nn.Conv1d) else "conv2d")
        if not isinstance(rule, (Epsilon, ZPlus, AlphaBeta, Gamma, ZBox, Flat)):
            raise AudiomnistError(f"rule {rule.describe()} has no exportable backward step; use one of the composites of explain.COMPOSITES")
        self.rule, self.shape, self.nonnegative = rule, tuple(shape), nonnegative
        values, scale = stored_weight(layer.weight.detach(), storage)
        self.register_buffer("values", values.clone())
        self.register_buffer("scale", scale)
        bias = layer.bias.detach() if layer.bias is not None else torch.zeros(layer.weight.shape[0])
        self.register_buffer("b", bias.float().clone())
        if self.kind != "linear":
            self.stride, self.padding = tuple(layer.stride), tuple(layer.padding)
            self.dilation, self.groups = tuple(layer.dilation), layer.groups
        if isinstance(rule, ZBox):
            for name, bound in (("low", rule.low), ("high", rule.high)):
                self.register_buffer(name, torch.as_tensor(bound, dtype=torch.float32).expand((1, *shape)).clone())

    def weight(self) -> torch.Tensor:
        """The layer's weights in float32, from their stored form."""
        w = self.values.float()
        return w if self.scale is None else w * self.scale

    def lin(self, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor | None) -> torch.Tensor:
        if self.kind == "linear":
            return F.linear(x, w, b)
        conv = F.conv1d if self.kind == "conv1d" else F.conv2d
        return conv(x, w, b, self.stride, self.padding, self.dilation, self.groups)

    def adj(self, s: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """The input gradient of ``<s, lin(a; w)>``: the transposed map, shaped as the input."""
        if self.kind == "linear":
            return s @ w
        conv_t = F.conv_transpose1d if self.kind == "conv1d" else F.conv_transpose2d
        k = w.shape[2:]
        extra = tuple(
            n - ((m - 1) * st - 2 * p + d * (kk - 1) + 1)
            for n, m, st, p, d, kk in zip(self.shape[1:], s.shape[2:], self.stride, self.padding, self.dilation, k)
        )
        return conv_t(s, w, None, self.stride, self.padding, extra, self.groups, self.dilation)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x, self.weight(), self.b)

    def backward(self, a: torch.Tensor, z: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
        """The rule's relevance at the layer input from input ``a``, output ``z`` and relevance ``R``."""
        rule, w, b = self.rule, self.weight(), self.b
        if isinstance(rule, Epsilon):
            return a * self.adj(R / _stab(z, rule.epsilon), w)
        if isinstance(rule, Flat):
            ones = torch.ones_like(w)
            return self.adj(R / (self.lin(torch.ones_like(a[:1]), ones, None) + rule.stabilizer), ones)
        if isinstance(rule, Gamma):
            g = rule.gamma
            return self._gamma(a, z, R, (w + g * w.clamp(min=0), b + g * b.clamp(min=0)),
                               (w + g * w.clamp(max=0), b + g * b.clamp(max=0)), rule.stabilizer)
        plus, minus = (w.clamp(min=0), b.clamp(min=0)), (w.clamp(max=0), b.clamp(max=0))
        if isinstance(rule, ZBox):
            denom = z - (self.lin(self.low, *plus) + self.lin(self.high, *minus))
            s = R / _stab(denom, rule.stabilizer)
            return (a - self.low) * self.adj(s, plus[0]) + (a - self.high) * self.adj(s, minus[0])
        alpha, beta = (1.0, 0.0) if isinstance(rule, ZPlus) else (rule.alpha, rule.beta)
        return self._alpha_beta(a, R, plus, minus, alpha, beta, rule.stabilizer)

    def _alpha_beta(self, a, R, plus, minus, alpha: float, beta: float, eps: float) -> torch.Tensor:
        (wp, bp), (wn, bn) = plus, minus
        if self.nonnegative:
            out = alpha * (a * self.adj(R / (self.lin(a, wp, bp) + eps), wp))
            if beta:
                out = out - beta * (a * self.adj(R / _stab(self.lin(a, wn, bn), eps), wn))
            return out
        ap, an = a.clamp(min=0), a.clamp(max=0)
        sp = R / (self.lin(ap, wp, bp) + self.lin(an, wn, None) + eps)
        out = alpha * (ap * self.adj(sp, wp) + an * self.adj(sp, wn))
        if beta:
            sn = R / _stab(self.lin(ap, wn, bn) + self.lin(an, wp, None), eps)
            out = out - beta * (ap * self.adj(sn, wn) + an * self.adj(sn, wp))
        return out

    def _gamma(self, a, z, R, up, down, eps: float) -> torch.Tensor:
        (wgp, bgp), (wgn, bgn) = up, down
        rp, rn = R * (z > 0).to(R.dtype), R * (z < 0).to(R.dtype)
        if self.nonnegative:
            out = a * self.adj(rp / _stab(self.lin(a, wgp, bgp), eps), wgp)
            return out + a * self.adj(rn / _stab(self.lin(a, wgn, bgn), eps), wgn)
        ap, an = a.clamp(min=0), a.clamp(max=0)
        sp = rp / _stab(self.lin(ap, wgp, bgp) + self.lin(an, wgn, None), eps)
        sn = rn / _stab(self.lin(ap, wgn, bgn) + self.lin(an, wgp, None), eps)
        return (ap * self.adj(sp, wgp) + an * self.adj(sp, wgn)
                + ap * self.adj(sn, wgn) + an * self.adj(sn, wgp))


class _Pool(nn.Module):
    """Max-pooling; on the way back each output's relevance goes to its maximum (the gradient)."""

    def __init__(self, pool: nn.Module, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.fn = F.max_pool1d if isinstance(pool, nn.MaxPool1d) else F.max_pool2d
        self.args = (pool.kernel_size, pool.stride, pool.padding, pool.dilation)
        self.ceil_mode, self.shape = pool.ceil_mode, tuple(shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.fn(x, *self.args, ceil_mode=self.ceil_mode, return_indices=True)

    def backward(self, idx: torch.Tensor, R: torch.Tensor) -> torch.Tensor:
        c, n = self.shape[0], R.shape[0]
        flat = R.new_zeros((n, c, math.prod(self.shape[1:])))
        return flat.scatter_add(2, idx.flatten(2), R.flatten(2)).reshape(n, *self.shape)


def layer_plan(model: nn.Module, composite: RuleComposite, input_shape: tuple[int, ...]) -> list[tuple[str, nn.Module, object]]:
    """The leaves of a chain ``model`` in order with what each does in the LRP pass:
    ``("rule", layer, Rule)``, ``("pool", pool, None)``, ``("relu", ...)``, ``("flatten", ...)``
    or ``("pass", ...)``; the same rule assignment as zennit's (``composite.module_map``)."""
    if not isinstance(composite, RuleComposite) or composite.canonizers:
        raise AudiomnistError(f"{describe(composite)}: only this package's rule composites (explain.COMPOSITES "
                              "built from explain.rules) can be exported; choose one in the profile's explain.composites")
    ctx: dict = {}
    plan = []
    for name, module in model.named_modules():
        hook = composite.module_map(ctx, name, module)
        if next(module.children(), None) is not None:
            continue
        rule = composite.rule_of(hook) if hook is not None else None
        if rule is not None and isinstance(module, _LAYERS):
            plan.append(("rule", module, rule))
        elif isinstance(module, nn.ReLU):
            plan.append(("relu", module, None))
        elif hook is None and isinstance(module, _POOLS):
            plan.append(("pool", module, None))
        elif hook is None and isinstance(module, nn.Flatten):
            plan.append(("flatten", module, None))
        elif isinstance(hook, zrules.Pass) or (hook is None and isinstance(module, _PASSING)):
            plan.append(("pass", module, None))
        else:
            raise AudiomnistError(f"{type(model).__name__}.{name} ({type(module).__name__}): no exportable LRP step")
    return plan


class ExplainGraph(nn.Module):
    """``x (N, *input_shape) -> (logits (N, C), relevance (N, *input_shape))``: the network's
    logits and the LRP relevance of each input's predicted class under ``composite`` (the
    relevance that starts at the output is that class' logit, as :func:`explain.relevance`).

    ``storage``: how the weights are kept, ``{"linear": ..., "conv": ...}`` of :data:`STORAGES`
    (default float32); reduced precision changes the numbers a little (the export's check says
    how much)."""

    def __init__(self, model: nn.Module, composite: RuleComposite, input_shape: tuple[int, ...],
                 storage: dict[str, str] | None = None) -> None:
        super().__init__()
        storage = storage or {}
        model = model.eval()
        steps, kinds = nn.ModuleList(), []
        x = torch.zeros((1, *input_shape))
        nonnegative = False
        with torch.no_grad():
            for kind, module, rule in layer_plan(model, composite, input_shape):
                shape = tuple(x.shape[1:])
                if kind == "rule":
                    kind_of = "linear" if isinstance(module, nn.Linear) else "conv"
                    steps.append(_Layer(module, rule, shape, nonnegative, storage.get(kind_of, "float32")))
                    nonnegative = False
                elif kind == "pool":
                    steps.append(_Pool(module, shape))
                elif kind == "relu":
                    steps.append(nn.ReLU())
                    nonnegative = True
                else:
                    steps.append(nn.Identity() if kind == "pass" else nn.Flatten())
                kinds.append(kind)
                x = module(x)
        self.steps, self.kinds = steps, kinds
        self.input_shape = tuple(input_shape)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        tape = []
        for kind, step in zip(self.kinds, self.steps):
            if kind == "pool":
                out, idx = step(x)
                tape.append(idx)
            elif kind == "rule":
                out = step(x)
                tape.append((x, out))
            else:
                out = step(x)
                tape.append(x)
            x = out
        logits = x
        onehot = (torch.arange(logits.shape[1]) == logits.argmax(1, keepdim=True)).to(logits.dtype)
        R = onehot * logits
        for kind, step in zip(reversed(self.kinds), reversed(self.steps)):
            saved = tape.pop()
            if kind == "rule":
                R = step.backward(*saved, R)
            elif kind == "pool":
                R = step.backward(saved, R)
            elif kind == "flatten":
                R = R.reshape(saved.shape)
        return logits, R
