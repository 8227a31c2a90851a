"""Reading a data_prep version back: a folder written by `data_prep build` (or `curate pull`), or a Hub repo at a
revision, named by a spec as replytune/versions.py resolves it (DIR/vN, DIR@vN, DIR for its latest version, REPO@vN,
REPO@main, REPO for its latest vN tag).

A version is its parquet splits (data/<split>-00000-of-00001.parquet, every column of replytune/schema.py), the
resolved config that built it (config.yaml) and its report.json; anything less is refused with a message that names
what is missing.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from data_prep.config import DataPrepConfig
from data_prep.split import SPLITS
from replytune import schema as col
from replytune.errors import InputError
from replytune.versions import fetch, read_splits, resolve, version_number
from replytune.yaml_config import parse_dataclass, read_yaml


@dataclass
class DatasetVersion:
    """A data_prep version as read back: its rows per split, the config that built it, and its report."""

    source: str  # what pull can load again: an absolute folder, or REPO@revision
    version: str  # vN, or the Hub revision it was read at (main, a sha)
    folder: Path
    rows: dict[str, list[dict]]  # split -> rows, in the version's order
    config: DataPrepConfig
    config_dict: dict
    report: dict
    hub_repo: str | None = None

    @property
    def number(self) -> int | None:
        """N of a version named vN; None for one read at another revision (main, a sha)."""
        return version_number(self.version)


def load_version(spec: str) -> DatasetVersion:
    """The version `spec` names, with its rows (every pair column), config and report. Raises InputError."""
    resolved = resolve(spec)
    folder = fetch(resolved)
    for name in ("config.yaml", "report.json"):
        if not (folder / name).is_file():
            raise InputError(f"{folder}: no {name}: not a version written by `python -m data_prep build` or pull")
    config_dict = read_yaml(folder / "config.yaml")
    config = parse_dataclass(DataPrepConfig, config_dict, where=str(folder / "config.yaml"))
    try:
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{folder / 'report.json'}: not valid JSON: {error}") from None
    rows = read_splits(folder, col.PAIR_COLUMNS, SPLITS)
    source = resolved.name if resolved.repo_id else str(folder)
    return DatasetVersion(source, resolved.version, folder, rows, config, config_dict, report, resolved.repo_id)


def add_new_version_arguments(parser: argparse.ArgumentParser, written: str) -> None:
    """Where a command that writes a new version (build, preferences) puts it: the same flags and words for each."""
    parser.add_argument("--output", type=Path, required=True, help=f"{written} is written to OUTPUT/vN/")
    parser.add_argument("--push-to-hub", metavar="REPO", default=None, help="also push to this Hub dataset repo")
    parser.add_argument("--version", default=None, help="vN (default: the next free one in OUTPUT; required to push)")
    parser.add_argument(
        "--allow-public-repo",
        action="store_true",
        help="push even into an existing public repo (default: refuse; same as output.allow_public_repo: true)",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
