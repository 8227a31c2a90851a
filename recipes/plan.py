"""The training plan: what a run will do, worked out from the recipe, the dataset and the tokenizer alone.

`--dry_run true` prints it and writes `output_dir/plan.json` without loading a model; every real run writes the same
file before training. The step arithmetic follows transformers 5.17's Trainer (`set_initial_training_values`,
`TrainerState.compute_steps`, `DefaultFlowCallback`), so `evaluation_steps` is the list of steps at which the trainer
will evaluate; tests/test_sft_training.py compares it with the steps a real run evaluated at.

Where the recipe leaves the batch shape to the plan (`examples_per_optimizer_step` without a batch size, and
`gradient_checkpointing: auto`), the plan picks it from MEASURED: the largest micro-batch whose estimated peak memory
fits the GPU, and gradient checkpointing only where it is needed to fit. The time and memory estimate comes from the
same table, the measured run nearest to this plan's shape (benchmarks/gpu_run.py through `accelerate launch`, on
Qwen3-8B's shapes); anything else says why there is no estimate.

The DPO recipe plans with the same arithmetic: an example is a preference pair, two sequences that DPOTrainer pads to
a common length (TRL 1.15 has no padding-free DPO), and each step adds a reference forward. Its estimate scales the
SFT measurements by those padded tokens and that extra forward (`COMPUTE_PER_TOKEN`): DPO itself has not been
measured on a GPU, and the plan says so.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recipes.configs import SFT, Method, evaluates, world_size
from recipes.data import RowLengths
from recipes.model_utils import ModelLoadError, choose_load_path, unsloth_blocker

logger = logging.getLogger("replytune.sft")


@dataclass(frozen=True)
class Measurement:
    """One run of the Qwen3-8B recipe on a GPU through `accelerate launch`, and what it cost (benchmarks/gpu_run.py).
    Random weights of Qwen3-8B's shape: throughput and memory depend on shapes, not on weight values."""

    load_path: str  # "bnb-4bit" or "unsloth"
    gpu: str
    examples_per_micro_batch: int
    gradient_checkpointing: bool
    tokens_per_micro_batch: float  # the mean over the run's micro-batches
    tokens_per_second: float  # over the optimizer steps alone
    peak_memory_gb: float  # torch's peak reserved memory
    memory_after_load_gb: float | None  # the 4-bit model and its adapter before the first step; None: not recorded
    seconds_per_evaluation: float | None  # one evaluation with its sample generations and the checkpoint after it
    load_seconds: float | None  # launch to the first step: imports, row checks, the 4-bit load
    source: str


# The table the plan reads (docs/benchmarks.md has the runs). Real reply pairs of ~68 Qwen3 tokens; the memory is
# torch's peak reserved, on one H200 (torch 2.11, transformers 5.17, bitsandbytes 0.50.2, unsloth 2026.10.9).
GPU_RUN = "2026-12-04, one H200, benchmarks/gpu_run.py, 660 RumourEval pairs"
MEASURED = (
    Measurement(
        "bnb-4bit", "H200", 16, False, 1068.0, 1411.0, 19.36, 6.35, 4.25, 23.9,
        f"{GPU_RUN}: the default recipe, 84 steps, 10 evaluations",
    ),
    Measurement(
        "bnb-4bit", "H200", 4, True, 274.9, 268.0, 6.88, 6.35, None, 22.0,
        f"{GPU_RUN}: the former default, 4 x 4 with gradient checkpointing, 6 steps",
    ),
    Measurement(
        "bnb-4bit", "H200", 16, True, 16 * 76.0, 1100.0, 8.2, None, None, None,
        "2026-12-04, one H200, 16 x 1 with gradient checkpointing, 780 RumourEval pairs (NOTES.md, third round)",
    ),
    Measurement(
        "unsloth", "H200", 16, False, 1088.5, 878.0, 14.52, 6.35, None, 36.3,
        f"{GPU_RUN}: use_unsloth true, 20 steps",
    ),
)  # fmt: skip
QWEN3_8B_SHAPE = {"model_type": "qwen3", "hidden_size": 4096, "num_hidden_layers": 36, "intermediate_size": 12288}
# The plan fills at most this share of the GPU's memory: the allocator fragments, and other rows may run longer.
MEMORY_HEADROOM = 0.85
# Where a dry run has no GPU to ask: an A6000, the smallest GPU the Qwen3-8B recipe is written for.
ASSUMED_GPU_MEMORY_GB = 48.0
# Compute per trained token relative to SFT's forward + backward (~3 forward passes): DPO adds the reference's
# forward (no gradients), ~4/3. An assumption from FLOP counts, not a measurement.
COMPUTE_PER_TOKEN = {"sft": 1.0, "dpo": 4 / 3}


