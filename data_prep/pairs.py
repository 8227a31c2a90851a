"""Pairs: unique tweets from the ingested records, and each reply paired with the tweet it answers.

Nothing here depends on the order of the input: of the copies of one id the most engaged one stays, and the unique
tweets come out sorted by id, so every later tie (dedup, caps, the quality sort) breaks the same way for shuffled
input.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import astuple, dataclass, field

from tqdm import tqdm

from data_prep.cleaning import normalize_text, sanitize_text
from data_prep.config import PairsConfig
from data_prep.funnel import DUPLICATE_ID, Funnel, Reason
from replytune.schema import Tweet

_LEADING_MENTIONS = re.compile(r"^(?:\s*@\w+)+\s*")


@dataclass
class Pair:
    """A reply and the tweet it answers, with the text that will be published and the scores gathered on the way."""

    tweet: Tweet
    reply: Tweet
    tweet_text: str
    reply_text: str
    delay_seconds: float
    conversation_id: str
    scores: dict[str, float] = field(default_factory=dict)
    quality_score: float = 0.0

    @property
    def reply_likes(self) -> int:
        return self.reply.likes or 0


@dataclass
class Pairing:
    pairs: list[Pair]
    reply_drops: dict[str, str]  # reply id -> "pairs/<reason>"
    root_drops: dict[str, str] = field(default_factory=dict)  # tweet replied to -> "pairs/<reason>"


def _count_or_minus_one(value: int | None) -> int:
    return -1 if value is None else value


def observation_rank(tweet: Tweet) -> tuple:
    """Which copy of a repeated id stays: the one with the most engagement (likes, then retweets, replies, quotes,
    views). Counts only grow, so that is also the latest observation. The rest of the record breaks a tie, so the
    copy kept never depends on the order of the input files or records."""
    counts = (tweet.likes, tweet.retweets, tweet.reply_count, tweet.quotes, tweet.views, tweet.author_followers)
    return (*map(_count_or_minus_one, counts), repr(astuple(tweet)))


def id_order(tweet_id: str) -> tuple[int, str]:
    """Numeric ids in numeric order (ids grow with time), any other id after them."""
    return (len(tweet_id), tweet_id) if tweet_id.isdigit() else (1 << 30, tweet_id)


def unique_tweets(records: Iterable, funnel: Funnel, progress: bool = True) -> list[Tweet]:
    """Count every record in the funnel; settle rejections and repeated ids (see `observation_rank` for which copy
    stays); return one tweet per id, sorted by id."""
    tweets: dict[str, Tweet] = {}
    positions: Counter = Counter()  # records read so far per file: where each one is, for the ledger
    for record in tqdm(records, desc="ingest", unit=" records", disable=not progress):
        funnel.input_records += 1
        positions[record.source_file] += 1
        origin = (record.source_file, positions[record.source_file])
        if not isinstance(record, Tweet):  # sources.Rejected: unreadable record or placeholder
            detail = "the record cannot be read as a tweet of any known export format"
            funnel.settle(Reason(f"ingest/{record.reason}", detail), record_id=record.record_id, origin=origin)
            continue
        kept = tweets.get(record.tweet_id)
        if kept is not None:
            duplicate = Reason(DUPLICATE_ID, "another copy of this id, with as much engagement or more, stays")
            if observation_rank(record) <= observation_rank(kept):
                funnel.settle(duplicate, record_id=record.tweet_id, origin=origin)
                continue
            funnel.settle(duplicate, record_id=kept.tweet_id, origin=funnel.origins.get(kept.tweet_id))
        tweets[record.tweet_id] = record
        funnel.origins[record.tweet_id] = origin
    return sorted(tweets.values(), key=lambda tweet: id_order(tweet.tweet_id))


def visible_text(tweet: Tweet) -> str:
    """A reply's text without the leading @mentions that only address it (they are not part of what was said)."""
    return _LEADING_MENTIONS.sub("", tweet.text, count=1) if tweet.is_reply else tweet.text


