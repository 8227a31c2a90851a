"""Which dataset version: the only code that knows `vN`, `X@R`, `latest`, and how a spec resolves.

Every command takes a dataset the same way (data_prep's `--dataset`, the judge's `--dataset` and `--train-dataset`,
the recipe's `dataset_name` with `dataset_revision`):

- a spec is `X` or `X@R`. X is a local folder (a version folder, or a folder of versions v1, v2, ...) or a Hub
  dataset repo (OWNER/NAME). R is a version name vN, `latest`, or, for a Hub repo, any other revision: a branch
  (`main`), a tag or a commit sha. A local folder's versions are only vN and `latest`.
- the `latest` rule: `latest` is the highest vN by number (v10 after v9), among the folder's subfolders that hold a
  dataset, or among the Hub repo's tags. Naming no revision means `latest`, except for a folder that is itself a
  version (data/ or dataset_dict.json in it), which is that version. A Hub repo without a vN tag needs a revision.
- a spec resolves to a `ResolvedVersion`: a local folder, or a Hub repo at a revision (`hub_commit` names the commit
  it points at now). `fetch` brings a Hub version's files here and `read_splits` reads the parquet splits: every
  command reads rows through these (`load_rows` does all three; data_prep's `load_version` adds the build's config
  and report).

Whatever the command, a spec that cannot be resolved raises VersionError with one message: the spec as written, then
the reason and what would work.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from replytune.errors import InputError
from replytune.hub import is_hub_repo_id
from replytune.secrets import get_secret, redact

logger = logging.getLogger(__name__)

LATEST = "latest"
_VERSION_NAME = re.compile(r"^v([1-9][0-9]*)$")
_SPLIT_FILE = re.compile(r"^(?P<split>[A-Za-z0-9_]+)-\d{5}-of-\d{5}\.parquet$")


class VersionError(InputError):
    """A dataset spec that cannot be resolved or read. `spec`: as written; `reason`: why, and what would work."""

    def __init__(self, spec: str, reason: str):
        super().__init__(f"{spec}: {reason}")
        self.spec = spec
        self.reason = reason


# --- version names -------------------------------------------------------------------------------------------------


def version_number(name: str) -> int | None:
    """N for a version name vN (v1, v2, ..., never v0 or v01), else None."""
    match = _VERSION_NAME.match(name)
    return int(match.group(1)) if match else None


def is_version_name(name: str) -> bool:
    return version_number(name) is not None


def check_version_name(name: str) -> None:
    if not is_version_name(name):
        raise VersionError(name, "not a version name: a version is named v1, v2, ...")


def latest_version(names: Iterable[str]) -> str | None:
    """The highest vN among `names` (v10 after v9); None when none is a version name."""
    versions = [name for name in names if is_version_name(name)]
    return max(versions, key=version_number) if versions else None


def next_version(names: Iterable[str]) -> str:
    """One past the highest vN among `names`: v1 when there is none."""
    latest = latest_version(names)
    return f"v{version_number(latest) + 1}" if latest else "v1"


def next_free_revision(repo_id: str, token: str | None, repo_type: str | None = None) -> str:
    """The tag for the next version pushed to a Hub repo: v1 for a new repo, else one past its highest vN tag."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    try:
        tags = [ref.name for ref in HfApi(token=token).list_repo_refs(repo_id, repo_type=repo_type).tags]
    except RepositoryNotFoundError:
        return "v1"
    return next_version(tags)


# --- specs ---------------------------------------------------------------------------------------------------------


def parse_spec(spec: str) -> tuple[str, str | None]:
    """`X@R` -> (X, R); `X` -> (X, None). An existing path is X whole (a folder may be named a@b), and R never holds
    a '/' (then the '@' belongs to a path). Dataset and adapter specs are split by this one rule."""
    base, at, revision = spec.rpartition("@")
    if Path(spec).exists() or not (at and base and revision) or "/" in revision:
        return spec, None
    return base, revision


def is_dataset_folder(folder: Path) -> bool:
    """A version folder: data_prep's layout (data/, as on the Hub) or a `save_to_disk` DatasetDict."""
    return (folder / "data").is_dir() or (folder / "dataset_dict.json").is_file()


@dataclass(frozen=True)
class ResolvedVersion:
    """What a spec names: a local version folder, or a Hub dataset repo at a revision."""

    source: str  # X as written: the folder, or the repo id
    version: str  # the version's name: vN (or a version folder's own name), or the Hub revision (vN, main, a sha)
    folder: Path | None = None  # a local version's folder (absolute)
    repo_id: str | None = None  # a Hub version's repo

    @property
    def name(self) -> str:
        """The spec that names exactly this version again: DIR@vN, REPO@R, or the folder itself."""
        if self.repo_id:
            return f"{self.repo_id}@{self.version}"
        return f"{self.folder.parent}@{self.version}" if is_version_name(self.folder.name) else str(self.folder)


def resolve(spec: str, revision: str | None = None) -> ResolvedVersion:
    """The version `spec` names (`X@R`, or `X` with `revision` given apart, as the recipe's dataset_revision is), by
    the rules in this module's docstring. Raises VersionError."""
    source, revision = (spec, revision) if revision else parse_spec(spec)
    written = f"{source}@{revision}" if revision else source
    path = Path(source)
    if path.exists():
        return ResolvedVersion(source, *_local_version(path.resolve(), revision, written))
    if not is_hub_repo_id(source):
        raise VersionError(written, "no such folder, and not a Hub dataset name (OWNER/NAME[@vN])")
    if revision in (None, LATEST):
        revision = _latest_hub_version(source, written)
    return ResolvedVersion(source, revision, repo_id=source)


