"""data_prep.sources: every export format, date and count variant, rejection reasons, readers, and the real exports."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

import pytest

from data_prep.sources import (
    Rejected,
    iter_tweets,
    list_input_files,
    normalize_record,
    parse_count,
    parse_datetime,
    scan_input_files,
)
from replytune.errors import InputError
from replytune.schema import Tweet
from tests.paths import realdata_path

AGENT_VIBES = ("apify", "agent-vibes__2025-09-17-apify-x-posts-100.json")
KAITO = ("apify", "rasmuskampmann1998__global_agriculture_tweets.json")
LEGACY = ("apify", "tecmie_rettiwt__dataset_twitter_scraper_with_replies.json")
RUMOUREVAL = ("tweets", "rumoureval2017_autoreleasefool")

UTC = timezone.utc


# --------------------------------------------------------------------------------------------------
# Records of each format
# --------------------------------------------------------------------------------------------------


def apidojo_record(**overrides) -> dict:
    record = {
        "type": "tweet",
        "id": "1968539736794087540",
        "url": "https://x.com/toolmantim/status/1968539736794087540",
        "text": "short text",
        "fullText": "@samsaffron Whoops, I meant https://t.co/UNHHLbc1dU",
        "retweetCount": 2,
        "replyCount": 1,
        "likeCount": 17,
        "quoteCount": 0,
        "viewCount": 1000,
        "createdAt": "Thu Sep 18 04:57:01 +0000 2025",
        "lang": "en",
        "isReply": True,
        "inReplyToId": "1968539458569150518",
        "conversationId": "1968481297392648343",
        "inReplyToUserId": "23302930",
        "author": {
            "userName": "toolmantim",
            "id": "2514731",
            "name": "Tim",
            "followers": 3956,
            "isBlueVerified": True,
        },
        "extendedEntities": {},
        "entities": {"urls": [{"url": "https://t.co/UNHHLbc1dU", "expanded_url": "http://AGENTS.md"}]},
        "isRetweet": False,
        "isQuote": False,
        "media": [],
    }
    record.update(overrides)
    return record


def test_apidojo_record_maps_every_field():
    tweet = normalize_record(apidojo_record(), "export.json")
    assert isinstance(tweet, Tweet)
    assert tweet.tweet_id == "1968539736794087540"
    assert tweet.text == "@samsaffron Whoops, I meant https://t.co/UNHHLbc1dU"  # fullText wins over text
    assert tweet.created_at == datetime(2025, 9, 18, 4, 57, 1, tzinfo=UTC)
    assert (tweet.author_id, tweet.author_handle, tweet.author_name) == ("2514731", "toolmantim", "Tim")
    assert tweet.author_followers == 3956 and tweet.author_verified is True
    assert (tweet.likes, tweet.retweets, tweet.reply_count, tweet.quotes, tweet.views) == (17, 2, 1, 0, 1000)
    assert tweet.conversation_id == "1968481297392648343"
    assert tweet.in_reply_to_id == "1968539458569150518" and tweet.is_reply
    assert tweet.in_reply_to_author_id == "23302930"
    assert tweet.urls == ("http://AGENTS.md",)
    assert not tweet.has_media and not tweet.is_retweet and not tweet.is_quote
    assert tweet.lang == "en" and tweet.url.endswith("/1968539736794087540")
    assert tweet.source_format == "apify_tweet_scraper" and tweet.source_file == "export.json"
    assert tweet.query is None and tweet.extra == {}


@pytest.mark.parametrize(
    "overrides",
    [
        {"media": ["https://pbs.twimg.com/media/x.jpg"]},
        {"extendedEntities": {"media": [{"type": "photo"}]}},
        {"entities": {"media": [{"type": "photo"}], "urls": []}},
    ],
)
def test_apidojo_media_in_any_of_its_places(overrides):
    assert normalize_record(apidojo_record(**overrides), "f").has_media


@pytest.mark.parametrize(
    ("overrides", "is_retweet", "is_quote"),
    [
        ({"isRetweet": True}, True, False),
        ({"isQuote": True}, False, True),
        ({"quote": {"id": "1"}, "isQuote": None}, False, True),
        ({"quoteId": "1967756286545494421"}, False, True),
        ({"retweeted_tweet": {"id": "1"}, "isRetweet": None}, True, False),
    ],
)
def test_apidojo_retweets_and_quotes(overrides, is_retweet, is_quote):
    tweet = normalize_record(apidojo_record(**overrides), "f")
    assert (tweet.is_retweet, tweet.is_quote) == (is_retweet, is_quote)


def test_apidojo_root_tweet_and_missing_author():
    record = apidojo_record(isReply=False, inReplyToId=None, inReplyToUserId=None)
    del record["author"]
    tweet = normalize_record(record, "f")
    assert not tweet.is_reply and tweet.in_reply_to_id is None
    assert tweet.author_id is None and tweet.author_followers is None and tweet.author_verified is None


def test_kaitoeasyapi_record_with_fields_missing_or_none():
    record = {
        "type": "tweet",
        "id": "1936485518495338544",
        "text": "Tomato season needs workers",
        "source": "",
        "likeCount": 2,
        "createdAt": "Sat Jun 21 18:05:00 +0000 2025",
        "isReply": False,
        "inReplyToId": None,
        "conversationId": "1936485518495338544",
        "author": {"userName": "theportugalnews", "id": "73118256", "followers": 11841, "isAutomated": False},
        "extendedEntities": {"media": [{"type": "photo"}]},
        "entities": {},
        "quoted_tweet": None,
        "retweeted_tweet": None,
        "searchTermIndex": 0,
    }
    tweet = normalize_record(record, "kaito.json")
    assert tweet.source_format == "apify_kaitoeasyapi"
    assert tweet.likes == 2 and tweet.retweets is None and tweet.reply_count is None and tweet.views is None
    assert tweet.author_followers == 11841 and tweet.author_verified is None
    assert tweet.has_media and not tweet.is_retweet and not tweet.is_quote and tweet.urls == ()
    assert tweet.lang is None


def legacy_record(**overrides) -> dict:
    record = {
        "username": "Mochievous",
        "user_id": "72853440",
        "id": "1667310905078448128",
        "conversation_id": "1667310902171901952",
        "full_text": "If you know, you know.",
        "reply_count": 11,
        "retweet_count": 518,
        "favorite_count": 19504,
        "urls": [{"url": "https://t.co/x", "expanded_url": "https://chatkjv.com"}],
        "media": [],
        "url": "https://twitter.com/Mochievous/status/1667310905078448128",
        "created_at": "2023-06-09T23:21:11.000Z",
        "view_count": 525325,
        "quote_count": 14,
        "is_quote_tweet": False,
        "replying_to_tweet": "https://twitter.com/Mochievous/status/1667310902171901952",
        "is_retweet": False,
    }
    record.update(overrides)
    return record


def test_legacy_twitter_scraper_record():
    tweet = normalize_record(legacy_record(), "legacy.json")
    assert tweet.source_format == "apify_twitter_scraper_legacy"
    assert tweet.created_at == datetime(2023, 6, 9, 23, 21, 11, tzinfo=UTC)
    assert tweet.text == "If you know, you know."
    assert (tweet.author_id, tweet.author_handle) == ("72853440", "Mochievous")
    assert tweet.author_followers is None  # this actor has no author object
    assert (tweet.likes, tweet.retweets, tweet.reply_count, tweet.quotes, tweet.views) == (19504, 518, 11, 14, 525325)
    assert tweet.in_reply_to_id == "1667310902171901952"  # parsed from the replying_to_tweet URL
    assert tweet.conversation_id == "1667310902171901952"
    assert tweet.urls == ("https://chatkjv.com",)


def test_legacy_record_not_a_reply_quote_media_and_unparsable_reply_url():
    tweet = normalize_record(
        legacy_record(replying_to_tweet=None, is_quote_tweet=True, media=[{"type": "photo"}]), "f"
    )
    assert not tweet.is_reply and tweet.is_quote and tweet.has_media
    odd = normalize_record(legacy_record(replying_to_tweet="https://twitter.com/someone"), "f")
    assert odd.in_reply_to_id is None  # not guessed
    assert odd.extra == {"replying_to_tweet": "https://twitter.com/someone", "unreadable_fields": ["in_reply_to_id"]}


def x_api_v1_record(**overrides) -> dict:
    record = {
        "created_at": "Tue Mar 24 10:51:58 +0000 2015",
        "id": 580321148728164353,
        "id_str": "580321148728164353",
        "text": "@NYCAviation this looks like the aircraft",
        "favorite_count": 3,
        "retweet_count": 1,
        "in_reply_to_status_id": 580320684305416192,
        "in_reply_to_status_id_str": "580320684305416192",
        "in_reply_to_user_id": 51381252,
        "in_reply_to_user_id_str": "51381252",
        "lang": "en",
        "user": {
            "id": 1,
            "id_str": "1",
            "screen_name": "alex",
            "name": "Alex",
            "followers_count": 731,
            "verified": False,
        },
        "entities": {"urls": [{"url": "https://t.co/a", "expanded_url": "https://example.com/a"}], "media": []},
    }
    record.update(overrides)
    return record


def test_x_api_v1_status():
    tweet = normalize_record(x_api_v1_record(), "status.json")
    assert tweet.source_format == "x_api_v1"
    assert tweet.tweet_id == "580321148728164353" and tweet.in_reply_to_id == "580320684305416192"
    assert tweet.in_reply_to_author_id == "51381252"
    assert tweet.author_followers == 731 and tweet.author_handle == "alex" and tweet.author_verified is False
    assert tweet.likes == 3 and tweet.retweets == 1 and tweet.reply_count is None
    assert tweet.urls == ("https://example.com/a",) and not tweet.has_media
    assert tweet.conversation_id is None  # v1.1 has none; it is not guessed
    assert tweet.url == "https://twitter.com/alex/status/580321148728164353"


def test_x_api_v1_retweet_quote_media_and_extended_text():
    tweet = normalize_record(
        x_api_v1_record(
            retweeted_status={"id_str": "9"},
            quoted_status={"id_str": "8"},
            extended_entities={"media": [{"type": "video"}]},
            truncated=True,
            extended_tweet={"full_text": "the whole text, past 140 characters"},
        ),
        "f",
    )
    assert tweet.is_retweet and tweet.is_quote and tweet.has_media
    assert tweet.text == "the whole text, past 140 characters"
    assert normalize_record(x_api_v1_record(full_text="full text wins"), "f").text == "full text wins"


def test_x_api_v1_flattened_variant_with_int_ids_and_no_counts():
    """RumourEval's 2017 threads: top-level urls, int ids, no *_str reply ids, favorite_count absent."""
    record = {
        "created_at": "Tue Jun 27 15:08:12 +0000 2017",
        "hashtags": [],
        "id": 879718008926724096,
        "id_str": "879718008926724096",
        "in_reply_to_screen_name": "realDonaldTrump",
        "in_reply_to_status_id": 879678356450676736,
        "in_reply_to_user_id": 25073877,
        "lang": "en",
        "text": "@realDonaldTrump Fake!",
        "urls": [{"expanded_url": "https://twitter.com/i/web/status/1", "url": "https://t.co/J"}],
        "user": {"followers_count": 295, "id": 710451084918001664, "screen_name": "Kevin"},
        "user_mentions": [],
    }
    tweet = normalize_record(record, "f")
    assert tweet.in_reply_to_id == "879678356450676736" and tweet.in_reply_to_author_id == "25073877"
    assert tweet.author_id == "710451084918001664"
    assert tweet.likes is None and tweet.retweets is None  # absent, not zero
    assert tweet.urls == ("https://twitter.com/i/web/status/1",)


