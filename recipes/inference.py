"""Models for generation: a base model loaded for inference (`load_model_for_inference`, on the training paths:
Unsloth 4-bit, transformers + bitsandbytes 4-bit on a GPU, or the unquantized model on CPU) and the LoRA adapters
put on it (`read_adapter` finds one in a folder or a Hub repo at a revision and says which base it was trained on;
`load_adapters` holds several on one loaded base; `active_adapter` switches between them and the bare base).

The judge's generate command, its local judge, scripts/reply.py and the benchmarks load models through here; the
training recipe loads through recipes/model_utils.py, whose loading pieces this module shares.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from recipes.model_utils import (
    PACKAGE_PREFIX,
    LoadedModel,
    ModelLoadError,
    bnb_4bit_config,
    forget_gguf_quantizer,
    load_tokenizer,
    resolve_model_path,
    torch_dtype,
    unsloth_if_wanted,
)
from replytune.files import sha256_of


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
    path, _ = unsloth_if_wanted(use_unsloth, on_gpu) if load_in_4bit else ("bnb-4bit" if on_gpu else "cpu", None)
    if path == "unsloth":
        from unsloth import FastLanguageModel

        model, tokenizer = FastLanguageModel.from_pretrained(
            model_name=name,
            dtype=torch_dtype(dtype) if dtype != "auto" else None,
            load_in_4bit=True,
            revision=revision,
        )
        FastLanguageModel.for_inference(model)
        tokenizer.padding_side = "left"
        return LoadedModel(model, tokenizer, None, path, f"Unsloth 4-bit on {torch.cuda.get_device_name()}")

    from transformers import AutoModelForCausalLM

    kwargs: dict[str, Any] = {"revision": revision, "gguf_file": gguf_file, "attn_implementation": attn_implementation}
    if path == "bnb-4bit":
        from accelerate import PartialState

        compute_dtype = torch_dtype(dtype) if dtype not in (None, "auto") else torch.bfloat16
        if load_in_4bit:
            kwargs["quantization_config"] = bnb_4bit_config(
                bnb_4bit_quant_type, use_bnb_nested_quant, compute_dtype, None
            )
        kwargs["device_map"] = {"": PartialState().local_process_index}
        description = (
            f"transformers {'bitsandbytes 4-bit ' + bnb_4bit_quant_type if load_in_4bit else 'unquantized'} "
            f"on {torch.cuda.get_device_name()}"
        )
    else:
        description = "CPU: the unquantized model"
    model = AutoModelForCausalLM.from_pretrained(name, dtype=torch_dtype(dtype), **kwargs)
    if gguf_file:
        forget_gguf_quantizer(model)
    model.eval()
    tokenizer = load_tokenizer(name, revision, gguf_file, padding_side="left")
    if tokenizer.pad_token is None:  # batches are left-padded; the attention mask hides whichever token pads
        tokenizer.pad_token = tokenizer.eos_token
    return LoadedModel(model, tokenizer, None, path, f"{description} ({model.dtype})")


# --- adapters: one loaded base, several LoRA adapters by name (the judge, scripts/reply.py) ----------------------

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


def read_adapter(
    source: str, revision: str | None = None, token: str | None = None, extra_files: Sequence[str] = ()
) -> AdapterInfo:
    """The adapter at a local folder, or a Hub repo at `revision` (downloaded: adapter and run files only, plus
    `extra_files` where the repo has them). A local folder is read as it is: nothing is asked of the Hub."""
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
            patterns = [*ADAPTER_DOWNLOAD_PATTERNS, *extra_files]
            path = snapshot_download(source, revision=revision, allow_patterns=patterns, token=token)
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
    trained_from, gguf_file = _adapter_run_base(path)
    return AdapterInfo(source, revision, path, commit, sha256_of(Path(weights)), base_model, trained_from, gguf_file)


def _adapter_run_base(path: str) -> tuple[str | None, str | None]:
    """(model_name_or_path, gguf_file) of the training run that wrote the adapter, from its run files if present."""
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
