"""Shared test setup: offline by default, a network guard, and fixtures every stage reuses."""

import os
from pathlib import Path

# Set before any Hugging Face library is imported: they read these once, at import time.
os.environ.update(
    {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",
        "DO_NOT_TRACK": "1",
        "WANDB_MODE": "offline",
        "TOKENIZERS_PARALLELISM": "false",
    }
)
from replytune.secrets import SECRET_NAMES  # noqa: E402  (light: dotenv only)

for secret in (*SECRET_NAMES, "ARGILLA_API_URL"):
    os.environ.pop(secret, None)  # a developer's real secrets never reach a test

import pytest  # noqa: E402

from tests.argilla_server import argilla_server  # noqa: E402, F401  (a real argilla-server, one per session)
from tests.browser import browser  # noqa: E402, F401  (headless Debian chromium for the web-UI tests)
from tests.network_guard import guard  # noqa: E402
from tests.paths import REPO_ROOT, realdata_path  # noqa: E402
from tests.stand_ins.hub import hub_endpoint  # noqa: E402, F401  (a fixture every publishing test reuses)


@pytest.fixture(scope="session", autouse=True)
def _network_guard_for_subprocesses(tmp_path_factory):
    """Subprocesses load tests/network_guard/sitecustomize.py, which logs refused connections here."""
    log_path = tmp_path_factory.mktemp("network_guard") / "attempts.log"
    log_path.touch()
    guard_dir = str(REPO_ROOT / "tests" / "network_guard")
    os.environ["PYTHONPATH"] = os.pathsep.join(
        p for p in (guard_dir, str(REPO_ROOT), os.environ.get("PYTHONPATH")) if p
    )
    os.environ["REPLYTUNE_NETWORK_GUARD_LOG"] = str(log_path)
    guard.install(str(log_path))
    return log_path


@pytest.fixture(scope="session", autouse=True)
def _embedding_export_cache(tmp_path_factory):
    """The ONNX export of the embedding model (data_prep/onnx_embeddings.py) is made once per session, here, never
    in the user's ~/.cache; subprocesses inherit the variable."""
    os.environ["REPLYTUNE_CACHE_DIR"] = str(tmp_path_factory.mktemp("replytune_cache"))


@pytest.fixture(autouse=True)
def network_guard(_network_guard_for_subprocesses):
    """Fail any test that tried to open a connection beyond loopback, even if the code swallowed the error."""
    log_path = _network_guard_for_subprocesses
    already_logged = log_path.stat().st_size
    guard.take_attempts()
    yield
    in_process = guard.take_attempts()
    with open(log_path, encoding="utf-8") as log:
        log.seek(already_logged)
        logged = log.read().splitlines()
    attempts = sorted(set(in_process) | set(logged))
    if attempts:
        pytest.fail("network access beyond loopback:\n" + "\n".join(attempts), pytrace=False)


@pytest.fixture(scope="session")
def tiny_qwen3_dir(tmp_path_factory) -> Path:
    """A tiny random Qwen3 + trained tokenizer saved once per session; treat it as read-only."""
    from standins.tiny_models import save_tiny_qwen3

    return save_tiny_qwen3(tmp_path_factory.mktemp("tiny_qwen3"))


@pytest.fixture(scope="session")
def real_qwen3_tokenizer():
    """The real Qwen3 tokenizer from ../shared/realdata; tests using it skip, with the reason, where absent."""
    from tests.tiny_models import load_real_qwen3_tokenizer

    return load_real_qwen3_tokenizer()


@pytest.fixture
def realdata() -> Path:
    """../shared/realdata, or a skip with the reason where it is absent."""
    return realdata_path()
