"""The Argilla dataset of a curation review: what annotators see and answer for each tweet/reply pair.

Fields: the tweet, the reply, and the automatic checks' reasons (why discard is suggested, in words, in the record
view itself). Questions: `decision` (keep/discard, required), `quality` (1-5), `edited_reply` and
`notes` (optional). Metadata (for filtering and sorting in the UI): the pair's engagement, timing, query, split,
the validators' scores and which soft checks it fails. Vector: the reply's sentence embedding (data_prep's model),
for "find similar". Suggestion: `discard`, on a pair that a soft check flags (SoftLimits), scored by how close it
came to the build's threshold. Texts go with their markup escaped, so the UI shows them and runs none of it
(argilla_client.plain_text_field: a scraped tweet can hold `<img onerror=...>`). The record id is the reply id.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from data_prep.config import ValidationConfig
from data_prep.versions import DatasetVersion
from replytune import schema as col
from replytune.argilla_client import plain_text_field

FIELD_TWEET, FIELD_REPLY = "tweet", "reply"
FIELD_CHECKS = "checks"  # the soft checks' reasons, in the record view itself (not only under "View metadata")
NO_FLAG = "No automatic check flags this pair."
DECISION, QUALITY, EDITED_REPLY, NOTES = "decision", "quality", "edited_reply", "notes"
KEEP, DISCARD = "keep", "discard"
VECTOR = "reply_embedding"
SPLIT = "split"
SOFT_CHECKS = "soft_checks"  # metadata: the names of the soft checks a pair fails, for filtering in the UI
SUGGESTION_AGENT = "data_prep soft checks"

# metadata property -> (column, type); names are the schema's column names
METADATA_COLUMNS = {
    col.REPLY_LIKES: "integer",
    col.REPLY_AUTHOR_FOLLOWERS: "integer",
    col.REPLY_DELAY_SECONDS: "float",
    col.TWEET_LIKES: "integer",
    col.QUALITY_SCORE: "float",
    col.LANGUAGE_CONFIDENCE: "float",
    col.TOXICITY_SCORE: "float",
    col.UNIQUE_WORD_COUNT: "integer",
    col.GENERIC_PHRASE_RATIO: "float",
    col.QUERY: "terms",
}
REQUIRED_TEXT = (col.REPLY_ID, col.TWEET_TEXT, col.REPLY_TEXT)  # a row without one of these cannot be reviewed
_JS_MAX_SAFE_INTEGER = 2**53 - 1  # argilla-server rejects integer metadata beyond it

GUIDELINES = """\
Each record is a reply to a tweet. Decide whether the pair should train a model that writes engaging replies.

- **decision**: *keep* a reply that is specific, on topic, natural and worth liking; *discard* spam, generic praise,
  off-topic, toxic or broken text, or a near-copy of another reply (use **Find similar**).
- **quality**: optional, 1 (poor) to 5 (excellent).
- **edited_reply**: optional; write the corrected reply to keep it *with your edit* (fix a typo, drop a stray
  mention). The edit is re-checked by the same rules as the build: an edit that fails them is not applied.
- **notes**: optional, anything the team should know.

A pair flagged by the automatic soft checks arrives with *discard* suggested, and the **Automatic checks** field under
the reply says why (the metadata holds the scores; filter on `soft_checks`). The checks only suggest: your decision
stands, and an edit you keep is never dropped by them (only by the hard rules: control strings, length, links,
duplicates). Several annotators per record resolve by majority; a tie discards.
"""


def row_problem(row: dict) -> str | None:
    """Why a row cannot be reviewed (a required text missing or empty), or None."""
    for name in REQUIRED_TEXT:
        value = row.get(name)
        if not isinstance(value, str) or not value.strip():
            return f"missing_{name}"
    return None


def reviewable_rows(version: DatasetVersion) -> tuple[list[tuple[str, dict]], list[dict]]:
    """(split, row) of every row that can be reviewed, and a problem entry for every other one."""
    good, invalid, seen = [], [], set()
    for split, rows in version.rows.items():
        for index, row in enumerate(rows):
            reason = row_problem(row)
            if reason is None and row[col.REPLY_ID] in seen:
                reason = "duplicate_reply_id"
            if reason:
                invalid.append({"split": split, "row": index, "reply_id": row.get(col.REPLY_ID), "reason": reason})
                continue
            seen.add(row[col.REPLY_ID])
            good.append((split, row))
    return good, invalid


@dataclass
class SoftLimits:
    """Where a kept pair is close enough to a validator's threshold to deserve a second look.

    The build rejected everything beyond the thresholds of its config (validation.*); these soft limits sit halfway
    between each threshold and the score's clean end, so a pair that barely passed arrives suggested as discard.
    """

    min_language_confidence: float
    max_toxicity: float
    min_unique_words: float
    max_generic_ratio: float
    hard: ValidationConfig

    @classmethod
    def from_validation(cls, config: ValidationConfig) -> SoftLimits:
        return cls(
            min_language_confidence=config.min_language_confidence + (1 - config.min_language_confidence) / 2,
            max_toxicity=config.max_toxicity / 2,
            min_unique_words=config.min_unique_words * 1.25,
            max_generic_ratio=config.max_generic_ratio / 2,
            hard=config,
        )

    def describe(self, name: str, value: float) -> str:
        """One soft check's value in words: "0.64, below the soft limit 0.9 (the build's threshold: 0.8)"."""
        soft, hard, side = {
            col.LANGUAGE_CONFIDENCE: (self.min_language_confidence, self.hard.min_language_confidence, "below"),
            col.TOXICITY_SCORE: (self.max_toxicity, self.hard.max_toxicity, "above"),
            col.UNIQUE_WORD_COUNT: (self.min_unique_words, self.hard.min_unique_words, "below"),
            col.GENERIC_PHRASE_RATIO: (self.max_generic_ratio, self.hard.max_generic_ratio, "above"),
        }[name]
        shown = f"{value:g}" if name == col.UNIQUE_WORD_COUNT else f"{value:.2f}"
        return f"{shown}, {side} the soft limit {soft:g} (the build's threshold: {hard:g})"

    def flags(self, row: dict) -> dict[str, float]:
        """check name -> discard confidence in [0.5, 1]: 0.5 at the soft limit, 1 at the build's threshold."""

        def severity(value: float, soft: float, hard: float) -> float:
            span = hard - soft
            return 0.5 + 0.5 * (min(max((value - soft) / span, 0.0), 1.0) if span else 1.0)

        flags = {}
        checks = (
            (col.LANGUAGE_CONFIDENCE, -1, self.min_language_confidence, self.hard.min_language_confidence),
            (col.TOXICITY_SCORE, 1, self.max_toxicity, self.hard.max_toxicity),
            (col.UNIQUE_WORD_COUNT, -1, self.min_unique_words, self.hard.min_unique_words),
            (col.GENERIC_PHRASE_RATIO, 1, self.max_generic_ratio, self.hard.max_generic_ratio),
        )
        for name, direction, soft, hard in checks:
            value = row.get(name)
            if value is None or not math.isfinite(value):
                continue
            if (direction > 0 and value > soft) or (direction < 0 and value < soft):
                flags[name] = round(severity(direction * value, direction * soft, direction * hard), 4)
        return flags


