"""judge stats: every number checked against an independent computation (scipy called directly, or closed form)
on fixed data, the verdict against the criteria, and what a user sees on bad input."""

import hashlib
import itertools
import json
import math
import subprocess
import sys
from math import comb

import numpy as np
import pytest
from scipy import stats

from judge.__main__ import main
from judge.config import ConfigError, StatsConfig, StatsCriteriaConfig, load_judge_config
from judge.stats.criteria import PAIRWISE_ONLY, SCORES, Evidence, format_number, judge_criteria
from judge.stats.significance import holm_adjust, paired_t_power, pairs_needed
from tests.paths import REPO_ROOT

# Fixed data: ties among the |differences| and five zero differences; 9 wins, 5 ties, 2 losses for the candidate.
BASELINE = [5, 6, 4, 7, 5, 5, 6, 3, 8, 5, 6, 4, 6, 7, 5, 4]
CANDIDATE = [7, 6, 5, 9, 5, 6, 8, 3, 8, 7, 5, 6, 6, 9, 4, 7]


def write_jsonl(path, rows):
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))
    return path


def score_rows(baseline, candidate, **extra):
    rows = []
    for item, (base_score, candidate_score) in enumerate(zip(baseline, candidate)):
        rows.append({"item_id": f"t{item}", "system": "base", "score": base_score, **extra})
        rows.append({"item_id": f"t{item}", "system": "adapter", "score": candidate_score, **extra})
    return rows


def run_stats(tmp_path, rows, *arguments, name="verdicts.jsonl"):
    """`python -m judge stats` in process; returns (exit code, stats.json or None)."""
    verdicts = write_jsonl(tmp_path / name, rows)
    output = tmp_path / "eval"
    code = main(["stats", "--verdicts", str(verdicts), "--output", str(output), *arguments])
    stats_path = output / "stats.json"
    return code, json.loads(stats_path.read_text()) if stats_path.exists() else None


def exact_pratt_wilcoxon_p(differences):
    """Two-sided exact signed-rank p by enumerating every sign assignment (Pratt: zeros ranked, then left out)."""
    differences = np.asarray(differences, dtype=float)
    ranks = stats.rankdata(np.abs(differences))
    nonzero = differences != 0
    observed = ranks[differences > 0].sum()
    null = [
        sum(rank for rank, positive in zip(ranks[nonzero], signs) if positive)
        for signs in itertools.product([True, False], repeat=int(nonzero.sum()))
    ]
    null = np.array(null)
    return min(1.0, 2 * min(np.mean(null <= observed + 1e-9), np.mean(null >= observed - 1e-9)))


def asymptotic_pratt_wilcoxon_p(differences):
    """Two-sided normal approximation with Pratt's zeros (Cureton's adjustment) and the tie correction."""
    differences = np.asarray(differences, dtype=float)
    n, zeros = len(differences), int(np.sum(differences == 0))
    ranks = stats.rankdata(np.abs(differences))
    r_plus = ranks[differences > 0].sum()
    mean = (n * (n + 1) - zeros * (zeros + 1)) / 4
    _, tie_sizes = np.unique(np.abs(differences[differences != 0]), return_counts=True)
    variance = (
        n * (n + 1) * (2 * n + 1) - zeros * (zeros + 1) * (2 * zeros + 1) - np.sum(tie_sizes**3 - tie_sizes) / 2
    ) / 24
    return 2 * stats.norm.sf(abs(r_plus - mean) / math.sqrt(variance))


def two_sided_binomial_p(wins, losses):
    n, fewer = wins + losses, min(wins, losses)
    if wins == losses:
        return 1.0
    return min(1.0, 2 * sum(comb(n, i) for i in range(fewer + 1)) / 2**n)


# --- the numbers ---------------------------------------------------------------------------------------------


def test_paired_statistics_match_independent_computations(tmp_path):
    code, result = run_stats(tmp_path, score_rows(BASELINE, CANDIDATE))
    assert code == 0
    baseline, candidate = np.array(BASELINE, float), np.array(CANDIDATE, float)
    differences = candidate - baseline
    assert result["n"] == 16 and result["analysis"] == SCORES
    assert result["means"] == {"base": pytest.approx(baseline.mean()), "adapter": pytest.approx(candidate.mean())}
    # ties and zeros at n > 13: the normal approximation with Pratt's zeros and the tie correction
    assert result["wilcoxon"]["p"] == pytest.approx(asymptotic_pratt_wilcoxon_p(differences), rel=1e-9)
    direct = stats.wilcoxon(differences, zero_method="pratt")
    assert result["wilcoxon"] == {
        "statistic": pytest.approx(direct.statistic),
        "p": pytest.approx(direct.pvalue),
        "zero_method": "pratt",
        "alternative": "two-sided",
    }
    assert result["effect_size"]["d_z"] == pytest.approx(differences.mean() / differences.std(ddof=1))
    pooled_sd = math.sqrt((np.var(baseline, ddof=1) * 15 + np.var(candidate, ddof=1) * 15) / 30)
    assert result["effect_size"]["cohen_d_pooled"] == pytest.approx((candidate.mean() - baseline.mean()) / pooled_sd)
    assert result["relative_improvement_pct"] == pytest.approx(100 * (candidate.mean() / baseline.mean() - 1))
    # U counts the (candidate, baseline) pairs the candidate wins, ties half
    u = sum((c > b) + 0.5 * (c == b) for c in candidate for b in baseline)
    assert result["mann_whitney"]["u"] == u
    assert result["mann_whitney"]["p"] == pytest.approx(stats.mannwhitneyu(candidate, baseline).pvalue)
    # without pairwise verdicts, each item's winner is its higher score
    pairwise = result["pairwise"]
    assert (pairwise["wins"], pairwise["ties"], pairwise["losses"]) == (9, 5, 2)
    assert pairwise["source"] == "score differences" and pairwise["inconsistency_rate"] is None
    assert pairwise["win_rate"] == pytest.approx((9 + 0.5 * 5) / 16)
    assert pairwise["sign_test_p"] == pytest.approx(two_sided_binomial_p(9, 2))
    # a sign test on score signs repeats the Wilcoxon's data: only the Wilcoxon is in the verdict's family
    assert result["holm"]["tests"] == ["wilcoxon"]
    assert result["holm"]["adjusted_p"]["wilcoxon"] == pytest.approx(direct.pvalue)


