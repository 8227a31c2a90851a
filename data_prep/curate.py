"""Curation in Argilla: people review a dataset version's pairs in a web UI; their decisions become the next version.

    python -m data_prep curate push --dataset DIR_OR_REPO[@vN] --argilla-dataset NAME [--workspace W]
    python -m data_prep curate pull --argilla-dataset NAME --output DIR [--push-to-hub REPO --version vN+1]
    python -m data_prep curate auto --dataset DIR_OR_REPO[@vN] --output DIR [--push-to-hub REPO --version vN+1]

push: every pair of the version becomes one Argilla record whose id is the reply id (a second push updates records,
never duplicates them): the tweet and the reply as text fields; the questions `decision` (keep/discard), `quality`
(1-5), `edited_reply` and `notes`; engagement, timing, query, split and the validators' scores as metadata for
filtering and sorting; the reply's sentence embedding (data_prep's model) so "find similar" shows near-duplicates;
and a `discard` suggestion on pairs a soft check flags (see SoftLimits). The version it came from is stored on the
Argilla dataset, so pull finds it again.

pull: each record's submitted answers resolve by majority (a tie discards; an annotator's "Discard" button counts
as a discard vote); records nobody submitted are left out and counted. An edited reply is normalized (@handles
replaced) and replaces the reply unless a HARD rule refuses it: the reply filters' length and link rules, the chat
control-string rule, and the duplicate and leakage checks against the other kept replies. The soft checks (the
validators: language, toxicity, spam, word diversity, generic phrases) never overrule a person: they flag the edit,
in curation.jsonl, report.json and the card.
The curated DatasetDict keeps every pair in its input split (the split is by conversation, so none moves), and its
folder holds report.json (every input pair in exactly one disposition), curation.jsonl (each pair's votes and
outcome), funnel.png, the input's config.yaml and a card with a curation section; it is pushed as the next tag.

auto: no Argilla and no person: every pair a soft check flags is discarded (the discard push would suggest), every
other pair kept, and the next version written exactly as pull writes it; its card says that no person reviewed it.

What the annotators see is defined in curation_dataset.py, how their answers become rows in curation_decisions.py,
and every call to Argilla goes through replytune/argilla_client.py.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from data_prep.curation_dataset import (
    DECISION,
    DISCARD,
    FIELD_CHECKS,
    KEEP,
    NOTES,
    SoftLimits,
    curation_record,
    curation_settings,
    reviewable_rows,
)
from data_prep.curation_decisions import count_outcomes, curate_rows
from data_prep.versions import load_version
from replytune import schema as col
from replytune.agreement import describe_agreement
from replytune.argilla_client import (
    RecordResponses,
    connect,
    create_or_reuse_dataset,
    dataset_metadata,
    find_dataset,
    log_records,
    read_records,
    set_dataset_metadata,
)
from replytune.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, InputError, Refused
from replytune.secrets import redact

logger = logging.getLogger(__name__)

METADATA_KEY = "replytune"  # where push records the input version on the Argilla dataset
AUTO_ANNOTATOR = "auto"  # the annotator name of `curate auto` decisions in curation.jsonl and the agreement


@dataclass
class PushSummary:
    api_url: str
    workspace: str
    dataset_name: str
    dataset_id: str
    created: bool
    pushed: int
    suggested_discard: int
    invalid: list[dict] = field(default_factory=list)  # {split, row, reply_id, reason}

    @property
    def annotation_url(self) -> str:
        return f"{self.api_url}/dataset/{self.dataset_id}/annotation-mode"


def push(
    dataset_spec: str,
    argilla_dataset: str,
    workspace: str | None = None,
    min_submitted: int = 1,
    batch_size: int = 256,
    progress: bool = True,
    client: Any = None,
) -> PushSummary:
    """Log every reviewable pair of the version to the Argilla dataset (created or reused)."""
    version = load_version(dataset_spec)
    rows, invalid = reviewable_rows(version)
    for problem in invalid:
        logger.warning(
            "not pushed: %s row %d (reply_id %s): %s", problem["split"], problem["row"], problem["reply_id"],
            problem["reason"],
        )  # fmt: skip
    if not rows:
        raise InputError(f"{version.folder}: no pair to review ({len(invalid)} rows with problems)")
    client = client or connect()
    from data_prep.dedup import embed_texts, load_embedding_model

    model = load_embedding_model(version.config.cleaning.embedding_model, version.config.cleaning.embedding_backend)
    settings = curation_settings(model.get_embedding_dimension(), min_submitted)
    dataset, created = create_or_reuse_dataset(client, argilla_dataset, settings, workspace, [FIELD_CHECKS])
    with_checks = FIELD_CHECKS in {field.name for field in dataset.settings.fields}
    if not with_checks:
        logger.warning(
            "%s was created before the record view showed the soft checks' reasons: they are under 'View metadata' "
            "only; push to a new --argilla-dataset name to see them under each reply",
            argilla_dataset,
        )
    if not created and dataset.settings.distribution.min_submitted != min_submitted:
        dataset.settings.distribution.min_submitted = min_submitted
        dataset.update()
    vectors = embed_texts(
        model, [row[col.REPLY_TEXT] for _, row in rows], version.config.cleaning.embedding_batch_size, progress
    )
    limits = SoftLimits.from_validation(version.config.validation)
    records = [curation_record(row, split, vector, limits, with_checks) for (split, row), vector in zip(rows, vectors)]
    log_records(dataset, records, batch_size=batch_size, progress=progress)
    metadata = dataset_metadata(dataset)
    metadata[METADATA_KEY] = {
        "source": version.source,
        "version": version.version,
        "pairs": sum(len(split_rows) for split_rows in version.rows.values()),
        "pushed": len(records),
        "pushed_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    set_dataset_metadata(dataset, metadata)
    return PushSummary(
        api_url=client.api_url,
        workspace=dataset.workspace.name,
        dataset_name=dataset.name,
        dataset_id=str(dataset.id),
        created=created,
        pushed=len(records),
        suggested_discard=sum(1 for record in records if record.suggestions),
        invalid=invalid,
    )


def curation_card_section(report: dict) -> str:
    curation = report["curation"]
    counts = curation["counts"]
    agreement_text = describe_agreement(curation["agreement"], "pairs")
    source = curation["input"]
    flag_counts = Counter(
        flag.split(":", 1)[0] for edit in curation.get("flagged_edits", []) for flag in edit["flags"]
    )
    flagged_text = (
        " Flags on the kept edits: "
        + ", ".join(f"`{flag}` {count}" for flag, count in sorted(flag_counts.items()))
        + "."
        if flag_counts
        else ""
    )
    rows = [
        ("input pairs", counts["input_pairs"]),
        ("reviewed (a submission or a discard)", counts["reviewed"]),
        ("kept as they were", counts["kept"]),
        ("kept with an edited reply", counts["edited"]),
        ("... of which the soft checks flag (kept: a person's decision stands)", counts.get("edited_flagged", 0)),
        ("discarded (majority)", counts["discarded"] - counts["discarded_on_tie"]),
        ("discarded (tie)", counts["discarded_on_tie"]),
        ("edit rejected by the build's rules (left out)", counts["edit_rejected"]),
        ("conflicting edits (left out)", counts["edit_conflict"]),
        ("unreviewed (left out)", counts["unreviewed"]),
        ("invalid input rows (never reviewed)", counts["invalid"]),
    ]
    table = "\n".join(["| pairs | count |", "|---|---|"] + [f"| {name} | {count} |" for name, count in rows])
    return f"""
