"""export-onnx and score: ONNX Runtime against PyTorch on a tiny random Llama with a character-level
tokenizer built here (no training needed).

`python tests/test_onnx.py RUN_DIR` builds the same fixture run for the Node scoring tests.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from pacslab import demo_model, onnx_export, scoring
from pacslab.run import files as runio

PAD, EOS, UNK, BOS = "<pad>", "$", "<unk>", "<s>"
CHARS = list("0123456789+-*=/()., ?")
BETA = 2.0
# One logged group of step 2: two right, two wrong, the last one cut short before EOS. The second
# sampled a padding token inside its response (the text drops it, the logged tokens keep it); the
# third has no logged tokens (logging.log_token_details off).
GROUP = [
    ("12+3=", "15", 1.0, False, ["1", "5", EOS]),
    ("12+3=", "15", 1.0, False, ["1", PAD, "5", EOS]),
    ("12+3=", "14", 0.0, False, None),
    ("12+3=", "2222", 0.0, True, ["2", "2", "2", "2"]),
]


def build_tokenizer(*, unk: bool = True):
    from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    specials = [PAD, EOS, UNK, BOS] if unk else [PAD, EOS, BOS]
    vocab = {token: i for i, token in enumerate(specials + CHARS)}
    core = Tokenizer(models.WordLevel(vocab, unk_token=UNK if unk else None))
    core.pre_tokenizer = pre_tokenizers.Split(Regex("."), behavior="isolated")
    core.decoder = decoders.Fuse()
    core.add_special_tokens(specials)
    extra = {"unk_token": UNK} if unk else {}
    return PreTrainedTokenizerFast(tokenizer_object=core, pad_token=PAD, eos_token=EOS, bos_token=BOS, padding_side="left", **extra)


def build_model(tokenizer, seed: int):
    """A tiny Llama with grouped key/value heads, unlike the demo model, so the export covers both."""
    return demo_model.build_model(tokenizer, seed=seed, layers=2, hidden=32, heads=4, kv_heads=2, intermediate=64)


def build_run(root: Path, *, unk: bool = True, steps: tuple[int, ...] = (2,)) -> Path:
    """A run directory as the trainer leaves it: config.yaml, a base model outside the run,
    checkpoints (random models of other seeds) and one rollout file."""
    root = Path(root).resolve()
    tokenizer = build_tokenizer(unk=unk)
    base = root / "base-model"
    build_model(tokenizer, seed=0).save_pretrained(base)
    tokenizer.save_pretrained(base)
    run = root / "run"
    (run / "checkpoints").mkdir(parents=True)
    for step in steps:
        ckpt = run / "checkpoints" / runio.step_name(step)
        build_model(tokenizer, seed=step).save_pretrained(ckpt)
        tokenizer.save_pretrained(ckpt)
        (ckpt / runio.TRAINER_STATE).write_bytes(b"")
    (run / "checkpoints" / "latest").write_text(runio.step_name(steps[-1]) + "\n")
    config = {"name": "fixture", "algorithm": "pacs", "model": {"path": str(base)}, "pacs": {"beta": BETA, "reward_method": "logratio", "adv_estimator": "rloo", "norm_by_std": True}}
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    records = [
        {"step": steps[-1], "group": 0, "index": i, "prompt_id": "train-00000", "prompt": p, "response": r, "answer": "15", "reward": label, "logratio": 0.01 * i, "truncated": cut, **({"tokens": tokens} if tokens else {})}
        for i, (p, r, label, cut, tokens) in enumerate(GROUP)
    ]
    runio.write_rollouts(run, steps[-1], records)
    return run


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    run = build_run(tmp_path_factory.mktemp("onnx"))
    onnx_export.export_run(run, log=lambda _m: None)
    return run


def torch_reference_score(run: Path, prompt: str, response: str, *, eos: bool = True) -> list[float]:
    """β·(logp − ref_logp) per response token straight from the HF models, float64 log-softmax."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run / "checkpoints" / "step-000002")
    prompt_ids = tokenizer(prompt)["input_ids"]
    response_ids = tokenizer(response, add_special_tokens=False)["input_ids"] + ([tokenizer.eos_token_id] if eos else [])
    ids = torch.tensor([prompt_ids + response_ids])
    logps = []
    for path in (run / "checkpoints" / "step-000002", run.parent / "base-model"):
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        with torch.no_grad():
            logits = model(input_ids=ids, use_cache=False).logits[0].double()  # [T, V]
        logp = torch.log_softmax(logits, -1)[len(prompt_ids) - 1 : -1].gather(-1, torch.tensor(response_ids).unsqueeze(-1)).squeeze(-1)  # [R]
        logps.append(logp)
    return (BETA * (logps[0] - logps[1])).tolist()


