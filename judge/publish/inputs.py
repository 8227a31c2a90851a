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
    for name in ("adapter_config.json", "adapter_model.safetensors", "run_metadata.json", "resolved_config.yaml"):
        if not (folder / name).is_file():
            raise PublishRefused(
                f"--adapter {folder}: {name} is missing (expected the output_dir of recipes/sft_qlora.py)"
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
    plan = _read_json(folder / "plan.json") or {}
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


def read_evaluation(folder: Path) -> Evaluation:
    stats_path = folder / STATS_FILE_NAME
    if not stats_path.is_file():
        raise PublishRefused(
            f"--eval {folder}: no stats.json; run `python -m judge stats --verdicts {folder}/verdicts.jsonl "
            f"--output {folder}` first"
        )
    stats = _read_json(stats_path)
    _check_stats(stats, stats_path)
    validity_folder = next(
        (folder / sub for sub in VALIDITY_FOLDERS if (folder / sub / VALIDITY_FILE_NAME).is_file()), None
    )
    validity = _read_json(validity_folder / VALIDITY_FILE_NAME) if validity_folder else None
    if validity is not None and not isinstance(validity.get("judges"), dict):
        raise PublishRefused(f"{validity_folder / VALIDITY_FILE_NAME}: not the report `judge validate` writes")
    inputs = stats.get("inputs") or {}
    stated = {key: (inputs.get(key) or {}).get("path") for key in ("verdicts", "generations")}
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
    if (
        verdicts_path.is_file()
        and isinstance(stated["verdicts"], str)
        and Path(stated["verdicts"]).name == VERDICTS_FILE_NAME
    ):
        _check_same_input(stats, "verdicts", verdicts_path)
    return Evaluation(
        folder=folder,
        stats=stats,
        score_report=_read_json(folder / SCORE_REPORT_FILE_NAME),
        validity=validity,
        validity_folder=validity_folder,
        generation_report=_read_json(folder / GENERATION_REPORT_FILE_NAME),
        generations=generations,
        local_paths=[path for path in stated.values() if isinstance(path, str) and is_local_path(path)],
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
    }
    missing = [name for name, present in required.items() if not present]
    if missing:
        raise PublishRefused(f"{path}: missing or malformed {', '.join(missing)}: rerun `python -m judge stats`")


def _check_same_input(stats: dict, name: str, path: Path) -> None:
    """stats.json records the sha256 of the files it read: the one beside it must be that file."""
    stated = ((stats.get("inputs") or {}).get(name) or {}).get("sha256")
    if stated and stated != sha256_of(path):
        raise PublishRefused(
            f"{path} is not the {name} file stats.json was computed from (sha256 differs): its numbers would not "
            f"describe these replies; rerun `python -m judge stats`"
        )


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
