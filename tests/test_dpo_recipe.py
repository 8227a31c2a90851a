"""The DPO recipe (recipes/dpo_qlora.py) on the tiny Qwen3 and tiny preference rows: its fields, the dry-run plan,
the row checks, the reference (the SFT adapter, frozen, not the bare base), the loss falling through the real entry
point, and a killed-and-resumed run matching an uninterrupted one."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from recipes import configs, data
from recipes.sft_adapter import load_model_with_sft_adapter, read_sft_adapter
from replytune.schema import CHOSEN, CONVERSATION_ID, PROMPT, REJECTED, TWEET_ID
from tests.paths import REPO_ROOT
from tests.sft_helpers import (
    ACCELERATE,
    PROMPT_TEMPLATE,
    TOPICS,
    cpu_accelerate_config,
    launch_env,
    run_killed_and_resumed,
)

SCRIPT = REPO_ROOT / "recipes" / "dpo_qlora.py"
DPO_DEMO_RECIPE = REPO_ROOT / "recipes" / "smollm2-135m" / "dpo" / "config_demo.yaml"
DPO_QWEN3_RECIPE = REPO_ROOT / "recipes" / "qwen3-8b" / "dpo" / "config_qlora.yaml"
CHOSEN_REPLY = "Great point, {topic} really pays off!"
REJECTED_REPLY = "no."


# --- tiny preference data and a tiny SFT adapter ---------------------------------------------------------------------


def preference_rows(count: int, offset: int = 0, rejected: str = REJECTED_REPLY) -> list[dict]:
    """Rows in `data_prep preferences`' contract: conversational prompt/chosen/rejected plus ids."""
    rows = []
    for i in range(offset, offset + count):
        topic = TOPICS[i % len(TOPICS)]
        rows.append(
            {
                PROMPT: [{"role": "user", "content": PROMPT_TEMPLATE.format(tweet=f"Day {i}: trying {topic}")}],
                CHOSEN: [{"role": "assistant", "content": CHOSEN_REPLY.format(topic=topic)}],
                REJECTED: [{"role": "assistant", "content": rejected}],
                TWEET_ID: str(i),
                CONVERSATION_ID: str(i),
            }
        )
    return rows


def write_preferences(folder: Path, train: int = 24, eval: int = 6, change: tuple | None = None) -> Path:
    """OUTPUT/v1/data/<split>-00000-of-00001.parquet, as `data_prep preferences` writes it. `change`: (split, row,
    column, text) to put into one row."""
    from datasets import Dataset

    splits = {"train": preference_rows(train), "eval": preference_rows(eval, train), "test": preference_rows(2, 99)}
    if change:
        split, index, column, text = change
        splits[split][index][column] = [{**splits[split][index][column][0], "content": text}]
    (folder / "v1" / "data").mkdir(parents=True, exist_ok=True)
    for split, rows in splits.items():
        Dataset.from_list(rows).to_parquet(folder / "v1" / "data" / f"{split}-00000-of-00001.parquet")
    return folder


@pytest.fixture(scope="module")
def sft_adapter(tmp_path_factory, tiny_qwen3_dir) -> Path:
    """A LoRA adapter on the tiny Qwen3 with random, non-zero weights (so that it differs from the bare base) and the
    run files the SFT recipe writes beside it: run_metadata.json names the base it was trained on."""
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    folder = tmp_path_factory.mktemp("sft_adapter")
    torch.manual_seed(7)
    base = AutoModelForCausalLM.from_pretrained(tiny_qwen3_dir)
    lora = LoraConfig(
        r=8, lora_alpha=16, lora_dropout=0.1, target_modules=["q_proj", "v_proj", "up_proj"], init_lora_weights=False
    )
    get_peft_model(base, lora).save_pretrained(folder)
    (folder / "run_metadata.json").write_text(json.dumps({"method": "sft", "base_model": str(tiny_qwen3_dir)}))
    (folder / "resolved_config.yaml").write_text(yaml.safe_dump({"model_name_or_path": str(tiny_qwen3_dir)}))
    return folder


def tiny_dpo_args(sft_adapter: Path, data_dir: Path, output_dir: Path, **fields) -> list[str]:
    """The CPU demo recipe turned into a few-step run of the tiny Qwen3 from `sft_adapter`."""
    values = {
        "sft_adapter": str(sft_adapter),
        "dataset_name": str(data_dir),
        "output_dir": str(output_dir),
        "report_to": "none",
        "sample_max_new_tokens": 8,
        **fields,
    }
    return ["--config", str(DPO_DEMO_RECIPE)] + [
        item for key, value in values.items() for item in (f"--{key}", str(value))
    ]


