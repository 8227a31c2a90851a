"""Live collection of root tweets and their replies with the Apify actor apidojo/tweet-scraper.

    python -m data_prep collect --config data_prep/configs/default.yaml --output DIR [--resume] [--max-cost USD]

1. Every search term of the config runs once (sort Top, tweetLanguage en, `-crypto -NFT` exclusions and
   `until:DATE`, so that replies have had time to gather likes).
2. Root tweets are chosen among the results: not replies, retweets or quotes, likes within
   [min_root_likes, max_root_likes], most liked first, at most `max_root_tweets` in all.
3. The replies of each root are fetched with `conversationIds: [id]`; when that returns nothing (a known quirk of
   the actor) with `searchTerms: ["conversation_id:ID"]`, the workaround its maintainer recommends.

Output, in DIR:

- `tweets.jsonl`: the raw actor items, one per line, each with `_replytune_query` (the search term that found it,
  or found its root) and `_replytune_run_id` (the actor run). Placeholders (`{"noResults": true}`) are dropped and
  a tweet id already written is not written again. `python -m data_prep build --input DIR/tweets.jsonl` reads it.
- `collect_checkpoint.json`: where the run stands (steps done, roots chosen, the committed length of
  tweets.jsonl, the actor run in flight). Written atomically after every query and every conversation, so that
  `--resume` continues after a crash or a kill without losing or duplicating a record, and re-attaches to an
  actor run that was in flight instead of paying for it twice.
- `collect_manifest.json`: for the dataset card: the config, the estimated cost, every actor run (id, dataset id,
  status, items received, placeholders, duplicates, items written) and the totals.

Retries: apify-client retries 429, 5xx and network timeouts itself with exponential backoff and jitter; the config
sets how many times (`max_retries`) and the first delay (`retry_min_delay_s`). The token (APIFY_TOKEN) is read
through replytune.secrets and never printed or written.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tqdm import tqdm

from data_prep.config import DEFAULT_CONFIG_PATH, CollectConfig, load_config
from data_prep.sources import QUERY_KEY, RUN_ID_KEY, normalize_record, read_id
from replytune.errors import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_REFUSED, Refused
from replytune.files import write_json_atomically
from replytune.schema import Tweet
from replytune.secrets import get_secret, redact

OUTPUT_FILE_NAME = "tweets.jsonl"
CHECKPOINT_FILE_NAME = "collect_checkpoint.json"
MANIFEST_FILE_NAME = "collect_manifest.json"
CHECKPOINT_FORMAT = 1


# A run that ends in one of these statuses keeps its items (a timed-out run stored what it found so far).
USABLE_RUN_STATUSES = ("SUCCEEDED", "TIMED-OUT")
FAILED_RUN_STATUSES = ("FAILED", "ABORTED")


# Fields that only change how the collection runs, not what it collects: they may change between --resume calls.
OPERATIONAL_FIELDS = frozenset(
    {"cost_per_1000_items", "max_retries", "retry_min_delay_s", "request_timeout_s", "run_timeout_s", "api_url"}
)


class CollectError(RuntimeError):
    """The collection cannot go on (an actor run failed, a checkpoint does not match); the message says why."""


# --------------------------------------------------------------------------------------------------
# Plan: queries, run inputs, cost
# --------------------------------------------------------------------------------------------------


def search_query(term: str, config: CollectConfig) -> str:
    """The search string sent to the actor: the term, its exclusions and `until:`, unless the term has them."""
    parts = [term.strip()]
    words = term.split()
    for word in config.exclude_words:
        if f"-{word}" not in words:
            parts.append(f"-{word}")
    if config.until and "until:" not in term:
        parts.append(f"until:{config.until}")
    return " ".join(parts)


def search_run_input(term: str, config: CollectConfig) -> dict[str, Any]:
    run_input: dict[str, Any] = {
        "searchTerms": [search_query(term, config)],
        "maxItems": config.max_items_per_query,
        "sort": config.sort,
    }
    if config.tweet_language:
        run_input["tweetLanguage"] = config.tweet_language
    if config.min_root_likes > 0:
        # Filtering at the source: tweets below the root threshold would be paid for and then dropped.
        run_input["minimumFavorites"] = config.min_root_likes
    return run_input


def replies_run_input(conversation_id: str, config: CollectConfig, fallback: bool) -> dict[str, Any]:
    run_input: dict[str, Any] = {"maxItems": config.replies_per_conversation, "sort": config.reply_sort}
    if fallback:
        run_input["searchTerms"] = [f"conversation_id:{conversation_id}"]
    else:
        run_input["conversationIds"] = [conversation_id]
    if config.tweet_language:
        run_input["tweetLanguage"] = config.tweet_language
    return run_input


@dataclass
class CostEstimate:
    queries: int
    conversations: int
    items: int
    usd: float

    def describe(self, config: CollectConfig) -> str:
        return (
            f"up to {self.items:,} items ({self.queries} queries x {config.max_items_per_query} + "
            f"{self.conversations} conversations x {config.replies_per_conversation}) "
            f"x ${config.cost_per_1000_items:.2f} per 1,000 = ${self.usd:.2f}"
        )


def estimate_cost(config: CollectConfig, state: CollectState | None = None) -> CostEstimate:
    """The most the remaining work can cost: every run is capped at its maxItems, and a conversation's fallback
    only runs when its first run returned nothing, so a conversation costs at most one run's worth."""
    done = state.steps_done if state else {}
    queries = sum(1 for term in config.search_terms if f"search:{term}" not in done)
    if state is not None and state.roots is not None:
        conversations = sum(1 for root in state.roots if not _conversation_done(root["id"], done))
    else:
        conversations = config.max_root_tweets
    items = queries * config.max_items_per_query + conversations * config.replies_per_conversation
    return CostEstimate(queries, conversations, items, round(items / 1000 * config.cost_per_1000_items, 2))


