"""`python -m pacslab <command>`: train, eval, status, import, verify, verify-cases, schema, export-merged,
make-demo-model, export-onnx, score, sweep.

Exit codes: 0 success (also a stopped or suspended run), 1 a failed run, 2 a config or usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from pathlib import Path

from pacslab.config import ConfigError, json_schema, load_config, schema_markdown
from pacslab.run.lifecycle import EXIT_CONFIG, base_dir_of, end_run

DEFAULT_RUNS_ROOT = Path(".pacs") / "runs"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    delegated = {"make-demo-model": ("pacslab.demo_model", "main"), "export-onnx": ("pacslab.onnx_export", "main"),
                 "score": ("pacslab.scoring", "main"), "verify-cases": ("pacslab.verifier_cases", "main"),
                 "sweep": ("pacslab.sweep.cli", "main"), "rollouts": ("pacslab.run.records", "main")}
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
    train.add_argument("--here", action="store_true",
                       help="train in this process whatever launch.backend says (the command a Slurm job runs)")
    train.add_argument("--new-run-id", action="store_true",
                       help="when --run-dir already holds a run, start a new run in a new folder beside it instead of refusing")
    train.add_argument("--skip-verifier-cases", action="store_true",
                       help="launch even if the verifier misses a case of task.verifier_cases")
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

    im = sub.add_parser("import", help="import TensorBoard logs, a TRL output directory or a verl rollout dump as runs")
    im.add_argument("path", type=Path, help="a TensorBoard log directory, a TRL output_dir or a verl rollout_data_dir")
    im.add_argument("--runs-root", type=Path, default=DEFAULT_RUNS_ROOT, help="where the new run directories go (default .pacs/runs)")
    im.add_argument("--name", help="the name part of the run id (default: the source folder's name)")
    im.add_argument("--json", action="store_true", help="print the new run directories as a JSON array")
    im.set_defaults(handler=cmd_import)

    mg = sub.add_parser("export-merged", help="write a run's checkpoint as one transformers model (a LoRA adapter merged into its base)")
    mg.add_argument("run_dir", type=Path, help="the run directory")
    mg.add_argument("--step", type=int, help="the checkpoint step (default: the latest)")
    mg.add_argument("--out", type=Path, required=True, help="the folder to write (save_pretrained layout, for transformers or vLLM)")
    mg.set_defaults(handler=cmd_export_merged)

    sc = sub.add_parser("schema", help="print the config's JSON Schema")
    sc.add_argument("--markdown", action="store_true", help="print the config reference (docs/config.md) instead")
    sc.set_defaults(handler=cmd_schema)

    from pacslab import reverify

    reverify.add_parser(sub)
    for name, (module, _) in delegated.items():
        sub.add_parser(name, help=f"see `python -m pacslab {name} --help` ({module})", add_help=False)
    return parser


def _config_error(exc: ConfigError | ValueError, run_dir: Path | None = None, *, kind: str = "config") -> int:
    """Prints a problem found before training; a launcher's placeholder run (status `starting`,
    never trained) is marked failed with it, and a run that has trained is left as it is."""
    print(f"{kind} error:\n{exc}", file=sys.stderr)
    if run_dir is not None:
        from pacslab.run import files as runio

        info = runio.RunInfo(run_dir)
        if info.get("status") == "starting" and not runio.holds_run(run_dir):
            end_run(info, "failed", error=f"{kind} error: {exc}")
    return EXIT_CONFIG


def _usage_error(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return EXIT_CONFIG


def cmd_train(args) -> int:
    from pacslab.run import files as runio

    resume = args.resume is not None
    if resume:
        run_dir: Path | None = args.resume
        config_path = run_dir / runio.CONFIG
        if not runio.is_regular_file(config_path):
            return _usage_error(f"{run_dir} is not a run directory (no {runio.CONFIG} file); pass the folder of a run")
    elif args.config is None:
        return _usage_error("give a CONFIG file, or --resume RUN_DIR")
    else:
        config_path, run_dir = args.config, args.run_dir
    runs_root = args.runs_root
    if args.here and run_dir is not None:
        joined = _join_machine_0(args, config_path, run_dir)
        if joined is not None:
            return joined
    # a Slurm job (`--here`) trains the folder its submitter prepared: refused only once something trained in it
    prepared = bool(args.here and run_dir) and not runio.has_trained(run_dir)
    if run_dir is not None and not resume and runio.holds_run(run_dir) and not prepared:
        if not args.new_run_id:
            return _usage_error(f"{run_dir} already holds a run ({', '.join(runio.holds_run(run_dir))}); continue it with "
                                f"--resume {run_dir}, or add --new-run-id to start a new run in a new folder beside it")
        run_dir, runs_root = None, run_dir.parent
    if run_dir is not None:
        run_dir.mkdir(parents=True, exist_ok=True)
    try:
        with runio.RunLock(run_dir) if run_dir is not None else nullcontext() as lock:
            return _train_locked(args, run_dir, config_path, runs_root, lock)
    except (runio.RunInUse, runio.UnsafeRunPath) as exc:
        return _usage_error(str(exc))


def _join_machine_0(args, config_path: Path, run_dir: Path) -> int | None:
    """On machine 1, 2, ... of a Slurm job of engine: trl, starts this machine's processes, which join
    machine 0's rendezvous (machine 0 alone prepares and writes the run directory, holding its lock);
    returns their exit code, or None on machine 0 and for the native engine."""
    import subprocess

    resume = args.resume is not None
    base_dir = base_dir_of(run_dir) if resume else config_path.resolve().parent
    try:
        cfg = load_config(config_path, args.overrides, base_dir=base_dir)
    except ConfigError:
        return None  # reported as on machine 0
    if cfg.engine != "trl" or cfg.launch.machine_rank == 0:
        return None
    from pacslab.engines.trl.launch import launcher_command, launcher_env, uses_cuda

    cuda = uses_cuda(cfg)
    command = launcher_command(cfg, run_dir.resolve(), base_dir=base_dir, resume=resume, cuda=cuda)
    print(f"machine {cfg.launch.machine_rank} of {cfg.launch.num_machines}: {' '.join(command)}", flush=True)
    return subprocess.run(command, env=launcher_env(cuda)).returncode


def _train_locked(args, run_dir: Path | None, config_path: Path, runs_root: Path, lock) -> int:
    """Trains holding the run's lock (taken here for a run folder made now)."""
    from pacslab.run import files as runio

    resume = args.resume is not None
    base_dir = base_dir_of(run_dir) if resume else config_path.resolve().parent
    try:
        cfg = load_config(config_path, args.overrides, base_dir=base_dir)
    except ConfigError as exc:
        return _config_error(exc, run_dir)
    if not resume and not args.skip_verifier_cases:
        from pacslab.verifier_cases import check_cases

        try:
            check_cases(cfg, base_dir)  # before any engine or backend: a wrong verifier never trains
        except ConfigError as exc:
            return _config_error(exc, run_dir)

    from pacslab.engines import InputError, get
    from pacslab.run.lifecycle import prepare_run_dir

    def prepared() -> Path:
        return prepare_run_dir(cfg, config_path=None if resume else config_path, run_dir=run_dir,
                               runs_root=runs_root, resume=resume, base_dir=base_dir)

    if cfg.launch.backend == "slurm" and not args.here:
        from pacslab.launchers.slurm import submit_from_cli

        run_dir = prepared()
        with runio.RunLock(run_dir) if lock is None else nullcontext():
            print(f"run directory: {run_dir}", flush=True)
            return submit_from_cli(cfg, run_dir, config_path=config_path, overrides=args.overrides, resume=resume)
    engine = get(cfg.engine)
    try:
        inputs = engine.call("inputs", cfg, base_dir)
    except ConfigError as exc:  # the data does not fit the config
        return _config_error(exc if exc.file is not None else ConfigError(config_path, exc.issues), run_dir)
    except InputError as exc:
        return _config_error(exc, run_dir, kind="input")
    with inputs:
        run_dir = prepared()
        with runio.RunLock(run_dir) if lock is None else nullcontext():
            print(f"run directory: {run_dir}", flush=True)
            log, on_step, close = _reporter(cfg.total_steps)
            try:
                return engine.call("launch", cfg, run_dir, base_dir=base_dir, resume=resume, log=log, on_step=on_step,
                                   inputs=inputs)
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

    from pacslab.run import files as runio
    from pacslab.evaluate import encoded, eval_generator, evaluate_sets, load_eval_sets, one_generator
    from pacslab.models import is_adapter_dir, load_policy, load_tokenizer, resolve_device, resolve_model_path
    from pacslab.tasks import encode_examples
    from pacslab.engines.native.cpu import step_work, tune_cpu_threads
    from pacslab.verifiers import VerifierRunner

    target: Path = args.target
    is_run = target.is_dir()
    config_path = target / runio.CONFIG if is_run else target
    if is_run and not runio.is_regular_file(config_path):
        return _usage_error(f"{target} is not a run directory (no {runio.CONFIG} file); pass the folder of a run")
    base_dir = base_dir_of(target) if is_run else target.resolve().parent
    try:
        cfg = load_config(config_path, args.overrides, base_dir=base_dir)
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
    try:
        verifier = VerifierRunner(cfg.task.verifier, base_dir=str(base_dir), timeout_s=cfg.task.verifier_timeout_s,
                                  workers=cfg.task.verifier_workers)
    except ValueError as exc:
        return _config_error(exc, kind="input")
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    if is_adapter_dir(model_dir):
        model, tokenizer = load_policy(base_model, device=device, dtype=cfg.model.dtype, adapter=model_dir)
    else:
        model, tokenizer = load_policy(model_dir, device=device, dtype=cfg.model.dtype)
    tune_cpu_threads(model, device, lambda _: None, step_work(model, cfg))
    step = int(model_dir.name.removeprefix("step-")) if is_run else 0
    with verifier:
        values = evaluate_sets(model, tokenizer, sets, verifier, generators=one_generator(eval_generator(device, cfg.seed, step)))
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
    from pacslab.run import files as runio
    from pacslab.run.safe_json import print_listing, terminal_text as safe

    def row(run: dict) -> None:
        step = f"{run.get('step') or 0}/{run.get('total_steps') or '?'}"
        print(f"{safe(run.get('id') or Path(run['dir']).name):48} {safe(run.get('status')):10} {safe(step):>11}  {safe(run.get('algorithm') or '')}")
        if run.get("status") == "unreadable":
            print(f"warning: {safe(run['error']['message'])}", file=sys.stderr)

    return print_listing(runio.list_runs(args.runs_root), as_json=args.json, empty=f"no runs in {safe(args.runs_root)}",
                         header=f"{'RUN':48} {'STATUS':10} {'STEP':>11}  {'ALGORITHM':9}", row=row)


def cmd_import(args) -> int:
    from pacslab.importers import ImportError_, import_path

    try:
        made = import_path(args.path, args.runs_root, name=args.name)
    except ImportError_ as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:  # the run folder was removed whole (write_run); say what failed, without a traceback
        print(f"error: importing {args.path} failed: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps([str(d) for d in made]))
    else:
        for run_dir in made:
            print(f"imported {run_dir}")
    return 0


def cmd_schema(args) -> int:
    print(schema_markdown() if args.markdown else json.dumps(json_schema(), indent=2, ensure_ascii=False), end="" if args.markdown else "\n")
    return 0
