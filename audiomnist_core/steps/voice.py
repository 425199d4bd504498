"""Anyone's recording explained by a run's trained networks (``audiomnist explain``): which
models of the run answer (fold 0 of each trained model x task), their weights and training
means from the run store, and the explanation of each file by :mod:`audiomnist_core.voice`."""
from __future__ import annotations

import dataclasses
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn
from zennit.core import Composite

from ..data import read_wav
from ..errors import AudiomnistError
from ..explain.composites import describe
from ..models import INPUTS
from ..runs import Run, Step, file_hash
from ..voice import explain_inputs, network_inputs, prepare
from ..web.page import copy_scripts
from .folds import fold_data, skipped_tasks
from .relevance import LABELS, run_composite
from .training import MODEL, _pairs, load_model, run_dir

FOLD = 0  # the page and `explain` use each model x task's first fold


@dataclass
class VoiceModel:
    """One trained network of a run, ready to explain a recording: ``mean`` is the fold's
    training mean spectrogram ``(227, 227)`` for AlexNet (None for AudioNet)."""

    model: str
    task: str
    fold: int
    net: nn.Module
    mean: torch.Tensor | None
    composite: Composite
    classes: list[str]
    norm: str

    @property
    def name(self) -> str:
        return f"{self.model}/{self.task}"


def voice_pairs(run: Run, model: str | None = None, task: str | None = None) -> list[tuple[str, str]]:
    """The profile's ``train.runs`` (model, task) pairs matching the filters, without the tasks
    the corpus cannot be split for; an error where none is left."""
    skipped = skipped_tasks(run)
    pairs = [(m, k) for m, k in _pairs(run, model, task) if k not in skipped]
    if not pairs:
        raise AudiomnistError(f"profile {run.profile!r} trains no model x task matching --model {model} --task {task}")
    return pairs


def training_mean(run: Run, model: str, task: str, fold: int = FOLD) -> torch.Tensor | None:
    """The training mean spectrogram ``(227, 227)`` that AlexNet's inputs subtract, as stored
    with its weights (else computed from the fold); None for the waveform model."""
    if INPUTS[model] != "spectrogram":
        return None
    state = torch.load(run_dir(run, model, task, fold) / MODEL, map_location="cpu", weights_only=True)
    mean = state.get("mean")
    return mean.float() if mean is not None else fold_data(run, task, fold).mean


def voice_model(run: Run, model: str, task: str, fold: int = FOLD, *, train: bool = False) -> VoiceModel:
    """The tested network of ``model``/``task`` (fold ``fold``) on the CPU with its training
    mean and the chapters' composite (:func:`run_composite`). An untrained run is trained first
    with ``train=True``, else an error naming the training command."""
    net = load_model(run, model, task, fold, "cpu", train=train)
    mean = training_mean(run, model, task, fold)
    composite = run_composite(run, model, mean)
    return VoiceModel(model, task, fold, net, mean, composite, list(LABELS[task]), run.config.preprocess.waveform_norm)


def voice_models(run: Run, model: str | None = None, task: str | None = None, *, train: bool = False) -> list[VoiceModel]:
    """:func:`voice_model` of every pair of :func:`voice_pairs`."""
    return [voice_model(run, m, k, train=train) for m, k in voice_pairs(run, model, task)]


def explain_recording(models: Sequence[VoiceModel], samples: np.ndarray, sample_rate: int, cfg, name: str) -> dict:
    """One recording explained by each of ``models``: ``{"offset", "length", "trimmed",
    "cropped", "results": {"model/task": {"prediction", "label", "probabilities", "shape",
    "input", "relevance"}}}``, arrays as numpy (``input`` and ``relevance`` shaped as the
    network input without its batch axis)."""
    prepared = prepare(samples, sample_rate, cfg, name)
    results = {}
    for vm in models:
        x = network_inputs(vm.model, prepared.wave[None], vm.mean, vm.norm)
        e = explain_inputs(vm.net, x, vm.composite)
        p = int(e.prediction[0])
        results[vm.name] = {
            "prediction": p, "label": vm.classes[p], "probabilities": e.probabilities[0].numpy(),
            "shape": list(x.shape[1:]), "input": x[0].numpy(), "relevance": e.relevance[0].numpy(),
            "composite": describe(vm.composite),
        }
    return {"offset": prepared.offset, "length": prepared.length, "trimmed": prepared.trimmed,
            "cropped": prepared.cropped, "results": results}


