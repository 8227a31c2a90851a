"""An Apify API stand-in on loopback, answering actor runs from a scripted fake "Twitter".

It serves what `apify-client` 3.4 calls for `client.actor(...).start()/.call()`, `client.run(id).wait_for_finish()`
and `client.dataset(id).iterate_items()`:

- POST /v2/actors/{user~name}/runs (and the older /v2/acts/{user~name}/runs): starts a run; the run input is the
  JSON body (gzip-encoded when large, as the client sends it), `maxItems` a query parameter.
- GET /v2/actor-runs/{id}[?waitForFinish=S]: the run, waiting up to S seconds (capped, like the real API) for it.
- GET /v2/datasets/{id}/items?offset=&limit=: a JSON array with the X-Apify-Pagination-* headers.

Runs take `run_seconds` to finish (0: at once). Faults can be injected: fail the next N matching requests with a
status (429, 500...), fail every Nth request, stall requests (so client timeouts fire), or slow every request
(so a test can kill the collector mid-run). Every request is recorded for assertions; the token is checked but
never stored.

Usage:

    fake = FakeTwitter(search_results={"LoRA": [tweet, ...]}, conversations={"123": [reply, ...]})
    with ApifyStandIn(fake, token="test-token") as api:
        client = ApifyClient("test-token", api_url=api.url)
        ...
        assert api.requests_to("/runs")
"""

from __future__ import annotations

import gzip
import json
import re
import threading
import time
import uuid
import zlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# The real API holds a waitForFinish request at most 60 s; a shorter cap keeps tests quick.
MAX_WAIT_FOR_FINISH_S = 2.0
NO_LIMIT = 999_999_999_999  # what the real API reports as the limit when none was asked for

CONVERSATION_ID_TERM = re.compile(r"^\s*conversation_id:(\d+)")


@dataclass
class FakeTwitter:
    """What the fake actor returns.

    - `search_results`: search term -> items; a run's search term matches a key it starts with, so the
      collector may append `-crypto -NFT until:DATE` to it.
    - `conversations`: conversation id -> the tweets in it (root first, then replies), answered to both
      `conversationIds: [id]` and `searchTerms: ["conversation_id:ID"]`.
    - `conversation_ids_unsupported`: ids for which `conversationIds` returns nothing (the actor's known quirk), so
      the `conversation_id:ID` fallback is needed.
    - A run that finds nothing returns one placeholder item `{"noResults": true}`, as the real actor does.
    """

    search_results: dict[str, list[dict]] = field(default_factory=dict)
    conversations: dict[str, list[dict]] = field(default_factory=dict)
    conversation_ids_unsupported: set[str] = field(default_factory=set)
    placeholder_when_empty: bool = True

    def run(self, run_input: dict, max_items: int | None) -> list[dict]:
        items: list[dict] = []
        for term in run_input.get("searchTerms") or []:
            match = CONVERSATION_ID_TERM.match(term)
            if match:
                items += self.conversations.get(match.group(1), [])
            else:
                items += self._search(term)
        for conversation_id in run_input.get("conversationIds") or []:
            if str(conversation_id) not in self.conversation_ids_unsupported:
                items += self.conversations.get(str(conversation_id), [])
        limits = [n for n in (max_items, run_input.get("maxItems")) if isinstance(n, int) and n > 0]
        if limits:
            items = items[: min(limits)]
        if not items and self.placeholder_when_empty:
            items = [{"noResults": True}]
        return [json.loads(json.dumps(item)) for item in items]  # copies: tests may mutate their fixtures

    def _search(self, term: str) -> list[dict]:
        matches = [key for key in self.search_results if term.startswith(key)]
        if not matches:
            return []
        return list(self.search_results[max(matches, key=len)])


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    body: Any
    status: int
    authorized: bool
    at: float


@dataclass
class _Fault:
    status: int
    path_contains: str | None
    remaining: int
    stall_seconds: float = 0.0  # > 0: hold the request this long instead of answering with `status`