def test_query_and_run_id_from_the_collector_annotation():
    record = apidojo_record(_replytune_query="LoRA QLoRA", _replytune_run_id="run123")
    tweet = normalize_record(record, "tweets.jsonl")
    assert tweet.query == "LoRA QLoRA" and tweet.extra == {"apify_run_id": "run123"}


# --------------------------------------------------------------------------------------------------
# Rejections: required fields are never guessed
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason", "record_id"),
    [
        ({"noResults": True}, "placeholder", None),
        ("a string, not an object", "not_an_object", None),
        (["a", "list"], "not_an_object", None),
        ({"foo": 1, "id": "5"}, "unknown_format", "5"),
        (apidojo_record(id=None), "missing_id", None),
        (apidojo_record(id=""), "missing_id", None),
        (apidojo_record(id=1.968e18), "unreadable_id", None),  # a float has lost the id's last digits
        (apidojo_record(id=True), "unreadable_id", None),
        (apidojo_record(id=["1"]), "unreadable_id", None),
        (apidojo_record(text=None, fullText=None), "missing_text", "1968539736794087540"),
        (apidojo_record(text=5, fullText=None), "unreadable_text", "1968539736794087540"),
        (apidojo_record(createdAt=None), "missing_created_at", "1968539736794087540"),
        (apidojo_record(createdAt=""), "missing_created_at", "1968539736794087540"),
        (apidojo_record(createdAt="yesterday"), "unreadable_created_at", "1968539736794087540"),
        (apidojo_record(createdAt="Thu Sep 31 04:57:01 +0000 2025"), "unreadable_created_at", "1968539736794087540"),
        (legacy_record(created_at="2023-13-01T00:00:00Z"), "unreadable_created_at", "1667310905078448128"),
        (x_api_v1_record(id_str=None, id=None), "missing_id", None),
        (x_api_v1_record(text=None), "missing_text", "580321148728164353"),
    ],
)
def test_rejections_name_the_reason(raw, reason, record_id):
    rejected = normalize_record(raw, "bad.json")
    assert rejected == Rejected(reason, record_id, "bad.json")


