"""verdicts.jsonl (or plain JSONL a user brings) -> the two systems' verdicts, item by item.

Every non-blank line ends in exactly one place: a single-answer score, a pairwise verdict, a parse error (the judge
answered but its verdict could not be read), skipped (another judge or another pair of systems), or rejected with
its line number and reason (not JSON, a missing field, a repeat). Nothing is dropped silently.

Lines the statistics read:
    single-answer  {"item_id", "system", "score": number}
    pairwise       {"item_id", "order": 1 | 2, "winner": SYSTEM | "tie"[, "systems": [first shown, second shown]]}
    parse error    {"item_id", "parse_error": "...", and "system" or "order"/"systems"}
Any other field (the judge's model, tokens, cost, request id) is ignored, except `judge`: verdicts of different
judges are never pooled.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from judge.records import PAIRWISE, SINGLE, TIE, parse_jsonl
from replytune.errors import InputError

UNKNOWN = "unknown"  # the kind of a parse error line that names neither a system nor an order
IDENTITY_FIELDS = ("model", "prompt_version", "judge_fingerprint")  # what a line says about its judge's setup
# Any judge's scale fits far inside this; beyond it, squares of scores overflow and SDs, d and U silently break.
MAX_SCORE_MAGNITUDE = 1e100


@dataclass(frozen=True)
class ScoreLine:
    line: int
    item_id: str
    system: str
    score: float
    judge: str | None


@dataclass(frozen=True)
class PairwiseLine:
    line: int
    item_id: str
    order: int
    winner: str  # a system name or TIE
    systems: tuple[str, str] | None  # as shown: (first, second); None on plain lines
    judge: str | None


@dataclass(frozen=True)
class ParseErrorLine:
    line: int
    item_id: str
    kind: str  # SINGLE, PAIRWISE or UNKNOWN
    system: str | None
    order: int | None
    systems: tuple[str, str] | None
    judge: str | None


@dataclass
class VerdictFile:
    path: Path
    sha256: str
    lines: int  # non-blank lines
    scores: list[ScoreLine] = field(default_factory=list)
    pairwise: list[PairwiseLine] = field(default_factory=list)
    parse_errors: list[ParseErrorLine] = field(default_factory=list)
    rejected: list[tuple[int, str]] = field(default_factory=list)  # (line number, reason)
    # judge -> how many lines name each (model, prompt version, settings hash): `judge score`'s lines carry them,
    # plain lines do not ((None, None, None))
    identities: dict[str | None, Counter] = field(default_factory=dict)


def read_verdicts(path: str | Path) -> VerdictFile:
    """Read every line; malformed lines are kept as rejections. Raises InputError if the file cannot be read."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read the verdicts file ({error.strerror or error})") from error
    try:
        data.decode("utf-8-sig")  # a file that is not UTF-8 text is refused whole, not read line by line
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise InputError(f"{path}:{line}: not UTF-8 text") from error
    # The lines as records.py reads every JSONL file, less a byte-order mark (Windows editors), which is not part of
    # line 1. Any line that is not JSON (a torn last line included) is rejected as "not JSON".
    contents = parse_jsonl(data.removeprefix(codecs.BOM_UTF8))
    verdicts = VerdictFile(
        path=path, sha256=hashlib.sha256(data).hexdigest(), lines=len(contents.rows) + len(contents.problems)
    )
    verdicts.rejected = [(problem.line, "not JSON") for problem in contents.problems]
    id_written: dict[str, tuple[str, int]] = {}  # item id -> (how line N first wrote it: number or string, N)
    for number, record in contents.rows:
        try:
            parsed = _parse_record(record, number)
            _check_id_written_one_way(record, parsed.item_id, number, id_written)
        except ValueError as error:
            verdicts.rejected.append((number, str(error)))
            continue
        identity = tuple(record.get(key) if isinstance(record.get(key), str) else None for key in IDENTITY_FIELDS)
        verdicts.identities.setdefault(parsed.judge, Counter())[identity] += 1
        if isinstance(parsed, ScoreLine):
            verdicts.scores.append(parsed)
        elif isinstance(parsed, PairwiseLine):
            verdicts.pairwise.append(parsed)
        else:
            verdicts.parse_errors.append(parsed)
    verdicts.rejected.sort()  # by line number, as the lines were read
    return verdicts