def padding_free_batches(training_args) -> bool:
    return bool(getattr(training_args, "padding_free", False) or getattr(training_args, "packing", False))


def memory_tokens_per_example(lengths: RowLengths, training_args) -> float:
    """The tokens per example the memory estimate scales with: the mean where batches are padding-free; where they
    are padded (DPO), every sequence padded to the longest row's, the worst micro-batch the data can make."""
    if not lengths.total:
        return 0.0
    if padding_free_batches(training_args):
        return statistics.fmean(lengths.total)
    return float(max(lengths.padded))


def steps_of_each_epoch(train_examples: int, per_device: int, accumulation: int, processes: int) -> list[int]:
    """Examples behind each optimizer step of one epoch, over all processes, as Trainer + accelerate batch them.

    accelerate shards the batches of `per_device` examples round-robin over the processes (each process gets
    ceil(batches / processes)); Trainer groups `accumulation` micro-batches into one optimizer step, the last step
    of an epoch taking what is left.
    """
    batches = math.ceil(train_examples / per_device)
    per_process = math.ceil(batches / processes)
    steps = []
    for first in range(0, per_process, accumulation):
        micro_batches = min(accumulation, per_process - first)
        examples = 0
        for micro_batch in range(first, first + micro_batches):
            for process in range(processes):
                batch = micro_batch * processes + process
                if batch < batches:
                    examples += min(per_device, train_examples - batch * per_device)
        steps.append(examples)
    return steps


def _resolved_interval(value: float | None, max_steps: int) -> int | None:
    """TrainerState.compute_steps: a value below 1 is a ratio of max_steps."""
    if value is None:
        return None
    return math.ceil(max_steps * value) if value < 1 else int(value)


def _strategy(value) -> str:
    return str(getattr(value, "value", value))


def evaluation_steps(training_args, max_steps: int, steps_per_epoch: int) -> list[int]:
    """The steps at which DefaultFlowCallback will evaluate."""
    strategy = _strategy(training_args.eval_strategy)
    if strategy == "steps":
        every = _resolved_interval(training_args.eval_steps or training_args.logging_steps, max_steps)
        steps = [s for s in range(every, max_steps + 1, every) if s >= training_args.eval_delay]
        if max_steps % every and max_steps >= training_args.eval_delay:
            steps.append(max_steps)  # transformers >= 5 also evaluates at the last step
        return steps
    if strategy == "epoch":
        epochs = math.ceil(max_steps / steps_per_epoch)
        return sorted(
            {min(k * steps_per_epoch, max_steps) for k in range(1, epochs + 1) if k >= training_args.eval_delay}
        )
    return []


def checkpoint_steps(training_args, max_steps: int, steps_per_epoch: int) -> list[int] | str:
    strategy = _strategy(training_args.save_strategy)
    if strategy == "steps":
        every = _resolved_interval(training_args.save_steps, max_steps)
        return sorted({*range(every, max_steps + 1, every), max_steps})
    if strategy == "epoch":
        epochs = math.ceil(max_steps / steps_per_epoch)
        return sorted({min(k * steps_per_epoch, max_steps) for k in range(1, epochs + 1)})
    if strategy == "best":
        return "at each evaluation that improves metric_for_best_model"
    return []


def _token_stats(lengths: RowLengths | None) -> dict[str, Any] | None:
    if lengths is None or not lengths.total:
        return None
    return {
        "mean_per_example": round(statistics.fmean(lengths.total), 1),
        "max_per_example": max(lengths.total),
        "mean_reply_per_example": round(statistics.fmean(lengths.reply), 1),
        "total": sum(lengths.total),
    }


