"""DPO on the SFT adapter, in the shape of alignment-handbook's scripts/dpo.py (and of recipes/sft_qlora.py).

    accelerate launch --quiet --config_file accelerate_configs/single_gpu.yaml recipes/dpo_qlora.py \
        --config recipes/qwen3-8b/dpo/config_qlora.yaml [--field value ...]
    python recipes/dpo_qlora.py --config recipes/qwen3-8b/dpo/config_qlora.yaml --dry_run true   # no GPU needed

The policy is the SFT adapter (`sft_adapter`: a folder or a Hub repo[@revision]) trained further with TRL's
DPOTrainer on a `data_prep preferences` dataset (prompt, chosen, rejected); the reference is a frozen copy of the same
adapter, so the rewards measure the move away from the SFT policy, not from the bare base. The base model comes from
the adapter's run files unless the recipe names one. Fields, checks, plan, callbacks, run files, card and push are
the SFT recipe's (recipes/configs.py and its siblings): a bad field, a bad row or a missing eval split stops the run
before any model loads, naming it.
"""

import os
import sys
import time
from pathlib import Path

STARTED = time.perf_counter()  # the run's "load" stage: imports, row checks, the model load, up to the first step

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # see recipes/sft_qlora.py: shared CPU cores
# `accelerate launch recipes/dpo_qlora.py` puts only recipes/ on the path: add the checkout
if str(Path(__file__).resolve().parents[1]) not in sys.path:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str]) -> int:
    from recipes import start_console

    argv = start_console(argv)  # before trl loads: bitsandbytes prints at import
    from recipes import configs

    if "-h" in argv or "--help" in argv:
        print(configs.recipe_help(configs.DPO))
        return 0
    from recipes import callbacks, data, model_utils, plan, run_files
    from recipes.sft_adapter import load_model_with_sft_adapter, read_sft_adapter
    from recipes.trainer import ReplytuneDPOTrainer
    from replytune.errors import Refused

    method = configs.DPO
    try:
        script_args, training_args, model_args, replytune_args = configs.parse_recipe_args(argv, method=method)
        configs.configure_logging(training_args)
        # The SFT adapter first: it names the base model whose tokenizer checks the rows
        sft_adapter = read_sft_adapter(model_args, replytune_args)

        # Data: the preference DatasetDict and the tokenizer; every row checked before any model loads
        checked = data.load_checked_data(
            script_args, training_args, model_args, replytune_args, replies=data.PREFERENCE_REPLIES
        )
        training_plan = plan.plan_run(training_args, model_args, replytune_args, script_args, checked, method)
        plan.report_plan(training_plan, training_args.output_dir, replytune_args.dry_run)
        if replytune_args.dry_run:
            return 0
        base_model = configs.base_model_hub_id(model_args, replytune_args)
        push = run_files.push_target(training_args, replytune_args)  # checked now, pushed as one commit at the end

        # Model: transformers + bitsandbytes 4-bit (CPU: unquantized), the SFT adapter on it as the policy
        loaded = load_model_with_sft_adapter(model_args, training_args, replytune_args, sft_adapter)
    except (Refused, model_utils.ModelLoadError) as error:  # names the field, row, adapter or push target
        print(f"recipe error: {error}", file=sys.stderr)
        return 2
    configs.logger.info("model: %s", loaded.description)

    config = run_files.resolved_config(script_args, training_args, model_args, replytune_args)
    config["push_to_hub"] = push is not None
    metadata = run_files.run_metadata(
        config, checked.source, model_args, base_model, loaded, method.name, sft_adapter=sft_adapter
    )
    sample_prompts = callbacks.pick_sample_prompts(replytune_args, checked.eval_split)
    trainer = ReplytuneDPOTrainer(
        model=loaded.model,
        args=training_args,
        train_dataset=checked.train_rows,
        eval_dataset=checked.eval_rows,
        processing_class=loaded.tokenizer,
        callbacks=callbacks.build_callbacks(
            training_args, replytune_args, loaded.tokenizer, sample_prompts, metadata, method
        ),
    )
    return run_files.train_and_save(
        trainer, loaded.tokenizer, training_args, base_model, config, training_plan, metadata, push, "DPO", STARTED
    )


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main(sys.argv[1:]))
