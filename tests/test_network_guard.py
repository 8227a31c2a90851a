"""The guard that keeps the suite offline: nothing beyond loopback, in process or in subprocesses."""

import os
import socket
import subprocess
import sys

import pytest

from tests.network_guard import guard

UNROUTABLE = ("10.255.255.1", 443)  # never reached: the guard refuses before the kernel sees it


def test_in_process_connection_beyond_loopback_is_refused_and_recorded(tmp_path, monkeypatch):
    # Log to a file of this test's own: the session's log would (rightly) fail this test at teardown.
    monkeypatch.setattr(guard, "_log_path", str(tmp_path / "attempts.log"))
    with socket.socket() as sock, pytest.raises(guard.NetworkAccessBlocked):
        sock.connect(UNROUTABLE)
    expected = f"pid {os.getpid()} tried to connect to {UNROUTABLE!r}"
    assert guard.take_attempts() == [expected]
    assert (tmp_path / "attempts.log").read_text() == expected + "\n"


def test_loopback_is_allowed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=5):
            pass
    assert guard.take_attempts() == []


def test_subprocess_attempts_are_refused_and_logged(tmp_path):
    log_path = tmp_path / "attempts.log"
    code = (
        "import socket\n"
        "try:\n"
        f"    socket.create_connection({UNROUTABLE!r}, timeout=5)\n"
        "except ConnectionRefusedError as error:\n"
        "    print('refused:', error)\n"  # swallowed, as some clients do: the log still tells
    )
    env = dict(os.environ, REPLYTUNE_NETWORK_GUARD_LOG=str(log_path))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert "refused: test network guard" in result.stdout, result.stderr
    assert "10.255.255.1" in log_path.read_text()
