"""DPO's starting point: the SFT adapter (`sft_adapter`, a folder or a Hub repo[@revision]), read with
recipes/inference.py's `read_adapter`, and loaded trainable on its base model through recipes/model_utils.py's
training paths. recipes/trainer.py's ReplytuneDPOTrainer then keeps a frozen copy of it as the reference.
"""

from __future__ import annotations

import json
import logging
import os

from recipes.inference import ADAPTER_CONFIG_FILE, AdapterInfo, adapter_base_mismatch, model_identity, read_adapter
from recipes.model_utils import LoadedModel, ModelLoadError, load_model_and_tokenizer
from replytune.hub import is_hub_repo_id
from replytune.versions import parse_spec

logger = logging.getLogger("replytune.sft")


def read_sft_adapter(model_args, replytune_args) -> AdapterInfo:
    """The SFT adapter a DPO run starts from (`sft_adapter`: DIR_OR_REPO[@revision]), as a recipes.inference
    AdapterInfo; raises ModelLoadError when it cannot be read or does not fit the recipe's base model.

    Fills in what the recipe leaves unset: model_name_or_path (and then gguf_file) from the adapter's run files, the
    base model's Hub id from its adapter_config.json. The LoRA fields become the adapter's own, since DPO trains that
    adapter further: the resolved config and the card then state the shape that was trained.
    """
    source, revision = parse_spec(replytune_args.sft_adapter)
    adapter = read_adapter(source, revision)
    if model_args.model_name_or_path is None:
        model_args.model_name_or_path = adapter.trained_from or adapter.base_model
        if replytune_args.gguf_file is None:
            replytune_args.gguf_file = adapter.gguf_file
        gguf = f" ({replytune_args.gguf_file})" if replytune_args.gguf_file else ""
        logger.info("base model from the SFT adapter's run files: %s%s", model_args.model_name_or_path, gguf)
    else:
        mismatch = adapter_base_mismatch(
            adapter, model_args.model_name_or_path, replytune_args.base_model_hub_id, replytune_args.gguf_file
        )
        if mismatch:
            raise ModelLoadError(f"sft_adapter: {mismatch}")
    base_is_local = model_identity(adapter.base_model) == model_identity(model_args.model_name_or_path)
    if replytune_args.base_model_hub_id is None and is_hub_repo_id(adapter.base_model) and not base_is_local:
        replytune_args.base_model_hub_id = adapter.base_model  # what the SFT run's card named
    with open(os.path.join(adapter.path, ADAPTER_CONFIG_FILE), encoding="utf-8") as file:
        lora = json.load(file)
    shape = {
        "lora_r": lora.get("r"),
        "lora_alpha": lora.get("lora_alpha"),
        "lora_dropout": lora.get("lora_dropout"),
        "lora_target_modules": sorted(lora["target_modules"])
        if isinstance(lora.get("target_modules"), list)
        else lora.get("target_modules"),
    }
    changed = {}
    for name, value in shape.items():
        recipe_value = getattr(model_args, name)
        if value is not None and recipe_value != value:
            if isinstance(value, list) and isinstance(recipe_value, list) and sorted(recipe_value) == value:
                continue
            changed[name] = (recipe_value, value)
            setattr(model_args, name, value)
    if changed:
        logger.info("LoRA shape from the SFT adapter (DPO trains it further): %s", changed)
    logger.info("SFT adapter %s%s: %s", source, f"@{revision}" if revision else "", adapter.base_description())
    return adapter


def load_model_with_sft_adapter(model_args, training_args, replytune_args, adapter: AdapterInfo) -> LoadedModel:
    """The base model (transformers + bitsandbytes 4-bit on a GPU, unquantized on CPU) with the SFT adapter loaded
    trainable as its "default" adapter. DPOTrainer adds the frozen reference copy (recipes/trainer.py)."""
    from peft import PeftModel

    loaded = load_model_and_tokenizer(model_args, training_args, replytune_args)
    try:
        model = PeftModel.from_pretrained(loaded.model, adapter.path, adapter_name="default", is_trainable=True)
    except (RuntimeError, ValueError, KeyError) as error:  # size mismatch: another base; unknown target modules
        raise ModelLoadError(
            f"sft_adapter {adapter.source} does not fit the base model: {str(error)[:500]}"
        ) from error
    description = (
        f"{loaded.description}; trains the SFT adapter {adapter.source} ({adapter.revision_label}), reference: a "
        "frozen copy of it"
    )
    return LoadedModel(model, loaded.tokenizer, None, loaded.path, description)
