"""Run judging tasks through a judge into verdicts.jsonl: resumable, cached, cost-capped, online or batched.

The order of things, for each task:

1. already in verdicts.jsonl (same judge, model, prompt version and texts) -> skipped: a killed run resumes with the
   same command and repeats nothing;
2. in the disk cache -> its verdict is written at no cost, with no request; a task whose request is the same as
   another's in this run (two systems that wrote the same reply) waits for that one answer instead of paying again;
3. otherwise the request is sent (online, `concurrency` at a time; or in one Message Batch), its response cached,
   then its verdict appended (one whole, fsynced line).

Before the first request the cost of everything still to send is estimated and printed; above the cap nothing is
sent (`CostRefused`). While running, each request reserves its worst-case cost first (`CostGuard`), so the spend
never passes the cap: the run stops short instead, says how much is left, and the same command with a higher cap
finishes it. A request that still fails after the client's retries is counted and left for the next run; an answer
that cannot be parsed is written as a verdict with `parse_error`, counted, never dropped.

Batches (`--batch`): the batch ids and their custom ids are written to `batches.json` beside the verdicts right
after submission, so a restarted command polls the batch it already paid for instead of submitting it again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from judge.records import BATCHES_FILE_NAME, PAIRWISE, JsonlAppender, VerdictRecord, read_records
from judge.score.backends.base import ApiJudge, ApiResponse, Judge, LocalJudge
from judge.score.cache import ResponseCache, cache_key
from judge.score.cost import CostEstimate, CostGuard, TokenUsage, estimate_cost, usage_cost, worst_case_cost
from judge.score.prompts import ParsedVerdict, weighted_score
from judge.score.tasks import JudgeTask
from replytune.errors import Refused
from replytune.files import write_json_atomically
from replytune.secrets import redact

logger = logging.getLogger(__name__)

LOCAL_CHUNK = 512


class CostRefused(Refused, RuntimeError):
    """The estimate for the requests still to send is above the cost cap; nothing was sent."""


class VerdictsMismatch(Refused, RuntimeError):
    """verdicts.jsonl holds verdicts that this run must not extend (another judge, model, prompt, or other texts)."""


class FatalJudgeError(RuntimeError):
    """Every request would fail the same way (bad key, unknown model, rejected request): the run stopped."""


@dataclass
class RunOutcome:
    tasks: int = 0
    already_done: int = 0
    from_cache: int = 0
    judged: int = 0
    parse_errors: int = 0
    failed: int = 0
    left_by_cost_guard: int = 0
    waiting_in_batch: int = 0
    spent_usd: float = 0.0
    estimate: CostEstimate | None = None
    batch_ids: list[str] = field(default_factory=list)
    failures: Counter = field(default_factory=Counter)  # reason -> count
    torn_bytes_dropped: int = 0

    @property
    def complete(self) -> bool:
        return self.already_done + self.from_cache + self.judged == self.tasks

    def as_dict(self) -> dict:
        return {
            "tasks": self.tasks,
            "already_done": self.already_done,
            "from_cache": self.from_cache,
            "judged": self.judged,
            "parse_errors": self.parse_errors,
            "failed": self.failed,
            "left_by_cost_guard": self.left_by_cost_guard,
            "waiting_in_batch": self.waiting_in_batch,
            "spent_usd": round(self.spent_usd, 6),
            "estimate": None
            if self.estimate is None
            else {
                "requests": self.estimate.requests,
                "expected_usd": round(self.estimate.expected_usd, 6),
                "worst_case_usd": round(self.estimate.worst_case_usd, 6),
                "prefix_cached": self.estimate.prefix_cached,
            },
            "batch_ids": self.batch_ids,
            "failures": dict(self.failures),
            "complete": self.complete,
        }


def verdict_record(
    task: JudgeTask,
    judge: Judge,
    parsed: ParsedVerdict,
    weights: dict[str, float] | None = None,
    usage: TokenUsage | None = None,
    cost_usd: float = 0.0,
    request_id: str | None = None,
    cached: bool = False,
    batch_id: str | None = None,
    notes: list[str] | None = None,
) -> VerdictRecord:
    usage = usage or TokenUsage()
    record = VerdictRecord(
        item_id=task.item_id,
        kind=task.kind,
        judge=judge.name,
        model=judge.model,
        prompt_version=judge.prompt_version,
        input_hash=task.input_hash,
        systems=list(task.shown),
        order=task.order,
        reasoning=parsed.reasoning,
        parse_error=parsed.parse_error,
        request_id=request_id,
        input_tokens=usage.input_tokens,
        output_tokens=usage.output_tokens,
        cache_write_tokens=usage.cache_write_tokens,
        cache_read_tokens=usage.cache_read_tokens,
        cost_usd=round(cost_usd, 8),
        cached=cached,
        batch_id=batch_id,
        notes=list(notes or []),
        judge_fingerprint=judge.fingerprint,
    )
    if parsed.parse_error:
        return record
    if task.kind == PAIRWISE:
        record.winner = "tie" if parsed.label == "tie" else task.shown[0 if parsed.label == "A" else 1]
    else:
        record.system = task.systems[0]
        record.criteria = parsed.criteria
        record.score = parsed.score if parsed.score is not None else weighted_score(parsed.criteria, weights or {})
    return record


def done_tasks(path: Path, judge: Judge) -> dict[str, str]:
    """task key -> input hash of the verdicts already written; refuses a file written by another judge setup."""
    if not path.exists():
        return {}
    records, problems, torn = read_records(path, VerdictRecord)
    for problem in problems:
        logger.warning("%s: %s (skipped: its task will be judged again)", path, problem)
    done = {}
    mine = (judge.name, judge.model, judge.prompt_version)
    for number, record in records:
        theirs = (record.judge, record.model, record.prompt_version)
        if theirs != mine:
            raise VerdictsMismatch(
                f"{path} line {number} was written by judge {theirs[0]} / model {theirs[1]} / prompt "
                f"{theirs[2]}, not {mine[0]} / {mine[1]} / {mine[2]}: give this run another --output folder "
                "(or delete that verdicts.jsonl to start fresh)"
            )
        if record.judge_fingerprint != judge.fingerprint:
            written = record.judge_fingerprint or "none recorded (an older replytune)"
            raise VerdictsMismatch(
                f"{path} line {number} was written by judge {judge.name} with other settings (settings hash "
                f"{written}, now {judge.fingerprint}: its endpoint, prompt texts, answer settings or weights "
                "changed): its verdicts would not be this judge's; give this run another --output folder (or delete "
                "that verdicts.jsonl to start fresh)"
            )
        done[record.task_key] = record.input_hash
    return done


def run_tasks(
    tasks: list[JudgeTask],
    judge: Judge,
    verdicts_path: str | Path,
    cache: ResponseCache | None = None,
    max_cost_usd: float = 0.0,
    batch: bool = False,
    weights: dict[str, float] | None = None,
    progress: bool = True,
    poll_interval_s: float = 60.0,
    max_wait_s: float = 86400.0,
) -> RunOutcome:
    verdicts_path = Path(verdicts_path)
    outcome = RunOutcome(tasks=len(tasks))
    pending = pending_tasks(tasks, judge, verdicts_path)
    outcome.already_done = len(tasks) - len(pending)
    if isinstance(judge, LocalJudge):
        with JsonlAppender(verdicts_path) as appender:
            outcome.torn_bytes_dropped = appender.dropped_torn_bytes
            _run_local(pending, judge, appender, weights, outcome, progress, cache)
        return outcome
    assert isinstance(judge, ApiJudge)
    run = _ApiRun(judge, cache, weights, outcome)
    uncached, outcome.estimate = _estimate(run, pending, verdicts_path, batch, max_cost_usd)
    batches_path = verdicts_path.with_name(BATCHES_FILE_NAME)
    with JsonlAppender(verdicts_path) as appender:
        outcome.torn_bytes_dropped = appender.dropped_torn_bytes
        run.appender = appender
        run.write_cached(pending)
        guard = CostGuard(max_cost_usd)
        if batch:
            run.batched(uncached, guard, batches_path, poll_interval_s, max_wait_s)
        else:
            run.online(uncached, guard, progress)
        outcome.spent_usd = guard.spent_usd
    return outcome


def pending_tasks(tasks: list[JudgeTask], judge: Judge, verdicts_path: Path) -> list[JudgeTask]:
    """The tasks not yet in verdicts.jsonl; refuses (VerdictsMismatch) a file of another judge setup or texts."""
    done = done_tasks(verdicts_path, judge)
    pending = []
    for task in tasks:
        if task.key not in done:
            pending.append(task)
        elif done[task.key] != task.input_hash:
            raise VerdictsMismatch(
                f"{verdicts_path}: item {task.item_id!r} ({', '.join(task.shown)}) was judged on other texts than the "
                "generations hold now: give this run another --output folder"
            )
    return pending


def _estimate(run: _ApiRun, pending, verdicts_path: Path, batch: bool, max_cost_usd: float):
    """(uncached tasks, the estimate of what is still to send); CostRefused above the cap, before anything is sent."""
    judge = run.judge
    uncached = run.split_cached(pending)
    price_factor = judge.batch_price_factor if batch else 1.0
    in_submitted_batches = submitted_custom_ids(verdicts_path.with_name(BATCHES_FILE_NAME)) if batch else set()
    to_send = [task for task in uncached if custom_id(task) not in in_submitted_batches]
    estimate = estimate_cost(
        [judge.size(task) for task in to_send], judge.prices, judge.max_tokens, price_factor, judge.caching
    )
    logger.info("judge %s (%s): %d to send, %s", judge.name, judge.model, len(to_send), estimate.describe())
    if to_send and not estimate.expected_usd <= max_cost_usd:  # a NaN estimate is above any cap
        raise CostRefused(
            f"the estimated cost of the {len(to_send)} requests still to send is "
            f"${estimate.expected_usd:.4f}, above the cap of ${max_cost_usd:.4f} "
            "(--max-cost or score.max_cost_usd): nothing was sent"
        )
    return uncached, estimate


def preflight(
    tasks: list[JudgeTask],
    judge: Judge,
    verdicts_path: str | Path,
    cache: ResponseCache | None,
    max_cost_usd: float,
    batch: bool = False,
) -> CostEstimate | None:
    """What `run_tasks` checks before its first request, without sending anything: the verdicts file is this judge
    setup's, and (API judges) the estimate of what is still to send is under the cap. Raises VerdictsMismatch or
    CostRefused; returns the estimate (None for a local judge). `judge validate` calls it for every judge before
    judging with any, so a judge that cannot run stops the command before the others' work."""
    verdicts_path = Path(verdicts_path)
    pending = pending_tasks(tasks, judge, verdicts_path)
    if not isinstance(judge, ApiJudge):
        return None
    return _estimate(_ApiRun(judge, cache, None, RunOutcome()), pending, verdicts_path, batch, max_cost_usd)[1]


