"""Training throughput of the SFT recipe: tokens/s, examples per step and peak memory for N steps, per batching mode.

    python benchmarks/train_throughput.py                       # CPU: tiny random Qwen3, the three batching modes
    python benchmarks/train_throughput.py --device cuda --model-config qwen3_8b_config.json --paths hf unsloth
                                                                # GPU: Qwen3-8B architecture, RANDOM weights, 4-bit

What is measured is the recipe itself: each run parses a recipe YAML (the CPU demo recipe, or on a GPU the Qwen3-8B
QLoRA recipe; `--recipe` picks another) with the recipe's parser, overrides only the model folder, the batch shape,
the step count and the batching mode, loads the model with the recipe's `load_model_and_tokenizer` (`--paths hf` is
`use_unsloth: false`, `--paths unsloth` is `use_unsloth: true`) and trains with its ReplytuneSFTTrainer.

Rows follow the real reply-length distribution: (prompt, reply) pairs from a data_prep output (--dataset) or the
RumourEval tweet/reply threads in ../shared/realdata, measured in Qwen3 tokens with Qwen3's chat template
(non-thinking format) when the real tokenizer is there. Token ids are random: throughput depends on lengths only.
Each (path, batching) runs in its own process, so Unsloth's patches never touch the transformers measurement.

Batching modes:
- padding-free (the recipes' default, the original spec's batch): `--batch` examples per micro-batch, concatenated into
  one row whose position ids restart per example; no padding computed, no truncation;
- packed: bfd packing into rows of `--seq` tokens, `--batch` rows per micro-batch (many more examples per step);
- padded: `--batch` examples per micro-batch, padded to the longest.

Reported per run:
- tokens_per_s: real (non-padding) tokens through forward+backward per second, after `--warmup` steps;
- examples_per_step: examples (pairs) per optimizer step (gradient_accumulation_steps is 1 here);
- real_token_share: real tokens / token positions computed (1.0 without padding, by construction);
- pack_fill: real tokens / (rows x seq) of the packed batches, i.e. how full the packed rows are;
- loss_token_share: tokens that carry loss (the replies) / positions computed;
- peak_mem_gb: torch.cuda.max_memory_allocated on GPU, the process's max RSS on CPU.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python benchmarks/train_throughput.py` puts only benchmarks/ on the path
    sys.path.insert(0, str(REPO_ROOT))

BATCHING = ("padding-free", "packed", "padded")
RECIPES = {
    "cpu": REPO_ROOT / "recipes" / "smollm2-135m" / "sft" / "config_demo.yaml",
    "cuda": REPO_ROOT / "recipes" / "qwen3-8b" / "sft" / "config_qlora.yaml",
}


# --- the reply-length distribution ---------------------------------------------------------------------------------


def real_pairs(dataset: str | None) -> tuple[list[tuple[str, str]], str]:
    """(prompt, reply) texts: a data_prep output folder if given, else RumourEval's source tweets and replies."""
    from data_prep.config import OutputConfig
    from replytune.schema import COMPLETION, PROMPT
    from standins.realdata import REALDATA

    if dataset:
        from recipes.data import load_reply_dataset

        rows = load_reply_dataset(dataset, None, ["train"])[0]["train"]
        pairs = [(row[PROMPT][-1]["content"], row[COMPLETION][-1]["content"]) for row in rows]
        return pairs, f"data_prep output {dataset} ({len(pairs)} train rows)"
    prompt_template = OutputConfig().prompt_template  # the instruction data_prep puts before each tweet
    rumoureval = REALDATA / "tweets" / "rumoureval2017_autoreleasefool"
    pairs = []
    for source_file in sorted(rumoureval.glob("**/source-tweet/*.json")):
        tweet = json.loads(source_file.read_text())["text"]
        for reply_file in sorted((source_file.parent.parent / "replies").glob("*.json")):
            pairs.append((prompt_template.format(tweet=tweet), json.loads(reply_file.read_text())["text"]))
    if not pairs:
        raise SystemExit(f"no real pairs: pass --dataset or --lengths (RumourEval not found under {rumoureval})")
    return pairs, f"RumourEval 2017 ({len(pairs)} tweet/reply pairs)"


