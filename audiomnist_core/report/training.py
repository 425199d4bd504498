"""Chapter 02's reporting: Table 1 (ours beside the paper's), the schedules and the runs."""
from __future__ import annotations

from ..config import Schedule, load_profile
from ..models import INPUTS
from ..paper import TABLE1 as PAPER_TABLE1
from ..runs import Run
from ..steps.folds import skipped_tasks
from ..steps.training import results
from ..train import did_not_learn, learning_verdict
from .common import markdown_table, mean_std


def table1(run: Run) -> list[dict]:
    """Table 1 over the finished folds: one row per model x task with at least one, in
    profile order.

    ``accuracy`` lists the test accuracy (%) per fold in ``folds``; ``std`` is the sample
    standard deviation over folds (ddof=1; 0 for a single fold) — the paper does not say
    which it reports. ``paper_mean``/``paper_std`` are the paper's numbers. A task that the
    corpus cannot be split for (:func:`skipped_tasks`) has a row per model with ``mean`` and
    ``std`` None, no folds, and ``skipped``: the reason. ``did_not_learn`` lists the folds
    whose run ended near chance (:func:`did_not_learn`), ``did_not_learn_reason`` says how.
    """
    by_pair: dict[tuple[str, str], list[dict]] = {}
    for r in results(run):
        by_pair.setdefault((r["model"], r["task"]), []).append(r)
    skipped = skipped_tasks(run)
    rows = []
    for m, k in (tuple(r.split("/")) for r in run.config.train.runs):
        paper_mean, paper_std = PAPER_TABLE1[(m, k)]
        if k in skipped:
            rows.append({
                "model": m, "task": k, "data": run.data, "profile": run.profile, "folds": [], "accuracy": [],
                "mean": None, "std": None, "paper_mean": paper_mean, "paper_std": paper_std, "skipped": skipped[k],
            })
            continue
        found = by_pair.get((m, k))
        if not found:
            continue
        acc = [r["test_accuracy"] for r in found]
        rows.append({
            "model": m, "task": k, "data": run.data, "profile": run.profile,
            "folds": [r["fold"] for r in found],
            "accuracy": acc,
            "mean": mean_std(acc)[0],
            "std": mean_std(acc)[1],
            "paper_mean": paper_mean, "paper_std": paper_std,
            "did_not_learn": [r["fold"] for r in found if did_not_learn(r)],
            "did_not_learn_reason": "; ".join(learning_verdict(r) for r in found if did_not_learn(r)) or None,
        })
    return rows


def table1_numbers(rows: list[dict]) -> dict[str, float | int]:
    """The numbers a chapter's prose glues from Table 1, per row ``<model>_<task>_``: ``mean``,
    ``std``, ``paper``, ``diff`` (ours - paper) and ``folds``; a skipped row has ``paper`` only."""
    out: dict[str, float | int] = {}
    for r in rows:
        name = f"{r['model']}_{r['task']}"
        out[f"{name}_paper"] = r["paper_mean"]
        if r.get("skipped") is None:
            out.update({f"{name}_mean": r["mean"], f"{name}_std": r["std"], f"{name}_diff": r["mean"] - r["paper_mean"],
                        f"{name}_folds": len(r["folds"])})
    return out


def format_table1(rows: list[dict], *, markdown: bool = False) -> str:
    """Table 1 as text (or a Markdown table): ours beside the paper's, and the difference.
    A skipped row reads "not run"; its reason follows the table once per task. A row with a
    fold that did not learn is marked so, and the verdict follows the table."""
    header = ["model", "input", "task", "folds", "ours (%)", "paper (%)", "ours - paper"]
    lines = []
    for r in rows:
        ran = r.get("skipped") is None
        ours = f"{r['mean']:.2f} ± {r['std']:.2f}" if ran else "not run"
        if r.get("did_not_learn"):
            ours += f" (DID NOT LEARN: fold {', '.join(map(str, r['did_not_learn']))})"
        lines.append([
            r["model"], INPUTS[r["model"]], r["task"], str(len(r["folds"])),
            ours, f"{r['paper_mean']:.2f} ± {r['paper_std']:.2f}",
            f"{r['mean'] - r['paper_mean']:+.2f}" if ran else "–",
        ])
    source = (f"ours: profile {rows[0]['profile']!r} on the {rows[0]['data']} corpus; "
              "mean ± sample std (ddof=1) over folds") if rows else "no finished runs"
    reasons = {r["task"]: r["skipped"] for r in rows if r.get("skipped") is not None}
    notes = [f"{task} task not run: {reason}" for task, reason in reasons.items()]
    failed = [r["did_not_learn_reason"] for r in rows if r.get("did_not_learn_reason")]
    if markdown:  # a run that did not learn is a warning above everything that quotes its numbers
        warnings = "".join(f"\n\n> **Warning:** {line}." for line in failed)
        return markdown_table(header, lines) + warnings + "".join(
            f"\n\n*{line}.*" for line in [f"{source}; paper: Becker et al., Table 1", *notes])
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]
    fmt = "  ".join(f"{{:{w}}}" for w in widths)
    return "\n".join([fmt.format(*header), *(fmt.format(*line) for line in lines), source, *notes,
                      *(f"WARNING: {line}" for line in failed)])


def format_schedules(run: Run) -> str:
    """The profile's training schedules, each value with the paper's in brackets, as a Markdown table."""
    paper = load_profile("paper").train
    t = run.config.train

    def clip(s: Schedule) -> str:
        return "off" if s.clip_norm is None else f"{s.clip_norm:g}"

    def recipe(s: Schedule) -> str:
        return f"{'SGD' if s.optimizer == 'sgd' else 'Adam'}, {s.init}" + (", shifted" if s.shift else "")

    header = ["model / task", "learning rate", "halved every", "iterations", "batch", "clip norm", "optimiser, init"]
    lines = []
    for name in t.runs:
        s, p = t.schedules[name], paper.schedules[name]
        lines.append([
            name, f"{s.learning_rate:g} ({p.learning_rate:g})", f"{s.lr_step:,} ({p.lr_step:,})",
            f"{s.iterations:,} ({p.iterations:,})", f"{t.batch_size} ({paper.batch_size})", f"{clip(s)} ({clip(p)})",
            f"{recipe(s)} ({recipe(p)})",
        ])
    return markdown_table(header, lines)


def format_runs(results: list[dict]) -> str:
    """One Markdown row per finished fold: test accuracy, set sizes, tested iteration, time."""
    header = ["model", "task", "fold", "test accuracy (%)", "train / validation / test recordings", "tested iteration", "training time", "device"]
    lines = [[
        r["model"], r["task"], str(r["fold"]), f"{r['test_accuracy']:.2f}" + (" (did not learn)" if did_not_learn(r) else ""),
        f"{r['n_train']} / {r['n_validation']} / {r['n_test']}",
        f"{r['tested_iteration']:,} of {r['iterations']:,} ({r['select']})",
        f"{r['train_seconds'] / 60:.1f} min", r["device"],
    ] for r in results]
    return markdown_table(header, lines)
