"""The original spec's Tier 1 metrics, per system: SANITY CHECKS ONLY.

Overlap with the real reply says little about whether people would like a reply (a good reply can share no word
with the one that was posted), so these numbers catch broken systems (empty, looping, copied, cut-off replies), not
better ones; the judges decide that.

- ROUGE-L F1 (Google's `rouge-score`, the package Hugging Face `evaluate`'s "rouge" metric calls) against the
  human replies of the tweet: the best match among them, averaged over tweets;
- corpus BLEU (`sacrebleu`, the package `evaluate`'s "sacrebleu" metric calls; 13a tokenization, exponential
  smoothing, effective order) with every human reply of a tweet as a reference;
- distinct-1 / distinct-2 (Li et al., 2016): distinct word n-grams over all n-grams of all the system's replies;
- repetition rate: per reply, the share of its word n-grams that repeat an earlier one ("👉👉👉👉" -> 1.0), averaged;
  and the share of replies whose repetition rate is at least 0.5 (degenerate loops);
- length: characters and words (mean, median, 10th/90th percentile, min, max) and generated tokens.

`evaluate.load(...)` fetches its metric scripts from the Hub at run time, which machines without Hub access (and
the tests) cannot do; calling the two packages it wraps gives the same numbers offline. The `human` system is the
reference itself: its overlap metrics are left out.
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

# Words, numbers, and every other non-space character on its own (emoji, punctuation), lower-cased.
_WORD = re.compile(r"\w+|[^\w\s]")


@dataclass(frozen=True)
class ScoredReply:
    reply: str
    references: tuple[str, ...]  # the tweet's human replies
    completion_tokens: int | None = None


def words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> list[tuple[str, ...]]:
    return [tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1)]


def distinct_n(replies: Sequence[str], n: int) -> float | None:
    """Distinct n-grams / all n-grams over every reply (None when the replies hold no n-gram)."""
    grams = [gram for reply in replies for gram in ngrams(words(reply), n)]
    return round(len(set(grams)) / len(grams), 4) if grams else None


def repetition_rate(reply: str, n: int = 2) -> float:
    """The share of the reply's word n-grams that already occurred earlier in it (0 for a reply too short)."""
    grams = ngrams(words(reply), n)
    return (len(grams) - len(set(grams))) / len(grams) if grams else 0.0


def describe(values: Sequence[float]) -> dict:
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    deciles = statistics.quantiles(ordered, n=10, method="inclusive") if len(ordered) > 1 else [ordered[0]] * 9
    return {
        "n": len(ordered),
        "mean": round(statistics.fmean(ordered), 2),
        "median": round(statistics.median(ordered), 2),
        "p10": round(deciles[0], 2),
        "p90": round(deciles[-1], 2),
        "min": ordered[0],
        "max": ordered[-1],
    }


def rouge_l(replies: Sequence[ScoredReply], use_stemmer: bool = True) -> float | None:
    """Mean over replies of the best ROUGE-L F1 against any of the tweet's references."""
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=use_stemmer)
    scores = [
        scorer.score_multi(list(item.references), item.reply)["rougeL"].fmeasure for item in replies if item.references
    ]
    return round(statistics.fmean(scores), 4) if scores else None


def corpus_bleu(replies: Sequence[ScoredReply]) -> dict | None:
    """sacrebleu's corpus BLEU, every reference of a tweet used (streams padded with None where a tweet has fewer)."""
    from sacrebleu.metrics import BLEU

    scored = [item for item in replies if item.references]
    if not scored:
        return None
    streams = max(len(item.references) for item in scored)
    references = [
        [item.references[i] if i < len(item.references) else None for item in scored] for i in range(streams)
    ]
    bleu = BLEU(effective_order=True)
    result = bleu.corpus_score([item.reply for item in scored], references)
    return {"score": round(result.score, 2), "signature": str(bleu.get_signature())}


def system_metrics(
    replies: Sequence[ScoredReply], is_reference: bool, repetition_ngram: int = 2, use_stemmer: bool = True
) -> dict:
    texts = [item.reply for item in replies]
    rates = [repetition_rate(text, repetition_ngram) for text in texts]
    metrics = {
        "n": len(texts),
        "rouge_l_f1": None if is_reference else rouge_l(replies, use_stemmer),
        "bleu": None if is_reference else corpus_bleu(replies),
        "distinct_1": distinct_n(texts, 1),
        "distinct_2": distinct_n(texts, 2),
        f"repetition_rate_{repetition_ngram}gram": round(statistics.fmean(rates), 4) if rates else None,
        "looping_replies": sum(rate >= 0.5 for rate in rates),
        "length_chars": describe([len(text) for text in texts]),
        "length_words": describe([len(text.split()) for text in texts]),
        "completion_tokens": describe([r.completion_tokens for r in replies if r.completion_tokens is not None]),
    }
    if is_reference:
        metrics["note"] = "the reference itself: overlap metrics left out"
    return metrics
