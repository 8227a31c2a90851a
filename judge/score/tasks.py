"""Judging tasks: what one judge request is about, built from generations.jsonl (score) or real threads (validate).

Pairwise: every pair of systems that answered a tweet is one comparison, shown twice (order 1: the first system as
reply A; order 2: swapped), so that position bias cancels out and can be measured. Single-answer: one task per
(tweet, system).
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from judge.records import PAIRWISE, SINGLE, GenerationRecord, LineProblem, read_records, task_key


@dataclass(frozen=True)
class JudgeTask:
    item_id: str
    kind: str  # "pairwise" or "single"
    tweet_text: str
    systems: tuple[str, ...]  # pairwise: the two systems compared, in a fixed order; single: (system,)
    shown: tuple[str, ...]  # the systems in the order the judge sees them (A, B)
    replies: tuple[str, ...]  # their replies, in that order
    order: int | None = None  # pairwise: 1 (as `systems`) or 2 (swapped)

    @property
    def key(self) -> str:
        return task_key(self.kind, self.item_id, self.shown)

    @property
    def input_hash(self) -> str:
        payload = json.dumps([self.tweet_text, list(self.replies)], ensure_ascii=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def pairwise_tasks(item_id: str, tweet_text: str, first: tuple[str, str], second: tuple[str, str]) -> list[JudgeTask]:
    """Both presentations of one comparison; `first`/`second` are (system, reply)."""
    systems = (first[0], second[0])
    return [
        JudgeTask(item_id, PAIRWISE, tweet_text, systems, systems, (first[1], second[1]), order=1),
        JudgeTask(item_id, PAIRWISE, tweet_text, systems, systems[::-1], (second[1], first[1]), order=2),
    ]


def single_task(item_id: str, tweet_text: str, system: str, reply: str) -> JudgeTask:
    return JudgeTask(item_id, SINGLE, tweet_text, (system,), (system,), (reply,))


@dataclass
class Generations:
    """The usable records of a generations.jsonl, grouped by item, and everything that was not usable, with why."""

    items: dict[str, list[GenerationRecord]] = field(default_factory=dict)  # item_id -> records, file order
    systems: list[str] = field(default_factory=list)  # in order of first appearance
    lines: int = 0
    problems: list[LineProblem] = field(default_factory=list)
    torn_tail: bool = False
    rejected: Counter = field(default_factory=Counter)  # reason -> count

    def summary(self) -> dict:
        return {
            "lines": self.lines,
            "items": len(self.items),
            "systems": self.systems,
            "records_used": sum(len(records) for records in self.items.values()),
            "rejected": dict(self.rejected),
            "torn_tail": self.torn_tail,
            "problems": [str(problem) for problem in self.problems[:20]],
            "problems_total": len(self.problems),
        }


def read_generations(path: str | Path, systems: list[str] | None = None) -> Generations:
    """Read generations.jsonl: bad lines and records are counted with their reason, never fatal.

    A repeated (item, system) keeps its first line; an item whose systems disagree about the tweet text is left out
    (its replies did not answer the same tweet); `systems` keeps only the systems named.
    """
    records, problems, torn = read_records(path, GenerationRecord)
    result = Generations(problems=problems, torn_tail=torn)
    result.lines = len(records) + len(problems)
    for problem in problems:
        result.rejected["torn_last_line" if "torn" in problem.reason else "invalid_line"] += 1
    seen: set[tuple[str, str]] = set()
    for number, record in records:
        if systems is not None and record.system not in systems:
            result.rejected["system_not_selected"] += 1
            continue
        if (record.item_id, record.system) in seen:
            result.rejected["duplicate_item_system"] += 1
            result.problems.append(LineProblem(number, f"repeats item {record.item_id!r} for {record.system!r}"))
            continue
        seen.add((record.item_id, record.system))
        result.items.setdefault(record.item_id, []).append(record)
    for item_id in list(result.items):
        if len({record.tweet_text for record in result.items[item_id]}) > 1:
            result.rejected["tweet_text_differs_between_systems"] += len(result.items.pop(item_id))
    for records in result.items.values():
        result.systems += [record.system for record in records if record.system not in result.systems]
    return result


def tasks_from_generations(generations: Generations, mode: str) -> list[JudgeTask]:
    """Pairwise tasks for every pair of systems on each item (systems in order of first appearance), in both orders,
    and/or one single-answer task per reply."""
    rank = {system: index for index, system in enumerate(generations.systems)}
    tasks = []
    for item_id, records in generations.items.items():
        records = sorted(records, key=lambda record: rank[record.system])
        tweet = records[0].tweet_text
        if mode in ("both", "pairwise"):
            for first, second in itertools.combinations(records, 2):
                tasks += pairwise_tasks(item_id, tweet, (first.system, first.reply), (second.system, second.reply))
        if mode in ("both", "single"):
            tasks += [single_task(item_id, tweet, record.system, record.reply) for record in records]
    return tasks
