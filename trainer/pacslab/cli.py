"""`python -m pacslab <command>`: train, eval, status, schema, export-merged, make-demo-model, export-onnx, score.

Exit codes: 0 success (also a stopped or suspended run), 1 a failed run, 2 a config or usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pacslab.config import ConfigError, json_schema, load_config, schema_markdown

EXIT_CONFIG = 2
DEFAULT_RUNS_ROOT = Path(".pacs") / "runs"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    delegated = {"make-demo-model": ("pacslab.demo_model", "main"), "export-onnx": ("pacslab.onnx_export", "main"),
                 "score": ("pacslab.scoring", "main")}
    if argv and argv[0] in delegated:
        import importlib

        module, func = delegated[argv[0]]
        return int(getattr(importlib.import_module(module), func)(argv[1:]) or 0)
    args = _parser(delegated).parse_args(argv)
    return args.handler(args)


def _parser(delegated) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pacslab", description="PACS Lab training engine.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser("train", help="train a *.pacs.yaml config (or --resume a run)")
    train.add_argument("config", nargs="?", type=Path, help="the *.pacs.yaml file (optional with --resume)")
    train.add_argument("--run-dir", type=Path, help="the run directory (made by a launcher); default: a new one under --runs-root")
    train.add_argument("--runs-root", type=Path, default=DEFAULT_RUNS_ROOT, help="where new run directories go (default .pacs/runs)")
    train.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                       help="override a config key, e.g. --set optim.lr=0.001 (repeatable)")
    train.add_argument("--resume", type=Path, metavar="RUN_DIR", help="continue a run from its latest checkpoint")
    train.set_defaults(handler=cmd_train)

    ev = sub.add_parser("eval", help="evaluate a config's model or a run's checkpoint on the held-out split")
    ev.add_argument("target", type=Path, help="a *.pacs.yaml file or a run directory")
    ev.add_argument("--step", type=int, help="the checkpoint step of a run (default: the latest)")
    ev.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    ev.set_defaults(handler=cmd_eval)

    st = sub.add_parser("status", help="list runs; marks those whose process is gone as crashed")
    st.add_argument("runs_root", type=Path, nargs="?", default=DEFAULT_RUNS_ROOT)
    st.add_argument("--json", action="store_true", help="print run.json of every run as a JSON array")
    st.set_defaults(handler=cmd_status)

    mg = sub.add_parser("export-merged", help="write a run's checkpoint as one transformers model (a LoRA adapter merged into its base)")
    mg.add_argument("run_dir", type=Path, help="the run directory")
    mg.add_argument("--step", type=int, help="the checkpoint step (default: the latest)")
    mg.add_argument("--out", type=Path, required=True, help="the folder to write (save_pretrained layout, for transformers or vLLM)")
    mg.set_defaults(handler=cmd_export_merged)

    sc = sub.add_parser("schema", help="print the config's JSON Schema")
    sc.add_argument("--markdown", action="store_true", help="print the config reference (docs/config.md) instead")
    sc.set_defaults(handler=cmd_schema)

    for name, (module, _) in delegated.items():
        sub.add_parser(name, help=f"see `python -m pacslab {name} --help` ({module})", add_help=False)
    return parser


def _config_error(exc: ConfigError, run_dir: Path | None = None) -> int:
    print(f"config error:\n{exc}", file=sys.stderr)
    if run_dir is not None and (run_dir / "run.json").exists():
        from pacslab import runio

        runio.RunInfo(run_dir).update(status="failed", error={"message": f"config error: {exc}", "traceback": None})
    return EXIT_CONFIG


def cmd_train(args) -> int:
    from pacslab import runio

    resume_dir: Path | None = args.resume
    if resume_dir is not None:
        if not (resume_dir / runio.CONFIG).is_file():
            print(f"error: {resume_dir} is not a run directory (no {runio.CONFIG}); pass the folder of a run", file=sys.stderr)
            return EXIT_CONFIG
        config_path = resume_dir / runio.CONFIG
        base_dir = Path(runio.RunInfo(resume_dir).get("config_dir") or resume_dir)
        run_dir: Path | None = resume_dir
    elif args.config is None:
        print("error: give a CONFIG file, or --resume RUN_DIR", file=sys.stderr)
        return EXIT_CONFIG
    else:
        config_path, run_dir = args.config, args.run_dir
        base_dir = config_path.resolve().parent
    try:
        cfg = load_config(config_path, args.overrides)
    except ConfigError as exc:
        return _config_error(exc, run_dir)

    from pacslab.train import prepare_run_dir, run_training

    run_dir = prepare_run_dir(cfg, config_path=None if resume_dir else config_path, run_dir=run_dir,
                              runs_root=args.runs_root, resume=resume_dir is not None)
    print(f"run directory: {run_dir}", flush=True)
    log, on_step, close = _reporter(cfg.total_steps)
    try:
        return run_training(cfg, run_dir, base_dir=base_dir, resume=resume_dir is not None, log=log, on_step=on_step)
    finally:
        close()


def _reporter(total: int):
    """A progress bar on a terminal; one line per step otherwise (a log file, the extension)."""
    if not sys.stdout.isatty():
        def log(text: str) -> None:
            print(text, flush=True)

        return log, lambda _step, line: log(line), lambda: None
    from tqdm import tqdm

    bars: list = []  # made at the first step, so loading and the first evaluation do not skew its rate

    def on_step(step: int, line: str) -> None:
        if not bars:
            bars.append(tqdm(total=total, initial=step - 1, unit="step", dynamic_ncols=True))
        bars[0].set_description_str(line.split("  ", 1)[1] if "  " in line else line, refresh=False)
        bars[0].update(step - bars[0].n)

    return tqdm.write, on_step, lambda: bars and bars[0].close()


def cmd_eval(args) -> int:
    import torch

    from pacslab import runio
    from pacslab.evaluate import encoded, eval_generator, evaluate_sets, load_eval_sets
    from pacslab.models import is_adapter_dir, load_policy, load_tokenizer, resolve_device, resolve_model_path
    from pacslab.tasks import encode_examples
    from pacslab.train import tune_cpu_threads
    from pacslab.verifiers import load_verifier

    target: Path = args.target
    is_run = target.is_dir()
    config_path = target / runio.CONFIG if is_run else target
    base_dir = Path(runio.RunInfo(target).get("config_dir") or target) if is_run else target.resolve().parent
    try:
        cfg = load_config(config_path, args.overrides)
    except ConfigError as exc:
        return _config_error(exc)
    if is_run:
        model_dir = runio.checkpoint_for_step(target, args.step) if args.step is not None else runio.latest_checkpoint(target)
        if model_dir is None:
            which = f"step {args.step}" if args.step is not None else "any step"
            print(f"error: {target} has no checkpoint for {which}; see {target / 'checkpoints'}", file=sys.stderr)
            return EXIT_CONFIG
    base_model = resolve_model_path(cfg.model.path, base_dir=base_dir)
    if not is_run:
        model_dir = base_model
    try:
        tokenizer = load_tokenizer(base_model)
        sets = encoded(load_eval_sets(cfg, base_dir=base_dir),
                       lambda examples: encode_examples(examples, tokenizer, cfg.task, model_dir=base_model))
    except ConfigError as exc:
        return _config_error(exc)
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    if is_adapter_dir(model_dir):
        model, tokenizer = load_policy(base_model, device=device, dtype=cfg.model.dtype, adapter=model_dir)
    else:
        model, tokenizer = load_policy(model_dir, device=device, dtype=cfg.model.dtype)
    tune_cpu_threads(model, device, lambda _: None)
    verifier = load_verifier(cfg.task.verifier, base_dir=str(base_dir))
    step = int(model_dir.name.removeprefix("step-")) if is_run else 0
    values = evaluate_sets(model, tokenizer, sets, verifier, generator=eval_generator(device, cfg.seed, step))
    print(json.dumps({"model": str(model_dir), "step": step, "values": values}, indent=2))
    return 0


def cmd_export_merged(args) -> int:
    from pacslab.models import is_adapter_dir, load_merged
    from pacslab.onnx_export import ExportError, base_model_dir, checkpoint_dir, read_run_config

    if args.out.exists() and any(args.out.iterdir()):
        print(f"error: {args.out} is not empty; name a new folder with --out (nothing is overwritten)", file=sys.stderr)
        return EXIT_CONFIG
    try:
        checkpoint = checkpoint_dir(args.run_dir, args.step)
        base = base_model_dir(args.run_dir, read_run_config(args.run_dir)) if is_adapter_dir(checkpoint) else None
    except ExportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    from transformers import AutoTokenizer

    model = load_merged(checkpoint, base=base)
    model.save_pretrained(args.out)
    AutoTokenizer.from_pretrained(str(checkpoint), local_files_only=True).save_pretrained(args.out)
    print(f"wrote {args.out} from {checkpoint}" + (f" merged into {base}" if base else ""))
    return 0


def cmd_status(args) -> int:
    from pacslab import runio

    runs = runio.list_runs(args.runs_root)
    if args.json:
        print(json.dumps(runs, indent=2))
        return 0
    if not runs:
        print(f"no runs in {args.runs_root}")
        return 0
    print(f"{'RUN':48} {'STATUS':10} {'STEP':>11}  {'ALGORITHM':9}")
    for run in runs:
        step = f"{run.get('step') or 0}/{run.get('total_steps') or '?'}"
        print(f"{str(run.get('id') or Path(run['dir']).name):48} {str(run.get('status')):10} {step:>11}  {run.get('algorithm') or ''}")
    return 0


def cmd_schema(args) -> int:
    print(schema_markdown() if args.markdown else json.dumps(json_schema(), indent=2, ensure_ascii=False), end="" if args.markdown else "\n")
    return 0
