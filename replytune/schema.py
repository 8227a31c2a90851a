"""The one record schema of replytune: a normalized tweet, and the columns of a published pair row.

Every source format (Apify actors, X API exports) is normalized into `Tweet`; every later stage
(filters, curation, training, judging) reads the column names defined here and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(slots=True)
class Tweet:
    """A tweet or reply as read from any source, after normalization.

    Counts are None when the source did not carry them: a filter that needs a count rejects the
    record with a reason instead of guessing.
    """

    tweet_id: str
    text: str
    created_at: datetime  # timezone-aware, UTC
    author_id: str | None = None
    author_handle: str | None = None
    author_name: str | None = None
    author_followers: int | None = None
    author_verified: bool | None = None  # blue check or legacy verified, where the source says
    likes: int | None = None
    retweets: int | None = None
    reply_count: int | None = None
    quotes: int | None = None
    views: int | None = None
    conversation_id: str | None = None
    in_reply_to_id: str | None = None
    in_reply_to_author_id: str | None = None
    lang: str | None = None
    is_retweet: bool = False
    is_quote: bool = False
    has_media: bool = False
    urls: tuple[str, ...] = ()
    source_format: str = ""  # which export format it was read from, e.g. "apify_tweet_scraper"
    source_file: str = ""  # the file or actor run it came from, for the dataset card
    query: str | None = None  # the search term that found it (or found its root tweet), when known
    url: str | None = None  # the tweet's web address, when the source gives one
    extra: dict = field(default_factory=dict)  # source-specific leftovers worth keeping (e.g. apify_run_id)

    @property
    def is_reply(self) -> bool:
        return self.in_reply_to_id is not None

    @property
    def author_key(self) -> str | None:
        """Who wrote it: the account id, else the lower-cased handle (None when the source has neither).

        The per-author reply cap counts by it and the published author pseudonym is its keyed hash, so changing it
        changes every pseudonym: published versions would no longer match.
        """
        if self.author_id:
            return f"id:{self.author_id}"
        if self.author_handle:
            return f"handle:{self.author_handle.lower()}"
        return None


# Columns of a published pair row (one tweet->reply pair per row), defined here once: data_prep writes them,
# curation, training and judging read them by these names.
# `prompt`/`completion` hold TRL's conversational prompt-completion format, which SFTTrainer trains on
# with loss on the completion only:
#   prompt     = [{"role": "user", "content": "Generate an engaging Twitter reply to:\n\n{tweet}"}]
#   completion = [{"role": "assistant", "content": reply}]
PROMPT = "prompt"
COMPLETION = "completion"
TWEET_TEXT = "tweet_text"  # the tweet replied to, normalized, @handles -> @user
REPLY_TEXT = "reply_text"  # the reply, normalized, leading reply-to mentions removed, @handles -> @user
# Ids are keyed hashes by default (privacy.published_ids): stable across versions built with one key, but no longer
# X ids; with `published_ids: raw` they are X's ids.
TWEET_ID = "tweet_id"
REPLY_ID = "reply_id"
CONVERSATION_ID = "conversation_id"  # the root tweet's conversation: the unit of the train/eval/test split
TWEET_AUTHOR = "tweet_author"  # keyed-hash pseudonym of the tweet's author (never the id or handle)
REPLY_AUTHOR = "reply_author"  # keyed-hash pseudonym of the reply's author
TWEET_LIKES = "tweet_likes"
TWEET_RETWEETS = "tweet_retweets"
REPLY_LIKES = "reply_likes"
REPLY_AUTHOR_FOLLOWERS = "reply_author_followers"
REPLY_DELAY_SECONDS = "reply_delay_seconds"  # reply created_at - tweet created_at
TWEET_CREATED_AT = "tweet_created_at"  # ISO 8601, UTC
REPLY_CREATED_AT = "reply_created_at"  # ISO 8601, UTC
LANGUAGE_CONFIDENCE = "language_confidence"  # the language detector's confidence that the reply is English
TOXICITY_SCORE = "toxicity_score"  # 0..1 from the toxicity scorer named in the dataset card
UNIQUE_WORD_COUNT = "unique_word_count"  # unique meaningful words (stop words excluded)
GENERIC_PHRASE_RATIO = "generic_phrase_ratio"  # share of the reply's words inside generic phrases
QUALITY_SCORE = "quality_score"  # the original spec's quality sort: engagement + credibility + timing, 0..1
QUERY = "query"  # the search term that found the tweet, when known

PAIR_COLUMNS = (
    PROMPT,
    COMPLETION,
    TWEET_TEXT,
    REPLY_TEXT,
    TWEET_ID,
    REPLY_ID,
    CONVERSATION_ID,
    TWEET_AUTHOR,
    REPLY_AUTHOR,
    TWEET_LIKES,
    TWEET_RETWEETS,
    REPLY_LIKES,
    REPLY_AUTHOR_FOLLOWERS,
    REPLY_DELAY_SECONDS,
    TWEET_CREATED_AT,
    REPLY_CREATED_AT,
    LANGUAGE_CONFIDENCE,
    TOXICITY_SCORE,
    UNIQUE_WORD_COUNT,
    GENERIC_PHRASE_RATIO,
    QUALITY_SCORE,
    QUERY,
)

# Columns of a published preference row (`data_prep preferences`: one pair of replies to the same tweet per row, the
# more liked reply chosen), defined here once: data_prep writes them, the DPO recipe and the judge read them.
# `prompt`/`chosen`/`rejected` hold TRL's conversational preference format, which DPOTrainer trains on:
#   prompt   = the SFT rows' prompt, unchanged: [{"role": "user", "content": "Generate an engaging ...{tweet}"}]
#   chosen   = [{"role": "assistant", "content": the more liked reply}]   (the SFT row's `completion`)
#   rejected = [{"role": "assistant", "content": the less liked reply}]
CHOSEN = "chosen"
REJECTED = "rejected"
CHOSEN_REPLY_ID = "chosen_reply_id"  # as `reply_id` of the dataset version it was made from
REJECTED_REPLY_ID = "rejected_reply_id"
CHOSEN_LIKES = "chosen_likes"
REJECTED_LIKES = "rejected_likes"
CHOSEN_AUTHOR_FOLLOWERS = "chosen_author_followers"
REJECTED_AUTHOR_FOLLOWERS = "rejected_author_followers"
CHOSEN_DELAY_SECONDS = "chosen_delay_seconds"  # the chosen reply's reply_delay_seconds
REJECTED_DELAY_SECONDS = "rejected_delay_seconds"
CHOSEN_IS_EARLIER = "chosen_is_earlier"  # the chosen reply was posted first; None when the delays are equal or unknown

PREFERENCE_COLUMNS = (
    PROMPT,
    CHOSEN,
    REJECTED,
    TWEET_TEXT,
    TWEET_ID,
    CONVERSATION_ID,
    CHOSEN_REPLY_ID,
    REJECTED_REPLY_ID,
    CHOSEN_LIKES,
    REJECTED_LIKES,
    CHOSEN_AUTHOR_FOLLOWERS,
    REJECTED_AUTHOR_FOLLOWERS,
    CHOSEN_DELAY_SECONDS,
    REJECTED_DELAY_SECONDS,
    CHOSEN_IS_EARLIER,
    QUERY,
)
