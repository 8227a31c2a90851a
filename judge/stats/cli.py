"""Paired significance of candidate vs baseline over the judge's verdicts, and the verdict against the criteria.

    python -m judge stats --verdicts DIR/verdicts.jsonl --output DIR [--config judge/configs/default.yaml]
                          [--baseline base --candidate adapter | --compare dpo:sft --compare dpo:base ...]
                          [--judge NAME] [--generations FILE]

Reads single-answer lines {item_id, system, score} and pairwise lines {item_id, order, winner} (one file may mix
them) and writes DIR/stats.json, DIR/score_distributions.png, DIR/win_tie_loss.png and
DIR/difference_vs_length.png (reply lengths come from generations.jsonl beside the verdicts, or --generations).
The verdict rests on single-answer scores when the file has them for both systems, else on pairwise verdicts, and it
never outruns its judge: "criteria met" only when validity.json (--validity, else beside the verdicts or in their
validity/ folder) shows this judge valid on real held-out pairs of the dataset version generation_report.json names
(judge/provenance.py); else "not established: the judge is not valid here", naming the check that failed.

Several comparisons (--compare CANDIDATE:BASELINE, repeatable, or stats.comparisons) are tested in one run with
Holm's correction over all their tests together, each with its own verdict: stats.json's top level is the first,
its `comparisons` lists every one, and the plots of the second and later ones go to DIR/CANDIDATE-vs-BASELINE/.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
from pathlib import Path

import numpy as np

from judge.config import DEFAULT_CONFIG_PATH, StatsConfig, load_judge_config, parse_comparison
from judge.provenance import apply_to_verdict, judge_validity_check
from judge.records import (
    CENTRED_SCALE,
    GENERATION_REPORT_FILE_NAME,
    GENERATIONS_FILE_NAME,
    LOSS,
    PAIRWISE,
    RUBRIC_SCALE,
    SINGLE,
    STATS_FILE_NAME,
    STATS_PLOT_FILE_NAMES,
    TIE,
    VALIDITY_FILE_NAME,
    VALIDITY_FOLDERS,
    WIN,
    combined_winner,
    read_jsonl,
    score_scale,
)
from judge.stats.criteria import PAIRWISE_ONLY, SCORES, Evidence, format_number, judge_criteria
from judge.stats.verdicts import Comparison, describe_rejected, read_verdicts, select_comparison
from replytune.errors import EXIT_FAILED, EXIT_REFUSED, InputError, Refused
from replytune.files import sha256_of, write_json_atomically
from replytune.secrets import redact

# 2: the verdict is bounded by the judge's validity (verdict.judge_validity), score_scale. Keys added since
# (comparisons, holm.p, holm.across) leave a format-2 reader right about the first comparison.
STATS_FORMAT = 2
LISTED_IDS = 100  # item ids listed per category in stats.json (all are counted)
# stats.json counts parse errors by the verdict's kind, and has named a single-answer verdict "single_answer" since
# its first format.
PARSE_ERROR_KEYS = {SINGLE: "single_answer"}
OUTCOME_VALUE = {WIN: 1.0, TIE: 0.5, LOSS: 0.0}  # the win rate counts a tie as half a win
# A judge that reverses itself on more than one item in five when the order is swapped is a weak instrument: the
# verdict says so (the rate itself is always in stats.json).
INCONSISTENCY_CAVEAT = 0.2

log = logging.getLogger("judge.stats")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--verdicts", type=Path, required=True, help="verdicts.jsonl from judge score, or plain JSONL")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help="YAML config (default: %(default)s)")
    parser.add_argument("--output", type=Path, required=True, help="folder for stats.json and the plots")
    parser.add_argument("--baseline", default=None, help="the system measured against (default: stats.baseline)")
    parser.add_argument("--candidate", default=None, help="the system under test (default: stats.candidate)")
    parser.add_argument(
        "--compare",
        action="append",
        default=None,
        metavar="CANDIDATE:BASELINE",
        help="one comparison of several (repeatable; default: stats.comparisons): Holm's correction runs over all of "
        "them, the first is stats.json's top level",
    )
    parser.add_argument("--judge", default=None, help="which judge's verdicts, when the file holds several")
    parser.add_argument(
        "--generations",
        type=Path,
        default=None,
        help="generations.jsonl for the reply lengths (default: the one beside --verdicts, if any); the "
        "generation_report.json beside it names the dataset version evaluated",
    )
    parser.add_argument(
        "--validity",
        type=Path,
        default=None,
        help="validity.json of `judge validate` (default: beside --verdicts, or in its validity/ folder): the verdict "
        "says 'criteria met' only when it shows this judge valid on held-out pairs of this dataset version",
    )


def run(args: argparse.Namespace) -> int:
    try:
        config = load_judge_config(args.config).stats
        verdicts = read_verdicts(args.verdicts)
        comparisons = [
            select_comparison(verdicts, baseline=baseline, candidate=candidate, judge=args.judge or config.judge)
            for candidate, baseline in systems_to_compare(args, config)
        ]
        generations = args.generations or args.verdicts.parent / GENERATIONS_FILE_NAME
        lengths = read_reply_lengths(generations, explicit=args.generations is not None)
        all_results = compute_comparisons(comparisons, config, lengths)
        evaluation = read_evaluation_identity(generations, args.validity, args.verdicts.parent)
    except Refused as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return EXIT_REFUSED
    comparison = comparisons[0]
    check = judge_validity_check(
        evaluation.validity,
        None if evaluation.validity_path is None else str(evaluation.validity_path),
        evaluation.dataset,
        comparison.judge_identity(),
        comparison.judge,
    )
    for results in all_results:  # one judge, one dataset: the same check bounds every comparison's verdict
        results["verdict"] = apply_to_verdict(results["verdict"], check)
    try:
        args.output.mkdir(parents=True, exist_ok=True)
        for index, (each, results) in enumerate(zip(comparisons, all_results)):
            folder = Path(".") if index == 0 else Path(f"{each.candidate}-vs-{each.baseline}")
            (args.output / folder).mkdir(exist_ok=True)
            plots = write_plots(each, results, lengths, args.output / folder)
            results["plots"] = {
                name: (str(folder / path) if isinstance(path, str) and index else path) for name, path in plots.items()
            }
        results = {**all_results[0], "comparisons": all_results}
        results["inputs"] = {
            "verdicts": {"path": str(verdicts.path), "sha256": verdicts.sha256, "lines": verdicts.lines},
            "generations": None if lengths is None else {"path": str(generations), "sha256": lengths.sha256},
            "generation_report": evaluation.file_record("generation_report"),
            "validity": evaluation.file_record("validity"),
            "judge": comparison.judge,
            "judge_identity": comparison.judge_identity(),
            "config_file": str(args.config),
            "config": dataclasses.asdict(config),
            "versions": _versions(),
        }
        write_json_atomically(args.output / STATS_FILE_NAME, results)
    except Exception as error:  # any failure mid-run: the traceback in the log, one redacted line on stderr
        log.exception("stats failed")
        print(f"error: {type(error).__name__}: {redact(str(error))}", file=sys.stderr)
        return EXIT_FAILED
    print("\n\n".join(render_table(each) for each in all_results))
    if len(all_results) > 1:
        print("\n" + render_comparisons(all_results))
    drawn = [name for each in all_results for name in STATS_PLOT_FILE_NAMES if each["plots"][name]]
    print(f"\nwritten: {args.output / STATS_FILE_NAME} and {len(drawn)} plot(s) in {args.output}")
    return 0


def systems_to_compare(args: argparse.Namespace, config: StatsConfig) -> list[tuple[str | None, str | None]]:
    """(candidate, baseline) of each comparison: --compare, else stats.comparisons, else the one comparison
    --candidate/--baseline (or stats.candidate/baseline) name. Raises InputError for a malformed or mixed choice."""
    if args.compare and (args.candidate or args.baseline):
        raise InputError("--compare names every comparison: leave out --candidate and --baseline")
    specs = args.compare or ([] if args.candidate or args.baseline else config.comparisons)
    try:
        pairs = [parse_comparison(spec) for spec in specs]
    except ValueError as error:
        raise InputError(f"--compare: {error}") from error
    if len(set(pairs)) < len(pairs):
        raise InputError(f"--compare repeats a comparison: {', '.join(specs)}")
    return pairs or [(args.candidate or config.candidate, args.baseline or config.baseline)]


def compute_comparisons(comparisons: list[Comparison], config: StatsConfig, lengths=None) -> list[dict]:
    """compute_stats of each comparison, Holm-adjusted over the tests of all of them: with three comparisons of two
    tests each, six p-values share the family-wise level alpha."""
    from judge.stats import significance as sig

    first_pass = [compute_stats(comparison, config, lengths) for comparison in comparisons]
    if len(comparisons) == 1:
        return first_pass
    labels = [f"{each.candidate}:{each.baseline}" for each in comparisons]
    family = {
        (label, test): p for label, results in zip(labels, first_pass) for test, p in results["holm"]["p"].items()
    }
    adjusted = sig.holm_adjust({key: math.nan if p is None else p for key, p in family.items()})
    all_results = []
    for label, comparison in zip(labels, comparisons):
        own = {test: p for (which, test), p in adjusted.items() if which == label}
        results = compute_stats(comparison, config, lengths, adjusted_p=own)
        results["holm"]["across"] = {"comparisons": labels, "tests": len(family)}
        all_results.append(results)
    return all_results


# --- what the evaluation is of, and the judge's validity there ---------------------------------------------------


@dataclasses.dataclass
class EvaluationIdentity:
    dataset: dict | None  # generation_report.json's dataset identity (judge/provenance.py)
    generation_report_path: Path | None
    validity: dict | None
    validity_path: Path | None

    def file_record(self, which: str) -> dict | None:
        """What stats.json records of the file: validity.json by sha256; generation_report.json by the dataset
        identity it holds (the rest of it, timings included, changes when `judge generate` resumes)."""
        if which == "generation_report":
            path = self.generation_report_path
            return None if path is None else {"path": str(path), "dataset": self.dataset}
        path = self.validity_path
        return None if path is None else {"path": str(path), "sha256": sha256_of(path)}


def read_evaluation_identity(generations: Path, validity: Path | None, verdicts_folder: Path) -> EvaluationIdentity:
    """The dataset version the generations came from (generation_report.json beside them) and the validity.json to
    check the judge with (--validity, a file or a folder; else beside the verdicts or in their validity/ folder).
    A --validity that is not there, or either file unreadable, is refused (InputError)."""
    report_path = Path(generations).parent / GENERATION_REPORT_FILE_NAME
    report = _read_json_file(report_path) if report_path.is_file() else None
    dataset = ((report or {}).get("dataset") or {}).get("identity")
    if validity is not None:
        path = validity / VALIDITY_FILE_NAME if validity.is_dir() else validity
        if not path.is_file():
            raise InputError(f"--validity {validity}: no validity.json there (`python -m judge validate` writes it)")
    else:
        found = [verdicts_folder / sub / VALIDITY_FILE_NAME for sub in VALIDITY_FOLDERS]
        path = next((candidate for candidate in found if candidate.is_file()), None)
    document = _read_json_file(path) if path is not None else None
    if document is not None and not isinstance(document.get("judges"), dict):
        raise InputError(f"{path}: not the report `python -m judge validate` writes (no `judges`)")
    return EvaluationIdentity(
        dataset if isinstance(dataset, dict) else None,
        report_path if report is not None else None,
        document,
        path if document is not None else None,
    )


def _read_json_file(path: Path) -> dict:
    import json

    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise InputError(f"{path}: not readable JSON ({error})") from error
    if not isinstance(document, dict):
        raise InputError(f"{path}: expected a JSON object, got {type(document).__name__}")
    return document


# --- the statistics ---------------------------------------------------------------------------------------------


def compute_stats(
    comparison: Comparison,
    config: StatsConfig,
    lengths: ReplyLengths | None = None,
    adjusted_p: dict[str, float] | None = None,
) -> dict:
    """Everything stats.json holds except its inputs and plots. Raises InputError when nothing can be compared.
    `adjusted_p`: the family's Holm-adjusted p-values when the family spans several comparisons (else Holm over this
    comparison's tests alone)."""
    from judge.stats import significance as sig  # scipy.stats: imported when the command runs, so --help stays fast

    baseline, candidate = comparison.baseline, comparison.candidate
    baseline_scores, candidate_scores = comparison.scores[baseline], comparison.scores[candidate]
    paired_items = sorted(set(baseline_scores) & set(candidate_scores))
    baseline_values = np.array([baseline_scores[item] for item in paired_items], dtype=float)
    candidate_values = np.array([candidate_scores[item] for item in paired_items], dtype=float)
    differences = candidate_values - baseline_values

    outcomes, consistent, incomplete = {}, {}, {}
    for item, orders in comparison.pairwise_orders.items():
        if len(orders) == 2:
            winner, consistent[item] = combined_winner(list(orders.values()))
            outcomes[item] = _outcome(winner, comparison)
        else:
            incomplete[item] = _missing_order(item, orders, comparison)
    for item in comparison.unparsed_orders.keys() - comparison.pairwise_orders.keys():
        incomplete[item] = "no order could be parsed"
    pairwise_source = "pairwise verdicts" if outcomes else "score differences"
    if not outcomes:  # a single-answer file still has a per-item winner: the higher score
        outcomes = {item: WIN if d > 0 else LOSS if d < 0 else TIE for item, d in zip(paired_items, differences)}

    if not paired_items and not outcomes:
        raise InputError(_nothing_to_compare(comparison, incomplete))
    analysis = SCORES if paired_items else PAIRWISE_ONLY
    alternative = config.alternative
    n = len(paired_items) if analysis == SCORES else len(outcomes)

    wins = sum(outcome == WIN for outcome in outcomes.values())
    losses = sum(outcome == LOSS for outcome in outcomes.values())
    ties = len(outcomes) - wins - losses
    outcome_values = np.array([OUTCOME_VALUE[outcomes[item]] for item in sorted(outcomes)])
    inconsistent = sum(not ok for ok in consistent.values())
    all_baseline = np.array(list(baseline_scores.values()), dtype=float)
    all_candidate = np.array(list(candidate_scores.values()), dtype=float)
    means = {baseline: _mean(baseline_values), candidate: _mean(candidate_values)} if paired_items else None

    wilcoxon = sig.wilcoxon_signed_rank(differences, alternative) if paired_items else None
    scored_both = len(all_baseline) and len(all_candidate)
    mann_whitney = sig.mann_whitney(all_candidate, all_baseline, alternative) if scored_both else None
    sign_test_p = sig.sign_test(wins, losses, alternative)
    available_p = {
        "wilcoxon": wilcoxon["p"] if wilcoxon else None,
        "sign_test": sign_test_p if pairwise_source == "pairwise verdicts" else None,
        "mann_whitney": mann_whitney["p"] if mann_whitney else None,
    }
    family = {name: available_p[name] for name in config.holm_family if available_p[name] is not None}
    if adjusted_p is None:
        adjusted_p = sig.holm_adjust(family)

    level = 1 - config.alpha
    ci_args = (level, config.bootstrap_resamples, config.bootstrap_seed, config.bootstrap_method)
    mean_difference_ci = sig.bootstrap_ci(differences, *ci_args) if paired_items else (math.nan, math.nan)
    win_rate_ci = sig.bootstrap_ci(outcome_values, *ci_args)
    effect_sizes = {
        "d_z": sig.paired_effect_size(differences),
        "cohen_d_pooled": sig.pooled_cohen_d(all_candidate, all_baseline),
    }
    scale, scale_why = score_scale(
        comparison.judge, config.score_scale, [*baseline_scores.values(), *candidate_scores.values()]
    )
    mean_improvement = sig.relative_improvement_pct(means[candidate], means[baseline]) if means else math.nan
    improvement_of, improvement = "mean score", mean_improvement
    if analysis == SCORES and scale == CENTRED_SCALE:  # no true zero: the win rates, the candidate's over the base's
        improvement_of = "win rate"
        improvement = sig.win_rate_improvement_pct(_mean(outcome_values))

    power_effect = config.power_effect_size
    evidence = Evidence(
        analysis=analysis,
        adjusted_p=adjusted_p,
        effect_sizes=effect_sizes if analysis == SCORES else {},
        relative_improvement_pct=improvement,
        ci=mean_difference_ci if analysis == SCORES else win_rate_ci,
        ci_null=0.0 if analysis == SCORES else 0.5,
        ci_of="mean_difference" if analysis == SCORES else "win_rate",
        improvement_of=improvement_of,
    )
    results = _finite(
        {
            "format": STATS_FORMAT,
            "baseline": baseline,
            "candidate": candidate,
            "judge": comparison.judge,
            "analysis": analysis,
            "n": n,
            "means": means,
            "mean_difference": _mean(differences) if paired_items else None,
            "wilcoxon": wilcoxon and {**wilcoxon, "zero_method": "pratt", "alternative": alternative},
            "mann_whitney": mann_whitney
            and {
                **mann_whitney,
                "n_baseline": len(all_baseline),
                "n_candidate": len(all_candidate),
                "alternative": alternative,
            },
            "effect_size": effect_sizes,
            # of the mean score, on a 1-10 scale only (null on a centred one: relative_improvement says what instead)
            "relative_improvement_pct": mean_improvement if scale == RUBRIC_SCALE else None,
            "relative_improvement": {
                "of": improvement_of,
                "pct": improvement,
                "why": "the scores are centred: their mean has no true zero, so the candidate's win rate is compared "
                "with the baseline's (ties half each)"
                if improvement_of == "win rate"
                else "the candidate's mean score over the baseline's",
            },
            "score_scale": {"scale": scale, "why": scale_why},
            "pairwise": {
                "source": pairwise_source,
                "n": len(outcomes),
                "wins": wins,
                "losses": losses,
                "ties": ties,
                "win_rate": _mean(outcome_values),
                "inconsistent": inconsistent if consistent else None,
                "inconsistency_rate": inconsistent / len(consistent) if consistent else None,
                "sign_test_p": sign_test_p,
                "alternative": alternative,
            },
            "bootstrap_ci": {
                "level": level,
                "method": config.bootstrap_method,
                "resamples": config.bootstrap_resamples,
                "seed": config.bootstrap_seed,
                "resampled": "items",
                "mean_difference": list(mean_difference_ci),
                "win_rate": list(win_rate_ci),
            },
            "holm": {"family": list(config.holm_family), "tests": list(family), "p": family, "adjusted_p": adjusted_p},
            "power": {
                "test": "paired t",
                "effect_size": config.power_effect_size,
                "alpha": config.alpha,
                "alternative": alternative,
                "target": config.power_target,
                "n_required": sig.pairs_needed(power_effect, config.alpha, config.power_target, alternative),
                "n": n,
                "achieved_power": sig.paired_t_power(n, power_effect, config.alpha, alternative),
            },
            "length_difference": _length_correlation(comparison, paired_items, differences, outcomes, lengths),
            "verdict": judge_criteria(evidence, config.criteria, config.alpha),
            "items": {
                "paired": len(paired_items),
                "baseline_only": _listed(set(baseline_scores) - set(candidate_scores)),
                "candidate_only": _listed(set(candidate_scores) - set(baseline_scores)),
                "pairwise_incomplete": _listed(incomplete),
                "unparsed": _unparsed_items(comparison),
            },
            "lines": {
                "parse_errors": _parse_error_counts(comparison),
                "rejected": len(comparison.rejected),
                "rejected_reasons": _reason_counts(comparison.rejected),
                "rejected_lines": [
                    {"line": line, "reason": reason} for line, reason in comparison.rejected[:LISTED_IDS]
                ],
                "skipped": {reason: count for reason, count in comparison.skipped.items() if count},
                "systems_in_file": comparison.systems_in_file,
                "judges_in_file": comparison.judges_in_file,
            },
        }
    )
    results["verdict"]["caveats"] = _caveats(results)
    return results


