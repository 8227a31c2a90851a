"""Real replies with real like counts, for judge validity: from tweet exports (read by data_prep's sources and
paired by data_prep's pairing, as a dataset build would) or from a data_prep dataset split.

A validity pair is two direct replies to the same tweet with different like counts; the one people liked more is
the right answer. Pairs from one conversation share a tweet and an audience, so they are not independent: the
statistics resample conversations, not pairs. A reply's time is kept for the earlier-reply baseline only: no judge
is shown it.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from data_prep.cleaning import has_text
from data_prep.config import PairsConfig
from data_prep.funnel import Funnel
from data_prep.pairs import find_pairs, unique_tweets
from data_prep.sources import iter_tweets, scan_input_files
from replytune import schema as col


@dataclass(frozen=True)
class RealReply:
    conversation_id: str
    tweet_id: str
    tweet_text: str
    reply_id: str
    reply_text: str
    likes: int
    created_at: str | None = None  # ISO 8601; the earlier-reply baseline's only (judges see texts, never the time)


@dataclass(frozen=True)
class LikePair:
    """Two replies to one tweet with different like counts; `first` has the smaller reply id."""

    first: RealReply
    second: RealReply

    @property
    def item_id(self) -> str:
        return f"{self.first.tweet_id}:{self.first.reply_id}:{self.second.reply_id}"

    @property
    def conversation_id(self) -> str:
        return self.first.conversation_id

    @property
    def liked_more(self) -> str:
        return self.first.reply_id if self.first.likes > self.second.likes else self.second.reply_id


def replies_from_tweet_files(paths: Sequence[str | Path], progress: bool = False) -> tuple[list[RealReply], Counter]:
    """Direct replies (no self-replies, retweets or quotes: data_prep's pairing defaults) with a like count and
    words of their own; the Counter says why the others were left out."""
    scan = scan_input_files(paths)
    funnel = Funnel()
    tweets = unique_tweets(iter_tweets(scan.files), funnel, progress)
    pairing = find_pairs(tweets, PairsConfig())
    left_out = Counter(pairing.reply_drops.values())
    left_out.update({key: count for key, count in funnel.dispositions.items() if count})
    replies = []
    for pair in pairing.pairs:
        if pair.reply.likes is None:
            left_out["validity/no_like_count"] += 1
        elif not has_text(pair.reply_text) or not has_text(pair.tweet_text):
            left_out["validity/no_text"] += 1
        else:
            replies.append(
                RealReply(
                    pair.conversation_id,
                    pair.tweet.tweet_id,
                    pair.tweet_text,
                    pair.reply.tweet_id,
                    pair.reply_text,
                    pair.reply.likes,
                    pair.reply.created_at.isoformat() if pair.reply.created_at else None,
                )
            )
    return replies, left_out


def replies_from_rows(rows) -> list[RealReply]:
    """A data_prep dataset split's rows as real replies (with their time when the rows hold reply_created_at)."""
    return [
        RealReply(
            str(row[col.CONVERSATION_ID]),
            str(row[col.TWEET_ID]),
            row[col.TWEET_TEXT],
            str(row[col.REPLY_ID]),
            row[col.REPLY_TEXT],
            int(row[col.REPLY_LIKES]),
            _iso(row.get(col.REPLY_CREATED_AT)),
        )
        for row in rows
        if row[col.REPLY_LIKES] is not None
    ]


def _iso(value) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    return value.isoformat()  # a parquet timestamp column reads as datetime


def parse_time(value: str) -> datetime:
    """An ISO 8601 time as a UTC-aware datetime (a naive one is read as UTC, as data_prep writes them)."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def columns_in_every_file(folder: Path, names: Sequence[str]) -> tuple[str, ...]:
    """Which of `names` every data/*.parquet file of a dataset version holds (optional columns, read if there)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def names_in(file: Path) -> set[str]:
        try:
            return set(pq.read_schema(file).names)
        except (pa.ArrowException, OSError):  # not parquet: read_splits refuses it, naming the file
            return set()

    files = sorted((Path(folder) / "data").glob("*.parquet"))
    present = [names_in(file) for file in files]
    return tuple(name for name in names if files and all(name in columns for columns in present))


def like_pairs(replies: Sequence[RealReply]) -> list[LikePair]:
    """Every pair of replies to the same tweet whose like counts differ, in a stable order."""
    by_tweet: dict[str, list[RealReply]] = {}
    for reply in replies:
        by_tweet.setdefault(reply.tweet_id, []).append(reply)
    pairs = []
    for tweet_id in sorted(by_tweet):
        group = sorted(by_tweet[tweet_id], key=lambda reply: reply.reply_id)
        pairs += [LikePair(a, b) for a, b in itertools.combinations(group, 2) if a.likes != b.likes]
    return pairs
