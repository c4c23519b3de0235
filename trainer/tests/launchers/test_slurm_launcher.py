"""The Slurm launcher without a cluster: the batch script, refusals before sbatch, a missing sbatch,
and the heartbeat. Submitting to a real Slurm is tested by `make test-cluster` (test/cluster/)."""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_json, wait_for
from pacslab.run import files as runio
from pacslab.cli import main
from pacslab.config import Config, load_config
from pacslab.run.control import Heartbeat
from pacslab.engines.trl.launch import launcher_command
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


def trl_job(write_config, **overrides) -> Path:
    """A tiny engine: trl config (one optimizer step per rollout batch) that submits to Slurm."""
    return write_config(**{"engine": "trl", "launch.backend": "slurm", "optim.mini_batch_prompts": 4, **overrides})


def _fake_slurm(bin_dir: Path, out: Path) -> None:
    """`scontrol show hostnames` of four nodes, an `srun` that runs its command once per node with
    SLURM_NODEID set (one task per node), and a Python that records its arguments."""
    bin_dir.mkdir()
    commands = {
        "scontrol": "printf 'node-a\\nnode-b\\nnode-c\\nnode-d\\n'",
        "srun": 'while [ "${1#--}" != "$1" ]; do shift; done\nfor id in 0 1 2 3; do SLURM_NODEID=$id "$@"; done',
        "python": f"{shlex.quote(sys.executable)} -c 'import json, sys; print(json.dumps(sys.argv[1:]))' \"$@\" >> {shlex.quote(str(out))}",
    }
    for name, body in commands.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)


