"""The funnel ledger: every input record ends in exactly one disposition, `"<stage>/<reason>"` or `"kept"`.

Records that never become a tweet (unreadable, placeholders) and repeated ids are settled at ingest. Every
unique tweet is settled once at the end of the build by `settle_tweets`, because a tweet can play two roles
(the reply of one pair, the tweet replied to of another) and its disposition depends on how all of them ended.
report.json holds `{"input_records": N, "dispositions": {...}}` with the dispositions summing to N.

The same settling writes the per-record ledger, `dispositions.jsonl` in the version folder: one line per input
record, with its id as published (a keyed hash, like the rows' ids, unless `privacy.published_ids: raw`), its file
name and position there, the stage, the reason and the value that decided ("likes 3 < min_likes 5"), so "why was
reply X dropped?" is one grep. Its lines count exactly as report.json's dispositions.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path


class Reason(str):
    """A disposition, `"<stage>/<reason>"`, that also carries what decided it: `detail`, the value against its bound
    ("likes 3 < min 5"), and `related_id`, the raw id of another tweet it names (the parent not found, the more liked
    duplicate that stays), published like the rows' ids. Being a str, it is compared, counted and written exactly
    as the plain disposition; dispositions.jsonl also writes the rest."""

    detail: str | None
    related_id: str | None

    def __new__(cls, disposition: str, detail: str | None = None, related_id: str | None = None) -> Reason:
        reason = super().__new__(cls, disposition)
        reason.detail = detail
        reason.related_id = related_id
        return reason


# What a ledger value may quote from a record: dispositions.jsonl is published, the rejected text is not.
_LANGUAGE_CODE = re.compile(r"[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})?")
_KNOWN_CONTROL_STRINGS = re.compile(
    r"<\|(?:im_start|im_end|endoftext|fim_\w{1,8}|eot_id|start_header_id|end_header_id)\|>|</?(?:think|tool_call|"
    r"tool_response|s)>|\[/?INST\]|<(?:start|end)_of_turn>",
    re.IGNORECASE,
)


def quoted_language(label: str | None) -> str:
    """A language label as a ledger value may show it: a code (`en`, `pt-BR`), never free text from the source."""
    return label if label and _LANGUAGE_CODE.fullmatch(label) else "(not a language code)"


def quoted_control_string(found: str) -> str:
    """A chat control string as a ledger value may show it: a known token as it is, any other `<|...|>` (which can
    hold 64 characters of the rejected text) by its shape only."""
    return repr(found) if _KNOWN_CONTROL_STRINGS.fullmatch(found) else "a <|...|> token"


KEPT = "kept"
ROOT_USED = "root/used"  # the tweet of at least one published pair
ROOT_NO_REPLY_KEPT = "root/no_reply_kept"  # passed the root filters, but every reply to it was dropped
NO_REPLIES = "pairs/no_replies"  # a tweet that is not a reply and that no reply in the input answers
DUPLICATE_ID = "ingest/duplicate_id"

STAGE_ORDER = ("ingest", "pairs", "root_filters", "reply_filters", "validation", "cleaning", "split", "root", "kept")


@dataclass(slots=True)
class LedgerEntry:
    """One input record's line in dispositions.jsonl, before its ids are published (`published_entry`)."""

    disposition: str
    record_id: str | None  # the record's own id, raw (None: the record had no readable id)
    detail: str | None = None  # the value that decided
    related_id: str | None = None  # the raw id of the tweet the detail names
    source: str | None = None  # the input file it came from
    position: int | None = None  # its position among that file's records, from 1


@dataclass
class Funnel:
    input_records: int = 0
    dispositions: Counter = field(default_factory=Counter)
    ledger: list[LedgerEntry] | None = None  # one entry per record when kept (the build keeps it; curation does not)
    origins: dict[str, tuple[str, int]] = field(default_factory=dict)  # tweet id -> (file, position) of its copy

    def settle(
        self, disposition: str, count: int = 1, record_id: str | None = None, origin: tuple[str, int] | None = None
    ) -> None:
        """Count `count` records under `disposition` (a Reason brings its detail into the ledger)."""
        self.dispositions[str(disposition)] += count
        if self.ledger is not None:
            source, position = origin or (None, None)
            detail, related = getattr(disposition, "detail", None), getattr(disposition, "related_id", None)
            self.ledger.append(LedgerEntry(str(disposition), record_id, detail, related, source, position))

    def check(self) -> None:
        """The ledger must account for every input record exactly once."""
        total = sum(self.dispositions.values())
        if total != self.input_records:
            raise AssertionError(f"funnel: dispositions sum to {total}, but {self.input_records} records came in")
        if self.ledger is not None and len(self.ledger) != self.input_records:
            raise AssertionError(f"funnel: {len(self.ledger)} ledger lines, but {self.input_records} records came in")

    @property
    def kept(self) -> int:
        return self.dispositions[KEPT]

    def ordered(self) -> list[tuple[str, int]]:
        """Dispositions in pipeline order (stage, then largest count first), `kept` last."""

        def position(item: tuple[str, int]) -> tuple[int, int, str]:
            stage = item[0].split("/", 1)[0]
            rank = STAGE_ORDER.index(stage) if stage in STAGE_ORDER else len(STAGE_ORDER) - 1
            return rank, -item[1], item[0]

        return sorted(((name, count) for name, count in self.dispositions.items() if count), key=position)

    def as_report(self, **extra) -> dict:
        return {"input_records": self.input_records, "dispositions": dict(self.ordered()), **extra}


