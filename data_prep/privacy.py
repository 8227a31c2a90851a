"""Privacy: @handles in text become a placeholder, and authors are published only as keyed-hash pseudonyms.

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

from data_prep.schema import Tweet
from data_prep.secrets import get_secret

logger = logging.getLogger(__name__)

PSEUDONYM_KEY_NAME = "REPLYTUNE_PSEUDONYM_KEY"
_HANDLE = re.compile(r"(?<![\w@])@\w{1,50}")


class PrivacyError(RuntimeError):
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
        "%s is not set: using a random key for this build only, so author pseudonyms will differ between builds",
        PSEUDONYM_KEY_NAME,
    )
    return Pseudonymizer(random_secrets.token_bytes(32), length, "ephemeral")
