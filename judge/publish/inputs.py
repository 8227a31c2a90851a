"""What `judge publish` reads, and the check that ties the evaluation to the adapter: the recipe's output folder
(AdapterRun), the evaluation folder (Evaluation: stats.json, required, and the reports beside it), and
`check_evaluated_adapter`, which refuses to state another adapter's numbers. Every problem is a PublishRefused
that names the file, field or flag; nothing here uploads anything."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path
from typing import Any

from judge.records import (
    ENGAGEMENT_FIT_FILE_NAME,
    GENERATION_REPORT_FILE_NAME,
    GENERATIONS_FILE_NAME,
    SCORE_REPORT_FILE_NAME,
    STATS_FILE_NAME,
    VALIDITY_FILE_NAME,
    VALIDITY_FOLDERS,
    VERDICTS_FILE_NAME,
    GenerationRecord,
    read_records,
)
from judge.stats.cli import STATS_FORMAT
from replytune.errors import Refused
from replytune.files import sha256_of
from replytune.hub import is_hub_repo_id
from replytune.publishable import is_local_path, local_paths_of_run
from replytune.versions import parse_spec
from replytune.yaml_config import ConfigError

log = logging.getLogger("judge.publish")


class PublishRefused(Refused):
    """Publishing cannot start: the message names the file, field or flag. Nothing was uploaded."""


# --- inputs ----------------------------------------------------------------------------------------------------


@dataclasses.dataclass
class AdapterRun:
    """The recipe's output folder, as its files describe it."""

    folder: Path
    config: dict  # resolved_config.yaml
    metadata: dict  # run_metadata.json
    plan: dict
    base_model: str  # the Hub id adapter_config.json names
    weights_sha256: str
    log_history: list[dict]
    log_source: str | None
    local_paths: list[str]


def read_adapter_run(folder: Path) -> AdapterRun:
    from recipes.run_files import training_log_history

    if not folder.is_dir():
        raise PublishRefused(f"--adapter {folder}: no such folder")
    for name in (
        "adapter_config.json",
        "adapter_model.safetensors",
        "run_metadata.json",
        "resolved_config.yaml",
        "plan.json",
    ):
        if not (folder / name).is_file():
            raise PublishRefused(
                f"--adapter {folder}: {name} is missing (expected the output_dir of recipes/sft_qlora.py, which "
                "writes it; the card states the run from it)"
            )
    adapter_config = _read_json(folder / "adapter_config.json")
    base_model = adapter_config.get("base_model_name_or_path")
    if not isinstance(base_model, str) or is_local_path(base_model) or not is_hub_repo_id(base_model):
        raise PublishRefused(
            f"{folder / 'adapter_config.json'}: base_model_name_or_path {base_model!r} is not a Hub model id, so "
            "nobody could load the base model: train with base_model_hub_id set (the recipes set it), or write the "
            "base model's Hub id there"
        )
    config = _read_yaml(folder / "resolved_config.yaml")
    metadata = _read_json(folder / "run_metadata.json")
    plan = _read_json(folder / "plan.json")
    history, source = training_log_history(folder)
    return AdapterRun(
        folder=folder,
        config=config,
        metadata=metadata,
        plan=plan,
        base_model=base_model,
        weights_sha256=sha256_of(folder / "adapter_model.safetensors"),
        log_history=history,
        log_source=source,
        local_paths=local_paths_of_run(folder),
    )


@dataclasses.dataclass
class Evaluation:
    """The evaluation folder: stats.json (required) and the reports found beside it."""

    folder: Path
    stats: dict
    score_report: dict | None
    validity: dict | None
    validity_folder: Path | None
    generation_report: dict | None
    generations: list | None  # GenerationRecord of generations.jsonl, for the identity check
    local_paths: list[str]
    generations_path: Path | None = None
    verdicts_path: Path | None = None
    validity_path: Path | None = None
    engagement_fit: dict | None = None  # engagement_fit.json (judge score --judge engagement)


