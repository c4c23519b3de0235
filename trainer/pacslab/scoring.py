"""`score`: the implicit critic's reward for any response, from the models `export-onnx` wrote.

r̂ = β · Σ_t (log π_step(o_t | q, o_<t) − log π_ref(o_t | q, o_<t)) over the response tokens (the
EOS token included unless --no-eos), with π_ref the manifest's reference (the run's base model by
default). That is the trainer's `logratio` reward with the reference in place of π_old: the logged
`logratio` of a sample is measured against the policy at the start of its step, so for a sample's
ψ against its group every member is re-scored here with the same two models.

The default backend runs onnxruntime, as the editor does; `--backend torch` runs the checkpoints in
PyTorch for a parity check. Both tokenize with the exported tokenizer.json and take log-softmax in
float64, so they differ only in the logits.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pacslab import onnx_export
from pacslab.algorithms import ADV_ESTIMATORS
from pacslab.run import files as runio
from pacslab.run import safe_json

BACKENDS = ("onnx", "torch")
# Characters that may encode to nothing without being unknown (a whitespace pre-tokenizer drops them).
WHITESPACE = frozenset(" \t\n\r\f\v")


class ScoreError(Exception):
    """A problem the user can fix; the message says what, where and how."""


# ---------------------------------------------------------------- pure maths


def token_logprobs(logits: np.ndarray, targets: list[int], start: int) -> np.ndarray:
    """log-softmax(logits[start + k − 1])[targets[k]] for each k, in float64. logits: [T, V]."""
    rows = logits[start - 1 : start - 1 + len(targets)].astype(np.float64)  # [R, V]
    peak = rows.max(axis=-1, keepdims=True)
    log_norm = peak[:, 0] + np.log(np.exp(rows - peak).sum(axis=-1))  # [R]
    return rows[np.arange(len(targets)), targets] - log_norm  # [R]


def group_psi(rewards: list[float], i: int, *, estimator: str, norm_by_std: bool) -> float:
    """ψ_i of member i of a group from every member's r̂, as the PACS loss computes it."""
    n = len(rewards)
    if estimator == "naive":
        return rewards[i]
    if n < 2:
        raise ScoreError(f"the group has {n} sample(s); ψ with adv_estimator {estimator} needs at least 2")
    if estimator == "rloo":
        return rewards[i] - (sum(rewards) - rewards[i]) / (n - 1)
    if estimator == "grpo":
        mean = sum(rewards) / n
        if not norm_by_std:
            return rewards[i] - mean
        std = math.sqrt(sum((r - mean) ** 2 for r in rewards) / (n - 1))
        return (rewards[i] - mean) / (std + 1e-6)
    raise ScoreError(f"adv_estimator {estimator!r} is not known; use one of {', '.join(ADV_ESTIMATORS)}")


def sigmoid(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x)) if x >= 0 else math.exp(x) / (1.0 + math.exp(x))


# ---------------------------------------------------------------- models


def export_file(onnx_dir: Path, name, key: str) -> Path:
    """`onnx_dir/name` for a file the manifest names under `key`: a plain file name of a regular
    file in the export folder (no path, no link), else ScoreError."""
    plain = isinstance(name, str) and name not in ("", ".", "..") and Path(name).name == name
    if not plain or not runio.is_regular_file(onnx_dir / name):
        raise ScoreError(f"{onnx_dir / onnx_export.MANIFEST}: {key} is {name!r}, not a regular file in {onnx_dir}; export the run again")
    return onnx_dir / name


def check_external_data(model_path: Path) -> None:
    """ScoreError unless every external-data file the model names is a regular file with one name
    beside it: onnxruntime follows a `location` itself (`../../secret`, a link), which would have
    a crafted export read weights from outside the run."""
    import onnx
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    try:
        model = onnx.load_model_from_string(runio.read_run_file(model_path))
    except (OSError, ValueError) as exc:
        raise ScoreError(f"{model_path}: {exc}; export the run again") from None
    for tensor in _get_all_tensors(model):
        if not uses_external_data(tensor):
            continue
        location = next((e.value for e in tensor.external_data if e.key == "location"), "")
        path = model_path.parent / location
        plain = location and Path(location).name == location and location not in (".", "..")
        if not plain or not runio.is_regular_file(path) or path.lstat().st_nlink != 1:
            raise ScoreError(f"{model_path}: tensor {tensor.name!r} keeps its weights in {location!r}, which is not a regular file "
                             f"beside the model (a link, a hard link, or a path leading elsewhere); export the run again")