def _local_version(path: Path, revision: str | None, written: str) -> tuple[str, Path]:
    if not path.is_dir():
        raise VersionError(written, "a file, not a dataset folder (a `data_prep build --output` folder or its vN)")
    if is_dataset_folder(path):
        if revision not in (None, LATEST, path.name):
            raise VersionError(written, f"{path} is itself a version ({path.name}), not a folder of versions")
        return path.name, path
    if revision not in (None, LATEST) and not is_version_name(revision):
        raise VersionError(written, f"a local folder's versions are named v1, v2, ... or {LATEST}, not {revision!r}")
    held = [child.name for child in path.iterdir() if is_version_name(child.name) and is_dataset_folder(child)]
    if not held:
        raise VersionError(written, "neither a dataset version (no data/ in it) nor a folder of versions v1, v2, ...")
    if revision in (None, LATEST):
        revision = latest_version(held)
    elif revision not in held:
        found = ", ".join(sorted(held, key=version_number))
        raise VersionError(written, f"no version {revision!r}; it holds {found}")
    return revision, path / revision


def _latest_hub_version(repo_id: str, written: str) -> str:
    from huggingface_hub import HfApi

    try:
        refs = HfApi(token=get_secret("HF_TOKEN")).list_repo_refs(repo_id, repo_type="dataset")
    except Exception as error:  # the repo does not exist, no connection, offline mode
        reason = f"no local folder of that name, and its Hub tags could not be listed: {redact(str(error))}"
        raise VersionError(written, reason) from error
    tags = [ref.name for ref in refs.tags]
    latest = latest_version(tags)
    if latest is None:
        listed = ", ".join(tags) or "none"
        raise VersionError(written, f"the Hub repo has no version tag v1, v2, ... (tags: {listed}); name a revision")
    return latest


def hub_commit(repo_id: str, revision: str, token: str | None = None) -> str | None:
    """The commit a Hub dataset revision points at now (what was read, for the record); None, with a warning, when
    the Hub does not say."""
    from huggingface_hub import HfApi

    try:
        return HfApi(token=token or get_secret("HF_TOKEN")).dataset_info(repo_id, revision=revision).sha
    except Exception as error:  # the revision was loaded already; the sha is only bookkeeping
        logger.warning("could not resolve the commit of dataset %s@%s: %s", repo_id, revision, redact(str(error)))
        return None


# --- rows ----------------------------------------------------------------------------------------------------------


@dataclass
class LoadedRows:
    """A version's rows per split, in the version's order, and where they came from."""

    resolved: ResolvedVersion
    folder: Path  # the local folder, or the Hub snapshot the rows were read from
    rows: dict[str, list[dict]]


def load_rows(
    spec: str, columns: Sequence[str], revision: str | None = None, split_order: Sequence[str] = ()
) -> LoadedRows:
    """Resolve `spec` (and `revision`, as `resolve` takes them), fetch a Hub version's files (huggingface_hub's
    cache), and read its parquet splits (data/<split>-NNNNN-of-NNNNN.parquet) with `columns` only, splits in
    `split_order` first. Raises VersionError."""
    resolved = resolve(spec, revision)
    folder = fetch(resolved)
    return LoadedRows(resolved, folder, read_splits(folder, columns, split_order))


def fetch(resolved: ResolvedVersion) -> Path:
    """The version's folder on this machine: the local one, or the Hub repo's files at the revision (downloaded into
    huggingface_hub's cache, once). Raises VersionError."""
    if resolved.folder is not None:
        return resolved.folder
    from huggingface_hub import snapshot_download

    try:
        folder = snapshot_download(
            resolved.repo_id, repo_type="dataset", revision=resolved.version, token=get_secret("HF_TOKEN")
        )
    except Exception as error:  # the repo or revision does not exist, no connection, offline mode
        raise VersionError(resolved.name, f"cannot download it from the Hub: {redact(str(error))}") from error
    return Path(folder)


def data_sha256(folder: Path) -> str | None:
    """The sha256 of a version's data files (data/*.parquet, by name then bytes): what two copies of a version are
    compared on, wherever they lie (a folder and a Hub copy of the same version agree, two versions never do). None
    when there are none."""
    files = sorted((Path(folder) / "data").glob("*.parquet"))
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with open(path, "rb") as file:
            for chunk in iter(lambda: file.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def read_splits(folder: Path, columns: Sequence[str], split_order: Sequence[str] = ()) -> dict[str, list[dict]]:
    """{split: rows} from the version's data/*.parquet, each row holding `columns`; a file without one, or one that
    is not parquet, is refused."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    def order(file: Path) -> tuple[int, str]:
        split = file.name.split("-", 1)[0]
        return (split_order.index(split) if split in split_order else len(split_order), file.name)

    rows: dict[str, list[dict]] = {}
    files = sorted((folder / "data").glob("*.parquet"), key=order)
    if not files:
        empty = (folder / "report.json").is_file() and not any((folder / "data").glob("*"))
        reason = "it holds no pair (see its report.json for where every record went)" if empty else "no parquet files"
        raise VersionError(str(folder / "data"), reason)
    for file in files:
        match = _SPLIT_FILE.match(file.name)
        if not match:
            raise VersionError(str(file), "not named <split>-00000-of-00001.parquet")
        try:
            table = pq.read_table(file)
        except (pa.ArrowException, OSError) as error:  # truncated by a failed copy, or not parquet at all
            raise VersionError(str(file), f"not a readable parquet file ({error})") from error
        missing = [name for name in columns if name not in table.column_names]
        if missing:
            raise VersionError(str(file), f"missing column(s) {', '.join(missing)} (see replytune/schema.py)")
        rows.setdefault(match.group("split"), []).extend(table.select(list(columns)).to_pylist())
    return rows