def read_evaluation(folder: Path) -> Evaluation:
    stats_path = folder / STATS_FILE_NAME
    if not stats_path.is_file():
        raise PublishRefused(
            f"--eval {folder}: no stats.json; run `python -m judge stats --verdicts {folder}/verdicts.jsonl "
            f"--output {folder}` first"
        )
    stats = _read_json(stats_path)
    _check_stats(stats, stats_path)
    inputs = stats.get("inputs") or {}
    stated = {key: (inputs.get(key) or {}).get("path") for key in ("verdicts", "generations", "validity")}
    validity_path = next(
        (
            folder / sub / VALIDITY_FILE_NAME
            for sub in VALIDITY_FOLDERS
            if (folder / sub / VALIDITY_FILE_NAME).is_file()
        ),
        None,
    )
    if isinstance(stated["validity"], str) and Path(stated["validity"]).is_file():
        validity_path = Path(stated["validity"])  # judge stats --validity named one elsewhere
    if validity_path is not None:
        _check_same_input(stats, "validity", validity_path)
    elif inputs.get("validity"):
        raise PublishRefused(
            f"{stats_path}: its verdict read {stated['validity']}, which is not there any more: the card could not "
            "show the judge's validity it rests on"
        )
    validity_folder = validity_path.parent if validity_path is not None else None
    validity = _read_json(validity_path) if validity_path is not None else None
    if validity is not None and not isinstance(validity.get("judges"), dict):
        raise PublishRefused(f"{validity_path}: not the report `judge validate` writes")
    generations_path = folder / GENERATIONS_FILE_NAME
    if (
        not generations_path.is_file()
        and isinstance(stated["generations"], str)
        and Path(stated["generations"]).is_file()
    ):
        generations_path = Path(stated["generations"])  # judge stats --generations named one elsewhere
    generations = None
    if generations_path.is_file():
        _check_same_input(stats, "generations", generations_path)
        records, problems, _ = read_records(generations_path, GenerationRecord)
        generations = [record for _, record in records]
        if problems:
            log.warning("%s: %d unreadable line(s) not used for the identity check", generations_path, len(problems))
    verdicts_path = folder / VERDICTS_FILE_NAME
    if not verdicts_path.is_file() and isinstance(stated["verdicts"], str) and Path(stated["verdicts"]).is_file():
        verdicts_path = Path(stated["verdicts"])  # judge stats --verdicts named one elsewhere
    if verdicts_path.is_file():
        _check_same_input(stats, "verdicts", verdicts_path)
    generation_report_path = generations_path.parent / GENERATION_REPORT_FILE_NAME
    if not generation_report_path.is_file():
        generation_report_path = folder / GENERATION_REPORT_FILE_NAME
    generation_report = _read_json(generation_report_path)
    if generation_report is not None:
        identity = (generation_report.get("dataset") or {}).get("identity")
        if not inputs.get("generation_report"):
            raise PublishRefused(
                f"{generation_report_path} is there, but stats.json's verdict did not read it (it was written after "
                "`judge stats`): rerun `python -m judge stats` so that the verdict and the card rest on the same files"
            )
        if identity != inputs["generation_report"].get("dataset"):
            raise PublishRefused(
                f"{generation_report_path} names another dataset version than the one stats.json's verdict was "
                "checked against: rerun `python -m judge stats`"
            )
    return Evaluation(
        folder=folder,
        stats=stats,
        score_report=_read_json(folder / SCORE_REPORT_FILE_NAME),
        validity=validity,
        validity_folder=validity_folder,
        generation_report=generation_report,
        generations=generations,
        local_paths=[path for path in stated.values() if isinstance(path, str) and is_local_path(path)],
        generations_path=generations_path if generations_path.is_file() else None,
        verdicts_path=verdicts_path if verdicts_path.is_file() else None,
        validity_path=validity_path,
        engagement_fit=_read_json(folder / ENGAGEMENT_FIT_FILE_NAME),
    )


def _check_stats(stats: dict, path: Path) -> None:
    if stats.get("format") != STATS_FORMAT:
        raise PublishRefused(f"{path}: format {stats.get('format')!r}, this card reads format {STATS_FORMAT}")
    verdict = stats.get("verdict")
    required = {
        "baseline": isinstance(stats.get("baseline"), str),
        "candidate": isinstance(stats.get("candidate"), str),
        "n": isinstance(stats.get("n"), int),
        "pairwise": isinstance(stats.get("pairwise"), dict),
        "verdict.criteria_met": isinstance(verdict, dict) and isinstance(verdict.get("criteria_met"), bool),
        "verdict.criteria": isinstance(verdict, dict) and isinstance(verdict.get("criteria"), dict),
        "verdict.judge_validity": isinstance(verdict, dict) and isinstance(verdict.get("judge_validity"), dict),
    }
    missing = [name for name, present in required.items() if not present]
    if missing:
        raise PublishRefused(f"{path}: missing or malformed {', '.join(missing)}: rerun `python -m judge stats`")


