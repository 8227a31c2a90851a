"""Blind pairwise evaluation by people, in Argilla: which of two systems' replies would a tweet's audience like more?

    python -m judge human-eval push --generations DIR/generations.jsonl --output DIR \\
        [--baseline base --candidate adapter] [--argilla-dataset NAME] [--workspace W] [--min-submitted N] [--seed S]
    python -m judge human-eval pull --output DIR [--verdicts DIR/verdicts.jsonl [--judge NAME]]

push: every tweet that both systems answered in generations.jsonl becomes one Argilla record showing the tweet and
the two replies as A and B, in an order drawn per tweet from the seed; annotators answer A / B / tie (and optional
notes). Which system is A is written to DIR/human_eval_mapping.json and never sent to Argilla (see dataset.py
for why). Record ids follow from the texts, so pushing again updates records, never duplicates
them; a push that would change the replies of a tweet already pushed is refused (its answers would then describe
other texts).

pull: each tweet's submitted answers become votes for systems (through the mapping); the majority wins and an even
split is a tie. It writes DIR/human_verdicts.jsonl (pairwise verdict lines, judge "human", that `python -m judge
stats --verdicts DIR/human_verdicts.jsonl` reads as they are), DIR/human_eval_summary.json and
DIR/human_eval_summary.md: winners, per-annotator counts, the share of votes for reply A (position bias),
agreement between annotators, and with --verdicts, Cohen's kappa between the humans and a judge of `judge score`.

What annotators see is defined in dataset.py, how answers become verdicts in results.py, and every call to Argilla
goes through replytune/argilla_client.py.
Exit status: 0 done; 2 refused (bad config, input, server or key, named); 1 failed while working.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from judge.config import DEFAULT_CONFIG_PATH, ConfigError, HumanEvalConfig, load_judge_config
from judge.human_eval.dataset import (
    BlindPair,
    Mapping,
    blind_pair,
    blind_record,
    human_eval_settings,
)
from judge.records import (
    HUMAN_EVAL_MAPPING_FILE_NAME,
    HUMAN_EVAL_SUMMARY_FILE_NAME,
    HUMAN_EVAL_SUMMARY_MARKDOWN_FILE_NAME,
    HUMAN_VERDICTS_FILE_NAME,
    TIE,
    write_lines_atomically,
)
from replytune.agreement import describe_agreement
from replytune.argilla_client import (
    connect,
    create_or_reuse_dataset,
    find_dataset,
    log_records,
    read_records,
)
from replytune.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, InputError, Refused
from replytune.files import sha256_of, write_json_atomically, write_text_atomically
from replytune.secrets import redact

logger = logging.getLogger(__name__)

SUMMARY_FORMAT = 1


# --- push ---------------------------------------------------------------------------------------------------------


@dataclass
class PushSummary:
    api_url: str
    workspace: str
    dataset_name: str
    dataset_id: str
    created: bool
    pushed: int
    new_records: int
    baseline_first: int  # records whose reply A is the baseline's
    mapping_path: Path
    skipped: Counter = field(default_factory=Counter)  # why lines or tweets of the file were not pushed -> count

    @property
    def annotation_url(self) -> str:
        return f"{self.api_url}/dataset/{self.dataset_id}/annotation-mode"


def blind_pairs(generations_path: Path, baseline: str, candidate: str, seed: int):
    """(pairs with their texts, skipped reasons) for every tweet of the file that both systems answered."""
    from judge.score.tasks import read_generations

    if not generations_path.is_file():
        raise InputError(f"--generations {generations_path}: no such file")
    generations = read_generations(generations_path)
    for problem in generations.problems[:10]:
        logger.warning("%s %s", generations_path, problem)
    if len(generations.problems) > 10:
        logger.warning("%s: %d more problem lines", generations_path, len(generations.problems) - 10)
    for role, system in (("baseline", baseline), ("candidate", candidate)):
        if system not in generations.systems:
            raise InputError(
                f"{generations_path}: no reply from system {system!r} (the {role}; --{role} chooses); systems in the "
                f"file: {', '.join(map(repr, generations.systems)) or 'none'} ({generations.lines} lines read)"
            )
    skipped = Counter(
        {f"line(s) of generations.jsonl: {reason}": count for reason, count in generations.rejected.items()}
    )
    pairs = []
    for item_id, records in generations.items.items():
        replies = {record.system: record.reply for record in records if record.system in (baseline, candidate)}
        missing = [system for system in (baseline, candidate) if system not in replies]
        if missing:
            skipped[f"tweet(s) without a reply from {missing[0]}"] += 1
            continue
        tweet = records[0].tweet_text
        pairs.append((blind_pair(seed, item_id, tweet, replies, baseline, candidate), tweet, replies))
    others = [system for system in generations.systems if system not in (baseline, candidate)]
    if others:
        skipped[f"replies from the other system(s) {', '.join(others)}"] = sum(
            1 for records in generations.items.values() for record in records if record.system in others
        )
    return pairs, skipped


def check_earlier_push(path: Path, config: HumanEvalConfig, pairs: list[BlindPair]) -> Mapping | None:
    """The mapping an earlier push wrote to `path` (None if none), refused when this push would contradict it."""
    if not path.exists():
        return None
    earlier = Mapping.read(path)
    for what, before, now in (
        ("Argilla dataset", earlier.argilla["dataset"], config.argilla_dataset),
        ("workspace", earlier.argilla["workspace"], config.workspace or earlier.argilla["workspace"]),
        ("baseline", earlier.baseline, config.baseline),
        ("candidate", earlier.candidate, config.candidate),
        ("seed", earlier.seed, config.seed),
    ):
        if before != now:
            raise InputError(
                f"{path} maps an earlier push with {what} {before!r}, not {now!r}: use a new --output for another "
                "evaluation (or the same settings to update this one)"
            )
    by_item = {pair.item_id: pair for pair in earlier.pairs.values()}
    changed = sorted(pair.item_id for pair in pairs if pair.item_id in by_item and by_item[pair.item_id] != pair)
    if changed:
        shown = ", ".join(map(repr, changed[:10])) + (f" and {len(changed) - 10} more" if len(changed) > 10 else "")
        raise InputError(
            f"the replies to {len(changed)} tweet(s) already pushed differ from this generations file ({shown}): "
            "their answers describe the earlier replies. Push these generations to a new --argilla-dataset with a "
            "new --output"
        )
    return earlier


def push(
    generations_path: str | Path,
    output_dir: str | Path,
    config: HumanEvalConfig,
    progress: bool = True,
    client: Any = None,
) -> PushSummary:
    """Log every tweet both systems answered as a blind A/B record; the mapping is written first."""
    generations_path, output_dir = Path(generations_path), Path(output_dir)
    pairs, skipped = blind_pairs(generations_path, config.baseline, config.candidate, config.seed)
    for reason, count in skipped.items():
        logger.warning("not pushed: %d %s", count, reason)
    if not pairs:
        raise InputError(
            f"{generations_path}: no tweet has replies from both {config.baseline} and {config.candidate}"
        )
    mapping_path = output_dir / HUMAN_EVAL_MAPPING_FILE_NAME
    earlier = check_earlier_push(mapping_path, config, [pair for pair, _, _ in pairs])

    client = client or connect()
    settings = human_eval_settings(config.min_submitted, config.notes_question)
    workspace = config.workspace or (earlier.argilla["workspace"] if earlier else None)  # a re-push goes back there
    dataset, created = create_or_reuse_dataset(client, config.argilla_dataset, settings, workspace)
    if not created and dataset.settings.distribution.min_submitted != config.min_submitted:
        dataset.settings.distribution.min_submitted = config.min_submitted
        dataset.update()
    workspace = dataset.workspace.name
    mapping = Mapping(
        argilla={
            "api_url": client.api_url,
            "workspace": workspace,
            "dataset": dataset.name,
            "dataset_id": str(dataset.id),
        },
        baseline=config.baseline,
        candidate=config.candidate,
        seed=config.seed,
        generations={"path": str(generations_path.resolve()), "sha256": sha256_of(generations_path)},
        pairs={**(earlier.pairs if earlier else {}), **{pair.record_id: pair for pair, _, _ in pairs}},
    )
    existing = {record.id for record in read_records(dataset, progress=False)}
    foreign = existing - set(mapping.pairs)
    if foreign:
        raise InputError(
            f"the Argilla dataset {workspace}/{dataset.name} holds {len(foreign)} record(s) that {mapping_path} does "
            "not map (another evaluation's, or a push whose mapping is elsewhere): push to another --argilla-dataset, "
            "or pass that push's --output"
        )
    mapping.write(mapping_path)  # before logging: no record reaches Argilla without its un-blinding on disk
    records = [blind_record(pair, tweet, replies) for pair, tweet, replies in pairs]
    log_records(dataset, records, batch_size=config.batch_size, progress=progress)
    return PushSummary(
        api_url=client.api_url,
        workspace=workspace,
        dataset_name=dataset.name,
        dataset_id=str(dataset.id),
        created=created,
        pushed=len(records),
        new_records=sum(1 for record in records if record.id not in existing),
        baseline_first=sum(1 for pair, _, _ in pairs if pair.reply_a_system == config.baseline),
        mapping_path=mapping_path,
        skipped=skipped,
    )


# --- pull ---------------------------------------------------------------------------------------------------------


def pull(
    output_dir: str | Path,
    verdicts_path: str | Path | None = None,
    judge: str | None = None,
    argilla_dataset: str | None = None,
    workspace: str | None = None,
    progress: bool = True,
    client: Any = None,
) -> dict:
    """Resolve the answers into human verdicts, compare them with a judge's, write the files; returns the summary."""
    from judge.human_eval.results import (
        annotator_agreement,
        annotator_counts,
        judge_agreement,
        reply_a_rate,
        resolve,
        verdict_lines,
    )
    from judge.stats.verdicts import read_verdicts, select_comparison

    output_dir = Path(output_dir)
    mapping = Mapping.read(output_dir / HUMAN_EVAL_MAPPING_FILE_NAME)
    baseline, candidate = mapping.baseline, mapping.candidate
    comparison = None
    if verdicts_path is not None:  # read before any request: a bad file stops the run at once
        comparison = select_comparison(read_verdicts(verdicts_path), baseline, candidate, judge)
    client = client or connect()
    dataset = find_dataset(
        client, argilla_dataset or mapping.argilla["dataset"], workspace or mapping.argilla["workspace"]
    )
    records = {record.id: record for record in read_records(dataset, progress=progress)}
    foreign = sorted(set(records) - set(mapping.pairs))
    missing = sorted(set(mapping.pairs) - set(records))
    if foreign:
        logger.warning("%d record(s) of %s are not in the mapping and are ignored", len(foreign), dataset.name)
    if missing:
        logger.warning("%d mapped record(s) are no longer in %s (deleted?)", len(missing), dataset.name)
    pairs = {record_id: pair for record_id, pair in mapping.pairs.items() if record_id in records}
    responses = {record_id: records[record_id].responses for record_id in pairs}
    verdicts = sorted((resolve(pair, responses[record_id]) for record_id, pair in pairs.items()), key=_item_order)
    decided = [verdict for verdict in verdicts if verdict.winner is not None]
    where = f"{dataset.workspace.name}/{dataset.name}"
    if not decided:
        raise InputError(
            f"nobody has answered a record of {where} yet: nothing to write ({len(pairs)} records waiting); "
            f"annotate at {client.api_url}/dataset/{dataset.id}/annotation-mode"
        )

    output_dir.mkdir(parents=True, exist_ok=True)
    model = f"argilla:{where}"
    lines = [
        line
        for verdict in decided
        for line in verdict_lines(verdict, pairs[verdict.record_id], baseline, candidate, model)
    ]
    write_lines_atomically(output_dir / HUMAN_VERDICTS_FILE_NAME, [line.to_json() for line in lines])

    counts = annotator_counts(pairs, responses)
    winners = Counter(verdict.winner for verdict in decided)
    summary = {
        "format": SUMMARY_FORMAT,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "argilla": {"api_url": client.api_url, "workspace": dataset.workspace.name, "dataset": dataset.name},
        "baseline": baseline,
        "candidate": candidate,
        "generations": mapping.generations,
        "records": {
            "mapped": len(mapping.pairs),
            "in_argilla": len(pairs),
            "missing_in_argilla": len(missing),
            "not_in_mapping": len(foreign),
            "decided": len(decided),
            "unanswered": len(verdicts) - len(decided),
            "votes": sum(len(verdict.votes) for verdict in verdicts),
            "votes_per_tweet": {str(n): count for n, count in sorted(Counter(len(v.votes) for v in verdicts).items())},
        },
        "winners": {baseline: winners[baseline], candidate: winners[candidate], TIE: winners[TIE]},
        "ties_from_split_votes": sum(verdict.vote_tie for verdict in decided),
        "candidate_win_rate": round((winners[candidate] + winners[TIE] / 2) / len(decided), 4),
        "annotators": counts,
        "reply_a_votes": reply_a_rate(counts),
        "annotator_agreement": annotator_agreement(verdicts),
        "judge_agreement": judge_agreement(verdicts, comparison) if comparison is not None else None,
        "files": {
            "mapping": str(output_dir / HUMAN_EVAL_MAPPING_FILE_NAME),
            "verdicts": str(output_dir / HUMAN_VERDICTS_FILE_NAME),
            "judge_verdicts": str(verdicts_path) if verdicts_path is not None else None,
        },
        "items": [
            {
                "item_id": verdict.item_id,
                "record_id": verdict.record_id,
                "shown": {"A": verdict.shown[0], "B": verdict.shown[1]},
                "votes": verdict.votes,
                "winner": verdict.winner,
                "notes": verdict.notes,
            }
            for verdict in verdicts
        ],
    }
    write_json_atomically(output_dir / HUMAN_EVAL_SUMMARY_FILE_NAME, summary)
    write_text_atomically(output_dir / HUMAN_EVAL_SUMMARY_MARKDOWN_FILE_NAME, summary_markdown(summary))
    return summary