def _check_id_written_one_way(record: dict, item_id: str, line: int, seen: dict[str, tuple[str, int]]) -> None:
    """Item 1 and item "1" are refused as one item: JSON tells them apart, so a file holding both was written by two
    hands (or two tools) and cannot say whether they are the same tweet."""
    kind = "a number" if isinstance(record.get("item_id"), int) else "a string"
    first = seen.setdefault(item_id, (kind, line))
    if first[0] != kind:
        raise ValueError(
            f"item_id {record['item_id']!r} is {kind} here and {first[0]} at line {first[1]}: the same id written "
            "two ways is refused (write every item_id the same way)"
        )


def _parse_record(record: Any, line: int) -> ScoreLine | PairwiseLine | ParseErrorLine:
    if not isinstance(record, dict):
        raise ValueError(f"not a JSON object ({type(record).__name__})")
    item_id = record.get("item_id")
    if isinstance(item_id, bool) or not isinstance(item_id, (str, int)) or str(item_id) == "":
        raise ValueError("no item_id (a string or an integer)")
    item_id = str(item_id)
    judge = record.get("judge")
    if judge is not None and not isinstance(judge, str):
        judge = json.dumps(judge, sort_keys=True)
    unparsed = bool(record.get("parse_error"))
    has_score, has_winner = record.get("score") is not None, record.get("winner") is not None
    if has_score and has_winner:
        raise ValueError("both a score and a winner: one verdict per line")
    pairwise = has_winner or record.get("order") is not None or (unparsed and record.get("systems") is not None)
    if pairwise:  # `systems` and `order` are read on pairwise lines only: a score line may carry anything there
        order, systems = record.get("order"), _shown_systems(record)
        if order is not None and (isinstance(order, bool) or order not in (1, 2)):
            raise ValueError(f"order must be 1 or 2, got {order!r}")
        if unparsed:
            return ParseErrorLine(line, item_id, PAIRWISE, None, order, systems, judge)
        winner = record["winner"] if has_winner else None
        if not isinstance(winner, str) or not winner.strip():
            raise ValueError(f"winner must name a system or be 'tie', got {winner!r}")
        if order is None:
            raise ValueError("a winner without the order (1 or 2) it was shown in")
        if systems and winner not in (*systems, TIE):
            raise ValueError(f"winner {winner!r} is neither of the systems shown {list(systems)} nor 'tie'")
        return PairwiseLine(line, item_id, order, winner, systems, judge)
    system = _system_name(record, "system")
    if unparsed:
        return ParseErrorLine(line, item_id, SINGLE if system else UNKNOWN, system, None, None, judge)
    if not has_score:
        raise ValueError("neither a score, a winner nor a parse_error")
    score = record["score"]
    if isinstance(score, bool) or not isinstance(score, (int, float)) or not math.isfinite(score):
        raise ValueError(f"score must be a finite number, got {score!r}")
    if abs(score) > MAX_SCORE_MAGNITUDE:
        raise ValueError(f"score beyond +-{MAX_SCORE_MAGNITUDE:g}, got {score:g}")
    if system is None:
        raise ValueError("a score without the system it scores")
    return ScoreLine(line, item_id, system, float(score), judge)


def _system_name(record: dict, key: str) -> str | None:
    value = record.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip() or value == TIE:
        raise ValueError(f"{key} must be a system name, got {value!r}")
    return value


def _shown_systems(record: dict) -> tuple[str, str] | None:
    value = record.get("systems")
    if value is None:
        return None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or not all(isinstance(name, str) and name.strip() and name != TIE for name in value)
        or value[0] == value[1]
    ):
        raise ValueError(f"systems must list the two different systems shown, got {value!r}")
    return value[0], value[1]


# --- one judge, two systems ------------------------------------------------------------------------------------