def measure_lengths(pairs: list[tuple[str, str]]) -> tuple[list[tuple[int, int]], str]:
    """(prompt tokens, reply tokens) per pair with Qwen3's chat template, split where SFTTrainer splits them."""
    from transformers import AutoTokenizer

    from recipes.data import loss_mask
    from standins.realdata import REAL_QWEN3_TOKENIZER_DIR

    if REAL_QWEN3_TOKENIZER_DIR.is_dir():
        tokenizer, name = AutoTokenizer.from_pretrained(REAL_QWEN3_TOKENIZER_DIR), "real Qwen3 tokenizer"
    else:
        from standins.tiny_models import build_tiny_tokenizer

        tokenizer, name = build_tiny_tokenizer(), "tiny byte-level tokenizer (real Qwen3 tokenizer absent)"
    lengths = []
    for prompt, reply in pairs:
        _, mask = loss_mask(
            tokenizer,
            [{"role": "user", "content": prompt}],
            [{"role": "assistant", "content": reply}],
            enable_thinking=False,
        )
        lengths.append((mask.count(0), mask.count(1)))
    return lengths, name


# --- one measured run ----------------------------------------------------------------------------------------------


def synthetic_rows(lengths, vocab_size: int, rows: int, seed: int = 0):
    from datasets import Dataset

    rng = random.Random(seed)
    sample = [lengths[rng.randrange(len(lengths))] for _ in range(rows)]
    data = []
    for prompt_len, reply_len in sample:
        ids = [rng.randrange(10, vocab_size - 10) for _ in range(prompt_len + reply_len)]
        data.append({"input_ids": ids, "completion_mask": [0] * prompt_len + [1] * reply_len})
    return Dataset.from_list(data)


def recipe_argv(args) -> list[str]:
    """The recipe file plus the overrides that turn it into one measured run; everything else is the recipe's."""
    overrides = {
        "model_name_or_path": args.weights,
        "gguf_file": "null",
        "use_unsloth": "true" if args.path == "unsloth" else "false",
        "output_dir": Path(args.workdir) / f"run-{args.path}-{args.batching}",
        "max_steps": args.steps + args.warmup,
        "per_device_train_batch_size": args.batch,
        "gradient_accumulation_steps": 1,
        "max_length": "null" if args.batching == "padding-free" else args.seq,
        "packing": "true" if args.batching == "packed" else "false",
        "padding_free": "true" if args.batching == "padding-free" else "false",
        "eval_strategy": "no",
        "save_strategy": "no",
        "load_best_model_at_end": "false",
        "logging_steps": 1,
        "report_to": "none",
        # the row order docs/benchmarks.md's shares were measured with; the recipe's seeds would only change which rows
        # share a batch (and the LoRA init), not what a step costs
        "seed": 0,
        "data_seed": 0,
    }
    return ["--config", str(args.recipe)] + [
        item for key, value in overrides.items() for item in (f"--{key}", str(value))
    ]