def _item_order(verdict) -> tuple:
    return (len(verdict.item_id), verdict.item_id)  # t2 before t10


def summary_markdown(summary: dict) -> str:
    """The summary as a section a model card can include."""
    baseline, candidate = summary["baseline"], summary["candidate"]
    records, winners = summary["records"], summary["winners"]
    argilla = summary["argilla"]
    rows = [
        (f"{candidate} preferred", winners[candidate]),
        (f"{baseline} preferred", winners[baseline]),
        (f"tie (of which votes split evenly: {summary['ties_from_split_votes']})", winners[TIE]),
        ("not answered yet", records["unanswered"]),
    ]
    table = "\n".join(["| tweets | count |", "|---|---|"] + [f"| {name} | {count} |" for name, count in rows])
    annotators = "\n".join(
        ["| annotator | submitted | discarded | drafts | picked A | picked B | tie |", "|---|---|---|---|---|---|---|"]
        + [
            f"| {name} | {entry['submitted']} | {entry['discarded']} | {entry['draft']} | {entry['picked']['A']} | "
            f"{entry['picked']['B']} | {entry['picked'][TIE]} |"
            for name, entry in summary["annotators"].items()
        ]
    )
    position = summary["reply_a_votes"]
    position_text = (
        f"{position['picked_a']} of {position['decisive_votes']} decisive votes picked reply A "
        f"({position['rate']:.0%}; 50% means no position preference)."
        if position["rate"] is not None
        else "no decisive vote yet."
    )
    agreement_text = describe_agreement(summary["annotator_agreement"], "tweets")
    text = f"""## Human evaluation

Blind pairwise comparison of **{candidate}** (candidate) with **{baseline}** (baseline) by {len(summary["annotators"])}
annotator(s) in Argilla (`{argilla["workspace"]}/{argilla["dataset"]}`). Each tweet showed both replies as A and B in
an order drawn at random per tweet; annotators chose A, B or tie. A tweet's winner is the majority of its votes, and
an even split counts as a tie. Candidate win rate (a tie counts half): **{summary["candidate_win_rate"]:.1%}** over
{records["decided"]} tweets.

{table}

{annotators}

Position: {position_text}
Agreement between annotators on the winner: {agreement_text}
"""
    judge = summary["judge_agreement"]
    if judge is not None:
        if judge["cohen_kappa"] is not None:
            text += (
                f"Agreement with judge `{judge['judge']}` (its two orders combined): Cohen's kappa = "
                f"{judge['cohen_kappa']} on {judge['items']} tweets ({judge['percent_agreement']}% the same winner).\n"
            )
        else:
            text += f"Agreement with judge `{judge['judge']}`: not measured: {judge['note']}.\n"
    return text


