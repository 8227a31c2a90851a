"""`python -m data_prep build`: raw records -> pairs -> filters -> validation -> cleaning -> split -> privacy ->
a versioned DatasetDict folder (+ card, report.json, funnel.png, config.yaml), optionally pushed to the Hub.

`run_pipeline` is the whole data path on records already read; `build` adds the checks that must pass before
any work (inputs, version, pseudonym key), reading the files, and writing/publishing the result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import shutil
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml
from datasets import Dataset, DatasetDict, disable_progress_bars

from data_prep.card import build_card
from data_prep.cleaning import exact_duplicate_key, find_exact_duplicates, quality_scores
from data_prep.config import DataPrepConfig
from data_prep.dedup import (
    EMBEDDING_MODEL_NAME,
    TextEmbeddings,
    backend_name,
    load_embedding_backend,
    nearest_similarity,
    semantic_duplicates,
)
from data_prep.explain import EmptyBuildError, UnreadableInputError, explain_empty_build
from data_prep.filters import over_author_cap, reply_rejection, root_rejection
from data_prep.funnel import Funnel, Reason, plot_funnel, settle_tweets, write_dispositions, write_report
from data_prep.pairs import Pair, find_pairs, unique_tweets
from data_prep.privacy import Pseudonymizer, pseudonymizer_from_environment, published_id
from data_prep.publish import (
    check_dataset_push_target,
    check_output_folder,
    new_version_folder,
    save_and_push,
    staging_folder,
)
from data_prep.rows import PAIR_FEATURES, pair_row
from data_prep.sources import iter_tweets, scan_input_files
from data_prep.split import SPLITS, LeakageReport, check_leakage, split_by_conversation
from data_prep.validators import LanguageDetector, Validators
from replytune import schema as col
from replytune.files import sha256_of
from replytune.quiet import no_progress_bars
from replytune.schema import TOXICITY_SCORE
from replytune.secrets import redact

logger = logging.getLogger(__name__)

EMPTY_BUILD_FOLDER = "empty-build"  # where a build that kept no pair leaves its report (OUTPUT/empty-build/)


@dataclass
class PipelineResult:
    rows: dict[str, list[dict]]  # split -> published rows, best quality first
    funnel: Funnel
    scorers: dict[str, str | None]
    leakage: dict | None
    sources: Counter = field(default_factory=Counter)  # source file -> input records
    stage_seconds: dict[str, float] = field(default_factory=dict)  # wall time of each stage, in pipeline order
    embedded_texts: int = 0  # distinct texts embedded (replies for dedup, replies and tweets for the leakage check)
    embedded_in_background: int = 0  # of those, embedded while the cheap stages ran (some of them then dropped)
    embeddings: TextEmbeddings | None = None  # those texts and their vectors (the build benchmark compares them)
    counts: dict[str, int] = field(default_factory=dict)  # unique tweets, candidate pairs and roots: the explanation's


class StageClock:
    """Wall time per stage, for the log, report.json and benchmarks/data_prep_build.py."""

    def __init__(self):
        self.seconds: dict[str, float] = {}
        self._started = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        self.seconds[stage] = round(self.seconds.get(stage, 0.0) + now - self._started, 3)
        self._started = now


def drop_pairs(pairs: list[Pair], reasons: list[str | None], reply_drops: dict[str, str]) -> list[Pair]:
    """Keep the pairs without a reason; remember why each other reply was dropped (a `Reason` also says what
    decided, for the ledger)."""
    for pair, reason in zip(pairs, reasons):
        if reason:
            reply_drops[pair.reply.tweet_id] = reason
    return [pair for pair, reason in zip(pairs, reasons) if not reason]


def counted_by_source(records: Iterable, sources: Counter) -> Iterator:
    for record in records:
        sources[record.source_file] += 1
        yield record


def filter_roots(
    pairs: list[Pair], config: DataPrepConfig, language: LanguageDetector, reply_drops: dict[str, str]
) -> tuple[list[Pair], dict[str, str]]:
    """Root filters on every tweet that has candidate replies (on its text as published); the replies to a rejected
    tweet go with it."""
    roots = {pair.tweet.tweet_id: pair for pair in pairs}
    root_drops = {}
    for root_id, pair in roots.items():
        reason = root_rejection(pair.tweet, config.root_filters, language.top_language, text=pair.tweet_text)
        if reason:
            root_drops[root_id] = reason
    reasons = [root_rejected(root_drops.get(pair.tweet.tweet_id), pair.tweet.tweet_id) for pair in pairs]
    return drop_pairs(pairs, reasons, reply_drops), root_drops


def root_rejected(root_reason: str | None, root_id: str) -> Reason | None:
    """A reply's disposition when the tweet it answers failed the root filters: which filter, and its value."""
    if not root_reason:
        return None
    detail = getattr(root_reason, "detail", None)
    return Reason(
        "root_filters/root_rejected", f"its tweet: {root_reason}" + (f" ({detail})" if detail else ""), root_id
    )