@dataclass
class Comparison:
    """The verdicts on `candidate` vs `baseline` from one judge, by item."""

    source: str  # the verdicts file, for messages
    baseline: str
    candidate: str
    judge: str | None
    scores: dict[str, dict[str, float]]  # system -> item_id -> score
    pairwise_orders: dict[str, dict[int, str]]  # item_id -> order -> winner
    parse_errors: Counter  # SINGLE / PAIRWISE / UNKNOWN -> lines
    unparsed_scores: dict[str, set[str]]  # item_id -> systems whose score could not be parsed
    unparsed_orders: dict[str, set[int | None]]  # item_id -> pairwise orders not parsed (None: order not given)
    rejected: list[tuple[int, str]]
    skipped: Counter  # why a valid line was not used -> lines
    systems_in_file: list[str]
    judges_in_file: dict[str, int]
    identities: Counter = field(default_factory=Counter)  # (model, prompt version, settings hash) -> lines

    def judge_identity(self) -> dict | None:
        """The chosen judge's identity as its lines record it (judge/provenance.py); None when the lines record none
        or more than one setup (then nothing can be matched to a validity check)."""
        known = [identity for identity in self.identities if identity[2]]
        if len(self.identities) != 1 or len(known) != 1:
            return None
        model, prompt_version, fingerprint = known[0]
        return {"judge": self.judge, "model": model, "prompt_version": prompt_version, "fingerprint": fingerprint}


def select_comparison(
    verdicts: VerdictFile, baseline: str | None, candidate: str | None, judge: str | None
) -> Comparison:
    """Keep one judge's verdicts on the two systems; raises InputError naming the choices when they are ambiguous."""
    where = str(verdicts.path)
    all_lines = [*verdicts.scores, *verdicts.pairwise, *verdicts.parse_errors]
    if not verdicts.scores and not verdicts.pairwise:
        reasons = Counter(reason for _, reason in verdicts.rejected)
        detail = f"; rejected: {_describe_counts(reasons)}" if reasons else ""
        first = f" (first: {describe_rejected(verdicts.rejected)})" if verdicts.rejected else ""
        raise InputError(
            f"{where}: no usable verdict in {verdicts.lines} line(s): {len(verdicts.parse_errors)} parse error(s)"
            f"{detail}{first}"
        )
    judges = Counter(line.judge for line in all_lines)
    judge_counts = {("(no judge field)" if name is None else name): count for name, count in judges.items()}
    skipped = Counter()
    if judge is None:
        if len(judges) > 1:
            raise InputError(
                f"{where}: verdicts from {len(judges)} judges ({_describe_counts(judge_counts)}); they are never "
                "pooled: choose one with --judge (or stats.judge in the config)"
            )
        judge = next(iter(judges))
    else:
        if judge not in judges:
            raise InputError(
                f"{where}: no verdict from judge {judge!r}; judges in the file: {_describe_counts(judge_counts)}"
            )
        skipped["another judge"] = sum(count for name, count in judges.items() if name != judge)
        all_lines = [line for line in all_lines if line.judge == judge]

    systems = _systems_named(all_lines)
    hint = "; a pairwise winner names the system, not the position it was shown in" if verdicts.pairwise else ""
    baseline, candidate = _choose_systems(where, sorted(systems), baseline, candidate, hint)
    pair = {baseline, candidate}
    plain = [line for line in all_lines if isinstance(line, (PairwiseLine, ParseErrorLine)) and _plain_pairwise(line)]
    plain_winners = {line.winner for line in plain if isinstance(line, PairwiseLine) and line.winner != TIE}
    if plain and (plain_winners - pair or len(systems) > 2):
        # A plain line (a tie above all) names no pair: with more than two systems it could belong to any of them.
        shown = ", ".join(str(line.line) for line in plain[:5]) + (", ..." if len(plain) > 5 else "")
        raise InputError(
            f"{where}: pairwise lines without `systems` (line(s) {shown}; winners named: {sorted(plain_winners)}) "
            f"in a file with more than two systems ({', '.join(sorted(systems))}): each pairwise line must say which "
            "two it compared (systems: [first shown, second shown]), or a tie could count in another comparison"
        )

    comparison = Comparison(
        source=where,
        baseline=baseline,
        candidate=candidate,
        judge=judge,
        scores={baseline: {}, candidate: {}},
        pairwise_orders=defaultdict(dict),
        parse_errors=Counter(),
        unparsed_scores=defaultdict(set),
        unparsed_orders=defaultdict(set),
        rejected=list(verdicts.rejected),
        skipped=skipped,
        systems_in_file=sorted(systems),
        judges_in_file=judge_counts,
        identities=Counter(verdicts.identities.get(judge) or {}),
    )
    first_seen: dict[tuple, int] = {}
    for line in sorted(all_lines, key=lambda line: line.line):
        if isinstance(line, ScoreLine):
            if line.system not in pair:
                comparison.skipped["another system"] += 1
                continue
            key = (line.item_id, line.system)
            if key in first_seen:
                comparison.rejected.append(
                    (line.line, f"repeats item {line.item_id!r} for {line.system!r} (first at line {first_seen[key]})")
                )
                continue
            first_seen[key] = line.line
            comparison.scores[line.system][line.item_id] = line.score
        elif isinstance(line, PairwiseLine):
            if line.systems and set(line.systems) != pair:
                comparison.skipped["another pair of systems"] += 1
                continue
            key = (line.item_id, "order", line.order)
            if key in first_seen:
                comparison.rejected.append(
                    (
                        line.line,
                        f"repeats order {line.order} of item {line.item_id!r} (first at line {first_seen[key]})",
                    )
                )
                continue
            first_seen[key] = line.line
            comparison.pairwise_orders[line.item_id][line.order] = line.winner
        else:
            other_pair = line.systems and set(line.systems) != pair
            if (line.kind == SINGLE and line.system not in pair) or other_pair:
                comparison.skipped["another system"] += 1
                continue
            comparison.parse_errors[line.kind] += 1
            if line.kind == SINGLE:
                comparison.unparsed_scores[line.item_id].add(line.system)
            elif line.kind == PAIRWISE:
                comparison.unparsed_orders[line.item_id].add(line.order)
    comparison.rejected.sort()
    comparison.pairwise_orders = dict(comparison.pairwise_orders)
    comparison.unparsed_scores = dict(comparison.unparsed_scores)
    comparison.unparsed_orders = dict(comparison.unparsed_orders)
    return comparison


