"""rollout.dynamic_sampling: rounds of prompts until a step's batch is groups with mixed labels,
on both engines (engine: trl on 2 torchrun processes)."""

from __future__ import annotations

import json

import pytest
import torch

from conftest import events_of, spawn_trainer, train
from pacslab.dynamic_sampling import choose_groups, dropped_groups, mixed_groups, sampling_metrics
from pacslab.health.ledger import read_ledger_lines
from pacslab.run.records import read_file

# the embedded default model (arith-tiny, 2-digit addition at 27.5%): most groups of 4 agree (all wrong)
EMBEDDED = {"model.path": "builtin:arith-tiny", "task.arith": {"digits": 2, "train_size": 200, "eval_size": 8},
            "rollout.prompts_per_step": 4, "rollout.n": 4, "rollout.max_new_tokens": 4, "optim.mini_batch_prompts": 2,
            "optim.lr": 1e-4, "rollout.dynamic_sampling": True, "rollout.dynamic_sampling_max_rounds": 12, "eval_every": 0}


def test_choose_groups_keeps_the_first_mixed_groups_then_fills_on_the_last_round():
    first = torch.tensor([1.0, 1, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0])  # mixed, all right, all wrong
    second = torch.tensor([0.0, 0, 0, 0, 1, 0, 1, 0, 1, 1, 1, 1])  # all wrong, mixed, all right
    assert mixed_groups(first, 4).tolist() == [True, False, False]
    assert choose_groups([first], groups=2, n=4, final=False) is None
    assert choose_groups([first, second], groups=2, n=4, final=False) == [(0, 0), (1, 1)]
    picks = choose_groups([first, second], groups=3, n=4, final=True)
    assert picks == [(0, 0), (0, 1), (1, 1)]  # the first agreeing group fills the batch
    assert sampling_metrics([first, second], picks, n=4) == {"sampling/rounds": 2.0, "sampling/prompts": 6.0,
                                                             "sampling/dropped_frac": 0.5, "sampling/unmixed_kept": 1.0}
    assert dropped_groups([first, second], picks, n=4) == [((0, 2), 0), ((1, 0), 0), ((1, 2), 4)]  # with their correct samples


def _kept_groups_are_mixed(run_dir, n: int) -> list[dict]:
    """The steps' sampling metrics, after checking that every rollout record's group is mixed."""
    events = events_of(run_dir)
    for e in (e for e in events if e["type"] == "rollouts"):
        records, _ = read_file(run_dir / e["file"])
        by_group: dict[int, list[float]] = {}
        for r in records:
            by_group.setdefault(r["group"], []).append(r["reward"])
        assert all(0 < sum(v) < n for v in by_group.values()), f"step {e['step']}: an agreeing group was kept"
    return [{k: v for k, v in e["values"].items() if k.startswith(("sampling/", "reward/"))}
            for e in events if e["type"] == "metrics" and e["step"] > 0]


def _dropped_groups_count(run_dir, steps: list[dict], *, groups: int, n: int) -> None:
    """Every group a step sampled is in its ledger line, the ones left out last (`dropped`), and the
    step's group shares (what the no_signal alert reads) are over all of them, not the kept batch."""
    lines = read_ledger_lines(run_dir / "ledger.jsonl")
    assert [line["step"] for line in lines] == list(range(1, len(steps) + 1))
    for line, values in zip(lines, steps):
        sampled = int(values["sampling/prompts"])
        assert len(line["p"]) == sampled and line["n"] == n
        assert line.get("dropped", 0) == sampled - groups
        agree_right = sum(1 for c in line["c"] if c == n)
        agree_wrong = sum(1 for c in line["c"] if c == 0)
        assert values["reward/all_correct_frac"] == pytest.approx(agree_right / sampled)
        assert values["reward/all_wrong_frac"] == pytest.approx(agree_wrong / sampled)
        assert values["reward/mixed_group_frac"] == pytest.approx(1 - (agree_right + agree_wrong) / sampled)
        kept = line["c"][:groups]
        assert all(0 < c < n for c in kept), f"step {line['step']}: the ledger's kept groups are not the mixed batch"


def _rounds_add_up(run_dir, steps):
    """Each step's sampling metrics agree with its rounds (4 prompts a round), some step needed a
    second round, and the dropped groups count in the ledger and the shares."""
    for values in steps:
        assert values["sampling/unmixed_kept"] == 0
        assert values["sampling/prompts"] == 4 * values["sampling/rounds"]
        assert values["sampling/dropped_frac"] == pytest.approx(1 - 1 / values["sampling/rounds"])
    assert max(v["sampling/rounds"] for v in steps) > 1, "no step needed a second round: the test shows nothing"
    _dropped_groups_count(run_dir, steps, groups=4, n=4)


def test_native_keeps_only_mixed_groups_and_records_the_rounds(write_config, tmp_path):
    run_dir = tmp_path / "runs" / "ds"
    assert train(write_config(total_steps=3, **EMBEDDED), run_dir) == 0
    steps = _kept_groups_are_mixed(run_dir, 4)
    assert len(steps) == 3
    _rounds_add_up(run_dir, steps)


def test_engine_trl_keeps_only_mixed_groups_with_the_same_config(write_config, tmp_path):
    """The native test's config with engine: trl on 2 processes: the kept batch is mixed groups, the
    records are its rows, and the metrics say how many rounds each step took."""
    pytest.importorskip("trl")
    config = write_config(total_steps=2, engine="trl", **{**EMBEDDED, "launch.num_processes": 2})
    process = spawn_trainer("train", str(config), "--runs-root", str(tmp_path / "runs"), cwd=tmp_path)
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
    (run_dir,) = (tmp_path / "runs").iterdir()
    steps = _kept_groups_are_mixed(run_dir, 4)
    assert len(steps) == 2
    _rounds_add_up(run_dir, steps)
