"""Judge `claude`: Claude through the official anthropic SDK, online or through Message Batches (half price).

Each request carries the system prefix (rubric, instructions, examples) as a system block marked
`cache_control: ephemeral`, so that every request after the first reads it from the prompt cache, and asks for
structured output (`output_config.format`, a JSON schema), so the verdict is a JSON object and never prose.
The SDK retries 429, 408/409, 5xx and timeouts with exponential backoff (honouring retry-after) up to
`max_retries` times. The key is ANTHROPIC_API_KEY, read through replytune.secrets; it is never written anywhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from judge.config import ClaudeJudgeConfig, PromptConfig
from judge.score.backends.base import ApiJudge, ApiResponse, JudgeUnavailable, client_errors, endpoint_of
from judge.score.cost import TokenUsage
from judge.score.prompts import ParsedVerdict, output_schema, parse_answer
from judge.score.tasks import JudgeTask
from replytune.secrets import get_secret

# Tests put an httpx2.Client with a MockTransport here (anthropic 2.x sends through httpx2); None: the SDK's own.
http_client_factory: Callable[[], Any] = lambda: None  # noqa: E731


class ClaudeJudge(ApiJudge):
    name = "claude"
    supports_batch = True

    def __init__(self, config: ClaudeJudgeConfig, prompt: PromptConfig, http_client: Any = None):
        super().__init__(config.model, prompt, config.prices, config.max_tokens, config.concurrency)
        import anthropic

        api_key = get_secret("ANTHROPIC_API_KEY")
        if not api_key:
            raise JudgeUnavailable(
                "judge claude needs ANTHROPIC_API_KEY (environment or .env); without a key, use --judge engagement "
                "(offline) or --judge openai (a local OpenAI-compatible server)"
            )
        self.config = config
        self.caching = config.prompt_caching
        self.batch_price_factor = config.batch_price_factor
        self.request_errors, self.fatal_errors = client_errors(anthropic)
        client = http_client if http_client is not None else http_client_factory()
        self.client = anthropic.Anthropic(
            api_key=api_key,
            base_url=config.base_url,
            max_retries=config.max_retries,
            timeout=config.timeout_s,
            http_client=client,
        )
        self.endpoint = endpoint_of(self.client, client)

    def request(self, task: JudgeTask) -> dict[str, Any]:
        system_block: dict[str, Any] = {"type": "text", "text": self.prefix(task.kind)}
        if self.caching:
            system_block["cache_control"] = {"type": "ephemeral"}
        return {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": [system_block],
            "messages": [{"role": "user", "content": self.message(task)}],
            "output_config": {"format": {"type": "json_schema", "schema": output_schema(task.kind)}},
        }

    def send(self, request: dict[str, Any]) -> ApiResponse:
        raw = self.client.messages.with_raw_response.create(**request)
        message = raw.parse()
        return ApiResponse(message.model_dump(mode="json", exclude_none=True), raw.request_id)

    def read(self, task: JudgeTask, body: dict[str, Any]) -> tuple[ParsedVerdict, TokenUsage]:
        texts = [block.get("text", "") for block in body.get("content") or [] if block.get("type") == "text"]
        parsed = parse_answer(task.kind, "".join(texts) if texts else None, body.get("stop_reason"))
        usage = body.get("usage") or {}
        return parsed, TokenUsage(
            input_tokens=usage.get("input_tokens") or 0,
            output_tokens=usage.get("output_tokens") or 0,
            cache_write_tokens=usage.get("cache_creation_input_tokens") or 0,
            cache_read_tokens=usage.get("cache_read_input_tokens") or 0,
        )

    def submit_batch(self, requests: list[tuple[str, dict[str, Any]]]) -> str:
        batch = self.client.messages.batches.create(
            requests=[{"custom_id": custom_id, "params": params} for custom_id, params in requests]
        )
        return batch.id

    def batch_ended(self, batch_id: str) -> bool:
        return self.client.messages.batches.retrieve(batch_id).processing_status == "ended"

    def batch_results(self, batch_id: str) -> Iterator[tuple[str, ApiResponse | None, str | None]]:
        for line in self.client.messages.batches.results(batch_id):
            result = line.result
            if result.type == "succeeded":
                body = result.message.model_dump(mode="json", exclude_none=True)
                yield line.custom_id, ApiResponse(body, body.get("id")), None
            elif result.type == "errored":
                error = result.error.error
                yield line.custom_id, None, f"errored: {error.type}: {error.message}"
            else:
                yield line.custom_id, None, result.type  # canceled or expired
