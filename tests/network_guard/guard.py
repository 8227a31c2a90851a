"""Refuse network connections beyond loopback, in the test process and in the subprocesses it starts."""

from __future__ import annotations

import ipaddress
import os
import socket

_ALLOWED_HOSTS = {"localhost", "localhost.localdomain", ""}


class NetworkAccessBlocked(ConnectionRefusedError):
    """Raised instead of connecting anywhere but loopback."""


def is_loopback(address) -> bool:
    if isinstance(address, (str, bytes)):  # AF_UNIX paths
        return True
    host = address[0] if isinstance(address, tuple) and address else address
    if isinstance(host, bytes):
        host = host.decode()
    if host in _ALLOWED_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False  # a host name other than localhost: it would be resolved and reached


_attempts: list[str] = []
_log_path: str | None = None
_installed = False


def _record(address) -> None:
    description = f"pid {os.getpid()} tried to connect to {address!r}"
    _attempts.append(description)
    if _log_path:
        with open(_log_path, "a", encoding="utf-8") as log:
            log.write(description + "\n")


def install(log_path: str | None = None) -> None:
    """Patch socket connects (idempotent); attempts are kept in memory and appended to `log_path`."""
    global _log_path, _installed
    _log_path = log_path or _log_path
    if _installed:
        return
    _installed = True
    original_connect = socket.socket.connect
    original_connect_ex = socket.socket.connect_ex

    def guarded_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
            _record(address)
            raise NetworkAccessBlocked(f"test network guard: connection to {address!r} refused (loopback only)")
        return original_connect(sock, address)

    def guarded_connect_ex(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not is_loopback(address):
            _record(address)
            raise NetworkAccessBlocked(f"test network guard: connection to {address!r} refused (loopback only)")
        return original_connect_ex(sock, address)

    socket.socket.connect = guarded_connect
    socket.socket.connect_ex = guarded_connect_ex


def take_attempts() -> list[str]:
    """The attempts recorded in this process since the last call."""
    attempts = list(_attempts)
    _attempts.clear()
    return attempts
