"""The training plan and the dry run: examples per optimizer step, steps, warmup and the evaluation list worked out
before any model loads, the default recipe without --config, and --help. tests/test_sft_training.py checks that a
real run evaluates at exactly the planned steps."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from recipes import configs, plan
from recipes.data import RowLengths
from standins.realdata import REAL_QWEN3_8B_DIR, REAL_QWEN3_TOKENIZER_DIR
from tests.paths import REPO_ROOT
from tests.sft_helpers import DEMO_RECIPE, QWEN3_RECIPE, SCRIPT, reply_dataset_dict, write_versioned_dataset


def _args(recipe: Path, *overrides: str):
    return configs.parse_recipe_args(["--config", str(recipe), "--use_cpu", "true", *overrides])


def _plan(recipe: Path, train: int, eval: int = 0, *overrides: str, processes: int = 1, model_config=None):
    _, training_args, model_args, replytune_args = _args(recipe, *overrides)
    lengths = RowLengths([76] * train, [20] * train)  # RumourEval pairs average 76 Qwen3 tokens
    eval_lengths = RowLengths([76] * eval, [20] * eval) if eval else None
    return plan.plan_training(
        training_args, model_args, replytune_args, lengths, eval_lengths, processes, model_config
    )


def test_steps_per_epoch_follow_trainer_and_accelerate_batching():
    assert plan.steps_of_each_epoch(72, 4, 4, 1) == [16, 16, 16, 16, 8]  # the demo build
    assert plan.steps_of_each_epoch(64, 4, 4, 1) == [16] * 4
    assert plan.steps_of_each_epoch(64, 4, 2, 2) == [16] * 4  # DDP: 2 processes x 4 x 2
    assert plan.steps_of_each_epoch(10, 4, 4, 1) == [10]


@pytest.mark.parametrize("pairs", [800, 1000, 1200])
def test_the_qwen3_recipe_evaluates_often_enough_on_a_seed_sized_dataset(pairs):
    """The original spec's 16 examples per step; the guards need >= 8 evaluations on 800-1,200 pairs, and as many
    checkpoints."""
    train, evaluation = int(pairs * 0.8), int(pairs * 0.1)  # data_prep's default 80/10/10 split
    planned = _plan(QWEN3_RECIPE, train, evaluation)
    assert planned["examples_per_optimizer_step"] == 16
    assert planned["optimizer_steps"] == 2 * -(-train // 16)  # two epochs of ceil(train / 16) steps
    assert len(planned["evaluation_steps"]) >= 8
    assert planned["evaluation_steps"][-1] == planned["optimizer_steps"]
    assert planned["checkpoint_steps"] == planned["evaluation_steps"]  # load_best_model_at_end can pick any of them
    assert len(planned["evaluation_steps"]) >= planned["early_stopping_patience"] + 1
    assert planned["warmup_steps"] >= 2 and planned["warnings"] == []


def test_a_cadence_that_makes_early_stopping_impossible_is_warned_about():
    planned = _plan(QWEN3_RECIPE, 624, 78, "--eval_steps", "50", "--save_steps", "50")
    assert planned["evaluation_steps"] == [50, 78]
    assert any(warning.startswith("EARLY STOPPING CANNOT ACT: 2 evaluation(s)") for warning in planned["warnings"])
    planned = _plan(QWEN3_RECIPE, 624, 78, "--logging_steps", "20")
    assert any("logging_steps 20 >" in warning for warning in planned["warnings"])


def test_packing_would_hide_the_batch_meaning_and_the_plan_says_so():
    planned = _plan(
        QWEN3_RECIPE, 624, 78, "--packing", "true", "--max_length", "512", "--padding_free", "false",
        "--per_device_train_batch_size", "4", "--gradient_accumulation_steps", "4",
    )  # fmt: skip
    assert "packing_note" in planned
    # 76-token examples: 6 whole ones fill a 512-token row (456 tokens), so 624 examples make 104 rows; a step
    # takes 4 x 4 rows, i.e. 96 examples, and an epoch ceil(104 / 16) = 7 steps.
    assert planned["packed_rows"] == 104 and planned["examples_per_packed_row"] == 6.0
    assert planned["examples_per_optimizer_step"] == 96 and planned["optimizer_steps_per_epoch"] == 7
    assert planned["max_tokens_per_micro_batch"] == 4 * 456


def test_the_throughput_recipe_states_its_examples_per_step():
    planned = _plan(QWEN3_RECIPE.with_name("config_qlora_throughput.yaml"), 8000, 1000)
    assert planned["packing"] and planned["packed_rows"] == 8000 // 13 + 1  # 13 x 76 = 988 tokens per 1,024 row
    assert planned["examples_per_optimizer_step"] == round(8 * 8000 / planned["packed_rows"])
    assert len(planned["evaluation_steps"]) >= 8 and planned["warnings"] == []


def _qwen3_8b_config() -> dict:
    if REAL_QWEN3_8B_DIR.is_dir():
        return json.loads((REAL_QWEN3_8B_DIR / "config.json").read_text())
    return dict(plan.QWEN3_8B_SHAPE)


def test_the_gpu_estimate_comes_from_the_measured_run_nearest_to_the_plans_shape(tmp_path):
    qwen3_8b = _qwen3_8b_config()
    planned = _plan(QWEN3_RECIPE, 800, 100, "--use_unsloth", "false", model_config=qwen3_8b)
    estimate = planned["estimate"]
    assert estimate["available"] and set(estimate) == {"available", "bnb-4bit"}
    measured = plan.nearest_measurement("bnb-4bit", planned["gradient_checkpointing"], 16)
    bnb = estimate["bnb-4bit"]
    assert (
        bnb["gpu"] == measured.gpu and measured.gpu in bnb["basis"] and "other GPUs are not measured" in bnb["basis"]
    )
    assert measured.examples_per_micro_batch == 16 and not measured.gradient_checkpointing
    # 1,600 examples x 76 tokens at the measured tokens/s of that shape
    assert bnb["steps_minutes"] == pytest.approx(1600 * 76 / measured.tokens_per_second / 60, abs=0.05)
    assert bnb["peak_memory_gb"] == pytest.approx(plan.peak_memory_gb(measured, 16 * 76), abs=0.05)
    other = {**qwen3_8b, "hidden_size": 2048}
    assert _plan(QWEN3_RECIPE, 800, 100, model_config=other)["estimate"]["available"] is False
    assert _plan(DEMO_RECIPE, 800, 100)["estimate"] == {"available": False, "why": "a CPU recipe: no GPU estimate"}


def test_the_plan_picks_the_largest_micro_batch_and_checkpointing_only_where_memory_needs_it():
    qwen3_8b = _qwen3_8b_config()

    def shape(*overrides, processes=1, model_config=qwen3_8b):
        planned = _plan(QWEN3_RECIPE, 800, 100, "--use_unsloth", "false", *overrides, processes=processes,
                        model_config=model_config)  # fmt: skip
        assert planned["examples_per_optimizer_step"] == 16  # whatever the shape, the seed's batch
        return (
            planned["examples_per_micro_batch"],
            planned["micro_batches_per_optimizer_step"],
            planned["gradient_checkpointing"],
        )

    without = plan.nearest_measurement("bnb-4bit", False, 16)
    needed_without = plan.peak_memory_gb(without, 16 * 76) / plan.MEMORY_HEADROOM
    assert shape() == (16, 1, False)  # no GPU here: planned for an A6000's 48 GB
    assert shape("--gpu_memory_gb", str(needed_without + 1)) == (16, 1, False)
    assert shape("--gpu_memory_gb", str(needed_without - 1)) == (16, 1, True)  # checkpointing, not smaller batches
    assert shape("--gpu_memory_gb", str(needed_without - 1), "--gradient_checkpointing", "false")[2] is False
    # an explicit batch field wins, the other follows; the plan still decides checkpointing
    assert shape("--per_device_train_batch_size", "4") == (4, 4, False)
    assert shape("--gradient_accumulation_steps", "2") == (8, 2, False)
    # Unsloth, where not measured, is planned with bitsandbytes' memory (its kernels use less)
    assert (
        _plan(QWEN3_RECIPE, 800, 100, "--use_unsloth", "true", model_config=qwen3_8b)["examples_per_micro_batch"] == 16
    )
    # no measurement for another model: every example in one micro-batch, checkpointing on to be safe
    assert shape(model_config={**qwen3_8b, "hidden_size": 2048}) == (16, 1, True)
    both = _plan(QWEN3_RECIPE, 800, 100, "--per_device_train_batch_size", "2", "--gradient_accumulation_steps", "2")
    assert both["examples_per_optimizer_step"] == 4  # both fields given: they win over examples_per_optimizer_step


def test_processes_share_the_examples_of_a_step():
    _, training_args, _, replytune_args = _args(QWEN3_RECIPE)
    configs.apply_examples_per_step(training_args, replytune_args, set(), processes=2)
    assert (training_args.per_device_train_batch_size, training_args.gradient_accumulation_steps) == (8, 1)
    training_args.per_device_train_batch_size = 2  # as if given: 4 processes x 2 examples x 2 micro-batches
    configs.apply_examples_per_step(training_args, replytune_args, {"per_device_train_batch_size"}, processes=4)
    assert training_args.gradient_accumulation_steps == 2
    with pytest.raises(configs.RecipeConfigError, match="examples_per_optimizer_step"):
        configs.apply_examples_per_step(training_args, replytune_args, set(), processes=3)


def test_examples_per_step_that_do_not_divide_are_refused_naming_the_field():
    with pytest.raises(configs.RecipeConfigError, match="per_device_train_batch_size 3"):
        _args(QWEN3_RECIPE, "--per_device_train_batch_size", "3")
    with pytest.raises(configs.RecipeConfigError, match="gradient_accumulation_steps 5"):
        _args(QWEN3_RECIPE, "--gradient_accumulation_steps", "5")


# --- the dry run and the default recipe, through the script ----------------------------------------------------


@pytest.fixture
def no_model_loads(monkeypatch):
    """Any model load fails the test: the dry run must stop before one."""
    import transformers

    from recipes import model_utils

    def refuse(*args, **kwargs):
        raise AssertionError("a model was loaded")

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", refuse)
    monkeypatch.setattr(model_utils, "load_model_and_tokenizer", refuse)


def test_a_dry_run_prints_and_writes_the_plan_without_loading_a_model(
    tmp_path, tiny_qwen3_dir, no_model_loads, capsys
):
    from recipes import sft_qlora

    write_versioned_dataset(tmp_path / "data", "v1", train=40, eval=8, test=2)
    output = tmp_path / "out"
    args = ["--config", str(DEMO_RECIPE), "--model_name_or_path", str(tiny_qwen3_dir), "--gguf_file", "null"]
    args += ["--dataset_name", str(tmp_path / "data"), "--output_dir", str(output), "--dry_run", "true"]
    assert sft_qlora.main(args) == 0
    planned = json.loads((output / "plan.json").read_text())
    assert (planned["train_examples"], planned["eval_examples"]) == (40, 8)
    # 40 examples at 16 per step: 3 steps per epoch, 2 epochs; an evaluation every ceil(0.2 * 6) = 2 steps
    assert planned["examples_per_optimizer_step"] == 16 and planned["optimizer_steps"] == 6
    assert planned["train_tokens"]["max_per_example"] >= planned["train_tokens"]["mean_per_example"] > 0
    assert planned["evaluation_steps"] == [2, 4, 6] and planned["warmup_steps"] == 2
    printed = capsys.readouterr().out
    assert "16 examples per optimizer step" in printed and "evaluations:  3 at steps [2, 4, 6]" in printed
    assert not (output / "adapter_model.safetensors").exists()


def test_without_config_the_default_recipe_runs_and_stops_early_without_a_gpu(
    tmp_path, tiny_qwen3_dir, no_model_loads, capsys, caplog
):
    from recipes import sft_qlora

    write_versioned_dataset(tmp_path / "data", "v1", train=40, eval=8, test=2)
    common = ["--dataset_name", str(tmp_path / "data"), "--output_dir", str(tmp_path / "out")]
    with caplog.at_level("WARNING", logger="replytune.sft"):
        code = sft_qlora.main([*common, "--model_name_or_path", str(tiny_qwen3_dir)])
    assert code == 2
    assert "running the default recipe recipes/qwen3-8b/sft/config_qlora.yaml" in caplog.text
    error = capsys.readouterr().err
    assert "no CUDA GPU here" in error and "--dry_run true" in error and "smollm2-135m/sft/config_demo.yaml" in error
    assert "Traceback" not in error
    # the same line with --dry_run true plans the default recipe
    assert sft_qlora.main([*common, "--model_name_or_path", str(tiny_qwen3_dir), "--dry_run", "true"]) == 0
    planned = json.loads((tmp_path / "out" / "plan.json").read_text())
    assert planned["examples_per_optimizer_step"] == 16 and planned["load_path_on_gpu"] == ["unsloth", "bnb-4bit"]
    # and with the default model, unreachable offline: a message naming the field, no traceback
    assert sft_qlora.main([*common, "--dry_run", "true"]) == 2
    error = capsys.readouterr().err
    assert "recipe error: model_name_or_path 'Qwen/Qwen3-8B': not in the local Hugging Face cache" in error


def test_help_lists_replytune_options_first_and_the_inherited_ones_after(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=300, cwd=REPO_ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    text = result.stdout
    assert text.startswith("usage: accelerate launch --quiet recipes/sft_qlora.py [--config RECIPE.yaml]")
    assert "  --verbose" in text
    assert "examples:" in text and "--dry_run true" in text
    own, inherited = text.index("replytune options:"), text.index("inherited from TRL")
    assert own < text.index("  --config RECIPE.yaml") < text.index("  --dry_run") < inherited
    assert inherited < text.index("  --learning_rate") and inherited < text.index("  --lora_r")


# --- a real dataset of the original spec's size, with the real Qwen3 tokenizer ---------------------------------------

RUMOUREVAL_BUILD = """
# RumourEval 2017 replies with the filters off: a real dataset of the original spec's size for the plan
pairs: {direct_replies_only: false}
root_filters: {min_likes: null, max_likes: null, min_retweets: null, max_retweets: null, languages: []}
reply_filters: {min_likes: null, max_likes: null, min_follower_count: null, max_follower_count: null,
  min_time_delay: null, max_time_delay: null, allow_media: true, allow_urls: true, min_length: 1,
  max_replies_per_author: null}