def test_wilcoxon_small_sample_with_ties_and_zeros_matches_exact_enumeration(tmp_path):
    # at n <= 13 with ties or zeros scipy runs an exact permutation test: every sign assignment, enumerated here
    _, result = run_stats(tmp_path, score_rows(BASELINE[:12], CANDIDATE[:12]))
    differences = np.subtract(CANDIDATE[:12], BASELINE[:12])
    assert result["wilcoxon"]["p"] == pytest.approx(exact_pratt_wilcoxon_p(differences), rel=1e-9)


def test_all_zero_differences_are_no_evidence(tmp_path):
    code, result = run_stats(tmp_path, score_rows(BASELINE, BASELINE))
    assert code == 0
    assert result["mean_difference"] == 0 and result["relative_improvement_pct"] == 0
    assert result["wilcoxon"]["p"] == 1  # the rank sum is 0 whatever the signs: no evidence either way
    assert result["effect_size"]["d_z"] is None  # 0 / 0: undefined, not 0 and not a pass
    assert result["bootstrap_ci"]["mean_difference"] == [0, 0]
    assert (result["pairwise"]["ties"], result["pairwise"]["sign_test_p"]) == (16, None)
    verdict = result["verdict"]
    assert verdict["criteria_met"] is False
    assert verdict["failed"] == ["significance", "effect_size", "relative_improvement_pct", "ci_excludes_zero"]
    assert "SD 0" in verdict["criteria"]["effect_size"]["reason"]


def test_a_single_item_runs_and_claims_nothing(tmp_path):
    code, result = run_stats(tmp_path, score_rows([4], [9]))
    assert code == 0 and result["n"] == 1
    assert result["wilcoxon"]["p"] == pytest.approx(stats.wilcoxon([5.0], zero_method="pratt").pvalue)
    assert result["effect_size"] == {"d_z": None, "cohen_d_pooled": None}
    assert result["bootstrap_ci"]["mean_difference"] == [None, None]
    assert result["power"]["achieved_power"] is None and result["power"]["n_required"] == 90
    assert result["verdict"]["criteria_met"] is False
    assert result["verdict"]["caveats"][0].startswith("underpowered: 1 item(s)")


def test_an_item_missing_for_one_system_is_reported_and_left_out_of_the_paired_tests(tmp_path):
    rows = score_rows(BASELINE, CANDIDATE) + [
        {"item_id": "only-base", "system": "base", "score": 2},
        {"item_id": "only-adapter", "system": "adapter", "score": 10},
        {"item_id": "unparsed", "system": "base", "score": 6},
        {"item_id": "unparsed", "system": "adapter", "parse_error": "no tool call in the answer"},
    ]
    _, result = run_stats(tmp_path, rows)
    items = result["items"]
    assert result["n"] == items["paired"] == 16
    assert items["baseline_only"] == {"count": 2, "item_ids": ["only-base", "unparsed"]}
    assert items["candidate_only"] == {"count": 1, "item_ids": ["only-adapter"]}
    assert items["unparsed"] == {"adapter": 1} and result["lines"]["parse_errors"] == {"single_answer": 1}
    differences = np.array(CANDIDATE, float) - np.array(BASELINE, float)
    assert result["wilcoxon"]["p"] == pytest.approx(stats.wilcoxon(differences, zero_method="pratt").pvalue)
    assert result["means"]["base"] == pytest.approx(np.mean(BASELINE))
    # the unpaired comparison uses every score each system has
    all_baseline, all_candidate = [*BASELINE, 2, 6], [*CANDIDATE, 10]
    assert result["mann_whitney"]["n_baseline"] == 18 and result["mann_whitney"]["n_candidate"] == 17
    assert result["mann_whitney"]["p"] == pytest.approx(stats.mannwhitneyu(all_candidate, all_baseline).pvalue)
    caveats = " | ".join(result["verdict"]["caveats"])
    assert "2 item(s) scored only for base" in caveats and "1 item(s) scored only for adapter" in caveats
    assert "could not be parsed" in caveats


