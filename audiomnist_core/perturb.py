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

The numerics are pure batched functions with explicit generators; :func:`perturb_profile`
runs both experiments over a run's folds and caches each fold's result in the run store.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from .errors import AudiomnistError
from .models import INPUTS, N_CLASSES
from .preprocess import Signals, TOP_DB, spectrogram, waveform_input
from .runs import status
from .train import PAPER_TABLE1

STRATEGIES = ("random", "amplitude", "relevance")
FLOOR_DB = -TOP_DB  # the dB spectrogram's floor: -80 dB below its maximum
PAPER_FREQUENCY_SCALING = {"mean": 20.3, "std": 12.6, "opposite_share": 80.0}
# Section 3.3.2: AudioNet digits, accuracy (%) with 1 % of the samples zeroed.
PAPER_ZEROING_1PCT = {"audionet/digits": {"unperturbed": 92.53, "random": 92.0, "amplitude": 85.0, "relevance": 77.0}}
PAPER_ZEROING_RUNS = ("audionet/digits", "audionet/gender")


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
    if strategy not in STRATEGIES:
        raise AudiomnistError(f"unknown zeroing strategy {strategy!r}; use one of {', '.join(STRATEGIES)}")


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
        paper did).
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
            raise AudiomnistError("the relevance zeroing strategy needs relevance= (same shape as the inputs)")
        score = relevance.reshape(x.shape[0], -1).to(x.device, torch.float32)
        if score.shape != x.shape:
            raise AudiomnistError(f"relevance has {score.shape[1]} values per input, the inputs {x.shape[1]}; pass the relevance of these inputs")
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
        the ``"relevance"`` strategy.
    generator : seeds the random strategy; results are reproducible for a seed and batch size.
    draws : random draws averaged for ``"random"``.
    mean : AlexNet's fold training-mean spectrogram ``(227, 227)``.
    waveform_norm : AudioNet's input normalisation (``preprocess.waveform_norm``).

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
    correct = {s: torch.zeros(len(fractions), dtype=torch.float64) for s in strategies}
    plain = 0
    for start in range(0, len(waves), batch_size):
        stop = start + batch_size
        feats, floor = _features(model_name, waves[start:stop].to(device), waveform_norm)
        y = labels[start:stop].to(device)

        def n_correct(x: torch.Tensor) -> int:
            with torch.no_grad():
                return int((model(_network_input(model_name, x, mean)).argmax(-1) == y).sum())

        base = n_correct(feats)
        plain += base
        rel = None
        if "relevance" in strategies:
            if callable(relevance):
                rel = relevance(_network_input(model_name, feats, mean), y)
            elif relevance is not None:
                rel = torch.as_tensor(relevance[start:stop])
        everything = None  # count with every non-zero feature zeroed: random and amplitude agree there
        for strategy in strategies:
            n_draws = draws if strategy == "random" else 1
            shared: dict[int, int] = {}  # fraction index -> count, for draw-independent masks
            for _ in range(n_draws):
                rank, n_active = ranks(feats, strategy, rel, generator, floor)
                for i, f in enumerate(fractions):
                    if i in shared:
                        correct[strategy][i] += shared[i]
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
                    correct[strategy][i] += c
    n = max(len(waves), 1)
    out = {s: (100.0 * correct[s] / (n * (draws if s == "random" else 1))).tolist() for s in strategies}
    out["unperturbed"] = [100.0 * plain / n]
    return out


# --- the run-level experiments ------------------------------------------------------------

TASKS_INDEX = {"digits": 0, "gender": 1}  # stable integers for the seeds
MODELS_INDEX = {"alexnet": 0, "audionet": 1}


def _seed(*parts: int) -> int:
    return int(np.random.SeedSequence(list(parts)).generate_state(1)[0])


def _subset(n: int, limit: int | None, seed: int) -> torch.Tensor:
    """Sorted indices of a seeded subset of ``limit`` of ``n`` test recordings (all if None)."""
    if limit is None or limit >= n:
        return torch.arange(n)
    g = torch.Generator().manual_seed(seed)
    return torch.randperm(n, generator=g)[:limit].sort().values


