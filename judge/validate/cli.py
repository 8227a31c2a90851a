"""`python -m judge validate`: how often does each judge prefer the reply that real people liked more?

    python -m judge validate --config judge/configs/default.yaml --threads EXPORT [EXPORT ...] \\
        --judge engagement [--judge claude ...] --output DIR [--max-cost USD] [--batch] [--max-pairs N]
    python -m judge validate --dataset DIR_OR_REPO[@vN] [--split test] --judge ... --output DIR

Input: real threads with like counts, either tweet exports (Apify or X API JSON/JSONL, the files `data_prep
build` reads, through the same readers and pairing), or the held-out split of a data_prep dataset. Every pair of
direct replies to one tweet with different like counts is a test: each judge sees both orders (the runner of
judge score: cache, cost cap and resume included), and its combined verdict is compared with the likes.

The engagement judge (score.engagement.model: pairwise or ridge) must never be tested on what it learned from. With
--dataset it is fitted on the TRAIN split (or --train-dataset's, the one `judge score --train-dataset` used) and
tested on --split; with --threads it is cross-fitted: the conversations are dealt into folds
(score.engagement.cv_folds) and each fold is judged by a scorer fitted on the other folds only (checked: no fold's
training conversations are among its tested ones).

Beside each judge: the longer-reply baseline (the bar), a coin, and the earlier-reply baseline when every reply's
time is known. Timing drives likes on real threads and no judge here sees it: the earlier reply's figure is a ceiling
that timing alone reaches, not a bar for a text judge. Each judge's `goal` says whether it meets issue 20's goal
(accuracy >= longer + 5 points, CI lower bound above the longer reply) and by how much it falls short.

Every judge is made and checked (key, --batch, cost cap) before any of them works; a judge that judged nothing or
answered every prompt alike gets no figure (validity.json: not_measured) and the command exits 1. validity.json records
the dataset version (--dataset) and each judge's identity, which `judge stats` matches before a verdict may say
"criteria met".

Output, in DIR: validity.json (per judge: accuracy with a bootstrap CI by conversation, the length, earlier-reply and
coin baselines, whether it beats the length baseline, the goal, position consistency, length bias, parse errors, cost,
wall and CPU seconds),
validity.md (the same as a table and one sentence per judge, for a model card), validity.png, the verdicts
of each judge in validation/verdicts-<judge>.jsonl, and validate_config.yaml (the resolved score section).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np

from judge.config import DEFAULT_CONFIG_PATH, ConfigError, ScoreConfig, load_judge_config
from judge.records import (
    VALIDATE_CONFIG_FILE_NAME,
    VALIDATION_VERDICTS_FOLDER_NAME,
    VALIDITY_FILE_NAME,
    VALIDITY_PLOT_FILE_NAME,
    VALIDITY_SUMMARY_FILE_NAME,
    VerdictRecord,
    read_records,
)
from replytune.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, Refused

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="judge config YAML (the score section)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--threads", nargs="+", metavar="PATH", help="tweet export files or folders with like counts")
    source.add_argument("--dataset", metavar="DIR_OR_REPO[@vN]", help="a data_prep dataset (held-out split)")
    parser.add_argument("--split", default="test", help="with --dataset: the held-out split to test on")
    parser.add_argument(
        "--train-dataset",
        default=None,
        metavar="DIR_OR_REPO[@vN]",
        help="engagement judge: fit on this dataset's TRAIN split (as `judge score --train-dataset` did), not on "
        "--dataset's own; its conversations must not be among the pairs tested",
    )
    parser.add_argument("--judge", action="append", required=True, help="a judge to validate (repeatable)")
    parser.add_argument("--output", required=True, help="folder for validity.json/.md/.png and the verdicts")
    parser.add_argument("--max-cost", type=float, default=None, help="US dollar cap per API judge")
    parser.add_argument("--batch", action="store_true", help="API judges: use Message Batches (half price)")
    parser.add_argument("--max-pairs", type=int, default=None, help="judge a seeded sample of at most N pairs")
    parser.add_argument("--cache-dir", default=None, help="the judge request cache (default: score.cache_dir)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_judge_config(args.config).score
    except ConfigError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_REFUSED
    if args.cache_dir:
        config = dataclasses.replace(config, cache_dir=args.cache_dir)
    if args.max_cost is not None:
        from judge.config import check_finite_amount

        try:
            check_finite_amount(args.max_cost, "--max-cost")
        except ValueError as error:
            print(f"error: {error}", file=sys.stderr)
            return EXIT_REFUSED
    max_pairs = args.max_pairs if args.max_pairs is not None else config.validate.max_pairs
    if max_pairs is not None and max_pairs < 1:
        print("error: --max-pairs must be at least 1", file=sys.stderr)
        return EXIT_REFUSED
    unknown = [name for name in args.judge if name not in _judge_names()]
    if unknown:
        print(f"error: unknown judge(s) {unknown}; the judges are {', '.join(_judge_names())}", file=sys.stderr)
        return EXIT_REFUSED
    try:
        data = load_validation_data(args, config)
    except (Refused, ValueError, OSError) as error:  # a dataset spec that cannot be read, a threads file
        print(f"error: {error}", file=sys.stderr)
        return EXIT_REFUSED
    pairs = sample_pairs(data.pairs, max_pairs, config.validate.seed)
    if not pairs:
        print("error: no pair of replies to one tweet with different like counts in the input", file=sys.stderr)
        return EXIT_REFUSED
    output = Path(args.output)
    (output / VALIDATION_VERDICTS_FOLDER_NAME).mkdir(parents=True, exist_ok=True)
    from judge.score.cli import write_resolved_config

    write_resolved_config(config, output / VALIDATE_CONFIG_FILE_NAME)
    return validate(args, config, data, pairs, output)


def _judge_names() -> tuple[str, ...]:
    from judge.score.backends import JUDGE_NAMES

    return JUDGE_NAMES


@dataclasses.dataclass
class ValidationData:
    source: str
    replies: list  # RealReply: the test replies
    pairs: list  # LikePair, from the test replies
    train_replies: list | None  # the TRAIN split's replies (the engagement scorer's training data), None: cross-fit
    left_out: Counter
    dataset: dict | None = None  # --dataset: its identity (judge/provenance.py), which `judge stats` checks
    train_dataset: dict | None = None  # where train_replies came from


def load_validation_data(args: argparse.Namespace, config: ScoreConfig) -> ValidationData:
    from judge.validate.threads import like_pairs, replies_from_rows, replies_from_tweet_files

    train, train_identity = None, None
    if getattr(args, "train_dataset", None):
        rows, train_identity = _dataset_rows(args.train_dataset, "train")
        train = replies_from_rows(rows["train"])
    if args.threads:
        replies, left_out = replies_from_tweet_files(args.threads, progress=not args.no_progress)
        data = ValidationData(", ".join(args.threads), replies, like_pairs(replies), train, left_out)
    else:
        if args.split == "train":
            raise ValueError("--split train: a judge is validated on held-out pairs (test or eval), never on train")
        rows, identity = _dataset_rows(args.dataset, args.split)
        replies = replies_from_rows(rows[args.split])
        if train is None:
            train = replies_from_rows(rows["train"]) if rows.get("train") else None
            train_identity = identity if train is not None else None
        source = f"{identity['name']} split {args.split}"
        data = ValidationData(source, replies, like_pairs(replies), train, Counter(), identity)
    data.train_dataset = train_identity
    if train is not None:
        shared = {r.conversation_id for r in train} & {r.conversation_id for r in data.replies}
        if shared:
            raise ValueError(
                f"--train-dataset {args.train_dataset}: {len(shared)} of its TRAIN conversations are among the pairs "
                f"tested ({', '.join(sorted(shared)[:3])}...): the judge would be tested on what it learned from"
            )
    return data


def _dataset_rows(spec: str, split: str) -> tuple[dict, dict]:
    """A data_prep dataset's reply rows per split (the split named must hold rows; with the reply's time when the
    version has it, for the earlier-reply baseline) and its identity."""
    from judge.provenance import dataset_identity
    from judge.score.backends.engagement import REPLY_COLUMNS
    from judge.validate.threads import columns_in_every_file
    from replytune import schema as col
    from replytune.versions import fetch, read_splits, resolve

    resolved = resolve(spec)
    folder = fetch(resolved)
    rows = read_splits(folder, (*REPLY_COLUMNS, *columns_in_every_file(folder, (col.REPLY_CREATED_AT,))))
    if not rows.get(split):
        state = "has no rows" if split in rows else f"does not exist (it has {', '.join(rows)})"
        raise ValueError(f"dataset {resolved.name}: split {split!r} {state}")
    return rows, dataset_identity(resolved.name, folder, resolved.version, resolved.repo_id)


def sample_pairs(pairs: list, max_pairs: int | None, seed: int) -> list:
    if max_pairs is None or len(pairs) <= max_pairs:
        return pairs
    chosen = np.random.default_rng(seed).choice(len(pairs), size=max_pairs, replace=False)
    return [pairs[i] for i in sorted(chosen)]


def validity_tasks(pairs: list) -> list:
    from judge.score.tasks import pairwise_tasks

    tasks = []
    for pair in pairs:
        first, second = pair.first, pair.second
        tasks += pairwise_tasks(
            pair.item_id, first.tweet_text, (first.reply_id, first.reply_text), (second.reply_id, second.reply_text)
        )
    return tasks


def validate(args, config: ScoreConfig, data: ValidationData, pairs: list, output: Path) -> int:
    from judge.validate.metrics import ConversationBootstrap, judge_validity, length_credit

    settings = config.validate
    bootstrap = ConversationBootstrap(
        [pair.conversation_id for pair in pairs], settings.bootstrap_resamples, settings.confidence, settings.seed
    )
    length_values = np.array([length_credit(pair) for pair in pairs])
    report = {
        "source": data.source,
        "dataset": data.dataset,  # --dataset: the version validated on (judge/provenance.py), None for --threads
        "split": None if args.threads else args.split,
        "threads": list(args.threads) if args.threads else None,
        "train_dataset": data.train_dataset,
        "replies": len(data.replies),
        "replies_left_out": dict(data.left_out),
        "pairs_available": len(data.pairs),
        "pairs": len(pairs),
        "conversations": len(bootstrap.conversations),
        "bootstrap": {
            "resamples": settings.bootstrap_resamples,
            "confidence": settings.confidence,
            "seed": settings.seed,
            "unit": "conversation",
        },
        "baselines": baselines(pairs, bootstrap, length_values, settings.seed),
        "judges": {},
    }
    if "earlier_reply" not in report["baselines"]:
        report["baselines_unknown"] = {"earlier_reply": EARLIER_UNKNOWN}
    try:  # every judge that can be checked before any work is: no key, no batch API, over the cost cap
        judges = prepare_judges(args, config, pairs, output)
    except RefusedError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_REFUSED
    exit_code = EXIT_OK
    report["not_measured"] = {}
    for name in args.judge:
        verdicts_path = output / VALIDATION_VERDICTS_FOLDER_NAME / f"verdicts-{name}.jsonl"
        try:
            started, cpu_started = time.perf_counter(), time.process_time()
            records, judge_report = judge_pairs(name, args, config, data, pairs, verdicts_path, judges.get(name))
            judge_report["seconds"] = {
                "wall": round(time.perf_counter() - started, 1),
                "cpu": round(time.process_time() - cpu_started, 1),
            }
        except RefusedError as error:
            report["not_measured"][name] = f"refused: {error}"
            print(f"error: judge {name}: {error}", file=sys.stderr)
            exit_code = EXIT_FAILED
            continue
        except RuntimeError as error:  # FatalJudgeError and anything the judge raised mid-run
            report["not_measured"][name] = f"failed: {error}"
            print(f"error: judge {name}: {error}", file=sys.stderr)
            exit_code = EXIT_FAILED
            continue
        why_not = unmeasurable(records, judge_report, validity_tasks(pairs))
        if why_not:  # no figure at all: a judge that judged nothing, or alike, would show a coin's 50%
            report["not_measured"][name] = why_not
            print(f"error: judge {name}: no validity figure: {why_not}", file=sys.stderr)
            exit_code = EXIT_FAILED
            continue
        result = judge_validity(pairs, records, bootstrap, length_values)
        report["judges"][name] = {**result, **judge_report}
        if not judge_report.get("complete", True):
            exit_code = EXIT_FAILED
    write_outputs(report, output)
    print_report(report, output)
    return exit_code


EARLIER_UNKNOWN = "unknown: the data does not give every reply's time"
BASELINE_MEANINGS = {
    "longer_reply": "the reply with more characters (the bar a judge of engagement must clear)",
    "earlier_reply": "the reply posted first: timing, a ceiling text judges cannot see (no judge is shown the time)",
    "coin_flip": "a seeded coin",
}


def baselines(pairs: list, bootstrap, length_values: np.ndarray, seed: int) -> dict:
    """The longer reply, the earlier reply (only when every reply's time is known) and a coin, on the same pairs."""
    from judge.validate.metrics import accuracy_summary, coin_credits, earlier_credits

    found = {
        "longer_reply": length_values,
        "earlier_reply": earlier_credits(pairs),
        "coin_flip": coin_credits(pairs, seed),
    }
    result = {}
    for name, values in found.items():
        if values is not None:
            result[name] = {**accuracy_summary(values, bootstrap), "what": BASELINE_MEANINGS[name]}
    return result


def prepare_judges(args, config: ScoreConfig, pairs: list, output: Path) -> dict:
    """Every judge but the engagement scorer (fitted later, per fold), made and checked before any judge works: a
    missing key, --batch for a judge without batches, an estimate above the cap or a verdicts file of other settings
    stops the command before anything is judged. Raises RefusedError naming the judge."""
    from judge.score.backends import JudgeUnavailable, make_judge
    from judge.score.cache import ResponseCache
    from judge.score.runner import CostRefused, VerdictsMismatch, preflight

    tasks = validity_tasks(pairs)
    judges = {}
    for name in dict.fromkeys(args.judge):
        if name == "engagement":
            continue
        try:
            judge, _ = make_judge(name, config, progress=not args.no_progress)
            if args.batch and not judge.supports_batch:
                raise RefusedError("--batch is supported by the claude judge only")
            verdicts_path = output / VALIDATION_VERDICTS_FOLDER_NAME / f"verdicts-{name}.jsonl"
            max_cost = args.max_cost if args.max_cost is not None else config.max_cost_usd
            preflight(tasks, judge, verdicts_path, ResponseCache(config.cache_dir), max_cost, args.batch)
        except (JudgeUnavailable, CostRefused, VerdictsMismatch, RefusedError) as error:
            raise RefusedError(f"judge {name}: {error} (nothing was judged, by any judge)") from error
        judges[name] = judge
    return judges


def unmeasurable(records: list, judge_report: dict, tasks: list) -> str | None:
    """Why a judge's verdicts give no validity figure: none parsed (every request failed, or every answer was
    unreadable), or the same answer to every prompt (records.no_signal)."""
    from judge.records import alike_task_keys, no_signal

    parsed = [record for record in records if record.parse_error is None and record.winner is not None]
    if not parsed:
        run = judge_report.get("run") or {}
        failures = "; ".join(f"{count} x {reason}" for reason, count in (run.get("failures") or {}).items())
        return (
            f"it judged nothing: none of the {len(tasks)} prompts ({len(tasks) // 2} pairs, both orders) got a "
            "verdict "
            f"({run.get('failed', 0)} request(s) failed, {sum(r.parse_error is not None for r in records)} "
            f"answer(s) unreadable{'; ' + failures[:300] if failures else ''})"
        )
    return no_signal(records, alike_task_keys(tasks))


class RefusedError(Refused, RuntimeError):
    """The judge cannot run, or would cost more than allowed: nothing was judged."""


def judge_pairs(name, args, config: ScoreConfig, data: ValidationData, pairs: list, verdicts_path: Path, judge=None):
    """Run one judge over both orders of every pair; returns its verdict records and what to report about the run.
    `judge`: the judge `prepare_judges` made (None: made here)."""
    from judge.score.backends import JudgeUnavailable, make_judge
    from judge.score.cache import ResponseCache
    from judge.score.runner import CostRefused, VerdictsMismatch, run_tasks

    tasks = validity_tasks(pairs)
    judge_report: dict = {}
    try:
        if name == "engagement":
            outcomes, judge_report = cross_fitted_engagement(config, data, pairs, tasks, verdicts_path, args)
        else:
            if judge is None:
                judge, _ = make_judge(name, config)
            if args.batch and not judge.supports_batch:
                raise RefusedError("--batch is supported by the claude judge only")
            max_cost = args.max_cost if args.max_cost is not None else config.max_cost_usd
            outcome = run_tasks(
                tasks,
                judge,
                verdicts_path,
                ResponseCache(config.cache_dir),
                max_cost,
                args.batch,
                config.prompt.criteria_weights,
                not args.no_progress,
                config.claude.batch_poll_interval_s,
                config.claude.batch_max_wait_s,
            )
            outcomes = [outcome]
            judge_report = {"model": judge.model, "prompt_version": judge.prompt_version, "identity": judge.identity()}
    except (JudgeUnavailable, CostRefused, VerdictsMismatch) as error:
        raise RefusedError(str(error)) from error
    wanted = {task.key for task in tasks}
    records = [record for _, record in read_records(verdicts_path, VerdictRecord)[0] if record.task_key in wanted]
    judge_report["run"] = {
        "spent_usd": round(sum(outcome.spent_usd for outcome in outcomes), 6),
        "from_cache": sum(outcome.from_cache for outcome in outcomes),
        "judged": sum(outcome.judged for outcome in outcomes),
        "failed": sum(outcome.failed for outcome in outcomes),
        "left_by_cost_guard": sum(outcome.left_by_cost_guard for outcome in outcomes),
        "failures": dict(sum((outcome.failures for outcome in outcomes), Counter())),
    }
    judge_report["complete"] = all(outcome.complete for outcome in outcomes)
    return records, judge_report


def cross_fitted_engagement(config: ScoreConfig, data: ValidationData, pairs, tasks, verdicts_path: Path, args):
    """Judge every pair with an engagement scorer that never saw its conversation; report the held-out fit."""
    from judge.score.backends.engagement import (
        EngagementJudge,
        ReplyExample,
        fit_engagement,
        make_embedder,
        ranking_fit,
    )
    from judge.score.runner import run_tasks

    settings = config.engagement
    progress = not args.no_progress
    embed = make_embedder(settings, progress)

    def examples(replies):  # what the fit reads: texts, tweet, conversation and likes (never the time)
        return [ReplyExample(r.conversation_id, r.tweet_text, r.reply_text, r.likes, r.tweet_id) for r in replies]

    def held_out(scorer, test) -> np.ndarray:
        return scorer.score_texts([e.tweet_text for e in test], [e.reply_text for e in test], embed)

    if data.train_replies is not None:  # --dataset: fitted on TRAIN, tested on the held-out split
        scorer, fit = fit_engagement(examples(data.train_replies), settings, embed)
        judge = EngagementJudge(scorer, embed)
        outcome = run_tasks(tasks, judge, verdicts_path, progress=progress)
        test = examples(data.replies)
        fitted = ranking_fit([e.conversation_id for e in test], [e.likes for e in test], held_out(scorer, test))
        report = {"model": judge.model, "identity": judge.identity(), "fit": fit, "held_out_fit": fitted}
        return [outcome], {**report, "engagement_model": settings.model, "scheme": "train -> split"}

    # --threads: cross-fitting; the conversations go round-robin (in a seeded order) into folds.
    conversations = sorted({reply.conversation_id for reply in data.replies})
    shuffled = [conversations[i] for i in np.random.default_rng(config.validate.seed).permutation(len(conversations))]
    folds = min(settings.cv_folds, len(conversations))
    fold_of = {conversation: index % folds for index, conversation in enumerate(shuffled)}
    scorers, fits = [], []
    for fold in range(folds):
        train = [reply for reply in data.replies if fold_of[reply.conversation_id] != fold]
        tested = {pair.conversation_id for pair in pairs if fold_of[pair.conversation_id] == fold}
        leaked = tested & {reply.conversation_id for reply in train}
        if leaked:  # cannot happen with the dealing above; checked, as the figure means nothing otherwise
            raise RuntimeError(f"cross-fitting fold {fold}: {len(leaked)} tested conversation(s) are in its training")
        scorer, fit = fit_engagement(examples(train), settings, embed)
        scorers.append(scorer)
        fits.append(
            {
                "fold": fold,
                "train_conversations": len({reply.conversation_id for reply in train}),
                "tested_conversations": len(tested),
                "shared_conversations": 0,
                "fingerprint": scorer.fingerprint[:12],
                **{key: fit[key] for key in ("train_pairs", "C", "gamma", "alpha", "inner_cv_accuracy") if key in fit},
            }
        )
    fingerprints = hashlib.sha256("".join(scorer.fingerprint for scorer in scorers).encode()).hexdigest()[:12]
    model = f"{scorers[0].model_id.split('@')[0]}@crossfit{folds}-{fingerprints}"
    conversation_of_item = {pair.item_id: pair.conversation_id for pair in pairs}
    outcomes, test_examples, predicted = [], [], []
    for fold, scorer in enumerate(scorers):
        judge = EngagementJudge(scorer, embed, model=model)
        fold_tasks = [task for task in tasks if fold_of[conversation_of_item[task.item_id]] == fold]
        outcomes.append(run_tasks(fold_tasks, judge, verdicts_path, progress=progress))
        test = examples(reply for reply in data.replies if fold_of[reply.conversation_id] == fold)
        test_examples += test
        predicted.append(held_out(scorer, test))
    fitted = ranking_fit(
        [e.conversation_id for e in test_examples], [e.likes for e in test_examples], np.concatenate(predicted)
    )
    scheme = f"cross-fitted: {folds} folds of conversations, each judged by a scorer fitted on the others"
    report = {"model": model, "identity": judge.identity(), "held_out_fit": fitted, "scheme": scheme, "folds": fits}
    return outcomes, {**report, "engagement_model": settings.model}


def write_outputs(report: dict, output: Path) -> None:
    from judge.validate.metrics import verdict_statement

    (output / VALIDITY_FILE_NAME).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    lines = [
        "# Judge validity against real likes",
        "",
        f"Source: {report['source']}. {report['pairs']} reply pairs with different like counts in "
        f"{report['conversations']} conversations; 95% CIs bootstrap conversations "
        f"({report['bootstrap']['resamples']} resamples).",
        "",
        "| judge | accuracy | 95% CI | minus longer-reply | goal: longer + 5 points, CI above longer | position "
        "consistency | length bias: rho, longer rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, result in report["judges"].items():
        difference = result["minus_length_baseline"]
        lines.append(
            f"| {name} | {result['accuracy']:.3f} | {result['ci'][0]:.3f}-{result['ci'][1]:.3f} | "
            f"{difference['difference']:+.3f} ({difference['ci'][0]:+.3f} to {difference['ci'][1]:+.3f}) | "
            f"{goal_text(result.get('goal'))} | "
            f"{_number(result['position_consistency'])} | {_number(result['length_bias_spearman'])}, "
            f"{_number(result['longer_reply_rate'])} |"
        )
    for key, result in report["baselines"].items():
        lines.append(
            f"| baseline: {BASELINE_LABELS[key]} | {result['accuracy']:.3f} | "
            f"{result['ci'][0]:.3f}-{result['ci'][1]:.3f} | | | | |"
        )
    for key in report.get("baselines_unknown", {}):
        lines.append(f"| baseline: {BASELINE_LABELS[key]} | unknown | | | | | |")
    lines.append("")
    if "earlier_reply" in report["baselines"]:
        lines += [f"The earlier reply: {BASELINE_MEANINGS['earlier_reply']}.", ""]
    for key, why in report.get("baselines_unknown", {}).items():
        lines += [f"The {BASELINE_LABELS[key]}: {why}.", ""]
    lines += [verdict_statement(name, result) for name, result in report["judges"].items()]
    (output / VALIDITY_SUMMARY_FILE_NAME).write_text("\n".join(lines) + "\n", encoding="utf-8")
    plot_validity(report, output / VALIDITY_PLOT_FILE_NAME)


BASELINE_LABELS = {"longer_reply": "longer reply", "earlier_reply": "earlier reply (timing)", "coin_flip": "coin flip"}


def goal_text(goal: dict | None) -> str:
    if not goal:
        return "n/a"
    if goal["met"]:
        return "met"
    why = [f"{goal['points_short']:.1f} points short of {goal['needs_accuracy']:.3f}"] if goal["points_short"] else []
    if goal["ci_low_points_below_longer"] or not why:
        why.append(f"CI low {goal['ci_low_points_below_longer']:.1f} points under the longer reply")
    return "not met: " + "; ".join(why)


def _number(value) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def plot_validity(report: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [(name, result) for name, result in report["judges"].items()]
    baselines = [BASELINE_LABELS[key] for key in report["baselines"]]
    rows += [(BASELINE_LABELS[key], result) for key, result in report["baselines"].items()]
    rows += [(f"{BASELINE_LABELS[key]}: unknown", None) for key in report.get("baselines_unknown", {})]
    figure, axis = plt.subplots(figsize=(7, 0.6 * len(rows) + 1.5))
    for position, (name, result) in enumerate(rows):
        if result is None:  # a baseline the data cannot give: named on the axis, no point
            continue
        low, high = result["ci"]
        color = "tab:gray" if name in baselines else "tab:blue"
        axis.errorbar(
            result["accuracy"],
            position,
            xerr=[[result["accuracy"] - low], [high - result["accuracy"]]],
            fmt="o",
            color=color,
            capsize=4,
        )
    axis.axvline(0.5, color="tab:red", linestyle=":", linewidth=1)
    axis.set_yticks(range(len(rows)), [name for name, _ in rows])
    axis.set_xlabel("accuracy: prefers the reply real people liked more (95% CI by conversation)")
    axis.set_title(f"Judge validity: {report['pairs']} pairs, {report['conversations']} conversations")
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def print_report(report: dict, output: Path) -> None:
    from judge.validate.metrics import verdict_statement

    print(f"{report['pairs']} pairs in {report['conversations']} conversations ({report['source']})")
    for key, baseline in report["baselines"].items():
        print(
            f"  baseline {BASELINE_LABELS[key] + ':':<24}{baseline['accuracy']:.3f} "
            f"(95% CI {baseline['ci'][0]:.3f}-{baseline['ci'][1]:.3f}): {baseline['what']}"
        )
    for key, why in report.get("baselines_unknown", {}).items():
        print(f"  baseline {BASELINE_LABELS[key] + ':':<24}{why}")
    for name, result in report["judges"].items():
        print("  " + verdict_statement(name, result))
        print(f"    goal (longer reply + 5 points, CI above it): {goal_text(result.get('goal'))}")
        print(
            f"    position consistency {_number(result['position_consistency'])}, length bias rho "
            f"{_number(result['length_bias_spearman'])} (longer reply picked {_number(result['longer_reply_rate'])}), "
            f"parse errors {result['parse_errors']}, "
            f"incomplete pairs {result['incomplete_pairs']}, spent ${result['run']['spent_usd']:.4f}, "
            f"{result['seconds']['wall']:.0f} s wall ({result['seconds']['cpu']:.0f} CPU-s)"
        )
        if "held_out_fit" in result:
            fit = result["held_out_fit"]
            print(
                f"    held-out fit: Spearman rho {_number(fit['spearman_rho'])}, pairwise accuracy "
                f"{_number(fit['pairwise_accuracy'])} on {fit['replies']} replies ({result['scheme']})"
            )
    print(f"wrote {output / VALIDITY_FILE_NAME}, {VALIDITY_SUMMARY_FILE_NAME}, {VALIDITY_PLOT_FILE_NAME}")
