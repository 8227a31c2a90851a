"""What `judge publish` reads, and the check that ties the evaluation to the adapter: the recipe's output folder
(AdapterRun), the evaluation folder (Evaluation: stats.json, required, and the reports beside it), `choose_headline`,
which picks among stats.json's comparisons the one whose candidate is this adapter (against the base model where
there is one), `check_evaluated_adapter`, which refuses to state another adapter's numbers, and for a DPO adapter
`read_preference_data`, the preference dataset version it trained on. Every problem is a PublishRefused that names
the file, field or flag; nothing here uploads anything."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path, PurePath
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
    preferences: PreferenceData | None = None  # a DPO run's preference dataset version (read_preference_data)

    @property
    def is_dpo(self) -> bool:
        """run_metadata.json says the run was DPO (recipes/dpo_qlora.py), on top of an SFT adapter."""
        return self.metadata.get("method") == "dpo"


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
    # every comparison of stats.json, in its order (`comparisons`; a stats.json of one comparison: [stats]). `stats`
    # is the card's headline among them once choose_headline has run, with the file's `inputs`.
    comparisons: list[dict] = dataclasses.field(default_factory=list)


def read_evaluation(folder: Path) -> Evaluation:
    stats_path = folder / STATS_FILE_NAME
    if not stats_path.is_file():
        raise PublishRefused(
            f"--eval {folder}: no stats.json; run `python -m judge stats --verdicts {folder}/verdicts.jsonl "
            f"--output {folder}` first"
        )
    stats = _read_json(stats_path)
    _check_stats(stats, stats_path)
    comparisons = _read_comparisons(stats, stats_path)
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
        comparisons=comparisons,
    )


def _check_stats(stats: dict, path: Path) -> None:
    if stats.get("format") != STATS_FORMAT:
        raise PublishRefused(f"{path}: format {stats.get('format')!r}, this card reads format {STATS_FORMAT}")
    _check_comparison(stats, str(path))


def _read_comparisons(stats: dict, path: Path) -> list[dict]:
    """stats.json's comparisons (`judge stats --compare A:B ...`), each checked like the top level; a stats.json
    without them is one comparison, the top level itself."""
    listed = stats.get("comparisons")
    if listed is None:
        return [stats]
    if not isinstance(listed, list) or not listed or not all(isinstance(entry, dict) for entry in listed):
        raise PublishRefused(f"{path}: `comparisons` is not a list of comparisons: rerun `python -m judge stats`")
    for number, comparison in enumerate(listed):
        _check_comparison(comparison, f"{path} comparisons[{number}]")
    return listed


def _check_comparison(stats: dict, where: str) -> None:
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
        raise PublishRefused(f"{where}: missing or malformed {', '.join(missing)}: rerun `python -m judge stats`")


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
    if adapter.is_dpo and adapter.preferences is None:
        adapter.preferences = read_preference_data(adapter)
    dataset_tie = check_dataset_version(adapter, evaluation)
    validity_tie = _check_judge_validity(evaluation)
    ties = {
        "evaluation of this adapter": adapter_tie,
        "evaluated dataset version": dataset_tie,
        "verdicts of these replies": verdicts_tie,
        "the judge's validity here": validity_tie,
    }
    if adapter.preferences is not None:
        ties["preference data (DPO)"] = (
            f"report.json of {adapter.preferences.name} (sha256 {adapter.preferences.report_sha256[:12]}), the "
            "version run_metadata.json says the DPO run trained on"
        )
    return ties


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
    from judge.provenance import describe_dataset
    from replytune.versions import data_sha256

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
    if adapter.is_dpo:
        return _check_preferences_source(adapter, evaluation, identity)
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


def _check_preferences_source(adapter: AdapterRun, evaluation: Evaluation, identity: dict) -> str:
    """A DPO adapter was trained on preference pairs, not on the evaluated version itself: its tweets must come from
    the version those pairs were built from (report.json's `input`), whose held-out split no pair crosses."""
    from judge.provenance import describe_dataset

    preferences = adapter.preferences or read_preference_data(adapter)
    built_from = preferences.report.get("input") if isinstance(preferences.report.get("input"), dict) else {}
    evaluated = describe_dataset(identity)
    if built_from.get("data_sha256") and identity.get("data_sha256"):  # wherever each copy lies
        same = built_from["data_sha256"] == identity["data_sha256"]
        how = f"the same data files, sha256 {str(built_from['data_sha256'])[:12]}"
    elif identity.get("repo"):
        commits = (built_from.get("hub_commit"), identity.get("commit"))
        same = built_from.get("hub_repo") == identity["repo"] and (
            commits[0] == commits[1] if all(commits) else built_from.get("version") == identity.get("version")
        )
        how = "the same Hub repo and " + ("commit" if all(commits) else "version")
    else:  # a report written before `data_prep preferences` recorded its source's data hash
        folder = identity.get("folder")
        same = bool(folder) and "/".join(PurePath(str(folder)).parts[-2:]) == built_from.get("source")
        how = f"by the version folder's name only, {built_from.get('source')}: its report.json records no data hash"
    if not same:
        source = built_from.get("source") or "a version its report.json does not record"
        raise PublishRefused(
            f"{evaluation.folder}: its tweets come from {evaluated}, and the preference pairs {adapter.folder} was "
            f"trained on ({preferences.name}) were built from {source}: the card would state numbers of tweets that "
            "may be in its training pairs"
        )
    return (
        f"held-out tweets of {evaluated}, the version the DPO preference pairs ({preferences.name}) were built from "
        f"({how}; a pair never crosses the version's splits)"
    )


# --- a DPO run's preference data ------------------------------------------------------------------------------------


@dataclasses.dataclass
class PreferenceData:
    """The `data_prep preferences` version a DPO run trained on, as run_metadata.json names it."""

    name: str  # path-free: REPO@revision (commit ...), or a local version's last two folder names
    folder: Path  # the version on this machine (a Hub version: its snapshot in huggingface_hub's cache)
    report: dict  # its report.json: the funnel of candidate pairs and the earlier-reply share per stage
    report_sha256: str


def read_preference_data(adapter: AdapterRun) -> PreferenceData:
    """The preference version the DPO run trained on, resolved the way the recipe read it (replytune/versions.py): a
    Hub version at the commit the run recorded, or the local version folder; refused when it cannot be read or holds
    no report.json (the card's confound figure and the evaluation's dataset tie both come from it)."""
    from replytune.files import sha256_of
    from replytune.versions import VersionError, fetch, resolve

    metadata = adapter.metadata
    if metadata.get("dataset_kind") == "hub":
        spec, commit = metadata.get("dataset"), metadata.get("dataset_resolved")
        revision = commit or metadata.get("dataset_revision")
        name = f"{spec}@{metadata.get('dataset_revision')}" + (f" (commit {str(commit)[:12]})" if commit else "")
    else:
        spec, revision = metadata.get("dataset_resolved"), None
        name = "/".join(PurePath(str(spec)).parts[-2:])
    where = f"{adapter.folder / 'run_metadata.json'}: the preference dataset the DPO run trained on"
    if not isinstance(spec, str) or not spec:
        raise PublishRefused(f"{where} is not recorded (dataset, dataset_resolved): retrain with recipes/dpo_qlora.py")
    try:
        folder = fetch(resolve(spec, revision))
    except VersionError as error:
        raise PublishRefused(
            f"{where} ({name}) cannot be read: {error}; the card states the preference data's figures from its "
            "report.json"
        ) from error
    report = _read_json(folder / "report.json")
    if report is None:
        raise PublishRefused(
            f"{where} ({name}) has no report.json: not a version `python -m data_prep preferences` wrote, so neither "
            "its timing-confound figure nor the version its pairs came from can be stated"
        )
    return PreferenceData(name, folder, report, sha256_of(folder / "report.json"))


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


# --- which of stats.json's comparisons the card leads with ------------------------------------------------------


def choose_headline(adapter: AdapterRun, evaluation: Evaluation, token: str | None) -> str | None:
    """With several comparisons in stats.json (`judge stats --compare A:B ...`): the one whose candidate is this
    adapter (by the weights generation_report.json records for that system, else the adapter its generations name),
    against the base model where there is one, becomes `evaluation.stats`, the card's headline; a sentence saying
    which, for the card's provenance. Refused when no comparison's candidate is this adapter. With one comparison
    nothing changes (check_evaluated_adapter ties its candidate to this adapter) and None is returned."""
    comparisons = evaluation.comparisons
    if len(comparisons) < 2:
        return None
    candidates = list(dict.fromkeys(comparison["candidate"] for comparison in comparisons))
    this = {name: _system_is_adapter(name, adapter, evaluation, token) for name in candidates}
    ours = [number for number, comparison in enumerate(comparisons) if this[comparison["candidate"]]]
    if not ours:
        listed = ", ".join(f"{comparison['candidate']} vs {comparison['baseline']}" for comparison in comparisons)
        recorded = "; ".join(
            f"{name}: {', '.join(sorted(hash[:12] for hash in hashes)) or 'no weights recorded'}"
            for name in candidates
            for hashes in [_system_adapter_hashes(evaluation.generation_report, name)]
        )
        raise PublishRefused(
            f"{evaluation.folder / STATS_FILE_NAME}: none of its comparisons ({listed}) has {adapter.folder} as its "
            f"candidate: its adapter_model.safetensors is sha256 {adapter.weights_sha256[:12]}, and the candidates' "
            f"recorded weights are {recorded}. Evaluate this adapter (`judge generate --system NAME=adapter:"
            f"{adapter.folder}`) and compare it (`judge stats --compare NAME:base`)"
        )
    against_base = [number for number in ours if is_base_system(comparisons[number]["baseline"], evaluation)]
    number = (against_base or ours)[0]
    chosen = comparisons[number]
    evaluation.stats = {**chosen, "inputs": evaluation.stats.get("inputs")}
    against = "the base model" if against_base else "no comparison against the base model in stats.json"
    return (
        f"{chosen['candidate']} vs {chosen['baseline']} ({against}), comparison {number + 1} of {len(comparisons)} in "
        "stats.json: its candidate is this adapter"
    )


def is_base_system(system: str, evaluation: Evaluation) -> bool:
    """The system is the bare base model (`judge generate --system base` or base:MODEL), as generation_report.json
    records its kind, else as its generations' specs say; a system recorded nowhere counts when it is named base."""
    entry = ((evaluation.generation_report or {}).get("systems") or {}).get(system)
    if isinstance(entry, dict) and isinstance(entry.get("kind"), str):
        return entry["kind"] == "base"
    specs = _system_specs(system, evaluation)
    if specs:
        return all(spec == "base" or spec.startswith("base:") for spec in specs)
    return system == "base"


def _system_specs(system: str, evaluation: Evaluation) -> set[str]:
    return {record.system_spec for record in evaluation.generations or [] if record.system == system} - {"", None}


def _system_is_adapter(system: str, adapter: AdapterRun, evaluation: Evaluation, token: str | None) -> bool:
    """The system's replies are this adapter's: by the weights generation_report.json records for it, else by the
    adapter its generations' spec names (a folder or Hub repo whose weights have this sha256)."""
    recorded = _system_adapter_hashes(evaluation.generation_report, system)
    if recorded:
        return adapter.weights_sha256 in recorded
    specs = [spec for spec in _system_specs(system, evaluation) if spec.startswith("adapter:")]
    return any(_spec_matches(spec, adapter, evaluation.folder, token)[0] is True for spec in specs)


def system_with_weights(evaluation: Evaluation, weights_sha256: str | None) -> list[str]:
    """The systems whose adapter weights generation_report.json records as `weights_sha256`."""
    systems = (evaluation.generation_report or {}).get("systems")
    if not weights_sha256 or not isinstance(systems, dict):
        return []
    return [name for name in systems if weights_sha256 in _system_adapter_hashes(evaluation.generation_report, name)]


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


def _system_adapter_hashes(report: Any, system: str) -> set[str]:
    """The adapter sha256 values generation_report.json records within systems.<system> only (none elsewhere)."""
    systems = report.get("systems") if isinstance(report, dict) else None
    entry = systems.get(system) if isinstance(systems, dict) else None
    return _hashes_named(entry, inside_adapter=False) if isinstance(entry, dict) else set()


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
