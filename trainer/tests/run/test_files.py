"""The run directory: atomic files, tolerant readers, checkpoints, crash detection, control lines."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pacslab.run import files as runio
from pacslab.run.control import ControlReader, append_command


def test_run_ids_and_the_runs_root(tmp_path):
    root = tmp_path / ".pacs" / "runs"
    run_dir = runio.create_run_dir(root, "arith")
    assert re.fullmatch(r"\d{8}-\d{6}-arith-[0-9a-f]{4}", run_dir.name)
    assert (tmp_path / ".pacs" / ".gitignore").read_text() == "*\n"
    assert runio.create_run_dir(root, "arith") != run_dir


def test_run_json_is_replaced_whole_and_keeps_the_launchers_fields(tmp_path):
    launcher = {"id": "r1", "name": "arith", "status": "starting", "git": {"commit": "abc", "dirty": True}}
    (tmp_path / "run.json").write_text(json.dumps(launcher))
    info = runio.RunInfo(tmp_path)
    info.update(status="running", step=3)
    # a field another writer added since is kept too
    on_disk = json.loads((tmp_path / "run.json").read_text())
    on_disk["note"] = "added by the extension"
    (tmp_path / "run.json").write_text(json.dumps(on_disk))
    info.update(step=4)
    data = json.loads((tmp_path / "run.json").read_text())
    assert data["git"] == launcher["git"] and data["id"] == "r1" and data["note"] == "added by the extension"
    assert data["status"] == "running" and data["step"] == 4 and data["updated_at"].endswith("Z")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.json"]


def test_event_readers_skip_a_torn_last_line_and_count_bad_lines(tmp_path):
    log = runio.EventLog(tmp_path)
    log.emit("metrics", step=1, values={"reward/mean": 0.5})
    log.close()
    with open(tmp_path / "events.jsonl", "a") as f:
        f.write("not json\n")
        f.write('{"t": 1, "type": "metr')  # a crash mid-write
    events, bad = runio.read_jsonl(tmp_path / "events.jsonl")
    assert [e["type"] for e in events] == ["metrics"] and bad == 1
    # a trainer that reopens the log cuts the torn line, so its next event is a line of its own
    log = runio.EventLog(tmp_path)
    log.emit("log", level="info", message="resumed")
    log.close()
    events, bad = runio.read_jsonl(tmp_path / "events.jsonl")
    assert [e["type"] for e in events] == ["metrics", "log"] and bad == 1


def test_checkpoints_are_renamed_into_place_and_latest_follows(tmp_path):
    def save(text):
        return lambda folder: (folder / runio.TRAINER_STATE).write_text(text)

    assert runio.latest_checkpoint(tmp_path) is None
    runio.write_checkpoint(tmp_path, 5, save("a"))
    runio.write_checkpoint(tmp_path, 10, save("b"))
    assert runio.latest_checkpoint(tmp_path).name == "step-000010"
    runio.write_checkpoint(tmp_path, 10, save("c"))  # the same step again replaces it
    assert (tmp_path / "checkpoints" / "step-000010" / runio.TRAINER_STATE).read_text() == "c"
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["latest", "step-000005", "step-000010"]
    # an unfinished temp folder or a stale `latest` never counts
    (tmp_path / "checkpoints" / ".step-000015.tmp-1").mkdir()
    (tmp_path / "checkpoints" / "latest").write_text("step-000020\n")
    assert runio.latest_checkpoint(tmp_path).name == "step-000010"


def test_rollout_files_are_whole_jsonl_with_the_option(tmp_path):
    rel = runio.write_rollouts(tmp_path, 7, [{"step": 7, "response": "<b>1</b>"}, {"step": 7, "response": "2"}], jsonl=True)
    assert rel == "rollouts/step-000007.jsonl"
    records, bad = runio.read_jsonl(tmp_path / rel)
    assert [r["response"] for r in records] == ["<b>1</b>", "2"] and bad == 0


def test_run_json_is_fsynced_and_rollout_files_are_not(tmp_path, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(runio.os, "fsync", lambda fd: synced.append(fd) or real_fsync(fd))
    runio.RunInfo(tmp_path).update(status="running", step=3)
    assert len(synced) == 1
    runio.write_rollouts(tmp_path, 3, [{"step": 3}])
    assert len(synced) == 1
    assert runio.read_json(tmp_path / "run.json")["step"] == 3 and not list(tmp_path.glob("**/*.tmp"))


def test_pid_start_time_tells_a_live_process_from_a_reused_pid(tmp_path):
    start = runio.pid_start_time(os.getpid())
    assert start and start.isdigit()
    assert runio.process_alive(os.getpid(), start)
    assert not runio.process_alive(os.getpid(), str(int(start) + 1))
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    assert not runio.process_alive(int(done.stdout), None)


@pytest.mark.skipif(not Path("/proc/self/stat").is_file(), reason="/proc")
def test_a_killed_process_its_parent_has_not_reaped_is_not_alive():
    import signal
    import time

    child = subprocess.Popen(["sleep", "60"])
    start = runio.pid_start_time(child.pid)
    assert runio.process_alive(child.pid, start)
    os.kill(child.pid, signal.SIGKILL)  # not waited for: a zombie until reaped
    deadline = time.monotonic() + 10
    while Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert not runio.process_alive(child.pid, start)
    child.wait()


def test_detect_crash_marks_a_dead_live_run_and_leaves_others(tmp_path):
    import socket

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    for name, status, pid in (("a", "running", int(dead.stdout)), ("b", "finished", int(dead.stdout)),
                              ("c", "running", os.getpid())):
        (tmp_path / name).mkdir()
        runio.write_json_atomic(tmp_path / name / "run.json", {"id": name, "status": status, "pid": pid,
                                "pid_start_time": runio.pid_start_time(pid), "host": socket.gethostname()})
    statuses = {r["id"]: r["status"] for r in runio.list_runs(tmp_path)}
    assert statuses == {"a": "crashed", "b": "finished", "c": "running"}
    assert json.loads((tmp_path / "a" / "run.json").read_text())["status"] == "crashed"


def test_control_reader_reads_each_complete_line_once(tmp_path):
    reader = ControlReader(tmp_path, last_seq=1)
    assert reader.poll() == []
    assert append_command(tmp_path, "pause") == 1
    assert append_command(tmp_path, "resume") == 2
    with open(tmp_path / "control.jsonl", "a") as f:
        f.write("garbage\n")
        f.write('{"seq": 3, "command": "st')  # still being written
    assert [(c.seq, c.command) for c in reader.poll()] == [(2, "resume")]  # seq 1 was handled before a resume
    with open(tmp_path / "control.jsonl", "a") as f:
        f.write('op", "t": 0}\n')
    assert [(c.seq, c.command) for c in reader.poll()] == [(3, "stop")]
    assert reader.poll() == []
    assert append_command(tmp_path, "checkpoint") == 4
