"""The trainers: TRL's SFTTrainer and DPOTrainer, each with the figures that show what a step really trained on, and
the final save that also works when FSDP keeps the weights sharded (`ReplytuneTrainerMixin`, shared by both).

Per logged training step (every tracker gets them, and trainer_state.json's log_history keeps them):
- `examples_per_optimizer_step`: examples (tweet/reply pairs; preference pairs for DPO) behind each optimizer step,
  over all processes. With padding-free batches an example is one position-id run, so this counts what the collator
  really built: the original spec's batch is 16;
- `tokens_per_optimizer_step` and `loss_tokens_per_optimizer_step`: tokens computed, and those that carry loss;
- `train_tokens_per_second`: tokens over the wall time of the optimizer steps themselves (evaluations,
  checkpoints and logging excluded).

Over the whole run, `stage_seconds` adds up the wall time of the optimizer steps, the evaluations (with their sample
generations) and the checkpoints; the script adds the load before training and the final save, and run_metadata.json
keeps them with the GPU's peak memory (benchmarks/gpu_run.py reads them).

`ReplytuneDPOTrainer` trains a PeftModel whose "default" adapter is the SFT adapter. TRL 1.15's DPOTrainer has no
`model_adapter_name` / `ref_adapter_name` any more: given a PeftModel with a pretrained adapter and no `ref_model`, it
adds a "ref" adapter holding a copy of "default" (frozen: it is never the active adapter, and its forward runs under
no_grad) and computes the reference log-probs with "ref" switched on, so the reference is the SFT policy, not the
bare base. Checkpoints and the final save hold the policy adapter alone: with a "ref" subfolder beside it,
transformers' resume would load only the subfolder and silently restart the policy from the SFT adapter.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from contextlib import contextmanager
from functools import partial

import torch
from trl import DPOTrainer, SFTTrainer

from recipes.callbacks import ThroughputCallback

logger = logging.getLogger("replytune.sft")


class TorchChunkedLogProb:
    """Plain-PyTorch stand-in for TRL 1.15's Triton `ChunkedLogProbFunction`, used where Triton is absent (CPU).

    TRL 1.15's SFTTrainer always computes the loss through a fused LM head whose kernel needs Triton, which has no
    CPU backend; without it `_ChunkedLogProbFunction` is None and training fails with "'NoneType' object has no
    attribute 'apply'". This computes the same outputs from full logits with autograd (fine for the small CPU models
    of tests and the demo); on a GPU with Triton, TRL's kernel is left in place.
    """

    @staticmethod
    def apply(hidden, weight, bias, targets, temperature, chunk_size, softcap, logit_scale, outputs):
        device_type = hidden.device.type
        dtype = torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else hidden.dtype
        logits = hidden.to(dtype) @ weight.to(dtype).t()
        if bias is not None:
            logits = logits + bias.to(dtype)
        logits = logits.float() * logit_scale
        if softcap is not None:
            logits = softcap * torch.tanh(logits / softcap)
        logits = logits / temperature
        log_z = torch.logsumexp(logits, dim=-1)
        log_probs = logits.gather(-1, targets.unsqueeze(-1)).squeeze(-1) - log_z
        entropy = None
        if "entropy" in outputs:
            entropy = log_z - (torch.softmax(logits, dim=-1) * logits).sum(-1)
        with torch.no_grad():
            detached = logits.detach()
            log_sum_sq = None
            if "log_sum_sq_probs" in outputs:
                log_sum_sq = torch.logsumexp(2 * detached, -1) - 2 * log_z.detach()
            mean_logits = detached.mean(-1) if "mean_logits" in outputs else None
            is_top1 = detached.argmax(-1) == targets if "is_top1" in outputs else None
        return log_probs, entropy, log_sum_sq, mean_logits, is_top1


def install_cpu_loss_fallback() -> bool:
    """Put TorchChunkedLogProb in place when TRL's Triton kernel could not be imported; True if it did."""
    import trl.trainer.utils as trl_utils

    if getattr(trl_utils, "_ChunkedLogProbFunction", None) is not None:
        return False
    trl_utils._ChunkedLogProbFunction = TorchChunkedLogProb
    logger.info("Triton is not available: the loss uses a plain PyTorch LM head (TorchChunkedLogProb)")
    return True


