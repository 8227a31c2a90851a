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
    """Pairs in eval/test whose reply, or whose tweet replied to, has cosine >= the threshold with a train one.

    A conversation never spans two splits, but the same tweet text can come back under another id (a repost, a
    copy-paste account) with its own conversation, and the same reply can be posted under two tweets: both would put
    train text in eval/test. What this check can guarantee is only what it compares: each held-out reply with every
    train reply, and each held-out tweet with every train tweet, by embedding cosine. Paraphrases below the
    threshold, and a reply that copies a train tweet, are not caught.
    """

    threshold: float
    checked: dict[str, int] = field(default_factory=dict)  # held-out pairs compared, per split
    near_duplicates: dict[str, int] = field(default_factory=dict)  # pairs leaking by reply or tweet, per split
    near_duplicate_replies: dict[str, int] = field(default_factory=dict)
    near_duplicate_tweets: dict[str, int] = field(default_factory=dict)
    examples: list[dict] = field(default_factory=list)  # a few (split, compared, reply_id, train_reply_id, cosine)
    dropped: bool = False
    leaking: list[int] = field(default_factory=list)  # indexes into the pairs, not published
    leaking_by: dict[int, str] = field(
        default_factory=dict
    )  # index -> "reply" or "tweet" (reply first), not published
    leaking_with: dict[int, tuple[int, float]] = field(default_factory=dict)  # index -> (train index, cosine)

    def as_dict(self) -> dict:
        return {
            "threshold": self.threshold,
            "compared": ["reply", "tweet"] if self.near_duplicate_tweets else ["reply"],
            "checked": self.checked,
            "near_duplicates": self.near_duplicates,
            "near_duplicate_replies": self.near_duplicate_replies,
            "near_duplicate_tweets": self.near_duplicate_tweets,
            "dropped": self.dropped,
            "examples": self.examples,
        }


def check_leakage(
    splits: Sequence[str],
    embeddings: np.ndarray,
    reply_ids: Sequence[str],
    config: SplitConfig,
    max_examples: int = 10,
    tweet_embeddings: np.ndarray | None = None,
) -> LeakageReport:
    """Compare every eval/test reply with every train reply, and (given `tweet_embeddings`, one row per pair, like
    `embeddings`) every eval/test tweet replied to with every train one; cosine over normalized embeddings."""
    report = LeakageReport(threshold=config.leakage_threshold, dropped=config.drop_leaking)
    splits_array = np.asarray(splits)
    train = np.flatnonzero(splits_array == "train")
    compared = {"reply": embeddings}
    if tweet_embeddings is not None:
        compared["tweet"] = tweet_embeddings
    for name in SPLITS[1:]:
        held_out = np.flatnonzero(splits_array == name)
        report.checked[name] = len(held_out)
        report.near_duplicates[name] = 0
        report.near_duplicate_replies[name] = 0
        if tweet_embeddings is not None:
            report.near_duplicate_tweets[name] = 0
        if len(held_out) == 0 or len(train) == 0:
            continue
        for what, vectors in compared.items():
            best, best_index = nearest_similarity(vectors[held_out], vectors[train])
            for position in np.flatnonzero(best >= config.leakage_threshold):
                index = int(held_out[position])
                (report.near_duplicate_replies if what == "reply" else report.near_duplicate_tweets)[name] += 1
                if index in report.leaking_by:
                    continue
                report.leaking_by[index] = what
                report.leaking_with[index] = (int(train[best_index[position]]), float(best[position]))
                report.near_duplicates[name] += 1
                if len(report.examples) < max_examples:
                    report.examples.append(
                        {
                            "split": name,
                            "compared": what,
                            "reply_id": reply_ids[index],
                            "train_reply_id": reply_ids[int(train[best_index[position]])],
                            "cosine": round(float(best[position]), 4),
                        }
                    )
    report.leaking = sorted(report.leaking_by)
    return report
