"""`python -m data_prep preferences`: a dataset version's replies -> preference pairs for DPO, in TRL's conversational
preference format (`prompt`, `chosen`, `rejected`), versioned, carded and pushed like any data_prep version.

    python -m data_prep preferences --dataset DIR_OR_REPO[@vN] --output DIR [--config YAML]
        [--push-to-hub REPO --version vN] [--allow-public-repo]

Readers saw several replies under one tweet and liked one more: that is a preference. A candidate pair is two replies
to the same tweet in the same split of the version (the version's split is by conversation, so nothing crosses it);
the more liked reply is `chosen`. Each candidate pair ends in exactly one disposition, the first that applies:

    preferences/reply_discarded_by_curator  a curated version: a curator discarded one of the two replies
    preferences/likes_unknown               a reply without a like count
    preferences/same_likes                  equal likes: no preference
    preferences/followers_unknown           normalize_by_followers, and a reply without a follower count
    preferences/below_margin                the more liked reply is not min_like_ratio times and min_like_difference
                                            more liked (0 likes count as 1 in the ratio)
    preferences/delay_unknown               exposure control, and a reply without a delay (or a negative one)
    preferences/outside_exposure_window     exposure control: the later reply came more than max_delay_ratio times
                                            (and more than max_delay_difference_seconds) after the earlier one
    preferences/over_tweet_cap              beyond max_pairs_per_tweet for its tweet (a seeded hash of the two reply
                                            ids orders them, so any input order gives the same pairs)
    kept

report.json holds `{"input_records": <candidate pairs>, "dispositions": {...}}` summing to it, as build's does for
records, and how often the EARLIER reply is the chosen one at each stage (with a 95% bootstrap interval resampled by
tweet, as pairs of one tweet are not independent): the earlier reply wins most like comparisons whatever it says, so a
share near 50% after the exposure control means the timing confound is controlled.

Candidate pairs are counted, not listed: with a tweet's replies sorted by likes, each reply's pairs are one slice of
numpy arrays, so 10,000 replies to one tweet (50 million pairs) take about a second, and only the pairs that pass
every test are ever gathered (then cut to the cap).

A curated version (`curate pull`/`auto`) already holds edited replies as edited and leaves discarded ones out; its
curation.jsonl names the discarded replies. Where the curation's input version can be read (a sibling folder, or its
Hub repo), those replies join their tweets' candidate pairs only to be counted as `reply_discarded_by_curator`: a
discarded reply is never chosen, rejected or otherwise used.
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import logging
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from data_prep.config import DEFAULT_CONFIG_PATH, DataPrepConfig, PreferencesConfig, load_config
from data_prep.funnel import KEPT, Funnel
from replytune import schema as col
from replytune.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, InputError, Refused
from replytune.secrets import redact

logger = logging.getLogger(__name__)

STAGE = "preferences"
DISCARDED_BY_CURATOR = f"{STAGE}/reply_discarded_by_curator"
LIKES_UNKNOWN = f"{STAGE}/likes_unknown"
SAME_LIKES = f"{STAGE}/same_likes"
FOLLOWERS_UNKNOWN = f"{STAGE}/followers_unknown"
BELOW_MARGIN = f"{STAGE}/below_margin"
DELAY_UNKNOWN = f"{STAGE}/delay_unknown"
OUTSIDE_EXPOSURE_WINDOW = f"{STAGE}/outside_exposure_window"
OVER_TWEET_CAP = f"{STAGE}/over_tweet_cap"
DISPOSITION_ORDER = (  # the order of precedence: report.json, the card and the chart list them so
    DISCARDED_BY_CURATOR,
    LIKES_UNKNOWN,
    SAME_LIKES,
    FOLLOWERS_UNKNOWN,
    BELOW_MARGIN,
    DELAY_UNKNOWN,
    OUTSIDE_EXPOSURE_WINDOW,
    OVER_TWEET_CAP,
    KEPT,
)

# Stages at which the earlier reply's share of wins is measured, in order, with what each counts.
STAGES = {
    "different_likes": "every candidate pair with different likes (no margin, no exposure control)",
    "margin_passing": "pairs that pass the margins, before the exposure control",
    "within_exposure_window": "pairs that pass the margins and the exposure control, before the cap per tweet",
    "kept": "the published pairs",
}
CURATOR_DISCARDS = ("curation/discarded", "curation/discarded_on_tie")
CURATOR_EDITED = "curation/edited"
BOOTSTRAP_RESAMPLES = 2000


# --- replies grouped by tweet ---------------------------------------------------------------------------------------


def _number(value, allow_negative: bool = True) -> float:
    """A count or delay as a float; NaN when missing, not a number, or negative where that is not allowed."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or value != value:
        return float("nan")
    return float(value) if allow_negative or value >= 0 else float("nan")


def _reply_hash(reply_id: str, seed: int) -> int:
    return int.from_bytes(hashlib.blake2b(f"{seed}\0{reply_id}".encode(), digest_size=8).digest(), "big")


def _mix64(values: np.ndarray) -> np.ndarray:
    """splitmix64's finalizer on uint64 arrays (multiplication wraps modulo 2**64)."""
    values = values ^ (values >> np.uint64(30))
    values = values * np.uint64(0xBF58476D1CE4E5B9)
    values = values ^ (values >> np.uint64(27))
    values = values * np.uint64(0x94D049BB133111EB)
    return values ^ (values >> np.uint64(31))


