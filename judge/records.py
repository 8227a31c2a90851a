"""The evaluation folder: the name of every file the judge's commands write there, the two line files at its heart,
generations.jsonl (what each system replied) and verdicts.jsonl (what a judge said about it), the one way they are
written and read back, and the vocabulary of a verdict (pairwise or single, a tie, a win or a loss) with the one rule
that combines a pairwise verdict's two orders.

Writing keeps one invariant: a line in the file is either whole or the torn tail of a killed run. Every line is
written with a single `write` of the encoded line and its newline, then flushed and fsynced, so a crash leaves at
most a torn last line. `JsonlAppender` cuts such a tail off (and says so) before it appends, and `read_jsonl`
reports it instead of failing; a resumed run then redoes only that line's work.

Reading never crashes on a bad line: a line that is not UTF-8, not JSON, not an object, or not a valid record is
reported with its line number and reason, counted, and skipped.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------------
# The evaluation folder's files, by the command that writes them (`judge run` writes them all into one folder)
# --------------------------------------------------------------------------------------------------

# judge generate
PUBLISHED_EVAL_FOLDER = "eval"  # where judge publish puts these files in the adapter's repo
GENERATIONS_FILE_NAME = "generations.jsonl"
GENERATION_REPORT_FILE_NAME = "generation_report.json"
GENERATION_SUMMARY_FILE_NAME = "generation_summary.md"
REPLY_LENGTHS_PLOT_FILE_NAME = "reply_lengths.png"
GENERATE_CONFIG_FILE_NAME = "generate_config.yaml"
FORGETTING_FILE_NAME = "forgetting.json"  # the forgetting check's perplexities, reused by a resumed run
# judge score
VERDICTS_FILE_NAME = "verdicts.jsonl"
SCORE_REPORT_FILE_NAME = "score_report.json"
SCORE_CONFIG_FILE_NAME = "score_config.yaml"
ENGAGEMENT_FIT_FILE_NAME = "engagement_fit.json"  # the engagement judge only
BATCHES_FILE_NAME = "batches.json"  # beside the verdicts: Message Batches still running, for a resumed run
# judge stats
STATS_FILE_NAME = "stats.json"
STATS_PLOT_FILE_NAMES = {
    "score_distributions": "score_distributions.png",
    "win_tie_loss": "win_tie_loss.png",
    "difference_vs_length": "difference_vs_length.png",
}
# judge validate (into the evaluation folder or a folder of its own, such as EVAL/validity)
VALIDITY_FILE_NAME = "validity.json"
VALIDITY_SUMMARY_FILE_NAME = "validity.md"
VALIDITY_PLOT_FILE_NAME = "validity.png"
VALIDATE_CONFIG_FILE_NAME = "validate_config.yaml"
VALIDATION_VERDICTS_FOLDER_NAME = "validation"  # each judge's verdicts on the reply pairs, verdicts-JUDGE.jsonl
VALIDITY_FOLDERS = ("", "validity")  # where stats and publish look for validity.json in an evaluation folder
# judge human-eval
HUMAN_EVAL_MAPPING_FILE_NAME = "human_eval_mapping.json"
HUMAN_VERDICTS_FILE_NAME = "human_verdicts.jsonl"
HUMAN_EVAL_SUMMARY_FILE_NAME = "human_eval_summary.json"
HUMAN_EVAL_SUMMARY_MARKDOWN_FILE_NAME = "human_eval_summary.md"
# judge publish
PUBLISHED_FILE_NAME = "published.json"  # what went where: repo, tag, commit, hashes
PUBLISHED_CARD_FILE_NAME = "model_card.md"  # the card as pushed (the repo's README.md at that tag)


class RecordError(ValueError):
    """A line that is not a valid record; the message is the reason (the caller adds the line number)."""


# --------------------------------------------------------------------------------------------------
# generations.jsonl: one line per (tweet, system), written by `python -m judge generate`
# --------------------------------------------------------------------------------------------------


@dataclass
class GenerationRecord:
    """One system's reply to one held-out tweet.

    `item_id` names the tweet (every system's line for that tweet carries the same id and tweet text);
    `system` is the short name the verdicts use (base, adapter, retrieval, human) and `system_spec` what it was
    (base:MODEL, adapter:REPO@rev, ...). `truncated`: the reply hit max_new_tokens without `<|im_end|>`;
    `empty`: nothing came back. Flagged replies are kept and judged like any other.
    """

    item_id: str
    tweet_text: str
    system: str
    reply: str
    system_spec: str = ""
    conversation_id: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    generation_settings: dict[str, Any] = field(default_factory=dict)
    adapter_revision: str | None = None
    dataset_revision: str | None = None
    truncated: bool = False
    empty: bool = False
    # What else a reader may want to know about this reply: the retrieval system's train tweet and similarity, the
    # human reference's reply id and likes.
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Any) -> GenerationRecord:
        """Check types field by field; unknown fields are ignored (a later version may add some)."""
        if not isinstance(data, dict):
            raise RecordError(f"expected a JSON object, got {type(data).__name__}")
        values = {}
        for name in ("item_id", "system"):
            values[name] = _required_text(data, name, allow_empty=False)
        for name in ("tweet_text", "reply"):
            values[name] = _required_text(data, name, allow_empty=True)
        for name in ("system_spec",):
            values[name] = _optional(data, name, str) or ""
        for name in ("conversation_id", "adapter_revision", "dataset_revision"):
            values[name] = _optional(data, name, str)
        for name in ("prompt_tokens", "completion_tokens"):
            values[name] = _optional(data, name, int)
        for name in ("truncated", "empty"):
            values[name] = bool(_optional(data, name, bool))
        values["generation_settings"] = _optional(data, "generation_settings", dict) or {}
        values["details"] = _optional(data, "details", dict) or {}
        return cls(**values)


def _required_text(data: dict, name: str, allow_empty: bool) -> str:
    if name not in data or data[name] is None:
        raise RecordError(f"missing field {name!r}")
    value = data[name]
    if not isinstance(value, str):
        raise RecordError(f"field {name!r} must be a string, got {type(value).__name__}")
    if not allow_empty and not value.strip():
        raise RecordError(f"field {name!r} is empty")
    _check_unicode(value, name)
    return value


def _optional(data: dict, name: str, kind: type) -> Any:
    value = data.get(name)
    if value is None:
        return None
    # bool is an int in Python: a count of `true` is a wrong type, not 1.
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise RecordError(f"field {name!r} must be {kind.__name__}, got {type(value).__name__}")
    if isinstance(value, str):
        _check_unicode(value, name)
    return value


def _check_unicode(text: str, name: str) -> None:
    # JSON can carry "\ud800" (a lone surrogate): Python accepts it, but no encoder or API does.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise RecordError(f"field {name!r} holds a lone surrogate (not valid Unicode)") from None


# --------------------------------------------------------------------------------------------------
# verdicts.jsonl: one line per judged item and presentation, written by `python -m judge score`
# --------------------------------------------------------------------------------------------------

PAIRWISE = "pairwise"  # a verdict's kind: which of two replies is better, or a tie
SINGLE = "single"  # a verdict's kind: one reply scored on its own
TIE = "tie"  # the pairwise winner when neither reply is better
WIN, LOSS = "win", "loss"  # one item's pairwise outcome, from the candidate's side (judge stats)


@dataclass
class VerdictRecord:
    """One judgement.

    Pairwise (`kind` "pairwise"): `systems` are the two systems in the order the judge saw them (reply A, then
    reply B); `order` is 1 or 2, which of the two presentations this was (order 1 shows them in the comparison's own
    order, order 2 swapped); `winner` is the winning SYSTEM's name (not its position) or "tie".
    Single-answer (`kind` "single"): `system` and `score` (1-10, the weighted mean of `criteria`).
    A verdict that could not be parsed carries `parse_error` and no `winner`/`score`: it is counted, never dropped.
    `input_hash` is a hash of the texts judged, so a resumed run notices when the generations changed under it.
    """

    item_id: str
    kind: str
    judge: str
    model: str
    prompt_version: str
    input_hash: str
    systems: list[str]  # pairwise: as shown (A, B); single: [system]
    order: int | None = None
    system: str | None = None
    winner: str | None = None
    score: float | None = None
    criteria: dict[str, int] | None = None
    reasoning: str | None = None
    parse_error: str | None = None
    request_id: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_write_tokens: int = 0
    cache_read_tokens: int = 0
    cost_usd: float = 0.0
    cached: bool = False
    batch_id: str | None = None
    notes: list[str] = field(default_factory=list)
    # A hash of everything that changes the judge's answers (its endpoint, full prompt texts, a local model's
    # weights): verdicts of two judge setups never mix in one file, and validity.json is matched to it.
    judge_fingerprint: str | None = None

    @property
    def task_key(self) -> str:
        return task_key(self.kind, self.item_id, self.systems)

    @property
    def compared(self) -> tuple[str, ...]:
        """The systems in the comparison's own order (what order 1 shows), the same for both orders."""
        return tuple(self.systems if self.order != 2 else self.systems[::-1])

    def to_json(self) -> dict[str, Any]:
        # A None field is left out, so that a parse error line has no `winner`/`score` key at all.
        return {name: value for name, value in asdict(self).items() if value is not None}

    @classmethod
    def from_json(cls, data: Any) -> VerdictRecord:
        if not isinstance(data, dict):
            raise RecordError(f"expected a JSON object, got {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        missing = [name for name in ("item_id", "kind", "judge", "model", "systems") if name not in data]
        if missing:
            raise RecordError(f"missing field(s) {', '.join(missing)}")
        try:
            record = cls(**{name: value for name, value in data.items() if name in known})
        except TypeError as error:
            raise RecordError(str(error)) from None
        if record.kind not in (PAIRWISE, SINGLE) or not isinstance(record.systems, list):
            raise RecordError(f"kind must be {PAIRWISE!r} or {SINGLE!r} with a list `systems`")
        return record


def task_key(kind: str, item_id: str, shown: Iterable[str]) -> str:
    """What identifies one judgement in a verdicts file: the kind, the item and the systems in the order shown."""
    return json.dumps([kind, item_id, list(shown)], ensure_ascii=False)


# --------------------------------------------------------------------------------------------------
# A pairwise verdict's two orders, combined: the one rule that score, validate, stats and human-eval apply
# --------------------------------------------------------------------------------------------------


def combined_winner(winners: Sequence[str]) -> tuple[str, bool | None]:
    """(winner, consistent) of one item from the winners of its parsed orders.

    Two orders that name the same winner give it (a tie included); two that disagree give a tie, inconsistent (a
    tie against a win included); any other number of parsed orders gives a tie whose consistency is unknown (None).
    """
    if len(winners) != 2:
        return TIE, None
    first, second = winners[0], winners[1]
    return (first, True) if first == second else (TIE, False)


@dataclass
class CombinedVerdict:
    winner: str  # a system name or "tie"
    consistent: bool | None  # None: fewer than two parsed orders
    parsed_orders: int
    first_position_picks: int  # decisive order verdicts that picked the reply shown first
    decisive_orders: int


def combine_orders(records: Sequence[VerdictRecord]) -> dict[tuple[str, tuple[str, ...]], CombinedVerdict]:
    """(item_id, systems) -> the combined verdict of its pairwise lines (the last line of each order counts)."""
    by_pair: dict[tuple[str, tuple[str, ...]], dict[int, VerdictRecord]] = defaultdict(dict)
    for record in records:
        if record.kind == PAIRWISE:
            by_pair[(record.item_id, record.compared)][record.order] = record
    combined = {}
    for key, orders in by_pair.items():
        winners = [record.winner for record in orders.values() if record.winner is not None]
        decisive = [record for record in orders.values() if record.winner not in (None, TIE)]
        first = sum(record.winner == record.systems[0] for record in decisive)
        winner, consistent = combined_winner(winners)
        combined[key] = CombinedVerdict(winner, consistent, len(winners), first, len(decisive))
    return combined


# What a single-answer score measures. A rubric score (1-10) has a true zero below it: "15% above the baseline's
# mean" is a statement about it. A centred score (the engagement judge's: standard deviations of a conversation's
# log-likes, 0 its average reply) does not: a mean of -0.09 makes any change look like hundreds of percent.
RUBRIC_SCALE, CENTRED_SCALE = "1-10", "centred"
JUDGE_SCORE_SCALES = {
    "claude": RUBRIC_SCALE,
    "openai": RUBRIC_SCALE,
    "local": RUBRIC_SCALE,
    "engagement": CENTRED_SCALE,
}
SCORE_LABELS = {
    RUBRIC_SCALE: "mean score (1-10)",
    CENTRED_SCALE: "mean predicted engagement (centred: 0 is a conversation's average reply, in SDs of its log-likes)",
}


def score_scale(judge: str | None, configured: str = "auto", scores: Iterable[float] = ()) -> tuple[str, str]:
    """(RUBRIC_SCALE or CENTRED_SCALE, why) for the scores of `judge`: as configured, else by the judge, else centred
    when any score is 0 or below (a relative change of such a mean is undefined)."""
    if configured != "auto":
        return configured, f"stats.score_scale: {configured}"
    if judge in JUDGE_SCORE_SCALES:
        return JUDGE_SCORE_SCALES[judge], f"the {judge} judge's scores are {JUDGE_SCORE_SCALES[judge]}"
    if any(score <= 0 for score in scores):
        return CENTRED_SCALE, "some scores are 0 or below: the scale has no true zero under them"
    return RUBRIC_SCALE, "every score is above 0 (an unnamed judge: read as a rubric score)"


# A judge that answers every prompt alike measures nothing: its pairwise accuracy is a coin's by construction, and a
# 50% figure from it would read as a measurement. Below this many parsed verdicts, sameness can be chance.
MIN_VERDICTS_FOR_SIGNAL = 4


def no_signal(records: Sequence[VerdictRecord], alike: Iterable[str] = ()) -> str | None:
    """Why one judge's pairwise verdicts carry no signal, or None: every parsed pairwise verdict picked the same
    position (reply A, reply B, or a tie), whatever was shown where. `alike`: the task keys of judgements whose replies
    are the same text (a tie there is right, not a lack of signal)."""
    alike = set(alike)
    records = [record for record in records if record.task_key not in alike]
    pairwise = [record for record in records if record.kind == PAIRWISE and record.winner is not None]
    positions = {
        TIE if record.winner == TIE else "reply A" if record.winner == record.systems[0] else "reply B"
        for record in pairwise
    }
    if len(pairwise) >= MIN_VERDICTS_FOR_SIGNAL and len(positions) == 1:
        answer = positions.pop()
        return (
            f"it gave the same answer ({answer}) to all {len(pairwise)} pairwise prompts, whichever reply was "
            "shown where: its verdicts say nothing about the replies"
        )
    return None


def constant_scores(records: Sequence[VerdictRecord], alike: Iterable[str] = ()) -> str | None:
    """Every parsed single-answer score the same number (replies of the same text aside): said, not fatal, since a
    judge may rightly find every reply equally weak; the paired tests then have no spread to read."""
    alike = set(alike)
    scores = [r.score for r in records if r.kind == SINGLE and r.score is not None and r.task_key not in alike]
    if len(scores) >= MIN_VERDICTS_FOR_SIGNAL and len(set(scores)) == 1:
        return f"the judge gave the same score ({scores[0]:g}) to all {len(scores)} replies"
    return None


# --------------------------------------------------------------------------------------------------
# JSONL reading and atomic appending
# --------------------------------------------------------------------------------------------------


@dataclass
class LineProblem:
    line: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.reason}"


@dataclass
class JsonlContents:
    """The objects of a JSONL file with their line numbers, and every line that could not be read, with why."""

    rows: list[tuple[int, Any]] = field(default_factory=list)
    problems: list[LineProblem] = field(default_factory=list)
    torn_tail: bool = False  # the last line has no newline and is not valid JSON: a write cut short


def read_jsonl(path: str | Path) -> JsonlContents:
    return parse_jsonl(Path(path).read_bytes())


def parse_jsonl(data: bytes) -> JsonlContents:
    """`read_jsonl` of a file's bytes, for a reader that also needs them (to hash them, or to drop a byte-order mark).
    Lines end at a newline byte only: str.splitlines() would also break inside a string holding a raw U+2028."""
    contents = JsonlContents()
    lines = data.split(b"\n")
    ends_with_newline = data.endswith(b"\n")
    if ends_with_newline:
        lines.pop()
    for number, raw in enumerate(lines, start=1):
        is_last_unterminated = number == len(lines) and not ends_with_newline
        if not raw.strip():
            continue
        try:
            contents.rows.append((number, json.loads(raw.decode("utf-8"))))
        except UnicodeDecodeError:
            contents.problems.append(LineProblem(number, "not UTF-8"))
        except json.JSONDecodeError as error:
            if is_last_unterminated:
                contents.torn_tail = True
                contents.problems.append(LineProblem(number, "torn last line (a write was cut short)"))
            else:
                contents.problems.append(LineProblem(number, f"not JSON ({error.msg} at column {error.colno})"))
    return contents


def read_records(path: str | Path, record_type: type) -> tuple[list[tuple[int, Any]], list[LineProblem], bool]:
    """(line, record) for each valid line, the problems (unreadable lines and invalid records), and torn_tail."""
    contents = read_jsonl(path)
    records, problems = [], list(contents.problems)
    for number, data in contents.rows:
        try:
            records.append((number, record_type.from_json(data)))
        except RecordError as error:
            problems.append(LineProblem(number, str(error)))
    problems.sort(key=lambda problem: problem.line)
    return records, problems, contents.torn_tail


def cut_torn_tail(path: Path) -> int:
    """Make `path` end with a newline: drop an unterminated last line that is not valid JSON (a torn write), or
    terminate one that is. Returns the number of bytes dropped."""
    if not path.exists() or path.stat().st_size == 0:
        return 0
    with open(path, "rb+") as file:
        file.seek(0, os.SEEK_END)
        size = file.tell()
        file.seek(max(0, size - 1))
        if file.read(1) == b"\n":
            return 0
        # Find the start of the last line without reading the whole file.
        start, block = size, 1 << 16
        while start > 0:
            step = min(block, start)
            file.seek(start - step)
            chunk = file.read(step)
            newline = chunk.rfind(b"\n")
            if newline >= 0:
                start = start - step + newline + 1
                break
            start -= step
        file.seek(start)
        tail = file.read()
        try:
            json.loads(tail.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError):
            file.truncate(start)
            file.flush()
            os.fsync(file.fileno())
            return len(tail)
        file.seek(0, os.SEEK_END)
        file.write(b"\n")
        file.flush()
        os.fsync(file.fileno())
        return 0


# Characters that str.splitlines() (and so many a reader) takes for a line break, which JSON leaves unescaped.
_LINE_BREAKS_JSON_KEEPS = {"\x85": "\\u0085", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def encode_line(row: dict[str, Any]) -> str:
    """One JSON line, readable UTF-8, with every character a line splitter could break on escaped."""
    line = json.dumps(row, ensure_ascii=False)
    for character, escaped in _LINE_BREAKS_JSON_KEEPS.items():
        line = line.replace(character, escaped)
    return line


class JsonlAppender:
    """Append whole lines to a JSONL file, thread-safe, each one flushed and fsynced before `append` returns."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        dropped = cut_torn_tail(self.path)
        if dropped:
            logger.warning("%s: dropped a torn last line (%d bytes) left by an interrupted run", self.path, dropped)
        self.dropped_torn_bytes = dropped
        self._lock = threading.Lock()
        self._file = open(self.path, "ab")  # noqa: SIM115 - closed in close()/__exit__

    def append(self, row: dict[str, Any]) -> None:
        line = (encode_line(row) + "\n").encode("utf-8")
        with self._lock:
            self._file.write(line)
            self._file.flush()
            os.fsync(self._file.fileno())

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> JsonlAppender:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()


def write_jsonl(path: str | Path, rows: Iterable[dict[str, Any]]) -> None:
    """Append `rows` to `path` through `JsonlAppender` (tests and small tools write generations.jsonl with it)."""
    with JsonlAppender(path) as appender:
        for row in rows:
            appender.append(row)


def write_lines_atomically(path: Path, rows: list[dict]) -> None:
    """Write the JSONL file beside, fsynced line by line (`write_jsonl`), then rename it over `path`."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.unlink(missing_ok=True)
    write_jsonl(temporary, rows)
    os.replace(temporary, path)


def alike_task_keys(tasks) -> set[str]:
    """The keys of judging tasks (judge/score/tasks.py) whose replies are the same text: both replies of a pair, or
    every single-answer reply when there is only one distinct text. Their ties and equal scores are right answers."""
    keys = {task.key for task in tasks if task.kind == PAIRWISE and len(set(task.replies)) == 1}
    singles = [task for task in tasks if task.kind == SINGLE]
    if len({task.replies[0] for task in singles}) < 2:
        keys |= {task.key for task in singles}
    return keys
