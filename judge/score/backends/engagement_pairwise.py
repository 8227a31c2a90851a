"""The engagement judge's default model: a pairwise learning-to-rank model of what readers preferred between replies
to THE SAME tweet.

What it learns from: every pair of TRAIN-split replies to one tweet whose like counts differ; the label is which of the
two got more likes. Likes are only the label: they, the reply's time and its author's followers are never features,
so the fitted judge scores a reply from its text (and its tweet's) alone.

Features of one reply (`TEXT_FEATURES`, version `FEATURE_VERSION`), plain and named: its words (links and @mentions
left out), log characters, rare words and mean IDF of its content words, a question mark, a number, a link, its
@mentions; and two relations to its tweet that are off by default (word overlap, new words). The IDF table is
counted on the TRAIN split's reply texts (no labels) and kept with the model, so a held-out reply never shapes its
own features.

Model: logistic regression without intercept on the differences of standardized features, fitted on both orders of
every pair, so f(a, b) = -f(b, a) = score(a) - score(b): a per-reply score w . z that also serves single-answer mode,
and both presentation orders agree by construction. Each pair weighs 1 / (pairs in its conversation)^gamma (0: every
pair alike, 1: every conversation alike). C and gamma are chosen by an inner GroupKFold over training conversations,
on pair-weighted accuracy (the validity metric); ties go to the stronger penalty.

Measured on real RumourEval threads (docs/benchmarks.md, "Judge validity on RumourEval"): a few points above "the
longer reply" at best, never the issue-20 goal. It is the better of the two engagement models there, not a valid
judge of real readers' taste.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from judge.config import DEFAULT_PAIRWISE_FEATURES, PAIRWISE_TEXT_FEATURES, EngagementJudgeConfig
from judge.score.backends.base import JudgeUnavailable

# A training reply (engagement.ReplyExample): conversation_id, tweet_id (None: the conversation's root), tweet_text,
# reply_text, likes. Not imported here, so that engagement.py can import this module.
ReplyExample = Any

KIND = "pairwise-lr"
FEATURE_VERSION = "text-v2"
TIE_TOLERANCE = 1e-9
RARE_IDF = 6.0  # a content word rarer than this (smoothed IDF) is "specific"

WORD = re.compile(r"[a-z0-9']+")
URL = re.compile(r"https?://\S+|\bt\.co/\S+", re.I)
MENTION = re.compile(r"(?<!\w)@\w+")
NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_FIRST = {"i", "me", "my", "mine", "i'm", "im", "i've", "i'd", "i'll", "we", "our", "us"}
_SECOND = {"you", "your", "you're", "youre", "u", "ur", "yours"}
STOP = {
    "the", "a", "an", "and", "or", "but", "of", "to", "in", "on", "at", "for", "is", "are", "was", "were", "be",
    "it", "this", "that", "with", "as", "by", "from", "rt", "so", "not", "no", "do", "does", "did", "have", "has",
} | _FIRST | _SECOND  # fmt: skip


def words(text: str) -> list[str]:
    """Lower-case words of a text, its links and @mentions left out."""
    return WORD.findall(URL.sub(" ", MENTION.sub(" ", text.lower())))


class Idf:
    """Smoothed inverse document frequency, counted on a list of texts (no labels): log((1 + n) / (1 + df)) + 1."""

    def __init__(self, n: int, df: dict[str, int]):
        self.n = n
        self.df = df

    @classmethod
    def fit(cls, texts: Sequence[str]) -> Idf:
        return cls(len(texts), dict(Counter(word for text in texts for word in set(words(text)))))

    def __call__(self, word: str) -> float:
        return math.log((1 + self.n) / (1 + self.df.get(word, 0))) + 1.0


@dataclass(frozen=True)
class _Text:
    """What the features of one reply read: its text, its words, its content words' IDFs, its tweet's words."""

    reply: str
    words: list[str]
    content: list[str]
    idfs: list[float]
    tweet_words: set[str]


def _overlap(text: _Text) -> float:
    content = set(text.content)
    union = content | text.tweet_words
    return len(content & text.tweet_words) / len(union) if union else 0.0


TEXT_FEATURES: dict[str, Callable[[_Text], float]] = {
    "words": lambda t: float(len(t.words)),
    "log_chars": lambda t: math.log1p(len(t.reply)),
    "rare_words": lambda t: float(sum(value > RARE_IDF for value in t.idfs)),
    "idf_mean": lambda t: float(np.mean(t.idfs)) if t.idfs else 0.0,
    "question": lambda t: float("?" in t.reply),
    "has_number": lambda t: float(bool(NUMBER.search(t.reply))),
    "has_url": lambda t: float(bool(URL.search(t.reply))),
    "n_mentions": lambda t: float(len(MENTION.findall(t.reply))),
    # relations to the tweet (off by default: not measured to help on real threads)
    "overlap_tweet": _overlap,
    "novel_words": lambda t: len(set(t.content) - t.tweet_words) / max(1, len(set(t.content))),
}
assert tuple(TEXT_FEATURES) == PAIRWISE_TEXT_FEATURES, "judge/config.py names the features defined here"
DEFAULT_FEATURES = DEFAULT_PAIRWISE_FEATURES


def text_features(tweets: Sequence[str], replies: Sequence[str], idf: Idf, names: Sequence[str]) -> np.ndarray:
    """One row per reply, one column per feature name: from the reply's text and its tweet's only."""
    rows = []
    for tweet, reply in zip(tweets, replies, strict=True):
        reply_words = words(reply)
        content = [word for word in reply_words if word not in STOP]
        text = _Text(reply, reply_words, content, [idf(word) for word in content], set(words(tweet)) - STOP)
        rows.append([TEXT_FEATURES[name](text) for name in names])
    return np.asarray(rows, dtype=np.float64).reshape(len(rows), len(names))


@dataclass
class PairwiseScorer:
    """Everything the judge needs, without the training data: feature names and version, the TRAIN split's IDF table,
    the standardization, the weights (no intercept), the chosen C and gamma, the inner-CV accuracy of every setting
    tried, and the fingerprint of what it was fitted on and how."""

    feature_names: tuple[str, ...]
    idf: Idf
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    C: float
    gamma: float
    inner_cv: dict[str, float]
    fingerprint: str
    feature_version: str = FEATURE_VERSION

    kind = KIND

    @property
    def model_id(self) -> str:
        return f"{KIND}[{self.feature_version}]@{self.fingerprint[:12]}"

    @property
    def prompt_version(self) -> str:
        return f"engagement-{self.feature_version}"

    def features(self, tweets: Sequence[str], replies: Sequence[str]) -> np.ndarray:
        return text_features(tweets, replies, self.idf, self.feature_names)

    def score_texts(self, tweets: Sequence[str], replies: Sequence[str], embed=None) -> np.ndarray:
        """Each reply's score from its text and its tweet's (`embed` is not used: no embedding model needed)."""
        if not len(replies):
            return np.zeros(0)
        return ((self.features(tweets, replies) - self.mean) / self.scale) @ self.weights

    def coefficients(self) -> dict[str, float]:
        """The weight of each standardized feature (what a higher value of it does to the score)."""
        return {name: round(float(weight), 4) for name, weight in zip(self.feature_names, self.weights)}

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "kind": KIND,
            "feature_version": self.feature_version,
            "feature_names": list(self.feature_names),
            "idf_n": self.idf.n,
            "idf_df": self.idf.df,
            "C": self.C,
            "gamma": self.gamma,
            "inner_cv": self.inner_cv,
            "fingerprint": self.fingerprint,
        }
        with open(path, "wb") as file:  # np.savez adds .npz to a bare name; an open file keeps the name
            np.savez(file, mean=self.mean, scale=self.scale, weights=self.weights, meta=json.dumps(meta))

    @classmethod
    def from_arrays(cls, data) -> PairwiseScorer:
        meta = json.loads(str(data["meta"]))
        return cls(
            tuple(meta["feature_names"]),
            Idf(meta["idf_n"], meta["idf_df"]),
            np.array(data["mean"]),
            np.array(data["scale"]),
            np.array(data["weights"]),
            meta["C"],
            meta["gamma"],
            meta["inner_cv"],
            meta["fingerprint"],
            meta["feature_version"],
        )


def tweet_key(example: ReplyExample) -> str:
    """The tweet a reply answers (its conversation's root when the data does not say)."""
    return example.tweet_id if example.tweet_id is not None else example.conversation_id


def within_tweet_pairs(examples: Sequence[ReplyExample]) -> list[tuple[int, int, bool]]:
    """(i, j, i liked more) for every two replies to the same tweet with different like counts: judge validate's
    pairs (judge/validate/threads.like_pairs), by index into `examples`."""
    by_tweet: dict[str, list[int]] = defaultdict(list)
    for index, example in enumerate(examples):
        by_tweet[tweet_key(example)].append(index)
    pairs = []
    for tweet in sorted(by_tweet):
        for i, j in itertools.combinations(by_tweet[tweet], 2):
            if examples[i].likes != examples[j].likes:
                pairs.append((i, j, examples[i].likes > examples[j].likes))
    return pairs


def pairwise_fingerprint(examples: Sequence[ReplyExample], config: EngagementJudgeConfig) -> str:
    """sha256 of how it is fitted (kind, feature version and names, the C and gamma grids, the inner folds) and of
    what (every training reply: conversation, tweet, texts, likes): the model id carries it."""
    digest = hashlib.sha256()
    settings = [
        KIND,
        FEATURE_VERSION,
        list(config.pairwise_features),
        list(config.pairwise_cs),
        list(config.pairwise_gammas),
        config.pairwise_cv_folds,
    ]
    digest.update(json.dumps(settings).encode())
    rows = sorted([e.conversation_id, tweet_key(e), e.tweet_text, e.reply_text, e.likes] for e in examples)
    for row in rows:
        digest.update(json.dumps(row, ensure_ascii=False).encode("utf-8"))
    return digest.hexdigest()


def _fit_linear(differences: np.ndarray, first_more: np.ndarray, weights: np.ndarray, C: float) -> np.ndarray:
    """Logistic regression without intercept on both orders of every pair: antisymmetric by construction."""
    from sklearn.linear_model import LogisticRegression

    X = np.vstack([differences, -differences])
    y = np.concatenate([first_more, ~first_more]).astype(int)
    w = np.concatenate([weights, weights])
    model = LogisticRegression(C=C, fit_intercept=False, max_iter=2000, tol=1e-5)
    model.fit(X, y, sample_weight=w * (len(w) / w.sum()))
    return model.coef_.ravel().astype(np.float64)


def _pair_weights(conversations: np.ndarray, gamma: float) -> np.ndarray:
    counts = Counter(conversations.tolist())
    return np.array([1.0 / counts[c] ** gamma for c in conversations.tolist()])


def _accuracy(margins: np.ndarray, first_more: np.ndarray) -> np.ndarray:
    """Credits as judge validate gives them: 1 right, 0 wrong, 0.5 a tie."""
    return np.where(np.abs(margins) <= TIE_TOLERANCE, 0.5, ((margins > 0) == first_more).astype(np.float64))


def fit_pairwise_scorer(
    examples: Sequence[ReplyExample], config: EngagementJudgeConfig
) -> tuple[PairwiseScorer, dict]:
    """Fit on `examples` (a TRAIN split: nothing else is read); returns the scorer and what the fit saw."""
    from sklearn.model_selection import GroupKFold

    names = tuple(config.pairwise_features)
    tweets, replies = [e.tweet_text for e in examples], [e.reply_text for e in examples]
    pairs = within_tweet_pairs(examples)
    pair_conversations = np.array([examples[i].conversation_id for i, _, _ in pairs], dtype=object)
    conversations = sorted(set(pair_conversations.tolist()))
    if len(conversations) < 2:
        raise JudgeUnavailable(
            f"judge engagement: the training data has {len(conversations)} conversation(s) with two replies to one "
            "tweet with different like counts; at least 2 are needed to fit and choose C by cross-validation"
        )
    idf = Idf.fit(replies)
    matrix = text_features(tweets, replies, idf, names)
    mean, scale = matrix.mean(axis=0), matrix.std(axis=0)
    scale[scale == 0] = 1.0
    standardized = (matrix - mean) / scale
    first, second = np.array([i for i, _, _ in pairs]), np.array([j for _, j, _ in pairs])
    differences = standardized[first] - standardized[second]
    first_more = np.array([more for _, _, more in pairs], dtype=bool)
    folds = list(
        GroupKFold(n_splits=min(config.pairwise_cv_folds, len(conversations))).split(
            differences, first_more, groups=pair_conversations
        )
    )
    grid: dict[tuple[float, float], float] = {}
    for gamma in config.pairwise_gammas:
        weights = _pair_weights(pair_conversations, gamma)
        for C in config.pairwise_cs:
            credits = 0.0
            for train, test in folds:
                coefficients = _fit_linear(differences[train], first_more[train], weights[train], C)
                credits += _accuracy(differences[test] @ coefficients, first_more[test]).sum()
            grid[(C, gamma)] = credits / len(pairs)
    C, gamma = max(grid, key=lambda key: (round(grid[key], 6), -key[0]))
    weights = _fit_linear(differences, first_more, _pair_weights(pair_conversations, gamma), C)
    inner_cv = {f"C={c},gamma={g}": round(value, 4) for (c, g), value in grid.items()}
    scorer = PairwiseScorer(
        names, idf, mean, scale, weights, float(C), float(gamma), inner_cv, pairwise_fingerprint(examples, config)
    )
    report = {
        "model": KIND,
        "feature_version": FEATURE_VERSION,
        "train_replies": len(examples),
        "train_pairs": len(pairs),
        "train_conversations": len(conversations),
        "inner_folds": len(folds),
        "C": scorer.C,
        "gamma": scorer.gamma,
        "inner_cv_accuracy": round(grid[(C, gamma)], 4),
        "inner_cv_by_setting": inner_cv,
        "coefficients": scorer.coefficients(),
        "idf_texts": idf.n,
    }
    return scorer, report