def plan_training(
    training_args,
    model_args,
    replytune_args,
    train_lengths: RowLengths,
    eval_lengths: RowLengths | None,
    processes: int = 1,
    model_config: dict | None = None,
    method: Method = SFT,
) -> dict[str, Any]:
    """The plan as a JSON-ready dict (see the module docstring). Where the recipe leaves the micro-batch or gradient
    checkpointing to the plan, they are chosen first (choose_batch_shape) and set on training_args."""
    batch_shape = choose_batch_shape(training_args, model_args, replytune_args, train_lengths, processes, model_config)
    per_device = training_args.per_device_train_batch_size
    accumulation = training_args.gradient_accumulation_steps
    train_examples = len(train_lengths.total)
    # The trainer batches packed rows when packing is on: count them as TRL will pack them.
    packing = bool(getattr(training_args, "packing", False))  # SFTConfig only
    row_tokens = packed_row_tokens(train_lengths.total, training_args) if packing else None
    batched_rows = row_tokens if row_tokens is not None else [[total] for total in train_lengths.total]
    examples_per_row = train_examples / len(batched_rows) if batched_rows else 1.0
    epoch_steps = steps_of_each_epoch(len(batched_rows), per_device, accumulation, processes)
    if training_args.max_steps > 0:
        max_steps = training_args.max_steps
    else:
        max_steps = math.ceil(training_args.num_train_epochs * len(epoch_steps))
    schedule = [epoch_steps[step % len(epoch_steps)] for step in range(max_steps)]
    evaluations = evaluation_steps(training_args, max_steps, len(epoch_steps)) if evaluates(training_args) else []
    # Tokens computed per example: its sequences, padded to their longest where batches are padded (DPO)
    padding_free = padding_free_batches(training_args)
    computed = train_lengths.total if padding_free else train_lengths.padded
    mean_tokens = statistics.fmean(computed)
    eval_batch, eval_totals = training_args.per_device_eval_batch_size, eval_lengths.total if eval_lengths else []
    if padding_free:
        largest = sum(sorted((sum(row) for row in batched_rows), reverse=True)[:per_device])
        eval_largest = sum(sorted(eval_totals, reverse=True)[:eval_batch])
    else:  # every sequence padded to the longest of its micro-batch
        largest = per_device * max(train_lengths.padded)
        eval_largest = eval_batch * max(eval_lengths.padded) if eval_totals else 0
    rows_per_step = per_device * accumulation * processes
    plan: dict[str, Any] = {
        "method": method.name,
        "example": method.example,
        "model": model_args.model_name_or_path,
        "load_path_on_gpu": planned_load_paths(training_args, model_args, replytune_args),
        "num_processes": processes,
        "train_examples": train_examples,
        "eval_examples": len(eval_lengths.total) if eval_lengths else 0,
        "train_tokens": _token_stats(train_lengths),
        "eval_tokens": _token_stats(eval_lengths),
        "padding_free": padding_free,
        "packing": packing,
        "packed_rows": len(row_tokens) if row_tokens is not None else None,
        "examples_per_packed_row": round(examples_per_row, 2) if row_tokens is not None else None,
        "examples_per_micro_batch": per_device if row_tokens is None else round(per_device * examples_per_row, 1),
        "micro_batches_per_optimizer_step": accumulation,
        "gradient_checkpointing": bool(training_args.gradient_checkpointing),
        "batch_shape": batch_shape or {"chosen_by": "recipe"},
        "examples_per_optimizer_step": round(rows_per_step * examples_per_row),
        "examples_in_last_step_of_each_epoch": round(epoch_steps[-1] * examples_per_row),
        "optimizer_steps_per_epoch": len(epoch_steps),
        "optimizer_steps": max_steps,
        "examples_trained": round(sum(schedule) * examples_per_row),
        "warmup_steps": training_args.get_warmup_steps(max_steps),
        "evaluation_steps": evaluations,
        "checkpoint_steps": checkpoint_steps(training_args, max_steps, len(epoch_steps)),
        "mean_tokens_per_optimizer_step": round(mean_tokens * examples_per_row * rows_per_step, 1),
        "max_tokens_per_micro_batch": largest,
        "max_tokens_per_eval_micro_batch": eval_largest,
        "early_stopping_patience": replytune_args.early_stopping_patience if evaluations else 0,
        "warnings": [],
    }
    if packing:
        plan["packing_note"] = (
            f"packing: each micro-batch holds {per_device} packed rows of up to max_length tokens, so an optimizer "
            f"step trains on about {plan['examples_per_optimizer_step']} examples (the mean over this dataset's "
            f"{plan['packed_rows']} rows), not the per-device batch x accumulation"
            if row_tokens is not None
            else "packing: each micro-batch holds packed rows of up to max_length tokens, so examples per optimizer "
            "step depend on lengths and are not the per-device batch x accumulation counted here"
        )
    memory_tokens = memory_tokens_per_example(train_lengths, training_args)
    plan["estimate"] = gpu_estimate(plan, training_args, model_args, model_config, mean_tokens, memory_tokens, method)
    plan["warnings"] = plan_warnings(plan, training_args, replytune_args)
    return plan


