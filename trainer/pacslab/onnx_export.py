"""`export-onnx`: the policy at a checkpoint and its reference as ONNX models, for scoring in the editor.

Writes RUN_DIR/onnx/: policy-step<N>.onnx (one per exported step), reference.onnx, tokenizer.json,
tokenizer_config.json and manifest.json. Each model maps input_ids and attention_mask [batch, seq]
(int64) to logits [batch, seq, vocab] (float32), without a KV cache. Every export is checked
against PyTorch with onnxruntime before it is recorded in the manifest.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import warnings
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import yaml

from pacslab.run import safe_json
from pacslab.run import files as runio

MANIFEST_FORMAT = 1
ONNX_DIR = "onnx"
MANIFEST = "manifest.json"
REFERENCE_FILE = "reference.onnx"
TOKENIZER_FILE = "tokenizer.json"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
PARITY_TOLERANCE = 1e-4
EXPORTERS = ("torchscript", "dynamo")
# Strings whose ids the exported tokenizer.json must give exactly as the checkpoint's tokenizer does.
TOKENIZER_PROBES = ("12+34=", "7*8=56", "(1 + 2) / 3 ?", "Hello, world!")


class ExportError(Exception):
    """A problem the user can fix; the message says what, where and how."""


def logits_only(model):
    """The causal LM without its cache, as a module: (input_ids, attention_mask) → logits.
    (torch is imported here, not at module level, so `score` on onnxruntime starts fast.)"""
    import torch

    class LogitsOnly(torch.nn.Module):
        def __init__(self, model: torch.nn.Module):
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask, use_cache=False).logits  # [B, T, V]

    return LogitsOnly(model).eval()


# ---------------------------------------------------------------- the run directory


def read_run_config(run_dir: Path) -> dict:
    path = Path(run_dir) / "config.yaml"
    try:  # a regular file of the run, never a link out of it
        text = runio.read_run_file(path, max_bytes=safe_json.MAX_INFO_BYTES).decode("utf-8", "replace")
    except FileNotFoundError:
        raise ExportError(f"{path}: not found; --run must name a run directory written by `pacslab train` (it holds config.yaml)") from None
    except (OSError, ValueError) as exc:
        raise ExportError(str(exc)) from None
    config = yaml.safe_load(text) or {}
    if not isinstance(config, dict):
        raise ExportError(f"{path}: expected a mapping at the top level; the run's resolved config is damaged")
    return config


def checkpoint_dir(run_dir: Path, step: int | None) -> Path:
    """The checkpoint of `step`, or the newest one when `step` is None."""
    if step is None:
        path = runio.latest_checkpoint(run_dir)
        if path is None:
            raise ExportError(f"{runio.checkpoints_dir(run_dir)}: no complete checkpoint; wait for the run's first checkpoint or use the Save Checkpoint Now command")
        return path
    path = runio.checkpoint_for_step(run_dir, step)
    if path is None:
        have = ", ".join(str(s) for s in checkpoint_steps(run_dir)) or "none"
        raise ExportError(f"{runio.checkpoints_dir(run_dir) / runio.step_name(step)}: no checkpoint for step {step}; steps with checkpoints: {have}")
    return path


def checkpoint_steps(run_dir: Path) -> list[int]:
    root = runio.checkpoints_dir(run_dir)
    if not root.is_dir():
        return []
    return sorted(int(p.name[len("step-") :]) for p in root.glob("step-*")
                  if p.name[len("step-") :].isdigit() and runio.checkpoint_for_step(run_dir, int(p.name[len("step-") :])) is not None)


def step_of(checkpoint: Path) -> int:
    return int(checkpoint.name[len("step-") :])


def base_model_dir(run_dir: Path, config: dict) -> Path:
    """The run's base model (config.yaml model.path). A run directory may have been copied from
    another machine: builtin: names resolve in this pacslab's assets, relative paths against the
    run directory and then the folder of the launching config (run.json config_path)."""
    from pacslab.model_paths import resolve_model_path

    path = str((config.get("model") or {}).get("path") or "builtin:arith-tiny")
    bases = [Path(run_dir)]
    config_path = (runio.read_json(Path(run_dir) / "run.json") or {}).get("config_path")
    if config_path and Path(config_path).is_absolute():
        bases.append(Path(config_path).parent)
    error = None
    for base in bases:
        try:
            return resolve_model_path(path, base_dir=base)
        except ValueError as err:
            error = err
    raise ExportError(f"{Path(run_dir) / 'config.yaml'}: {error}; or pass --reference step:M to use one of the run's checkpoints as the reference")


def adapter_base(run_dir: Path, config: dict, *model_dirs: Path) -> Path | None:
    """The run's base model when any of `model_dirs` is a LoRA adapter checkpoint (to merge it into), else None."""
    from pacslab.model_paths import is_adapter_dir

    return base_model_dir(run_dir, config) if any(is_adapter_dir(d) for d in model_dirs) else None


