"""The build end to end: the pipeline on hand-built tweets, and the CLI on the bundled demo sample."""

import dataclasses
import json
import os
import re
import statistics
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from datasets import load_dataset

from data_prep.__main__ import main
from data_prep.build import run_pipeline
from data_prep.config import DataPrepConfig, load_config
from data_prep.funnel import published_entry
from data_prep.privacy import Pseudonymizer
from data_prep.sources import Rejected
from tests.data_prep_tweets import GOOD_REPLY, reply_to, root_tweet
from tests.paths import REPO_ROOT

DEMO_CONFIG = REPO_ROOT / "data_prep" / "configs" / "demo.yaml"
DEMO_SAMPLE = REPO_ROOT / "data_prep" / "sample" / "demo_tweets.jsonl"


def fast_config(**sections) -> DataPrepConfig:
    """The original spec's thresholds without the embedding model (semantic dedup and leakage check off)."""
    config = DataPrepConfig()
    config.validation.toxicity_scorer = "profanity_check"
    config.cleaning.semantic_dedup = False
    config.split.check_leakage = False
    for name, changes in sections.items():
        setattr(config, name, dataclasses.replace(getattr(config, name), **changes))
    return config


def test_pipeline_accounts_for_every_record():
    root = root_tweet()
    good = [
        reply_to(root, text=GOOD_REPLY, likes=90),
        reply_to(
            root,
            text="We moved our queue into Postgres with SKIP LOCKED and vacuum tuning per table mattered.",
            likes=20,
        ),
    ]
    copy = reply_to(root, text=GOOD_REPLY, likes=10)  # exact duplicate, fewer likes
    bot = reply_to(root, author_followers=12)
    toxic = reply_to(
        root, text="This is the dumbest fucking take I have read all week, you clearly have no idea how indexes work."
    )
    to_reply = reply_to(good[0])
    unpopular_root = root_tweet(likes=3)
    unpopular_reply = reply_to(unpopular_root)
    lonely = root_tweet()
    records = [root, *good, copy, bot, toxic, to_reply, unpopular_root, unpopular_reply, lonely, root]
    records.append(Rejected("missing_text", "77", "export.json"))
    pseudonymizer = Pseudonymizer(b"k" * 32)
    result = run_pipeline(records, fast_config(), pseudonymizer, progress=False)
    assert result.funnel.input_records == len(records) == 12
    assert dict(result.funnel.dispositions) == {
        "ingest/missing_text": 1,
        "ingest/duplicate_id": 1,
        "pairs/not_direct_reply": 1,
        "pairs/no_replies": 1,
        "root_filters/likes_below_min": 1,
        "root_filters/root_rejected": 1,
        "reply_filters/followers_below_min": 1,
        "validation/toxic": 1,
        "cleaning/exact_duplicate": 1,
        "root/used": 1,
        "kept": 2,
    }
    rows = [row for split in result.rows.values() for row in split]
    # ids are published as keyed hashes by default
    assert sorted(row["reply_id"] for row in rows) == sorted(pseudonymizer.tweet_id(t.tweet_id) for t in good)
    assert rows[0]["quality_score"] >= rows[-1]["quality_score"]
    assert result.scorers["toxicity"].startswith("alt-profanity-check") and result.scorers["embeddings"] is None


