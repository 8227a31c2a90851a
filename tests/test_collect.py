"""data_prep.collect against the Apify stand-in: plan, cost refusal, retries, checkpoints, kill and resume."""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from data_prep import collect
from data_prep.collect import (
    CHECKPOINT_FILE_NAME,
    MANIFEST_FILE_NAME,
    OUTPUT_FILE_NAME,
    CollectConfig,
    add_collect_arguments,
    estimate_cost,
    load_collect_config,
    run_collect,
    search_query,
)
from data_prep.sources import iter_tweets, list_input_files
from replytune.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED
from replytune.schema import Tweet
from replytune.yaml_config import ConfigError
from standins.apify import ApifyStandIn, default_fake_twitter
from tests.paths import REPO_ROOT
from tests.stand_ins.apify import apify_stand_in  # noqa: F401 (a fixture)

TOKEN = "apify_api_TESTtoken0123456789"

# Two topics with 3 roots each (the last needing the conversation_id fallback), 4 replies per root, a low-like
# tweet and a reply per topic that must not become roots, and a term that finds nothing (a placeholder).
TEST_COLLECT = {
    "search_terms": ["topic0", "topic1", "nothing-matches"],
    "max_items_per_query": 50,
    "max_root_tweets": 10,
    "replies_per_conversation": 20,
    "max_retries": 4,
    "retry_min_delay_s": 0.01,
    "request_timeout_s": 5.0,
}
EXPECTED_RECORDS = 6 + 6 * 4 + 2 + 2  # roots, replies, low-like tweets, replies found by search
UNINTERRUPTED_ACTOR_RUNS = 3 + 6 + 2  # searches, conversationIds runs, conversation_id: fallbacks


def write_config(folder: Path, name: str = "collect.yaml", **overrides) -> Path:
    path = folder / name
    path.write_text(yaml.safe_dump({"collect": {**TEST_COLLECT, **overrides}}), encoding="utf-8")
    return path


def parse_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_collect_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.fixture
def api():
    with ApifyStandIn(default_fake_twitter(), token=TOKEN) as stand_in:
        yield stand_in


@pytest.fixture
def in_tmp(tmp_path, monkeypatch):
    """APIFY_TOKEN set, and a working directory without a developer's .env."""
    monkeypatch.setenv("APIFY_TOKEN", TOKEN)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def collect_here(config: Path, output: Path, api_url: str, *extra: str) -> int:
    return run_collect(parse_args("--config", str(config), "--output", str(output), "--api-url", api_url, *extra))


def read_lines(folder: Path) -> list[str]:
    return (folder / OUTPUT_FILE_NAME).read_text(encoding="utf-8").splitlines()


def ids_in(folder: Path) -> list[str]:
    return [json.loads(line)["id"] for line in read_lines(folder)]


def assert_no_token_in(folder: Path, *texts: str) -> None:
    for text in texts:
        assert TOKEN not in text
    for path in folder.rglob("*"):
        if path.is_file():
            assert TOKEN not in path.read_text(encoding="utf-8", errors="replace"), path


# --------------------------------------------------------------------------------------------------
# Config and plan
# --------------------------------------------------------------------------------------------------


def test_default_yaml_collect_section_matches_the_dataclass_defaults():
    assert load_collect_config(REPO_ROOT / "data_prep" / "configs" / "default.yaml") == CollectConfig()


@pytest.mark.parametrize(
    ("section", "message"),
    [
        ({"serch_terms": ["x"]}, "serch_terms"),
        ({"max_items_per_query": "lots"}, "max_items_per_query"),
        ({"sort": "Best"}, "sort"),
        ({"until": "October"}, "until must be a date"),
        ({"search_terms": []}, "search_terms"),
        ({"min_root_likes": 500, "max_root_likes": 100}, "max_root_likes"),
    ],
)
def test_bad_collect_fields_name_the_field(tmp_path, section, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"collect": section}))
    with pytest.raises(ConfigError, match=message):
        load_collect_config(path)


def test_bad_config_exits_before_any_request(in_tmp, api, capsys):
    config = write_config(in_tmp, max_root_tweets=-1)
    assert collect_here(config, in_tmp / "out", api.url) == EXIT_REFUSED
    assert "max_root_tweets" in capsys.readouterr().err
    assert api.requests == []


