"""Where a model is, without loading it: `builtin:` names, model folders relative to a config, LoRA
adapter checkpoints. No torch: the config checks, the sweep CLI and the launcher of a TRL run use
these and load no model (importing torch costs them 1 to 2 s)."""

from __future__ import annotations

from pathlib import Path

ASSETS_DIR = Path(__file__).parent / "assets"
BUILTIN_PREFIX = "builtin:"


def resolve_model_path(path: str, *, base_dir: Path) -> Path:
    """`builtin:NAME` → the model shipped in pacslab/assets/NAME; else a directory relative to `base_dir`."""
    if path.startswith(BUILTIN_PREFIX):
        name = path[len(BUILTIN_PREFIX) :]
        resolved = ASSETS_DIR / name
        if not name or not (resolved / "config.json").is_file():
            shipped = sorted(p.name for p in ASSETS_DIR.iterdir() if (p / "config.json").is_file()) if ASSETS_DIR.is_dir() else []
            raise ValueError(f"model.path is {path!r}: no such built-in model; use one of {', '.join(BUILTIN_PREFIX + s for s in shipped) or '(none shipped)'} (or run `python -m pacslab make-demo-model`)")
        return resolved
    resolved = Path(path).expanduser()
    if not resolved.is_absolute():
        resolved = Path(base_dir) / resolved
    if not resolved.is_dir():
        raise ValueError(f"model.path is {path!r}: directory not found: {resolved}; set model.path to a local Hugging Face model directory (relative to the config file) or builtin:arith-tiny")
    if not (resolved / "config.json").is_file():
        raise ValueError(f"model.path is {path!r}: {resolved} holds no config.json; point model.path at a directory written by save_pretrained")
    return resolved


ADAPTER_CONFIG = "adapter_config.json"


def is_adapter_dir(path) -> bool:
    """Whether `path` holds a LoRA adapter (a checkpoint of a model.lora run) rather than a whole model."""
    return (Path(path) / ADAPTER_CONFIG).is_file()
