"""examples/math-chat end to end (chat template, verl/PACS rows, eval sets), LoRA, and the recipes."""

import importlib.util
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from conftest import REPO_DIR, events_of
from pacslab import cli
from pacslab.run import files as runio
from pacslab.run import records as records_io

EXAMPLE = REPO_DIR / "examples" / "math-chat"
RECIPES = REPO_DIR / "examples" / "recipes"
# labels by the response's length, so groups are mixed and every update has a gradient
COIN_VERIFIER = "def check(response, answer, prompt):\n    return len(response) % 2 == 0\n"


def _module(path: Path):
    spec = importlib.util.spec_from_file_location(f"example_{path.stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built_model(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("math-chat-model") / "model"
    _module(EXAMPLE / "make_model.py").main(["--out", str(out)])
    return out


@pytest.fixture
def workspace(tmp_path, built_model) -> Path:
    """A copy of examples/math-chat with the built model, so runs leave the repository alone."""
    shutil.copytree(EXAMPLE, tmp_path / "math-chat", ignore=shutil.ignore_patterns("model", "__pycache__"))
    (tmp_path / "math-chat" / "model").symlink_to(built_model, target_is_directory=True)
    (tmp_path / "math-chat" / "coin.py").write_text(COIN_VERIFIER)
    return tmp_path / "math-chat"


def train(workspace: Path, *overrides: str) -> tuple[int, Path]:
    run_dir = workspace / "run"
    code = cli.main(["train", str(workspace / "math-chat.pacs.yaml"), "--run-dir", str(run_dir),
                     *[arg for o in overrides for arg in ("--set", o)]])
    return code, run_dir


def metrics(run_dir: Path) -> dict[int, dict]:
    out: dict[int, dict] = {}
    for e in events_of(run_dir):
        if e["type"] in ("metrics", "eval"):
            out.setdefault(e["step"], {}).update(e["values"])
    return out


def test_the_example_trains_with_its_chat_template_and_two_eval_sets(workspace):
    code, run_dir = train(workspace)
    assert code == 0
    by_step = metrics(run_dir)
    for step in (0, 3):
        for key in ("eval/arith/accuracy", "eval/arith/pass@2", "eval/linear/accuracy", "eval/linear/pass@1"):
            assert 0 <= by_step[step][key] <= 1, (step, key)
        assert not [key for key in by_step[step] if "source=" in key]  # each set has one data source
    assert "eval/accuracy" not in by_step[0]  # no task.eval_file: only the named sets
    assert by_step[0]["data/prompts_too_long"] == 0 and by_step[0]["data/train_prompts"] == 320
    record = records_io.read_step(run_dir, 1)[0][0]
    assert record["prompt"].startswith("<|im_start|>system\nPut the final answer in \\boxed{}.<|im_end|>\n<|im_start|>user\n")
    assert record["prompt"].endswith("<|im_end|>\n<|im_start|>assistant\n")


def test_the_trainer_feeds_the_chat_template_ids(workspace, monkeypatch):
    from pacslab.config import load_config
    from pacslab.engines.native import loop as train_module
    from pacslab.engines.native import rollouts
    from pacslab.tasks import PromptSampler, load_examples

    cfg = load_config(workspace / "math-chat.pacs.yaml")
    run_dir = workspace / "run"
    run_dir.mkdir()
    fed = []
    real = rollouts.generate_rollouts
    monkeypatch.setattr(rollouts, "generate_rollouts", lambda model, tok, prompts, **kw: fed.append(prompts) or real(model, tok, prompts, **kw))
    trainer = train_module.Trainer(cfg, run_dir, base_dir=workspace, resume=False, events=runio.EventLog(run_dir),
                                   info=runio.RunInfo(run_dir), log=lambda _: None)
    trainer.train_step(1)
    rows = {e.id: e for e in load_examples(cfg.task, "train", base_dir=workspace)}
    batch = PromptSampler(trainer.train_examples, cfg.rollout.prompts_per_step, cfg.seed).next_batch()
    assert len(fed[0]) == len(batch) == cfg.rollout.prompts_per_step
    for ids, example in zip(fed[0], batch):
        messages = list(rows[example.id].messages)
        assert messages[0] == {"role": "system", "content": cfg.task.system_prompt}
        assert list(ids) == trainer.tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)


