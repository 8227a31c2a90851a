"""The data_prep configuration: one dataclass per section of `data_prep/configs/default.yaml`.

Every default here is the original spec's value (docs/README.md#terms) and is repeated, with its documentation, in
default.yaml (a test keeps the two equal). `load_config` is strict: an unknown key or a wrong type stops the run before
any work, with a message that names the file and the field.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

from replytune.yaml_config import ConfigError, parse_dataclass, read_yaml

DEFAULT_CONFIG_PATH = Path(__file__).parent / "configs" / "default.yaml"


def _check_range(section: object, low: str, high: str) -> None:
    low_value, high_value = getattr(section, low), getattr(section, high)
    if low_value is not None and high_value is not None and low_value > high_value:
        raise ValueError(f"{low} ({low_value}) is greater than {high} ({high_value})")


def _check_at_least_one(section: object, name: str) -> None:
    # Below 1 a cap would not fail, it would quietly drop everything (0) or, as a negative slice, all but a few.
    value = getattr(section, name)
    if value is not None and value < 1:
        raise ValueError(f"{name} must be at least 1 (null: no cap), got {value}")


def _check_not_negative(section: object, *names: str) -> None:
    # A negative count is no bound at all (every record has at least 0 likes), so it is surely a typo: refused, naming
    # the field ("reply_filters.min_likes: must not be negative"), where null is the way to turn a bound off.
    for name in names:
        value = getattr(section, name)
        if value is not None and value < 0:
            raise ValueError(f"{name}: must not be negative (null turns the bound off), got {value}")


def _check_fraction(section: object, name: str) -> None:
    value = getattr(section, name)
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must lie in [0, 1], got {value}")


@dataclass
class CollectConfig:
    """Live collection with the Apify actor (`python -m data_prep collect`, data_prep/collect.py)."""

    actor_id: str = "apidojo/tweet-scraper"
    search_terms: list[str] = field(
        default_factory=lambda: [
            "fine-tuning LLM",
            "LoRA QLoRA",
            "RAG retrieval",
            "vector database",
            "PyTorch",
            "Rust async",
            "Kubernetes",
            "PostgreSQL",
        ]
    )
    exclude_words: list[str] = field(default_factory=lambda: ["crypto", "NFT"])
    until: str | None = "2025-10-01"
    sort: Literal["Top", "Latest"] = "Top"
    tweet_language: str | None = "en"
    max_items_per_query: int = 200
    max_root_tweets: int = 40
    min_root_likes: int = 200
    max_root_likes: int | None = 2000
    replies_per_conversation: int = 200
    reply_sort: Literal["Top", "Latest"] = "Top"
    cost_per_1000_items: float = 0.40
    max_retries: int = 6
    retry_min_delay_s: float = 1.0
    request_timeout_s: float = 60.0
    run_timeout_s: int = 900
    api_url: str | None = None

    def __post_init__(self) -> None:
        if not self.actor_id:
            raise ValueError("actor_id must not be empty")
        if not self.search_terms or not all(isinstance(t, str) and t.strip() for t in self.search_terms):
            raise ValueError("search_terms must be a non-empty list of non-empty strings")
        if len(set(self.search_terms)) != len(self.search_terms):
            raise ValueError("search_terms holds the same term twice")
        if self.until is not None:
            try:
                date.fromisoformat(self.until)
            except ValueError:
                raise ValueError(f"until must be a date like 2025-10-01, got {self.until!r}") from None
        for name in ("max_items_per_query", "replies_per_conversation", "run_timeout_s"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        for name in ("max_root_tweets", "min_root_likes", "max_retries"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_root_likes is not None and self.max_root_likes < self.min_root_likes:
            raise ValueError("max_root_likes must be at least min_root_likes")
        if self.cost_per_1000_items < 0 or self.retry_min_delay_s < 0 or self.request_timeout_s <= 0:
            raise ValueError("cost_per_1000_items and retry_min_delay_s must be >= 0, request_timeout_s > 0")


@dataclass
class PairsConfig:
    """How replies are paired with the tweet they answer (`in_reply_to_id`)."""

    direct_replies_only: bool = True
    exclude_self_replies: bool = True
    exclude_retweets: bool = True
    exclude_quotes: bool = True


@dataclass
class RootFiltersConfig:
    """Filters on the tweet replied to. A bound set to null is not checked (and a missing count then passes)."""

    min_likes: int | None = 200
    max_likes: int | None = 2000
    min_retweets: int | None = 10
    max_retweets: int | None = 500
    exclude_retweets: bool = True
    exclude_quotes: bool = True
    languages: list[str] = field(default_factory=lambda: ["en"])
    max_length: int | None = 1000

    def __post_init__(self):
        _check_not_negative(self, "min_likes", "max_likes", "min_retweets", "max_retweets")
        _check_range(self, "min_likes", "max_likes")
        _check_range(self, "min_retweets", "max_retweets")
        _check_at_least_one(self, "max_length")


@dataclass
class ReplyFiltersConfig:
    """Filters on each reply. A bound set to null is not checked (and a missing count then passes)."""

    min_likes: int | None = 5
    max_likes: int | None = 500
    min_follower_count: int | None = 200
    max_follower_count: int | None = 20_000
    min_time_delay: int | None = 300
    max_time_delay: int | None = 604_800
    allow_media: bool = False
    allow_urls: bool = False
    min_length: int | None = 30
    max_length: int | None = 280
    max_replies_per_author: int | None = 10

    def __post_init__(self):
        counts = ("min_likes", "max_likes", "min_follower_count", "max_follower_count", "min_length", "max_length")
        _check_not_negative(self, *counts)
        _check_range(self, "min_likes", "max_likes")
        _check_range(self, "min_follower_count", "max_follower_count")
        _check_range(self, "min_time_delay", "max_time_delay")
        _check_range(self, "min_length", "max_length")
        _check_at_least_one(self, "max_replies_per_author")


DEFAULT_SPAM_KEYWORDS = [
    "gm",
    "gn",
    "ser",
    "fren",
    "frens",
    "wagmi",
    "ngmi",
    "degen",
    "degens",
    "wen",
    "anon",
    "lfg",
    "hodl",
    "stay locked in",
    "onchain",
    "on-chain",
    "airdrop",
    "memecoin",
    "to the moon",
    "100x",
    "1000x",
    "nfa",
    "dyor",
    "follow back",
    "check my bio",
    "link in bio",
    "dm me",
    "giveaway",
    "revolution",
]

DEFAULT_GENERIC_PHRASES = [
    "congrats",
    "congratulations",
    "love this",
    "love it",
    "thanks for sharing",
    "thank you for sharing",
    "thanks",
    "thank you",
    "great post",
    "great thread",
    "great point",
    "good point",
    "great job",
    "well done",
    "well said",
    "so true",
    "this is amazing",
    "this is great",
    "amazing",
    "awesome",
    "nice",
    "interesting",
    "couldn't agree more",
    "totally agree",
    "absolutely",
    "exactly",
    "spot on",
    "facts",
    "game changer",
    "keep it up",
    "can't wait",
    "looking forward to it",
    "big if true",
    "let's go",
    "this",
]


@dataclass
class ValidationConfig:
    """Validators run on the reply text after the filters; each records its score in the published row."""

    language: str = "en"
    min_language_confidence: float = 0.8
    accept_top_language: bool = True
    trust_source_language: bool = True
    toxicity_scorer: Literal["detoxify", "profanity_check"] = "detoxify"
    detoxify_model: Literal["original", "unbiased", "multilingual", "original-small", "unbiased-small"] = "original"
    detoxify_checkpoint: str | None = None
    max_toxicity: float = 0.3
    spam_keywords: list[str] = field(default_factory=lambda: list(DEFAULT_SPAM_KEYWORDS))
    min_unique_words: int = 8
    extra_stop_words: list[str] = field(default_factory=list)
    generic_phrases: list[str] = field(default_factory=lambda: list(DEFAULT_GENERIC_PHRASES))
    max_generic_ratio: float = 0.5

    def __post_init__(self):
        _check_not_negative(self, "min_unique_words")
        _check_fraction(self, "min_language_confidence")
        _check_fraction(self, "max_toxicity")
        _check_fraction(self, "max_generic_ratio")


@dataclass
class QualityWeightsConfig:
    """Weights of the original spec's quality sort; each component is scaled to 0..1 over the build, then weighted."""

    engagement: float = 0.5
    credibility: float = 0.3
    timing: float = 0.2

    def __post_init__(self):
        if min(self.engagement, self.credibility, self.timing) < 0:
            raise ValueError("quality weights must not be negative")