validation: {min_language_confidence: 0.0, toxicity_scorer: profanity_check, max_toxicity: 1.0, spam_keywords: [],
  min_unique_words: 0, generic_phrases: []}
cleaning: {semantic_dedup: false}
split: {check_leakage: false}
"""


def real_qwen3_8b_folder(directory: Path) -> Path:
    """Qwen3-8B without its weights: the real tokenizer, chat template, config.json and generation config."""
    if not (REAL_QWEN3_TOKENIZER_DIR.is_dir() and REAL_QWEN3_8B_DIR.is_dir()):
        pytest.skip(f"the real Qwen3 tokenizer/config are not under {REAL_QWEN3_TOKENIZER_DIR.parent}")
    directory.mkdir(parents=True, exist_ok=True)
    for source in (REAL_QWEN3_TOKENIZER_DIR, REAL_QWEN3_8B_DIR):
        for path in source.iterdir():
            shutil.copy(path, directory / path.name)
    return directory


@pytest.mark.slow
def test_a_dry_run_on_seed_sized_real_data_plans_the_seed_batch_and_cadence(
    tmp_path, realdata, no_model_loads, capsys
):
    from recipes import sft_qlora

    rumoureval = realdata / "tweets" / "rumoureval2017_autoreleasefool"
    config = tmp_path / "rumoureval.yaml"
    config.write_text(RUMOUREVAL_BUILD)
    built = subprocess.run(
        [
            sys.executable,
            "-m",
            "data_prep",
            "build",
            "--config",
            str(config),
            "--input",
            str(rumoureval),
            "--output",
            str(tmp_path / "data"),
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
    )
    assert built.returncode == 0, built.stderr[-3000:]
    model = real_qwen3_8b_folder(tmp_path / "qwen3-8b")
    output = tmp_path / "plan"
    args = ["--config", str(QWEN3_RECIPE), "--model_name_or_path", str(model), "--base_model_hub_id", "Qwen/Qwen3-8B"]
    args += ["--dataset_name", str(tmp_path / "data"), "--output_dir", str(output), "--dry_run", "true"]
    assert sft_qlora.main(args) == 0
    planned = json.loads((output / "plan.json").read_text())
    assert 700 <= planned["train_examples"] <= 1000  # a build of the original spec's size (RumourEval: 947 pairs)
    assert 50 < planned["train_tokens"]["mean_per_example"] < 120 and planned["train_tokens"]["max_per_example"] < 300
    assert planned["examples_per_optimizer_step"] == 16
    assert len(planned["evaluation_steps"]) >= 8 and planned["warnings"] == []
    assert planned["estimate"]["available"] and planned["batch_shape"]["chosen_by"] == "plan"
    assert (planned["examples_per_micro_batch"], planned["gradient_checkpointing"]) == (16, False)  # fits 48 GB
    assert "16 examples per optimizer step" in capsys.readouterr().out


def test_the_dry_run_refuses_a_gpu_recipe_that_pushes_without_a_base_model_hub_id(tiny_qwen3_dir):
    with pytest.raises(configs.RecipeConfigError, match="set base_model_hub_id"):
        _args(QWEN3_RECIPE, "--model_name_or_path", str(tiny_qwen3_dir), "--push_to_hub", "true")


def test_a_dataset_without_the_eval_split_names_both_flags(tmp_path, tiny_qwen3_dir, no_model_loads, capsys):
    from datasets import DatasetDict

    from recipes import sft_qlora

    only_train = DatasetDict(train=reply_dataset_dict(train=20)["train"])
    write_versioned_dataset(tmp_path / "data", "v1", dataset=only_train)
    args = ["--config", str(DEMO_RECIPE), "--model_name_or_path", str(tiny_qwen3_dir), "--gguf_file", "null"]
    args += ["--dataset_name", str(tmp_path / "data"), "--output_dir", str(tmp_path / "out")]
    assert sft_qlora.main(args) == 2
    error = capsys.readouterr().err
    assert "no split 'eval' to evaluate on; it has ['train']" in error
    assert "--dataset_test_split" in error and "--eval_strategy no" in error