def test_a_trl_job_on_four_nodes_starts_each_nodes_processes_with_its_rank(write_config, tmp_path):
    """The generated job.sbatch, run by bash with srun and scontrol standing in for a 4-node
    allocation: each node's trainer gets its rank and machine 0's host and port, and from them the
    torchrun (CPU) or accelerate (GPU) command that joins the other nodes."""
    pytest.importorskip("trl")
    config = trl_job(write_config, **{"launch.num_processes": 2,
                             "launch.slurm.nodes": 4, "launch.slurm.gpus_per_node": 2})
    cfg = load_config(config)
    run_dir = tmp_path / "run"
    script = render_script(cfg, run_dir, [str(config), "--run-dir", str(run_dir)], python="python", cwd=tmp_path)
    lines = script.splitlines()
    assert "#SBATCH --nodes=4" in lines and "#SBATCH --ntasks-per-node=1" in lines and "#SBATCH --gpus-per-node=2" in lines
    srun = shlex.split(lines[-1])
    assert srun[:6] == ["exec", "srun", "--kill-on-bad-exit=1", "--nodes=4", "--ntasks-per-node=1", "bash"]

    out = tmp_path / "argv.jsonl"
    _fake_slurm(tmp_path / "bin", out)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "SLURM_JOB_NODELIST": "node-[a-d]", "SLURM_JOB_ID": "1234"}
    done = subprocess.run(["bash", "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    nodes = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(nodes) == 4
    for rank, argv in enumerate(nodes):
        assert argv[:5] == ["-m", "pacslab", "train", "--here", str(config)]
        sets = [argv[i + 1] for i, a in enumerate(argv) if a == "--set"]
        assert sorted(sets) == sorted(["launch.num_machines=4", f"launch.machine_rank={rank}",
                                       "launch.main_process_ip=node-a", "launch.main_process_port=21234"])
        node_cfg = load_config(config, sets)
        torchrun = launcher_command(node_cfg, run_dir, base_dir=tmp_path, resume=False, cuda=False)
        assert torchrun[torchrun.index("--nproc_per_node"):torchrun.index("-m", 3)] == [
            "--nproc_per_node", "2", "--nnodes", "4", "--node_rank", str(rank), "--master_addr", "node-a", "--master_port", "21234"]
        accelerate = " ".join(launcher_command(node_cfg, run_dir, base_dir=tmp_path, resume=False, cuda=True))
        assert f"--num_processes 8 --num_machines 4 --machine_rank {rank}" in accelerate
        assert "--main_process_ip node-a --main_process_port 21234" in accelerate


def test_a_trl_job_keeps_a_main_process_port_it_is_given(write_config, tmp_path):
    pytest.importorskip("trl")
    cfg = load_config(trl_job(write_config, **{"launch.main_process_port": 29600}))
    script = render_script(cfg, tmp_path, ["--resume", str(tmp_path)], python="python", cwd=tmp_path)
    assert "export PACS_MAIN_PORT=29600" in script.splitlines()


def test_machines_other_than_the_jobs_nodes_are_refused(write_config, tmp_path):
    pytest.importorskip("trl")
    cfg = load_config(trl_job(write_config, **{"launch.num_machines": 2,
                                      "launch.main_process_ip": "node-a", "launch.slurm.nodes": 4}))
    with pytest.raises(SubmitError, match=r"launch\.num_machines is 2, but the job runs on launch\.slurm\.nodes \(4\)"):
        submit(cfg, tmp_path, ["--resume", str(tmp_path)], cwd=tmp_path)
    assert not (tmp_path / "job.sbatch").exists()


def test_machine_1_of_a_job_starts_its_processes_and_leaves_the_run_folder_to_machine_0(write_config, tmp_path, monkeypatch):
    pytest.importorskip("trl")
    config = trl_job(write_config, **{"launch.slurm.nodes": 2, "device": "cpu"})
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    started = []
    monkeypatch.setattr(subprocess, "run", lambda command, env: started.append((command, env)) or subprocess.CompletedProcess(command, 0))
    sets = ["launch.num_machines=2", "launch.machine_rank=1", "launch.main_process_ip=node-a", "launch.main_process_port=21234"]
    assert main(["train", "--here", str(config), "--run-dir", str(run_dir), *(a for s in sets for a in ("--set", s))]) == 0
    [(command, env)] = started
    assert command[1:3] == ["-m", "torch.distributed.run"] and command[command.index("--node_rank") + 1] == "1"
    assert env["HF_HUB_OFFLINE"] == "1"
    assert list(run_dir.iterdir()) == []  # no run.json, config.yaml or lock: machine 0 writes them


def test_the_four_node_example_of_the_docs_is_what_the_launcher_writes():
    import re

    import yaml

    from conftest import REPO_DIR

    text = (REPO_DIR / "docs" / "clusters.md").read_text()
    section = text[text.index("## Worked example: 4 nodes"):]
    config, script = (re.search(rf"```{kind}\n(.*?)```", section, re.S).group(1) for kind in ("yaml", "bash"))
    cfg = Config(**yaml.safe_load(config))
    run_dir = Path(re.search(r"^#SBATCH --output=(\S+)/trainer\.log$", script, re.M).group(1))
    config_path = "/home/me/project/qwen-math-4n.pacs.yaml"
    assert render_script(cfg, run_dir, [config_path, "--run-dir", str(run_dir)], python="/usr/bin/python3",
                         cwd=Path("/home/me/project")) == script


@pytest.mark.parametrize(("message", "key"), [
    ("sbatch: error: Batch job submission failed: Invalid account or account/partition combination specified", "account"),
    ("sbatch: error: invalid partition specified: gpu-large", "partition"),
])
def test_a_refusal_names_the_key_that_causes_it(message, key):
    from pacslab.launchers.slurm import _refusal_fix

    assert _refusal_fix(message).startswith(f"change launch.slurm.{key} ")


@pytest.mark.parametrize("states, refused", [(["COMPLETING", "COMPLETING", None], False),
                                             (["COMPLETING", "COMPLETED"], False),
                                             (["COMPLETING", "RUNNING"], True)])
def test_a_resume_waits_out_a_completing_job_and_refuses_a_running_one(tmp_path, monkeypatch, states, refused):
    from pacslab.launchers import slurm

    (tmp_path / slurm.LAUNCHER).write_text(json.dumps({"backend": "slurm", "job_id": "7"}))
    asked = iter(states)
    monkeypatch.setattr(slurm, "job_state", lambda job_id: next(asked))
    monkeypatch.setattr(slurm.time, "sleep", lambda s: None)
    if refused:
        with pytest.raises(SubmitError, match="job 7 of this run is still RUNNING"):
            slurm._refuse_if_active(tmp_path)
    else:
        slurm._refuse_if_active(tmp_path)
    assert next(asked, "all asked") == "all asked"