# --- command line ---------------------------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    commands = parser.add_subparsers(dest="human_eval_command", required=True)
    push_parser = commands.add_parser("push", help="send a blind A/B record per tweet to Argilla")
    push_parser.add_argument("--generations", type=Path, required=True, help="generations.jsonl of `judge generate`")
    push_parser.add_argument("--baseline", default=None, help="one system shown (default: human_eval.baseline)")
    push_parser.add_argument("--candidate", default=None, help="the other system (default: human_eval.candidate)")
    push_parser.add_argument("--seed", type=int, default=None, help="seed of the A/B order (default: human_eval.seed)")
    push_parser.add_argument(
        "--min-submitted",
        type=int,
        default=None,
        help="annotators who must answer a record before it leaves the queue (default: human_eval.min_submitted)",
    )
    pull_parser = commands.add_parser("pull", help="turn the answers into human verdicts and agreement figures")
    pull_parser.add_argument(
        "--verdicts", type=Path, default=None, help="a judge's verdicts.jsonl (judge score) to measure agreement with"
    )
    pull_parser.add_argument("--judge", default=None, help="which judge of --verdicts (default: human_eval.judge)")
    for sub in (push_parser, pull_parser):
        sub.add_argument(
            "--output",
            type=Path,
            required=True,
            help=f"folder of {HUMAN_EVAL_MAPPING_FILE_NAME} (push writes it, pull reads it) and of the results",
        )
        sub.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help="judge config (human_eval section)")
        default = "the one the mapping names" if sub is pull_parser else "human_eval.argilla_dataset"
        sub.add_argument("--argilla-dataset", default=None, metavar="NAME", help=f"default: {default}")
        default = "the one the mapping names" if sub is pull_parser else "human_eval.workspace, else your first"
        sub.add_argument("--workspace", default=None, help=f"Argilla workspace (default: {default})")
        sub.add_argument("--no-progress", action="store_true", help="no progress bars")


