"""`python -m standins.hub [--port N]`: the Hub stand-in on its own, to run stages by hand against it."""

from __future__ import annotations

import argparse
import time

from standins.hub.model import TOKEN, USER
from standins.hub.server import HubStandIn


def serve(argv: list[str] | None = None) -> None:
    """`python -m standins.hub [--port N]`: the stand-in on its own, until Ctrl-C, to run stages by hand against
    it. Everything lives in memory: pushed repos are gone when it stops."""
    parser = argparse.ArgumentParser(prog="python -m standins.hub", description=serve.__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8123)
    args = parser.parse_args(argv)
    with HubStandIn(args.host, args.port) as hub:
        print(
            f"Hub stand-in at {hub.url} (Ctrl-C stops it). In another terminal:\n"
            f"  export HF_ENDPOINT={hub.url} HF_TOKEN={TOKEN} HF_HUB_DISABLE_XET=1\n"
            f"Repos without a namespace belong to {USER}.",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


if __name__ == "__main__":
    serve()
