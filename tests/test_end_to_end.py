"""The stages as one product: build and push a dataset, train, generate, judge with Claude, stats, publish, each
through its own command line in a subprocess, as a user runs them.

The first run goes through chaos: a seeded 20% of all Hub requests answered 500, the judge's API answering 500s
and hanging past the client's timeout, and `judge score` SIGKILLed mid-run and run again. A second run on the same
machine (same pseudonym key, same judge cache) checks determinism. Every secret is set to a distinctive fake value,
and everything both runs wrote, printed or pushed is searched for them and for local paths.

One module-scoped pipeline serves every test here; the tests only read what it left.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from replytune.publishable import path_free
from standins.anthropic_api import FakeAnthropic
from standins.hub import USER, HubStandIn
from tests.paths import REPO_ROOT
from tests.sft_helpers import ACCELERATE, SCRIPT, tiny_overrides

pytestmark = pytest.mark.slow

SAMPLE = REPO_ROOT / "data_prep" / "sample" / "demo_tweets.jsonl"
BASE_HUB_ID = "replytune-tests/tiny-qwen3"
DATASET_REPO, MODEL_REPO = f"{USER}/e2e-reply-pairs", f"{USER}/e2e-reply-lora"
SECRETS = {
    "HF_TOKEN": "hf_E2EfakeTokenThatMustNeverLeak01",
    "APIFY_TOKEN": "apify_api_E2EfakeTokenThatMustNeverLeak02",
    "ANTHROPIC_API_KEY": "sk-ant-E2EfakeKeyThatMustNeverLeak03",
    "WANDB_API_KEY": "e2efakewandbkeythatmustneverleak0000004",
}
PSEUDONYM_KEY = "e2e-fixed-pseudonym-key-for-determinism"
TWEETS = 4  # held-out tweets answered and judged (the sample's test split holds more)
SYSTEMS = ("base", "adapter")
ITEMS = TWEETS
JUDGE_TASKS = ITEMS * (2 + len(SYSTEMS))  # per tweet: base vs adapter in both orders, and one score per system
HUB_FAULT_RATE = 0.2
DATA_BUILD = (
    "validation: {toxicity_scorer: profanity_check}\ncleaning: {semantic_dedup: false}\n"
    "split: {check_leakage: false}\n"
)


@dataclass
class Run:
    root: Path
    logs: list[Path] = field(default_factory=list)
    tries: dict[str, int] = field(default_factory=dict)  # stage -> commands run (a rerun after a failure counts)
    killed_after: int = 0  # verdict lines written when judge score was killed
    cached_before_rerun: set[str] = field(default_factory=set)  # request bodies the killed run had cached

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def adapter(self) -> Path:
        return self.root / "adapter"

    @property
    def eval(self) -> Path:
        return self.root / "eval"


@dataclass
class Pipeline:
    hub: HubStandIn
    judge_api: FakeAnthropic
    first: Run
    second: Run
    judge_requests_after_first: int
    paths: list[str]  # absolute local paths that must never reach anything pushed
    hub_faults: int


def _canonical(body) -> str:
    return json.dumps(body, sort_keys=True)


def _seeded_hub_faults(hub: HubStandIn, rate: float, seed: int) -> list[int]:
    chance, lock, count = random.Random(seed), threading.Lock(), [0]

    def fault(method: str, path: str) -> int | None:
        with lock:
            if chance.random() < rate:
                count[0] += 1
                return 500
        return None

    hub.fault = fault
    return count


def _environment(root: Path, hub: HubStandIn) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE")
    }
    env.update(SECRETS)
    env.update(
        {
            "HF_ENDPOINT": hub.url,
            "HF_HUB_DISABLE_XET": "1",
            "HF_HOME": str(root / "hf_home"),
            "HF_DATASETS_CACHE": str(root / "hf_home" / "datasets"),
            "REPLYTUNE_PSEUDONYM_KEY": PSEUDONYM_KEY,
            "WANDB_MODE": "offline",
            "WANDB_DIR": str(root / "wandb"),
            "TRACKIO_DIR": str(root / "trackio"),
            "OMP_NUM_THREADS": "1",
            "TOKENIZERS_PARALLELISM": "false",
            "PYTHONUNBUFFERED": "1",
            "NO_PROXY": "127.0.0.1,localhost",
            "no_proxy": "127.0.0.1,localhost",
        }
    )
    return env


def _stage(run: Run, name: str, command: list[str], env: dict, attempts: int = 1, timeout: int = 600) -> None:
    """Run a stage's command, its output kept in run.root/logs; a failed command is run again as it is, as a user
    would (up to `attempts`), and the test fails with the log's tail when it never succeeds."""
    for attempt in range(1, attempts + 1):
        log = run.root / "logs" / f"{name}-{attempt}.log"
        log.parent.mkdir(parents=True, exist_ok=True)
        run.logs.append(log)
        with open(log, "w") as out:
            code = subprocess.run(
                command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout
            )
        run.tries[name] = attempt
        if code.returncode == 0:
            return
    pytest.fail(f"{name} failed {attempts} time(s):\n{log.read_text()[-4000:]}")


