"""Training throughput of the SFT recipe: tokens/s, real-token share and peak memory for N steps, packed vs unpacked.

    python benchmarks/train_throughput.py                       # CPU: tiny random Qwen3, packed vs unpacked
    python benchmarks/train_throughput.py --device cuda --model-config qwen3_8b_config.json --paths hf unsloth
                                                                # GPU: Qwen3-8B architecture, RANDOM weights, 4-bit

Rows follow the real reply-length distribution: (prompt, reply) pairs from a data_prep output (--dataset) or the
RumourEval tweet/reply threads in ../shared/realdata, measured in Qwen3 tokens with Qwen3's chat template
(non-thinking format) when the real tokenizer is there. Token ids are random: throughput depends on lengths only.
Each (path, packing) runs in its own process, so Unsloth's patches never touch the transformers measurement.

Reported per run:
- tokens_per_s: real (non-padding) tokens through forward+backward per second, after `--warmup` steps;
- real_token_share: real tokens / token positions computed (1.0 for padding-free packing by construction);
- pack_fill: real tokens / (rows x max_length) of the batches, i.e. how full the packed rows are;
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
REALDATA = REPO_ROOT.parent / "shared" / "realdata"
REAL_TOKENIZER = REALDATA / "tokenizer" / "qwen3_tokenizer_renji555"
INSTRUCTION = "Generate an engaging Twitter reply to:\n\n"


# --- the reply-length distribution ---------------------------------------------------------------------------------


def real_pairs(dataset: str | None) -> tuple[list[tuple[str, str]], str]:
    """(tweet, reply) texts: a data_prep output folder if given, else RumourEval's source tweets and replies."""
    if dataset:
        from datasets import load_dataset

        rows = load_dataset(dataset, split="train")
        pairs = [(row["prompt"][-1]["content"], row["completion"][-1]["content"]) for row in rows]
        return pairs, f"data_prep output {dataset} ({len(pairs)} train rows)"
    rumoureval = REALDATA / "tweets" / "rumoureval2017_autoreleasefool"
    pairs = []
    for source_file in sorted(rumoureval.glob("**/source-tweet/*.json")):
        tweet = json.loads(source_file.read_text())["text"]
        for reply_file in sorted((source_file.parent.parent / "replies").glob("*.json")):
            pairs.append((INSTRUCTION + tweet, json.loads(reply_file.read_text())["text"]))
    if not pairs:
        raise SystemExit(f"no real pairs: pass --dataset or --lengths (RumourEval not found under {rumoureval})")
    return pairs, f"RumourEval 2017 ({len(pairs)} tweet/reply pairs)"


def measure_lengths(pairs: list[tuple[str, str]]) -> tuple[list[tuple[int, int]], str]:
    """(prompt tokens, reply tokens) per pair with Qwen3's chat template, as SFTTrainer tokenizes them."""
    from transformers import AutoTokenizer

    if REAL_TOKENIZER.is_dir():
        tokenizer, name = AutoTokenizer.from_pretrained(REAL_TOKENIZER), "real Qwen3 tokenizer"
    else:
        sys.path.insert(0, str(REPO_ROOT))
        from tests.tiny_models import build_tiny_tokenizer

        tokenizer, name = build_tiny_tokenizer(), "tiny byte-level tokenizer (real Qwen3 tokenizer absent)"
    lengths = []
    for prompt, reply in pairs:
        messages = [{"role": "user", "content": prompt}]
        prompt_ids = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, enable_thinking=False, tokenize=True, return_dict=True
        )["input_ids"]
        full_ids = tokenizer.apply_chat_template(
            messages + [{"role": "assistant", "content": reply}], tokenize=True, return_dict=True
        )["input_ids"]
        lengths.append((len(prompt_ids), len(full_ids) - len(prompt_ids)))
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