def batch_token_counts(inputs: dict[str, torch.Tensor], pad_token_id: int | None) -> torch.Tensor:
    """[examples, tokens, tokens that carry loss] of one collated batch, as float32.

    Padding-free batches are one flattened row whose position ids restart at 0 for each example; padded batches hold
    one example per row and mark padding in attention_mask. benchmarks/train_throughput.py counts with this too.
    """
    input_ids = inputs["input_ids"]
    if "attention_mask" in inputs:
        examples = torch.tensor(float(input_ids.shape[0]), device=input_ids.device)
        tokens = inputs["attention_mask"].sum()
    elif "position_ids" in inputs:
        starts = inputs["position_ids"] == 0
        padding = (input_ids == pad_token_id) & starts  # pads (if any) trail the flattened row at position 0
        trailing = _trailing_true(padding)
        examples = starts.sum() - trailing
        tokens = input_ids.numel() - trailing
    else:
        examples = torch.tensor(float(input_ids.shape[0]), device=input_ids.device)
        tokens = torch.tensor(input_ids.numel(), device=input_ids.device)
    return torch.stack(
        [
            torch.as_tensor(examples, device=input_ids.device, dtype=torch.float32),
            torch.as_tensor(tokens, device=input_ids.device, dtype=torch.float32),
            (inputs["labels"] != -100).sum().to(torch.float32),
        ]
    )


def _trailing_true(mask: torch.Tensor) -> torch.Tensor:
    """Length of the run of True at the end of the flattened mask (0 when the last element is False)."""
    flat = mask.reshape(-1).to(torch.int64)
    if flat.numel() == 0:
        return flat.sum()
    # the cumulative product of the reversed mask stays 1 exactly as long as that run lasts
    return torch.cumprod(flat.flip(0), dim=0).sum()


