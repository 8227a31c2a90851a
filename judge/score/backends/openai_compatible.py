"""Judge `openai`: any OpenAI-compatible chat endpoint (vLLM, Ollama, TGI) through the official openai client.

The same prompts as the Claude judge: the rubric, instructions and examples as the system message, the task's
data (delimited and escaped) as the user message, and the verdict asked for as structured output
(`response_format` json_schema, or json_object for servers without schema support: the answer is checked
against the schema either way). The client retries 429, 5xx and timeouts with backoff. The key, if the server
wants one, is OPENAI_API_KEY (environment or .env).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from judge.config import OpenAICompatibleJudgeConfig, PromptConfig
from judge.score.backends.base import ApiJudge, ApiResponse, client_errors, endpoint_of
from judge.score.cost import TokenUsage
from judge.score.prompts import ParsedVerdict, output_schema, parse_answer
from judge.score.tasks import JudgeTask
from replytune.secrets import get_secret

# Tests may put an httpx2.Client here; None: the openai client's own (it sends through httpx2).
http_client_factory: Callable[[], Any] = lambda: None  # noqa: E731

# Servers without authentication still want a non-empty key from the client.
NO_KEY = "not-needed"


class OpenAICompatibleJudge(ApiJudge):
    name = "openai"

    def __init__(self, config: OpenAICompatibleJudgeConfig, prompt: PromptConfig, http_client: Any = None):
        super().__init__(config.model, prompt, config.prices, config.max_tokens, config.concurrency)
        import openai

        self.config = config
        self.request_errors, self.fatal_errors = client_errors(openai)
        client = http_client if http_client is not None else http_client_factory()
        self.client = openai.OpenAI(
            api_key=get_secret("OPENAI_API_KEY") or NO_KEY,
            base_url=config.base_url,
            max_retries=config.max_retries,
            timeout=config.timeout_s,
            http_client=client,
        )
        self.endpoint = endpoint_of(self.client, client)

    def settings(self) -> dict:
        return {
            **super().settings(),
            "temperature": self.config.temperature,
            "response_format": self.config.response_format,
            "extra_body": self.config.extra_body,
        }

    def request(self, task: JudgeTask) -> dict[str, Any]:
        if self.config.response_format == "json_schema":
            schema = {"name": f"{task.kind}_verdict", "schema": output_schema(task.kind), "strict": True}
            response_format = {"type": "json_schema", "json_schema": schema}
        else:
            response_format = {"type": "json_object"}
        request = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "temperature": self.config.temperature,
            "messages": [
                {"role": "system", "content": self.prefix(task.kind)},
                {"role": "user", "content": self.message(task)},
            ],
            "response_format": response_format,
        }
        if self.config.extra_body:
            request["extra_body"] = self.config.extra_body
        return request

    def send(self, request: dict[str, Any]) -> ApiResponse:
        raw = self.client.chat.completions.with_raw_response.create(**request)
        completion = raw.parse()
        return ApiResponse(completion.model_dump(mode="json", exclude_none=True), raw.headers.get("x-request-id"))

    def read(self, task: JudgeTask, body: dict[str, Any]) -> tuple[ParsedVerdict, TokenUsage]:
        choices = body.get("choices") or [{}]
        message = choices[0].get("message") or {}
        parsed = parse_answer(task.kind, message.get("content"), choices[0].get("finish_reason"))
        usage = body.get("usage") or {}
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens") or 0
        return parsed, TokenUsage(
            input_tokens=(usage.get("prompt_tokens") or 0) - cached,
            output_tokens=usage.get("completion_tokens") or 0,
            cache_read_tokens=cached,
        )