# --------------------------------------------------------------------------------------------------
# State: the checkpoint, written atomically after every step
# --------------------------------------------------------------------------------------------------


@dataclass
class CollectState:
    config: dict[str, Any]
    started_at: str
    output_bytes: int = 0  # committed length of tweets.jsonl; anything after it is from an unfinished step
    output_records: int = 0
    steps_done: dict[str, dict[str, Any]] = field(default_factory=dict)  # "search:TERM" / "replies:ID" -> result
    roots: list[dict[str, Any]] | None = None  # chosen once after all searches: [{"id", "query", "likes"}]
    pending_run: dict[str, Any] | None = None  # {"step", "run_id"}: an actor run started but not yet committed
    runs: list[dict[str, Any]] = field(default_factory=list)  # one entry per actor run, for the manifest
    totals: dict[str, int] = field(
        default_factory=lambda: {
            "actor_runs": 0,
            "items_received": 0,
            "placeholders_dropped": 0,
            "duplicates_skipped": 0,
            "items_written": 0,
        }
    )
    format: int = CHECKPOINT_FORMAT


def load_state(path: Path) -> CollectState:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != CHECKPOINT_FORMAT:
            raise CollectError(f"{path}: checkpoint format {data.get('format')!r}, expected {CHECKPOINT_FORMAT}")
        return CollectState(**data)
    except (OSError, ValueError, TypeError) as error:
        raise CollectError(f"{path}: unreadable checkpoint ({error}); start again in a new folder") from error


def _collection_fields(config: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in OPERATIONAL_FIELDS}


def _conversation_done(conversation_id: str, steps_done: dict[str, dict[str, Any]]) -> bool:
    first = steps_done.get(f"replies:{conversation_id}")
    if first is None:
        return False
    return first["found_replies"] or f"replies_fallback:{conversation_id}" in steps_done


# --------------------------------------------------------------------------------------------------
# The collector
# --------------------------------------------------------------------------------------------------