def test_pairwise_orders_combine_and_inconsistency_is_counted(tmp_path):
    def pair(item, first, second):
        return [
            {"item_id": item, "order": 1, "systems": ["base", "adapter"], "winner": first},
            {"item_id": item, "order": 2, "systems": ["adapter", "base"], "winner": second},
        ]

    rows = [
        *pair("agree-win", "adapter", "adapter"),
        *pair("agree-win-2", "adapter", "adapter"),
        *pair("agree-win-3", "adapter", "adapter"),
        *pair("agree-loss", "base", "base"),
        *pair("agree-tie", "tie", "tie"),
        *pair("win-vs-tie", "adapter", "tie"),  # disagreement, a tie against a win included -> tie
        *pair("win-vs-loss", "adapter", "base"),
        {"item_id": "one-order", "order": 1, "winner": "adapter"},
        {"item_id": "unparsed-order", "order": 1, "systems": ["base", "adapter"], "winner": "adapter"},
        {"item_id": "unparsed-order", "order": 2, "systems": ["adapter", "base"], "parse_error": "prose, no tool"},
    ]
    code, result = run_stats(tmp_path, rows)
    assert code == 0 and result["analysis"] == PAIRWISE_ONLY
    pairwise = result["pairwise"]
    assert (pairwise["wins"], pairwise["losses"], pairwise["ties"], pairwise["n"]) == (3, 1, 3, 7)
    assert pairwise["inconsistent"] == 2 and pairwise["inconsistency_rate"] == pytest.approx(2 / 7)
    assert pairwise["sign_test_p"] == pytest.approx(two_sided_binomial_p(3, 1))
    assert pairwise["win_rate"] == pytest.approx((3 + 0.5 * 3) / 7)
    assert result["items"]["pairwise_incomplete"]["why"] == {
        "one-order": "order 2 missing",
        "unparsed-order": "order 2 unparsed",
    }
    assert result["lines"]["parse_errors"] == {"pairwise": 1}
    criteria = result["verdict"]["criteria"]
    assert criteria["effect_size"]["reason"] == "needs single-answer scores"
    assert criteria["ci_excludes_zero"]["threshold"] == 0.5  # the win rate's "no difference"
    assert result["means"] is None and result["wilcoxon"] is None


def test_a_mixed_file_holm_corrects_the_wilcoxon_and_the_sign_test_together(tmp_path):
    rows = score_rows(BASELINE, CANDIDATE)
    for item in range(16):
        winner = "adapter" if item % 4 else "base"
        rows += [{"item_id": f"t{item}", "order": order, "winner": winner} for order in (1, 2)]
    _, result = run_stats(tmp_path, rows)
    wilcoxon_p = stats.wilcoxon(np.subtract(CANDIDATE, BASELINE), zero_method="pratt").pvalue
    sign_p = two_sided_binomial_p(12, 4)
    assert result["pairwise"]["source"] == "pairwise verdicts"
    assert result["holm"]["tests"] == ["wilcoxon", "sign_test"]
    smaller, larger = sorted([wilcoxon_p, sign_p])  # Holm, m = 2: 2 x the smaller; the larger, at least that
    adjusted = {smaller: min(1, 2 * smaller), larger: max(min(1, 2 * smaller), larger)}
    assert result["holm"]["adjusted_p"] == {
        "wilcoxon": pytest.approx(adjusted[wilcoxon_p]),
        "sign_test": pytest.approx(adjusted[sign_p]),
    }
    assert result["verdict"]["criteria"]["significance"]["value"] == pytest.approx(
        max(result["holm"]["adjusted_p"].values())
    )


def test_holm_matches_the_closed_form():
    assert holm_adjust({"a": 0.01, "b": 0.04, "c": 0.03}) == pytest.approx({"a": 0.03, "b": 0.06, "c": 0.06})
    assert holm_adjust({"a": 0.6, "b": 0.01}) == pytest.approx({"a": 0.6, "b": 0.02})
    adjusted = holm_adjust({"a": 0.01, "b": float("nan")})  # a test that could not run counts in m
    assert adjusted["a"] == pytest.approx(0.02) and math.isnan(adjusted["b"])


@pytest.mark.parametrize(
    ("effect_size", "alternative", "n_required", "power_at_n"),
    [
        # G*Power 3 (Faul et al., 2007), "t tests - Means: difference between two dependent means (matched pairs)",
        # alpha 0.05, power 0.80: the textbook sample sizes and the actual power they reach
        (0.5, "two-sided", 34, 0.8078),
        (0.3, "two-sided", 90, 0.8038),
        (0.8, "two-sided", 15, 0.8213),
        (0.5, "greater", 27, 0.8118),
    ],
)
def test_power_analysis_matches_the_textbook(effect_size, alternative, n_required, power_at_n):
    assert pairs_needed(effect_size, 0.05, 0.8, alternative) == n_required
    assert paired_t_power(n_required, effect_size, 0.05, alternative) == pytest.approx(power_at_n, abs=1e-4)
    assert paired_t_power(n_required - 1, effect_size, 0.05, alternative) < 0.8


def test_power_approaches_the_normal_closed_form_at_large_n():
    n, effect_size = 2000, 0.1
    normal = stats.norm.cdf(effect_size * math.sqrt(n) - stats.norm.ppf(0.975))
    assert paired_t_power(n, effect_size, 0.05, "two-sided") == pytest.approx(normal, abs=2e-3)


