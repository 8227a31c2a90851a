"""Validators: each threshold at its boundary, each scorer on real text, and the loud Detoxify fallback."""

import logging
from pathlib import Path

import pytest

from data_prep.config import ValidationConfig
from data_prep.validators import (
    LanguageDetector,
    Validators,
    generic_phrase_ratio,
    load_toxicity_scorer,
    phrase_pattern,
    torch_hub_checkpoints,
    unique_meaningful_words,
)
from replytune.schema import GENERIC_PHRASE_RATIO, LANGUAGE_CONFIDENCE, TOXICITY_SCORE, UNIQUE_WORD_COUNT

GOOD = "Partial indexes saved us too, but the planner only uses them when the query repeats the exact predicate."


@pytest.fixture(scope="module")
def validators():
    return Validators.load(ValidationConfig(toxicity_scorer="profanity_check"))


def passing_scores(**changes):
    scores = {LANGUAGE_CONFIDENCE: 0.95, TOXICITY_SCORE: 0.01, UNIQUE_WORD_COUNT: 12, GENERIC_PHRASE_RATIO: 0.0}
    scores.update(changes)
    return scores


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({}, None),
        ({LANGUAGE_CONFIDENCE: 0.8}, None),
        ({LANGUAGE_CONFIDENCE: 0.7999}, "validation/language"),
        ({TOXICITY_SCORE: 0.2999}, None),
        ({TOXICITY_SCORE: 0.3}, "validation/toxic"),
        ({UNIQUE_WORD_COUNT: 8}, None),
        ({UNIQUE_WORD_COUNT: 7}, "validation/too_few_unique_words"),
        ({GENERIC_PHRASE_RATIO: 0.5}, None),
        ({GENERIC_PHRASE_RATIO: 0.5001}, "validation/generic_phrases"),
    ],
)
def test_thresholds_at_their_boundaries(validators, changes, reason):
    assert validators.rejection(GOOD, passing_scores(**changes)) == reason


def test_the_real_scores_of_a_good_reply_pass(validators):
    (scores,) = validators.scores([GOOD], progress=False)
    assert validators.rejection(GOOD, scores) is None
    assert scores[LANGUAGE_CONFIDENCE] > 0.8 and scores[TOXICITY_SCORE] < 0.3


@pytest.mark.parametrize(
    ("text", "spam"),
    [
        ("gm ser, building every day", True),
        ("GM frens, wagmi", True),
        ("We stay locked in until the release ships", True),
        ("moving everything onchain next quarter", True),
        ("check the #wagmi tag", True),
        ("I switched from gmail to fastmail", False),
        ("the server answered with a 500", False),
        ("anonymous functions are underrated", False),
        ("when will the release land?", False),
    ],
)
def test_spam_keywords_match_whole_words_only(validators, text, spam):
    assert (validators.rejection(text, passing_scores()) == "validation/spam_keyword") is spam


def test_unique_meaningful_words_skip_stop_words_numbers_links_and_handles(validators):
    stop_words = validators.stop_words
    assert unique_meaningful_words("the the the and of it's I'm", stop_words) == 0
    assert unique_meaningful_words("postgres postgres index index planner", stop_words) == 3
    assert unique_meaningful_words("2025 42 https://t.co/abc @someone #tag vacuum", stop_words) == 1
    seven = "partial indexes planner predicate vacuum autovacuum bloat"
    assert unique_meaningful_words(seven, stop_words) == 7
    assert unique_meaningful_words(seven + " tuples", stop_words) == 8


def test_generic_phrase_ratio():
    generic = phrase_pattern(ValidationConfig().generic_phrases)
    assert generic_phrase_ratio("Congrats! Love this, thanks for sharing", generic) == 1.0
    assert generic_phrase_ratio("congrats on shipping the new planner", generic) == pytest.approx(1 / 6)
    # 4 of 8 words generic: exactly at the 0.5 boundary
    assert generic_phrase_ratio("Love this, well said: partial indexes beat scans", generic) == 0.5
    assert generic_phrase_ratio("", generic) == 0.0
    assert generic_phrase_ratio("nicely done", generic) == 0.0  # "nice" is a whole word only


def test_language_detector_reads_the_whole_text():
    detector = LanguageDetector()
    assert detector.confidence(GOOD, "en") > 0.8
    spanish = "Muy buen punto. Nosotros migramos el año pasado y el rendimiento mejoró muchísimo, gracias."
    assert detector.confidence(spanish, "en") < 0.2
    assert detector.top_language(spanish) == "es"
    assert detector.confidence("@someone https://t.co/abc", "en") == 0.0
    # 80 English characters then German: the library's default would have truncated to the English part
    mixed = "This opening sentence is in English and it is exactly long enough to matter. " + (
        "Danach folgt ein sehr langer deutscher Absatz, der die Sprache des ganzen Textes bestimmt und "
        "noch viel länger weitergeht als der englische Anfang, damit es eindeutig ist."
    )
    assert detector.top_language(mixed) == "de"


def test_profanity_check_scores_insults_high():
    scorer = load_toxicity_scorer(ValidationConfig(toxicity_scorer="profanity_check"))
    insult, fine = scorer.score(["you are a fucking idiot", GOOD])
    assert insult >= 0.3 > fine
    assert "alt-profanity-check" in scorer.name and scorer.fallback_reason is None


def test_detoxify_without_weights_falls_back_loudly(caplog):
    """Offline (HF_HUB_OFFLINE=1, as tests run) Detoxify never downloads: it falls back, with a WARNING."""
    with caplog.at_level(logging.WARNING, logger="data_prep.validators"):
        scorer = load_toxicity_scorer(ValidationConfig(toxicity_scorer="detoxify"))
    assert "alt-profanity-check" in scorer.name
    assert "Detoxify could not be loaded" in scorer.fallback_reason
    assert any(r.levelno == logging.WARNING and "falling back" in r.getMessage() for r in caplog.records)


def test_the_detoxify_cache_is_found_where_torch_hub_looks(tmp_path, monkeypatch):
    """Offline builds decide that Detoxify cannot run before importing it (and torch): by torch.hub's own rule."""
    import torch

    for torch_home, xdg in ((None, None), (None, tmp_path / "xdg"), (tmp_path / "th", tmp_path / "xdg")):
        for name, value in (("TORCH_HOME", torch_home), ("XDG_CACHE_HOME", xdg)):
            if value is None:
                monkeypatch.delenv(name, raising=False)
            else:
                monkeypatch.setenv(name, str(value))
        assert torch_hub_checkpoints() == Path(torch.hub.get_dir()) / "checkpoints"


def test_detoxify_with_a_missing_checkpoint_falls_back(tmp_path):
    config = ValidationConfig(detoxify_checkpoint=str(tmp_path / "missing.ckpt"))
    scorer = load_toxicity_scorer(config)
    assert "does not exist" in scorer.fallback_reason
