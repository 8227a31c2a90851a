"""`make argilla`: argilla-server on 127.0.0.1 with SQLite, Redis and the in-process search engine, until Ctrl-C.

Run with the argilla venv's Python from the repository root (`.venv-argilla/bin/python -m data_prep.argilla_local`).
Settings come from flags, else the environment or `.env`:

    ARGILLA_PORT       port (default 6900)
    ARGILLA_API_KEY    the owner's API key (default: drawn at the first start and kept in HOME/credentials.json)
    ARGILLA_PASSWORD   the owner's password for the web UI (same default)
    ARGILLA_HOME_PATH  SQLite database and server files (default: ./.argilla)

Start-up: Redis (Debian's `redis-server` on a private Unix socket where it is installed, else in-process fakeredis),
database migrations, the owner account (user `owner`, workspace `argilla`), then uvicorn with ONE worker: the
search index lives in the server process and is rebuilt from the database at each start.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from replytune.secrets import load_dotenv_file

DEFAULT_PORT = 6900
OWNER = "owner"
WORKSPACE = "argilla"
_LOGGER = logging.getLogger("data_prep.argilla_local")


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    load_dotenv_file()
    parser = argparse.ArgumentParser(
        prog="python -m data_prep.argilla_local", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: %(default)s)")
    parser.add_argument("--port", type=int, default=int(os.environ.get("ARGILLA_PORT") or DEFAULT_PORT))
    parser.add_argument("--home", type=Path, default=Path(os.environ.get("ARGILLA_HOME_PATH") or ".argilla"))
    parser.add_argument("--api-key", default=os.environ.get("ARGILLA_API_KEY") or None)
    parser.add_argument("--password", default=os.environ.get("ARGILLA_PASSWORD") or None)
    parser.add_argument("--redis", choices=("auto", "redis-server", "fakeredis"), default="auto")
    args = parser.parse_args(argv)
    if args.api_key is not None and len(args.api_key) < 8:
        parser.error("ARGILLA_API_KEY must be at least 8 characters")
    if args.password is not None and len(args.password) < 8:
        parser.error("ARGILLA_PASSWORD must be at least 8 characters (argilla-server's rule)")
    return args


def check_port_free(host: str, port: int) -> None:
    import socket

    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds: a restart may reuse the port
        try:
            probe.bind((host, port))
        except OSError as error:
            message = f"cannot listen on {host}:{port} ({error.strerror}): set ARGILLA_PORT to a free port"
            raise SystemExit(message) from None


def _die_with_parent() -> None:
    """Ask Linux to stop the child when this launcher dies, even by SIGKILL (no orphaned redis-server)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def start_redis(mode: str) -> tuple[str, Callable[[], None]]:
    """A Redis for argilla-server's job queues: its URL and how to stop it."""
    binary = shutil.which("redis-server")
    if mode == "redis-server" and not binary:
        raise SystemExit("--redis redis-server: no redis-server on PATH (Debian: apt-get install redis-server)")
    if binary and mode != "fakeredis":
        # A Unix socket in a short private folder: no TCP port to collide with, and no path-length trouble.
        folder = Path(tempfile.mkdtemp(prefix="replytune-redis-"))
        socket_path = folder / "redis.sock"
        command = [binary, "--port", "0", "--unixsocket", str(socket_path), "--unixsocketperm", "700"]
        command += ["--save", "", "--appendonly", "no", "--dir", str(folder), "--loglevel", "warning"]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, preexec_fn=_die_with_parent)
        deadline = time.monotonic() + 15
        while not socket_path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise SystemExit(f"redis-server did not start (exit status {process.poll()})")
            time.sleep(0.05)

        def stop() -> None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
            shutil.rmtree(folder, ignore_errors=True)

        return f"unix://{socket_path}", stop
    try:
        import fakeredis
        import redis
    except ImportError:
        raise SystemExit(
            "argilla-server needs Redis: install Debian's redis-server, or fakeredis in the argilla venv"
        ) from None
    # argilla_server connects with redis.from_url(ARGILLA_REDIS_URL) when it is imported: hand it an in-process one.
    server = fakeredis.FakeServer()
    redis.from_url = lambda url, **kwargs: fakeredis.FakeRedis(server=server, **kwargs)
    return "redis://fakeredis:6379/0", lambda: None


def configure_environment(home: Path, redis_url: str) -> None:
    """argilla-server reads its settings from ARGILLA_* variables when it is first imported."""
    os.environ.update(
        {
            "ARGILLA_HOME_PATH": str(home),
            "ARGILLA_DATABASE_URL": f"sqlite+aiosqlite:///{home / 'argilla.db'}",
            "ARGILLA_SEARCH_ENGINE": "inprocess",
            "ARGILLA_REDIS_URL": redis_url,
            "HF_HUB_DISABLE_TELEMETRY": "1",
        }
    )
    # The server copies its web UI into a fresh temporary folder at every start and never removes it: keep those
    # copies in one folder under HOME that each start clears.
    scratch = home / "tmp"
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    tempfile.tempdir = str(scratch)


def migrate_database() -> None:
    import logging.config
    from unittest import mock

    import alembic.config
    from argilla_server.database import ALEMBIC_CONFIG_FILE

    # argilla's alembic env.py installs its own logging config, which prints every migration step at INFO
    with mock.patch.object(logging.config, "fileConfig"):
        logging.getLogger("alembic").setLevel(logging.WARNING)
        alembic.config.main(argv=["-c", ALEMBIC_CONFIG_FILE, "--raiseerr", "upgrade", "head"])


