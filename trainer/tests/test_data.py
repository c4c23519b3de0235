"""Bring-your-own data: every local format through `datasets`, dotted paths, chat prompts, errors."""

import json
import shutil
from pathlib import Path

import pytest

from pacslab.config import ConfigError, TaskConfig
from pacslab.tasks import DataError, Example, drop_long_prompts, encode_examples, field_at, load_examples, verify

ROWS = [
    {"data_source": "gsm8k", "prompt": [{"role": "user", "content": "What is 2+2?"}],
     "reward_model": {"style": "rule", "ground_truth": "4"}, "extra_info": {"index": 0}},
    {"data_source": "math", "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "What is 3*3?"}],
     "reward_model": {"style": "rule", "ground_truth": "9"}, "extra_info": {"index": 1}},
]


def verl_task(**overrides) -> TaskConfig:
    return TaskConfig(**{"type": "parquet", "train_file": "train.parquet", "eval_file": "train.parquet",
                         "answer_field": "reward_model.ground_truth", **overrides})


def write_parquet(path: Path, rows) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_the_verl_layout_reads_unchanged(tmp_path):
    write_parquet(tmp_path / "train.parquet", ROWS)
    first, second = load_examples(verl_task(), "train", base_dir=tmp_path)
    assert (first.id, first.answer, first.data_source, first.extra_info) == ("train-0", "4", "gsm8k", {"index": 0})
    assert first.messages == ({"role": "user", "content": "What is 2+2?"},)
    assert second.messages[0] == {"role": "system", "content": "Be brief."} and second.answer == "9"


@pytest.mark.parametrize("suffix", ["jsonl", "json", "csv"])
def test_files_of_each_type_read_alike(tmp_path, suffix):
    flat = [{"question": "1+1", "answer": 2, "source": "a"}, {"question": "2+3", "answer": 5, "source": "b"}]
    path = tmp_path / f"train.{suffix}"
    if suffix == "jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in flat))
    elif suffix == "json":
        path.write_text(json.dumps(flat))
    else:
        path.write_text("question,answer,source\n" + "".join(f"{r['question']},{r['answer']},{r['source']}\n" for r in flat))
    task = TaskConfig(type=suffix, train_file=path.name, eval_file=path.name, prompt_field="question",
                      data_source_field="source", template="Q: {prompt}")
    examples = load_examples(task, "train", base_dir=tmp_path)
    assert [(e.prompt, e.answer, e.data_source, e.messages) for e in examples] == [("Q: 1+1", "2", "a", None), ("Q: 2+3", "5", "b", None)]


def test_a_glob_a_folder_and_a_saved_dataset(tmp_path):
    import datasets

    shards = tmp_path / "shards"
    shards.mkdir()
    write_parquet(shards / "part-0.parquet", ROWS[:1])
    write_parquet(shards / "part-1.parquet", ROWS[1:])
    (shards / "notes.txt").write_text("not data")
    for spec in ("shards/part-*.parquet", "shards"):
        examples = load_examples(verl_task(train_file=spec), "train", base_dir=tmp_path)
        assert [e.answer for e in examples] == ["4", "9"]
        assert [e.id for e in examples] == ["train-part-0-0", "train-part-1-0"]
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS), "test": datasets.Dataset.from_list(ROWS[:1])}).save_to_disk(tmp_path / "saved")
    task = verl_task(type="dataset", train_file="saved", eval_file="saved")
    assert [e.answer for e in load_examples(task, "train", base_dir=tmp_path)] == ["4", "9"]
    assert [e.answer for e in load_examples(task, "eval", base_dir=tmp_path)] == ["4"]
    assert [e.answer for e in load_examples(verl_task(type="dataset", train_file="saved/test"), "train", base_dir=tmp_path)] == ["4"]


def test_nothing_the_user_made_is_modified(tmp_path):
    write_parquet(tmp_path / "train.parquet", ROWS)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    load_examples(verl_task(), "train", base_dir=tmp_path)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_a_hub_name_says_how_to_download_it(tmp_path):
    with pytest.raises(DataError, match=r"task.train_file: 'openai/gsm8k' .* looks like a Hugging Face Hub dataset.*never downloads.*"
                                        r"huggingface-cli download openai/gsm8k --repo-type dataset"):
        load_examples(verl_task(train_file="openai/gsm8k"), "train", base_dir=tmp_path)


