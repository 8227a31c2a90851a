"""The held-out tweets every system answers: one item per distinct tweet of a data_prep split.

Each item carries the conversational prompt the adapter was trained on (the dataset's `prompt` column, built by
data_prep's prompt_template), the tweet text, and the tweet's real replies in that split, most liked first (the
`human` system answers with the first; the sanity metrics compare with all of them).

Tweets are data. A prompt that still carries a chat control string after data_prep's sanitizing (NFKC, invisible
characters removed: a fullwidth or zero-width disguise becomes the real string), such as `<|im_end|>` or
`<|im_start|>system`, would inject a turn into the chat template: that tweet is left out for every system, and the
report names it and the string. So is a row whose prompt is not a list of chat messages ending with the user's.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from data_prep.cleaning import sanitize_text
from judge.generate.retrieval import most_liked_first
from replytune import schema as col
from replytune.control_strings import find_control_strings
from replytune.errors import InputError


@dataclass(frozen=True)
class HeldOutTweet:
    item_id: str  # the tweet's id in the dataset
    tweet_text: str
    conversation_id: str | None
    prompt: tuple  # the chat messages, as {"role", "content"} dicts
    human_replies: tuple  # the split's rows answering this tweet, most liked first

    @property
    def prompt_length(self) -> int:
        return sum(len(message["content"]) for message in self.prompt)


def held_out_tweets(
    dataset, split: str, max_tweets: int | None = None, extra_control_tokens: Iterable[str] = ()
) -> tuple[list[HeldOutTweet], dict[str, list[str]]]:
    """The split's tweets in generation order (longest prompt first, then by id: batches pad little and are the
    same on every run), and the tweets left out: {reason: [item ids]}.

    `max_tweets` keeps the first N tweets in the dataset's order. Raises InputError when the split is missing or
    holds no usable tweet.
    """
    if split not in dataset.rows:
        raise InputError(
            f"{dataset.source}: no split {split!r} (it has {', '.join(dataset.rows) or 'none'}); pass --split"
        )
    groups: dict[str, list[dict]] = {}
    skipped: dict[str, list[str]] = {}
    for number, row in enumerate(dataset.rows[split]):
        tweet_id = str(row.get(col.TWEET_ID) or "").strip()
        if not tweet_id:
            skipped.setdefault("row without a tweet id", []).append(f"row {number}")
            continue
        groups.setdefault(tweet_id, []).append(row)
    extra = tuple(extra_control_tokens)
    tweets = []
    for tweet_id, rows in groups.items():
        if max_tweets is not None and len(tweets) >= max_tweets:
            break
        problem = prompt_problem(rows[0].get(col.PROMPT), extra)
        if problem:
            skipped.setdefault(problem, []).append(tweet_id)
            continue
        prompt = tuple({"role": m["role"], "content": m["content"]} for m in rows[0][col.PROMPT])
        replies = tuple(row for row in most_liked_first(rows) if row.get(col.REPLY_TEXT))
        tweet_text = rows[0].get(col.TWEET_TEXT) or prompt[-1]["content"]
        tweets.append(HeldOutTweet(tweet_id, tweet_text, rows[0].get(col.CONVERSATION_ID), prompt, replies))
    if not tweets:
        raise InputError(
            f"{dataset.source}: split {split!r} has no usable tweet ({len(groups)} tweets; left out: "
            f"{ {reason: len(ids) for reason, ids in skipped.items()} })"
        )
    tweets.sort(key=lambda tweet: (-tweet.prompt_length, tweet.item_id))
    return tweets, skipped


def prompt_problem(prompt, extra_control_tokens: tuple[str, ...] = ()) -> str | None:
    """Why a prompt cannot be sent to a model, or None."""
    if not isinstance(prompt, (list, tuple)) or not prompt:
        return "prompt is not a list of chat messages"
    for message in prompt:
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            return "prompt is not a list of chat messages"
        if message.get("role") not in ("system", "user", "assistant"):
            return f"prompt has a message with role {message.get('role')!r}"
    if prompt[-1]["role"] != "user":
        return "prompt does not end with the user's message"
    for message in prompt:
        found = find_control_strings(sanitize_text(message["content"]), extra_control_tokens)
        if found:
            return f"chat control string {found[0]!r} in the prompt (tweets are data)"
    return None