def test_bootstrap_ci_is_seeded_and_agrees_with_normal_theory(tmp_path):
    rng = np.random.default_rng(7)
    baseline = rng.normal(5, 1, 400)
    candidate = baseline + rng.normal(0.5, 1, 400)
    rows = score_rows(baseline.tolist(), candidate.tolist())
    _, first = run_stats(tmp_path, rows)
    _, again = run_stats(tmp_path, rows)
    assert first["bootstrap_ci"] == again["bootstrap_ci"]  # same seed, same CI
    differences = candidate - baseline
    half_width = stats.norm.ppf(0.975) * differences.std(ddof=1) / math.sqrt(400)
    low, high = first["bootstrap_ci"]["mean_difference"]
    assert low == pytest.approx(differences.mean() - half_width, abs=0.02)
    assert high == pytest.approx(differences.mean() + half_width, abs=0.02)
    config = tmp_path / "seed.yaml"
    config.write_text("stats:\n  bootstrap_seed: 1\n")
    _, other_seed = run_stats(tmp_path, rows, "--config", str(config))
    assert other_seed["bootstrap_ci"]["mean_difference"] != first["bootstrap_ci"]["mean_difference"]


# --- the verdict -------------------------------------------------------------------------------------------


def passing_evidence(**changes) -> Evidence:
    evidence = {
        "analysis": SCORES,
        "adjusted_p": {"wilcoxon": 0.001, "sign_test": 0.01},
        "effect_sizes": {"d_z": 0.8, "cohen_d_pooled": 0.5},
        "relative_improvement_pct": 20.0,
        "ci": (0.2, 1.1),
        "ci_null": 0.0,
        "ci_of": "mean_difference",
    }
    return Evidence(**(evidence | changes))


@pytest.mark.parametrize(
    ("changes", "failed"),
    [
        ({}, None),
        ({"adjusted_p": {"wilcoxon": 0.001, "sign_test": 0.05}}, "significance"),  # p = alpha is not below it
        ({"adjusted_p": {"wilcoxon": float("nan")}}, "significance"),
        ({"adjusted_p": {}}, "significance"),
        ({"effect_sizes": {"d_z": 0.3, "cohen_d_pooled": 0.9}}, "effect_size"),  # strictly greater
        ({"effect_sizes": {"d_z": float("nan"), "cohen_d_pooled": 0.9}}, "effect_size"),
        ({"relative_improvement_pct": 14.999999999}, "relative_improvement_pct"),
        ({"ci": (0.0, 1.0)}, "ci_excludes_zero"),  # touching 0 does not exclude it
        ({"ci": (-1.2, -0.1)}, "ci_excludes_zero"),  # excluding 0 on the wrong side is no success
        ({"ci": (float("nan"), float("nan"))}, "ci_excludes_zero"),
    ],
)
def test_the_verdict_fails_when_any_one_criterion_fails(changes, failed):
    verdict = judge_criteria(passing_evidence(**changes), StatsCriteriaConfig(), alpha=0.05)
    assert verdict["criteria_met"] is (failed is None)
    assert verdict["failed"] == ([] if failed is None else [failed])
    assert set(verdict["criteria"]) == {"significance", "effect_size", "relative_improvement_pct", "ci_excludes_zero"}
    if failed:
        assert verdict["summary"].startswith(f"criteria not met: {failed}")
        assert verdict["criteria"][failed]["met"] is False


def test_improvement_exactly_at_the_threshold_meets_it_and_criteria_can_be_turned_off():
    verdict = judge_criteria(passing_evidence(relative_improvement_pct=15.0), StatsCriteriaConfig(), alpha=0.05)
    assert verdict["criteria_met"] is True
    lenient = StatsCriteriaConfig(min_relative_improvement_pct=None, effect_size="cohen_d_pooled")
    verdict = judge_criteria(passing_evidence(relative_improvement_pct=1.0), lenient, alpha=0.05)
    assert verdict["criteria_met"] is True and "relative_improvement_pct" not in verdict["criteria"]
    assert verdict["criteria"]["effect_size"]["value"] == 0.5


def test_a_near_miss_is_printed_as_a_miss_and_stats_json_names_it(tmp_path, capsys):
    # improvement 14.99983%: every other criterion passes easily
    noise = np.tile([0.5, -0.5], 20)
    baseline = [6.0] * 40
    candidate = (6.9 - 1e-5 + noise).tolist()
    code, result = run_stats(tmp_path, score_rows(baseline, candidate))
    printed = capsys.readouterr().out
    assert code == 0
    assert result["relative_improvement_pct"] == pytest.approx(100 * (0.9 - 1e-5) / 6)
    assert result["verdict"]["criteria_met"] is False
    assert result["verdict"]["failed"] == ["relative_improvement_pct"]
    assert "NOT ESTABLISHED: the judge is not valid here (no validity.json" in printed  # and the statistics:
    line = next(row for row in printed.splitlines() if "relative_improvement_pct" in row)
    assert "NOT met" in line and "14.9998" in line and " 15 " not in line.split("(needs")[0]


def test_format_number_never_rounds_across_a_threshold():
    assert format_number(14.99996, ">=", 15) == "14.99996"
    assert format_number(0.0499999, "<", 0.05) == "0.0499999"
    assert format_number(0.3000001, ">", 0.3) == "0.3000001"
    assert format_number(0.04, "<", 0.05) == "0.04" and format_number(12345.0) == "12345"
    assert format_number(None) == format_number(float("nan")) == "n/a"


