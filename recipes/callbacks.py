"""The overfitting guards and run bookkeeping that ride along with training (SFT and DPO alike).

- `PerplexityCallback`: eval_perplexity = exp(eval_loss) (SFT: a DPO loss is no language-model loss).
- `OverfitGapCallback`: eval_loss against the mean train loss logged since the previous evaluation.
- `NonFiniteLossCallback`: a NaN/inf loss stops the run with a message.
- `SampleGenerationCallback`: replies to fixed eval prompts at each evaluation (recipes/generation.py).
- `TrackingMetadataCallback`: the run's provenance in every tracker's run config.
- `ThroughputCallback`: examples, tokens and the optimizer steps' wall time between two train logs (the trainer
  counts them and logs the per-step figures, recipes/trainer.py).
- early stopping: transformers' EarlyStoppingCallback, added by `build_callbacks`, on the method's metric unless the
  recipe names one (SFT: eval_loss; DPO: eval_rewards/accuracies, the share of eval pairs whose chosen reply the
  policy prefers more than the reference does).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any

import torch
from transformers import EarlyStoppingCallback, TrainerCallback

from recipes.configs import SFT, Method, evaluates
from recipes.generation import GenerationSettings, generate_replies
from replytune.schema import PROMPT

logger = logging.getLogger("replytune.sft")


class PerplexityCallback(TrainerCallback):
    """Adds eval_perplexity = exp(eval_loss) to each evaluation's log record."""

    def add_metrics(self, logs, state):
        if "eval_loss" in logs:
            logs["eval_perplexity"] = math.exp(logs["eval_loss"]) if logs["eval_loss"] < 700 else float("inf")


class OverfitGapCallback(TrainerCallback):
    """Flags eval_loss - train loss > threshold: a warning in the logs and eval_train_gap/eval_overfit_flag metrics.

    The train loss is the mean of the train losses logged since the previous evaluation (the same stretch of
    training the evaluation follows), so a sparse logging_steps cannot pair an evaluation with a stale loss.
    """

    def __init__(self, threshold: float):
        self.threshold = threshold
        self.train_losses: list[float] = []
        self.last_train_loss: float | None = None
        self.flagged_steps: list[int] = []

    def add_metrics(self, logs, state):
        if "loss" in logs and "eval_loss" not in logs:
            self.train_losses.append(logs["loss"])
        if "eval_loss" not in logs:
            return
        if self.train_losses:
            self.last_train_loss = sum(self.train_losses) / len(self.train_losses)
            self.train_losses = []
        if self.last_train_loss is None:
            return
        gap = logs["eval_loss"] - self.last_train_loss
        logs["eval_train_gap"] = gap
        logs["eval_overfit_flag"] = float(gap > self.threshold)
        if gap > self.threshold:
            self.flagged_steps.append(state.global_step)
            logger.warning(
                "possible overfitting at step %d: eval_loss %.4f - train loss %.4f = %.4f > %.2f",
                state.global_step,
                logs["eval_loss"],
                self.last_train_loss,
                gap,
                self.threshold,
            )


class NonFiniteLossError(RuntimeError):
    """The training loss became NaN or inf; the run stops instead of saving a broken adapter."""


class NonFiniteLossCallback(TrainerCallback):
    """Stops the run with a clear message when a logged training or eval loss is NaN or inf.

    Needs `logging_nan_inf_filter: false` (the recipe forces it): with the filter on, Trainer replaces a NaN step
    loss by the running average and the NaN never shows.
    """

    def on_log(self, args, state, control, logs=None, **kwargs):
        for key in ("loss", "eval_loss"):
            value = (logs or {}).get(key)
            if value is not None and not math.isfinite(value):
                raise NonFiniteLossError(
                    f"{key} is {value} at step {state.global_step} (epoch {state.epoch:.2f}): training stopped and no "
                    "adapter was saved. Try a lower learning_rate or max_grad_norm, check the data for empty rows, "
                    "or resume from the last checkpoint with --resume_from_checkpoint."
                )


class SampleGenerationCallback(TrainerCallback):
    """Greedy replies to fixed eval prompts at each evaluation; logged and appended to a JSONL file."""

    def __init__(self, tokenizer, prompts: list[list[dict]], settings: GenerationSettings, output_file: Path):
        self.tokenizer = tokenizer
        self.prompts = prompts
        self.settings = settings
        self.output_file = Path(output_file)

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        if not self.prompts or model is None:
            return
        if os.environ.get("ACCELERATE_USE_FSDP", "").lower() == "true" or args.deepspeed:
            logger.info("sample generations skipped: the model is sharded (FSDP/DeepSpeed)")
            return
        if not state.is_world_process_zero:
            return
        replies = generate_replies(model, self.tokenizer, self.prompts, self.settings)
        self.output_file.parent.mkdir(parents=True, exist_ok=True)
        with self.output_file.open("a", encoding="utf-8") as out:
            for prompt, reply in zip(self.prompts, replies):
                record = {"step": state.global_step, "prompt": prompt[-1]["content"], "reply": reply.text}
                record.update(stopped=reply.stopped, completion_tokens=reply.completion_tokens)
                out.write(json.dumps(record) + "\n")
                logger.info(
                    "sample at step %d | %r -> %r%s",
                    state.global_step,
                    prompt[-1]["content"][-60:],
                    reply.text,
                    "" if reply.stopped else " (no end-of-turn: hit sample_max_new_tokens)",
                )