def _fingerprint(path) -> str:
    st = path.stat()
    return f"{path.name}:{st.st_size}:{st.st_mtime_ns}"


def _cached(run, name: str, key: dict, compute: Callable[[], dict]) -> dict:
    """The cached result of one fold's experiment, recomputed when the config or the checkpoint changed."""
    from .runs import load_json, save_json

    path = run.path("perturb", f"{name}.json")
    if path.is_file():
        try:
            doc = load_json(path)
            if doc.get("key") == key:
                return doc["result"]
        except (ValueError, KeyError):
            pass  # a damaged cache entry is recomputed, not trusted
    result = compute()
    save_json(path, {"key": key, "result": result, "stamp": run.stamp(**key)})
    return result


def _test_set(run, task: str, fold: int):
    """The fold's test recordings used here (a seeded subset where the profile limits them),
    their indices into the full test set, and the fold's training mean spectrogram."""
    from . import train

    data = train.fold_data(run, task, fold)
    idx = _subset(len(data.test), run.config.perturb.max_per_fold, _seed(run.config.perturb.seed, TASKS_INDEX[task], fold))
    return data.test.select(idx), idx, data.mean


def frequency_scaling_fold(run, fold: int, device: torch.device) -> dict:
    """Frequency scaling on one gender fold: accuracy, opposite share, unperturbed accuracy (%)."""
    from . import train

    ckpt = train.ensure_trained(run, "alexnet", "gender", fold, device)
    cfg = run.config.perturb

    def compute() -> dict:
        test, _, mean = _test_set(run, "gender", fold)
        status(f"frequency scaling: alexnet/gender fold {fold}, {len(test)} test recordings")
        model = train.load_model(run, "alexnet", "gender", fold, device)
        out = frequency_scaling_accuracy(model, test.waves, test.gender, mean, cfg.male_scale, cfg.female_scale, cfg.batch_size, device)
        return {**out, "n_test": len(test)}

    key = {"config_hash": run.config.hash(), "checkpoint": _fingerprint(ckpt), "fold": fold}
    return _cached(run, f"frequency_scaling-fold{fold}", key, compute)