def resolve_config(args: argparse.Namespace) -> HumanEvalConfig:
    config = load_judge_config(args.config).human_eval
    overrides = {
        "baseline": getattr(args, "baseline", None),
        "candidate": getattr(args, "candidate", None),
        "seed": getattr(args, "seed", None),
        "min_submitted": getattr(args, "min_submitted", None),
        "argilla_dataset": args.argilla_dataset,
        "workspace": args.workspace,
        "judge": getattr(args, "judge", None),
    }
    try:
        return dataclasses.replace(config, **{name: value for name, value in overrides.items() if value is not None})
    except ValueError as error:
        raise ConfigError(f"human-eval options: {error}") from None


def run(args: argparse.Namespace) -> int:
    try:
        config = resolve_config(args)
        if args.human_eval_command == "push":
            summary = push(args.generations, args.output, config, progress=not args.no_progress)
            print_push(summary, config)
            return EXIT_OK
        summary = pull(
            args.output,
            verdicts_path=args.verdicts,
            judge=config.judge,
            argilla_dataset=args.argilla_dataset,  # default: the dataset the mapping names
            workspace=args.workspace,
            progress=not args.no_progress,
        )
    except Refused as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return EXIT_REFUSED
    except Exception as error:  # any failure mid-run: the traceback in the log, one redacted line on stderr
        logger.exception("human-eval %s failed", args.human_eval_command)
        print(f"error: {type(error).__name__}: {redact(str(error))}", file=sys.stderr)
        return EXIT_FAILED
    print_pull(summary, args.output)
    return EXIT_OK


