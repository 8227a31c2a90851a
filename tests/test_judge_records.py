"""judge/records.py: the generations/verdicts line types and the JSONL files they live in (whole lines, torn tails
reported and cut, bad lines counted with their reason)."""

import json

import pytest

from judge.records import (
    GenerationRecord,
    JsonlAppender,
    RecordError,
    VerdictRecord,
    read_jsonl,
    read_records,
)
from judge.score.tasks import read_generations, tasks_from_generations
from tests.judge_helpers import generation, write_generations


def test_generation_record_round_trips_and_rejects_bad_fields_with_a_reason():
    line = generation("t0", "adapter", "a reply", truncated=True, adapter_revision="v1")
    assert GenerationRecord.from_json(json.loads(json.dumps(line))) == GenerationRecord(**line)
    bad = [
        ({**line, "reply": None}, "missing field 'reply'"),
        ({**line, "system": "  "}, "field 'system' is empty"),
        ({**line, "item_id": 7}, "field 'item_id' must be a string"),
        ({**line, "completion_tokens": True}, "'completion_tokens' must be int"),
        ({**line, "reply": "broken \ud800 text"}, "lone surrogate"),
        ([line], "expected a JSON object"),
    ]
    for data, reason in bad:
        with pytest.raises(RecordError, match=reason):
            GenerationRecord.from_json(data)


def test_verdict_lines_carry_exactly_the_fields_stats_reads():
    common = dict(judge="claude", model="m", prompt_version="v1", input_hash="h")
    pairwise = VerdictRecord(
        item_id="t0", kind="pairwise", systems=["adapter", "base"], order=2, winner="adapter", **common
    ).to_json()
    assert {pairwise["item_id"], pairwise["order"], pairwise["winner"]} == {"t0", 2, "adapter"}
    single = VerdictRecord(item_id="t0", kind="single", systems=["base"], system="base", score=6.5, **common).to_json()
    assert (single["system"], single["score"]) == ("base", 6.5)
    failed = VerdictRecord(
        item_id="t0", kind="pairwise", systems=["base", "adapter"], order=1, parse_error="not JSON", **common
    ).to_json()
    assert failed["parse_error"] == "not JSON" and "winner" not in failed and "score" not in failed
    assert VerdictRecord.from_json(failed).task_key == VerdictRecord.from_json(failed).task_key


def test_bad_lines_and_a_torn_tail_are_reported_not_fatal(tmp_path):
    path = tmp_path / "generations.jsonl"
    good = json.dumps(generation("t0", "base", "fine"))
    path.write_bytes(
        (good + "\n").encode() + b"{not json\n" + b"\xff\xfe bytes\n" + b"[1, 2]\n" + b"\n" + good[:40].encode()
    )
    contents = read_jsonl(path)
    assert [number for number, _ in contents.rows] == [1, 4]
    assert [str(problem) for problem in contents.problems] == [
        "line 2: not JSON (Expecting property name enclosed in double quotes at column 2)",
        "line 3: not UTF-8",
        "line 6: torn last line (a write was cut short)",
    ]
    assert contents.torn_tail
    records, problems, torn = read_records(path, GenerationRecord)
    assert [number for number, _ in records] == [1]
    assert "line 4: expected a JSON object, got list" in [str(problem) for problem in problems]


def test_appender_cuts_a_torn_tail_and_keeps_a_valid_unterminated_line(tmp_path):
    torn = tmp_path / "torn.jsonl"
    torn.write_text('{"a": 1}\n{"a": 2}\n{"a": 3, "b"')
    with JsonlAppender(torn) as appender:
        assert appender.dropped_torn_bytes == len('{"a": 3, "b"')
        appender.append({"a": 4})
    assert [row for _, row in read_jsonl(torn).rows] == [{"a": 1}, {"a": 2}, {"a": 4}]
    unterminated = tmp_path / "unterminated.jsonl"
    unterminated.write_text('{"a": 1}')  # written by hand, no final newline: still a record
    with JsonlAppender(unterminated) as appender:
        appender.append({"a": 2})
    assert unterminated.read_text() == '{"a": 1}\n{"a": 2}\n'


def test_generations_are_grouped_by_item_and_inconsistent_input_is_counted(tmp_path):
    path = write_generations(tmp_path / "generations.jsonl", items=3)
    with open(path, "a") as file:
        file.write(json.dumps(generation("t0", "base", "a second base reply for t0")) + "\n")
        file.write(json.dumps(generation("t1", "human", "real reply", tweet="another tweet entirely")) + "\n")
        file.write('{"item_id": "t9"}\n')
    generations = read_generations(path)
    assert generations.systems == ["base", "adapter"]
    assert sorted(generations.items) == ["t0", "t2"]  # t1's systems disagree about the tweet: left out
    assert generations.rejected == {
        "duplicate_item_system": 1,
        "tweet_text_differs_between_systems": 3,
        "invalid_line": 1,
    }
    tasks = tasks_from_generations(generations, "both")
    pairwise = [task for task in tasks if task.kind == "pairwise"]
    assert [(task.item_id, task.order, task.shown) for task in pairwise] == [
        ("t0", 1, ("base", "adapter")),
        ("t0", 2, ("adapter", "base")),
        ("t2", 1, ("base", "adapter")),
        ("t2", 2, ("adapter", "base")),
    ]
    assert pairwise[1].replies == pairwise[0].replies[::-1]
    assert len([task for task in tasks if task.kind == "single"]) == 4
    assert read_generations(path, systems=["adapter"]).systems == ["adapter"]


def test_written_lines_survive_readers_that_split_on_unicode_line_breaks(tmp_path):
    row = {"item_id": "x\u2028y", "reply": "a\x85b\u2029c é 🙌"}
    path = tmp_path / "verdicts.jsonl"
    with JsonlAppender(path) as appender:
        appender.append(row)
        appender.append(row)
    text = path.read_text(encoding="utf-8")
    assert [json.loads(line) for line in text.splitlines()] == [row, row]  # str.splitlines breaks on U+2028 too
    assert "é 🙌" in text  # still readable UTF-8, not \\u-escaped throughout