def reference_dir(run_dir: Path, config: dict, reference: str) -> tuple[Path, dict]:
    """(model dir, manifest entry) for `--reference base | step:M`."""
    if reference == "base":
        path = base_model_dir(run_dir, config)
        return path, {"kind": "base", "step": None, "source": str((config.get("model") or {}).get("path") or "builtin:arith-tiny")}
    if reference.startswith("step:") and reference[len("step:") :].isdigit():
        step = int(reference[len("step:") :])
        return checkpoint_dir(run_dir, step), {"kind": "step", "step": step, "source": f"checkpoints/{runio.step_name(step)}"}
    raise ExportError(f"--reference is {reference!r}: use base (the run's model.path) or step:M (the checkpoint of step M)")


def policy_file(step: int) -> str:
    return f"policy-step{step}.onnx"


def reference_spec(entry: dict) -> str:
    return "base" if entry["kind"] == "base" else f"step:{entry['step']}"


def read_manifest(run_dir: Path) -> dict | None:
    path = Path(run_dir) / ONNX_DIR / MANIFEST
    manifest = runio.read_json(path)
    return manifest if manifest and manifest.get("format") == MANIFEST_FORMAT else None


# ---------------------------------------------------------------- models


def load_float32(path: Path, *, base: Path | None = None):
    """(model, tokenizer) in float32 on the CPU, in eval mode; a LoRA checkpoint's adapter is merged
    into `base` (the run's model), so the export is one plain model."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    from pacslab.models import load_merged  # imports torch

    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    model = load_merged(path, base=base)
    model.config.use_cache = False
    return model, tokenizer


def export_model(model, out: Path, *, opset: int, exporter: str) -> None:
    """Writes `out` through a private work folder, then moves it into place (see `place_export`)."""
    import torch

    wrapper = logits_only(model)
    example = torch.tensor([[1, 2, 3, 4, 5], [5, 4, 3, 2, 1]], dtype=torch.long) % model.config.vocab_size  # [2, 5]
    mask = torch.ones_like(example)
    names = {"input_names": ["input_ids", "attention_mask"], "output_names": ["logits"], "opset_version": opset}
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.work-") as work:
        tmp = Path(work) / out.name
        # Tracing warns about every shape-dependent branch in the HF model; parity() checks the result.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if exporter == "dynamo":
                batch, seq = torch.export.Dim("batch", max=4096), torch.export.Dim("seq", max=1 << 16)
                program = torch.onnx.export(wrapper, (example, mask), dynamo=True, dynamic_shapes={"input_ids": {0: batch, 1: seq}, "attention_mask": {0: batch, 1: seq}}, **names)
                program.save(str(tmp), external_data=False)
            else:
                axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "logits": {0: "batch", 1: "seq"}}
                torch.onnx.export(wrapper, (example, mask), str(tmp), dynamo=False, dynamic_axes=axes, **names)
        place_export(tmp, out)


def place_export(tmp: Path, out: Path) -> None:
    """Moves an export from its work folder to `out`.

    A model over 2 GB comes out of the exporter as a graph plus one weight file per tensor, named
    after the graph (`onnx__MatMul_7181`, ...): the policy and the reference would overwrite each
    other's in the shared onnx/ folder. Such weights are gathered into one `<out>.data` file."""
    data = out.with_name(out.name + ".data")
    if not [p for p in tmp.parent.iterdir() if p != tmp]:
        os.replace(tmp, out)
        data.unlink(missing_ok=True)
        return
    import onnx

    graph = onnx.load(str(tmp), load_external_data=True)
    staged = tmp.parent / "staged"
    staged.mkdir()
    onnx.save_model(graph, str(staged / out.name), save_as_external_data=True, all_tensors_to_one_file=True,
                    location=data.name, size_threshold=0)
    os.replace(staged / data.name, data)
    os.replace(staged / out.name, out)


