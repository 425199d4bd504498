"""Attribution methods beside the paper's LRP, so that they face the same tests (the zeroing
curves of Section 3.3 rank input features by whatever :func:`attribution` returns).

Each method explains the logit of one class per input, as :func:`~.lrp.relevance` does.

LRP (our fused, zennit-compatible :func:`~.lrp.relevance`):

- ``lrp``: the ``composite`` the caller passes (the model's default in the chapters;
  ``"epsilon"`` when None).
- ``lrp_epsilon_plus``, ``lrp_epsilon_plus_flat``, ``lrp_epsilon_alpha2_beta1``,
  ``lrp_epsilon_gamma_box``: the composite of that name in :data:`~.composites.COMPOSITES`
  (see :data:`LRP_COMPOSITES`). ``epsilon_gamma_box`` needs a bounded input (its first layer
  uses the z^B rule in the box ``bounds``), so it applies to spectrogram inputs ``(N, C, F, T)``
  (AlexNet) and not to waveforms ``(N, C, T)`` (AudioNet).

Captum 0.9 (``captum.attr``):

- ``gradient``: ``Saliency(abs=False)``, the gradient of the logit (sensitivity).
- ``gradient_x_input``: ``InputXGradient``, the gradient times the input.
- ``smoothgrad``: ``NoiseTunnel(Saliency)``, the gradient averaged over ``samples`` copies of
  the input with Gaussian noise of std ``noise`` times that input's range (Smilkov et al. 2017).
- ``integrated_gradients``: ``IntegratedGradients``, ``(x - baseline)`` times the gradient
  averaged along the straight path from the baseline, ``steps`` Gauss-Legendre nodes
  (Sundararajan et al. 2017); it sums to about ``f(x) - f(baseline)``.
- ``deeplift``: ``DeepLift`` (rescale rule) against the baseline, on
  :func:`deeplift_model`'s copy of the model, whose max-pooling is a chain of ReLUs; it sums
  to ``f(x) - f(baseline)``.
- ``gradient_shap``: ``GradientShap``, ``samples`` gradients, each at a uniformly random point
  on the path from the baseline (the reference distribution is this one reference) to the
  input with SmoothGrad's noise added, times ``(x - baseline)`` (Lundberg and Lee 2017).
- ``occlusion``: ``Occlusion``, ``f(x)`` minus ``f`` with a window of the input set to the
  baseline, averaged over the windows that cover each feature (Zeiler and Fergus 2014).

Ours: ``random``, uniform noise from ``generator``: the floor a method must beat.

Why Captum rather than ``zennit.attribution``: it has every method here (zennit lacks DeepLift
and GradientShap), each behind one call ``attribute(inputs, target=...)`` with one class per
input; its integrated gradients use Gauss-Legendre quadrature, far more nearly complete than
zennit's Riemann sum at the same number of steps; and zennit's SmoothGrad replaces one noisy
sample with the plain input. zennit stays where it is best: LRP composites.

The reference input (``baseline``) of integrated gradients, DeepLift, GradientShap and
occlusion is by default the absence of signal: 0 (silence) for a waveform ``(N, C, T)`` and
``-TOP_DB`` (the -80 dB floor) for a spectrogram ``(N, C, F, T)``. The networks read
*mean-subtracted* spectrograms; there the floor is ``-TOP_DB - mean``, so pass
``baseline=spectrogram_bounds(mean)[0]``.

Captum draws its noise and path points from the global torch and NumPy generators; each call
seeds them from ``generator`` and restores them afterwards. Our models meet Captum's needs
(every ReLU its own out-of-place module, used once); only DeepLift needs a wrapper, for
max-pooling (see :func:`deeplift_model`).
"""
from __future__ import annotations

import contextlib
import copy
import warnings
from dataclasses import dataclass
from typing import Callable, Iterator

import numpy as np
import torch
import torch.nn.functional as F
from captum.attr import DeepLift, GradientShap, InputXGradient, IntegratedGradients, NoiseTunnel, Occlusion, Saliency
from torch import nn

from ..config import ATTRIBUTION_METHODS as METHODS
from ..errors import AudiomnistError
from ..preprocess import TOP_DB
from .composites import make_composite
from .lrp import DEFAULT_BATCH, _check_classes, _check_inputs, _check_targets, _device_dtype, explaining, relevance