def _caveats(results: dict) -> list[str]:
    """What a reader of the verdict should know about the data under it (the card quotes these)."""
    items, lines, power, pairwise = results["items"], results["lines"], results["power"], results["pairwise"]
    caveats = []
    if power["n"] < power["n_required"]:
        caveats.append(
            f"underpowered: {power['n']} item(s), while a paired t-test needs {power['n_required']} for "
            f"{power['target']:g} power at d_z = {power['effect_size']:g}"
        )
    for role in ("baseline_only", "candidate_only"):
        if items[role]["count"]:
            system = results["baseline" if role == "baseline_only" else "candidate"]
            caveats.append(f"{items[role]['count']} item(s) scored only for {system}, left out of the paired tests")
    if items["pairwise_incomplete"]["count"]:
        caveats.append(f"{items['pairwise_incomplete']['count']} pairwise item(s) with one order only, left out")
    if lines["parse_errors"]:
        affected = ", ".join(f"{what} {count}" for what, count in sorted(items["unparsed"].items()))
        caveats.append(
            f"{sum(lines['parse_errors'].values())} verdict(s) the judge gave but could not be parsed "
            f"(items affected: {affected or 'none of these two systems'})"
        )
    if lines["rejected"]:
        listed = [(entry["line"], entry["reason"]) for entry in lines["rejected_lines"]]
        caveats.append(
            f"{lines['rejected']} malformed or repeated line(s) rejected: {lines['rejected_reasons']}; "
            f"{describe_rejected(listed, lines['rejected'])}"
        )
    if pairwise["inconsistency_rate"] is not None and pairwise["inconsistency_rate"] > INCONSISTENCY_CAVEAT:
        caveats.append(
            f"the judge changed its pairwise verdict when the order was swapped on "
            f"{pairwise['inconsistency_rate']:.1%} of items (counted as ties)"
        )
    return caveats


