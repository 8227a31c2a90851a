"""The verdict: does the candidate meet the success criteria in the config (the original spec's, by default)?
This is the rule's one home in code; docs/evaluation.md (judge stats) describes it for users.

Every criterion that is on is listed as met or not, with its number and threshold, and the verdict is
"criteria met" only if all hold. Numbers are compared unrounded, and a number the data cannot define (NaN) is a
criterion not met, with the reason. The model card quotes this part of stats.json as it stands.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from judge.config import StatsCriteriaConfig

SCORES, PAIRWISE_ONLY = "single-answer scores", "pairwise verdicts"


@dataclass
class Evidence:
    """The numbers the criteria read, as computed by stats/cli.py."""

    analysis: str  # SCORES or PAIRWISE_ONLY: what the effect, improvement and CI rest on
    adjusted_p: dict[str, float]  # the Holm family's tests that apply to the file -> Holm-adjusted p
    effect_sizes: dict[str, float]  # d_z, cohen_d_pooled
    relative_improvement_pct: float
    ci: tuple[float, float]
    ci_null: float  # the value of "no difference" on the CI's scale: 0 (mean difference) or 0.5 (win rate)
    ci_of: str  # "mean_difference" or "win_rate"
    # What `relative_improvement_pct` is of: "mean score" (a 1-10 scale), or "win rate" (a centred scale, whose
    # mean has no true zero: the candidate's win rate against the baseline's, ties half each)
    improvement_of: str = "mean score"


def judge_criteria(evidence: Evidence, criteria: StatsCriteriaConfig, alpha: float) -> dict:
    """{criteria_met, failed, criteria: {name: {value, threshold, comparison, met, description[, reason]}}, summary}"""
    results = {}
    if criteria.significance:
        results["significance"] = _significance(evidence, alpha)
    if criteria.min_effect_size is not None:
        value = evidence.effect_sizes.get(criteria.effect_size, math.nan)
        results["effect_size"] = _compare(
            value,
            ">",
            criteria.min_effect_size,
            f"effect size {criteria.effect_size} > {criteria.min_effect_size:g}",
            _undefined_effect(evidence, criteria.effect_size),
            measure=criteria.effect_size,
        )
    if criteria.min_relative_improvement_pct is not None:
        threshold = criteria.min_relative_improvement_pct
        if evidence.improvement_of == "win rate":
            description = (
                f"win rate at least {threshold:g}% above the baseline's (the scores are centred: a % of their mean "
                "means nothing, so the criterion reads the win rates, ties half each)"
            )
            undefined = "undefined: no item compared"
        else:
            description = f"mean score at least {threshold:g}% above the baseline's"
            undefined = (
                "needs single-answer scores"
                if evidence.analysis == PAIRWISE_ONLY
                else "undefined: no paired scores, or a baseline mean of 0"
            )
        results["relative_improvement_pct"] = _compare(
            evidence.relative_improvement_pct, ">=", threshold, description, undefined, of=evidence.improvement_of
        )
    if criteria.ci_excludes_zero:
        results["ci_excludes_zero"] = _ci_criterion(evidence, alpha)
    failed = [name for name, result in results.items() if not result["met"]]
    criteria_met = bool(results) and not failed
    if criteria_met:
        summary = "criteria met: " + "; ".join(result["description"] for result in results.values())
    else:
        summary = "criteria not met: " + "; ".join(_why_failed(name, results[name]) for name in failed)
    return {"criteria_met": criteria_met, "failed": failed, "summary": summary, "criteria": results}


def _significance(evidence: Evidence, alpha: float) -> dict:
    description = f"Holm-adjusted p < {alpha:g} for every test of the family"
    if not evidence.adjusted_p:
        return {
            "value": None,
            "threshold": alpha,
            "comparison": "<",
            "met": False,
            "description": description,
            "reason": "no test of the configured holm_family applies to the verdicts in this file",
        }
    largest = max((math.inf if math.isnan(p) else p) for p in evidence.adjusted_p.values())
    result = _compare(
        math.nan if math.isinf(largest) else largest,
        "<",
        alpha,
        description + f" ({', '.join(evidence.adjusted_p)})",
        "a test of the family could not run on these data (too few items)",
    )
    result["tests"] = dict(evidence.adjusted_p)
    return result


def _ci_criterion(evidence: Evidence, alpha: float) -> dict:
    low, high = evidence.ci
    level = f"{100 * (1 - alpha):g}%"
    description = f"the {level} bootstrap CI of the {evidence.ci_of.replace('_', ' ')} lies above {evidence.ci_null:g}"
    defined = not (math.isnan(low) or math.isnan(high))
    result = {
        "value": [low, high] if defined else None,
        "threshold": evidence.ci_null,
        "comparison": "lower bound >",
        "met": defined and low > evidence.ci_null,
        "description": description,
    }
    if not defined:
        result["reason"] = "undefined: fewer than 2 items, or a bootstrap the data cannot support"
    return result


def _compare(value: float, comparison: str, threshold: float, description: str, undefined: str, **extra) -> dict:
    defined = value is not None and not math.isnan(value)
    met = defined and _holds(value, comparison, threshold)
    result = {
        "value": value if defined else None,
        "threshold": threshold,
        "comparison": comparison,
        "met": met,
        "description": description,
        **extra,
    }
    if not defined:
        result["reason"] = undefined
    return result


def _undefined_effect(evidence: Evidence, measure: str) -> str:
    if evidence.analysis == PAIRWISE_ONLY:
        return "needs single-answer scores"
    if measure == "d_z":
        return "undefined: fewer than 2 paired items, or every difference the same (SD 0)"
    return "undefined: too few scores, or no spread in them"


def _why_failed(name: str, result: dict) -> str:
    if "reason" in result:
        return f"{name} ({result['reason']})"
    value, threshold = result["value"], result["threshold"]
    if isinstance(value, list):
        shown = f"[{format_number(value[0], '>', threshold)}, {format_number(value[1])}]"
    else:
        shown = format_number(value, result["comparison"], threshold)
    return f"{name} {shown} (needs {result['comparison']} {threshold:g})"


def _holds(value: float, comparison: str, threshold: float) -> bool:
    if comparison.endswith(">="):
        return value >= threshold
    if comparison.endswith(">"):
        return value > threshold
    return value < threshold


def format_number(value: float | None, comparison: str | None = None, threshold: float | None = None) -> str:
    """At least 4 significant digits, and as many more as it takes for the printed number to fall on the same side
    of `threshold` as the unrounded one, and not to print as the threshold itself when it is not: 14.99996 prints
    as 14.99996, never as 15, against ">= 15"."""
    if value is None or math.isnan(value):
        return "n/a"
    if math.isfinite(value) and value == int(value) and abs(value) < 1e15:  # counts and rank statistics print whole
        return str(int(value))
    for precision in range(4, 18):
        text = f"{value:.{precision}g}"
        if threshold is None:
            return text
        shown = float(text)
        if _holds(shown, comparison, threshold) == _holds(value, comparison, threshold) and (
            shown != threshold or value == threshold
        ):
            return text
    return repr(value)
