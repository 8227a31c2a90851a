"""Small reply datasets and launch helpers for the training-recipe tests (recipes/sft_qlora.py)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import yaml

from data_prep.config import OutputConfig
from replytune.schema import COMPLETION, PROMPT, REPLY_LIKES, TWEET_ID
from replytune.yaml_config import read_yaml
from tests.paths import REPO_ROOT

SCRIPT = REPO_ROOT / "recipes" / "sft_qlora.py"
DEMO_RECIPE = REPO_ROOT / "recipes" / "smollm2-135m" / "sft" / "config_demo.yaml"
QWEN3_RECIPE = REPO_ROOT / "recipes" / "qwen3-8b" / "sft" / "config_qlora.yaml"
ACCELERATE = Path(sys.executable).with_name("accelerate")
PROMPT_TEMPLATE = OutputConfig().prompt_template  # the instruction data_prep puts before each tweet
TOPICS = ["LoRA on one GPU", "cleaning data", "gradient accumulation", "eval loss", "packing", "Qwen3 8B"]


def reply_rows(count: int, offset: int = 0, reply: str | None = None) -> list[dict]:
    """Rows in the data_prep contract: conversational prompt/completion plus metadata columns."""
    rows = []
    for i in range(offset, offset + count):
        tweet = f"Day {i}: trying {TOPICS[i % len(TOPICS)]} for the first time"
        rows.append(
            {
                PROMPT: [{"role": "user", "content": PROMPT_TEMPLATE.format(tweet=tweet)}],
                COMPLETION: [{"role": "assistant", "content": reply or f"Nice, {TOPICS[i % len(TOPICS)]} rocks!"}],
                TWEET_ID: str(i),
                REPLY_LIKES: i,
            }
        )
    return rows


def reply_dataset_dict(train: int = 24, eval: int = 6, test: int = 4, reply: str | None = None):
    from datasets import Dataset, DatasetDict

    return DatasetDict(
        train=Dataset.from_list(reply_rows(train, 0, reply)),
        eval=Dataset.from_list(reply_rows(eval, train, reply)),
        test=Dataset.from_list(reply_rows(test, train + eval, reply)),
    )


def write_versioned_dataset(output_dir: Path, version: str = "v1", dataset=None, **kwargs) -> Path:
    """data_prep's layout: OUTPUT/vN/data/<split>-00000-of-00001.parquet (what `data_prep build` writes).

    `dataset`: a DatasetDict to write instead of `reply_dataset_dict(**kwargs)`."""
    folder = Path(output_dir) / version
    (folder / "data").mkdir(parents=True, exist_ok=True)
    for split, rows in (dataset if dataset is not None else reply_dataset_dict(**kwargs)).items():
        rows.to_parquet(folder / "data" / f"{split}-00000-of-00001.parquet")
    return folder


def cpu_sft_config(output_dir: Path, **fields):
    """An SFTConfig for in-process CPU runs: SFTConfig() defaults to bf16, which a machine without GPU refuses."""
    from trl import SFTConfig

    return SFTConfig(output_dir=str(output_dir), use_cpu=True, bf16=False, report_to="none", **fields)


def tiny_overrides(model_dir: Path, data_dir: Path, output_dir: Path, **fields) -> list[str]:
    """Command-line overrides that turn the demo recipe into a few-step run of the tiny random Qwen3."""
    values = {
        "model_name_or_path": str(model_dir),
        "gguf_file": "null",
        "dataset_name": str(data_dir),
        "output_dir": str(output_dir),
        "max_steps": 4,
        "eval_steps": 2,
        "save_steps": 2,
        "report_to": "none",
        "sample_max_new_tokens": 8,
        **fields,
    }
    return ["--config", str(DEMO_RECIPE)] + [
        item for key, value in values.items() for item in (f"--{key}", str(value))
    ]


def cpu_accelerate_config(name: str, directory: Path, **changes) -> Path:
    """A shipped accelerate config with only the device changed to CPU (tests have no GPU)."""
    config = read_yaml(REPO_ROOT / "accelerate_configs" / name)
    config.update({"use_cpu": True, "mixed_precision": "no", **changes})
    path = Path(directory) / f"cpu_{name}"
    path.write_text(yaml.safe_dump(config))
    return path


def launch_env(tmp_path: Path, **extra) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        {
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            "WANDB_MODE": "offline",
            "WANDB_DIR": str(tmp_path / "wandb"),
            "TRACKIO_DIR": str(tmp_path / "trackio"),
            "HF_DATASETS_CACHE": str(tmp_path / "datasets_cache"),
            "TOKENIZERS_PARALLELISM": "false",
            "OMP_NUM_THREADS": "1",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def accelerate_launch(
    args: list[str], env: dict, config_file: Path | None = None, timeout: int = 600
) -> subprocess.CompletedProcess:
    launcher = [str(ACCELERATE), "launch"]
    if config_file is None:
        launcher += ["--cpu", "--num_processes", "1", "--num_machines", "1", "--mixed_precision", "no"]
        launcher += ["--dynamo_backend", "no"]
    else:
        launcher += ["--config_file", str(config_file)]
    return subprocess.run(
        launcher + [str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout, cwd=REPO_ROOT
    )


def final_trainer_state(output: Path, step: int) -> dict:
    return json.loads((output / f"checkpoint-{step}" / "trainer_state.json").read_text())


def run_killed_and_resumed(command, tmp_path: Path, env: dict, kill_after_checkpoint: int, steps: int):
    """Runs `command(output)` once uninterrupted, and once SIGKILLed as soon as checkpoint-`kill_after_checkpoint`
    is written, then resumed with --resume_from_checkpoint true. Returns the two final trainer states at `steps`
    (uninterrupted, resumed) and the two output folders."""
    reference = tmp_path / "uninterrupted"
    done = subprocess.run(command(reference), env=env, capture_output=True, text=True, timeout=600, cwd=REPO_ROOT)
    assert done.returncode == 0, done.stderr[-4000:]

    killed = tmp_path / "killed"
    process = subprocess.Popen(
        command(killed), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    deadline = time.monotonic() + 600
    while not (killed / f"checkpoint-{kill_after_checkpoint}" / "trainer_state.json").is_file():
        assert process.poll() is None, process.stderr.read()[-4000:]
        assert time.monotonic() < deadline
        time.sleep(0.02)
    os.kill(process.pid, signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert not (killed / f"checkpoint-{steps}").exists()  # it really died mid-run

    resumed = subprocess.run(
        command(killed) + ["--resume_from_checkpoint", "true"],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        cwd=REPO_ROOT,
    )
    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert f"resuming from {killed / 'checkpoint-'}" in resumed.stderr
    expected, got = final_trainer_state(reference, steps), final_trainer_state(killed, steps)
    assert got["global_step"] == expected["global_step"] == steps
    return expected, got, reference, killed