def test_export_writes_manifest_and_matches_pytorch(run: Path):
    manifest = json.loads((run / "onnx" / "manifest.json").read_text())
    assert manifest["format"] == 1 and manifest["step"] == 2 and manifest["beta"] == BETA
    assert manifest["reference"]["kind"] == "base"
    assert manifest["tokenizer"]["eos_token_id"] == 1 and manifest["tokenizer"]["unk_token_id"] == 2
    for name in manifest["files"]:
        assert (run / "onnx" / name).is_file(), name
    assert manifest["policies"]["2"]["max_abs_diff"] <= 1e-4
    assert manifest["reference"]["max_abs_diff"] <= 1e-4


def test_onnx_logits_match_pytorch_with_dynamic_shapes(run: Path):
    import onnxruntime as ort
    from transformers import AutoModelForCausalLM

    session = ort.InferenceSession(str(run / "onnx" / "policy-step2.onnx"), providers=["CPUExecutionProvider"])
    model = AutoModelForCausalLM.from_pretrained(run / "checkpoints" / "step-000002", dtype=torch.float32).eval()
    ids = torch.randint(0, model.config.vocab_size, (4, 23), generator=torch.Generator().manual_seed(3))  # [4, 23]
    mask = torch.ones_like(ids)
    with torch.no_grad():
        expected = model(input_ids=ids, attention_mask=mask, use_cache=False).logits.numpy()
    got = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
    diff = float(np.abs(got - expected).max())
    print(f"policy logits max |onnxruntime − torch| = {diff:.3e}")
    assert diff <= 1e-4


def test_score_matches_a_direct_pytorch_computation(run: Path):
    result = scoring.Scorer(run).score("12+3=", "15")
    expected = torch_reference_score(run, "12+3=", "15")
    assert result["tokens"] == ["1", "5", "$"]
    assert np.allclose(result["token_logratio"], expected, atol=1e-4, rtol=0)
    assert math.isclose(result["logratio"], sum(expected), abs_tol=1e-4)
    assert result["reward_hat"] == result["logratio"]


def test_onnx_and_torch_backends_agree(run: Path, capsys):
    outputs = {}
    for backend in scoring.BACKENDS:
        assert scoring.main(["--run", str(run), "--prompt", "7*8=", "--response", "56", "--backend", backend]) == 0
        outputs[backend] = json.loads(capsys.readouterr().out)
    onnx, torch_ = outputs["onnx"], outputs["torch"]
    assert onnx["tokens"] == torch_["tokens"] == ["5", "6", "$"]
    diffs = [abs(a - b) for a, b in zip(onnx["token_logratio"], torch_["token_logratio"])]
    print(f"onnx vs torch: |Δ r̂| = {abs(onnx['logratio'] - torch_['logratio']):.3e}, max |Δ token| = {max(diffs):.3e}")
    assert abs(onnx["logratio"] - torch_["logratio"]) <= 1e-4 and max(diffs) <= 1e-4


def test_no_eos_scores_the_text_alone(run: Path):
    with_eos = scoring.Scorer(run).score("1+1=", "2")
    without = scoring.Scorer(run).score("1+1=", "2", eos=False)
    assert without["tokens"] == ["2"] and with_eos["tokens"] == ["2", "$"]
    assert without["token_logratio"] == pytest.approx(with_eos["token_logratio"][:1], abs=1e-9)


def test_characters_outside_the_vocabulary_become_the_unknown_token(run: Path):
    result = scoring.Scorer(run).score("12+3=", "1a5é")
    assert result["unknown_chars"] == ["a", "é"]
    assert result["token_ids"][1] == 2 and result["token_ids"][3] == 2
    assert result["tokens"][1] == UNK
    assert all(math.isfinite(x) for x in result["token_logratio"])


def test_characters_outside_the_vocabulary_without_an_unknown_token_are_named(tmp_path: Path, capsys):
    run = build_run(tmp_path, unk=False)
    onnx_export.export_run(run, log=lambda _m: None)
    assert scoring.main(["--run", str(run), "--prompt", "1+1=", "--response", "2x"]) == 2
    err = capsys.readouterr().err
    assert '"x" (U+0078)' in err and "no unknown token" in err


def test_group_psi_recomputes_every_member(run: Path, capsys):
    assert scoring.main(["--run", str(run), "--sample", "2:0:2"]) == 0
    result = json.loads(capsys.readouterr().out)
    scorer = scoring.Scorer(run)
    rewards = [scorer.score(p, r, eos=not cut)["logratio"] for p, r, _, cut, _ in GROUP]
    rewards[1] = scorer.score_logged({"prompt": "12+3=", "response": "15", "tokens": ["1", PAD, "5", EOS]})["logratio"]
    assert rewards[1] != pytest.approx(rewards[0], abs=1e-6)
    assert [m["reward_hat"] for m in result["group"]] == pytest.approx(rewards, abs=1e-9)
    expected_psi = rewards[2] - (rewards[0] + rewards[1] + rewards[3]) / 3
    assert result["psi"] == pytest.approx(expected_psi, abs=1e-9)
    assert result["p_correct"] == pytest.approx(1 / (1 + math.exp(-expected_psi)))
    assert result["label"] == 0.0 and result["edited"] is False


