"""How far a judge can be trusted: agreement with real likes, with itself (position consistency), and its length bias.

Definitions (all on pairs of real replies to one tweet with different like counts):

- A pair's verdict combines its two presentations (records.combine_orders): both orders name the same winner -> that
  winner; they disagree -> a tie; an order missing or unparseable -> a tie as well (counted as incomplete).
- Accuracy: the share of pairs where the combined verdict names the reply people liked more; a tie earns half
  (what a coin would earn on average), so a judge cannot look better by abstaining.
- The 95% interval is a percentile bootstrap that resamples CONVERSATIONS with replacement (pairs of one
  conversation share a tweet and an audience; resampling pairs would make the interval too narrow).
- Baselines, on the same pairs: "the longer reply" (by characters; equal lengths -> half), a seeded coin flip, and
  "the earlier reply" (by the reply's time; equal -> half; only when every reply's time is known). Timing is what
  drives likes most on real threads (an early reply is seen by more people), and no text judge is shown it: the
  earlier-reply figure is a ceiling that timing alone reaches, not a bar a text judge is expected to clear.
- The goal a judge of engagement is held to (issue 20): accuracy at least the longer reply's + 5 points, AND the
  accuracy's CI lower bound above the longer reply's accuracy (`goal`; `judge stats` gates its verdict on the
  weaker "beats the length baseline" below and on position consistency, judge/provenance.py).
- "Better than chance": the accuracy's interval lies above 0.5.
- "Beats the length baseline": the bootstrap interval of (judge accuracy - length-baseline accuracy), from the same
  resampled conversations, lies above 0. A judge that does not is reported as such.
- Position consistency: the share of pairs whose two parsed orders name the same winner (ties included).
  First-position rate: among decisive single-order verdicts, the share that picked the reply shown first.
- Length bias: Spearman's rho between the combined verdict (+1 the first reply, -1 the second, 0 tie) and the
  length difference (first minus second, in characters); 0 means no preference for length. And, easier to read,
  the longer-reply rate: among decisive verdicts on replies of different lengths, the share that picked the longer
  one (0.5: no preference; a judge that only looks at length scores 1).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from judge.records import TIE, VerdictRecord, combine_orders
from judge.validate.threads import LikePair


def credit(winner: str, liked_more: str) -> float:
    return 0.5 if winner == TIE else float(winner == liked_more)


def length_credit(pair: LikePair) -> float:
    first, second = len(pair.first.reply_text), len(pair.second.reply_text)
    if first == second:
        return 0.5
    longer = pair.first.reply_id if first > second else pair.second.reply_id
    return float(longer == pair.liked_more)


def coin_credits(pairs: Sequence[LikePair], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 2, size=len(pairs)).astype(np.float64)


def earlier_credits(pairs: Sequence[LikePair]) -> np.ndarray | None:
    """The earlier reply's credit per pair (equal times: half); None unless every reply's time is known."""
    from judge.validate.threads import parse_time

    if any(pair.first.created_at is None or pair.second.created_at is None for pair in pairs):
        return None
    values = []
    for pair in pairs:
        first, second = parse_time(pair.first.created_at), parse_time(pair.second.created_at)
        if first == second:
            values.append(0.5)
        else:
            earlier = pair.first.reply_id if first < second else pair.second.reply_id
            values.append(float(earlier == pair.liked_more))
    return np.asarray(values, dtype=np.float64)


GOAL_MARGIN = 0.05  # issue 20: at least the longer reply + 5 points, with the CI lower bound above the longer reply


def goal(accuracy: float, ci: Sequence[float], length_accuracy: float) -> dict:
    """Whether a judge meets issue 20's goal against the longer-reply baseline, and by how much it falls short."""
    needed = length_accuracy + GOAL_MARGIN
    short_by = max(0.0, needed - accuracy)
    ci_short_by = max(0.0, length_accuracy - ci[0])
    return {
        "rule": f"accuracy >= longer reply + {GOAL_MARGIN:.2f} and CI lower bound > longer reply",
        "needs_accuracy": round(needed, 4),
        "met": bool(accuracy >= needed and ci[0] > length_accuracy),
        "points_short": round(100 * short_by, 2),
        "ci_low_points_below_longer": round(100 * ci_short_by, 2),
    }


