"""Split by conversation, then check that eval/test hold no near duplicate of a train reply.

A conversation's split is drawn from a seeded hash of its id, so every reply to one root tweet lands in the
same split, and a conversation keeps its split when a later dataset version adds data (no test tweet of v1
becomes a training tweet of v2).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from data_prep.config import SplitConfig
from data_prep.dedup import nearest_similarity

SPLITS = ("train", "eval", "test")


def split_of(conversation_id: str, config: SplitConfig) -> str:
    digest = hashlib.sha256(f"{config.seed}:{conversation_id}".encode()).digest()
    draw = int.from_bytes(digest[:8], "big") / 2**64
    if draw < config.train_fraction:
        return "train"
    if draw < config.train_fraction + config.eval_fraction:
        return "eval"
    return "test"


def split_by_conversation(conversation_ids: Sequence[str], config: SplitConfig) -> list[str]:
    return [split_of(conversation_id, config) for conversation_id in conversation_ids]


@dataclass
class LeakageReport:
    """Replies in eval/test whose cosine with some train reply reaches the threshold."""

    threshold: float
    checked: dict[str, int] = field(default_factory=dict)
    near_duplicates: dict[str, int] = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)  # a few (split, reply_id, train_reply_id, cosine)
    dropped: bool = False
    leaking: list[int] = field(default_factory=list)  # indexes into the pairs, not published

    def as_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "checked": self.checked,
            "near_duplicates": self.near_duplicates,
            "dropped": self.dropped,
            "examples": self.examples,
        }


def check_leakage(
    splits: Sequence[str],
    embeddings: np.ndarray,
    reply_ids: Sequence[str],
    config: SplitConfig,
    max_examples: int = 10,
) -> LeakageReport:
    """Compare every eval/test reply with every train reply (cosine over normalized embeddings)."""
    report = LeakageReport(threshold=config.leakage_threshold, dropped=config.drop_leaking)
    splits_array = np.asarray(splits)
    train = np.flatnonzero(splits_array == "train")
    for name in SPLITS[1:]:
        held_out = np.flatnonzero(splits_array == name)
        report.checked[name] = len(held_out)
        report.near_duplicates[name] = 0
        if len(held_out) == 0 or len(train) == 0:
            continue
        best, best_index = nearest_similarity(embeddings[held_out], embeddings[train])
        for position in np.flatnonzero(best >= config.leakage_threshold):
            index = int(held_out[position])
            report.near_duplicates[name] += 1
            report.leaking.append(index)
            if len(report.examples) < max_examples:
                report.examples.append(
                    {
                        "split": name,
                        "reply_id": reply_ids[index],
                        "train_reply_id": reply_ids[int(train[best_index[position]])],
                        "cosine": round(float(best[position]), 4),
                    }
                )
    return report
