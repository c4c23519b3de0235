"""Property tests of the trainer's run-file readers against hostile run folders (issue 25): wrong
types, deep nesting, huge and torn lines, links of every kind, escape sequences, out-of-range
numbers. No exception escapes, nothing outside the folder is read or written, the other runs still
list. PACS_FUZZ_RUNS sets the examples per property (`make fuzz` runs many more than `make test`)."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacslab.run import safe_json
from pacslab.run import files as runio
from pacslab.cli import main
from pacslab.run.control import ControlReader, append_command

FUZZ = settings(max_examples=int(os.environ.get("PACS_FUZZ_RUNS") or 300), deadline=None, derandomize=False,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture])

escapes = st.sampled_from(["\x1b[2J", "\x1b]0;owned\x07", "\x9b31m", "\r", "\u202e", "\x1b]8;;http://x\x1b\\"])
text = st.one_of(st.text(), escapes, st.tuples(st.text(max_size=5), escapes).map("".join))
numbers = st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.sampled_from([2**63, -(2**63), 2**31]))
json_values = st.recursive(st.one_of(st.none(), st.booleans(), numbers, text), lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)), max_leaves=8)
deep = st.integers(min_value=1, max_value=5000).map(lambda d: "[" * d + "]" * d)
FIELDS = ["format", "id", "name", "algorithm", "status", "pid", "pid_start_time", "host", "created_at", "updated_at",
          "step", "total_steps", "config_path", "seed", "git", "versions", "error", "heartbeat_s"]
run_json = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), json_values).map(lambda d: json.dumps({"id": "x", "status": "finished", **d})),
    st.fixed_dictionaries({"commit": json_values, "dirty": json_values}).map(lambda g: json.dumps({"id": "x", "git": g})),
    deep.map(lambda d: '{"id": "x", "v": ' + d + "}"),
    st.sampled_from(['{"step": 1e999}', '{"step": NaN}', '{"step": -Infinity}', "[]", "null", '{"id": ', ""]),
    st.text(),
)
lines = st.one_of(
    json_values.map(json.dumps),
    st.fixed_dictionaries({"seq": json_values, "command": json_values}).map(json.dumps),
    st.sampled_from(['{"seq": 1e999, "command": "stop"}', '{"seq": "5", "command": "stop"}', '{"seq": 2.5}', '{"seq": true}']),
    deep.map(lambda d: '{"seq": ' + d + "}"),
    st.integers(min_value=1, max_value=3000).map(lambda k: '{"seq": 1, "pad": "' + "x" * k + '"}'),
    st.text(),
)


def _depth(value) -> int:
    stack, worst = [(value, 0)], 0
    while stack:
        item, d = stack.pop()
        if isinstance(item, (dict, list)):
            worst = max(worst, d + 1)
            stack.extend((c, d + 1) for c in (item.values() if isinstance(item, dict) else item))
    return worst


@FUZZ
@given(st.one_of(json_values.map(json.dumps), st.text(), deep, st.binary()))
def test_loads_only_raises_unsafe_json_and_never_returns_deep_or_non_finite_values(data):
    try:
        value = safe_json.loads(data)
    except safe_json.UnsafeJson:
        return
    assert _depth(value) <= safe_json.MAX_DEPTH
    json.dumps(value, allow_nan=False)  # no NaN or infinity got through


@FUZZ
@given(st.lists(lines, max_size=10), st.lists(st.integers(min_value=0), max_size=5), st.booleans())
def test_bounded_lines_read_piece_by_piece_give_what_one_read_gives(items, cuts, torn):
    data = ("\n".join(items) + ("" if torn else "\n")).encode("utf-8", "surrogatepass")
    with tempfile.TemporaryDirectory() as tmp:
        whole, pieces = Path(tmp) / "whole", Path(tmp) / "pieces"
        whole.write_bytes(data)
        pieces.write_bytes(b"")

        def read(path, reader):
            fd = os.open(path, os.O_RDONLY)
            try:
                return list(safe_json.iter_json_lines(fd, reader))
            finally:
                os.close(fd)

        once_reader = safe_json.BoundedLines(max_line=1024)
        once = read(whole, once_reader)
        reader, got, start = safe_json.BoundedLines(max_line=1024), [], 0
        for end in sorted({c % (len(data) + 1) for c in cuts}) + [len(data)]:
            with pieces.open("ab") as f:
                f.write(data[start:end])
            start = end
            got += read(pieces, reader)
        assert got == once and reader.offset == once_reader.offset


@FUZZ
@given(st.lists(lines, max_size=10))
def test_control_reader_never_raises_and_obeys_only_valid_seqs_then_the_next_command(items):
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp)
        (run_dir / runio.CONTROL).write_text("\n".join(items) + "\n", encoding="utf-8", errors="surrogatepass")
        rejected = []
        reader = ControlReader(run_dir, on_rejected=rejected.append)
        commands = reader.poll()
        assert all(safe_json.is_valid_seq(c.seq) for c in commands)
        reader.last_seq = max([0, *(c.seq for c in commands)])
        if reader.last_seq < safe_json.MAX_SEQ:
            seq = append_command(run_dir, "pause")
            assert [(c.seq, c.command) for c in reader.poll()] == [(seq, "pause")]


@FUZZ
@given(st.lists(st.tuples(run_json, st.sampled_from(["none", "run.json", "trainer.log", "hardlink", "folder"]), st.one_of(st.just(""), escapes)),
                min_size=1, max_size=4))
def test_status_lists_the_good_run_never_raises_never_prints_control_characters_and_leaves_outside_files_alone(runs):
    with tempfile.TemporaryDirectory() as tmp:
        root, outside = Path(tmp) / "runs", Path(tmp) / "outside"
        outside.mkdir()
        secret = outside / "secret.json"
        secret.write_text(json.dumps({"id": "secret", "status": "running", "pid": 1}))
        before = secret.read_bytes()
        good = root / "0-good"
        good.mkdir(parents=True)
        (good / runio.RUN_JSON).write_text(json.dumps({"id": "0-good", "status": "finished"}))
        for i, (content, link, name) in enumerate(runs):
            run_dir = root / f"{i + 1}-bad{name.replace('/', '').replace(chr(0), '')}"
            if link == "folder":
                run_dir.symlink_to(outside, target_is_directory=True)
                continue
            run_dir.mkdir()
            if link == "run.json":
                (run_dir / runio.RUN_JSON).symlink_to(secret)
            else:
                (run_dir / runio.RUN_JSON).write_text(content, errors="surrogatepass")
            if link == "trainer.log":
                (run_dir / "trainer.log").symlink_to(secret)
            if link == "hardlink":
                os.link(secret, run_dir / "trainer.log")
        listed = runio.list_runs(root)
        assert any(r["dir"].endswith("0-good") and r["status"] == "finished" for r in listed)
        for run in listed:
            assert run.get("status") == "unreadable" or safe_json.run_json_problem({k: v for k, v in run.items() if k != "dir"}) is None
        import contextlib
        import io

        out = io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
            assert main(["status", str(root)]) == 0
        assert not any(ch in out.getvalue() for ch in "\x1b\x07\x9b\r\u202e")
        assert secret.read_bytes() == before