def pair_keys(first_hashes: np.ndarray, second_hashes: np.ndarray) -> np.ndarray:
    """The cap's order: a seeded hash of the two replies (symmetric, so it does not depend on which came first)."""
    low, high = np.minimum(first_hashes, second_hashes), np.maximum(first_hashes, second_hashes)
    return _mix64(low ^ _mix64(high + np.uint64(0x9E3779B97F4A7C15)))


@dataclass
class TweetReplies:
    """The replies to one tweet in one split. Those that can be paired are `rows`, most liked first (ties: by reply
    id, so any input order gives the same order), with their values as arrays (NaN where unknown); replies a curator
    discarded and replies without a like count are only counted, as no pair of theirs is ever kept."""

    split: str
    tweet_id: str
    rows: list[dict]
    likes: np.ndarray
    followers: np.ndarray
    delays: np.ndarray  # seconds after the tweet; NaN when missing or negative
    hashes: np.ndarray  # uint64, _reply_hash
    discarded: int = 0
    likes_unknown: int = 0

    @classmethod
    def of(cls, split: str, tweet_id: str, members: list[tuple[dict, bool]], seed: int) -> TweetReplies:
        likes = {id(row): _number(row.get(col.REPLY_LIKES), allow_negative=False) for row, _ in members}
        usable = [row for row, discarded in members if not discarded and likes[id(row)] == likes[id(row)]]
        usable.sort(key=lambda row: (-likes[id(row)], row[col.REPLY_ID]))
        discarded = sum(1 for _, discarded in members if discarded)
        return cls(
            split,
            tweet_id,
            usable,
            np.array([likes[id(row)] for row in usable], dtype=np.float64),
            np.array([_number(row.get(col.REPLY_AUTHOR_FOLLOWERS), False) for row in usable], dtype=np.float64),
            np.array([_number(row.get(col.REPLY_DELAY_SECONDS), False) for row in usable], dtype=np.float64),
            np.array([_reply_hash(row[col.REPLY_ID], seed) for row in usable], dtype=np.uint64),
            discarded,
            len(members) - len(usable) - discarded,
        )

    def __len__(self) -> int:
        return len(self.rows) + self.discarded + self.likes_unknown


def _missing_id(row: dict) -> str | None:
    for name in (col.REPLY_ID, col.TWEET_ID):
        if not isinstance(row.get(name), str) or not row[name]:
            return f"missing_{name}"
    return None


def row_problem(row: dict) -> str | None:
    """Why a row cannot take part in any pair (it cannot be grouped, or has no reply to train on), or None."""
    if problem := _missing_id(row):
        return problem
    for name in (col.PROMPT, col.COMPLETION):
        messages = row.get(name)
        if not isinstance(messages, list) or not messages or not all(isinstance(m, dict) for m in messages):
            return f"missing_{name}"
    if not str(row[col.COMPLETION][-1].get("content") or "").strip():
        return f"missing_{col.COMPLETION}"
    return None


def group_replies(
    rows: dict[str, list[dict]],
    seed: int,
    discarded_rows: dict[str, list[dict]] | None = None,
    discarded_ids: Iterable[str] = (),
) -> tuple[list[TweetReplies], Counter]:
    """The replies of each (split, tweet) with two or more of them, and the rows left out by `row_problem`'s reason.

    `discarded_rows` (split -> rows) are replies a curator discarded that the version no longer holds; a row of
    `rows` whose id is in `discarded_ids` is treated the same. A reply id found twice is refused (InputError).
    """
    discarded_ids = set(discarded_ids)
    by_tweet: dict[tuple[str, str], list[tuple[dict, bool]]] = defaultdict(list)
    unusable: Counter = Counter()
    seen: dict[str, str] = {}
    sources = [(split, row, False) for split, split_rows in rows.items() for row in split_rows]
    held = {row.get(col.REPLY_ID) for _, row, _ in sources}
    for split, split_rows in (discarded_rows or {}).items():
        sources += [(split, row, True) for row in split_rows if row.get(col.REPLY_ID) not in held]
    for split, row, discarded in sources:
        # a discarded reply is only counted: it needs its ids, not a text to train on
        problem = row_problem(row) if not discarded else _missing_id(row)
        if problem:
            unusable[problem] += 1
            continue
        reply_id = row[col.REPLY_ID]
        if reply_id in seen:
            raise InputError(f"reply_id {reply_id} appears twice (splits {seen[reply_id]} and {split}): not a version")
        seen[reply_id] = split
        by_tweet[split, row[col.TWEET_ID]].append((row, discarded or reply_id in discarded_ids))
    groups = [
        TweetReplies.of(split, tweet_id, members, seed)
        for (split, tweet_id), members in sorted(by_tweet.items())
        if len(members) >= 2
    ]
    return groups, unusable


# --- one tweet's candidate pairs ------------------------------------------------------------------------------------

_MERGE_PAIRS = 1 << 20  # passing pairs gathered before the cap's selection runs over them


@dataclass
class StageTally:
    """Of a stage's pairs: how many, how many have different known delays, and in how many of those the earlier reply
    is the chosen one. Kept per tweet, for the bootstrap by tweet."""

    pairs: list[int] = field(default_factory=list)
    comparable: list[int] = field(default_factory=list)
    earlier_chosen: list[int] = field(default_factory=list)

    def add(self, pairs: int, comparable: int, earlier_chosen: int) -> None:
        self.pairs.append(pairs)
        self.comparable.append(comparable)
        self.earlier_chosen.append(earlier_chosen)


