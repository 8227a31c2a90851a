"""From annotators' answers to a curated version: majority decisions, edited replies re-checked, the ledger.

Each record's submitted answers are votes (the UI's Discard button votes discard); the majority decides and a tie
discards; records nobody answered are left out. Among the keep votes, the edited reply most of them wrote replaces
the reply. A person's decision stands: the edit is checked only by the build's HARD rules (EditChecker: control
strings, length, empty, links, duplicates, split leakage), and a rejected edit leaves the pair out, with its reason;
the SOFT checks (language, toxicity, spam, word diversity, generic phrases) only flag it, beside the edit.
Every input row ends in exactly one disposition (`kept`, `curation/<outcome>`), recorded in the ledger.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from data_prep.config import DataPrepConfig
from data_prep.curation_dataset import DECISION, DISCARD, EDITED_REPLY, KEEP, NOTES, QUALITY, VECTOR, reviewable_rows
from data_prep.versions import DatasetVersion
from replytune import schema as col


@dataclass
class Resolution:
    """What the annotators decided about one record."""

    disposition: str  # kept / curation/edited / curation/discarded / ... (see pull)
    votes: dict[str, str] = field(default_factory=dict)  # annotator -> keep/discard
    edit: str | None = None  # the edited reply chosen, before the re-check
    candidate_edits: list[str] = field(default_factory=list)
    quality: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    flags: list[str] = field(default_factory=list)  # soft checks the applied edit fails ("<check>: <value>")


def votes_of(responses: list[dict]) -> dict[str, str]:
    """annotator -> keep/discard, from submitted answers; the UI's Discard button (status discarded) votes discard."""
    votes = {}
    for response in responses:
        if response["status"] == "submitted" and response["values"].get(DECISION) in (KEEP, DISCARD):
            votes[response["username"]] = response["values"][DECISION]
        elif response["status"] == "discarded":
            votes[response["username"]] = DISCARD
    return votes


def resolve(responses: list[dict], original_reply: str) -> Resolution:
    """Majority of the votes (a tie discards); among keep votes, the edit most of them wrote."""
    votes = votes_of(responses)
    submitted = [r for r in responses if r["username"] in votes and r["status"] == "submitted"]
    quality = [r["values"][QUALITY] for r in submitted if isinstance(r["values"].get(QUALITY), int)]
    notes = [r["values"][NOTES].strip() for r in submitted if isinstance(r["values"].get(NOTES), str)]
    resolution = Resolution("curation/unreviewed", votes, quality=quality, notes=[n for n in notes if n])
    if not votes:
        return resolution
    tally = Counter(votes.values())
    if tally[KEEP] == tally[DISCARD]:
        resolution.disposition = "curation/discarded_on_tie"
        return resolution
    if tally[DISCARD] > tally[KEEP]:
        resolution.disposition = "curation/discarded"
        return resolution
    edits = [
        r["values"][EDITED_REPLY].strip()
        for r in submitted
        if votes[r["username"]] == KEEP and isinstance(r["values"].get(EDITED_REPLY), str)
    ]
    edits = [edit for edit in edits if edit and edit != original_reply.strip()]
    resolution.candidate_edits = sorted(set(edits))
    if not edits:
        resolution.disposition = "kept"
        return resolution
    ranked = Counter(edits).most_common()
    if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
        resolution.disposition = "curation/edit_conflict"  # no edit has more keep votes than another
        return resolution
    resolution.edit = ranked[0][0]
    resolution.disposition = "curation/edited"
    return resolution