def test_a_missing_createdat_is_rejected_even_with_text_and_counts():
    record = apidojo_record()
    del record["createdAt"]
    record["likeCount"] = 5  # still detected as apidojo by its counts
    assert normalize_record(record, "f").reason == "missing_created_at"


# --------------------------------------------------------------------------------------------------
# Dates and counts
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Thu Oct 02 07:11:55 +0000 2025", datetime(2025, 10, 2, 7, 11, 55, tzinfo=UTC)),  # the fast path
        ("Thu Oct 02 07:11:55 +0200 2025", datetime(2025, 10, 2, 5, 11, 55, tzinfo=UTC)),
        ("Thu Oct 02 07:11:55 -0130 2025", datetime(2025, 10, 2, 8, 41, 55, tzinfo=UTC)),
        ("Wed Dec 31 23:59:59 +0000 2025", datetime(2025, 12, 31, 23, 59, 59, tzinfo=UTC)),
        ("Thu  Oct 02 07:11:55 +0000 2025", datetime(2025, 10, 2, 7, 11, 55, tzinfo=UTC)),  # odd spacing
        ("Thu, 02 Oct 2025 07:11:55 +0000", datetime(2025, 10, 2, 7, 11, 55, tzinfo=UTC)),  # email RFC 2822
        ("2022-12-18T13:12:16.000Z", datetime(2022, 12, 18, 13, 12, 16, tzinfo=UTC)),
        ("2025-10-02T09:11:55+02:00", datetime(2025, 10, 2, 7, 11, 55, tzinfo=UTC)),
        ("2025-10-02T07:11:55", datetime(2025, 10, 2, 7, 11, 55, tzinfo=UTC)),  # no zone: UTC
        ("2025-10-02 07:11:55", datetime(2025, 10, 2, 7, 11, 55, tzinfo=UTC)),
        ("2025-10-02", datetime(2025, 10, 2, tzinfo=UTC)),
        (1759389115, datetime(2025, 10, 2, 7, 11, 55, tzinfo=UTC)),  # epoch seconds
        (1759389115123, datetime(2025, 10, 2, 7, 11, 55, 123000, tzinfo=UTC)),  # epoch milliseconds
        (1759389115.5, datetime(2025, 10, 2, 7, 11, 55, 500000, tzinfo=UTC)),
        ("1759389115", datetime(2025, 10, 2, 7, 11, 55, tzinfo=UTC)),
        ("1759389115123", datetime(2025, 10, 2, 7, 11, 55, 123000, tzinfo=UTC)),
        (" 2025-10-02T07:11:55Z ", datetime(2025, 10, 2, 7, 11, 55, tzinfo=UTC)),
    ],
)
def test_dates_read_as_utc(value, expected):
    parsed = parse_datetime(value)
    assert parsed == expected and parsed.utcoffset().total_seconds() == 0


