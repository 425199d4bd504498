"""Section 3.3 of the paper: manipulate the features LRP marks and watch the accuracy.

Two experiments:

* **Frequency scaling** (3.3.1): the frequency axis of the AlexNet gender model's test
  spectrograms is stretched by 1.5 for male and squeezed by 0.66 for female speakers, so
  that fundamental frequency and harmonic spacing move towards the other gender's; the
  paper's accuracy falls to 20.3 % +- 12.6 %.
* **Zeroing** (3.3.2, Fig. 3): a fraction of each input's features is set to zero, the count
  taken as that fraction of its non-zero features, chosen at random among the non-zero ones,
  by largest absolute amplitude among the non-zero ones, or by highest relevance among all
  (padding included). The paper did this for AudioNet; the same protocol on AlexNet's
  spectrograms (bins set to the -80 dB floor) is ours.

Pure batched functions with explicit generators; the steps that run both experiments over a
run's folds are :mod:`audiomnist_core.steps.manipulations`.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .errors import AudiomnistError
from .models import INPUTS
from .preprocess import Signals, TOP_DB, spectrogram, waveform_input

STRATEGIES = ("random", "amplitude", "relevance")  # the paper's three (Fig. 3)
# ... and the method benchmark's: highest attribution among the non-zero features only, so that
# every method is judged on the features that carry signal (a padded sample is zero already).
RANKINGS = STRATEGIES + ("attribution",)
FLOOR_DB = -TOP_DB  # the dB spectrogram's floor: -80 dB below its maximum


# --- frequency scaling --------------------------------------------------------------------

def scale_frequency(spectrograms: torch.Tensor, factor: float | torch.Tensor, floor: float = FLOOR_DB) -> torch.Tensor:
    """Scale the frequency axis of dB spectrograms by ``factor``, keeping the 227 rows.

    ``(..., F, T) -> (..., F, T)``. Row ``r`` of the result is the input read at row
    ``r / factor`` (linear interpolation between neighbouring rows, in dB), so content at
    row ``r`` moves to row ``r * factor``: ``factor > 1`` raises every frequency, ``< 1``
    lowers it. Rows whose source lies above the input's highest row (only for
    ``factor < 1``) get ``floor``, the spectrogram's -80 dB floor: nothing was measured
    there, and the floor is what silence looks like to the network. ``factor == 1`` returns
    the input exactly.

    Apply it to the dB spectrogram **before** the fold's mean spectrogram is subtracted:
    the manipulation concerns the sound, the mean subtraction is part of the network's
    input normalisation and must stay aligned with the training data.

    Parameters
    ----------
    spectrograms : Tensor ``(..., F, T)``, dB.
    factor : a positive number, or a tensor of positive numbers of the leading shape ``(...)``
        (one factor per spectrogram).
    floor : value of rows with no source (dB).
    """
    factor = torch.as_tensor(factor, dtype=torch.float64, device=spectrograms.device)
    if not bool(torch.isfinite(factor).all()) or bool((factor <= 0).any()):
        raise AudiomnistError(f"frequency scaling factor {factor.tolist()} must be a positive number")
    n_freq, n_time = spectrograms.shape[-2:]
    lead = spectrograms.shape[:-2]
    factor = torch.broadcast_to(factor, lead)
    src = torch.arange(n_freq, dtype=torch.float64, device=spectrograms.device) / factor[..., None]  # (..., F)
    lo = src.floor()
    weight = (src - lo).to(spectrograms.dtype)[..., None]  # (..., F, 1)
    lo_i = lo.clamp(max=n_freq - 1).long()
    hi_i = (lo_i + 1).clamp(max=n_freq - 1)
    x_lo = torch.gather(spectrograms, -2, lo_i[..., None].expand(*lead, n_freq, n_time))
    x_hi = torch.gather(spectrograms, -2, hi_i[..., None].expand(*lead, n_freq, n_time))
    out = x_lo + weight * (x_hi - x_lo)
    inside = (src <= n_freq - 1)[..., None]
    return torch.where(inside, out, torch.as_tensor(floor, dtype=out.dtype, device=out.device))


def gender_factors(gender: torch.Tensor, male_scale: float, female_scale: float) -> torch.Tensor:
    """Per-recording scaling factor: ``male_scale`` for male (0), ``female_scale`` for female (1). ``(N,) -> (N,)``."""
    gender = torch.as_tensor(gender)
    return torch.where(gender == 1, torch.tensor(female_scale, dtype=torch.float64), torch.tensor(male_scale, dtype=torch.float64))


def scaled_inputs(spectrograms: torch.Tensor, factors: torch.Tensor | float, mean: torch.Tensor | None) -> torch.Tensor:
    """AlexNet inputs of frequency-scaled dB spectrograms: ``(B, 227, 227), (B,) -> (B, 1, 227, 227)``.

    The dB spectrogram is scaled first and the fold's mean spectrogram ``mean`` ``(227, 227)``
    subtracted afterwards (see :func:`scale_frequency`).
    """
    x = scale_frequency(spectrograms, factors)
    if mean is not None:
        x = x - mean.to(x.device, x.dtype)
    return x.unsqueeze(1)


@torch.no_grad()
def frequency_scaling_accuracy(
    model: nn.Module,
    waves: torch.Tensor,
    gender: torch.Tensor,
    mean: torch.Tensor | None,
    male_scale: float = 1.5,
    female_scale: float = 0.66,
    batch_size: int = 100,
    device: torch.device | str = "cpu",
) -> dict[str, float]:
    """The gender model on frequency-scaled recordings.

    Parameters
    ----------
    model : AlexNet gender model in eval mode, on ``device``.
    waves : ``(N, 8000)`` padded waveforms; ``gender`` ``(N,)`` 0 male, 1 female (the labels).
    mean : the fold's training-mean spectrogram ``(227, 227)``.

    Returns
    -------
    ``{"accuracy": %, "opposite_share": % predicted as the other gender, "unperturbed": %}``.
    """
    gender = torch.as_tensor(gender)
    factors = gender_factors(gender, male_scale, female_scale)
    correct = opposite = plain = 0
    for start in range(0, len(waves), batch_size):
        w = waves[start : start + batch_size].to(device)
        y = gender[start : start + batch_size].to(device)
        spec = spectrogram(w)
        pred = model(scaled_inputs(spec, factors[start : start + batch_size], mean)).argmax(-1)
        base = model(scaled_inputs(spec, 1.0, mean)).argmax(-1)
        correct += int((pred == y).sum())
        opposite += int((pred == 1 - y).sum())
        plain += int((base == y).sum())
    n = max(len(waves), 1)
    return {"accuracy": 100.0 * correct / n, "opposite_share": 100.0 * opposite / n, "unperturbed": 100.0 * plain / n}


# --- zeroing ------------------------------------------------------------------------------

def _check_strategy(strategy: str) -> None:
    if strategy not in RANKINGS:
        raise AudiomnistError(f"unknown zeroing strategy {strategy!r}; use one of {', '.join(RANKINGS)}")


def _check_fractions(fractions: Sequence[float]) -> None:
    bad = [f for f in fractions if not (0.0 <= float(f) <= 1.0)]
    if bad:
        raise AudiomnistError(f"zeroing fraction {bad[0]!r} lies outside [0, 1]; use a share of the non-zero samples")


def ranks(
    features: torch.Tensor,
    strategy: str,
    relevance: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    floor: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The order in which a strategy zeroes each input's features.

    Parameters
    ----------
    features : ``(B, ...)`` a batch of inputs; a feature is *non-zero* where it differs from
        ``floor`` (0 for waveforms, -80 dB for spectrograms).
    strategy : ``"random"`` (uniformly among the non-zero features; needs ``generator``),
        ``"amplitude"`` (largest ``|x - floor|`` among the non-zero features) or
        ``"relevance"`` (highest ``relevance`` among all features, padding included, as the
        paper did) or ``"attribution"`` (highest ``relevance`` among the non-zero features).
    relevance : ``(B, ...)`` with as many elements per input as ``features``.

    Returns
    -------
    rank : ``(B, n)`` int64, ``n`` features per input flattened; 0 is zeroed first. Ties keep
        the features' order.
    n_active : ``(B,)`` int64, the number of non-zero features of each input.
    """
    _check_strategy(strategy)
    x = features.reshape(features.shape[0], -1)
    active = x != floor
    if strategy == "random":
        if generator is None:
            raise AudiomnistError("the random zeroing strategy needs a seeded torch.Generator (generator=...)")
        score = torch.rand(x.shape, generator=generator, device=generator.device).to(x.device)
        score = score.masked_fill(~active, -math.inf)
    elif strategy == "amplitude":
        score = (x - floor).abs().masked_fill(~active, -math.inf)
    else:
        if relevance is None:
            raise AudiomnistError("the relevance and attribution zeroing strategies need relevance= (same shape as the inputs)")
        score = relevance.reshape(x.shape[0], -1).to(x.device, torch.float32)
        if score.shape != x.shape:
            raise AudiomnistError(f"relevance has {score.shape[1]} values per input, the inputs {x.shape[1]}; pass the relevance of these inputs")
        if strategy == "attribution":
            score = score.masked_fill(~active, -math.inf)
    order = torch.argsort(score, dim=1, descending=True, stable=True)
    positions = torch.arange(x.shape[1], device=x.device).expand_as(order)
    rank = torch.empty_like(order).scatter_(1, order, positions)
    return rank, active.sum(1)


