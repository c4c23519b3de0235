"""A run folder is untrusted data: its readers and writers never follow a link out of it."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from pacslab.run import files as runio
from pacslab.run.control import ControlReader, append_command


@pytest.fixture
def outside(tmp_path):
    """A file outside the run folder that a crafted run tries to read or overwrite."""
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET-TOKEN-1234\n")
    return secret


@pytest.fixture
def run_dir(tmp_path):
    folder = tmp_path / "runs" / "crafted"
    folder.mkdir(parents=True)
    return folder


def dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


def test_crash_detection_never_writes_through_a_linked_run_json(run_dir, outside):
    outside.write_text(json.dumps({"status": "running", "pid": dead_pid(), "host": socket.gethostname()}))
    before = outside.read_text()
    (run_dir / "run.json").symlink_to(outside)
    assert runio.detect_crash(run_dir) is None
    assert runio.list_runs(run_dir.parent) == []
    assert outside.read_text() == before and (run_dir / "run.json").is_symlink()


def test_status_never_follows_a_linked_run_folder_out_of_the_runs_root(tmp_path):
    other = tmp_path / "elsewhere" / "real-run"
    other.mkdir(parents=True)
    live = {"id": "real-run", "status": "running", "pid": dead_pid(), "host": socket.gethostname()}
    runio.write_json_atomic(other / "run.json", live)
    root = tmp_path / "runs"
    root.mkdir()
    (root / "20260101-000000-x-abcd").symlink_to(other, target_is_directory=True)
    assert runio.list_runs(root) == []
    assert runio.read_json(other / "run.json")["status"] == "running"


def test_run_json_is_written_through_a_fresh_temporary_name(run_dir, outside):
    (run_dir / "run.json.tmp").symlink_to(outside)  # the temporary name older versions used
    runio.RunInfo(run_dir).update(status="running")
    assert outside.read_text() == "SECRET-TOKEN-1234\n"
    assert runio.read_json(run_dir / "run.json")["status"] == "running"
    assert not (run_dir / "run.json").is_symlink()


def test_two_writers_of_run_json_never_share_a_temporary_file(run_dir, monkeypatch):
    names = []
    real_replace = os.replace
    monkeypatch.setattr(runio.os, "replace", lambda src, dst: names.append(os.fspath(src)) or real_replace(src, dst))
    runio.RunInfo(run_dir).update(step=1)
    runio.RunInfo(run_dir).update(step=2)
    assert len(set(names)) == 2 and all(str(os.getpid()) in n for n in names)


def test_linked_events_are_refused_for_writing_and_reading(run_dir, outside):
    (run_dir / "events.jsonl").symlink_to(outside)
    with pytest.raises(runio.UnsafeRunPath, match="events.jsonl.*link"):
        runio.EventLog(run_dir)
    with pytest.raises(runio.UnsafeRunPath):
        runio.read_jsonl(run_dir / "events.jsonl")
    assert outside.read_text() == "SECRET-TOKEN-1234\n"


def test_a_fifo_in_place_of_a_run_file_does_not_block_its_reader(run_dir):
    os.mkfifo(run_dir / "events.jsonl")
    with pytest.raises(runio.UnsafeRunPath, match="not a regular file"):
        runio.read_jsonl(run_dir / "events.jsonl")
    os.mkfifo(run_dir / "run.json")
    assert runio.detect_crash(run_dir) is None


def test_linked_control_lines_are_ignored_and_never_appended_to(run_dir, outside):
    outside.write_text(json.dumps({"seq": 1, "command": "stop"}) + "\n")
    (run_dir / "control.jsonl").symlink_to(outside)
    assert ControlReader(run_dir).poll() == []
    with pytest.raises(runio.UnsafeRunPath):
        append_command(run_dir, "pause")
    assert "pause" not in outside.read_text()


@pytest.mark.parametrize("folder", ["rollouts", "checkpoints"])
def test_linked_run_subfolders_are_never_written_into(run_dir, tmp_path, folder):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run_dir / folder).symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(runio.UnsafeRunPath, match=folder):
        if folder == "rollouts":
            runio.write_rollouts(run_dir, 1, [{"step": 1}])
        else:
            runio.write_checkpoint(run_dir, 1, lambda tmp: (tmp / runio.TRAINER_STATE).write_text("x"))
    assert list(elsewhere.iterdir()) == []


def test_checkpoints_outside_the_run_folder_are_never_resumed_from(run_dir, tmp_path):
    foreign = tmp_path / "foreign"
    (foreign / "step-000009").mkdir(parents=True)
    (foreign / "step-000009" / runio.TRAINER_STATE).write_text("x")
    (foreign / "step-000009" / "config.json").write_text("{}")
    root = run_dir / "checkpoints"
    root.mkdir()
    (root / "latest").write_text("../../foreign/step-000009\n")
    assert runio.latest_checkpoint(run_dir) is None
    (root / "step-000009").symlink_to(foreign / "step-000009", target_is_directory=True)
    (root / "latest").write_text("step-000009\n")
    assert runio.latest_checkpoint(run_dir) is None
    assert runio.checkpoint_for_step(run_dir, 9) is None
    runio.write_checkpoint(run_dir, 3, lambda tmp: (tmp / runio.TRAINER_STATE).write_text("x"))
    assert runio.latest_checkpoint(run_dir) == root / "step-000003"