# Method name -> composite name in COMPOSITES.
LRP_COMPOSITES = {
    "lrp_epsilon_plus": "epsilon_plus",
    "lrp_epsilon_plus_flat": "epsilon_plus_flat",
    "lrp_epsilon_gamma_box": "epsilon_gamma_box",
    "lrp_epsilon_alpha2_beta1": "epsilon_alpha2_beta1",
}
# Input rank -> the reference input: silence for a waveform, the dB floor for a spectrogram.
DEFAULT_BASELINES = {3: 0.0, 4: -TOP_DB}
# Input rank -> (window, stride) over the dims after the channel: 20 ms windows at 10 ms hops on an
# 8 kHz waveform (99 windows on 8000 samples); 19 x 19 bins at a stride of 8 on a spectrogram
# (27 x 27 windows tile 227 x 227 exactly).
OCCLUSION_WINDOWS = {3: ((160,), (80,)), 4: ((19, 19), (8, 8))}


@dataclass(frozen=True)
class _Options:
    samples: int
    noise: float
    steps: int
    batch_size: int
    window: tuple[int, ...] = ()
    stride: tuple[int, ...] = ()


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """The global torch (CPU and CUDA) and NumPy generators seeded with ``seed`` for the
    duration and restored afterwards, for library code that draws from them."""
    state = np.random.get_state()
    try:
        with torch.random.fork_rng():
            torch.manual_seed(seed)
            np.random.seed(seed % 2**32)
            yield
    finally:
        np.random.set_state(state)


def _span(x: torch.Tensor) -> float:
    """Range ``max - min`` of one input."""
    return float(x.detach().max() - x.detach().min())


def _per_item(fn: Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor], x, t, o: _Options) -> torch.Tensor:
    """``fn(x_i, t_i, noise std)`` input by input: Captum takes one noise std per call, and
    ours is relative to each input's range."""
    return torch.cat([fn(x[i : i + 1], t[i : i + 1], o.noise * _span(x[i])) for i in range(x.shape[0])])


def _gradient(model, x, t, b, o):
    return Saliency(model).attribute(x, target=t, abs=False)


def _gradient_x_input(model, x, t, b, o):
    return InputXGradient(model).attribute(x, target=t)


def _smoothgrad(model, x, t, b, o):
    tunnel = NoiseTunnel(Saliency(model))
    return _per_item(lambda xi, ti, std: tunnel.attribute(
        xi, nt_type="smoothgrad", nt_samples=o.samples, stdevs=std, target=ti, abs=False
    ), x, t, o)


def _integrated_gradients(model, x, t, b, o):
    return IntegratedGradients(model).attribute(
        x, baselines=b.expand_as(x), target=t, n_steps=o.steps, internal_batch_size=o.batch_size
    )


def _pooled_length(length: int, kernel: int, stride: int, padding: int, ceil_mode: bool) -> int:
    """Output length of max-pooling one dim, by PyTorch's rule (dilation 1)."""
    out = (length + 2 * padding - kernel + (stride - 1 if ceil_mode else 0)) // stride + 1
    if ceil_mode and (out - 1) * stride >= length + padding:
        out -= 1  # the last window must start inside the input or its left padding
    return out


class ReluMaxPool(nn.Module):
    """The max-pooling ``pool`` (``nn.MaxPool1d`` or ``nn.MaxPool2d``, dilation 1) as a chain
    ``m = m + relu(w_i - m)`` over each window's elements ``w_i``: the same function, made of
    linear maps and one ReLU module per step (equal up to rounding), where DeepLift's rescale
    rule is complete.
    ``(B, C, *size) -> (B, C, *pooled)``."""

    def __init__(self, pool: nn.MaxPool1d | nn.MaxPool2d) -> None:
        super().__init__()
        d = 1 if isinstance(pool, nn.MaxPool1d) else 2

        def dims(v):
            return (v,) * d if isinstance(v, int) else tuple(v)
        if dims(pool.dilation) != (1,) * d or pool.return_indices:
            raise AudiomnistError(f"DeepLift supports max-pooling without dilation or indices, not {pool}")
        self.kernel, self.stride, self.padding = dims(pool.kernel_size), dims(pool.stride), dims(pool.padding)
        self.ceil_mode = pool.ceil_mode
        self.steps = nn.ModuleList(nn.ReLU() for _ in range(int(np.prod(self.kernel)) - 1))

    def windows(self, x: torch.Tensor) -> torch.Tensor:
        """The pooling windows ``(B, C, *pooled, prod(kernel))``. Padding replicates the edge,
        which every window that reaches the padding contains, so the maxima are unchanged."""
        pads = []
        for i, (k, s, p) in enumerate(zip(self.kernel, self.stride, self.padding)):
            length = x.shape[2 + i]
            right = (_pooled_length(length, k, s, p, self.ceil_mode) - 1) * s + k - length - p
            if right < 0:  # the last elements fall in no window
                x = x.narrow(2 + i, 0, length + right)
            pads = [p, max(right, 0)] + pads  # F.pad lists the last dim first
        if any(pads):
            x = F.pad(x, pads, mode="replicate")
        for i, (k, s) in enumerate(zip(self.kernel, self.stride)):
            x = x.unfold(2 + i, k, s)
        return x.flatten(-len(self.kernel))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.windows(x)
        m = w[..., 0]
        for i, relu in enumerate(self.steps, 1):
            m = m + relu(w[..., i] - m)
        return m