@dataclass
class _Run:
    id: str
    actor: str
    dataset_id: str
    run_input: dict
    items: list[dict]
    started_at: datetime
    finishes_at: float
    timeout_secs: int
    final_status: str = "SUCCEEDED"

    @property
    def finished(self) -> bool:
        return time.monotonic() >= self.finishes_at

    def as_json(self) -> dict:
        finished = self.finished
        return {
            "id": self.id,
            "actId": self.actor,
            "userId": "stand-in-user",
            "startedAt": _iso(self.started_at),
            "finishedAt": _iso(datetime.now(timezone.utc)) if finished else None,
            "status": self.final_status if finished else "RUNNING",
            "meta": {"origin": "API"},
            "stats": {"inputBodyLen": len(json.dumps(self.run_input)), "restartCount": 0},
            "options": {"build": "latest", "timeoutSecs": self.timeout_secs, "memoryMbytes": 1024, "diskMbytes": 2048},
            "buildId": "stand-in-build",
            "buildNumber": "0.0.1",
            "exitCode": (0 if self.final_status == "SUCCEEDED" else 1) if finished else None,
            "defaultKeyValueStoreId": "kvs-" + self.id,
            "defaultDatasetId": self.dataset_id,
            "defaultRequestQueueId": "rq-" + self.id,
        }


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class ApifyStandIn:
    """The stand-in server: a context manager that runs it on 127.0.0.1 (a free port) in a background thread."""

    def __init__(self, fake: FakeTwitter, token: str = "test-apify-token", run_seconds: float = 0.0):
        self.fake = fake
        self.token = token
        self.run_seconds = run_seconds
        self.response_delay_s = 0.0  # added to every request: slows a collector down so a test can kill it
        self.next_run_statuses: list[str] = []  # final statuses of the next runs started (e.g. "FAILED"), in order
        self.requests: list[RecordedRequest] = []
        self.runs: dict[str, _Run] = {}
        self._datasets: dict[str, _Run] = {}
        self._faults: list[_Fault] = []
        self._fail_every: tuple[int, int] | None = None
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ------------------------------------------------------------------------------------

    def __enter__(self) -> ApifyStandIn:
        stand_in = self

        class Handler(_Handler):
            api = stand_in

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="apify-stand-in", daemon=True
        )
        self._thread.start()
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

    # -- fault injection --------------------------------------------------------------------------------

    def fail_next(self, count: int, status: int = 500, path_contains: str | None = None) -> None:
        """Answer the next `count` requests whose path contains `path_contains` with `status`."""
        with self._lock:
            self._faults.append(_Fault(status, path_contains, count))

    def stall_next(self, count: int, seconds: float, path_contains: str | None = None) -> None:
        """Hold the next `count` matching requests for `seconds` before answering (client timeouts fire)."""
        with self._lock:
            self._faults.append(_Fault(0, path_contains, count, stall_seconds=seconds))

    def fail_every(self, nth: int, status: int = 500) -> None:
        """Answer every `nth` request (counting all requests) with `status`."""
        self._fail_every = (nth, status)

    def clear_faults(self) -> None:
        """Answer normally from now on (the faults not yet used up are dropped)."""
        with self._lock:
            self._faults.clear()
            self._fail_every = None

    # -- assertions -----------------------------------------------------------------------------------

    def requests_to(self, path_part: str, method: str | None = None) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests if path_part in r.path and (method is None or r.method == method)]

    def run_inputs(self) -> list[dict]:
        """The input of every run started, in order."""
        return [r.body for r in self.requests_to("/runs", "POST") if r.status == 201]

    # -- request handling (called from the handler threads) --------------------------------------------

    def _take_fault(self, path: str) -> _Fault | None:
        with self._lock:
            if self._fail_every:
                nth, status = self._fail_every
                if len(self.requests) % nth == nth - 1:
                    return _Fault(status, None, 1)
            for fault in self._faults:
                if fault.remaining > 0 and (fault.path_contains is None or fault.path_contains in path):
                    fault.remaining -= 1
                    return fault
        return None

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _start_run(self, actor: str, run_input: dict, query: dict[str, str]) -> _Run:
        max_items = int(query["maxItems"]) if query.get("maxItems", "").isdigit() else None
        run_id = uuid.uuid4().hex[:17]
        run = _Run(
            id=run_id,
            actor=actor,
            dataset_id="ds" + uuid.uuid4().hex[:15],
            run_input=run_input,
            items=self.fake.run(run_input, max_items),
            started_at=datetime.now(timezone.utc),
            finishes_at=time.monotonic() + self.run_seconds,
            timeout_secs=int(query.get("timeout") or 3600),
        )
        with self._lock:
            if self.next_run_statuses:
                run.final_status = self.next_run_statuses.pop(0)
                if run.final_status != "SUCCEEDED":
                    run.items = run.items[:1]  # a failed run may have stored a little before it failed
            self.runs[run.id] = run
            self._datasets[run.dataset_id] = run
        return run

    def _find_run(self, run_id: str) -> _Run | None:
        with self._lock:
            return self.runs.get(run_id)

    def _find_dataset(self, dataset_id: str) -> _Run | None:
        with self._lock:
            return self._datasets.get(dataset_id)


