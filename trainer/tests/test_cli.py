"""`python -m pacslab`: exit codes, run directories made without a launcher, status, schema, eval."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from conftest import TRAINER_DIR, run_json
from pacslab.run import files as runio
from pacslab.cli import main
from pacslab.config import json_schema


def test_schema_prints_the_json_schema(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema()


def test_a_config_error_exits_2_naming_key_and_fix(write_config, tmp_path, capsys):
    config = write_config(**{"optim.mini_batch_prompts": 3})
    assert main(["train", str(config), "--runs-root", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert f"{config}:" in err and "optim.mini_batch_prompts" in err and "Fix:" in err
    assert not (tmp_path / "runs").exists()  # nothing is created for a config that cannot run


def test_a_config_error_marks_a_launched_run_failed(write_config, tmp_path):
    run_dir = tmp_path / "launched"
    run_dir.mkdir()
    runio.write_json_atomic(run_dir / "run.json", {"id": "launched", "status": "starting"})
    assert main(["train", str(write_config()), "--run-dir", str(run_dir), "--set", "rollout.nn=2"]) == 2
    info = run_json(run_dir)
    assert info["status"] == "failed" and "rollout.nn" in info["error"]["message"]


def test_train_without_a_launcher_makes_the_run_dir_and_records_git(write_config, tmp_path):
    repo = tmp_path
    for args in (["init", "-q"], ["add", "tiny.pacs.yaml"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"]):
        if args[0] == "add":
            write_config(total_steps=1)
        subprocess.run(["git", *args], cwd=repo, check=True)
    runs_root = repo / ".pacs" / "runs"
    assert main(["train", str(repo / "tiny.pacs.yaml"), "--runs-root", str(runs_root), "--set", "eval.size=1"]) == 0
    (run_dir,) = runs_root.iterdir()
    assert (repo / ".pacs" / ".gitignore").read_text() == "*\n"
    info = run_json(run_dir)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True).stdout.strip()
    assert info["id"] == run_dir.name and info["name"] == "tiny" and info["status"] == "finished"
    assert info["git"]["commit"] == head and info["git"]["dirty"] is True  # the model link is untracked
    # the resolved config runs from anywhere: paths are absolute
    assert f"path: {repo / 'model'}\n" in (run_dir / "config.yaml").read_text()

    assert main(["eval", str(run_dir)]) == 0
    assert main(["status", str(runs_root)]) == 0


def test_status_marks_runs_whose_process_is_gone(tmp_path, capsys):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    run_dir = tmp_path / "20260101-000000-x-abcd"
    run_dir.mkdir()
    runio.write_json_atomic(run_dir / "run.json", {"id": run_dir.name, "status": "running", "pid": int(dead.stdout),
                                                   "pid_start_time": "1", "step": 3, "total_steps": 9})
    assert main(["status", str(tmp_path), "--json"]) == 0
    (listed,) = json.loads(capsys.readouterr().out)
    assert listed["status"] == "crashed" and run_json(run_dir)["status"] == "crashed"
    assert main(["status", str(tmp_path)]) == 0
    table = capsys.readouterr().out
    assert run_dir.name in table and "crashed" in table and "3/9" in table


def test_status_imports_no_torch_numpy_or_pyarrow(tmp_path):
    """`status` is the command a terminal and a launcher run most: it starts without the libraries of
    training and rollout files (numpy and pyarrow alone cost it 0.1 to 0.3 s)."""
    code = ("import sys\nfrom pacslab.cli import main\nmain(['status', sys.argv[1]])\n"
            "print(sorted(m for m in ('torch', 'numpy', 'pyarrow', 'transformers') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(TRAINER_DIR)})
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "[]", done.stdout + done.stderr


def test_eval_of_a_config_scores_its_base_model(write_config, capsys):
    assert main(["eval", str(write_config()), "--set", "eval.size=3"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["step"] == 0 and set(report["values"]) == {"eval/accuracy", "eval/pass@1", "eval/pass@2"}


@pytest.mark.parametrize("command", ["make-demo-model", "export-onnx", "score"])
def test_delegated_commands_reach_their_modules(command, capsys):
    with pytest.raises(SystemExit) as exited:
        main([command, "--help"])
    assert exited.value.code == 0 and command in capsys.readouterr().out