@pytest.mark.parametrize(
    "value",
    [
        "Thu Oct 32 07:11:55 +0000 2025",
        "Thu Foo 02 07:11:55 +0000 2025",
        "Thu Oct 02 25:11:55 +0000 2025",
        "Thu Oct 02 07:11:55 +00x0 2025",
        "2025",  # a year alone is neither a date nor a plausible epoch
        "2025-02-30",
        "garbage",
        "",
        "nan",
        -5,
        0,
        10**17,  # beyond milliseconds
        "9999-12-31T23:30:00-05:00",  # a valid local time, but after year 9999 in UTC
        "Fri Dec 31 23:59:59 -0100 9999",
        "Mon Jan 01 00:00:00 +0100 0001",  # before year 1 in UTC
        True,
        None,
        [2025, 10, 2],
    ],
)
def test_unreadable_dates_are_none(value):
    assert parse_datetime(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (12, 12),
        (12.0, 12),
        ("12", 12),
        (" 1,234 ", 1234),
        ("1.2K", 1200),
        ("1.2k", 1200),
        ("3M", 3_000_000),
        ("2.5B", 2_500_000_000),
        ("10_000", 10000),
        ("1.0", 1),
        (None, None),
        (-1, None),
        ("-3", None),
        (1.5, None),
        ("1.5", None),
        ("abc", None),
        ("", None),
        ("K", None),
        (True, None),
        ([1], None),
        (2**63 - 1, 2**63 - 1),  # the largest an int64 column holds
        (2**63, None),
        (10**30, None),
        (9e30, None),
        ("9.0e30", None),
        ("1e30K", None),
    ],
)
def test_counts(value, expected):
    assert parse_count(value) == expected


