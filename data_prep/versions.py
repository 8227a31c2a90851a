"""Reading a dataset version back: a folder written by `data_prep build` (or `curate pull`), or a Hub repo at a tag.

    DIR/vN, DIR@vN, DIR (its latest vN), or OWNER/NAME@vN (downloaded with huggingface_hub)

A version is its parquet splits (data/<split>-00000-of-00001.parquet, every column of replytune/schema.py), the
resolved config that built it (config.yaml) and its report.json; anything less is refused with a message that names
what is missing.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from data_prep.config import DataPrepConfig
from data_prep.publish import PublishError, check_version_name, next_local_version
from data_prep.split import SPLITS
from replytune import schema as col
from replytune.errors import InputError
from replytune.secrets import get_secret, redact
from replytune.yaml_config import parse_dataclass, read_yaml


@dataclass
class DatasetVersion:
    """A data_prep version as read back: its rows per split, the config that built it, and its report."""

    source: str  # what pull can load again: an absolute folder, or REPO@vN
    version: str
    folder: Path
    rows: dict[str, list[dict]]  # split -> rows, in the version's order
    config: DataPrepConfig
    config_dict: dict
    report: dict
    hub_repo: str | None = None

    @property
    def number(self) -> int:
        return int(self.version[1:])


_SPLIT_FILE = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-\d{5}-of-\d{5}\.parquet$")


def is_hub_repo_id(name: str) -> bool:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def is_version_name(name: str) -> bool:
    try:
        check_version_name(name)
    except PublishError:
        return False
    return True


def _split_spec(spec: str) -> tuple[str, str | None]:
    base, at, version = spec.rpartition("@")
    if at and is_version_name(version):
        return base, version
    return spec, None


def _version_folder(path: Path, version: str | None) -> Path:
    if version:
        return path / version
    if (path / "data").is_dir():
        return path
    latest = int(next_local_version(path)[1:]) - 1
    if latest < 1:
        raise InputError(f"{path}: neither a data_prep version folder (no data/) nor a folder of versions v1, v2, ...")
    return path / f"v{latest}"


def load_version(spec: str) -> DatasetVersion:
    """A local version folder (DIR/vN, DIR@vN, or DIR for its latest version) or a Hub dataset REPO@vN."""
    base, version = _split_spec(spec)
    hub_repo = None
    if Path(base).exists():
        folder = _version_folder(Path(base).resolve(), version)
        if not folder.is_dir():
            raise InputError(f"{folder}: no such version folder")
        version = version or folder.name
        source = str(folder)
    elif is_hub_repo_id(base):
        if not version:
            raise InputError(f"{base}: no such folder; for a Hub dataset, name its version: {base}@v1")
        from huggingface_hub import snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError, RevisionNotFoundError

        try:
            folder = Path(snapshot_download(base, repo_type="dataset", revision=version, token=get_secret("HF_TOKEN")))
        except (RepositoryNotFoundError, RevisionNotFoundError, HfHubHTTPError, OSError) as error:
            raise InputError(redact(f"{base}@{version}: cannot download it from the Hub: {error}")) from None
        hub_repo, source = base, f"{base}@{version}"
    else:
        raise InputError(f"--dataset {spec}: no such folder, and not a Hub dataset name (OWNER/NAME@vN)")
    if not is_version_name(version):
        raise InputError(f"{folder}: the folder of a version is named v1, v2, ... (got {version!r})")
    for name in ("config.yaml", "report.json"):
        if not (folder / name).is_file():
            raise InputError(f"{folder}: no {name}: not a version written by `python -m data_prep build` or pull")
    config_dict = read_yaml(folder / "config.yaml")
    config = parse_dataclass(DataPrepConfig, config_dict, where=str(folder / "config.yaml"))
    try:
        report = json.loads((folder / "report.json").read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise InputError(f"{folder / 'report.json'}: not valid JSON: {error}") from None
    return DatasetVersion(source, version, folder, _read_rows(folder), config, config_dict, report, hub_repo)


def _split_order(file: Path) -> tuple[int, str]:
    """train, eval, test first (the build's order), then any other split by name."""
    split = file.name.split("-", 1)[0]
    return (SPLITS.index(split) if split in SPLITS else len(SPLITS), file.name)


def _read_rows(folder: Path) -> dict[str, list[dict]]:
    import pyarrow.parquet as pq

    rows: dict[str, list[dict]] = {}
    files = sorted((folder / "data").glob("*.parquet"), key=_split_order)
    if not files:
        empty = (folder / "report.json").is_file() and not any((folder / "data").glob("*"))
        reason = "it holds no pair (see its report.json for where every record went)" if empty else "no parquet files"
        raise InputError(f"{folder / 'data'}: {reason}")
    for file in files:
        match = _SPLIT_FILE.match(file.name)
        if not match:
            raise InputError(f"{file}: not named <split>-00000-of-00001.parquet")
        table = pq.read_table(file)
        missing = [name for name in col.PAIR_COLUMNS if name not in table.column_names]
        if missing:
            raise InputError(f"{file}: missing column(s) {', '.join(missing)} (see replytune/schema.py)")
        rows.setdefault(match.group("split"), []).extend(table.select(list(col.PAIR_COLUMNS)).to_pylist())
    return rows