def filter_replies(pairs: list[Pair], config: DataPrepConfig, reply_drops: dict[str, str]) -> list[Pair]:
    return drop_pairs(pairs, [reply_rejection(pair, config.reply_filters) for pair in pairs], reply_drops)


def validate(pairs: list[Pair], validators: Validators, reply_drops: dict[str, str], progress: bool) -> list[Pair]:
    """The cheap validators (language, spam, words, generic phrases) on every reply, then toxicity, whose model is
    the slow one (Detoxify is a BERT), on the replies they passed only. What is kept is the same either way."""
    for pair, scores in zip(pairs, validators.scores([pair.reply_text for pair in pairs], progress, toxicity=False)):
        pair.scores = scores
    reasons = [validators.rejection(pair.reply_text, pair.scores, source_language=pair.reply.lang) for pair in pairs]
    pairs = drop_pairs(pairs, reasons, reply_drops)
    for pair, toxicity in zip(pairs, validators.toxicity_scores([pair.reply_text for pair in pairs], progress)):
        pair.scores[TOXICITY_SCORE] = toxicity
    reasons = [validators.rejection(pair.reply_text, pair.scores, source_language=pair.reply.lang) for pair in pairs]
    return drop_pairs(pairs, reasons, reply_drops)


def cap_per_author(pairs: list[Pair], config: DataPrepConfig, reply_drops: dict[str, str]) -> list[Pair]:
    """The per-author cap, on the replies that passed every filter and validator: an author's most liked replies
    failing validation must not use up the places of their valid ones."""
    cap = config.reply_filters.max_replies_per_author
    reasons = [
        Reason(
            "reply_filters/author_reply_cap",
            f"the author's reply number {rank} by likes > max_replies_per_author {cap}",
        )
        if rank
        else None
        for rank in over_author_cap(pairs, cap)
    ]
    return drop_pairs(pairs, reasons, reply_drops)


def drop_exact_duplicates(pairs: list[Pair], config: DataPrepConfig, reply_drops: dict[str, str]) -> list[Pair]:
    """Exact dedup (the more liked reply stays; ties: the lower reply id, as pairs come sorted by id)."""
    if not config.cleaning.exact_dedup:
        return pairs
    duplicate = find_exact_duplicates([p.reply_text for p in pairs], [p.reply_likes for p in pairs])
    kept_by_text = {exact_duplicate_key(p.reply_text): p for p, d in zip(pairs, duplicate) if not d}
    reasons = []
    for pair, is_duplicate in zip(pairs, duplicate):
        kept = kept_by_text[exact_duplicate_key(pair.reply_text)] if is_duplicate else None
        reasons.append(
            Reason(
                "cleaning/exact_duplicate",
                f"same text as a reply that stays (likes {pair.reply_likes} <= {kept.reply_likes})",
                kept.reply.tweet_id,
            )
            if kept
            else None
        )
    return drop_pairs(pairs, reasons, reply_drops)


