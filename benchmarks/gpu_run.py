"""The whole GPU path in one command: train the default recipe through `accelerate launch`, then `judge generate`
base and adapter on the held-out tweets, and measure each stage.

    python benchmarks/gpu_run.py --output DIR            # a GPU: Qwen3-8B's architecture, RANDOM weights, 4-bit
    python benchmarks/gpu_run.py --tiny --output DIR     # the CPU: a 2-layer model of Qwen3's vocabulary
                                                         # (what it does without a GPU; `make bench` runs it so)

Full mode builds Qwen3-8B from its real config.json with random weights (no weights can be downloaded where this
runs; throughput and memory depend on shapes, not on weight values, and losses and replies are meaningless). The data
is real and of the size the original spec plans for (~1,000 pairs): RumourEval threads from ../shared/realdata built
by `data_prep build` with benchmarks/configs/gpu_run_data.yaml, or any data_prep version (`--dataset DIR`). Training
is the user's command: `accelerate launch --config_file accelerate_configs/single_gpu.yaml recipes/sft_qlora.py
--config recipes/qwen3-8b/sft/config_qlora.yaml`, with only the model folder, the dataset, the output folder and the
tracker overridden (`--recipe-arg` adds more, e.g. `--recipe-arg=--use_unsloth=true`). Generation is `python -m judge
generate` with the default judge config on up to `--max-tweets` test tweets, base and adapter.

DIR/gpu_run.json holds: `stages` (seconds: load, steps, evaluations, checkpoints, save, generation), the examples per
optimizer step, train tokens/s, MFU on the 6N basis (6 x parameters x tokens/s over the bf16 matmul peak measured on
this GPU; null on the CPU), peak memory, mean GPU utilization over the optimizer steps (nvidia-smi; null on the CPU),
replies/s, the losses, and the run's shape. The logs and the run's own files come back beside it.
--tiny does the same on the CPU in about a minute; tests/test_gpu_run.py runs it, so CI keeps this command working.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:  # `python benchmarks/gpu_run.py` puts only benchmarks/ on the path
    sys.path.insert(0, str(REPO_ROOT))
from standins.realdata import REALDATA  # noqa: E402

DEFAULT_RECIPE = REPO_ROOT / "recipes" / "qwen3-8b" / "sft" / "config_qlora.yaml"
DATA_CONFIG = REPO_ROOT / "benchmarks" / "configs" / "gpu_run_data.yaml"
QWEN3_8B_CONFIG = Path("tokenizer") / "qwen3_8b_sanjithudupa"  # config.json and generation_config.json
QWEN3_TOKENIZER = Path("tokenizer") / "qwen3_tokenizer_renji555"
RUMOUREVAL = Path("tweets") / "rumoureval2017_autoreleasefool"
# A 2-layer model of the same vocabulary: every stage runs on the CPU in seconds.
TINY_SHAPE = {
    "hidden_size": 64,
    "intermediate_size": 128,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "head_dim": 16,
    "layer_types": ["full_attention"] * 2,
    "max_window_layers": 2,
}
# --tiny trains 3 optimizer steps (an evaluation and a checkpoint after each) and answers 4 tweets.
TINY_RECIPE_ARGS = ["--use_cpu", "true", "--bf16", "false", "--max_steps", "3", "--optim", "adamw_torch"]
TINY_RECIPE_ARGS += ["--num_sample_prompts", "1", "--sample_max_new_tokens", "8", "--dataloader_num_workers", "0"]


def run_logged(command: list[str], log: Path, timeout: float, env: dict | None = None) -> float:
    """Run a command with its output in `log`; its wall seconds, or SystemExit naming the log's tail."""
    started = time.perf_counter()
    with log.open("w") as out:
        completed = subprocess.run(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=REPO_ROOT, timeout=timeout, env=env, check=False
        )
    if completed.returncode != 0:
        tail = log.read_text(errors="replace")[-3000:]
        raise SystemExit(f"{' '.join(command[:6])} ... failed with exit {completed.returncode}:\n{tail}")
    return time.perf_counter() - started


