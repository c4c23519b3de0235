"""The trainer at scale on one device: STEPS steps of a random-init Qwen2-0.5B-shape model
(PROMPTS prompts × N samples × NEW new tokens, bf16), then the plain transformers primitives over
the same tokens in the same process: `generate` for the rollout, forward+backward for the update.

The trainer runs on a JSONL task of PROMPT_LEN-character prompts (the character tokenizer: one
token per character): the native engine in-process through pacslab.engines.native.loop.run_training; `--engine
trl` in-process as the engine's worker builds PacsGRPOTrainer; `--engine trl --processes N
[--accelerate-config zero2.yaml]` through `python -m pacslab train` (samples/s only: the phases
of a step are not logged by the processes). A random-init model almost
never samples EOS, so every response is NEW tokens long. Prints one JSON object and writes it to --out,
also after the first half, so a run stopped in the second keeps the first; a half that fails is
recorded as {"error": ...} and the other still runs (the exit status is then 1).
"""

from __future__ import annotations

import argparse
import gc
import json
import random
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(ROOT / "trainer"))

from qwen_shape import parse_bench_args  # noqa: E402


def sync(device):
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_gib(device) -> float | None:
    import torch

    return round(torch.cuda.max_memory_allocated(device) / 2**30, 2) if device.type == "cuda" else None