def _check_same_input(stats: dict, name: str, path: Path) -> None:
    """stats.json records the sha256 of the files it read: the one beside it must be that file, and a file that can
    change what the verdict says (validity.json, generation_report.json) must be one stats.json read."""
    stated = ((stats.get("inputs") or {}).get(name) or {}).get("sha256")
    if stated and stated != sha256_of(path):
        raise PublishRefused(
            f"{path} is not the {name} file stats.json was computed from (sha256 differs): its numbers would not "
            f"describe these replies; rerun `python -m judge stats`"
        )
    if not stated and name == "validity":
        raise PublishRefused(
            f"{path} is there, but stats.json's verdict did not read it (it was written after `judge stats`, or "
            "elsewhere): rerun `python -m judge stats` so that the verdict and the card rest on the same files"
        )


# --- is the evaluation this adapter's, on this dataset version, with these verdicts? ----------------------------


def check_provenance(adapter: AdapterRun, evaluation: Evaluation, token: str | None) -> dict[str, str]:
    """Every tie between stats.json and this adapter, as the card's provenance rows; PublishRefused when one cannot
    be made: the verdicts and generations stats.json read (by sha256) are here, the verdicts judged these
    generations' texts, the generations name this adapter's weights, they answered held-out tweets of the dataset
    version the adapter was trained on, and the verdict's judge-validity check still holds on these files."""
    stats_path = evaluation.folder / STATS_FILE_NAME
    inputs = evaluation.stats.get("inputs") or {}
    for name, path in (("verdicts", evaluation.verdicts_path), ("generations", evaluation.generations_path)):
        if not inputs.get(name) or path is None:
            raise PublishRefused(
                f"{stats_path}: the {name} it was computed from "
                + ("are not recorded" if not inputs.get(name) else f"({inputs[name].get('path')}) are not there")
                + f": nothing ties its numbers to this adapter's replies. Keep {name}.jsonl beside stats.json and "
                "rerun `python -m judge stats` (with generations.jsonl beside the verdicts, or --generations)"
            )
    verdicts_tie = _check_verdicts_judged_these_generations(evaluation)
    adapter_tie = check_evaluated_adapter(adapter, evaluation, token)
    if adapter_tie.startswith(("not checked", "not verified")):
        raise PublishRefused(
            f"{evaluation.folder}: {adapter_tie}; a card must not state numbers that cannot be tied to "
            f"{adapter.folder}/adapter_model.safetensors (evaluate it with `judge generate --system "
            f"adapter:{adapter.folder}`)"
        )
    dataset_tie = check_dataset_version(adapter, evaluation)
    validity_tie = _check_judge_validity(evaluation)
    return {
        "evaluation of this adapter": adapter_tie,
        "evaluated dataset version": dataset_tie,
        "verdicts of these replies": verdicts_tie,
        "the judge's validity here": validity_tie,
    }


def _check_verdicts_judged_these_generations(evaluation: Evaluation) -> str:
    """Every verdict line names an item of generations.jsonl, and a line of `judge score` (with its input hash)
    judged the texts generations.jsonl holds for those systems."""
    from judge.records import read_jsonl, task_key
    from judge.score.tasks import read_generations, tasks_from_generations

    generations = read_generations(evaluation.generations_path)
    hashes = {task.key: task.input_hash for task in tasks_from_generations(generations, "both")}
    contents = read_jsonl(evaluation.verdicts_path)
    checked = 0
    for number, row in contents.rows:
        if not isinstance(row, dict) or "item_id" not in row:
            continue
        item = str(row["item_id"])
        problem = None
        if item not in generations.items:
            problem = f"item {item!r} is not in {evaluation.generations_path.name}"
        elif isinstance(row.get("input_hash"), str) and isinstance(row.get("systems"), list):
            key = task_key(str(row.get("kind")), item, row["systems"])
            if hashes.get(key) != row["input_hash"]:
                problem = f"it judged other texts than {evaluation.generations_path.name} holds for {row['systems']}"
        if problem:
            raise PublishRefused(
                f"{evaluation.verdicts_path} line {number}: {problem}: these verdicts are not of these generations "
                "(judge them again: `python -m judge score`, then `judge stats`)"
            )
        checked += 1
    return f"{checked} verdict line(s) name items of generations.jsonl and judged its texts (input hashes)"


