"""The pytest wiring of the Hub stand-in (standins/hub): the `hub_endpoint` fixture, and the patches that point
huggingface_hub, datasets and transformers at it and give each test its own caches. See `point_clients_at` for the
full list of what is patched."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from standins.hub import TOKEN, HubStandIn


def _datasets_config():
    """datasets.config, imported now if datasets is installed, else None.

    It must be imported before the environment is patched: it reads the environment once, at import, and
    monkeypatch has to remember (and restore) the values derived from the real environment, not this test's.
    """
    if importlib.util.find_spec("datasets") is None:
        return None
    import datasets.config

    return datasets.config


def point_clients_at(monkeypatch: pytest.MonkeyPatch, url: str, token: str = TOKEN) -> None:
    """Aim huggingface_hub, datasets and transformers at `url`, for this test only.

    Setting HF_ENDPOINT is not enough once the libraries are imported: huggingface_hub copies it into
    `constants.ENDPOINT` and `HUGGINGFACE_CO_URL_TEMPLATE` at import, its module-level `HfApi` (behind
    `huggingface_hub.file_exists`, `create_repo`, ..., which peft uses) froze its endpoint when created, and
    `datasets.config` copies HF_ENDPOINT too. Each of those is patched here.
    """
    from huggingface_hub import HfFileSystem, constants, hf_api
    from huggingface_hub.utils import _http

    datasets_config = _datasets_config()
    for name, value in {
        "HF_ENDPOINT": url,
        "HF_TOKEN": token,
        "HF_HUB_DISABLE_XET": "1",  # hf_xet is installed; Xet uploads/downloads would bypass this server
        "HF_HUB_DISABLE_TELEMETRY": "1",
    }.items():
        monkeypatch.setenv(name, value)
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "HUGGING_FACE_HUB_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    for name in ("NO_PROXY", "no_proxy"):  # a CI proxy for the package registries must not capture loopback
        monkeypatch.setenv(name, ",".join(filter(None, [os.environ.get(name), "127.0.0.1,localhost"])))

    monkeypatch.setattr(constants, "ENDPOINT", url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_URL_HOSTS", constants.HF_URL_HOSTS | {"127.0.0.1"})
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_TELEMETRY", True)
    monkeypatch.setattr(hf_api.api, "endpoint", url)
    transformers_hub = sys.modules.get("transformers.utils.hub")
    if transformers_hub is not None:  # its shared HfApi is created lazily, from constants.ENDPOINT: drop it
        monkeypatch.setattr(transformers_hub, "_hf_api", None)
    if datasets_config is not None:
        monkeypatch.setattr(datasets_config, "HF_ENDPOINT", url)
        monkeypatch.setattr(datasets_config, "HUB_DATASETS_URL", url + "/datasets/{repo_id}/resolve/{revision}/{path}")
        monkeypatch.setattr(datasets_config, "HF_HUB_OFFLINE", False)
        monkeypatch.setattr(datasets_config, "HF_DATASETS_OFFLINE", False)
        # load_dataset(repo) on "main" asks the dataset viewer at http://datasets-server.<endpoint host>, which is
        # not loopback and does not exist here: use the pushed files' own metadata instead.
        monkeypatch.setattr(datasets_config, "USE_PARQUET_EXPORT", False)
    # Cached clients and filesystems remember the old endpoint (and pooled connections to dead servers).
    _http.close_session()
    HfFileSystem.clear_instance_cache()


def isolate_hf_caches(monkeypatch: pytest.MonkeyPatch, root: Path) -> None:
    """Give this test its own HF_HOME: hub, datasets, assets, xet caches and token file, env and constants."""
    from huggingface_hub import constants

    datasets_config = _datasets_config()
    root = Path(root)
    paths = {"HF_HOME": root, "HF_HUB_CACHE": root / "hub", "HF_DATASETS_CACHE": root / "datasets"}
    paths.update(HF_ASSETS_CACHE=root / "assets", HF_XET_CACHE=root / "xet", HF_TOKEN_PATH=root / "token")
    for name, path in paths.items():
        monkeypatch.setenv(name, str(path))
    for name in ("HF_HOME", "HF_HUB_CACHE", "HF_ASSETS_CACHE", "HF_XET_CACHE", "HF_TOKEN_PATH"):
        monkeypatch.setattr(constants, name, str(paths[name]))
    monkeypatch.setattr(constants, "HUGGINGFACE_HUB_CACHE", str(paths["HF_HUB_CACHE"]))
    monkeypatch.setattr(constants, "HUGGINGFACE_ASSETS_CACHE", str(paths["HF_ASSETS_CACHE"]))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(root / "stored_tokens"))
    if datasets_config is not None:
        downloads = paths["HF_DATASETS_CACHE"] / datasets_config.DOWNLOADED_DATASETS_DIR
        monkeypatch.setattr(datasets_config, "HF_CACHE_HOME", str(root))
        monkeypatch.setattr(datasets_config, "HF_DATASETS_CACHE", paths["HF_DATASETS_CACHE"])
        monkeypatch.setattr(datasets_config, "HF_MODULES_CACHE", root / "modules")
        monkeypatch.setattr(datasets_config, "DOWNLOADED_DATASETS_PATH", downloads)
        monkeypatch.setattr(
            datasets_config, "EXTRACTED_DATASETS_PATH", downloads / datasets_config.EXTRACTED_DATASETS_DIR
        )


@pytest.fixture
def hub_endpoint(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """A fresh HubStandIn per test, with every client pointed at it and caches under tmp_path/hf_home."""
    from huggingface_hub.utils import _http

    with HubStandIn() as hub:
        point_clients_at(monkeypatch, hub.url)
        isolate_hf_caches(monkeypatch, tmp_path / "hf_home")
        try:
            yield hub
        finally:
            _http.close_session()  # lets the server's keep-alive handler threads finish before shutdown
            transformers_hub = sys.modules.get("transformers.utils.hub")
            if transformers_hub is not None:  # if transformers was first imported in this test, its shared HfApi
                transformers_hub._hf_api = None  # was built for this server; the next user rebuilds it
    if hub.errors:
        pytest.fail("the Hub stand-in crashed:\n" + "\n".join(hub.errors), pytrace=False)
