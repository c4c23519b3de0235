"""Import of other trainers' runs, reporting to trackers and system metrics, on real files: event
files written by torch's SummaryWriter and tensorboard's own writer, a real 2-step TRL GRPOTrainer
output, and a verl rollout dump in the format of verl's RayPPOTrainer._dump_generations."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import math
from pathlib import Path

import pytest

from conftest import events_of, run_json
from pacslab.cli import main as cli_main
from pacslab.importers import ImportError_, import_path, read_source


def tree_digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def metric_series(run_dir: Path, kind: str = "metrics") -> dict[str, dict[int, float]]:
    series: dict[str, dict[int, float]] = {}
    for e in events_of(run_dir):
        if e["type"] == kind:
            for name, value in e["values"].items():
                series.setdefault(name, {})[e["step"]] = value
    return series


# ---------------------------------------------------------------- TensorBoard


def write_verl_like_events(folder: Path) -> None:
    """verl's tags through torch's SummaryWriter (simple_value summaries), a NaN among them."""
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(folder))
    for step in (1, 2, 3):
        writer.add_scalar("critic/rewards/mean", 0.25 * step, global_step=step)
        writer.add_scalar("actor/pg_loss", 1.0 / step, global_step=step)
        writer.add_scalar("actor/grad_norm", float("nan") if step == 2 else 0.5, global_step=step)
        writer.add_scalar("my/own_metric", 10.0 + step, global_step=step)
    writer.add_scalar("val-core/gsm8k/reward/mean@1", 0.4, global_step=3)
    writer.close()


def test_a_tensorboard_log_becomes_a_run_with_mapped_names(tmp_path):
    source = tmp_path / "verl-logs" / "exp1"
    write_verl_like_events(source)
    before = tree_digest(tmp_path / "verl-logs")
    [run_dir] = import_path(tmp_path / "verl-logs", tmp_path / "runs")
    assert tree_digest(tmp_path / "verl-logs") == before, "import must not modify the source"
    info = run_json(run_dir)
    assert info["format"] == 3 and info["status"] == "finished" and info["step"] == 3
    assert info["source"]["trainer"] == "verl" and info["source"]["path"] == str(source.resolve())
    assert info["loss_metric"] == "actor/pg_loss" and info["algorithm"] == "verl"
    series = metric_series(run_dir)
    assert series["reward/mean"] == {1: 0.25, 2: 0.5, 3: 0.75}
    assert series["optim/grad_norm"] == {1: 0.5, 2: None, 3: 0.5}
    assert series["my/own_metric"] == {1: 11.0, 2: 12.0, 3: 13.0}
    assert "critic/rewards/mean" not in series
    assert metric_series(run_dir, "eval") == {"eval/val-core/gsm8k/reward/mean@1": {3: pytest.approx(0.4)}}
    times = [e["t"] for e in events_of(run_dir)]
    assert times == sorted(times) and times[0] > 1e9


def test_tensorboards_own_writer_tensor_scalars_are_read(tmp_path):
    from tensorboard.plugins.scalar.summary import scalar_pb
    from tensorboard.summary.writer.event_file_writer import EventFileWriter
    from tensorboard.compat.proto import event_pb2

    folder = tmp_path / "tb" / "openrlhf"
    writer = EventFileWriter(str(folder))
    for step in range(4):
        writer.add_event(event_pb2.Event(wall_time=1_700_000_000.0 + step, step=step, summary=scalar_pb("train/policy_loss", step * 0.5)))
    writer.close()
    [run] = read_source(tmp_path / "tb")
    assert run.trainer == "tensorboard" and run.name == "openrlhf"
    assert {s: v["train/policy_loss"] for s, v in run.metrics.items()} == {0: 0.0, 1: 0.5, 2: 1.0, 3: 1.5}
    assert run.times[3] == 1_700_000_003.0


def test_every_folder_with_event_files_is_one_run(tmp_path):
    for name in ("seed0", "seed1"):
        write_verl_like_events(tmp_path / "logs" / name)
    made = import_path(tmp_path / "logs", tmp_path / "runs")
    assert len(made) == 2 and {run_json(d)["name"] for d in made} == {"seed0", "seed1"}


# ---------------------------------------------------------------- verl rollout dump


def write_verl_dump(folder: Path, steps=(1, 2), n=2) -> None:
    """Files as RayPPOTrainer._dump_generations writes them: `<step>.jsonl`, one entry per sample
    with input, output, gts, score, step and the reward function's extra infos of full length."""
    folder.mkdir(parents=True)
    for step in steps:
        inputs = [p for p in ("What is 2+2?", "Name a prime ≥ 5.") for _ in range(n)]
        outputs = ["4", "5", "7", "six"][: len(inputs)]
        base = {"input": inputs, "output": outputs, "gts": ["4", "4", "7", "7"][: len(inputs)],
                "score": [1.0, 0.0, 1.0, 0.0][: len(inputs)], "step": [step] * len(inputs), "acc": [True, False, True, False][: len(inputs)]}
        lines = [json.dumps({k: v[i] for k, v in base.items()}, ensure_ascii=False) for i in range(len(inputs))]
        (folder / f"{step}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_verl_rollout_dump_becomes_rollouts(tmp_path):
    write_verl_dump(tmp_path / "rollout_data")
    [run_dir] = import_path(tmp_path / "rollout_data", tmp_path / "runs")
    assert run_json(run_dir)["source"]["trainer"] == "verl"
    records = [json.loads(line) for line in (run_dir / "rollouts" / "step-000002.jsonl").read_text().splitlines()]
    assert [(r["group"], r["index"]) for r in records] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert records[2] == {"step": 2, "prompt": "Name a prime ≥ 5.", "response": "7", "reward": 1.0, "answer": "7",
                          "extra": {"acc": True}, "group": 1, "index": 0}
    assert not any(k in records[0] for k in ("psi", "logratio", "tokens", "p_correct")), "fields verl cannot know stay absent"
    assert metric_series(run_dir)["reward/mean"] == {1: 0.5, 2: 0.5}
    rollouts = [e for e in events_of(run_dir) if e["type"] == "rollouts"]
    assert [(e["step"], e["file"], e["count"]) for e in rollouts] == [(1, "rollouts/step-000001.jsonl", 4), (2, "rollouts/step-000002.jsonl", 4)]
    # the prompt ledger from the records: the prompt text is the id, a positive reward is correct
    from pacslab.health.ledger import read_ledger

    ledger = read_ledger(run_dir / "ledger.jsonl")
    by_group = {}
    for r in records:
        by_group.setdefault(r["group"], []).append(r)
    assert [row[1:] for row in ledger if row[0] == 2] == [
        (rows[0]["prompt"], None, sum(r["reward"] > 0 for r in rows), len(rows)) for _, rows in sorted(by_group.items())]
    assert sorted({row[0] for row in ledger}) == [1, 2]


def test_a_broken_dump_line_is_named(tmp_path):
    write_verl_dump(tmp_path / "dump", steps=(1,))
    with open(tmp_path / "dump" / "1.jsonl", "a") as f:
        f.write('{"input": "x", "output": \n')
    with pytest.raises(ImportError_, match=r"1\.jsonl line 5: not valid JSON"):
        read_source(tmp_path / "dump")


# ---------------------------------------------------------------- refusals


def test_import_refuses_a_second_import_and_linked_files(tmp_path, capsys):
    write_verl_dump(tmp_path / "dump", steps=(1,))
    assert cli_main(["import", str(tmp_path / "dump"), "--runs-root", str(tmp_path / "runs")]) == 0
    first = sorted((tmp_path / "runs").iterdir())
    assert cli_main(["import", str(tmp_path / "dump"), "--runs-root", str(tmp_path / "runs")]) == 2
    assert "already imported as" in capsys.readouterr().err
    assert sorted((tmp_path / "runs").iterdir()) == first
    secret = tmp_path / "secret.txt"
    secret.write_text('{"input": "secret", "output": "s", "score": 1}\n')
    (tmp_path / "linked").mkdir()
    (tmp_path / "linked" / "3.jsonl").symlink_to(secret)
    with pytest.raises(ImportError_, match="is a symbolic link"):
        read_source(tmp_path / "linked")


def test_a_folder_with_nothing_to_import_says_what_it_needs(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert cli_main(["import", str(tmp_path / "empty"), "--runs-root", str(tmp_path / "runs")]) == 2
    err = capsys.readouterr().err
    assert "no TensorBoard event files" in err and "trainer_state.json" in err and "<step>.jsonl" in err


# ---------------------------------------------------------------- a real TRL run


@pytest.fixture(scope="module")
def trl_output(tmp_path_factory) -> Path:
    """A 2-step GRPOTrainer run on the CPU: checkpoints each step, completions tables, TensorBoard."""
    if importlib.util.find_spec("trl") is None:
        pytest.skip("trl is not installed (pip install trl==1.16.0); the TRL import test needs a real GRPOTrainer run")
    from trl_output import write_trl_output

    return write_trl_output(tmp_path_factory.mktemp("trl") / "grpo-out", extra_reward=True)


def test_a_trl_output_becomes_a_run_with_its_completions(trl_output, tmp_path):
    before = tree_digest(trl_output)
    [run_dir] = import_path(trl_output, tmp_path / "runs")
    assert tree_digest(trl_output) == before
    info = run_json(run_dir)
    assert info["source"]["trainer"] == "trl" and info["loss_metric"] == "loss" and info["step"] == 2
    assert [c["step"] for c in info["source"]["checkpoints"]] == [1, 2]
    state = json.loads((trl_output / "checkpoint-2" / "trainer_state.json").read_text())
    series = metric_series(run_dir)
    assert series["reward/mean"] == {h["step"]: h["reward"] for h in state["log_history"] if "reward" in h}
    assert series["optim/lr"] == {h["step"]: h["learning_rate"] for h in state["log_history"] if "learning_rate" in h}
    assert "rewards/length_reward/mean" in series and "loss" in series
    records = [json.loads(line) for line in (run_dir / "rollouts" / "step-000002.jsonl").read_text().splitlines()]
    assert len(records) == 4 and {r["index"] for r in records} == {0, 1} and len({r["group"] for r in records}) == 2
    for r in records:
        assert r["prompt"].endswith("=") and isinstance(r["response"], str)
        assert r["reward"] == pytest.approx(r["rewards"]["exact_reward"] + r["rewards"]["length_reward"])
        assert math.isclose(r["rewards"]["length_reward"], -0.1 * len(r["response"]), abs_tol=1e-6)
        assert "psi" not in r and "tokens" not in r
    metrics = [e for e in events_of(run_dir) if e["type"] == "metrics"]
    assert metrics[0]["t"] < metrics[1]["t"], "step times come from TRL's TensorBoard log"


# ---------------------------------------------------------------- reporting and system metrics


def train_tiny(write_config, tmp_path, **overrides) -> Path:
    from pacslab.config import load_config
    from pacslab.engines.native.loop import run_training
    from pacslab.run.lifecycle import prepare_run_dir

    config = write_config(**overrides)
    cfg = load_config(config)
    run_dir = tmp_path / "runs" / "r1"
    prepare_run_dir(cfg, config_path=config, run_dir=run_dir, runs_root=run_dir.parent, resume=False)
    assert run_training(cfg, run_dir, base_dir=config.parent, log=lambda _: None) == 0
    return run_dir


def test_report_to_tensorboard_writes_what_events_jsonl_holds(write_config, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    run_dir = train_tiny(write_config, tmp_path, total_steps=2, **{"logging.report_to": ["tensorboard"], "logging.system_every_s": 0})
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0})
    acc.Reload()
    for kind in ("metrics", "eval"):
        for name, by_step in metric_series(run_dir, kind).items():
            known = {s: v for s, v in by_step.items() if v is not None}
            logged = {e.step: e.value for e in acc.Scalars(name)} if name in acc.Tags()["scalars"] else {}
            assert logged == pytest.approx(known, rel=1e-6), name
    assert {e.step for e in acc.Scalars("eval/accuracy")} == {0, 2}


def wandb_records(path: Path):
    """The records of a W&B offline run file, decoded with wandb's own Record protobuf: a 7-byte
    header (":W&B", magic, version), then LevelDB-log records (crc 4, length 2, type 1: 1 full,
    2 first, 3 middle, 4 last) in 32 KiB blocks. wandb 0.31 has no Python reader of its own left
    (its internals moved to the Go core)."""
    from wandb.proto import wandb_internal_pb2

    data, pos, block, pending = path.read_bytes(), 7, 32768, b""
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    while pos + 7 <= len(data):
        if block - pos % block < 7:  # a block's tail too short for a header is padding
            pos += block - pos % block
            continue
        length, kind = int.from_bytes(data[pos + 4 : pos + 6], "little"), data[pos + 6]
        chunk, pos = data[pos + 7 : pos + 7 + length], pos + 7 + length
        if kind == 0:
            continue
        pending = chunk if kind in (1, 2) else pending + chunk
        if kind in (1, 4):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(pending)
            yield record


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb is not installed (the optional extra pacslab[wandb])")
def test_report_to_wandb_offline(write_config, tmp_path, monkeypatch):
    monkeypatch.delenv("WANDB_MODE", raising=False)
    run_dir = train_tiny(write_config, tmp_path, total_steps=2, **{"logging.report_to": ["wandb"]})
    history = list((run_dir / "wandb").glob("offline-run-*/run-*.wandb"))
    assert history, "W&B writes an offline run when no mode is configured"
    logged = {}
    for record in wandb_records(history[0]):
        if record.WhichOneof("record_type") == "history":
            items = {i.key or "/".join(i.nested_key): json.loads(i.value_json) for i in record.history.item}
            logged[items["_step"]] = items
    assert logged[2]["reward/mean"] == pytest.approx(metric_series(run_dir)["reward/mean"][2])


@pytest.mark.skipif(importlib.util.find_spec("mlflow") is None, reason="mlflow is not installed (the optional extra pacslab[mlflow])")
def test_report_to_mlflow_file_store(write_config, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    run_dir = train_tiny(write_config, tmp_path, total_steps=2, **{"logging.report_to": ["mlflow"]})
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=(run_dir / "mlruns").resolve().as_uri())
    [run] = client.search_runs([client.get_experiment_by_name("pacslab").experiment_id])
    rewards = {m.step: m.value for m in client.get_metric_history(run.info.run_id, "reward/mean")}
    assert rewards == pytest.approx(metric_series(run_dir)["reward/mean"])


def test_a_tracker_that_is_not_installed_is_a_config_error(write_config, monkeypatch):
    from pacslab.config import ConfigError, load_config

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(ConfigError, match=r"logging\.report_to: mlflow is not installed.*pip install mlflow"):
        load_config(write_config(**{"logging.report_to": ["mlflow"]}))


def test_system_metrics_are_logged_at_their_interval(write_config, tmp_path):
    import torch

    from pacslab.sysmetrics import SystemMonitor

    now = [100.0]
    monitor = SystemMonitor(10.0, torch.device("cpu"), clock=lambda: now[0])
    first = monitor.sample()
    assert set(first) == {"system/cpu_percent", "system/rss_gb"} and 0.01 < first["system/rss_gb"] < 1000
    now[0] = 105.0
    assert monitor.sample() == {}
    now[0] = 110.0
    assert set(monitor.sample()) == {"system/cpu_percent", "system/rss_gb"}
    assert SystemMonitor(0, torch.device("cpu")).sample() == {}

    run_dir = train_tiny(write_config, tmp_path, total_steps=2, **{"logging.system_every_s": 3600})
    system_steps = {e["step"] for e in events_of(run_dir) if e["type"] == "metrics" and "system/rss_gb" in e["values"]}
    assert system_steps == {1}, "the first step and then at most once an interval"


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="no CUDA device: the GPU path of the system metrics runs on a GPU machine")
def test_system_metrics_on_a_gpu():
    import torch

    from pacslab.sysmetrics import SystemMonitor

    device = torch.device("cuda")
    x = torch.ones(256, 1024, 1024, device=device)  # 1 GiB
    values = SystemMonitor(1.0, device).sample()
    assert values["system/gpu_allocated_gb"] >= 1.0 and values["system/gpu_peak_gb"] >= values["system/gpu_allocated_gb"]
    assert values["system/gpu_reserved_gb"] >= values["system/gpu_allocated_gb"]
    if importlib.util.find_spec("pynvml") is not None:
        assert 0 <= values["system/gpu_util_percent"] <= 100 and values["system/gpu_memory_used_gb"] >= 1.0
    del x
