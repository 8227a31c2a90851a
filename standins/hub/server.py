"""The Hub stand-in's server: an in-memory store of repos behind a stdlib HTTP server on loopback."""

from __future__ import annotations

import hashlib
import itertools
import re
import threading
from collections.abc import Callable
from http.server import ThreadingHTTPServer

from standins.hub.model import Blob, Commit, HubError, RecordedRequest, Repo, timestamp
from standins.hub.routes import Handler


class HubStandIn:
    """The server plus its in-memory store. `with HubStandIn() as hub:` or `hub = HubStandIn().start()`."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0):
        self._address = (host, port)  # port 0: the OS picks a free port, so parallel test runs never collide
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.RLock()  # one request at a time touches the store; plenty for tests
        self._repos: dict[tuple[str, str], Repo] = {}
        self._counter = itertools.count()
        self.requests: list[RecordedRequest] = []
        self.errors: list[str] = []  # tracebacks of stand-in bugs (HTTP 500); the fixture fails the test on these
        # Fault injection: called with (method, path) before a request is served; a status it returns is answered
        # instead, and the request changes nothing. None (the default) serves every request. See `fail_requests`.
        self.fault: Callable[[str, str], int | None] | None = None

    # -- lifecycle ---------------------------------------------------------------------------------------------------
    def start(self) -> HubStandIn:
        self._server = ThreadingHTTPServer(self._address, Handler)
        self._server.daemon_threads = True  # idle keep-alive connections must not block interpreter exit
        self._server.hub = self  # type: ignore[attr-defined]
        # A short poll interval makes stop() (and so every test's teardown) take milliseconds instead of 0.5 s.
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="hub-stand-in", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(timeout=10)
            self._server = self._thread = None

    def __enter__(self) -> HubStandIn:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("HubStandIn is not started")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- inspection helpers for tests --------------------------------------------------------------------------------
    def repo_files(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> dict[str, bytes]:
        with self._lock:
            return {p: b.data for p, b in self._get(repo_type, repo_id).resolve(revision).files.items()}

    def lfs_paths(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> set[str]:
        with self._lock:
            return {p for p, b in self._get(repo_type, repo_id).resolve(revision).files.items() if b.lfs}

    def is_private(self, repo_id: str, repo_type: str = "model") -> bool:
        with self._lock:
            return self._get(repo_type, repo_id).private

    def tags(self, repo_id: str, repo_type: str = "model") -> dict[str, str]:
        with self._lock:
            return dict(self._get(repo_type, repo_id).tags)

    def branches(self, repo_id: str, repo_type: str = "model") -> dict[str, str]:
        with self._lock:
            return dict(self._get(repo_type, repo_id).branches)

    def commits(self, repo_id: str, repo_type: str = "model", revision: str = "main") -> list[Commit]:
        with self._lock:
            repo = self._get(repo_type, repo_id)
            return repo.history(repo.resolve(revision))

    def repo_exists(self, repo_id: str, repo_type: str = "model") -> bool:
        with self._lock:
            return (repo_type, repo_id) in self._repos

    def fail_requests(self, method: str, path_pattern: str, status: int = 500, times: int | None = 1) -> None:
        """Answer the next `times` requests (None: all) whose method and path (a regex, searched) match with
        `status`, as a Hub having a bad moment would; `self.fault = None` turns it off."""
        left = [times]

        def rule(request_method: str, path: str) -> int | None:
            if request_method != method or not re.search(path_pattern, path) or left[0] == 0:
                return None
            if left[0] is not None:
                left[0] -= 1
            return status

        self.fault = rule

    # -- store -------------------------------------------------------------------------------------------------------
    def _get(self, repo_type: str, repo_id: str, authorized: bool = True) -> Repo:
        repo = self._repos.get((repo_type, repo_id))
        # A private repo looks exactly like a missing one to an anonymous caller, as on the Hub (401 + RepoNotFound).
        if repo is None or (repo.private and not authorized):
            status = 404 if repo is None or authorized else 401
            raise HubError(status, "RepoNotFound", f"Repository not found: {repo_type} {repo_id}")
        return repo

    def _commit(self, repo: Repo, parent: str | None, files: dict[str, Blob], title: str, message: str = "") -> Commit:
        date = timestamp()
        seed = f"{repo.repo_type}/{repo.repo_id}\n{parent}\n{title}\n{date}\n{next(self._counter)}\n"
        seed += "".join(f"{p} {b.git_oid}\n" for p, b in sorted(files.items()))
        commit = Commit(hashlib.sha1(seed.encode()).hexdigest(), parent, title, message, date, files)
        repo.commits[commit.oid] = commit
        return commit

    def _record(self, method: str, path: str, headers, authorized: bool, status: int) -> None:
        kept = {k: v for k, v in headers.items() if k.lower() != "authorization"}
        self.requests.append(RecordedRequest(method, path, kept, authorized, status))
