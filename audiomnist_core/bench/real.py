"""Benchmark: the quick recipe judged on people's voices, not espeak's (``audiomnist bench --only
real``; not in the default set: it trains two models, about half an hour on 2 CPU cores).

The Free Spoken Digit Dataset (``../shared/data/fsdd`` beside the checkout, or
``$AUDIOMNIST_FSDD``; 3,000 real recordings of 6 male speakers at 8 kHz in AudioMNIST's layout)
is split as any other corpus is (:func:`splits.generic_folds`, speaker-disjoint), its few
recordings over one second fitted by ``trim_crop``, and the profile's AlexNet and AudioNet digit
models are trained on one fold (the gender task cannot be: one gender). Reported: both test
accuracies on the held-out speakers, AudioNet's gap to AlexNet and to the paper's 92.53 %
(labelled as the paper's, on AudioMNIST), and each run's training seconds. The runs live in the
ordinary run store (``runs/<profile>-fsdd-trim_crop/``), so a second call reads them, and a change
of the recipe or of the code that trains retrains (the run's key).
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import AudiomnistError

HEADLINE = ("real_audionet_digits_accuracy", "real_alexnet_digits_accuracy")
SECONDARY = ("real_gap_alexnet_minus_audionet", "real_gap_paper_minus_audionet")
FSDD_ENV = "AUDIOMNIST_FSDD"


def fsdd_root() -> Path:
    """Where FSDD is: ``$AUDIOMNIST_FSDD``, else ``shared/data/fsdd`` beside the checkout."""
    from ..runs import repo_root

    return Path(os.environ.get(FSDD_ENV) or repo_root().parent / "shared" / "data" / "fsdd")


def run(log=print, *, profile: str = "quick", root: Path | None = None, fit: str = "trim_crop", fold: int = 0,
        device: str | None = None) -> dict:
    """Train (or read) both digit models of ``profile`` on FSDD's fold ``fold`` and report them."""
    from .. import paper, steps
    from ..runs import open_run

    root = Path(root) if root is not None else fsdd_root()
    if not (root / "data").is_dir():
        raise AudiomnistError(f"bench real: no corpus at {root} (FSDD in AudioMNIST's layout); set ${FSDD_ENV}")
    run = open_run(profile, str(root), fit=fit, log=lambda *a, **k: log(*a, file=sys.stderr))
    out: dict = {}
    for model in ("alexnet", "audionet"):
        steps.train_profile(run, model=model, task="digits", fold=fold, device=device,
                            log=lambda line: log(line, file=sys.stderr))
        result = next(r for r in steps.results(run) if (r["model"], r["task"], r["fold"]) == (model, "digits", fold))
        out[f"real_{model}_digits_accuracy"] = float(result["test_accuracy"])
        out[f"real_{model}_digits_train_seconds"] = float(result["train_seconds"])
        out[f"real_{model}_digits_iterations"] = float(result["iterations"])
    out["real_gap_alexnet_minus_audionet"] = out["real_alexnet_digits_accuracy"] - out["real_audionet_digits_accuracy"]
    paper_audionet = paper.TABLE1[("audionet", "digits")][0]
    out["real_gap_paper_minus_audionet"] = paper_audionet - out["real_audionet_digits_accuracy"]
    out["real_test_speakers"] = list(steps.fold_data(run, "digits", fold).speakers.test)
    log(f"real speech ({run.label()}, fold {fold}, test speakers {out['real_test_speakers']}): AlexNet digits "
        f"{out['real_alexnet_digits_accuracy']:.2f} %, AudioNet digits {out['real_audionet_digits_accuracy']:.2f} % "
        f"({out['real_gap_alexnet_minus_audionet']:+.2f} points behind AlexNet; the paper's AudioNet on AudioMNIST: "
        f"{paper_audionet:.2f} %); training {out['real_alexnet_digits_train_seconds']:.0f} s and "
        f"{out['real_audionet_digits_train_seconds']:.0f} s", file=sys.stderr)
    return out