def test_the_ledger_says_why_each_record_went_with_the_value_that_decided():
    """The records of `test_pipeline_accounts_for_every_record`, each looked up by its published id as a user would:
    one grep of dispositions.jsonl answers "why was reply X dropped?"."""
    root = root_tweet()
    kept = reply_to(root, text=GOOD_REPLY, likes=90)
    copy = reply_to(root, text=GOOD_REPLY, likes=10)
    bot = reply_to(root, author_followers=12)
    to_reply = reply_to(kept)
    unpopular_root = root_tweet(likes=3)
    unpopular_reply = reply_to(unpopular_root)
    records = [root, kept, copy, bot, to_reply, unpopular_root, unpopular_reply, root]
    records.append(Rejected("missing_text", "77", "exports/export.json"))
    pseudonymizer = Pseudonymizer(b"k" * 32)
    result = run_pipeline(records, fast_config(), pseudonymizer, progress=False)
    ledger = [
        published_entry(entry, pseudonymizer.tweet_id, lambda path: Path(path).name) for entry in result.funnel.ledger
    ]
    assert Counter(line["disposition"] for line in ledger) == result.funnel.dispositions
    why = {}
    for line in ledger:
        why.setdefault(line["id"], []).append((line["disposition"], line["value"], line["related_id"]))
    hashed = pseudonymizer.tweet_id
    ((disposition, value, _),) = why[hashed(kept.tweet_id)]
    assert disposition == "kept" and value in ("split train", "split eval", "split test")
    assert why[hashed(copy.tweet_id)] == [
        ("cleaning/exact_duplicate", "same text as a reply that stays (likes 10 <= 90)", hashed(kept.tweet_id))
    ]
    assert why[hashed(bot.tweet_id)] == [
        ("reply_filters/followers_below_min", "followers 12 < min_follower_count 200", None)
    ]
    assert why[hashed(to_reply.tweet_id)] == [
        ("pairs/not_direct_reply", "answers a reply, not its conversation's first tweet", hashed(kept.tweet_id))
    ]
    assert why[hashed(unpopular_root.tweet_id)] == [("root_filters/likes_below_min", "likes 3 < min_likes 200", None)]
    assert why[hashed(unpopular_reply.tweet_id)] == [
        (
            "root_filters/root_rejected",
            "its tweet: root_filters/likes_below_min (likes 3 < min_likes 200)",
            hashed(unpopular_root.tweet_id),
        )
    ]
    assert sorted(d for d, _, _ in why[hashed(root.tweet_id)]) == ["ingest/duplicate_id", "root/used"]
    (unreadable,) = [line for line in ledger if line["disposition"] == "ingest/missing_text"]
    assert unreadable["id"] == hashed("77") and (unreadable["file"], unreadable["position"]) == ("export.json", 1)
    raw_ids = {'"77"', *(f'"{tweet.tweet_id}"' for tweet in records[:-1])}
    assert not [raw for raw in raw_ids if raw in json.dumps(ledger)]  # no raw id in any field


def test_max_pairs_keeps_the_best_by_quality():
    root = root_tweet()
    replies = [
        reply_to(root, text=f"{GOOD_REPLY} Measured on cluster number {n} over two weeks.", likes=likes)
        for n, likes in enumerate((10, 300, 50))
    ]
    config = fast_config(cleaning={"max_pairs": 1, "semantic_dedup": False})
    result = run_pipeline([root, *replies], config, Pseudonymizer(b"k" * 32), progress=False)
    (row,) = [row for split in result.rows.values() for row in split]
    assert row["reply_likes"] == 300
    assert result.funnel.dispositions["cleaning/below_quality_cutoff"] == 2


def read_report(folder: Path) -> dict:
    report = json.loads((folder / "report.json").read_text())
    assert sum(report["dispositions"].values()) == report["input_records"]
    return report


def test_demo_sample_is_reproducible_from_its_script(tmp_path):
    script = REPO_ROOT / "data_prep" / "sample" / "make_demo_tweets.py"
    subprocess.run([sys.executable, str(script), str(tmp_path / "demo.jsonl")], check=True, capture_output=True)
    assert (tmp_path / "demo.jsonl").read_bytes() == DEMO_SAMPLE.read_bytes()


def content_words(text: str) -> set[str]:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    return set(re.findall(r"[a-z][a-z0-9_]*(?:[.-][a-z0-9_]+)*", text.lower())) - ENGLISH_STOP_WORDS


def sample_records() -> int:
    return len(DEMO_SAMPLE.read_text(encoding="utf-8").splitlines())