def counts(fraction: float, n_active: torch.Tensor) -> torch.Tensor:
    """How many features to zero: ``round(fraction * n_active)`` per input (half to even, like
    Python's ``round``). ``(B,) -> (B,)`` int64."""
    _check_fractions([fraction])
    return torch.round(torch.tensor(float(fraction), dtype=torch.float64) * n_active.double().cpu()).long().to(n_active.device)


def zero_mask(
    features: torch.Tensor,
    fraction: float | Sequence[float],
    strategy: str,
    relevance: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
    floor: float = 0.0,
) -> torch.Tensor:
    """Which features a strategy zeroes at ``fraction`` of each input's non-zero features.

    ``(B, ...) -> (B, ...)`` bool, or ``(n_fractions, B, ...)`` for a sequence of fractions:
    the features are ranked once (:func:`ranks`) and each fraction is a threshold on the
    rank, so the masks of increasing fractions are nested.
    """
    many = np.ndim(fraction) > 0
    fractions = [float(f) for f in np.ravel(fraction)] if many else [float(fraction)]
    _check_fractions(fractions)
    rank, n_active = ranks(features, strategy, relevance, generator, floor)
    masks = torch.stack([(rank < counts(f, n_active)[:, None]).view(features.shape) for f in fractions])
    return masks if many else masks[0]


