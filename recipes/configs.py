"""The recipe's fields and how they are read: replytune's own `ReplytuneArguments` next to TRL's ScriptArguments,
SFTConfig (or DPOConfig) and ModelConfig, parsed with TrlParser so that the command line overrides the YAML file.

One parser serves both training methods: `SFT` (recipes/sft_qlora.py) and `DPO` (recipes/dpo_qlora.py) name the
training config class, replytune's arguments class (DPO adds `sft_adapter`), the default and CPU demo recipes and the
unit of an example; every function here takes the method and defaults to SFT.

`parse_recipe_args` checks the YAML file strictly first (an unknown key, a renamed key such as `max_seq_length`, a
wrong type or a bad choice stops here, naming the field), runs the default recipe when no `--config` is given, and
refuses a GPU recipe on a machine without a GPU unless the run is a dry run. Nothing here loads a model.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trl import DPOConfig, ModelConfig, ScriptArguments, SFTConfig, TrlParser

from recipes import (
    CPU_DEMO_RECIPE,
    DEFAULT_RECIPE,
    DPO_CPU_DEMO_RECIPE,
    DPO_DEFAULT_RECIPE,
    LOG_FORMAT,
    REPO_ROOT,
    split_config_flag,
)
from replytune.cli import OneLineErrors
from replytune.errors import Refused
from replytune.hub import is_hub_repo_id
from replytune.yaml_config import ConfigError, read_yaml

logger = logging.getLogger("replytune.sft")


@dataclass
class ReplytuneArguments:
    """Recipe fields of replytune itself. The dataset folder or Hub repo is TRL's `dataset_name`."""

    dry_run: bool = field(
        default=False,
        metadata={
            "help": "Load only the tokenizer and the dataset, check every row, print the training plan (examples "
            "per optimizer step, optimizer steps, warmup, the steps that evaluate) and write it to "
            "output_dir/plan.json, then stop: no model loads and no GPU is needed."
        },
    )
    dataset_revision: str | None = field(
        default=None,
        metadata={
            "help": "The version to load: vN, or 'latest' (the highest vN: a local subfolder, or a Hub tag); a Hub "
            "dataset also takes a branch or commit (e.g. main). Unset: the latest, or dataset_name itself when it "
            "is a version folder (replytune/versions.py)."
        },
    )
    base_model_hub_id: str | None = field(
        default=None,
        metadata={
            "help": "The base model's Hub id when model_name_or_path is a local folder or a package: (e.g. "
            "HuggingFaceTB/SmolLM2-135M-Instruct). The adapter card and adapter_config.json name it instead of a "
            "local path; pushing needs it. A Hub id in model_name_or_path is used as it is."
        },
    )
    use_unsloth: str = field(
        default="false",
        metadata={
            "help": "true: Unsloth 4-bit on one GPU, stop with the reason when it cannot be used. auto: Unsloth where "
            "it imports and the run is one unsharded process, else transformers + bitsandbytes. false: never.",
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
    max_example_tokens: int = field(
        default=1024,
        metadata={
            "help": "Longest row (prompt + reply, in tokens) the run accepts. Padding-free batches are never "
            "truncated, so a longer row stops the run before any model loads, naming the row."
        },
    )
    overfit_gap_threshold: float = field(
        default=0.3,
        metadata={
            "help": "Flag (log warning + metric eval_overfit_flag) when eval_loss exceeds the mean train loss "
            "logged since the previous evaluation by more than this."
        },
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
    sample_max_new_tokens: int = field(
        default=64,
        metadata={
            "help": "Token budget of each sample generation (greedy, at each evaluation): the samples' own, shorter "
            "than the 128 the judge and scripts/reply.py decode with (recipes/generation.py), so evaluations stay "
            "quick; a sample that hits it is logged as cut off."
        },
    )
    hub_tag: str | None = field(
        default=None,
        metadata={"help": "With push_to_hub: the tag to create on the pushed commit (e.g. v1), so users can pin it."},
    )
    examples_per_optimizer_step: int | None = field(
        default=None,
        metadata={
            "help": "Examples (tweet/reply pairs; for DPO, preference pairs) per optimizer step over all processes. "
            "The plan then picks the "
            "micro-batch: the largest (up to all of them) whose estimated memory fits the GPU, and "
            "gradient_accumulation_steps to match. An explicit per_device_train_batch_size or "
            "gradient_accumulation_steps (in the recipe or on the command line) wins; unset: the recipe sets both."
        },
    )
    gpu_memory_gb: float | None = field(
        default=None,
        metadata={
            "help": "GPU memory the plan may fill when it picks the micro-batch and gradient checkpointing. Unset: "
            "the total memory of this machine's GPU, or 48 (an A6000, the smallest GPU the recipes target) where "
            "the plan runs without one (a dry run on a laptop)."
        },
    )
    # Set by parse_recipe_args, not by the user: what the plan decides (gradient_checkpointing: auto, a micro-batch
    # left to the plan by examples_per_optimizer_step).
    gradient_checkpointing_auto: bool = field(default=False, init=False)
    choose_micro_batch: bool = field(default=False, init=False)

    def __post_init__(self):
        for name in ("dataset_revision", "gguf_file", "hub_tag", "base_model_hub_id"):  # `--gguf_file null`
            if str(getattr(self, name)).lower() in ("", "null", "none"):
                setattr(self, name, None)
        if isinstance(self.use_unsloth, bool):  # YAML `use_unsloth: true`
            self.use_unsloth = "true" if self.use_unsloth else "false"
        self.use_unsloth = str(self.use_unsloth).lower()
        if self.use_unsloth not in ("true", "false", "auto"):
            raise ValueError(f"use_unsloth must be true, false or auto, got {self.use_unsloth!r}")
        if self.overfit_gap_threshold <= 0:
            raise ValueError(f"overfit_gap_threshold must be > 0, got {self.overfit_gap_threshold}")
        if self.max_example_tokens < 1:
            raise ValueError(f"max_example_tokens must be >= 1, got {self.max_example_tokens}")
        if self.examples_per_optimizer_step is not None and self.examples_per_optimizer_step < 1:
            raise ValueError(f"examples_per_optimizer_step must be >= 1, got {self.examples_per_optimizer_step}")
        if self.gpu_memory_gb is not None and not self.gpu_memory_gb > 0:
            raise ValueError(f"gpu_memory_gb must be > 0, got {self.gpu_memory_gb}")


@dataclass
class DPOArguments(ReplytuneArguments):
    """ReplytuneArguments plus what a DPO run starts from (recipes/dpo_qlora.py)."""

    sft_adapter: str | None = field(
        default=None,
        metadata={
            "help": "The SFT adapter that DPO starts from and keeps as its reference: a folder (an SFT run's "
            "output_dir) or a Hub repo, with an optional @revision (OWNER/NAME@v1). The base model, its GGUF file and "
            "its Hub id come from the adapter's run files unless the recipe sets model_name_or_path, and the LoRA "
            "shape is the adapter's."
        },
    )

    def __post_init__(self):
        super().__post_init__()
        if str(self.sft_adapter).lower() in ("", "null", "none"):
            self.sft_adapter = None


@dataclass(frozen=True)
class Method:
    """A training method: its script, the TRL config class its recipe fills, replytune's arguments for it, its
    recipes, and what one training example is."""

    name: str  # "sft" or "dpo": run_metadata.json, plan.json
    script: str  # relative to the checkout
    trainer: str  # the TRL trainer, as the help and the card name it
    config_class: type
    arguments_class: type
    default_recipe: Path
    cpu_demo_recipe: Path
    example: str  # what an example is, as the plan names it
    default_metric: str  # metric_for_best_model when the recipe sets none (early stopping, the best checkpoint)
    greater_is_better: bool

    @property
    def dataclasses(self) -> tuple[type, ...]:
        return (ScriptArguments, self.config_class, ModelConfig, self.arguments_class)


SFT = Method(
    "sft", "recipes/sft_qlora.py", "SFTTrainer", SFTConfig, ReplytuneArguments, DEFAULT_RECIPE, CPU_DEMO_RECIPE,
    "tweet/reply pair", "eval_loss", False,
)  # fmt: skip
DPO = Method(
    "dpo", "recipes/dpo_qlora.py", "DPOTrainer", DPOConfig, DPOArguments, DPO_DEFAULT_RECIPE, DPO_CPU_DEMO_RECIPE,
    "preference pair", "eval_rewards/accuracies", True,
)  # fmt: skip
RECIPE_DATACLASSES = SFT.dataclasses


class RecipeConfigError(Refused, ValueError):
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
# Boolean fields that also take `auto`: the plan decides (recipes/plan.py, choose_batch_shape).
AUTO_BOOLEAN_FIELDS = {"gradient_checkpointing"}
BATCH_SHAPE_FIELDS = ("per_device_train_batch_size", "gradient_accumulation_steps")


class RecipeParser(OneLineErrors, TrlParser):
    """TrlParser whose flag errors (`--learning_rate abc`) are one line, not the usage of every field first."""


def make_parser(method: Method = SFT) -> TrlParser:
    return RecipeParser(method.dataclasses)


# --- the strict check of a recipe file ---------------------------------------------------------------------------


def check_recipe_file(parser: TrlParser, config_path: str | Path, method: Method = SFT) -> None:
    """Check every key and value of a recipe YAML against the parser's fields; raise RecipeConfigError naming it.

    TrlParser alone turns YAML values into argparse *defaults*, which argparse never type-checks nor matches
    against `choices`: `learning_rate: [1]` or `packing_strategy: bdf` would pass silently.
    """
    path = Path(config_path)
    try:
        config = read_yaml(path)
    except ConfigError as error:
        raise RecipeConfigError(str(error)) from error
    actions = _actions_by_name(parser)
    for key, value in config.items():
        if key == "env":
            if not isinstance(value, dict):
                raise RecipeConfigError(f"{path}: field 'env' must be a mapping of environment variables")
            continue
        if key in RENAMED_FIELDS and key not in actions:
            raise RecipeConfigError(f"{path}: unknown field '{key}': it is now called '{RENAMED_FIELDS[key]}'")
        if key not in actions:
            raise RecipeConfigError(f"{path}: unknown field '{key}' (not a field of {_dataclass_names(method)})")
        _check_value(actions[key], key, value, path)


def _actions_by_name(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    actions = {}
    for action in parser._actions:  # the first action of a dest is `--field`; a later one may be `--no_field`
        if action.dest != "help":
            actions.setdefault(action.dest, action)
    return actions


def _dataclass_names(method: Method = SFT) -> str:
    return ", ".join(cls.__name__ for cls in method.dataclasses)


def _check_value(action, key: str, value: Any, path: Path) -> None:
    where = f"{path}: field '{key}'"
    if value is None:
        return  # every optional field takes null; a required one fails in its dataclass
    if key in BOOLEAN_STRING_FIELDS and isinstance(value, bool):
        return
    if key in AUTO_BOOLEAN_FIELDS and str(value).lower() == "auto":
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


# --- parsing -----------------------------------------------------------------------------------------------------


def parse_recipe_args(
    argv: Sequence[str] | None = None, cuda_available: bool | None = None, method: Method = SFT
) -> tuple[ScriptArguments, SFTConfig | DPOConfig, ModelConfig, ReplytuneArguments]:
    """`--config recipe.yaml` plus command-line overrides -> the four dataclasses, or RecipeConfigError.

    Without `--config` the method's default recipe runs. On a machine without a CUDA GPU a recipe that does not set
    `use_cpu` is parsed for the CPU only for a dry run; a real run stops here with what to do instead, before
    SFTConfig's bare "doesn't support bf16/gpu" or any model download.
    """
    argv = split_config_flag(sys.argv[1:] if argv is None else argv)
    if "--config" not in argv:
        default = method.default_recipe.relative_to(REPO_ROOT)
        logger.warning("no --config given: running the default recipe %s", default)
        argv = ["--config", str(method.default_recipe), *argv]
    parser = make_parser(method)
    index = argv.index("--config")
    if index + 1 >= len(argv):
        raise RecipeConfigError("--config needs a recipe file")
    config_path = argv[index + 1]
    check_recipe_file(parser, config_path, method)
    dests = set(_actions_by_name(parser))
    for arg in argv:
        name = arg[2:].split("=", 1)[0] if arg.startswith("--") else None
        if name in RENAMED_FIELDS and name not in dests:
            raise RecipeConfigError(f"unknown flag '--{name}': it is now called '{RENAMED_FIELDS[name]}'")
    if cuda_available is None:
        import torch

        cuda_available = torch.cuda.is_available()
    recipe = read_yaml(config_path)
    sets_use_cpu = "use_cpu" in recipe or any(a.split("=")[0] == "--use_cpu" for a in argv)
    argv, gradient_checkpointing_auto = _take_auto_values(argv, recipe)
    if not cuda_available and not sets_use_cpu:
        argv = [*argv, "--use_cpu", "true"]  # lets SFTConfig accept a bf16 recipe; a real run is refused below
    try:
        script_args, training_args, model_args, replytune_args = parser.parse_args_and_config(argv)
    except ValueError as error:  # __post_init__ checks of the dataclasses, unknown config keys
        raise RecipeConfigError(str(error)) from error
    if not cuda_available and not sets_use_cpu and not replytune_args.dry_run:
        raise RecipeConfigError(
            f"there is no CUDA GPU here, and the recipe {config_path} is written for one (it does not set use_cpu). "
            "To see what the run would do without a GPU: add --dry_run true (it loads only the tokenizer and the "
            f"dataset). To train on this machine: the CPU demo recipe, --config "
            f"{method.cpu_demo_recipe.relative_to(REPO_ROOT)} (or force this one with --use_cpu true: very slow)."
        )
    if len(training_args.report_to) == 1 and "," in training_args.report_to[0]:  # --report_to trackio,wandb
        training_args.report_to = [name.strip() for name in training_args.report_to[0].split(",") if name.strip()]
    replytune_args.gradient_checkpointing_auto = gradient_checkpointing_auto
    apply_examples_per_step(training_args, replytune_args, _explicit_fields(argv, recipe, BATCH_SHAPE_FIELDS))
    if method is DPO:
        check_dpo_values(training_args, replytune_args)
    check_recipe_values(script_args, training_args, model_args, replytune_args)
    return script_args, training_args, model_args, replytune_args


def world_size(environ=os.environ) -> int:
    """The number of processes `accelerate launch` started (1 for a plain `python` run)."""
    return int(environ.get("WORLD_SIZE", "1") or 1)


def _flag_values(argv: Sequence[str], name: str) -> list[str]:
    """The values given to `--name value` / `--name=value`, in order."""
    values = []
    for index, arg in enumerate(argv):
        if arg == f"--{name}" and index + 1 < len(argv):
            values.append(argv[index + 1])
        elif arg.startswith(f"--{name}="):
            values.append(arg.split("=", 1)[1])
    return values


def _explicit_fields(argv: Sequence[str], recipe: dict, names: Sequence[str]) -> set[str]:
    return {name for name in names if name in recipe or _flag_values(argv, name)}


def _take_auto_values(argv: list[str], recipe: dict) -> tuple[list[str], bool]:
    """`gradient_checkpointing: auto` (recipe or flag, the flag winning): parse it as false, leave it to the plan."""
    name = "gradient_checkpointing"
    given = _flag_values(argv, name)
    value = given[-1] if given else recipe.get(name)
    if str(value).lower() != "auto":
        return argv, False
    kept, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == f"--{name}":
            skip = True
        elif not arg.startswith(f"--{name}="):
            kept.append(arg)
    return [*kept, f"--{name}", "false"], True


def apply_examples_per_step(
    training_args: SFTConfig, replytune_args, explicit: set[str], processes: int | None = None
) -> None:
    """examples_per_optimizer_step: derive the batch field the user did not set from the one they did, or leave both
    to the plan (recipes/plan.py, choose_batch_shape) when neither is set. Both set: they win as they are."""
    examples = replytune_args.examples_per_optimizer_step
    if examples is None or explicit >= set(BATCH_SHAPE_FIELDS):
        return
    processes = processes or world_size()
    if examples % processes:
        raise RecipeConfigError(
            f"field 'examples_per_optimizer_step': {examples} examples cannot be shared evenly by {processes} "
            "processes; pick a multiple of the process count"
        )
    per_process = examples // processes
    if not explicit:
        replytune_args.choose_micro_batch = True
        training_args.per_device_train_batch_size, training_args.gradient_accumulation_steps = per_process, 1
        return
    if "per_device_train_batch_size" in explicit:
        micro_batch = training_args.per_device_train_batch_size
        if per_process % micro_batch:
            raise RecipeConfigError(
                f"per_device_train_batch_size {micro_batch} does not divide the {per_process} examples each process "
                f"trains per optimizer step (examples_per_optimizer_step {examples}); set gradient_accumulation_steps "
                "too, or pick a divisor"
            )
        training_args.gradient_accumulation_steps = per_process // micro_batch
    else:
        accumulation = training_args.gradient_accumulation_steps
        if per_process % accumulation:
            raise RecipeConfigError(
                f"gradient_accumulation_steps {accumulation} does not divide the {per_process} examples each process "
                f"trains per optimizer step (examples_per_optimizer_step {examples})"
            )
        training_args.per_device_train_batch_size = per_process // accumulation


def check_recipe_values(script_args, training_args: SFTConfig, model_args, replytune_args) -> None:
    """Combinations that TRL would only refuse after the model loaded, or never."""
    packing_strategy = getattr(training_args, "packing_strategy", "bfd")  # SFTConfig only
    if packing_strategy not in PACKING_STRATEGIES:  # `packing_strategy: null` passes the file check
        raise RecipeConfigError(
            f"field 'packing_strategy': {packing_strategy!r} is not one of {list(PACKING_STRATEGIES)}"
        )
    if script_args.dataset_name is None:
        raise RecipeConfigError("field 'dataset_name' is required: a DatasetDict folder or a Hub dataset repo id")
    packing = getattr(training_args, "packing", False)
    if training_args.padding_free and not packing and training_args.max_length is not None:
        raise RecipeConfigError(
            f"field 'max_length': padding_free without packing never truncates, so max_length "
            f"{training_args.max_length} would not be enforced (TRL refuses it): set max_length: null; "
            "max_example_tokens bounds the rows instead"
        )
    if (
        training_args.push_to_hub
        and model_args.model_name_or_path
        and not base_model_hub_id(model_args, replytune_args)
    ):
        raise RecipeConfigError(
            f"push_to_hub: the base model {model_args.model_name_or_path!r} is a local folder or package, and the "
            "adapter card must name its Hub id: set base_model_hub_id (e.g. Qwen/Qwen3-8B)"
        )


def check_dpo_values(training_args: DPOConfig, replytune_args: DPOArguments) -> None:
    """What a DPO recipe needs, checked before anything loads."""
    if not replytune_args.sft_adapter:
        raise RecipeConfigError(
            "field 'sft_adapter' is required: the SFT adapter DPO starts from and keeps as its reference (an SFT "
            "run's output_dir, or a Hub repo[@revision])"
        )
    if training_args.padding_free:
        raise RecipeConfigError(
            "field 'padding_free': TRL 1.15's DPOTrainer does not support it (it warns and pads anyway); set "
            "padding_free: false"
        )
    if training_args.max_length is not None and training_args.max_length < replytune_args.max_example_tokens:
        raise RecipeConfigError(
            f"field 'max_length': DPOTrainer would cut sequences at {training_args.max_length} tokens, below the "
            f"max_example_tokens {replytune_args.max_example_tokens} the row check allows, and train on truncated "
            "replies: set max_length: null (max_example_tokens bounds every prompt + reply)"
        )
    if training_args.sync_ref_model:
        raise RecipeConfigError(
            "field 'sync_ref_model': the reference is the frozen SFT adapter (TRL cannot sync a PEFT reference); set "
            "sync_ref_model: false"
        )
    if replytune_args.use_unsloth == "true":
        raise RecipeConfigError(
            "field 'use_unsloth': the DPO recipe loads through transformers + bitsandbytes (Unsloth's DPO patches "
            "are not wired in); set use_unsloth: false"
        )
    if replytune_args.use_unsloth == "auto":
        logger.info("use_unsloth: auto: the DPO recipe loads through transformers + bitsandbytes")
        replytune_args.use_unsloth = "false"


def base_model_hub_id(model_args: ModelConfig, replytune_args: ReplytuneArguments) -> str | None:
    """The Hub id that names the base model on the card: base_model_hub_id, else model_name_or_path when it is one."""
    if replytune_args.base_model_hub_id:
        return replytune_args.base_model_hub_id
    name = model_args.model_name_or_path or ""
    if name.startswith("package:") or Path(name).exists() or name.startswith(("/", ".", "~")):
        return None
    return name if is_hub_repo_id(name) else None


def evaluates(training_args: SFTConfig) -> bool:
    return str(getattr(training_args.eval_strategy, "value", training_args.eval_strategy)) != "no"


def configure_logging(training_args: SFTConfig) -> None:
    import datasets
    import transformers

    level = training_args.get_process_log_level()
    logging.basicConfig(format=LOG_FORMAT, level=level)  # a no-op after configure_console: the level is set here
    logging.getLogger().setLevel(level)
    logger.setLevel(logging.INFO if training_args.should_log else logging.WARNING)  # our lines on the main process
    datasets.utils.logging.set_verbosity(level)
    transformers.utils.logging.set_verbosity(level)


# --- --help ------------------------------------------------------------------------------------------------------

HELP_DESCRIPTION = {
    "sft": """\
Train a QLoRA reply adapter with TRL's SFTTrainer on a data_prep dataset (recipes/sft_qlora.py).

A recipe YAML sets the fields below; a flag on the command line overrides the file. Without --config the default
recipe runs: {default}.

examples:
  # what the run would do (examples per step, steps, evaluations), on a laptop without a GPU
  python recipes/sft_qlora.py --config recipes/qwen3-8b/sft/config_qlora.yaml --dry_run true
  # train on one GPU
  accelerate launch --quiet --config_file accelerate_configs/single_gpu.yaml recipes/sft_qlora.py \\
      --config recipes/qwen3-8b/sft/config_qlora.yaml --dataset_name you/reply-pairs --dataset_revision v2
  # the CPU demo
  accelerate launch --quiet --cpu recipes/sft_qlora.py --config recipes/smollm2-135m/sft/config_demo.yaml
""",
    "dpo": """\
Train the SFT adapter further with TRL's DPOTrainer on a data_prep preference dataset (recipes/dpo_qlora.py); the
reference is a frozen copy of the SFT adapter.

A recipe YAML sets the fields below; a flag on the command line overrides the file. Without --config the default
recipe runs: {default}.

examples:
  # what the run would do (pairs per step, steps, evaluations), on a laptop without a GPU
  python recipes/dpo_qlora.py --config recipes/qwen3-8b/dpo/config_qlora.yaml --dry_run true
  # train on one GPU
  accelerate launch --quiet --config_file accelerate_configs/single_gpu.yaml recipes/dpo_qlora.py \\
      --config recipes/qwen3-8b/dpo/config_qlora.yaml --dataset_name you/reply-preferences --dataset_revision v1 \\
      --sft_adapter you/qwen3-8b-reply-qlora@v1
  # the CPU demo
  accelerate launch --quiet --cpu recipes/dpo_qlora.py --config recipes/smollm2-135m/dpo/config_demo.yaml
""",
}


def recipe_help(method: Method = SFT) -> str:
    """--help: replytune's own options first, then the fields inherited from TRL and transformers."""
    from transformers import HfArgumentParser

    parser = argparse.ArgumentParser(
        prog=method.script,
        usage=f"accelerate launch --quiet {method.script} [--config RECIPE.yaml] [--field value ...]",
        description=HELP_DESCRIPTION[method.name].format(default=method.default_recipe.relative_to(REPO_ROOT)),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help=False,
    )
    own = parser.add_argument_group("replytune options")
    own.add_argument("-h", "--help", action="store_true", help="show this message and exit")
    default = method.default_recipe.relative_to(REPO_ROOT)
    own.add_argument("--config", metavar="RECIPE.yaml", help=f"the recipe file (default: {default})")
    own.add_argument("--verbose", action="store_true", help="every library's warnings and info lines too")
    training = f"inherited from TRL / transformers: {method.config_class.__name__} (training)"
    sections = [
        (own, method.arguments_class),
        (parser.add_argument_group("inherited from TRL: ScriptArguments (the dataset)"), ScriptArguments),
        (parser.add_argument_group("inherited from TRL: ModelConfig (model, quantization, LoRA)"), ModelConfig),
        (parser.add_argument_group(training), method.config_class),
    ]
    for group, dataclass_type in sections:
        for action in HfArgumentParser(dataclass_type)._actions:
            if action.dest != "help":
                group._add_action(action)
    return parser.format_help()
