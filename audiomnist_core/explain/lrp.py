"""The relevance of a batch: :func:`relevance`, the explained class (:func:`targets_for`) and
the fused pass behind them.

For a :class:`~.composites.RuleComposite` on a chain model, :func:`relevance` computes the same
numbers as zennit's hooks in one fused pass: the forward pass is run once without autograd and
kept, and each layer's rule is one explicit backward step that reuses it (see
``Rule.compile``). The tests check the fused pass against stock zennit and the epsilon rule
against a slow float64 reference.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F
import zennit.rules as zrules
from torch import nn
from zennit.attribution import Gradient
from zennit.core import Composite

from ..errors import AudiomnistError
from ..models import AlexNet, AudioNet
from .composites import RuleComposite, describe, resolve_composite

DEFAULT_BATCH = 64


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