def text_embeddings(config: DataPrepConfig, progress: bool) -> tuple[TextEmbeddings | None, str | None]:
    """The one embedding cache of the build, when semantic dedup or the leakage check needs it, and why its backend
    is not the configured one (None when it is)."""
    if not (config.cleaning.semantic_dedup or config.split.check_leakage):
        return None, None
    cleaning = config.cleaning
    model, fallback_reason = load_embedding_backend(cleaning.embedding_model, cleaning.embedding_backend)
    embeddings = TextEmbeddings(model, cleaning.embedding_batch_size, cleaning.embedding_max_tokens, progress)
    return embeddings, fallback_reason


def drop_semantic_duplicates(
    pairs: list[Pair], embeddings: TextEmbeddings | None, config: DataPrepConfig, reply_drops, progress: bool
) -> list[Pair]:
    """Semantic dedup: greedy, the more liked reply stays; ties break by reply id (pairs come sorted by id)."""
    if embeddings is None or not config.cleaning.semantic_dedup or not pairs:
        return pairs
    vectors = embeddings.of([p.reply_text for p in pairs])
    likes = [p.reply_likes for p in pairs]
    threshold = config.cleaning.semantic_threshold
    duplicate = semantic_duplicates(vectors, likes, threshold, progress=progress)
    reasons: list[Reason | None] = [None] * len(pairs)
    dropped, kept = np.flatnonzero(duplicate), np.flatnonzero(~duplicate)
    if len(dropped) and len(kept):  # the kept reply closest to each dropped one (one that stays is >= threshold)
        cosine, nearest = nearest_similarity(vectors[dropped], vectors[kept])
        for index, similarity, position in zip(dropped, cosine, nearest):
            other = pairs[int(kept[position])]
            detail = f"cosine {similarity:.3f} >= semantic_threshold {threshold:g} with a reply that stays"
            reasons[int(index)] = Reason("cleaning/semantic_duplicate", detail, other.reply.tweet_id)
    return drop_pairs(pairs, reasons, reply_drops)


def score_quality(pairs: list[Pair], config: DataPrepConfig, reply_drops: dict[str, str]) -> list[Pair]:
    """The original spec's quality score on every pair; with `max_pairs`, only the best stay."""
    scores = quality_scores(
        [p.reply.likes for p in pairs],
        [p.reply.author_followers for p in pairs],
        [p.delay_seconds for p in pairs],
        config.cleaning.quality_weights,
    )
    for pair, score in zip(pairs, scores):
        pair.quality_score = score
    if config.cleaning.max_pairs is None or len(pairs) <= config.cleaning.max_pairs:
        return pairs
    cutoff = config.cleaning.max_pairs
    best = set(sorted(range(len(pairs)), key=lambda i: -pairs[i].quality_score)[:cutoff])
    reasons = [
        None
        if i in best
        else Reason(
            "cleaning/below_quality_cutoff", f"quality {pair.quality_score:.4f}, not among the best max_pairs {cutoff}"
        )
        for i, pair in enumerate(pairs)
    ]
    return drop_pairs(pairs, reasons, reply_drops)


def split_pairs(
    pairs: list[Pair], embeddings: TextEmbeddings | None, config: DataPrepConfig, reply_drops: dict[str, str]
) -> tuple[list[Pair], list[str], LeakageReport | None]:
    """Split by conversation, then check (and by default drop) eval/test pairs whose reply or tweet is too close to
    a train one."""
    splits = split_by_conversation([p.conversation_id for p in pairs], config.split)
    if embeddings is None or not config.split.check_leakage:
        return pairs, splits, None
    leakage = check_leakage(
        splits,
        embeddings.of([p.reply_text for p in pairs]),
        [p.reply.tweet_id for p in pairs],
        config.split,
        tweet_embeddings=embeddings.of([p.tweet_text for p in pairs]),
    )
    if config.split.drop_leaking and leakage.leaking:
        reason_of = {"reply": "split/near_duplicate_of_train", "tweet": "split/tweet_near_duplicate_of_train"}
        threshold = config.split.leakage_threshold
        reasons = [None] * len(pairs)
        for i, what in leakage.leaking_by.items():
            train_index, similarity = leakage.leaking_with[i]
            detail = (
                f"in {splits[i]}: its {what}'s cosine {similarity:.3f} >= leakage_threshold {threshold:g} with train"
            )
            reasons[i] = Reason(reason_of[what], detail, pairs[train_index].reply.tweet_id)
        splits = [split for split, reason in zip(splits, reasons) if not reason]
        pairs = drop_pairs(pairs, reasons, reply_drops)
    return pairs, splits, leakage