## Curation

This version is **{source["version"]}** (`{source["source"]}`) after human review in Argilla (dataset
`{curation["argilla"]["workspace"]}/{curation["argilla"]["dataset"]}`, {len(curation["annotators"])} annotators).
Each pair was decided by the majority of its annotators (a tie discards); pairs nobody reviewed were left out.
Edited replies were normalized (@handles replaced) and re-checked with the build's hard rules (length and link
filters, chat control strings, duplicates and split leakage), and applied when they passed. The soft checks
(language, toxicity, spam keywords, word diversity, generic phrases) never overrule a person: an edit they object to
is kept, with their objections recorded beside it.{flagged_text}

{table}

Inter-annotator agreement on keep/discard: {agreement_text}
Every pair's votes and outcome are in `curation.jsonl` (a flagged edit's flags as `edit_flags`); `report.json` lists
each rejected edit with its reason, and each flagged edit with its flags.
"""


def public_name(folder: Path) -> str:
    """`data/v1` for /home/someone/project/data/v1."""
    return f"{folder.parent.name}/{folder.name}"


@dataclass
class PullResult:
    folder: Path
    report: dict


def pull(
    argilla_dataset: str,
    output_dir: str | Path,
    workspace: str | None = None,
    dataset_spec: str | None = None,
    push_to_hub: str | None = None,
    version: str | None = None,
    progress: bool = True,
    client: Any = None,
) -> PullResult:
    """Read the Argilla dataset's responses and write (and optionally push) the curated next version."""
    client = client or connect()
    dataset = find_dataset(client, argilla_dataset, workspace)
    pushed = dataset_metadata(dataset).get(METADATA_KEY) or {}
    spec = dataset_spec or pushed.get("source")
    if not spec:
        raise InputError(
            f"the Argilla dataset {argilla_dataset} was not pushed by `curate push`: name its input with --dataset"
        )
    try:
        input_version = load_version(spec)
    except InputError as error:
        raise InputError(f"{error} (the input version of {argilla_dataset}; pass --dataset to point at it)") from None
    version, folder = next_version_folder(input_version, output_dir, version, push_to_hub)

    records = {record.id: record for record in read_records(dataset, with_vectors=True, progress=progress)}
    input_ids = {row.get(col.REPLY_ID) for rows in input_version.rows.values() for row in rows}
    foreign = sorted(set(records) - input_ids)
    if foreign:
        logger.warning("%d Argilla records are not pairs of %s and are ignored", len(foreign), input_version.source)
    rows, ledger, facts = curate_rows(input_version, records)
    if not any(entry["annotators"] for entry in ledger):
        raise InputError(
            f"nobody has reviewed a pair of {dataset.workspace.name}/{dataset.name} yet: nothing to write "
            f"({len(ledger)} pairs unreviewed); annotate at {client.api_url}/dataset/{dataset.id}/annotation-mode"
        )

    curation = {
        "mode": "argilla",
        "argilla": {"api_url": client.api_url, "workspace": dataset.workspace.name, "dataset": dataset.name},
        "argilla_records_not_in_input": len(foreign),
    }
    return write_curated_version(
        input_version, rows, ledger, facts, folder, version, push_to_hub, curation, curation_card_section
    )