def explain_files(run: Run, paths: Sequence[str | Path], model: str | None = None, task: str | None = None) -> list[dict]:
    """:func:`explain_recording` of each wav file (read by :func:`data.read_wav`: mono 16-bit
    PCM, any rate), each entry with its ``file``. The first bad file stops with an error naming it."""
    models = voice_models(run, model, task)
    out = []
    for path in paths:
        samples, rate = read_wav(path)
        out.append({"file": str(path), "sample_rate": rate,
                    **explain_recording(models, samples, rate, run.config.preprocess, str(path))})
    return out


# --- the networks for the page (`audiomnist export-web`) ---------------------------------------

MANIFEST = "voice.json"
# What an export is computed by: its key holds the source of every project module these reach
# and the versions of the libraries they import (onnx, onnxruntime, torch, ...), found as a
# cached step's are (runs.Step), so a change to any of them, or to a model file, exports again.
# (Not a declared step: the export is a folder for the page, not a result in the run store.)
EXPORT_CODE = ("steps.voice", "web.export")
CHECK_RECORDINGS = 32  # test recordings of the fold on which each exported graph is checked
PAGE_RECORDINGS = 10  # test recordings the page offers to pick (one per class where it can)


def web_dir(run: Run) -> Path:
    """Where the run's export for the page lives: ``runs/<profile>-<data>/web``."""
    return run.path("web")


def page_manifest(run: Run) -> dict | None:
    """The manifest of the run's export (:func:`export_web`), or None where there is none."""
    path = web_dir(run) / MANIFEST
    return json.loads(path.read_text()) if path.is_file() else None


def preprocess_constants(run: Run) -> dict:
    """The constants of :mod:`audiomnist_core.preprocess` that the page's JavaScript uses, with
    the profile's choices; an error for a resampler the page does not implement."""
    from .. import preprocess as pp

    cfg = run.config.preprocess
    if cfg.resampler != "fft":
        raise AudiomnistError(f"profile {run.profile!r}: preprocess.resampler {cfg.resampler!r}; the page implements "
                              "the FFT resampler only (resampler: fft)")
    frame, hop = pp.trim_frames(cfg.sample_rate)
    return {
        "sample_rate": cfg.sample_rate, "input_length": pp.INPUT_LENGTH, "resampler": cfg.resampler,
        "fit": cfg.fit, "trim_db": cfg.trim_db, "trim_frame": frame, "trim_hop": hop, "offset": "centre",
        "waveform_norm": cfg.waveform_norm, "percentile": pp.PERCENTILE, "percentile_eps": pp.PERCENTILE_EPS,
        "robust_floor": pp.ROBUST_FLOOR, "robust_min_divisor": pp.ROBUST_MIN_DIVISOR,
        "n_fft": pp.N_FFT, "hop": pp.HOP, "freq_bins": pp.FREQ_BINS, "first_frame": pp.FIRST_FRAME,
        "time_frames": pp.TIME_FRAMES, "amin": pp.AMIN, "top_db": pp.TOP_DB,
    }


def _page_recordings(run: Run, out: Path, log) -> list[dict]:
    """Copy up to :data:`PAGE_RECORDINGS` test recordings of the first task's fold 0 (one per
    digit where it can) into ``out/recordings``; their titles for the page."""
    task = next(k for _, k in voice_pairs(run))
    test = fold_data(run, task, FOLD).test
    chosen, seen = [], set()
    for i in range(len(test)):
        key = int(test.digit[i])
        if key not in seen:
            seen.add(key)
            chosen.append(i)
    (out / "recordings").mkdir(parents=True, exist_ok=True)
    entries = []
    for i in chosen[:PAGE_RECORDINGS]:
        src = Path(test.paths[i])
        shutil.copyfile(src, out / "recordings" / src.name)
        gender = LABELS["gender"][int(test.gender[i])]
        entries.append({"file": f"recordings/{src.name}", "digit": int(test.digit[i]),
                        "title": f"digit {int(test.digit[i])}, speaker {int(test.speaker[i]):02d} ({gender}), rep {int(test.rep[i])}"})
    log(f"export-web: {len(entries)} test recordings of {task} fold {FOLD} for the page")
    return entries