# --- fields -------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", [DPO_DEMO_RECIPE, DPO_QWEN3_RECIPE], ids=["demo", "qwen3-8b"])
def test_the_shipped_dpo_recipes_parse_with_the_shared_parser(recipe):
    script_args, training_args, model_args, replytune_args = configs.parse_recipe_args(
        ["--config", str(recipe), "--use_cpu", "true"], method=configs.DPO
    )
    assert type(training_args).__name__ == "DPOConfig" and replytune_args.sft_adapter
    assert training_args.beta == 0.1 and training_args.loss_type == ["sigmoid"]
    assert not training_args.padding_free and training_args.max_length is None
    assert training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps == 16
    assert training_args.metric_for_best_model == "eval_rewards/accuracies" and training_args.greater_is_better
    assert training_args.load_best_model_at_end and script_args.dataset_test_split == "eval"
    assert model_args.model_name_or_path is None  # from the SFT adapter's run files
    if recipe == DPO_QWEN3_RECIPE:
        assert 5e-6 <= training_args.learning_rate <= 5e-5 and model_args.load_in_4bit
        assert replytune_args.examples_per_optimizer_step == 16 and replytune_args.gradient_checkpointing_auto


@pytest.mark.parametrize(
    ("line", "field"),
    [
        ("beta: high", "beta"),
        ("max_prompt_length: 512", "max_prompt_length"),  # gone from TRL 1.15's DPOConfig
        ("loss_type: sigmoid_typo", "loss_type"),
        ("padding_free: true", "padding_free"),
        ("max_length: 256", "max_length"),
        ("sft_adapter: null", "sft_adapter"),
        ("sync_ref_model: true", "sync_ref_model"),
        ("use_unsloth: true", "use_unsloth"),
    ],
)
def test_a_bad_dpo_field_is_named(tmp_path, line, field):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(DPO_DEMO_RECIPE.read_text() + f"\n{line}\n")
    with pytest.raises((configs.RecipeConfigError, ValueError), match=f"{field}"):
        configs.parse_recipe_args(["--config", str(recipe)], method=configs.DPO)


def test_dpo_help_lists_the_dpo_fields():
    text = configs.recipe_help(configs.DPO)
    assert "recipes/dpo_qlora.py" in text and "--sft_adapter" in text and "--beta" in text
    assert "DPOConfig (training)" in text


# --- the dry-run plan and the row checks ------------------------------------------------------------------------


def test_the_dry_run_plan_states_pairs_steps_and_evaluations(tmp_path, sft_adapter, tiny_qwen3_dir, capsys):
    from recipes import dpo_qlora

    data_dir = write_preferences(tmp_path / "prefs", train=24, eval=6)
    output = tmp_path / "out"
    args = tiny_dpo_args(sft_adapter, data_dir, output, num_train_epochs=3, dry_run="true")
    assert dpo_qlora.main(args) == 0
    printed = capsys.readouterr().out
    plan = json.loads((output / "plan.json").read_text())
    assert plan["method"] == "dpo" and plan["example"] == "preference pair"
    assert plan["model"] == str(tiny_qwen3_dir)  # the base model, from the SFT adapter's run files
    assert (plan["train_examples"], plan["eval_examples"]) == (24, 6)
    assert plan["examples_per_optimizer_step"] == 16 and plan["examples_in_last_step_of_each_epoch"] == 8
    assert (plan["optimizer_steps_per_epoch"], plan["optimizer_steps"]) == (2, 6)
    assert plan["evaluation_steps"] == [2, 4, 6] and plan["checkpoint_steps"] == [2, 4, 6]
    assert plan["padding_free"] is False
    assert "preference pairs: 24 train, 6 eval" in printed
    assert "16 preference pairs per optimizer step" in printed and "evaluations:  3 at steps [2, 4, 6]" in printed
    assert not list(output.glob("*.safetensors"))  # nothing trained


