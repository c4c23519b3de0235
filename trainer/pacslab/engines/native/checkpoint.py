"""A native checkpoint: the model, saved in the compute dtype, and the trainer state that resumes the
loop exactly (step, optimizer, every random state, the prompt sampler's position, the control sequence)."""

from __future__ import annotations

import json
import random
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


def trainer_state(t) -> dict:
    """What a checkpoint holds besides the model to resume the loop `t` exactly (trainer_state.pt)."""
    rng = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda"] = torch.cuda.get_rng_state_all()
    state = {
        "format": 1,
        "step": t.step,
        "optimizer": t.optimizer.state_dict(),
        "rng": rng,
        "generator": t.generator.get_state(),
        "sampler": t.sampler.state_dict(),
        "last_control_seq": t.control.last_seq,
        "config": t.cfg.model_dump(mode="json"),
    }
    if t.compute_dtype != torch.float32:  # the export is cast down: keep the float32 masters for resume
        state["master_weights"] = {k: v.detach().cpu() for k, v in t.model.state_dict().items()}
    return state


def load_trainer_state(t, path: Path) -> None:
    """Restores the loop `t` from a checkpoint's trainer_state.pt."""
    state = torch.load(path, map_location="cpu", weights_only=True)  # a run folder is untrusted: no pickled code
    t.step = state["step"]
    if "master_weights" in state:
        t.model.load_state_dict(state["master_weights"])
    t.optimizer.load_state_dict(state["optimizer"])
    random.setstate(state["rng"]["python"])
    torch.set_rng_state(state["rng"]["torch"])
    if "cuda" in state["rng"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["rng"]["cuda"])
    t.generator.set_state(state["generator"])
    t.sampler.load_state_dict(state["sampler"])
    t.control.last_seq = state["last_control_seq"]