def _judge_config(path: Path, judge_url: str) -> Path:
    path.write_text(
        yaml.safe_dump(
            {
                "generate": {
                    "decoding": {"max_new_tokens": 8, "do_sample": False, "batch_size": 4},
                    "forgetting": {"enabled": False},
                },
                "score": {"claude": {"base_url": judge_url, "concurrency": 1, "timeout_s": 1.0, "max_retries": 4}},
            }
        )
    )
    return path


def _run_pipeline(run: Run, hub: HubStandIn, judge_api: FakeAnthropic, judge_url: str, tiny_dir: Path, chaos: bool):
    env = _environment(run.root, hub)
    python = sys.executable
    build_config = run.root / "build.yaml"
    build_config.parent.mkdir(parents=True, exist_ok=True)
    build_config.write_text(DATA_BUILD)
    judge_config = _judge_config(run.root / "judge.yaml", judge_url)
    # A failed push publishes nothing (and, for a dataset, leaves no local version): the same command runs again.
    retries = 3 if chaos else 1
    dataset_repo = DATASET_REPO if chaos else DATASET_REPO + "-again"

    _stage(run, "build", [
        python, "-m", "data_prep", "build", "--config", str(build_config), "--input", str(SAMPLE),
        "--output", str(run.data), "--push-to-hub", dataset_repo, "--version", "v1", "--no-progress",
    ], env, retries)  # fmt: skip
    # Curation (`data_prep curate`) waits for people in Argilla: this run trains on the built version as it is.
    train = tiny_overrides(tiny_dir, run.data, run.adapter, max_steps=2, eval_steps=2, save_steps=2)
    train += ["--save_strategy", "no", "--load_best_model_at_end", "false", "--base_model_hub_id", BASE_HUB_ID]
    train += ["--dataset_revision", "v1"]
    launcher = [str(ACCELERATE), "launch", "--cpu", "--num_processes", "1", "--num_machines", "1"]
    launcher += ["--mixed_precision", "no", "--dynamo_backend", "no", str(SCRIPT)]
    _stage(run, "train", launcher + train, env)
    _stage(run, "generate", [
        python, "-m", "judge", "generate", "--config", str(judge_config), "--dataset", f"{run.data}@v1",
        "--output", str(run.eval), "--system", "base", "--system", f"adapter=adapter:{run.adapter}",
        "--base-model", str(tiny_dir), "--max-tweets", str(TWEETS), "--cpu", "--no-progress",
    ], env)  # fmt: skip
    score = [
        python, "-m", "judge", "score", "--config", str(judge_config), "--generations",
        str(run.eval / "generations.jsonl"), "--judge", "claude", "--output", str(run.eval),
        "--cache-dir", str(run.root.parent / "judge_cache"), "--no-progress",
    ]  # fmt: skip
    if chaos:
        _score_killed_mid_run(run, score, env, judge_api)
    _stage(run, "score", score, env)
    _stage(run, "stats", [
        python, "-m", "judge", "stats", "--verdicts", str(run.eval / "verdicts.jsonl"), "--output", str(run.eval),
    ], env)  # fmt: skip
    if chaos:
        _stage(run, "publish", [
            python, "-m", "judge", "publish", "--config", str(judge_config), "--adapter", str(run.adapter),
            "--eval", str(run.eval), "--repo", MODEL_REPO, "--revision", "v1",
        ], env, retries)  # fmt: skip


