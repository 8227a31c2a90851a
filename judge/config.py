"""The judge's configuration (judge/configs/default.yaml): one section per command, checked before any work.

An unknown key or a wrong type stops the run naming the field (data_prep.yaml_config.parse_dataclass, the one
config loader of the project).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from data_prep.yaml_config import ConfigError, parse_dataclass, read_yaml

DEFAULT_CONFIG_PATH = Path(__file__).parent / "configs" / "default.yaml"


# --- generate: systems, decoding settings (python -m judge generate) ---------------------------------------------


@dataclass
class GenerateConfig:
    """Filled by the generate command's issue."""


# --- score: judges, prompts, prices, cache (python -m judge score / validate) ------------------------------------


@dataclass
class ScoreConfig:
    """Filled by the score command's issue."""


# --- stats: the paired tests and the verdict's criteria (python -m judge stats) ----------------------------------


@dataclass
class StatsCriteriaConfig:
    """The seed's success criteria. The verdict is "criteria met" only if every criterion that is on holds; each is
    compared on the unrounded number. A threshold set to null (or a flag set to false) takes that criterion out."""

    # Every test in `holm_family` that the data allows must have a Holm-adjusted p below `alpha`.
    significance: bool = True
    # The effect size must be strictly greater than this.
    min_effect_size: float | None = 0.3
    # Which effect size the criterion reads: d_z (paired: mean difference / SD of the differences) or the seed's
    # pooled Cohen's d (unpaired).
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
    # Which judge's verdicts to read when a file holds several (--judge overrides it); they are never pooled.
    judge: str | None = None
    # The significance level: the p criterion, Holm's family-wise level and the power analysis. CIs are at 1 - alpha.
    alpha: float = 0.05
    # two-sided (the seed's), or greater: the candidate better than the baseline.
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
