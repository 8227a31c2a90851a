"""`build --push-to-hub REPO --version vN` through the Hub stand-in, with the real datasets/huggingface_hub clients:
private repo, a tag per version, and `load_dataset(REPO, revision="vN")` returning exactly that version."""

import json
from pathlib import Path

from datasets import load_dataset
from huggingface_hub import DatasetCard, HfApi, hf_hub_download

from data_prep.__main__ import main
from tests.paths import REPO_ROOT
from tests.stand_ins.hub import USER

DEMO_SAMPLE = REPO_ROOT / "data_prep" / "sample" / "demo_tweets.jsonl"
FAST = (
    "validation: {toxicity_scorer: profanity_check}\ncleaning: {semantic_dedup: false}\n"
    "split: {check_leakage: false}\n"
)


def push(tmp_path, version, config_text=FAST, output="out"):
    config = tmp_path / f"{version}.yaml"
    config.write_text(config_text)
    command = ["build", "--config", str(config), "--input", str(DEMO_SAMPLE), "--output", str(tmp_path / output)]
    return main(command + ["--push-to-hub", f"{USER}/reply-pairs", "--version", version, "--no-progress"])


def rows_of(dataset) -> dict[str, list[dict]]:
    return {name: split.to_list() for name, split in sorted(dataset.items())}


def test_push_versions_and_load_each_back_by_tag(hub_endpoint, tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYTUNE_PSEUDONYM_KEY", "stable-secret-key-for-the-test-repo")
    repo, api = f"{USER}/reply-pairs", HfApi()
    assert push(tmp_path, "v1") == 0
    assert push(tmp_path, "v2", FAST + "cleaning: {semantic_dedup: false, max_pairs: 20}\n") == 0

    assert hub_endpoint.is_private(repo, "dataset")
    assert {tag.name for tag in api.list_repo_refs(repo, repo_type="dataset").tags} == {"v1", "v2"}
    for version in ("v1", "v2"):
        local = load_dataset(str(tmp_path / "out" / version), cache_dir=str(tmp_path / "cache" / version))
        pushed = load_dataset(repo, revision=version)
        assert rows_of(pushed) == rows_of(local), version
    assert sum(load_dataset(repo, revision="v2").num_rows.values()) == 20
    assert sum(load_dataset(repo, revision="v1").num_rows.values()) > 20

    # the version's card, report, chart and config travel with it
    card = DatasetCard.load(hf_hub_download(repo, "README.md", repo_type="dataset", revision="v1"))
    assert "dataset_info" in card.data and "configs" in card.data
    assert f'load_dataset("{repo}", revision="v1")' in card.text and "## Funnel" in card.text
    assert "environment" in card.text  # the pseudonym key came from the environment
    report = json.loads(Path(hf_hub_download(repo, "report.json", repo_type="dataset", revision="v1")).read_text())
    assert report == json.loads((tmp_path / "out" / "v1" / "report.json").read_text())
    assert report["hub_repo"] == repo and sum(report["dispositions"].values()) == report["input_records"]
    files = set(api.list_repo_files(repo, repo_type="dataset", revision="v1"))
    assert {"README.md", "report.json", "funnel.png", "config.yaml"} <= files

    # pseudonyms are stable across versions under one key
    first = {r["reply_id"]: r["reply_author"] for r in load_dataset(repo, revision="v1", split="train")}
    second = {r["reply_id"]: r["reply_author"] for r in load_dataset(repo, revision="v2", split="train")}
    assert all(first[i] == author for i, author in second.items() if i in first)


def test_a_version_tag_is_never_reused(hub_endpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REPLYTUNE_PSEUDONYM_KEY", "stable-secret-key-for-the-test-repo")
    assert push(tmp_path, "v1") == 0
    capsys.readouterr()
    assert push(tmp_path, "v1", output="elsewhere") == 2
    assert "already has a tag v1" in capsys.readouterr().err
    assert not (tmp_path / "elsewhere").exists()


def test_no_push_without_the_pseudonym_key(hub_endpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert push(tmp_path, "v1") == 2
    assert "refusing to push" in capsys.readouterr().err
    assert not HfApi().repo_exists(f"{USER}/reply-pairs", repo_type="dataset")
    assert not (tmp_path / "out").exists()
