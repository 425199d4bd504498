"""Attribution methods other than LRP, so that they face the same tests (the zeroing curves of
Section 3.3 rank input features by whatever :func:`attribution` returns).

Each method explains the logit of one class per input, as :func:`~.lrp.relevance` does:

- ``gradient``: the gradient of the logit with respect to the input (sensitivity).
- ``gradient_x_input``: the gradient times the input.
- ``smoothgrad``: the gradient averaged over ``samples`` copies of the input with Gaussian
  noise of standard deviation ``noise`` times each input's range (Smilkov et al. 2017).
- ``integrated_gradients``: the input minus a zero baseline, times the gradient averaged along
  the straight path from the baseline, at the midpoints of ``steps`` equal segments
  (Sundararajan et al. 2017); it sums to about ``f(x) - f(0)``.

``lrp`` is :func:`~.lrp.relevance` with a composite and listed in :data:`METHODS` so that one
name selects any of them.
"""
from __future__ import annotations

import torch
from torch import nn

from ..config import ATTRIBUTION_METHODS as METHODS
from ..errors import AudiomnistError
from .lrp import DEFAULT_BATCH, _check_classes, _check_inputs, _check_targets, _device_dtype, explaining, relevance

def _gradient(model: nn.Module, x: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """``d logit[target] / d x`` of each input of the batch."""
    x = x.detach().requires_grad_(True)
    logits = model(x)
    _check_classes(targets, logits.shape[1])
    (grad,) = torch.autograd.grad(logits.gather(1, targets[:, None]).sum(), x)
    return grad


def _smoothgrad(model, x, targets, *, samples: int, noise: float, generator: torch.Generator) -> torch.Tensor:
    span = (x.flatten(1).amax(1) - x.flatten(1).amin(1)).reshape(-1, *[1] * (x.ndim - 1))
    total = torch.zeros_like(x)
    for _ in range(samples):
        eps = torch.randn(x.shape, generator=generator, dtype=x.dtype).to(x.device)
        total += _gradient(model, x + noise * span * eps, targets)
    return total / samples


def _integrated_gradients(model, x, targets, *, steps: int) -> torch.Tensor:
    total = torch.zeros_like(x)
    for k in range(steps):
        total += _gradient(model, x * ((k + 0.5) / steps), targets)
    return x * total / steps


def attribution(
    model: nn.Module,
    inputs: torch.Tensor,
    targets: torch.Tensor | int,
    method: str = "gradient",
    batch_size: int | None = None,
    *,
    composite=None,
    samples: int = 20,
    noise: float = 0.1,
    steps: int = 32,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Attribution of ``inputs`` ``(N, ...)`` for class ``targets`` under ``model`` by ``method``
    (one of :data:`METHODS`); ``(N, ...)`` on the inputs' device.

    ``composite`` applies to ``lrp`` only; ``samples`` and ``noise`` to ``smoothgrad`` (whose
    noise comes from ``generator``, seeded 0 when None); ``steps`` to ``integrated_gradients``.
    The model is used in evaluation mode and left as it was.
    """
    if method not in METHODS:
        raise AudiomnistError(f"unknown attribution method {method!r}; use one of {', '.join(METHODS)}")
    if method == "lrp":
        return relevance(model, inputs, targets, composite, batch_size)
    if samples < 1 or steps < 1 or noise < 0:
        raise AudiomnistError("attribution needs samples >= 1, steps >= 1 and noise >= 0")
    inputs = _check_inputs(model, inputs)
    targets = _check_targets(targets, inputs.shape[0])
    batch_size = batch_size or DEFAULT_BATCH
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    device, dtype = _device_dtype(model)
    out = []
    with explaining(model), torch.enable_grad():
        for start in range(0, inputs.shape[0], batch_size):
            x = inputs[start : start + batch_size].to(device, dtype)
            t = targets[start : start + batch_size].to(device)
            if method == "gradient":
                a = _gradient(model, x, t)
            elif method == "gradient_x_input":
                a = x * _gradient(model, x, t)
            elif method == "smoothgrad":
                a = _smoothgrad(model, x, t, samples=samples, noise=noise, generator=generator)
            else:
                a = _integrated_gradients(model, x, t, steps=steps)
            out.append(a.detach().to(inputs.device))
    return torch.cat(out)