@dataclass
class TweetOutcome:
    dispositions: Counter
    kept: list[tuple[int, int, int]]  # (key, chosen index, rejected index) into the group's rows, lowest key first
    stages: dict[str, tuple[int, int, int]]  # stage -> (pairs, comparable, earlier chosen)


class _CapSelection:
    """The pairs that pass every test, reduced to the `cap` with the lowest keys (all of them when cap is None)."""

    def __init__(self, cap: int | None):
        self.cap = cap
        self.parts: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
        self.pending = 0

    def add(self, keys: np.ndarray, chosen: int, rejected: np.ndarray) -> None:
        self.parts.append((keys, np.full(len(keys), chosen, dtype=np.int64), rejected))
        self.pending += len(keys)
        if self.cap is not None and self.pending >= max(_MERGE_PAIRS, self.cap):
            self._merge()

    def _merge(self) -> None:
        keys, chosen, rejected = (np.concatenate(part) for part in zip(*self.parts))
        if self.cap is not None and len(keys) > self.cap:
            keep = np.argpartition(keys, self.cap - 1)[: self.cap]
            keys, chosen, rejected = keys[keep], chosen[keep], rejected[keep]
        self.parts, self.pending = [(keys, chosen, rejected)], len(keys)

    def selected(self) -> list[tuple[int, int, int]]:
        if not self.parts:
            return []
        self._merge()
        keys, chosen, rejected = self.parts[0]
        order = np.argsort(keys, kind="stable")
        return [(int(keys[i]), int(chosen[i]), int(rejected[i])) for i in order]


def evaluate_tweet(group: TweetReplies, config: PreferencesConfig) -> TweetOutcome:
    """Every candidate pair of one tweet's replies: its disposition, and the pairs kept under the cap.

    The pairs are counted, not listed: with the replies most liked first, reply i is the chosen one against every
    reply after its run of equal likes, so each reply's pairs are one contiguous slice of the arrays, tested at once.
    """
    paired, discarded, unknown = len(group.rows), group.discarded, group.likes_unknown
    dispositions: Counter = Counter(
        {
            DISCARDED_BY_CURATOR: discarded * (paired + unknown) + discarded * (discarded - 1) // 2,
            LIKES_UNKNOWN: unknown * paired + unknown * (unknown - 1) // 2,
        }
    )
    likes, delays, followers = group.likes, group.delays, group.followers
    likes_floor = np.maximum(likes, 1.0)  # 0 likes count as 1 in the ratio
    followers_floor = np.maximum(followers, 1.0)  # NaN stays NaN
    # the first reply with fewer likes than reply i (likes are sorted, most first)
    fewer_from = np.searchsorted(-likes, -likes, side="right")
    dispositions[SAME_LIKES] += int((fewer_from - np.arange(paired) - 1).sum())
    totals = {stage: [0, 0, 0] for stage in ("different_likes", "margin_passing", "within_exposure_window")}
    selection = _CapSelection(config.max_pairs_per_tweet)
    for chosen in range(paired):
        start = int(fewer_from[chosen])
        if start >= paired:
            break  # the least liked run: nothing below it (and fewer_from only grows)
        rejected_likes = likes[start:]
        chosen_likes, chosen_delay = likes[chosen], delays[chosen]
        margin = chosen_likes - rejected_likes >= config.min_like_difference
        followers_unknown = 0
        if config.normalize_by_followers:
            unknown_followers = np.isnan(followers[start:]) | np.isnan(followers[chosen])
            followers_unknown = int(np.count_nonzero(unknown_followers))
            margin &= ~unknown_followers & (
                chosen_likes * followers_floor[start:]
                >= config.min_like_ratio * likes_floor[start:] * followers_floor[chosen]
            )
        else:
            margin &= chosen_likes >= config.min_like_ratio * likes_floor[start:]
        rejected_delays = delays[start:]
        if chosen_delay != chosen_delay:  # NaN: unknown
            known = comparable = earlier = np.zeros(len(rejected_delays), dtype=bool)
        else:
            known = ~np.isnan(rejected_delays)
            comparable = known & (rejected_delays != chosen_delay)
            earlier = comparable & (chosen_delay < rejected_delays)
        passes = margin
        if config.exposure_control:
            first, last = np.minimum(rejected_delays, chosen_delay), np.maximum(rejected_delays, chosen_delay)
            window = np.zeros(len(rejected_delays), dtype=bool)
            if config.max_delay_ratio is not None:
                window |= last <= config.max_delay_ratio * first
            if config.max_delay_difference_seconds is not None:
                window |= last - first <= config.max_delay_difference_seconds
            margin_known = margin & known
            passes = margin_known & window
            dispositions[DELAY_UNKNOWN] += int(np.count_nonzero(margin) - np.count_nonzero(margin_known))
            dispositions[OUTSIDE_EXPOSURE_WINDOW] += int(np.count_nonzero(margin_known) - np.count_nonzero(passes))
        margin_count = int(np.count_nonzero(margin))
        dispositions[FOLLOWERS_UNKNOWN] += followers_unknown
        dispositions[BELOW_MARGIN] += len(rejected_likes) - margin_count - followers_unknown
        for stage, mask in (("different_likes", None), ("margin_passing", margin), ("within_exposure_window", passes)):
            tally = totals[stage]
            if mask is None:
                tally[0] += len(rejected_likes)
                tally[1] += int(np.count_nonzero(comparable))
                tally[2] += int(np.count_nonzero(earlier))
            else:
                tally[0] += int(np.count_nonzero(mask))
                tally[1] += int(np.count_nonzero(mask & comparable))
                tally[2] += int(np.count_nonzero(mask & earlier))
        if passes.any():
            rejected = np.flatnonzero(passes) + start
            selection.add(pair_keys(group.hashes[rejected], group.hashes[chosen]), chosen, rejected)
    kept = selection.selected()
    passing = totals["within_exposure_window"][0]
    dispositions[OVER_TWEET_CAP] += passing - len(kept)
    dispositions[KEPT] += len(kept)
    kept_delays = [(delays[chosen], delays[rejected]) for _, chosen, rejected in kept]
    kept_comparable = [(c, r) for c, r in kept_delays if c == c and r == r and c != r]
    stages = {stage: tuple(counts) for stage, counts in totals.items()}
    stages["kept"] = (len(kept), len(kept_comparable), sum(1 for c, r in kept_comparable if c < r))
    return TweetOutcome(+dispositions, kept, stages)