def test_search_query_adds_exclusions_and_until_once():
    config = CollectConfig(until="2025-10-01")
    assert search_query("LoRA QLoRA", config) == "LoRA QLoRA -crypto -NFT until:2025-10-01"
    assert search_query("LoRA -NFT until:2025-01-01", config) == "LoRA -NFT until:2025-01-01 -crypto"
    assert search_query("LoRA", CollectConfig(until=None, exclude_words=[])) == "LoRA"


def test_cost_estimate_is_the_most_the_plan_can_cost():
    config = CollectConfig(
        search_terms=["a", "b"],
        max_items_per_query=500,
        max_root_tweets=30,
        replies_per_conversation=100,
        cost_per_1000_items=0.4,
    )
    estimate = estimate_cost(config)
    assert (estimate.items, estimate.usd) == (2 * 500 + 30 * 100, 1.6)
    assert "$1.60" in estimate.describe(config)


# --------------------------------------------------------------------------------------------------
# A full collection
# --------------------------------------------------------------------------------------------------


def test_collection_flow_output_and_manifest(in_tmp, api, capsys):
    config = write_config(in_tmp)
    output = in_tmp / "out"
    assert collect_here(config, output, api.url, "--max-cost", "1") == EXIT_OK
    out, err = capsys.readouterr()
    assert "Estimated cost: up to 350 items" in out and "$0.14" in out

    inputs = api.run_inputs()
    assert len(inputs) == UNINTERRUPTED_ACTOR_RUNS
    searches = [run_input for run_input in inputs if "minimumFavorites" in run_input]
    assert [run_input["searchTerms"] for run_input in searches] == [
        ["topic0 -crypto -NFT until:2025-10-01"],
        ["topic1 -crypto -NFT until:2025-10-01"],
        ["nothing-matches -crypto -NFT until:2025-10-01"],
    ]
    assert all(run_input["sort"] == "Top" and run_input["tweetLanguage"] == "en" for run_input in searches)
    by_conversation = [run_input for run_input in inputs if "conversationIds" in run_input]
    fallbacks = [run_input["searchTerms"][0] for run_input in inputs if run_input not in searches + by_conversation]
    assert len(by_conversation) == 6
    assert sorted(fallbacks) == sorted(f"conversation_id:{cid}" for cid in api.fake.conversation_ids_unsupported)
    # every run is capped on the API side too (pay-per-result actors stop charging there)
    assert all(request.query["maxItems"] for request in api.requests_to("/runs", "POST"))

    lines = read_lines(output)
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids)) == EXPECTED_RECORDS
    assert all(json.loads(line)["_replytune_query"] in ("topic0", "topic1") for line in lines)
    assert not any("noResults" in line for line in lines)

    tweets = list(iter_tweets(list_input_files([output / OUTPUT_FILE_NAME])))
    assert all(isinstance(tweet, Tweet) for tweet in tweets)
    replies = [tweet for tweet in tweets if tweet.is_reply and tweet.likes < 100]
    assert {tweet.query for tweet in replies} == {"topic0", "topic1"} and len(replies) == 24

    manifest = json.loads((output / MANIFEST_FILE_NAME).read_text())
    assert manifest["complete"] and manifest["records"] == EXPECTED_RECORDS
    assert manifest["totals"]["actor_runs"] == UNINTERRUPTED_ACTOR_RUNS
    assert manifest["totals"]["placeholders_dropped"] == 3  # the empty search and the two empty conversationIds
    assert manifest["totals"]["conversation_fallbacks"] == 2
    assert manifest["totals"]["conversations_without_replies"] == 0
    assert manifest["roots_chosen"] == 6
    assert {run["actor_run_id"] for run in manifest["runs"]} == set(api.runs)
    assert {run["dataset_id"] for run in manifest["runs"]} == {run.dataset_id for run in api.runs.values()}
    assert sum(run["items_written"] for run in manifest["runs"]) == EXPECTED_RECORDS
    roots = json.loads((output / CHECKPOINT_FILE_NAME).read_text())["roots"]
    assert all(300 <= root["likes"] <= 500 for root in roots)  # not the 3-like tweet, not the 900-like reply
    assert_no_token_in(output, out, err)


