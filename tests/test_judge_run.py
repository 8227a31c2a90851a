"""`python -m judge run`: generate -> score -> stats -> publish in one command on the tiny Qwen3, against the Hub
stand-in; the same command again generates nothing, judges nothing and pushes nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from judge.__main__ import main
from replytune import schema as col
from standins.hub import USER
from standins.openai_compatible import OpenAICompatibleStandIn
from tests.curation_versions import CONFIG, pair_row, write_version
from tests.sft_helpers import tiny_overrides

BASE_HUB_ID = "replytune-tests/tiny-qwen3"
TWEETS = [
    "Finally moved our Postgres from 13 to 16. pg_upgrade --link took 40 seconds for 2 TB.",
    "Hot take: most RAG failures are retrieval failures, not generation failures.",
    "LoRA rank 8 vs 64 made zero difference on our eval. Are we doing something wrong?",
    "Kubernetes 1.31 finally made sidecar containers stable.",
]


def row(split: str, number: int, tweet: str) -> dict:
    prompt = [{"role": "user", "content": CONFIG.output.prompt_template.format(tweet=tweet)}]
    fields = {col.PROMPT: prompt, col.TWEET_TEXT: tweet, col.TWEET_ID: f"{split}-t{number}"}
    return pair_row(f"{split}-r{number}", f"A {split} reply about {tweet[:20]}", f"{split}-c{number}", **fields)


def write_config(folder: Path, adapter: Path, judge_url: str) -> Path:
    """Base vs the adapter (and the real reply), decoded fast by the tiny model and judged by an OpenAI-compatible
    stand-in (the tiny random model answers every prompt alike: a judge with no signal, which stops the run)."""
    config = {
        "generate": {
            "systems": {"base": "base", "adapter": f"adapter:{adapter}", "human": "human"},
            "decoding": {"max_new_tokens": 6, "do_sample": False, "batch_size": 4},
            "forgetting": {"window_tokens": 64},
        },
        "score": {"judge": "openai", "openai": {"base_url": f"{judge_url}/v1", "max_retries": 1}},
        "stats": {"bootstrap_resamples": 200},
    }
    path = folder / "judge.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


@pytest.mark.slow
def test_judge_run_goes_from_generate_to_publish_and_a_rerun_does_no_work_twice(
    hub_endpoint, tiny_qwen3_dir, tmp_path, capsys, request
):
    from recipes import sft_qlora

    rows = {split: [row(split, i, tweet) for i, tweet in enumerate(TWEETS)] for split in ("train", "eval", "test")}
    write_version(tmp_path / "data" / "v1", rows)
    adapter = tmp_path / "adapter"
    train_args = tiny_overrides(tiny_qwen3_dir, tmp_path / "data", adapter, max_steps=2, eval_steps=1, save_steps=2)
    assert sft_qlora.main([*train_args, "--load_best_model_at_end", "false", "--base_model_hub_id", BASE_HUB_ID]) == 0
    judge = OpenAICompatibleStandIn()
    judge.__enter__()
    request.addfinalizer(lambda: judge.__exit__(None, None, None))
    config = write_config(tmp_path, adapter, judge.url)
    output, repo = tmp_path / "eval", f"{USER}/tiny-replies"
    command = ["run", "--config", str(config), "--dataset", str(tmp_path / "data"), "--output", str(output)]
    command += ["--cache-dir", str(tmp_path / "judge_cache"), "--publish", repo, "--no-progress"]

    assert main(command) == 0
    first = capsys.readouterr().out
    for stage in ("generate", "score", "stats", "publish"):
        assert f"== {stage} done in " in first, stage
    assert f"{len(TWEETS)} tweets x 3 systems" in first
    stats = json.loads((output / "stats.json").read_text())
    assert (stats["baseline"], stats["candidate"]) == ("base", "adapter")  # the one adapter system is the candidate
    judged = json.loads((output / "score_report.json").read_text())["run"]
    assert judged["judged"] > 0 and judged["judged"] + judged["from_cache"] == judged["tasks"]  # same replies: once
    published = json.loads((output / "published.json").read_text())
    assert published["repo_id"] == repo and published["revision"] == "v1"
    assert hub_endpoint.tags(repo) == {"v1": published["commit"]}
    assert "eval/stats.json" in hub_endpoint.repo_files(repo, revision="v1")

    # The same command again: every stage resumes from what is there; nothing is generated, judged or pushed twice.
    assert main(command) == 0
    second = capsys.readouterr().out
    assert "0 replies generated now" in second and "0 judge calls now" in second
    assert f"== publish: already published as {repo}@v1" in second, second
    assert len(hub_endpoint.commits(repo)) == 2 and set(hub_endpoint.tags(repo)) == {"v1"}  # initial + v1

    # A fresh folder with the same judge cache: everything is generated again, but no judge is called again.
    assert main([*command[:6], str(tmp_path / "again"), *command[7:-3], "--no-progress"]) == 0
    assert "0 judge calls now" in capsys.readouterr().out


def test_a_stage_that_refuses_stops_the_run_with_its_exit_status_and_no_later_stage_runs(tmp_path, capsys):
    command = ["run", "--dataset", str(tmp_path / "no-such-dataset"), "--output", str(tmp_path / "eval")]
    assert main([*command, "--system", "human", "--no-progress"]) == 2
    out = capsys.readouterr()
    assert "== generate: stopped with exit status 2" in out.out and "no-such-dataset" in out.err
    assert "== score" not in out.out and not (tmp_path / "eval" / "verdicts.jsonl").exists()


def test_a_publish_recorded_in_published_json_is_skipped_only_when_the_hub_holds_it(hub_endpoint, tmp_path, capsys):
    """published.json says this adapter and these statistics went to REPO@v1; `judge run --publish` skips the push
    only if the Hub it is pointed at has that tag at that commit (a fresh stand-in, or a deleted repo, has not)."""
    from huggingface_hub import HfApi

    from judge.run import already_published
    from replytune.files import sha256_of

    adapter, output = tmp_path / "adapter", tmp_path / "eval"
    adapter.mkdir()
    output.mkdir()
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    (output / "stats.json").write_text("{}")
    repo = f"{USER}/replies"
    record = {
        "repo": repo,
        "repo_id": repo,
        "revision": "v1",
        "commit": "0" * 40,
        "adapter_sha256": sha256_of(adapter / "adapter_model.safetensors"),
        "stats_sha256": sha256_of(output / "stats.json"),
    }
    (output / "published.json").write_text(json.dumps(record))
    assert already_published(output, repo, adapter) is None  # no such repo on this Hub
    assert "that tag is not there: publishing again" in capsys.readouterr().out
    api = HfApi()
    api.create_repo(repo, private=True)
    commit = api.upload_file(path_or_fileobj=b"x", path_in_repo="x.txt", repo_id=repo).oid
    api.create_tag(repo, tag="v1", revision=commit)
    assert already_published(output, repo, adapter) is None  # the tag is there, at another commit
    assert f"that tag points at {commit[:12]}" in capsys.readouterr().out
    (output / "published.json").write_text(json.dumps({**record, "commit": commit}))
    assert already_published(output, repo, adapter)["commit"] == commit