# --- the whole version ----------------------------------------------------------------------------------------------


def preference_row(chosen: dict, rejected: dict) -> dict:
    """One published preference row (replytune/schema.py PREFERENCE_COLUMNS): the SFT rows' prompt, and the two
    replies as the assistant messages the SFT rows train on (`completion`: an edited reply as edited)."""
    chosen_delay = _number(chosen.get(col.REPLY_DELAY_SECONDS), allow_negative=False)
    rejected_delay = _number(rejected.get(col.REPLY_DELAY_SECONDS), allow_negative=False)
    comparable = chosen_delay == chosen_delay and rejected_delay == rejected_delay and chosen_delay != rejected_delay
    return {
        col.PROMPT: chosen[col.PROMPT],
        col.CHOSEN: chosen[col.COMPLETION],
        col.REJECTED: rejected[col.COMPLETION],
        col.TWEET_TEXT: chosen.get(col.TWEET_TEXT),
        col.TWEET_ID: chosen[col.TWEET_ID],
        col.CONVERSATION_ID: chosen.get(col.CONVERSATION_ID),
        col.CHOSEN_REPLY_ID: chosen[col.REPLY_ID],
        col.REJECTED_REPLY_ID: rejected[col.REPLY_ID],
        col.CHOSEN_LIKES: chosen.get(col.REPLY_LIKES),
        col.REJECTED_LIKES: rejected.get(col.REPLY_LIKES),
        col.CHOSEN_AUTHOR_FOLLOWERS: chosen.get(col.REPLY_AUTHOR_FOLLOWERS),
        col.REJECTED_AUTHOR_FOLLOWERS: rejected.get(col.REPLY_AUTHOR_FOLLOWERS),
        col.CHOSEN_DELAY_SECONDS: chosen.get(col.REPLY_DELAY_SECONDS),
        col.REJECTED_DELAY_SECONDS: rejected.get(col.REPLY_DELAY_SECONDS),
        col.CHOSEN_IS_EARLIER: bool(chosen_delay < rejected_delay) if comparable else None,
        col.QUERY: chosen.get(col.QUERY),
    }


