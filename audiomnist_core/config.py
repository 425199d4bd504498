"""Typed configuration of a run, read from a profile YAML (``profiles/<name>.yaml``).

A profile is data: every knob of a run lives there. Unknown keys and impossible values are
rejected with one line naming the profile, the key and the fix (:class:`ConfigError`).
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_args, get_origin, get_type_hints

import yaml

from .errors import AudiomnistError

PROFILES_DIR = Path(__file__).resolve().parents[1] / "profiles"
MODELS = ("alexnet", "audionet")
TASKS = ("digits", "gender")
INITS = ("original", "glorot")
OPTIMIZERS = ("sgd", "adam")
WAVEFORM_NORMS = ("original", "robust")  # preprocess.waveform_norm
SYNTH_STYLES = ("realistic", "clean")  # data.synth_style
DEFAULT_SYNTH_STYLE = "realistic"  # the one default: config, `audiomnist data synth` and data.synth
ATTRIBUTION_METHODS = (
    "lrp", "lrp_epsilon_plus", "lrp_epsilon_plus_flat", "lrp_epsilon_gamma_box", "lrp_epsilon_alpha2_beta1",
    "gradient", "gradient_x_input", "smoothgrad", "integrated_gradients", "deeplift", "gradient_shap",
    "occlusion", "random",
)
FITS = ("error", "trim", "trim_crop")


# Metadata of a field added after artifacts were made with its default behaviour: it enters
# their keys (see :func:`key_fields`) only where it leaves that default, so they stay valid.
ADDED_LATER = {"keyed_at_default": False}


def key_fields(obj: Any) -> dict[str, Any]:
    """The fields of a config dataclass that decide an artifact: all of them, except those
    marked :data:`ADDED_LATER` that still hold the value they had before they existed (their
    default, or their ``"unkeyed"`` value where the default changed since)."""
    return {
        f.name: getattr(obj, f.name)
        for f in dataclasses.fields(obj)
        if f.metadata.get("keyed_at_default", True) or getattr(obj, f.name) != f.metadata.get("unkeyed", f.default)
    }


# Keys that left the profiles, with what to do instead (an old profile gets this, not "unknown key").
REMOVED = {
    "preprocess.length": "no longer a setting: the networks take 8000 samples (one second at 8 kHz, the "
    "paper's); delete the key, and set preprocess.fit: trim or trim_crop to fit longer recordings",
}


class ConfigError(AudiomnistError, ValueError):
    """A profile that cannot be used; the message names the file and the key."""


@dataclass(frozen=True)
class DataConfig:
    """Which corpus, and how the synthetic one is made when it is chosen."""

    source: str = "auto"  # auto | audiomnist | synthetic | a path to a folder in AudioMNIST's layout
    synth_speakers: int = 60
    synth_reps: int = 50
    synth_seed: int = 0
    # "realistic" (the default): room noise, reverberation, gain, DC offsets, hum, silence and
    # breaths around the word (data.synth); "clean": the word alone with light noise, the corpus
    # before "realistic" existed, so runs keyed without the field stay "clean" runs
    synth_style: str = field(default=DEFAULT_SYNTH_STYLE, metadata={**ADDED_LATER, "unkeyed": "clean"})


@dataclass(frozen=True)
class PreprocessConfig:
    """Section 2.2.1 of the paper; defaults are the original code's parameters."""

    sample_rate: int = 8000
    resampler: str = "fft"  # "fft": the original's FFT resampler; "sinc": torchaudio's windowed sinc
    offset_seed: int = 0  # seeds the random placement inside the zero-padding
    # A recording longer than the networks' one second: "error" (the paper's; every AudioMNIST
    # recording fits), "trim" (leading and trailing silence cut, then an error if still too long)
    # or "trim_crop" (then the one second of highest energy kept); preprocess.fit_clip
    fit: str = field(default="error", metadata=ADDED_LATER)
    trim_db: float = field(default=60.0, metadata=ADDED_LATER)  # silence: this far below the loudest frame
    # AudioNet's input: "original" (the authors' code: / (95th percentile + 0.001)) or "robust"
    # (DC removed, / the 95th percentile of the magnitudes, floored; preprocess.waveform_input)
    waveform_norm: str = field(default="original", metadata=ADDED_LATER)