def _run_local(
    tasks, judge: LocalJudge, appender, weights, outcome: RunOutcome, progress: bool, cache: ResponseCache | None
) -> None:
    """A local judge costs no money but minutes of CPU: its verdicts go through the disk cache too, so a rerun on the
    same replies (a fresh output folder, a second `make demo`) judges nothing again."""
    identity = (judge.name, judge.model, judge.prompt_version)
    keys = {task.key: cache_key(*identity, judge.cache_request(task)) for task in tasks}
    uncached = []
    for task in tasks:
        entry = cache.get(keys[task.key]) if cache else None
        if entry is None:
            uncached.append(task)
            continue
        parsed = ParsedVerdict(**entry["response"])
        appender.append(verdict_record(task, judge, parsed, weights, cached=True).to_json())
        outcome.from_cache += 1
        outcome.parse_errors += parsed.parse_error is not None
    with tqdm(total=len(uncached), desc=f"judge {judge.name}", unit=" verdicts", disable=not progress) as bar:
        for start in range(0, len(uncached), LOCAL_CHUNK):
            chunk = uncached[start : start + LOCAL_CHUNK]
            for task, parsed in zip(chunk, judge.judge_tasks(chunk)):
                if cache is not None:
                    request = judge.cache_request(task)
                    cache.put(
                        keys[task.key],
                        {
                            "judge": judge.name,
                            "model": judge.model,
                            "prompt_version": judge.prompt_version,
                            "request": request,
                            "response": dataclasses.asdict(parsed),
                        },
                    )
                appender.append(verdict_record(task, judge, parsed, weights).to_json())
                outcome.judged += 1
                outcome.parse_errors += parsed.parse_error is not None
            bar.update(len(chunk))


