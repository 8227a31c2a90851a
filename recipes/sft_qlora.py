"""Supervised fine-tuning of a QLoRA reply adapter, in the shape of alignment-handbook's scripts/sft.py.

    accelerate launch --config_file accelerate_configs/single_gpu.yaml recipes/sft_qlora.py \
        --config recipes/qwen3-8b/sft/config_qlora.yaml [--field value ...]

A recipe YAML sets the fields of TRL's ScriptArguments, SFTConfig and ModelConfig and of replytune's own
ReplytuneArguments (recipes/replytune_sft.py); command-line flags override it. A bad field stops the run before any
model is loaded, naming the field.
"""

import os
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `accelerate launch recipes/sft_qlora.py` puts only recipes/ on the path
    sys.path.insert(0, str(REPO_ROOT))


def import_unsloth_first(argv: list[str]) -> None:
    """Unsloth patches transformers/trl/peft when imported, so it must come first: only when the recipe asks for
    it and a GPU is there (it fails on CPU). load_model_and_tokenizer reports why when it could not be imported."""
    from data_prep.yaml_config import ConfigError, read_yaml  # yaml only: no transformers before Unsloth

    value = None
    if "--config" in argv and argv.index("--config") + 1 < len(argv):
        try:
            value = read_yaml(argv[argv.index("--config") + 1]).get("use_unsloth")
        except ConfigError:
            pass  # parse_recipe_args reports a missing or broken recipe file
    for index, arg in enumerate(argv):
        if arg == "--use_unsloth" and index + 1 < len(argv):
            value = argv[index + 1]
        elif arg.startswith("--use_unsloth="):
            value = arg.split("=", 1)[1]
    if str(value).lower() not in ("true", "auto"):
        return
    import torch

    if torch.cuda.is_available():
        try:
            import unsloth  # noqa: F401
        except Exception:  # noqa: BLE001 - the reason is reported by load_model_and_tokenizer
            pass


def main(argv: list[str]) -> int:
    import_unsloth_first(argv)
    from recipes import replytune_sft as sft

    try:
        script_args, training_args, model_args, replytune_args = sft.parse_recipe_args(argv)
    except sft.RecipeConfigError as error:
        print(f"recipe error: {error}", file=sys.stderr)
        return 2
    sft.configure_logging(training_args)
    logger = sft.logger

    # Data: the data_prep DatasetDict (local versioned folder or Hub repo@revision)
    evaluating = str(getattr(training_args.eval_strategy, "value", training_args.eval_strategy)) != "no"
    splits = [script_args.dataset_train_split] + ([script_args.dataset_test_split] if evaluating else [])
    try:
        dataset, source = sft.load_reply_dataset(script_args.dataset_name, replytune_args.dataset_revision, splits)
        train_rows = sft.to_training_rows(dataset[script_args.dataset_train_split], replytune_args.enable_thinking)
        eval_split = dataset[script_args.dataset_test_split] if evaluating else None
        eval_rows = sft.to_training_rows(eval_split, replytune_args.enable_thinking) if evaluating else None
        logger.info("dataset %s@%s (%s): %d train rows", source.name, source.revision, source.kind, len(train_rows))

        # Model: Unsloth | transformers + bitsandbytes 4-bit | CPU LoRA
        loaded = sft.load_model_and_tokenizer(model_args, training_args, replytune_args)
        logger.info("model: %s", loaded.description)
        sft.check_loss_on_reply_only(loaded.tokenizer, train_rows[0], training_args)
    except sft.RecipeConfigError as error:  # a dataset or model field that names nothing usable: no traceback
        print(f"recipe error: {error}", file=sys.stderr)
        return 2

    config = sft.resolved_config(script_args, training_args, model_args, replytune_args)
    metadata = sft.run_metadata(config, source, model_args, loaded)
    sample_prompts = sft.pick_sample_prompts(replytune_args, eval_split)
    trainer = sft.ReplytuneSFTTrainer(
        model=loaded.model,
        args=training_args,
        train_dataset=train_rows,
        eval_dataset=eval_rows,
        processing_class=loaded.tokenizer,
        peft_config=loaded.peft_config,
        callbacks=sft.build_callbacks(training_args, replytune_args, loaded.tokenizer, sample_prompts, metadata),
    )
    metadata["num_processes"] = trainer.accelerator.num_processes
    metadata["distributed_type"] = str(trainer.accelerator.distributed_type.value)
    logger.info("%d process(es), %s", metadata["num_processes"], metadata["distributed_type"])
    if trainer.is_world_process_zero():
        sft.write_run_files(training_args.output_dir, config, metadata)

    resume = sft.resolve_resume(training_args.resume_from_checkpoint, training_args.output_dir)
    if resume:
        logger.info("resuming from %s", resume)
    try:
        result = trainer.train(resume_from_checkpoint=resume)
    except sft.NonFiniteLossError as error:
        logger.error("%s", error)
        return 3
    metrics = dict(result.metrics)
    evaluations = [entry for entry in trainer.state.log_history if "eval_loss" in entry]
    if evaluations:  # the last evaluation (no extra one here: it would reopen the trackers after train() closed them)
        metrics.update(evaluations[-1])
    metrics["best_eval_loss"] = trainer.state.best_metric

    # Save the adapter, the tokenizer and the exact resolved config; optionally push and tag
    trainer.save_model(training_args.output_dir)
    if trainer.is_world_process_zero():
        loaded.tokenizer.save_pretrained(training_args.output_dir)
        sft.write_run_files(training_args.output_dir, config, metadata, metrics)
        logger.info("adapter, tokenizer and resolved config saved to %s", training_args.output_dir)
    repo_id = sft.push_adapter(trainer, training_args, replytune_args, metadata)
    if repo_id:
        logger.info("pushed to the Hub: %s (tag %s)", repo_id, replytune_args.hub_tag)
    trainer.accelerator.wait_for_everyone()
    trainer.accelerator.end_training()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    sys.exit(main(sys.argv[1:]))
