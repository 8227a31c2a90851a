"""`build --push-to-hub REPO --version vN` through the Hub stand-in, with the real datasets/huggingface_hub clients:
private repo, a tag per version, and `load_dataset(REPO, revision="vN")` returning exactly that version."""

import json
from pathlib import Path

from datasets import load_dataset
from huggingface_hub import DatasetCard, HfApi, hf_hub_download

from data_prep.__main__ import main
from standins.hub import USER
from tests.paths import REPO_ROOT

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
    assert {"README.md", "report.json", "dispositions.jsonl", "funnel.png", "config.yaml"} <= files
    ledger = Path(hf_hub_download(repo, "dispositions.jsonl", repo_type="dataset", revision="v1")).read_text()
    assert ledger == (tmp_path / "out" / "v1" / "dispositions.jsonl").read_text()
    assert len(ledger.splitlines()) == report["input_records"]

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


def test_a_private_dataset_is_never_pushed_into_a_public_repo(hub_endpoint, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("REPLYTUNE_PSEUDONYM_KEY", "stable-secret-key-for-the-test-repo")
    repo, api = f"{USER}/reply-pairs", HfApi()
    api.create_repo(repo, repo_type="dataset", private=False)  # made public by hand, earlier
    assert push(tmp_path, "v1") == 2
    assert "exists and is public" in capsys.readouterr().err
    assert not api.list_repo_refs(repo, repo_type="dataset").tags and not (tmp_path / "out").exists()
    # asked for explicitly: the flag
    config = tmp_path / "fast.yaml"
    config.write_text(FAST)
    command = ["build", "--config", str(config), "--input", str(DEMO_SAMPLE), "--output", str(tmp_path / "out")]
    assert main(command + ["--push-to-hub", repo, "--version", "v1", "--no-progress", "--allow-public-repo"]) == 0
    assert {tag.name for tag in api.list_repo_refs(repo, repo_type="dataset").tags} == {"v1"}


def test_published_ids_are_keyed_hashes_unless_raw_and_the_card_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("REPLYTUNE_PSEUDONYM_KEY", "stable-secret-key-for-the-test-repo")
    raw_ids = {json.loads(line).get("id") for line in DEMO_SAMPLE.read_text().splitlines()}
    built = {}
    for published_ids in ("keyed_hash", "raw"):
        config = tmp_path / f"{published_ids}.yaml"
        config.write_text(FAST + f"privacy: {{published_ids: {published_ids}}}\n")
        output = tmp_path / published_ids
        command = ["build", "--config", str(config), "--input", str(DEMO_SAMPLE), "--output", str(output)]
        assert main(command + ["--no-progress"]) == 0
        folder = output / "v1"
        dataset = load_dataset(str(folder), cache_dir=str(tmp_path / "cache" / published_ids))
        rows = dataset["train"].to_list()
        built[published_ids] = rows
        card = (folder / "README.md").read_text()
        assert "not anonymous" in card
        ledger = (folder / "dispositions.jsonl").read_text()
        published_files = [card, (folder / "report.json").read_text(), (folder / "config.yaml").read_text(), ledger]
        assert not [text for text in published_files if str(tmp_path) in text or str(REPO_ROOT) in text]
        assert "demo_tweets.jsonl" in card  # the input, by file name
        lines = [json.loads(line) for line in ledger.splitlines()]
        ledger_ids = {line[key] for line in lines for key in ("id", "related_id")} - {None}
        kept_ids = {line["id"] for line in lines if line["disposition"] == "kept"}
        assert kept_ids == {i for split in dataset.values() for i in split["reply_id"]}  # the rows' ids, same rule
        if published_ids == "keyed_hash":  # the same privacy rule as the rows: no raw id in the ledger either
            assert not ledger_ids & raw_ids
        else:
            assert ledger_ids <= raw_ids
    hashed, raw = built["keyed_hash"], built["raw"]
    assert {row["reply_id"] for row in raw} <= raw_ids
    assert not {row[key] for row in hashed for key in ("tweet_id", "reply_id", "conversation_id")} & raw_ids
    # one key, one mapping: the same rows, a conversation id still equal to its root tweet's id
    assert len(hashed) == len(raw) and all(row["conversation_id"] == row["tweet_id"] for row in hashed)
    assert "X's own ids" in (tmp_path / "raw" / "v1" / "README.md").read_text()


# --- a version is one commit and its tag, or nothing --------------------------------------------------------------


def _a_share_of_requests_fails(hub, seed: int, rate: float):
    """A seeded share of ALL requests answered 500 (the stand-in changes nothing for them)."""
    import random
    import threading

    chance, lock = random.Random(seed), threading.Lock()

    def fault(method, path):
        with lock:
            return 500 if chance.random() < rate else None

    hub.fault = fault


def _version_files(tmp_path, version="v1") -> set[str]:
    folder = tmp_path / "out" / version
    return {str(path.relative_to(folder)) for path in folder.rglob("*") if path.is_file()}


def test_a_flaky_hub_still_gets_the_whole_version_as_one_tagged_commit(hub_endpoint, tmp_path, monkeypatch):
    monkeypatch.setattr("replytune.hub.PUSH_RETRY_DELAY_S", 0.0)
    monkeypatch.setenv("REPLYTUNE_PSEUDONYM_KEY", "stable-secret-key-for-the-test-repo")
    repo = f"{USER}/reply-pairs"
    _a_share_of_requests_fails(hub_endpoint, seed=7, rate=0.2)
    assert push(tmp_path, "v1") == 0
    hub_endpoint.fault = None
    assert any(r.status == 500 for r in hub_endpoint.requests)  # the faults really happened
    commits = hub_endpoint.commits(repo, "dataset")
    # one commit over the repo's initial one: no data-only commit, no card-only commit
    assert len(commits) == 2 and hub_endpoint.tags(repo, "dataset") == {"v1": commits[0].oid}
    pushed = set(hub_endpoint.repo_files(repo, "dataset", revision="v1")) - {".gitattributes"}
    assert pushed == _version_files(tmp_path)  # every file of the local version, nothing else
    assert {"README.md", "report.json", "funnel.png", "config.yaml"} <= pushed
    assert any(name.startswith("data/train-") for name in pushed)
    local = load_dataset(str(tmp_path / "out" / "v1"), cache_dir=str(tmp_path / "cache"))
    assert rows_of(load_dataset(repo, revision="v1")) == rows_of(local)


def test_a_push_that_keeps_failing_publishes_nothing_and_the_same_command_then_finishes(
    hub_endpoint, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr("replytune.hub.PUSH_RETRY_DELAY_S", 0.0)
    monkeypatch.setenv("REPLYTUNE_PSEUDONYM_KEY", "stable-secret-key-for-the-test-repo")
    repo = f"{USER}/reply-pairs"
    hub_endpoint.fail_requests("POST", r"/commit/main$", status=503, times=None)
    assert push(tmp_path, "v1") == 1
    assert "nothing was committed" in capsys.readouterr().err
    assert hub_endpoint.tags(repo, "dataset") == {}
    assert set(hub_endpoint.repo_files(repo, "dataset")) <= {".gitattributes"}  # no half of a version on main
    assert not (tmp_path / "out" / "v1").exists()  # nor a local v1 that would block the rerun
    hub_endpoint.fault = None
    assert push(tmp_path, "v1") == 0
    commits = hub_endpoint.commits(repo, "dataset")
    assert len(commits) == 2 and hub_endpoint.tags(repo, "dataset") == {"v1": commits[0].oid}
    assert set(hub_endpoint.repo_files(repo, "dataset", revision="v1")) - {".gitattributes"} == _version_files(
        tmp_path
    )
    assert [path.name for path in (tmp_path / "out").iterdir()] == ["v1"]  # the staging folder is gone