def reset_peak(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def write_task(work: Path, prompts: int, prompt_len: int) -> Path:
    rng = random.Random(0)
    lines = []
    for i in range(max(prompts * 4, 8)):
        text = ""
        while len(text) < prompt_len - 1:
            text += f"{rng.randint(0, 999)}+{rng.randint(0, 999)}, "
        lines.append(json.dumps({"prompt": text[: prompt_len - 1] + "=", "answer": str(i)}))
    path = work / "task.jsonl"
    path.write_text("\n".join(lines) + "\n")
    return path


def write_config(args, model_dir: Path, task: Path, work: Path) -> Path:
    """The run's config: the native engine, or `engine: trl` in one process or in `--processes` under
    `--accelerate-config` (ZeRO-2), micro-batches of --micro-prompts prompts on every process."""
    engine = ""
    if args.engine == "trl":
        rows, target = args.prompts * args.n, max(1, args.prompts // (args.micro_prompts * args.processes))
        # the most accumulation steps up to the target that split the step's rows evenly (the config check's rule)
        accumulation = max(a for a in range(1, target + 1) if rows % (args.processes * a) == 0 or a == 1)
        engine = f"engine: trl\ntrl: {{gradient_accumulation_steps: {accumulation}}}\n"
        if args.processes > 1:
            accelerate = f", accelerate_config: {args.accelerate_config}" if args.accelerate_config else ""
            engine += f"launch: {{num_processes: {args.processes}{accelerate}}}\n"
    config = work / "qwen.pacs.yaml"
    config.write_text(f"""name: qwen-throughput
{engine}algorithm: pacs
seed: 0
device: {args.device}
total_steps: {args.steps}
eval_every: 0
checkpoint_every: 0
model: {{path: {model_dir}, dtype: {args.dtype}}}
task: {{type: jsonl, train_file: {task}, eval_file: {task}, verifier: exact}}
rollout: {{prompts_per_step: {args.prompts}, n: {args.n}, max_new_tokens: {args.new_tokens}, temperature: 1.0, top_p: 1.0}}
optim: {{lr: 1.0e-6, mini_batch_prompts: {args.prompts}, micro_batch_prompts: {args.micro_prompts}}}
eval: {{size: 1, samples: 1, k: [1], batch_prompts: 1}}
logging: {{log_token_details: false, rollouts_every: 1}}
""")
    return config


def fresh_run_dir(work: Path) -> Path:
    import shutil

    run_dir = work / "run"
    if run_dir.exists():
        shutil.rmtree(run_dir)
    return run_dir


def step_values(run_dir: Path, key: str) -> list[dict]:
    """The values of the run's training-step metrics events that hold `key`."""
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines() if line.strip()]
    return [{**e["values"], "t": e["t"]} for e in events if e.get("type") == "metrics" and key in e.get("values", {})]


def throughput(args, steps: list[dict]) -> dict:
    """Rollout new tokens/s and update tokens/s over the steps after the first (it pays CUDA warm-up)."""
    timed = steps[1:] if len(steps) > 1 else steps
    rows = args.prompts * args.n
    new_tokens = sum(v["response/length_mean"] * rows for v in timed)
    seq_tokens = sum((v["response/length_mean"] + args.prompt_len) * rows for v in timed)
    return {
        "steps_timed": len(timed),
        "rollout_new_tokens_per_s": round(new_tokens / sum(v["perf/rollout_s"] for v in timed), 1),
        "update_tokens_per_s": round(seq_tokens / sum(v["perf/update_s"] for v in timed), 1),
        "samples_per_s": round(rows * len(timed) / sum(v["perf/step_s"] for v in timed), 2),
        "step_s": [round(v["perf/step_s"], 3) for v in steps],
        "rollout_s": [round(v["perf/rollout_s"], 3) for v in steps],
        "update_s": [round(v["perf/update_s"], 3) for v in steps],
        "response_length_mean": [v["response/length_mean"] for v in steps],
    }


def trainer_run(args, model_dir: Path, task: Path, work: Path, device) -> dict:
    """The native engine in-process through pacslab.engines.native.loop.run_training, as `python -m pacslab train` runs it."""
    from pacslab.config import load_config
    from pacslab.engines.native.loop import run_training
    from pacslab.run.lifecycle import prepare_run_dir

    config = write_config(args, model_dir, task, work)
    cfg = load_config(config, [])
    run_dir = prepare_run_dir(cfg, config_path=config, run_dir=fresh_run_dir(work), runs_root=work, resume=False)
    reset_peak(device)
    code = run_training(cfg, run_dir, base_dir=work, log=lambda line: print(line, flush=True))
    if code != 0:
        raise SystemExit(f"the trainer failed; see {run_dir / 'run.json'}")
    return {**throughput(args, step_values(run_dir, "perf/rollout_s")), "peak_memory_gib": peak_gib(device)}


def trl_run(args, model_dir: Path, task: Path, work: Path, device) -> dict:
    """`engine: trl` in one process, in-process: PacsGRPOTrainer and PacsLabCallback as the engine's
    worker builds them. The rollout is TRL's `_generate_and_score_completions` (generation, rewards
    and the PACS labels), the update the rest of the optimizer step."""
    from transformers import TrainerCallback

    from pacslab.config import load_config
    from pacslab.engines.trl.run import add_run_callback, build_trainer

    cfg = load_config(write_config(args, model_dir, task, work), [])
    run_dir = fresh_run_dir(work)
    run_dir.mkdir(parents=True)
    trainer = build_trainer(cfg, run_dir, base_dir=work)
    add_run_callback(trainer, cfg, run_dir)
    steps: list[dict] = []
    generate = trainer._generate_and_score_completions

    def timed_generate(inputs):
        t0 = time.perf_counter()
        output = generate(inputs)
        sync(device)
        steps[-1]["perf/rollout_s"] += time.perf_counter() - t0
        return output

    class Phases(TrainerCallback):
        def on_step_begin(self, *_args, **_kwargs):
            sync(device)
            steps.append({"perf/rollout_s": 0.0, "start": time.perf_counter()})

        def on_step_end(self, *_args, **_kwargs):
            sync(device)
            step = steps[-1]
            step["perf/step_s"] = time.perf_counter() - step.pop("start")
            step["perf/update_s"] = step["perf/step_s"] - step["perf/rollout_s"]

        def on_log(self, _args, _state, _control, logs=None, **_kwargs):
            if logs and "completions/mean_length" in logs and steps:
                steps[-1]["response/length_mean"] = logs["completions/mean_length"]

    trainer._generate_and_score_completions = timed_generate
    trainer.add_callback(Phases())
    reset_peak(device)
    trainer.train()
    return {**throughput(args, steps), "peak_memory_gib": peak_gib(device), "processes": 1}


def launched_run(args, model_dir: Path, task: Path, work: Path, _device) -> dict:
    """`engine: trl` on --processes processes through `python -m pacslab train`, which starts the
    launcher itself (`accelerate launch` with --accelerate-config on GPUs, torchrun on a CPU). A
    step's time is the gap between consecutive steps' metrics events, the whole step on every rank."""
    import os
    import subprocess

    config = write_config(args, model_dir, task, work)
    run_dir = fresh_run_dir(work)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "trainer"), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "pacslab", "train", str(config), "--run-dir", str(run_dir)], env=env)
    if proc.returncode != 0:
        raise SystemExit(f"python -m pacslab train exited {proc.returncode}; see {run_dir / 'run.json'}")
    steps = step_values(run_dir, "reward/mean")
    gaps = [b["t"] - a["t"] for a, b in zip(steps, steps[1:])]
    rows = args.prompts * args.n
    return {"processes": args.processes, "accelerate_config": args.accelerate_config, "steps_timed": len(gaps),
            "samples_per_s": round(rows * len(gaps) / sum(gaps), 2) if gaps else None,
            "step_s": [round(g, 3) for g in gaps], "trl_step_s": [v.get("perf/step_s") for v in steps],
            "response_length_mean": [v.get("response/length_mean") for v in steps]}


