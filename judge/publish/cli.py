"""`python -m judge publish`: the adapter on the Hub, with a model card that states what the evaluation found.

    python -m judge publish --adapter OUTPUT_DIR --eval EVAL_DIR --repo you/replytune-qwen3-8b [--revision v1]
                            [--private true|false] [--config judge/configs/default.yaml]

Reads the recipe's output folder (adapter, tokenizer, resolved_config.yaml, run_metadata.json, plan.json,
trainer_state.json) and the evaluation folder (stats.json from `judge stats`, required; score_report.json,
validity.json, generation_report.json and their PNGs where present), checks that the evaluation is of this
adapter, and pushes ONE commit, tagged --revision (default: the repo's next free vN):

- README.md, the card (huggingface_hub ModelCard): base_model (a Hub id), library_name peft, datasets, license,
  tags and a model-index whose results are the judge metrics (win rate, mean score difference, d_z, p); the verdict
  with every criterion, the significance table, the judge's validity, the sanity and forgetting figures, training
  curves, the exact training config, intended use, limitations and a loading snippet;
- the adapter and tokenizer files, resolved_config.yaml, run_metadata.json, plan.json, trainer_state.json and
  training_curves.png;
- eval/: stats.json and its plots, score_report.json, validity.json/.md/.png, generation_report.json and its plots.

generations.jsonl and the verdicts stay local (they quote tweets of a dataset that is private by default), as do
checkpoints. Nothing pushed names a local path or holds a secret (replytune/publishable.py, replytune/hub.py:
push_files). Exit 0: pushed and tagged; 2: refused before any upload, with the reason; 1: the push failed (no tag
was made; the message says whether a whole commit landed untagged, which the same command then tags).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from judge.config import DEFAULT_CONFIG_PATH, PublishConfig, load_judge_config
from judge.publish.card import EVAL_FOLDER, TRAINING_CURVES, build_card, verdict_line
from judge.stats.cli import STATS_FORMAT
from replytune.errors import EXIT_FAILED, EXIT_OK, EXIT_REFUSED, PushError, PushTargetError, Refused
from replytune.files import sha256_of, write_json_atomically
from replytune.hub import check_push_target, hub_token, is_hub_repo_id, push_files
from replytune.publishable import (
    PUSHED_FILES,
    check_publishable,
    is_local_path,
    local_paths_of_run,
    publishable_bytes,
    publishable_files,
)
from replytune.secrets import redact
from replytune.versions import next_free_revision, parse_spec
from replytune.yaml_config import ConfigError

# The evaluation's reports that are pushed (under eval/), and where judge validate may have written its own.
EVAL_REPORTS = (
    "stats.json",
    "score_report.json",
    "score_config.yaml",
    "engagement_fit.json",
    "generation_report.json",
    "generation_summary.md",
    "validity.json",
    "validity.md",
)
VALIDITY_FOLDERS = ("", "validity")  # `judge validate --output EVAL` or `--output EVAL/validity`
PUBLISHED_FILE_NAME = "published.json"  # written into --eval after a push: repo, tag, commit, hashes
_REVISION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

log = logging.getLogger("judge.publish")


class PublishRefused(Refused):
    """Publishing cannot start: the message names the file, field or flag. Nothing was uploaded."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--adapter", type=Path, required=True, help="the recipe's output folder (output_dir)")
    parser.add_argument("--eval", type=Path, required=True, help="the evaluation folder holding stats.json")
    parser.add_argument("--repo", required=True, help="Hub model repo: you/name (or name: your namespace)")
    parser.add_argument("--revision", default=None, help="the tag of this version (default: the next free vN)")
    parser.add_argument("--private", type=_boolean, default=None, help="true|false (default: publish.private, true)")
    parser.add_argument("--config", type=Path, default=DEFAULT_CONFIG_PATH, help="YAML config (default: %(default)s)")