def test_the_fixture_stand_in_serves_the_collector(in_tmp, apify_stand_in, monkeypatch):  # noqa: F811
    monkeypatch.setenv("APIFY_TOKEN", apify_stand_in.token)
    config = write_config(in_tmp, search_terms=["topic0"], max_root_tweets=1)
    assert collect_here(config, in_tmp / "out", apify_stand_in.url, "--no-progress") == EXIT_OK
    assert len(ids_in(in_tmp / "out")) == 3 + 2 + 4  # search results + the replies of the most liked root


def test_wrong_token_is_an_api_failure_without_the_token_in_the_message(in_tmp, api, monkeypatch, capsys):
    monkeypatch.setenv("APIFY_TOKEN", "apify_api_WRONGtoken")
    config = write_config(in_tmp)
    assert collect_here(config, in_tmp / "out", api.url) == EXIT_FAILED
    err = capsys.readouterr().err
    assert "--resume" in err and "apify_api_WRONGtoken" not in err
    assert all(not request.authorized for request in api.requests)


def test_missing_token_stops_before_any_request(in_tmp, api, monkeypatch):
    monkeypatch.delenv("APIFY_TOKEN")
    with pytest.raises(SystemExit, match="APIFY_TOKEN is not set"):
        collect_here(write_config(in_tmp), in_tmp / "out", api.url)
    assert api.requests == []


# --------------------------------------------------------------------------------------------------
# Cost refusal
# --------------------------------------------------------------------------------------------------


def test_over_max_cost_refuses_before_any_actor_call(in_tmp, api, capsys):
    config = write_config(in_tmp)
    assert collect_here(config, in_tmp / "out", api.url, "--max-cost", "0.10") == EXIT_REFUSED
    out, err = capsys.readouterr()
    assert "Estimated cost" in out and "$0.14" in out
    assert "exceeds --max-cost $0.10" in err
    assert api.requests == []
    assert not (in_tmp / "out" / OUTPUT_FILE_NAME).exists()


# --------------------------------------------------------------------------------------------------
# Retries (apify-client's own, configured from the config)
# --------------------------------------------------------------------------------------------------


def test_429_and_5xx_are_retried_and_the_result_is_unchanged(in_tmp, api):
    api.fail_next(2, 429, "/runs")
    api.fail_next(2, 500, "/items")
    api.fail_next(1, 503, "/actor-runs/")
    api.fail_every(7, 502)
    assert collect_here(write_config(in_tmp), in_tmp / "out", api.url, "--no-progress") == EXIT_OK
    statuses = Counter(request.status for request in api.requests)
    assert statuses[429] == 2 and statuses[500] == 2 and statuses[503] == 1 and statuses[502] >= 3
    ids = ids_in(in_tmp / "out")
    assert len(ids) == len(set(ids)) == EXPECTED_RECORDS


def test_a_request_that_times_out_is_retried(in_tmp, api):
    api.stall_next(1, 1.5, "/runs")
    config = write_config(in_tmp, search_terms=["topic0"], max_root_tweets=1, request_timeout_s=0.3)
    assert collect_here(config, in_tmp / "out", api.url, "--no-progress") == EXIT_OK
    assert len(ids_in(in_tmp / "out")) == 3 + 2 + 4


def test_retries_exhausted_keep_the_checkpoint_and_resume_finishes(in_tmp, api, capsys):
    config = write_config(in_tmp, max_retries=1)
    output = in_tmp / "out"
    assert collect_here(config, output, api.url, "--no-progress") == EXIT_OK
    reference = set(ids_in(output))

    output = in_tmp / "out2"
    api.fail_next(1000, 500, "/actor-runs/")  # every status poll fails: the first search cannot finish
    assert collect_here(config, output, api.url, "--no-progress") == EXIT_FAILED
    assert "run again with --resume" in capsys.readouterr().err
    assert json.loads((output / CHECKPOINT_FILE_NAME).read_text())["pending_run"]["step"] == "search:topic0"

    api.clear_faults()
    runs_before = len(api.run_inputs())
    assert collect_here(config, output, api.url, "--no-progress", "--resume") == EXIT_OK
    assert set(ids_in(output)) == reference and len(ids_in(output)) == len(reference)
    # the run started before the failure was re-attached, not started again
    assert len(api.run_inputs()) - runs_before == UNINTERRUPTED_ACTOR_RUNS - 1