class ConversationBootstrap:
    """Percentile bootstrap of pair-weighted means, resampling conversations; every statistic drawn from this
    object uses the same resamples, so differences between judges are paired."""

    def __init__(self, conversation_ids: Sequence[str], resamples: int, confidence: float, seed: int):
        self.conversations = sorted(set(conversation_ids))
        index = {conversation: i for i, conversation in enumerate(self.conversations)}
        self.pair_conversation = np.array([index[c] for c in conversation_ids], dtype=np.int64)
        self.pairs_per_conversation = np.bincount(self.pair_conversation, minlength=len(self.conversations))
        rng = np.random.default_rng(seed)
        # counts[b, c]: how often conversation c was drawn in resample b
        draws = rng.integers(0, len(self.conversations), size=(resamples, len(self.conversations)))
        self.counts = np.stack([np.bincount(row, minlength=len(self.conversations)) for row in draws])
        self.confidence = confidence

    def interval(self, values: np.ndarray) -> tuple[float, float]:
        sums = np.bincount(self.pair_conversation, weights=values, minlength=len(self.conversations))
        with np.errstate(invalid="ignore", divide="ignore"):
            means = (self.counts @ sums) / (self.counts @ self.pairs_per_conversation)
        tail = (1 - self.confidence) / 2 * 100
        low, high = np.nanpercentile(means, [tail, 100 - tail])
        return round(float(low), 4), round(float(high), 4)


def accuracy_summary(values: np.ndarray, bootstrap: ConversationBootstrap) -> dict:
    return {"accuracy": round(float(values.mean()), 4) if len(values) else None, "ci": bootstrap.interval(values)}


def judge_validity(
    pairs: Sequence[LikePair],
    records: Sequence[VerdictRecord],
    bootstrap: ConversationBootstrap,
    length_values: np.ndarray,
) -> dict:
    """Accuracy against likes (with CI), the comparison with the length baseline, position consistency, length
    bias and the parse errors of one judge's verdicts on `pairs` (in the order `bootstrap` was built on)."""
    from scipy.stats import spearmanr

    combined = combine_orders(records)
    values, directions, length_differences = [], [], []
    incomplete = consistent = with_two_orders = first_picks = decisive_orders = 0
    for pair in pairs:
        verdict = combined.get((pair.item_id, (pair.first.reply_id, pair.second.reply_id)))
        if verdict is None or verdict.parsed_orders < 2:
            incomplete += 1
        if verdict is None:
            values.append(0.5)
            directions.append(0)
        else:
            values.append(credit(verdict.winner, pair.liked_more))
            directions.append(0 if verdict.winner == TIE else 1 if verdict.winner == pair.first.reply_id else -1)
            if verdict.consistent is not None:
                with_two_orders += 1
                consistent += verdict.consistent
            first_picks += verdict.first_position_picks
            decisive_orders += verdict.decisive_orders
        length_differences.append(len(pair.first.reply_text) - len(pair.second.reply_text))
    values = np.asarray(values, dtype=np.float64)
    difference = values - length_values
    difference_ci = bootstrap.interval(difference)
    accuracy_ci = bootstrap.interval(values)
    accuracy = round(float(values.mean()), 4) if len(values) else None
    defined = np.ptp(directions) > 0 and np.ptp(length_differences) > 0  # else the correlation is undefined
    rho = spearmanr(directions, length_differences) if defined else None
    directions_array = np.asarray(directions)
    differences_array = np.asarray(length_differences)
    decisive_on_length = (directions_array != 0) & (differences_array != 0)
    picked_longer = np.sign(directions_array[decisive_on_length]) == np.sign(differences_array[decisive_on_length])
    return {
        **accuracy_summary(values, bootstrap),
        "decisive_pairs": int(np.count_nonzero(directions_array)),
        "ties": int(np.count_nonzero(directions_array == 0)),
        "incomplete_pairs": incomplete,
        "parse_errors": sum(record.parse_error is not None for record in records),
        "minus_length_baseline": {"difference": round(float(difference.mean()), 4), "ci": difference_ci},
        "beats_length_baseline": bool(difference_ci[0] > 0),
        "better_than_chance": bool(accuracy_ci[0] > 0.5),
        "goal": goal(accuracy, accuracy_ci, round(float(length_values.mean()), 4)) if accuracy is not None else None,
        "position_consistency": round(consistent / with_two_orders, 4) if with_two_orders else None,
        "first_position_rate": round(first_picks / decisive_orders, 4) if decisive_orders else None,
        "length_bias_spearman": round(float(rho.statistic), 4) if rho is not None else None,
        "length_bias_p": float(rho.pvalue) if rho is not None else None,
        "longer_reply_rate": round(float(picked_longer.mean()), 4) if decisive_on_length.any() else None,
    }


def verdict_statement(name: str, result: dict) -> str:
    """One sentence a model card can quote."""
    accuracy, (low, high) = result["accuracy"], result["ci"]
    text = f"judge {name}: agrees with real likes on {accuracy:.1%} of reply pairs (95% CI {low:.1%}-{high:.1%})"
    if not result["better_than_chance"]:
        text += ", which cannot be told apart from a coin flip"
    if result["beats_length_baseline"]:
        return text + ", and better than picking the longer reply."
    return text + (
        "; it does NOT beat the baseline of picking the longer reply: its verdicts are no better evidence of "
        "engagement than reply length."
    )