def check_dataset_version(adapter: AdapterRun, evaluation: Evaluation) -> str:
    """The evaluation's tweets come from the dataset version the adapter was trained on (its held-out split):
    generation_report.json's dataset identity against run_metadata.json's dataset, revision and commit/folder."""
    from judge.provenance import data_sha256, describe_dataset

    identity = ((evaluation.generation_report or {}).get("dataset") or {}).get("identity")
    metadata = adapter.metadata
    trained = f"{metadata.get('dataset')}@{metadata.get('dataset_revision')}"
    if not isinstance(identity, dict):
        raise PublishRefused(
            f"{evaluation.folder}: generation_report.json does not record the dataset version the tweets came from "
            "(`judge generate` writes it): nothing ties this evaluation to the dataset the adapter was trained on "
            f"({trained}); run `python -m judge generate` again"
        )
    evaluated = describe_dataset(identity)
    if metadata.get("dataset_kind") == "hub" and identity.get("repo"):
        same_repo = identity["repo"] == metadata.get("dataset")
        commits = (identity.get("commit"), metadata.get("dataset_resolved"))
        same = same_repo and (
            commits[0] == commits[1] if all(commits) else identity.get("version") == metadata.get("dataset_revision")
        )
    else:
        folder = metadata.get("dataset_resolved")
        same = bool(folder) and (
            str(Path(folder).resolve()) == identity.get("folder")
            or (Path(folder).is_dir() and data_sha256(Path(folder)) == identity.get("data_sha256"))
        )
    if not same:
        raise PublishRefused(
            f"{evaluation.folder}: its tweets come from {evaluated}, and {adapter.folder} was trained on {trained} "
            f"(resolved {metadata.get('dataset_resolved')}): the card would state numbers of another dataset version"
        )
    return f"held-out tweets of {evaluated}, the version the adapter was trained on"


def _check_judge_validity(evaluation: Evaluation) -> str:
    """The verdict's judge-validity check, again on the files found here: it must come out as stats.json says."""
    from judge.provenance import judge_validity_check

    stats = evaluation.stats
    recorded = stats["verdict"]["judge_validity"]
    identity = ((evaluation.generation_report or {}).get("dataset") or {}).get("identity")
    check = judge_validity_check(
        evaluation.validity,
        None if evaluation.validity_path is None else str(evaluation.validity_path),
        identity if isinstance(identity, dict) else None,
        (stats.get("inputs") or {}).get("judge_identity"),
        stats.get("judge"),
    )
    if check["established"] != recorded.get("established") or check["failed"] != recorded.get("failed"):
        raise PublishRefused(
            f"{evaluation.folder / STATS_FILE_NAME}: its verdict says the judge's validity check "
            f"{'held' if recorded.get('established') else 'failed (' + str(recorded.get('failed')) + ')'}, and on "
            f"the files here it {'holds' if check['established'] else 'fails (' + str(check['failed']) + ')'}: "
            "rerun `python -m judge stats`"
        )
    return check["reason"] or "n/a"


# --- is the evaluation this adapter's? -----------------------------------------------------------------------