def zeroing_fold(run, model_name: str, task: str, fold: int, device: torch.device) -> dict:
    """Zeroing curves of one model/task/fold: ``{strategy: [accuracy % per fraction], "unperturbed": [%], "n_test"}``."""
    from . import explain, train

    ckpt = train.ensure_trained(run, model_name, task, fold, device)
    cfg = run.config.perturb

    def compute() -> dict:
        test, idx, mean = _test_set(run, task, fold)
        status(f"zeroing: {model_name}/{task} fold {fold}, {len(test)} test recordings x {len(cfg.fractions)} "
               f"fractions x {len(STRATEGIES)} strategies")
        model = train.load_model(run, model_name, task, fold, device)
        relevance = torch.as_tensor(explain.test_relevance(run, model_name, task, fold, device))[idx]
        generator = torch.Generator().manual_seed(_seed(cfg.seed, MODELS_INDEX[model_name], TASKS_INDEX[task], fold))
        out = perturbation_curve(
            model, model_name, test, test.labels(task), cfg.fractions, STRATEGIES, relevance, generator,
            cfg.random_draws, mean, cfg.batch_size, device, run.config.preprocess.waveform_norm,
        )
        return {**out, "n_test": len(test)}

    key = {"config_hash": run.config.hash(), "checkpoint": _fingerprint(ckpt), "fold": fold}
    return _cached(run, f"zeroing-{model_name}-{task}-fold{fold}", key, compute)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (``ddof=1``; 0 for a single fold) over folds, the
    definition of Table 1 (:func:`train.table1`), so that every spread in the book is one kind."""
    a = np.asarray(values, dtype=np.float64)
    return float(a.mean()), float(a.std(ddof=1)) if a.size > 1 else 0.0


def perturb_profile(run, device: str | torch.device | None = None) -> dict:
    """Both experiments of Section 3.3 over every fold the profile uses.

    Returns (accuracies in percent, lists over folds in ``train.folds_of`` order)::

        {"profile", "data",
         "frequency_scaling": {"accuracy": [per fold], "mean", "std", "paper_mean": 20.3,
                               "paper_std": 12.6, "opposite_share": [per fold],
                               "unperturbed": [per fold], "folds", "n_test"},
         "zeroing": {"<model>/<task>": {"fractions": [...], "chance": %,
                     "curves": {"random": [[per fold] per fraction], "amplitude": ..., "relevance": ...},
                     "unperturbed": [per fold], "folds", "n_test", "in_paper": bool,
                     "feature": str, "paper_at_1pct": {...} (AudioNet digits)}}}

    ``frequency_scaling`` is ``None`` when the profile trains no AlexNet gender model. A task
    that the corpus cannot be split for (``train.skipped_tasks``, e.g. gender on a corpus with
    one gender) is not run: its experiments are ``{"skipped": "<reason>"}`` (frequency scaling
    is a gender experiment), and ``"skipped"`` maps each such task to its reason. Each
    fold's result is cached under ``runs/<profile>-<data>/perturb/`` and reused while the
    config and the checkpoint are unchanged; the assembled result is written to
    ``perturb/profile.json``.
    """
    from . import train
    from .runs import save_json

    device = train.resolve_device(device or run.config.train.device)
    cfg = run.config.perturb
    trained = set(run.config.train.runs)
    skipped = train.skipped_tasks(run)
    result: dict = {"profile": run.profile, "data": run.data, "frequency_scaling": None, "zeroing": {},
                    "skipped": skipped}
    if "alexnet/gender" in trained and "gender" in skipped:
        result["frequency_scaling"] = {"skipped": skipped["gender"]}
    elif "alexnet/gender" in trained:
        folds = train.folds_of(run, "gender")
        per_fold = [frequency_scaling_fold(run, k, device) for k in folds]
        acc = [r["accuracy"] for r in per_fold]
        mean, std = _mean_std(acc)
        result["frequency_scaling"] = {
            "accuracy": acc, "mean": mean, "std": std,
            "paper_mean": PAPER_FREQUENCY_SCALING["mean"], "paper_std": PAPER_FREQUENCY_SCALING["std"],
            "opposite_share": [r["opposite_share"] for r in per_fold],
            "unperturbed": [r["unperturbed"] for r in per_fold],
            "male_scale": cfg.male_scale, "female_scale": cfg.female_scale,
            "folds": list(folds), "n_test": [r["n_test"] for r in per_fold],
        }
    for name in cfg.zeroing_runs:
        if name not in trained:
            continue
        model_name, task = name.split("/")
        if task in skipped:
            result["zeroing"][name] = {"skipped": skipped[task]}
            continue
        folds = train.folds_of(run, task)
        per_fold = [zeroing_fold(run, model_name, task, k, device) for k in folds]
        entry = {
            "fractions": list(cfg.fractions),
            "chance": 100.0 / N_CLASSES[task],
            "curves": {s: [[r[s][i] for r in per_fold] for i in range(len(cfg.fractions))] for s in STRATEGIES},
            "unperturbed": [r["unperturbed"][0] for r in per_fold],
            "folds": list(folds),
            "n_test": [r["n_test"] for r in per_fold],
            "in_paper": name in PAPER_ZEROING_RUNS,
            "method": run.config.explain.method,  # what ranks the "relevance" strategy
            "feature": "waveform samples set to 0" if INPUTS[model_name] == "waveform"
            else "spectrogram bins set to the -80 dB floor (not in the paper)",
        }
        if name in PAPER_ZEROING_1PCT:
            entry["paper_at_1pct"] = dict(PAPER_ZEROING_1PCT[name])
        result["zeroing"][name] = entry
    save_json(run.path("perturb", "profile.json"), {**result, "stamp": run.stamp()})
    return result


def at_fraction(entry: dict, fraction: float) -> dict[str, tuple[float, float]]:
    """Mean and std over folds of each strategy at one fraction of a zeroing entry of
    :func:`perturb_profile`: ``{strategy: (mean %, std %)}``."""
    i = _fraction_index(entry, fraction)
    return {s: _mean_std(entry["curves"][s][i]) for s in entry["curves"]}


def _fraction_index(entry: dict, fraction: float) -> int:
    fractions = entry["fractions"]
    matches = [i for i, f in enumerate(fractions) if math.isclose(f, fraction)]
    if not matches:
        raise AudiomnistError(f"fraction {fraction} is not on the profile's grid {fractions}; add it to perturb.fractions")
    return matches[0]


def robust_until(entry: dict, strategy: str = "random", tolerance: float = 5.0) -> float:
    """The largest fraction up to which the strategy's mean accuracy over folds stays within
    ``tolerance`` percentage points of the unperturbed mean (the paper: gender is robust to
    random zeroing until about 60 %)."""
    _check_strategy(strategy)
    plain = float(np.mean(entry["unperturbed"]))
    last = 0.0
    for f, accs in zip(entry["fractions"], entry["curves"][strategy]):
        if float(np.mean(accs)) < plain - tolerance:
            break
        last = float(f)
    return last


def _pm(values: Sequence[float]) -> str:
    mean, std = _mean_std(values)
    return f"{mean:.1f} ± {std:.1f}" if len(values) > 1 else f"{mean:.1f}"


def format_frequency_scaling(fs: dict) -> str:
    """Markdown table of the frequency-scaling experiment, per fold and over folds, the
    paper's result beside ours."""
    rows = ["| | unmodified (%) | frequency-scaled (%) | predicted the opposite gender (%) |", "|---|---|---|---|"]
    for k, plain, acc, opp in zip(fs["folds"], fs["unperturbed"], fs["accuracy"], fs["opposite_share"]):
        rows.append(f"| fold {k} | {plain:.1f} | {acc:.1f} | {opp:.1f} |")
    rows.append(f"| **ours, over folds** | {_pm(fs['unperturbed'])} | **{_pm(fs['accuracy'])}** | {_pm(fs['opposite_share'])} |")
    table1_mean, table1_std = PAPER_TABLE1[("alexnet", "gender")]
    rows.append(f"| paper | {table1_mean} ± {table1_std} (Table 1) | {fs['paper_mean']} ± {fs['paper_std']} "
                f"| ≈ {PAPER_FREQUENCY_SCALING['opposite_share']:.0f} |")
    return "\n".join(rows)