def test_make_demo_command_builds_pairs_with_a_signal_and_drops_every_trap(tmp_path):
    """The Makefile's demo command, as a subprocess: a versioned folder load_dataset reads, with its card; enough
    held-out tweets for the judge, likes that follow what a reply says, and every trap of the sample caught."""
    output = tmp_path / "data"
    command = [sys.executable, "-m", "data_prep", "build", "--config", str(DEMO_CONFIG), "--input", str(DEMO_SAMPLE)]
    env = dict(os.environ, HF_TOKEN="hf_sentinel_value_never_logged")
    run = subprocess.run(command + ["--output", str(output)], cwd=REPO_ROOT, env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    folder = output / "v1"
    assert f"dataset written to {folder}" in run.stdout
    report = read_report(folder)
    assert report["input_records"] == sample_records()
    assert report["dispositions"]["ingest/duplicate_id"] == 3 and report["dispositions"]["ingest/placeholder"] == 2
    for reason in (
        "ingest/missing_id",
        "pairs/self_reply",
        "pairs/not_direct_reply",
        "root_filters/likes_below_min",
        "root_filters/likes_above_max",
        "root_filters/chat_control_string",
        "reply_filters/author_reply_cap",
        "reply_filters/chat_control_string",
        "reply_filters/delay_below_min",
        "reply_filters/followers_below_min",
        "reply_filters/followers_above_max",
        "reply_filters/likes_below_min",
        "reply_filters/has_media",
        "reply_filters/has_url",
        "reply_filters/length_below_min",
        "validation/spam_keyword",
        "validation/language",
        "validation/toxic",
        "validation/generic_phrases",
        "cleaning/exact_duplicate",
        "cleaning/semantic_duplicate",
    ):
        assert report["dispositions"][reason] > 0, reason
    dataset = load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    # the judge compares systems on the test split's tweets: paired statistics need a few dozen of them
    assert len(set(dataset["test"]["tweet_id"])) >= 30 and report["splits"]["train"] >= 150
    # the signal: in every train conversation the most liked reply names the tweet's subject with a number; replies
    # without any number (the bland ones) are liked far less
    train = dataset["train"].to_list()
    by_conversation = {}
    for row in train:
        by_conversation.setdefault(row["conversation_id"], []).append(row)
    for rows in by_conversation.values():
        best = max(rows, key=lambda row: row["reply_likes"])
        assert re.search(r"\d", best["reply_text"]) and content_words(best["tweet_text"]) & content_words(
            best["reply_text"]
        )
    numbered = [row["reply_likes"] for row in train if re.search(r"\d", row["reply_text"])]
    unnumbered = [row["reply_likes"] for row in train if not re.search(r"\d", row["reply_text"])]
    assert unnumbered and statistics.median(numbered) > 5 * statistics.median(unnumbered)
    assert dataset["train"].num_rows == report["splits"]["train"]
    assert set(dataset) <= {"train", "eval", "test"}
    conversations = {name: set(split["conversation_id"]) for name, split in dataset.items()}
    assert not conversations["train"] & (conversations.get("eval", set()) | conversations.get("test", set()))
    row = dataset["train"][0]
    assert row["prompt"][0]["role"] == "user" and row["completion"][0]["role"] == "assistant"
    card = (folder / "README.md").read_text()
    assert "alt-profanity-check" in card and "## Funnel" in card and "demo_tweets.jsonl" in card
    assert (folder / "funnel.png").stat().st_size > 1000
    for artefact in ("README.md", "report.json", "config.yaml"):
        assert "hf_sentinel_value_never_logged" not in (folder / artefact).read_text()
    assert "hf_sentinel_value_never_logged" not in run.stdout + run.stderr
    assert "ephemeral" in card  # no pseudonym key was set: the card says so
    check_ledger(folder, report, dataset, raw_ids={json.loads(line).get("id") for line in DEMO_SAMPLE.open()})


def check_ledger(folder: Path, report: dict, dataset, raw_ids: set) -> list[dict]:
    """dispositions.jsonl: one line per input record, counted exactly as report.json's dispositions; ids published
    as the rows publish them (kept lines' ids are the rows' reply ids), never raw; each line names its stage, reason
    and the value that decided."""
    ledger = [json.loads(line) for line in (folder / "dispositions.jsonl").read_text().splitlines()]
    assert len(ledger) == report["input_records"]
    assert Counter(line["disposition"] for line in ledger) == Counter(report["dispositions"])
    published_reply_ids = {reply_id for split in dataset.values() for reply_id in split["reply_id"]}
    assert {line["id"] for line in ledger if line["disposition"] == "kept"} == published_reply_ids
    text = (folder / "dispositions.jsonl").read_text()
    leaked = {raw for raw in raw_ids - {None} if isinstance(raw, str) and f'"{raw}"' in text}
    assert not leaked, sorted(leaked)[:5]  # no raw id in any field: ids and related ids are keyed hashes
    for line in ledger:
        assert line["disposition"] == f"{line['stage']}/{line['reason']}" or line["disposition"] == "kept"
        assert line["value"], line
        assert line["file"] and line["position"] >= 1 and "/" not in line["file"]  # a file given alone: its name
    return ledger


def build_args(tmp_path, *extra, config=DEMO_CONFIG, inputs=(DEMO_SAMPLE,)):
    return [
        "build",
        "--config",
        str(config),
        "--input",
        *map(str, inputs),
        "--output",
        str(tmp_path / "out"),
        "--no-progress",
        *extra,
    ]


def test_versions_increase_and_are_never_overwritten(tmp_path, capsys):
    fast = tmp_path / "fast.yaml"
    fast.write_text(
        "validation: {toxicity_scorer: profanity_check}\ncleaning: {semantic_dedup: false}\n"
        "split: {check_leakage: false}\n"
    )
    assert main(build_args(tmp_path, config=fast)) == 0
    assert main(build_args(tmp_path, config=fast)) == 0
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["v1", "v2"]
    assert read_report(tmp_path / "out" / "v2")["version"] == "v2"
    capsys.readouterr()
    assert main(build_args(tmp_path, "--version", "v1", config=fast)) == 2
    assert "already exists" in capsys.readouterr().err
    assert main(build_args(tmp_path, "--version", "1", config=fast)) == 2
    assert "v1, v2" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("problem", "message"),
    [
        ("bad_field", "reply_filters.min_likes"),
        ("unknown_field", "min_likez"),
        ("missing_input", "no-such-file.json"),
        ("malformed_input", "broken.json"),
        ("push_without_version", "--version"),
        ("push_without_key", "REPLYTUNE_PSEUDONYM_KEY is not set"),
    ],
)
def test_bad_config_or_input_stops_before_any_work(tmp_path, capsys, monkeypatch, problem, message):
    monkeypatch.chdir(tmp_path)  # no .env with a pseudonym key
    config, inputs, extra = DEMO_CONFIG, [DEMO_SAMPLE], []
    if problem == "bad_field":
        config = tmp_path / "bad.yaml"
        config.write_text("reply_filters:\n  min_likes: five\n")
    elif problem == "unknown_field":
        config = tmp_path / "bad.yaml"
        config.write_text("reply_filters:\n  min_likez: 5\n")
    elif problem == "missing_input":
        inputs = [DEMO_SAMPLE, tmp_path / "no-such-file.json"]
    elif problem == "malformed_input":
        inputs = [tmp_path / "broken.json"]
        inputs[0].write_text('[{"id": "1", "text": ')
    elif problem == "push_without_version":
        extra = ["--push-to-hub", "someone/pairs"]
    else:
        extra = ["--push-to-hub", "someone/pairs", "--version", "v1"]
    assert main(build_args(tmp_path, *extra, config=config, inputs=inputs)) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing was written