def deeplift_model(model: nn.Module) -> nn.Module:
    """A copy of ``model`` for Captum's DeepLift: every max-pooling a :class:`ReluMaxPool`,
    every in-place activation out of place. Captum 0.9's own max-pool rule is not complete
    after a ReLU: with a non-zero reference the sum misses ``f(x) - f(baseline)`` by 4-30 % on
    AudioNet and AlexNet, by less but still where windows do not overlap (where they do, its
    unpooling also assigns rather than adds); its rescale rule on ReLUs is complete."""
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in parent.named_children():
            if type(child) in (nn.MaxPool1d, nn.MaxPool2d):
                setattr(parent, name, ReluMaxPool(child))
            elif getattr(child, "inplace", False):
                child.inplace = False
    return model


def _deeplift(model, x, t, b, o):
    with warnings.catch_warnings():  # Captum announces, each call, the hooks it removes again
        warnings.filterwarnings("ignore", message="Setting forward, backward hooks")
        return DeepLift(model).attribute(x, baselines=b.expand_as(x), target=t)


def _gradient_shap(model, x, t, b, o):
    shap = GradientShap(model)
    return _per_item(lambda xi, ti, std: shap.attribute(
        xi, baselines=b, n_samples=o.samples, stdevs=std, target=ti
    ), x, t, o)


