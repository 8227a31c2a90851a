"""`python -m judge score`: judge every system's replies in generations.jsonl -> verdicts.jsonl.

    python -m judge score --config judge/configs/default.yaml --generations DIR/generations.jsonl \\
        --judge claude --output DIR [--batch] [--max-cost USD] [--mode both|pairwise|single] [--systems A B ...]

Judges: claude (default; ANTHROPIC_API_KEY), openai (an OpenAI-compatible server), engagement (offline, fitted on
a dataset's TRAIN split: --train-dataset DIR_OR_REPO[@vN]), local (a transformers model here, read through its
next-token probabilities: score.local). Pairwise verdicts come in both orders for every pair
of systems on a tweet; single-answer verdicts score each reply 1-10 (engagement potential, relevance, tone).

The run reads generations.jsonl without trusting it (a malformed line, a torn last line, a repeated or
inconsistent item is reported and counted, never fatal), prints its cost estimate and refuses to start above
--max-cost, then writes one fsynced line per verdict. Kill it at any point and the same command resumes: what is in
verdicts.jsonl is not judged again, and what is in the request cache is not paid for again.

Output, in DIR: verdicts.jsonl (fields in judge/records.py: VerdictRecord), score_report.json (inputs, counts,
parse errors, cost, and per pair of systems the wins/ties after combining orders and the inconsistency rate),
score_config.yaml (the resolved score section), and engagement_fit.json for the engagement judge.
Exit status: 0 every task judged; 1 stopped short (cost cap, failed requests, a batch still running); 2 refused
before any work (named).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections import Counter, defaultdict
from pathlib import Path

import yaml

from judge.config import DEFAULT_CONFIG_PATH, ScoreConfig, load_judge_config
from judge.records import (
    ENGAGEMENT_FIT_FILE_NAME,
    GENERATIONS_FILE_NAME,
    PAIRWISE,
    SCORE_CONFIG_FILE_NAME,
    SCORE_REPORT_FILE_NAME,
    SINGLE,
    TIE,
    VERDICTS_FILE_NAME,
    VerdictRecord,
    alike_task_keys,
    combine_orders,
    constant_scores,
    no_signal,
    read_records,
)
from replytune.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED
from replytune.files import sha256_of
from replytune.secrets import redact

logger = logging.getLogger(__name__)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default=str(DEFAULT_CONFIG_PATH), help="judge config YAML (the score section)")
    parser.add_argument("--generations", required=True, help=f"the {GENERATIONS_FILE_NAME} of `judge generate`")
    parser.add_argument("--judge", default=None, help="claude, openai, engagement or local (default: score.judge)")
    parser.add_argument("--output", required=True, help=f"folder for {VERDICTS_FILE_NAME} and the run's report")
    parser.add_argument("--batch", action="store_true", help="claude: use Message Batches (half price, async)")
    parser.add_argument("--max-cost", type=float, default=None, help="US dollar cap (default: score.max_cost_usd)")
    parser.add_argument("--mode", choices=("both", "pairwise", "single"), default=None, help="default: score.mode")
    parser.add_argument("--systems", nargs="+", default=None, help="judge only these systems (default: all)")
    parser.add_argument("--cache-dir", default=None, help="the request cache (default: score.cache_dir)")
    parser.add_argument("--train-dataset", default=None, help="engagement judge: DIR_OR_REPO[@vN] to fit on")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def resolve_config(args: argparse.Namespace) -> ScoreConfig:
    from judge.config import check_finite_amount

    if args.max_cost is not None:
        check_finite_amount(args.max_cost, "--max-cost")
    config = load_judge_config(args.config).score
    overrides = {
        "judge": args.judge,
        "mode": args.mode,
        "max_cost_usd": args.max_cost,
        "cache_dir": args.cache_dir,
    }
    return dataclasses.replace(config, **{name: value for name, value in overrides.items() if value is not None})


def run(args: argparse.Namespace) -> int:
    from judge.score.backends import JudgeUnavailable, make_judge
    from judge.score.cache import ResponseCache
    from judge.score.runner import CostRefused, FatalJudgeError, VerdictsMismatch, done_tasks, run_tasks
    from judge.score.tasks import read_generations, tasks_from_generations

    try:
        config = resolve_config(args)
    except ValueError as error:  # ConfigError, or a field check of an overridden value
        return refuse(str(error))
    generations_path = Path(args.generations)
    if not generations_path.is_file():
        return refuse(f"--generations {generations_path}: no such file")
    generations = read_generations(generations_path, args.systems)
    for problem in generations.problems[:10]:
        logger.warning("%s %s", generations_path, problem)
    if len(generations.problems) > 10:
        logger.warning("%s: %d more problem lines", generations_path, len(generations.problems) - 10)
    if args.systems:
        missing = [system for system in args.systems if system not in generations.systems]
        if missing:
            return refuse(f"--systems: {missing} not in {generations_path} (it has {generations.systems})")
    tasks = tasks_from_generations(generations, config.mode)
    if not tasks:
        return refuse(
            f"{generations_path}: nothing to judge ({len(generations.items)} usable items, systems "
            f"{generations.systems}, mode {config.mode}; pairwise needs two systems per item; "
            f"rejected lines: {dict(generations.rejected)})"
        )
    output = Path(args.output)
    try:
        judge, engagement_fit = make_judge(config.judge, config, args.train_dataset, progress=not args.no_progress)
    except JudgeUnavailable as error:
        return refuse(str(error))
    if args.batch and not judge.supports_batch:
        return refuse(f"--batch: judge {judge.name} has no batch API (the claude judge has)")
    if engagement_fit is not None:
        engagement_fit = {**engagement_fit, "dataset_identity": train_dataset_identity(args, config)}
    if engagement_fit is not None and engagement_fit.get("dataset"):
        # score_config.yaml names the dataset the judge was fitted on as it was read (REPO@v1), whatever named it
        trained_on = dataclasses.replace(config.engagement, train_dataset=engagement_fit["dataset"])
        config = dataclasses.replace(config, engagement=dataclasses.replace(trained_on, train_dataset_revision=None))
    try:  # verdicts of other judge settings already there: refused before score_config.yaml is rewritten
        done_tasks(output / VERDICTS_FILE_NAME, judge)
    except VerdictsMismatch as error:
        changed = changed_settings(output / SCORE_CONFIG_FILE_NAME, config)
        return refuse(f"{error}" + (f" (changed in the config: {', '.join(changed)})" if changed else ""))
    output.mkdir(parents=True, exist_ok=True)
    write_resolved_config(config, output / SCORE_CONFIG_FILE_NAME)
    if engagement_fit is not None:
        (output / ENGAGEMENT_FIT_FILE_NAME).write_text(json.dumps(engagement_fit, indent=2) + "\n", encoding="utf-8")
    print(
        f"judging {len(tasks)} tasks on {len(generations.items)} items ({', '.join(generations.systems)}) "
        f"with {judge.name} ({judge.model})"
    )
    verdicts_path = output / VERDICTS_FILE_NAME
    try:
        outcome = run_tasks(
            tasks,
            judge,
            verdicts_path,
            ResponseCache(config.cache_dir),
            config.max_cost_usd,
            batch=args.batch,
            weights=config.prompt.criteria_weights,
            progress=not args.no_progress,
            poll_interval_s=config.claude.batch_poll_interval_s,
            max_wait_s=config.claude.batch_max_wait_s,
        )
    except (CostRefused, VerdictsMismatch) as error:
        return refuse(str(error))
    except FatalJudgeError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    report = build_report(generations_path, generations, judge, config, outcome, verdicts_path, tasks)
    (output / SCORE_REPORT_FILE_NAME).write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", "utf-8")
    print_summary(report, output)
    if report["constant_scores"]:
        logger.warning("%s: the single-answer scores have no spread to test", report["constant_scores"])
    if report["no_signal"]:
        print(
            f"error: judge {judge.name} ({judge.model}) has no signal here: {report['no_signal']}. Its verdicts are "
            f"in {verdicts_path} to look at; use another judge (or model) before reading any statistic of them",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return EXIT_OK if outcome.complete else EXIT_FAILED


def refuse(message: str) -> int:
    print(f"error: {redact(message)}", file=sys.stderr)
    return EXIT_REFUSED


def write_resolved_config(config: ScoreConfig, path: Path) -> None:
    text = yaml.safe_dump({"score": dataclasses.asdict(config)}, sort_keys=False, allow_unicode=True)
    path.write_text(redact(text), encoding="utf-8")


def train_dataset_identity(args: argparse.Namespace, config: ScoreConfig) -> dict | None:
    """The identity (judge/provenance.py) of the dataset version the engagement judge was fitted on: the card says
    what its held-out fit was measured on (a synthetic sample, or which exports). None if it cannot be read."""
    from judge.provenance import dataset_identity
    from replytune.versions import fetch, resolve

    spec = args.train_dataset or config.engagement.train_dataset
    revision = None if args.train_dataset else config.engagement.train_dataset_revision
    try:
        resolved = resolve(spec, revision)
        return dataset_identity(resolved.name, fetch(resolved), resolved.version, resolved.repo_id)
    except Exception as error:  # noqa: BLE001 - the fit itself read it; this is the record of what it was
        logger.warning("engagement judge: could not record its training dataset's identity: %s", error)
        return None


def changed_settings(old_config: Path, config: ScoreConfig) -> list[str]:
    """The dotted names of the score settings that differ between an earlier run's score_config.yaml and `config`
    (at most 8), for a refusal that says what changed."""
    try:
        old = (yaml.safe_load(old_config.read_text(encoding="utf-8")) or {}).get("score") or {}
    except (OSError, yaml.YAMLError, AttributeError):
        return []
    new = yaml.safe_load(yaml.safe_dump(dataclasses.asdict(config)))
    changed: list[str] = []

    def walk(before, after, where: str) -> None:
        if isinstance(before, dict) and isinstance(after, dict):
            for key in sorted(set(before) | set(after), key=str):
                walk(before.get(key), after.get(key), f"{where}.{key}" if where else str(key))
        elif before != after:
            changed.append(where)

    walk(old, new, "score")
    ignored = ("score.max_cost_usd", "score.cache_dir", "score.mode")  # they change what is judged, not the answers
    return [name for name in changed if name not in ignored][:8]


def build_report(generations_path, generations, judge, config, outcome, verdicts_path, tasks) -> dict:
    wanted = {task.key for task in tasks}
    records = [record for _, record in read_records(verdicts_path, VerdictRecord)[0] if record.task_key in wanted]
    return {
        "generations": {"path": str(generations_path), "sha256": sha256_of(generations_path), **generations.summary()},
        "judge": judge.name,
        "model": judge.model,
        "prompt_version": judge.prompt_version,
        "judge_identity": judge.identity(),
        "mode": config.mode,
        "run": outcome.as_dict(),
        "verdicts": summarize_verdicts(records),
        "no_signal": no_signal(records, alike_task_keys(tasks)),
        "constant_scores": constant_scores(records, alike_task_keys(tasks)),
    }


def summarize_verdicts(records) -> dict:
    """Parse errors by kind; per pair of systems the combined pairwise outcome; per system the mean score."""

    parse_errors = Counter(record.kind for record in records if record.parse_error)
    pairwise: dict[str, dict] = {}
    for (_, systems), verdict in combine_orders(records).items():
        entry = pairwise.setdefault(
            " vs ".join(systems),
            {
                "items": 0,
                "wins": {system: 0 for system in systems},
                "ties": 0,
                "inconsistent": 0,
                "incomplete": 0,
                "first_position_picks": 0,
                "decisive_order_verdicts": 0,
            },
        )
        entry["items"] += 1
        if verdict.winner == TIE:
            entry["ties"] += 1
        else:
            entry["wins"][verdict.winner] += 1
        entry["inconsistent"] += verdict.consistent is False
        entry["incomplete"] += verdict.consistent is None
        entry["first_position_picks"] += verdict.first_position_picks
        entry["decisive_order_verdicts"] += verdict.decisive_orders
    for entry in pairwise.values():
        complete = entry["items"] - entry["incomplete"]
        entry["inconsistency_rate"] = round(entry["inconsistent"] / complete, 4) if complete else None
    scores: dict[str, list[float]] = defaultdict(list)
    for record in records:
        if record.kind == SINGLE and record.score is not None:
            scores[record.system].append(record.score)
    return {
        "lines": len(records),
        "parse_errors": {PAIRWISE: parse_errors[PAIRWISE], SINGLE: parse_errors[SINGLE]},
        "pairwise": pairwise,
        "single": {
            system: {"n": len(values), "mean_score": round(sum(values) / len(values), 4)}
            for system, values in scores.items()
        },
        "cost_usd": round(sum(record.cost_usd for record in records), 6),
    }


def print_summary(report: dict, output: Path) -> None:
    run = report["run"]
    generations = report["generations"]
    if generations["rejected"]:
        print(f"generations: {generations['records_used']} records used; rejected {generations['rejected']}")
    print(
        f"tasks {run['tasks']}: {run['judged']} judged now, {run['from_cache']} from the cache, "
        f"{run['already_done']} already in {VERDICTS_FILE_NAME}; spent ${run['spent_usd']:.4f}"
    )
    verdicts = report["verdicts"]
    print(f"parse errors: {verdicts['parse_errors']}")
    for name, entry in verdicts["pairwise"].items():
        print(
            f"  {name}: wins {entry['wins']}, ties {entry['ties']} (inconsistent orders count as ties: "
            f"rate {entry['inconsistency_rate']}), incomplete {entry['incomplete']}"
        )
    for system, entry in verdicts["single"].items():
        print(f"  {system}: mean score {entry['mean_score']} over {entry['n']}")
    if run["failed"]:
        print(f"{run['failed']} requests failed after retries ({run['failures']}): run the same command again")
    if run["left_by_cost_guard"]:
        print(f"stopped by the cost cap: {run['left_by_cost_guard']} tasks left; rerun with a higher --max-cost")
    if run["waiting_in_batch"]:
        print(f"{run['waiting_in_batch']} tasks are still in a running batch: run the same command again later")
    print(f"wrote {output / VERDICTS_FILE_NAME} and {output / SCORE_REPORT_FILE_NAME}")
