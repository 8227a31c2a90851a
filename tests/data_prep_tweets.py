"""Tweets built by hand for the data_prep tests: a root that passes the original spec's root filters, and replies to it
that pass every reply filter and validator unless a test changes one field."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta, timezone

from replytune.schema import Tweet

T0 = datetime(2025, 9, 1, 12, 0, tzinfo=timezone.utc)
_ids = itertools.count(1_000)

GOOD_REPLY = (
    "Partial indexes saved us too, but the planner only uses them when the query repeats the exact predicate "
    "from the index definition."
)


def next_id() -> str:
    return str(next(_ids))


def root_tweet(**fields) -> Tweet:
    tweet_id = fields.pop("tweet_id", None) or next_id()
    values = dict(
        tweet_id=tweet_id,
        text="Postgres tip: a partial index on the rows you actually query can be much smaller and just as fast.",
        created_at=T0,
        author_id=f"author-{tweet_id}",
        author_handle=f"root_{tweet_id}",
        author_followers=50_000,
        likes=800,
        retweets=50,
        conversation_id=tweet_id,
        lang="en",
    )
    values.update(fields)
    return Tweet(**values)


def reply_to(parent: Tweet, text: str = GOOD_REPLY, delay_seconds: float = 3_600, **fields) -> Tweet:
    tweet_id = fields.pop("tweet_id", None) or next_id()
    values = dict(
        tweet_id=tweet_id,
        text=f"@{parent.author_handle} {text}",
        created_at=parent.created_at + timedelta(seconds=delay_seconds),
        author_id=f"author-{tweet_id}",
        author_handle=f"user_{tweet_id}",
        author_followers=2_000,
        likes=40,
        retweets=1,
        conversation_id=parent.conversation_id,
        in_reply_to_id=parent.tweet_id,
        in_reply_to_author_id=parent.author_id,
        lang="en",
    )
    values.update(fields)
    return Tweet(**values)