def _boolean(text: str) -> bool:
    if text.lower() in ("true", "yes", "1"):
        return True
    if text.lower() in ("false", "no", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def run(args: argparse.Namespace) -> int:
    try:
        config = load_judge_config(args.config).publish
        published = publish_adapter(
            args.adapter, args.eval, args.repo, args.revision, args.private, config, hub_token()
        )
    except Refused as error:
        print(f"error: {redact(str(error))}", file=sys.stderr)
        return EXIT_REFUSED
    except PushError as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as error:  # any other failure while working: the traceback in the log, one line on stderr
        log.exception("publish failed")
        print(f"error: {type(error).__name__}: {redact(str(error))}", file=sys.stderr)
        return EXIT_FAILED
    record_published(published, args.repo, args.adapter, args.eval)
    print(
        f"published {published.repo_id}@{published.revision} (commit {published.commit[:12]}, "
        f"{'private' if published.private else 'PUBLIC'}): {len(published.files)} files\n"
        f"verdict: {published.verdict}\n"
        f'load it: PeftModel.from_pretrained(base, "{published.repo_id}", revision="{published.revision}")'
    )
    return EXIT_OK


def record_published(published: Published, repo: str, adapter_dir: Path, eval_dir: Path) -> None:
    """EVAL/published.json: what went where, so that `judge run --publish` skips a push already made."""

    record = {
        "repo": repo,  # as given: `--repo name` is published as your-namespace/name (repo_id)
        **dataclasses.asdict(published),
        "adapter_sha256": sha256_of(Path(adapter_dir) / "adapter_model.safetensors"),
        "stats_sha256": sha256_of(Path(eval_dir) / "stats.json"),
    }
    write_json_atomically(Path(eval_dir) / PUBLISHED_FILE_NAME, record)


@dataclasses.dataclass
class Published:
    repo_id: str
    revision: str
    commit: str
    private: bool
    files: list[str]
    verdict: str


def publish_adapter(
    adapter_dir: str | Path,
    eval_dir: str | Path,
    repo: str,
    revision: str | None = None,
    private: bool | None = None,
    config: PublishConfig | None = None,
    token: str | None = None,
) -> Published:
    """Check the inputs and the push target, build the card, and push everything as one tagged commit.

    Raises PublishRefused (nothing uploaded) or PushError (no tag made). `judge run --publish`
    calls this."""

    config = config or PublishConfig()
    private = config.private if private is None else private
    if revision is not None and (not _REVISION.match(revision) or revision == "main"):
        raise PublishRefused(f"--revision {revision!r}: a tag is letters, digits, '.', '_' or '-' (v1, v2, ...)")
    adapter = read_adapter_run(Path(adapter_dir))
    evaluation = read_evaluation(Path(eval_dir))
    identity = check_evaluated_adapter(adapter, evaluation, token)
    local_paths = [*adapter.local_paths, str(evaluation.folder.resolve()), *evaluation.local_paths]
    with tempfile.TemporaryDirectory(prefix="replytune-publish-") as staging:
        files = collect_files(adapter, evaluation, Path(staging))
        try:
            check_publishable(files, local_paths)
        except PushError as error:
            raise PublishRefused(str(error)) from error
        try:
            repo_id = check_push_target(repo, revision, token, private)
            revision = revision or next_free_revision(repo_id, token)
        except PushTargetError as error:
            raise PublishRefused(f"--repo {repo}: {error}") from error
        provenance = {
            "adapter weights (sha256)": adapter.weights_sha256,
            "evaluation of this adapter": identity,
            "stats.json (sha256)": sha256_of(evaluation.folder / "stats.json"),
        }
        card = build_card(adapter, evaluation, repo_id, revision, config, provenance, files)
        files["README.md"] = card.encode("utf-8")
        message = f"replytune adapter {revision}: {verdict_line(evaluation.stats)}"
        repo_id, commit = push_files(repo_id, files, private, revision, token, message, local_paths)
    return Published(repo_id, revision, commit, private, sorted(files), verdict_line(evaluation.stats))


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
    from judge.records import GenerationRecord, read_records

    stats_path = folder / "stats.json"
    if not stats_path.is_file():
        raise PublishRefused(
            f"--eval {folder}: no stats.json; run `python -m judge stats --verdicts {folder}/verdicts.jsonl "
            f"--output {folder}` first"
        )
    stats = _read_json(stats_path)
    _check_stats(stats, stats_path)
    validity_folder = next(
        (folder / sub for sub in VALIDITY_FOLDERS if (folder / sub / "validity.json").is_file()), None
    )
    validity = _read_json(validity_folder / "validity.json") if validity_folder else None
    if validity is not None and not isinstance(validity.get("judges"), dict):
        raise PublishRefused(f"{validity_folder / 'validity.json'}: not the report `judge validate` writes")
    inputs = stats.get("inputs") or {}
    stated = {key: (inputs.get(key) or {}).get("path") for key in ("verdicts", "generations")}
    generations_path = folder / "generations.jsonl"
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
    verdicts_path = folder / "verdicts.jsonl"
    if (
        verdicts_path.is_file()
        and isinstance(stated["verdicts"], str)
        and Path(stated["verdicts"]).name == "verdicts.jsonl"
    ):
        _check_same_input(stats, "verdicts", verdicts_path)
    reports = {name: _read_json(folder / name) for name in ("score_report.json", "generation_report.json")}
    return Evaluation(
        folder=folder,
        stats=stats,
        score_report=reports["score_report.json"],
        validity=validity,
        validity_folder=validity_folder,
        generation_report=reports["generation_report.json"],
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


# --- the files of the commit ----------------------------------------------------------------------------------


def collect_files(adapter: AdapterRun, evaluation: Evaluation, staging: Path) -> dict[str, Path | bytes]:
    """Path in the repo -> content: the adapter's files (its own card aside), the training curves, the evaluation's
    reports and plots under eval/. Text files are path-free and redacted (publishable_files)."""
    from judge import plots

    files = publishable_files(adapter.folder, [name for name in PUSHED_FILES if name != "README.md"])
    if adapter.log_source and "trainer_state.json" not in files:  # a run saved before it was kept: a checkpoint's
        files["trainer_state.json"] = publishable_bytes(adapter.folder / adapter.log_source)
    if adapter.log_history:
        title = f"{adapter.base_model} + LoRA: training curves"
        if plots.plot_training_curves(adapter.log_history, staging / TRAINING_CURVES, title):
            files[TRAINING_CURVES] = staging / TRAINING_CURVES
    prefix = f"{EVAL_FOLDER}/"
    files.update(publishable_files(evaluation.folder, EVAL_REPORTS, prefix))
    files.update(publishable_files(evaluation.folder, sorted(p.name for p in evaluation.folder.glob("*.png")), prefix))
    if evaluation.validity_folder is not None and evaluation.validity_folder != evaluation.folder:
        names = ["validity.json", "validity.md", "validity.png"]
        files.update(publishable_files(evaluation.validity_folder, names, f"{prefix}validity/"))
    return files


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