def print_push(summary: PushSummary, config: HumanEvalConfig) -> None:
    where = f"{summary.workspace}/{summary.dataset_name}"
    updated = summary.pushed - summary.new_records
    print(
        f"{summary.pushed} tweets pushed to {'new ' if summary.created else ''}Argilla dataset {where} "
        f"({summary.new_records} new, {updated} updated); reply A is {config.baseline} on {summary.baseline_first} "
        f"and {config.candidate} on {summary.pushed - summary.baseline_first}. The order is in "
        f"{summary.mapping_path} (pull needs it; annotators never see it)."
    )
    if summary.skipped:
        print("not pushed: " + ", ".join(f"{count} {reason}" for reason, count in sorted(summary.skipped.items())))
    print(f"Annotate at {summary.annotation_url}")


def print_pull(summary: dict, output_dir: Path) -> None:
    records, winners = summary["records"], summary["winners"]
    baseline, candidate = summary["baseline"], summary["candidate"]
    print(
        f"{records['decided']} of {records['in_argilla']} tweets decided by {records['votes']} votes: {candidate} "
        f"{winners[candidate]}, {baseline} {winners[baseline]}, tie {winners[TIE]} "
        f"({summary['ties_from_split_votes']} from split votes); candidate win rate {summary['candidate_win_rate']}"
    )
    for name, entry in summary["annotators"].items():
        print(
            f"  {name}: {entry['submitted']} submitted ({entry['picked']['A']} A, {entry['picked']['B']} B, "
            f"{entry['picked'][TIE]} tie), {entry['discarded']} discarded, {entry['draft']} drafts"
        )
    agreement = summary["annotator_agreement"]
    metric = agreement["metric"] or "agreement"
    print(
        f"between annotators: {metric} {agreement['value']}" + (f" ({agreement['note']})" if agreement["note"] else "")
    )
    judge = summary["judge_agreement"]
    if judge is not None:
        print(
            f"agreement with judge {judge['judge']}: Cohen's kappa {judge['cohen_kappa']} on {judge['items']} tweets"
            + (f" ({judge['note']})" if judge["note"] else "")
        )
    verdicts = output_dir / HUMAN_VERDICTS_FILE_NAME
    print(
        f"wrote {verdicts} (python -m judge stats --verdicts {verdicts} reads it), "
        f"{output_dir / HUMAN_EVAL_SUMMARY_FILE_NAME} and {output_dir / HUMAN_EVAL_SUMMARY_MARKDOWN_FILE_NAME}"
    )