def test_a_date_beyond_the_calendar_rejects_the_record_instead_of_raising():
    tweet = normalize_record(apidojo_record(createdAt="Fri Dec 31 23:59:59 -0100 9999"), "f")
    assert tweet == Rejected("unreadable_created_at", "1968539736794087540", "f")


def test_a_count_too_large_for_the_dataset_is_unreadable():
    tweet = normalize_record(apidojo_record(likeCount=10**30, author={"id": "1", "followers": 2**64}), "f")
    assert tweet.likes is None and tweet.author_followers is None
    assert tweet.extra["unreadable_fields"] == ["author_followers", "likes"]


def test_half_an_emoji_becomes_the_replacement_character(tmp_path):
    path = tmp_path / "cut.jsonl"
    path.write_text(json.dumps(apidojo_record(fullText="cut off \ud83d, whole \ud83d\ude80")) + "\n")
    [tweet] = iter_tweets(list_input_files([path]))
    assert tweet.text == "cut off \ufffd, whole \U0001f680"
    tweet.text.encode("utf-8")


def test_int_and_string_ids_are_the_same_id():
    assert normalize_record(apidojo_record(id=1968539736794087540), "f").tweet_id == "1968539736794087540"
    assert normalize_record(apidojo_record(id=" 1968539736794087540 "), "f").tweet_id == "1968539736794087540"
    reply = normalize_record(apidojo_record(inReplyToId=1968539458569150518), "f")
    assert reply.in_reply_to_id == "1968539458569150518"


def test_unreadable_counts_are_none_and_listed_but_do_not_reject():
    tweet = normalize_record(apidojo_record(likeCount="many", retweetCount="1.2K", viewCount=None), "f")
    assert tweet.likes is None and tweet.retweets == 1200 and tweet.views is None
    assert tweet.extra["unreadable_fields"] == ["likes"]
    followers = normalize_record(apidojo_record(author={"id": "1", "followers": "2,500"}), "f")
    assert followers.author_followers == 2500


# --------------------------------------------------------------------------------------------------
# Readers
# --------------------------------------------------------------------------------------------------


def write_json(path: Path, data) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def ids_of(items) -> list[str | None]:
    return [item.tweet_id if isinstance(item, Tweet) else item.record_id for item in items]


def test_json_array_jsonl_single_object_and_gzip(tmp_path):
    array = write_json(tmp_path / "a.json", [apidojo_record(id="1"), {"noResults": True}, apidojo_record(id="2")])
    single = write_json(tmp_path / "b.json", x_api_v1_record(id_str="3"))
    lines = tmp_path / "c.jsonl"
    lines.write_text(json.dumps(legacy_record(id="4")) + "\n\n" + json.dumps(apidojo_record(id="5")) + "\n")
    zipped = tmp_path / "d.jsonl.gz"
    with gzip.open(zipped, "wt", encoding="utf-8") as file:
        file.write(json.dumps(apidojo_record(id="6")) + "\n")
    files = list_input_files([array, single, lines, zipped])
    items = list(iter_tweets(files))
    assert ids_of(items) == ["1", None, "2", "3", "4", "5", "6"]
    assert items[1] == Rejected("placeholder", None, str(array))
    assert [item.source_format for item in items if isinstance(item, Tweet)] == [
        "apify_tweet_scraper",
        "apify_tweet_scraper",
        "x_api_v1",
        "apify_twitter_scraper_legacy",
        "apify_tweet_scraper",
        "apify_tweet_scraper",
    ]