def published_leakage(leakage: LeakageReport | None, config: DataPrepConfig, pseudonymizer: Pseudonymizer):
    """The leakage report as published: its example ids are published like the rows' ids."""
    if leakage is None:
        return None
    report = leakage.as_dict()
    for example in report["examples"]:
        for key in ("reply_id", "train_reply_id"):
            example[key] = published_id(example[key], config.privacy.published_ids, pseudonymizer)
    return report


def run_pipeline(
    records: Iterable,
    config: DataPrepConfig,
    pseudonymizer: Pseudonymizer,
    progress: bool = True,
) -> PipelineResult:
    """Every stage of the build on `records` (Tweet or sources.Rejected, one per input record), in order.

    The cheap stages run first, so that only what survives them is embedded on both cores (each distinct text
    once); while they run on one core, the other embeds the replies still standing (`TextEmbeddings.prefetch`).
    """
    clock = StageClock()
    sources: Counter = Counter()
    funnel = Funnel(ledger=[])
    tweets = unique_tweets(counted_by_source(records, sources), funnel, progress)
    if not tweets:
        raise UnreadableInputError(funnel, sources)
    clock.lap("ingest")
    pairing = find_pairs(tweets, config.pairs, config.cleaning.normalize_text, config.cleaning.max_raw_text_length)
    pairs, reply_drops = pairing.pairs, dict(pairing.reply_drops)
    candidate_root_ids = {pair.tweet.tweet_id for pair in pairs} | set(pairing.root_drops)
    logger.info("%d unique tweets, %d candidate pairs on %d tweets", len(tweets), len(pairs), len(candidate_root_ids))
    clock.lap("pairs + normalization")
    # The stages up to semantic dedup run on one core (Detoxify aside): the embedding model starts on the other, on
    # the replies still standing, while they run.
    embeddings, embedding_fallback = text_embeddings(config, progress) if pairs else (None, None)
    if embeddings is not None:
        embeddings.prefetch([pair.reply_text for pair in pairs])
    clock.lap("load embedding model")

    language = LanguageDetector()
    pairs, root_drops = filter_roots(pairs, config, language, reply_drops)
    root_drops = {**pairing.root_drops, **root_drops}
    pairs = filter_replies(pairs, config, reply_drops)
    if embeddings is not None:
        embeddings.prefetch([pair.reply_text for pair in pairs])
    clock.lap("filters")
    validators = None
    if pairs:  # the validators (Detoxify: a BERT, and its loud fallback) load only when a reply is left to validate
        validators = Validators.load(config.validation, language)
        if embeddings is not None and validators.toxicity.uses_every_core:
            # Detoxify's operators already take both cores: embedding beside them would slow both.
            embeddings.stop_prefetch()
        clock.lap("load validators")
        pairs = validate(pairs, validators, reply_drops, progress)
    clock.lap("validation")
    pairs = cap_per_author(pairs, config, reply_drops)
    pairs = drop_exact_duplicates(pairs, config, reply_drops)
    clock.lap("author cap + exact dedup")
    pairs = drop_semantic_duplicates(pairs, embeddings, config, reply_drops, progress)
    clock.lap("semantic dedup (embeddings)")
    pairs = score_quality(pairs, config, reply_drops)
    pairs, splits, leakage = split_pairs(pairs, embeddings, config, reply_drops)
    clock.lap("split + leakage check (embeddings)")

    settle_tweets(
        funnel,
        (tweet.tweet_id for tweet in tweets),
        reply_drops,
        root_drops,
        kept_reply_ids={p.reply.tweet_id: split for p, split in zip(pairs, splits)},
        used_root_ids=Counter(p.tweet.tweet_id for p in pairs),
        candidate_root_ids=candidate_root_ids,
    )
    funnel.check()

    rows: dict[str, list[dict]] = {name: [] for name in SPLITS}
    for pair, split in sorted(zip(pairs, splits), key=lambda item: -item[0].quality_score):
        rows[split].append(pair_row(pair, config.output, config.privacy, pseudonymizer))
    clock.lap("rows")
    scorers = {
        "language": language.name,
        "toxicity": validators.toxicity.name if validators else None,
        "toxicity_fallback": validators.toxicity.fallback_reason if validators else None,
        "embeddings": (config.cleaning.embedding_model or EMBEDDING_MODEL_NAME) if embeddings is not None else None,
        "embedding_backend": backend_name(embeddings.model) if embeddings is not None else None,
        "embedding_backend_fallback": embedding_fallback,
    }
    counts = {"unique_tweets": len(tweets), "candidate_pairs": len(pairing.pairs) + len(pairing.reply_drops)}
    counts["candidate_roots"] = len(candidate_root_ids)
    return PipelineResult(
        rows,
        funnel,
        scorers,
        published_leakage(leakage, config, pseudonymizer),
        sources,
        clock.seconds,
        len(embeddings) if embeddings is not None else 0,
        embeddings.prefetched if embeddings is not None else 0,
        embeddings,
        counts,
    )