def _score_killed_mid_run(run: Run, command: list[str], env: dict, judge_api: FakeAnthropic) -> None:
    """`judge score` while the API fails: 500s, then answers that never come (timeouts); SIGKILLed after a few
    verdicts. What it had cached by then is remembered: the rerun must not pay for any of it again."""
    judge_api.fail_next(3, 500)
    judge_api.stall_next(2, 2.5)  # the client's timeout is 1 s
    judge_api.response_delay_s = 0.3
    verdicts = run.eval / "verdicts.jsonl"
    log = run.root / "logs" / "score-killed.log"
    run.logs.append(log)
    with open(log, "w") as out:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if verdicts.exists() and verdicts.read_text().count("\n") >= 4:
                break
            time.sleep(0.02)
        process.send_signal(signal.SIGKILL)
        process.wait()
    judge_api.response_delay_s = 0.0
    run.killed_after = verdicts.read_text().count("\n") if verdicts.exists() else 0
    for entry in (run.root.parent / "judge_cache").rglob("*.json"):
        run.cached_before_rerun.add(_canonical(json.loads(entry.read_text())["request"]))


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, tiny_qwen3_dir) -> Pipeline:
    root = tmp_path_factory.mktemp("e2e")
    judge_api = FakeAnthropic(api_key=SECRETS["ANTHROPIC_API_KEY"])
    with HubStandIn() as hub, judge_api.serve() as judge_url:
        first, second = Run(root / "first"), Run(root / "second")
        faults = _seeded_hub_faults(hub, HUB_FAULT_RATE, seed=13)
        _run_pipeline(first, hub, judge_api, judge_url, tiny_qwen3_dir, chaos=True)
        hub.fault = None
        judge_requests_after_first = len(judge_api.requests)
        _run_pipeline(second, hub, judge_api, judge_url, tiny_qwen3_dir, chaos=False)
        assert not hub.errors, hub.errors
        # as folders ("/root/"): "/root" alone is also part of "root_filters/root_rejected"
        paths = [f"{path}/" for path in (root, tiny_qwen3_dir, REPO_ROOT, Path.home())]
        yield Pipeline(hub, judge_api, first, second, judge_requests_after_first, paths, faults[0])


# --- chaos ----------------------------------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _parquet_rows(data: bytes) -> list[dict]:
    import io

    import pyarrow.parquet as pq

    return pq.read_table(io.BytesIO(data)).to_pylist()


def test_no_dataset_version_is_published_half_written(pipeline):
    hub, local = pipeline.hub, pipeline.first.data / "v1"
    assert pipeline.hub_faults > 0  # the Hub really failed during the run
    report = json.loads((local / "report.json").read_text())
    expected = {str(p.relative_to(local)) for p in local.rglob("*") if p.is_file()}
    tags = hub.tags(DATASET_REPO, "dataset")
    assert set(tags) == {"v1"}
    history = hub.commits(DATASET_REPO, "dataset")
    assert history[0].oid == tags["v1"] and history[-1].title == "initial commit"
    # every commit on main holds a whole version: no data without its card, no card without its data
    for commit in history[:-1]:
        files = hub.repo_files(DATASET_REPO, "dataset", revision=commit.oid)
        assert set(files) - {".gitattributes"} == expected, commit.title
        pushed_rows = {name: len(_parquet_rows(data)) for name, data in files.items() if name.endswith(".parquet")}
        assert sum(pushed_rows.values()) == sum(report["splits"].values())


def test_no_adapter_version_is_published_half_written(pipeline):
    hub = pipeline.hub
    tags = hub.tags(MODEL_REPO)
    assert set(tags) == {"v1"}
    history = hub.commits(MODEL_REPO)
    assert history[0].oid == tags["v1"]
    adapter = (pipeline.first.adapter / "adapter_model.safetensors").read_bytes()
    for commit in history[:-1]:
        files = hub.repo_files(MODEL_REPO, revision=commit.oid)
        assert files["adapter_model.safetensors"] == adapter, commit.title
        assert {"adapter_config.json", "README.md", "eval/stats.json"} <= set(files), commit.title
        pushed, local = (
            json.loads(files["eval/stats.json"]),
            json.loads((pipeline.first.eval / "stats.json").read_text()),
        )
        assert {key: value for key, value in pushed.items() if key not in ("inputs", "local_paths_removed")} == (
            path_free({key: value for key, value in local.items() if key != "inputs"})
        )  # the evaluation of this run; only its local paths were shortened (the verdict's check names files)


def test_no_record_is_lost_or_duplicated(pipeline):
    for run in (pipeline.first, pipeline.second):
        report = json.loads((run.data / "v1" / "report.json").read_text())
        sample_records = sum(1 for line in SAMPLE.read_text().splitlines() if line.strip())
        assert report["input_records"] == sample_records
        assert sum(report["dispositions"].values()) == report["input_records"]
        assert report["dispositions"]["kept"] > 0
        generations = [json.loads(line) for line in (run.eval / "generations.jsonl").read_text().splitlines()]
        keys = [(g["item_id"], g["system"]) for g in generations]
        assert len(keys) == len(set(keys)) == ITEMS * len(SYSTEMS)
        verdicts = [json.loads(line) for line in (run.eval / "verdicts.jsonl").read_text().splitlines()]
        tasks = [(v["item_id"], v["kind"], tuple(v["systems"]), v.get("order")) for v in verdicts]
        assert len(tasks) == len(set(tasks)) == JUDGE_TASKS
        assert not any(v.get("parse_error") for v in verdicts)