def earlier_share(tally: StageTally, seed: int, resamples: int = BOOTSTRAP_RESAMPLES) -> dict:
    """The earlier reply's share of wins among a stage's pairs with different known delays, and its 95% percentile
    bootstrap interval, resampling tweets (a tweet's pairs share replies and readers: they are not independent)."""
    comparable = np.asarray(tally.comparable, dtype=np.int64)
    earlier = np.asarray(tally.earlier_chosen, dtype=np.int64)
    total_comparable, total_earlier = int(comparable.sum()), int(earlier.sum())
    facts = {
        "pairs": int(sum(tally.pairs)),
        "tweets": int(sum(1 for pairs in tally.pairs if pairs)),
        "comparable": total_comparable,
        "earlier_chosen": total_earlier,
        "share": round(total_earlier / total_comparable, 4) if total_comparable else None,
        "ci95": None,
    }
    has_pairs = comparable > 0
    comparable, earlier = comparable[has_pairs], earlier[has_pairs]
    tweets = len(comparable)
    if tweets == 0:
        return facts
    rng = np.random.default_rng(seed)
    shares = []
    per_draw = max(1, 4_000_000 // tweets)  # resamples drawn at once, to bound memory on very many tweets
    for start in range(0, resamples, per_draw):
        weights = rng.multinomial(tweets, np.full(tweets, 1 / tweets), size=min(per_draw, resamples - start))
        shares.append((weights @ earlier) / (weights @ comparable))
    low, high = np.percentile(np.concatenate(shares), [2.5, 97.5])
    facts["ci95"] = [round(float(low), 4), round(float(high), 4)]
    return facts


@dataclass
class PreferenceResult:
    rows: dict[str, list[dict]]  # split -> preference rows, in a seeded order
    funnel: Funnel  # over candidate pairs
    earlier_reply_share: dict[str, dict]  # stage (STAGES) -> earlier_share facts
    replies: dict  # replies read, per split; grouped; discarded by curators; unusable rows by reason
    seconds: float


def find_preferences(
    rows: dict[str, list[dict]],
    config: PreferencesConfig,
    discarded_rows: dict[str, list[dict]] | None = None,
    discarded_ids: Iterable[str] = (),
) -> PreferenceResult:
    """Every candidate pair of `rows` (split -> a version's rows) in one disposition, and the kept pairs as rows.

    `discarded_rows`/`discarded_ids`: replies a curator discarded (group_replies); they are only ever counted.
    """
    started = time.perf_counter()
    groups, unusable = group_replies(rows, config.seed, discarded_rows, discarded_ids)
    funnel = Funnel()
    tallies = {stage: StageTally() for stage in STAGES}
    keyed_rows: dict[str, list[tuple[int, dict]]] = {split: [] for split in rows}
    for group in groups:
        outcome = evaluate_tweet(group, config)
        for disposition, count in outcome.dispositions.items():
            funnel.settle(disposition, count)
        for stage, counts in outcome.stages.items():
            tallies[stage].add(*counts)
        for key, chosen, rejected in outcome.kept:
            keyed_rows.setdefault(group.split, []).append(
                (key, preference_row(group.rows[chosen], group.rows[rejected]))
            )
    funnel.input_records = sum(len(group) * (len(group) - 1) // 2 for group in groups)
    funnel.check()
    published = {
        split: [row for _, row in sorted(pairs, key=lambda item: item[0])] for split, pairs in keyed_rows.items()
    }
    replies = {
        "per_split": {split: len(split_rows) for split, split_rows in rows.items()},
        "in_tweets_with_2_or_more": sum(len(group) - group.discarded for group in groups),
        "tweets_with_2_or_more": len(groups),
        "discarded_by_curator": sum(group.discarded for group in groups),
        "unusable": dict(unusable),
    }
    return PreferenceResult(
        published,
        funnel,
        {stage: earlier_share(tally, config.seed) for stage, tally in tallies.items()},
        replies,
        round(time.perf_counter() - started, 3),
    )


# --- a curated version ----------------------------------------------------------------------------------------------


@dataclass
class CurationInput:
    """What a curated version's curation.jsonl says about its replies, and the discarded replies' rows."""

    mode: str | None = None  # argilla / auto; None: not a curated version
    discarded_ids: set[str] = field(default_factory=set)
    edited_ids: set[str] = field(default_factory=set)
    discarded_rows: dict[str, list[dict]] = field(default_factory=dict)
    input_version: str | None = None  # where the discarded replies' rows were read (a public name), None: not found

    def as_report(self) -> dict | None:
        if self.mode is None:
            return None
        found = sum(len(rows) for rows in self.discarded_rows.values())
        return {
            "mode": self.mode,
            "discarded_replies": len(self.discarded_ids),
            "discarded_replies_placed": found,
            "edited_replies": len(self.edited_ids),
            "input_version": self.input_version,
        }


def public_name(folder: Path) -> str:
    """`data/v1` for /home/someone/project/data/v1: report.json and the card carry no local path."""
    return f"{folder.parent.name}/{folder.name}"


def read_curation(version) -> CurationInput:
    """The curation ledger of `version` (a data_prep.versions.DatasetVersion), when it is a curated version."""
    ledger_path = version.folder / "curation.jsonl"
    if not ledger_path.is_file():
        return CurationInput()
    discarded, edited = set(), set()
    for number, line in enumerate(ledger_path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            reply_id, disposition = entry["reply_id"], entry["disposition"]
        except (json.JSONDecodeError, KeyError, TypeError) as error:
            raise InputError(f"{ledger_path}:{number}: not a curation ledger line ({error})") from None
        if disposition in CURATOR_DISCARDS and reply_id:
            discarded.add(reply_id)
        elif disposition == CURATOR_EDITED and reply_id:
            edited.add(reply_id)
    curation = CurationInput(version.report.get("curation", {}).get("mode", "argilla"), discarded, edited)
    if discarded:
        curation.discarded_rows, curation.input_version = discarded_replies(version, discarded)
    return curation


def discarded_replies(version, discarded: set[str]) -> tuple[dict[str, list[dict]], str | None]:
    """The rows of the discarded replies, from the curation's input version: a sibling folder vN (where `curate pull
    --output` usually writes), the folder its report names, or its Hub repo. ({}, None) when none can be read."""
    from data_prep.versions import load_version

    source = version.report.get("curation", {}).get("input", {})
    name, hub_repo = source.get("version"), source.get("hub_repo")
    candidates = []
    if version.hub_repo is None and name:
        candidates += [version.folder.parent / name, version.folder.parent.parent / str(source.get("source", ""))]
    if hub_repo and name:
        candidates.append(f"{hub_repo}@{name}")
    for candidate in candidates:
        if isinstance(candidate, Path) and not (candidate / "report.json").is_file():
            continue
        try:
            input_version = load_version(str(candidate))
        except InputError as error:
            logger.info("curation input %s not read: %s", candidate, error)
            continue
        rows = {
            split: [row for row in split_rows if row.get(col.REPLY_ID) in discarded]
            for split, split_rows in input_version.rows.items()
        }
        if any(rows.values()):
            where = input_version.source if input_version.hub_repo else public_name(input_version.folder)
            return rows, where
    logger.warning(
        "%d replies were discarded by curators, but the curated version's input (%s) was not found: they are left out "
        "unseen, and report.json cannot count their pairs",
        len(discarded),
        name,
    )
    return {}, None


# --- writing the version --------------------------------------------------------------------------------------------


def preference_features():
    from datasets import Features, List, Value

    messages = List({"role": Value("string"), "content": Value("string")})
    types = {col.PROMPT: messages, col.CHOSEN: messages, col.REJECTED: messages, col.CHOSEN_IS_EARLIER: Value("bool")}
    for name in (col.CHOSEN_LIKES, col.REJECTED_LIKES, col.CHOSEN_AUTHOR_FOLLOWERS, col.REJECTED_AUTHOR_FOLLOWERS):
        types[name] = Value("int64")
    for name in (col.CHOSEN_DELAY_SECONDS, col.REJECTED_DELAY_SECONDS):
        types[name] = Value("float64")
    return Features({name: types.get(name, Value("string")) for name in col.PREFERENCE_COLUMNS})


def rows_to_dataset(rows: dict[str, list[dict]]):
    """A DatasetDict of the non-empty splits (load_dataset cannot read back an empty split)."""
    from datasets import Dataset, DatasetDict

    features = preference_features()
    return DatasetDict(
        {
            split: Dataset.from_dict({name: [row[name] for row in split_rows] for name in features}, features=features)
            for split, split_rows in rows.items()
            if split_rows
        }
    )


def _percent(share: float | None) -> str:
    return "n/a" if share is None else f"{100 * share:.1f}%"


def _interval(facts: dict) -> str:
    return "n/a" if facts["ci95"] is None else f"{100 * facts['ci95'][0]:.1f}-{100 * facts['ci95'][1]:.1f}%"


def share_table(report: dict) -> str:
    lines = [
        "| stage | pairs | tweets | pairs with different delays | earlier reply chosen | share | 95% CI (by tweet) |",
        "|---|---|---|---|---|---|---|",
    ]
    for stage, facts in report["earlier_reply_share"].items():
        lines.append(
            f"| {STAGES[stage]} | {facts['pairs']} | {facts['tweets']} | {facts['comparable']} | "
            f"{facts['earlier_chosen']} | {_percent(facts['share'])} | {_interval(facts)} |"
        )
    return "\n".join(lines)


COLUMN_DESCRIPTIONS = {
    col.PROMPT: "TRL conversational prompt: the source version's `prompt` (the user turn with the tweet), unchanged",
    col.CHOSEN: 'the more liked reply: `[{"role": "assistant", "content": <reply>}]` (the source row\'s `completion`)',
    col.REJECTED: "the less liked reply, as `chosen`",
    col.TWEET_TEXT: "the tweet both replies answer",
    col.TWEET_ID: "id of that tweet, as published in the source version",
    col.CONVERSATION_ID: "its conversation id, as published in the source version (the unit of the split)",
    col.CHOSEN_REPLY_ID: "`reply_id` of the chosen reply in the source version",
    col.REJECTED_REPLY_ID: "`reply_id` of the rejected reply in the source version",
    col.CHOSEN_LIKES: "likes of the chosen reply",
    col.REJECTED_LIKES: "likes of the rejected reply",
    col.CHOSEN_AUTHOR_FOLLOWERS: "followers of the chosen reply's author",
    col.REJECTED_AUTHOR_FOLLOWERS: "followers of the rejected reply's author",
    col.CHOSEN_DELAY_SECONDS: "seconds between the tweet and the chosen reply",
    col.REJECTED_DELAY_SECONDS: "seconds between the tweet and the rejected reply",
    col.CHOSEN_IS_EARLIER: "the chosen reply was posted first (null: same or unknown delays)",
    col.QUERY: "the search term that found the tweet, when known",
}
assert set(COLUMN_DESCRIPTIONS) == set(col.PREFERENCE_COLUMNS), "every published column needs a description"


def preference_card(report: dict, repo_id: str | None, folder: str, license_name: str):
    """The preference dataset's card: how the pairs were made, the timing-confound figures, funnel, source."""
    import yaml
    from huggingface_hub import DatasetCard, DatasetCardData

    from data_prep.card import size_category

    settings = report["preferences"]
    version, splits = report["version"], report["splits"]
    data = DatasetCardData(
        language=["en"],
        license=license_name,
        pretty_name=settings["pretty_name"],
        task_categories=["text-generation"],
        size_categories=[size_category(sum(splits.values()))],
        tags=["twitter", "replies", "preference", "dpo", "trl", "conversational", "replytune"],
    )
    load_call = (
        f'load_dataset("{repo_id}", revision="{version}")'
        if repo_id
        else f'load_dataset("{folder}")  # its output folder; once pushed: load_dataset(REPO, revision="{version}")'
    )
    source = report["input"]
    ratio_basis = "likes per follower of its author" if settings["normalize_by_followers"] else "likes"
    if settings["exposure_control"]:
        windows = []
        if settings["max_delay_ratio"] is not None:
            windows.append(
                f"the later reply's delay after the tweet is at most {settings['max_delay_ratio']:g} times the "
                "earlier one's"
            )
        if settings["max_delay_difference_seconds"] is not None:
            windows.append(f"it came at most {settings['max_delay_difference_seconds']:g} s after it")
        exposure = (
            "both replies had a similar chance to be seen: " + ", or ".join(windows) + " (`outside_exposure_window`)."
        )
    else:
        exposure = "**off** (`exposure_control: false`): pairs of replies posted far apart are kept."
    cap = settings["max_pairs_per_tweet"]
    kept_share = report["earlier_reply_share"]["kept"]
    before = report["earlier_reply_share"]["margin_passing"]
    after = report["earlier_reply_share"]["within_exposure_window"]
    curation = report.get("curation")
    if curation is None:
        curation_text = "The source version is not a curated version."
    else:
        placed = (
            f"their {curation['discarded_replies_placed']} rows were read from `{curation['input_version']}` so that "
            "their candidate pairs are counted (`reply_discarded_by_curator`)"
            if curation["input_version"]
            else "the curated version's input was not found, so their pairs are not counted (they were never used)"
        )
        curation_text = (
            f"The source version is curated (`curate {'auto' if curation['mode'] == 'auto' else 'pull'}`): "
            f"{curation['discarded_replies']} replies were discarded, and none of them is chosen, rejected or used "
            f"at all; {placed}. {curation['edited_replies']} replies were edited by curators and are used as edited "
            f"(the version's rows hold the edits); {report['pairs_with_edited_reply']} published pairs hold one."
        )
    privacy = source.get("privacy") or {}
    ids_note = (
        "X's own ids (`published_ids: raw`): anyone can look the tweets up"
        if privacy.get("published_ids") == "raw"
        else "keyed hashes, as in the source version"
    )
    data_hash = f", data sha256 {source['data_sha256'][:12]}" if source.get("data_sha256") else ""
    body = f"""
# {settings["pretty_name"]} ({version})

Preference pairs for DPO, made by replytune's `python -m data_prep preferences` on {report["created_at"]}
from the dataset version `{source["source"]}` ({source["version"]}{data_hash}). Each row holds two real replies to
the same tweet, in TRL's conversational preference format: `prompt` (the same user turn the SFT rows carry), `chosen`
(the reply readers liked more) and `rejected`.

```python
from datasets import load_dataset

dataset = {load_call}
```

## How the pairs were made

- Two replies to **the same tweet**, in **the same split** of the source version (its split is by conversation, so
  no pair crosses splits or tweets).
- **Margins**: the chosen reply has at least {settings["min_like_ratio"]:g} times the {ratio_basis} of the
  rejected one (a reply with 0 likes counts as 1 in the ratio) and at least {settings["min_like_difference"]} more
  likes (`below_margin`); replies with equal likes make no pair (`same_likes`).
- **Exposure control**: {exposure}
- **At most {cap if cap is not None else "unlimited"} pairs per tweet** (`over_tweet_cap`), picked by a seeded hash
  of the two reply ids (seed {settings["seed"]}), so a tweet with many replies does not dominate and any input order
  gives these pairs.

## The timing confound

Readers see early replies first, so the earlier of two replies wins most like comparisons whatever it says. Here
the earlier reply is the chosen one in **{_percent(before["share"])}** of the pairs that pass the margins (before
the exposure control), **{_percent(after["share"])}** after it, and in **{_percent(kept_share["share"])}** of the
published pairs (95% CI {_interval(kept_share)}). Near 50% means the timing confound is controlled: the preference
then says more about the replies than about when they were posted.

{share_table(report)}

Shares count only pairs whose two replies have different known delays; intervals are percentile bootstraps
({BOOTSTRAP_RESAMPLES} resamples of tweets, seed {settings["seed"]}), because the pairs of one tweet share replies and
readers.

## Splits

{_table(("split", "pairs"), list(splits.items()))}

## Columns

{_table(("column", "description"), [(f"`{name}`", COLUMN_DESCRIPTIONS[name]) for name in col.PREFERENCE_COLUMNS])}

## Funnel

Every candidate pair (two replies to one tweet in one split) ends in exactly one disposition:
{report["input_records"]} candidate pairs among the {report["replies"]["tweets_with_2_or_more"]} tweets with two or
more replies, {report["dispositions"].get(KEPT, 0)} kept.

{_table(("disposition", "candidate pairs"), list(report["dispositions"].items()))}

![funnel](funnel.png)

## Source version and curation

`{source["source"]}` at {source["version"]}{f" (commit {source['hub_commit']})" if source.get("hub_commit") else ""},
{sum(report["replies"]["per_split"].values())} replies. {curation_text}

## Privacy

This dataset is **not anonymous**: the texts are scraped tweets, verbatim, as in the source version. Ids are
{ids_note}; authors are not published here at all. Only the columns above are published.

## Config

```yaml
{yaml.safe_dump({"preferences": settings}, sort_keys=False, allow_unicode=True).strip()}
```
"""
    return DatasetCard(redact(f"---\n{data.to_yaml()}\n---\n{body}"))


def _table(header: tuple[str, ...], rows: list[tuple]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def plot_preferences(report: dict, path: Path) -> None:
    """The candidate pairs' funnel, and the earlier reply's share of wins at each stage with its interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = [(name, count) for name, count in report["dispositions"].items() if count]
    figure, (funnel_axes, share_axes) = plt.subplots(
        1, 2, figsize=(13, max(3.0, 0.4 * len(items) + 1.5)), gridspec_kw={"width_ratios": [3, 2]}
    )
    bars = funnel_axes.barh(
        [name for name, _ in items],
        [count for _, count in items],
        color=["tab:green" if name == KEPT else "tab:gray" for name, _ in items],
    )
    funnel_axes.bar_label(bars, padding=3, fontsize=8)
    funnel_axes.invert_yaxis()
    funnel_axes.set_xlabel("candidate pairs")
    funnel_axes.set_title(f"{report['input_records']} candidate pairs, {report['dispositions'].get(KEPT, 0)} kept")
    funnel_axes.margins(x=0.15)
    stages = [(stage, facts) for stage, facts in report["earlier_reply_share"].items() if facts["share"] is not None]
    for position, (_, facts) in enumerate(stages):
        low, high = facts["ci95"]
        share_axes.errorbar(
            100 * facts["share"], position, xerr=[[100 * (facts["share"] - low)], [100 * (high - facts["share"])]],
            fmt="o", color="tab:blue", capsize=4,
        )  # fmt: skip
        share_axes.annotate(f"n={facts['comparable']}", (100 * facts["share"], position), xytext=(0, 7),
                            textcoords="offset points", ha="center", fontsize=8)  # fmt: skip
    share_axes.axvline(50, color="tab:red", linestyle="--", linewidth=1)
    share_axes.set_yticks(range(len(stages)), [stage.replace("_", " ") for stage, _ in stages])
    share_axes.invert_yaxis()
    share_axes.set_xlim(0, 100)
    share_axes.set_xlabel("earlier reply chosen (%), 95% CI by tweet")
    share_axes.set_title("timing confound: near 50% is controlled")
    figure.suptitle(f"data_prep preferences {report['version']}")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def build_preferences(
    dataset_spec: str,
    output_dir: str | Path,
    config: DataPrepConfig,
    push_to_hub: str | None = None,
    version: str | None = None,
    allow_public_repo: bool = False,
) -> Path:
    """Write the preference pairs of the version `dataset_spec` names into `output_dir/vN/` (and push it, tagged vN,
    when `push_to_hub` names a repo). Refused before any work: a version name that is not vN or is taken (locally or
    on the Hub), a spec that cannot be read, a private dataset into a public repo. Returns the version folder.

    The pushed repo is private unless both the source version and this config say `output.private: false`.
    """
    from data_prep.publish import check_dataset_push_target, new_version_folder, save_and_push, staging_folder
    from data_prep.versions import load_version
    from replytune.versions import data_sha256, hub_commit

    output_dir = Path(output_dir)
    version, folder = new_version_folder(output_dir, version, push_to_hub)
    source = load_version(dataset_spec)
    output = dataclasses.replace(
        config.output,
        private=config.output.private or source.config.output.private,
        allow_public_repo=allow_public_repo or config.output.allow_public_repo,
    )
    if push_to_hub:
        check_dataset_push_target(push_to_hub, version, output.private, output.allow_public_repo)

    curation = read_curation(source)
    result = find_preferences(source.rows, config.preferences, curation.discarded_rows, curation.discarded_ids)
    splits = {split: len(rows) for split, rows in result.rows.items()}
    logger.info("preference pairs per split: %s (%.1f s)", splits, result.seconds)
    edited_pairs = sum(
        1
        for rows in result.rows.values()
        for row in rows
        if {row[col.CHOSEN_REPLY_ID], row[col.REJECTED_REPLY_ID]} & curation.edited_ids
    )
    report = result.funnel.as_report(
        unit="candidate pair: two replies to the same tweet in the same split of the source version",
        version=version,
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        splits=splits,
        earlier_reply_share=result.earlier_reply_share,
        preferences=dataclasses.asdict(config.preferences),
        input={
            # a Hub REPO@vN, or the version folder's last two parts: report.json and the card carry no local path
            "source": source.source if source.hub_repo else public_name(source.folder),
            "version": source.version,
            "hub_repo": source.hub_repo or source.report.get("hub_repo"),
            "hub_commit": hub_commit(source.hub_repo, source.version) if source.hub_repo else None,
            # what an evaluation's tweets are checked against: the same data, wherever its copy lies
            "data_sha256": data_sha256(source.folder),
            "privacy": source.report.get("privacy"),
        },
        replies=result.replies,
        curation=curation.as_report(),
        pairs_with_edited_reply=edited_pairs,
        hub_repo=push_to_hub,
        seconds=result.seconds,
    )
    report["dispositions"] = {
        name: report["dispositions"][name] for name in DISPOSITION_ORDER if report["dispositions"].get(name)
    }
    staging = staging_folder(folder)
    (staging / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    plot_preferences(report, staging / "funnel.png")
    import yaml

    config_text = yaml.safe_dump(
        {"preferences": dataclasses.asdict(config.preferences), "output": dataclasses.asdict(output)}, sort_keys=False
    )
    (staging / "config.yaml").write_text(redact(config_text), encoding="utf-8")
    card = preference_card(report, push_to_hub, folder.name, source.config.output.license)
    dataset = rows_to_dataset(result.rows)
    nothing_kept = "no preference pair passed the margins and the exposure control"
    return save_and_push(staging, dataset, card, version, push_to_hub, output, nothing_kept, final=folder)


# --- the command line -----------------------------------------------------------------------------------------------


def add_preferences_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dataset", required=True, metavar="DIR_OR_REPO[@vN]", help="a version folder, DIR@vN, or a Hub REPO@vN"
    )
    from data_prep.versions import add_new_version_arguments

    parser.add_argument(
        "--config",
        type=Path,
        default=DEFAULT_CONFIG_PATH,
        help="YAML with a preferences: section (default: %(default)s)",
    )
    add_new_version_arguments(parser, "the preference version")


def run_preferences(args: argparse.Namespace) -> int:
    try:
        config = load_config(args.config)
        if args.no_progress:
            from datasets import disable_progress_bars

            disable_progress_bars()
        folder = build_preferences(
            args.dataset, args.output, config, args.push_to_hub, args.version, allow_public_repo=args.allow_public_repo
        )
    except Refused as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return EXIT_REFUSED
    except Exception as error:  # any failure mid-run: the traceback in the log, one redacted line on stderr
        logging.getLogger("data_prep").exception("preferences failed")
        print(f"error: {type(error).__name__}: {redact(str(error))}", file=sys.stderr)
        return EXIT_FAILED
    report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    shares = report["earlier_reply_share"]
    print(
        f"preference pairs written to {folder}"
        + (f" and pushed to {args.push_to_hub}@{args.version}" if args.push_to_hub else "")
        + f": {', '.join(f'{pairs} {name}' for name, pairs in report['splits'].items())} pairs of "
        f"{report['input_records']} candidates; the earlier reply is chosen in "
        f"{_percent(shares['margin_passing']['share'])} of the pairs passing the margins, "
        f"{_percent(shares['within_exposure_window']['share'])} after the exposure control"
    )
    return EXIT_OK
