"""A verdict never outruns its judge, through the real commands: `judge score` with Claude (a stand-in) on one
dataset version's held-out tweets, `judge validate --dataset` of that judge on that version's held-out pairs, and
`judge stats`, whose verdict says "criteria met" only when validity.json shows this judge beats length on real
held-out pairs of this dataset version."""

from __future__ import annotations

import json
import re

import pytest

from judge.__main__ import main
from judge.provenance import dataset_identity
from judge.records import write_jsonl
from judge.score.backends import claude
from standins.anthropic_api import FakeAnthropic
from tests.judge_helpers import generation

KEY = "test-anthropic-key"
LIKED = "p99 fell {}% after the fix"  # short, specific: what the readers of this dataset liked
GENERIC = "Thanks for sharing this, it is a really interesting point of view on the topic"  # long, liked least
SHORT = "Good one, thanks"  # short, liked a little


def digits(text: str) -> int:
    return len(re.findall(r"\d", text))


def prefers_numbers(kind: str, data: dict) -> dict:
    """A judge that has learned what these readers like: the reply with more digits wins (equal: a tie)."""
    if kind == "pairwise":
        a, b = digits(data["reply_A"]), digits(data["reply_B"])
        return {"reasoning": "specific numbers", "winner": "A" if a > b else "B" if b > a else "tie"}
    score = min(10, 2 + digits(data["reply"]))
    return {"reasoning": "specific numbers", "engagement": score, "relevance": score, "tone": score}


def write_version(folder, conversations: int, tag: str):
    """A data_prep-shaped version whose likes reward specific replies over long ones: the longer reply is right on
    one pair in three, a judge that reads the numbers on two and a half."""
    from datasets import Dataset

    (folder / "data").mkdir(parents=True)
    for split in ("train", "test"):
        rows = []
        for c in range(conversations):
            conversation = f"{tag}-{split}-c{c}"
            for r, (text, likes) in enumerate([(LIKED.format(10 + c), 30), (GENERIC, 2), (SHORT, 5)]):
                rows.append(
                    {
                        "tweet_text": f"We rewrote the scheduler ({conversation})",
                        "reply_text": text,
                        "tweet_id": f"{conversation}-root",
                        "reply_id": f"{conversation}-r{r}",
                        "conversation_id": conversation,
                        "reply_likes": likes,
                    }
                )
        Dataset.from_list(rows).to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    (folder / "report.json").write_text(json.dumps({"sources": [{"name": "export.jsonl", "sha256": "0" * 64}]}))
    return folder


@pytest.fixture
def fake(monkeypatch):
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    api = FakeAnthropic(policy=prefers_numbers, api_key=KEY)
    monkeypatch.setattr(claude, "http_client_factory", api.http_client)
    return api


def evaluate(tmp_path, dataset_folder, items: int = 24):
    """generations.jsonl of base vs adapter on `dataset_folder`'s held-out tweets (as `judge generate` records
    them, generation_report.json with the version's identity), judged by Claude in both modes."""
    folder = tmp_path / "eval"
    rows = []
    for i in range(items):
        rows.append(generation(f"t{i}", "base", "Nice write-up!", tweet=f"tweet {i}"))
        rows.append(generation(f"t{i}", "adapter", f"p{i % 3 + 50} fell {i * 7}% in week {i % 2}", tweet=f"tweet {i}"))
    folder.mkdir()
    write_jsonl(folder / "generations.jsonl", rows)
    identity = dataset_identity(str(dataset_folder), dataset_folder, dataset_folder.name)
    (folder / "generation_report.json").write_text(json.dumps({"dataset": {"identity": identity}}))
    score = ["score", "--generations", str(folder / "generations.jsonl"), "--judge", "claude", "--output"]
    assert main([*score, str(folder), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]) == 0
    return folder


