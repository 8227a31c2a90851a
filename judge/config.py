"""The judge's configuration (judge/configs/default.yaml): one section per command, checked before any work.

An unknown key or a wrong type stops the run naming the field (data_prep.yaml_config.parse_dataclass, the one
config loader of the project).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

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