def next_version_folder(
    input_version: Any, output_dir: str | Path, version: str | None, push_to_hub: str | None
) -> tuple[str, Path]:
    """The curated version's name (default: the input's + 1) and folder, refused before any work if either is taken
    or the push target cannot take it (a private dataset into a public repo)."""
    from data_prep.publish import PublishError, check_dataset_push_target, new_version_folder
    from replytune.versions import next_version

    if not version and not push_to_hub and input_version.number is None:
        raise PublishError(f"{input_version.source} is not named vN: name the curated version with --version vN")
    default_version = next_version([input_version.version]) if input_version.number is not None else None
    version, folder = new_version_folder(output_dir, version, push_to_hub, default_version)
    if push_to_hub:
        output = input_version.config.output  # the curated version is pushed as its input was configured
        check_dataset_push_target(push_to_hub, version, output.private, output.allow_public_repo)
    return version, folder


def write_curated_version(
    input_version: Any,
    rows: dict[str, list[dict]],
    ledger: list[dict],
    facts: dict,
    folder: Path,
    version: str,
    push_to_hub: str | None,
    curation: dict,
    card_section: Any,
) -> PullResult:
    """The end of `curate pull` and `curate auto`: report.json, curation.jsonl, funnel.png, config.yaml and the card
    in `folder`, then the data (pushed as `version` when `push_to_hub` names a repo). `curation` holds what only one
    mode knows (how the decisions were made); `card_section(report)` writes the card's curation section."""
    from data_prep.build import rows_to_dataset
    from data_prep.card import build_card
    from data_prep.funnel import Funnel, plot_funnel, write_report
    from data_prep.publish import save_and_push, staging_folder

    funnel = Funnel(input_records=len(ledger))
    for entry in ledger:
        funnel.settle(entry["disposition"])
    funnel.check()
    splits = {split: len(split_rows) for split, split_rows in rows.items()}
    base = input_version.report
    report = funnel.as_report(
        version=version,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        splits=splits,
        scorers={**base.get("scorers", {}), "curation_edits": facts["edit_validators"]},
        leakage=base.get("leakage"),
        privacy=base.get("privacy", {"pseudonym_key": "unknown", "handles_replaced": None}),
        sources=base.get("sources", []),
        skipped_files=base.get("skipped_files", {}),
        hub_repo=push_to_hub,
        curation={
            "input": {
                # a Hub REPO@vN, or the version folder's last two parts: report.json and the card carry no local path
                "source": input_version.source if input_version.hub_repo else public_name(input_version.folder),
                "version": input_version.version,
                "hub_repo": input_version.hub_repo or base.get("hub_repo"),
                "pairs": len(ledger),
            },
            **curation,
            "counts": count_outcomes(ledger),
            "annotators": facts["annotators"],
            "agreement": facts["agreement"],
            "rejected_edits": facts["rejected_edits"],
            "flagged_edits": facts["flagged_edits"],
            "invalid_records": facts["invalid_records"],
        },
    )
    curated = rows_to_dataset(rows)
    staging = staging_folder(folder)  # no half-written vN if the run is killed or the push fails
    write_report(report, staging / "report.json")
    with open(staging / "curation.jsonl", "w", encoding="utf-8") as file:
        for entry in ledger:
            file.write(json.dumps(entry, ensure_ascii=False) + "\n")
    plot_funnel(funnel, staging / "funnel.png", title=f"curation {input_version.version} -> {version}")
    (staging / "config.yaml").write_text(
        (input_version.folder / "config.yaml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    card = build_card(
        report, input_version.config_dict, repo_id=push_to_hub, folder=folder.name, extra_section=card_section(report)
    )
    output = input_version.config.output
    folder = save_and_push(staging, curated, card, version, push_to_hub, output, "curation kept no pair", final=folder)
    return PullResult(folder, report)


def auto_decisions(version: Any) -> dict[str, RecordResponses]:
    """One submitted answer per reviewable pair, as if from an annotator named AUTO_ANNOTATOR: discard where a soft
    check flags the pair (the discard `curate push` would suggest), keep everywhere else; the flags go in its notes."""
    rows, _ = reviewable_rows(version)
    limits = SoftLimits.from_validation(version.config.validation)
    decisions = {}
    for _, row in rows:
        flags = limits.flags(row)
        values = {DECISION: DISCARD, NOTES: "soft checks: " + ", ".join(sorted(flags))} if flags else {DECISION: KEEP}
        answer = {"user_id": AUTO_ANNOTATOR, "username": AUTO_ANNOTATOR, "status": "submitted", "values": values}
        decisions[row[col.REPLY_ID]] = RecordResponses(row[col.REPLY_ID], {}, {}, "completed", [answer])
    return decisions


def auto(
    dataset_spec: str, output_dir: str | Path, push_to_hub: str | None = None, version: str | None = None
) -> PullResult:
    """Curate a version with no person in the loop: the soft checks' suggestions are the decisions (auto_decisions),
    resolved and written exactly as `curate pull` resolves and writes people's answers."""
    input_version = load_version(dataset_spec)
    version, folder = next_version_folder(input_version, output_dir, version, push_to_hub)
    rows, ledger, facts = curate_rows(input_version, auto_decisions(input_version))
    limits = SoftLimits.from_validation(input_version.config.validation)
    curation = {
        "mode": "auto",
        "reviewed_by_people": False,
        "soft_limits": {
            col.LANGUAGE_CONFIDENCE: limits.min_language_confidence,
            col.TOXICITY_SCORE: limits.max_toxicity,
            col.UNIQUE_WORD_COUNT: limits.min_unique_words,
            col.GENERIC_PHRASE_RATIO: limits.max_generic_ratio,
        },
    }
    return write_curated_version(
        input_version, rows, ledger, facts, folder, version, push_to_hub, curation, auto_card_section
    )


def auto_card_section(report: dict) -> str:
    curation = report["curation"]
    counts = curation["counts"]
    source = curation["input"]
    limits = curation["soft_limits"]
    rows = [
        ("input pairs", counts["input_pairs"]),
        ("kept (no soft check flagged them)", counts["kept"]),
        ("discarded (a soft check flagged them)", counts["discarded"]),
        ("invalid input rows (never decided)", counts["invalid"]),
    ]
    table = "\n".join(["| pairs | count |", "|---|---|"] + [f"| {name} | {count} |" for name, count in rows])
    return f"""
## Curation (auto mode: no person reviewed this version)

This version is **{source["version"]}** (`{source["source"]}`) curated by `python -m data_prep curate auto`.
**No person reviewed these pairs.** The automatic soft checks stood in for annotators: a pair was discarded where
one of them flagged it (the pairs `curate push` would send to Argilla with *discard* suggested) and kept otherwise.
A pair is flagged when it lies between the build's threshold and a soft limit halfway to the clean end:

- language confidence below {limits[col.LANGUAGE_CONFIDENCE]:g},
- toxicity above {limits[col.TOXICITY_SCORE]:g},
- fewer than {limits[col.UNIQUE_WORD_COUNT]:g} distinct meaningful words,
- a generic-phrase ratio above {limits[col.GENERIC_PHRASE_RATIO]:g}.

Nothing was edited. For human review, use `curate push` and `curate pull`.

{table}

Every pair's decision (and the checks that flagged it) is in `curation.jsonl`.
"""


def add_curate_arguments(parser: argparse.ArgumentParser) -> list[argparse.ArgumentParser]:
    """curate's subcommands (push, pull, auto) on `parser`; returns their parsers."""
    commands = parser.add_subparsers(dest="curate_command", required=True)
    push_parser = commands.add_parser("push", help="send a dataset version's pairs to Argilla for review")
    push_parser.add_argument(
        "--dataset", required=True, metavar="DIR_OR_REPO[@vN]", help="a version folder, DIR@vN, or a Hub REPO@vN"
    )
    pull_parser = commands.add_parser("pull", help="turn the submitted reviews into the next dataset version")
    pull_parser.add_argument("--output", type=Path, required=True, help="the version is written to OUTPUT/vN/")
    pull_parser.add_argument(
        "--dataset",
        default=None,
        metavar="DIR_OR_REPO[@vN]",
        help="the input version (default: the one `curate push` recorded on the Argilla dataset)",
    )
    pull_parser.add_argument("--push-to-hub", metavar="REPO", default=None, help="also push to this Hub dataset repo")
    pull_parser.add_argument("--version", default=None, help="vN (default: the input's version + 1)")
    auto_parser = commands.add_parser(
        "auto", help="the next dataset version with no person in the loop: the soft checks' suggestions decide"
    )
    auto_parser.add_argument(
        "--dataset", required=True, metavar="DIR_OR_REPO[@vN]", help="a version folder, DIR@vN, or a Hub REPO@vN"
    )
    auto_parser.add_argument("--output", type=Path, required=True, help="the version is written to OUTPUT/vN/")
    auto_parser.add_argument("--push-to-hub", metavar="REPO", default=None, help="also push to this Hub dataset repo")
    auto_parser.add_argument("--version", default=None, help="vN (default: the input's version + 1)")
    for sub in (push_parser, pull_parser):
        sub.add_argument("--argilla-dataset", required=True, metavar="NAME", help="the Argilla dataset's name")
        sub.add_argument("--workspace", default=None, help="Argilla workspace (default: your first one)")
        sub.add_argument("--no-progress", action="store_true", help="no progress bars")
    push_parser.add_argument(
        "--min-submitted",
        type=int,
        default=1,
        help="annotators who must submit a record before it leaves the queue; 2 or more measures agreement",
    )
    push_parser.add_argument("--batch-size", type=int, default=256, help="records per request (at most 500)")
    return [push_parser, pull_parser, auto_parser]


def run_curate(args: argparse.Namespace) -> int:

    try:
        if args.curate_command == "push":
            if args.min_submitted < 1:
                raise InputError("--min-submitted must be at least 1")
            summary = push(
                args.dataset,
                args.argilla_dataset,
                workspace=args.workspace,
                min_submitted=args.min_submitted,
                batch_size=args.batch_size,
                progress=not args.no_progress,
            )
            print(
                f"{summary.pushed} pairs {'pushed to new' if summary.created else 'updated in'} Argilla dataset "
                f"{summary.workspace}/{summary.dataset_name} ({summary.suggested_discard} suggested as discard by "
                f"the soft checks). Annotate at {summary.annotation_url}"
            )
            if summary.invalid:
                reasons = Counter(problem["reason"] for problem in summary.invalid)
                print(
                    f"{len(summary.invalid)} rows not pushed: "
                    + ", ".join(f"{count} {reason}" for reason, count in reasons.items())
                    + " (each is logged above; pull counts them as curation/invalid_record)"
                )
            return EXIT_OK
        if args.curate_command == "auto":
            result = auto(args.dataset, args.output, push_to_hub=args.push_to_hub, version=args.version)
            counts = result.report["curation"]["counts"]
            print(
                f"curated version written to {result.folder}"
                + (f" and pushed to {args.push_to_hub}@{result.report['version']}" if args.push_to_hub else "")
                + f" in auto mode (no person reviewed it): of {counts['input_pairs']} pairs, {counts['kept']} kept, "
                f"{counts['discarded']} discarded by the soft checks, {counts['invalid']} invalid"
            )
            return EXIT_OK
        result = pull(
            args.argilla_dataset,
            args.output,
            workspace=args.workspace,
            dataset_spec=args.dataset,
            push_to_hub=args.push_to_hub,
            version=args.version,
            progress=not args.no_progress,
        )
    except Refused as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return EXIT_REFUSED
    except Exception as error:  # any failure mid-run: the traceback in the log, one redacted line on stderr
        logging.getLogger("data_prep").exception("curate %s failed", args.curate_command)
        print(f"error: {type(error).__name__}: {redact(str(error))}", file=sys.stderr)
        return EXIT_FAILED
    counts = result.report["curation"]["counts"]
    agreement = result.report["curation"]["agreement"]
    for rejected in result.report["curation"]["rejected_edits"][:20]:
        print(f"edit rejected ({rejected['reason']}): reply {rejected['reply_id']}: {rejected['edited_reply']!r}")
    for flagged in result.report["curation"]["flagged_edits"][:20]:
        print(f"edit kept, flagged ({'; '.join(flagged['flags'])}): reply {flagged['reply_id']}")
    agreement_text = f"{agreement['metric']} {agreement['value']}" if agreement["value"] is not None else "n/a"
    print(
        f"curated version written to {result.folder}"
        + (f" and pushed to {args.push_to_hub}@{result.report['version']}" if args.push_to_hub else "")
        + f": of {counts['input_pairs']} pairs, {counts['kept']} kept, {counts['edited']} edited, "
        f"{counts['discarded']} discarded, {counts['unreviewed']} unreviewed, {counts['edit_rejected']} edits "
        f"rejected; agreement on decision: {agreement_text}"
    )
    return EXIT_OK