def packed_row_tokens(example_tokens: list[int], training_args) -> list[list[int]] | None:
    """The token count of each example in each packed row, packed by TRL itself (`pack_dataset`), or None when the
    strategy splits examples across rows (then rows do not hold whole examples)."""
    from datasets import Dataset
    from trl.data_utils import pack_dataset

    if not training_args.max_length or not example_tokens:
        return None
    dummy_examples = Dataset.from_dict({"input_ids": [[0] * tokens for tokens in example_tokens]})
    packed = pack_dataset(dummy_examples, training_args.max_length, training_args.packing_strategy)
    return packed["seq_lengths"] if "seq_lengths" in packed.column_names else None


def planned_load_paths(training_args, model_args, replytune_args) -> list[str]:
    """The load paths the run can take on a GPU machine (Unsloth depends on that machine's install)."""
    targets_gpu = not training_args.use_cpu or model_args.load_in_4bit or training_args.bf16
    if not targets_gpu:
        return ["cpu"]
    try:
        path, why_not = choose_load_path(replytune_args.use_unsloth, True, True)
    except ModelLoadError:  # use_unsloth: true in a multi-process launch: the real run stops, naming it
        return ["refused: use_unsloth true with " + (unsloth_blocker() or "this launch")]
    if path == "unsloth" and replytune_args.use_unsloth == "auto":
        return ["unsloth", "bnb-4bit"]  # auto: Unsloth where it imports, else bitsandbytes
    return [path]


def is_qwen3_8b(model_config: dict | None) -> bool:
    return model_config is not None and {k: model_config.get(k) for k in QWEN3_8B_SHAPE} == QWEN3_8B_SHAPE


def nearest_measurement(load_path: str, checkpointing: bool, examples_per_micro_batch: int) -> Measurement | None:
    """The measured run of this load path and checkpointing whose micro-batch is closest to this one."""
    measured = [m for m in MEASURED if m.load_path == load_path and m.gradient_checkpointing == checkpointing]
    return min(measured, key=lambda m: abs(m.examples_per_micro_batch - examples_per_micro_batch), default=None)


def peak_memory_gb(measured: Measurement, tokens_per_micro_batch: float) -> float:
    """Peak memory at another micro-batch size: the activations scale with the tokens of a micro-batch, the loaded
    model does not. Without the after-load figure, the whole peak scales up (never down): an overestimate."""
    ratio = tokens_per_micro_batch / measured.tokens_per_micro_batch
    if measured.memory_after_load_gb is None:
        return measured.peak_memory_gb * max(ratio, 1.0)
    activations = measured.peak_memory_gb - measured.memory_after_load_gb
    return measured.memory_after_load_gb + activations * ratio


def gpu_memory_budget(replytune_args, on_gpu: bool) -> tuple[float, str]:
    """(GB the plan may plan for, where that figure comes from)."""
    if replytune_args.gpu_memory_gb:
        return replytune_args.gpu_memory_gb, "gpu_memory_gb"
    if on_gpu:
        import torch

        if torch.cuda.is_available():
            properties = torch.cuda.get_device_properties(0)
            return round(properties.total_memory / 1e9, 1), properties.name
    return ASSUMED_GPU_MEMORY_GB, "assumed: no GPU here, an A6000's 48 GB (set gpu_memory_gb for another)"


