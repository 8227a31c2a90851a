"""An OpenAI-compatible chat server stand-in (what vLLM's `vllm serve`, Ollama or TGI expose), on loopback.

    with OpenAICompatibleStandIn(policy=prefers_longer) as server:
        client = openai.OpenAI(base_url=server.url + "/v1", api_key="anything")

It serves POST /v1/chat/completions like vLLM with guided decoding: `response_format` json_schema (or
json_object) is required, the answer's content is the policy's JSON verdict for the task found between the
user message's <untrusted_data> tags, and usage counts prompt and completion tokens. A server started with
`api_key` checks the bearer token (never stored). Faults can be injected (the next N requests answered with
429/500/503), and every request is recorded (path, JSON body, status) for assertions.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standins.judge_answers import Policy, answer_text, approximate_tokens, kind_of, prefers_longer, task_data


@dataclass
class Recorded:
    path: str
    body: Any
    status: int


class OpenAICompatibleStandIn:
    def __init__(self, policy: Policy = prefers_longer, api_key: str | None = None, model: str = "Qwen/Qwen3-8B"):
        self.policy = policy
        self.model = model
        self.requests: list[Recorded] = []
        self._api_key = api_key
        self._faults: list[list] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None

    def __enter__(self) -> OpenAICompatibleStandIn:
        stand_in = self

        class Handler(_Handler):
            server_state = stand_in

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc_info) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "use the stand-in as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def fail_next(self, count: int, status: int = 500) -> None:
        with self._lock:
            self._faults.append([status, count])

    def completions(self) -> list[dict]:
        return [r.body for r in self.requests if r.path == "/v1/chat/completions" and r.status == 200]

    def take_fault(self) -> int | None:
        with self._lock:
            for fault in self._faults:
                if fault[1] > 0:
                    fault[1] -= 1
                    return fault[0]
        return None

    def answer(self, path: str, body: Any, authorization: str | None) -> tuple[int, dict]:
        if self._api_key is not None and authorization != f"Bearer {self._api_key}":
            return 401, _error("invalid api key", "authentication_error")
        fault = self.take_fault()
        if fault:
            return fault, _error(f"injected {fault}", "server_error")
        if path != "/v1/chat/completions":
            return 404, _error(f"no route {path}", "not_found")
        if body.get("model") != self.model:
            return 404, _error(f"The model `{body.get('model')}` does not exist.", "NotFoundError")
        response_format = body.get("response_format") or {}
        if response_format.get("type") not in ("json_schema", "json_object"):
            return 400, _error("this stand-in answers structured requests only", "BadRequestError")
        user_text = body["messages"][-1]["content"]
        data = task_data(user_text)
        kind = (
            kind_of(response_format["json_schema"]["schema"])
            if response_format["type"] == "json_schema"
            else ("pairwise" if "reply_A" in data else "single")
        )
        content = answer_text(self.policy, kind, data)
        prompt_tokens = sum(approximate_tokens(message["content"]) for message in body["messages"])
        return 200, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:16]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": self.model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": approximate_tokens(content),
                "total_tokens": prompt_tokens + approximate_tokens(content),
            },
        }


class _Handler(BaseHTTPRequestHandler):
    server_state: OpenAICompatibleStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class names it so
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else {}
        except json.JSONDecodeError:
            status, payload = 400, _error("body is not JSON", "BadRequestError")
            body = None
        else:
            status, payload = self.server_state.answer(self.path, body, self.headers.get("Authorization"))
        with self.server_state._lock:
            self.server_state.requests.append(Recorded(self.path, body, status))
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("x-request-id", f"req-{uuid.uuid4().hex[:12]}")
        if status in (429, 500, 503):
            self.send_header("retry-after-ms", "10")
        self.end_headers()
        self.wfile.write(data)


def _error(message: str, error_type: str) -> dict:
    return {"error": {"message": message, "type": error_type, "code": None}}