@dataclass
class CleaningConfig:
    """Text normalization, deduplication and the quality sort."""

    max_raw_text_length: int = 25_000
    normalize_text: bool = True
    exact_dedup: bool = True
    semantic_dedup: bool = True
    semantic_threshold: float = 0.9
    embedding_model: str | None = None
    embedding_backend: Literal["auto", "torch", "onnx"] = "auto"
    embedding_batch_size: int = 16
    embedding_max_tokens: int = 128
    quality_weights: QualityWeightsConfig = field(default_factory=QualityWeightsConfig)
    max_pairs: int | None = None

    def __post_init__(self):
        _check_fraction(self, "semantic_threshold")
        _check_at_least_one(self, "max_pairs")
        for name in ("max_raw_text_length", "embedding_batch_size", "embedding_max_tokens"):
            _check_at_least_one(self, name)
        if self.embedding_backend == "onnx":
            from data_prep.onnx_embeddings import missing_packages

            if missing := missing_packages():
                raise ValueError(
                    f"embedding_backend onnx needs {' and '.join(missing)} (pip install 'replytune[data]'); "
                    "auto uses onnx where it can and PyTorch elsewhere"
                )


@dataclass
class SplitConfig:
    """The train/eval/test split by conversation, and the near-duplicate leakage check."""

    seed: int = 42
    train_fraction: float = 0.8
    eval_fraction: float = 0.1
    test_fraction: float = 0.1
    check_leakage: bool = True
    leakage_threshold: float = 0.85
    drop_leaking: bool = True

    def __post_init__(self):
        for name in ("train_fraction", "eval_fraction", "test_fraction", "leakage_threshold"):
            _check_fraction(self, name)
        total = self.train_fraction + self.eval_fraction + self.test_fraction
        if abs(total - 1.0) > 1e-6:
            raise ValueError(f"train_fraction + eval_fraction + test_fraction must be 1, got {total:g}")