def test_json_lines_written_into_a_json_file_are_read(tmp_path):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(apidojo_record(id="1")) + "\n" + json.dumps(apidojo_record(id="2")) + "\n")
    assert ids_of(iter_tweets(list_input_files([path]))) == ["1", "2"]


def test_a_line_separator_inside_a_tweet_does_not_split_the_record(tmp_path):
    path = tmp_path / "tweets.jsonl"
    text = "first part\u2028second part\x85third"
    path.write_text(json.dumps(apidojo_record(fullText=text), ensure_ascii=False) + "\n", encoding="utf-8")
    [tweet] = iter_tweets(list_input_files([path]))
    assert tweet.text == text


def test_utf8_byte_order_mark_is_accepted(tmp_path):
    path = tmp_path / "bom.json"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps([apidojo_record()]).encode())
    assert len(list(iter_tweets(list_input_files([path])))) == 1


def test_one_item_per_record_in_order_whatever_the_record(tmp_path):
    records = [
        apidojo_record(id="10"),
        {"noResults": True},
        "junk",
        {"unrelated": "object"},
        apidojo_record(id="11", createdAt="not a date"),
        legacy_record(id="12"),
        apidojo_record(id="10"),  # a repeated id is yielded again: dedup is the pipeline's
    ]
    path = write_json(tmp_path / "mixed.json", records)
    items = list(iter_tweets(list_input_files([path])))
    assert len(items) == len(records)
    assert [item.reason if isinstance(item, Rejected) else "tweet" for item in items] == [
        "tweet",
        "placeholder",
        "not_an_object",
        "unknown_format",
        "unreadable_created_at",
        "tweet",
        "tweet",
    ]
    assert ids_of(items) == ["10", None, None, None, "11", "12", "10"]


def test_folders_are_expanded_recursively_and_annotation_files_skipped(tmp_path):
    thread = tmp_path / "threads" / "580319078155468800"
    source = write_json(thread / "source-tweet" / "580319078155468800.json", x_api_v1_record(id_str="100"))
    reply = write_json(thread / "replies" / "580319546592112640.json", x_api_v1_record(id_str="101"))
    no_extension = write_json(thread / "replies" / "580319546592112641", x_api_v1_record(id_str="102"))
    write_json(thread / "structure.json", {"100": {"101": []}})
    write_json(tmp_path / "threads" / "subtaskA.json", {"101": "comment"})
    (tmp_path / "threads" / "README").write_text("RumourEval dev set\n")
    (tmp_path / "threads" / "notes.md").write_text("# notes\n")
    (tmp_path / "threads" / ".DS_Store").write_bytes(b"\x00\x01")
    scan = scan_input_files([tmp_path / "threads"])
    assert sorted(scan.files) == sorted([source, reply, no_extension])
    assert sorted((path.name, reason) for path, reason in scan.skipped) == [
        (".DS_Store", "hidden_file"),
        ("README", "not_json"),
        ("notes.md", "not_json"),
        ("structure.json", "annotation_file"),
        ("subtaskA.json", "annotation_file"),
    ]
    assert sorted(ids_of(iter_tweets(scan.files))) == ["100", "101", "102"]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('[{"id": "1"},\n {"id": 2,,}]', "bad.json:2: invalid JSON"),
        ("", "every input file is empty"),
        ("42", "top level must be a JSON object or array"),
        ("[1, 2", "bad.json:1: invalid JSON"),
    ],
)
def test_malformed_json_file_names_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        list_input_files([path])


def test_malformed_jsonl_line_names_the_line(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(apidojo_record()) + "\n\n{not json}\n")
    with pytest.raises(InputError, match=r"bad\.jsonl:3: invalid JSON line"):
        list_input_files([path])


def test_a_bad_file_stops_the_listing_before_any_record_is_read(tmp_path):
    good = write_json(tmp_path / "good.json", [apidojo_record()])
    bad = tmp_path / "zzz" / "bad.jsonl"
    bad.parent.mkdir()
    bad.write_text('{"id": 1}\n{"id":\n')
    with pytest.raises(InputError, match=r"bad\.jsonl:2"):
        list_input_files([good, tmp_path / "zzz"])


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("missing.json", None, "no such file or folder"),
        ("tweets.csv", "id,text\n1,hi\n", "not a JSON or JSONL file"),
        ("latin1.json", "caf\xe9".encode("latin-1"), "invalid JSON"),
    ],
)
def test_unusable_input_paths(tmp_path, name, content, message):
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content)
    elif isinstance(content, bytes):
        path.write_bytes(b'["' + content + b'"]')
    with pytest.raises(InputError, match=message) as error:
        list_input_files([path])
    assert name in str(error.value)


