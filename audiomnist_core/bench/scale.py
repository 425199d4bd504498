"""Benchmark: cost as the work grows, so that the ``paper`` profile's 30,000 recordings can be
projected (time and memory) and any step that grows faster than the corpus shows.

For each size (1,000, 4,000 and 16,000 recordings by default) a fresh process writes a corpus of
that many 48 kHz noise bursts (0.3 to 0.9 s, AudioMNIST's layout: 60 speakers x 10 digits x as
many repetitions as needed; what the recordings say does not change the cost), then times

- **preprocessing**: :func:`preprocess.load_signals` into an empty cache (decode, resample to
  8 kHz, pad, write the cache), then the fold-level work every AlexNet run does first, the
  training mean spectrogram (:func:`preprocess.mean_spectrogram`);
- **one evaluation pass**: :func:`train.predict` of an untrained AlexNet over every recording
  (the spectrograms computed on the way, batch 100), the cost of one test or validation pass;

and reports each one's throughput and the process's peak resident memory (``ru_maxrss``), which
is the point of the fresh process. ``scale_growth_*`` is the per-recording time at the largest
size over that at the smallest: about 1 when the step grows linearly. ``scale_paper_*`` projects
both to the paper's 30,000 recordings (time linearly from the largest size; memory by the
straight line through the two largest sizes).
"""
from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

SIZES = (1000, 4000, 16000)
PAPER_RECORDINGS = 30_000
SPEAKERS = 60
HEADLINE = ("scale_growth_preprocess", "scale_growth_evaluate")
SECONDARY = ("scale_paper_peak_rss_gb", "scale_paper_preprocess_minutes", "scale_paper_evaluate_minutes")


def write_corpus(root: Path, n: int, seed: int = 0) -> Path:
    """``n`` noise-burst recordings at 48 kHz in AudioMNIST's layout under ``root`` (spread over
    :data:`SPEAKERS` speakers, half of them female), with its metadata file."""
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(seed)
    data = root / "data"
    meta = {}
    for k in range(n):
        speaker, digit, rep = 1 + k % SPEAKERS, (k // SPEAKERS) % 10, k // (SPEAKERS * 10)
        folder = data / f"{speaker:02d}"
        if rep == 0 and digit == 0:
            folder.mkdir(parents=True, exist_ok=True)
            meta[f"{speaker:02d}"] = {"gender": "female" if speaker % 2 else "male", "age": "30"}
        size = int(rng.integers(int(0.3 * 48_000), int(0.9 * 48_000)))
        sf.write(str(folder / f"{digit}_{speaker:02d}_{rep}.wav"), rng.normal(0, 0.1, size).clip(-1, 1), 48_000,
                 subtype="PCM_16")
    (data / "audioMNIST_meta.txt").write_text(json.dumps(meta))
    return root


def measure(n: int, workers: int) -> dict:
    """One size, in this process: write the corpus, then time preprocessing and one evaluation.
    Returns seconds, recordings and the peak resident memory (GB)."""
    import resource
    import time

    import torch

    from ..config import PreprocessConfig
    from ..data import index_recordings, read_metadata
    from ..models import build
    from ..preprocess import load_signals, mean_spectrogram
    from ..train import predict

    with tempfile.TemporaryDirectory(prefix="audiomnist-scale-") as tmp:
        root = write_corpus(Path(tmp) / "corpus", n)
        recordings = index_recordings(root)
        genders = {s: sp.gender for s, sp in read_metadata(root).items()}
        start = time.perf_counter()
        signals = load_signals(recordings, genders, PreprocessConfig(), Path(tmp) / "cache", workers=workers,
                               progress=False)
        mean_spectrogram(signals.waves)
        preprocess_s = time.perf_counter() - start
    with torch.random.fork_rng():
        torch.manual_seed(0)
        model = build("alexnet", "digits").eval()
    start = time.perf_counter()
    predict(model, "alexnet", signals.waves, batch_size=100, device="cpu")
    evaluate_s = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
    return {"recordings": len(signals), "preprocess_s": preprocess_s, "evaluate_s": evaluate_s,
            "peak_rss_gb": peak_kb / 2**20}


def run(log=print, *, sizes: tuple[int, ...] = SIZES, workers: int | None = None) -> dict:
    """Every size in a process of its own (see the module docstring)."""
    import os

    workers = workers or os.cpu_count() or 1
    rows = []
    for n in sizes:
        code = ("import json, sys; from audiomnist_core.bench.scale import measure; "
                f"print(json.dumps(measure({int(n)}, {int(workers)})))")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"bench scale: the run of {n} recordings failed: "
                               f"{(proc.stderr.strip().splitlines() or ['no output'])[-1]}")
        row = json.loads(proc.stdout.strip().splitlines()[-1])
        rows.append(row)
        log(f"scale {row['recordings']:>6,} recordings: preprocessing {row['recordings'] / row['preprocess_s']:.0f} "
            f"files/s, one AlexNet evaluation {row['recordings'] / row['evaluate_s']:.0f} recordings/s, "
            f"peak memory {row['peak_rss_gb']:.2f} GB", file=sys.stderr)
    small, large = rows[0], rows[-1]
    out = {}
    for step in ("preprocess", "evaluate"):
        per = lambda r: r[f"{step}_s"] / r["recordings"]  # noqa: E731
        out[f"scale_growth_{step}"] = per(large) / per(small)
        out[f"scale_paper_{step}_minutes"] = per(large) * PAPER_RECORDINGS / 60
        for r in rows:
            out[f"scale_{step}_per_s_{r['recordings']}"] = r["recordings"] / r[f"{step}_s"]
    for r in rows:
        out[f"scale_peak_rss_gb_{r['recordings']}"] = r["peak_rss_gb"]
    a, b = rows[-2] if len(rows) > 1 else small, large
    slope = (b["peak_rss_gb"] - a["peak_rss_gb"]) / max(b["recordings"] - a["recordings"], 1)
    out["scale_paper_peak_rss_gb"] = b["peak_rss_gb"] + slope * (PAPER_RECORDINGS - b["recordings"])
    log(f"scale: per-recording time at {large['recordings']:,} over {small['recordings']:,}: preprocessing "
        f"{out['scale_growth_preprocess']:.2f}, evaluation {out['scale_growth_evaluate']:.2f}; the paper's "
        f"{PAPER_RECORDINGS:,} recordings: preprocessing {out['scale_paper_preprocess_minutes']:.1f} min, one "
        f"evaluation {out['scale_paper_evaluate_minutes']:.1f} min, peak memory {out['scale_paper_peak_rss_gb']:.1f} GB",
        file=sys.stderr)
    out["scale_sizes"] = rows  # each size's seconds, recordings and peak memory
    return out