# --- input a user brings ---------------------------------------------------------------------------------


def test_malformed_lines_and_parse_errors_are_counted_with_their_line_numbers(tmp_path):
    rows = score_rows(BASELINE, CANDIDATE) + [
        '{"item_id": "x", "system": "base", "score": ',  # line 33: cut off mid-write
        "[1, 2]",
        {"item_id": "t1", "system": "base", "score": "high"},
        '{"item_id": "t2", "system": "adapter", "score": NaN}',
        {"system": "base", "score": 3},
        {"item_id": "t0", "system": "base", "score": 9},  # line 38: a second score for t0/base
        {"item_id": "t3", "order": 3, "winner": "base"},
        {"item_id": "t3", "system": "base", "score": 5, "winner": "base"},
        "",
        {"item_id": "t4", "parse_error": "the judge's answer had no verdict"},
        {"item_id": "t5", "system": "base", "score": 1e308},  # line 43: its square would overflow
    ]
    verdicts = write_jsonl(tmp_path / "verdicts.jsonl", rows)
    verdicts.write_bytes(b"\xef\xbb\xbf" + verdicts.read_bytes().replace(b"\n", b"\r\n"))  # a Windows editor's file
    code = main(["stats", "--verdicts", str(verdicts), "--output", str(tmp_path / "eval")])
    result = json.loads((tmp_path / "eval" / "stats.json").read_text())
    assert code == 0
    lines = result["lines"]
    assert [entry["line"] for entry in lines["rejected_lines"]] == [33, 34, 35, 36, 37, 38, 39, 40, 43]
    reasons = {entry["line"]: entry["reason"] for entry in lines["rejected_lines"]}
    assert reasons[33] == "not JSON" and reasons[34] == "not a JSON object (list)"
    assert reasons[35].startswith("score must be a finite number") and reasons[36].startswith("score must be")
    assert reasons[37].startswith("no item_id") and reasons[38] == "repeats item 't0' for 'base' (first at line 1)"
    assert reasons[39].startswith("order must be 1 or 2") and reasons[40].startswith("both a score and a winner")
    assert reasons[43] == "score beyond +-1e+100, got 1e+308"
    assert lines["parse_errors"] == {"unknown": 1}
    assert result["means"]["base"] == pytest.approx(np.mean(BASELINE))  # the repeat did not replace t0's score
    assert "9 malformed or repeated line(s) rejected" in " ".join(result["verdict"]["caveats"])


def test_a_raw_line_separator_inside_a_json_string_does_not_split_the_line(tmp_path):
    rows = score_rows(BASELINE, CANDIDATE, note="a\u2028b\u0085c")
    verdicts = tmp_path / "verdicts.jsonl"
    verdicts.write_text("".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows), encoding="utf-8")
    assert main(["stats", "--verdicts", str(verdicts), "--output", str(tmp_path / "eval")]) == 0
    result = json.loads((tmp_path / "eval" / "stats.json").read_text())
    assert result["lines"]["rejected_lines"] == []
    assert result["n"] == len(BASELINE)


def test_several_judges_are_never_pooled(tmp_path, capsys):
    rows = score_rows(BASELINE, CANDIDATE, judge="claude") + score_rows(CANDIDATE, BASELINE, judge="engagement")
    code, result = run_stats(tmp_path, rows)
    assert code == 2 and result is None
    error = capsys.readouterr().err
    assert "2 judges (claude: 32, engagement: 32)" in error and "--judge" in error
    code, result = run_stats(tmp_path, rows, "--judge", "engagement")
    assert code == 0 and result["judge"] == "engagement" and result["inputs"]["judge"] == "engagement"
    assert result["mean_difference"] == pytest.approx(np.mean(BASELINE) - np.mean(CANDIDATE))
    assert result["lines"]["skipped"] == {"another judge": 32}


@pytest.mark.parametrize(
    ("rows", "arguments", "message"),
    [
        (
            [{"item_id": 1, "system": s, "score": 5} for s in ("base", "v1", "v2")],
            [],
            "which system is the candidate? systems in the file: 'base', 'v1', 'v2'; choose with --candidate",
        ),
        ([{"item_id": 1, "system": s, "score": 5} for s in ("a", "b")], [], "baseline 'base' is not in the file"),
        (
            [{"item_id": 1, "system": "base", "score": 5}, {"item_id": 1, "system": "adapter", "score": 5}],
            ["--candidate", "adaptor"],
            "candidate 'adaptor' is not in the file; systems in the file: 'adapter', 'base'",
        ),
        (
            [{"item_id": 1, "order": 1, "winner": w} for w in ("base", "v1", "v2")],
            ["--candidate", "v1"],
            "pairwise lines without `systems` (line(s) 1, 2, 3; winners named: ['base', 'v1', 'v2'])",
        ),
        ([{"item_id": 1, "order": 1, "winner": "A"}], ["--baseline", "base"], "not the position it was shown in"),
        (["not json", "{", {"item_id": 1}], [], "no usable verdict in 3 line(s)"),
        (
            [{"item_id": 1, "system": "base", "score": 5}, {"item_id": 2, "system": "adapter", "score": 5}],
            [],
            "nothing to compare 'adapter' with 'base': no item has scores from both",
        ),
    ],
)
def test_refusals_name_the_problem_and_write_nothing(tmp_path, capsys, rows, arguments, message):
    code, result = run_stats(tmp_path, rows, *arguments)
    error = capsys.readouterr().err
    assert code == 2 and result is None
    assert message in error and "verdicts.jsonl" in error