def test_a_missing_path_names_the_path_the_file_and_the_first_row(tmp_path):
    rows = [ROWS[0], {**ROWS[1], "reward_model": {"style": "rule"}}]
    write_parquet(tmp_path / "train.parquet", rows)
    with pytest.raises(DataError) as err:
        load_examples(verl_task(), "train", base_dir=tmp_path)
    assert str(err.value) == (f"{tmp_path / 'train.parquet'}: task.answer_field: row 1 (the first that lacks it) has no field "
                              "'reward_model.ground_truth'; reward_model has style. Fix: set task.answer_field to the dotted path "
                              "of the field, or add it to every row")
    assert isinstance(err.value, ConfigError)


def test_field_paths_index_lists_and_prefer_literal_keys():
    record = {"a.b": 1, "a": {"b": 2}, "choices": [{"text": "x"}]}
    assert field_at(record, "a.b") == 1
    assert field_at(record, "choices.0.text") == "x"
    assert field_at({"a": {"b": 2}}, "a.b") == 2


def test_bad_message_lists_and_templates_name_the_key(tmp_path):
    write_parquet(tmp_path / "train.parquet", [{**ROWS[0], "prompt": [{"role": "user"}]}])
    with pytest.raises(DataError, match=r"task.prompt_field: row 0: message 0 of the prompt is not a \{role, content\} pair"):
        load_examples(verl_task(), "train", base_dir=tmp_path)
    write_parquet(tmp_path / "train.parquet", ROWS)
    with pytest.raises(DataError, match=r"task.template: row 0: the prompt is a list of chat messages, which takes no template"):
        load_examples(verl_task(template="Q: {prompt}"), "train", base_dir=tmp_path)


def test_system_prompt_and_chat_wrapping(tmp_path):
    write_parquet(tmp_path / "train.parquet", ROWS)
    first, second = load_examples(verl_task(system_prompt="Box it."), "train", base_dir=tmp_path)
    assert first.messages[0] == {"role": "system", "content": "Box it."}
    assert second.messages[0] == {"role": "system", "content": "Be brief."}  # the row's own system message stays
    plain = TaskConfig(type="arith", chat=True, system_prompt="Box it.", template="Q: {prompt}")
    example = load_examples(plain, "eval", base_dir=tmp_path)[0]
    assert example.messages == ({"role": "system", "content": "Box it."}, {"role": "user", "content": example.prompt})
    (tmp_path / "plain.jsonl").write_text('{"prompt": "1+1", "answer": "2"}\n')
    with pytest.raises(DataError, match=r"plain.jsonl:1: task.system_prompt: this line: the prompt is a plain string"):
        load_examples(TaskConfig(type="jsonl", train_file="plain.jsonl", system_prompt="Box it."), "train", base_dir=tmp_path)


@pytest.fixture(scope="module")
def chat_tokenizer(tmp_path_factory):
    from transformers import AutoTokenizer

    from pacslab.demo_model import build_tokenizer

    out = tmp_path_factory.mktemp("chat-tokenizer")
    build_tokenizer().save_pretrained(out)
    tokenizer = AutoTokenizer.from_pretrained(out)
    tokenizer.chat_template = "{% for m in messages %}{{ m['role'][0] }}:{{ m['content'] }};{% endfor %}{% if add_generation_prompt %}a:{% endif %}"
    return tokenizer


def test_chat_prompts_use_the_chat_template_ids(tmp_path, chat_tokenizer):
    write_parquet(tmp_path / "train.parquet", ROWS)
    examples = encode_examples(load_examples(verl_task(), "train", base_dir=tmp_path), chat_tokenizer, verl_task(), model_dir=tmp_path)
    for e in examples:
        want = chat_tokenizer.apply_chat_template(list(e.messages), add_generation_prompt=True, tokenize=True, return_dict=False)
        assert list(e.prompt_ids) == want
    assert examples[0].prompt == "u:What is 2+2?;a:"
    plain = encode_examples([Example("x", "1+2=", "3")], chat_tokenizer, verl_task(), model_dir=tmp_path)[0]
    assert list(plain.prompt_ids) == chat_tokenizer("1+2=")["input_ids"]


