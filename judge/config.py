"""The judge's configuration (judge/configs/default.yaml): one section per command, checked before any work.

An unknown key or a wrong type stops the run naming the field (data_prep.yaml_config.parse_dataclass, the one
config loader of the project).
"""

from __future__ import annotations

import copy
import dataclasses
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from data_prep.yaml_config import ConfigError, parse_dataclass, read_yaml

DEFAULT_CONFIG_PATH = Path(__file__).parent / "configs" / "default.yaml"


# --- generate: systems, decoding settings (python -m judge generate) ---------------------------------------------


@dataclass
class GenerateConfig:
    """Filled by the generate command's issue."""


# --- score: judges, prompts, prices, cache (python -m judge score / validate) ------------------------------------
# The prompt texts (rubric, instructions, few-shot examples) are written once, in default.yaml: a config that
# leaves one out gets default.yaml's.


@lru_cache(maxsize=1)
def _default_prompt_section() -> dict:
    return read_yaml(DEFAULT_CONFIG_PATH)["score"]["prompt"]


def _from_default_prompt(name: str):
    def default():
        value = _default_prompt_section()[name]
        hint = typing.get_type_hints(PromptConfig)[name]
        return _coerce_default(hint, value, f"{DEFAULT_CONFIG_PATH}: score.prompt.{name}")

    return field(default_factory=default)


def _coerce_default(hint, value, where: str):
    # parse_dataclass turns nested mappings into dataclasses; a one-field wrapper reuses it for a single value.
    holder = dataclasses.make_dataclass("_Default", [("value", hint)])
    return parse_dataclass(holder, {"value": copy.deepcopy(value)}, where).value


@dataclass
class PriceTable:
    """US dollars per million tokens, as the provider's price page lists them."""

    input: float
    output: float
    cache_write: float = 0.0
    cache_read: float = 0.0
    min_cacheable_tokens: int = 1024

    def __post_init__(self) -> None:
        for name in ("input", "output", "cache_write", "cache_read"):
            if getattr(self, name) < 0:
                raise ValueError(f"price {name} must not be negative, got {getattr(self, name)}")


def _claude_prices() -> dict[str, PriceTable]:
    sonnet = PriceTable(input=3.0, output=15.0, cache_write=3.75, cache_read=0.30, min_cacheable_tokens=1024)
    return {
        "claude-sonnet-4-6": sonnet,
        "claude-sonnet-4-5": dataclasses.replace(sonnet),
        "claude-haiku-4-5": PriceTable(1.0, 5.0, cache_write=1.25, cache_read=0.10, min_cacheable_tokens=4096),
        "claude-opus-4-6": PriceTable(5.0, 25.0, cache_write=6.25, cache_read=0.50, min_cacheable_tokens=4096),
    }


@dataclass
class ClaudeJudgeConfig:
    """Judge `claude`: Claude through the official anthropic SDK (the default judge)."""

    model: str = "claude-sonnet-4-6"
    max_tokens: int = 400
    concurrency: int = 4
    max_retries: int = 6
    timeout_s: float = 120.0
    prompt_caching: bool = True
    batch_poll_interval_s: float = 60.0
    batch_max_wait_s: float = 86400.0
    batch_price_factor: float = 0.5
    base_url: str | None = None
    prices: dict[str, PriceTable] = field(default_factory=_claude_prices)

    def __post_init__(self) -> None:
        _check_judge_settings(self)
        if not 0 < self.batch_price_factor <= 1:
            raise ValueError(f"batch_price_factor must lie in (0, 1], got {self.batch_price_factor}")
        if self.batch_poll_interval_s < 0 or self.batch_max_wait_s <= 0:
            raise ValueError("batch_poll_interval_s must not be negative and batch_max_wait_s must be positive")


@dataclass
class OpenAICompatibleJudgeConfig:
    """Judge `openai`: any OpenAI-compatible chat endpoint (vLLM, Ollama, TGI) through the official openai client."""

    base_url: str = "http://localhost:8000/v1"
    model: str = "Qwen/Qwen3-8B"
    max_tokens: int = 400
    temperature: float = 0.0
    concurrency: int = 4
    max_retries: int = 6
    timeout_s: float = 120.0
    response_format: Literal["json_schema", "json_object"] = "json_schema"
    extra_body: dict[str, Any] = field(default_factory=lambda: {"chat_template_kwargs": {"enable_thinking": False}})
    prices: dict[str, PriceTable] = field(default_factory=lambda: {"Qwen/Qwen3-8B": PriceTable(0.0, 0.0)})

    def __post_init__(self) -> None:
        _check_judge_settings(self)
        if not 0 <= self.temperature <= 2:
            raise ValueError(f"temperature must lie in [0, 2], got {self.temperature}")


def _check_judge_settings(section) -> None:
    if not section.model:
        raise ValueError("model must not be empty")
    for name in ("max_tokens", "concurrency", "timeout_s"):
        if getattr(section, name) <= 0:
            raise ValueError(f"{name} must be positive, got {getattr(section, name)}")
    if section.max_retries < 0:
        raise ValueError(f"max_retries must not be negative, got {section.max_retries}")


