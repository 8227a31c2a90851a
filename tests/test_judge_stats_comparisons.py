"""judge stats with several comparisons in one run (base, an SFT adapter and a DPO adapter on top of it): each
comparison is the one a single run would compute, the Holm correction spans every test of every comparison, each
comparison has its own verdict and plots, and a malformed choice is refused before anything is written."""

import json

import numpy as np
import pytest
from scipy import stats

from judge.__main__ import main

# Scores of 20 held-out tweets: the DPO adapter a little above the SFT one, both well above the base.
RNG = np.random.default_rng(7)
SCORES = {
    "base": RNG.normal(0.0, 1.0, 20),
}
SCORES["sft"] = SCORES["base"] + RNG.normal(0.9, 0.8, 20)
SCORES["dpo"] = SCORES["sft"] + RNG.normal(0.25, 0.8, 20)
COMPARISONS = [("dpo", "sft"), ("dpo", "base"), ("sft", "base")]


def three_system_rows() -> list[dict]:
    """Single-answer scores of the three systems and, for every pair, both pairwise orders (the higher score wins)."""
    rows = []
    for item in range(20):
        rows += [{"item_id": f"t{item}", "system": name, "score": float(SCORES[name][item])} for name in SCORES]
        for first, second in (("base", "sft"), ("base", "dpo"), ("sft", "dpo")):
            winner = first if SCORES[first][item] > SCORES[second][item] else second
            rows += [
                {"item_id": f"t{item}", "order": 1, "systems": [first, second], "winner": winner},
                {"item_id": f"t{item}", "order": 2, "systems": [second, first], "winner": winner},
            ]
    return rows


def run_stats(tmp_path, *arguments, output="eval"):
    verdicts = tmp_path / "verdicts.jsonl"
    if not verdicts.exists():
        verdicts.write_text("".join(json.dumps(row) + "\n" for row in three_system_rows()))
    code = main(["stats", "--verdicts", str(verdicts), "--output", str(tmp_path / output), *arguments])
    path = tmp_path / output / "stats.json"
    return code, json.loads(path.read_text()) if path.exists() else None


def closed_form_holm(p_values: list[float]) -> list[float]:
    order = np.argsort(p_values)
    adjusted, running = np.empty(len(p_values)), 0.0
    for rank, index in enumerate(order):
        running = max(running, min(1.0, (len(p_values) - rank) * p_values[index]))
        adjusted[index] = running
    return list(adjusted)


