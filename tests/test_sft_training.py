"""The training recipe end to end on CPU with the tiny Qwen3: accelerate launch, the planned batch and evaluations
happening, reload + generate, the adapter card, trackers and secrets, 2-process DDP, resume after SIGKILL, the NaN
stop, the best checkpoint's metrics, and the Hub push as one tagged commit."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import yaml

from recipes import configs, model_utils, run_files
from recipes.generation import GenerationSettings, generate_replies
from tests.sft_helpers import (
    SCRIPT,
    accelerate_launch,
    cpu_accelerate_config,
    final_trainer_state,
    launch_env,
    reply_dataset_dict,
    run_killed_and_resumed,
    tiny_overrides,
    write_versioned_dataset,
)

pytestmark = pytest.mark.slow

FAKE_HF_TOKEN = "hf_FAKEsecretForTheRecipeTest1234"
FAKE_WANDB_KEY = "wandbFAKEsecretForTheRecipeTest5678"
REPLY = "Great point!"
BASE_HUB_ID = "replytune-tests/tiny-qwen3"


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_qwen3_dir):
    """One real run: accelerate launch (the shipped single_gpu.yaml moved to CPU), the demo recipe's 16 examples per
    step over 32 train rows for 20 epochs (40 steps), evaluations at a ratio of the run, three trackers."""
    root = tmp_path_factory.mktemp("sft_e2e")
    write_versioned_dataset(root / "data", "v1", reply=REPLY, train=32)
    output = root / "adapter"
    env = launch_env(root, HF_TOKEN=FAKE_HF_TOKEN, WANDB_API_KEY=FAKE_WANDB_KEY)
    args = tiny_overrides(
        tiny_qwen3_dir,
        root / "data",
        output,
        max_steps=-1,
        num_train_epochs=20,
        eval_steps=0.25,
        save_steps=0.25,
        learning_rate="5e-3",
        report_to="trackio,tensorboard,wandb",
        base_model_hub_id=BASE_HUB_ID,
    )
    result = accelerate_launch(args, env, config_file=cpu_accelerate_config("single_gpu.yaml", root))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-6000:]
    return {"root": root, "output": output, "result": result}


def test_recipe_trains_end_to_end_and_saves_adapter_tokenizer_and_config(trained):
    output = trained["output"]
    for name in ("adapter_config.json", "adapter_model.safetensors", "tokenizer.json", "chat_template.jinja"):
        assert (output / name).is_file(), name
    adapter_config = json.loads((output / "adapter_config.json").read_text())
    assert (adapter_config["r"], adapter_config["lora_alpha"], adapter_config["lora_dropout"]) == (16, 16, 0.1)
    assert sorted(adapter_config["target_modules"]) == sorted(model_utils.QWEN3_LORA_TARGETS)

    metadata = json.loads((output / "run_metadata.json").read_text())
    assert metadata["load_path"] == "cpu" and "unquantized" in metadata["load_description"]
    assert metadata["dataset_revision"] == "latest" and Path(metadata["dataset_resolved"]).name == "v1"
    assert metadata["git_commit"] and metadata["num_processes"] == 1
    config_text = (output / "resolved_config.yaml").read_text()
    assert metadata["config_hash"] == run_files.config_hash(yaml.safe_load(config_text))
    assert f"config_hash {metadata['config_hash']}" in config_text
    # the saved config is the exact run: it parses back into the same values
    assert run_files.resolved_config(
        *configs.parse_recipe_args(["--config", str(output / "resolved_config.yaml")])
    ) == (yaml.safe_load(config_text))

    # the log history beside the adapter (training curves), the whole run's
    history, source = run_files.training_log_history(output)
    assert source == "trainer_state.json" and len([entry for entry in history if "loss" in entry]) == 40
    assert [entry["step"] for entry in history if "eval_loss" in entry] == [10, 20, 30, 40]

    samples = [json.loads(line) for line in (output / "sample_generations.jsonl").read_text().splitlines()]
    assert {sample["step"] for sample in samples} == {10, 20, 30, 40} and samples[-1]["reply"].startswith("Great")


def test_the_planned_batch_and_evaluations_really_happen(trained):
    """From the trainer's own state: 16 examples behind every optimizer step, evaluations and checkpoints at exactly
    the steps plan.json announced before the model loaded."""
    output = trained["output"]
    planned = json.loads((output / "plan.json").read_text())
    assert planned["examples_per_optimizer_step"] == 16 and planned["optimizer_steps"] == 40
    assert planned["evaluation_steps"] == [10, 20, 30, 40] == planned["checkpoint_steps"]
    state = json.loads((output / "checkpoint-40" / "trainer_state.json").read_text())
    train_logs = [entry for entry in state["log_history"] if "loss" in entry]
    eval_logs = [entry for entry in state["log_history"] if "eval_loss" in entry]
    assert len(train_logs) == 40 and all(entry["examples_per_optimizer_step"] == 16 for entry in train_logs)
    per_step_tokens = planned["train_tokens"]["total"] / 2  # two steps per epoch over the same 32 rows
    assert sum(entry["tokens_per_optimizer_step"] for entry in train_logs[:2]) == 2 * per_step_tokens
    assert all(
        0 < entry["loss_tokens_per_optimizer_step"] < 0.5 * entry["tokens_per_optimizer_step"] for entry in train_logs
    )
    assert [entry["step"] for entry in eval_logs] == planned["evaluation_steps"]
    assert all({"eval_perplexity", "eval_train_gap", "eval_overfit_flag"} <= set(entry) for entry in eval_logs)
    assert train_logs[-1]["loss"] < 0.9 * train_logs[0]["loss"]
    # save_total_limit 2 keeps the best and the last of the planned checkpoints
    assert {int(p.name.split("-")[1]) for p in output.glob("checkpoint-*")} <= set(planned["checkpoint_steps"])


def test_the_adapter_folder_has_our_card_the_hub_base_and_qwen3_stop_ids(trained, tiny_qwen3_dir):
    from huggingface_hub import ModelCard
    from transformers import AutoTokenizer, GenerationConfig

    output, root = trained["output"], trained["root"]
    card = ModelCard.load(output / "README.md")
    assert card.data.base_model == BASE_HUB_ID and card.data.library_name == "peft"
    assert "replytune" in card.data.tags and "fine-tuned version of" not in card.text
    assert "local dataset version v1" in card.text and "| examples per optimizer step | 16 |" in card.text
    assert str(root) not in card.content and str(tiny_qwen3_dir) not in card.content and "/tmp" not in card.content
    adapter_config = json.loads((output / "adapter_config.json").read_text())
    assert adapter_config["base_model_name_or_path"] == BASE_HUB_ID  # not this machine's path to the weights
    tokenizer = AutoTokenizer.from_pretrained(output)
    stop_ids = GenerationConfig.from_pretrained(output).eos_token_id
    assert stop_ids == tokenizer.convert_tokens_to_ids(["<|im_end|>", "<|endoftext|>"])  # Qwen3-8B's [151645, 151643]


def test_saved_adapter_reloads_with_peft_and_its_reply_stops_at_im_end(trained, tiny_qwen3_dir):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    output = trained["output"]
    tokenizer = AutoTokenizer.from_pretrained(output)
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny_qwen3_dir), output).eval()
    prompts = [row["prompt"] for row in reply_dataset_dict()["test"]]
    replies = generate_replies(
        model, tokenizer, prompts, GenerationSettings(max_new_tokens=20, do_sample=False, batch_size=4)
    )
    assert all(reply.text == REPLY and reply.stopped and reply.completion_tokens < 20 for reply in replies)
    assert replies == generate_replies(
        model, tokenizer, prompts, GenerationSettings(max_new_tokens=20, do_sample=False, batch_size=1)
    )


def test_no_secret_reaches_saved_configs_logs_or_tracker_configs(trained):
    root, output = trained["root"], trained["output"]
    searched = 0
    for folder in (output, root / "trackio", root / "wandb"):
        assert folder.is_dir(), folder
        for path in folder.rglob("*"):
            if path.is_file():
                searched += 1
                content = path.read_bytes()
                assert FAKE_HF_TOKEN.encode() not in content and FAKE_WANDB_KEY.encode() not in content, path
    assert searched > 10
    logs = trained["result"].stdout + trained["result"].stderr
    assert FAKE_HF_TOKEN not in logs and FAKE_WANDB_KEY not in logs
    # the provenance did reach every tracker: trackio's run config, wandb's config, a tensorboard text
    import sqlite3

    with sqlite3.connect(root / "trackio" / "replytune-demo.db") as db:
        configs = [json.loads(row[0]) for row in db.execute("select config from configs")]
    assert any(config.get("replytune/dataset_resolved", "").endswith("v1") for config in configs)
    assert any(b"replytune/config_hash" in p.read_bytes() for p in (root / "wandb").rglob("*.wandb"))
    assert any(b"replytune/metadata" in p.read_bytes() for p in (output / "runs").rglob("events.out.tfevents*"))


def test_two_process_ddp_really_runs_on_cpu(tmp_path, tiny_qwen3_dir):
    write_versioned_dataset(tmp_path / "data", "v1")
    output = tmp_path / "ddp"
    args = tiny_overrides(tiny_qwen3_dir, tmp_path / "data", output, max_steps=3, eval_steps=3, save_steps=3)
    config = cpu_accelerate_config("multi_gpu.yaml", tmp_path)  # MULTI_GPU + use_cpu: two gloo processes
    result = accelerate_launch(args, launch_env(tmp_path), config_file=config)
    assert result.returncode == 0, result.stderr[-6000:]
    metadata = json.loads((output / "run_metadata.json").read_text())
    assert (metadata["num_processes"], metadata["distributed_type"]) == (2, "MULTI_CPU")
    state = json.loads((output / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    # 4 examples x 4 micro-batches x 2 processes = 32 per step nominally; 24 train rows make each epoch one step of
    # 3 micro-batches per process: 24 examples, which the plan says and both processes' counts add up to
    planned = json.loads((output / "plan.json").read_text())
    assert planned["num_processes"] == 2 and planned["examples_per_optimizer_step"] == 32
    assert planned["examples_in_last_step_of_each_epoch"] == 24 and planned["optimizer_steps_per_epoch"] == 1
    logged = [entry["examples_per_optimizer_step"] for entry in state["log_history"] if "loss" in entry]
    assert logged == [24, 24, 24]


def test_resume_after_sigkill_reaches_the_same_step_and_loss(tmp_path, tiny_qwen3_dir):
    write_versioned_dataset(tmp_path / "data", "v1")
    steps = 20
    common = dict(max_steps=steps, save_steps=5, eval_strategy="no", load_best_model_at_end="false")
    common.update(save_total_limit=20, logging_steps=5, learning_rate="1e-3")
    env = launch_env(tmp_path)

    def command(output):
        return [sys.executable, str(SCRIPT), *tiny_overrides(tiny_qwen3_dir, tmp_path / "data", output, **common)]

    expected, got, reference, killed = run_killed_and_resumed(command, tmp_path, env, 5, steps)
    loss = {entry["step"]: entry["loss"] for entry in expected["log_history"] if "loss" in entry}
    loss_resumed = {entry["step"]: entry["loss"] for entry in got["log_history"] if "loss" in entry}
    assert loss_resumed[steps] == pytest.approx(loss[steps], abs=1e-3)


def test_a_nan_loss_stops_the_run_without_saving_an_adapter(tmp_path, tiny_qwen3_dir, caplog):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from recipes import sft_qlora

    broken = tmp_path / "nan-model"
    model = AutoModelForCausalLM.from_pretrained(tiny_qwen3_dir)
    with torch.no_grad():
        model.model.layers[0].mlp.down_proj.weight[0, 0] = float("nan")
    model.save_pretrained(broken)
    AutoTokenizer.from_pretrained(tiny_qwen3_dir).save_pretrained(broken)
    write_versioned_dataset(tmp_path / "data", "v1")
    output = tmp_path / "out"
    with caplog.at_level("ERROR", logger="replytune.sft"):
        code = sft_qlora.main(tiny_overrides(broken, tmp_path / "data", output, max_steps=4, logging_steps=1))
    assert code == 3
    assert "loss is nan at step 1" in caplog.text and "no adapter was saved" in caplog.text
    assert not (output / "adapter_model.safetensors").exists()


def test_run_metadata_reports_the_restored_best_checkpoint_not_the_last_evaluation(tmp_path, tiny_qwen3_dir):
    """Train on one reply, evaluate on others: eval loss turns up, early stopping ends the run after the best
    checkpoint, load_best_model_at_end restores it, and the metrics (and the card) must be that checkpoint's."""
    from datasets import DatasetDict
    from huggingface_hub import ModelCard

    from recipes import sft_qlora

    dataset = DatasetDict(
        train=reply_dataset_dict(train=32, reply=REPLY)["train"], eval=reply_dataset_dict(train=1, eval=8)["eval"]
    )
    write_versioned_dataset(tmp_path / "data", "v1", dataset=dataset)
    output = tmp_path / "out"
    args = tiny_overrides(tiny_qwen3_dir, tmp_path / "data", output, max_steps=20, eval_steps=2, save_steps=2)
    args += ["--learning_rate", "5e-2", "--early_stopping_patience", "2", "--early_stopping_threshold", "0"]
    args += ["--sample_max_new_tokens", "2", "--base_model_hub_id", BASE_HUB_ID]
    assert sft_qlora.main(args) == 0
    metadata = json.loads((output / "run_metadata.json").read_text())
    metrics = metadata["metrics"]
    evaluations = {
        entry["step"]: entry["eval_loss"]
        for entry in final_trainer_state(output, metrics["trained_steps"])["log_history"]
        if "eval_loss" in entry
    }
    best_step = min(evaluations, key=evaluations.get)
    assert best_step < max(evaluations), f"the run did not overfit, so the test proves nothing: {evaluations}"
    assert metrics["adapter_is_best_checkpoint"] and metrics["adapter_step"] == best_step
    assert metrics["evaluated_at_step"] == best_step and metrics["eval_loss"] == evaluations[best_step]
    assert metrics["last_eval_loss"] == evaluations[max(evaluations)] != metrics["eval_loss"]
    assert f"best, step {best_step} of 20" in ModelCard.load(output / "README.md").text


