"""Shared fixtures of the engine tests: a tiny random model and a tiny config that runs in seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

TRAINER_DIR = Path(__file__).resolve().parents[1]
REPO_DIR = TRAINER_DIR.parent


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory) -> Path:
    """A one-layer, 32-wide random Llama with the demo's character tokenizer (untrained)."""
    from pacslab.demo_model import build_model, build_tokenizer

    out = tmp_path_factory.mktemp("tiny-model")
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed=0, layers=1, hidden=32, heads=2)
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


def tiny_config(**overrides) -> dict:
    cfg = {
        "name": "tiny",
        "seed": 3,
        "device": "cpu",
        "total_steps": 4,
        "eval_every": 2,
        "checkpoint_every": 0,
        "model": {"path": "model"},
        "task": {"type": "arith", "arith": {"digits": 1, "train_size": 60, "eval_size": 12, "seed": 5}},
        "rollout": {"prompts_per_step": 4, "n": 4, "max_new_tokens": 4},
        "optim": {"lr": 0.01, "mini_batch_prompts": 2, "micro_batch_prompts": 1},
        "eval": {"size": 6, "samples": 2, "k": [1, 2], "batch_prompts": 4},
    }
    for key, value in overrides.items():
        node = cfg
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return cfg


@pytest.fixture
def write_config(tmp_path, tiny_model_dir):
    """write_config(filename, **overrides) -> path of a tiny *.pacs.yaml beside a link to the tiny model."""

    def write(filename: str = "tiny.pacs.yaml", **overrides) -> Path:
        link = tmp_path / "model"
        if not link.exists():
            link.symlink_to(tiny_model_dir, target_is_directory=True)
        path = tmp_path / filename
        path.write_text(yaml.safe_dump(tiny_config(**overrides), sort_keys=False))
        return path

    return write


def events_of(run_dir: Path) -> list[dict]:
    from pacslab.run.files import read_jsonl

    return read_jsonl(Path(run_dir) / "events.jsonl")[0]


def run_json(run_dir: Path) -> dict:
    return json.loads((Path(run_dir) / "run.json").read_text())


def spawn_trainer(*args: str, cwd: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "pacslab", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def wait_for(predicate, *, what: str, timeout: float = 120.0, proc: subprocess.Popen | None = None):
    """Polls `predicate` until it returns something truthy; fails with `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        if proc is not None and proc.poll() is not None:
            value = predicate()
            if value:
                return value
            pytest.fail(f"trainer exited ({proc.returncode}) before {what}:\n{proc.stdout.read()}")
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def train(config_path: Path, run_dir: Path, *, overrides=(), resume=False, on_step=None) -> int:
    from pacslab.config import load_config
    from pacslab.engines.native.loop import run_training
    from pacslab.run.lifecycle import prepare_run_dir

    cfg = load_config(config_path, list(overrides))
    prepare_run_dir(cfg, config_path=config_path, run_dir=run_dir, runs_root=run_dir.parent, resume=resume)
    return run_training(cfg, run_dir, base_dir=config_path.parent, resume=resume, log=lambda _: None, on_step=on_step)


def metrics_by_step(run_dir: Path, *, drop_perf: bool = True) -> list[tuple[int, dict]]:
    out = []
    for e in events_of(run_dir):
        if e["type"] in ("metrics", "eval"):
            values = {k: v for k, v in e["values"].items() if not (drop_perf and k.startswith(("perf/", "system/")))}
            out.append((e["step"], values))
    return out
