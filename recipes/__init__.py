"""Training recipes: `sft_qlora.py` and `dpo_qlora.py` (the scripts: SFT, then DPO on the SFT adapter) and their
library, one module per concern, shared by both:

- `configs.py`: the recipe's fields (ReplytuneArguments beside TRL's), the two methods, parsing, checks and `--help`;
- `data.py`: the data_prep dataset, its rows, and the row checks made before any model loads;
- `plan.py`: the training plan (examples per step, steps, evaluations; `--dry_run true`);
- `model_utils.py`: model loading for training (Unsloth / bitsandbytes 4-bit / CPU);
- `inference.py`: a base model loaded for generation and the LoRA adapters on it (the judge, scripts/reply.py);
- `sft_adapter.py`: DPO's starting point, the SFT adapter read and loaded trainable on its base;
- `trainer.py`: the SFTTrainer and DPOTrainer subclasses, their per-step token counts and the final (FSDP-safe) save;
- `callbacks.py`: overfitting guards, sample generations, throughput counts, tracker metadata;
- `generation.py`: the one batched-generation function and the one decoding dataclass (the judge and
  scripts/reply.py use both);
- `run_files.py`: what a run leaves behind: resolved config, metadata, resume, generation config, `save_run`;
- `adapter_card.py`: the adapter's README.md card (the judge's publish step extends it; the push: replytune/hub.py).

The recipe files live under `<model>/sft/` and `<model>/dpo/`. Nothing heavy is imported here: the script reads these
paths before Unsloth, which must be imported before transformers.
"""

from pathlib import Path

RECIPES_DIR = Path(__file__).resolve().parent
REPO_ROOT = RECIPES_DIR.parent  # the project checkout: git provenance, paths shown relative to it
DEFAULT_RECIPE = RECIPES_DIR / "qwen3-8b" / "sft" / "config_qlora.yaml"
CPU_DEMO_RECIPE = RECIPES_DIR / "smollm2-135m" / "sft" / "config_demo.yaml"
DPO_DEFAULT_RECIPE = RECIPES_DIR / "qwen3-8b" / "dpo" / "config_qlora.yaml"
DPO_CPU_DEMO_RECIPE = RECIPES_DIR / "smollm2-135m" / "dpo" / "config_demo.yaml"
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"  # a training run's lines carry the time


def split_config_flag(argv: list[str]) -> list[str]:
    """`--config=X` as `--config X`: TrlParser looks for the two-word form only (the other ran the default recipe)."""
    return [part for arg in argv for part in (arg.split("=", 1) if arg.startswith("--config=") else [arg])]


def start_console(argv: list[str]) -> list[str]:
    """A recipe script's console, set up before anything prints at import (bitsandbytes does, when trl loads): quiet
    unless --verbose (replytune/quiet.py). Returns argv without --verbose, which is not a field of the recipe."""
    from replytune.cli import take_flag
    from replytune.quiet import configure_console

    argv, verbose = take_flag(argv, "--verbose")
    configure_console(verbose, log_format=LOG_FORMAT)
    return argv
