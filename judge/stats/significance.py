"""The statistics behind the verdict, each a plain function over numbers (scipy.stats underneath).

The design is paired: both systems answer the same tweets, so the primary tests work on per-item differences
(candidate - baseline). The original spec's unpaired tests (Mann-Whitney U, pooled Cohen's d) are kept for comparison.
A value that the data cannot define (a test on no items, an SD of 0, a CI from one item) is NaN, never a
guess: the verdict treats NaN as a criterion not met.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
from scipy import stats

NAN = float("nan")


def wilcoxon_signed_rank(differences: np.ndarray, alternative: str) -> dict:
    """Wilcoxon signed-rank on paired differences; Pratt's method keeps zero differences in the ranking."""
    if len(differences) == 0:
        return {"statistic": NAN, "p": NAN}
    if not np.any(differences):  # every rank sum is 0 under the null too: p = 1 (scipy gives 1 or NaN, by n)
        return {"statistic": 0.0, "p": 1.0}
    result = stats.wilcoxon(differences, zero_method="pratt", alternative=alternative)
    return {"statistic": float(result.statistic), "p": float(result.pvalue)}


def mann_whitney(candidate: np.ndarray, baseline: np.ndarray, alternative: str) -> dict:
    """Mann-Whitney U of candidate vs baseline scores as two independent samples (the original spec's test); U is the
    candidate's: the number of (candidate, baseline) pairs the candidate wins, ties counting one half."""
    if len(candidate) == 0 or len(baseline) == 0:
        return {"u": NAN, "p": NAN}
    result = stats.mannwhitneyu(candidate, baseline, alternative=alternative)
    return {"u": float(result.statistic), "p": float(result.pvalue)}


def sign_test(wins: int, losses: int, alternative: str) -> float:
    """Exact binomial test of wins against losses (ties left out), p of the candidate winning half the time."""
    if wins + losses == 0:
        return NAN
    return float(stats.binomtest(wins, wins + losses, 0.5, alternative=alternative).pvalue)


def paired_effect_size(differences: np.ndarray) -> float:
    """d_z: the mean difference over the SD of the differences (NaN with fewer than 2 items or an SD of 0)."""
    if len(differences) < 2:
        return NAN
    spread = float(np.std(differences, ddof=1))
    return float(np.mean(differences)) / spread if spread > 0 else NAN


def pooled_cohen_d(candidate: np.ndarray, baseline: np.ndarray) -> float:
    """Cohen's d with the pooled SD of two independent samples (the original spec's effect size)."""
    n_candidate, n_baseline = len(candidate), len(baseline)
    if n_candidate < 1 or n_baseline < 1 or n_candidate + n_baseline < 3:
        return NAN
    pooled_variance = (
        (n_candidate - 1) * np.var(candidate, ddof=1 if n_candidate > 1 else 0)
        + (n_baseline - 1) * np.var(baseline, ddof=1 if n_baseline > 1 else 0)
    ) / (n_candidate + n_baseline - 2)
    if pooled_variance <= 0:
        return NAN
    return float((np.mean(candidate) - np.mean(baseline)) / math.sqrt(pooled_variance))


def relative_improvement_pct(candidate_mean: float, baseline_mean: float) -> float:
    """How far the candidate's mean is above the baseline's, in % of the baseline's (NaN when that is 0)."""
    if baseline_mean == 0 or math.isnan(baseline_mean) or math.isnan(candidate_mean):
        return NAN
    return 100.0 * (candidate_mean - baseline_mean) / abs(baseline_mean)


def win_rate_improvement_pct(win_rate: float) -> float:
    """How far the candidate's win rate is above the baseline's (1 - win rate; ties count half to each), in % of the
    baseline's: a relative improvement on a scale with a true zero, for scores that have none. Infinite when the
    baseline won nothing; NaN without a win rate."""
    if math.isnan(win_rate):
        return NAN
    baseline = 1.0 - win_rate
    if baseline <= 0:
        return math.inf
    return 100.0 * (win_rate - baseline) / baseline


def holm_adjust(p_values: dict[str, float]) -> dict[str, float]:
    """Holm's step-down adjusted p-values: reject a test at level alpha when its adjusted p < alpha.

    The i-th smallest of m p-values becomes max over j <= i of min(1, (m - j + 1) p_(j)). A NaN p (a test the
    data could not run) counts as 1 in the family and stays NaN.
    """
    m = len(p_values)
    ranked = sorted(p_values, key=lambda name: 1.0 if math.isnan(p_values[name]) else p_values[name])
    adjusted, running = {}, 0.0
    for rank, name in enumerate(ranked):
        p = 1.0 if math.isnan(p_values[name]) else p_values[name]
        running = max(running, min(1.0, (m - rank) * p))
        adjusted[name] = NAN if math.isnan(p_values[name]) else running
    return {name: adjusted[name] for name in p_values}


def bootstrap_ci(
    values: np.ndarray, confidence_level: float, resamples: int, seed: int, method: str
) -> tuple[float, float]:
    """Bootstrap CI of the mean of per-item values: items are resampled with replacement, so for paired
    differences each resample keeps an item's two answers together. (NaN, NaN) with fewer than 2 items."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return NAN, NAN
    with warnings.catch_warnings():  # every value equal: BCa is undefined (0 / 0) and warns twice; NaN here
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        result = stats.bootstrap(
            (values,),
            np.mean,
            n_resamples=resamples,
            confidence_level=confidence_level,
            method=method,
            rng=np.random.default_rng(seed),
            batch=500,  # resamples held in memory at once: 500 x n floats, whatever n_resamples is (same CI)
        )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def paired_t_power(n: int, effect_size: float, alpha: float, alternative: str) -> float:
    """Power of the paired t-test (a one-sample t on the differences) with n pairs to detect d_z = effect_size:
    the noncentral t with n - 1 degrees of freedom and noncentrality d_z * sqrt(n), beyond the critical t."""
    if n < 2:
        return NAN
    degrees_of_freedom = n - 1
    noncentrality = effect_size * math.sqrt(n)
    if alternative == "greater":
        critical = stats.t.ppf(1 - alpha, degrees_of_freedom)
        return float(stats.nct.sf(critical, degrees_of_freedom, noncentrality))
    critical = stats.t.ppf(1 - alpha / 2, degrees_of_freedom)
    return float(
        stats.nct.sf(critical, degrees_of_freedom, noncentrality)
        + stats.nct.cdf(-critical, degrees_of_freedom, noncentrality)
    )


def pairs_needed(effect_size: float, alpha: float, power: float, alternative: str) -> int:
    """The smallest n at which the paired t-test reaches `power` for d_z = effect_size (power grows with n)."""
    low, high = 2, 4
    while paired_t_power(high, effect_size, alpha, alternative) < power:
        low, high = high, high * 2
    while low < high:  # the first n in [low, high] with enough power
        middle = (low + high) // 2
        if paired_t_power(middle, effect_size, alpha, alternative) >= power:
            high = middle
        else:
            low = middle + 1
    return low