def _outcome(winner: str, comparison: Comparison) -> str:
    """The combined winner of one item's two orders from the candidate's side: WIN, LOSS or TIE."""
    return TIE if winner == TIE else WIN if winner == comparison.candidate else LOSS


def _parse_error_counts(comparison: Comparison) -> dict[str, int]:
    return {PARSE_ERROR_KEYS.get(kind, kind): count for kind, count in comparison.parse_errors.items()}


def _missing_order(item: str, orders: dict[int, str], comparison: Comparison) -> str:
    missing = 2 if 1 in orders else 1
    unparsed = comparison.unparsed_orders.get(item, set())
    return f"order {missing} unparsed" if missing in unparsed or None in unparsed else f"order {missing} missing"


def _nothing_to_compare(comparison: Comparison, incomplete: dict) -> str:
    baseline, candidate = comparison.baseline, comparison.candidate
    counts = {system: len(comparison.scores[system]) for system in (baseline, candidate)}
    return (
        f"{comparison.source}: nothing to compare {candidate!r} with {baseline!r}: no item has scores from both "
        f"({counts[baseline]} scored for {baseline}, {counts[candidate]} for {candidate}) and no item has both "
        f"pairwise orders ({len(incomplete)} with one only); parse errors: {_parse_error_counts(comparison) or 0}, "
        f"rejected lines: {len(comparison.rejected)}"
    )


