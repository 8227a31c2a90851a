"""Files every stage writes and checks: the one atomic writer and the one sha256 of a file.

A report, a checkpoint or a cache entry is written beside its final name, fsynced, then renamed over it: a reader
(or a run that resumes after a kill) sees the old file or the new one, never half of one. A file's sha256 is how
reports, cards and caches name exactly which input they were made from.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any


def write_text_atomically(path: Path, text: str) -> None:
    """Write `text` to a temporary file in the same folder, fsync it, then rename it over `path` (atomic on POSIX)."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    os.replace(temporary, path)


def write_json_atomically(path: Path, data: Any) -> None:
    """`data` as indented JSON (non-ASCII kept as it is), written by `write_text_atomically`."""
    write_text_atomically(path, json.dumps(data, indent=2, ensure_ascii=False) + "\n")


def sha256_of(path: Path) -> str:
    """The hex sha256 of the file's bytes, read in 1 MiB chunks (adapter weights do not fit in memory twice)."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()
