"""A REAL argilla-server for the tests: `python -m data_prep.argilla_local` from the argilla venv on a free loopback
port, one per test session (the `argilla_server` fixture, imported by conftest.py).

It is the same launcher as `make argilla`: SQLite under a temporary home, Redis (Debian's redis-server, else
fakeredis), the in-process search engine. Where the argilla venv (`make install` creates `.venv-argilla`) or any
Redis is missing, the tests that use it skip with that reason; CI has both (.ci/run installs redis-server).
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.paths import REPO_ROOT

ARGILLA_PYTHON = REPO_ROOT / ".venv-argilla" / "bin" / "python"
API_KEY = "replytune-test-owner-key"
PASSWORD = "owner-password-1234"
START_TIMEOUT_S = 180  # a cold start imports argilla_server (~5 s quiet, much longer on a loaded 2-core machine)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_available() -> str | None:
    """Why no Redis can back the server, or None."""
    if shutil.which("redis-server"):
        return None
    found = subprocess.run([str(ARGILLA_PYTHON), "-c", "import fakeredis"], capture_output=True).returncode == 0
    return None if found else "neither redis-server nor fakeredis (in .venv-argilla) is installed"


@dataclass
class LocalArgilla:
    home: Path
    port: int = field(default_factory=free_port)
    api_key: str = API_KEY
    password: str = PASSWORD
    process: subprocess.Popen | None = None
    starts: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.home.parent / f"{self.home.name}-server.log"

    def start(self) -> LocalArgilla:
        command = [str(ARGILLA_PYTHON), "-m", "data_prep.argilla_local", "--home", str(self.home)]
        command += ["--port", str(self.port), "--api-key", self.api_key, "--password", self.password]
        with open(self.log_path, "a", encoding="utf-8") as log:
            self.process = subprocess.Popen(command, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT)
        self.starts += 1
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"argilla-server exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/api/v1/status", headers={"X-Argilla-Api-Key": self.api_key}).is_success:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"argilla-server was not ready after {START_TIMEOUT_S} s:\n{self.log_tail()}")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGINT)  # what Ctrl-C sends: uvicorn shuts down, the launcher stops Redis
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def restart(self) -> LocalArgilla:
        """Stop and start again on the same home and port: the search index is rebuilt from the database."""
        self.stop()
        return self.start()

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


@pytest.fixture(scope="session")
def argilla_server(tmp_path_factory) -> LocalArgilla:
    """A running argilla-server (owner key `api_key`, password `password`); skips where it cannot run here."""
    if not ARGILLA_PYTHON.exists():
        pytest.skip(f"no argilla venv at {ARGILLA_PYTHON}: `make install` creates it (argilla-server 2.8.0)")
    reason = redis_available()
    if reason:
        pytest.skip(f"argilla-server needs Redis: {reason}")
    server = LocalArgilla(home=tmp_path_factory.mktemp("argilla") / "home").start()
    yield server
    server.stop()