def custom_id(task: JudgeTask) -> str:
    """A Message Batches custom id (at most 64 of [A-Za-z0-9_-]) that names the task."""
    return "t" + hashlib.sha256(task.key.encode("utf-8")).hexdigest()[:40]


class _ApiRun:
    def __init__(self, judge: ApiJudge, cache: ResponseCache | None, weights, outcome: RunOutcome):
        self.judge = judge
        self.cache = cache
        self.weights = weights
        self.outcome = outcome
        self.appender: JsonlAppender | None = None
        self.requests: dict[str, dict] = {}
        self.keys: dict[str, str] = {}
        self.cached_entries: dict[str, dict] = {}
        # Tasks whose request is the same as an earlier task's in this run (two systems that wrote the same reply,
        # or both orders of two equal replies): sent once, and judged from that one answer.
        self.same_request: dict[str, list[JudgeTask]] = {}

    def split_cached(self, tasks: list[JudgeTask]) -> list[JudgeTask]:
        uncached = []
        for task in tasks:
            request = self.judge.request(task)
            key = cache_key(self.judge.name, self.judge.model, self.judge.prompt_version, request, self.judge.endpoint)
            self.requests[task.key], self.keys[task.key] = request, key
            entry = self.cache.get(key) if self.cache else None
            if entry is not None:
                self.cached_entries[task.key] = entry
            elif key in self.same_request:
                self.same_request[key].append(task)
            else:
                self.same_request[key] = []
                uncached.append(task)
        return uncached

    def waiting_on(self, tasks: list[JudgeTask]) -> int:
        """How many tasks wait on these tasks' requests (the tasks themselves and those with the same request)."""
        return sum(1 + len(self.same_request.get(self.keys[task.key], [])) for task in tasks)

    def write_cached(self, tasks: list[JudgeTask]) -> None:
        for task in tasks:
            entry = self.cached_entries.get(task.key)
            if entry is not None:
                self.record(task, ApiResponse(entry["response"], entry.get("request_id")), cached=True)
                self.outcome.from_cache += 1

    def record(
        self,
        task: JudgeTask,
        response: ApiResponse,
        cached: bool = False,
        batch_id: str | None = None,
        price_factor: float = 1.0,
    ) -> float:
        """Cache the response (if new), append its verdict; returns its cost (0 when it came from the cache)."""
        if not cached and self.cache is not None:
            self.cache.put(
                self.keys[task.key],
                {
                    "judge": self.judge.name,
                    "model": self.judge.model,
                    "prompt_version": self.judge.prompt_version,
                    "request_id": response.request_id,
                    "request": self.requests[task.key],
                    "response": response.body,
                },
            )
        parsed, usage = self.judge.read(task, response.body)
        cost = 0.0 if cached else usage_cost(usage, self.judge.prices, price_factor)
        notes = self.judge.prepare(task).notes
        record = verdict_record(
            task,
            self.judge,
            parsed,
            self.weights,
            usage if not cached else None,
            cost,
            response.request_id,
            cached,
            batch_id,
            notes,
        )
        self.appender.append(record.to_json())
        self.outcome.parse_errors += parsed.parse_error is not None
        if not cached:
            for same in self.same_request.pop(self.keys[task.key], []):
                self.record(same, response, cached=True)
                self.outcome.from_cache += 1
        return cost

    def fail(self, task: JudgeTask, error: Exception | str) -> None:
        reason = redact(error if isinstance(error, str) else f"{type(error).__name__}: {error}")
        for failed in [task, *self.same_request.pop(self.keys[task.key], [])]:
            self.outcome.failed += 1
            self.outcome.failures[reason[:200]] += 1
            logger.warning("item %s (%s): %s", failed.item_id, failed.kind, reason[:300])

    def worst_case(self, task: JudgeTask, price_factor: float) -> float:
        return worst_case_cost(self.judge.size(task), self.judge.prices, self.judge.max_tokens, price_factor)

    def online(self, tasks: list[JudgeTask], guard: CostGuard, progress: bool) -> None:
        queue = list(reversed(tasks))
        in_flight: dict[Future, tuple[JudgeTask, float]] = {}
        fatal: Exception | None = None
        bar = tqdm(total=len(tasks), desc=f"judge {self.judge.name}", unit=" requests", disable=not progress)
        with ThreadPoolExecutor(max_workers=self.judge.concurrency) as pool:
            while queue or in_flight:
                while queue and fatal is None and len(in_flight) < self.judge.concurrency:
                    reserve = self.worst_case(queue[-1], 1.0)
                    if not guard.try_reserve(reserve):
                        break
                    task = queue.pop()
                    in_flight[pool.submit(self.judge.send, self.requests[task.key])] = (task, reserve)
                if not in_flight:
                    break
                finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                for future in finished:
                    task, reserve = in_flight.pop(future)
                    error = future.exception()
                    if error is not None and not isinstance(error, self.judge.request_errors):
                        raise error
                    if error is None:
                        guard.settle(reserve, self.record(task, future.result()))
                        self.outcome.judged += 1
                    else:
                        guard.settle(reserve, 0.0)
                        self.fail(task, error)
                        if self.judge.is_fatal(error):
                            fatal = error
                    bar.update(1)
        bar.close()
        if fatal is not None:
            self.outcome.failed += self.waiting_on(queue)
            raise FatalJudgeError(redact(f"judge {self.judge.name}: {type(fatal).__name__}: {fatal}"))
        if queue:
            self.outcome.left_by_cost_guard = self.waiting_on(queue)
            if guard.bound_broken:
                logger.warning("cost guard: %s; no further request was sent", guard.bound_broken)

    def batched(
        self, tasks: list[JudgeTask], guard: CostGuard, state_path: Path, poll_interval_s: float, max_wait_s: float
    ) -> None:
        factor = self.judge.batch_price_factor
        by_custom_id = {custom_id(task): task for task in tasks}
        state = _read_batches(state_path)
        # 1. Batches submitted by an earlier run of this command: collect them, never resubmit their tasks.
        for entry in list(state["batches"]):
            self._collect(entry, by_custom_id, guard, factor, poll_interval_s, max_wait_s, state, state_path)
        submitted = {cid for entry in state["batches"] for cid in entry["custom_ids"]}
        # 2. What is left: as many as fit under the cap at their worst case, in one new batch.
        to_submit, reserved = [], 0.0
        for task in tasks:
            cid = custom_id(task)
            if cid in submitted or cid not in by_custom_id:
                continue
            worst = self.worst_case(task, factor)
            if not guard.try_reserve(worst):
                self.outcome.left_by_cost_guard += self.waiting_on([task])
                continue
            reserved += worst
            to_submit.append(task)
        if to_submit:
            try:
                batch_id = self.judge.submit_batch([(custom_id(task), self.requests[task.key]) for task in to_submit])
            except self.judge.request_errors as error:
                for task in to_submit:
                    self.fail(task, f"batch not submitted: {type(error).__name__}: {error}")
                if self.judge.is_fatal(error):
                    raise FatalJudgeError(
                        redact(f"judge {self.judge.name}: {type(error).__name__}: {error}")
                    ) from None
                return
            entry = {
                "id": batch_id,
                "custom_ids": [custom_id(task) for task in to_submit],
                "submitted_at": time.time(),
                "reserved_usd": reserved,
            }
            state["batches"].append(entry)
            write_json_atomically(state_path, state)
            logger.info("submitted batch %s with %d requests", batch_id, len(to_submit))
            guard.settle(reserved, 0.0)
            self._collect(entry, by_custom_id, guard, factor, poll_interval_s, max_wait_s, state, state_path)

    def _leave_waiting(self, entry: dict, by_custom_id: dict[str, JudgeTask], why: str) -> None:
        waiting = sum(cid in by_custom_id for cid in entry["custom_ids"])
        self.outcome.waiting_in_batch += waiting
        logger.warning("%s", redact(_waiting_note(entry["id"], waiting, why)))

    def _collect(
        self,
        entry: dict,
        by_custom_id: dict[str, JudgeTask],
        guard: CostGuard,
        factor: float,
        poll_interval_s: float,
        max_wait_s: float,
        state: dict,
        state_path: Path,
    ) -> None:
        batch_id = entry["id"]
        self.outcome.batch_ids.append(batch_id)
        started = time.monotonic()
        try:
            while not self.judge.batch_ended(batch_id):
                if time.monotonic() - started >= max_wait_s:
                    self._leave_waiting(entry, by_custom_id, "is still processing")
                    return
                time.sleep(poll_interval_s)
            results = list(self.judge.batch_results(batch_id))
        except self.judge.request_errors as error:
            self._leave_waiting(entry, by_custom_id, f"could not be polled ({type(error).__name__}: {error})")
            return
        seen = set()
        for cid, response, error in results:
            task = by_custom_id.pop(cid, None)
            if task is None:  # judged already, or not ours
                continue
            seen.add(cid)
            if response is None:
                self.fail(task, f"batch {batch_id}: {error}")
            else:
                guard.settle(0.0, self.record(task, response, batch_id=batch_id, price_factor=factor))
                self.outcome.judged += 1
        for cid in entry["custom_ids"]:
            if cid in by_custom_id and cid not in seen:
                self.fail(by_custom_id.pop(cid), f"batch {batch_id}: no result returned")
        state["batches"] = [other for other in state["batches"] if other["id"] != batch_id]
        write_json_atomically(state_path, state)


def _waiting_note(batch_id: str, waiting: int, why: str) -> str:
    return (
        f"batch {batch_id} {why}: {waiting} of this run's requests wait in it; run the same command again to keep "
        "polling it (nothing is resubmitted)"
    )


def submitted_custom_ids(path: Path) -> set[str]:
    return {cid for entry in _read_batches(path)["batches"] for cid in entry["custom_ids"]}


def _read_batches(path: Path) -> dict:
    if not path.exists():
        return {"batches": []}
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(state, dict) or not isinstance(state.get("batches"), list):
            raise ValueError("no 'batches' list")
        return state
    except (OSError, ValueError) as error:
        raise VerdictsMismatch(
            f"{path}: unreadable batch state ({error}); it names batches already paid for: fix or remove it by hand"
        ) from error
