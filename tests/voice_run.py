"""A tiny trained run for the tests of ``audiomnist explain``, ``export-web`` and the page's
section (tests/test_voice.py, tests/browser/test_voice.py): all four model x task pairs
trained for a few iterations on the synthetic test corpus, Glorot-initialised (well-scaled
logits, as trained networks have; the Caffe Gaussians of two iterations give logits in the
thousands)."""
from __future__ import annotations

from pathlib import Path

TINY = """
name: voice-tiny
data: {source: synthetic}
preprocess: {resampler: fft, offset_seed: 0, waveform_norm: robust}
train:
  runs: [alexnet/digits, alexnet/gender, audionet/digits, audionet/gender]
  folds: [0]
  batch_size: 8
  eval_every: 3
  checkpoint_every: 3
  max_train_per_fold: 60
  max_eval_per_fold: 40
  schedules:
    alexnet/digits:  {learning_rate: 0.0005, lr_step: 3, iterations: 3, clip_norm: 5, init: glorot, optimizer: adam}
    alexnet/gender:  {learning_rate: 0.0005, lr_step: 3, iterations: 3, clip_norm: 5, init: glorot, optimizer: adam}
    audionet/digits: {learning_rate: 0.0005, lr_step: 3, iterations: 3, clip_norm: null, init: glorot, optimizer: adam}
    audionet/gender: {learning_rate: 0.0005, lr_step: 3, iterations: 3, clip_norm: null, init: glorot, optimizer: adam}
explain: {batch_size: 8}
"""


def write_profile(folder: Path) -> Path:
    path = Path(folder) / "voice-tiny.yaml"
    path.write_text(TINY)
    return path