def run_once(args) -> dict:
    from recipes.sft_qlora import import_unsloth_first

    argv = recipe_argv(args)
    import_unsloth_first(argv)  # as the script does: Unsloth (when asked for, on a GPU) before transformers/trl/peft

    import torch
    from transformers import TrainerCallback

    from recipes.configs import parse_recipe_args
    from recipes.model_utils import load_model_and_tokenizer
    from recipes.trainer import ReplytuneSFTTrainer, batch_token_counts

    _, training_args, model_args, replytune_args = parse_recipe_args(argv)
    loaded = load_model_and_tokenizer(model_args, training_args, replytune_args)
    tokenizer = loaded.tokenizer
    lengths = json.loads(Path(args.lengths).read_text())["lengths"]
    rows_needed = args.batch * (args.steps + args.warmup) * (args.seq // 40 if args.batching == "packed" else 1) + 64
    dataset = synthetic_rows(lengths, min(loaded.model.config.vocab_size, len(tokenizer)), rows_needed)
    on_gpu = args.device == "cuda"

    class Clock(TrainerCallback):
        """marks[0]: training starts; marks[i]: step i ends (the GPU synchronized first)."""

        def __init__(self):
            self.marks = []

        def _mark(self):
            if on_gpu:
                torch.cuda.synchronize()
            self.marks.append(time.perf_counter())

        def on_train_begin(self, *_, **__):
            self._mark()

        def on_step_end(self, *_, **__):
            self._mark()

    clock = Clock()
    trainer = ReplytuneSFTTrainer(
        model=loaded.model,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=loaded.peft_config,
        callbacks=[clock],
    )
    counted = {"examples": 0.0, "real": 0.0, "positions": 0.0, "loss": 0.0, "rows": 0}
    original = trainer.compute_loss

    def counting_compute_loss(model, inputs, *rest, **kwargs):
        if trainer.model.training and trainer.state.global_step >= args.warmup:
            examples, real, loss = batch_token_counts(inputs, tokenizer.pad_token_id).tolist()
            counted["examples"] += examples
            counted["real"] += real
            counted["positions"] += inputs["input_ids"].numel()
            counted["loss"] += loss
            counted["rows"] += args.batch
        return original(model, inputs, *rest, **kwargs)

    trainer.compute_loss = counting_compute_loss
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    seconds = clock.marks[-1] - clock.marks[args.warmup]  # the steps after the warm-up, whose tokens were counted
    if on_gpu:
        peak = torch.cuda.max_memory_allocated() / 2**30
        device = torch.cuda.get_device_name()
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        device = f"CPU ({os.cpu_count()} cores)"
    return {
        "path": loaded.path,
        "batching": args.batching,
        "device": device,
        "steps_timed": args.steps,
        "seq": args.seq,
        "batch": args.batch,
        "tokens_per_s": round(counted["real"] / seconds, 1),
        "examples_per_step": round(counted["examples"] / args.steps, 1),
        "real_token_share": round(counted["real"] / counted["positions"], 4),
        "pack_fill": round(counted["real"] / (counted["rows"] * args.seq), 4) if args.batching == "packed" else None,
        "loss_token_share": round(counted["loss"] / counted["positions"], 4),
        "peak_mem_gb": round(peak, 2),
        "seconds": round(seconds, 2),
    }


# --- driver --------------------------------------------------------------------------------------------------------


def make_random_weights(config_file: str, tokenizer_dir: str | None, directory: Path) -> Path:
    """Save the architecture in `config_file` with RANDOM bf16 weights (built on the GPU when there is one), and a
    tokenizer beside them for the recipe's loader: `tokenizer_dir`, or the tiny tokenizer (token ids are random
    anyway: it only supplies pad/eos ids, all < 320, inside any vocabulary)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from standins.tiny_models import build_tiny_tokenizer

    tokenizer = AutoTokenizer.from_pretrained(tokenizer_dir) if tokenizer_dir else build_tiny_tokenizer()
    tokenizer.save_pretrained(directory)
    if (directory / "config.json").is_file():
        return directory
    config = AutoConfig.from_pretrained(config_file)
    config.dtype = torch.bfloat16
    device = "cuda" if torch.cuda.is_available() else "cpu"
    with torch.device(device):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.bfloat16)
    model.save_pretrained(directory, max_shard_size="5GB")
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return directory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--model-config", help="config.json of the architecture (GPU); weights are random")
    parser.add_argument("--tokenizer", help="tokenizer folder for pad/eos ids (GPU); default: the tiny tokenizer")
    parser.add_argument(
        "--recipe", help="recipe YAML to measure (default: the CPU demo recipe; on GPU the Qwen3-8B one)"
    )
    parser.add_argument("--paths", nargs="+", default=["hf"], choices=["hf", "unsloth"])
    parser.add_argument("--batching", nargs="+", default=list(BATCHING), choices=BATCHING)
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 20 CPU, 10 GPU)")
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--dataset", help="a data_prep output folder (vN) for the lengths; default RumourEval")
    parser.add_argument("--lengths", help="a lengths.json written by an earlier run (skips tokenizing)")
    parser.add_argument("--workdir", default=str(REPO_ROOT / "outputs" / "bench"))
    parser.add_argument("--json-out", help="append each result as a JSON line here")
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)  # a single measured run (child)
    parser.add_argument("--path", default="hf", help=argparse.SUPPRESS)
    parser.add_argument("--mode", dest="batching_one", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.steps = args.steps or (20 if args.device == "cpu" else 10)
    args.recipe = args.recipe or str(RECIPES[args.device])
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.one:
        args.batching = args.batching_one
        print("RESULT " + json.dumps(run_once(args)), flush=True)
        return

    if args.lengths is None:
        pairs, source = real_pairs(args.dataset)
        lengths, tokenizer_name = measure_lengths(pairs)
        args.lengths = str(workdir / "lengths.json")
        Path(args.lengths).write_text(json.dumps({"source": source, "tokenizer": tokenizer_name, "lengths": lengths}))
    info = json.loads(Path(args.lengths).read_text())
    totals = sorted(p + r for p, r in info["lengths"])
    print(
        f"lengths: {info['source']}, {info['tokenizer']}: {len(totals)} rows, prompt+reply tokens median "
        f"{totals[len(totals) // 2]}, p90 {totals[int(len(totals) * 0.9)]}, max {totals[-1]}",
        flush=True,
    )
    if args.device == "cuda":
        if not args.model_config:
            raise SystemExit("--device cuda needs --model-config (e.g. the Qwen3-8B config.json)")
        started = time.perf_counter()
        weights = make_random_weights(args.model_config, args.tokenizer, workdir / "random_weights")
        print(f"random weights ready in {weights} ({time.perf_counter() - started:.0f} s)", flush=True)
    else:
        from standins.tiny_models import save_tiny_qwen3

        weights = save_tiny_qwen3(workdir / "tiny_qwen3")
    results = []
    for path in args.paths:
        for batching in args.batching:
            command = [sys.executable, __file__, "--one", "--device", args.device, "--path", path]
            command += ["--lengths", args.lengths, "--steps", str(args.steps), "--warmup", str(args.warmup)]
            command += ["--seq", str(args.seq), "--batch", str(args.batch), "--workdir", args.workdir]
            command += ["--recipe", args.recipe, "--weights", str(weights)]
            command += ["--mode", batching]
            started = time.perf_counter()
            process = subprocess.run(command, capture_output=True, text=True)
            lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
            if process.returncode != 0 or not lines:
                result = {"path": path, "batching": batching, "error": process.stderr[-3000:]}
            else:
                result = json.loads(lines[-1][len("RESULT ") :])
            result["wall_s"] = round(time.perf_counter() - started, 1)
            results.append(result)
            print(json.dumps(result), flush=True)
            if args.json_out:
                with open(args.json_out, "a", encoding="utf-8") as out:
                    out.write(json.dumps(result) + "\n")
    header = f"{'path':10} {'batching':14} {'tokens/s':>10} {'ex./step':>9} {'real share':>10} {'pack fill':>10}"
    print(f"\n{header} {'peak GB':>8}")
    for r in results:
        if "error" in r:
            print(f"{r['path']:10} {r['batching']:14} failed: {r['error'].strip().splitlines()[-1][:80]}")
            continue
        print(
            f"{r['path']:10} {r['batching']:14} {r['tokens_per_s']:>10} {r['examples_per_step']:>9} "
            f"{r['real_token_share']:>10} {str(r['pack_fill']):>10} {r['peak_mem_gb']:>8}   ({r['device']})"
        )


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