def build_random_qwen3(realdata: Path, destination: Path, tiny: bool) -> int:
    """Qwen3-8B's architecture (or TINY_SHAPE) with random bf16 weights and the real tokenizer; its parameters."""
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    config = json.loads((realdata / QWEN3_8B_CONFIG / "config.json").read_text())
    config.pop("dtype", None)
    config.pop("architectures", None)
    if tiny:
        config.update(TINY_SHAPE)
    model_config = AutoConfig.for_model(**config)
    model_config.architectures = ["Qwen3ForCausalLM"]
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() and not tiny else "cpu"):
        model = AutoModelForCausalLM.from_config(model_config, dtype=torch.bfloat16 if not tiny else torch.float32)
    parameters = sum(p.numel() for p in model.parameters())
    model.save_pretrained(destination, max_shard_size="4GB")
    for folder in (QWEN3_TOKENIZER, QWEN3_8B_CONFIG):
        for path in (realdata / folder).iterdir():
            if path.name != "config.json" and not (destination / path.name).exists():
                shutil.copy(path, destination / path.name)
    del model
    torch.cuda.empty_cache()  # nvidia-smi counts this process's cache too while the recipe trains
    return parameters


def bf16_matmul_peak_tflops() -> float | None:
    """This GPU's bf16 matmul rate, measured: the denominator of MFU (None without a GPU)."""
    import torch

    if not torch.cuda.is_available():
        return None
    size, repeats = 8192, 30
    a = torch.randn(size, size, dtype=torch.bfloat16, device="cuda")
    b = torch.randn(size, size, dtype=torch.bfloat16, device="cuda")
    for _ in range(5):
        a @ b
    torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        a @ b
    torch.cuda.synchronize()
    return round(2 * size**3 * repeats / (time.perf_counter() - started) / 1e12, 1)


class GpuMonitor:
    """nvidia-smi sampled every 200 ms in the background: (seconds since start, utilization %, memory MiB)."""

    def __init__(self):
        self.samples: list[tuple[float, float, float]] = []
        self.started = time.perf_counter()
        self.process = None
        if shutil.which("nvidia-smi"):
            query = ["nvidia-smi", "--query-gpu=utilization.gpu,memory.used", "--format=csv,noheader,nounits"]
            self.process = subprocess.Popen([*query, "-lms", "200"], stdout=subprocess.PIPE, text=True)
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            try:
                utilization, memory = (float(value) for value in line.split(",")[:2])
            except ValueError:
                continue
            self.samples.append((time.perf_counter() - self.started, utilization, memory))

    def stop(self):
        if self.process:
            self.process.terminate()

    def utilization(self, start: float, end: float) -> float | None:
        window = [u for t, u, _ in self.samples if start <= t <= end]
        return round(statistics.fmean(window), 1) if window else None

    def peak_memory_gb(self) -> float | None:
        return round(max(m for _, _, m in self.samples) * 1.048576 / 1000, 2) if self.samples else None


def training_figures(adapter: Path, parameters: int, peak_tflops: float | None) -> dict:
    """What the run's own files say: stage seconds, tokens/s, examples per step, memory, losses."""
    metadata = json.loads((adapter / "run_metadata.json").read_text())
    metrics = metadata["metrics"]
    history = json.loads((adapter / "trainer_state.json").read_text())["log_history"]
    steps = [entry for entry in history if "loss" in entry and "tokens_per_optimizer_step" in entry]
    step_seconds = metrics["stage_seconds"]["steps"]
    tokens = sum(entry["tokens_per_optimizer_step"] for entry in steps)  # logging_steps 1: one entry per step
    tokens_per_second = tokens / step_seconds if step_seconds else None
    flops = 6 * parameters * tokens_per_second if tokens_per_second else None
    return {
        "load_path": metadata["load_path"],
        "optimizer_steps": len(steps),
        "examples_per_optimizer_step": statistics.median(entry["examples_per_optimizer_step"] for entry in steps),
        "train_tokens_per_second": round(tokens_per_second, 1) if tokens_per_second else None,
        "mean_tokens_per_optimizer_step": round(tokens / len(steps), 1) if steps else None,
        "mfu": round(flops / (peak_tflops * 1e12), 4) if flops and peak_tflops else None,
        "peak_memory_gb": metrics.get("peak_memory_gb"),
        "memory_after_load_gb": metrics.get("memory_after_load_gb"),
        "stage_seconds": metrics["stage_seconds"],
        "losses": {
            "first_step": steps[0]["loss"] if steps else None,
            "last_step": steps[-1]["loss"] if steps else None,
            "eval": [entry["eval_loss"] for entry in history if "eval_loss" in entry],
        },
    }