def plain_primitives(args, model_dir: Path, task: Path, device) -> dict:
    """transformers generate and forward+backward over the same shapes, no pacslab code."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    dtype = {"bfloat16": torch.bfloat16, "float32": torch.float32, "auto": torch.bfloat16 if device.type == "cuda" else torch.float32}[args.dtype]
    tokenizer = AutoTokenizer.from_pretrained(str(model_dir), local_files_only=True)
    tokenizer.padding_side = "left"
    model = AutoModelForCausalLM.from_pretrained(str(model_dir), local_files_only=True, dtype=dtype).to(device)
    prompts = [json.loads(line)["prompt"] for line in task.read_text().splitlines()[: args.prompts]]
    enc = tokenizer(prompts, return_tensors="pt", padding=True).to(device)
    reset_peak(device)
    model.eval()

    def generate():
        with torch.no_grad():
            return model.generate(**enc, do_sample=True, temperature=1.0, top_p=1.0, top_k=0, num_return_sequences=args.n,
                                  max_new_tokens=args.new_tokens, min_new_tokens=args.new_tokens,
                                  pad_token_id=tokenizer.pad_token_id)

    generate()  # warm-up
    gen_times = []
    for _ in range(args.repeats):
        sync(device)
        t0 = time.perf_counter()
        out = generate()
        sync(device)
        gen_times.append(time.perf_counter() - t0)
    new = (out.shape[1] - enc["input_ids"].shape[1]) * out.shape[0]
    gen_peak = peak_gib(device)

    reset_peak(device)
    model.train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-6)
    ids = out  # [B, P+R]
    micro = args.micro_prompts * args.n

    def update():
        for start in range(0, ids.shape[0], micro):
            chunk = ids[start : start + micro]
            logits = model(input_ids=chunk, use_cache=False).logits[:, :-1].float()  # [b, T-1, V]
            loss = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), chunk[:, 1:].reshape(-1))
            (loss * chunk.shape[0] / ids.shape[0]).backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    update()  # warm-up
    upd_times = []
    for _ in range(args.repeats):
        sync(device)
        t0 = time.perf_counter()
        update()
        sync(device)
        upd_times.append(time.perf_counter() - t0)
    return {
        "generate_new_tokens_per_s": round(new / min(gen_times), 1),
        "forward_backward_tokens_per_s": round(ids.numel() / min(upd_times), 1),
        "generate_s": [round(t, 3) for t in gen_times],
        "forward_backward_s": [round(t, 3) for t in upd_times],
        "sequences": int(ids.shape[0]),
        "tokens_per_sequence": int(ids.shape[1]),
        "generate_peak_memory_gib": gen_peak,
        "forward_backward_peak_memory_gib": peak_gib(device),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--device", default="cuda")
    p.add_argument("--dtype", default="bfloat16")
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--prompts", type=int, default=64)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--new-tokens", type=int, default=256)
    p.add_argument("--prompt-len", type=int, default=128)
    p.add_argument("--micro-prompts", type=int, default=4, help="prompts per forward/backward micro-batch (logits are [b, T, 151936])")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--tiny", action="store_true", help="a tiny Qwen2 shape (for --cpu-smoke)")
    p.add_argument("--engine", default="native", choices=("native", "trl"), help="the config's engine")
    p.add_argument("--processes", type=int, default=1, help="engine trl: processes, started by `python -m pacslab train`")
    p.add_argument("--accelerate-config", help="engine trl on several processes: launch.accelerate_config (e.g. TRL's zero2.yaml)")
    p.add_argument("--skip-plain", action="store_true", help="only the trainer half (the plain baseline measured by another call)")
    args = parse_bench_args(p)
    import torch

    from qwen_shape import build_model_dir

    device = torch.device(args.device)
    args.work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    model_dir, shape, params = build_model_dir(args.work, tiny=args.tiny)
    task = write_task(args.work, args.prompts, args.prompt_len)
    result = {
        "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
        "dtype": args.dtype, "parameters": params, "shape": shape,
        "batch": {"prompts": args.prompts, "n": args.n, "new_tokens": args.new_tokens, "prompt_tokens": args.prompt_len,
                  "micro_batch_prompts": args.micro_prompts},
        "build_s": round(time.perf_counter() - t0, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    failed = False
    result["engine"] = args.engine
    run = launched_run if args.processes > 1 else {"native": trainer_run, "trl": trl_run}[args.engine]
    halves = (("pacslab", lambda: run(args, model_dir, task, args.work, device)),
              ("plain_transformers", lambda: plain_primitives(args, model_dir, task, device)))[: 1 if args.skip_plain else 2]
    for part, fn in halves:
        t1 = time.perf_counter()
        try:
            result[part] = fn()
        except (Exception, SystemExit) as e:  # noqa: BLE001 - recorded, and the other half still runs
            traceback.print_exc()
            result[part] = {"error": f"{type(e).__name__}: {e}"[:2000]}
            failed = True
        result[part]["wall_s"] = round(time.perf_counter() - t1, 1)
        gc.collect()
        if device.type == "cuda":
            torch.cuda.empty_cache()
        args.out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"{part} done in {result[part]['wall_s']} s", flush=True)
    pt, pl = result["pacslab"], result.get("plain_transformers", {"error": "skipped (--skip-plain)"})
    if "error" not in pt and "error" not in pl and "rollout_new_tokens_per_s" in pt:
        result["rollout_vs_generate"] = round(pt["rollout_new_tokens_per_s"] / pl["generate_new_tokens_per_s"], 3)
        result["update_vs_forward_backward"] = round(pt["update_tokens_per_s"] / pl["forward_backward_tokens_per_s"], 3)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