def choose_batch_shape(
    training_args, model_args, replytune_args, train_lengths: RowLengths, processes: int, model_config: dict | None
) -> dict[str, Any] | None:
    """The micro-batch and gradient checkpointing of this run, where the recipe leaves them to the plan
    (examples_per_optimizer_step without a batch size; gradient_checkpointing: auto). Sets them on training_args.

    The largest micro-batch (up to every example of the step) whose estimated peak memory fits the GPU, without
    gradient checkpointing where that fits too: checkpointing recomputes each layer's forward in the backward pass,
    which cost ~2x the step time at 16 examples on an H200 (MEASURED). Returns None when the recipe set both.
    """
    if not (replytune_args.choose_micro_batch or replytune_args.gradient_checkpointing_auto):
        return None
    per_process = training_args.per_device_train_batch_size * training_args.gradient_accumulation_steps
    micro_batches = (
        [size for size in range(per_process, 0, -1) if per_process % size == 0]
        if replytune_args.choose_micro_batch
        else [training_args.per_device_train_batch_size]
    )
    auto_checkpointing = replytune_args.gradient_checkpointing_auto
    checkpointing = [False, True] if auto_checkpointing else [training_args.gradient_checkpointing]
    load_paths = planned_load_paths(training_args, model_args, replytune_args)
    memory_tokens = memory_tokens_per_example(train_lengths, training_args)
    shape: dict[str, Any] = {"chosen_by": "plan", "candidates": []}
    if load_paths == ["cpu"] or load_paths[0].startswith("refused"):
        chosen = (micro_batches[0], checkpointing[0])
        shape["why"] = "no GPU memory to plan for (a CPU run): every example of the step in one micro-batch"
    elif not is_qwen3_8b(model_config):
        chosen = (micro_batches[0], checkpointing[-1])
        shape["why"] = (
            "no memory measurement for this model (MEASURED holds Qwen3-8B's shapes): every example of the step in "
            "one micro-batch" + (", gradient checkpointing on, the memory-safe choice" if chosen[1] else "")
        )
    else:
        budget, budget_source = gpu_memory_budget(replytune_args, not training_args.use_cpu)
        shape.update(gpu_memory_gb=budget, gpu_memory_source=budget_source, headroom=MEMORY_HEADROOM)
        # auto may fall back from Unsloth to bitsandbytes at load time: plan for the path that needs more memory
        chosen = None
        for size in micro_batches:
            for checkpoint in checkpointing:
                # a path not measured yet borrows bitsandbytes' memory (Unsloth's own kernels use less)
                estimates = [
                    peak_memory_gb(measured, memory_tokens * size)
                    for path in load_paths
                    if (
                        measured := nearest_measurement(path, checkpoint, size)
                        or nearest_measurement("bnb-4bit", checkpoint, size)
                    )
                    is not None
                ]
                if not estimates:
                    continue
                estimate = round(max(estimates), 1)
                shape["candidates"].append({"micro_batch": size, "gradient_checkpointing": checkpoint, "gb": estimate})
                if chosen is None and estimate <= budget * MEMORY_HEADROOM:
                    chosen = (size, checkpoint)
        if chosen is None:
            chosen = (micro_batches[-1], checkpointing[-1])
            shape["why"] = f"no measured shape fits {budget} GB: the smallest micro-batch, which may not fit either"
        else:
            shape["why"] = (
                f"the largest micro-batch whose estimated peak fits {MEMORY_HEADROOM:.0%} of {budget} GB "
                f"({budget_source})"
                + (", with gradient checkpointing (needed to fit)" if chosen[1] else ", no gradient checkpointing")
            )
    training_args.per_device_train_batch_size = chosen[0]
    training_args.gradient_accumulation_steps = per_process // chosen[0]
    training_args.gradient_checkpointing = chosen[1]
    shape.update(
        examples_per_micro_batch=chosen[0],
        gradient_accumulation_steps=per_process // chosen[0],
        gradient_checkpointing=chosen[1],
        processes=processes,
    )
    return shape


