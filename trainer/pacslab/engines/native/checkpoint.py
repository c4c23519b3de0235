"""A native checkpoint's model: saved in the compute dtype."""

from __future__ import annotations

import json
from pathlib import Path

import torch


def export_model(model: torch.nn.Module, out: Path, dtype: torch.dtype) -> None:
    """save_pretrained in `dtype` (the compute dtype): float32 master weights cast on the way out."""
    if all(p.dtype == dtype for p in model.parameters()):
        model.save_pretrained(out)
        return
    state, storages = {}, set()
    for key, value in model.state_dict().items():
        if value.data_ptr() in storages:  # a tied weight (lm_head = embeddings): saved once, as save_pretrained does
            continue
        storages.add(value.data_ptr())
        state[key] = value.detach().to("cpu", dtype)
    model.save_pretrained(out, state_dict=state)
    config_path = Path(out) / "config.json"
    config = json.loads(config_path.read_text())
    name = str(dtype).removeprefix("torch.")
    config.update({key: name for key in ("dtype", "torch_dtype") if key in config} or {"dtype": name})
    config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