class OnnxModels:
    def __init__(self, onnx_dir: Path, policy_file: str, reference_file: str):
        import onnxruntime as ort

        for file in (policy_file, reference_file):
            check_external_data(export_file(onnx_dir, file, "a model file"))
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.sessions = {name: ort.InferenceSession(str(onnx_dir / file), options, providers=["CPUExecutionProvider"]) for name, file in (("policy", policy_file), ("reference", reference_file))}

    def logits(self, which: str, ids: list[int]) -> np.ndarray:
        array = np.array([ids], dtype=np.int64)  # [1, T]
        return self.sessions[which].run(["logits"], {"input_ids": array, "attention_mask": np.ones_like(array)})[0][0]  # [T, V]


class TorchModels:
    def __init__(self, policy_dir: Path, reference_dir: Path, base: Path | None = None):
        """`base`: the run's model, into which a LoRA checkpoint's adapter is merged."""
        self.models = {name: onnx_export.logits_only(onnx_export.load_float32(path, base=base)[0]) for name, path in (("policy", policy_dir), ("reference", reference_dir))}

    def logits(self, which: str, ids: list[int]) -> np.ndarray:
        import torch

        array = torch.tensor([ids], dtype=torch.long)  # [1, T]
        with torch.no_grad():
            return self.models[which](array, torch.ones_like(array))[0].numpy()  # [T, V]


# ---------------------------------------------------------------- tokenizer


@dataclass
class Encoded:
    prompt_ids: list[int]
    response_ids: list[int]
    unknown_chars: list[str]


class ScoringTokenizer:
    """The exported tokenizer.json, used exactly as the trainer's tokenizer: the prompt with the
    tokenizer's special tokens (as `tokenizer(prompt)`), the response without, then EOS."""

    def __init__(self, onnx_dir: Path, info: dict):
        from tokenizers import Tokenizer

        path = export_file(onnx_dir, info.get("file"), "tokenizer.file")
        try:  # read without following a link, capped and depth-checked (a run folder is untrusted)
            text = runio.read_run_file(path, max_bytes=safe_json.MAX_TOKENIZER_BYTES).decode("utf-8")
            safe_json.loads(text)
        except (OSError, ValueError) as exc:
            raise ScoreError(f"{path}: {exc}; export the run again") from None
        self.tokenizer = Tokenizer.from_str(text)
        self.info = info

    def encode(self, prompt: str, response: str, *, eos: bool) -> Encoded:
        unknown = self.unknown_chars(prompt + response)
        if unknown and self.info.get("unk_token_id") is None:
            listed = ", ".join(json.dumps(c, ensure_ascii=False) + f" (U+{ord(c):04X})" for c in unknown)
            raise ScoreError(f"characters outside the tokenizer's vocabulary, which has no unknown token: {listed}; remove or replace them")
        prompt_ids = self.encode_prompt(prompt)
        response_ids = self.tokenizer.encode(response, add_special_tokens=False).ids + ([self.info["eos_token_id"]] if eos else [])
        if not response_ids:
            raise ScoreError("the response encodes to no tokens and --no-eos drops the EOS: nothing to score; give a response or leave out --no-eos")
        return Encoded(prompt_ids, response_ids, unknown)

    def encode_prompt(self, prompt: str) -> list[int]:
        ids = self.tokenizer.encode(prompt, add_special_tokens=bool(self.info.get("prompt_add_special_tokens", True))).ids
        if not ids:
            raise ScoreError("the prompt encodes to no tokens: the first response token needs a prompt token to be predicted from; give a non-empty prompt")
        return ids

    def unknown_chars(self, text: str) -> list[str]:
        """Characters that encode, alone, to the unknown token, or to nothing (whitespace aside)."""
        unk = self.info.get("unk_token_id")
        out = []
        for char in dict.fromkeys(text):
            try:
                ids = self.tokenizer.encode(char, add_special_tokens=False).ids
            except Exception:  # noqa: BLE001 - a WordLevel model without an unknown token raises
                ids = []
            if (unk is not None and unk in ids) or (not ids and char not in WHITESPACE):
                out.append(char)
        return out

    def logged_ids(self, tokens) -> list[int] | None:
        """Ids of a rollout record's `tokens` (one string per sampled token), or None when any of
        them is not a vocabulary entry (a byte-level tokenizer's decoded pieces are not)."""
        if not isinstance(tokens, list) or not tokens or not all(isinstance(t, str) for t in tokens):
            return None
        ids = [self.tokenizer.token_to_id(t) for t in tokens]
        return None if any(i is None for i in ids) else ids

    def token_text(self, token_id: int) -> str:
        return self.tokenizer.decode([token_id], skip_special_tokens=False)