def test_bad_config_and_missing_files_are_refused(tmp_path, capsys):
    rows = score_rows(BASELINE, CANDIDATE)
    for text, field in [
        ("stats:\n  alpha: 1.5\n", "alpha must lie between 0 and 1"),
        ("stats:\n  holm_family: [wilcoxon, t_test]\n", "stats.holm_family[1]: 't_test' is not one of"),
        ("stats:\n  criteria: {min_effect: 0.3}\n", "unknown field(s) 'min_effect'"),
        (
            "stats:\n  criteria: {significance: false, min_effect_size: null, min_relative_improvement_pct: null,"
            " ci_excludes_zero: false}\n",
            "every criterion is off",
        ),
    ]:
        config = tmp_path / "bad.yaml"
        config.write_text(text)
        code, _ = run_stats(tmp_path, rows, "--config", str(config))
        assert code == 2 and field in capsys.readouterr().err
    code = main(["stats", "--verdicts", str(tmp_path / "absent.jsonl"), "--output", str(tmp_path / "out")])
    assert code == 2 and "absent.jsonl: cannot read the verdicts file" in capsys.readouterr().err
    code, _ = run_stats(tmp_path, rows, "--generations", str(tmp_path / "absent_generations.jsonl"))
    assert code == 2 and "absent_generations.jsonl: generations file not found" in capsys.readouterr().err


def test_the_yaml_defaults_are_the_seed_criteria():
    config = load_judge_config().stats
    assert config == StatsConfig()
    assert (config.alpha, config.criteria.min_effect_size, config.criteria.min_relative_improvement_pct) == (
        0.05,
        0.3,
        15.0,
    )
    assert config.criteria.significance and config.criteria.ci_excludes_zero
    with pytest.raises(ConfigError):
        load_judge_config(REPO_ROOT / "judge" / "configs" / "missing.yaml")