def test_a_folder_without_json_files_is_refused(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "notes.txt").write_text("the export is somewhere else\n")
    (folder / "structure.json").write_text("{}")  # an annotation file is not a record file either
    with pytest.raises(InputError, match="no JSON or JSONL file") as error:
        list_input_files([write_json(tmp_path / "good.json", [apidojo_record()]), folder])
    assert str(folder) in str(error.value)


def test_a_truncated_gzip_file_is_refused_with_its_name(tmp_path):
    path = tmp_path / "tweets.jsonl.gz"
    whole = gzip.compress(("\n".join(json.dumps(apidojo_record(id=str(i))) for i in range(50)) + "\n").encode())
    path.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(InputError, match=r"tweets\.jsonl\.gz: cannot be read"):
        list_input_files([path])


def test_no_input_paths():
    with pytest.raises(InputError, match="no input path"):
        list_input_files([])


# --------------------------------------------------------------------------------------------------
# The real exports in ../shared/realdata
# --------------------------------------------------------------------------------------------------


def read_real(*parts: str) -> tuple[list, list]:
    path = realdata_path(*parts)
    raw = json.loads(path.read_text(encoding="utf-8"))
    return raw, list(iter_tweets(list_input_files([path])))


def parent_links_in_file(tweets: list[Tweet]) -> int:
    ids = {tweet.tweet_id for tweet in tweets}
    return sum(1 for tweet in tweets if tweet.in_reply_to_id in ids)


def test_real_apidojo_export():
    raw, items = read_real(*AGENT_VIBES)
    assert len(items) == len(raw) == 100
    assert all(isinstance(item, Tweet) and item.source_format == "apify_tweet_scraper" for item in items)
    repeated = Counter(item.tweet_id for item in items)
    assert sum(count - 1 for count in repeated.values()) == 4  # 4 duplicate ids, all kept for the pipeline
    assert parent_links_in_file(items) == 19
    assert sum(item.is_quote for item in items) == 6 and sum(item.has_media for item in items) == 20
    assert all(item.author_followers is not None and item.likes is not None for item in items)
    assert all(item.created_at.tzinfo is not None for item in items)


def test_real_kaitoeasyapi_export():
    raw, items = read_real(*KAITO)
    assert len(items) == len(raw) == 107
    assert all(isinstance(item, Tweet) and item.source_format == "apify_kaitoeasyapi" for item in items)
    assert parent_links_in_file(items) == 2
    assert sum(item.is_reply for item in items) == 32
    assert Counter(item.lang for item in items)["en"] == 95


def test_real_legacy_twitter_scraper_export():
    raw, items = read_real(*LEGACY)
    assert len(items) == len(raw) == 2008
    assert all(isinstance(item, Tweet) and item.source_format == "apify_twitter_scraper_legacy" for item in items)
    assert sum(item.is_reply for item in items) == 84
    assert all(item.author_followers is None for item in items)
    assert sum(item.is_quote for item in items) == 173
    assert parent_links_in_file(items) > 0


def test_real_rumoureval_threads_folder():
    folder = realdata_path(*RUMOUREVAL)
    scan = scan_input_files([folder])
    assert len(scan.files) == 1084  # 85 source tweets + 999 replies
    assert Counter(reason for _, reason in scan.skipped) == {"annotation_file": 91, "not_json": 1}
    items = list(iter_tweets(scan.files))
    assert len(items) == 1084 and all(isinstance(item, Tweet) and item.source_format == "x_api_v1" for item in items)
    sources = {item.tweet_id for item in items if "source-tweet" in item.source_file}
    replies = [item for item in items if "replies" in Path(item.source_file).parts]
    assert len(sources) == 85 and len(replies) == 999
    assert sum(item.in_reply_to_id in sources for item in replies) == 607  # direct replies to the source tweet
    assert parent_links_in_file(items) == 998
    assert sum(item.likes is None for item in items) == 15  # favorite_count absent: None, not 0