# ---------------------------------------------------------------- scorer


class Scorer:
    """Scores (prompt, response) pairs against the ONNX export of a run (or its checkpoints)."""

    def __init__(self, run_dir: Path, *, step: int | None = None, backend: str = "onnx"):
        self.run_dir = Path(run_dir)
        onnx_dir = self.run_dir / onnx_export.ONNX_DIR
        manifest = onnx_export.read_manifest(self.run_dir)
        if manifest is None:
            raise ScoreError(f"{onnx_dir / onnx_export.MANIFEST}: missing or of another format; run `python -m pacslab export-onnx --run {self.run_dir}` first")
        self.manifest = manifest
        self.step = manifest["step"] if step is None else step
        policy = manifest["policies"].get(str(self.step))
        if policy is None:
            exported = ", ".join(sorted(manifest["policies"], key=int)) or "none"
            raise ScoreError(f"{onnx_dir}: step {self.step} is not exported (exported steps: {exported}); run `python -m pacslab export-onnx --run {self.run_dir} --step {self.step} --reference {onnx_export.reference_spec(manifest['reference'])}`")
        self.tokenizer = ScoringTokenizer(onnx_dir, manifest["tokenizer"])
        if backend == "onnx":
            self.models = OnnxModels(onnx_dir, policy["file"], manifest["reference"]["file"])
        elif backend == "torch":
            config = onnx_export.read_run_config(self.run_dir)
            ref_dir, _ = onnx_export.reference_dir(self.run_dir, config, onnx_export.reference_spec(manifest["reference"]))
            policy_dir = onnx_export.checkpoint_dir(self.run_dir, self.step)
            self.models = TorchModels(policy_dir, ref_dir, onnx_export.adapter_base(self.run_dir, config, policy_dir, ref_dir))
        else:
            raise ScoreError(f"--backend is {backend!r}: use {' or '.join(BACKENDS)}")

    @property
    def beta(self) -> float:
        return float(self.manifest["beta"])

    def score(self, prompt: str, response: str, *, eos: bool = True) -> dict:
        return self.score_encoded(self.tokenizer.encode(prompt, response, eos=eos), eos=eos)

    def score_logged(self, record: dict) -> dict:
        """A logged sample as it was sampled: its logged tokens when they all name vocabulary
        entries (special tokens inside the response survive), else its text re-tokenized."""
        ids = self.tokenizer.logged_ids(record.get("tokens"))
        eos = not record.get("truncated", False)
        if ids is None:
            return self.score(record["prompt"], record["response"], eos=eos)
        return self.score_encoded(Encoded(self.tokenizer.encode_prompt(record["prompt"]), ids, []), eos=ids[-1] == self.tokenizer.info["eos_token_id"])

    def score_encoded(self, encoded: Encoded, *, eos: bool) -> dict:
        ids = encoded.prompt_ids + encoded.response_ids
        start = len(encoded.prompt_ids)
        logp = token_logprobs(self.models.logits("policy", ids), encoded.response_ids, start)  # [R]
        ref_logp = token_logprobs(self.models.logits("reference", ids), encoded.response_ids, start)  # [R]
        contributions = self.beta * (logp - ref_logp)  # [R]
        logratio = float(contributions.sum())
        reward_hat = logratio if self.manifest["reward_method"] == "logratio" else self.beta * float(logp.mean())
        return {
            "run": str(self.run_dir),
            "step": self.step,
            "reference": onnx_export.reference_spec(self.manifest["reference"]),
            "beta": self.beta,
            "reward_method": self.manifest["reward_method"],
            "eos": eos,
            "logratio": logratio,
            "reward_hat": reward_hat,
            "tokens": [self.tokenizer.token_text(t) for t in encoded.response_ids],
            "token_ids": encoded.response_ids,
            "token_logratio": contributions.tolist(),
            "token_logp": logp.tolist(),
            "token_ref_logp": ref_logp.tolist(),
            "unknown_chars": encoded.unknown_chars,
        }

    def score_in_group(self, sample: tuple[int, int, int], *, prompt: str | None, response: str | None, eos: bool | None) -> dict:
        """Scores one logged sample (or its edit) and gives its ψ and σ(ψ) against the rest of
        its group, every member re-scored with the same models."""
        members = read_group(self.run_dir, *sample)
        step, group, index = sample
        position = next(k for k, m in enumerate(members) if m.get("index") == index)
        logged = members[position]
        prompt = logged["prompt"] if prompt is None else prompt
        edited = (response is not None and response != logged["response"]) or prompt != logged["prompt"]
        response = logged["response"] if response is None else response
        eos = (not logged.get("truncated", False)) if eos is None else eos
        result = self.score_logged(logged) if not edited and eos == (not logged.get("truncated", False)) else self.score(prompt, response, eos=eos)
        rewards = [result["reward_hat"] if k == position else self.score_logged(m)["reward_hat"] for k, m in enumerate(members)]
        psi = group_psi(rewards, position, estimator=self.manifest["adv_estimator"], norm_by_std=self.manifest["norm_by_std"])
        return {
            **result,
            "sample": {"step": step, "group": group, "index": index},
            "edited": edited,
            "label": None if edited else logged.get("reward"),
            "adv_estimator": self.manifest["adv_estimator"],
            "psi": psi,
            "p_correct": sigmoid(psi),
            "group": [{"index": m.get("index"), "reward": m.get("reward"), "reward_hat": r, "logged_logratio": m.get("logratio")} for m, r in zip(members, rewards)],
        }