def checks_text(flags: dict[str, float], limits: SoftLimits, row: dict) -> str:
    """What the record view shows under the reply: why discard is suggested, in words, or that nothing is flagged."""
    if not flags:
        return NO_FLAG
    reasons = "; ".join(f"{name.replace('_', ' ')} {limits.describe(name, row[name])}" for name in sorted(flags))
    return f"Discard suggested by the soft checks (your decision stands): {reasons}."


def curation_settings(vector_dimensions: int, min_submitted: int = 1) -> Any:
    """The Argilla dataset of a review: three text fields (the tweet, the reply, the automatic checks' reasons), four
    questions, metadata, the reply vector, guidelines."""
    import argilla as rg

    metadata_classes = {
        "integer": rg.IntegerMetadataProperty,
        "float": rg.FloatMetadataProperty,
        "terms": rg.TermsMetadataProperty,
    }
    metadata = [
        metadata_classes[kind](name=name, title=name.replace("_", " ")) for name, kind in METADATA_COLUMNS.items()
    ]
    metadata += [
        rg.TermsMetadataProperty(name=SPLIT, title="split"),
        rg.TermsMetadataProperty(name=SOFT_CHECKS, title="soft checks failed"),
    ]
    return rg.Settings(
        guidelines=GUIDELINES,
        fields=[
            rg.TextField(name=FIELD_TWEET, title="Tweet", use_markdown=False),
            rg.TextField(name=FIELD_REPLY, title="Reply", use_markdown=False),
            rg.TextField(name=FIELD_CHECKS, title="Automatic checks", use_markdown=False),
        ],
        questions=[
            rg.LabelQuestion(name=DECISION, title="Keep this pair?", labels=[KEEP, DISCARD], required=True),
            rg.RatingQuestion(name=QUALITY, title="Reply quality (1-5)", values=[1, 2, 3, 4, 5], required=False),
            rg.TextQuestion(name=EDITED_REPLY, title="Corrected reply (optional)", required=False),
            rg.TextQuestion(name=NOTES, title="Notes (optional)", required=False),
        ],
        metadata=metadata,
        vectors=[rg.VectorField(name=VECTOR, title="reply embedding", dimensions=vector_dimensions)],
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
    )


def _metadata_value(value: Any, kind: str) -> Any:
    if value is None:
        return None
    if kind == "terms":
        return str(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    if kind == "integer":
        return int(value) if abs(value) <= _JS_MAX_SAFE_INTEGER else None
    return float(value)


def curation_record(
    row: dict, split: str, vector: np.ndarray | None, limits: SoftLimits, with_checks: bool = True
) -> Any:
    """One pair as an Argilla record (`with_checks`: the dataset has the checks field; those pushed before it
    existed do not)."""
    import argilla as rg

    flags = limits.flags(row)
    metadata = {name: _metadata_value(row.get(name), kind) for name, kind in METADATA_COLUMNS.items()}
    metadata = {name: value for name, value in metadata.items() if value is not None}
    metadata[SPLIT] = split
    metadata[SOFT_CHECKS] = sorted(flags) or ["none"]
    suggestions = (
        [rg.Suggestion(DECISION, DISCARD, score=max(flags.values()), agent=SUGGESTION_AGENT, type="model")]
        if flags
        else []
    )
    return rg.Record(
        id=row[col.REPLY_ID],
        fields={
            FIELD_TWEET: plain_text_field(row[col.TWEET_TEXT]),
            FIELD_REPLY: plain_text_field(row[col.REPLY_TEXT]),
            **({FIELD_CHECKS: plain_text_field(checks_text(flags, limits, row))} if with_checks else {}),
        },
        metadata=metadata,
        vectors={VECTOR: vector.tolist()} if vector is not None else {},
        suggestions=suggestions,
    )
