"""What an evaluation is of, and whether its judge is valid there.

Two identities, each one record that two files can be compared on:

- the dataset version: `dataset_identity` (its name, Hub repo or folder, version, commit, and the sha256 of its data
  files, which is what two versions are compared on: a folder and a Hub copy of the same version agree, two versions
  never do), and whether it is synthetic (`synthetic`: the dataset card says so, or report.json names the demo's
  synthetic sample among its sources);
- the judge: `Judge.identity()` (judge/score/backends/base.py): its kind, model id, prompt version and a hash of every
  setting that changes its answers (`fingerprint`), written in every verdict, score_report.json and validity.json.

`judge_validity_check` is the one rule that lets a verdict say "criteria met": the judge behind the verdicts was
validated (`judge validate --dataset`) on real held-out pairs of THIS dataset version, as THIS judge, and there it
beats picking the longer reply, with its accuracy's CI lower bound above the longer reply's accuracy, and it keeps its
verdict when the order of the replies is swapped (position consistency >= 0.8). A judge that scores each reply on its
own (the engagement scorer: `order_invariant`) cannot change its verdict with the order; its consistency is 1 by
construction and the check says so. Anything else and the verdict reads "not established: the judge is not valid
here", naming the check that failed. `judge stats` applies it, stats.json records it, `judge publish` recomputes it
and the card quotes it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from replytune.versions import data_sha256

logger = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
# The synthetic sample `make demo` builds its dataset from (data_prep/sample/make_demo_tweets.py writes it).
SYNTHETIC_SAMPLES = (REPO_ROOT / "data_prep" / "sample" / "demo_tweets.jsonl",)
MIN_POSITION_CONSISTENCY = 0.8
NOT_VALID = "not established: the judge is not valid here"


# --- the dataset version -------------------------------------------------------------------------------------------


def dataset_identity(name: str, folder: Path, version: str, repo: str | None = None) -> dict[str, Any]:
    """The record of a dataset version read from `folder` (a local version folder, or a Hub snapshot of `repo` at
    `version`): what generation_report.json and validity.json write, and what `same_dataset` compares."""
    from replytune.versions import hub_commit

    synthetic, evidence = synthetic_evidence(folder)
    return {
        "name": name,
        "repo": repo,
        "folder": None if repo else str(Path(folder).resolve()),
        "version": version,
        "commit": hub_commit(repo, version) if repo else None,
        "data_sha256": data_sha256(folder),
        "synthetic": synthetic,
        "synthetic_evidence": evidence,
        "sources": _sources(folder),
    }


def _sources(folder: Path) -> list[str]:
    report = _json(Path(folder) / "report.json")
    return [str(source.get("name")) for source in (report or {}).get("sources") or [] if isinstance(source, dict)]


def synthetic_evidence(folder: Path) -> tuple[bool, str | None]:
    """(synthetic?, the recorded fact that says so): a dataset card tagged `synthetic`, or report.json naming among
    its sources a file whose sha256 is that of a synthetic sample this repository ships (the demo's)."""
    card = Path(folder) / "README.md"
    if card.is_file():
        head = card.read_text(encoding="utf-8", errors="replace").split("\n---", 1)[0]
        if "\n- synthetic" in head or "synthetic: true" in head:
            return True, "the dataset card is tagged synthetic"
    report = _json(Path(folder) / "report.json") or {}
    known = {_file_sha256(path): path for path in SYNTHETIC_SAMPLES if path.is_file()}
    for source in report.get("sources") or []:
        if isinstance(source, dict) and source.get("sha256") in known:
            sample = known[source["sha256"]].relative_to(REPO_ROOT)
            return True, (
                f"report.json's source {source.get('name')} is {sample} (sha256 {source['sha256'][:12]}), the "
                "synthetic sample data_prep/sample/make_demo_tweets.py writes: its likes follow rules written into "
                "the generator, not people"
            )
    return False, None


def _file_sha256(path: Path) -> str:
    from replytune.files import sha256_of

    return sha256_of(path)


def _json(path: Path) -> dict | None:
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return document if isinstance(document, dict) else None


def describe_dataset(identity: dict | None) -> str:
    if not identity:
        return "an unrecorded dataset"
    where = identity.get("repo") or identity.get("name") or identity.get("folder") or "a dataset"
    text = f"{where}@{identity.get('version')}" if identity.get("repo") else str(identity.get("name") or where)
    if identity.get("commit"):
        text += f" (commit {str(identity['commit'])[:12]})"
    return text


def same_dataset(one: dict | None, other: dict | None) -> bool:
    """The same dataset version: the same data files (sha256), whatever named them (a folder, a Hub repo@tag)."""
    return bool(one and other and one.get("data_sha256") and one.get("data_sha256") == other.get("data_sha256"))


# --- the judge ----------------------------------------------------------------------------------------------------


def describe_judge(identity: dict | None) -> str:
    if not identity:
        return "an unrecorded judge"
    text = f"{identity.get('judge')} ({identity.get('model')}, prompt {identity.get('prompt_version')}"
    return text + f", settings hash {identity.get('fingerprint') or 'not recorded'})"


def same_judge(one: dict | None, other: dict | None) -> bool:
    keys = ("judge", "model", "prompt_version", "fingerprint")
    return bool(one and other and one.get("fingerprint") and all(one.get(key) == other.get(key) for key in keys))


# --- the check ----------------------------------------------------------------------------------------------------


def judge_validity_check(
    validity: dict | None,
    validity_file: str | None,
    dataset: dict | None,
    judge: dict | None,
    judge_name: str | None,
) -> dict[str, Any]:
    """Is the judge behind these verdicts valid for this evaluation? Every check, in order, with its detail; the first
    that fails is `failed`, and `reason` says it in one line (the verdict and the card quote it).

    `validity`: validity.json (None: not found); `dataset`: the evaluated dataset version's identity (generation_report
    .json); `judge`: the identity the verdicts record (None: they record none, e.g. plain lines); `judge_name`: the
    judge the statistics read.
    """
    checks: list[dict[str, Any]] = []
    result: dict[str, Any] = {
        "established": False,
        "failed": None,
        "reason": None,
        "checks": checks,
        "validity_file": validity_file,
        "judge": judge,
        "dataset": dataset,
        "validated_on": None,
        "figures": None,
    }

    def check(name: str, met: bool, detail: str) -> bool:
        checks.append({"check": name, "met": met, "detail": detail})
        if not met and result["failed"] is None:
            result["failed"], result["reason"] = name, f"{name}: {detail}"
        return met

    command = (
        f"python -m judge validate --dataset {(dataset or {}).get('name') or 'DATASET@vN'} "
        f"--judge {judge_name or 'JUDGE'} --output EVAL/validity"
    )
    if not check(
        "no validity.json",
        validity is not None,
        "found"
        if validity is not None
        else f"the judge was never validated against real likes here (run `{command}`)",
    ):
        return result
    validated_on = validity.get("dataset")
    result["validated_on"] = validated_on
    if not check(
        "another dataset",
        dataset is not None and same_dataset(validated_on, dataset),
        _dataset_detail(validity, validated_on, dataset),
    ):
        return result
    if not check(
        "synthetic pairs",
        not validated_on.get("synthetic"),
        f"validated on real held-out pairs of {describe_dataset(validated_on)}"
        if not validated_on.get("synthetic")
        else f"the held-out pairs are synthetic ({validated_on.get('synthetic_evidence')}): agreeing with likes "
        "that a generator wrote says nothing about real readers",
    ):
        return result
    entry = (validity.get("judges") or {}).get(judge_name) if judge_name else None
    measured = (entry or {}).get("identity")
    if entry is None:
        why = (validity.get("not_measured") or {}).get(judge_name) if judge_name else None
        detail = (
            f"validity.json has no figure for judge {judge_name}: {why}"
            if why
            else f"validity.json measured {', '.join(validity.get('judges') or {}) or 'no judge'}, not "
            f"{judge_name or 'this (unnamed) judge'}"
        )
        check("another judge", False, detail)
        return result
    if not check(
        "another judge",
        same_judge(measured, judge),
        f"validity.json measured {describe_judge(measured)}"
        + ("" if same_judge(measured, judge) else f"; these verdicts are {describe_judge(judge)}"),
    ):
        return result
    length = ((validity.get("baselines") or {}).get("longer_reply") or {}).get("accuracy")
    accuracy, interval = entry.get("accuracy"), entry.get("ci") or [None, None]
    consistency = entry.get("position_consistency")
    result["figures"] = {
        "pairs": validity.get("pairs"),
        "conversations": validity.get("conversations"),
        "split": validity.get("split"),
        "accuracy": accuracy,
        "ci": interval,
        "longer_reply": length,
        "earlier_reply": ((validity.get("baselines") or {}).get("earlier_reply") or {}).get("accuracy"),
        "coin_flip": ((validity.get("baselines") or {}).get("coin_flip") or {}).get("accuracy"),
        "position_consistency": consistency,
        "order_invariant": bool((measured or {}).get("order_invariant")),
    }
    if not check(
        "incomplete validation",
        entry.get("complete", True) is not False,
        "every pair was judged" if entry.get("complete", True) is not False else "the validation run stopped short",
    ):
        return result
    numbers = isinstance(accuracy, (int, float)) and isinstance(length, (int, float))
    if not check(
        "below length",
        numbers and accuracy > length,
        f"accuracy {_pct(accuracy)} against {_pct(length)} for picking the longer reply",
    ):
        return result
    low = interval[0] if isinstance(interval, (list, tuple)) and interval else None
    above = isinstance(low, (int, float)) and low > length
    if not check(
        "CI not above length",
        above,
        f"the 95% CI of its accuracy starts at {_pct(low)}, {'above' if above else 'not above'} the longer "
        f"reply's {_pct(length)}",
    ):
        return result
    invariant = " (1 by construction: it scores each reply on its own)" if result["figures"]["order_invariant"] else ""
    if not check(
        f"position consistency {_number(consistency)} < {MIN_POSITION_CONSISTENCY:g}"
        if not (isinstance(consistency, (int, float)) and consistency >= MIN_POSITION_CONSISTENCY)
        else "position consistency",
        isinstance(consistency, (int, float)) and consistency >= MIN_POSITION_CONSISTENCY,
        f"it kept its verdict on {_pct(consistency)} of pairs when the order was swapped{invariant} "
        f"(needs {MIN_POSITION_CONSISTENCY:.0%})",
    ):
        return result
    result["established"] = True
    result["reason"] = (
        f"validated on {validity.get('pairs')} real held-out pairs of {describe_dataset(validated_on)}: accuracy "
        f"{_pct(accuracy)} (95% CI {_pct(interval[0])}-{_pct(interval[1])}) against {_pct(length)} for the longer "
        f"reply; position consistency {_pct(consistency)}{invariant}"
    )
    return result


def _dataset_detail(validity: dict, validated_on: dict | None, dataset: dict | None) -> str:
    if dataset is None:
        return (
            "the evaluation does not record its dataset version (no generation_report.json from `judge generate` "
            "beside the generations), so no validity check can be tied to it"
        )
    if not validated_on:
        threads = validity.get("threads") or validity.get("source")
        return (
            f"validity.json measured judges on {threads!s:.200}, not on held-out pairs of {describe_dataset(dataset)} "
            "(run `judge validate --dataset` on this dataset version)"
        )
    if same_dataset(validated_on, dataset):
        return f"validated on {describe_dataset(validated_on)} split {validity.get('split')}, the evaluated version"
    return (
        f"validity.json measured judges on {describe_dataset(validated_on)} (data sha256 "
        f"{str(validated_on.get('data_sha256'))[:12]}), these verdicts are on {describe_dataset(dataset)} (data "
        f"sha256 {str(dataset.get('data_sha256'))[:12]})"
    )


def _pct(value) -> str:
    return f"{value:.1%}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "n/a"


def _number(value) -> str:
    return f"{value:.2f}" if isinstance(value, (int, float)) and not isinstance(value, bool) else "n/a"


def apply_to_verdict(verdict: dict, check: dict) -> dict:
    """The verdict of the statistics, bounded by its judge: "criteria met" only when the judge is valid here; else
    "not established: the judge is not valid here (<check>: <detail>)", the statistics kept beside it."""
    verdict = dict(verdict)
    verdict["statistical_criteria_met"] = verdict["criteria_met"]
    verdict["judge_validity"] = check
    verdict["established"] = bool(check["established"])
    if not check["established"]:
        statistics = "met" if verdict["criteria_met"] else "not met"
        verdict["criteria_met"] = False
        verdict["summary"] = f"{NOT_VALID} ({check['reason']}); the statistical criteria alone: {statistics}" + (
            ""
            if verdict["statistical_criteria_met"]
            else f" ({verdict['summary'].removeprefix('criteria not met: ')})"
        )
    return verdict
