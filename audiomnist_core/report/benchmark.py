"""Chapter 06's reporting: the leaderboard of attribution methods per model x task, and the
sentences that say from the numbers which method the models rely on and which fail the
randomisation test."""
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


def leaderboard(result: dict, model: str, task: str) -> list[dict]:
    """One row per method, most faithful (lowest mean AUC) first: ``method``, ``auc`` and
    ``drop`` (mean, std over folds), ``rho`` (mean Spearman after the last randomisation
    step, over folds), ``cost`` (over one gradient)."""
    rows = []
    for r in _entries(result, model, task):
        rho = [v for v in r["randomization_spearman"] if not math.isnan(v)]
        rows.append({"method": r["method"], "auc": mean_std(r["auc"]), "auc_folds": r["auc"],
                     "drop": mean_std(r["drop_at_1pct"]), "drop_folds": r["drop_at_1pct"],
                     "rho": float(np.mean(rho)) if rho else float("nan"), "cost": r["cost_vs_gradient"]})
    return sorted(rows, key=lambda row: row["auc"][0])


def format_leaderboard(result: dict, model: str, task: str) -> str:
    """The leaderboard of one model x task as Markdown; the best method's row in bold."""
    rows = leaderboard(result, model, task)
    header = ["method", "AUC (lower: more faithful)", "accuracy drop at 1 % (points)",
              "Spearman after randomisation", "cost (x gradient)"]
    lines = []
    for i, row in enumerate(rows):
        cells = [NAMES.get(row["method"], row["method"]), pm(row["auc_folds"], 3), pm(row["drop_folds"]),
                 "–" if math.isnan(row["rho"]) else f"{row['rho']:.2f}", f"{row['cost']:.1f}"]
        lines.append([f"**{c}**" for c in cells] if i == 0 else cells)
    return markdown_table(header, lines)


def best(result: dict, model: str, task: str) -> list[str]:
    """The most faithful methods of one model x task: the lowest mean AUC, and any that tie it."""
    rows = leaderboard(result, model, task)
    return [r["method"] for r in rows if math.isclose(r["auc"][0], rows[0]["auc"][0], abs_tol=1e-9)]


def _auc(result: dict, model: str, task: str, method: str) -> float | None:
    for row in leaderboard(result, model, task):
        if row["method"] == method:
            return row["auc"][0]
    return None


def _names(methods: list[str]) -> str:
    return ", ".join(NAMES.get(m, m) for m in methods)


def faithfulness_reading(result: dict) -> str:
    """Whether LRP (the chapters' composite) is the most faithful on every model and task,
    and where not, which method is; and which methods do not beat random."""
    won, tied, lost = [], [], []
    for model, task in pairs(result):
        top, lrp, name = best(result, model, task), _auc(result, model, task, "lrp"), f"{model}/{task}"
        if lrp is None:
            continue
        if top == ["lrp"]:
            won.append(name)
        elif "lrp" in top:
            tied.append(f"on {name} it ties with {_names([m for m in top if m != 'lrp'])} (AUC {lrp:.3f})")
        else:
            lost.append(f"on {name} {_names(top)} (AUC {_auc(result, model, task, top[0]):.3f} against LRP's {lrp:.3f})")
    if won and not (tied or lost):
        first = f"LRP with the chapters' composite is the most faithful method on every model and task ({', '.join(won)})"
    else:
        first = (f"LRP with the chapters' composite is the most faithful on {', '.join(won)} alone" if won else
                 "LRP with the chapters' composite is alone the most faithful on no model and task")
        first += "; " + "; ".join(tied + lost)
    floor = []
    for model, task in pairs(result):
        random = _auc(result, model, task, "random")
        if random is None:
            continue
        worse = [r["method"] for r in leaderboard(result, model, task)
                 if r["method"] != "random" and r["auc"][0] >= random - 1e-9]
        if worse:
            floor.append(f"{_names(worse)} on {model}/{task}")
    tail = f". No better than random: {'; '.join(floor)}" if floor else ". Every method beats random on every model and task"
    return first + tail


def sanity_reading(result: dict) -> str:
    """Which methods fail the cascading randomisation test (mean Spearman above
    :data:`SANITY_RHO` with every layer re-initialised), per model x task."""
    failed = []
    for model, task in pairs(result):
        names = [NAMES.get(r["method"], r["method"]) for r in leaderboard(result, model, task)
                 if r["method"] != "random" and not math.isnan(r["rho"]) and r["rho"] > SANITY_RHO]
        if names:
            failed.append(f"{', '.join(names)} on {model}/{task}")
    if not failed:
        return (f"every method's maps lose their rank order (Spearman at most {SANITY_RHO}) once the model's "
                "layers are re-initialised, so each depends on what the model learnt")
    return (f"these maps keep a Spearman correlation above {SANITY_RHO} with the trained model's after every layer "
            f"is re-initialised, so they show the input more than the model: {'; '.join(failed)}")


def format_benchmark(result: dict) -> str:
    """Every leaderboard and the two readings, as text for the command line."""
    parts = [f"attribution benchmark: profile {result['profile']!r} on the {result['data']} corpus"]
    for model, task in pairs(result):
        parts += [f"\n{model} / {task}", format_leaderboard(result, model, task)]
    parts += ["", faithfulness_reading(result) + ".", sanity_reading(result) + "."]
    return "\n".join(parts)