class Collector:
    """Runs the plan step by step; every step is one actor run whose items are committed with the checkpoint."""

    def __init__(self, config: CollectConfig, output_dir: Path, client: Any, state: CollectState):
        self.config = config
        self.output_dir = output_dir
        self.client = client
        self.state = state
        self.output_path = output_dir / OUTPUT_FILE_NAME
        self.checkpoint_path = output_dir / CHECKPOINT_FILE_NAME
        self.manifest_path = output_dir / MANIFEST_FILE_NAME
        self.seen_ids = self._committed_ids()

    def _committed_ids(self) -> set[str]:
        """Ids already in tweets.jsonl, after cutting off whatever an interrupted step left past the checkpoint."""
        if not self.output_path.exists():
            if self.state.output_bytes:
                raise CollectError(f"{self.output_path} is missing but the checkpoint says it holds records")
            self.output_path.touch()
            return set()
        size = self.output_path.stat().st_size
        if size < self.state.output_bytes:
            raise CollectError(
                f"{self.output_path} is shorter ({size} bytes) than the checkpoint says ({self.state.output_bytes})"
            )
        if size > self.state.output_bytes:
            with open(self.output_path, "r+b") as file:
                file.truncate(self.state.output_bytes)
        seen = set()
        with open(self.output_path, encoding="utf-8") as file:
            for line in file:
                item_id = _item_id(json.loads(line))
                if item_id is not None:
                    seen.add(item_id)
        return seen

    # -- steps -----------------------------------------------------------------------------------------

    def run(self, progress: bool = True) -> None:
        terms = self.config.search_terms
        with tqdm(total=len(terms), desc="search queries", unit="query", disable=not progress) as bar:
            for term in terms:
                if f"search:{term}" not in self.state.steps_done:
                    self._run_step(f"search:{term}", search_run_input(term, self.config), query=term)
                bar.update(1)

        if self.state.roots is None:
            self.state.roots = self._choose_roots()
            self._save()
        roots = self.state.roots
        with tqdm(total=len(roots), desc="conversations", unit="conv", disable=not progress) as bar:
            for root in roots:
                self._collect_conversation(root)
                bar.update(1)
        self._save(complete=True)

    def _collect_conversation(self, root: dict[str, Any]) -> None:
        conversation_id, query = root["id"], root["query"]
        first = self.state.steps_done.get(f"replies:{conversation_id}")
        if first is None:
            first = self._run_step(
                f"replies:{conversation_id}",
                replies_run_input(conversation_id, self.config, fallback=False),
                query=query,
                conversation_id=conversation_id,
            )
        if first["found_replies"] or f"replies_fallback:{conversation_id}" in self.state.steps_done:
            return
        self._run_step(
            f"replies_fallback:{conversation_id}",
            replies_run_input(conversation_id, self.config, fallback=True),
            query=query,
            conversation_id=conversation_id,
        )

    def _run_step(
        self, step: str, run_input: dict[str, Any], query: str, conversation_id: str | None = None
    ) -> dict[str, Any]:
        """One actor run: start it (or re-attach to the one a killed collector left in flight), wait, read its
        dataset, and commit the new items together with the checkpoint."""
        run = self._start_or_reattach(step, run_input)
        finished = self._wait_for_finish(run["run_id"])
        if finished is None and run.get("reattached"):
            # The run a killed collector left is gone (deleted, or past Apify's retention): start it again.
            print(f"note: actor run {run['run_id']} ({step}) no longer exists; starting it again", file=sys.stderr)
            self.state.pending_run = None
            run = self._start_or_reattach(step, run_input)
            finished = self._wait_for_finish(run["run_id"])
        if finished is None:
            raise CollectError(f"actor run {run['run_id']} ({step}) disappeared")
        status = str(finished.status)
        if status in FAILED_RUN_STATUSES:
            self.state.pending_run = None  # --resume starts this step again instead of re-attaching to a dead run
            self._save()
        if status not in USABLE_RUN_STATUSES:
            raise CollectError(
                f"actor run {finished.id} ({step}) ended {status}; the checkpoint is kept: "
                "fix the cause, then run again with --resume"
            )
        items = list(self.client.dataset(finished.default_dataset_id).iterate_items())
        return self._commit(step, run_input, query, conversation_id, finished, status, items)

    def _wait_for_finish(self, run_id: str) -> Any:
        """The finished Run (pydantic), None when no such run exists; a run still going past the wait keeps its
        non-terminal status, which `_run_step` reports."""
        return self.client.run(run_id).wait_for_finish(
            wait_duration=timedelta(seconds=self.config.run_timeout_s + 300)
        )

    def _start_or_reattach(self, step: str, run_input: dict[str, Any]) -> dict[str, Any]:
        pending = self.state.pending_run
        if pending and pending["step"] == step:
            # A killed or failed collector started this run: wait for it rather than pay for it twice.
            return {**pending, "reattached": True}
        started = self.client.actor(self.config.actor_id).start(
            run_input=run_input,
            max_items=run_input["maxItems"],  # the API stops charging pay-per-result actors past this
            run_timeout=timedelta(seconds=self.config.run_timeout_s),
            timeout=timedelta(seconds=self.config.request_timeout_s),
        )
        self.state.pending_run = {"step": step, "run_id": started.id}
        self._save()
        return self.state.pending_run

    def _commit(
        self,
        step: str,
        run_input: dict[str, Any],
        query: str,
        conversation_id: str | None,
        run: Any,
        status: str,
        items: list[dict],
    ) -> dict[str, Any]:
        placeholders = duplicates = 0
        found_replies = False
        lines = []
        for item in items:
            if not isinstance(item, dict) or item.get("noResults"):
                placeholders += 1
                continue
            item_id = _item_id(item)
            if conversation_id is not None and item_id != conversation_id:
                found_replies = True  # anything but the root itself counts as "the run found the conversation"
            if item_id is not None:
                if item_id in self.seen_ids:
                    duplicates += 1
                    continue
                self.seen_ids.add(item_id)
            annotated = {**item, QUERY_KEY: query, RUN_ID_KEY: run.id}
            lines.append(json.dumps(annotated, ensure_ascii=False) + "\n")

        with open(self.output_path, "a", encoding="utf-8") as file:
            file.writelines(lines)
            file.flush()
            os.fsync(file.fileno())
        received = len(items) - placeholders
        result = {"run_id": run.id, "items_received": received, "items_written": len(lines)}
        if conversation_id is not None:
            result["found_replies"] = found_replies
        self.state.steps_done[step] = result
        self.state.runs.append(
            {
                "step": step.split(":", 1)[0],
                "query": query,
                "conversation_id": conversation_id,
                "actor_run_id": run.id,
                "dataset_id": run.default_dataset_id,
                "status": status,
                "run_input": run_input,
                "items_received": received,
                "placeholders_dropped": placeholders,
                "duplicates_skipped": duplicates,
                "items_written": len(lines),
            }
        )
        totals = self.state.totals
        totals["actor_runs"] += 1
        totals["items_received"] += received
        totals["placeholders_dropped"] += placeholders
        totals["duplicates_skipped"] += duplicates
        totals["items_written"] += len(lines)
        self.state.output_bytes = self.output_path.stat().st_size
        self.state.output_records += len(lines)
        self.state.pending_run = None
        self._save()
        return result

    def _choose_roots(self) -> list[dict[str, Any]]:
        """Root tweets to fetch replies of, from everything the searches found (only searches have run so far)."""
        config = self.config
        candidates: list[Tweet] = []
        with open(self.output_path, encoding="utf-8") as file:
            for line in file:
                tweet = normalize_record(json.loads(line), str(self.output_path))
                if isinstance(tweet, Tweet) and _is_root_candidate(tweet, config):
                    candidates.append(tweet)
        candidates.sort(key=lambda tweet: (-(tweet.likes or 0), tweet.tweet_id))
        chosen = candidates[: config.max_root_tweets]
        return [{"id": tweet.tweet_id, "query": tweet.query, "likes": tweet.likes} for tweet in chosen]

    # -- checkpoint and manifest --------------------------------------------------------------------------

    def _save(self, complete: bool = False) -> None:
        """The checkpoint first (the source of truth for --resume), then the manifest derived from it."""
        write_json_atomically(self.checkpoint_path, asdict(self.state))
        write_json_atomically(self.manifest_path, self._manifest(complete))

    def _manifest(self, complete: bool) -> dict[str, Any]:
        state, config = self.state, self.config
        return {
            "actor_id": config.actor_id,
            "api_url": config.api_url or "https://api.apify.com",
            "output_file": OUTPUT_FILE_NAME,
            "records": state.output_records,
            "complete": complete,
            "started_at": state.started_at,
            "updated_at": _now_iso(),
            "config": state.config,
            "estimated_max_cost_usd": estimate_cost(config).usd,
            "estimated_cost_of_items_received_usd": round(
                state.totals["items_received"] / 1000 * config.cost_per_1000_items, 2
            ),
            "queries": list(config.search_terms),
            "roots_chosen": len(state.roots) if state.roots is not None else None,
            "totals": {**state.totals, **conversation_totals(state)},
            "runs": state.runs,
        }