def build_model(args):
    import torch
    from peft import LoraConfig
    from transformers import AutoConfig, AutoModelForCausalLM, BitsAndBytesConfig

    targets = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
    if args.device == "cpu":
        sys.path.insert(0, str(REPO_ROOT))
        from tests.tiny_models import build_tiny_qwen3, build_tiny_tokenizer

        tokenizer = build_tiny_tokenizer()
        model = build_tiny_qwen3(tokenizer)
        return model, tokenizer, LoraConfig(r=16, lora_alpha=16, lora_dropout=0.1, target_modules=targets), "cpu"
    from transformers import AutoTokenizer

    if args.tokenizer:
        tokenizer = AutoTokenizer.from_pretrained(args.tokenizer)
    else:  # token ids are random anyway: the tiny tokenizer only supplies pad/eos ids (all < 320, inside any vocab)
        sys.path.insert(0, str(REPO_ROOT))
        from tests.tiny_models import build_tiny_tokenizer

        tokenizer = build_tiny_tokenizer()
    if args.path == "unsloth":
        from unsloth import FastLanguageModel

        model, _ = FastLanguageModel.from_pretrained(
            model_name=args.weights, max_seq_length=args.seq, dtype=torch.bfloat16, load_in_4bit=True
        )
        model = FastLanguageModel.get_peft_model(
            model,
            r=16,
            lora_alpha=16,
            lora_dropout=0.1,
            target_modules=targets,
            use_gradient_checkpointing="unsloth",
            random_state=0,
        )
        return model, tokenizer, None, "unsloth"
    config = AutoConfig.from_pretrained(args.weights)
    model = AutoModelForCausalLM.from_pretrained(
        args.weights,
        config=config,
        dtype=torch.bfloat16,
        attn_implementation="sdpa",
        device_map={"": 0},
        quantization_config=BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=torch.bfloat16,
        ),
    )
    return model, tokenizer, LoraConfig(r=16, lora_alpha=16, lora_dropout=0.1, target_modules=targets), "bnb-4bit"