def check_evaluated_adapter(adapter: AdapterRun, evaluation: Evaluation, token: str | None) -> str:
    """How the evaluation is tied to this adapter, as a sentence for the card. Refuses (PublishRefused) when the
    evaluation names another adapter: a card must never state another adapter's numbers."""
    candidate = evaluation.stats["candidate"]
    recorded = _recorded_adapter_hashes(evaluation.generation_report, candidate)
    if recorded:
        if adapter.weights_sha256 not in recorded:
            raise PublishRefused(
                f"{evaluation.folder}: generation_report.json records adapter weights {sorted(recorded)} (sha256), "
                f"and {adapter.folder}/adapter_model.safetensors is {adapter.weights_sha256}: the evaluation is of "
                "another adapter (or of this folder before it was trained again)"
            )
        return f"generation_report.json records this adapter's weights (sha256 {adapter.weights_sha256[:12]})"
    specs = sorted(
        {record.system_spec for record in evaluation.generations or [] if record.system == candidate} - {""}
    )
    if not specs:
        why = "no generations.jsonl beside stats.json" if evaluation.generations is None else "no system_spec"
        return f"not checked ({why} for `{candidate}`): nothing ties these numbers to this adapter's weights"
    found = []
    for spec in specs:
        matches, how = _spec_matches(spec, adapter, evaluation.folder, token)
        if matches is False:
            raise PublishRefused(
                f"{evaluation.folder}: generations.jsonl says `{candidate}` is {spec!r}, and {how}: the evaluation "
                f"is of another adapter than {adapter.folder}"
            )
        found.append((matches, f"`{spec}`: {how}"))
    confirmed = [how for matches, how in found if matches]
    if confirmed:
        return "generations.jsonl names this adapter: " + "; ".join(confirmed)
    return "not verified: " + "; ".join(how for _, how in found)


def _spec_matches(spec: str, adapter: AdapterRun, eval_folder: Path, token: str | None) -> tuple[bool | None, str]:
    """(True | False | None when it cannot tell, why) for a system spec such as adapter:outputs/run@v1."""
    target, revision = parse_spec(spec.split(":", 1)[1] if ":" in spec else "")
    if not target:
        return None, "it names no adapter folder or repo"
    shown = target  # the card shortens it (the whole card is made path-free)
    places = [Path(target)] if Path(target).is_absolute() else [Path(target), eval_folder / target]
    for place in places:
        weights = place / "adapter_model.safetensors"
        if weights.is_file():
            same = sha256_of(weights) == adapter.weights_sha256
            return same, f"the adapter_model.safetensors of {shown} {'has' if same else 'does not have'} this sha256"
    if is_local_path(target) or not is_hub_repo_id(target):
        return None, f"{shown} is not an adapter folder on this machine (moved or deleted?) nor a Hub repo"
    from huggingface_hub import HfApi

    try:
        info = HfApi(token=token).model_info(target, revision=revision, files_metadata=True)
    except Exception as error:  # noqa: BLE001 - any failure: unverified, said on the card
        return None, f"{target}@{revision or 'main'} could not be read from the Hub ({type(error).__name__})"
    weights = next((s for s in info.siblings or [] if s.rfilename == "adapter_model.safetensors"), None)
    if weights is None or weights.lfs is None:
        return None, f"{target}@{revision or 'main'} has no adapter_model.safetensors with a sha256"
    same = weights.lfs.sha256 == adapter.weights_sha256
    return same, f"the Hub's {target}@{revision or 'main'} weights {'have' if same else 'do not have'} this sha256"


def _recorded_adapter_hashes(report: Any, candidate: str) -> set[str]:
    """The sha256 values generation_report.json records for the candidate's adapter: any key with sha256 in its
    name at or below a key naming the adapter (systems.<candidate>.adapter.weights_sha256, adapter_sha256, ...),
    within systems.<candidate> when the report has one."""
    systems = report.get("systems") if isinstance(report, dict) else None
    scope = systems[candidate] if isinstance(systems, dict) and candidate in systems else report
    return _hashes_named(scope, inside_adapter=False)


def _hashes_named(value: Any, inside_adapter: bool) -> set[str]:
    found: set[str] = set()
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        adapter = inside_adapter or "adapter" in str(key).lower()
        if isinstance(item, str) and "sha256" in str(key).lower() and adapter:
            found.add(item)
        elif isinstance(item, (dict, list)):
            found |= _hashes_named(item, adapter)
    return found


# --- small readers ----------------------------------------------------------------------------------------------


def _read_json(path: Path) -> dict | None:
    """The file's JSON object, None when there is no such file; refused (named) when it is not a readable JSON
    object: the card quotes these files, and leaving one out silently would change what it claims."""
    if not path.is_file():
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise PublishRefused(f"{path}: not readable JSON ({error})") from error
    if not isinstance(document, dict):
        raise PublishRefused(f"{path}: expected a JSON object, got {type(document).__name__}")
    return document


def _read_yaml(path: Path) -> dict:
    from replytune.yaml_config import read_yaml

    try:
        return read_yaml(path)
    except ConfigError as error:
        raise PublishRefused(str(error)) from error