@dataclass(frozen=True)
class Schedule:
    """SGD schedule of one model x task, counted in iterations (SPEC, Training)."""

    learning_rate: float
    lr_step: int  # multiply the learning rate by lr_gamma every lr_step iterations
    iterations: int
    lr_gamma: float = 0.5
    clip_norm: float | None = None  # gradient-norm clipping; None: off
    # Departures from the paper for short schedules (quick); the paper profile keeps the defaults.
    # "original": the Caffe files' Gaussians; "glorot": Glorot-uniform, zero bias
    init: str = field(default="original", metadata=ADDED_LATER)
    # "sgd": with train.momentum, as the paper; "adam": Adam (betas 0.9, 0.999)
    optimizer: str = field(default="sgd", metadata=ADDED_LATER)
    # True: each time a recording is drawn into a batch it is placed at a new random offset in
    # its zero padding (train.shifted); False: the one offset of preprocessing, as the paper
    shift: bool = field(default=False, metadata=ADDED_LATER)


@dataclass(frozen=True)
class TrainConfig:
    runs: tuple[str, ...] = ("alexnet/digits", "alexnet/gender", "audionet/digits", "audionet/gender")
    folds: tuple[int, ...] | str = "all"  # "all" or a list of fold indices
    batch_size: int = 100
    momentum: float = 0.9
    weight_decay: float = 0.0
    eval_every: int = 500  # validation every N iterations
    checkpoint_every: int = 500
    select: str = "final"  # "final" (the original tested the final iterate) or "best_val"
    max_train_per_fold: int | None = None  # subsample training recordings (quick/smoke); None: all
    max_eval_per_fold: int | None = None  # subsample validation/test recordings; None: all
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N | mps
    bf16: bool = False  # CUDA only: bf16 autocast
    channels_last: bool = False  # CUDA only
    schedules: dict[str, Schedule] = field(default_factory=dict)  # "model/task" -> Schedule


@dataclass(frozen=True)
class ExplainConfig:
    composites: dict[str, str] = field(
        default_factory=lambda: {"alexnet": "default", "audionet": "default"}
    )
    batch_size: int = 64
    target: str = "label"  # explain the "label" class or the "predicted" class
    # What "relevance" is, in the chapters and the zeroing test: "lrp" (the paper's, with the
    # composites above) or another attribution method of explain.METHODS.
    method: str = "lrp"


@dataclass(frozen=True)
class PerturbConfig:
    fractions: tuple[float, ...] = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
    random_draws: int = 3
    male_scale: float = 1.5
    female_scale: float = 0.66
    seed: int = 0
    # Zeroing curves for these model/task pairs (the paper did AudioNet only; AlexNet is ours).
    zeroing_runs: tuple[str, ...] = ("audionet/digits", "audionet/gender", "alexnet/digits", "alexnet/gender")
    max_per_fold: int | None = None  # a seeded subset of each test set (smoke/quick); None: all
    batch_size: int = 100


@dataclass(frozen=True)
class BeyondConfig:
    """Chapter 05, beyond the paper: explanations in frequency, time-frequency and sound."""

    # Fig. 3 in the frequency domain: shares of each test waveform's real-DFT bins removed
    fractions: tuple[float, ...] = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5)
    random_draws: int = 3
    max_per_fold: int | None = None  # a seeded subset of each test set; None: all
    bands_hz: tuple[float, ...] = (0, 250, 500, 1000, 2000, 4000)  # the band shares' edges
    seed: int = 0
    batch_size: int = 64


@dataclass(frozen=True)
class BenchmarkConfig:
    """Chapter 06: attribution methods under the paper's zeroing test (``audiomnist benchmark``)."""

    methods: tuple[str, ...] = ATTRIBUTION_METHODS  # "lrp" is each model's composite of explain.composites
    # the zeroing curve's fractions of each input's non-zero features; must hold 0 and 0.01
    fractions: tuple[float, ...] = (0.0, 0.001, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0)
    runs: tuple[str, ...] = ("alexnet/digits", "alexnet/gender", "audionet/digits", "audionet/gender")
    max_per_fold: int | None = None  # a seeded subset of each test set; None: all
    randomization_items: int = 8  # recordings per fold of the cascading randomisation test
    samples: int = 8  # noisy copies of smoothgrad and gradient_shap
    steps: int = 16  # path steps of integrated_gradients
    occlusion_waveform: tuple[int, int] = (400, 400)  # occlusion window and stride, samples (20 windows)
    occlusion_spectrogram: tuple[int, int] = (35, 32)  # ... and bins (7 x 7 windows tile 227 x 227)
    seed: int = 0
    batch_size: int = 32