def _unparsed_items(comparison: Comparison) -> dict[str, int]:
    """How many items lost a verdict to a parse error: per system for scores, and for pairwise verdicts."""
    counts: dict[str, int] = {}
    for systems in comparison.unparsed_scores.values():
        for system in systems:
            counts[system] = counts.get(system, 0) + 1
    if comparison.unparsed_orders:
        counts[PAIRWISE] = len(comparison.unparsed_orders)
    return counts


def _length_correlation(comparison, paired_items, differences, outcomes, lengths) -> dict | None:
    points = _length_points(comparison, paired_items, differences, outcomes, lengths)
    if points is None:
        return None
    from scipy import stats

    length_differences, verdict_differences, what = points
    rho, p = (math.nan, math.nan)
    if len(length_differences) >= 3 and np.ptp(length_differences) > 0 and np.ptp(verdict_differences) > 0:
        result = stats.spearmanr(length_differences, verdict_differences)
        rho, p = float(result.statistic), float(result.pvalue)
    return {"n": len(length_differences), "of": what, "spearman_rho": rho, "p": p}


def _length_points(comparison, paired_items, differences, outcomes, lengths):
    """(length differences, verdict differences, what the verdict difference is) for items with both lengths."""
    if lengths is None:
        return None
    baseline, candidate = comparison.baseline, comparison.candidate
    if paired_items:
        pairs = zip(paired_items, differences)
        what = "score difference"
    else:
        pairs = ((item, OUTCOME_VALUE[outcome] * 2 - 1) for item, outcome in sorted(outcomes.items()))
        what = "pairwise outcome (+1 win, 0 tie, -1 loss)"
    x, y = [], []
    for item, difference in pairs:
        candidate_length = lengths.chars.get((item, candidate))
        baseline_length = lengths.chars.get((item, baseline))
        if candidate_length is not None and baseline_length is not None:
            x.append(candidate_length - baseline_length)
            y.append(difference)
    return np.array(x, dtype=float), np.array(y, dtype=float), what