def export_key(run: Run) -> dict:
    """What decides the exported folder: the model files of fold 0, the preprocessing and
    explanation config, and the code and library versions of :data:`EXPORT_CODE`."""
    files = {f"{m}/{k}": file_hash(run_dir(run, m, k, FOLD) / MODEL) for m, k in voice_pairs(run)}
    config = {"preprocess": dataclasses.asdict(run.config.preprocess), "composites": run.config.explain.composites}
    return {"models": files, "config": json.loads(json.dumps(config, default=str)), **Step("export-web", EXPORT_CODE).provenance()}


def export_web(run: Run, out: Path | None = None, *, train: bool = False, log=print) -> dict:
    """Write the page's networks into ``out``: per trained model x task (fold 0) the network and
    its LRP pass as ONNX (``<model>-<task>.onnx``, :func:`web.export.export_explainer`, checked
    on the fold's test recordings), AlexNet's training mean (``<model>-<task>-mean.f32``, float32
    little-endian, 227 x 227 row-major), a few test recordings, and :data:`MANIFEST` with the
    preprocessing constants, class names, composites, weight storages and their agreement, the
    run's label and stamp. Returns the manifest.

    ``out`` defaults to :func:`web_dir`; an export whose :func:`export_key` is unchanged is
    kept. ``train=True`` trains missing runs first."""
    from ..web.export import export_explainer  # needs onnx and onnxruntime (the web extra)
    from .training import STEP

    out = Path(out) if out is not None else web_dir(run)
    constants = preprocess_constants(run)
    loaded = voice_models(run, train=train)
    key = export_key(run)
    previous = out / MANIFEST
    if previous.is_file() and (out / "voice.js").is_file():
        manifest = json.loads(previous.read_text())
        if manifest.get("key") == key and all((out / m["file"]).is_file() for m in manifest["models"].values()):
            copy_scripts(out)  # the page's scripts are not part of the key: always the current ones
            log(f"export-web: {out} is up to date ({manifest['bytes'] / 1e6:.1f} MB), kept")
            return manifest
    out.mkdir(parents=True, exist_ok=True)
    models = {}
    for vm in loaded:
        test = fold_data(run, vm.task, vm.fold).test
        x = network_inputs(vm.model, test.waves[:CHECK_RECORDINGS], vm.mean, vm.norm)
        reference = explain_inputs(vm.net, x, vm.composite)
        exported = export_explainer(vm.net, vm.composite, x, reference)
        stem = f"{vm.model}-{vm.task}"
        (out / f"{stem}.onnx").write_bytes(exported.model)
        entry = {
            "file": f"{stem}.onnx", "bytes": len(exported.model), "input": INPUTS[vm.model], "shape": list(x.shape[1:]),
            "classes": vm.classes, "composite": describe(vm.composite), "storage": exported.storage,
            "agreement": exported.agreement.to_dict(), "tried": exported.tried,
        }
        if vm.mean is not None:
            (out / f"{stem}-mean.f32").write_bytes(vm.mean.numpy().astype("<f4").tobytes())
            entry["mean"] = f"{stem}-mean.f32"
        models[vm.name] = entry
        a = exported.agreement
        log(f"export-web: {vm.name}: {len(exported.model) / 1e6:.1f} MB ({exported.storage}); on {a.n} test recordings "
            f"predictions equal {a.predictions_equal}/{a.n}, probabilities within {a.max_probability_difference:.1e}, "
            f"relevance cosine >= {a.min_cosine:.4f}, top-1 % overlap >= {a.min_top1_overlap:.2f}")
    manifest = {
        "run": run.label(), "profile": run.profile, "data": run.data, "synthetic": run.data == "synthetic",
        "fold": FOLD, "preprocess": constants, "models": models,
        "recordings": _page_recordings(run, out, log),
        "bytes": sum(m["bytes"] for m in models.values()),
        "stamp": {k: v for k, v in run.stamp(code=STEP.code_hash()).items() if k != "config"}, "key": key,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1))
    copy_scripts(out)
    log(f"export-web: {len(models)} networks, {manifest['bytes'] / 1e6:.1f} MB in all, written to {out}")
    return manifest
