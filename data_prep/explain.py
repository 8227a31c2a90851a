"""Why a build kept no pair, in the user's terms: the top reasons with their counts, each with what to change.

A build that keeps nothing fails (EmptyBuildError, exit 1) and takes no version number; one whose input holds no
readable tweet at all is refused as unreadable (UnreadableInputError, exit 2), before any filter runs. Either way the
console gets at most five lines: a header and the four reasons that account for the most records, from report.json's
dispositions grouped by what a user would change (the input, the pairing, the root filters, the reply filters, the
validators). Every record's own reason stays in dispositions.jsonl.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from data_prep.config import DataPrepConfig
from data_prep.funnel import DUPLICATE_ID, NO_REPLIES
from replytune.errors import InputError

RESEARCH_PRESET = "data_prep/configs/research_threads.yaml"
MAX_REASONS = 4  # with the header: at most five lines
# the filters' names of values (filters.bounds_rejection) -> their config fields' stem
_BOUND_FIELDS = {"followers": "follower_count", "delay": "time_delay"}
_SECTION_HINTS = {
    "root_filters": f"for exported research threads use --config {RESEARCH_PRESET}, or loosen those bounds",
    "reply_filters": "loosen those bounds in reply_filters (null turns one off), or see " + RESEARCH_PRESET,
    "validation": "see validation.* in the config (language, toxicity, spam_keywords, min_unique_words, generic)",
}


class UnreadableInputError(InputError):
    """Not one input record could be read as a tweet: the files are not exports of a format data_prep reads."""

    def __init__(self, funnel, sources: Counter):
        reasons = Counter({name.removeprefix("ingest/"): count for name, count in funnel.dispositions.items()})
        files = ", ".join(sorted({source.rsplit("/", 1)[-1] for source in sources})) or "none"
        shown = ", ".join(f"{count:,} {reason}" for reason, count in reasons.most_common(3))
        what = f"none of the {funnel.input_records:,} input records" if funnel.input_records else "no input record"
        super().__init__(
            f"{what} could be read as a tweet ({shown or 'the files hold no records'}; files: {files}): these are not "
            "exports in a format data_prep reads (docs/data.md#or-import-exports); nothing was written"
        )


class EmptyBuildError(RuntimeError):
    """The build kept no pair. `lines`: what the console says (at most five lines); `folder`: where its report,
    funnel and per-record ledger were written."""

    def __init__(self, lines: list[str], folder):
        super().__init__("\n".join(lines))
        self.lines = lines
        self.folder = folder


@dataclass
class Group:
    records: int  # records this group accounts for (what ranks it)
    line: str


def bound_text(reason: str, section: str, config: DataPrepConfig) -> str:
    """`likes_below_min` in root_filters -> "likes < min_likes 200"; other reasons with their words spaced."""
    for suffix, bound, sign in (("_below_min", "min", "<"), ("_above_max", "max", ">")):
        if reason.endswith(suffix):
            name = reason.removesuffix(suffix)
            field = f"{bound}_{_BOUND_FIELDS.get(name, name)}"
            value = getattr(getattr(config, section), field, None)
            return f"{name} {sign} {field} {value:,}" if isinstance(value, (int, float)) else reason
    if reason.endswith("_missing"):
        return f"no {reason.removesuffix('_missing')} count in the source"
    if reason.endswith("_unreadable"):
        return f"{reason.removesuffix('_unreadable')} count unreadable"
    return reason.replace("_", " ")


def breakdown(counts: Counter, section: str, config: DataPrepConfig) -> str:
    parts = [f"{count:,} {bound_text(reason, section, config)}" for reason, count in counts.most_common(2)]
    rest = sum(counts.values()) - sum(count for _, count in counts.most_common(2))
    return ", ".join(parts + ([f"{rest:,} other"] if rest else []))


def reason_groups(dispositions: dict[str, int], counts: dict[str, int], config: DataPrepConfig) -> list[Group]:
    """Every group of reasons present, each as one line with its count and a hint, largest first."""
    by_stage: dict[str, Counter] = {}
    for name, count in dispositions.items():
        stage, _, reason = name.partition("/")
        by_stage.setdefault(stage, Counter())[reason] += count
    groups = []
    input_records = sum(dispositions.values())
    unreadable = sum(
        count for reason, count in by_stage.get("ingest", Counter()).items() if f"ingest/{reason}" != DUPLICATE_ID
    )
    if unreadable:
        groups.append(
            Group(
                unreadable,
                f"{unreadable:,} of {input_records:,} records cannot be read as tweets: check that these are exports "
                "in a format data_prep reads (docs/data.md#or-import-exports)",
            )
        )
    pairs = by_stage.get("pairs", Counter())
    tweets = counts.get("unique_tweets", input_records)
    hints = {
        NO_REPLIES.split("/")[1]: (
            f"of {tweets:,} tweets have no replies in these files",
            "export whole conversations (each tweet with its replies), or collect them with `python -m data_prep "
            "collect`",
        ),
        "parent_not_found": (
            "replies answer a tweet that is not in these files",
            "export whole conversations, with the tweets replied to",
        ),
        "not_direct_reply": (
            "replies answer another reply, not their conversation's first tweet",
            "`pairs.direct_replies_only: false` pairs them with the reply they answer",
        ),
        "self_reply": (
            "replies are by the author of the tweet they answer",
            "threads continuing themselves, left out on purpose (pairs.exclude_self_replies)",
        ),
        "retweet": (
            "replies are retweets",
            "nobody wrote them as replies: left out on purpose (pairs.exclude_retweets)",
        ),
        "quote": ("replies are quote tweets", "left out on purpose (pairs.exclude_quotes)"),
    }
    for reason, count in pairs.items():
        what, hint = hints.get(reason, (f"replies: pairs/{reason}", "see dispositions.jsonl"))
        groups.append(Group(count, f"{count:,} {what}: {hint}"))
    roots = Counter({r: n for r, n in by_stage.get("root_filters", Counter()).items() if r != "root_rejected"})
    if roots or by_stage.get("root_filters", Counter())["root_rejected"]:
        lost = by_stage["root_filters"]["root_rejected"]
        candidates = counts.get("candidate_roots")
        of = f" of {candidates:,}" if candidates else ""
        failed = f"{sum(roots.values()):,}{of} tweets with replies fail root_filters"
        groups.append(
            Group(
                sum(roots.values()) + lost,
                f"{failed} ({breakdown(roots, 'root_filters', config)}), taking {lost:,} replies with them: "
                + _SECTION_HINTS["root_filters"],
            )
        )
    for section in ("reply_filters", "validation"):
        reasons = by_stage.get(section, Counter())
        if reasons:
            total = sum(reasons.values())
            shown = breakdown(reasons, section, config)
            groups.append(Group(total, f"{total:,} replies fail {section} ({shown}): {_SECTION_HINTS[section]}"))
    later = by_stage.get("cleaning", Counter()) + by_stage.get("split", Counter())
    if later:
        total = sum(later.values())
        shown = ", ".join(f"{count:,} {reason.replace('_', ' ')}" for reason, count in later.most_common(2))
        groups.append(
            Group(
                total, f"{total:,} replies are duplicates or leak into eval/test ({shown}): see cleaning.* and split.*"
            )
        )
    return sorted(groups, key=lambda group: -group.records)


def explain_empty_build(
    dispositions: dict[str, int], counts: dict[str, int], config: DataPrepConfig, next_version: str, folder
) -> list[str]:
    """The console's lines for a build that kept nothing: a header, then the top reasons (at most five lines)."""
    input_records = sum(dispositions.values())
    header = (
        f"error: no pair survived: {input_records:,} input records, 0 pairs. No version was written (the next build "
        f"is still {next_version}); each record's reason is in {folder}/dispositions.jsonl. The top reasons:"
    )
    return [header] + [f"  {group.line}" for group in reason_groups(dispositions, counts, config)[:MAX_REASONS]]
