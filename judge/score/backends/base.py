"""The one small interface every judge implements.

Two shapes, because judges differ in where the work happens:

- `ApiJudge` (claude, openai): builds one provider request per task (`request`), sends it (`send`), and reads the
  provider's response body into a verdict and the tokens it used (`read`). The runner around it does the rest the
  same way for every provider: resume, the disk cache, the cost estimate and guard, concurrency, batches.
- `LocalJudge` (engagement; later the local transformers judge): judges a list of tasks in one call
  (`judge_tasks`), on this machine, at no cost.
"""

from __future__ import annotations

import hashlib
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
    # True for a judge whose pairwise verdict comes from scoring each reply on its own (the engagement scorer): the
    # order replies are shown in cannot change its verdict, so its position consistency is 1 by construction.
    order_invariant: bool = False

    def settings(self) -> dict[str, Any]:
        """What else changes this judge's answers besides its name, model and prompt version (the endpoint, the full
        prompt texts, a local model's weights): part of `fingerprint` and of every cache key."""
        return {}

    @property
    def fingerprint(self) -> str:
        """One hash of everything that changes this judge's answers: written in every verdict, score_report.json and
        validity.json, so that verdicts of two judge setups never mix in one file, and a validity check is matched
        to the judge it measured."""
        identity = [self.name, self.model, self.prompt_version, self.settings()]
        payload = json.dumps(identity, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    def identity(self) -> dict[str, Any]:
        """The judge as score_report.json and validity.json record it."""
        return {
            "judge": self.name,
            "model": self.model,
            "prompt_version": self.prompt_version,
            "fingerprint": self.fingerprint,
            "order_invariant": self.order_invariant,
        }


def text_sha256(*texts: str) -> str:
    digest = hashlib.sha256()
    for text in texts:
        digest.update(text.encode("utf-8") + b"\0")
    return digest.hexdigest()


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
        self.endpoint = ""  # where requests go (the client's base URL): set by the subclass

    def settings(self) -> dict[str, Any]:
        """The endpoint, and the full text of the system prefixes (rubric, instructions, examples); the request's
        other settings (max_tokens, temperature, ...) travel in the request, which the cache key holds whole."""
        return {
            "endpoint": self.endpoint,
            "prefixes_sha256": text_sha256(*(self._prefixes[kind] for kind in sorted(self._prefixes))),
            "max_tokens": self.max_tokens,
            "max_chars": [self.prompt.max_tweet_chars, self.prompt.max_reply_chars],
            "criteria_weights": self.prompt.criteria_weights,
        }

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


def endpoint_of(client, http_client) -> str:
    """Where an SDK client sends its requests: its base URL, and whether a transport of the caller's own (a test's
    stand-in) carries them instead of the SDK's. Verdicts cached from one endpoint never answer another's."""
    endpoint = str(client.base_url).rstrip("/")
    if http_client is not None:
        transport = getattr(http_client, "_transport", None)
        endpoint += f" via {type(transport).__name__ if transport is not None else type(http_client).__name__}"
    return endpoint


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
        return self.settings()

    def cache_request(self, task: JudgeTask) -> dict[str, Any]:
        """What the disk cache keys this task's verdict on (with the judge's name, model and prompt version)."""
        return {
            "kind": task.kind,
            "tweet": task.tweet_text,
            "replies": list(task.replies),
            "settings": self.cache_settings(),
        }
