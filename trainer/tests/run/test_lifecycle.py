"""A run is never overwritten, never written by two trainers, and a failed launch leaves it alone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from conftest import events_of, run_json
from pacslab.run import files as runio
from pacslab.cli import main

FAST = ["--set", "eval.size=2", "--set", "eval.samples=1", "--set", "eval.k=[1]"]


@pytest.fixture
def finished_run(write_config, tmp_path):
    """A finished two-step run with a checkpoint at each step: (config path, run dir)."""
    config = write_config(total_steps=2, eval_every=0, checkpoint_every=1)
    run_dir = tmp_path / "runs" / "done"
    assert main(["train", str(config), "--run-dir", str(run_dir), *FAST]) == 0
    assert run_json(run_dir)["status"] == "finished"
    return config, run_dir


def snapshot(run_dir):
    """Every file of a run but its lock (which names whoever holds it)."""
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in sorted(run_dir.rglob("*"))
            if p.is_file() and p.name != runio.LOCK}


def test_training_into_a_folder_that_holds_a_run_is_refused(finished_run, capsys):
    config, run_dir = finished_run
    before = snapshot(run_dir)
    assert main(["train", str(config), "--run-dir", str(run_dir), *FAST]) == 2
    err = capsys.readouterr().err
    assert str(run_dir) in err and f"--resume {run_dir}" in err and "--new-run-id" in err
    assert snapshot(run_dir) == before


def test_a_new_run_id_starts_a_new_run_beside_the_old_one(finished_run, capsys):
    config, run_dir = finished_run
    before = snapshot(run_dir)
    assert main(["train", str(config), "--run-dir", str(run_dir), "--new-run-id", *FAST]) == 0
    assert snapshot(run_dir) == before
    (new,) = [p for p in run_dir.parent.iterdir() if p != run_dir]
    assert new.name.endswith(new.name[-4:]) and new.name != run_dir.name and "-tiny-" in new.name
    assert run_json(new)["status"] == "finished" and run_json(new)["id"] == new.name
    assert f"run directory: {new}" in capsys.readouterr().out


def test_a_config_error_on_resume_leaves_run_json_alone(finished_run):
    _, run_dir = finished_run
    before = (run_dir / "run.json").read_bytes()
    assert main(["train", "--resume", str(run_dir), "--set", "rollout.nn=2"]) == 2
    assert (run_dir / "run.json").read_bytes() == before


def dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                              text=True).stdout)


def hold_lock(run_dir):
    """Another process holding the run's lock; prints its pid once it holds it."""
    code = ("import sys, time; from pacslab.run import files as runio; lock = runio.RunLock(sys.argv[1]); "
            "print('held', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(run_dir)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_writer_of_a_run_exits_2_naming_the_first(finished_run, capsys):
    _, run_dir = finished_run
    runio.RunInfo(run_dir).update(status="suspended")
    before = snapshot(run_dir)
    holder = hold_lock(run_dir)
    try:
        assert main(["train", "--resume", str(run_dir)]) == 2
    finally:
        holder.kill()
        holder.wait()
    err = capsys.readouterr().err
    assert f"run is in use by pid {holder.pid} on host {socket.gethostname()}" in err
    assert snapshot(run_dir) == before
    # the lock dies with its process: the run resumes now
    assert main(["train", "--resume", str(run_dir)]) == 0


def test_the_lock_is_exclusive_and_released(tmp_path):
    with runio.RunLock(tmp_path):
        with pytest.raises(runio.RunInUse, match="in use by pid"):
            runio.RunLock(tmp_path)
    runio.RunLock(tmp_path).release()


def test_half_written_checkpoints_and_temp_files_are_removed_on_resume(finished_run):
    _, run_dir = finished_run
    runio.RunInfo(run_dir).update(status="crashed")
    gone = dead_pid()
    stale = [run_dir / "checkpoints" / f".step-000003.tmp-{gone}", run_dir / "checkpoints" / f".step-000002.old-{gone}"]
    for folder in stale:
        folder.mkdir()
        (folder / "model.safetensors").write_bytes(b"half")
    temp = run_dir / f".run.json.tmp-{gone}-abcd1234"
    temp.write_text("{")
    live = run_dir / f".run.json.tmp-{os.getppid()}-abcd1234"  # a live writer's (a `status` mid-write): kept
    live.write_text("{")
    assert main(["train", "--resume", str(run_dir)]) == 0
    assert not any(p.exists() for p in (*stale, temp)) and live.exists()
    assert sorted(p.name for p in (run_dir / "checkpoints").iterdir()) == ["latest", "step-000001", "step-000002"]


def test_resume_refuses_a_linked_config(finished_run, tmp_path, capsys):
    _, run_dir = finished_run
    (run_dir / "config.yaml").unlink()
    (run_dir / "config.yaml").symlink_to(tmp_path / "tiny.pacs.yaml")
    assert main(["train", "--resume", str(run_dir)]) == 2
    assert "config.yaml" in capsys.readouterr().err
    assert [e["type"] for e in events_of(run_dir)].count("run_started") == 1


def test_a_run_killed_before_its_first_checkpoint_resumes_from_step_0(write_config, tmp_path):
    from conftest import metrics_by_step

    config = write_config(total_steps=3, eval_every=2, checkpoint_every=0)
    straight, killed = tmp_path / "runs" / "straight", tmp_path / "runs" / "killed"
    for run_dir in (straight, killed):
        assert main(["train", str(config), "--run-dir", str(run_dir), *FAST]) == 0
    # what a kill -9 after step 3's metrics, before its checkpoint, leaves: no checkpoint, a live status
    import shutil

    shutil.rmtree(killed / "checkpoints")
    gone = dead_pid()
    runio.RunInfo(killed).update(status="running", pid=gone, host=socket.gethostname())
    assert runio.detect_crash(killed)["status"] == "crashed"
    assert main(["train", "--resume", str(killed)]) == 0
    info = run_json(killed)
    assert info["status"] == "finished" and info["step"] == 3 and info["error"] is None
    # the restart logs every step again, with the values of a run never killed
    expected = metrics_by_step(straight)
    # (the data facts of step 0 are logged once, at the first start)
    assert len(expected) == 7 and "data/train_prompts" in expected[0][1] and metrics_by_step(killed)[-6:] == expected[1:]
    states = [(e["status"], e.get("reason")) for e in events_of(killed) if e["type"] == "state"]
    assert states[-2:] == [("running", "resumed from step 0: the run had no checkpoint yet"), ("finished", "completed all steps")]
    assert [e["type"] for e in events_of(killed)].count("run_started") == 1