def test_a_dpo_row_is_checked_with_both_replies_ending_their_turn(tiny_qwen3_dir):
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_qwen3_dir)
    row = {**preference_rows(1)[0], "chat_template_kwargs": {"enable_thinking": False}}
    for column in (CHOSEN, REJECTED):
        ids, mask = data.loss_mask(tokenizer, row[PROMPT], row[column], enable_thinking=False)
        trained = tokenizer.decode([token for token, bit in zip(ids, mask) if bit])
        assert trained == row[column][0]["content"] + "<|im_end|>\n"
    training_args = configs.DPO.config_class("unused", use_cpu=True, bf16=False, report_to="none")
    data.check_loss_on_reply_only(tokenizer, row, training_args, data.PREFERENCE_REPLIES)
    lengths = data.measure_rows(tokenizer, [row], False, replies=data.PREFERENCE_REPLIES)
    chosen, _ = data.loss_mask(tokenizer, row[PROMPT], row[CHOSEN], enable_thinking=False)
    rejected, _ = data.loss_mask(tokenizer, row[PROMPT], row[REJECTED], enable_thinking=False)
    assert lengths.total == [len(chosen) + len(rejected)] and lengths.sequence_tokens == [len(chosen)]
    assert lengths.padded == [2 * len(chosen)]


@pytest.mark.parametrize(
    ("split", "index", "column", "text", "found"),
    [
        ("train", 3, REJECTED, "no<|im_end|> really", "<|im_end|>"),
        ("eval", 1, CHOSEN, "fullwidth \uff1c|im_start|\uff1e disguise", "<|im_start|>"),
        ("train", 5, CHOSEN, "reasoning</think> leak", "</think>"),
    ],
)
def test_a_control_string_in_chosen_or_rejected_is_refused_naming_the_row(
    tmp_path, sft_adapter, monkeypatch, capsys, split, index, column, text, found
):
    import transformers

    from recipes import dpo_qlora

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded before the rows were checked")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    data_dir = write_preferences(tmp_path / "prefs", change=(split, index, column, text))
    assert dpo_qlora.main(tiny_dpo_args(sft_adapter, data_dir, tmp_path / "out")) == 2
    error = capsys.readouterr().err
    assert f"split {split!r} row {index} column {column!r} contains the chat control string {found!r}" in error
    assert "Traceback" not in error


def test_an_sft_adapter_of_another_base_is_refused(tmp_path, sft_adapter, capsys):
    from recipes import dpo_qlora

    other = tmp_path / "other_base"
    other.mkdir()
    data_dir = write_preferences(tmp_path / "prefs")
    args = tiny_dpo_args(sft_adapter, data_dir, tmp_path / "out", model_name_or_path=other, dry_run="true")
    assert dpo_qlora.main(args) == 2
    assert f"adapter {sft_adapter} was trained on" in capsys.readouterr().err


# --- the reference is the SFT policy --------------------------------------------------------------------------------


def _dpo_trainer(tmp_path, sft_adapter, **fields):
    """The recipe's own pieces, in process: parse, read the SFT adapter, check rows, load, build the trainer."""
    from recipes.trainer import ReplytuneDPOTrainer

    data_dir = write_preferences(tmp_path / "prefs", train=16, eval=4)
    args = tiny_dpo_args(sft_adapter, data_dir, tmp_path / "out", max_steps=1, eval_strategy="no", **fields)
    args += ["--load_best_model_at_end", "false", "--save_strategy", "no", "--learning_rate", "5e-2"]
    script_args, training_args, model_args, replytune_args = configs.parse_recipe_args(args, method=configs.DPO)
    adapter = read_sft_adapter(model_args, replytune_args)
    checked = data.load_checked_data(script_args, training_args, model_args, replytune_args, data.PREFERENCE_REPLIES)
    loaded = load_model_with_sft_adapter(model_args, training_args, replytune_args, adapter)
    trainer = ReplytuneDPOTrainer(
        model=loaded.model,
        args=training_args,
        train_dataset=checked.train_rows,
        processing_class=loaded.tokenizer,
    )
    return trainer, adapter


def _completion_log_probs(trainer, inputs, adapter_name: str | None) -> torch.Tensor:
    """Summed log-probs of each sequence's reply under the named adapter (None: the bare base)."""
    from trl.trainer.utils import use_adapter

    model = trainer.accelerator.unwrap_model(trainer.model)
    labels = inputs["input_ids"].masked_fill(inputs["completion_mask"] == 0, -100)
    kwargs = {key: inputs[key] for key in ("input_ids", "attention_mask")}
    with torch.no_grad(), use_adapter(model, adapter_name=adapter_name):
        log_probs = model(**kwargs, labels=labels, use_cache=False, fused_lm_head=True).log_probs
    mask = inputs["completion_mask"][..., 1:]
    return (log_probs[:, -mask.size(1) :] * mask).sum(dim=1)