@pytest.mark.slow
def test_the_command_line_writes_stats_json_and_three_plots(tmp_path):
    """`python -m judge stats` as a user runs it, with generations.jsonl beside the verdicts for the lengths."""
    import matplotlib.image

    rng = np.random.default_rng(11)
    baseline = rng.integers(2, 8, 60)
    candidate = np.clip(baseline + rng.integers(0, 4, 60), 1, 10)
    rows = score_rows(baseline.tolist(), candidate.tolist(), judge="claude")
    for item in range(60):
        rows += [
            {"item_id": f"t{item}", "order": o, "winner": "adapter" if item % 3 else "tie", "judge": "claude"}
            for o in (1, 2)
        ]
    verdicts = write_jsonl(tmp_path / "verdicts.jsonl", rows)
    write_jsonl(
        tmp_path / "generations.jsonl",
        [
            {"item_id": f"t{item}", "system": system, "reply": "word " * int(rng.integers(3, 40))}
            for item in range(60)
            for system in ("base", "adapter")
        ],
    )
    output = tmp_path / "eval"
    done = subprocess.run(
        [sys.executable, "-m", "judge", "stats", "--verdicts", str(verdicts), "--output", str(output)],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "verdict: NOT ESTABLISHED: the judge is not valid here (no validity.json" in done.stdout
    result = json.loads((output / "stats.json").read_text())
    for key in (
        "n",
        "means",
        "wilcoxon",
        "mann_whitney",
        "effect_size",
        "relative_improvement_pct",
        "pairwise",
        "bootstrap_ci",
        "power",
        "verdict",
    ):
        assert key in result, key
    assert set(result["wilcoxon"]) >= {"statistic", "p"} and set(result["mann_whitney"]) >= {"u", "p"}
    assert set(result["pairwise"]) >= {"wins", "losses", "ties", "inconsistency_rate", "sign_test_p"}
    assert set(result["power"]) >= {"n_required", "achieved_power"}
    assert set(result["bootstrap_ci"]) >= {"mean_difference", "win_rate"}
    for criterion in result["verdict"]["criteria"].values():
        assert set(criterion) >= {"value", "threshold", "met"}
    inputs = result["inputs"]
    assert inputs["verdicts"]["sha256"] == hashlib.sha256(verdicts.read_bytes()).hexdigest()
    assert inputs["judge"] == "claude" and inputs["config"]["criteria"]["min_effect_size"] == 0.3
    assert inputs["generations"]["path"].endswith("generations.jsonl")
    assert result["length_difference"]["n"] == 60
    for name in ("score_distributions", "win_tie_loss", "difference_vs_length"):
        image = matplotlib.image.imread(output / result["plots"][name])
        assert image.shape[0] > 300 and image.shape[1] > 500 and image.std() > 0.05, name


def test_plain_tie_lines_never_count_in_another_comparison(tmp_path, capsys):
    """Ties without `systems` from a retrieval-vs-human comparison, in a file that also compares adapter with base:
    they name no pair, so they cannot be read as adapter-vs-base ties."""
    rows = [
        {"item_id": f"t{i}", "order": order, "winner": "adapter", "systems": shown}
        for i in range(10)
        for order, shown in ((1, ["base", "adapter"]), (2, ["adapter", "base"]))
    ]
    rows += [{"item_id": f"t{i}", "order": order, "winner": "tie"} for i in range(10, 20) for order in (1, 2)]
    rows += [{"item_id": f"t{i}", "order": 1, "winner": "human", "systems": ["retrieval", "human"]} for i in range(10)]
    code, result = run_stats(tmp_path, rows, "--candidate", "adapter")
    error = capsys.readouterr().err
    assert code == 2 and result is None
    assert "pairwise lines without `systems` (line(s) 21, 22, 23, 24, 25, ...; winners named: [])" in error
    assert "a tie could count in another comparison" in error


def test_item_1_and_item_string_1_are_not_one_item(tmp_path):
    rows = score_rows(BASELINE, CANDIDATE)
    rows[6] = {**rows[6], "item_id": 3}  # t3's base score, written as the number 3 ...
    rows += [{"item_id": "3", "system": "adapter", "score": 9}]  # ... and a string "3" for the adapter
    rows += [{"item_id": "3", "system": "base", "score": 1}]
    code, result = run_stats(tmp_path, rows)
    assert code == 0
    reasons = {entry["line"]: entry["reason"] for entry in result["lines"]["rejected_lines"]}
    assert set(reasons) == {33, 34}
    assert reasons[33].startswith("item_id '3' is a string here and a number at line 7")
    assert result["n"] == len(BASELINE) - 1  # t3 has no adapter score; 3 has no pair: neither is paired with "3"


def test_a_mostly_malformed_file_names_its_rejected_lines(tmp_path, capsys):
    rows = score_rows(BASELINE[:4], CANDIDATE[:4]) + ["not json"] * 20 + [{"item_id": "z", "score": 3}] * 5
    code, result = run_stats(tmp_path, rows)
    printed = capsys.readouterr().out
    assert code == 0
    caveat = next(c for c in result["verdict"]["caveats"] if "malformed" in c)
    assert "25 malformed or repeated line(s) rejected" in caveat
    assert "line 9: not JSON; line 10: not JSON; line 11: not JSON; line 12: not JSON; line 13: not JSON" in caveat
    assert "and 20 more" in caveat and "line 9: not JSON" in printed
    code, _ = run_stats(tmp_path, ["not json", '{"item_id": 1}', "[3]"], name="worse.jsonl")
    error = capsys.readouterr().err
    assert code == 2
    assert "line 1: not JSON; line 2: neither a score, a winner nor a parse_error; line 3: not a JSON object" in error


# --- the verdict never outruns its judge ----------------------------------------------------------------------

DATASET = {
    "name": "you/reply-pairs@v2",
    "repo": "you/reply-pairs",
    "folder": None,
    "version": "v2",
    "commit": "c" * 40,
    "data_sha256": "d" * 64,
    "synthetic": False,
    "synthetic_evidence": None,
    "sources": ["tweets.jsonl"],
}
JUDGE = {"judge": "claude", "model": "claude-sonnet-4-6", "prompt_version": "v1", "fingerprint": "f" * 16}


def valid_validity(**judge_changes) -> dict:
    entry = {
        "identity": {**JUDGE, "order_invariant": False},
        "accuracy": 0.66,
        "ci": [0.6, 0.72],
        "position_consistency": 0.9,
        "complete": True,
        **judge_changes,
    }
    return {
        "dataset": DATASET,
        "split": "test",
        "pairs": 300,
        "conversations": 40,
        "baselines": {"longer_reply": {"accuracy": 0.555, "ci": [0.5, 0.61]}, "coin_flip": {"accuracy": 0.5}},
        "judges": {"claude": entry},
        "not_measured": {},
    }


def evaluation(tmp_path, validity, dataset=DATASET, **line_fields):
    """An evaluation folder: Claude's verdicts (every criterion passes), generation_report.json naming the dataset
    version, and validity.json beside them."""
    fields = {"judge": "claude", "model": JUDGE["model"], "prompt_version": "v1", "judge_fingerprint": "f" * 16}
    fields.update(line_fields)
    rows = score_rows(BASELINE, [score + 2 for score in CANDIDATE], **{k: v for k, v in fields.items() if v})
    (tmp_path / "generation_report.json").write_text(json.dumps({"dataset": {"identity": dataset}}))
    if validity is not None:
        (tmp_path / "validity").mkdir(exist_ok=True)
        (tmp_path / "validity" / "validity.json").write_text(json.dumps(validity))
    return run_stats(tmp_path, rows)


def test_criteria_met_when_the_judge_was_validated_here_and_beats_length(tmp_path, capsys):
    code, result = evaluation(tmp_path, valid_validity())
    assert code == 0
    verdict = result["verdict"]
    assert verdict["criteria_met"] is True and verdict["established"] is True
    assert verdict["judge_validity"]["established"] and verdict["judge_validity"]["failed"] is None
    assert verdict["judge_validity"]["reason"].startswith("validated on 300 real held-out pairs of you/reply-pairs@v2")
    assert result["inputs"]["validity"]["path"].endswith("validity/validity.json")
    assert result["inputs"]["judge_identity"] == JUDGE
    assert "verdict: CRITERIA MET" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("change", "failed", "detail"),
    [
        ({"validity": None}, "no validity.json", "the judge was never validated against real likes here"),
        (
            {"validity": {**valid_validity(), "dataset": {**DATASET, "version": "v3", "data_sha256": "e" * 64}}},
            "another dataset",
            "validity.json measured judges on you/reply-pairs@v3",
        ),
        (
            {"validity": {**valid_validity(), "dataset": None, "threads": ["rumoureval/"]}},
            "another dataset",
            "measured judges on ['rumoureval/'], not on held-out pairs of you/reply-pairs@v2",
        ),
        ({"dataset": None}, "another dataset", "the evaluation does not record its dataset version"),
        (
            {"validity": {**valid_validity(), "dataset": {**DATASET, "synthetic": True, "synthetic_evidence": "x"}}},
            "synthetic pairs",
            "the held-out pairs are synthetic (x)",
        ),
        (
            {"validity": valid_validity(identity={**JUDGE, "fingerprint": "0" * 16})},
            "another judge",
            "settings hash 0000000000000000); these verdicts are claude (claude-sonnet-4-6, prompt v1, settings",
        ),
        ({"judge_fingerprint": None}, "another judge", "these verdicts are an unrecorded judge"),
        (
            {"validity": {**valid_validity(), "judges": {}, "not_measured": {"claude": "it judged nothing"}}},
            "another judge",
            "validity.json has no figure for judge claude: it judged nothing",
        ),
        ({"validity": valid_validity(accuracy=0.55)}, "below length", "accuracy 55.0% against 55.5%"),
        (
            {"validity": valid_validity(accuracy=0.6, ci=[0.53, 0.67])},
            "CI not above length",
            "the 95% CI of its accuracy starts at 53.0%, not above the longer reply's 55.5%",
        ),
        (
            {"validity": valid_validity(position_consistency=0.5)},
            "position consistency 0.50 < 0.8",
            "it kept its verdict on 50.0% of pairs when the order was swapped",
        ),
        ({"validity": valid_validity(complete=False)}, "incomplete validation", "the validation run stopped short"),
    ],
)
def test_the_verdict_is_not_established_when_the_judge_is_not_valid_here_and_names_the_check(
    tmp_path, capsys, change, failed, detail
):
    validity = change.pop("validity", valid_validity())
    dataset = change.pop("dataset", DATASET)
    code, result = evaluation(tmp_path, validity, dataset, **change)
    assert code == 0
    verdict = result["verdict"]
    assert verdict["statistical_criteria_met"] is True  # every statistical criterion holds ...
    assert verdict["criteria_met"] is False and verdict["established"] is False  # ... and it is no verdict
    assert verdict["judge_validity"]["failed"] == failed
    assert verdict["summary"].startswith(f"not established: the judge is not valid here ({failed}: ")
    assert detail in verdict["summary"]
    assert "the statistical criteria alone: met" in verdict["summary"]
    printed = capsys.readouterr().out
    assert "verdict: NOT ESTABLISHED: the judge is not valid here" in printed and "CRITERIA MET" not in printed


