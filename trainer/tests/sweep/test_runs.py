"""A sweep's run folders: one left unstarted by a killed controller is taken up again, never a started one."""

from __future__ import annotations

import json

from pacslab.sweep.runs import _unstarted


def test_a_folder_the_killed_controller_made_but_never_started_is_taken_up_again(tmp_path):
    made = tmp_path / "20261207-152630-grid-t1-s0-713d"  # killed between mkdir and run.json
    made.mkdir()
    assert _unstarted(tmp_path, "grid-t1-s0", "sw", 1, 0) == made
    assert _unstarted(tmp_path, "grid-t1-s1", "sw", 1, 1) is None
    assert _unstarted(tmp_path, "grid-t11-s0", "sw", 11, 0) is None


def test_an_empty_folder_of_another_sweep_whose_name_ends_the_same_is_never_taken(tmp_path):
    (tmp_path / "20261207-152630-x-grid-t1-s0-713d").mkdir()  # sweep "x-grid", made but not yet recorded
    (tmp_path / "20261207-152630-grid-t1-s0-713d-copy").mkdir()
    assert _unstarted(tmp_path, "grid-t1-s0", "sw", 1, 0) is None


def test_a_started_or_foreign_run_is_never_taken(tmp_path):
    def run(name, **info):
        d = tmp_path / name
        d.mkdir()
        (d / "run.json").write_text(json.dumps(info))
        return d

    starting = run("20261207-100001-grid-t0-s0-aaaa", status="starting", pid=None, sweep={"id": "sw", "trial": 0, "seed": 0})
    assert _unstarted(tmp_path, "grid-t0-s0", "sw", 0, 0) == starting  # killed between run.json and the spawn
    (starting / "launcher.json").write_text("{}")  # spawned: its trainer owns it
    assert _unstarted(tmp_path, "grid-t0-s0", "sw", 0, 0) is None
    run("20261207-100002-grid-t2-s0-bbbb", status="starting", pid=None, sweep={"id": "other", "trial": 2, "seed": 0})
    run("20261207-100003-grid-t3-s0-cccc", status="finished", pid=None, sweep={"id": "sw", "trial": 3, "seed": 0})
    assert _unstarted(tmp_path, "grid-t2-s0", "sw", 2, 0) is None
    assert _unstarted(tmp_path, "grid-t3-s0", "sw", 3, 0) is None


def test_the_watch_reads_a_trials_events_through_the_bounded_reader(tmp_path):
    """A hostile or torn line of events.jsonl never stops the sweep: too deep, over the line cap,
    non-finite or not JSON is skipped; a line still being written is read once it is complete."""
    from pacslab.run import safe_json
    from pacslab.sweep.runs import RunWatch

    events = tmp_path / "events.jsonl"
    good = lambda step, v: json.dumps({"type": "eval", "step": step, "values": {"eval/accuracy": v}}) + "\n"  # noqa: E731
    events.write_text(
        good(1, 0.25)
        + '{"type": "eval", "step": 2, "values": ' + "[" * 100_000 + "]" * 100_000 + "}\n"
        + '{"type": "eval", "step": 3, "values": {"eval/accuracy": NaN}}\n'
        + '{"type": "eval", "step": 4, "values": {"eval/accuracy": "x' + "y" * (safe_json.MAX_LINE_BYTES + 10) + '"}}\n'
        + "not json\n"
        + good(5, 0.5)
        + good(6, 0.75)[:20])  # torn: the trainer is writing it
    watch = RunWatch(tmp_path, "eval/accuracy")
    watch.poll()
    assert watch.values == {1: 0.25, 5: 0.5}
    with events.open("a") as f:
        f.write(good(6, 0.75)[20:])
    watch.poll()
    assert watch.values == {1: 0.25, 5: 0.5, 6: 0.75}
    assert watch.value("best", "maximize") == 0.75
