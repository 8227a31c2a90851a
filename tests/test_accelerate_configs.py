"""Each launch config in accelerate_configs/ parses with accelerate and launches what it says.

single_gpu.yaml and multi_gpu.yaml (2 real gloo processes) run the recipe itself in tests/test_sft_training.py.
Here: every file parses; fsdp_qlora.yaml launches two processes with the FSDP settings QLoRA needs, and the recipe's
loader picks float 4-bit storage there; deepspeed_zero3.yaml: DeepSpeed is not installed in this environment (it is
not part of the project's pins), so the test checks the environment accelerate would hand to the processes, and
that `accelerate launch` stops with accelerate's own "DeepSpeed is not installed" message rather than anything else.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from accelerate.commands.config.config_args import load_config_from_file

from tests.paths import REPO_ROOT
from tests.sft_helpers import ACCELERATE, cpu_accelerate_config, launch_env

CONFIGS = REPO_ROOT / "accelerate_configs"
PROBE = """
import json, os, sys
sys.path.insert(0, {root!r})
from recipes.model_utils import sharded_quant_storage
sharded, storage = sharded_quant_storage(None)
keys = ("RANK", "WORLD_SIZE", "ACCELERATE_USE_FSDP", "FSDP_USE_ORIG_PARAMS", "FSDP_CPU_RAM_EFFICIENT_LOADING",
        "FSDP_AUTO_WRAP_POLICY", "FSDP_SHARDING_STRATEGY")
print("PROBE " + json.dumps({{**{{k: os.environ.get(k) for k in keys}}, "sharded": sharded, "storage": storage}}))
"""


@pytest.mark.parametrize(
    "name, distributed_type, processes",
    [
        ("single_gpu.yaml", "NO", 1),
        ("multi_gpu.yaml", "MULTI_GPU", 2),
        ("deepspeed_zero3.yaml", "DEEPSPEED", 2),
        ("fsdp_qlora.yaml", "FSDP", 2),
    ],
)
def test_every_launch_config_parses(name, distributed_type, processes):
    config = load_config_from_file(str(CONFIGS / name))
    assert (config.distributed_type.value, config.num_processes, config.use_cpu) == (
        distributed_type,
        processes,
        False,
    )
    assert config.mixed_precision == "bf16"
    if name == "fsdp_qlora.yaml":
        assert config.fsdp_config["fsdp_use_orig_params"] is False  # required with 4-bit weights
        assert config.fsdp_config["fsdp_cpu_ram_efficient_loading"] is True
        assert config.fsdp_config["fsdp_auto_wrap_policy"] == "TRANSFORMER_BASED_WRAP"
    if name == "deepspeed_zero3.yaml":
        assert config.deepspeed_config["zero_stage"] == 3 and config.deepspeed_config["zero3_init_flag"] is True


@pytest.mark.slow
def test_fsdp_qlora_config_launches_two_processes_with_the_qlora_settings(tmp_path):
    probe = tmp_path / "probe.py"
    probe.write_text(PROBE.format(root=str(REPO_ROOT)))
    config = cpu_accelerate_config("fsdp_qlora.yaml", tmp_path)
    result = subprocess.run(
        [str(ACCELERATE), "launch", "--config_file", str(config), str(probe)],
        env=launch_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    reports = [json.loads(line[6:]) for line in result.stdout.splitlines() if line.startswith("PROBE ")]
    assert sorted(report["RANK"] for report in reports) == ["0", "1"]
    for report in reports:
        assert report["WORLD_SIZE"] == "2" and report["ACCELERATE_USE_FSDP"] == "true"
        assert report["FSDP_USE_ORIG_PARAMS"] == "false" and report["FSDP_CPU_RAM_EFFICIENT_LOADING"] == "true"
        assert (report["sharded"], report["storage"]) == (True, "bfloat16")  # loaded without device_map


def test_deepspeed_zero3_config_gives_the_processes_zero3(tmp_path):
    from accelerate.commands.launch import _validate_launch_command, launch_command_parser
    from accelerate.utils.launch import prepare_deepspeed_cmd_env

    args = launch_command_parser().parse_args(
        ["--config_file", str(CONFIGS / "deepspeed_zero3.yaml"), "recipes/sft_qlora.py"]
    )
    args, defaults, _ = _validate_launch_command(args)
    assert args.use_deepspeed and args.num_processes == 2
    # what accelerate's launcher does just before starting the processes
    args.deepspeed_fields_from_accelerate_config = ",".join([*defaults.deepspeed_config, "mixed_precision"])
    _, env = prepare_deepspeed_cmd_env(args)
    assert env["ACCELERATE_USE_DEEPSPEED"] == "true" and env["ACCELERATE_DEEPSPEED_ZERO_STAGE"] == "3"
    assert env["ACCELERATE_DEEPSPEED_ZERO3_INIT"] == "true" and env["ACCELERATE_MIXED_PRECISION"] == "bf16"


@pytest.mark.slow
def test_deepspeed_launch_stops_only_because_deepspeed_is_absent(tmp_path):
    import importlib.util

    if importlib.util.find_spec("deepspeed") is not None:
        pytest.skip("deepspeed is installed here: launch it for real instead")
    result = subprocess.run(
        [sys.executable, "-m", "accelerate.commands.accelerate_cli", "launch", "--config_file"]
        + [str(CONFIGS / "deepspeed_zero3.yaml"), "recipes/sft_qlora.py"],
        env=launch_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO_ROOT,
    )
    assert result.returncode != 0 and "DeepSpeed is not installed" in result.stderr
