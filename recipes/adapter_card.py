"""The adapter card: README.md beside the adapter, a huggingface_hub ModelCard naming the base model's Hub id and the
dataset repo@revision, never a local path.

`card_values` reads what a finished run's files hold (resolved config, plan.json, run_metadata.json) into plain
`AdapterCardValues`; `adapter_card` renders them, so `python -m judge publish` extends the same card with the
evaluation's sections (judge/model_card.py). `name_base_model` makes adapter_config.json name that Hub id too, which
is what PEFT loads the base from on the user's machine. A DPO run's card (run_metadata.json names the SFT adapter it
started from) says so: the method, the SFT adapter it started from and kept as its reference, beta and the loss.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any


def name_base_model(output_dir: str | Path, hub_id: str | None) -> None:
    """adapter_config.json: base_model_name_or_path is the Hub id, not this machine's path to the weights (PEFT's
    AutoPeftModel loads the base from it on the user's machine)."""
    if not hub_id:
        return
    path = Path(output_dir) / "adapter_config.json"
    adapter_config = json.loads(path.read_text(encoding="utf-8"))
    adapter_config["base_model_name_or_path"] = hub_id
    path.write_text(json.dumps(adapter_config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


SFT_INTRO = (
    "A LoRA adapter that writes replies to tweets, trained with replytune's QLoRA recipe (TRL's SFTTrainer, loss on "
    "the reply and its end-of-turn token only)."
)
DPO_INTRO = (
    "A LoRA adapter that writes replies to tweets: replytune's SFT adapter trained further with DPO (TRL's "
    "DPOTrainer) on pairs of real replies to the same tweet, the one readers liked more as chosen, against the SFT "
    "adapter as the reference."
)


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
    intro: str = SFT_INTRO  # the line under the title: how the adapter was trained
    method: str = "sft"  # sft or dpo: tagged on the card


def adapter_card(values: AdapterCardValues):
    """The adapter's huggingface_hub ModelCard."""
    from huggingface_hub import ModelCard, ModelCardData

    data = ModelCardData(
        base_model=values.base_model,
        datasets=[values.dataset] if values.dataset else None,
        library_name="peft",
        pipeline_tag="text-generation",
        license=values.license,
        tags=list(dict.fromkeys(["replytune", "lora", "qlora", values.method, "trl", "peft", *values.tags])),
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
        values.intro,
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
    dpo = dpo_values(config, metadata)
    dpo_training = dpo.pop("training", {})
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
            **dpo_training,
        },
        metrics=evaluation,
        provenance={
            "git commit": metadata.get("git_commit"),
            "config hash": metadata.get("config_hash"),
            **(metadata.get("versions") or {}),
        },
        **dpo,
    )


def sft_adapter_name(adapter: dict[str, Any]) -> str:
    """The SFT adapter a DPO run started from, path-free: REPO@revision (commit) on the Hub, else the local folder's
    name and the weights' hash."""
    if adapter.get("commit"):
        revision = f"@{adapter['revision']}" if adapter.get("revision") else ""
        link = f"[{adapter['source']}](https://huggingface.co/{adapter['source']})"
        return f"{link}{revision} (commit `{adapter['commit'][:12]}`)"
    folder = PurePosixPath(str(adapter.get("source") or "").replace("\\", "/")).name or "a local folder"
    return f"a local adapter `{folder}` (weights sha256 `{str(adapter.get('weights_sha256'))[:16]}`)"


def dpo_values(config: dict, metadata: dict) -> dict[str, Any]:
    """The card's DPO parts (intro, method tag, the starting point, beta and the loss), or {} for an SFT run."""
    adapter = metadata.get("sft_adapter")
    if metadata.get("method") != "dpo" or not isinstance(adapter, dict):
        return {}
    started = (
        f"- **Started from:** the SFT adapter {sft_adapter_name(adapter)}\n"
        "- **Reference:** the same SFT adapter, frozen (a copy loaded beside the trained one), so the rewards measure "
        "how far DPO moved the policy from the SFT adapter, not from the bare base model."
    )
    return {
        "intro": DPO_INTRO,
        "method": "dpo",
        "lead_sections": [("DPO on the SFT adapter", started)],
        "training": {
            "method": "DPO",
            "beta": config.get("beta"),
            "loss": config.get("loss_type"),
            "reference": "the SFT adapter (frozen)",
        },
    }