def gpu_estimate(
    plan,
    training_args,
    model_args,
    model_config: dict | None,
    mean_tokens: float,
    memory_tokens: float | None = None,
    method: Method = SFT,
) -> dict[str, Any]:
    """Time and memory of this run from the nearest MEASURED run of the same load path and checkpointing, or why
    there is none. `mean_tokens`: computed per example; `memory_tokens`: per example at the memory peak (default:
    the mean)."""
    memory_tokens = mean_tokens if memory_tokens is None else memory_tokens
    if plan["load_path_on_gpu"] == ["cpu"]:
        return {"available": False, "why": "a CPU recipe: no GPU estimate"}
    if model_config is None:
        return {"available": False, "why": "the model's config.json could not be read, so its size is unknown"}
    if not is_qwen3_8b(model_config):
        shape = {key: model_config.get(key) for key in QWEN3_8B_SHAPE}
        return {
            "available": False,
            "why": f"measured only for Qwen3-8B's shapes {QWEN3_8B_SHAPE}; this model has {shape}",
        }
    if not model_args.load_in_4bit or plan["packing"]:
        return {"available": False, "why": "measured only for 4-bit weights and padding-free (unpacked) batches"}
    micro_batch = plan["examples_per_micro_batch"]
    checkpointing = bool(training_args.gradient_checkpointing)
    tokens_trained = mean_tokens * plan["examples_trained"] * COMPUTE_PER_TOKEN[method.name]
    estimates = {}
    for path in plan["load_path_on_gpu"]:
        measured = nearest_measurement(path, checkpointing, micro_batch)
        if measured is None:
            continue
        steps_minutes = tokens_trained / measured.tokens_per_second / 60
        figures = {
            "gpu": measured.gpu,
            "peak_memory_gb": round(peak_memory_gb(measured, memory_tokens * micro_batch), 1),
            "steps_minutes": round(steps_minutes, 1),
            "whole_run_minutes": None,
            "basis": (
                f"{measured.tokens_per_second:,.0f} tokens/s and {measured.peak_memory_gb} GB peak measured on one "
                f"{measured.gpu} at {measured.examples_per_micro_batch} examples per micro-batch, gradient "
                f"checkpointing {'on' if measured.gradient_checkpointing else 'off'} ({measured.source}); other GPUs "
                "are not measured"
                + (
                    "; DPO is not measured: SFT's figures scaled to padded pairs and a reference forward "
                    f"(x{COMPUTE_PER_TOKEN[method.name]:.2f} compute per token)"
                    if method.name != "sft"
                    else ""
                )
            ),
        }
        if measured.seconds_per_evaluation is not None and measured.load_seconds is not None:
            evaluations = len(plan["evaluation_steps"]) * measured.seconds_per_evaluation
            figures["whole_run_minutes"] = round(steps_minutes + (evaluations + measured.load_seconds) / 60, 1)
        estimates[path] = figures
    if not estimates:
        return {
            "available": False,
            "why": f"no measurement for load path(s) {plan['load_path_on_gpu']} with gradient checkpointing "
            f"{'on' if checkpointing else 'off'}",
        }
    return {"available": True, **estimates}


def plan_warnings(plan, training_args, replytune_args) -> list[str]:
    warnings = []
    evaluations = plan["evaluation_steps"]
    patience = replytune_args.early_stopping_patience
    if not evaluates(training_args):
        warnings.append(
            "eval_strategy is no: no evaluation, so no early stopping, no best checkpoint and no overfitting flag"
        )
    elif patience > 0 and len(evaluations) < patience + 1:
        warnings.append(
            f"EARLY STOPPING CANNOT ACT: {len(evaluations)} evaluation(s) {evaluations} for patience {patience} "
            f"(it needs at least {patience + 1}). Evaluate more often: eval_steps as a ratio such as 0.1 "
            "(and save_steps alike)."
        )
    if len(evaluations) >= 2:
        interval = min(b - a for a, b in zip([0, *evaluations], evaluations))
        logging_every = _resolved_interval(training_args.logging_steps, plan["optimizer_steps"])
        if _strategy(training_args.logging_strategy) == "steps" and logging_every > interval:
            warnings.append(
                f"logging_steps {logging_every} > the {interval} steps between evaluations: the overfitting flag "
                "would compare some evaluations with an old train loss"
            )
    if plan["warmup_steps"] <= 1 and training_args.warmup_steps:
        warnings.append(
            f"warmup is {plan['warmup_steps']} step(s) of {plan['optimizer_steps']}: the first step runs at learning "
            "rate 0, and there is no real warmup"
        )
    return warnings