def read_group(run_dir: Path, step: int, group: int, index: int) -> list[dict]:
    """The logged samples of (step, group), by index; the sample `index` must be among them."""
    from pacslab.run import records as rollout_records

    path = rollout_records.step_file(run_dir, step) or Path(run_dir) / rollout_records.file_name(step)
    try:
        records, _ = rollout_records.read_file(path)
    except FileNotFoundError:
        records = []
    except rollout_records.RecordsError as exc:
        raise ScoreError(str(exc)) from None
    if not records:
        raise ScoreError(f"{path}: no rollout records; pick a step whose rollouts were logged (logging.rollouts_every)")
    members = sorted((r for r in records if r.get("group") == group), key=lambda r: r.get("index", 0))
    if not any(m.get("index") == index for m in members):
        raise ScoreError(f"{path}: no sample with group {group} and index {index}; groups in the file: {sorted({r.get('group') for r in records})}")
    for m in members:
        if not isinstance(m.get("prompt"), str) or not isinstance(m.get("response"), str):
            raise ScoreError(f"{path}: sample group {group} index {m.get('index')} has no prompt or response text")
    return members


def parse_sample(text: str) -> tuple[int, int, int]:
    parts = text.split(":")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ScoreError(f"--sample is {text!r}: use STEP:GROUP:INDEX, e.g. 12:3:5")
    return int(parts[0]), int(parts[1]), int(parts[2])


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="pacslab score", description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, required=True, help="the run directory (its onnx/ folder is written by export-onnx)")
    parser.add_argument("--step", type=int, default=None, help="exported checkpoint step (default: the newest export)")
    parser.add_argument("--prompt", default=None, help="the prompt as the model saw it (template applied); default with --sample: the logged prompt")
    parser.add_argument("--response", default=None, help="the response text; default with --sample: the logged response")
    parser.add_argument("--sample", default=None, help="STEP:GROUP:INDEX of a logged sample: also give ψ and σ(ψ) against its group")
    parser.add_argument("--no-eos", action="store_true", help="score the response without a closing EOS token (as a truncated sample)")
    parser.add_argument("--backend", choices=BACKENDS, default="onnx", help="onnx (default, as the editor) or torch (the checkpoints, for a parity check)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        scorer = Scorer(args.run, step=args.step, backend=args.backend)
        if args.sample is not None:
            eos = False if args.no_eos else (True if args.response is not None else None)
            result = scorer.score_in_group(parse_sample(args.sample), prompt=args.prompt, response=args.response, eos=eos)
        elif args.prompt is None or args.response is None:
            raise ScoreError("give --prompt and --response (or --sample STEP:GROUP:INDEX to score a logged sample)")
        else:
            result = scorer.score(args.prompt, args.response, eos=not args.no_eos)
    except (ScoreError, onnx_export.ExportError) as err:
        print(f"score: {err}", file=sys.stderr)
        return 2
    print(json.dumps(result, ensure_ascii=False))
    return 0