def rows_to_dataset(rows: dict[str, list[dict]]) -> DatasetDict:
    """A DatasetDict of the non-empty splits (load_dataset cannot read back an empty split)."""
    return DatasetDict(
        {
            name: Dataset.from_dict(
                {c: [row[c] for row in split_rows] for c in col.PAIR_COLUMNS}, features=PAIR_FEATURES
            )
            for name, split_rows in rows.items()
            if split_rows
        }
    )


def without_local_paths(config: dict) -> dict:
    """The config as written into the version folder (and so published): a config value naming a local file or
    folder (an embedding model or Detoxify checkpoint given by path) keeps only its name."""
    cleaned = {}
    for key, value in config.items():
        if isinstance(value, dict):
            value = without_local_paths(value)
        elif isinstance(value, str) and ("/" in value or "\\" in value) and Path(value).expanduser().exists():
            value = Path(value).name
        cleaned[key] = value
    return cleaned


def describe_inputs(inputs: list[str | Path], files: list[Path], records: Counter) -> list[dict]:
    """One entry per input argument: its name (never the local path: the card and report.json are published), its
    files, its records, and a sha256 (of the file, or of a folder's sorted "relative path  sha256" lines), so a
    card's numbers can be traced back to exact inputs."""
    described = []
    for given in map(Path, inputs):
        members = sorted(f for f in files if f == given or given in f.parents)
        if given.is_file():
            digest = sha256_of(given)
        else:
            lines = "".join(f"{f.relative_to(given)}  {sha256_of(f)}\n" for f in members)
            digest = hashlib.sha256(lines.encode()).hexdigest()
        described.append(
            {
                "name": given.resolve().name,
                "files": len(members),
                "records": sum(records[str(f)] for f in members),
                "sha256": digest,
            }
        )
    return described


def published_file_names(inputs: list[str | Path], files: list[Path]) -> dict[str, str]:
    """How dispositions.jsonl names each file read: a file given by itself by its name (as report.json's sources do);
    a file inside a folder as `<folder name>/<n>`, its place among the folder's files the build read (sorted paths,
    from 1), because a file's own name may be a raw tweet id (RumourEval's are) and must not be published."""
    names: dict[str, str] = {}
    for given in map(Path, inputs):
        if given.is_file():
            names.setdefault(str(given), given.name)
            continue
        members = sorted(f for f in files if given in f.parents)
        for number, member in enumerate(members, start=1):
            names.setdefault(str(member), f"{given.resolve().name}/{number}")
    return names


