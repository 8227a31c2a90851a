"""Inter-annotator agreement on a nominal question (curation's keep/discard, human evaluation's winner), and the
sentence a card states about it.

Two annotators: Cohen's kappa (scikit-learn) on the records both answered. Three or more: Krippendorff's alpha for
nominal data, which takes every record answered by two or more annotators, whoever they are, and any gaps. Both are
1 for perfect agreement and 0 for agreement at chance level; both are undefined when every answer is the same label
(there is then no variation to agree on), which is reported as None with that reason.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping
from itertools import permutations

METRIC_NAMES = {"cohen_kappa": "Cohen's kappa", "krippendorff_alpha": "Krippendorff's alpha"}


def krippendorff_alpha_nominal(units: list[list[Hashable]]) -> float | None:
    """Krippendorff's alpha for nominal labels; `units` holds each record's labels (records with < 2 are ignored).

    alpha = 1 - D_o / D_e, from the coincidence matrix: each ordered pair of labels inside a unit of m labels adds
    1 / (m - 1). Returns None when D_e is 0 (a single label throughout).
    """
    coincidences: Counter = Counter()
    for labels in units:
        if len(labels) < 2:
            continue
        for first, second in permutations(labels, 2):
            coincidences[first, second] += 1 / (len(labels) - 1)
    totals: Counter = Counter()
    for (first, _), weight in coincidences.items():
        totals[first] += weight
    n = sum(totals.values())
    if n <= 1:
        return None
    observed = sum(weight for (first, second), weight in coincidences.items() if first != second)
    expected = sum(totals[a] * totals[b] for a in totals for b in totals if a != b) / (n - 1)
    if expected == 0:
        return None
    return 1 - observed / expected


def decision_agreement(labels_by_record: Mapping[str, Mapping[str, Hashable]]) -> dict:
    """Agreement over the records that two or more annotators answered.

    `labels_by_record`: record id -> {annotator: label}. Returns the metric's name and value, how many records and
    annotators it covers, the share of those records on which every annotator gave the same label, and a note when
    the metric is undefined.
    """
    shared = {record: labels for record, labels in labels_by_record.items() if len(labels) >= 2}
    annotators = sorted({annotator for labels in shared.values() for annotator in labels})
    result = {
        "metric": None,
        "value": None,
        "records": len(shared),
        "annotators": len(annotators),
        "percent_agreement": None,
        "note": None,
    }
    if not shared:
        result["note"] = "no record was answered by two or more annotators"
        return result
    unanimous = sum(1 for labels in shared.values() if len(set(labels.values())) == 1)
    result["percent_agreement"] = round(100 * unanimous / len(shared), 2)
    if len(annotators) == 2:
        from sklearn.metrics import cohen_kappa_score

        first, second = annotators
        pairs = [(labels[first], labels[second]) for labels in shared.values()]
        result["metric"] = "cohen_kappa"
        if len({label for pair in pairs for label in pair}) < 2:
            value = None
        else:
            value = float(cohen_kappa_score([a for a, _ in pairs], [b for _, b in pairs]))
    else:
        result["metric"] = "krippendorff_alpha"
        value = krippendorff_alpha_nominal([list(labels.values()) for labels in shared.values()])
    if value is None or math.isnan(value):
        result["note"] = "undefined: every answer on the shared records was the same label"
    else:
        result["value"] = round(value, 4)
    return result


def describe_agreement(result: dict, unit: str) -> str:
    """`decision_agreement`'s result as the sentence a card states: the metric and its value over the records
    (`unit`: "pairs", "tweets") that two or more annotators answered, and the share that was unanimous; or why it
    was not measured."""
    if result["value"] is None:
        return f"not measured: {result['note']}."
    return (
        f"{METRIC_NAMES[result['metric']]} = {result['value']} on the {result['records']} {unit} that two or more of "
        f"the {result['annotators']} annotators answered ({result['percent_agreement']}% unanimous)."
    )