def run_once(args) -> dict:
    import torch
    from transformers import TrainerCallback
    from trl import SFTConfig

    sys.path.insert(0, str(REPO_ROOT))
    from recipes.replytune_sft import ReplytuneSFTTrainer

    lengths = json.loads(Path(args.lengths).read_text())["lengths"]
    model, tokenizer, peft_config, path = build_model(args)
    vocab = model.config.vocab_size
    rows_needed = args.batch * (args.steps + args.warmup) * (args.seq // 40 if args.packed else 1) + 64
    dataset = synthetic_rows(lengths, min(vocab, len(tokenizer)), rows_needed)
    on_gpu = args.device == "cuda"
    training_args = SFTConfig(
        output_dir=str(Path(args.workdir) / f"run-{path}-{'packed' if args.packed else 'unpacked'}"),
        max_steps=args.steps + args.warmup,
        per_device_train_batch_size=args.batch,
        gradient_accumulation_steps=1,
        learning_rate=2e-4,
        max_length=args.seq,
        packing=args.packed,
        packing_strategy="bfd",
        completion_only_loss=True,
        gradient_checkpointing=on_gpu,
        gradient_checkpointing_kwargs={"use_reentrant": False} if on_gpu else None,
        bf16=on_gpu,
        use_cpu=not on_gpu,
        report_to="none",
        save_strategy="no",
        logging_steps=1,
        dataloader_num_workers=0,
        seed=0,
    )

    class Clock(TrainerCallback):
        def __init__(self):
            self.marks = []

        def on_step_end(self, *_, **__):
            if on_gpu:
                torch.cuda.synchronize()
            self.marks.append(time.perf_counter())

    clock = Clock()
    trainer = ReplytuneSFTTrainer(
        model=model,
        args=training_args,
        train_dataset=dataset,
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[clock],
    )
    counted = {"real": 0.0, "positions": 0.0, "loss": 0.0, "rows": 0}
    original = trainer.compute_loss

    def counting_compute_loss(model, inputs, *rest, **kwargs):
        if trainer.model.training and trainer.state.global_step >= args.warmup:
            positions = inputs["input_ids"].numel()
            real = inputs["attention_mask"].sum().item() if "attention_mask" in inputs else positions
            counted["real"] += real
            counted["positions"] += positions
            counted["loss"] += (inputs["labels"] != -100).sum().item()
            counted["rows"] += args.batch
        return original(model, inputs, *rest, **kwargs)

    trainer.compute_loss = counting_compute_loss
    if on_gpu:
        torch.cuda.reset_peak_memory_stats()
    trainer.train()
    timed = clock.marks[args.warmup - 1 :] if args.warmup > 0 else [clock.marks[0]] + clock.marks
    seconds = timed[-1] - timed[0]
    if on_gpu:
        peak = torch.cuda.max_memory_allocated() / 2**30
        device = torch.cuda.get_device_name()
    else:
        import resource

        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
        device = f"CPU ({os.cpu_count()} cores)"
    return {
        "path": path,
        "packing": "bfd padding-free" if args.packed else "unpacked (padded)",
        "device": device,
        "steps_timed": args.steps,
        "seq": args.seq,
        "batch": args.batch,
        "tokens_per_s": round(counted["real"] / seconds, 1),
        "real_token_share": round(counted["real"] / counted["positions"], 4),
        "pack_fill": round(counted["real"] / (counted["rows"] * args.seq), 4),
        "loss_token_share": round(counted["loss"] / counted["positions"], 4),
        "peak_mem_gb": round(peak, 2),
        "seconds": round(seconds, 2),
    }


# --- driver --------------------------------------------------------------------------------------------------------


def make_random_weights(config_file: str, directory: Path) -> Path:
    """Save the architecture in `config_file` with RANDOM bf16 weights (built on the GPU when there is one)."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

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
    parser.add_argument("--paths", nargs="+", default=["hf"], choices=["hf", "unsloth"])
    parser.add_argument("--packing", nargs="+", default=["packed", "unpacked"], choices=["packed", "unpacked"])
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
    parser.add_argument("--packed", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--weights", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.steps = args.steps or (20 if args.device == "cpu" else 10)
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    if args.one:
        if args.path == "unsloth":
            import unsloth  # noqa: F401  (before transformers/trl/peft, as Unsloth requires)
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
    weights = None
    if args.device == "cuda":
        if not args.model_config:
            raise SystemExit("--device cuda needs --model-config (e.g. the Qwen3-8B config.json)")
        started = time.perf_counter()
        weights = make_random_weights(args.model_config, workdir / "random_weights")
        print(f"random weights ready in {weights} ({time.perf_counter() - started:.0f} s)", flush=True)
    results = []
    for path in args.paths:
        for packing in args.packing:
            command = [sys.executable, __file__, "--one", "--device", args.device, "--path", path]
            command += ["--lengths", args.lengths, "--steps", str(args.steps), "--warmup", str(args.warmup)]
            command += ["--seq", str(args.seq), "--batch", str(args.batch), "--workdir", args.workdir]
            command += ["--packed"] if packing == "packed" else []
            command += ["--weights", str(weights)] if weights else []
            command += ["--tokenizer", args.tokenizer] if args.tokenizer else []
            started = time.perf_counter()
            process = subprocess.run(command, capture_output=True, text=True)
            lines = [line for line in process.stdout.splitlines() if line.startswith("RESULT ")]
            if process.returncode != 0 or not lines:
                result = {"path": path, "packing": packing, "error": process.stderr[-3000:]}
            else:
                result = json.loads(lines[-1][len("RESULT ") :])
            result["wall_s"] = round(time.perf_counter() - started, 1)
            results.append(result)
            print(json.dumps(result), flush=True)
            if args.json_out:
                with open(args.json_out, "a", encoding="utf-8") as out:
                    out.write(json.dumps(result) + "\n")
    print(f"\n{'path':10} {'packing':20} {'tokens/s':>10} {'real share':>10} {'pack fill':>10} {'peak GB':>8}")
    for r in results:
        if "error" in r:
            print(f"{r['path']:10} {r['packing']:20} failed: {r['error'].strip().splitlines()[-1][:80]}")
            continue
        print(
            f"{r['path']:10} {r['packing']:20} {r['tokens_per_s']:>10} {r['real_token_share']:>10} "
            f"{r['pack_fill']:>10} {r['peak_mem_gb']:>8}   ({r['device']})"
        )


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