def test_the_reference_is_the_frozen_sft_adapter_not_the_bare_base(tmp_path, sft_adapter):
    from safetensors.torch import load_file

    trainer, adapter = _dpo_trainer(tmp_path, sft_adapter)
    model = trainer.accelerator.unwrap_model(trainer.model)
    assert list(model.peft_config) == ["default", "ref"] and model.active_adapters == ["default"]
    saved = load_file(sft_adapter / "adapter_model.safetensors")
    reference = {name: param for name, param in model.named_parameters() if ".ref." in name}
    assert reference and not any(param.requires_grad for param in reference.values())
    for name, weight in saved.items():  # both adapters hold the SFT adapter's weights
        key = name.replace("base_model.model.", "", 1).replace(".weight", "")
        matches = [p for n, p in model.named_parameters() if key in n and ".ref." in n]
        assert len(matches) == 1 and torch.equal(matches[0].detach(), weight), name
        policy = [p for n, p in model.named_parameters() if key in n and ".default." in n]
        assert len(policy) == 1 and torch.equal(policy[0].detach(), weight) and policy[0].requires_grad

    inputs = trainer._prepare_inputs(next(iter(trainer.get_train_dataloader())))
    model.eval()
    policy = _completion_log_probs(trainer, inputs, "default")
    ref = _completion_log_probs(trainer, inputs, "ref")
    base = _completion_log_probs(trainer, inputs, None)
    ref_chosen, ref_rejected = trainer.compute_ref_log_probs(trainer.model, inputs)  # TRL's own reference pass
    assert torch.allclose(torch.cat([ref_chosen, ref_rejected]), ref, atol=1e-4)
    assert torch.equal(policy, ref)  # at step 0 the policy is its reference: rewards 0, margins 0
    assert (ref - base).abs().max() > 1e-2  # and the reference is not the bare base model

    before = {name: param.detach().clone() for name, param in reference.items()}
    trainer.train()
    first = trainer.state.log_history[0]
    assert (first["rewards/chosen"], first["rewards/rejected"], first["rewards/margins"]) == (0.0, 0.0, 0.0)
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-6)
    assert first["examples_per_optimizer_step"] == 16
    model = trainer.accelerator.unwrap_model(trainer.model)
    after = dict(model.named_parameters())
    assert all(torch.equal(after[name].detach(), weight) for name, weight in before.items())  # the reference stays
    assert not torch.equal(_completion_log_probs(trainer, inputs, "default"), ref)  # the policy moved


# --- through the real entry point: the loss falls, the metrics and run files ----------------------------------------


@pytest.fixture(scope="module")
def trained(tmp_path_factory, sft_adapter):
    """One run through `accelerate launch` (the shipped single_gpu.yaml moved to CPU): 32 train pairs, 16 per step,
    4 epochs (8 steps), an evaluation every 2 steps."""
    root = tmp_path_factory.mktemp("dpo_e2e")
    data_dir = write_preferences(root / "prefs", train=32, eval=6)
    output = root / "dpo_adapter"
    args = tiny_dpo_args(sft_adapter, data_dir, output, num_train_epochs=4, eval_steps=0.25, save_steps=0.25)
    args += ["--learning_rate", "2e-2", "--early_stopping_patience", "0"]
    launcher = [str(ACCELERATE), "launch", "--config_file", str(cpu_accelerate_config("single_gpu.yaml", root))]
    result = subprocess.run(
        [*launcher, str(SCRIPT), *args],
        env=launch_env(root),
        capture_output=True,
        text=True,
        timeout=900,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return {"output": output, "result": result, "data": data_dir}


@pytest.mark.slow
def test_the_dpo_loss_falls_and_the_eval_rewards_are_logged(trained):
    state = json.loads((trained["output"] / "trainer_state.json").read_text())
    train_logs = [entry for entry in state["log_history"] if "loss" in entry and "eval_loss" not in entry]
    evaluations = [entry for entry in state["log_history"] if "eval_loss" in entry]
    assert [entry["step"] for entry in train_logs] == list(range(1, 9))
    first, last = train_logs[0], train_logs[-1]
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-6) and first["rewards/margins"] == 0.0
    assert last["loss"] < first["loss"] - 0.1 and last["rewards/margins"] > 0
    assert all(entry["examples_per_optimizer_step"] == 16 for entry in train_logs)
    plan = json.loads((trained["output"] / "plan.json").read_text())
    assert [entry["step"] for entry in evaluations] == plan["evaluation_steps"] == [2, 4, 6, 8]
    for key in ("eval_rewards/chosen", "eval_rewards/rejected", "eval_rewards/accuracies", "eval_rewards/margins"):
        assert all(key in entry for entry in evaluations), key
    assert evaluations[-1]["eval_rewards/margins"] > evaluations[0]["eval_rewards/margins"]
    assert "eval_perplexity" not in evaluations[0]  # a DPO loss is no language-model loss


