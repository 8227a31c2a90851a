"""Publishing a dataset version: a local versioned folder, and optionally a private Hub repo with a git tag.

The local folder `OUTPUT/vN/` is laid out like the Hub repo, so `load_dataset("OUTPUT/vN")` and
`load_dataset(REPO, revision="vN")` return the same DatasetDict:

    README.md          the dataset card
    data/<split>-00000-of-00001.parquet
    report.json        the funnel: every input record's disposition, counted
    dispositions.jsonl a build only: one line per input record (its published id, stage, reason, deciding value)
    funnel.png         the funnel as a bar chart
    config.yaml        the resolved config of the build
    curation.jsonl     a curated version only: each input pair's votes and outcome
"""

from __future__ import annotations

import logging
import os
import shutil
from pathlib import Path

from datasets import DatasetDict
from huggingface_hub import DatasetCard

from data_prep.config import OutputConfig
from replytune.errors import Refused
from replytune.hub import check_push_target, hub_token, push_commit

logger = logging.getLogger(__name__)

# dispositions.jsonl: `build` only (every input record's disposition); curation.jsonl: `curate pull` and `auto` only
EXTRA_FILES = ("report.json", "dispositions.jsonl", "funnel.png", "config.yaml", "curation.jsonl")


class PublishError(Refused, RuntimeError):
    """The version cannot be written where it was asked for; nothing was written."""


def check_output_folder(output_dir: Path) -> None:
    """`--output` must be a folder this user can write into, or a path where one can be made: checked before any work,
    without creating anything, so a build never runs for minutes and then fails on the last rename."""
    output_dir = Path(output_dir)
    if output_dir.exists() and not output_dir.is_dir():
        raise PublishError(f"--output {output_dir} is a file, not a folder: versions are written to OUTPUT/vN/")
    existing = next((p for p in (output_dir, *output_dir.parents) if p.exists()), Path("."))
    if not existing.is_dir():
        raise PublishError(f"--output {output_dir}: {existing} is a file, so no folder can be made under it")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PublishError(f"--output {output_dir}: {existing} is not writable by this user")


def check_local_version_free(folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()):
        raise PublishError(f"{folder} already exists and is not empty: a version is never overwritten")


def new_version_folder(
    output_dir: str | Path, version: str | None, push_to_hub: str | None, default_version: str | None = None
) -> tuple[str, Path]:
    """The new version's name and folder, refused before any work: `--output` unusable, a push without an explicit
    `--version`, a name that is not vN, or a folder already holding a version. The name is `version`, else
    `default_version` (curation: the input's + 1), else the next vN free in `output_dir`."""
    from replytune.versions import check_version_name, next_version

    output_dir = Path(output_dir)
    check_output_folder(output_dir)
    if push_to_hub and not version:
        raise PublishError("--push-to-hub needs --version vN: a pushed version is named explicitly")
    if not version:
        existing = [child.name for child in output_dir.iterdir()] if output_dir.is_dir() else []
        version = default_version or next_version(existing)
    check_version_name(version)
    folder = output_dir / version
    check_local_version_free(folder)
    return version, folder


def check_dataset_push_target(
    repo_id: str, version: str | None, private: bool = True, allow_public_repo: bool = False
) -> None:
    """replytune.hub's one push-target check for a dataset repo: the tag `version` is free
    (`load_dataset(repo, revision=vN)` must keep returning what vN first meant), and a private dataset is never pushed
    into an existing public repo: `create_repo(exist_ok=True)` leaves a public repo public, and every scraped tweet of
    the version would be public at once. `allow_public_repo` (the `--allow-public-repo` flag,
    `output.allow_public_repo`) is the explicit yes. Raises PushTargetError."""
    check_push_target(
        repo_id, version, hub_token(), private=private and not allow_public_repo, repo_type="dataset",
        public_push="pass --allow-public-repo (output.allow_public_repo: true) to publish it publicly on purpose",
    )  # fmt: skip


def save_local(folder: Path, dataset: DatasetDict, card: DatasetCard) -> None:
    """Write the parquet files and the card (report.json, funnel.png and config.yaml are written by the build).

    The local card carries no `configs` metadata on purpose: datasets 4.8 then hashes the resolved data files for
    its cache, whereas with `configs` every folder named v1 would share one cache entry and `load_dataset` could
    return another build's v1. load_dataset finds data/<split>-*.parquet by its default patterns.
    """
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for split, rows in dataset.items():
        rows.to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    card.save(folder / "README.md")


