"""Issue 25: hostile data and sizes. Config checks bound what would exhaust the machine, with the fix
in the message; data rows that are huge or whose answers are not text are refused by row."""

from __future__ import annotations

import json

import pytest

from pacslab.config import ConfigError, TaskConfig
from pacslab.config.loading import load_config
from pacslab.data_files import MAX_ROW_BYTES
from pacslab.tasks import DataError, load_examples

CONFIG = "total_steps: 2\nrollout: {n: 4, prompts_per_step: 4}\n"


def config_error(tmp_path, *sets) -> str:
    path = tmp_path / "c.pacs.yaml"
    path.write_text(CONFIG)
    with pytest.raises(ConfigError) as info:
        load_config(path, list(sets))
    return str(info.value)


@pytest.mark.parametrize("setting, key, fix", [
    ("rollout.n=1000000", "rollout.n", "use a group size of 4 to 64"),
    ("rollout.prompts_per_step=10000000", "rollout.prompts_per_step", "tens to a few thousand"),
    ("rollout.max_prompt_tokens=100000000", "rollout.max_prompt_tokens", "context length"),
])
def test_sizes_that_would_exhaust_the_machine_are_refused_before_the_model_loads(tmp_path, setting, key, fix):
    message = config_error(tmp_path, setting)
    assert f"{key}:" in message and fix in message


def test_group_size_times_prompts_is_bounded_and_the_fix_says_how_far_to_go(tmp_path):
    message = config_error(tmp_path, "rollout.n=64", "rollout.prompts_per_step=65536")
    assert "4,194,304 samples per step" in message and "at most 16,384" in message


def test_ordinary_sizes_pass(tmp_path):
    path = tmp_path / "c.pacs.yaml"
    path.write_text(CONFIG)
    assert load_config(path, ["rollout.n=64", "rollout.prompts_per_step=1024"]).rollout.n == 64


def task(**overrides) -> TaskConfig:
    return TaskConfig(**{"type": "jsonl", "train_file": "train.jsonl", "eval_file": "train.jsonl", **overrides})


def write_rows(tmp_path, rows) -> None:
    (tmp_path / "train.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.mark.parametrize("answer", [["4", "four"], {"value": 4}, True, float("nan")])
def test_an_answer_that_is_not_text_or_a_number_is_refused_by_row(tmp_path, answer):
    (tmp_path / "train.jsonl").write_text(json.dumps({"prompt": "2+2?", "answer": "4"}) + "\n"
                                          + json.dumps({"prompt": "3+3?", "answer": answer}) + "\n")
    with pytest.raises(DataError) as info:
        load_examples(task(), "train", base_dir=tmp_path)
    text = str(info.value)
    assert "train.jsonl:2:" in text and "task.answer_field" in text and "not text or a number" in text


def test_numeric_answers_become_their_decimal_text(tmp_path):
    write_rows(tmp_path, [{"prompt": "2+2?", "answer": 4}, {"prompt": "1/2?", "answer": 0.5}])
    assert [e.answer for e in load_examples(task(), "train", base_dir=tmp_path)] == ["4", "0.5"]


def test_a_huge_single_line_row_is_refused_without_reading_it_whole(tmp_path):
    with (tmp_path / "train.jsonl").open("w") as f:
        f.write(json.dumps({"prompt": "2+2?", "answer": "4"}) + "\n")
        f.write('{"prompt": "' + "x" * (MAX_ROW_BYTES + 10) + '", "answer": "1"}\n')
    with pytest.raises(DataError, match=r"train\.jsonl:2:.*longer than 16 MiB"):
        load_examples(task(), "train", base_dir=tmp_path)


def test_a_prompt_over_the_character_cap_is_refused_by_row(tmp_path, monkeypatch):
    from pacslab import tasks

    monkeypatch.setattr(tasks, "MAX_PROMPT_CHARS", 100)
    write_rows(tmp_path, [{"prompt": "2+2?", "answer": "4"}, {"prompt": "y" * 101, "answer": "1"}])
    with pytest.raises(DataError, match=r"train\.jsonl:2:.*101 characters"):
        load_examples(task(), "train", base_dir=tmp_path)