# --- reply lengths from generations.jsonl ---------------------------------------------------------------------


@dataclasses.dataclass
class ReplyLengths:
    chars: dict[tuple[str, str], int]  # (item_id, system) -> characters in the reply
    sha256: str
    unreadable_lines: int


def read_reply_lengths(path: Path, explicit: bool) -> ReplyLengths | None:
    """Reply lengths for the length plot. A missing file is fine unless the user named it; bad lines are counted."""
    import hashlib

    if not path.is_file():
        if explicit:
            raise InputError(f"{path}: generations file not found")
        return None
    data = path.read_bytes()
    contents = read_jsonl(path)
    chars, unreadable = {}, len(contents.problems)
    for _, record in contents.rows:
        try:
            chars[(str(record["item_id"]), record["system"])] = len(record["reply"])
        except (KeyError, TypeError):
            unreadable += 1
    if unreadable:
        log.warning("%s: %d line(s) without item_id, system and reply were not used for lengths", path, unreadable)
    return ReplyLengths(chars, hashlib.sha256(data).hexdigest(), unreadable)


# --- plots, stats.json, the printed table ------------------------------------------------------------------------


def write_plots(comparison: Comparison, results: dict, lengths: ReplyLengths | None, folder: Path) -> dict:
    """The three PNGs; a plot the data cannot draw (no scores, no reply lengths) is null in stats.json, with why."""
    from scipy import stats

    from judge import plots

    baseline, candidate = comparison.baseline, comparison.candidate
    written: dict[str, str | None] = {}
    why_not: dict[str, str] = {}
    if comparison.scores[baseline] or comparison.scores[candidate]:
        plots.plot_score_distributions(
            {system: np.array(list(comparison.scores[system].values())) for system in (baseline, candidate)},
            folder / STATS_PLOT_FILE_NAMES["score_distributions"],
            f"single-answer scores ({comparison.judge or 'unnamed judge'}), all scored items",
        )
        written["score_distributions"] = STATS_PLOT_FILE_NAMES["score_distributions"]
    else:
        why_not["score_distributions"] = "no single-answer scores in the verdicts"

    pairwise = results["pairwise"]
    counts = {"win": pairwise["wins"], "tie": pairwise["ties"], "loss": pairwise["losses"]}
    intervals = {
        name: tuple(stats.binomtest(count, pairwise["n"]).proportion_ci(1 - results["power"]["alpha"]))
        for name, count in counts.items()
    }
    low, high = results["bootstrap_ci"]["win_rate"]
    plots.plot_win_tie_loss(
        counts,
        intervals,
        folder / STATS_PLOT_FILE_NAMES["win_tie_loss"],
        f"{candidate} vs {baseline}, from {pairwise['source']}\nwin rate (a tie counts half) "
        f"{format_number(pairwise['win_rate'])}, {100 * results['bootstrap_ci']['level']:g}% bootstrap CI "
        f"[{format_number(low)}, {format_number(high)}]",
    )
    written["win_tie_loss"] = STATS_PLOT_FILE_NAMES["win_tie_loss"]

    paired_items = sorted(set(comparison.scores[baseline]) & set(comparison.scores[candidate]))
    differences = np.array([comparison.scores[candidate][i] - comparison.scores[baseline][i] for i in paired_items])
    outcomes = _outcomes_for_plot(comparison, paired_items)
    points = _length_points(comparison, paired_items, differences, outcomes, lengths)
    if points is None or len(points[0]) == 0:
        why_not["difference_vs_length"] = (
            "no reply lengths: generations.jsonl was not found beside the verdicts (or pass --generations)"
            if points is None
            else "no item has reply lengths for both systems in the generations file"
        )
    else:
        x, y, what = points
        rho = (results["length_difference"] or {}).get("spearman_rho")
        plots.plot_difference_vs_length(
            x,
            y,
            folder / STATS_PLOT_FILE_NAMES["difference_vs_length"],
            f"{what} vs reply length difference\n(n = {len(x)}, Spearman rho {format_number(rho)})",
            f"{what}, {candidate} - {baseline}" if what == "score difference" else what,
        )
        written["difference_vs_length"] = STATS_PLOT_FILE_NAMES["difference_vs_length"]
    for name, reason in why_not.items():
        log.warning("%s.png not drawn: %s", name, reason)
    return {name: written.get(name) for name in STATS_PLOT_FILE_NAMES} | {"not_drawn": why_not}


