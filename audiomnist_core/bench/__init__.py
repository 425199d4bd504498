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
from typing import Any, Callable, NamedTuple

from ..errors import AudiomnistError

CASES = ("preprocess", "train", "lrp", "perturb")

# Idle OpenMP threads (torch's CPU parallelism) sleep instead of spinning. On a machine that
# other processes keep busy, spinning threads take the cores the working ones wait for, which
# more than doubles the CPU time of torch code; on an idle machine the difference is small.
# Effective when this module is imported before torch, as `audiomnist bench` does.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class Timing(NamedTuple):
    """Median seconds of one side: wall-clock, and CPU time of the whole process (all threads)."""

    wall: float
    cpu: float


def side_by_side(fns: dict[str, Callable[[], Any]], repeats: int) -> dict[str, Timing]:
    """Median wall-clock and CPU seconds of each function, run in turn ``repeats`` times.

    The order alternates between repeats (forward, then backward) so that a drift in the
    machine's load does not favour the side that runs first. The CPU time does not depend on
    other processes the way the wall-clock time does, but it does not count parallelism either.
    """
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for r in range(repeats):
        for name in list(fns)[:: 1 if r % 2 == 0 else -1]:
            start, start_cpu = time.perf_counter(), time.process_time()
            fns[name]()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {name: Timing(statistics.median(wall[name]), statistics.median(cpu[name])) for name in fns}


def busy(log) -> None:
    """Say so on ``log`` when other processes keep the CPUs busy: ratios that rely on
    parallelism then come out low."""
    load, cores = os.getloadavg()[0], os.cpu_count() or 1
    if load > 0.5 * cores:
        log(f"bench: the machine is busy (load average {load:.1f} on {cores} cores); "
            "wall-clock ratios of parallel code will be lower than on an idle machine", file=sys.stderr)


def machine() -> dict[str, Any]:
    """Where the figures were measured."""
    import torch

    return {
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "device": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu",
        "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", ""),
        "load_average": round(os.getloadavg()[0], 2),  # other processes at the end of the run
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
    busy(log)
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
