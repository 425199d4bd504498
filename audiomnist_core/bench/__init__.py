"""Performance ratios, each measured side by side in one run (``audiomnist bench``).

A case is a module ``audiomnist_core.bench.<name>`` with ``run(log) -> dict[str, float]``;
the harness runs the cases of :data:`CASES` in order and merges their figures, so the
preprocessing case's ``preprocess_speedup`` comes first. A ratio compares two ways of doing
the same work on the same inputs in the same process, interleaved and repeated, from
medians (:func:`side_by_side`), so that a busy machine slows both sides alike.
"""
from __future__ import annotations

import importlib
import os
import platform
import statistics
import sys
import time
from typing import Any, Callable

from ..errors import AudiomnistError

CASES = ("preprocess", "train", "lrp", "perturb")


def side_by_side(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, float]:
    """Median seconds of each function, run in turn ``repeats`` times.

    The order alternates between repeats (forward, then backward) so that a drift in the
    machine's load does not favour the side that runs first.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(repeats):
        for name in list(fns)[:: 1 if r % 2 == 0 else -1]:
            start = time.perf_counter()
            fns[name]()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "platform": platform.platform(),
        "python": platform.python_version(),
    }


def run_all(only: list[str] | None = None, log=print) -> dict[str, Any]:
    """Run the benchmark cases (all of :data:`CASES`, or those named in ``only``) in order.

    Returns their figures merged in that order, then ``"machine"``. A case whose module is
    not there is skipped with a line on ``log``.
    """
    unknown = sorted(set(only or ()) - set(CASES))
    if unknown:
        raise AudiomnistError(f"unknown benchmark {unknown[0]!r}; known: {', '.join(CASES)}")
    results: dict[str, Any] = {}
    for name in CASES:
        if only and name not in only:
            continue
        try:
            case = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            log(f"bench: no case module {__name__}.{name}; skipped", file=sys.stderr)
            continue
        log(f"bench: {name}", file=sys.stderr)
        results.update(case.run(log))
    results["machine"] = machine()
    return results
