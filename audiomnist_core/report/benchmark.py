"""Chapter 06's reporting: the leaderboard of attribution methods per model x task, and the
sentences that say from the numbers which method the models rely on, how sure that is, and
which methods fail the randomisation test.

The headline is the zeroing curve's area on the figures' log-spaced fraction axis
(``auc``; ``auc_linear`` beside it), each with its bootstrap interval over recordings. Two
methods whose intervals overlap *tie*: no sentence names a winner among them, and one that
names a winner gives its interval and its paired test against LRP (p-value, recordings)."""
from __future__ import annotations

import math

import numpy as np

from .common import markdown_table, mean_std, pm

NAMES = {
    "lrp": "LRP (the chapters' composite)",
    "lrp_epsilon_plus": "LRP EpsilonPlus",
    "lrp_epsilon_plus_flat": "LRP EpsilonPlusFlat",
    "lrp_epsilon_gamma_box": "LRP EpsilonGammaBox",
    "lrp_epsilon_alpha2_beta1": "LRP EpsilonAlpha2Beta1",
    "gradient": "gradient",
    "gradient_x_input": "gradient x input",
    "smoothgrad": "SmoothGrad",
    "integrated_gradients": "integrated gradients",
    "deeplift": "DeepLift",
    "gradient_shap": "GradientSHAP",
    "occlusion": "occlusion",
    "random": "random (the floor)",
}
# A method whose maps keep this mean Spearman correlation with the trained model's after every
# layer is re-initialised does not depend on what the model learnt (fails the sanity check).
SANITY_RHO = 0.5


def _entries(result: dict, model: str, task: str) -> list[dict]:
    return [r for r in result["results"] if r["model"] == model and r["task"] == task]


def pairs(result: dict) -> list[tuple[str, str]]:
    """The (model, task) pairs of a benchmark result, in its order."""
    return list(dict.fromkeys((r["model"], r["task"]) for r in result["results"]))


def _finite_mean(values) -> float:
    v = [x for x in (values or []) if x is not None and not math.isnan(x)]
    return float(np.mean(v)) if v else float("nan")


def leaderboard(result: dict, model: str, task: str) -> list[dict]:
    """One row per method, most faithful (lowest mean log-axis AUC) first: ``method``,
    ``auc`` (mean, std over folds), ``auc_ci``, ``auc_linear`` (mean), ``auc_linear_ci``,
    ``drop`` (mean, std), ``vs_lrp`` (the paired test, None for LRP), ``rho`` (mean Spearman
    after the last randomisation step, over folds), ``topk``, ``ssim`` (NaN for waveforms),
    ``cost`` (over one gradient), ``n`` (recordings over all folds), ``folds``."""
    rows = []
    for r in _entries(result, model, task):
        rows.append({"method": r["method"], "auc": mean_std(r["auc"]), "auc_folds": r["auc"], "auc_ci": tuple(r["auc_ci"]),
                     "auc_linear": r["auc_linear_mean"], "auc_linear_ci": tuple(r["auc_linear_ci"]),
                     "drop": mean_std(r["drop_at_1pct"]), "drop_folds": r["drop_at_1pct"], "vs_lrp": r.get("vs_lrp"),
                     "rho": _finite_mean(r["randomization_spearman"]), "topk": _finite_mean(r["randomization_topk"]),
                     "ssim": _finite_mean(r["randomization_ssim"]), "cost": r["cost_vs_gradient"],
                     "n": int(sum(r["n_test"])), "folds": len(r["folds"])})
    return sorted(rows, key=lambda row: row["auc"][0])