def test_dataset_from_the_hub_at_a_tag_and_adapter_pushed_under_a_tag(hub_endpoint, tmp_path, tiny_qwen3_dir):
    from huggingface_hub import HfApi, hf_hub_download
    from peft import PeftModel
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    from recipes import sft_qlora
    from standins.hub import TOKEN, USER

    api = HfApi()
    dataset_repo, model_repo = f"{USER}/reply-pairs", f"{USER}/tiny-reply-lora"
    reply_dataset_dict(train=12, eval=4, test=2).push_to_hub(dataset_repo, private=True)
    api.create_tag(dataset_repo, tag="v1", repo_type="dataset")
    dataset_sha = api.dataset_info(dataset_repo, revision="v1").sha
    output = tmp_path / "out"
    args = tiny_overrides(tiny_qwen3_dir, dataset_repo, output, max_steps=2, eval_steps=2, save_steps=2)
    args += ["--dataset_revision", "v1", "--push_to_hub", "true", "--hub_model_id", model_repo]
    args += ["--hub_strategy", "end", "--hub_tag", "v1", "--hub_private_repo", "true"]
    args += ["--save_strategy", "no", "--load_best_model_at_end", "false", "--base_model_hub_id", BASE_HUB_ID]
    assert sft_qlora.main(args) == 0

    # ONE commit holds everything, and it is the tagged one (no Trainer "Model save" commit before it)
    commits = hub_endpoint.commits(model_repo)
    assert [commit.title for commit in commits[1:]] == ["initial commit"]
    assert hub_endpoint.tags(model_repo)["v1"] == commits[0].oid
    pushed = set(hub_endpoint.repo_files(model_repo, revision="v1"))
    expected = {"adapter_model.safetensors", "adapter_config.json", "README.md", "resolved_config.yaml"}
    expected |= {"run_metadata.json", "plan.json", "generation_config.json", "tokenizer.json", "chat_template.jinja"}
    expected |= {"trainer_state.json"}
    assert expected <= pushed and not any(name.startswith(("checkpoint-", "runs/")) for name in pushed)
    assert "sample_generations.jsonl" not in pushed  # it quotes tweets of a private dataset
    for name, data in hub_endpoint.repo_files(model_repo, revision="v1").items():  # run files are path-free
        assert str(tmp_path).encode() not in data and str(tiny_qwen3_dir).encode() not in data, name
    card = Path(hf_hub_download(model_repo, "README.md", revision="v1")).read_text()
    assert f"base_model: {BASE_HUB_ID}" in card and f"- {dataset_repo}" in card
    assert f"({'https://huggingface.co/datasets/' + dataset_repo})@v1 (commit `{dataset_sha[:12]}`)" in card
    assert f'PeftModel.from_pretrained(base, "{model_repo}", revision="v1")' in card
    assert str(tmp_path) not in card and str(tiny_qwen3_dir) not in card
    pushed_adapter_config = json.loads(
        Path(hf_hub_download(model_repo, "adapter_config.json", revision="v1")).read_text()
    )
    assert pushed_adapter_config["base_model_name_or_path"] == BASE_HUB_ID

    # a second run with the same tag is refused before training: a tag would not move to its commit
    assert (
        sft_qlora.main(args[:-2] + ["--base_model_hub_id", BASE_HUB_ID, "--output_dir", str(tmp_path / "again")]) == 2
    )
    assert (
        len(hub_endpoint.commits(model_repo)) == 2 and not (tmp_path / "again" / "adapter_model.safetensors").exists()
    )

    assert "v1" in {ref.name for ref in api.list_repo_refs(model_repo).tags}
    metadata = json.loads(Path(hf_hub_download(model_repo, "run_metadata.json", revision="v1")).read_text())
    assert (metadata["dataset"], metadata["dataset_revision"]) == (dataset_repo, "v1")
    assert metadata["dataset_resolved"] == dataset_sha and metadata["dataset_kind"] == "hub"
    pushed_config = Path(hf_hub_download(model_repo, "resolved_config.yaml", revision="v1")).read_text()
    assert TOKEN not in pushed_config and "push_to_hub: true" in pushed_config
    reloaded = PeftModel.from_pretrained(
        AutoModelForCausalLM.from_pretrained(tiny_qwen3_dir), model_repo, revision="v1"
    )
    local = load_file(output / "adapter_model.safetensors")
    pushed = {name: tensor for name, tensor in reloaded.state_dict().items() if "lora_" in name}
    assert len(pushed) == len(local) == 2 * 7 * 2  # A and B for seven projections in two layers
