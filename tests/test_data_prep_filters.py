"""Pairing, root tweet filters and reply filters, each at its boundaries (the original spec's defaults)."""

import dataclasses

import pytest

from data_prep.config import PairsConfig, ReplyFiltersConfig, RootFiltersConfig
from data_prep.filters import bounds_rejection, over_author_cap, reply_rejection, root_rejection
from data_prep.funnel import Funnel
from data_prep.pairs import Pair, conversation_of, find_pairs, unique_tweets, visible_text
from data_prep.sources import Rejected
from tests.data_prep_tweets import GOOD_REPLY, reply_to, root_tweet


def english(text):
    return "en"


def test_bounds_are_inclusive_and_null_disables_them():
    assert bounds_rejection("likes", 5, 5, 500) is None
    assert bounds_rejection("likes", 500, 5, 500) is None
    assert bounds_rejection("likes", 4, 5, 500) == "likes_below_min"
    assert bounds_rejection("likes", 501, 5, 500) == "likes_above_max"
    assert bounds_rejection("likes", None, 5, 500) == "likes_missing"
    assert bounds_rejection("likes", None, None, None) is None
    assert bounds_rejection("likes", 10**9, 5, None) is None


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({}, None),
        ({"likes": 200}, None),
        ({"likes": 2000}, None),
        ({"likes": 199}, "root_filters/likes_below_min"),
        ({"likes": 2001}, "root_filters/likes_above_max"),
        ({"likes": None}, "root_filters/likes_missing"),
        ({"retweets": 10}, None),
        ({"retweets": 500}, None),
        ({"retweets": 9}, "root_filters/retweets_below_min"),
        ({"retweets": 501}, "root_filters/retweets_above_max"),
        ({"is_retweet": True}, "root_filters/retweet"),
        ({"is_quote": True}, "root_filters/quote"),
        ({"lang": "de"}, "root_filters/language"),
    ],
)
def test_root_filters(fields, reason):
    assert root_rejection(root_tweet(**fields), RootFiltersConfig(), english) == reason


@pytest.mark.parametrize("text", ["https://t.co/abc123", "@someone @other", "  \n ", "", "@someone https://t.co/a"])
def test_a_root_without_words_is_rejected_whatever_the_bounds(text):
    """A photo tweet whose text is its t.co link would give every pair an empty prompt."""
    no_bounds = RootFiltersConfig(min_likes=None, max_likes=None, min_retweets=None, max_retweets=None, languages=[])
    assert root_rejection(root_tweet(text=text), no_bounds, english) == "root_filters/no_text"
    assert root_rejection(root_tweet(text=f"{text} a word"), no_bounds, english) is None


def test_root_language_falls_back_to_the_detector_when_the_source_has_none():
    assert root_rejection(root_tweet(lang=None), RootFiltersConfig(), lambda text: "fr") == "root_filters/language"
    assert root_rejection(root_tweet(lang=None), RootFiltersConfig(), english) is None
    assert root_rejection(root_tweet(lang="de"), RootFiltersConfig(languages=[]), english) is None


def pair_of(reply_fields=None, delay_seconds=3_600, text=GOOD_REPLY) -> Pair:
    root = root_tweet()
    reply = reply_to(root, text=text, delay_seconds=delay_seconds, **(reply_fields or {}))
    (pair,) = find_pairs([root, reply], PairsConfig()).pairs
    return pair


@pytest.mark.parametrize(
    ("reply_fields", "reason"),
    [
        ({}, None),
        ({"likes": 5}, None),
        ({"likes": 500}, None),
        ({"likes": 4}, "reply_filters/likes_below_min"),
        ({"likes": 501}, "reply_filters/likes_above_max"),
        ({"likes": None}, "reply_filters/likes_missing"),
        ({"author_followers": 200}, None),
        ({"author_followers": 20_000}, None),
        ({"author_followers": 199}, "reply_filters/followers_below_min"),
        ({"author_followers": 20_001}, "reply_filters/followers_above_max"),
        ({"author_followers": None}, "reply_filters/followers_missing"),
        ({"has_media": True}, "reply_filters/has_media"),
        ({"urls": ("https://example.com/post",)}, "reply_filters/has_url"),
    ],
)
def test_reply_filters(reply_fields, reason):
    assert reply_rejection(pair_of(reply_fields), ReplyFiltersConfig()) == reason


@pytest.mark.parametrize(
    ("delay", "reason"),
    [
        (300, None),
        (604_800, None),
        (299, "reply_filters/delay_below_min"),
        (604_801, "reply_filters/delay_above_max"),
        (-60, "reply_filters/delay_below_min"),
    ],
)
def test_reply_delay(delay, reason):
    assert reply_rejection(pair_of(delay_seconds=delay), ReplyFiltersConfig()) == reason


def test_a_reply_dated_before_its_tweet_is_rejected_when_the_delay_bound_is_off():
    no_delay_bounds = ReplyFiltersConfig(min_time_delay=None, max_time_delay=None)
    assert reply_rejection(pair_of(delay_seconds=-60), no_delay_bounds) == "reply_filters/reply_before_tweet"
    assert reply_rejection(pair_of(delay_seconds=0), no_delay_bounds) is None