def preference_batch_counts(inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """[pairs, tokens, tokens that carry loss] of one DPOTrainer batch (chosen rows, then rejected rows, padded), as
    float32; tokens are the attention mask's, padding excluded."""
    input_ids = inputs["input_ids"]
    return torch.stack(
        [
            torch.tensor(input_ids.shape[0] / 2, device=input_ids.device, dtype=torch.float32),
            inputs["attention_mask"].sum().to(torch.float32),
            inputs["completion_mask"].sum().to(torch.float32),
        ]
    )


class ReplytuneTrainerMixin:
    """What both recipes' trainers add to TRL's: the per-step counts (see the module docstring), callbacks with an
    `add_metrics(logs, state)` method extending each log record before it reaches log_history and every tracker,
    the stage timings and the final save."""

    def __init__(self, *args, callbacks=None, **kwargs):
        install_cpu_loss_fallback()
        self.throughput = ThroughputCallback()
        self.stage_seconds: dict[str, float] = defaultdict(float)
        super().__init__(*args, callbacks=[self.throughput, *(callbacks or [])], **kwargs)
        for callback in self.callback_handler.callbacks:
            if hasattr(callback, "trainer_callbacks"):  # TrackingMetadataCallback finds the tensorboard writer there
                callback.trainer_callbacks = self.callback_handler.callbacks

    def batch_counts(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return batch_token_counts(inputs, self._tokenizer.pad_token_id)

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        if self.model.training:
            counts = self.batch_counts(inputs)
            # gather, not gather_for_metrics: that one trims "duplicated" rows at the end of a dataloader, and these
            # rows are processes (the examples accelerate repeats to even out batches are trained on, so they count)
            examples, tokens, loss_tokens = self.accelerator.gather(counts.unsqueeze(0)).sum(0).tolist()
            self.throughput.count(examples, tokens, loss_tokens)
        return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)

    def log(self, logs: dict[str, float], start_time: float | None = None) -> None:
        for callback in self.callback_handler.callbacks:
            if hasattr(callback, "add_metrics"):
                callback.add_metrics(logs, self.state)
        super().log(logs, start_time)

    @contextmanager
    def timed(self, stage: str):
        """Adds the wall time of the block (its GPU work finished) to stage_seconds[stage]."""
        started = time.perf_counter()
        try:
            yield
        finally:
            if torch.cuda.is_available():
                torch.cuda.synchronize()
            self.stage_seconds[stage] += time.perf_counter() - started

    def evaluate(self, *args, **kwargs):
        with self.timed("evaluations"):
            return super().evaluate(*args, **kwargs)

    def _save_checkpoint(self, *args, **kwargs):
        with self.timed("checkpoints"):
            return super()._save_checkpoint(*args, **kwargs)

    def run_costs(self) -> dict[str, float | dict[str, float] | None]:
        """Seconds per stage of the training loop, and the GPU's peak memory (None on the CPU)."""
        stages = {"steps": self.throughput.total_seconds, **self.stage_seconds}
        costs: dict = {"stage_seconds": {name: round(seconds, 2) for name, seconds in stages.items()}}
        on_gpu = torch.cuda.is_available()
        costs["peak_memory_gb"] = round(torch.cuda.max_memory_reserved() / 1e9, 2) if on_gpu else None
        return costs

    def save_adapter(self, output_dir: str) -> None:
        """Save the final adapter; call it on every process.

        transformers' save_model writes weights under FSDP only with FULL_STATE_DICT; with SHARDED_STATE_DICT (what
        accelerate_configs/fsdp_qlora.yaml uses for fast checkpoints) it writes nothing. As PEFT's FSDP-QLoRA example
        does, switch to a full state dict (gathered on the main process, offloaded to CPU) for this last save.
        """
        if self.is_fsdp_enabled:
            plugin = self.accelerator.state.fsdp_plugin
            if "FULL_STATE_DICT" not in str(plugin.state_dict_type):
                logger.info(
                    "FSDP: gathering the full adapter state dict for the final save (was %s)", plugin.state_dict_type
                )
                plugin.set_state_dict_type("FULL_STATE_DICT")
        self.save_model(output_dir)


class ReplytuneSFTTrainer(ReplytuneTrainerMixin, SFTTrainer):
    """SFTTrainer with replytune's counts, timings and final save (ReplytuneTrainerMixin)."""


class ReplytuneDPOTrainer(ReplytuneTrainerMixin, DPOTrainer):
    """DPOTrainer with replytune's counts, timings and final save, training the SFT adapter against a frozen copy of
    itself (see the module docstring). Counts are per preference pair."""

    POLICY_ADAPTER = "default"
    REFERENCE_ADAPTER = "ref"  # the name TRL 1.15's DPOTrainer gives the copy, and looks up

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        adapters = list(getattr(self.accelerator.unwrap_model(self.model), "peft_config", {}))
        if adapters != [self.POLICY_ADAPTER, self.REFERENCE_ADAPTER]:
            raise RuntimeError(
                f"DPO on the SFT adapter needs the policy adapter {self.POLICY_ADAPTER!r} and TRL's frozen reference "
                f"copy {self.REFERENCE_ADAPTER!r}; the model holds {adapters} (has TRL's DPOTrainer changed?)"
            )

    def batch_counts(self, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
        return preference_batch_counts(inputs)

    def _save(self, output_dir: str | None = None, state_dict: dict | None = None) -> None:
        """Checkpoints and the final save: the policy adapter only (see the module docstring)."""
        model = self.accelerator.unwrap_model(self.model, keep_torch_compile=False)
        save_pretrained = model.save_pretrained
        model.save_pretrained = partial(save_pretrained, selected_adapters=[self.POLICY_ADAPTER])
        try:
            super()._save(output_dir, state_dict)
        finally:
            del model.save_pretrained  # the class's method again