def validate(tmp_path, dataset_folder, output) -> int:
    return main([
        "validate", "--dataset", str(dataset_folder), "--judge", "claude", "--output", str(output),
        "--cache-dir", str(tmp_path / "cache"), "--no-progress",
    ])  # fmt: skip


def stats(folder, *extra) -> dict:
    assert main(["stats", "--verdicts", str(folder / "verdicts.jsonl"), "--output", str(folder), *extra]) == 0
    return json.loads((folder / "stats.json").read_text())


def test_criteria_met_only_once_the_judge_is_validated_on_this_dataset_version(fake, tmp_path, capsys):
    data = tmp_path / "data"
    v1, v2 = write_version(data / "v1", 12, "v1"), write_version(data / "v2", 12, "v2")
    folder = evaluate(tmp_path, v1)

    before = stats(folder)  # the statistics pass, but nothing shows the judge predicts likes here
    assert before["verdict"]["statistical_criteria_met"] is True and before["verdict"]["criteria_met"] is False
    assert before["verdict"]["judge_validity"]["failed"] == "no validity.json"

    assert validate(tmp_path, v2, tmp_path / "v2-validity") == 0  # valid, but on another version
    other = stats(folder, "--validity", str(tmp_path / "v2-validity"))
    assert other["verdict"]["judge_validity"]["failed"] == "another dataset"
    assert "validity.json measured judges on" in other["verdict"]["summary"] and "v2" in other["verdict"]["summary"]

    assert validate(tmp_path, v1, folder / "validity") == 0
    validity = json.loads((folder / "validity" / "validity.json").read_text())
    result = validity["judges"]["claude"]
    assert validity["dataset"]["data_sha256"] == dataset_identity(str(v1), v1, "v1")["data_sha256"]
    assert (
        result["identity"]["fingerprint"]
        == json.loads((folder / "score_report.json").read_text())["judge_identity"]["fingerprint"]
    )
    assert result["accuracy"] > validity["baselines"]["longer_reply"]["accuracy"] + 0.3
    after = stats(folder)
    assert after["verdict"]["criteria_met"] is True and after["verdict"]["established"] is True
    assert after["verdict"]["judge_validity"]["reason"].startswith("validated on 36 real held-out pairs of ")
    assert "verdict: CRITERIA MET" in capsys.readouterr().out

    # the same judge name with other settings (a rubric reworded without a new version) is another judge
    rubric = "Judge the replies. Your answer is only the JSON object the output format asks for."
    (tmp_path / "reworded.yaml").write_text(f"score:\n  prompt:\n    rubric: '{rubric}'\n")
    command = ["validate", "--config", str(tmp_path / "reworded.yaml"), "--dataset", str(v1), "--judge", "claude"]
    command += ["--output", str(tmp_path / "reworded"), "--cache-dir", str(tmp_path / "cache"), "--no-progress"]
    assert main(command) == 0
    reworded = stats(folder, "--validity", str(tmp_path / "reworded" / "validity.json"))
    assert reworded["verdict"]["judge_validity"]["failed"] == "another judge"


def test_a_judge_validated_on_synthetic_pairs_is_not_valid_for_a_verdict(fake, tmp_path):
    from judge.provenance import SYNTHETIC_SAMPLES
    from replytune.files import sha256_of

    v1 = write_version(tmp_path / "data" / "v1", 12, "v1")
    sample = SYNTHETIC_SAMPLES[0]
    report = {"sources": [{"name": sample.name, "sha256": sha256_of(sample)}]}
    (v1 / "report.json").write_text(json.dumps(report))  # built from the demo's synthetic sample
    folder = evaluate(tmp_path, v1)
    assert validate(tmp_path, v1, folder / "validity") == 0
    verdict = stats(folder)["verdict"]
    assert verdict["statistical_criteria_met"] is True and verdict["criteria_met"] is False
    assert verdict["judge_validity"]["failed"] == "synthetic pairs"
    assert "data_prep/sample/demo_tweets.jsonl" in verdict["summary"]