def format_zeroing_at(entry: dict, fraction: float, paper: dict | None = None) -> str:
    """Markdown table of each strategy's accuracy at one fraction (mean ± std over folds),
    the paper's value beside it where it gave one."""
    i = _fraction_index(entry, fraction)
    paper = paper or {}
    rows = [f"| {100 * fraction:g} % zeroed | ours (%) | paper (%) |", "|---|---|---|"]
    rows.append(f"| unperturbed | {_pm(entry['unperturbed'])} | {paper.get('unperturbed', '–')} |")
    for s, per_fraction in entry["curves"].items():
        rows.append(f"| {s} | {_pm(per_fraction[i])} | {paper.get(s, '–')} |")
    return "\n".join(rows)


def frequency_scaling_reading(fs: dict) -> str:
    """One sentence on what the frequency-scaling result says, measured against chance (50 %)."""
    if fs["mean"] + fs["std"] < 50.0:
        return ("below chance: like the paper's model, ours hears the opposite gender in most scaled "
                "recordings, so the pitch cue that LRP marks is what it decides by")
    if fs["mean"] < 50.0:
        return ("below chance on average, but the spread over folds reaches chance, so the reversal is "
                "weaker than the paper's")
    return ("not below chance: unlike the paper's model, ours does not turn its decision around on the "
            "scaled recordings, so pitch and harmonic spacing alone do not carry its gender decision")


def zeroing_order(entry: dict, fraction: float) -> str:
    """The strategies at one fraction, lowest mean accuracy first, e.g.
    ``"relevance 77.0 % < amplitude 85.0 % < random 92.0 %"`` (``=`` for ties)."""
    means = sorted(((m, s) for s, (m, _) in at_fraction(entry, fraction).items()), key=lambda p: p[0])
    text = f"{means[0][1]} {means[0][0]:.1f} %"
    for (prev, _), (m, s) in zip(means, means[1:]):
        text += f" {'=' if math.isclose(prev, m) else '<'} {s} {m:.1f} %"
    return text
