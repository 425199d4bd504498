"""Benchmark: preprocessing throughput of our pipeline against the original per-file recipe.

Both turn the same 1,000 synthetic 48 kHz recordings (20 speakers x 10 digits x 5
repetitions, synthesised once into ``runs/bench/``) into 227 x 227 dB spectrograms:

- **original**, one file at a time as the original code did: ``scipy.io.wavfile.read``,
  ``librosa.resample(res_type="scipy")`` to 8 kHz, zero-padding to 8000 samples,
  ``scipy.signal.stft(nperseg=455, noverlap=420, window="hann")``, magnitude, crop
  ``[0:227, 2:-1]``, ``librosa.amplitude_to_db(ref=np.max)``;
- **ours**, cold: :func:`preprocess.load_signals` into a fresh, empty cache folder (decode,
  resample, pad, write the cache), then :func:`preprocess.spectrogram` in batches.

Both place each recording at the offset :func:`preprocess.offset` gives it (the original drew
unseeded ones), so the outputs can be compared: ``preprocess_max_abs_db_diff``.
``preprocess_speedup`` = original seconds / ours (wall-clock), medians of interleaved
repeats; ``preprocess_cpu_time_ratio`` the same for the CPU time both spend, which shows the
work saved apart from the use of several cores.
"""
from __future__ import annotations

import os
import tempfile
from pathlib import Path

import numpy as np
import torch

from . import side_by_side

SPEAKERS = 20
REPS = 5  # 20 speakers x 10 digits x 5 repetitions = 1,000 files
SEED = 0
REPEATS = 3
BATCH = 64  # spectrograms per call (13 MB tensors: reused memory, not fresh pages)
GOAL = 5.0


def corpus_root() -> Path:
    """The benchmark's synthetic corpus, synthesised on first use."""
    from ..data import ensure_synthetic
    from ..runs import runs_dir

    root = runs_dir() / "bench" / f"synthetic-{SPEAKERS}x{REPS}-seed{SEED}"
    ensure_synthetic(root, speakers=SPEAKERS, reps=REPS, seed=SEED)
    return root


def original(recordings, offset_seed: int, length: int = 8000) -> np.ndarray:
    """The original code's per-file recipe, ``(N, 227, 227)`` dB; offsets from :func:`preprocess.offset`."""
    import librosa
    import scipy.io.wavfile
    import scipy.signal

    from ..preprocess import offset

    out = np.empty((len(recordings), 227, 227), dtype=np.float32)
    for i, rec in enumerate(recordings):
        rate, samples = scipy.io.wavfile.read(rec.path)
        y = librosa.resample(samples.astype(np.float32), orig_sr=rate, target_sr=8000, res_type="scipy")
        padded = np.zeros(length)
        start = offset(len(y), rec, offset_seed, length)
        padded[start : start + len(y)] = y
        _, _, z = scipy.signal.stft(padded, 8000, nperseg=455, noverlap=420, window="hann")
        out[i] = librosa.amplitude_to_db(np.abs(z[0:227, 2:-1]), ref=np.max)
    return out


def ours(recordings, genders: dict[int, str], cfg, scratch: Path, workers: int) -> torch.Tensor:
    """Our pipeline from the files, with an empty cache: ``(N, 227, 227)`` dB."""
    from ..preprocess import load_signals, spectrogram

    with tempfile.TemporaryDirectory(dir=scratch, prefix="cold-cache-") as cache:
        signals = load_signals(recordings, genders, cfg, cache, workers=workers, progress=False)
    out = torch.empty(len(signals), 227, 227)
    for start in range(0, len(signals), BATCH):
        out[start : start + BATCH] = spectrogram(signals.waves[start : start + BATCH])
    return out


def run(log=print) -> dict[str, float]:
    from ..config import PreprocessConfig
    from ..data import index_recordings, read_metadata

    root = corpus_root()
    recordings = index_recordings(root)
    genders = {s: sp.gender for s, sp in read_metadata(root).items()}
    cfg = PreprocessConfig()  # the original code's parameters
    scratch = root.parent
    workers = os.cpu_count() or 1
    outputs: dict[str, np.ndarray] = {}

    def run_original() -> None:
        outputs["original"] = original(recordings, cfg.offset_seed)

    def run_ours() -> None:
        outputs["ours"] = ours(recordings, genders, cfg, scratch, workers).numpy()

    # warm-up: lazy imports and first-call allocations belong to neither side
    original(recordings[:10], cfg.offset_seed)
    ours(recordings[:10], genders, cfg, scratch, workers)
    timing = side_by_side({"original": run_original, "ours": run_ours}, REPEATS)
    diff = float(np.abs(outputs["ours"] - outputs["original"]).max())
    n = len(recordings)
    speedup = timing["original"].wall / timing["ours"].wall
    cpu_ratio = timing["original"].cpu / timing["ours"].cpu
    log(f"preprocessing {n} files: original {n / timing['original'].wall:.0f} files/s, "
        f"ours {n / timing['ours'].wall:.0f} files/s, speedup {speedup:.1f}x (goal {GOAL:g}x; "
        f"CPU time {cpu_ratio:.1f}x less); largest difference {diff:.2g} dB")
    return {
        "preprocess_speedup": speedup,
        "preprocess_goal": GOAL,
        "preprocess_cpu_time_ratio": cpu_ratio,
        "preprocess_files": float(n),
        "preprocess_files_per_s_ours": n / timing["ours"].wall,
        "preprocess_files_per_s_original": n / timing["original"].wall,
        "preprocess_max_abs_db_diff": diff,
    }
