"""From annotators' A / B / tie answers to per-tweet winners, verdict lines `judge stats` reads, and agreement.

- A submitted answer is a vote for the system whose reply it names (A or B, through the mapping) or for a tie.
  The UI's Discard button and unsubmitted drafts are not votes; they are counted per annotator.
- A tweet's winner is the majority of its votes; a tie between the most voted (one vote each for base and adapter,
  or one for a system and one for tie) makes the tweet a tie. A tweet nobody voted on has no winner.
- Each decided tweet becomes two pairwise lines of `judge/records.py`'s VerdictRecord (judge "human"), order 1 and
  order 2 with the same winner. `judge stats` combines the two orders of an item and leaves out an item with one
  order; a person saw the pair once, in its random order, and that judgement stands for both. So the stats' order
  inconsistency is 0 by construction for humans: their position control is the per-tweet random order, and the
  share of decisive votes that picked reply A (0.5 without position bias) is reported instead.
- Agreement: between annotators on the winner (replytune.agreement: Cohen's kappa for two, Krippendorff's alpha for
  more), and between the humans' winner and a judge's (its two orders combined by records.combined_winner, the rule
  of judge stats), Cohen's kappa over the tweets that have both.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from judge.human_eval.dataset import BETTER_REPLY, NOTES, BlindPair
from judge.records import PAIRWISE, TIE, VerdictRecord, combined_winner
from judge.stats.verdicts import Comparison
from replytune.agreement import decision_agreement

HUMAN_JUDGE = "human"
PROMPT_VERSION = "human-eval-v1"  # what `prompt_version` holds on a human verdict line: the guidelines' version


@dataclass
class HumanVerdict:
    """What the annotators decided about one tweet."""

    record_id: str
    item_id: str
    shown: tuple[str, str]  # the systems as A and B
    votes: dict[str, str] = field(default_factory=dict)  # annotator -> system or "tie"
    winner: str | None = None  # a system, "tie", or None (no vote)
    vote_tie: bool = False  # the winner is "tie" because the votes split evenly
    notes: list[str] = field(default_factory=list)


def resolve(pair: BlindPair, responses: list[dict]) -> HumanVerdict:
    verdict = HumanVerdict(pair.record_id, pair.item_id, (pair.reply_a_system, pair.reply_b_system))
    for response in responses:
        label = response["values"].get(BETTER_REPLY)
        if response["status"] != "submitted" or label not in ("A", "B", TIE):
            continue
        verdict.votes[response["username"]] = pair.system_of(label)
        note = response["values"].get(NOTES)
        if isinstance(note, str) and note.strip():
            verdict.notes.append(note.strip())
    if verdict.votes:
        ranked = Counter(verdict.votes.values()).most_common()
        if len(ranked) > 1 and ranked[0][1] == ranked[1][1]:
            verdict.winner, verdict.vote_tie = TIE, True
        else:
            verdict.winner = ranked[0][0]
    return verdict


def annotator_counts(pairs: dict[str, BlindPair], responses_by_record: dict[str, list[dict]]) -> dict[str, dict]:
    """username -> submitted / discarded / draft counts, the letters picked and the systems they favoured."""
    counts: dict[str, dict] = {}
    for record_id, responses in responses_by_record.items():
        pair = pairs[record_id]
        for response in responses:
            entry = counts.setdefault(
                response["username"],
                {"submitted": 0, "discarded": 0, "draft": 0, "picked": {"A": 0, "B": 0, TIE: 0}, "favoured": {}},
            )
            status = response["status"] if response["status"] in ("submitted", "discarded", "draft") else "draft"
            label = response["values"].get(BETTER_REPLY)
            if status == "submitted" and label not in ("A", "B", TIE):
                status = "draft"  # a submission without the answer cannot be a vote
            entry[status] += 1
            if status == "submitted":
                entry["picked"][label] += 1
                system = pair.system_of(label)
                entry["favoured"][system] = entry["favoured"].get(system, 0) + 1
    return dict(sorted(counts.items()))


def reply_a_rate(counts: dict[str, dict]) -> dict[str, Any]:
    """Position bias of the humans: the share of decisive votes that picked reply A (0.5: none)."""
    picked_a = sum(entry["picked"]["A"] for entry in counts.values())
    decisive = picked_a + sum(entry["picked"]["B"] for entry in counts.values())
    return {
        "decisive_votes": decisive,
        "picked_a": picked_a,
        "rate": round(picked_a / decisive, 4) if decisive else None,
    }


def verdict_lines(verdict: HumanVerdict, pair: BlindPair, baseline: str, candidate: str, model: str):
    """The two VerdictRecords (orders 1 and 2, the same winner) of one decided tweet, in judge score's format."""
    votes = dict(sorted(Counter(verdict.votes.values()).items()))
    notes = [
        f"shown to annotators as A={verdict.shown[0]}, B={verdict.shown[1]}",
        f"votes: {votes}" + (" (split evenly: a tie)" if verdict.vote_tie else ""),
    ]
    return [
        VerdictRecord(
            item_id=verdict.item_id,
            kind=PAIRWISE,
            judge=HUMAN_JUDGE,
            model=model,
            prompt_version=PROMPT_VERSION,
            input_hash=pair.texts_sha256[:16],
            systems=list(shown),
            order=order,
            winner=verdict.winner,
            reasoning=" | ".join(verdict.notes) or None,
            request_id=verdict.record_id,
            notes=notes,
        )
        for order, shown in ((1, (baseline, candidate)), (2, (candidate, baseline)))
    ]


def annotator_agreement(verdicts: list[HumanVerdict]) -> dict:
    """Agreement between annotators on the winner, over tweets two or more of them voted on."""
    return decision_agreement({verdict.record_id: verdict.votes for verdict in verdicts})


def judge_agreement(verdicts: list[HumanVerdict], comparison: Comparison) -> dict:
    """Cohen's kappa between the humans' winner and the judge's (its two orders combined) where both exist."""
    baseline, candidate = comparison.baseline, comparison.candidate
    judged = {}
    incomplete = 0
    for item_id, orders in comparison.pairwise_orders.items():
        if len(orders) < 2:
            incomplete += 1
            continue
        judged[item_id], _ = combined_winner(list(orders.values()))
    decided = {verdict.item_id: verdict.winner for verdict in verdicts if verdict.winner is not None}
    both = sorted(set(judged) & set(decided))
    agreement = decision_agreement({item: {"judge": judged[item], "human": decided[item]} for item in both})
    if not both:
        agreement["note"] = "no tweet has both a human winner and a judge verdict in both orders"
    labels = [baseline, candidate, TIE]
    confusion = Counter((judged[item], decided[item]) for item in both)
    return {
        "judge": comparison.judge,
        "verdicts_file": comparison.source,
        "items": len(both),
        "cohen_kappa": agreement["value"],
        "percent_agreement": agreement["percent_agreement"],
        "note": agreement["note"],
        "confusion": {f"judge {j} / human {h}": confusion[j, h] for j in labels for h in labels},
        "judge_items_with_one_order": incomplete,
        "human_items_without_judge_verdict": len(set(decided) - set(judged)),
    }