def test_prompts_over_the_limit_leave_training_and_all_of_them_is_a_config_error(workspace, capsys):
    lengths = _prompt_lengths(workspace)
    limit = sorted(lengths)[len(lengths) // 2]
    dropped = sum(n > limit for n in lengths)
    assert 0 < dropped < len(lengths), "the limit should drop some prompts and keep others"
    code, run_dir = train(workspace, f"rollout.max_prompt_tokens={limit}", "total_steps=1", "eval.size=1", "eval.sets=[]",
                          "task.eval_file=data/test-arith.parquet")
    assert code == 0
    assert metrics(run_dir)[0]["data/prompts_too_long"] == dropped
    assert f"left out {dropped} of {len(lengths)} training prompts" in capsys.readouterr().out
    shutil.rmtree(run_dir)
    code, run_dir = train(workspace, f"rollout.max_prompt_tokens={min(lengths) - 1}")
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"math-chat.pacs.yaml: rollout.max_prompt_tokens: every one of the {len(lengths)} training prompts is longer than" in err
    assert not (run_dir / "run.json").exists(), "found before the run folder is prepared: nothing is written"


def _prompt_lengths(workspace: Path) -> list[int]:
    from pacslab.config import load_config
    from pacslab.models import load_tokenizer
    from pacslab.tasks import encode_examples, load_examples

    cfg = load_config(workspace / "math-chat.pacs.yaml")
    tokenizer = load_tokenizer(workspace / "model")
    examples = encode_examples(load_examples(cfg.task, "train", base_dir=workspace), tokenizer, cfg.task, model_dir=workspace)
    return [len(e.prompt_ids) for e in examples]


def test_a_missing_answer_path_exits_2_naming_the_path_file_and_row(workspace, capsys):
    code, _ = train(workspace, "task.answer_field=reward_model.answer")
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    assert f"{workspace / 'data' / 'train.parquet'}: task.answer_field: row 0 (the first that lacks it) has no field 'reward_model.answer'" in err


def test_lora_trains_only_the_adapters_and_exports_them_merged(workspace, built_model, tmp_path):
    from transformers import AutoModelForCausalLM

    code, run_dir = train(workspace, "model.lora={r: 4, alpha: 8}", "task.verifier=python:coin:check",
                          "algorithm=grpo", "grpo.kl_coef=0.1", "total_steps=2", "eval.size=2", "eval.sets=[]",
                          "task.eval_file=data/test-arith.parquet")
    assert code == 0
    checkpoint = runio.latest_checkpoint(run_dir)
    assert {"adapter_config.json", "adapter_model.safetensors"} <= {p.name for p in checkpoint.iterdir()}
    assert not (checkpoint / "model.safetensors").exists()
    assert metrics(run_dir)[1]["grpo/kl"] >= 0

    from safetensors.torch import load_file

    adapter = load_file(str(checkpoint / "adapter_model.safetensors"))
    assert adapter and all("lora_" in k for k in adapter)
    assert any(v.abs().max() > 0 for k, v in adapter.items() if "lora_B" in k), "the adapters did not train"

    out = tmp_path / "merged"
    assert cli.main(["export-merged", str(run_dir), "--out", str(out)]) == 0
    merged = AutoModelForCausalLM.from_pretrained(out, dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(built_model, dtype=torch.float32)
    ids = torch.tensor([[5, 9, 30, 2, 7]])
    from pacslab.models import load_policy

    policy, _ = load_policy(built_model, device=torch.device("cpu"), dtype="float32", adapter=checkpoint)
    with torch.no_grad():
        want = policy(input_ids=ids).logits
        assert torch.allclose(merged(input_ids=ids).logits, want, atol=1e-5)
        assert not torch.allclose(base(input_ids=ids).logits, want, atol=1e-5)
    # the run's own eval command reads the adapter checkpoint too
    assert cli.main(["eval", str(run_dir)]) == 0


def test_lora_freezes_the_base_and_its_reference_is_the_base(workspace, built_model):
    from pacslab.config import load_config
    from pacslab.engines.native import loop as train_module
    from pacslab.models import load_policy
    from pacslab.rollout import generate_rollouts

    cfg = load_config(workspace / "math-chat.pacs.yaml", ["model.lora={r: 4, alpha: 8, target_modules: [q_proj, v_proj]}",
                                                           "task.verifier=python:coin:check", "algorithm=grpo", "grpo.kl_coef=0.1"])
    run_dir = workspace / "run"
    run_dir.mkdir()
    trainer = train_module.Trainer(cfg, run_dir, base_dir=workspace, resume=False, events=runio.EventLog(run_dir),
                                   info=runio.RunInfo(run_dir), log=lambda _: None)
    assert trainer.ref_model is None
    trainable = {n for n, p in trainer.model.named_parameters() if p.requires_grad}
    assert trainable and all("lora_" in n and ("q_proj" in n or "v_proj" in n) for n in trainable)
    before = {n: p.detach().clone() for n, p in trainer.model.named_parameters()}
    for step in (1, 2):
        trainer.train_step(step)
    changed = {n for n, p in trainer.model.named_parameters() if not torch.equal(p, before[n])}
    assert changed and changed <= trainable
    base, _ = load_policy(built_model, device=torch.device("cpu"), dtype="float32")
    batch = generate_rollouts(trainer.model, trainer.tokenizer, [e.prompt_ids for e in trainer.train_examples[: cfg.rollout.prompts_per_step]],
                             n=cfg.rollout.n, max_new_tokens=4, temperature=1.0, top_p=1.0, generator=None)
    micro = [rows for mini in trainer._partition(batch) for rows in mini]
    reference = trainer._reference_logprobs(batch, micro)
    assert torch.allclose(reference, trainer._logprobs_no_grad(base, batch, micro)[0], atol=1e-5)
    assert not torch.allclose(reference, trainer._logprobs_no_grad(trainer.model, batch, micro)[0], atol=1e-5)


def test_lora_export_onnx_merges_the_adapter(workspace, capsys):
    from pacslab.onnx_export import export_run

    code, run_dir = train(workspace, "model.lora={r: 4, alpha: 8}", "task.verifier=python:coin:check", "total_steps=1",
                          "eval.size=1", "eval.sets=[]", "task.eval_file=data/test-arith.parquet", "logging.rollouts_every=0")
    assert code == 0
    capsys.readouterr()
    manifest = export_run(run_dir, log=lambda _: None)
    assert manifest["policies"]["1"]["max_abs_diff"] <= 1e-4 and (run_dir / "onnx" / "policy-step1.onnx").is_file()
    from pacslab import scoring

    outputs = {}
    for backend in scoring.BACKENDS:  # the torch backend merges the adapter checkpoint as the export did
        assert scoring.main(["--run", str(run_dir), "--prompt", "What is 2 + 2?", "--response", "4", "--backend", backend]) == 0
        outputs[backend] = json.loads(capsys.readouterr().out)
    onnx_out, torch_out = outputs["onnx"], outputs["torch"]
    assert abs(onnx_out["logratio"] - torch_out["logratio"]) < 1e-3, (onnx_out, torch_out)


@pytest.mark.parametrize("recipe", sorted(RECIPES.glob("*.pacs.yaml")), ids=lambda p: p.name)
def test_recipes_validate_against_a_stand_in_model(recipe, tmp_path):
    from pacslab.config import load_config

    data = yaml.safe_load(recipe.read_text())
    copy = tmp_path / recipe.name
    shutil.copy(recipe, copy)
    model = tmp_path / data["model"]["path"]
    model.mkdir(parents=True)
    (model / "config.json").write_text(json.dumps({"model_type": "qwen2"}))
    for spec in [data["task"]["train_file"], *(s["file"] for s in data["eval"]["sets"])]:
        (tmp_path / spec).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(EXAMPLE / "data" / "test-arith.parquet", tmp_path / spec)
    cfg = load_config(copy)
    if recipe.name.startswith("qwen2.5-math"):
        assert cfg.optim.lr == 1e-6 and cfg.rollout.n == 8 and cfg.rollout.temperature == 1.0
        assert cfg.rollout.prompts_per_step // cfg.optim.mini_batch_prompts == 4
        assert cfg.rollout.max_new_tokens == 4096


def test_a_lora_run_resumes_from_its_adapter_checkpoint(workspace):
    code, run_dir = train(workspace, "model.lora={r: 4, alpha: 8}", "task.verifier=python:coin:check", "total_steps=2",
                          "checkpoint_every=1", "eval.size=1", "eval.sets=[]", "task.eval_file=data/test-arith.parquet")
    assert code == 0
    assert cli.main(["train", "--resume", str(run_dir), "--set", "total_steps=3"]) == 0
    assert 3 in metrics(run_dir) and runio.latest_checkpoint(run_dir).name == "step-000003"


def test_lora_with_gradient_checkpointing_still_reaches_the_adapters(built_model):
    from types import SimpleNamespace

    from pacslab.models import load_policy

    lora = SimpleNamespace(r=4, alpha=8.0, dropout=0.0, target_modules=["q_proj", "v_proj"])
    model, _ = load_policy(built_model, device=torch.device("cpu"), dtype="float32", gradient_checkpointing=True, lora=lora)
    model.train()
    model(input_ids=torch.tensor([[5, 9, 30, 2]])).logits.sum().backward()
    grads = {n: p.grad for n, p in model.named_parameters() if p.requires_grad}
    assert grads and all(g is not None for n, g in grads.items() if "lora_A" in n)
