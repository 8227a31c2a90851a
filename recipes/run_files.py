"""What a run leaves behind, and the Hub push.

Beside the adapter (adapter_model.safetensors, adapter_config.json) and the tokenizer, `output_dir` gets:
- `resolved_config.yaml`: every field with the value this run used, re-runnable with `--config` (secrets redacted);
- `run_metadata.json`: dataset repo@revision, base model, load path, git commit, config hash, versions, and the
  metrics of the adapter that was saved (the best checkpoint's when load_best_model_at_end restored it);
- `plan.json`: the training plan (recipes/plan.py);
- `trainer_state.json`: the trainer's state with its log history (losses, learning rate, evaluations per step);
- `generation_config.json`: the base model's, whose eos ids stop generation at the end of a turn (Qwen3-8B:
  [151645, 151643]); a fine-tuned model that never stops is the LoRA failure users report most;
- `README.md`: the adapter card (huggingface_hub ModelCard), naming the base model's Hub id and the dataset
  repo@revision, never a local path. `adapter_card` takes plain values so the judge's publish step can extend it.

`push_adapter` uploads all of that as ONE commit and tags that commit; `python -m judge publish` pushes the same
files plus the evaluation through the same `push_files`. What is pushed passes through `publishable_bytes` first:
no secret and no absolute local path leaves the machine.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import os
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

import yaml

from recipes.configs import RecipeConfigError
from replytune.errors import PushError
from replytune.hub import push_commit, retrying
from replytune.secrets import SECRET_NAMES, redact

logger = logging.getLogger("replytune.sft")

REPO_ROOT = Path(__file__).resolve().parents[1]


# --- the resolved config and the run's provenance --------------------------------------------------------------------


def resolved_config(*arg_objects) -> dict[str, Any]:
    """All recipe fields with the values this run used, flat like a recipe file (it parses back with --config).

    Token fields (hub_token) are dropped and every known secret value is redacted.
    """
    config: dict[str, Any] = {}
    for obj in arg_objects:
        for f in dataclasses.fields(obj):
            if not f.init or f.name == "hub_token":
                continue
            config[f.name] = _plain(getattr(obj, f.name))
    return json.loads(redact(json.dumps(config, default=str)))


def _plain(value):
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if dataclasses.is_dataclass(value):
        return _plain(dataclasses.asdict(value))
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def config_hash(config: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:16]


def git_commit(repo: Path = REPO_ROOT) -> dict[str, Any]:
    def run(*args):
        result = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, timeout=30)
        return result.stdout.strip() if result.returncode == 0 else None

    try:
        commit = run("rev-parse", "HEAD")
        status = run("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        commit, status = None, None
    return {"git_commit": commit or "unknown", "git_dirty": bool(status)}


def run_metadata(config, dataset_source, model_args, base_model_hub_id: str | None, loaded) -> dict:
    import peft
    import torch
    import transformers
    import trl

    return {
        "dataset": dataset_source.name,
        "dataset_revision": dataset_source.revision,
        "dataset_resolved": dataset_source.resolved,
        "dataset_kind": dataset_source.kind,
        "base_model": model_args.model_name_or_path,
        "base_model_hub_id": base_model_hub_id,
        "base_model_revision": model_args.model_revision,
        "load_path": loaded.path,
        "load_description": loaded.description,
        "config_hash": config_hash(config),
        **git_commit(),
        "versions": {
            "torch": torch.__version__,
            "transformers": transformers.__version__,
            "trl": trl.__version__,
            "peft": peft.__version__,
        },
    }


def final_metrics(train_metrics: dict, state, load_best_model_at_end: bool) -> dict[str, Any]:
    """The train metrics plus the evaluation of the adapter that is saved.

    When load_best_model_at_end restored the best checkpoint, that is the best checkpoint's evaluation, not the
    last one (which may come several evaluations later, after early stopping's patience ran out).
    """
    metrics = dict(train_metrics)
    evaluations = [entry for entry in state.log_history if "eval_loss" in entry]
    restored = load_best_model_at_end and state.best_model_checkpoint is not None and state.best_global_step
    metrics["trained_steps"] = state.global_step
    metrics["adapter_step"] = state.best_global_step if restored else state.global_step
    metrics["adapter_is_best_checkpoint"] = bool(restored)
    if not evaluations:
        return metrics
    chosen = evaluations[-1]
    if restored:
        chosen = next((entry for entry in evaluations if entry["step"] == state.best_global_step), chosen)
    metrics.update({key: value for key, value in chosen.items() if key.startswith("eval_")})
    metrics["evaluated_at_step"] = chosen["step"]
    metrics["best_eval_loss"] = state.best_metric
    metrics["last_eval_loss"] = evaluations[-1]["eval_loss"]
    metrics["evaluations"] = len(evaluations)
    return metrics


def write_run_files(output_dir: str | Path, config: dict, metadata: dict, metrics: dict | None = None) -> None:
    """resolved_config.yaml (re-runnable with --config) and run_metadata.json, with every secret redacted."""
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    header = f"# The exact configuration of this run (config_hash {metadata['config_hash']}); secrets redacted.\n"
    config_text = redact(header + yaml.safe_dump(config, sort_keys=False, allow_unicode=True))
    (output_dir / "resolved_config.yaml").write_text(config_text, encoding="utf-8")
    record = {**metadata, "metrics": metrics or {}, "written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    (output_dir / "run_metadata.json").write_text(redact(json.dumps(record, indent=2, default=str)), encoding="utf-8")
    assert_no_secrets(output_dir)


def _secret_values() -> list[str]:
    return [os.environ[name] for name in SECRET_NAMES if len(os.environ.get(name) or "") >= 4]


def assert_no_secrets(folder: str | Path) -> None:
    """Fail if any known secret value appears in a text file of `folder` (about to be saved or pushed)."""
    secrets = _secret_values()
    if not secrets:
        return
    for path in Path(folder).rglob("*"):
        if path.is_file() and path.suffix in (".json", ".yaml", ".yml", ".md", ".txt", ".jsonl"):
            text = path.read_text(encoding="utf-8", errors="ignore")
            if any(secret in text for secret in secrets):
                raise RuntimeError(f"a secret value appears in {path}; refusing to save or push it")


def training_log_history(output_dir: str | Path) -> tuple[list[dict], str | None]:
    """(the run's log history, the file it came from): output_dir/trainer_state.json, else the newest
    checkpoint-N/trainer_state.json (a run saved before trainer_state.json was kept); ([], None) when neither."""
    output_dir = Path(output_dir)
    checkpoints = sorted(output_dir.glob("checkpoint-*/trainer_state.json"), key=lambda p: _step(p.parent.name))
    for path in [output_dir / "trainer_state.json", *reversed(checkpoints)]:
        if path.is_file():
            history = json.loads(path.read_text(encoding="utf-8")).get("log_history") or []
            return [entry for entry in history if isinstance(entry, dict)], str(path.relative_to(output_dir))
    return [], None


def _step(name: str) -> int:
    suffix = name.rsplit("-", 1)[-1]
    return int(suffix) if suffix.isdigit() else -1


def resolve_resume(value: str | bool | None, output_dir: str) -> str | bool | None:
    """`--resume_from_checkpoint true` -> the latest checkpoint-N in output_dir; a path stays; false/None -> None."""
    from transformers.trainer_utils import get_last_checkpoint

    if value in (None, False) or str(value).lower() in ("false", "no", ""):
        return None
    if value is True or str(value).lower() in ("true", "yes"):
        last = get_last_checkpoint(output_dir) if Path(output_dir).is_dir() else None
        if last is None:
            raise SystemExit(f"--resume_from_checkpoint true: no checkpoint-N folder in {output_dir}")
        return last
    if not Path(value).is_dir():
        raise SystemExit(f"--resume_from_checkpoint {value}: no such checkpoint folder")
    return str(value)


# --- beside the adapter --------------------------------------------------------------------------------------------


def save_generation_config(model, output_dir: str | Path, end_of_turn_id: int | None) -> list[int]:
    """The base model's generation_config.json, with the end-of-turn id first among its eos ids; returns them."""
    config = model.generation_config
    eos = config.eos_token_id
    eos_ids = [eos] if isinstance(eos, int) else list(eos or [])
    if end_of_turn_id is not None and end_of_turn_id not in eos_ids:
        eos_ids.insert(0, end_of_turn_id)
    config.eos_token_id = eos_ids
    config.save_pretrained(output_dir)
    return eos_ids


def name_base_model(output_dir: str | Path, hub_id: str | None) -> None:
    """adapter_config.json: base_model_name_or_path is the Hub id, not this machine's path to the weights (PEFT's
    AutoPeftModel loads the base from it on the user's machine)."""
    if not hub_id:
        return
    path = Path(output_dir) / "adapter_config.json"
    adapter_config = json.loads(path.read_text(encoding="utf-8"))
    adapter_config["base_model_name_or_path"] = hub_id
    path.write_text(json.dumps(adapter_config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


# --- the adapter card ----------------------------------------------------------------------------------------------


@dataclass
class AdapterCardValues:
    """Everything the card states, as plain values (no paths): the judge's publish step passes more sections."""

    model_name: str  # the Hub repo id, or the output folder's name
    base_model: str | None  # the base model's Hub id
    dataset: str | None  # the dataset's Hub repo id; None for a local dataset
    dataset_revision: str | None  # tag / branch, or the local version folder's name (e.g. v1)
    dataset_commit: str | None = None
    hub_tag: str | None = None
    lora: dict[str, Any] = field(default_factory=dict)  # r, alpha, dropout, target modules
    training: dict[str, Any] = field(default_factory=dict)  # epochs, learning rate, examples per step, ...
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)  # git commit, config hash, versions
    license: str | None = None
    tags: list[str] = field(default_factory=list)  # added to replytune's own tags
    lead_sections: list[tuple[str, str]] = field(default_factory=list)  # (title, markdown), right after the intro
    extra_sections: list[tuple[str, str]] = field(default_factory=list)  # (title, markdown), appended in order
    card_data: dict[str, Any] = field(default_factory=dict)  # more ModelCardData fields (e.g. eval_results)


def adapter_card(values: AdapterCardValues):
    """The adapter's huggingface_hub ModelCard."""
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(
        base_model=values.base_model,
        datasets=[values.dataset] if values.dataset else None,
        library_name="peft",
        pipeline_tag="text-generation",
        license=values.license,
        tags=list(dict.fromkeys(["replytune", "lora", "qlora", "sft", "trl", "peft", *values.tags])),
        **values.card_data,
    )
    revision = f"@{values.dataset_revision}" if values.dataset_revision else ""
    if values.dataset:
        dataset_line = f"[{values.dataset}](https://huggingface.co/datasets/{values.dataset}){revision}"
        if values.dataset_commit:
            dataset_line += f" (commit `{values.dataset_commit[:12]}`)"
    else:
        dataset_line = (
            f"a local dataset{' version ' + values.dataset_revision if values.dataset_revision else ''}, "
            "not published on the Hub"
        )
    base_line = (
        f"[{values.base_model}](https://huggingface.co/{values.base_model})"
        if values.base_model
        else ("a local model (its Hub id was not given: set `base_model_hub_id` in the recipe)")
    )
    load_revision = f', revision="{values.hub_tag}"' if values.hub_tag else ""
    sections = [
        f"# {values.model_name}",
        "A LoRA adapter that writes replies to tweets, trained with replytune's QLoRA recipe (TRL's SFTTrainer, "
        "loss on the reply and its end-of-turn token only).",
        f"- **Base model:** {base_line}\n- **Dataset:** {dataset_line}",
        *(f"## {title}\n\n{body}" for title, body in values.lead_sections),
        "## Use\n\n```python\nfrom peft import PeftModel\nfrom transformers import AutoModelForCausalLM, AutoTokenizer"
        f'\n\nbase = AutoModelForCausalLM.from_pretrained("{values.base_model or "BASE_MODEL"}", dtype="auto", '
        f'device_map="auto")\nmodel = PeftModel.from_pretrained(base, "{values.model_name}"{load_revision})\n'
        f'tokenizer = AutoTokenizer.from_pretrained("{values.model_name}"{load_revision})\n```\n\n'
        "Generate with `enable_thinking=False` in `apply_chat_template`; `generation_config.json` stops at the end "
        "of the turn.",
        _table("## LoRA", values.lora),
        _table("## Training", values.training),
        _table("## Evaluation during training", values.metrics),
        _table("## Provenance", values.provenance),
        *(f"## {title}\n\n{body}" for title, body in values.extra_sections),
    ]
    text = "\n\n".join(section for section in sections if section)
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{text}\n")


def _table(title: str, values: dict[str, Any]) -> str:
    if not values:
        return ""
    rows = "\n".join(f"| {key} | {_cell(value)} |" for key, value in values.items())
    return f"{title}\n\n| | |\n| --- | --- |\n{rows}"


def _cell(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    return str(value)


def write_adapter_card(output_dir: str | Path, values: AdapterCardValues) -> Path:
    path = Path(output_dir) / "README.md"
    adapter_card(values).save(path)
    return path


# --- what leaves the machine: publishable copies ------------------------------------------------------------------

# Files that libraries read back are pushed byte for byte: their strings are vocabulary and settings, and rewriting
# them could break loading. `push_files` still refuses one that names a local folder of the run.
VERBATIM_FILES = (
    "adapter_model.safetensors",
    "adapter_config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "chat_template.jinja",
    "vocab.json",
    "merges.txt",
    "tokenizer.model",
)
BINARY_SUFFIXES = frozenset({".safetensors", ".bin", ".pt", ".model", ".png", ".jpg", ".jpeg", ".parquet"})
# An absolute path inside a longer text: POSIX with at least two parts, not inside a URL (scheme://host/a/b) or a
# relative path (runs/a/b, ./a, ~/a); or Windows (C:\\Users\\me).
_POSIX_PATH_IN_TEXT = re.compile(r"(?<![\w.~/-])/(?!/)(?:[^\s/\\\"'`<>|(){}\[\],;]+/)+[^\s/\\\"'`<>|(){}\[\],;]*")
_WINDOWS_DRIVE = re.compile(r"^[A-Za-z]:[\\/]")
_WINDOWS_PATH_IN_TEXT = re.compile(r"\b[A-Za-z]:\\(?:[^\\\s\"'`<>|]+\\)*[^\\\s\"'`<>|]*")


def is_local_path(value: str) -> bool:
    """An absolute path on this machine's or a Windows file system ("/home/me/run", "C:\\runs"), not "/"."""
    return (value.startswith("/") and value.strip("/") != "") or bool(_WINDOWS_DRIVE.match(value))


def path_free_text(text: str) -> str:
    """`text` with every absolute local path in it shortened to its last part (/home/me/runs/v1 -> v1)."""
    if is_local_path(text) and "\n" not in text:
        return _last_part(text)
    text = _POSIX_PATH_IN_TEXT.sub(lambda match: _last_part(match.group(0)), text)
    return _WINDOWS_PATH_IN_TEXT.sub(lambda match: _last_part(match.group(0)), text)


def _last_part(path: str) -> str:
    pure = PureWindowsPath(path) if _WINDOWS_DRIVE.match(path) else PurePosixPath(path)
    return pure.name or path


def path_free(value, where: str = "", changed: list[str] | None = None):
    """A JSON-like value with every string (keys too) path-free; the dotted names of the values that changed are
    appended to `changed`."""
    if isinstance(value, dict):
        return {
            path_free_text(str(key)): path_free(item, f"{where}.{key}" if where else str(key), changed)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [path_free(item, f"{where}[{index}]", changed) for index, item in enumerate(value)]
    if isinstance(value, str):
        shortened = path_free_text(value)
        if shortened != value and changed is not None:
            changed.append(where)
        return shortened
    return value


def publishable_bytes(path: str | Path) -> bytes:
    """What is pushed for the file at `path`, by the recipe's push and by `judge publish` alike: the run files, the
    card and the evaluation reports with every absolute local path shortened to its last part (output_dir: /home/me/
    runs/adapter -> adapter) and every secret value redacted; weights, images and the files libraries read back
    (VERBATIM_FILES) unchanged. A JSON or YAML file names the fields it shortened (`local_paths_removed`, or a
    comment); a file with nothing to change is returned byte for byte."""
    path = Path(path)
    data = path.read_bytes()
    if path.name in VERBATIM_FILES or path.suffix.lower() in BINARY_SUFFIXES:
        return data
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return data  # not text: nothing in it reads as a path
    suffix, changed = path.suffix.lower(), []
    if suffix == ".json":
        try:
            document = json.loads(text)
        except ValueError:
            shortened = path_free_text(text)
        else:
            document = path_free(document, changed=changed)
            if changed and isinstance(document, dict):
                document["local_paths_removed"] = changed
            shortened = json.dumps(document, indent=2, ensure_ascii=False) + "\n" if changed else text
    elif suffix in (".yaml", ".yml"):
        document = path_free(yaml.safe_load(text), changed=changed)
        if changed:
            header = "".join(line + "\n" for line in text.splitlines() if line.startswith("#"))
            note = f"# Local paths shortened to their last part for publishing: {', '.join(changed)}.\n"
            shortened = header + note + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)
        else:
            shortened = text
    elif suffix == ".jsonl":
        shortened = "".join(_path_free_line(line) for line in text.splitlines(keepends=True))
    else:
        shortened = path_free_text(text)
    return redact(shortened).encode("utf-8")


def _path_free_line(line: str) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        return path_free_text(line)
    changed: list[str] = []
    record = path_free(record, changed=changed)
    return json.dumps(record, ensure_ascii=False) + "\n" if changed else line


def publishable_files(folder: str | Path, names, prefix: str = "") -> dict[str, Path | bytes]:
    """{prefix + name: what to push} for the files of `folder` among `names` that exist (verbatim ones as paths)."""
    folder, files = Path(folder), {}
    for name in names:
        path = folder / name
        if path.is_file():
            verbatim = path.name in VERBATIM_FILES or path.suffix.lower() in BINARY_SUFFIXES
            files[prefix + name] = path if verbatim else publishable_bytes(path)
    return files


def local_paths_of_run(output_dir: str | Path) -> list[str]:
    """The absolute local paths a run's files name (its output folder, the base model's and dataset's folders): none
    of them may appear in anything pushed."""
    output_dir = Path(output_dir)
    found = {str(output_dir.resolve())}
    for name, keys in (
        ("run_metadata.json", ("dataset", "dataset_resolved", "base_model")),
        ("resolved_config.yaml", ("output_dir", "dataset_name", "model_name_or_path")),
    ):
        path = output_dir / name
        if not path.is_file():
            continue
        document = json.loads(path.read_text("utf-8")) if name.endswith(".json") else yaml.safe_load(path.read_text())
        for key in keys:
            value = (document or {}).get(key)
            if isinstance(value, str) and (is_local_path(value) or Path(value).exists()):
                found.add(str(Path(value).resolve()) if Path(value).exists() else value)
    return sorted(found)


# --- the Hub push --------------------------------------------------------------------------------------------------

# Files of the output folder that are pushed: checkpoints, tracker logs and sample generations (they quote tweets
# from a dataset that is private by default) stay local.
PUSHED_FILES = (
    *VERBATIM_FILES,
    "README.md",
    "resolved_config.yaml",
    "run_metadata.json",
    "plan.json",
    "trainer_state.json",
)


def push_adapter(
    output_dir: str | Path, repo_id: str, private: bool, tag: str | None, token: str | None, commit_message: str
) -> tuple[str, str]:
    """Upload the adapter folder as one commit and tag that commit; returns (repo id, commit sha)."""
    output_dir = Path(output_dir)
    assert_no_secrets(output_dir)
    files = publishable_files(output_dir, PUSHED_FILES)
    return push_files(repo_id, files, private, tag, token, commit_message, local_paths_of_run(output_dir))


def push_files(
    repo_id: str,
    files: dict[str, Path | bytes],
    private: bool,
    tag: str | None,
    token: str | None,
    commit_message: str,
    local_paths=(),
) -> tuple[str, str]:
    """Upload `files` (path in the repo -> a file, or its bytes) as ONE commit on main, then tag that commit;
    returns (repo id, commit sha). Before any upload, a file that holds a secret value or one of `local_paths` is
    refused (PushError). The commit, its retries and the tag: replytune/hub.py (`push_commit`)."""
    check_publishable(files, local_paths)
    return push_commit(repo_id, files, commit_message, tag=tag, private=private, token=token)


def check_publishable(files: dict[str, Path | bytes], local_paths=()) -> None:
    """PushError naming the first file that holds a secret value or one of `local_paths` (absolute paths)."""
    secrets = [secret.encode() for secret in _secret_values()]
    local = [path.encode() for path in local_paths if len(path.strip("/")) > 1]
    for name, content in files.items():
        data = content if isinstance(content, bytes) else Path(content).read_bytes()
        if any(secret in data for secret in secrets):
            raise PushError(f"a secret value appears in {name}; refusing to push it")
        for path in local:
            if path in data:
                raise PushError(f"{name} names the local path {path.decode()}; refusing to push it")


def check_push_target(repo_id: str, tag: str | None, token: str | None, private: bool | None = None) -> str:
    """Before any work: the full repo id to push to (`name` -> `your-user/name`, as create_repo would pick), after
    checking that the Hub answers, that the tag is free (a tag that exists would not move to the new commit), and,
    for a private push, that the repo is not an existing public one (create_repo(exist_ok=True) leaves it public)."""
    from huggingface_hub import HfApi
    from huggingface_hub.errors import RepositoryNotFoundError

    api = HfApi(token=token)
    try:
        if "/" not in repo_id:
            repo_id = f"{retrying(api.whoami, 'who am I')['name']}/{repo_id}"
        public = private and not retrying(lambda: api.model_info(repo_id), "repo info").private
        refs = retrying(lambda: api.list_repo_refs(repo_id), "list tags") if tag else None
        tags = {ref.name: ref.target_commit for ref in refs.tags} if refs else {}
    except RepositoryNotFoundError:
        return repo_id  # the push creates it
    except Exception as error:  # no token, a token without access, no connection: say so before the GPU time
        raise RecipeConfigError(f"the Hub cannot be used for {repo_id!r}: {redact(str(error))}") from error
    if tag in tags:
        raise RecipeConfigError(
            f"tag {tag!r} already exists on {repo_id} (commit {tags[tag][:12]}): a published revision never moves, "
            "pick a new tag"
        )
    if public:
        raise RecipeConfigError(
            f"{repo_id} exists and is public: refusing a private push into it (everything pushed would be public). "
            "Make the repo private on the Hub, push to another repo, or ask for a public push"
        )
    return repo_id


def hub_token() -> str | None:
    from replytune.secrets import get_secret

    return get_secret("HF_TOKEN")


def card_values(
    model_name: str, config: dict, plan: dict, metadata: dict, metrics: dict, hub_tag: str | None
) -> AdapterCardValues:
    """The card's values for a finished run, from what the run files hold (resolved config, plan.json,
    run_metadata.json): the recipe calls it at the end of training, `judge publish` on a saved output folder. No
    local path: a local dataset is named by its version folder only."""
    on_hub = metadata.get("dataset_kind") == "hub"
    evaluation = {key: value for key, value in metrics.items() if key.startswith("eval_")}
    if metrics.get("adapter_is_best_checkpoint"):
        evaluation["checkpoint"] = f"best, step {metrics['adapter_step']} of {plan['optimizer_steps']}"
    local_version = PurePosixPath(str(metadata.get("dataset_resolved") or metadata.get("dataset_revision") or "")).name
    return AdapterCardValues(
        model_name=model_name,
        base_model=metadata.get("base_model_hub_id"),
        dataset=metadata.get("dataset") if on_hub else None,
        dataset_revision=metadata.get("dataset_revision") if on_hub else local_version or None,
        dataset_commit=metadata.get("dataset_resolved") if on_hub else None,
        hub_tag=hub_tag,
        lora={
            "r": config.get("lora_r"),
            "alpha": config.get("lora_alpha"),
            "dropout": config.get("lora_dropout"),
            "target modules": config.get("lora_target_modules"),
            "base weights": metadata.get("load_path"),
        },
        training={
            "train examples": plan.get("train_examples"),
            "examples per optimizer step": plan.get("examples_per_optimizer_step"),
            "optimizer steps": f"{metrics.get('trained_steps')} of {plan.get('optimizer_steps')} planned",
            "epochs": config.get("num_train_epochs"),
            "learning rate": config.get("learning_rate"),
            "scheduler": config.get("lr_scheduler_type"),
            "warmup steps": plan.get("warmup_steps"),
            "chat format": "thinking" if config.get("enable_thinking") else "non-thinking",
        },
        metrics=evaluation,
        provenance={
            "git commit": metadata.get("git_commit"),
            "config hash": metadata.get("config_hash"),
            **(metadata.get("versions") or {}),
        },
    )


def save_run(
    trainer,
    tokenizer,
    output_dir,
    end_of_turn_token,
    base_model_hub_id,
    config,
    metadata,
    metrics,
    values: AdapterCardValues,
) -> None:
    """On the main process, after trainer.save_adapter: tokenizer, generation config, run files, trainer_state.json
    (the log history: training curves) and the card."""
    tokenizer.save_pretrained(output_dir)
    trainer.save_state()  # output_dir/trainer_state.json, as alignment-handbook's scripts save it
    save_generation_config(trainer.model, output_dir, tokenizer.convert_tokens_to_ids(end_of_turn_token))
    name_base_model(output_dir, base_model_hub_id)
    write_run_files(output_dir, config, metadata, metrics)
    write_adapter_card(output_dir, values)
    logger.info("adapter, tokenizer, card and resolved config saved to %s", output_dir)
