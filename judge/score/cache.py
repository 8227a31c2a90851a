"""The on-disk cache of judge requests: a rerun of the same judgement costs nothing and sends nothing.

The key is a SHA-256 of (judge, model, prompt version, the full request as sent, where it is sent), so any change to
the rubric, the examples, the model, the settings, the texts judged or the endpoint (a stand-in's answers never
answer for the real API) makes a new key; a local judge's request holds a hash of its weights and prompt texts.
Each entry is one JSON file, written atomically, holding the request and the provider's response body; never a key
or a header. An unreadable entry counts as a miss.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from replytune.files import write_json_atomically

logger = logging.getLogger(__name__)


def cache_key(judge: str, model: str, prompt_version: str, request: dict[str, Any], endpoint: str = "") -> str:
    payload = json.dumps([judge, model, prompt_version, request, endpoint], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class ResponseCache:
    def __init__(self, folder: str | Path):
        self.folder = Path(folder).expanduser()

    def path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> dict[str, Any] | None:
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            entry = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
            logger.warning("cache entry %s is unreadable (%s): judging again", path, error)
            return None
        return entry if isinstance(entry, dict) and "response" in entry else None

    def put(self, key: str, entry: dict[str, Any]) -> None:
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomically(path, entry)
