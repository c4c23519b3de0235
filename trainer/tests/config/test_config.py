"""Config loading: every error names the file, the key, the line and the fix."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO_DIR, TRAINER_DIR
from pacslab.config import ConfigError, Config, json_schema, load_config, schema_markdown
from pacslab.config.errors import section_model


def error_of(path: Path, overrides=()) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_config(path, list(overrides))
    return info.value


def test_defaults_load_and_name_comes_from_the_file(write_config):
    path = write_config("my-exp.pacs.yaml", name=None)
    cfg = load_config(path)
    assert cfg.name == "my-exp"
    assert cfg.algorithm == "pacs" and cfg.pacs.adv_estimator == "rloo"
    assert cfg.optim.micro_batch_prompts == 1


def test_loading_and_checking_a_config_imports_no_torch(write_config):
    """The config checks resolve model.path without torch: the sweep CLI and the launcher of a TRL
    run load a config and never a model, and importing torch would cost each of them 1 to 2 s."""
    code = ("import sys\nfrom pacslab.config import load_config\nfor path in sys.argv[1:]:\n    load_config(path)\n"
            "print(sorted(m for m in ('torch', 'transformers', 'trl') if m in sys.modules))")
    paths = [write_config(), write_config("trl.pacs.yaml", engine="trl", **{"optim.mini_batch_prompts": 4}),
             write_config("builtin.pacs.yaml", **{"model.path": "builtin:arith-tiny"})]
    done = subprocess.run([sys.executable, "-c", code, *map(str, paths)], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "PYTHONPATH": str(TRAINER_DIR)})
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_unknown_key_names_file_line_and_suggestion(write_config):
    path = write_config()
    text = path.read_text().replace("  lr: 0.01", "  lr: 0.01\n  learning_rate: 0.1")
    path.write_text(text)
    line = text.splitlines().index("  learning_rate: 0.1") + 1
    err = error_of(path)
    assert [i.key for i in err.issues] == ["optim.learning_rate"]
    assert f"{path}:{line}: optim.learning_rate: unknown key" in str(err)
    assert "did you mean `lr`?" in str(err)


def test_unknown_top_level_key_suggests_the_closest(write_config):
    path = write_config()
    path.write_text(path.read_text() + "totl_steps: 3\n")
    assert "did you mean `total_steps`?" in str(error_of(path))


def test_wrong_type_names_key_and_allowed_values(write_config):
    path = write_config(algorithm="ppo", **{"rollout.n": "eight"})
    err = error_of(path)
    keys = {i.key: i for i in err.issues}
    assert set(keys) == {"algorithm", "rollout.n"}
    assert "use one of pacs, grpo, rloo" in keys["algorithm"].fix
    assert keys["rollout.n"].line is not None and "eight" in keys["rollout.n"].problem


def test_out_of_range_value_names_both_bounds(write_config):
    err = error_of(write_config(**{"task.arith.digits": 12}))
    (issue,) = err.issues
    assert issue.key == "task.arith.digits"
    assert "(≥ 1 and ≤ 9)" in issue.fix


def test_mini_batch_that_splits_groups_is_refused(write_config):
    err = error_of(write_config(**{"optim.mini_batch_prompts": 3}))
    assert [i.key for i in err.issues] == ["optim.mini_batch_prompts"]
    assert "does not divide rollout.prompts_per_step (4)" in str(err)
    assert "use a divisor of 4: 1, 2, 4" in str(err)


def test_micro_batch_must_divide_mini_batch(write_config):
    err = error_of(write_config(**{"optim.mini_batch_prompts": 4, "optim.micro_batch_prompts": 3}))
    assert [i.key for i in err.issues] == ["optim.micro_batch_prompts"]


@pytest.mark.parametrize("overrides", [{"algorithm": "rloo"}, {"algorithm": "grpo"}, {"algorithm": "pacs"}])
def test_single_sample_groups_are_refused_where_a_baseline_needs_two(write_config, overrides):
    err = error_of(write_config(**{"rollout.n": 1}, **overrides))
    assert [i.key for i in err.issues] == ["rollout.n"]
    assert "set rollout.n to 2 or more" in str(err)


def test_single_sample_groups_are_fine_with_the_naive_estimator(write_config):
    cfg = load_config(write_config(**{"rollout.n": 1, "pacs.adv_estimator": "naive"}))
    assert cfg.rollout.n == 1


def test_missing_model_path(write_config):
    path = write_config(**{"model.path": "no-such-model"})
    err = error_of(path)
    assert [i.key for i in err.issues] == ["model.path"]
    assert "no-such-model" in str(err) and "Fix:" in str(err)
    assert err.issues[0].line == path.read_text().splitlines().index("  path: no-such-model") + 1


def test_missing_builtin_model(write_config):
    err = error_of(write_config(**{"model.path": "builtin:nope"}))
    assert "no such built-in model" in str(err)


def test_file_tasks_need_their_files_and_k_must_fit_the_samples(write_config):
    err = error_of(write_config(**{"task.type": "jsonl", "eval.k": [1, 4]}))
    keys = [i.key for i in err.issues]
    assert keys == ["eval.k", "task.train_file", "task.eval_file"]
    assert "raise eval.samples to at least 4" in str(err)


def test_overrides_are_parsed_as_yaml_and_validated(write_config):
    path = write_config()
    cfg = load_config(path, ["optim.lr=2.5e-3", "eval.k=[1]", "task.arith.ops=['+', '-']", "logging.log_token_details=false"])
    assert cfg.optim.lr == 0.0025 and cfg.eval.k == [1] and cfg.task.arith.ops == ["+", "-"]
    assert cfg.logging.log_token_details is False
    err = error_of(path, ["optim.lrate=1"])
    assert err.issues[0].line is None and "(from --set)" in str(err) and "did you mean `lr`?" in str(err)
    assert "key.sub=value" in str(error_of(path, ["optim.lr"]))
    assert "is not a section" in str(error_of(path, ["seed.x=1"]))


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "bad.pacs.yaml"
    path.write_text("seed: 1\noptim:\n  lr: [1\n")
    err = error_of(path)
    assert err.issues[0].line is not None and "not valid YAML" in str(err)


def test_every_field_is_documented():
    def walk(model):
        for name, info in model.model_fields.items():
            assert info.description, f"{model.__name__}.{name} has no description"
            sub = section_model(info.annotation)
            if sub is not None:
                walk(sub)

    walk(Config)


def test_committed_schema_and_reference_are_current():
    committed = json.loads((REPO_DIR / "schemas" / "pacs-config.schema.json").read_text())
    assert committed == json_schema(), "schemas/pacs-config.schema.json is stale: run `python -m pacslab schema > schemas/pacs-config.schema.json`"
    reference = (REPO_DIR / "docs" / "config.md").read_text()
    assert reference == schema_markdown(), "docs/config.md is stale: run `python -m pacslab schema --markdown > docs/config.md`"


def test_schema_forbids_unknown_keys_everywhere():
    schema = json_schema()
    assert schema["additionalProperties"] is False
    assert all(d["additionalProperties"] is False for d in schema["$defs"].values())


@pytest.mark.parametrize("example", sorted((REPO_DIR / "examples").glob("*.pacs.yaml")), ids=lambda p: p.name)
def test_examples_are_valid(example):
    load_config(example)


def _line(path: Path, text: str) -> int:
    return path.read_text().splitlines().index(text) + 1


def test_eval_sets_are_checked_with_their_lines(write_config, tmp_path):
    (tmp_path / "a.jsonl").write_text('{"prompt": "1", "answer": "1"}\n')
    sets = [{"name": "a", "file": "a.jsonl", "k": [1, 4]}, {"name": "a", "file": "missing.jsonl"}]
    path = write_config(**{"task.type": "jsonl", "task.train_file": "a.jsonl", "eval.sets": sets})
    err = error_of(path)
    assert [i.key for i in err.issues] == ["eval.sets.0.k", "eval.sets.1.name", "eval.sets.1.file"]
    assert f"{path}:{_line(path, '    file: missing.jsonl')}: eval.sets.1.file: file not found" in str(err)
    assert "raise its samples to at least 4" in str(err)
    ok = write_config(**{"task.type": "jsonl", "task.train_file": "a.jsonl", "eval.sets": [{"name": "a", "file": "a.jsonl", "top_p": 0.9}]})
    assert load_config(ok).eval.sets[0].top_p == 0.9  # no task.eval_file needed beside named sets
    bad = error_of(write_config(**{"eval.sets": [{"name": "a/b", "file": "a.jsonl"}]}))
    assert bad.issues[0].key == "eval.sets.0.name"


def test_lora_keys_are_validated_with_suggestions(write_config):
    err = error_of(write_config(**{"model.lora": {"rank": 8}}))
    assert err.issues[0].key == "model.lora.rank" and "did you mean `r`?" in str(err)
    assert "Known keys here: r, alpha, dropout, target_modules" in str(err)
    err = error_of(write_config(**{"model.lora": {"dropout": 1.5}}))
    assert err.issues[0].key == "model.lora.dropout" and "< 1" in str(err)
    assert error_of(write_config(**{"model.lora": {"target_modules": []}})).issues[0].key == "model.lora.target_modules"
    assert load_config(write_config(**{"model.lora": {"r": 4}})).model.lora.target_modules == "all-linear"


def test_a_hub_dataset_name_is_refused_at_load(write_config):
    path = write_config(**{"task.type": "parquet", "task.train_file": "openai/gsm8k", "task.eval_file": "openai/gsm8k"})
    err = error_of(path)
    assert [i.key for i in err.issues] == ["task.train_file", "task.eval_file"]
    assert f"{path}:{_line(path, '  train_file: openai/gsm8k')}: task.train_file: 'openai/gsm8k' is neither a file nor a folder here" in str(err)
    assert "never downloads" in str(err) and "point task.train_file at that folder" in str(err)


def test_a_system_prompt_needs_chat_prompts(write_config):
    err = error_of(write_config(**{"task.system_prompt": "Be brief."}))
    assert err.issues[0].key == "task.system_prompt" and "set task.chat: true" in str(err)
    assert load_config(write_config(**{"task.system_prompt": "Be brief.", "task.chat": True})).task.chat
