"""An Anthropic API stand-in for anthropic 2.x, as an httpx2 MockTransport handler (the SDK sends through httpx2).

    fake = FakeAnthropic(policy=prefers_longer)
    client = anthropic.Anthropic(api_key="test-key", http_client=fake.http_client())

It answers what the judge calls, the way the real API does: POST /v1/messages (structured output: the text
block holds the policy's JSON verdict; usage with prompt-cache accounting: a system block marked cache_control
that reaches `min_cacheable_tokens` is written to the cache by the first request and read by the later ones), and
the Message Batches API (create; retrieve, `in_progress` for `polls_before_end` polls, then `ended` with a results
URL; results as JSONL, in reverse order as the real API does not promise order). Faults can be injected (the next
N requests answered with 429/500/529..., each with a short retry-after so tests stay fast; or left hanging past the
client's timeout, `stall_next`). Every request is
recorded (method, path, JSON body) for assertions; the key is checked but never stored.

`fake.serve()` puts the same handler behind a real HTTP server on loopback, for a judge run in a subprocess
(`score.claude.base_url: <url>`), e.g. one that a test kills.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx2

from standins.judge_answers import Policy, answer_text, approximate_tokens, kind_of, prefers_longer, task_data

ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


@dataclass
class Recorded:
    method: str
    path: str
    body: Any
    status: int


class FakeAnthropic:
    def __init__(
        self,
        policy: Policy = prefers_longer,
        api_key: str = "test-anthropic-key",
        count_tokens: Callable[[str], int] = approximate_tokens,
        min_cacheable_tokens: int = 1024,
        polls_before_end: int = 1,
    ):
        self.policy = policy
        self.count_tokens = count_tokens
        self.min_cacheable_tokens = min_cacheable_tokens
        self.polls_before_end = polls_before_end
        self.requests: list[Recorded] = []
        self.batches: dict[str, dict] = {}
        self.batch_errors: set[int] = set()  # indexes (in submission order) of batch requests that come back errored
        self.response_delay_s = 0.0  # added to every answer: slows a judge down so a test can kill it mid-run
        self._api_key = api_key
        self._faults: list[list] = []  # [status, remaining, path_contains]
        self._stalls: list[list] = []  # [seconds, remaining]: answers that come too late (a client timeout)
        self._cached_prefixes: set[str] = set()
        self._origin = "https://api.anthropic.com"  # where results_url points: the host the client called
        self._lock = threading.Lock()

    def http_client(self) -> httpx2.Client:
        return httpx2.Client(transport=httpx2.MockTransport(self))

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Run the handler behind a real HTTP server on 127.0.0.1; yields its URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class names it so
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                request = httpx2.Request(
                    self.command,
                    f"http://{self.headers['Host']}{self.path}",
                    headers=dict(self.headers.items()),
                    content=self.rfile.read(length) if length else b"",
                )
                try:
                    response = fake(request)
                except httpx2.TimeoutException:
                    self.close_connection = True  # the client gave up long ago: no answer
                    return
                self.send_response(response.status_code)
                for name, value in response.headers.items():
                    if name.lower() not in ("content-length", "transfer-encoding", "content-encoding"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(response.content)))
                self.end_headers()
                self.wfile.write(response.content)

            do_GET = do_POST = _forward

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()

    def fail_next(self, count: int, status: int = 500, path_contains: str | None = None) -> None:
        with self._lock:
            self._faults.append([status, count, path_contains])

    def stall_next(self, count: int, seconds: float) -> None:
        """The next `count` requests hang for `seconds` (set it above the client's timeout) and are then dropped
        unanswered, recorded with status 0: the client timed out, and nothing was judged or billed."""
        with self._lock:
            self._stalls.append([seconds, count])

    def messages_sent(self) -> list[dict]:
        """The bodies of the POST /v1/messages requests that were answered 200."""
        return [r.body for r in self.requests if r.path == "/v1/messages" and r.status == 200]

    # -- the handler ----------------------------------------------------------------------------------

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        body = json.loads(request.content) if request.content else None
        authorized = request.headers.get("x-api-key") == self._api_key or (
            request.headers.get("authorization") == f"Bearer {self._api_key}"
        )
        stall = self._take_stall()
        if stall:
            time.sleep(stall)
            with self._lock:
                self.requests.append(Recorded(request.method, path, body, 0))
            raise httpx2.ReadTimeout("stalled by the test", request=request)
        if self.response_delay_s:
            time.sleep(self.response_delay_s)
        self._origin = f"{request.url.scheme}://{request.url.netloc.decode()}"
        status, payload, headers = self._route(request.method, path, body, authorized)
        with self._lock:
            self.requests.append(Recorded(request.method, path, body, status))
        headers = {"request-id": f"req_{uuid.uuid4().hex[:20]}", **headers}
        if isinstance(payload, bytes):
            return httpx2.Response(status, content=payload, headers=headers)
        return httpx2.Response(status, json=payload, headers=headers)

    def _route(self, method: str, path: str, body: Any, authorized: bool) -> tuple[int, Any, dict]:
        if not authorized:
            return 401, _error(401, "invalid x-api-key"), {}
        fault = self._take_fault(path)
        if fault:
            return fault, _error(fault, f"injected {fault}"), {"retry-after-ms": "10"}
        if method == "POST" and path == "/v1/messages":
            return 200, self.message(body), {}
        if method == "POST" and path == "/v1/messages/batches":
            return 200, self._create_batch(body), {}
        parts = path.strip("/").split("/")
        if len(parts) >= 4 and parts[:3] == ["v1", "messages", "batches"] and parts[3] in self.batches:
            batch = self.batches[parts[3]]
            if len(parts) == 4 and method == "GET":
                batch["polls"] += 1
                return 200, self._batch_json(batch), {}
            if len(parts) == 5 and parts[4] == "results" and batch["polls"] > self.polls_before_end:
                lines = [json.dumps(result) for result in reversed(batch["results"])]
                return 200, ("\n".join(lines) + "\n").encode(), {"content-type": "application/binary"}
        return 404, _error(404, f"no route {method} {path}"), {}

    def _take_stall(self) -> float | None:
        with self._lock:
            for stall in self._stalls:
                if stall[1] > 0:
                    stall[1] -= 1
                    return stall[0]
        return None

    def _take_fault(self, path: str) -> int | None:
        with self._lock:
            for fault in self._faults:
                if fault[1] > 0 and (fault[2] is None or fault[2] in path):
                    fault[1] -= 1
                    return fault[0]
        return None

    def message(self, params: dict) -> dict:
        user_text = params["messages"][-1]["content"]
        kind = kind_of(params["output_config"]["format"]["schema"])
        text = answer_text(self.policy, kind, task_data(user_text))
        usage = {
            "input_tokens": self.count_tokens(user_text),
            "output_tokens": self.count_tokens(text),
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        }
        for block in params.get("system") or []:
            tokens = self.count_tokens(block["text"])
            if block.get("cache_control") and tokens >= self.min_cacheable_tokens:
                with self._lock:
                    hit = block["text"] in self._cached_prefixes
                    self._cached_prefixes.add(block["text"])
                usage["cache_read_input_tokens" if hit else "cache_creation_input_tokens"] += tokens
            else:
                usage["input_tokens"] += tokens
        return {
            "id": f"msg_{uuid.uuid4().hex[:20]}",
            "type": "message",
            "role": "assistant",
            "model": params["model"],
            "content": [{"type": "text", "text": text}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": usage,
        }

    def _create_batch(self, body: dict) -> dict:
        batch_id = f"msgbatch_{uuid.uuid4().hex[:20]}"
        results = []
        for request in body["requests"]:
            index = len(results)
            if index in self.batch_errors:
                error = {"type": "error", "error": {"type": "overloaded_error", "message": "try again"}}
                results.append({"custom_id": request["custom_id"], "result": {"type": "errored", "error": error}})
            else:
                message = self.message(request["params"])
                results.append(
                    {"custom_id": request["custom_id"], "result": {"type": "succeeded", "message": message}}
                )
        self.batches[batch_id] = {"id": batch_id, "results": results, "polls": 0}
        return self._batch_json(self.batches[batch_id])

    def _batch_json(self, batch: dict) -> dict:
        ended = batch["polls"] > self.polls_before_end
        succeeded = sum(r["result"]["type"] == "succeeded" for r in batch["results"])
        counts = {
            "processing": 0 if ended else len(batch["results"]),
            "succeeded": succeeded if ended else 0,
            "errored": len(batch["results"]) - succeeded if ended else 0,
            "canceled": 0,
            "expired": 0,
        }
        payload = {
            "id": batch["id"],
            "type": "message_batch",
            "processing_status": "ended" if ended else "in_progress",
            "request_counts": counts,
            "created_at": "2026-11-30T00:00:00Z",
            "expires_at": "2026-12-01T00:00:00Z",
        }
        if ended:
            payload["ended_at"] = "2026-11-30T00:05:00Z"
            payload["results_url"] = f"{self._origin}/v1/messages/batches/{batch['id']}/results"
        return payload


def _error(status: int, message: str) -> dict:
    return {"type": "error", "error": {"type": ERROR_TYPES.get(status, "api_error"), "message": message}}