class TrackingMetadataCallback(TrainerCallback):
    """Adds the run's provenance (dataset repo+revision, git commit, config hash) to the tracker's run config."""

    def __init__(self, metadata: dict[str, Any]):
        self.run_metadata = metadata  # the script adds num_processes once the trainer exists: read at train begin
        self.trainer_callbacks: list = []  # the trainer's callbacks (the tensorboard writer lives in one)

    def on_train_begin(self, args, state, control, **kwargs):
        if not state.is_world_process_zero:
            return
        prefixed = {f"replytune/{key}": value for key, value in self.run_metadata.items()}
        report_to = args.report_to or []
        if "trackio" in report_to:
            import trackio

            trackio.config.update(prefixed)
        if "wandb" in report_to:
            import wandb

            if wandb.run is not None:
                wandb.config.update(prefixed, allow_val_change=True)
        if "tensorboard" in report_to:
            for callback in self.trainer_callbacks:
                writer = getattr(callback, "tb_writer", None)
                if writer is not None:
                    writer.add_text("replytune/metadata", json.dumps(prefixed, indent=2))


class ThroughputCallback(TrainerCallback):
    """Sums what the trainer's compute_loss counted and the optimizer steps' wall time between two train logs."""

    def __init__(self):
        self._reset()
        self._step_started: float | None = None
        self.total_seconds = 0.0  # every optimizer step of the run

    def _reset(self):
        self.examples = self.tokens = self.loss_tokens = self.seconds = 0.0
        self.steps = 0

    def count(self, examples: float, tokens: float, loss_tokens: float) -> None:
        self.examples += examples
        self.tokens += tokens
        self.loss_tokens += loss_tokens

    def on_step_begin(self, args, state, control, **kwargs):
        self._step_started = time.perf_counter()

    def on_step_end(self, args, state, control, **kwargs):
        if self._step_started is None:
            return
        if torch.cuda.is_available():
            torch.cuda.synchronize()  # the step's kernels, not only their launch
        elapsed = time.perf_counter() - self._step_started
        self.seconds += elapsed
        self.total_seconds += elapsed
        self.steps += 1
        self._step_started = None

    def add_metrics(self, logs, state):
        if "loss" not in logs or "eval_loss" in logs or not self.steps:
            return
        logs["examples_per_optimizer_step"] = self.examples / self.steps
        logs["tokens_per_optimizer_step"] = self.tokens / self.steps
        logs["loss_tokens_per_optimizer_step"] = self.loss_tokens / self.steps
        logs["train_tokens_per_second"] = self.tokens / self.seconds if self.seconds else 0.0
        self._reset()


def build_callbacks(training_args, replytune_args, tokenizer, sample_prompts, metadata, method: Method = SFT) -> list:
    if training_args.logging_nan_inf_filter:
        training_args.logging_nan_inf_filter = False  # so that a NaN/inf loss reaches NonFiniteLossCallback
        logger.info("logging_nan_inf_filter set to false: a NaN/inf loss must stop the run, not be averaged away")
    callbacks = [PerplexityCallback()] if method is SFT else []
    callbacks.append(OverfitGapCallback(replytune_args.overfit_gap_threshold))
    callbacks += [NonFiniteLossCallback(), TrackingMetadataCallback(metadata)]
    evaluating = evaluates(training_args)
    if evaluating and replytune_args.early_stopping_patience > 0:
        if training_args.metric_for_best_model is None:
            training_args.metric_for_best_model = method.default_metric
            training_args.greater_is_better = method.greater_is_better
        callbacks.append(
            EarlyStoppingCallback(replytune_args.early_stopping_patience, replytune_args.early_stopping_threshold)
        )
    if evaluating and sample_prompts:
        end_of_turn = getattr(training_args, "eos_token", None)  # SFTConfig's; DPO stops at the tokenizer's eos
        settings = GenerationSettings(
            max_new_tokens=replytune_args.sample_max_new_tokens,
            do_sample=False,
            enable_thinking=replytune_args.enable_thinking,
            batch_size=len(sample_prompts),
            stop_tokens=(end_of_turn,) if end_of_turn else (),
        )
        output_file = Path(training_args.output_dir) / "sample_generations.jsonl"
        callbacks.append(SampleGenerationCallback(tokenizer, sample_prompts, settings, output_file))
    return callbacks


def pick_sample_prompts(replytune_args, eval_split) -> list[list[dict]]:
    if replytune_args.sample_prompts:
        return [[{"role": "user", "content": text}] for text in replytune_args.sample_prompts]
    if eval_split is None:
        return []
    count = min(replytune_args.num_sample_prompts, len(eval_split))
    return [list(eval_split[i][PROMPT]) for i in range(count)]
