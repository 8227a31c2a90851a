"""Root tweet and reply filters (defaults: the original spec's thresholds). Each returns why it rejects, or None.

A bound set to null in the config is not checked; a count the source did not carry fails a bound that is set
(`<count>_missing`), because a filter never guesses. Whatever the bounds, a text with no words besides links and
@mentions is rejected (`no_text`: the pair would have an empty prompt or completion), and so is a reply dated
before its tweet (`reply_before_tweet`: one of the two dates is wrong).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable

from data_prep.cleaning import URL, has_text
from data_prep.config import ReplyFiltersConfig, RootFiltersConfig
from data_prep.funnel import Reason, quoted_control_string, quoted_language
from data_prep.pairs import Pair
from replytune.control_strings import find_control_strings
from replytune.schema import Tweet

# The filters' names of counts -> the Tweet field listed in `extra["unreadable_fields"]` when a source held garbage.
_COUNT_FIELDS = {"likes": "likes", "retweets": "retweets", "followers": "author_followers"}
# The filters' names of values -> the config fields of their bounds (min_<field>, max_<field>), for the ledger.
_BOUND_FIELDS = {"followers": "follower_count", "delay": "time_delay"}


def bounds_rejection(
    name: str, value: float | None, low: float | None, high: float | None, tweet: Tweet | None = None
) -> str | None:
    """`<name>_missing` (`<name>_unreadable` when `tweet` says its source held an unreadable value),
    `<name>_below_min` or `<name>_above_max`; bounds are inclusive. The reason is a `Reason` whose detail is the value
    against its bound ("likes 3 < min_likes 5")."""
    if low is None and high is None:
        return None
    bound = _BOUND_FIELDS.get(name, name)
    if value is None:
        if tweet is not None and _COUNT_FIELDS.get(name) in tweet.extra.get("unreadable_fields", ()):
            return Reason(f"{name}_unreadable", f"the source holds a {name} count that cannot be read")
        return Reason(f"{name}_missing", f"the source has no {name} count")
    shown = f"{value:g}" if isinstance(value, float) else value
    if low is not None and value < low:
        return Reason(f"{name}_below_min", f"{name} {shown} < min_{bound} {low}")
    if high is not None and value > high:
        return Reason(f"{name}_above_max", f"{name} {shown} > max_{bound} {high}")
    return None


def in_stage(stage: str, reason: str | None) -> Reason | None:
    """`reason` as the disposition "<stage>/<reason>", keeping the value that decided."""
    return (
        Reason(f"{stage}/{reason}", getattr(reason, "detail", None), getattr(reason, "related_id", None))
        if reason
        else None
    )


def root_rejection(
    tweet: Tweet, config: RootFiltersConfig, detect_language: Callable[[str], str], text: str | None = None
) -> str | None:
    """Why the tweet replied to is unusable, as "root_filters/<reason>".

    `text` is the tweet's text as it would be published (normalized; default: the raw text). Its language is the
    source's `lang` where the source has one, else `detect_language(text)`.
    """
    text = tweet.text if text is None else text
    if control := find_control_strings(text):
        return Reason("root_filters/chat_control_string", f"holds {quoted_control_string(control[0])}")
    if config.exclude_retweets and tweet.is_retweet:
        return Reason("root_filters/retweet", "a retweet")
    if config.exclude_quotes and tweet.is_quote:
        return Reason("root_filters/quote", "a quote tweet")
    reason = (
        bounds_rejection("likes", tweet.likes, config.min_likes, config.max_likes, tweet)
        or bounds_rejection("retweets", tweet.retweets, config.min_retweets, config.max_retweets, tweet)
        or bounds_rejection("length", len(text), None, config.max_length)
    )
    if reason:
        return in_stage("root_filters", reason)
    if not has_text(text):  # e.g. a photo tweet whose text is its t.co link: the prompt would hold no words
        return Reason("root_filters/no_text", "no words besides links and @mentions")
    if config.languages:
        language = tweet.lang or detect_language(text)
        if language not in config.languages:
            source = "the source's label" if tweet.lang else "detected"
            return Reason(
                "root_filters/language",
                f"language {quoted_language(language)} ({source}) not in languages {config.languages}",
            )
    return None


def has_url(pair: Pair) -> bool:
    return bool(pair.reply.urls) or bool(URL.search(pair.reply_text))


def reply_rejection(pair: Pair, config: ReplyFiltersConfig) -> str | None:
    """Why a reply is unusable, as "reply_filters/<reason>" (the per-author cap is applied after validation)."""
    reply = pair.reply
    if control := find_control_strings(pair.reply_text):
        return Reason("reply_filters/chat_control_string", f"holds {quoted_control_string(control[0])}")
    reason = (
        bounds_rejection("likes", reply.likes, config.min_likes, config.max_likes, reply)
        or bounds_rejection(
            "followers", reply.author_followers, config.min_follower_count, config.max_follower_count, reply
        )
        or bounds_rejection("delay", pair.delay_seconds, config.min_time_delay, config.max_time_delay)
    )
    if not reason and pair.delay_seconds < 0:  # reached only when min_time_delay is null or negative
        reason = Reason("reply_before_tweet", f"dated {-pair.delay_seconds:g} s before its tweet")
    if not reason and not config.allow_media and reply.has_media:
        reason = Reason("has_media", "has images or video (allow_media: false)")
    if not reason and not config.allow_urls and has_url(pair):
        reason = Reason("has_url", "has a link (allow_urls: false)")
    if not reason:
        reason = bounds_rejection("length", len(pair.reply_text), config.min_length, config.max_length)
    if not reason and not has_text(pair.reply_text):  # reached only when min_length is null or very low
        reason = Reason("no_text", "no words besides links and @mentions")
    return in_stage("reply_filters", reason)


def over_author_cap(pairs: list[Pair], max_replies_per_author: int | None) -> list[int]:
    """For the replies beyond an author's first `max_replies_per_author`, ranked by likes (then earliest), their rank
    among the author's replies (from 1, so always above the cap); 0 (false) for every other reply."""
    over = [0] * len(pairs)
    if max_replies_per_author is None:
        return over
    by_author: dict[str, list[int]] = defaultdict(list)
    for index, pair in enumerate(pairs):
        key = pair.reply.author_key
        if key is not None:
            by_author[key].append(index)
    for indexes in by_author.values():
        ranked = sorted(
            indexes, key=lambda i: (-pairs[i].reply_likes, pairs[i].reply.created_at, pairs[i].reply.tweet_id)
        )
        for rank, index in enumerate(ranked[max_replies_per_author:], start=max_replies_per_author + 1):
            over[index] = rank
    return over
