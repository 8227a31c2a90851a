"""The judges, by the name `--judge` takes. Each lives in its own module behind the interface in base.py.

A new judge is one module with an ApiJudge or LocalJudge subclass and one entry in `make_judge`.
"""

from __future__ import annotations

from pathlib import Path

from judge.config import ScoreConfig
from judge.score.backends.base import ApiJudge, Judge, JudgeUnavailable, LocalJudge

JUDGE_NAMES = ("claude", "openai", "engagement", "local")


def make_judge(
    name: str, config: ScoreConfig, train_dataset: str | None = None, progress: bool = True
) -> tuple[Judge, dict | None]:
    """The judge named `name`, and for the engagement scorer the report of its fit (None for the others).

    Raises JudgeUnavailable, with the reason, when it cannot run here (no key, no training data, no price).
    """
    if name == "claude":
        from judge.score.backends.claude import ClaudeJudge

        return ClaudeJudge(config.claude, config.prompt), None
    if name == "openai":
        from judge.score.backends.openai_compatible import OpenAICompatibleJudge

        return OpenAICompatibleJudge(config.openai, config.prompt), None
    if name == "engagement":
        from judge.score.backends.engagement import engagement_judge_from_dataset

        cache_dir = Path(config.cache_dir).expanduser()
        return engagement_judge_from_dataset(config.engagement, cache_dir, train_dataset, progress)
    if name == "local":
        from judge.score.backends.local_transformers import TransformersJudge

        return TransformersJudge(config.local, config.prompt, progress=progress), None
    raise JudgeUnavailable(f"unknown judge {name!r}; the judges are {', '.join(JUDGE_NAMES)}")


__all__ = ["ApiJudge", "Judge", "JudgeUnavailable", "LocalJudge", "JUDGE_NAMES", "make_judge"]