def build(
    config: DataPrepConfig,
    inputs: list[str | Path],
    output_dir: str | Path,
    push_to_hub: str | None = None,
    version: str | None = None,
    progress: bool = True,
) -> Path:
    """Build one dataset version into `output_dir/vN/` (and push it, tagged vN, when `push_to_hub` names a repo).

    Everything that can stop the run is checked before any record is read: the input files (InputError), the
    version name and that it is free locally (PublishError) and on the Hub, and that a private dataset would not go
    into a public repo (PushTargetError), the pseudonym key for a push (PrivacyError). Returns the version folder.
    """
    output_dir = Path(output_dir)
    check_output_folder(output_dir)
    scan = scan_input_files(inputs)
    version, folder = new_version_folder(output_dir, version, push_to_hub)
    pseudonymizer = pseudonymizer_from_environment(config.privacy.pseudonym_length, for_push=bool(push_to_hub))
    if push_to_hub:
        check_dataset_push_target(push_to_hub, version, config.output.private, config.output.allow_public_repo)

    if not progress:
        disable_progress_bars()
        no_progress_bars()
    result = run_pipeline(iter_tweets(scan.files), config, pseudonymizer, progress)
    split_sizes = {name: len(rows) for name, rows in result.rows.items()}
    empty = not any(split_sizes.values())
    if not empty:
        logger.info("pairs per split: %s", split_sizes)

    config_dict = without_local_paths(dataclasses.asdict(config))
    report = result.funnel.as_report(
        version=None if empty else version,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        splits=split_sizes,
        scorers=result.scorers,
        leakage=result.leakage,
        privacy={
            "pseudonym_key": pseudonymizer.key_source,
            "handles_replaced": config.privacy.replace_handles,
            "published_ids": config.privacy.published_ids,
        },
        sources=describe_inputs(inputs, scan.files, result.sources),
        skipped_files=dict(Counter(reason for _, reason in scan.skipped)),
        hub_repo=None if empty else push_to_hub,
        embedded_texts=result.embedded_texts,
        embedded_in_background=result.embedded_in_background,
        stage_seconds=result.stage_seconds,
    )
    staging = staging_folder(folder)
    write_report(report, staging / "report.json")
    file_names = published_file_names(inputs, scan.files)
    write_dispositions(
        result.funnel,
        staging / "dispositions.jsonl",
        lambda raw_id: published_id(raw_id, config.privacy.published_ids, pseudonymizer),
        lambda source: file_names.get(source, "?"),
    )
    plot_funnel(result.funnel, staging / "funnel.png", title=f"data_prep {version if not empty else '(no pair)'}")
    (staging / "config.yaml").write_text(redact(yaml.safe_dump(config_dict, sort_keys=False)), encoding="utf-8")
    if empty:  # no version number taken, nothing pushed: where every record went, and the top reasons why
        where = keep_empty_build(staging, output_dir / EMPTY_BUILD_FOLDER)
        lines = explain_empty_build(report["dispositions"], result.counts, config, version, where)
        raise EmptyBuildError(lines, where)
    dataset = rows_to_dataset(result.rows)
    card = build_card(report, config_dict, repo_id=push_to_hub, folder=folder.name)
    nothing_kept = "no pair survived the filters"  # unreachable since empty builds stop above; kept for its contract
    return save_and_push(staging, dataset, card, version, push_to_hub, config.output, nothing_kept, final=folder)


def keep_empty_build(staging: Path, folder: Path) -> Path:
    """Move an empty build's report, ledger, funnel and config to OUTPUT/empty-build/ (no vN: the next build takes
    the number), replacing the previous empty build's; a folder of that name that data_prep did not write stays."""
    if folder.exists():
        if not (folder / "dispositions.jsonl").is_file():
            return staging
        shutil.rmtree(folder)
    return staging.rename(folder)