def test_an_in_flight_run_that_vanished_is_started_again_on_resume(in_tmp, api, capsys):
    config = write_config(in_tmp, max_retries=0)
    output = in_tmp / "out"
    api.fail_next(1000, 500, "/actor-runs/")
    assert collect_here(config, output, api.url, "--no-progress") == EXIT_FAILED
    lost_run = json.loads((output / CHECKPOINT_FILE_NAME).read_text())["pending_run"]["run_id"]
    api.clear_faults()
    del api.runs[lost_run]  # e.g. deleted on Apify, or past its retention

    assert collect_here(config, output, api.url, "--no-progress", "--resume") == EXIT_OK
    assert f"actor run {lost_run} (search:topic0) no longer exists" in capsys.readouterr().err
    ids = ids_in(output)
    assert len(ids) == len(set(ids)) == EXPECTED_RECORDS
    assert len(api.run_inputs()) == UNINTERRUPTED_ACTOR_RUNS + 1


def test_a_failed_actor_run_stops_and_resume_runs_that_step_again(in_tmp, api, capsys):
    config = write_config(in_tmp)
    output = in_tmp / "out"
    api.next_run_statuses = ["SUCCEEDED", "FAILED"]  # the second search fails on Apify's side
    assert collect_here(config, output, api.url, "--no-progress") == EXIT_FAILED
    assert "(search:topic1) ended FAILED" in capsys.readouterr().err
    checkpoint = json.loads((output / CHECKPOINT_FILE_NAME).read_text())
    assert list(checkpoint["steps_done"]) == ["search:topic0"] and checkpoint["pending_run"] is None

    assert collect_here(config, output, api.url, "--no-progress", "--resume") == EXIT_OK
    ids = ids_in(output)
    assert len(ids) == len(set(ids)) == EXPECTED_RECORDS  # nothing of the failed run was kept
    assert len(api.run_inputs()) == UNINTERRUPTED_ACTOR_RUNS + 1


# --------------------------------------------------------------------------------------------------
# Checkpoints and --resume
# --------------------------------------------------------------------------------------------------


def test_existing_collection_needs_resume_and_the_same_config(in_tmp, api, capsys):
    config = write_config(in_tmp)
    output = in_tmp / "out"
    assert collect_here(config, output, api.url, "--no-progress") == EXIT_OK
    assert collect_here(config, output, api.url) == EXIT_REFUSED
    assert "pass --resume" in capsys.readouterr().err

    # max_retries only changes how the collection runs, so it may differ; max_items_per_query may not
    changed = write_config(in_tmp, "changed.yaml", max_items_per_query=60, max_retries=2)
    assert collect_here(changed, output, api.url, "--resume") == EXIT_REFUSED
    err = capsys.readouterr().err
    assert "max_items_per_query" in err and "max_retries" not in err

    requests_before = len(api.requests)
    assert collect_here(config, output, api.url, "--resume", "--max-cost", "0") == EXIT_OK  # nothing left
    assert len(api.requests) == requests_before
    assert "up to 0 items" in capsys.readouterr().out


def test_crash_between_run_start_and_commit_reattaches_and_drops_partial_lines(in_tmp, api, monkeypatch):
    config = write_config(in_tmp)
    output = in_tmp / "out"
    real_commit = collect.Collector._commit
    commits = []

    def crash_on_fourth_commit(self, *args, **kwargs):
        commits.append(args[0])
        if len(commits) == 4:
            # what a kill mid-write leaves: a complete line and a torn one past the checkpointed length
            with open(self.output_path, "a", encoding="utf-8") as file:
                file.write(json.dumps({"id": "1970000000000001001", "text": "dup"}) + "\n" + '{"id": "19700')
            raise RuntimeError("simulated crash")
        return real_commit(self, *args, **kwargs)

    monkeypatch.setattr(collect.Collector, "_commit", crash_on_fourth_commit)
    assert collect_here(config, output, api.url, "--no-progress") == EXIT_FAILED
    checkpoint = json.loads((output / CHECKPOINT_FILE_NAME).read_text())
    assert checkpoint["pending_run"]["step"] == commits[3]
    assert (output / OUTPUT_FILE_NAME).stat().st_size > checkpoint["output_bytes"]

    monkeypatch.setattr(collect.Collector, "_commit", real_commit)
    assert collect_here(config, output, api.url, "--no-progress", "--resume") == EXIT_OK
    ids = ids_in(output)  # every line parses: the torn line is gone
    assert len(ids) == len(set(ids)) == EXPECTED_RECORDS
    assert len(api.run_inputs()) == UNINTERRUPTED_ACTOR_RUNS  # the in-flight run was not paid for twice


