"""The Slurm launcher without a cluster: the batch script, refusals before sbatch, a missing sbatch,
and the heartbeat. Submitting to a real Slurm is tested by `make test-cluster` (test/cluster/)."""

from __future__ import annotations

import shlex

import pytest

from conftest import run_json, wait_for
from pacslab import runio
from pacslab.cli import main
from pacslab.config import Config
from pacslab.control import Heartbeat
from pacslab.launchers.slurm import SubmitError, render_script, sbatch_options, submit


def slurm_config(**slurm) -> Config:
    return Config(name="arith", launch={"backend": "slurm", "slurm": slurm})


def test_options_follow_the_launch_slurm_keys(tmp_path):
    cfg = slurm_config(partition="gpu", gpus_per_node=8, cpus_per_task=32, mem="256G", time="1-00:00:00",
                       account="lab", qos="high", extra_sbatch_args=["--constraint=a100"])
    assert sbatch_options(cfg, tmp_path) == [
        "--job-name=pacs-arith", f"--output={tmp_path.resolve() / 'trainer.log'}", "--open-mode=append", "--nodes=1",
        "--ntasks-per-node=1", "--partition=gpu", "--gpus-per-node=8", "--cpus-per-task=32", "--mem=256G",
        "--time=1-00:00:00", "--account=lab", "--qos=high", "--constraint=a100"]
    # unset keys are left to the cluster's defaults
    assert not any(o.startswith(("--partition", "--gpus", "--mem", "--time", "--account")) for o in sbatch_options(slurm_config(), tmp_path))


def test_the_script_runs_setup_then_execs_the_trainer_here(tmp_path):
    cfg = slurm_config(setup=["module load cuda/12.1", "source ~/venvs/pacs/bin/activate"], python="python3")
    run_dir = tmp_path / "run one"
    script = render_script(cfg, run_dir, [str(tmp_path / "a b.pacs.yaml"), "--run-dir", str(run_dir)], python="/x/python", cwd=tmp_path)
    lines = script.splitlines()
    assert lines[0] == "#!/bin/bash" and f"#SBATCH {shlex.quote('--output=' + str(run_dir.resolve() / 'trainer.log'))}" in lines
    setup_at, exec_at = lines.index("module load cuda/12.1"), next(i for i, l in enumerate(lines) if l.startswith("exec "))
    assert setup_at < lines.index("source ~/venvs/pacs/bin/activate") < exec_at
    assert shlex.split(lines[exec_at]) == ["exec", "python3", "-m", "pacslab", "train", "--here",
                                           str(tmp_path / "a b.pacs.yaml"), "--run-dir", str(run_dir)]


def test_several_nodes_are_refused_before_sbatch_naming_the_key(tmp_path):
    with pytest.raises(SubmitError, match=r"launch\.slurm\.nodes is 4.*Fix: set launch\.slurm\.nodes: 1"):
        submit(slurm_config(nodes=4), tmp_path, ["--resume", str(tmp_path)], cwd=tmp_path)
    assert not (tmp_path / "job.sbatch").exists()


def test_a_missing_sbatch_fails_the_run_with_the_fix(write_config, tmp_path, monkeypatch, capsys):
    config = write_config(**{"launch.backend": "slurm"})
    monkeypatch.setenv("PATH", str(tmp_path / "no-slurm-here"))
    run_dir = tmp_path / "run"
    assert main(["train", str(config), "--run-dir", str(run_dir)]) == 2
    err = capsys.readouterr().err
    assert "`sbatch` is not on PATH" in err and "launch.backend: local" in err
    info = run_json(run_dir)
    assert info["status"] == "failed" and "sbatch" in info["error"]["message"]
    assert (run_dir / "job.sbatch").is_file() and not (run_dir / "launcher.json").exists()


def test_the_heartbeat_refreshes_run_json_between_writes_of_the_loop(tmp_path):
    runio.write_json_atomic(tmp_path / "run.json", {"id": "r", "status": "paused", "updated_at": "2000-01-01T00:00:00.00Z"})
    info = runio.RunInfo(tmp_path)
    with Heartbeat(info, 0.05):
        assert run_json(tmp_path)["heartbeat_s"] == 0.05
        first = run_json(tmp_path)["updated_at"]
        wait_for(lambda: run_json(tmp_path)["updated_at"] != first, what="a second heartbeat")
    assert run_json(tmp_path)["status"] == "paused"  # a heartbeat changes nothing else