def parity(model, onnx_path: Path, *, seed: int = 0) -> float:
    """Max |logits_onnx − logits_torch| over a few batch shapes, right padding included."""
    import onnxruntime as ort
    import torch

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    generator = torch.Generator().manual_seed(seed)
    worst = 0.0
    for batch, seq in ((1, 1), (1, 9), (3, 17)):
        ids = torch.randint(0, model.config.vocab_size, (batch, seq), generator=generator)  # [B, T]
        mask = torch.ones_like(ids)
        if batch > 1:
            mask[-1, seq // 2 :] = 0
        with torch.no_grad():
            expected = logits_only(model)(ids, mask).numpy()  # [B, T, V]
        got = session.run(["logits"], {"input_ids": ids.numpy(), "attention_mask": mask.numpy()})[0]
        real = mask.numpy().astype(bool)  # positions after right padding are never scored
        worst = max(worst, float(np.abs(got - expected)[real].max()))
    return worst


# ---------------------------------------------------------------- tokenizer


def export_tokenizer(tokenizer, out_dir: Path) -> dict:
    """tokenizer.json as the checkpoint's tokenizer runs it (post-processor included), its
    tokenizer_config.json, and the special-token facts scoring needs."""
    from tokenizers import Tokenizer

    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise ExportError(f"the tokenizer ({type(tokenizer).__name__}) has no tokenizer.json form; scoring needs a fast (tokenizers) tokenizer")
    if tokenizer.eos_token_id is None:
        raise ExportError("the tokenizer has no eos token; set eos_token in the checkpoint's tokenizer_config.json")
    backend.save(str(out_dir / TOKENIZER_FILE))
    standalone = Tokenizer.from_file(str(out_dir / TOKENIZER_FILE))
    for probe in TOKENIZER_PROBES:
        if _ids_or_none(lambda: standalone.encode(probe).ids) != _ids_or_none(lambda: tokenizer(probe)["input_ids"]):
            raise ExportError(f"the exported {TOKENIZER_FILE} encodes {probe!r} differently from the checkpoint's tokenizer; scoring would not see the tokens the trainer saw")
    config = {
        "tokenizer_class": type(tokenizer).__name__,
        "bos_token": tokenizer.bos_token,
        "eos_token": tokenizer.eos_token,
        "pad_token": tokenizer.pad_token,
        "unk_token": tokenizer.unk_token,
        "clean_up_tokenization_spaces": False,
    }
    (out_dir / TOKENIZER_CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return {
        "file": TOKENIZER_FILE,
        "config_file": TOKENIZER_CONFIG_FILE,
        "vocab_size": standalone.get_vocab_size(with_added_tokens=True),
        "eos_token": tokenizer.eos_token,
        "eos_token_id": tokenizer.eos_token_id,
        "pad_token_id": tokenizer.pad_token_id,
        "bos_token_id": tokenizer.bos_token_id,
        "unk_token": tokenizer.unk_token,
        "unk_token_id": tokenizer.unk_token_id,
        "prompt_add_special_tokens": True,
    }


def _ids_or_none(encode) -> list[int] | None:
    try:
        return list(encode())
    except Exception:  # noqa: BLE001 - a WordLevel model without an unknown token raises on unknown text
        return None


# ---------------------------------------------------------------- export


def export_run(run_dir: Path, *, step: int | None = None, reference: str = "base", opset: int = 17, exporter: str = "torchscript", log=print) -> dict:
    """Exports the policy at `step` (newest when None) and the reference; returns the manifest."""
    run_dir = Path(run_dir)
    if exporter not in EXPORTERS:
        raise ExportError(f"--exporter is {exporter!r}: use {' or '.join(EXPORTERS)}")
    config = read_run_config(run_dir)
    checkpoint = checkpoint_dir(run_dir, step)
    step = step_of(checkpoint)
    ref_path, ref_entry = reference_dir(run_dir, config, reference)
    try:  # a real folder of the run: a link in its place would have the export written elsewhere
        out_dir = runio.run_subdir(run_dir, ONNX_DIR)
    except runio.UnsafeRunPath as exc:
        raise ExportError(str(exc)) from None

    manifest = read_manifest(run_dir) or {}
    policies = dict(manifest.get("policies") or {})
    base = adapter_base(run_dir, config, checkpoint, ref_path)
    policy, tokenizer = load_float32(checkpoint, base=base)
    reference_model, _ = load_float32(ref_path, base=base)
    if reference_model.config.vocab_size != policy.config.vocab_size:
        raise ExportError(f"the reference ({ref_path}) has a vocabulary of {reference_model.config.vocab_size} tokens and the policy ({checkpoint}) {policy.config.vocab_size}; pick a reference with the policy's tokenizer")
    token_info = export_tokenizer(tokenizer, out_dir)

    diffs = {}
    for name, model, path in ((policy_file(step), policy, checkpoint), (REFERENCE_FILE, reference_model, ref_path)):
        target = out_dir / name
        log(f"exporting {path} → {target} (opset {opset}, {exporter})")
        export_model(model, target, opset=opset, exporter=exporter)
        diffs[name] = parity(model, target)
        log(f"{name}: max |onnxruntime − torch| logits = {diffs[name]:.3e}")
        if not diffs[name] <= PARITY_TOLERANCE:
            target.unlink()
            raise ExportError(f"{target}: onnxruntime's logits differ from PyTorch's by {diffs[name]:.3e} (> {PARITY_TOLERANCE}); try --exporter {'dynamo' if exporter == 'torchscript' else 'torchscript'} or another --opset")

    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    policies[str(step)] = {"file": policy_file(step), "checkpoint": f"checkpoints/{checkpoint.name}", "max_abs_diff": diffs[policy_file(step)], "created_at": now}
    policies = {k: v for k, v in policies.items() if (out_dir / v["file"]).is_file()}
    pacs = config.get("pacs") or {}
    manifest = {
        "format": MANIFEST_FORMAT,
        "created_at": now,
        "step": step,
        "beta": float(pacs.get("beta", 1.0)),
        "reward_method": pacs.get("reward_method", "logratio"),
        "adv_estimator": pacs.get("adv_estimator", "rloo"),
        "norm_by_std": bool(pacs.get("norm_by_std", True)),
        "reference": {**ref_entry, "file": REFERENCE_FILE, "max_abs_diff": diffs[REFERENCE_FILE]},
        "policies": policies,
        "files": sorted([REFERENCE_FILE, TOKENIZER_FILE, TOKENIZER_CONFIG_FILE, *(v["file"] for v in policies.values())]),
        "opset": opset,
        "exporter": exporter,
        "inputs": ["input_ids", "attention_mask"],
        "outputs": ["logits"],
        "tokenizer": token_info,
        "versions": {"torch": _version("torch"), "transformers": _version("transformers"), "onnxruntime": _version("onnxruntime")},
    }
    runio.write_json_atomic(out_dir / MANIFEST, manifest)
    return manifest


def _version(module: str) -> str | None:
    try:
        return __import__(module).__version__
    except ImportError:
        return None


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pacslab export-onnx", description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="the run directory")
    parser.add_argument("--step", type=int, default=None, help="checkpoint step (default: the newest checkpoint)")
    parser.add_argument("--reference", default="base", help="base (the run's model.path, default) or step:M (the checkpoint of step M)")
    parser.add_argument("--opset", type=int, default=17)
    parser.add_argument("--exporter", choices=EXPORTERS, default="torchscript", help="torchscript (default: exact with any padding) or dynamo")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        manifest = export_run(args.run, step=args.step, reference=args.reference, opset=args.opset, exporter=args.exporter, log=lambda m: print(m, file=sys.stderr))
    except ExportError as err:
        print(f"export-onnx: {err}", file=sys.stderr)
        return 2
    print(json.dumps({"onnx_dir": str(Path(args.run) / ONNX_DIR), "step": manifest["step"], "reference": reference_spec(manifest["reference"]), "max_abs_diff": max(p["max_abs_diff"] for p in (manifest["policies"][str(manifest["step"])], manifest["reference"]))}))
    return 0
