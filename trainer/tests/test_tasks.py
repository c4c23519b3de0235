import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from pacslab.tasks import Example, PromptSampler, arith_examples, load_examples


def task(**overrides):
    base = dict(type="jsonl", arith=SimpleNamespace(digits=2, ops=["+"], train_size=50, eval_size=20, seed=7),
                train_file="train.jsonl", eval_file="eval.jsonl", prompt_field="prompt", answer_field="answer",
                id_field=None, data_source_field="data_source", extra_info_field="extra_info", template="{prompt}",
                chat=False, system_prompt=None)
    return SimpleNamespace(**{**base, **overrides})


def triples(examples):
    return [(e.id, e.prompt, e.answer) for e in examples]


def write_jsonl(path: Path, rows) -> None:
    path.write_text("".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows))


def test_arith_is_seeded_and_correct():
    first = arith_examples(digits=3, ops=["+", "-", "*"], n=300, seed=5, split="train")
    assert first == arith_examples(digits=3, ops=["+", "-", "*"], n=300, seed=5, split="train")
    assert first != arith_examples(digits=3, ops=["+", "-", "*"], n=300, seed=6, split="train")
    for e in first:
        assert e.prompt.endswith("=")
        assert int(e.answer) == eval(e.prompt[:-1])  # noqa: S307 - our own digits and operators
        assert int(e.answer) >= 0
    assert len({e.prompt for e in first}) == 300


@pytest.mark.parametrize("digits", [1, 3])
def test_arith_splits_are_disjoint(digits):
    train = arith_examples(digits=digits, ops=["+"], n=5000, seed=1, split="train")
    held_out = arith_examples(digits=digits, ops=["+"], n=500, seed=1, split="eval")
    assert held_out and train
    assert not {e.prompt for e in train} & {e.prompt for e in held_out}


def test_arith_caps_n_at_the_split_size():
    problems = arith_examples(digits=1, ops=["+"], n=1000, seed=0, split="train") + arith_examples(digits=1, ops=["+"], n=1000, seed=0, split="eval")
    assert len(problems) == 100


def test_arith_rejects_unknown_ops():
    with pytest.raises(ValueError, match="task.arith.ops"):
        arith_examples(digits=2, ops=["/"], n=5, seed=0, split="train")


def test_load_arith_applies_the_template(tmp_path):
    examples = load_examples(task(type="arith", template="Q: {prompt}"), "eval", base_dir=tmp_path)
    assert len(examples) == 20
    assert all(e.prompt.startswith("Q: ") and e.id.startswith("eval-") for e in examples)


def test_load_jsonl_fields_ids_and_template(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"q": "2+2", "a": 4, "key": "x1", "topic": "sums"}, "", {"q": "3+3", "a": "6", "key": "x2", "topic": "sums"}])
    cfg = task(prompt_field="q", answer_field="a", id_field="key", template="[{topic}] {prompt} =")
    assert triples(load_examples(cfg, "train", base_dir=tmp_path)) == [("x1", "[sums] 2+2 =", "4"), ("x2", "[sums] 3+3 =", "6")]
    no_ids = load_examples(task(prompt_field="q", answer_field="a"), "train", base_dir=tmp_path)
    assert [e.id for e in no_ids] == ["train-1", "train-3"]


def test_load_parquet(tmp_path):
    pa = pytest.importorskip("pyarrow")
    import pyarrow.parquet as pq

    pq.write_table(pa.table({"prompt": ["1+1=", "2+5="], "answer": ["2", "7"]}), tmp_path / "eval.parquet")
    examples = load_examples(task(type="parquet", eval_file="eval.parquet"), "eval", base_dir=tmp_path)
    assert triples(examples) == [("eval-0", "1+1=", "2"), ("eval-1", "2+5=", "7")]
    with pytest.raises(ValueError, match=r"eval.parquet: task.prompt_field: row 0 \(the first that lacks it\) has no field 'question'"):
        load_examples(task(type="parquet", eval_file="eval.parquet", prompt_field="question"), "eval", base_dir=tmp_path)


def test_missing_file_names_the_key_and_path(tmp_path):
    with pytest.raises(ValueError, match=r"task.train_file: file not found: .*train.jsonl"):
        load_examples(task(), "train", base_dir=tmp_path)
    with pytest.raises(ValueError, match=r"task.eval_file is not set"):
        load_examples(task(eval_file=None), "eval", base_dir=tmp_path)


def test_bad_json_line_names_file_and_line(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"prompt": "1", "answer": "1"}, "{not json"])
    with pytest.raises(ValueError, match=r"train.jsonl:2: task.train_file: not valid JSON"):
        load_examples(task(), "train", base_dir=tmp_path)


def test_missing_field_names_line_key_and_fields(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"prompt": "1", "answer": "1"}, {"prompt": "2", "solution": "2"}])
    with pytest.raises(ValueError, match=r"train.jsonl:2: task.answer_field: this line \(the first that lacks it\) has no field 'answer'; the row has prompt, solution"):
        load_examples(task(), "train", base_dir=tmp_path)


def test_bad_template_names_the_key(tmp_path):
    write_jsonl(tmp_path / "train.jsonl", [{"prompt": "1", "answer": "1"}])
    with pytest.raises(ValueError, match=r"train.jsonl:1: task.template"):
        load_examples(task(template="{question}"), "train", base_dir=tmp_path)


def test_sampler_covers_each_epoch_and_reshuffles():
    examples = [Example(str(i), str(i), str(i)) for i in range(10)]
    sampler = PromptSampler(examples, batch_size=4, seed=3)
    drawn = [e.id for _ in range(5) for e in sampler.next_batch()]  # 20 = two epochs
    assert sorted(drawn[:10]) == sorted(drawn[10:]) == sorted(e.id for e in examples)
    assert drawn[:10] != drawn[10:]


def test_sampler_state_round_trip():
    examples = [Example(str(i), str(i), str(i)) for i in range(7)]
    sampler = PromptSampler(examples, batch_size=3, seed=11)
    for _ in range(4):
        sampler.next_batch()
    state = sampler.state_dict()
    expected = [sampler.next_batch() for _ in range(5)]
    restored = PromptSampler(examples, batch_size=3, seed=11)
    restored.load_state_dict(state)
    assert [restored.next_batch() for _ in range(5)] == expected
    with pytest.raises(ValueError, match="seed"):
        PromptSampler(examples, batch_size=3, seed=12).load_state_dict(state)