def test_logged_samples_keep_their_sampled_tokens(run: Path):
    scorer = scoring.Scorer(run)
    logged = scorer.score_logged({"prompt": "12+3=", "response": "15", "truncated": False, "tokens": ["1", PAD, "5", EOS]})
    assert logged["tokens"] == ["1", PAD, "5", EOS] and logged["eos"] is True
    cut = scorer.score_logged({"prompt": "12+3=", "response": "22", "truncated": True, "tokens": ["2", "2"]})
    assert cut["tokens"] == ["2", "2"] and cut["eos"] is False
    fallback = scorer.score_logged({"prompt": "12+3=", "response": "15", "truncated": False, "tokens": ["1", "not-a-token", EOS]})
    assert fallback["tokens"] == ["1", "5", EOS]


def test_group_psi_of_an_edited_response(run: Path, capsys):
    assert scoring.main(["--run", str(run), "--sample", "2:0:3", "--response", "15"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["edited"] is True and result["label"] is None
    assert result["tokens"] == ["1", "5", "$"]
    assert result["group"][3]["reward_hat"] == pytest.approx(result["logratio"], abs=1e-12)


def test_reference_at_the_policy_step_gives_zero(tmp_path: Path):
    run = build_run(tmp_path)
    onnx_export.export_run(run, reference="step:2", log=lambda _m: None)
    result = scoring.Scorer(run).score("12+3=", "15")
    assert result["reference"] == "step:2"
    assert max(abs(x) for x in result["token_logratio"]) <= 1e-6


@pytest.mark.parametrize(
    ("estimator", "norm", "expected"),
    [("rloo", True, 3.0 - 1.0), ("grpo", False, 3.0 - 1.5), ("grpo", True, 1.5 / (math.sqrt(5.0 / 3.0) + 1e-6)), ("naive", True, 3.0)],
)
def test_group_psi_estimators(estimator: str, norm: bool, expected: float):
    assert scoring.group_psi([0.0, 1.0, 2.0, 3.0], 3, estimator=estimator, norm_by_std=norm) == pytest.approx(expected)


def test_errors_name_the_fix(tmp_path: Path, run: Path, capsys):
    bare = build_run(tmp_path)
    assert scoring.main(["--run", str(bare), "--prompt", "1=", "--response", "1"]) == 2
    assert "export-onnx --run" in capsys.readouterr().err
    assert scoring.main(["--run", str(run), "--step", "7", "--prompt", "1=", "--response", "1"]) == 2
    assert "exported steps: 2" in capsys.readouterr().err
    assert onnx_export.main(["--run", str(run), "--step", "9"]) == 2
    assert "steps with checkpoints: 2" in capsys.readouterr().err
    assert scoring.main(["--run", str(run), "--sample", "2:5:0"]) == 2
    assert "no sample with group 5" in capsys.readouterr().err


if __name__ == "__main__":
    out = build_run(Path(sys.argv[1]))
    print(out)


def _external_data_export(work: Path, scale: float) -> Path:
    """A graph y = x·W saved as an exporter saves a model over 2 GB: one file per tensor, named after the graph."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.full((2, 2), scale, dtype=np.float32), name="onnx__MatMul_7")
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "onnx__MatMul_7"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])], [weight])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=10)  # older onnxruntimes load it too
    work.mkdir()
    path = work / "model.onnx"
    onnx.save_model(model, str(path), save_as_external_data=True, all_tensors_to_one_file=False, size_threshold=0)
    assert (work / "onnx__MatMul_7").is_file()
    return path


def test_models_with_external_weights_keep_their_own_weights(tmp_path: Path):
    import onnxruntime as ort

    out_dir = tmp_path / "onnx"
    out_dir.mkdir()
    onnx_export.place_export(_external_data_export(tmp_path / "w1", 1.0), out_dir / "policy-step3.onnx")
    onnx_export.place_export(_external_data_export(tmp_path / "w2", 2.0), out_dir / "reference.onnx")
    assert sorted(p.name for p in out_dir.iterdir()) == ["policy-step3.onnx", "policy-step3.onnx.data",
                                                           "reference.onnx", "reference.onnx.data"]
    x = np.ones((1, 2), dtype=np.float32)
    for name, expected in (("policy-step3.onnx", 2.0), ("reference.onnx", 4.0)):
        session = ort.InferenceSession(str(out_dir / name), providers=["CPUExecutionProvider"])
        assert session.run(["y"], {"x": x})[0].tolist() == [[expected, expected]]