COLLECT_COMMAND = [sys.executable, "-m", "data_prep", "collect"]


def start_collector_process(config: Path, output: Path, api_url: str, logs: Path, *extra: str):
    """`python -m data_prep collect ...` with the token in its environment; stdout/stderr go to logs.{out,err}."""
    env = {**_subprocess_env(), "APIFY_TOKEN": TOKEN}
    command = [*COLLECT_COMMAND, "--config", str(config), "--output", str(output), "--api-url", api_url, *extra]
    with open(logs.with_suffix(".out"), "w") as stdout, open(logs.with_suffix(".err"), "w") as stderr:
        return subprocess.Popen(command, cwd=logs.parent, env=env, stdout=stdout, stderr=stderr)


def _subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH")) if p)
    env.pop("APIFY_TOKEN", None)
    return env


def _steps_done(checkpoint: Path) -> int:
    try:
        return len(json.loads(checkpoint.read_text())["steps_done"])
    except (OSError, ValueError):
        return 0  # not written yet


@pytest.mark.slow
def test_sigkill_mid_run_then_resume_equals_an_uninterrupted_run(in_tmp, monkeypatch):
    config = write_config(in_tmp)
    with ApifyStandIn(default_fake_twitter(), token=TOKEN) as api:
        assert collect_here(config, in_tmp / "reference", api.url, "--no-progress") == EXIT_OK
    reference_lines = read_lines(in_tmp / "reference")

    output = in_tmp / "killed"
    with ApifyStandIn(default_fake_twitter(), token=TOKEN) as api:
        api.response_delay_s = 0.05  # slow enough to kill the collector between two checkpoints
        process = start_collector_process(config, output, api.url, in_tmp / "killed_run")
        deadline = time.monotonic() + 60
        while _steps_done(output / CHECKPOINT_FILE_NAME) < 2 and process.poll() is None:
            assert time.monotonic() < deadline, "the collector never checkpointed"
            time.sleep(0.01)
        process.send_signal(signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
        assert not json.loads((output / MANIFEST_FILE_NAME).read_text())["complete"]
        assert len(read_lines(output)) < len(reference_lines)

        api.response_delay_s = 0
        process = start_collector_process(config, output, api.url, in_tmp / "resumed_run", "--resume")
        assert process.wait(timeout=120) == 0, (in_tmp / "resumed_run.err").read_text()
        actor_runs = len(api.run_inputs())

    lines = read_lines(output)
    assert len(lines) == len(set(lines))  # no duplicate lines
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == len(set(ids))  # and no duplicate tweet
    assert set(ids) == {json.loads(line)["id"] for line in reference_lines}
    # The run in flight at the kill is re-attached, not started again; only a kill in the instant between the API's
    # answer to "start" and the checkpoint write can cost one extra run.
    assert actor_runs <= UNINTERRUPTED_ACTOR_RUNS + 1
    logs = [
        (in_tmp / name).read_text()
        for name in ("killed_run.out", "killed_run.err", "resumed_run.out", "resumed_run.err")
    ]
    assert "Estimated cost" in logs[0] and "Collected" in logs[2]
    assert_no_token_in(output, *logs)


def test_python_m_data_prep_collect_is_wired():
    result = subprocess.run(
        [*COLLECT_COMMAND, "--help"],
        cwd=REPO_ROOT,
        env=_subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "--max-cost" in result.stdout and "--resume" in result.stdout