def test_three_comparisons_share_one_holm_family_and_each_has_its_verdict_and_plots(tmp_path, capsys):
    arguments = [part for candidate, baseline in COMPARISONS for part in ("--compare", f"{candidate}:{baseline}")]
    code, result = run_stats(tmp_path, *arguments)
    assert code == 0
    assert [(each["candidate"], each["baseline"]) for each in result["comparisons"]] == COMPARISONS
    # the top level is the first comparison, as a one-comparison stats.json reads
    assert (result["candidate"], result["baseline"]) == COMPARISONS[0]
    assert result["pairwise"] == result["comparisons"][0]["pairwise"]

    raw = []
    for (candidate, baseline), each in zip(COMPARISONS, result["comparisons"]):
        differences = SCORES[candidate] - SCORES[baseline]
        wins = int(np.sum(differences > 0))
        assert each["pairwise"]["source"] == "pairwise verdicts"
        assert (each["pairwise"]["wins"], each["pairwise"]["losses"]) == (wins, 20 - wins)
        # each comparison's raw p-values are those of a run that compares these two systems alone
        wilcoxon_p = stats.wilcoxon(differences, zero_method="pratt").pvalue
        sign_p = stats.binomtest(wins, 20).pvalue
        assert each["holm"]["p"] == {"wilcoxon": pytest.approx(wilcoxon_p), "sign_test": pytest.approx(sign_p)}
        code, alone = run_stats(
            tmp_path, "--candidate", candidate, "--baseline", baseline, output=f"alone-{candidate}"
        )
        assert code == 0 and alone["holm"]["p"] == pytest.approx(each["holm"]["p"])
        assert "comparisons" not in alone or len(alone["comparisons"]) == 1
        raw += [wilcoxon_p, sign_p]
        assert each["holm"]["across"] == {"comparisons": ["dpo:sft", "dpo:base", "sft:base"], "tests": 6}

    # Holm over all six tests, not three families of two
    expected = closed_form_holm(raw)
    adjusted = [p for each in result["comparisons"] for p in each["holm"]["adjusted_p"].values()]
    assert adjusted == pytest.approx(expected)
    dpo_vs_sft = result["comparisons"][0]
    alone = json.loads((tmp_path / "alone-dpo" / "stats.json").read_text())
    assert max(dpo_vs_sft["holm"]["adjusted_p"].values()) >= max(alone["holm"]["adjusted_p"].values())
    for each in result["comparisons"]:
        significance = each["verdict"]["criteria"]["significance"]
        assert significance["value"] == pytest.approx(max(each["holm"]["adjusted_p"].values()))
        # no validity.json: no comparison claims more than its judge allows
        assert each["verdict"]["established"] is False

    # the first comparison's plots beside stats.json, the others' in their own folders
    assert result["plots"]["win_tie_loss"] == "win_tie_loss.png"
    assert (tmp_path / "eval" / "win_tie_loss.png").is_file()
    for candidate, baseline in COMPARISONS[1:]:
        each = next(c for c in result["comparisons"] if (c["candidate"], c["baseline"]) == (candidate, baseline))
        assert each["plots"]["win_tie_loss"] == f"{candidate}-vs-{baseline}/win_tie_loss.png"
        assert (tmp_path / "eval" / each["plots"]["win_tie_loss"]).is_file()

    printed = capsys.readouterr().out
    assert "3 comparisons, Holm-adjusted over their 6 tests:" in printed
    for candidate, baseline in COMPARISONS:
        assert f"  {candidate} vs {baseline}: " in printed


def test_the_config_lists_the_comparisons_and_the_flag_replaces_them(tmp_path):
    config = tmp_path / "judge.yaml"
    config.write_text("stats:\n  comparisons: [sft:base, dpo:base]\n")
    code, result = run_stats(tmp_path, "--config", str(config))
    assert code == 0
    assert [(c["candidate"], c["baseline"]) for c in result["comparisons"]] == [("sft", "base"), ("dpo", "base")]
    code, result = run_stats(tmp_path, "--config", str(config), "--compare", "dpo:sft", output="flag")
    assert code == 0 and [(c["candidate"], c["baseline"]) for c in result["comparisons"]] == [("dpo", "sft")]
    # one comparison: Holm over its own two tests
    own = list(result["holm"]["p"].values())
    assert list(result["holm"]["adjusted_p"].values()) == pytest.approx(closed_form_holm(own))
    assert "across" not in result["holm"]


@pytest.mark.parametrize(
    "arguments, message",
    [
        (["--compare", "dpo"], "a comparison is CANDIDATE:BASELINE"),
        (["--compare", "dpo:dpo"], "a comparison is CANDIDATE:BASELINE"),
        (["--compare", "dpo:sft", "--compare", "dpo:sft"], "repeats a comparison"),
        (["--compare", "dpo:sft", "--candidate", "dpo"], "leave out --candidate and --baseline"),
        (["--compare", "dpo:sft", "--compare", "rlhf:base"], "rlhf"),
    ],
)
def test_a_malformed_or_impossible_comparison_is_refused_before_anything_is_written(
    tmp_path, capsys, arguments, message
):
    code, result = run_stats(tmp_path, *arguments)
    assert code == 2 and result is None
    assert message in capsys.readouterr().err


def test_a_config_with_a_malformed_comparison_names_the_field(tmp_path, capsys):
    config = tmp_path / "judge.yaml"
    config.write_text("stats:\n  comparisons: [dpo-sft]\n")
    code, _ = run_stats(tmp_path, "--config", str(config))
    assert code == 2
    error = capsys.readouterr().err
    assert "comparisons" in error and "CANDIDATE:BASELINE" in error