@dataclass
class EngagementJudgeConfig:
    """Judge `engagement`: an offline regressor on sentence embeddings, fitted on a dataset's TRAIN split."""

    train_dataset: str | None = None
    train_dataset_revision: str | None = None
    embedding_model: str | None = None
    embedding_batch_size: int = 64
    alphas: list[float] = field(default_factory=lambda: [1.0, 10.0, 100.0, 1000.0, 10000.0])
    cv_folds: int = 5
    min_replies_per_conversation: int = 2

    def __post_init__(self) -> None:
        if not self.alphas or any(alpha <= 0 for alpha in self.alphas):
            raise ValueError("alphas must be a non-empty list of positive numbers")
        if self.cv_folds < 2:
            raise ValueError(f"cv_folds must be at least 2, got {self.cv_folds}")
        if self.min_replies_per_conversation < 2:
            raise ValueError("min_replies_per_conversation must be at least 2 (a lone reply has no rank)")
        if self.embedding_batch_size < 1:
            raise ValueError("embedding_batch_size must be at least 1")


@dataclass
class PairwiseExample:
    tweet: str
    reply_a: str
    reply_b: str
    reasoning: str
    winner: Literal["A", "B", "tie"]


@dataclass
class SingleExample:
    tweet: str
    reply: str
    reasoning: str
    engagement: int
    relevance: int
    tone: int

    def __post_init__(self) -> None:
        for name in ("engagement", "relevance", "tone"):
            if not 1 <= getattr(self, name) <= 10:
                raise ValueError(f"{name} must lie in 1..10, got {getattr(self, name)}")


@dataclass
class PromptConfig:
    """What the LLM judges are told. Change `version` with the text: it is part of every cache key and verdict."""

    version: str = _from_default_prompt("version")
    rubric: str = _from_default_prompt("rubric")
    pairwise_instructions: str = _from_default_prompt("pairwise_instructions")
    single_instructions: str = _from_default_prompt("single_instructions")
    pairwise_examples: list[PairwiseExample] = _from_default_prompt("pairwise_examples")
    single_examples: list[SingleExample] = _from_default_prompt("single_examples")
    criteria_weights: dict[str, float] = _from_default_prompt("criteria_weights")
    max_tweet_chars: int = 1000
    max_reply_chars: int = 1000

    def __post_init__(self) -> None:
        if not self.version.strip():
            raise ValueError("version must not be empty")
        unknown = set(self.criteria_weights) - {"engagement", "relevance", "tone"}
        if unknown or not self.criteria_weights or any(w < 0 for w in self.criteria_weights.values()):
            raise ValueError(
                f"criteria_weights must weigh engagement, relevance and/or tone with non-negative numbers, "
                f"got {self.criteria_weights}"
            )
        if sum(self.criteria_weights.values()) <= 0:
            raise ValueError("criteria_weights must not all be 0")
        if self.max_tweet_chars < 1 or self.max_reply_chars < 1:
            raise ValueError("max_tweet_chars and max_reply_chars must be at least 1")


@dataclass
class ValidateConfig:
    """`python -m judge validate`: judge vs real likes on held-out conversations."""

    bootstrap_resamples: int = 2000
    confidence: float = 0.95
    seed: int = 42
    max_pairs: int | None = None

    def __post_init__(self) -> None:
        if self.bootstrap_resamples < 100:
            raise ValueError(f"bootstrap_resamples must be at least 100, got {self.bootstrap_resamples}")
        if not 0.5 < self.confidence < 1:
            raise ValueError(f"confidence must lie in (0.5, 1), got {self.confidence}")
        if self.max_pairs is not None and self.max_pairs < 1:
            raise ValueError(f"max_pairs must be at least 1 (null: every pair), got {self.max_pairs}")


@dataclass
class ScoreConfig:
    judge: str = "claude"
    mode: Literal["both", "pairwise", "single"] = "both"
    max_cost_usd: float = 5.0
    cache_dir: str = "~/.cache/replytune/judge"
    prompt: PromptConfig = field(default_factory=PromptConfig)
    claude: ClaudeJudgeConfig = field(default_factory=ClaudeJudgeConfig)
    openai: OpenAICompatibleJudgeConfig = field(default_factory=OpenAICompatibleJudgeConfig)
    engagement: EngagementJudgeConfig = field(default_factory=EngagementJudgeConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)

    def __post_init__(self) -> None:
        if self.max_cost_usd < 0:
            raise ValueError(f"max_cost_usd must not be negative, got {self.max_cost_usd}")
        if not self.cache_dir:
            raise ValueError("cache_dir must not be empty")


# --- stats: the paired tests and the verdict's criteria (python -m judge stats) ----------------------------------


@dataclass
class StatsConfig:
    """Filled by the stats command's issue."""


# --- publish: the model card and the Hub push (python -m judge publish) ------------------------------------------


@dataclass
class PublishConfig:
    """Filled by the publish command's issue."""


@dataclass
class JudgeConfig:
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)


def load_judge_config(path: str | Path = DEFAULT_CONFIG_PATH) -> JudgeConfig:
    """Read and check a judge config file; raises ConfigError naming the file and the field."""
    return parse_dataclass(JudgeConfig, read_yaml(path), where=str(path))


__all__ = ["ConfigError", "JudgeConfig", "load_judge_config", "DEFAULT_CONFIG_PATH"]