def conversation_totals(state: CollectState) -> dict[str, int]:
    """Counted from the steps done, so that a resumed collection cannot count a conversation twice."""
    fallbacks = [result for step, result in state.steps_done.items() if step.startswith("replies_fallback:")]
    return {
        "conversations_fetched": sum(1 for step in state.steps_done if step.startswith("replies:")),
        "conversation_fallbacks": len(fallbacks),
        "conversations_without_replies": sum(1 for result in fallbacks if not result["found_replies"]),
    }


def _is_root_candidate(tweet: Tweet, config: CollectConfig) -> bool:
    if tweet.is_reply or tweet.is_retweet or tweet.is_quote or tweet.likes is None:
        return False
    if tweet.conversation_id is not None and tweet.conversation_id != tweet.tweet_id:
        return False
    if tweet.likes < config.min_root_likes:
        return False
    if config.max_root_likes is not None and tweet.likes > config.max_root_likes:
        return False
    if config.tweet_language and tweet.lang is not None and tweet.lang != config.tweet_language:
        return False
    return True


def _item_id(item: Any) -> str | None:
    """The id the build will read from this item, so that the collector's dedup and the build's agree."""
    return read_id(item.get("id")) if isinstance(item, dict) else None


def _now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


# --------------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------------


def add_collect_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, default=DEFAULT_CONFIG_PATH, help="YAML config; its `collect:` section is used"
    )
    parser.add_argument("--output", type=Path, required=True, help="folder for tweets.jsonl, checkpoint, manifest")
    parser.add_argument("--resume", action="store_true", help="continue the collection checkpointed in --output")
    parser.add_argument(
        "--max-cost",
        type=float,
        default=None,
        metavar="USD",
        help="refuse to start when the estimated cost of the (remaining) collection exceeds this",
    )
    parser.add_argument("--api-url", default=None, help="Apify API URL (default: the config's, else api.apify.com)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")


