"""Issue 25: a run folder is untrusted everywhere. Wrong types, deep nesting, huge lines, tampered
control lines and paths that lead outside cost one run (or one line) with a reason, never the list,
the trainer or a file outside the folder."""

from __future__ import annotations

import json
import os

import pytest

from pacslab.run import safe_json
from pacslab.run import files as runio
from pacslab.cli import main
from pacslab.run.control import ControlReader, append_command

DEEP = "[" * 100_000 + "]" * 100_000


def make_run(root, name, **fields):
    run_dir = root / name
    run_dir.mkdir(parents=True)
    (run_dir / "run.json").write_text(json.dumps({"id": name, "status": "finished", "step": 3, "total_steps": 3, **fields}))
    return run_dir


@pytest.mark.parametrize("fields, field", [
    ({"git": {"commit": 12345}}, "git.commit"),
    ({"step": "ten"}, "step"),
    ({"pid": "init"}, "pid"),
    ({"error": "boom"}, "error"),
    ({"versions": [1]}, "versions"),
    ({"pid": True}, "pid"),
])
def test_a_wrong_typed_field_makes_that_run_unreadable_naming_it_and_the_others_still_list(tmp_path, capsys, fields, field):
    make_run(tmp_path, "a-good")
    make_run(tmp_path, "b-bad", **fields)
    runs = {r["dir"].rsplit("/", 1)[1]: r for r in runio.list_runs(tmp_path)}
    assert runs["a-good"]["status"] == "finished"
    assert runs["b-bad"]["status"] == "unreadable" and f'"{field}"' in runs["b-bad"]["error"]["message"]
    assert main(["status", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "a-good" in out and "b-bad" in out and f'"{field}"' in err


def test_deep_nesting_and_non_finite_numbers_in_run_json_cost_one_run_not_the_list(tmp_path):
    make_run(tmp_path, "a-good")
    (make_run(tmp_path, "b-deep") / "run.json").write_text('{"id": "b", "x": ' + DEEP + "}")
    (make_run(tmp_path, "c-inf") / "run.json").write_text('{"id": "c", "step": 1e999}')
    (make_run(tmp_path, "d-nan") / "run.json").write_text('{"id": "d", "step": NaN}')
    statuses = {r["dir"].rsplit("/", 1)[1]: r["status"] for r in runio.list_runs(tmp_path)}
    assert statuses == {"a-good": "finished", "b-deep": "unreadable", "c-inf": "unreadable", "d-nan": "unreadable"}


def test_an_oversized_run_json_is_not_read(tmp_path):
    run_dir = make_run(tmp_path, "big")
    (run_dir / "run.json").write_text(json.dumps({"id": "big", "pad": "x" * safe_json.MAX_INFO_BYTES}))
    [run] = runio.list_runs(tmp_path)
    assert run["status"] == "unreadable" and "more than the" in run["error"]["message"]


def test_event_lines_over_the_caps_are_bad_lines_and_the_lines_after_them_are_read(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps({"type": "metrics", "step": 1}) + "\n"
                      + '{"type": "run_started", "config": ' + DEEP + "}\n"
                      + json.dumps({"type": "metrics", "step": 2}) + "\n")
    good, bad = runio.read_jsonl(events)
    assert [e["step"] for e in good] == [1, 2] and bad == 1


def test_a_long_line_is_read_past_once_and_never_held_or_read_again(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"a": 1}\n{"big": "' + b"x" * 5000)
    lines = safe_json.BoundedLines(max_line=1024)

    def poll():
        fd = os.open(path, os.O_RDONLY)
        try:
            return list(safe_json.iter_json_lines(fd, lines))
        finally:
            os.close(fd)

    assert poll() == [(1, {"a": 1}, None)]
    assert lines.offset == path.stat().st_size  # the torn long line is consumed: the next poll starts after it
    with path.open("ab") as f:
        f.write(b'"}\n{"b": 2}\n')
    (n, value, why), last = poll()
    assert n == 2 and value is None and "longer than 1024 bytes" in why and '{"big": "xxx' in why
    assert last == (3, {"b": 2}, None)


def test_a_tampered_control_line_is_skipped_and_reported_and_never_blocks_later_commands(tmp_path):
    lines = ['{"seq": "99999", "command": "stop"}', '{"seq": 1e999, "command": "stop"}', '{"seq": 2.5, "command": "stop"}',
             '{"seq": 99999999999999, "command": "stop"}', '{"seq": true, "command": "stop"}', '{"seq": ' + DEEP + "}"]
    (tmp_path / "control.jsonl").write_text("\n".join(lines) + "\n")
    rejected = []
    reader = ControlReader(tmp_path, on_rejected=rejected.append)
    assert reader.poll() == [] and len(rejected) == len(lines)
    assert "line 1" in rejected[0] and "not an integer from 1" in rejected[0]
    # the next command (the CLI's or the editor's) gets seq 1, and the trainer obeys it
    assert append_command(tmp_path, "pause") == 1
    assert [(c.seq, c.command) for c in reader.poll()] == [(1, "pause")]
    assert not reader.exit_pending()
    assert append_command(tmp_path, "stop") == 2 and reader.exit_pending()


def test_latest_naming_a_checkpoint_of_another_run_is_not_resumed_from(tmp_path):
    other = tmp_path / "other" / "checkpoints" / "step-000009"
    other.mkdir(parents=True)
    (other / runio.TRAINER_STATE).write_text("{}")
    run_dir = tmp_path / "runs" / "crafted"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "checkpoints" / "latest").write_text("../../../other/checkpoints/step-000009\n")
    assert runio.latest_checkpoint(run_dir) is None


def test_a_linked_config_yaml_is_never_read_by_the_export(tmp_path):
    from pacslab.onnx_export import ExportError, read_run_config

    secret = tmp_path / "secret.yaml"
    secret.write_text("model: {path: /secret}\n")
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "config.yaml").symlink_to(secret)
    with pytest.raises(ExportError, match="symbolic link"):
        read_run_config(run_dir)


def test_a_linked_onnx_folder_is_never_written_into(tmp_path):
    from pacslab.onnx_export import ExportError, export_run

    run_dir = tmp_path / "run"
    step = run_dir / "checkpoints" / "step-000001"
    step.mkdir(parents=True)
    (step / "config.json").write_text("{}")
    (step / runio.TRAINER_STATE).write_text("{}")
    (run_dir / "config.yaml").write_text("model: {path: builtin:arith-tiny}\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run_dir / "onnx").symlink_to(elsewhere, target_is_directory=True)
    with pytest.raises(ExportError, match="symbolic link"):
        export_run(run_dir, log=lambda *a: None)
    assert list(elsewhere.iterdir()) == []


def test_status_escapes_control_characters_from_the_run_folder(tmp_path, capsys):
    make_run(tmp_path, "run-\x1b]0;owned\x07-\x1b[2J")
    assert main(["status", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\\u001b]0;owned\\u0007" in out


def _model_with_external_weights(folder, location: str):
    """A one-initializer ONNX model whose weights live in the file `location` names."""
    import onnx
    from onnx import TensorProto, helper

    weights = helper.make_tensor("w", TensorProto.FLOAT, [1], [0.0])
    weights.ClearField("float_data")
    weights.data_location = TensorProto.EXTERNAL
    weights.external_data.add(key="location", value=location)
    graph = helper.make_graph([helper.make_node("Identity", ["w"], ["y"])], "g", [],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [weights])
    path = folder / "policy.onnx"
    path.write_bytes(helper.make_model(graph).SerializeToString())
    return path


@pytest.mark.parametrize("how", ["parent", "absolute", "symlink", "hardlink"])
def test_onnx_external_data_outside_the_export_is_refused(tmp_path, how):
    from pacslab.scoring import ScoreError, check_external_data

    secret = tmp_path / "secret.bin"
    secret.write_bytes(b"\0" * 4)
    onnx_dir = tmp_path / "run" / "onnx"
    onnx_dir.mkdir(parents=True)
    location = {"parent": "../../secret.bin", "absolute": str(secret)}.get(how, "policy.onnx.data")
    if how == "symlink":
        (onnx_dir / location).symlink_to(secret)
    if how == "hardlink":
        os.link(secret, onnx_dir / location)
    with pytest.raises(ScoreError, match="not a regular file beside the model"):
        check_external_data(_model_with_external_weights(onnx_dir, location))


def test_onnx_external_data_beside_the_model_is_accepted(tmp_path):
    from pacslab.scoring import check_external_data

    (tmp_path / "policy.onnx.data").write_bytes(b"\0" * 4)
    check_external_data(_model_with_external_weights(tmp_path, "policy.onnx.data"))


# ---------------------------------------------------------------- import


def _verl_dump(folder, lines):
    folder.mkdir(parents=True)
    (folder / "1.jsonl").write_text("\n".join(lines) + "\n")
    return folder


def test_a_verl_dump_with_nan_and_lone_surrogates_imports_as_plain_json(tmp_path):
    from pacslab.importers import import_path

    source = _verl_dump(tmp_path / "dump", ['{"input": "p \\ud800", "output": "o", "score": NaN, "acc": Infinity, "x": [NaN]}',
                                             '{"input": "p", "output": "o2", "score": 1.0}'])
    [run_dir] = import_path(source, tmp_path / "runs")
    for path in (run_dir / "events.jsonl", run_dir / "rollouts" / "step-000001.jsonl"):
        for line in path.read_bytes().splitlines():
            safe_json.loads(line)  # no NaN, no Infinity, valid UTF-8
    first = json.loads((run_dir / "rollouts" / "step-000001.jsonl").read_text().splitlines()[0])
    assert first["reward"] is None and first["extra"] == {"acc": None, "x": [None]} and first["prompt"].startswith("p \ufffd")


def test_an_import_error_names_file_line_and_field_and_leaves_no_folder(tmp_path):
    from pacslab.importers import ImportError_, import_path

    source = _verl_dump(tmp_path / "dump", ['{"input": "p", "output": "o", "score": 1}', '{"input": 5, "output": "o"}'])
    with pytest.raises(ImportError_, match=r"1\.jsonl line 2: field `input` is not a string"):
        import_path(source, tmp_path / "runs")
    deep = _verl_dump(tmp_path / "deep", ['{"input": "p", "output": "o", "x": ' + "[" * 100 + "]" * 100 + "}"])
    with pytest.raises(ImportError_, match=r"1\.jsonl line 1\.x(\[0\])+: nested deeper than 64"):
        import_path(deep, tmp_path / "runs")
    assert not any((tmp_path / "runs").glob("*/run.json"))


def test_a_failure_while_writing_an_import_leaves_no_half_made_folder(tmp_path, monkeypatch):
    from pacslab.importers import import_path

    source = _verl_dump(tmp_path / "dump", ['{"input": "p", "output": "o", "score": 1}'])

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runio, "write_rollouts", disk_full)
    with pytest.raises(OSError):
        import_path(source, tmp_path / "runs")
    assert [p.name for p in (tmp_path / "runs").iterdir() if not p.name.startswith(".")] == []


def test_a_trl_step_true_is_not_a_step(tmp_path):
    from pacslab.importers import ImportError_, import_path

    source = tmp_path / "trl"
    source.mkdir()
    (source / "trainer_state.json").write_text(json.dumps({"log_history": [{"step": True, "loss": 0.5}], "max_steps": True}))
    with pytest.raises(ImportError_, match=r"trainer_state\.json: log_history\[0\]\.step is true, not a whole number"):
        import_path(source, tmp_path / "runs")
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").glob("*/run.json"))


# ---------------------------------------------------------------- status words


GLOO_RESET = ("[../third_party/gloo/gloo/transport/tcp/pair.cc:534] Read error [127.0.0.1]:29500: "
              "Connection reset by peer")


def test_a_rank_killed_in_a_two_process_run_is_crashed_not_failed(tmp_path):
    from types import SimpleNamespace

    from pacslab.integrations.trl import PacsLabCallback

    def ended(error, world_size, launched=False):
        run_dir = tmp_path / f"run-{len(list(tmp_path.iterdir()))}"
        run_dir.mkdir()
        callback = object.__new__(PacsLabCallback)
        callback.main, callback.run_dir, callback.launched = True, run_dir, launched
        callback.trainer = SimpleNamespace(accelerator=SimpleNamespace(num_processes=world_size))
        callback.info, callback.events = runio.RunInfo(run_dir), runio.EventLog(run_dir)
        callback.info.update(status="running")
        try:
            raise error
        except RuntimeError as exc:
            callback.fail(exc)
        callback.events.close()
        events, _ = runio.read_jsonl(run_dir / runio.EVENTS)
        return runio.read_json(run_dir / runio.RUN_JSON)["status"], events[-1] if events else None

    status, last = ended(RuntimeError(GLOO_RESET), 2)
    assert status == "crashed" and last["type"] == "run_finished" and last["status"] == "crashed"
    assert ended(RuntimeError("CUDA out of memory"), 2)[0] == "failed"
    assert ended(RuntimeError(GLOO_RESET), 1)[0] == "failed"  # one process: nothing else can be gone
    # under `pacslab train` the launcher ends it, naming the rank that is gone (engines/trl/launch.py)
    assert ended(RuntimeError(GLOO_RESET), 2, launched=True) == ("running", None)
    assert ended(RuntimeError("CUDA out of memory"), 2, launched=True)[0] == "failed"


def test_peer_gone_follows_the_cause_chain():
    from pacslab.run.status_words import end_status

    try:
        try:
            raise ConnectionResetError("Connection reset by peer")
        except ConnectionResetError as inner:
            raise RuntimeError("the all-reduce of step 3 did not finish") from inner
    except RuntimeError as outer:
        assert end_status(outer, 2) == "crashed"
    assert end_status(ValueError("bad config"), 4) == "failed"


@pytest.mark.slow
def test_a_trainer_skips_tampered_control_lines_reports_them_and_still_obeys_stop(write_config, tmp_path):
    from conftest import events_of, run_json, spawn_trainer, wait_for

    run_dir = tmp_path / "runs" / "long"
    proc = spawn_trainer("train", str(write_config(total_steps=500, eval_every=0)), "--run-dir", str(run_dir), cwd=tmp_path)
    try:
        wait_for(lambda: any(e["type"] == "metrics" and e.get("step", 0) >= 1 for e in events_of(run_dir)), what="the first step", proc=proc)
        with (run_dir / runio.CONTROL).open("a") as f:
            f.write('{"seq": 1e999, "command": "pause", "t": 0}\n{"seq": "99999", "command": "pause", "t": 0}\n')
        seq = append_command(run_dir, "stop")
        assert seq == 1
        assert proc.wait(timeout=120) == 0  # 1e999 killed the trainer (OverflowError) before
        events = events_of(run_dir)
        assert run_json(run_dir)["status"] == "stopped"
        assert any(e["type"] == "control_ack" and e["seq"] == 1 and e["result"] == "ok" for e in events)
        warnings = [e["message"] for e in events if e["type"] == "log" and e.get("level") == "warning" and "control.jsonl" in e["message"]]
        assert len(warnings) == 2 and "line 1" in warnings[0] and "line 2" in warnings[1]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("head", [b'{"a": 1}\n{"b": 2}\n', b""])
def test_a_torn_last_line_longer_than_a_chunk_is_cut_before_appending(tmp_path, head):
    path = tmp_path / runio.EVENTS
    path.write_bytes(head + b'{"big": "' + b"x" * (safe_json.CHUNK_BYTES * 3 + 5))
    log = runio.EventLog(tmp_path)
    log.emit("log", level="info", message="after")
    log.close()
    data = path.read_bytes()
    assert data.startswith(head) and data[len(head):].count(b"\n") == 1 and b"big" not in data