def one_line_error(capsys) -> str:
    """The whole of stderr, checked to be a single `error: ...` line and no traceback."""
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


@pytest.mark.parametrize(
    ("config_bytes", "message"),
    [
        # a Latin-1 comment crashed every stage with a 17-line UnicodeDecodeError that did not name the file
        (b"# r\xe9glages du build\nreply_filters:\n  min_likes: 5\n", "not UTF-8 text: byte 0xe9 at byte offset 3"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00", "not UTF-8 text: byte 0x89 at byte offset 0"),
        (b"reply_filters:\n  min_likes: 5\x00\x00", "not a text file: character 0x00 at byte offset 29"),
        (b"reply_filters:\n  min_likes: -3\n", "reply_filters.min_likes: must not be negative"),
    ],
)
def test_a_config_that_cannot_be_used_is_one_line_naming_the_file(tmp_path, capsys, config_bytes, message):
    config = tmp_path / "config.yaml"
    config.write_bytes(config_bytes)
    assert main(build_args(tmp_path, config=config)) == 2
    err = one_line_error(capsys)
    assert str(config) in err and message in err, err
    assert not (tmp_path / "out").exists()


def test_an_output_that_is_a_file_is_refused_before_any_work(tmp_path, capsys, monkeypatch):
    def no_work(*args, **kwargs):
        raise AssertionError("the build started")

    monkeypatch.setattr("data_prep.build.run_pipeline", no_work)
    output = tmp_path / "out"
    output.write_text("a regular file\n")
    args = build_args(tmp_path)
    assert main(args) == 2
    assert f"--output {output} is a file, not a folder" in one_line_error(capsys)
    args[args.index("--output") + 1] = str(output / "nested" / "data")
    assert main(args) == 2
    assert f"{output} is a file, so no folder can be made under it" in one_line_error(capsys)
    assert output.read_text() == "a regular file\n"


def test_a_config_is_recorded_with_the_version(tmp_path):
    config = tmp_path / "fast.yaml"
    config.write_text(
        "validation: {toxicity_scorer: profanity_check}\ncleaning: {semantic_dedup: false}\n"
        "split: {check_leakage: false}\nreply_filters: {min_likes: 7}\n"
    )
    assert main(build_args(tmp_path, config=config)) == 0
    recorded = tmp_path / "recorded.yaml"
    recorded.write_text((tmp_path / "out" / "v1" / "config.yaml").read_text())
    assert load_config(recorded) == load_config(config)


OPEN_BOUNDS = """
root_filters: {min_likes: null, max_likes: null, min_retweets: null, max_retweets: null, languages: []}
reply_filters: {min_likes: null, max_likes: null, min_follower_count: null, max_follower_count: null,
  min_time_delay: null, max_time_delay: null, allow_urls: true, min_length: null, max_length: null}
validation: {toxicity_scorer: profanity_check, min_language_confidence: 0.0, min_unique_words: 0}
cleaning: {semantic_dedup: false}
split: {check_leakage: false}
privacy: {published_ids: raw}
"""


def raw_tweet(tweet_id, text=GOOD_REPLY, parent=None, created_at="Thu Oct 02 09:00:00 +0000 2025", **fields) -> dict:
    """An apidojo/tweet-scraper item."""
    record = {
        "id": tweet_id,
        "fullText": text,
        "createdAt": created_at,
        "likeCount": 40,
        "retweetCount": 20,
        "inReplyToId": parent,
        "conversationId": parent or tweet_id,
        "lang": "en",
        "author": {"id": f"author-{tweet_id}", "userName": f"user{tweet_id}", "followers": 2_000},
    }
    return {**record, **fields}


def test_bad_records_are_rejected_with_a_reason_and_the_build_finishes(tmp_path):
    """Records that once crashed the build or were published (an empty prompt, a negative delay), with every bound
    off so that nothing else stops them; the file has a byte-order mark and blank lines too."""
    records = [
        raw_tweet(
            "1", "Postgres partial indexes: smaller and just as fast.", created_at="Thu Oct 02 07:00:00 +0000 2025"
        ),
        raw_tweet("2", parent="1"),
        # beyond int64: writing the dataset raised OverflowError after the whole build
        raw_tweet("3", "Another reply, with its own words.", parent="1", likeCount=10**30),
        # a valid local time after year 9999 in UTC: parsing it raised OverflowError
        raw_tweet("4", parent="1", createdAt="Fri Dec 31 23:59:59 -0100 9999"),
        # a photo tweet whose text is only its link: every pair on it had an empty prompt
        raw_tweet("5", "https://t.co/photo", likeCount=900),
        raw_tweet("6", parent="5"),
        raw_tweet("7", "@user1 https://t.co/x", parent="1"),  # nothing but the reply-to mention and a link
        raw_tweet("8", parent="404"),  # its parent is not in the input
        raw_tweet(1, "the same id as an int"),
        raw_tweet("9", "", parent="1"),
        # half an emoji, as an export that cuts texts leaves it: the language detector raised on it
        raw_tweet("10", "Partial indexes, finally explained \ud83d", parent="1"),
        # dated an hour before its tweet: published with a negative delay when min_time_delay was null
        raw_tweet("11", parent="1", createdAt="Thu Oct 02 06:00:00 +0000 2025"),
    ]
    config = tmp_path / "open.yaml"
    config.write_text(OPEN_BOUNDS)
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + b"\n\n".join(json.dumps(r).encode() for r in records) + b"\n  \n")
    assert main(build_args(tmp_path, config=config, inputs=[path])) == 0
    report = read_report(tmp_path / "out" / "v1")
    assert report["input_records"] == len(records)
    assert report["dispositions"] == {
        "ingest/missing_text": 1,
        "ingest/unreadable_created_at": 1,
        "ingest/duplicate_id": 1,
        "pairs/parent_not_found": 1,
        "root_filters/no_text": 1,
        "root_filters/root_rejected": 1,
        "reply_filters/no_text": 1,
        "reply_filters/reply_before_tweet": 1,
        "root/used": 1,
        "kept": 3,
    }
    rows = load_dataset(str(tmp_path / "out" / "v1"), cache_dir=str(tmp_path / "cache"))["train"].to_list()
    by_id = {row["reply_id"]: row for row in rows}
    assert sorted(by_id) == ["10", "2", "3"]
    assert by_id["3"]["reply_likes"] is None and by_id["2"]["reply_likes"] == 40
    assert by_id["10"]["reply_text"] == "Partial indexes, finally explained \ufffd"