async def ensure_owner(home: Path, api_key: str | None, password: str | None) -> dict[str, str]:
    """Create the owner and its workspace on the first start; apply a changed key or password on later ones.

    Returns the credentials to print. Drawn credentials are kept in HOME/credentials.json (mode 600), because the
    database stores only a hash of the password.
    """
    from argilla_server.contexts import accounts
    from argilla_server.database import AsyncSessionLocal
    from argilla_server.models import UserRole, Workspace

    credentials_path = home / "credentials.json"
    stored = json.loads(credentials_path.read_text()) if credentials_path.is_file() else {}
    async with AsyncSessionLocal() as db:
        if await Workspace.get_by(db, name=WORKSPACE) is None:
            await accounts.create_workspace(db, {"name": WORKSPACE})
        owner = await accounts.get_user_by_username(db, OWNER)
        if owner is None:
            password = password or stored.get("password") or secrets.token_urlsafe(12)
            attributes = {"first_name": "Owner", "last_name": None, "username": OWNER, "role": UserRole.owner}
            owner = await accounts.create_user(db, {**attributes, "password": password}, workspaces=[WORKSPACE])
            api_key = api_key or secrets.token_urlsafe(24)
        elif password and not accounts.verify_password(password, owner.password_hash):
            await accounts.update_user(db, owner, {"password": password})
        password = password or stored.get("password", "(set before; see ARGILLA_PASSWORD)")
        if api_key and owner.api_key != api_key:
            await owner.update(db, api_key=api_key)
        credentials = {"username": OWNER, "password": password, "api_key": owner.api_key}
    credentials_path.write_text(json.dumps(credentials, indent=2) + "\n")
    credentials_path.chmod(0o600)
    return credentials


def run_dataset_jobs_in_process() -> None:
    """Run the record-status job in the server's own event loop instead of an rq worker.

    Changing a dataset's distribution (e.g. "2 submissions per record") queues a job that recomputes every record's
    status and updates the search index. A separate rq worker would update its own, empty, in-process index.
    """
    from argilla_server.jobs import dataset_jobs

    job = dataset_jobs.update_dataset_records_status_job
    running: set[asyncio.Task] = set()

    def log_failure(task: asyncio.Task) -> None:
        running.discard(task)
        if not task.cancelled() and task.exception() is not None:
            _LOGGER.error("record status job failed", exc_info=task.exception())

    def delay(*args, **kwargs) -> None:
        task = asyncio.get_running_loop().create_task(job(*args, **kwargs))
        running.add(task)
        task.add_done_callback(log_failure)

    job.delay = delay


def cache_settings_parsers() -> None:
    """Build argilla-server's pydantic settings parsers once instead of once per use.

    It validates every metadata value of every logged record through `MetadataProperty.parsed_settings`, which builds
    a new TypeAdapter each time (~2 ms): about 2 s per 100 records with curation's 12 metadata properties.
    """
    from functools import lru_cache

    from argilla_server.models import database

    database.TypeAdapter = lru_cache(maxsize=None)(database.TypeAdapter)


def announce_when_ready(server, url: str, credentials: dict[str, str], home: Path) -> None:
    def wait_and_print() -> None:
        while not server.started:
            if server.should_exit:
                return
            time.sleep(0.1)
        print(
            f"\nArgilla is running at {url}  (Ctrl-C stops it)\n"
            f"  web UI sign-in: user {credentials['username']}, password {credentials['password']}\n"
            f"  API key:        {credentials['api_key']}\n"
            f"  data:           {home} (SQLite; the search index is rebuilt from it at each start)\n"
            f"In another terminal:\n"
            f"  export ARGILLA_API_URL={url} ARGILLA_API_KEY={credentials['api_key']}\n",
            flush=True,
        )

    threading.Thread(target=wait_and_print, daemon=True).start()


def main(argv: list[str] | None = None) -> int:
    args = parse_arguments(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    for name in ("data_prep", "argilla.inprocess_search"):
        logging.getLogger(name).setLevel(logging.INFO)
    check_port_free(args.host, args.port)
    home = args.home.resolve()
    home.mkdir(parents=True, exist_ok=True)
    redis_url, stop_redis = start_redis(args.redis)
    try:
        configure_environment(home, redis_url)
        migrate_database()
        credentials = asyncio.run(ensure_owner(home, args.api_key, args.password))
        from argilla_server.database import async_engine

        asyncio.run(async_engine.dispose())  # its pooled connections belong to the loop that just closed

        import uvicorn

        from data_prep.argilla_local import search_engine  # noqa: F401  (registers the "inprocess" engine)

        run_dataset_jobs_in_process()
        cache_settings_parsers()
        config = uvicorn.Config(
            "argilla_server:app", host=args.host, port=args.port, workers=1, log_level="warning", access_log=False
        )
        server = uvicorn.Server(config)
        announce_when_ready(server, f"http://{args.host}:{args.port}", credentials, home)
        try:
            server.run()
        except KeyboardInterrupt:  # uvicorn shuts down on Ctrl-C, then re-raises it
            pass
        return 0 if server.started else 1
    finally:
        stop_redis()


if __name__ == "__main__":
    sys.exit(main())