def is_self_reply(reply: Tweet, tweet: Tweet) -> bool:
    if reply.author_id and tweet.author_id:
        return reply.author_id == tweet.author_id
    if reply.author_handle and tweet.author_handle:
        return reply.author_handle.lower() == tweet.author_handle.lower()
    return False


def pair_rejection(reply: Tweet, parent: Tweet | None, config: PairsConfig) -> str | None:
    parent_id = reply.in_reply_to_id
    if parent is None:
        return Reason("pairs/parent_not_found", "answers a tweet that is not in the input", parent_id)
    if config.direct_replies_only and parent.is_reply:
        return Reason("pairs/not_direct_reply", "answers a reply, not its conversation's first tweet", parent_id)
    if config.exclude_self_replies and is_self_reply(reply, parent):
        return Reason("pairs/self_reply", "same author as the tweet it answers", parent_id)
    if config.exclude_retweets and reply.is_retweet:
        return Reason("pairs/retweet", "a retweet")
    if config.exclude_quotes and reply.is_quote:
        return Reason("pairs/quote", "a quote tweet")
    return None


def conversation_of(tweet: Tweet, by_id: dict[str, Tweet]) -> str:
    """The conversation id the source gives, else the id of the highest ancestor present in the input."""
    seen = set()
    while not tweet.conversation_id and tweet.in_reply_to_id in by_id and tweet.tweet_id not in seen:
        seen.add(tweet.tweet_id)
        tweet = by_id[tweet.in_reply_to_id]
    return tweet.conversation_id or tweet.tweet_id


def find_pairs(
    tweets: list[Tweet], config: PairsConfig, normalize: bool = True, max_raw_text_length: int | None = None
) -> Pairing:
    """Pair every reply whose parent (`in_reply_to_id`) is in the input; say why the others are not paired.

    Texts are cleaned here (`normalize_text`, or only `sanitize_text` when `normalize` is off), so the filters measure
    what will be published. A text longer than `max_raw_text_length` is never cleaned (no pattern ever runs on it):
    such a reply is dropped as `pairs/text_too_long`, and a reply to such a tweet as `pairs/tweet_text_too_long`.
    """
    by_id = {tweet.tweet_id: tweet for tweet in tweets}
    clean = normalize_text if normalize else sanitize_text
    cap = max_raw_text_length if max_raw_text_length is not None else float("inf")
    parent_texts: dict[str, str] = {}  # a tweet with many replies is cleaned once
    pairs, drops, root_drops = [], {}, {}
    for reply in tweets:
        if not reply.is_reply:
            continue
        parent = by_id.get(reply.in_reply_to_id)
        reason = pair_rejection(reply, parent, config)
        if not reason and len(reply.text) > cap:
            detail = f"{len(reply.text)} characters > cleaning.max_raw_text_length {cap}"
            reason = Reason("pairs/text_too_long", detail)
        if not reason and len(parent.text) > cap:
            detail = f"{len(parent.text)} characters > cleaning.max_raw_text_length {cap}"
            root_drops[parent.tweet_id] = Reason("pairs/text_too_long", detail)
            reason = Reason("pairs/tweet_text_too_long", f"its tweet's text: {detail}", parent.tweet_id)
        if reason:
            drops[reply.tweet_id] = reason
            continue
        if parent.tweet_id not in parent_texts:
            parent_texts[parent.tweet_id] = clean(visible_text(parent))
        pairs.append(
            Pair(
                tweet=parent,
                reply=reply,
                tweet_text=parent_texts[parent.tweet_id],
                reply_text=clean(visible_text(reply)),
                delay_seconds=(reply.created_at - parent.created_at).total_seconds(),
                conversation_id=conversation_of(parent, by_id),
            )
        )
    return Pairing(pairs, drops, root_drops)