def push_version(
    repo_id: str,
    version: str,
    dataset: DatasetDict,
    folder: Path,
    private: bool = True,
    allow_public_repo: bool = False,
) -> str:
    """Push the version saved in `folder` (parquet files, card, report, funnel, config) as ONE commit and tag that
    commit `version`: a Hub that fails mid-push leaves either the whole version or nothing, never half of one
    (replytune/hub.py: pinned parent, retries on transient errors, the tag only after the commit).

    A private dataset is never pushed into an existing public repo unless `allow_public_repo` (PushTargetError).
    Returns the tagged commit's sha. The token is HF_TOKEN, from the environment or .env.
    """
    token = hub_token()
    check_dataset_push_target(repo_id, None, private, allow_public_repo)
    files: dict[str, Path | bytes] = {
        f"data/{split}-00000-of-00001.parquet": folder / "data" / f"{split}-00000-of-00001.parquet"
        for split in dataset
    }
    files["README.md"] = str(
        hub_card(DatasetCard.load(folder / "README.md", repo_type="dataset"), dataset, folder)
    ).encode("utf-8")
    files.update({name: folder / name for name in EXTRA_FILES if (folder / name).is_file()})
    _, commit = push_commit(
        repo_id, files, f"data_prep {version}", tag=version, repo_type="dataset", private=private, token=token,
        tag_message=f"dataset {version}",
    )  # fmt: skip
    logger.info("pushed %s@%s (commit %s)", repo_id, version, commit)
    return commit


def hub_card(card: DatasetCard, dataset: DatasetDict, folder: Path) -> DatasetCard:
    """The local card plus the metadata `Dataset.push_to_hub` would write (`configs`: where each split's files are;
    `dataset_info`: features, rows and bytes per split), which the Hub's viewer and `load_dataset` read."""
    from datasets.info import DatasetInfosDict
    from datasets.splits import SplitDict, SplitInfo
    from datasets.utils.metadata import MetadataConfigs

    info = next(iter(dataset.values())).info.copy()
    info.splits = SplitDict()
    for split, rows in dataset.items():
        info.splits[split] = SplitInfo(split, num_bytes=rows.data.nbytes, num_examples=len(rows))
    info.download_size = sum((folder / "data" / f"{split}-00000-of-00001.parquet").stat().st_size for split in dataset)
    info.dataset_size = sum(split.num_bytes for split in info.splits.values())
    info.size_in_bytes = info.download_size + info.dataset_size
    data_files = [{"split": split, "path": f"data/{split}-*"} for split in dataset]
    MetadataConfigs({"default": {"data_files": data_files}}).to_dataset_card_data(card.data)
    DatasetInfosDict({"default": info}).to_dataset_card_data(card.data)
    return card


def staging_folder(folder: Path) -> Path:
    """Where version `folder` is written until it is complete (and pushed): OUTPUT/.vN.partial, emptied first, so a
    killed or failed run leaves no half-written vN behind and the same command simply runs again."""
    staging = folder.with_name(f".{folder.name}.partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    return staging


def save_and_push(
    folder: Path, dataset: DatasetDict, card: DatasetCard, version: str, push_to_hub: str | None, output: OutputConfig,
    nothing_kept: str, final: Path | None = None,
) -> Path:  # fmt: skip
    """The end of `build` and `curate pull`: save the version's data and card into `folder` (beside the report, funnel
    and config already written there), then push it as `version` when `push_to_hub` names a repo. With `final`,
    `folder` is a staging folder (`staging_folder`), renamed to `final` once saved and pushed. Returns where the
    version is.

    An empty version is still saved (its report says where every record went) but never pushed; `nothing_kept` says
    why it is empty, in the user's terms.
    """
    save_local(folder, dataset, card)
    if push_to_hub and len(dataset):
        push_version(
            push_to_hub, version, dataset, folder, private=output.private, allow_public_repo=output.allow_public_repo
        )
    if final is not None:
        folder = folder.rename(final)
    logger.info("wrote %s", folder)
    if not len(dataset):
        logger.warning("%s: %s holds no data; see %s", nothing_kept, folder, folder / "report.json")
        if push_to_hub:
            raise RuntimeError(f"{nothing_kept}: nothing to push (see {folder / 'report.json'})")
    return folder