class EditChecker:
    """The build's rules, applied to an edited reply (data_prep's own functions; nothing re-implemented here)."""

    def __init__(self, config: DataPrepConfig, kept: dict[str, tuple[str, str, np.ndarray | None]]):
        """`kept`: reply id -> (split, reply text, embedding or None) of every pair the curation keeps so far."""
        from data_prep.validators import Validators

        self.config = config
        self.kept = kept
        self.validators = Validators.load(config.validation)
        self._model = None

    def prepare(self, text: str) -> str:
        from data_prep.cleaning import normalize_text
        from data_prep.privacy import replace_handles

        if self.config.cleaning.normalize_text:
            text = normalize_text(text)
        if self.config.privacy.replace_handles:
            text = replace_handles(text, self.config.privacy.handle_placeholder)
        return text

    def embed(self, texts: list[str]) -> np.ndarray:
        from data_prep.dedup import embed_texts, load_embedding_model

        if self._model is None:
            cleaning = self.config.cleaning
            self._model = load_embedding_model(cleaning.embedding_model, cleaning.embedding_backend)
        return embed_texts(self._model, texts, self.config.cleaning.embedding_batch_size, progress=False)

    def rejection(self, reply_id: str, split: str, text: str) -> tuple[str | None, dict, list[str]]:
        """Why `text` cannot be this pair's reply, its validator scores, and the soft checks it fails.

        A person's decision stands: only the HARD rules reject an edit, those that keep the dataset trainable,
        private and honest whoever wrote the text: chat control strings, the reply length bounds, an empty reply,
        a link (the build publishes none unless `allow_urls`; @handles were already replaced), an exact or
        semantic duplicate of another kept reply, and a near copy of a train reply in eval/test (split leakage).
        The SOFT checks are heuristics about the text (language, toxicity, spam keywords, word diversity, generic
        phrases, and the curation soft limits near their thresholds): they never drop a pair a person kept; each
        one the edit fails comes back as a flag, "<check>: <value>", recorded beside the edit.
        """
        from data_prep.cleaning import URL, exact_duplicate_key, has_text
        from data_prep.curation_dataset import SoftLimits
        from data_prep.filters import bounds_rejection
        from replytune.control_strings import find_control_strings

        filters = self.config.reply_filters
        if find_control_strings(text):
            return "control_string", {}, []
        length = bounds_rejection("length", len(text), filters.min_length, filters.max_length)
        if length:
            return f"reply_filters/{length}", {}, []
        if not has_text(text):
            return "reply_filters/no_text", {}, []
        if not filters.allow_urls and URL.search(text):
            return "reply_filters/has_url", {}, []
        scores = self.validators.scores([text], progress=False)[0]
        flags = [f"{failure}: {failure.detail}" for failure in self.validators.failures(text, scores)]
        limits = SoftLimits.from_validation(self.config.validation)
        flags += [f"soft_checks/{name}: {limits.describe(name, scores[name])}" for name in limits.flags(scores)]
        others = {other: entry for other, entry in self.kept.items() if other != reply_id}
        key = exact_duplicate_key(text)
        if any(exact_duplicate_key(other_text) == key for _, other_text, _ in others.values()):
            return "cleaning/exact_duplicate", scores, flags
        cleaning, split_config = self.config.cleaning, self.config.split
        if others and (cleaning.semantic_dedup or split_config.check_leakage):
            self._fill_missing_vectors(others)
            cosine = np.stack([vector for _, _, vector in others.values()]) @ self.embed([text])[0]
            if cleaning.semantic_dedup and (cosine >= cleaning.semantic_threshold).any():
                return "cleaning/semantic_duplicate", scores, flags
            crosses_train = np.array([(split == "train") != (other == "train") for other, _, _ in others.values()])
            if split_config.check_leakage and (crosses_train & (cosine >= split_config.leakage_threshold)).any():
                return "split/near_duplicate_of_train", scores, flags
        return None, scores, flags

    def _fill_missing_vectors(self, entries: dict[str, tuple[str, str, np.ndarray | None]]) -> None:
        missing = [reply_id for reply_id, (_, _, vector) in entries.items() if vector is None]
        if missing:
            vectors = self.embed([self.kept[reply_id][1] for reply_id in missing])
            for reply_id, vector in zip(missing, vectors):
                split, text, _ = self.kept[reply_id]
                self.kept[reply_id] = entries[reply_id] = (split, text, vector)

    def accept(self, reply_id: str, split: str, text: str) -> None:
        vector = self.embed([text])[0] if self._model is not None else None
        self.kept[reply_id] = (split, text, vector)

    @property
    def validator_name(self) -> str:
        return self.validators.toxicity.name


def edited_row(row: dict, text: str, scores: dict, config: DataPrepConfig) -> dict:
    """The row with its reply replaced: reply_text, completion, the validators' scores, and the prompt rebuilt."""
    return {
        **row,
        col.PROMPT: [{"role": "user", "content": config.output.prompt_template.format(tweet=row[col.TWEET_TEXT])}],
        col.COMPLETION: [{"role": "assistant", "content": text}],
        col.REPLY_TEXT: text,
        **{name: scores[name] for name in (col.LANGUAGE_CONFIDENCE, col.TOXICITY_SCORE, col.GENERIC_PHRASE_RATIO)},
        col.UNIQUE_WORD_COUNT: int(scores[col.UNIQUE_WORD_COUNT]),
    }


def _unit(vector: list[float] | None) -> np.ndarray | None:
    if not vector:
        return None
    array = np.asarray(vector, dtype=np.float32)
    norm = float(np.linalg.norm(array))
    return array / norm if norm else None


