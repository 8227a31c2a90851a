"""The one small interface every judge implements.

Two shapes, because judges differ in where the work happens:

- `ApiJudge` (claude, openai): builds one provider request per task (`request`), sends it (`send`), and reads the
  provider's response body into a verdict and the tokens it used (`read`). The runner around it does the rest the
  same way for every provider: resume, the disk cache, the cost estimate and guard, concurrency, batches.
- `LocalJudge` (engagement; later the local transformers judge): judges a list of tasks in one call
  (`judge_tasks`), on this machine, at no cost.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from judge.config import PriceTable, PromptConfig
from judge.records import PAIRWISE
from judge.score.cost import RequestSize, TokenUsage, estimate_tokens, max_input_tokens
from judge.score.prompts import ParsedVerdict, cut, system_prefix, user_message
from judge.score.tasks import JudgeTask
from replytune.errors import Refused


class JudgeUnavailable(Refused, RuntimeError):
    """The judge cannot run here (no API key, no training data, a model without a price); the message says why."""


@dataclass
class ApiResponse:
    body: dict[str, Any]  # the provider's response, as JSON: what the cache keeps
    request_id: str | None = None


@dataclass
class PreparedTexts:
    tweet: str
    replies: list[str]
    notes: list[str] = field(default_factory=list)  # e.g. "reply A cut from 250,000 to 1,000 characters"


class Judge:
    name: str = ""
    model: str = ""
    prompt_version: str = ""


class ApiJudge(Judge):
    """A judge behind an HTTP API. Subclasses set the client and implement `request`, `send` and `read`."""

    supports_batch = False
    batch_price_factor = 1.0
    # What a failed request raises (after the client's retries): counted, and left for the next run. Anything
    # else is a bug and stops the run.
    request_errors: tuple[type[Exception], ...] = ()

    def __init__(
        self, model: str, prompt: PromptConfig, prices: dict[str, PriceTable], max_tokens: int, concurrency: int
    ):
        if model not in prices:
            raise JudgeUnavailable(
                f"judge {self.name}: no price for model {model!r} in the config ({', '.join(prices) or 'none'}): "
                "add its prices so that the cost can be estimated and capped"
            )
        self.model = model
        self.prompt = prompt
        self.prompt_version = prompt.version
        self.prices = prices[model]
        self.max_tokens = max_tokens
        self.concurrency = concurrency
        self.caching = False
        self._prefixes = {kind: system_prefix(kind, prompt) for kind in (PAIRWISE, "single")}

    def prefix(self, kind: str) -> str:
        return self._prefixes[kind]

    def prepare(self, task: JudgeTask) -> PreparedTexts:
        """The texts as the judge will see them: each cut to the configured length, with a note when cut."""
        tweet, tweet_cut = cut(task.tweet_text, self.prompt.max_tweet_chars)
        prepared = PreparedTexts(tweet, [])
        if tweet_cut:
            prepared.notes.append(f"tweet cut from {len(task.tweet_text):,} to {self.prompt.max_tweet_chars:,} chars")
        for position, reply in zip("AB", task.replies):
            text, was_cut = cut(reply, self.prompt.max_reply_chars)
            prepared.replies.append(text)
            if was_cut:
                label = f"reply {position}" if task.kind == PAIRWISE else "reply"
                prepared.notes.append(f"{label} cut from {len(reply):,} to {self.prompt.max_reply_chars:,} chars")
        return prepared

    def message(self, task: JudgeTask) -> str:
        prepared = self.prepare(task)
        return user_message(task.kind, prepared.tweet, prepared.replies)

    def size(self, task: JudgeTask) -> RequestSize:
        """The request's estimated tokens, and the bound on its input that the cost guard reserves: every byte of the
        request as sent (prefix, message, output schema, settings) a token, plus the provider's overhead."""
        sent = json.dumps(self.request(task), ensure_ascii=False)
        return RequestSize(
            task.kind,
            estimate_tokens(self.prefix(task.kind)),
            estimate_tokens(self.message(task)),
            max_input_tokens(sent),
        )

    def request(self, task: JudgeTask) -> dict[str, Any]:
        raise NotImplementedError

    def send(self, request: dict[str, Any]) -> ApiResponse:
        raise NotImplementedError

    def read(self, task: JudgeTask, body: dict[str, Any]) -> tuple[ParsedVerdict, TokenUsage]:
        raise NotImplementedError

    # What every further request would hit too (bad key, unknown model, rejected request): the run stops at once.
    fatal_errors: tuple[type[Exception], ...] = ()

    def is_fatal(self, error: Exception) -> bool:
        return isinstance(error, self.fatal_errors)

    # Batches (supports_batch): submit, poll, collect.
    def submit_batch(self, requests: list[tuple[str, dict[str, Any]]]) -> str:
        raise NotImplementedError

    def batch_ended(self, batch_id: str) -> bool:
        raise NotImplementedError

    def batch_results(self, batch_id: str) -> Iterator[tuple[str, ApiResponse | None, str | None]]:
        raise NotImplementedError


def client_errors(sdk) -> tuple[tuple[type[Exception], ...], tuple[type[Exception], ...]]:
    """(request errors, fatal errors) of an SDK generated the same way (anthropic, openai): what failed after the
    client's retries, and which of those every further request would hit too."""
    fatal = (sdk.AuthenticationError, sdk.PermissionDeniedError, sdk.NotFoundError, sdk.BadRequestError)
    return (sdk.APIError,), fatal


class LocalJudge(Judge):
    """A judge that runs here and costs nothing but time."""

    def judge_tasks(self, tasks: list[JudgeTask]) -> list[ParsedVerdict]:
        raise NotImplementedError

    def cache_settings(self) -> dict[str, Any]:
        """What else changes a verdict besides the name, model, prompt version and texts (part of the cache key)."""
        return {}

    def cache_request(self, task: JudgeTask) -> dict[str, Any]:
        """What the disk cache keys this task's verdict on (with the judge's name, model and prompt version)."""
        return {
            "kind": task.kind,
            "tweet": task.tweet_text,
            "replies": list(task.replies),
            "settings": self.cache_settings(),
        }