def print_table(result: dict) -> None:
    stages = result["stages"]
    rows = [(f"{name} (s)", stages.get(name)) for name in ("load", "steps", "evaluations", "checkpoints", "save")]
    rows += [("generation (s)", stages.get("generation")), ("training launch, whole (s)", result["training_wall"])]
    for key in ("examples_per_optimizer_step", "train_tokens_per_second", "mfu", "peak_memory_gb"):
        rows.append((key, result[key]))
    rows += [("gpu_utilization (%)", result["gpu_utilization"]), ("replies_per_second", result["replies_per_second"])]
    print(f"\n{result['mode']} run on {result['device']} ({result['shape']})")
    for name, value in rows:
        print(f"  {name:<30} {value if value is not None else '-'}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--output", help="folder for gpu_run.json and the logs (default: a temporary folder)")
    parser.add_argument("--tiny", action="store_true", help="the CPU rehearsal with a 2-layer model")
    parser.add_argument("--dataset", help="a data_prep output folder (default: build one from RumourEval)")
    parser.add_argument("--realdata", type=Path, default=REALDATA, help="../shared/realdata (config, tokenizer)")
    parser.add_argument("--model", type=Path, help="a folder holding the model already (skips building it)")
    parser.add_argument("--work", type=Path, help="scratch folder for the model, data and adapter (default: temp)")
    parser.add_argument("--max-tweets", type=int, default=None, help="held-out tweets to answer (64; --tiny 4)")
    parser.add_argument("--recipe-arg", action="append", default=[], help="one more recipe flag (repeatable)")
    parser.add_argument("--skip-generation", action="store_true", help="train only")
    parser.add_argument("--timeout", type=float, default=900, help="seconds allowed to each command")
    args = parser.parse_args(argv)
    if not (args.realdata / QWEN3_8B_CONFIG / "config.json").is_file():
        parser.error(f"Qwen3-8B's config.json is not under {args.realdata / QWEN3_8B_CONFIG} (pass --realdata)")
    import torch

    if not args.tiny and not torch.cuda.is_available():
        print("no CUDA GPU here: running the --tiny rehearsal on the CPU (the full run needs a GPU)")
        args.tiny = True
    output = Path(args.output or tempfile.mkdtemp(prefix="gpu_run-out-"))
    output.mkdir(parents=True, exist_ok=True)
    work = args.work or Path(tempfile.mkdtemp(prefix="gpu_run-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}
    env.setdefault("HF_HUB_OFFLINE", "1")
    on_gpu = torch.cuda.is_available() and not args.tiny
    result: dict = {"mode": "tiny" if args.tiny else "full", "stages": {}}
    result["device"] = torch.cuda.get_device_name() if on_gpu else "cpu"

    # 1. the model (not a stage of the user's run: they download theirs)
    model = args.model or work / "model"
    if not (model / "config.json").is_file():
        started = time.perf_counter()
        result["parameters"] = build_random_qwen3(args.realdata, model, args.tiny)
        result["make_model_seconds"] = round(time.perf_counter() - started, 1)
    else:
        result["parameters"] = json.loads((model / "config.json").read_text()).get("num_parameters")
    if not result["parameters"]:
        from transformers import AutoConfig, AutoModelForCausalLM

        with torch.device("meta"):
            meta = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model))
        result["parameters"] = sum(p.numel() for p in meta.parameters())
    peak_tflops = bf16_matmul_peak_tflops() if on_gpu else None
    result["bf16_peak_tflops_measured"] = peak_tflops

    # 2. the data
    dataset = args.dataset
    if dataset is None:
        dataset = str(work / "data")
        if not (work / "data" / "v1").is_dir():
            command = [sys.executable, "-m", "data_prep", "build", "--config", str(DATA_CONFIG)]
            command += ["--input", str(args.realdata / RUMOUREVAL), "--output", dataset, "--no-progress"]
            run_logged(command, output / "build.log", args.timeout, env)
    result["dataset"] = dataset

    # 3. training, the user's command
    adapter = work / "adapter"
    shutil.rmtree(adapter, ignore_errors=True)
    launch = [sys.executable, "-m", "accelerate.commands.launch"]
    launch += ["--cpu", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no"] if args.tiny else []
    launch += ["--dynamo_backend", "no"] if args.tiny else []
    launch += [] if args.tiny else ["--config_file", str(REPO_ROOT / "accelerate_configs" / "single_gpu.yaml")]
    recipe = ["--config", str(DEFAULT_RECIPE), "--model_name_or_path", str(model)]
    recipe += ["--base_model_hub_id", "Qwen/Qwen3-8B", "--dataset_name", dataset, "--output_dir", str(adapter)]
    recipe += ["--report_to", "none", *(TINY_RECIPE_ARGS if args.tiny else []), *args.recipe_arg]
    monitor = GpuMonitor()
    launched = time.perf_counter() - monitor.started
    try:
        result["training_wall"] = round(run_logged([*launch, "recipes/sft_qlora.py", *recipe], output / "train.log",
                                                   args.timeout, env), 1)  # fmt: skip
    finally:
        monitor.stop()
    figures = training_figures(adapter, result["parameters"], peak_tflops)
    planned = json.loads((adapter / "plan.json").read_text())
    result["shape"] = (
        f"{planned['examples_per_micro_batch']} examples x {planned['micro_batches_per_optimizer_step']} "
        "micro-batches,"
        f" gradient checkpointing {'on' if planned['gradient_checkpointing'] else 'off'}, {figures['load_path']}"
    )
    result["plan"] = {key: planned[key] for key in ("train_examples", "eval_examples", "optimizer_steps")}
    result["plan"]["evaluations"] = len(planned["evaluation_steps"])
    result["stages"].update(figures.pop("stage_seconds"))
    result.update(figures)
    if on_gpu:  # the optimizer steps run after the load stage; the utilization over the rest of the launch
        load_end = launched + result["stages"].get("load", 0)
        result["gpu_utilization"] = monitor.utilization(load_end, launched + result["training_wall"])
        result["nvidia_smi_peak_memory_gb"] = monitor.peak_memory_gb()
    else:
        result["gpu_utilization"] = None

    # 4. generation, base and adapter on the held-out tweets
    result["replies_per_second"] = None
    if not args.skip_generation:
        max_tweets = args.max_tweets or (4 if args.tiny else 64)
        evaluation = work / "eval"
        shutil.rmtree(evaluation, ignore_errors=True)
        command = [sys.executable, "-m", "judge", "generate", "--dataset", dataset, "--split", "test"]
        command += ["--output", str(evaluation), "--system", "base", "--system", f"adapter:{adapter}"]
        command += ["--base-model", str(model), "--max-tweets", str(max_tweets), "--no-progress"]
        command += ["--cpu", "--max-new-tokens", "8"] if args.tiny else []
        result["stages"]["generation"] = round(run_logged(command, output / "generate.log", args.timeout, env), 1)
        report = json.loads((evaluation / "generation_report.json").read_text())
        run, tweets = report["run"], report["items"]
        per_system = run["replies_per_second"]  # one reply per tweet and system, over that system's model time
        model_seconds = sum(tweets / rate for rate in per_system.values())
        result["replies_per_second"] = round(tweets * len(per_system) / model_seconds, 2) if model_seconds else None
        result["generation"] = {
            "tweets": tweets,
            "replies_per_second_by_system": per_system,
            "model_load_seconds": run.get("model_load"),
            "wall_seconds": run.get("wall_seconds"),
        }
        shutil.copy(evaluation / "generation_report.json", output / "generation_report.json")
    for name in ("plan.json", "run_metadata.json", "trainer_state.json"):
        shutil.copy(adapter / name, output / name)
    (output / "gpu_run.json").write_text(json.dumps(result, indent=2))
    print_table(result)
    print(f"\nwritten: {output / 'gpu_run.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