def _occlusion(model, x, t, b, o):
    channels = (x.shape[1],)  # a window spans every channel
    return Occlusion(model).attribute(
        x, sliding_window_shapes=channels + o.window, strides=(1,) + o.stride, baselines=b.expand_as(x),
        target=t, perturbations_per_eval=max(1, o.batch_size // x.shape[0]),
    )


_CAPTUM = {
    "gradient": _gradient,
    "gradient_x_input": _gradient_x_input,
    "smoothgrad": _smoothgrad,
    "integrated_gradients": _integrated_gradients,
    "deeplift": _deeplift,
    "gradient_shap": _gradient_shap,
    "occlusion": _occlusion,
}
_WITH_BASELINE = ("integrated_gradients", "deeplift", "gradient_shap", "occlusion")


def _reference(baseline, inputs: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The reference input ``(1, ...)``: ``baseline`` (a number or a tensor that broadcasts to
    one input) or the default of :data:`DEFAULT_BASELINES`."""
    if baseline is None:
        if inputs.ndim not in DEFAULT_BASELINES:
            raise AudiomnistError(
                f"no default baseline for inputs of shape {tuple(inputs.shape)}; pass baseline= (a number or a tensor)"
            )
        baseline = DEFAULT_BASELINES[inputs.ndim]
    b = torch.as_tensor(baseline, dtype=dtype)
    try:
        return b.broadcast_to((1, *inputs.shape[1:]))
    except RuntimeError:
        raise AudiomnistError(
            f"baseline of shape {tuple(b.shape)} does not broadcast to one input of shape {tuple(inputs.shape[1:])}"
        ) from None


def _dims(value, n: int, what: str) -> tuple[int, ...]:
    """An int or ``n`` ints as ``n`` positive ints."""
    dims = (value,) * n if isinstance(value, int) else tuple(value)
    if len(dims) != n or any(not isinstance(d, int) or d < 1 for d in dims):
        raise AudiomnistError(f"occlusion {what} must be a positive int or {n} positive ints, not {value!r}")
    return dims


def _occlusion_window(inputs: torch.Tensor, window, stride) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Window and stride over the dims after the channel: given (the stride defaults to the
    window, tiling the input), or the defaults of :data:`OCCLUSION_WINDOWS`."""
    n = inputs.ndim - 2
    if n < 1:
        raise AudiomnistError(f"occlusion needs inputs (N, C, ...), not of shape {tuple(inputs.shape)}")
    if window is None:
        if inputs.ndim not in OCCLUSION_WINDOWS:
            raise AudiomnistError(
                f"no default occlusion window for inputs of shape {tuple(inputs.shape)}; pass window="
            )
        window, default_stride = OCCLUSION_WINDOWS[inputs.ndim]
        stride = default_stride if stride is None else stride
    window = _dims(window, n, "window")
    stride = window if stride is None else _dims(stride, n, "stride")
    if any(w > d for w, d in zip(window, inputs.shape[2:])):
        raise AudiomnistError(f"occlusion window {window} is larger than the input {tuple(inputs.shape[2:])}")
    return window, stride


def _lrp_composite(method: str, model: nn.Module, inputs: torch.Tensor, bounds):
    """The composite behind an ``lrp_*`` method, or an error where it does not apply."""
    name = LRP_COMPOSITES[method]
    if name != "epsilon_gamma_box":
        return make_composite(name)
    if inputs.ndim == 3:
        raise AudiomnistError(
            f"attribution method {method!r} does not apply to {type(model).__name__}: its z^B input rule needs a "
            "bounded input, and a waveform (N, C, T) is not; use lrp_epsilon_plus or lrp_epsilon_plus_flat"
        )
    low, high = bounds if bounds is not None else (-TOP_DB, TOP_DB)
    return make_composite(name, low, high)


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
    baseline: float | torch.Tensor | None = None,
    window: int | tuple[int, ...] | None = None,
    stride: int | tuple[int, ...] | None = None,
    bounds: tuple | None = None,
) -> torch.Tensor:
    """Attribution of ``inputs`` ``(N, ...)`` for class ``targets`` under ``model`` by ``method``
    (one of :data:`METHODS`, described in the module docstring); ``(N, ...)`` in the model's
    dtype on the inputs' device.

    Parameters
    ----------
    batch_size : inputs per call into the library (default 64); integrated gradients' path
        steps and occlusion's windows go in forward passes of at most this many inputs too.
        SmoothGrad and GradientShap go one input at a time, its ``samples`` noisy copies in
        one pass (so that their noise does not depend on ``batch_size``).
    composite : the composite of ``lrp`` (see :func:`~.lrp.relevance`); the other methods
        ignore it.
    samples, noise : the noisy copies of ``smoothgrad`` and ``gradient_shap`` and their noise
        std as a fraction of each input's range.
    steps : the path steps of ``integrated_gradients``.
    generator : the seed of ``random``, ``smoothgrad`` and ``gradient_shap`` (seeded 0 when
        None); for one seed their results are the same whatever ``batch_size``.
    baseline : the reference input of ``integrated_gradients``, ``deeplift``,
        ``gradient_shap`` and ``occlusion``: a number or a tensor that broadcasts to one input;
        None for :data:`DEFAULT_BASELINES`.
    window, stride : the occlusion window over the dims after the channel (an int for each,
        or a tuple); a window spans every channel. The stride defaults to the window; both
        None for :data:`OCCLUSION_WINDOWS`.
    bounds : ``(low, high)`` box of ``lrp_epsilon_gamma_box`` (see
        :func:`~.composites.spectrogram_bounds`); None for ``(-TOP_DB, TOP_DB)``, the widest
        range a mean-subtracted spectrogram can take.

    The model is used in evaluation mode and left as it was.
    """
    if method not in METHODS:
        raise AudiomnistError(f"unknown attribution method {method!r}; use one of {', '.join(METHODS)}")
    if method == "lrp":
        return relevance(model, inputs, targets, composite, batch_size)
    inputs = _check_inputs(model, inputs)
    if method in LRP_COMPOSITES:
        return relevance(model, inputs, targets, _lrp_composite(method, model, inputs, bounds), batch_size)
    if samples < 1 or steps < 1 or noise < 0:
        raise AudiomnistError("attribution needs samples >= 1, steps >= 1 and noise >= 0")
    targets = _check_targets(targets, inputs.shape[0])
    batch_size = batch_size or DEFAULT_BATCH
    generator = generator if generator is not None else torch.Generator().manual_seed(0)
    device, dtype = _device_dtype(model)
    with explaining(model), torch.no_grad():
        _check_classes(targets, model(inputs[:1].to(device, dtype)).shape[1])
    if method == "random":
        return torch.rand(inputs.shape, generator=generator, dtype=dtype).to(inputs.device)
    window, stride = _occlusion_window(inputs, window, stride) if method == "occlusion" else ((), ())
    options = _Options(samples, noise, steps, batch_size, window, stride)
    b = _reference(baseline, inputs, dtype).to(device) if method in _WITH_BASELINE else None
    seed = int(torch.randint(0, 2**62, (1,), generator=generator))
    out = []
    with explaining(model), torch.enable_grad(), seeded(seed):
        explained = deeplift_model(model) if method == "deeplift" else model
        for start in range(0, inputs.shape[0], batch_size):
            x = inputs[start : start + batch_size].to(device, dtype).detach().requires_grad_(True)
            t = targets[start : start + batch_size].to(device)
            out.append(_CAPTUM[method](explained, x, t, b, options).detach().to(inputs.device))
    return torch.cat(out)