def test_the_judge_never_pays_twice_for_one_request(pipeline):
    first = pipeline.first
    assert 4 <= first.killed_after < JUDGE_TASKS  # killed mid-run
    answered = [r for r in pipeline.judge_api.requests[: pipeline.judge_requests_after_first]]
    statuses = [r.status for r in answered]
    assert statuses.count(500) == 3 and statuses.count(0) == 2  # the faults really happened
    paid: dict[str, int] = {}
    for request in answered:
        if request.path == "/v1/messages" and request.status == 200:
            paid[_canonical(request.body)] = paid.get(_canonical(request.body), 0) + 1
    assert first.cached_before_rerun
    twice = [(paid.get(body), body[-300:]) for body in first.cached_before_rerun if paid.get(body) != 1]
    assert not twice, (twice, [(r.status, _canonical(r.body)[-200:]) for r in answered])
    # at concurrency 1, only the request in flight at the kill can be answered twice; every answer paid for is cached
    assert sum(paid.values()) <= len(paid) + 1
    cache = pipeline.first.root.parent / "judge_cache"
    assert {_canonical(json.loads(entry.read_text())["request"]) for entry in cache.rglob("*.json")} == set(paid)


# --- determinism ----------------------------------------------------------------------------------------------------


def _split_assignment(folder: Path) -> dict[str, str]:
    assignment = {}
    for path in sorted((folder / "data").glob("*.parquet")):
        split = path.name.split("-")[0]
        for row in _parquet_rows(path.read_bytes()):
            assignment[row["reply_id"]] = split
    return assignment


def test_two_runs_give_the_same_dataset_and_the_second_makes_no_judge_call(pipeline):
    first, second = pipeline.first.data / "v1", pipeline.second.data / "v1"
    hashes = [{p.name: _sha256(p.read_bytes()) for p in (f / "data").glob("*.parquet")} for f in (first, second)]
    assert hashes[0] == hashes[1] and hashes[0]
    assert _split_assignment(first) == _split_assignment(second)
    pushed = [
        {n: _sha256(d) for n, d in pipeline.hub.repo_files(repo, "dataset", revision="v1").items() if "parquet" in n}
        for repo in (DATASET_REPO, DATASET_REPO + "-again")
    ]
    assert pushed[0] == pushed[1] == {f"data/{name}": digest for name, digest in hashes[0].items()}
    replies = [
        [{k: v for k, v in json.loads(line).items() if k != "system_spec"} for line in path.read_text().splitlines()]
        for path in (pipeline.first.eval / "generations.jsonl", pipeline.second.eval / "generations.jsonl")
    ]  # the same replies (system_spec names each run's adapter folder)
    assert replies[0] == replies[1]
    assert len(pipeline.judge_api.requests) == pipeline.judge_requests_after_first  # zero judge calls
    score_report = json.loads((pipeline.second.eval / "score_report.json").read_text())
    assert score_report["run"]["from_cache"] == JUDGE_TASKS


# --- secrets and local paths ----------------------------------------------------------------------------------------


def _everything_written(root: Path) -> list[Path]:
    return [path for path in root.rglob("*") if path.is_file()]


def test_no_secret_appears_in_anything_written_printed_or_pushed(pipeline):
    secrets = [value.encode() for value in SECRETS.values()]
    root = pipeline.first.root.parent
    written = _everything_written(root)
    assert any(p.suffix == ".log" for p in written) and any("judge_cache" in p.parts for p in written)
    for path in written:
        data = path.read_bytes()
        assert not any(secret in data for secret in secrets), path
    hub = pipeline.hub
    for repo, repo_type in ((DATASET_REPO, "dataset"), (DATASET_REPO + "-again", "dataset"), (MODEL_REPO, "model")):
        for commit in hub.commits(repo, repo_type):
            for name, data in hub.repo_files(repo, repo_type, revision=commit.oid).items():
                assert not any(secret in data for secret in secrets), (repo, name)


def test_no_local_path_appears_in_anything_pushed(pipeline):
    hub = pipeline.hub
    paths = [path.encode() for path in pipeline.paths]
    for repo, repo_type in ((DATASET_REPO, "dataset"), (DATASET_REPO + "-again", "dataset"), (MODEL_REPO, "model")):
        for commit in hub.commits(repo, repo_type):
            for name, data in hub.repo_files(repo, repo_type, revision=commit.oid).items():
                for path in paths:
                    assert path not in data, (repo, name, path.decode())