def _outcomes_for_plot(comparison: Comparison, paired_items: list[str]) -> dict:
    if paired_items:
        return {}
    return {
        item: _outcome(combined_winner(list(orders.values()))[0], comparison)
        for item, orders in comparison.pairwise_orders.items()
        if len(orders) == 2
    }


def render_table(results: dict) -> str:
    """The printed summary: every number the verdict reads, with enough digits to see which side of its threshold
    it falls on."""
    baseline, candidate = results["baseline"], results["candidate"]
    pairwise, ci, power = results["pairwise"], results["bootstrap_ci"], results["power"]
    level = f"{100 * ci['level']:g}%"
    rows = [
        f"judge stats: {candidate} (candidate) vs {baseline} (baseline), judge {results['judge'] or '(unnamed)'}",
        f"  verdict rests on {results['analysis']}: n = {results['n']} items",
    ]
    if results["means"]:
        rows += [
            f"  mean score            {baseline} {format_number(results['means'][baseline])}   "
            f"{candidate} {format_number(results['means'][candidate])}   "
            f"difference {format_number(results['mean_difference'])}  {level} CI "
            f"[{format_number(ci['mean_difference'][0])}, {format_number(ci['mean_difference'][1])}]",
            f"  Wilcoxon (Pratt)      statistic {format_number(results['wilcoxon']['statistic'])}   "
            f"p {format_number(results['wilcoxon']['p'])}",
            f"  effect size           d_z {format_number(results['effect_size']['d_z'])}   "
            f"Cohen's d pooled {format_number(results['effect_size']['cohen_d_pooled'])}",
            "  relative improvement  "
            + (
                f"{format_number(results['relative_improvement_pct'])}% of the mean score"
                if results["relative_improvement"]["of"] == "mean score"
                else f"{format_number(results['relative_improvement']['pct'])}% of the win rate over the baseline's "
                f"({results['score_scale']['scale']} scores: their mean has no true zero)"
            ),
        ]
    if results["mann_whitney"]:
        rows.append(
            f"  Mann-Whitney U        U {format_number(results['mann_whitney']['u'])}   "
            f"p {format_number(results['mann_whitney']['p'])}   (unpaired, all scored items)"
        )
    inconsistency = pairwise["inconsistency_rate"]
    rows += [
        f"  pairwise ({pairwise['source']}): {pairwise['wins']} wins, {pairwise['ties']} ties, "
        f"{pairwise['losses']} losses; win rate {format_number(pairwise['win_rate'])} {level} CI "
        f"[{format_number(ci['win_rate'][0])}, {format_number(ci['win_rate'][1])}]; "
        f"sign test p {format_number(pairwise['sign_test_p'])}"
        + (f"; inconsistent orders {format_number(inconsistency)}" if inconsistency is not None else ""),
        "  Holm-adjusted p       "
        + ("   ".join(f"{name} {format_number(p)}" for name, p in results["holm"]["adjusted_p"].items()) or "none"),
        f"  power (paired t)      n = {power['n']} gives {format_number(power['achieved_power'])} power for "
        f"d_z = {power['effect_size']:g}; {power['n_required']} items needed for {power['target']:g}",
    ]
    verdict = results["verdict"]
    validity = verdict.get("judge_validity") or {}
    if verdict.get("established", True):
        rows += ["", f"verdict: {'CRITERIA MET' if verdict['criteria_met'] else 'CRITERIA NOT MET'}"]
        if validity.get("reason"):
            rows.append(f"  the judge: {validity['reason']}")
    else:
        statistics = "met" if verdict.get("statistical_criteria_met") else "not met"
        rows += [
            "",
            f"verdict: NOT ESTABLISHED: the judge is not valid here ({validity.get('reason')})",
            f"  the statistical criteria alone ({statistics}), which say nothing without a valid judge:",
        ]
    for name, criterion in verdict["criteria"].items():
        value = criterion["value"]
        if value is None:
            shown = f"n/a ({criterion['reason']})"
        elif isinstance(value, list):
            shown = f"[{format_number(value[0], '>', criterion['threshold'])}, {format_number(value[1])}]"
        else:
            shown = format_number(value, criterion["comparison"], criterion["threshold"])
        mark = "met    " if criterion["met"] else "NOT met"
        rows.append(f"  {mark}  {name:<26} {shown}  (needs {criterion['comparison']} {criterion['threshold']:g})")
    rows += [f"  caveat: {caveat}" for caveat in verdict["caveats"]]
    return "\n".join(rows)