def overlap(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """Whether two intervals ``(lo, hi)`` share a point: their methods tie."""
    return a[0] <= b[1] and b[0] <= a[1]


def best(result: dict, model: str, task: str) -> list[str]:
    """The most faithful methods of one model x task: the lowest mean AUC (log axis) first,
    and every method whose interval overlaps its interval (they tie with it)."""
    rows = leaderboard(result, model, task)
    return [r["method"] for r in rows if r is rows[0] or overlap(r["auc_ci"], rows[0]["auc_ci"])]


def _ci(row: dict, field: str = "auc") -> str:
    lo, hi = row[f"{field}_ci"]
    mean = row[field][0] if field == "auc" else row[field]
    return f"{mean:.3f} [{lo:.3f}, {hi:.3f}]"


def _p(p: float) -> str:
    return "p < 0.001" if p < 0.001 else f"p = {p:.3f}" if p < 0.1 else f"p = {p:.2f}"


def _test(row: dict) -> str:
    t = row["vs_lrp"]
    return "–" if t is None else f"{_p(t['p'])} (n = {t['n']})"


def format_leaderboard(result: dict, model: str, task: str) -> str:
    """The leaderboard of one model x task as Markdown: the headline AUC on the log fraction
    axis and the linear one, each with its interval; the methods tied with the best (their
    intervals overlap) in bold."""
    rows = leaderboard(result, model, task)
    level = round(100 * result.get("level", 0.95))
    spatial = any(not math.isnan(r["ssim"]) for r in rows)
    # Seven columns, so that the table fits the page's column at 1280 px: the three readings of
    # the randomisation test share one.
    sanity = ("rho", "topk", "ssim") if spatial else ("rho", "topk")
    header = ["method", f"AUC, log axis [{level} % CI]", f"AUC, linear [{level} % CI]", "drop at 1 %, points",
              "vs LRP: Wilcoxon", "randomised: Spearman / top-1 %" + (" / SSIM" if spatial else ""), "cost, x gradient"]
    top = set(best(result, model, task))
    lines = []
    for row in rows:
        randomised = " / ".join("–" if math.isnan(row[k]) else f"{row[k]:.2f}" for k in sanity)
        cells = [NAMES.get(row["method"], row["method"]), _ci(row), _ci(row, "auc_linear"), pm(row["drop_folds"]), _test(row),
                 randomised, f"{row['cost']:.1f}"]
        lines.append([f"**{c}**" for c in cells] if row["method"] in top else cells)
    return markdown_table(header, lines)


def _row(result: dict, model: str, task: str, method: str) -> dict | None:
    return next((r for r in leaderboard(result, model, task) if r["method"] == method), None)


def _names(methods: list[str]) -> str:
    return ", ".join(NAMES.get(m, m) for m in methods)


def _sureness(row: dict) -> str:
    """How sure a comparison with LRP is: the paired test and what it rests on."""
    t = row["vs_lrp"]
    folds = f"{row['folds']} fold{'s' if row['folds'] != 1 else ''}"
    return f"Wilcoxon {_p(t['p'])} over {t['n']} recordings in {folds}" if t else f"{row['n']} recordings in {folds}"


def _pair_clause(result: dict, model: str, task: str) -> tuple[str, str] | None:
    """``(kind, clause)`` for one model x task: ``"won"`` (LRP's interval clear of every
    other's), ``"tied"`` or ``"lost"``; None without an LRP row."""
    lrp = _row(result, model, task, "lrp")
    if lrp is None:
        return None
    rows, top, name = leaderboard(result, model, task), best(result, model, task), f"{model}/{task}"
    if top == ["lrp"]:
        runner = next(r for r in rows if r["method"] != "lrp") if len(rows) > 1 else None
        against = f" against the next, {NAMES.get(runner['method'], runner['method'])}'s {_ci(runner)} ({_sureness(runner)})" \
            if runner else ""
        return "won", f"{name} (AUC {_ci(lrp)}{against})"
    if "lrp" in top:
        others = [m for m in top if m != "lrp"]
        return "tied", f"on {name} it ties with {_names(others)}: their intervals overlap LRP's (AUC {_ci(lrp)})"
    winner = _row(result, model, task, top[0])
    tied = f" (tied with {_names(top[1:])})" if len(top) > 1 else ""
    return "lost", (f"on {name} {NAMES.get(top[0], top[0])}{tied} is more faithful than LRP, AUC {_ci(winner)} "
                    f"against LRP's {_ci(lrp)} ({_sureness(winner)})")


def faithfulness_reading(result: dict) -> str:
    """Whether LRP (the chapters' composite) is the most faithful on every model and task by
    more than the spread of the recordings (its interval clear of every other method's), where
    it ties, and where another method is better; each claim with its interval and paired
    test. Then the methods that do not beat random (intervals overlapping random's or above)."""
    clauses = {"won": [], "tied": [], "lost": []}
    for model, task in pairs(result):
        found = _pair_clause(result, model, task)
        if found:
            clauses[found[0]].append(found[1])
    level = round(100 * result.get("level", 0.95))
    axis = f"AUC on the log fraction axis, mean [{level} % interval over recordings]"
    if clauses["won"] and not (clauses["tied"] or clauses["lost"]):
        first = (f"LRP with the chapters' composite is the most faithful method on every model and task, its interval "
                 f"clear of every other method's ({axis}): {'; '.join(clauses['won'])}")
    else:
        where = "; ".join(clauses["won"]) if clauses["won"] else "no model and task"
        first = (f"LRP with the chapters' composite is clearly the most faithful on {where} ({axis}); "
                 + "; ".join(clauses["tied"] + clauses["lost"]))
    floor = []
    for model, task in pairs(result):
        random = _row(result, model, task, "random")
        if random is None:
            continue
        worse = [r["method"] for r in leaderboard(result, model, task)
                 if r["method"] != "random" and (overlap(r["auc_ci"], random["auc_ci"]) or r["auc_ci"][0] > random["auc_ci"][1])]
        if worse:
            floor.append(f"{_names(worse)} on {model}/{task}")
    tail = (f". No better than random (intervals overlapping random's, or above it): {'; '.join(floor)}" if floor else
            ". Every method beats random on every model and task, its interval below random's")
    return first + tail


def sanity_reading(result: dict) -> str:
    """Which methods fail the cascading randomisation test (mean Spearman over the input's
    non-zero features above :data:`SANITY_RHO` with every layer re-initialised), per model x
    task."""
    failed = []
    for model, task in pairs(result):
        names = [NAMES.get(r["method"], r["method"]) for r in leaderboard(result, model, task)
                 if r["method"] != "random" and not math.isnan(r["rho"]) and r["rho"] > SANITY_RHO]
        if names:
            failed.append(f"{', '.join(names)} on {model}/{task}")
    if not failed:
        return (f"every method's maps lose their rank order over the input's non-zero features (Spearman at most "
                f"{SANITY_RHO}) once the model's layers are re-initialised, so each depends on what the model learnt")
    return (f"these maps keep a Spearman correlation above {SANITY_RHO} with the trained model's, over the input's "
            f"non-zero features, after every layer is re-initialised, so they show the input more than the model: "
            f"{'; '.join(failed)}")


def format_benchmark(result: dict) -> str:
    """Every leaderboard and the two readings, as text for the command line."""
    parts = [f"attribution benchmark: profile {result['profile']!r} on the {result['data']} corpus; headline: the "
             "zeroing curve's area on the log-spaced fraction axis (linear beside it), bold: tied with the best"]
    for model, task in pairs(result):
        parts += [f"\n{model} / {task}", format_leaderboard(result, model, task)]
    parts += ["", faithfulness_reading(result) + ".", sanity_reading(result) + "."]
    return "\n".join(parts)