def test_an_order_invariant_judge_passes_the_position_check_by_construction(tmp_path):
    validity = valid_validity(identity={**JUDGE, "order_invariant": True}, position_consistency=1.0)
    code, result = evaluation(tmp_path, validity)
    assert code == 0 and result["verdict"]["criteria_met"] is True
    check = result["verdict"]["judge_validity"]["checks"][-1]
    assert check["met"] and "(1 by construction: it scores each reply on its own)" in check["detail"]


def test_a_centred_score_reads_the_win_rate_for_relative_improvement_never_a_percent_of_its_mean(tmp_path, capsys):
    """The engagement judge's scores are centred (0: a conversation's average reply): a base mean of -0.09 would
    make +0.5 a 562% "improvement". The criterion reads the win rates instead, and says so."""
    rng = np.random.default_rng(3)
    baseline = (rng.normal(-0.09, 0.3, 38)).round(4).tolist()
    candidate = (np.array(baseline) + rng.normal(0.5, 0.4, 38)).round(4).tolist()
    rows = score_rows(baseline, candidate, judge="engagement")
    code, result = run_stats(tmp_path, rows)
    printed = capsys.readouterr().out
    assert code == 0
    assert result["score_scale"] == {"scale": "centred", "why": "the engagement judge's scores are centred"}
    assert result["relative_improvement_pct"] is None
    win_rate = result["pairwise"]["win_rate"]
    improvement = result["relative_improvement"]
    assert improvement["of"] == "win rate"
    assert improvement["pct"] == pytest.approx(100 * (win_rate - (1 - win_rate)) / (1 - win_rate))
    criterion = result["verdict"]["criteria"]["relative_improvement_pct"]
    assert criterion["of"] == "win rate" and criterion["value"] == pytest.approx(improvement["pct"])
    assert criterion["description"].startswith("win rate at least 15% above the baseline's (the scores are centred")
    assert "% of the win rate over the baseline's (centred scores: their mean has no true zero)" in printed
    # the same numbers on a 1-10 scale read the mean, as the original spec's criterion does
    (tmp_path / "rubric.yaml").write_text("stats:\n  score_scale: 1-10\n")
    _, rubric = run_stats(tmp_path, rows, "--config", str(tmp_path / "rubric.yaml"))
    assert rubric["relative_improvement"]["of"] == "mean score" and rubric["relative_improvement_pct"] > 100