def curate_rows(version: DatasetVersion, records: dict[str, Any]) -> tuple[dict[str, list[dict]], list[dict], dict]:
    """Apply the annotators' decisions to the version's rows.

    Returns (rows per split of the curated version, one ledger entry per input row, extra report facts).
    `records` maps reply id -> argilla_client.RecordResponses.
    """
    ledger: list[dict] = []
    resolutions: dict[tuple[str, int], Resolution] = {}
    _, invalid = reviewable_rows(version)
    invalid_at = {(entry["split"], entry["row"]): entry["reason"] for entry in invalid}
    for split, rows in version.rows.items():
        for index, row in enumerate(rows):
            if (split, index) in invalid_at:
                resolutions[split, index] = Resolution(f"curation/invalid_record/{invalid_at[split, index]}")
            elif row[col.REPLY_ID] not in records:
                resolutions[split, index] = Resolution("curation/not_in_argilla")
            else:
                resolutions[split, index] = resolve(records[row[col.REPLY_ID]].responses, row[col.REPLY_TEXT])

    kept_entries = {
        row[col.REPLY_ID]: (split, row[col.REPLY_TEXT], _unit(records[row[col.REPLY_ID]].vectors.get(VECTOR)))
        for split, rows in version.rows.items()
        for index, row in enumerate(rows)
        if resolutions[split, index].disposition in ("kept", "curation/edited")
    }
    checker = None
    outcome: dict[str, list[dict]] = {split: [] for split in version.rows}
    rejected_edits, flagged_edits = [], []
    for split, rows in version.rows.items():
        for index, row in enumerate(rows):
            resolution = resolutions[split, index]
            final_row, final_text = None, None
            if resolution.disposition == "kept":
                final_row = row
            elif resolution.disposition == "curation/edited":
                checker = checker or EditChecker(version.config, kept_entries)
                text = checker.prepare(resolution.edit)
                if text == row[col.REPLY_TEXT]:
                    resolution.disposition, final_row = "kept", row  # the edit only differed before normalization
                else:
                    reason, scores, flags = checker.rejection(row[col.REPLY_ID], split, text)
                    if reason:
                        resolution.disposition = f"curation/edit_rejected/{reason}"
                        kept_entries.pop(row[col.REPLY_ID], None)
                        rejected_edits.append(
                            {"reply_id": row[col.REPLY_ID], "split": split, "reason": reason, "edited_reply": text}
                        )
                    else:
                        final_row, final_text = edited_row(row, text, scores, version.config), text
                        checker.accept(row[col.REPLY_ID], split, text)
                        resolution.flags = flags
                        if flags:  # kept as the person wrote it; the soft checks' objections recorded beside it
                            flagged_edits.append(
                                {"reply_id": row[col.REPLY_ID], "split": split, "flags": flags, "edited_reply": text}
                            )
            if final_row is not None:
                outcome[split].append(final_row)
            ledger.append(
                {
                    "reply_id": row.get(col.REPLY_ID),
                    "split": split,
                    "disposition": resolution.disposition,
                    "votes": dict(Counter(resolution.votes.values())),
                    "annotators": len(resolution.votes),
                    "quality": resolution.quality,
                    "notes": resolution.notes,
                    **({"edited_reply": final_text, "original_reply": row[col.REPLY_TEXT]} if final_text else {}),
                    **({"edit_flags": resolution.flags} if final_text and resolution.flags else {}),
                    **({"candidate_edits": resolution.candidate_edits} if resolution.candidate_edits else {}),
                }
            )
    labels_by_record = {
        f"{split}/{index}": resolution.votes for (split, index), resolution in resolutions.items() if resolution.votes
    }
    from replytune.agreement import decision_agreement

    facts = {
        "agreement": decision_agreement(labels_by_record),
        "rejected_edits": rejected_edits,
        "flagged_edits": flagged_edits,
        "invalid_records": invalid,
        "annotators": sorted({annotator for r in resolutions.values() for annotator in r.votes}),
        "edit_validators": checker.validator_name if checker else None,
    }
    return outcome, ledger, facts


def count_outcomes(ledger: list[dict]) -> dict[str, int]:
    dispositions = Counter(entry["disposition"] for entry in ledger)

    def starting(prefix: str) -> int:
        return sum(count for name, count in dispositions.items() if name.startswith(prefix))

    return {
        "input_pairs": len(ledger),
        "reviewed": sum(1 for entry in ledger if entry["annotators"]),
        "kept": dispositions["kept"],
        "edited": dispositions["curation/edited"],
        "edited_flagged": sum(1 for entry in ledger if entry.get("edit_flags")),
        "discarded": dispositions["curation/discarded"] + dispositions["curation/discarded_on_tie"],
        "discarded_on_tie": dispositions["curation/discarded_on_tie"],
        "edit_rejected": starting("curation/edit_rejected/"),
        "edit_conflict": dispositions["curation/edit_conflict"],
        "unreviewed": dispositions["curation/unreviewed"] + dispositions["curation/not_in_argilla"],
        "invalid": starting("curation/invalid_record/"),
    }