@pytest.mark.parametrize(
    ("length", "reason"),
    [(30, None), (280, None), (29, "reply_filters/length_below_min"), (281, "reply_filters/length_above_max")],
)
def test_reply_length_counts_the_published_text(length, reason):
    text = ("word " * 100)[: length - 1] + "x"
    pair = pair_of(text=text)
    assert len(pair.reply_text) == length  # the leading @mention is not counted
    assert reply_rejection(pair, ReplyFiltersConfig()) == reason


@pytest.mark.parametrize("text", ["https://t.co/abc", "   ", "@third_person https://t.co/abc"])
def test_a_reply_without_words_is_rejected_when_the_length_bound_is_off(text):
    anything = ReplyFiltersConfig(allow_urls=True, min_length=None)
    assert reply_rejection(pair_of(text=text), anything) == "reply_filters/no_text"
    assert reply_rejection(pair_of(text=text), ReplyFiltersConfig(allow_urls=True)) == "reply_filters/length_below_min"


def test_a_link_in_the_text_counts_as_a_url_and_can_be_allowed():
    pair = pair_of(text=GOOD_REPLY + " https://t.co/abc")
    assert reply_rejection(pair, ReplyFiltersConfig()) == "reply_filters/has_url"
    assert reply_rejection(pair, ReplyFiltersConfig(allow_urls=True)) is None


def test_author_cap_keeps_the_most_liked_replies():
    root = root_tweet()
    replies = [reply_to(root, author_id="prolific", likes=likes) for likes in (10, 50, 30, 20)]
    replies.append(reply_to(root, author_id="other", likes=1))
    pairs = find_pairs([root, *replies], PairsConfig()).pairs
    over = over_author_cap(pairs, 2)
    kept_likes = sorted(p.reply.likes for p, o in zip(pairs, over) if not o)
    assert kept_likes == [1, 30, 50]
    assert over_author_cap(pairs, None) == [False] * 5


def test_pairs_and_why_a_reply_is_not_paired():
    root = root_tweet()
    direct = reply_to(root)
    to_reply = reply_to(direct)  # a reply to a reply
    orphan = reply_to(root_tweet(), in_reply_to_id="missing")
    self_reply = reply_to(root, author_id=root.author_id)
    retweet = reply_to(root, is_retweet=True)
    quote = reply_to(root, is_quote=True)
    pairing = find_pairs([root, direct, to_reply, orphan, self_reply, retweet, quote], PairsConfig())
    assert [(p.tweet.tweet_id, p.reply.tweet_id) for p in pairing.pairs] == [(root.tweet_id, direct.tweet_id)]
    assert pairing.reply_drops == {
        to_reply.tweet_id: "pairs/not_direct_reply",
        orphan.tweet_id: "pairs/parent_not_found",
        self_reply.tweet_id: "pairs/self_reply",
        retweet.tweet_id: "pairs/retweet",
        quote.tweet_id: "pairs/quote",
    }
    everything = dataclasses.replace(
        PairsConfig(),
        direct_replies_only=False,
        exclude_self_replies=False,
        exclude_retweets=False,
        exclude_quotes=False,
    )
    assert len(find_pairs([root, direct, to_reply, self_reply, retweet, quote], everything).pairs) == 5


def test_self_reply_by_handle_when_ids_are_missing():
    root = root_tweet(author_id=None, author_handle="Alice")
    reply = reply_to(root, author_id=None, author_handle="alice")
    assert find_pairs([root, reply], PairsConfig()).reply_drops == {reply.tweet_id: "pairs/self_reply"}


def test_conversation_of_walks_up_when_the_source_has_no_conversation_id():
    root = root_tweet(conversation_id=None)
    first = reply_to(root, conversation_id=None)
    second = reply_to(first, conversation_id=None)
    by_id = {t.tweet_id: t for t in (root, first, second)}
    assert conversation_of(second, by_id) == root.tweet_id
    pairs = find_pairs([root, first, second], PairsConfig(direct_replies_only=False)).pairs
    assert {p.conversation_id for p in pairs} == {root.tweet_id}


def test_visible_text_drops_only_the_leading_mentions_of_a_reply():
    root = root_tweet(text="@someone starts a tweet with a mention")
    reply = reply_to(root, text="@second thanks @third for the pointer")
    assert visible_text(root) == root.text
    assert visible_text(reply) == "thanks @third for the pointer"


def test_unique_tweets_settles_rejections_and_repeated_ids():
    root = root_tweet()
    funnel = Funnel()
    records = [root, Rejected("missing_id", None, "f.json"), root, Rejected("placeholder", None, "f.json")]
    assert unique_tweets(records, funnel, progress=False) == [root]
    assert funnel.input_records == 4
    assert funnel.dispositions == {"ingest/missing_id": 1, "ingest/placeholder": 1, "ingest/duplicate_id": 1}