@dataclass(frozen=True)
class Config:
    name: str
    data: DataConfig = field(default_factory=DataConfig)
    preprocess: PreprocessConfig = field(default_factory=PreprocessConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    explain: ExplainConfig = field(default_factory=ExplainConfig)
    perturb: PerturbConfig = field(default_factory=PerturbConfig)
    beyond: BeyondConfig = field(default_factory=BeyondConfig)
    benchmark: BenchmarkConfig = field(default_factory=BenchmarkConfig)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hash(self) -> str:
        """Short stable hash of the resolved configuration."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:12]


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Turn YAML data into the annotated type, or raise ConfigError naming ``where``."""
    origin = get_origin(hint)
    if dataclasses.is_dataclass(hint):
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return _build(hint, value, where)
    if origin is dict:
        _, vtype = get_args(hint)
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        return {str(k): _coerce(v, vtype, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple:
        (itype, *_rest) = get_args(hint)
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        return tuple(_coerce(v, itype, where) for v in value)
    args = get_args(hint)
    if args:  # a union such as float | None or tuple[int, ...] | str
        if value is None and type(None) in args:
            return None
        errors = []
        for arm in args:
            if arm is type(None):
                continue
            try:
                return _coerce(value, arm, where)
            except ConfigError as e:
                errors.append(str(e))
        raise ConfigError(errors[0] if errors else f"{where}: bad value {value!r}")
    if hint is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if hint in (int, str, bool) and type(value) is hint:
        return value
    raise ConfigError(f"{where}: expected {getattr(hint, '__name__', hint)}, got {value!r}")


def _build(cls: type, data: dict[str, Any], where: str) -> Any:
    hints = get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    for key in unknown:
        dotted = f"{where}.{key}".removeprefix("profile.")
        if dotted in REMOVED:
            raise ConfigError(f"{where}.{key}: {REMOVED[dotted]}")
    if unknown:
        raise ConfigError(
            f"{where}: unknown key {unknown[0]!r}; known keys: {', '.join(sorted(names))}"
        )
    return cls(**{k: _coerce(v, hints[k], f"{where}.{k}") for k, v in data.items()})


def _validate(cfg: Config, where: str) -> None:
    def bad(key: str, msg: str) -> ConfigError:
        return ConfigError(f"{where}: {key} {msg}")

    if cfg.preprocess.waveform_norm not in WAVEFORM_NORMS:
        raise bad("preprocess.waveform_norm", f"must be one of {', '.join(WAVEFORM_NORMS)}, not {cfg.preprocess.waveform_norm!r}")
    if cfg.preprocess.resampler not in ("fft", "sinc"):
        raise bad("preprocess.resampler", f"must be 'fft' or 'sinc', not {cfg.preprocess.resampler!r}")
    if cfg.preprocess.sample_rate <= 0:
        raise bad("preprocess.sample_rate", "must be positive")
    if cfg.preprocess.fit not in FITS:
        raise bad("preprocess.fit", f"must be one of {', '.join(FITS)}, not {cfg.preprocess.fit!r}")
    if cfg.preprocess.trim_db <= 0:
        raise bad("preprocess.trim_db", f"must be positive (dB below the loudest frame), not {cfg.preprocess.trim_db!r}")
    if cfg.data.synth_style not in SYNTH_STYLES:
        raise bad("data.synth_style", f"must be one of {', '.join(SYNTH_STYLES)}, not {cfg.data.synth_style!r}")
    if cfg.data.synth_speakers < 1 or cfg.data.synth_speakers > 60:
        raise bad("data.synth_speakers", "must be between 1 and 60")
    if cfg.data.synth_reps < 1 or cfg.data.synth_reps > 50:
        raise bad("data.synth_reps", "must be between 1 and 50")
    t = cfg.train
    for run in t.runs:
        model, _, task = run.partition("/")
        if model not in MODELS or task not in TASKS:
            raise bad("train.runs", f"has {run!r}; use model/task with model in {MODELS} and task in {TASKS}")
        if run not in t.schedules:
            raise bad("train.schedules", f"has no schedule for {run!r}")
    for name, s in t.schedules.items():
        if s.learning_rate <= 0 or s.iterations < 1 or s.lr_step < 1 or not 0 < s.lr_gamma <= 1:
            raise bad(f"train.schedules.{name}", "needs learning_rate > 0, iterations >= 1, lr_step >= 1, 0 < lr_gamma <= 1")
        if s.clip_norm is not None and s.clip_norm <= 0:
            raise bad(f"train.schedules.{name}.clip_norm", "must be positive or null")
        if s.init not in INITS:
            raise bad(f"train.schedules.{name}.init", f"must be one of {', '.join(INITS)}, not {s.init!r}")
        if s.optimizer not in OPTIMIZERS:
            raise bad(f"train.schedules.{name}.optimizer", f"must be one of {', '.join(OPTIMIZERS)}, not {s.optimizer!r}")
        if not isinstance(s.shift, bool):
            raise bad(f"train.schedules.{name}.shift", f"must be true or false, not {s.shift!r}")
    if isinstance(t.folds, str) and t.folds != "all":
        raise bad("train.folds", f"must be 'all' or a list of fold indices, not {t.folds!r}")
    if t.batch_size < 1 or t.eval_every < 1 or t.checkpoint_every < 1:
        raise bad("train", "batch_size, eval_every and checkpoint_every must be >= 1")
    if t.select not in ("final", "best_val"):
        raise bad("train.select", f"must be 'final' or 'best_val', not {t.select!r}")
    if cfg.explain.method not in ATTRIBUTION_METHODS:
        raise bad("explain.method", f"must be one of {', '.join(ATTRIBUTION_METHODS)}, not {cfg.explain.method!r}")
    if cfg.explain.target not in ("label", "predicted"):
        raise bad("explain.target", f"must be 'label' or 'predicted', not {cfg.explain.target!r}")
    p = cfg.perturb
    if any(not 0.0 <= f <= 1.0 for f in p.fractions):
        raise bad("perturb.fractions", "must lie in [0, 1]")
    if p.male_scale <= 0 or p.female_scale <= 0:
        raise bad("perturb", "male_scale and female_scale must be positive")
    for run in p.zeroing_runs:
        model, _, task = run.partition("/")
        if model not in MODELS or task not in TASKS:
            raise bad("perturb.zeroing_runs", f"has {run!r}; use model/task with model in {MODELS} and task in {TASKS}")
    if p.random_draws < 1 or p.batch_size < 1 or (p.max_per_fold is not None and p.max_per_fold < 1):
        raise bad("perturb", "random_draws, batch_size and max_per_fold must be >= 1")
    y = cfg.beyond
    if any(not 0.0 <= f <= 1.0 for f in y.fractions):
        raise bad("beyond.fractions", "must lie in [0, 1]")
    if list(y.bands_hz) != sorted(y.bands_hz) or len(y.bands_hz) < 2:
        raise bad("beyond.bands_hz", "must be at least two increasing band edges in Hz")
    if y.random_draws < 1 or y.batch_size < 1 or (y.max_per_fold is not None and y.max_per_fold < 1):
        raise bad("beyond", "random_draws, batch_size and max_per_fold must be >= 1")
    b = cfg.benchmark
    if 0.0 not in b.fractions or 0.01 not in b.fractions or any(not 0.0 <= f <= 1.0 for f in b.fractions):
        raise bad("benchmark.fractions", "must lie in [0, 1] and hold 0 and 0.01 (the drop at 1 %)")
    for method in b.methods:
        if method not in ATTRIBUTION_METHODS:
            raise bad("benchmark.methods", f"has {method!r}; use names of {', '.join(ATTRIBUTION_METHODS)}")
    for run in b.runs:
        model, _, task = run.partition("/")
        if model not in MODELS or task not in TASKS:
            raise bad("benchmark.runs", f"has {run!r}; use model/task with model in {MODELS} and task in {TASKS}")
    if min(b.randomization_items, b.samples, b.steps, b.batch_size) < 1 or (b.max_per_fold is not None and b.max_per_fold < 1):
        raise bad("benchmark", "randomization_items, samples, steps, batch_size and max_per_fold must be >= 1")


def profile_path(profile: str | os.PathLike) -> Path:
    """A profile name (``smoke``) or a path to a YAML file."""
    p = Path(profile)
    if p.suffix in (".yaml", ".yml"):
        return p
    return PROFILES_DIR / f"{profile}.yaml"


def load_profile(profile: str | os.PathLike) -> Config:
    """Read and validate a profile; raise :class:`ConfigError` with one clear line on problems."""
    path = profile_path(profile)
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PROFILES_DIR.glob("*.yaml")))
        raise ConfigError(f"{path}: no such profile; known profiles: {known}")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML ({str(e).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: must be a mapping of sections")
    data.setdefault("name", path.stem)
    try:
        cfg = _build(Config, data, "profile")
    except ConfigError as e:
        raise ConfigError(f"{path}: {str(e).removeprefix('profile.')}") from None
    _validate(cfg, str(path))
    return cfg


def with_fit(cfg: Config, fit: str | None) -> Config:
    """The same configuration with another ``preprocess.fit`` (the CLI's ``--fit``)."""
    if not fit:
        return cfg
    if fit not in FITS:
        raise ConfigError(f"--fit: must be one of {', '.join(FITS)}, not {fit!r}")
    return dataclasses.replace(cfg, preprocess=dataclasses.replace(cfg.preprocess, fit=fit))


def with_data_source(cfg: Config, source: str | None) -> Config:
    """The same configuration with another data source (the CLI's ``--data``)."""
    if not source:
        return cfg
    return dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, source=str(source)))