class _Handler(BaseHTTPRequestHandler):
    api: ApifyStandIn
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: without this, keep-alive waits ~40 ms

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class names it so
        pass  # quiet: tests read `api.requests` instead

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _handle(self, method: str) -> None:
        api = self.api
        started = time.monotonic()
        parts = urlsplit(self.path)
        path = parts.path
        query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
        body = self._read_body()
        authorized = self.headers.get("Authorization") == f"Bearer {api.token}"
        if api.response_delay_s:
            time.sleep(api.response_delay_s)
        fault = api._take_fault(path)
        if fault is not None and fault.stall_seconds:
            time.sleep(fault.stall_seconds)
            fault = None
        if fault is not None:
            status, payload, headers = fault.status, _error("injected-fault", f"injected {fault.status}"), {}
        elif not authorized:
            status, payload, headers = 401, _error("token-not-valid", "Authentication token is not valid"), {}
        else:
            status, payload, headers = self._route(method, path, query, body)
        api._record(RecordedRequest(method, path, query, body, status, authorized, started))
        self._send(status, payload, headers)

    def _route(self, method: str, path: str, query: dict[str, str], body: Any) -> tuple[int, Any, dict[str, str]]:
        api = self.api
        match = re.fullmatch(r"/v2/(?:acts|actors)/([^/]+)/runs", path)
        if match and method == "POST":
            run_input = body if isinstance(body, dict) else {}
            run = api._start_run(match.group(1).replace("~", "/"), run_input, query)
            return 201, {"data": run.as_json()}, {}
        match = re.fullmatch(r"/v2/actor-runs/([^/]+)", path)
        if match and method == "GET":
            run = api._find_run(match.group(1))
            if run is None:
                return 404, _error("record-not-found", "Actor run was not found"), {}
            wait = min(float(query.get("waitForFinish") or 0), MAX_WAIT_FOR_FINISH_S)
            deadline = time.monotonic() + wait
            while not run.finished and time.monotonic() < deadline:
                time.sleep(0.02)
            return 200, {"data": run.as_json()}, {}
        match = re.fullmatch(r"/v2/datasets/([^/]+)/items", path)
        if match and method == "GET":
            run = api._find_dataset(match.group(1))
            if run is None:
                return 404, _error("record-not-found", "Dataset was not found"), {}
            return self._dataset_page(run.items, query)
        return 404, _error("page-not-found", f"the stand-in does not serve {method} {path}"), {}

    @staticmethod
    def _dataset_page(items: list[dict], query: dict[str, str]) -> tuple[int, Any, dict[str, str]]:
        offset = int(query.get("offset") or 0)
        limit = int(query.get("limit") or 0) or NO_LIMIT
        if query.get("clean") in ("1", "true"):
            items = [item for item in items if item]
        ordered = list(reversed(items)) if query.get("desc") in ("1", "true") else items
        page = ordered[offset : offset + limit]
        headers = {
            "X-Apify-Pagination-Offset": str(offset),
            "X-Apify-Pagination-Limit": str(limit),
            "X-Apify-Pagination-Count": str(len(page)),
            "X-Apify-Pagination-Total": str(len(items)),
            "X-Apify-Pagination-Desc": "true" if query.get("desc") in ("1", "true") else "false",
        }
        return 200, page, headers

    def _read_body(self) -> Any:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            raw = self._read_chunked()
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not raw:
            return None
        encoding = self.headers.get("Content-Encoding", "").lower()
        if encoding == "gzip":
            raw = gzip.decompress(raw)
        elif encoding == "deflate":
            raw = zlib.decompress(raw)
        try:
            return json.loads(raw)
        except ValueError:
            return raw.decode("utf-8", "replace")

    def _read_chunked(self) -> bytes:
        chunks = []
        while True:
            size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                self.rfile.readline()
                return b"".join(chunks)
            chunks.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, status: int, payload: Any, headers: dict[str, str]) -> None:
        data = json.dumps(payload).encode("utf-8")
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a stalled request past its timeout)


