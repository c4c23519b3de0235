"""The Slurm backend's job array script, without a cluster (test/cluster/slurm.test.ts runs it on one)."""

from __future__ import annotations

import yaml

from pacslab.config import load_config
from pacslab.sweep.slurm import render_array_script
from pacslab.sweep.store import SweepDir


def test_the_array_script_runs_one_task_per_trial_with_the_configs_slurm_options(tmp_path):
    config = tmp_path / "s.pacs.yaml"
    config.write_text(yaml.safe_dump({"name": "s", "launch": {"slurm": {
        "partition": "gpu", "gpus_per_node": 1, "time": "01:00:00", "setup": ["module load cuda"]}},
        "sweep": {"parameters": {"optim.lr": [0.1, 0.2, 0.3, 0.4]}, "backend": "slurm", "parallel": 2}}))
    sd = SweepDir(tmp_path / "sweeps" / "20261207-000000-s-0000")
    sd.path.mkdir(parents=True)
    script = render_array_script(sd, load_config(config), n_tasks=4, parallel=2, python="/py/bin/python", cwd=tmp_path)
    lines = script.splitlines()
    assert "#SBATCH --array=0-3%2" in lines
    assert "#SBATCH --job-name=pacs-sweep-s" in lines and f"#SBATCH --output={sd.path / 'task-%a.log'}" in lines
    assert {"#SBATCH --partition=gpu", "#SBATCH --gpus-per-node=1", "#SBATCH --time=01:00:00"} <= set(lines)
    assert not any(line.startswith("#SBATCH --output=") and "trainer.log" in line for line in lines)
    assert lines.index("module load cuda") < lines.index(f"exec /py/bin/python -m pacslab sweep --array-task {sd.path}")


def test_gpus_are_given_one_per_run_from_cuda_visible_devices(monkeypatch):
    from pacslab.sweep.controller import available_gpus

    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,3")
    assert available_gpus() == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert available_gpus() == []
