"""Privacy: @handles in text become a placeholder, authors are published only as keyed-hash pseudonyms, and tweet,
reply and conversation ids as keyed hashes too unless `privacy.published_ids: raw`.

Ids re-identify: anyone can open x.com/i/status/<id> and see the author. A keyed hash keeps ids stable across
versions under one key (curation, per-conversation analysis and joins between versions still work) without letting
anyone look a tweet up. Raw ids let the user look tweets up again (fresh engagement counts, deleted tweets), and let
everyone else do the same. Either way the texts are published verbatim, and searching a text finds its tweet: a
pseudonym makes the dataset harder, not impossible, to link back to people.

The key is REPLYTUNE_PSEUDONYM_KEY (environment or .env). With it, a person gets the same pseudonym in every
build and version, which curation and per-author analysis need, and nobody without the key can link a
pseudonym back to an account by hashing candidate ids. Without it:
- a push to the Hub refuses to start (a published version must use the stable key);
- a local build draws a random key for this run only and warns: pseudonyms are then consistent inside this
  build but not across builds, and the key is never written anywhere.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets as random_secrets
from dataclasses import dataclass

from replytune.errors import Refused
from replytune.schema import Tweet
from replytune.secrets import get_secret

logger = logging.getLogger(__name__)

PSEUDONYM_KEY_NAME = "REPLYTUNE_PSEUDONYM_KEY"
_HANDLE = re.compile(r"(?<![\w@])@\w{1,50}")


class PrivacyError(Refused, RuntimeError):
    """The build cannot publish what it would have to publish (e.g. a push without the pseudonym key)."""


def replace_handles(text: str, placeholder: str = "@user") -> str:
    """Every @handle becomes `placeholder`; e-mail addresses are left alone."""
    return _HANDLE.sub(placeholder, text)


@dataclass(frozen=True)
class Pseudonymizer:
    key: bytes
    length: int = 16
    key_source: str = "environment"  # or "ephemeral": drawn for this build only

    def pseudonym(self, value: str | None) -> str | None:
        if not value:
            return None
        return hmac.new(self.key, value.encode("utf-8"), hashlib.sha256).hexdigest()[: self.length]

    def author(self, tweet: Tweet) -> str | None:
        """The pseudonym of the tweet's author (see `Tweet.author_key`)."""
        return self.pseudonym(tweet.author_key)

    def tweet_id(self, tweet_id: str | None) -> str | None:
        """The pseudonym of a tweet id ("tweet:" keeps it apart from an author id of the same digits; a
        conversation id is its root tweet's id, so the two still match)."""
        return self.pseudonym(f"tweet:{tweet_id}") if tweet_id else None


def published_id(tweet_id: str | None, published_ids: str, pseudonymizer: Pseudonymizer) -> str | None:
    """A tweet, reply or conversation id as published: itself (`raw`) or its keyed hash (`keyed_hash`)."""
    return tweet_id if published_ids == "raw" else pseudonymizer.tweet_id(tweet_id)


def pseudonymizer_from_environment(length: int = 16, for_push: bool = False) -> Pseudonymizer:
    key = get_secret(PSEUDONYM_KEY_NAME)
    if key:
        if len(key) < 16:
            logger.warning("%s is shorter than 16 characters: pseudonyms are easier to reverse", PSEUDONYM_KEY_NAME)
        return Pseudonymizer(key.encode("utf-8"), length, "environment")
    if for_push:
        raise PrivacyError(
            f"{PSEUDONYM_KEY_NAME} is not set: refusing to push, because the published pseudonyms would change with "
            f"every build. Set it (e.g. `export {PSEUDONYM_KEY_NAME}=$(python -c 'import secrets; "
            f"print(secrets.token_hex(32))')`, then keep it secret and unchanged) or build without --push-to-hub."
        )
    logger.warning(
        "%s is not set: using a random key for this build only, so author pseudonyms and hashed ids will differ "
        "between builds",
        PSEUDONYM_KEY_NAME,
    )
    return Pseudonymizer(random_secrets.token_bytes(32), length, "ephemeral")