def _error(error_type: str, message: str) -> dict:
    return {"error": {"type": error_type, "message": message}}


# --------------------------------------------------------------------------------------------------
# Fixture data: a small fake Twitter with the shapes of apidojo/tweet-scraper items
# --------------------------------------------------------------------------------------------------


def make_tweet(
    tweet_id: int | str,
    text: str,
    *,
    likes: int,
    retweets: int = 20,
    author: str = "someone",
    followers: int = 1500,
    conversation_id: int | str | None = None,
    in_reply_to_id: int | str | None = None,
    created_at: str = "Thu Oct 02 07:11:55 +0000 2025",
) -> dict:
    """One item shaped like apidojo/tweet-scraper's output (the fields replytune reads, and a few more)."""
    tweet_id = str(tweet_id)
    return {
        "type": "tweet",
        "id": tweet_id,
        "url": f"https://x.com/{author}/status/{tweet_id}",
        "text": text,
        "fullText": text,
        "retweetCount": retweets,
        "replyCount": 3,
        "likeCount": likes,
        "quoteCount": 0,
        "viewCount": likes * 40,
        "createdAt": created_at,
        "lang": "en",
        "isReply": in_reply_to_id is not None,
        "inReplyToId": str(in_reply_to_id) if in_reply_to_id is not None else None,
        "conversationId": str(conversation_id or tweet_id),
        "author": {"type": "user", "userName": author, "id": str(zlib.crc32(author.encode())), "followers": followers},
        "entities": {"hashtags": [], "urls": [], "user_mentions": []},
        "isRetweet": False,
        "isQuote": False,
        "media": [],
    }


def default_fake_twitter(queries: int = 2, roots_per_query: int = 3, replies_per_root: int = 4) -> FakeTwitter:
    """Roots per search term (plus a low-like tweet and a reply that must not be picked as roots), replies per
    conversation; the last root of each query needs the `conversation_id:` fallback; one term finds nothing."""
    fake = FakeTwitter()
    next_id = 1_970_000_000_000_000_000
    for query_index in range(queries):
        term = f"topic{query_index}"
        items = []
        for root_index in range(roots_per_query):
            next_id += 1000
            root_id = next_id
            root = make_tweet(
                root_id, f"{term} root {root_index}: a question about tuning", likes=300 + 100 * root_index
            )
            items.append(root)
            replies = [root]  # a conversation_id search returns the root too
            for reply_index in range(replies_per_root):
                reply_id = root_id + 1 + reply_index
                replies.append(
                    make_tweet(
                        reply_id,
                        f"reply {reply_index} to {root_id}: a thoughtful answer with details",
                        likes=10 + reply_index,
                        author=f"replier{reply_index}",
                        conversation_id=root_id,
                        in_reply_to_id=root_id,
                        created_at="Thu Oct 02 08:11:55 +0000 2025",
                    )
                )
            fake.conversations[str(root_id)] = replies
            if root_index == roots_per_query - 1:
                fake.conversation_ids_unsupported.add(str(root_id))
        next_id += 1000
        items.append(make_tweet(next_id, f"{term}: too few likes to be a root", likes=3))
        items.append(
            make_tweet(
                next_id + 1,
                f"{term}: a reply found by search",
                likes=900,
                in_reply_to_id=next_id,
                conversation_id=next_id,
            )
        )
        fake.search_results[term] = items
    fake.search_results["nothing-matches"] = []
    return fake
