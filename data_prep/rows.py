"""Published rows: a Pair becomes one row of the DatasetDict, with only the columns named in replytune/schema.py."""

from __future__ import annotations

from datasets import Features, List, Value

from data_prep.config import OutputConfig, PrivacyConfig
from data_prep.pairs import Pair
from data_prep.privacy import Pseudonymizer, published_id, replace_handles
from replytune import schema as col

_MESSAGES = List({"role": Value("string"), "content": Value("string")})

PAIR_FEATURES = Features(
    {
        col.PROMPT: _MESSAGES,
        col.COMPLETION: _MESSAGES,
        col.TWEET_TEXT: Value("string"),
        col.REPLY_TEXT: Value("string"),
        col.TWEET_ID: Value("string"),
        col.REPLY_ID: Value("string"),
        col.CONVERSATION_ID: Value("string"),
        col.TWEET_AUTHOR: Value("string"),
        col.REPLY_AUTHOR: Value("string"),
        col.TWEET_LIKES: Value("int64"),
        col.TWEET_RETWEETS: Value("int64"),
        col.REPLY_LIKES: Value("int64"),
        col.REPLY_AUTHOR_FOLLOWERS: Value("int64"),
        col.REPLY_DELAY_SECONDS: Value("float64"),
        col.TWEET_CREATED_AT: Value("string"),
        col.REPLY_CREATED_AT: Value("string"),
        col.LANGUAGE_CONFIDENCE: Value("float64"),
        col.TOXICITY_SCORE: Value("float64"),
        col.UNIQUE_WORD_COUNT: Value("int64"),
        col.GENERIC_PHRASE_RATIO: Value("float64"),
        col.QUALITY_SCORE: Value("float64"),
        col.QUERY: Value("string"),
    }
)
assert tuple(PAIR_FEATURES) == col.PAIR_COLUMNS, "rows.PAIR_FEATURES must list schema.PAIR_COLUMNS in order"


def pair_row(pair: Pair, output: OutputConfig, privacy: PrivacyConfig, pseudonymizer: Pseudonymizer) -> dict:
    """The published row of a pair: conversational prompt/completion, raw texts, ids, engagement, scores."""
    tweet_text, reply_text = pair.tweet_text, pair.reply_text
    if privacy.replace_handles:
        tweet_text = replace_handles(tweet_text, privacy.handle_placeholder)
        reply_text = replace_handles(reply_text, privacy.handle_placeholder)
    tweet, reply = pair.tweet, pair.reply
    ids = privacy.published_ids
    return {
        col.PROMPT: [{"role": "user", "content": output.prompt_template.format(tweet=tweet_text)}],
        col.COMPLETION: [{"role": "assistant", "content": reply_text}],
        col.TWEET_TEXT: tweet_text,
        col.REPLY_TEXT: reply_text,
        col.TWEET_ID: published_id(tweet.tweet_id, ids, pseudonymizer),
        col.REPLY_ID: published_id(reply.tweet_id, ids, pseudonymizer),
        col.CONVERSATION_ID: published_id(pair.conversation_id, ids, pseudonymizer),
        col.TWEET_AUTHOR: pseudonymizer.author(tweet),
        col.REPLY_AUTHOR: pseudonymizer.author(reply),
        col.TWEET_LIKES: tweet.likes,
        col.TWEET_RETWEETS: tweet.retweets,
        col.REPLY_LIKES: reply.likes,
        col.REPLY_AUTHOR_FOLLOWERS: reply.author_followers,
        col.REPLY_DELAY_SECONDS: pair.delay_seconds,
        col.TWEET_CREATED_AT: tweet.created_at.isoformat(),
        col.REPLY_CREATED_AT: reply.created_at.isoformat(),
        col.LANGUAGE_CONFIDENCE: pair.scores.get(col.LANGUAGE_CONFIDENCE),
        col.TOXICITY_SCORE: pair.scores.get(col.TOXICITY_SCORE),
        col.UNIQUE_WORD_COUNT: pair.scores.get(col.UNIQUE_WORD_COUNT),
        col.GENERIC_PHRASE_RATIO: pair.scores.get(col.GENERIC_PHRASE_RATIO),
        col.QUALITY_SCORE: pair.quality_score,
        col.QUERY: tweet.query or reply.query,
    }