def _plain_pairwise(line) -> bool:
    return not line.systems and (isinstance(line, PairwiseLine) or line.kind == PAIRWISE)


def _systems_named(lines: list) -> set[str]:
    systems = set()
    for line in lines:
        if getattr(line, "system", None):
            systems.add(line.system)
        if getattr(line, "systems", None):
            systems.update(line.systems)
        if isinstance(line, PairwiseLine) and line.winner != TIE:
            systems.add(line.winner)
    return systems


def _choose_systems(
    where: str, systems: list[str], baseline: str | None, candidate: str | None, hint: str
) -> tuple[str, str]:
    found = f"systems in the file: {', '.join(map(repr, systems)) or 'none named'}"
    for role, name in (("baseline", baseline), ("candidate", candidate)):
        if name is not None and name not in systems:
            raise InputError(f"{where}: {role} {name!r} is not in the file; {found} (--{role} chooses){hint}")
    if baseline is not None and baseline == candidate:
        raise InputError(f"{where}: baseline and candidate are the same system {baseline!r}")
    if baseline is None:
        others = [name for name in systems if name != candidate]
        if candidate is None or len(others) != 1:
            raise InputError(f"{where}: which system is the baseline? {found}; choose with --baseline")
        baseline = others[0]
    if candidate is None:
        others = [name for name in systems if name != baseline]
        if len(others) != 1:
            raise InputError(
                f"{where}: which system is the candidate? {found}; choose with --candidate"
                if others
                else f"{where}: only the baseline {baseline!r} is in the file; nothing to compare it with"
            )
        candidate = others[0]
    return baseline, candidate


def _describe_counts(counts: dict) -> str:
    return ", ".join(f"{name}: {count}" for name, count in sorted(counts.items(), key=lambda kv: (-kv[1], str(kv[0]))))


def describe_rejected(rejected: list[tuple[int, str]], total: int | None = None, shown: int = 5) -> str:
    """The first rejected lines, by number with their reasons: `line 2: not JSON; line 5: no item_id ...`, and how
    many more there are (of `total`, when `rejected` lists only some)."""
    total = len(rejected) if total is None else total
    text = "; ".join(f"line {line}: {reason}" for line, reason in rejected[:shown])
    return text + (f"; and {total - shown} more" if total > shown else "")
