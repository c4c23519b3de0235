"""The trainer's numerics at the Qwen2-0.5B shape (random init, no download), three sections:

- precision: STEPS PACS steps at lr 1e-6 with model.dtype bfloat16 (fp32 master weights, bf16
  autocast) and with float32; the fraction of weights the run moved, in the bf16 export, in the
  fp32 masters and in the float32 run. A verifier that labels half the responses right keeps the
  groups mixed, so every step has a gradient.
- memory: one forward+backward of the log-probs of ROWS responses of RESPONSE tokens, peak memory
  with the logits formed in chunks (optim.logprob_chunk_tokens) against one chunk holding them all
  (the full fp32 [rows, tokens, vocabulary], as before the chunking).
- rollout: new tokens/s of sampling PROMPTS × N responses of up to NEW tokens where rows stop at
  different lengths (a share of the vocabulary ends a response), with finished rows leaving the
  decode batch, against decoding every row to the cap (as before, when one row reaches it).

Prints one JSON object and writes it to --out after each section; a section that fails is recorded
as {"error": ...} and the next still runs (the exit status is then 1).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(ROOT / "trainer"))

from qwen_shape import parse_bench_args  # noqa: E402
from qwen_throughput import peak_gib, reset_peak, sync, write_task  # noqa: E402

VERIFIER = '''def half(response, answer, prompt):
    """Label 1 for about half the responses: the parity of the response's first character."""
    return bool(response) and ord(response[0]) % 2 == 0