def test_a_build_that_keeps_no_pair_fails_says_why_and_takes_no_version(tmp_path, capsys):
    fast = tmp_path / "fast.yaml"
    fast.write_text(
        "validation: {toxicity_scorer: profanity_check}\ncleaning: {semantic_dedup: false}\n"
        "split: {check_leakage: false}\nreply_filters: {min_likes: 100000, max_likes: null}\n"
    )
    assert main(build_args(tmp_path, config=fast)) == 1  # failed: an empty dataset is not a result
    captured = capsys.readouterr()
    assert "dataset written" not in captured.out
    lines = captured.err.splitlines()
    assert 2 <= len(lines) <= 5, captured.err
    folder = tmp_path / "out" / "empty-build"
    records = sample_records()
    assert lines[0].startswith(f"error: no pair survived: {records} input records, 0 pairs. No version was written")
    assert f"the next build is still v1); each record's reason is in {folder}/dispositions.jsonl" in lines[0]
    # the top reason first, with its count, the value that decided, and what to change
    assert lines[1].startswith("  743 replies fail reply_filters (712 likes < min_likes 100,000, 31 chat control")
    assert "loosen those bounds in reply_filters" in lines[1]
    assert not (tmp_path / "out" / "v1").exists()  # no version number taken
    report = read_report(folder)
    assert report["version"] is None and "kept" not in report["dispositions"]
    assert report["input_records"] == sample_records()
    ledger = [json.loads(line) for line in (folder / "dispositions.jsonl").read_text().splitlines()]
    assert Counter(line["disposition"] for line in ledger) == Counter(report["dispositions"])
    assert (folder / "funnel.png").read_bytes()[:4] == b"\x89PNG" and (folder / "config.yaml").is_file()

    # the fixed build takes v1, which --version v1 may name
    fast.write_text("validation: {toxicity_scorer: profanity_check}\ncleaning: {semantic_dedup: false}\n"
                    "split: {check_leakage: false}\n")  # fmt: skip
    assert main(build_args(tmp_path, "--version", "v1", config=fast)) == 0
    assert read_report(tmp_path / "out" / "v1")["version"] == "v1"


