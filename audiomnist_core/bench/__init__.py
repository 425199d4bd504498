"""Performance ratios, each measured side by side in one run (``audiomnist bench``).

A case is a module ``audiomnist_core.bench.<name>`` with ``run(log, **settings) -> dict``
(figures as floats, and ``"timings"``: each timed side's individual seconds) and a
``HEADLINE`` tuple naming its headline figures (``SECONDARY``, where present, names figures
kept for information only). Every keyword setting of a case has a default (the full
benchmark); a test passes tiny ones.

A ratio compares two ways of doing the same work on the same inputs in the same process,
from medians of runs interleaved A B B A A B ... (:func:`interleaved`, at least
:data:`MIN_REPEATS` of each side), so that a drift in the machine's load slows both sides
alike. The harness runs the cases of :data:`CASES` in order and returns one document::

    {"headline": {case: [figure, ...]}, "secondary": {case: [figure, ...]},
     <the cases' figures, in case order>,
     "timings": {case: {pair: {"order": "ABBA", "a": side, "b": side,
                               side: {"wall_s": [...], "cpu_s": [...]}}}},
     "runtime_s": {case: seconds, "total": seconds}, "machine": {...}}
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

CASES = ("preprocess", "train", "lrp", "perturb", "benchmark", "dft", "scale")
OPT_IN = ("real",)  # run only when named (``--only real``): it trains models on a real corpus
MIN_REPEATS = 3  # runs of each side, at the least: a median of three outvotes one disturbed run

# Idle OpenMP threads (torch's CPU parallelism) sleep instead of spinning. On a machine that
# other processes keep busy, spinning threads take the cores the working ones wait for, which
# more than doubles the CPU time of torch code; on an idle machine the difference is small.
# Effective when this module is imported before torch, as `audiomnist bench` does.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


class Timing(NamedTuple):
    """Seconds of one run of a side: wall-clock, and CPU time of the whole process (all threads)."""

    wall: float
    cpu: float


def timed(fn: Callable[[], Any], sync: Callable[[], None] | None = None) -> Timing:
    """Wall-clock and process CPU seconds of one call of ``fn``; ``sync`` (e.g. waiting for
    an accelerator's queue) runs before the clocks start and before they stop."""
    if sync is not None:
        sync()
    start, start_cpu = time.perf_counter(), time.process_time()
    fn()
    if sync is not None:
        sync()
    return Timing(time.perf_counter() - start, time.process_time() - start_cpu)


def interleaved(a: Callable[[], Any], b: Callable[[], Any], repeats: int,
                sync: Callable[[], None] | None = None) -> tuple[list[Timing], list[Timing]]:
    """Time ``a`` and ``b`` ``repeats`` times each, in the order A B B A A B B A ...

    Each side runs as often first as second (for an even ``repeats``; one more time first for
    an odd one), so that neither profits from a warm cache or a quieter machine more than the
    other. Returns the individual timings of each side, in the order they ran. The CPU time
    does not depend on other processes the way the wall-clock time does, but it does not
    count parallelism either. Warm-up calls are the caller's: first-call costs belong to
    neither side.
    """
    if repeats < MIN_REPEATS:
        raise ValueError(f"repeats must be at least {MIN_REPEATS}, got {repeats}")
    times_a: list[Timing] = []
    times_b: list[Timing] = []
    for r in range(repeats):
        order = ((a, times_a), (b, times_b)) if r % 2 == 0 else ((b, times_b), (a, times_a))
        for fn, times in order:
            times.append(timed(fn, sync))
    return times_a, times_b


def median(times: list[Timing]) -> Timing:
    """The median wall-clock and the median CPU seconds of a side's runs."""
    return Timing(statistics.median(t.wall for t in times), statistics.median(t.cpu for t in times))


def timings_doc(a: str, times_a: list[Timing], b: str, times_b: list[Timing]) -> dict[str, Any]:
    """The individual timings of one interleaved pair, for the JSON document."""
    def side(times: list[Timing]) -> dict[str, list[float]]:
        return {"wall_s": [t.wall for t in times], "cpu_s": [t.cpu for t in times]}

    return {"order": "ABBA", "a": a, "b": b, "repeats": len(times_a), a: side(times_a), b: side(times_b)}


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


def run_all(only: list[str] | None = None, log=print,
            settings: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Run the benchmark cases (all of :data:`CASES`, or those named in ``only``, which may
    also name the :data:`OPT_IN` ones) in order.

    ``settings`` maps a case to keyword arguments of its ``run`` (sizes, repeats). Returns
    the document of the module docstring. A case whose module is not there is skipped with
    a line on ``log``.
    """
    unknown = sorted(set(only or ()) - set(CASES + OPT_IN))
    if unknown:
        raise AudiomnistError(f"unknown benchmark {unknown[0]!r}; known: {', '.join(CASES + OPT_IN)}")
    settings = settings or {}
    figures: dict[str, Any] = {}
    headline: dict[str, list[str]] = {}
    secondary: dict[str, list[str]] = {}
    timings: dict[str, Any] = {}
    runtime: dict[str, float] = {}
    start = time.perf_counter()
    busy(log)
    for name in CASES + OPT_IN:
        if (only and name not in only) or (not only and name in OPT_IN):
            continue
        try:
            case = importlib.import_module(f"{__name__}.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            log(f"bench: no case module {__name__}.{name}; skipped", file=sys.stderr)
            continue
        log(f"bench: {name}", file=sys.stderr)
        case_start = time.perf_counter()
        result = dict(case.run(log, **settings.get(name, {})))
        runtime[name] = time.perf_counter() - case_start
        if "timings" in result:
            timings[name] = result.pop("timings")
        headline[name] = [k for k in getattr(case, "HEADLINE", ()) if k in result]
        if getattr(case, "SECONDARY", ()):
            secondary[name] = [k for k in case.SECONDARY if k in result]
        figures.update(result)
    runtime["total"] = time.perf_counter() - start
    return {"headline": headline, "secondary": secondary, **figures, "timings": timings,
            "runtime_s": runtime, "machine": machine()}


def summary(result: dict[str, Any]) -> str:
    """The figures of a :func:`run_all` document as text: the headline figures first, the
    secondary ones marked, the individual timings left to the JSON."""
    headline = [k for keys in result.get("headline", {}).values() for k in keys]
    secondary = {k for keys in result.get("secondary", {}).values() for k in keys}
    figures = [k for k, v in result.items() if isinstance(v, (int, float)) and k not in headline]
    lines = [f"{k:40s} {result[k]:.4g}  (headline)" for k in headline]
    lines += [f"{k:40s} {result[k]:.4g}{'  (secondary)' if k in secondary else ''}" for k in figures]
    lines.append(f"{'runtime_s':40s} {result['runtime_s']['total']:.1f}")
    return "\n".join(lines)
