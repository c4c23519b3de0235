"""Strict numbers and bounded text: `true` is not 1, and a megabyte template is refused with a short error."""

from __future__ import annotations

import pytest

from pacslab.config import ConfigError, load_config


def issues_of(path, overrides=()):
    with pytest.raises(ConfigError) as info:
        load_config(path, list(overrides))
    return {i.key: i for i in info.value.issues}, str(info.value)


@pytest.mark.parametrize("key, value", [
    ("total_steps", True), ("optim.epochs", True), ("eval.size", True), ("optim.lr", True), ("optim.epochs", 2.0),
    ("rollout.prompts_per_step", "4"), ("eval.k", [1, True]), ("optim.betas", [0.9, True]), ("seed", True),
])
def test_booleans_text_and_fractions_are_not_numbers(write_config, key, value):
    issues, message = issues_of(write_config(**{key: value}))
    (issue,) = issues.values()
    assert issue.key.startswith(key) and issue.line is not None and "Fix:" in message


def test_booleans_from_the_command_line_are_refused_too(write_config):
    issues, message = issues_of(write_config(), ["total_steps=true"])
    assert list(issues) == ["total_steps"] and "(from --set)" in message


def test_numbers_as_people_write_them_still_load(write_config):
    cfg = load_config(write_config(**{"optim.lr": 1, "optim.betas": [0.9, 1], "rollout.temperature": 2}),
                      ["optim.weight_decay=1e-2", "optim.max_grad_norm=0.5"])
    assert cfg.optim.lr == 1.0 and isinstance(cfg.optim.lr, float) and cfg.optim.betas == (0.9, 1.0)
    assert cfg.optim.weight_decay == 0.01 and cfg.optim.max_grad_norm == 0.5 and cfg.rollout.temperature == 2.0
    path = write_config()
    path.write_text(path.read_text().replace("lr: 0.01", "lr: 1e-3"))  # text to YAML 1.1, a number to the editor
    assert load_config(path).optim.lr == 0.001


def test_a_long_template_is_refused_with_a_short_error(write_config):
    issues, message = issues_of(write_config(**{"task.template": "{prompt}" + "x" * 100_000}))
    assert list(issues) == ["task.template"]
    assert "at most 65,536 characters" in message and len(message) < 2000


def test_a_ten_megabyte_config_is_refused_before_it_is_parsed(write_config):
    path = write_config()
    with open(path, "a") as f:
        f.write("# " + "x" * 10_000_000 + "\n")
    issues, message = issues_of(path)
    assert "larger than 1,048,576 bytes" in message and len(message) < 2000


@pytest.mark.parametrize("key", ["model.path", "task.prompt_field", "task.verifier", "name"])
def test_every_text_key_is_bounded(write_config, key):
    issues, _ = issues_of(write_config(**{key: "a" * 100_000}))
    assert key in issues
