"""Publishing a dataset version: a local versioned folder, and optionally a private Hub repo with a git tag.

The local folder `OUTPUT/vN/` is laid out like the Hub repo, so `load_dataset("OUTPUT/vN")` and
`load_dataset(REPO, revision="vN")` return the same DatasetDict:

    README.md          the dataset card
    data/<split>-00000-of-00001.parquet
    report.json        the funnel: every input record's disposition
    funnel.png         the funnel as a bar chart
    config.yaml        the resolved config of the build
    curation.jsonl     a curated version only: each input pair's votes and outcome
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from datasets import DatasetDict
from huggingface_hub import CommitOperationAdd, DatasetCard, HfApi, hf_hub_download

from data_prep.config import OutputConfig
from data_prep.secrets import get_secret

logger = logging.getLogger(__name__)

_VERSION = re.compile(r"^v[1-9][0-9]*$")
EXTRA_FILES = ("report.json", "funnel.png", "config.yaml", "curation.jsonl")  # curation.jsonl: `curate pull` only


class PublishError(RuntimeError):
    """The version cannot be written where it was asked for; nothing was written."""


def check_version_name(version: str) -> None:
    if not _VERSION.match(version):
        raise PublishError(f"--version {version!r}: a version is v1, v2, ...")


def next_local_version(output_dir: Path) -> str:
    """The first vN not present in `output_dir`."""
    taken = (
        {int(p.name[1:]) for p in output_dir.glob("v*") if _VERSION.match(p.name)} if output_dir.is_dir() else set()
    )
    return f"v{max(taken, default=0) + 1}"


def check_local_version_free(folder: Path) -> None:
    if folder.exists() and any(folder.iterdir()):
        raise PublishError(f"{folder} already exists and is not empty: a version is never overwritten")


def check_hub_version_free(repo_id: str, version: str) -> None:
    """Refuse to reuse a tag: `load_dataset(repo, revision=vN)` must keep returning what vN first meant."""
    api = HfApi(token=get_secret("HF_TOKEN"))
    if not api.repo_exists(repo_id, repo_type="dataset"):
        return
    tags = {ref.name for ref in api.list_repo_refs(repo_id, repo_type="dataset").tags}
    if version in tags:
        raise PublishError(f"{repo_id} already has a tag {version}: a version is never overwritten")


def check_hub_repo_visibility(repo_id: str, private: bool = True, allow_public_repo: bool = False) -> None:
    """Refuse to push a private dataset into an existing public repo: `create_repo(exist_ok=True)` leaves a public
    repo public, and every scraped tweet of the version would be public at once. `allow_public_repo` (the
    `--allow-public-repo` flag, `output.allow_public_repo`) is the explicit yes."""
    if not private or allow_public_repo:
        return
    api = HfApi(token=get_secret("HF_TOKEN"))
    if api.repo_exists(repo_id, repo_type="dataset") and not api.dataset_info(repo_id).private:
        raise PublishError(
            f"{repo_id} exists and is public: refusing to push this private dataset (scraped tweets) into it. "
            "Make the repo private on the Hub, push to another repo, or pass --allow-public-repo "
            "(output.allow_public_repo: true) to publish it publicly on purpose"
        )


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
    """Push the DatasetDict, then the card and the build's files in one commit, and tag that commit `version`.

    A private dataset is never pushed into an existing public repo unless `allow_public_repo` (PublishError).
    Returns the tagged commit's sha. The token is HF_TOKEN, from the environment or .env.
    """
    token = get_secret("HF_TOKEN")
    api = HfApi(token=token)
    check_hub_repo_visibility(repo_id, private, allow_public_repo)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    data_commit = dataset.push_to_hub(
        repo_id, private=private, token=token, commit_message=f"data_prep {version}: pairs"
    )
    # push_to_hub wrote README.md with the dataset_info/configs metadata of these splits: keep it under our card.
    hub_card = DatasetCard.load(
        hf_hub_download(repo_id, "README.md", repo_type="dataset", revision=data_commit.oid, token=token),
        repo_type="dataset",
    )
    card = DatasetCard.load(folder / "README.md", repo_type="dataset")
    for key in ("dataset_info", "configs"):
        if key in hub_card.data:
            card.data[key] = hub_card.data[key]
    operations = [CommitOperationAdd("README.md", str(card).encode("utf-8"))]
    operations += [CommitOperationAdd(name, folder / name) for name in EXTRA_FILES if (folder / name).is_file()]
    commit = api.create_commit(
        repo_id,
        operations=operations,
        commit_message=f"data_prep {version}: card, report, funnel, config",
        repo_type="dataset",
        parent_commit=data_commit.oid,
    )
    api.create_tag(repo_id, tag=version, revision=commit.oid, repo_type="dataset", tag_message=f"dataset {version}")
    logger.info("pushed %s@%s (commit %s)", repo_id, version, commit.oid)
    return commit.oid


def save_and_push(
    folder: Path, dataset: DatasetDict, card: DatasetCard, version: str, push_to_hub: str | None, output: OutputConfig,
    nothing_kept: str,
) -> None:  # fmt: skip
    """The end of `build` and `curate pull`: save the version's data and card into `folder` (beside the report, funnel
    and config already written there), then push it as `version` when `push_to_hub` names a repo.

    An empty version is still saved (its report says where every record went) but never pushed; `nothing_kept` says
    why it is empty, in the user's terms.
    """
    save_local(folder, dataset, card)
    logger.info("wrote %s", folder)
    if not len(dataset):
        logger.warning("%s: %s holds no data; see %s", nothing_kept, folder, folder / "report.json")
    if push_to_hub:
        if not len(dataset):
            raise RuntimeError(f"{nothing_kept}: nothing to push (see {folder / 'report.json'})")
        push_version(
            push_to_hub, version, dataset, folder, private=output.private, allow_public_repo=output.allow_public_repo
        )