def test_a_tokenizer_without_a_chat_template_is_a_config_error(tmp_path, chat_tokenizer):
    write_parquet(tmp_path / "train.parquet", ROWS)
    examples = load_examples(verl_task(), "train", base_dir=tmp_path)
    template, chat_tokenizer.chat_template = chat_tokenizer.chat_template, None
    try:
        with pytest.raises(DataError, match=r"tokenizer_config.json: task.prompt_field: the prompts are chat messages .*has no chat template. "
                                            r"Fix: use a model whose tokenizer_config.json"):
            encode_examples(examples, chat_tokenizer, verl_task(), model_dir=tmp_path)
    finally:
        chat_tokenizer.chat_template = template


def test_long_prompts_are_dropped_not_truncated():
    examples = [Example(str(n), "x", "y", prompt_ids=tuple(range(n))) for n in (3, 8, 5)]
    kept, dropped = drop_long_prompts(examples, 5)
    assert [e.id for e in kept] == ["3", "5"] and [e.id for e in dropped] == ["8"]
    assert drop_long_prompts(examples, None) == (examples, [])


def test_extra_info_reaches_only_verifiers_that_take_it():
    from pacslab.verifiers import load_verifier

    seen = []

    def new_style(response, answer, prompt, extra_info):
        seen.append(extra_info)
        return response == answer

    def old_style(response, answer, prompt):
        return response == answer

    example = Example("x", "p", "4", extra_info={"index": 7})
    assert verify(new_style, "4", example) is True and seen == [{"index": 7}]
    assert verify(old_style, "4", example) is True
    import sys
    import types

    module = types.ModuleType("pacs_test_extra_verifier")
    module.check, module.old = new_style, old_style
    sys.modules[module.__name__] = module
    try:
        assert verify(load_verifier("python:pacs_test_extra_verifier:check"), "4", example).label == 1
        assert seen[-1] == {"index": 7}
        assert verify(load_verifier("python:pacs_test_extra_verifier:old"), "5", example).label == 0
    finally:
        del sys.modules[module.__name__]


def test_each_eval_set_uses_its_own_sampling_and_reports_each_source(monkeypatch):
    from types import SimpleNamespace

    from pacslab import evaluate as evaluate_module
    from pacslab.evaluate import EvalSet, evaluate_sets, one_generator
    from pacslab.verifiers import load_verifier

    calls = []

    def fake_rollouts(model, tokenizer, prompts, *, n, max_new_tokens, temperature, top_p, generator, greedy=False):
        calls.append({"n": n, "top_p": top_p, "temperature": temperature, "max_new_tokens": max_new_tokens, "greedy": greedy})
        # every prompt's greedy answer is "4"; of its samples, the first is "4" and the rest "5"
        return SimpleNamespace(response_texts=[("4" if greedy or i % n == 0 else "5") for i in range(len(prompts) * n)])

    monkeypatch.setattr(evaluate_module, "generate_rollouts", fake_rollouts)
    examples = [Example("a", "p", "4", data_source="gsm8k", prompt_ids=(1,)), Example("b", "p", "5", data_source="math", prompt_ids=(2,))]
    sets = [EvalSet(None, examples, size=None, samples=2, k=[1, 2], temperature=1.0, top_p=1.0, max_new_tokens=8, batch_prompts=8),
            EvalSet("hard", examples[:1], size=None, samples=4, k=[4], temperature=0.7, top_p=0.9, max_new_tokens=16, batch_prompts=8)]
    values = evaluate_sets(None, None, sets, load_verifier("exact"), generators=one_generator(None))
    sampled = [c for c in calls if not c["greedy"]]
    assert [(c["n"], c["top_p"], c["temperature"], c["max_new_tokens"]) for c in sampled] == [(2, 1.0, 1.0, 8), (4, 0.9, 0.7, 16)]
    assert values["eval/accuracy"] == 0.5 and values["eval/pass@2"] == 1.0
    assert values["eval/source=gsm8k/accuracy"] == 1.0 and values["eval/source=math/accuracy"] == 0.0
    assert values["eval/source=math/pass@1"] == 0.5
    assert values["eval/hard/accuracy"] == 1.0 and values["eval/hard/pass@4"] == 1.0 and "eval/hard/pass@1" not in values
    assert not [key for key in values if key.startswith("eval/hard/source=")]  # one source: the set's values are its
