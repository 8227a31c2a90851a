"""replytune/versions.py: one rule for `vN`, `X@R` and `latest`, and one loader, whatever the command."""

from __future__ import annotations

import pytest

from replytune.versions import (
    VersionError,
    latest_version,
    next_version,
    parse_spec,
    resolve,
    version_number,
)
from standins.hub import USER
from tests.judge_helpers import write_dataset


def test_version_names_and_the_latest_and_next_of_a_list():
    names = ("v1", "v10", "v0", "v01", "V2", "2", "main")
    assert [version_number(name) for name in names] == [1, 10, None, None, None, None, None]
    assert latest_version(["v2", "v10", "v9", "main"]) == "v10" and latest_version(["main"]) is None
    assert next_version(["v1", "v3", ".v4.partial"]) == "v4" and next_version([]) == "v1"


def test_a_spec_splits_at_its_last_at_unless_that_belongs_to_a_path(tmp_path):
    assert parse_spec("you/x@v2") == ("you/x", "v2") and parse_spec("you/x@main") == ("you/x", "main")
    assert parse_spec("you/x") == ("you/x", None) and parse_spec("runs/a@b/c") == ("runs/a@b/c", None)
    folder = tmp_path / "odd@v1"
    folder.mkdir()
    assert parse_spec(str(folder)) == (str(folder), None)


def test_a_local_folder_resolves_to_the_named_version_or_its_latest(tmp_path):
    data = tmp_path / "data"
    for version in ("v1", "v2", "v10"):
        write_dataset(data / version, {"train": 1})
    (data / "v11").mkdir()  # no dataset in it: not a version
    for spec in (str(data), f"{data}@latest"):
        assert resolve(spec).folder == data / "v10"
    assert resolve(f"{data}@v2").folder == data / "v2" and resolve(str(data), "v2").folder == data / "v2"
    itself = resolve(str(data / "v1"))
    assert (itself.folder, itself.version, itself.name) == (data / "v1", "v1", f"{data}@v1")
    with pytest.raises(VersionError, match="no version 'v3'; it holds v1, v2, v10"):
        resolve(f"{data}@v3")
    with pytest.raises(VersionError, match=r"versions are named v1, v2, \.\.\. or latest, not 'main'"):
        resolve(f"{data}@main")
    with pytest.raises(VersionError, match="no such folder, and not a Hub dataset name"):
        resolve(str(tmp_path / "nowhere"))


def test_a_hub_repo_at_main_is_read_alike_by_generate_and_validate(hub_endpoint, tmp_path, monkeypatch):
    from huggingface_hub import HfApi

    from data_prep.versions import load_version
    from judge.score.backends.engagement import load_dataset_splits
    from tests.test_data_prep_publish import push

    monkeypatch.setenv("REPLYTUNE_PSEUDONYM_KEY", "stable-secret-key-for-the-test-repo")
    repo = f"{USER}/reply-pairs"
    assert push(tmp_path, "v1") == 0
    assert resolve(repo).version == "v1"  # no revision named: the highest vN tag
    generated_from = load_version(f"{repo}@main")  # `judge generate --dataset REPO@main`
    validated_on, described = load_dataset_splits(f"{repo}@main", needed_splits=["test"])  # `judge validate`
    assert (generated_from.source, generated_from.version, described) == (f"{repo}@main", "main", f"{repo}@main")
    reply_ids = [row["reply_id"] for row in generated_from.rows["test"]]
    assert reply_ids and [row["reply_id"] for row in validated_on["test"]] == reply_ids

    HfApi().create_repo(f"{USER}/untagged", repo_type="dataset")
    with pytest.raises(VersionError, match="has no version tag v1, v2"):
        resolve(f"{USER}/untagged")