'''


def precision(args, model_dir: Path, device) -> dict:
    import torch
    from safetensors.torch import load_file

    from pacslab.run import files as runio
    from pacslab.config import load_config
    from pacslab.engines.native.loop import run_training
    from pacslab.run.lifecycle import prepare_run_dir

    work = args.work / "precision"
    work.mkdir(parents=True, exist_ok=True)
    (work / "half_verifier.py").write_text(VERIFIER)
    task = write_task(work, args.prompts, 16)
    initial = load_file(model_dir / "model.safetensors")
    out = {"steps": args.steps, "lr": 1e-6}
    for dtype in ("bfloat16", "float32"):
        config = work / f"{dtype}.pacs.yaml"
        config.write_text(f"""name: precision-{dtype}
algorithm: pacs
device: {args.device}
total_steps: {args.steps}
eval_every: 0
checkpoint_every: 0
model: {{path: {model_dir}, dtype: {dtype}}}
task: {{type: jsonl, train_file: {task}, eval_file: {task}, verifier: "python:half_verifier:half"}}
rollout: {{prompts_per_step: 4, n: 4, max_new_tokens: 16}}
optim: {{lr: 1.0e-6, schedule: constant, mini_batch_prompts: 4, micro_batch_prompts: 4}}
eval: {{size: 1, samples: 1, k: [1], batch_prompts: 1}}
logging: {{log_token_details: false, rollouts_every: 0}}
""")
        cfg = load_config(config, [])
        run_dir = prepare_run_dir(cfg, config_path=config, run_dir=work / f"run-{dtype}", runs_root=work, resume=False)
        if run_training(cfg, run_dir, base_dir=work, log=lambda line: print(line, flush=True)) != 0:
            raise SystemExit(f"the trainer failed; see {run_dir / 'run.json'}")
        checkpoint = runio.latest_checkpoint(run_dir)
        exported = load_file(checkpoint / "model.safetensors")
        total = sum(t.numel() for t in exported.values())
        moved = sum(int((exported[k] != initial[k].to(exported[k].dtype)).sum()) for k in exported)
        out[f"{dtype}_export_dtype"] = str(next(iter(exported.values())).dtype)
        out[f"{dtype}_export_moved_frac"] = round(moved / total, 4)
        state = torch.load(checkpoint / runio.TRAINER_STATE, map_location="cpu", weights_only=False)
        if "master_weights" in state:
            masters = state["master_weights"]
            moved = sum(int((masters[k] != initial[k]).sum()) for k in exported)
            out[f"{dtype}_masters_moved_frac"] = round(moved / total, 4)
    return out


def memory(args, model_dir: Path, device) -> dict:
    import torch

    from pacslab.models import load_policy, sequence_logprobs

    model, _ = load_policy(model_dir, device=device, dtype="float32")
    model.train()
    vocab = model.config.vocab_size
    generator = torch.Generator().manual_seed(0)
    ids = torch.randint(0, vocab, (args.rows, args.prompt_len + args.response), generator=generator).to(device)
    attention = torch.ones_like(ids)
    response_mask = torch.ones(args.rows, args.response, dtype=torch.long, device=device)
    out = {"rows": args.rows, "prompt_tokens": args.prompt_len, "response_tokens": args.response, "vocab": vocab}
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.dtype == "bfloat16")
    for name, chunk in (("one_chunk", args.rows * args.response), ("chunked", args.chunk_tokens)):
        reset_peak(device)
        t0 = time.perf_counter()
        try:
            with autocast:
                logp, entropy = sequence_logprobs(model, ids, attention, response_mask, return_entropy=True,
                                                  chunk_tokens=chunk)
            logp.sum().backward()
            sync(device)
            out[name] = {"chunk_tokens": chunk, "peak_gib": peak_gib(device), "s": round(time.perf_counter() - t0, 2)}
        except torch.OutOfMemoryError as e:
            out[name] = {"chunk_tokens": chunk, "error": f"out of memory: {e}"[:300]}
        model.zero_grad(set_to_none=True)
        logp = entropy = None
    return out


def rollout(args, model_dir: Path, device) -> dict:
    import torch

    from pacslab.models import load_policy
    from pacslab.rollout import generate_rollouts

    model, tokenizer = load_policy(model_dir, device=device, dtype="float32")
    vocab = model.config.vocab_size
    # about 1 in `args.stop_every` ids ends a response: lengths spread out up to the cap
    stops = list(range(tokenizer.vocab_size, vocab, args.stop_every))
    prompts = [f"{i}+{i * 7 % 100}=" for i in range(args.prompts)]
    out = {"prompts": args.prompts, "n": args.n, "max_new_tokens": args.new_tokens, "end_ids": len(stops)}
    autocast = torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=args.dtype == "bfloat16")
    real = None
    for name, end_ids in (("rows_leave", stops), ("every_row_to_the_cap", None)):
        model.generation_config.eos_token_id = end_ids
        def generate(tokens: int):
            return generate_rollouts(model, tokenizer, prompts, n=args.n, max_new_tokens=tokens, temperature=1.0,
                                     top_p=1.0, generator=torch.Generator(device).manual_seed(0))

        with autocast:
            generate(8)  # warm-up
            sync(device)
            t0 = time.perf_counter()
            batch = generate(args.new_tokens)
            sync(device)
        seconds = time.perf_counter() - t0
        real = sum(batch.lengths) if real is None else real  # the useful tokens are those of the first decode
        out[name] = {"s": round(seconds, 2), "new_tokens_per_s": round(real / seconds, 1),
                     "length_mean": round(sum(batch.lengths) / len(batch.lengths), 1), "length_max": max(batch.lengths)}
    out["speedup"] = round(out["every_row_to_the_cap"]["s"] / out["rows_leave"]["s"], 2)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--tiny", action="store_true", help="a tiny Qwen2 shape (for --cpu-smoke)")
    p.add_argument("--steps", type=int, default=10, help="precision: PACS steps at lr 1e-6")
    p.add_argument("--rows", type=int, default=4, help="memory: responses in the forward+backward")
    p.add_argument("--response", type=int, default=2048, help="memory: tokens per response")
    p.add_argument("--chunk-tokens", type=int, default=2048, help="memory: optim.logprob_chunk_tokens of the chunked pass")
    p.add_argument("--prompt-len", type=int, default=128)
    p.add_argument("--prompts", type=int, default=16, help="rollout: prompts")
    p.add_argument("--n", type=int, default=8, help="rollout: samples per prompt")
    p.add_argument("--new-tokens", type=int, default=1024, help="rollout: the cap on a response")
    p.add_argument("--stop-every", type=int, default=300, help="rollout: 1 in this many ids ends a response")
    p.add_argument("--sections", default="precision,memory,rollout")
    args = parse_bench_args(p)
    import torch

    from qwen_shape import build_model_dir

    device = torch.device(args.device)
    args.work.mkdir(parents=True, exist_ok=True)
    model_dir, shape, params = build_model_dir(args.work, tiny=args.tiny)
    result = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", "shape": shape,
              "parameters": params, "dtype": args.dtype}
    failed = False
    sections = {"precision": precision, "memory": memory, "rollout": rollout}
    for name in args.sections.split(","):
        t0 = time.perf_counter()
        try:
            result[name] = sections[name](args, model_dir, device)
        except (Exception, SystemExit) as e:  # noqa: BLE001 - recorded, and the next section still runs
            traceback.print_exc()
            result[name] = {"error": f"{type(e).__name__}: {e}"[:2000]}
            failed = True
        result[name]["wall_s"] = round(time.perf_counter() - t0, 1)
        if device.type == "cuda":
            torch.cuda.empty_cache()
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"{name} done in {result[name]['wall_s']} s", flush=True)
    print(json.dumps(result, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