@pytest.mark.parametrize(
    "records",
    [
        # a list as id, a list as date, an object as text, no id, not an object: nothing is a tweet
        [{"id": [1], "fullText": "hi", "createdAt": "Thu Oct 02 09:00:00 +0000 2025"},
         {"id": "2", "fullText": "a reply", "createdAt": [2025, 10, 2]},
         {"id": "3", "fullText": {"text": "x"}, "createdAt": "Thu Oct 02 09:00:00 +0000 2025"},
         {"likeCount": 4, "fullText": "no id", "createdAt": "Thu Oct 02 09:00:00 +0000 2025"},
         ["not", "an", "object"]],
        [{"noResults": True}, {"noResults": True}],  # an actor run's placeholders only
    ],
)  # fmt: skip
def test_an_input_without_one_readable_tweet_is_refused_as_unreadable(tmp_path, capsys, records):
    path = tmp_path / "export.json"
    path.write_text(json.dumps(records))
    assert main(build_args(tmp_path, inputs=[path])) == 2  # refused as unreadable, not "filtered"
    err = one_line_error(capsys)
    assert f"none of the {len(records)} input records could be read as a tweet (" in err
    assert "files: export.json" in err and "not exports in a format data_prep reads" in err
    assert not (tmp_path / "out").exists()  # nothing written, no version taken


def test_collect_is_a_subcommand_of_the_cli(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["collect", "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert "--resume" in out and "--max-cost" in out
