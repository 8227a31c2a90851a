"""Judge `engagement`: an offline judge that learned from real likes which replies to a tweet people liked more.

Two models (score.engagement.model), both fitted on the TRAIN split of a data_prep dataset and checked on its eval/test
splits (held-out fit: Spearman's rho and within-conversation pairwise accuracy):

- `pairwise` (the default; engagement_pairwise.py): a logistic regression on the differences of plain text features
  of two replies to THE SAME tweet, fitted on every such TRAIN pair with different likes, C and the pair weighting
  chosen by an inner GroupKFold over conversations. Model id `pairwise-lr[text-v2]@<fingerprint>`.
- `ridge`: for each reply, log(1 + likes) standardized within its conversation, regressed (ridge, penalty by
  GroupKFold over conversations) on the sentence embeddings data_prep uses (data_prep.dedup): the reply's vector,
  the reply vector times the tweet vector, and their cosine. Model id `ridge[<embedding model>]@<fingerprint>`.

On the real RumourEval threads (docs/benchmarks.md, "Judge validity on RumourEval") `pairwise` beats `ridge` on both
the shared and the other events, and neither is a valid judge of what real readers like there.

Both score each reply on its own, from its text and its tweet's: likes, time and followers are training labels or
absent, never features. Pairwise verdicts compare two replies' scores (both orders agree by construction);
single-answer verdicts give the score itself (centred: 0 is an average reply).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from judge.config import EngagementJudgeConfig
from judge.records import PAIRWISE
from judge.score.backends.base import JudgeUnavailable, LocalJudge
from judge.score.backends.engagement_pairwise import PairwiseScorer, fit_pairwise_scorer, pairwise_fingerprint
from judge.score.prompts import ParsedVerdict
from judge.score.tasks import JudgeTask
from replytune import schema as col
from replytune.files import write_text_atomically
from replytune.versions import VersionError, load_rows

logger = logging.getLogger(__name__)

FEATURE_VERSION = 1
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class ReplyExample:
    """A training reply: what the fit reads. Its likes are the label; the judge itself never sees them."""

    conversation_id: str
    tweet_text: str
    reply_text: str
    likes: int
    tweet_id: str | None = None  # the tweet it answers (None: its conversation's root); pairs are within one tweet


Embed = Callable[[Sequence[str]], np.ndarray]


class Embedder:
    """L2-normalized sentence embeddings (data_prep's model), each distinct text embedded once."""

    def __init__(self, model_name: str | None = None, batch_size: int = 64, progress: bool = False):
        from data_prep.dedup import EMBEDDING_MODEL_NAME

        self.model_name = model_name or EMBEDDING_MODEL_NAME
        self._model_path = model_name
        self.batch_size = batch_size
        self.progress = progress
        self._vectors: dict[str, np.ndarray] = {}

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        from data_prep.dedup import embed_texts, load_embedding_model

        missing = list(dict.fromkeys(text for text in texts if text not in self._vectors))
        if missing:
            vectors = embed_texts(load_embedding_model(self._model_path), missing, self.batch_size, self.progress)
            self._vectors.update(zip(missing, vectors))
        return np.stack([self._vectors[text] for text in texts]) if texts else np.zeros((0, 0), dtype=np.float32)


def engagement_targets(conversation_ids: Sequence[str], likes: Sequence[int]) -> np.ndarray:
    """log(1 + likes), standardized within each conversation (0 where a conversation's likes are all equal)."""
    values = np.log1p(np.asarray(likes, dtype=np.float64))
    targets = np.zeros_like(values)
    for indexes in _by_conversation(conversation_ids).values():
        group = values[indexes]
        spread = group.std()
        targets[indexes] = (group - group.mean()) / spread if spread > 0 else 0.0
    return targets


def reply_features(tweet_vectors: np.ndarray, reply_vectors: np.ndarray) -> np.ndarray:
    cosine = np.sum(tweet_vectors * reply_vectors, axis=1, keepdims=True)
    return np.hstack([reply_vectors, reply_vectors * tweet_vectors, cosine]).astype(np.float64)


def features_of(examples: Sequence[ReplyExample], embed: Embed) -> np.ndarray:
    return reply_features(embed([e.tweet_text for e in examples]), embed([e.reply_text for e in examples]))


@dataclass
class EngagementScorer:
    """The `ridge` model: a ridge regression on sentence-embedding features."""

    weights: np.ndarray
    intercept: float
    alpha: float
    embedding_model: str
    fingerprint: str  # what it was fitted on and how: part of the judge's model name in every verdict

    kind = "ridge"

    @property
    def model_id(self) -> str:
        return f"ridge[{self.embedding_model}]@{self.fingerprint[:12]}"

    @property
    def prompt_version(self) -> str:
        return f"engagement-features-v{FEATURE_VERSION}"

    def predict(self, features: np.ndarray) -> np.ndarray:
        return features @ self.weights + self.intercept

    def score_texts(self, tweets: Sequence[str], replies: Sequence[str], embed: Embed) -> np.ndarray:
        if not len(replies):
            return np.zeros(0)
        return self.predict(reply_features(embed(list(tweets)), embed(list(replies))))

    def save(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"alpha": self.alpha, "embedding_model": self.embedding_model, "fingerprint": self.fingerprint}
        with open(path, "wb") as file:  # np.savez adds .npz to a bare name; an open file keeps the name
            np.savez(file, weights=self.weights, intercept=self.intercept, meta=json.dumps(meta))

    @classmethod
    def load(cls, path: Path) -> EngagementScorer:
        with np.load(path) as data:
            meta = json.loads(str(data["meta"]))
            return cls(
                data["weights"], float(data["intercept"]), meta["alpha"], meta["embedding_model"], meta["fingerprint"]
            )


Scorer = EngagementScorer | PairwiseScorer


def load_scorer(path: Path) -> Scorer:
    """A scorer saved by either model (its meta says which; files without a kind are ridge's)."""
    with np.load(path) as data:
        if json.loads(str(data["meta"])).get("kind") == PairwiseScorer.kind:
            return PairwiseScorer.from_arrays(data)
    return EngagementScorer.load(path)


def rankable(examples: Sequence[ReplyExample], min_replies: int) -> list[ReplyExample]:
    """The replies of conversations with at least `min_replies` replies (a lone reply has no rank to learn)."""
    counts = defaultdict(int)
    for example in examples:
        counts[example.conversation_id] += 1
    return [example for example in examples if counts[example.conversation_id] >= min_replies]


def fingerprint_of(examples: Sequence[ReplyExample], embedding_model: str, config: EngagementJudgeConfig) -> str:
    digest = hashlib.sha256()
    settings = [FEATURE_VERSION, embedding_model, config.alphas, config.cv_folds, config.min_replies_per_conversation]
    digest.update(json.dumps(settings).encode())
    for example in sorted(examples, key=lambda e: (e.conversation_id, e.reply_text, e.tweet_text, e.likes)):
        digest.update(
            json.dumps(
                [example.conversation_id, example.tweet_text, example.reply_text, example.likes], ensure_ascii=False
            ).encode("utf-8")
        )
    return digest.hexdigest()


def fit_scorer(
    examples: Sequence[ReplyExample], embed: Embed, config: EngagementJudgeConfig, embedding_model: str
) -> tuple[EngagementScorer, dict]:
    """Fit on `examples` (a TRAIN split); returns the scorer and what the fit saw (replies, conversations, alpha)."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import GridSearchCV, GroupKFold

    usable = rankable(examples, config.min_replies_per_conversation)
    conversations = sorted({example.conversation_id for example in usable})
    if len(conversations) < 2:
        raise JudgeUnavailable(
            f"judge engagement: the training data has {len(conversations)} conversation(s) with at least "
            f"{config.min_replies_per_conversation} replies; at least 2 are needed to fit and select the penalty"
        )
    features = features_of(usable, embed)
    targets = engagement_targets([e.conversation_id for e in usable], [e.likes for e in usable])
    groups = [e.conversation_id for e in usable]
    search = GridSearchCV(
        Ridge(),
        {"alpha": list(config.alphas)},
        cv=GroupKFold(n_splits=min(config.cv_folds, len(conversations))),
        scoring="neg_mean_squared_error",
    )
    search.fit(features, targets, groups=groups)
    model = search.best_estimator_
    if search.best_params_["alpha"] == max(config.alphas):
        logger.warning(
            "engagement scorer: the strongest penalty tried (alpha %s) fits best, so the embeddings predict little "
            "of the likes in this training data; read its held-out fit before trusting its verdicts",
            search.best_params_["alpha"],
        )
    scorer = EngagementScorer(
        np.asarray(model.coef_, dtype=np.float64),
        float(model.intercept_),
        float(search.best_params_["alpha"]),
        embedding_model,
        fingerprint_of(examples, embedding_model, config),
    )
    report = {
        "train_replies": len(usable),
        "train_conversations": len(conversations),
        "replies_left_out": len(examples) - len(usable),
        "alpha": scorer.alpha,
        "cv_mse_by_alpha": {
            str(alpha): round(-float(score), 4)
            for alpha, score in zip(config.alphas, search.cv_results_["mean_test_score"])
        },
    }
    return scorer, report


def ranking_fit(conversation_ids: Sequence[str], likes: Sequence[int], predicted: np.ndarray) -> dict:
    """How well predictions rank real replies: Spearman's rho against the normalized target, and the share of
    same-conversation reply pairs with different likes that the predictions order correctly (a tie counts half)."""
    from scipy.stats import spearmanr

    targets = engagement_targets(conversation_ids, likes)
    correct, pairs = 0.0, 0
    for indexes in _by_conversation(conversation_ids).values():
        for i, j in itertools.combinations(indexes, 2):
            if likes[i] == likes[j]:
                continue
            pairs += 1
            difference = (predicted[i] - predicted[j]) * (likes[i] - likes[j])
            correct += 1.0 if difference > 0 else 0.5 if abs(predicted[i] - predicted[j]) <= TIE_TOLERANCE else 0.0
    rho = spearmanr(predicted, targets).statistic if len(targets) > 2 and np.ptp(targets) > 0 else float("nan")
    return {
        "replies": len(likes),
        "conversations": len(set(conversation_ids)),
        "spearman_rho": None if np.isnan(rho) else round(float(rho), 4),
        "pairs": pairs,
        "pairwise_accuracy": round(correct / pairs, 4) if pairs else None,
    }


def held_out_fit(scorer: Scorer, examples: Sequence[ReplyExample], embed: Embed | None, min_replies: int) -> dict:
    usable = rankable(examples, min_replies)
    if not usable:
        return ranking_fit([], [], np.zeros(0))
    predicted = scorer.score_texts([e.tweet_text for e in usable], [e.reply_text for e in usable], embed)
    return ranking_fit([e.conversation_id for e in usable], [e.likes for e in usable], predicted)


def engagement_fingerprint(
    examples: Sequence[ReplyExample], config: EngagementJudgeConfig, embedding_model: str | None
) -> str:
    """What a fit of `config.model` on `examples` would be called (the cache key and the model id's suffix)."""
    if config.model == "pairwise":
        return pairwise_fingerprint(examples, config)
    return fingerprint_of(examples, embedding_model, config)


def fit_engagement(
    examples: Sequence[ReplyExample], config: EngagementJudgeConfig, embed: Embed | None
) -> tuple[Scorer, dict]:
    """Fit `config.model` on `examples` (a TRAIN split); `embed` is needed by ridge only."""
    if config.model == "pairwise":
        return fit_pairwise_scorer(examples, config)
    if embed is None:
        raise ValueError("the ridge engagement model needs an embedding model")
    scorer, report = fit_scorer(examples, embed, config, embed.model_name)
    return scorer, {"model": "ridge", **report}


def make_embedder(config: EngagementJudgeConfig, progress: bool) -> Embedder | None:
    """The sentence-embedding model when `config.model` needs one (ridge); None for the pairwise text model."""
    return Embedder(config.embedding_model, config.embedding_batch_size, progress) if config.model == "ridge" else None


def _by_conversation(conversation_ids: Sequence[str]) -> dict[str, list[int]]:
    groups: dict[str, list[int]] = defaultdict(list)
    for index, conversation_id in enumerate(conversation_ids):
        groups[conversation_id].append(index)
    return groups


class EngagementJudge(LocalJudge):
    name = "engagement"
    order_invariant = True  # a pairwise verdict compares two replies' own scores: the order shown cannot change it

    def __init__(self, scorer: Scorer, embed: Embed | None = None, model: str | None = None):
        self.scorer = scorer
        self.embed = embed
        # The model name identifies the fit, so that verdicts of two different fits never mix in one file.
        self.model = model or scorer.model_id
        self.prompt_version = scorer.prompt_version

    def judge_tasks(self, tasks: list[JudgeTask]) -> list[ParsedVerdict]:
        """Verdicts from the texts alone (a task holds the tweet and the replies: no likes, time or author)."""
        texts = [(task.tweet_text, reply) for task in tasks for reply in task.replies]
        if not texts:
            return []
        predicted = iter(self.scorer.score_texts([t for t, _ in texts], [r for _, r in texts], self.embed))
        verdicts = []
        for task in tasks:
            scores = [float(next(predicted)) for _ in task.replies]
            if task.kind == PAIRWISE:
                first, second = scores
                label = "tie" if abs(first - second) <= TIE_TOLERANCE else "A" if first > second else "B"
                reasoning = f"predicted engagement A {first:+.4g}, B {second:+.4g}"
                verdicts.append(ParsedVerdict(label=label, reasoning=reasoning))
            else:
                verdicts.append(ParsedVerdict(score=round(scores[0], 4), reasoning="predicted engagement"))
        return verdicts


# --------------------------------------------------------------------------------------------------
# Training data: a data_prep dataset (score), and the scorer fitted on it once, then cached
# --------------------------------------------------------------------------------------------------


def examples_from_rows(rows) -> list[ReplyExample]:
    return [
        ReplyExample(
            str(row[col.CONVERSATION_ID]),
            row[col.TWEET_TEXT],
            row[col.REPLY_TEXT],
            int(row[col.REPLY_LIKES]),
            str(row[col.TWEET_ID]),
        )
        for row in rows
        if row[col.REPLY_LIKES] is not None
    ]


REPLY_COLUMNS = (col.CONVERSATION_ID, col.TWEET_ID, col.REPLY_ID, col.TWEET_TEXT, col.REPLY_TEXT, col.REPLY_LIKES)


def load_dataset_splits(spec: str, revision: str | None = None, needed_splits: Sequence[str] = ("train",)):
    """A data_prep dataset's reply rows per split (a local folder or a Hub repo at a revision, through
    replytune/versions.py's one loader) and the spec that names exactly what was read; the splits named must exist
    and hold rows."""
    try:
        loaded = load_rows(spec, REPLY_COLUMNS, revision)
    except VersionError as error:
        raise JudgeUnavailable(f"dataset {error}") from error
    described = loaded.resolved.name
    for split in needed_splits:
        if not loaded.rows.get(split):
            state = "has no rows" if split in loaded.rows else f"does not exist (it has {', '.join(loaded.rows)})"
            raise JudgeUnavailable(f"dataset {described}: split {split!r} {state}")
    return loaded.rows, described


def held_out_key(held_out_examples: dict[str, Sequence[ReplyExample]]) -> str:
    """A short hash of the non-train splits' examples: what the held-out figures were measured on."""
    digest = hashlib.sha256()
    for split in sorted(held_out_examples):
        for example in held_out_examples[split]:
            digest.update(json.dumps([split, *dataclasses.astuple(example)], ensure_ascii=False).encode())
    return digest.hexdigest()[:12]


def engagement_judge_from_dataset(
    config: EngagementJudgeConfig, cache_dir: Path, dataset: str | None, progress: bool = True
) -> tuple[EngagementJudge, dict]:
    """Fit (or load the cached fit of) the scorer on the TRAIN split of `dataset` (a spec, `--train-dataset`; else the
    config's train_dataset at train_dataset_revision); report its held-out fit."""
    name, revision = (dataset, None) if dataset else (config.train_dataset, config.train_dataset_revision)
    if not name:
        raise JudgeUnavailable(
            "judge engagement learns from real likes: name the data_prep dataset whose TRAIN split it fits on "
            "(--train-dataset DIR_OR_REPO[@vN], or score.engagement.train_dataset in the config)"
        )
    dataset, described = load_dataset_splits(name, revision)
    splits = {split: examples_from_rows(dataset[split]) for split in dataset}
    embed = make_embedder(config, progress)
    fingerprint = engagement_fingerprint(splits["train"], config, embed.model_name if embed else None)
    path = cache_dir / "engagement" / f"{fingerprint}.npz"
    # The fit depends on the TRAIN split only; its held-out figures on the other splits too, so they are cached apart:
    # another version with the same TRAIN split reuses the fit, never the figures of a test split it does not hold.
    held_out_examples = {split: examples for split, examples in splits.items() if split != "train"}
    report_path = path.with_name(f"{fingerprint}-{held_out_key(held_out_examples)}.json")
    fit_path = path.with_suffix(".fit.json")
    if path.is_file() and fit_path.is_file():
        scorer, fit = load_scorer(path), json.loads(fit_path.read_text(encoding="utf-8"))
        logger.info("engagement scorer: loaded the fit cached at %s", path)
    else:
        scorer, fit = fit_engagement(splits["train"], config, embed)
        scorer.save(path)
        write_text_atomically(fit_path, json.dumps(fit, indent=2))
        report_path.unlink(missing_ok=True)
    if report_path.is_file():
        report = json.loads(report_path.read_text(encoding="utf-8"))
    else:
        held_out = {
            split: held_out_fit(scorer, examples, embed, config.min_replies_per_conversation)
            for split, examples in held_out_examples.items()
        }
        report = {"model": scorer.model_id, "fit": fit, "held_out": held_out}
        if embed is not None:
            report["embedding_model"] = embed.model_name
        write_text_atomically(report_path, json.dumps(report, indent=2))
    report = {"dataset": described, **report}  # the dataset as named now, not as a run that shared the fit named it
    if not report["held_out"]:
        logger.warning("engagement scorer: the dataset has no eval/test split, so its held-out fit is unknown")
    return EngagementJudge(scorer, embed), report
