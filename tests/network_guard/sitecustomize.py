"""Loaded by every Python subprocess a test starts (tests/conftest.py puts this folder on PYTHONPATH).

It refuses any connection beyond loopback and writes the attempt to $REPLYTUNE_NETWORK_GUARD_LOG, which
the test's fixture reads afterwards: a subprocess that swallows the error still fails its test.
"""

import os

if os.environ.get("REPLYTUNE_NETWORK_GUARD_LOG"):
    from tests.network_guard.guard import install

    install(os.environ["REPLYTUNE_NETWORK_GUARD_LOG"])
