"""What a run leaves behind: the resolved config, its provenance, resume, the generation config, and `save_run`,
which writes them all (with the adapter card of recipes/adapter_card.py) after training; `push_target` and
`save_and_push` are the scripts' shared start and end of it (SFT and DPO alike).

Beside the adapter (adapter_model.safetensors, adapter_config.json) and the tokenizer, `output_dir` gets:
- `resolved_config.yaml`: every field with the value this run used, re-runnable with `--config` (secrets redacted);
- `run_metadata.json`: the method (sft or dpo), dataset repo@revision, base model, load path, git commit, config
  hash, versions, for DPO the SFT adapter it started from (source, revision, Hub commit, weights sha256), and the
  metrics of the adapter that was saved (the best checkpoint's when load_best_model_at_end restored it);
- `plan.json`: the training plan (recipes/plan.py);
- `trainer_state.json`: the trainer's state with its log history (losses, learning rate, evaluations per step);
- `generation_config.json`: the base model's, whose eos ids stop generation at the end of a turn (Qwen3-8B:
  [151645, 151643]); a fine-tuned model that never stops is the LoRA failure users report most;
- `README.md`: the adapter card (recipes/adapter_card.py), naming the base model's Hub id and the dataset
  repo@revision, never a local path.

replytune/hub.py's `push_adapter` uploads all of that as ONE commit and tags that commit; `python -m judge publish`
pushes the same files plus the evaluation through the same `push_files`. What is pushed passes through
replytune/publishable.py first: no secret and no absolute local path leaves the machine.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import logging
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from recipes import REPO_ROOT
from recipes.adapter_card import AdapterCardValues, card_values, name_base_model, write_adapter_card
from replytune.publishable import assert_no_secrets
from replytune.secrets import redact

logger = logging.getLogger("replytune.sft")


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


def run_metadata(
    config, dataset_source, model_args, base_model_hub_id: str | None, loaded, method: str = "sft", sft_adapter=None
) -> dict:
    """The run's provenance; `sft_adapter` (a recipes.inference.AdapterInfo): the adapter a DPO run started from."""
    import peft
    import torch
    import transformers
    import trl

    started_from = {}
    if sft_adapter is not None:
        started_from["sft_adapter"] = {
            "source": sft_adapter.source,  # as the recipe names it: a folder or a Hub repo id
            "revision": sft_adapter.revision,
            "commit": sft_adapter.commit,
            "weights_sha256": sft_adapter.weights_sha256,
            "base_model": sft_adapter.base_model,
        }
    return {
        "method": method,
        **started_from,
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


def final_metrics(
    train_metrics: dict, state, load_best_model_at_end: bool, metric_for_best_model: str | None = None
) -> dict[str, Any]:
    """The train metrics plus the evaluation of the adapter that is saved.

    When load_best_model_at_end restored the best checkpoint, that is the best checkpoint's evaluation, not the
    last one (which may come several evaluations later, after early stopping's patience ran out). The best metric is
    `best_eval_loss` where it is the eval loss, else `best_<metric>` (DPO: best_eval_rewards/accuracies) beside the
    lowest eval loss.
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
    metric = metric_for_best_model or "eval_loss"
    metric = metric if metric.startswith("eval_") else f"eval_{metric}"
    if metric == "eval_loss":
        metrics["best_eval_loss"] = state.best_metric
    else:
        metrics[f"best_{metric}"] = state.best_metric
        metrics["best_eval_loss"] = min(entry["eval_loss"] for entry in evaluations)
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


# --- the scripts' start and end: the push target, the final save and the push ----------------------------------------


@dataclass
class PushTarget:
    """Where the finished run goes on the Hub: checked before training, pushed as one tagged commit after it."""

    repo_id: str
    private: bool
    tag: str | None


def push_target(training_args, replytune_args) -> PushTarget | None:
    """With push_to_hub: the checked target (a tag that exists, or a private push into a public repo, is refused now,
    before training). Turns the trainer's own push off: the run is pushed once, at the end, by `save_and_push`."""
    from replytune import hub

    push, training_args.push_to_hub = training_args.push_to_hub, False
    if not push:
        return None
    repo_id = training_args.hub_model_id or Path(training_args.output_dir).name
    private = training_args.hub_private_repo is not False
    repo_id = hub.check_push_target(repo_id, replytune_args.hub_tag, hub.hub_token(), private)
    return PushTarget(repo_id, private, replytune_args.hub_tag)


def train_and_save(
    trainer, tokenizer, training_args, base_model_hub_id, config, training_plan, metadata, push, what: str, started
) -> int:
    """The run itself, the same for SFT and DPO: write the run files, train (resuming when asked), and save and push
    (`save_and_push`). `started` is when the script started: the "load" stage runs from there to the first step.
    Returns the exit code: 3 when the loss stopped being finite."""
    from recipes.callbacks import NonFiniteLossError
    from recipes.model_utils import gpu_memory_reserved_gb

    metadata["num_processes"] = trainer.accelerator.num_processes
    metadata["distributed_type"] = str(trainer.accelerator.distributed_type.value)
    logger.info("%d process(es), %s", metadata["num_processes"], metadata["distributed_type"])
    if trainer.is_world_process_zero():
        write_run_files(training_args.output_dir, config, metadata)

    resume = resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
    if resume:
        logger.info("resuming from %s", resume)
    trainer.stage_seconds["load"] = time.perf_counter() - started
    memory_after_load = gpu_memory_reserved_gb()
    try:
        result = trainer.train(resume_from_checkpoint=resume)
    except NonFiniteLossError as error:
        logger.error("%s", error)
        return 3
    metrics = final_metrics(
        result.metrics, trainer.state, training_args.load_best_model_at_end, training_args.metric_for_best_model
    )
    metrics["memory_after_load_gb"] = memory_after_load
    return save_and_push(
        trainer, tokenizer, training_args, base_model_hub_id, config, training_plan, metadata, metrics, push, what
    )


def save_and_push(
    trainer, tokenizer, training_args, base_model_hub_id, config, training_plan, metadata, metrics, push, what: str
) -> int:
    """After training, on every process: save the adapter (FSDP-safe), then on the main process the tokenizer,
    generation config, run files and card (`save_run`), and push them as one tagged commit. Returns the exit code:
    1 when the push failed (the adapter is saved: `judge publish` can push it later)."""
    from replytune import hub
    from replytune.errors import PushError

    output_dir = training_args.output_dir
    with trainer.timed("save"):
        trainer.save_adapter(output_dir)
    metrics.update(trainer.run_costs())
    exit_code = 0
    if trainer.is_world_process_zero():
        name = push.repo_id if push else Path(output_dir).name
        card = card_values(name, config, training_plan, metadata, metrics, push.tag if push else None)
        end_of_turn = getattr(training_args, "eos_token", None) or tokenizer.eos_token
        save_run(trainer, tokenizer, output_dir, end_of_turn, base_model_hub_id, config, metadata, metrics, card)
        if push:
            message = f"replytune {what} adapter, dataset {card.dataset or 'local'}@{card.dataset_revision}"
            try:
                repo_id, commit = hub.push_adapter(
                    output_dir, push.repo_id, push.private, push.tag, hub.hub_token(), message
                )
            except PushError as error:  # the adapter is saved: it can be pushed later, with its evaluation
                logger.error("%s; the adapter is saved in %s (judge publish can push it)", error, output_dir)
                exit_code = 1
            else:
                logger.info("pushed to the Hub: %s at %s (tag %s)", repo_id, commit, push.tag)
    trainer.accelerator.wait_for_everyone()
    trainer.accelerator.end_training()
    return exit_code