def load_collect_config(path: Path) -> CollectConfig:
    """The `collect:` section, read like `build` reads the file: a bad field in any section stops the run."""
    return load_config(path).collect


def run_collect(args: argparse.Namespace) -> int:
    """`python -m data_prep collect`: returns the exit status: refused (bad config or arguments, over --max-cost, an
    output folder in the way: nothing was run), failed (the actor or the API failed after all retries: fix the cause,
    then --resume), interrupted (Ctrl-C: the checkpoint is kept, --resume continues) or ok."""
    try:
        config = load_collect_config(args.config)
        if args.api_url:
            config.api_url = args.api_url
        output_dir: Path = args.output
        state = _prepare_state(config, output_dir, resume=args.resume)
    except (Refused, CollectError) as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return EXIT_REFUSED

    estimate = estimate_cost(config, state)
    print(f"Estimated cost: {estimate.describe(config)}")
    if args.max_cost is not None and estimate.usd > args.max_cost:
        print(
            f"error: the estimated cost ${estimate.usd:.2f} exceeds --max-cost ${args.max_cost:.2f}; "
            "nothing was run. Lower max_items_per_query / max_root_tweets / replies_per_conversation, "
            "or raise --max-cost.",
            file=sys.stderr,
        )
        return EXIT_REFUSED

    token = get_secret("APIFY_TOKEN", required=True)
    output_dir.mkdir(parents=True, exist_ok=True)
    try:
        collector = Collector(config, output_dir, _make_client(token, config), state)
        collector.run(progress=not getattr(args, "no_progress", False))
    except CollectError as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"interrupted: the checkpoint in {output_dir} is kept; run again with --resume", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - apify_client errors after all retries, network errors
        print(
            f"error: {type(error).__name__}: {redact(str(error))}\n"
            f"The checkpoint in {output_dir} is kept: run again with --resume to continue.",
            file=sys.stderr,
        )
        return EXIT_FAILED
    totals = {**collector.state.totals, **conversation_totals(collector.state)}
    print(
        f"Collected {collector.state.output_records:,} tweets into {collector.output_path} "
        f"({totals['actor_runs']} actor runs, {totals['items_received']:,} items received, "
        f"{totals['placeholders_dropped']} placeholders dropped, {totals['duplicates_skipped']} duplicates skipped, "
        f"{totals['conversation_fallbacks']} conversation_id fallbacks)."
    )
    return EXIT_OK


def _prepare_state(config: CollectConfig, output_dir: Path, resume: bool) -> CollectState:
    checkpoint = output_dir / CHECKPOINT_FILE_NAME
    config_dict = asdict(config)
    if checkpoint.exists():
        if not resume:
            raise CollectError(
                f"{output_dir} already holds a collection ({CHECKPOINT_FILE_NAME}): pass --resume to continue it, "
                "or choose another --output folder"
            )
        state = load_state(checkpoint)
        changed = sorted(
            key
            for key in set(_collection_fields(state.config)) | set(_collection_fields(config_dict))
            if state.config.get(key) != config_dict.get(key)
        )
        if changed:
            raise CollectError(
                f"the config's collect section differs from the checkpointed one in {', '.join(changed)}: "
                "resume with the same config, or start a new collection in another folder"
            )
        state.config = config_dict
        return state
    if (output_dir / OUTPUT_FILE_NAME).exists():
        raise CollectError(f"{output_dir / OUTPUT_FILE_NAME} exists without a checkpoint; choose another --output")
    if resume:
        print(f"note: no checkpoint in {output_dir}; starting a new collection", file=sys.stderr)
    return CollectState(config=config_dict, started_at=_now_iso())


def _make_client(token: str, config: CollectConfig) -> Any:
    from apify_client import ApifyClient  # imported here: `python -m data_prep build` imports this module too

    options: dict[str, Any] = {
        "max_retries": config.max_retries,
        "min_delay_between_retries": timedelta(seconds=config.retry_min_delay_s),
    }
    if config.api_url:
        options["api_url"] = config.api_url
    return ApifyClient(token, **options)