def render_comparisons(all_results: list[dict]) -> str:
    """One line per comparison: the figures and the verdict each one has."""
    tests = all_results[0]["holm"]["across"]["tests"]
    rows = [f"{len(all_results)} comparisons, Holm-adjusted over their {tests} tests:"]
    for results in all_results:
        pairwise, low_high = results["pairwise"], results["bootstrap_ci"]["win_rate"]
        adjusted = "   ".join(f"{test} {format_number(p)}" for test, p in results["holm"]["adjusted_p"].items())
        rows.append(
            f"  {results['candidate']} vs {results['baseline']}: {pairwise['wins']}/{pairwise['ties']}/"
            f"{pairwise['losses']} (win/tie/loss), win rate {format_number(pairwise['win_rate'])} "
            f"[{format_number(low_high[0])}, {format_number(low_high[1])}]; Holm p {adjusted or 'none'}; "
            f"{_verdict_words(results['verdict'])}"
        )
    return "\n".join(rows)


def _verdict_words(verdict: dict) -> str:
    if not verdict.get("established", True):
        return "NOT ESTABLISHED: the judge is not valid here"
    return "CRITERIA MET" if verdict["criteria_met"] else "criteria not met"


def _finite(value):
    """JSON has no NaN or infinity: an undefined number is null (the verdict already says why)."""
    if isinstance(value, dict):
        return {key: _finite(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(item) for item in value]
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _mean(values: np.ndarray) -> float:
    return float(np.mean(values)) if len(values) else math.nan


def _listed(items) -> dict:
    ordered = sorted(items)
    listed = {"count": len(ordered), "item_ids": ordered[:LISTED_IDS]}
    if isinstance(items, dict):
        listed["why"] = {item: items[item] for item in ordered[:LISTED_IDS]}
    return listed


def _reason_counts(rejected: list[tuple[int, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for _, reason in rejected:
        general = reason.split(" (first at line")[0].split(", got ")[0]  # the reason without the line's value
        if general.startswith("repeats"):
            general = "repeats an item already read"
        counts[general] = counts.get(general, 0) + 1
    return counts


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for package in ("replytune", "scipy", "numpy"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            found[package] = None
    return found
