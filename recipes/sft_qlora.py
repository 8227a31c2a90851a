"""Supervised fine-tuning of a QLoRA reply adapter, in the shape of alignment-handbook's scripts/sft.py.

    accelerate launch --quiet --config_file accelerate_configs/single_gpu.yaml recipes/sft_qlora.py \
        --config recipes/qwen3-8b/sft/config_qlora.yaml [--field value ...]
    python recipes/sft_qlora.py --config recipes/qwen3-8b/sft/config_qlora.yaml --dry_run true   # no GPU needed

A recipe YAML sets the fields of TRL's ScriptArguments, SFTConfig and ModelConfig and of replytune's own
ReplytuneArguments (recipes/configs.py); command-line flags override it; `--help` lists them. A bad field, a bad row
or a missing eval split stops the run before any model loads, naming it.
"""

import os
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()  # the run's "load" stage: imports, row checks, the model load, up to the first step

# OpenMP threads that spin while waiting for each other burn the CPU when its cores are shared with other work: the
# CPU demo under load spent ~45-65% of its samples in libgomp's spin loop (py-spy), 260 s per optimizer step. Waiting
# passively costs little on free cores. Set before torch loads OpenMP; an explicit OMP_WAIT_POLICY wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# `accelerate launch recipes/sft_qlora.py` puts only recipes/ on the path: add the checkout (recipes.REPO_ROOT, which
# cannot be imported before this) so that `recipes` and `replytune` import.
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def import_unsloth_first(argv: list[str]) -> None:
    """Unsloth patches transformers/trl/peft when imported, so it must come first: only when the recipe asks for
    it, on a GPU, in a launch it can run in (one unsharded process). The loader says why when it is not used."""
    from recipes import DEFAULT_RECIPE, split_config_flag
    from recipes.model_utils import unsloth_blocker
    from replytune.yaml_config import ConfigError, read_yaml  # yaml only: no transformers before Unsloth

    argv = split_config_flag(argv)
    config = argv[argv.index("--config") + 1] if "--config" in argv[:-1] else DEFAULT_RECIPE
    try:
        value = read_yaml(config).get("use_unsloth")
    except ConfigError:
        value = None  # parse_recipe_args reports a missing or broken recipe file
    for index, arg in enumerate(argv):
        if arg == "--use_unsloth" and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith("--use_unsloth="):
            value = arg.split("=", 1)[1]
    if str(value).lower() not in ("true", "auto") or unsloth_blocker() is not None:
        return
    import torch

    if torch.cuda.is_available():
        try:
            import unsloth  # noqa: F401
        except Exception:  # noqa: BLE001 - the loader reports the reason
            pass


def main(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv:
        from recipes.configs import recipe_help

        print(recipe_help())
        return 0
    from recipes import start_console

    argv = start_console(argv)
    import_unsloth_first(argv)
    from recipes import callbacks, configs, data, model_utils, plan, run_files
    from recipes.trainer import ReplytuneSFTTrainer
    from replytune.errors import Refused

    try:
        script_args, training_args, model_args, replytune_args = configs.parse_recipe_args(argv)
        configs.configure_logging(training_args)

        # Data: the data_prep DatasetDict and the tokenizer; every row checked before any model loads
        checked = data.load_checked_data(script_args, training_args, model_args, replytune_args)
        training_plan = plan.plan_run(training_args, model_args, replytune_args, script_args, checked)
        plan.report_plan(training_plan, training_args.output_dir, replytune_args.dry_run)
        if replytune_args.dry_run:
            return 0
        base_model = configs.base_model_hub_id(model_args, replytune_args)
        push = run_files.push_target(training_args, replytune_args)  # checked now, pushed as one commit at the end

        # Model: Unsloth | transformers + bitsandbytes 4-bit | CPU LoRA
        loaded = model_utils.load_model_and_tokenizer(model_args, training_args, replytune_args)
    except (Refused, model_utils.ModelLoadError) as error:  # names the field, row or push target: no traceback
        print(f"recipe error: {error}", file=sys.stderr)
        return 2
    configs.logger.info("model: %s", loaded.description)

    config = run_files.resolved_config(script_args, training_args, model_args, replytune_args)
    config["push_to_hub"] = push is not None
    metadata = run_files.run_metadata(config, checked.source, model_args, base_model, loaded)
    sample_prompts = callbacks.pick_sample_prompts(replytune_args, checked.eval_split)
    trainer = ReplytuneSFTTrainer(
        model=loaded.model,
        args=training_args,
        train_dataset=checked.train_rows,
        eval_dataset=checked.eval_rows,
        processing_class=loaded.tokenizer,
        peft_config=loaded.peft_config,
        callbacks=callbacks.build_callbacks(training_args, replytune_args, loaded.tokenizer, sample_prompts, metadata),
    )
    return run_files.train_and_save(
        trainer, loaded.tokenizer, training_args, base_model, config, training_plan, metadata, push, "SFT", STARTED
    )


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main(sys.argv[1:]))