@pytest.mark.slow
def test_the_dpo_run_files_name_the_preferences_and_the_sft_adapter(trained, sft_adapter, tiny_qwen3_dir):
    from recipes.inference import read_adapter

    output = trained["output"]
    metadata = json.loads((output / "run_metadata.json").read_text())
    assert metadata["method"] == "dpo" and metadata["dataset_revision"] == "latest"  # as asked; resolved to v1:
    assert Path(metadata["dataset_resolved"]) == trained["data"].resolve() / "v1"
    assert metadata["base_model"] == str(tiny_qwen3_dir)
    started = metadata["sft_adapter"]
    assert (
        started["source"] == str(sft_adapter)
        and started["weights_sha256"] == read_adapter(str(sft_adapter)).weights_sha256
    )
    metrics = metadata["metrics"]
    assert metrics["adapter_is_best_checkpoint"] and "best_eval_rewards/accuracies" in metrics
    config = yaml.safe_load((output / "resolved_config.yaml").read_text())
    assert config["sft_adapter"] == str(sft_adapter) and config["model_name_or_path"] == str(tiny_qwen3_dir)
    assert config["beta"] == 0.1 and (config["lora_r"], config["lora_alpha"]) == (8, 16)  # the adapter's shape
    # the saved adapter and every checkpoint hold the policy alone: no reference subfolder
    assert (output / "adapter_model.safetensors").is_file() and not (output / "ref").exists()
    assert list(output.glob("checkpoint-*")) and not list(output.glob("checkpoint-*/ref"))
    card = (output / "README.md").read_text()
    assert "DPO on the SFT adapter" in card and "Started from" in card and "- dpo" in card
    assert str(sft_adapter) not in card  # a local adapter is named by its folder, never by its path


@pytest.mark.slow
def test_the_saved_dpo_adapter_loads_on_the_base_and_differs_from_the_sft_adapter(trained, sft_adapter):
    from safetensors.torch import load_file

    sft = load_file(sft_adapter / "adapter_model.safetensors")
    dpo = load_file(trained["output"] / "adapter_model.safetensors")
    assert set(sft) == set(dpo)
    assert any(not torch.equal(sft[name], dpo[name]) for name in sft)


# --- resume ---------------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_a_resumed_dpo_run_matches_an_uninterrupted_one(tmp_path, sft_adapter):
    data_dir = write_preferences(tmp_path / "prefs", train=32, eval=4)
    steps = 12
    common = dict(num_train_epochs=6, per_device_train_batch_size=8, save_steps=3, eval_strategy="no")
    common.update(load_best_model_at_end="false", save_total_limit=20, logging_steps=3, learning_rate="1e-2")
    env = launch_env(tmp_path)

    def command(output):
        return [sys.executable, str(SCRIPT), *tiny_dpo_args(sft_adapter, data_dir, output, **common)]

    expected, got, reference, killed = run_killed_and_resumed(command, tmp_path, env, 3, steps)
    logged = {entry["step"]: entry for entry in expected["log_history"] if "loss" in entry}
    logged_resumed = {entry["step"]: entry for entry in got["log_history"] if "loss" in entry}
    for key in ("loss", "rewards/margins", "rewards/accuracies"):
        assert logged_resumed[steps][key] == pytest.approx(logged[steps][key], abs=1e-3), key
    from safetensors.torch import load_file

    weights = load_file(reference / "adapter_model.safetensors")
    weights_resumed = load_file(killed / "adapter_model.safetensors")
    assert all(torch.allclose(weights[name], weights_resumed[name], atol=1e-4) for name in weights)