def settle_tweets(
    funnel: Funnel,
    tweet_ids: Iterable[str],
    reply_drops: dict[str, str],
    root_drops: dict[str, str],
    kept_reply_ids: dict[str, str] | set[str],
    used_root_ids: dict[str, int] | set[str],
    candidate_root_ids: set[str],
) -> None:
    """Give every unique tweet its one disposition, in this order of precedence:

    kept (published as a reply) > root/used (the tweet of a published pair) > why it was dropped as a reply >
    why it was dropped as a tweet replied to > root/no_reply_kept > pairs/no_replies.

    `kept_reply_ids` may map each kept reply to its split, and `used_root_ids` each used tweet to its kept pairs: the
    ledger then says so. A drop reason that is a `Reason` brings the value that decided into the ledger.
    """
    for tweet_id in tweet_ids:
        if tweet_id in kept_reply_ids:
            split = kept_reply_ids.get(tweet_id) if isinstance(kept_reply_ids, dict) else None
            disposition = Reason(KEPT, f"split {split}" if split else None)
        elif tweet_id in used_root_ids:
            pairs = used_root_ids.get(tweet_id) if isinstance(used_root_ids, dict) else None
            disposition = Reason(ROOT_USED, f"the tweet of {pairs} kept pair{'s' * (pairs != 1)}" if pairs else None)
        elif tweet_id in reply_drops:
            disposition = reply_drops[tweet_id]
        elif tweet_id in root_drops:
            disposition = root_drops[tweet_id]
        elif tweet_id in candidate_root_ids:
            disposition = Reason(ROOT_NO_REPLY_KEPT, "passed the root filters; every reply to it was dropped")
        else:
            disposition = Reason(NO_REPLIES, "not a reply, and no reply in the input answers it")
        funnel.settle(disposition, record_id=tweet_id, origin=funnel.origins.get(tweet_id))


def published_entry(entry: LedgerEntry, publish_id, publish_file) -> dict:
    """A ledger entry as dispositions.jsonl publishes it: ids through `publish_id` (the rows' rule), the file through
    `publish_file` (never a local path, nor a file name that may be a raw tweet id: RumourEval names files by id)."""
    stage, _, reason = entry.disposition.partition("/")
    return {
        "id": publish_id(entry.record_id) if entry.record_id is not None else None,
        "disposition": entry.disposition,
        "stage": stage,
        "reason": reason or stage,
        "value": entry.detail,
        "related_id": publish_id(entry.related_id) if entry.related_id is not None else None,
        "file": publish_file(entry.source) if entry.source else None,
        "position": entry.position,
    }


def write_dispositions(funnel: Funnel, path: Path, publish_id, publish_file) -> None:
    """dispositions.jsonl: one JSON line per input record (see the module docstring)."""
    with open(path, "w", encoding="utf-8") as file:
        for entry in funnel.ledger or ():
            file.write(json.dumps(published_entry(entry, publish_id, publish_file), ensure_ascii=False) + "\n")


def write_report(report: dict, path: Path) -> None:
    path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def plot_funnel(funnel: Funnel, path: Path, title: str = "data_prep funnel") -> None:
    """A horizontal bar chart of the dispositions, in pipeline order, `kept` highlighted."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    items = funnel.ordered()
    names = [name for name, _ in items]
    counts = [count for _, count in items]
    colors = ["tab:green" if name in (KEPT, ROOT_USED) else "tab:gray" for name in names]
    figure, axes = plt.subplots(figsize=(9, 0.35 * len(items) + 1.5))
    bars = axes.barh(names, counts, color=colors)
    axes.bar_label(bars, padding=3, fontsize=8)
    axes.invert_yaxis()
    axes.set_xlabel("records")
    axes.set_title(f"{title}: {funnel.input_records} input records, {funnel.kept} pairs kept")
    axes.margins(x=0.12)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
