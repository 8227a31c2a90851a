"""benchmarks/gpu_run.py --tiny: the GPU benchmark's whole path (the default recipe through `accelerate launch`, then
`judge generate` base and adapter) on the CPU with a 2-layer model, so CI keeps the GPU command working."""

import json
import subprocess
import sys

import pytest

from tests.paths import REPO_ROOT, realdata_path

STAGES = ("load", "steps", "evaluations", "checkpoints", "save", "generation")


@pytest.mark.slow
def test_the_tiny_gpu_run_measures_every_stage_of_the_default_recipe(tmp_path):
    realdata = realdata_path()
    command = [sys.executable, "benchmarks/gpu_run.py", "--tiny", "--output", str(tmp_path / "out")]
    command += ["--work", str(tmp_path / "work"), "--realdata", str(realdata)]
    completed = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=900)
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    result = json.loads((tmp_path / "out" / "gpu_run.json").read_text())
    assert set(STAGES) <= set(result["stages"]) and all(result["stages"][name] > 0 for name in STAGES)
    # the default recipe's shape: all 16 examples of the step in one micro-batch, every step
    assert result["examples_per_optimizer_step"] == 16 and result["shape"].startswith("16 examples x 1 ")
    assert result["optimizer_steps"] == 3 and len(result["losses"]["eval"]) == 3
    assert result["train_tokens_per_second"] > 0 and result["replies_per_second"] > 0
    assert result["generation"]["tweets"] == 4 and set(result["generation"]["replies_per_second_by_system"]) == {
        "base",
        "adapter",
    }
    assert result["mfu"] is None and result["gpu_utilization"] is None  # no GPU: not measured, not invented
    assert result["peak_memory_gb"] is None and result["device"] == "cpu"
    for name in ("plan.json", "run_metadata.json", "trainer_state.json", "generation_report.json", "train.log"):
        assert (tmp_path / "out" / name).is_file(), name
    assert "steps (s)" in completed.stdout and "replies_per_second" in completed.stdout  # the printed table