def format_plan(plan: dict[str, Any]) -> str:
    """The plan as a person reads it on the terminal."""
    train, evaluation = plan["train_tokens"], plan["eval_tokens"]
    sft = plan.get("method", "sft") == "sft"
    examples = "examples" if sft else f"{plan['example']}s"
    per_example = "per example" if sft else f"per {plan['example']} (its sequences together)"
    micro_batch, about = f"{plan['examples_per_micro_batch']} {examples}", ""
    if plan.get("packed_rows"):
        rows = round(plan["examples_per_micro_batch"] / plan["examples_per_packed_row"])
        micro_batch = f"{rows} packed rows (~{plan['examples_per_packed_row']} examples each)"
        about = "~"
    lines = [
        f"{plan.get('method', 'sft').upper()} training plan for {plan['model']} (load path on a GPU: "
        f"{' or '.join(plan['load_path_on_gpu'])})",
        f"  {examples + ':':<13} {plan['train_examples']:,} train, {plan['eval_examples']:,} eval",
        f"  tokens:       train mean {train['mean_per_example']} / max {train['max_per_example']} {per_example}"
        + (
            f"; eval mean {evaluation['mean_per_example']} / max {evaluation['max_per_example']}" if evaluation else ""
        ),
        f"  batch:        {micro_batch} x {plan['micro_batches_per_optimizer_step']} micro-batches x "
        f"{plan['num_processes']} process(es) = {about}{plan['examples_per_optimizer_step']} {examples} per optimizer "
        f"step ({'padding-free' if plan['padding_free'] else 'padded'}{', packed' if plan['packing'] else ''}); at "
        f"most {plan['max_tokens_per_micro_batch']:,} tokens per micro-batch",
        f"  steps:        {plan['optimizer_steps']} optimizer steps ({plan['optimizer_steps_per_epoch']} per epoch), "
        f"{plan['warmup_steps']} warmup",
        f"  evaluations:  {len(plan['evaluation_steps'])} at steps {plan['evaluation_steps']}",
        f"  checkpoints:  {plan['checkpoint_steps']}",
    ]
    shape = plan["batch_shape"]
    lines.append(
        f"  shape:        gradient checkpointing {'on' if plan['gradient_checkpointing'] else 'off'}; "
        + (f"chosen by the plan: {shape['why']}" if shape["chosen_by"] == "plan" else "as the recipe sets it")
    )
    estimate = plan["estimate"]
    if estimate.get("available"):
        for path, figures in estimate.items():
            if path == "available":
                continue
            whole = figures["whole_run_minutes"]
            lines.append(
                f"  GPU ({path}, as measured on one {figures['gpu']}): peak memory ~{figures['peak_memory_gb']} GB, "
                f"optimizer steps ~{figures['steps_minutes']} min"
                + (f", whole run ~{whole} min (load and evaluations included)" if whole is not None else "")
                + f"; basis: {figures['basis']}"
            )
    else:
        lines.append(f"  GPU estimate: none ({estimate['why']})")
    for warning in plan["warnings"]:
        lines.append(f"  WARNING: {warning}")
    return "\n".join(lines)


def write_plan(output_dir: str | Path, plan: dict[str, Any]) -> Path:
    path = Path(output_dir) / "plan.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(plan, indent=2), encoding="utf-8")
    temporary.replace(path)
    return path


def read_model_config(name: str, revision: str | None, gguf_file: str | None) -> dict | None:
    """config.json of the model (one small file, no weights), or None when it cannot be read."""
    if gguf_file:
        return None  # a GGUF file carries its config inside the weights file
    try:
        from transformers import AutoConfig

        return AutoConfig.from_pretrained(name, revision=revision).to_dict()
    except (OSError, ValueError) as error:
        logger.info("no model config for the GPU estimate: %s", error)
        return None


def plan_run(training_args, model_args, replytune_args, script_args, checked, method: Method = SFT) -> dict[str, Any]:
    """The plan of this run: its checked data, its launch (WORLD_SIZE processes), its model's config.json."""
    from recipes.model_utils import resolve_model_path

    model_config = read_model_config(
        resolve_model_path(model_args.model_name_or_path), model_args.model_revision, replytune_args.gguf_file
    )
    return plan_training(
        training_args,
        model_args,
        replytune_args,
        checked.lengths[script_args.dataset_train_split],
        checked.lengths.get(script_args.dataset_test_split),
        world_size(),
        model_config,
        method,
    )


def report_plan(plan: dict[str, Any], output_dir: str | Path, dry_run: bool) -> None:
    """Write plan.json (main process), warn loudly about what cannot work, print the plan on a dry run."""
    if int(os.environ.get("RANK", "0")) != 0:
        return
    path = write_plan(output_dir, plan)
    for warning in plan["warnings"]:
        logger.warning("\n%s\n%s\n%s", "!" * 100, warning, "!" * 100)
    if dry_run:
        print(format_plan(plan))
        print(f"plan written to {path}; dry run: no model was loaded")
    else:
        logger.info("training plan (%s):\n%s", path, format_plan(plan))