@dataclass
class PrivacyConfig:
    """What is published about people. The pseudonym key comes from the environment (REPLYTUNE_PSEUDONYM_KEY)."""

    replace_handles: bool = True
    handle_placeholder: str = "@user"
    pseudonym_length: int = 16
    published_ids: Literal["keyed_hash", "raw"] = "keyed_hash"

    def __post_init__(self):
        if not 8 <= self.pseudonym_length <= 64:
            raise ValueError(f"pseudonym_length must lie in [8, 64], got {self.pseudonym_length}")


@dataclass
class OutputConfig:
    """The published DatasetDict and its card."""

    prompt_template: str = "Generate an engaging Twitter reply to:\n\n{tweet}"
    private: bool = True
    allow_public_repo: bool = False
    pretty_name: str = "replytune tweet->reply pairs"
    license: str = "other"

    def __post_init__(self):
        # Checked here, not when the first row is formatted: "{tweet.upper}" or a lone "}" would otherwise pass the
        # config check and fail (or publish garbage) after the whole build.
        try:
            fields = [parsed[1:] for parsed in string.Formatter().parse(self.prompt_template) if parsed[1] is not None]
        except ValueError as error:  # a lone "{" or "}"
            raise ValueError(f"prompt_template {self.prompt_template!r} is not a valid template: {error}") from None
        if not fields or any(field != ("tweet", "", None) for field in fields):
            raise ValueError(
                f"prompt_template must contain {{tweet}} and no other field, got {self.prompt_template!r} "
                "(write a literal brace as {{ or }})"
            )


@dataclass
class PreferencesConfig:
    """Preference pairs for DPO (`python -m data_prep preferences`, data_prep/preferences.py): two replies to the same
    tweet in one split, the more liked one chosen, when the margins hold and both had a similar chance to be seen."""

    min_like_ratio: float = 2.0
    min_like_difference: int = 2
    normalize_by_followers: bool = False
    exposure_control: bool = True
    max_delay_ratio: float | None = 1.5
    max_delay_difference_seconds: float | None = 60.0
    max_pairs_per_tweet: int | None = 10
    seed: int = 42
    pretty_name: str = "replytune reply preference pairs"

    def __post_init__(self):
        for name in ("min_like_ratio", "min_like_difference", "max_delay_ratio", "max_delay_difference_seconds"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must not be negative, got {value}")
        for name in ("min_like_ratio", "max_delay_ratio"):  # a ratio of the larger to the smaller is never below 1
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"{name} must be at least 1, got {value}")
        _check_at_least_one(self, "max_pairs_per_tweet")
        if self.exposure_control and self.max_delay_ratio is None and self.max_delay_difference_seconds is None:
            raise ValueError(
                "exposure_control needs max_delay_ratio or max_delay_difference_seconds (or exposure_control: false)"
            )


@dataclass
class DataPrepConfig:
    """The whole file: `collect:` is read by `python -m data_prep collect`, `preferences:` by `preferences`, the other
    sections by `build`."""

    collect: CollectConfig = field(default_factory=CollectConfig)
    pairs: PairsConfig = field(default_factory=PairsConfig)
    root_filters: RootFiltersConfig = field(default_factory=RootFiltersConfig)
    reply_filters: ReplyFiltersConfig = field(default_factory=ReplyFiltersConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    cleaning: CleaningConfig = field(default_factory=CleaningConfig)
    split: SplitConfig = field(default_factory=SplitConfig)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
    output: OutputConfig = field(default_factory=OutputConfig)
    preferences: PreferencesConfig = field(default_factory=PreferencesConfig)

    def __post_init__(self):
        # A cap below a published bound would drop, as unreadable, texts the filters mean to keep.
        for section, name in (("reply_filters", "max_length"), ("root_filters", "max_length")):
            bound = getattr(getattr(self, section), name)
            if bound is not None and bound > self.cleaning.max_raw_text_length:
                raise ValueError(
                    f"{section}.{name} ({bound}) is above cleaning.max_raw_text_length "
                    f"({self.cleaning.max_raw_text_length}), the cap on any text before cleaning"
                )


def load_config(path: str | Path) -> DataPrepConfig:
    """Read and check a config file; raises ConfigError naming the file and the field."""
    return parse_dataclass(DataPrepConfig, read_yaml(path), where=str(path))


__all__ = ["ConfigError", "DataPrepConfig", "load_config", "DEFAULT_CONFIG_PATH"]