def zero_samples(
    waves: torch.Tensor,
    fraction: float,
    strategy: str,
    relevance: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Waveforms ``(B, T)`` with ``round(fraction x non-zero count)`` samples each set to zero.

    The same positions are chosen for the raw padded waveform and for AudioNet's normalised
    input (normalisation divides by one number per waveform), so the function serves both.
    """
    return waves.masked_fill(zero_mask(waves, fraction, strategy, relevance, generator), 0.0)


def floor_bins(
    spectrograms: torch.Tensor,
    fraction: float,
    strategy: str,
    relevance: torch.Tensor | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """dB spectrograms ``(B, F, T)`` with a fraction of their above-floor bins set to the
    -80 dB floor, the spectrogram's silence (before the mean subtraction)."""
    mask = zero_mask(spectrograms, fraction, strategy, relevance, generator, floor=FLOOR_DB)
    return spectrograms.masked_fill(mask, FLOOR_DB)


def _features(model_name: str, waves: torch.Tensor, norm: str = "original") -> tuple[torch.Tensor, float]:
    """What zeroing acts on, and its floor: AudioNet's normalised waveform (0; normalised by
    ``norm``), or AlexNet's dB spectrogram before the mean subtraction (-80 dB)."""
    if INPUTS[model_name] == "waveform":
        return waveform_input(waves, norm), 0.0
    return spectrogram(waves), FLOOR_DB


def active_features(model_name: str, waves: torch.Tensor, norm: str = "original") -> torch.Tensor:
    """Which features of each input zeroing can act on: ``(B, n)`` bool, the network input's
    non-zero samples (AudioNet) or the dB bins above the -80 dB floor (AlexNet), flattened."""
    feats, floor = _features(model_name, waves, norm)
    return (feats != floor).reshape(feats.shape[0], -1)


def _network_input(model_name: str, features: torch.Tensor, mean: torch.Tensor | None) -> torch.Tensor:
    if INPUTS[model_name] == "spectrogram" and mean is not None:
        features = features - mean.to(features.device, features.dtype)
    return features.unsqueeze(1)


def perturbation_curve(
    model: nn.Module,
    model_name: str,
    signals: Signals | torch.Tensor,
    labels: torch.Tensor,
    fractions: Sequence[float],
    strategies: Sequence[str] = STRATEGIES,
    relevance: torch.Tensor | Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
    draws: int = 1,
    mean: torch.Tensor | None = None,
    batch_size: int = 100,
    device: torch.device | str = "cpu",
    waveform_norm: str = "original",
    per_item: bool = False,
) -> dict[str, list[float]]:
    """Accuracy against the zeroed fraction for each strategy (Fig. 3).

    AudioNet: zeroing acts on the network's input, the normalised waveform (the paper zeroes
    "the input"; the relevance is that of the input too). Zeroing before the normalisation
    would change the normalising percentile and rescale the whole signal, a second
    manipulation the paper did not make. AlexNet: bins of the dB spectrogram are set to the
    -80 dB floor before the fold's mean is subtracted.

    Each batch is ranked once per strategy (and per draw for ``"random"``); every fraction is
    a threshold on those ranks. Identical inputs are evaluated once: where no input of a
    batch loses a feature the unperturbed predictions are reused; zeroing every non-zero
    feature is the same input for the random and the amplitude strategy; and a random draw
    that zeroes none or all of every input's non-zero features is the same for all draws.

    Parameters
    ----------
    model : in eval mode, on ``device``.
    model_name : ``"audionet"`` or ``"alexnet"`` (decides the input).
    signals : :class:`Signals` or padded waveforms ``(N, 8000)``; ``labels`` ``(N,)``.
    relevance : ``(N, ...)`` relevance of the unperturbed network inputs (as many values per
        input as features), computed once per sample; or a function
        ``(inputs (B, 1, ...), labels (B,)) -> relevance`` called once per batch; needed for
        the ``"relevance"`` and ``"attribution"`` strategies.
    generator : seeds the random strategy; results are reproducible for a seed and batch size.
    draws : random draws averaged for ``"random"``.
    mean : AlexNet's fold training-mean spectrogram ``(227, 227)``.
    waveform_norm : AudioNet's input normalisation (``preprocess.waveform_norm``).
    per_item : also return ``"correct": {strategy: [[share per recording] per fraction]}``,
        whether each recording is still classified correctly (1 or 0; the share of draws for
        ``"random"``), for statistics over recordings.

    Returns
    -------
    ``{strategy: [accuracy % per fraction]}`` and ``"unperturbed": [accuracy %]``.
    """
    fractions = [float(f) for f in fractions]
    _check_fractions(fractions)
    for s in strategies:
        _check_strategy(s)
    if draws < 1:
        raise AudiomnistError(f"draws={draws}: average over at least one random draw")
    waves = signals.waves if isinstance(signals, Signals) else signals
    labels = torch.as_tensor(labels)
    if len(labels) != len(waves):
        raise AudiomnistError(f"{len(waves)} signals but {len(labels)} labels")
    correct = {s: torch.zeros(len(fractions), len(waves), dtype=torch.float64) for s in strategies}
    plain = 0
    for start in range(0, len(waves), batch_size):
        stop = start + batch_size
        feats, floor = _features(model_name, waves[start:stop].to(device), waveform_norm)
        y = labels[start:stop].to(device)

        def n_correct(x: torch.Tensor) -> torch.Tensor:  # (B,) float64: 1 where still correct
            with torch.no_grad():
                return (model(_network_input(model_name, x, mean)).argmax(-1) == y).double().cpu()

        base = n_correct(feats)
        plain += int(base.sum())
        rel = None
        if "relevance" in strategies or "attribution" in strategies:
            if callable(relevance):
                rel = relevance(_network_input(model_name, feats, mean), y)
            elif relevance is not None:
                rel = torch.as_tensor(relevance[start:stop])
        everything = None  # count with every non-zero feature zeroed: random and amplitude agree there
        for strategy in strategies:
            n_draws = draws if strategy == "random" else 1
            shared: dict[int, torch.Tensor] = {}  # fraction index -> correct, for draw-independent masks
            for _ in range(n_draws):
                rank, n_active = ranks(feats, strategy, rel, generator, floor)
                for i, f in enumerate(fractions):
                    if i in shared:
                        correct[strategy][i, start:stop] += shared[i]
                        continue
                    k = counts(f, n_active)
                    full = strategy != "relevance" and bool((k == n_active).all())
                    if not bool(k.any()):
                        c = base
                    elif full and everything is not None:
                        c = everything
                    else:
                        c = n_correct(feats.masked_fill((rank < k[:, None]).view(feats.shape), floor))
                    if full:
                        everything = c
                    if bool(((k == 0) | (k == n_active)).all()):
                        shared[i] = c
                    correct[strategy][i, start:stop] += c
    n = max(len(waves), 1)
    shares = {s: correct[s] / (draws if s == "random" else 1) for s in strategies}
    out = {s: (100.0 * shares[s].sum(1) / n).tolist() for s in strategies}
    out["unperturbed"] = [100.0 * plain / n]
    if per_item:
        out["correct"] = {s: shares[s].tolist() for s in strategies}
    return out
