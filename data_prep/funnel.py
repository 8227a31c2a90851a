"""The funnel ledger: every input record ends in exactly one disposition, `"<stage>/<reason>"` or `"kept"`.

Records that never become a tweet (unreadable, placeholders) and repeated ids are settled at ingest. Every
unique tweet is settled once at the end of the build by `settle_tweets`, because a tweet can play two roles
(the reply of one pair, the tweet replied to of another) and its disposition depends on how all of them ended.
report.json holds `{"input_records": N, "dispositions": {...}}` with the dispositions summing to N.
"""

from __future__ import annotations

import json
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


KEPT = "kept"
ROOT_USED = "root/used"  # the tweet of at least one published pair
ROOT_NO_REPLY_KEPT = "root/no_reply_kept"  # passed the root filters, but every reply to it was dropped
NO_REPLIES = "pairs/no_replies"  # a tweet that is not a reply and that no reply in the input answers
DUPLICATE_ID = "ingest/duplicate_id"

STAGE_ORDER = ("ingest", "pairs", "root_filters", "reply_filters", "validation", "cleaning", "split", "root", "kept")


@dataclass
class Funnel:
    input_records: int = 0
    dispositions: Counter = field(default_factory=Counter)

    def settle(self, disposition: str, count: int = 1) -> None:
        self.dispositions[disposition] += count

    def check(self) -> None:
        """The ledger must account for every input record exactly once."""
        total = sum(self.dispositions.values())
        if total != self.input_records:
            raise AssertionError(f"funnel: dispositions sum to {total}, but {self.input_records} records came in")

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
    kept_reply_ids: set[str],
    used_root_ids: set[str],
    candidate_root_ids: set[str],
) -> None:
    """Give every unique tweet its one disposition, in this order of precedence:

    kept (published as a reply) > root/used (the tweet of a published pair) > why it was dropped as a reply >
    why it was dropped as a tweet replied to > root/no_reply_kept > pairs/no_replies.
    """
    for tweet_id in tweet_ids:
        if tweet_id in kept_reply_ids:
            funnel.settle(KEPT)
        elif tweet_id in used_root_ids:
            funnel.settle(ROOT_USED)
        elif tweet_id in reply_drops:
            funnel.settle(reply_drops[tweet_id])
        elif tweet_id in root_drops:
            funnel.settle(root_drops[tweet_id])
        elif tweet_id in candidate_root_ids:
            funnel.settle(ROOT_NO_REPLY_KEPT)
        else:
            funnel.settle(NO_REPLIES)


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
