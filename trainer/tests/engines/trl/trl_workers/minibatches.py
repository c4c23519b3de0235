"""Worker of test_trl_minibatches.py, started by torchrun on 2 CPU processes (gloo): several
optimizer steps per rollout batch on the real PacsGRPOTrainer, each rank writing OUT/rank-R.json.

For each layout, one rollout batch and its optimizer steps (mini-batches × epochs). Before each
optimizer step the DDP-averaged gradient is compared with the native engine's loss (the `pacs`
entry of pacslab.algorithms, as engine: native calls it on a mini-batch of whole groups) on the
same rows, labels and weights at the same θ, with the same old log-probs; and with the gradient
that c taken at θ_old would give (stale), which must differ once θ has moved.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
import torch.distributed as dist
from datasets import Dataset
from transformers import TrainerCallback
from trl import GRPOConfig

from pacslab.algorithms import LossInput, get
from pacslab.config.schema import Config
from pacslab.demo_model import build_model, build_tokenizer
from pacslab.engines.trl.loss import coupled_loss, labels_gradient
from exactness import RecordingTrainer  # noqa: E402 (beside this script)

# name: rollout.n, prompts a step, mini-batches, epochs, accumulation, reward_method
LAYOUTS = {
    # 3 mini-batches of 2 prompts: each rank holds one group of a mini-batch, split over its 2 micro-batches
    "split_micro": (4, 6, 3, 1, 2, "logratio"),
    # 1 mini-batch of 3 prompts, 3 epochs: groups split across the ranks and their micro-batches
    "split_ranks": (4, 3, 1, 3, 2, "logratio"),
    "split_ranks_mean_logp": (4, 3, 1, 3, 2, "mean_logp"),
    # 3 mini-batches, one whole group per micro-batch: pacs_loss itself
    "whole": (2, 6, 3, 1, 1, "logratio"),
}


def _padded(parts: list[torch.Tensor]) -> torch.Tensor:
    width = max(x.shape[1] for x in parts)
    return torch.cat([torch.nn.functional.pad(x, (0, width - x.shape[1])) for x in parts])


class NativeCheck(TrainerCallback):
    """Before each optimizer step: the relative error of the DDP-averaged gradient against the native
    engine's `pacs` loss on the mini-batch's rows (gathered from both ranks) at the current θ."""

    def __init__(self, trainer, cfg: Config):
        self.trainer, self.cfg = trainer, cfg
        self.steps: list[dict] = []

    def on_pre_optimizer_step(self, args, state, control, **kwargs):
        t = self.trainer
        parts = [None] * dist.get_world_size()
        dist.all_gather_object(parts, t.micro_batches)
        t.micro_batches = []
        model = t.accelerator.unwrap_model(t.model_wrapped)
        params = [p for p in model.parameters() if p.requires_grad]
        rows = [mb for part in parts for mb in part]
        logps = []
        for mb in rows:
            ids = torch.cat([mb["prompt_ids"], mb["completion_ids"]], dim=1)
            attention = torch.cat([mb["prompt_mask"], mb["completion_mask"]], dim=1)
            logps.append(t._get_per_token_logps_and_entropies(model, ids, attention, mb["completion_ids"].size(1))[0])
        logp, mask = _padded(logps), _padded([mb["completion_mask"].float() for mb in rows])  # [B, T]
        old = _padded([mb["old_per_token_logps"] for mb in rows])  # [B, T]
        labels, group_ids = torch.cat([mb["pacs_labels"] for mb in rows]), torch.cat([mb["pacs_group_ids"] for mb in rows])
        order = torch.argsort(group_ids, stable=True)  # [B]: the native engine's mini-batch of whole groups
        loss, metrics = get("pacs").loss(self.cfg, LossInput(logp[order], old[order], mask[order], labels[order],
                                                             group_ids[order], None, None, t.num_generations))
        want = torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, params, retain_graph=True)])
        got = torch.cat([p.grad.reshape(-1) for p in params])
        c_old, _ = labels_gradient(labels[order], group_ids[order], rollout_n=t.num_generations, **t.pacs_options)
        stale = torch.autograd.grad(coupled_loss(logp[order], old[order], mask[order], c_old, beta=1.0, scale=1.0,
                                                 reward_method=t.pacs_reward_method), params)  # θ_old's c
        stale = torch.cat([g.reshape(-1) for g in stale])
        self.steps.append({"error": ((got - want).norm() / want.norm()).item(),
                           "stale_error": ((stale - want).norm() / want.norm()).item(),
                           "psi_abs_mean": metrics["per_sample/psi"].abs().mean().item(),
                           "paths": [mb["whole"] for mb in rows], "rows": len(rows[0]["pacs_labels"]) * len(rows)})


def run_layout(out: Path, name: str) -> dict:
    n, prompts, minis, epochs, accumulation, reward_method = LAYOUTS[name]
    cfg = Config.model_validate({"pacs": {"reward_method": reward_method}, "rollout": {"n": n}})
    tokenizer = build_tokenizer()
    model = build_model(tokenizer, seed=0, layers=1, hidden=16, heads=2)
    data = Dataset.from_list([{"prompt": f"{a}+{b}="} for a in range(4) for b in range(3)])

    def labels(completions, **_):  # mixed groups and agreeing ones
        return [float(sum(map(ord, str(c))) % 3 == 0) for c in completions]

    per_device = prompts // minis * n // (2 * accumulation)
    args = GRPOConfig(output_dir=str(out / f"trl-{name}"), per_device_train_batch_size=per_device,
                      gradient_accumulation_steps=accumulation, steps_per_generation=minis * accumulation,
                      num_iterations=epochs, num_generations=n, max_completion_length=4, max_steps=minis * epochs,
                      learning_rate=0.05, max_grad_norm=0.0, beta=0.0, use_cpu=True, bf16=False, seed=0, report_to=[],
                      logging_steps=minis * epochs, save_strategy="no", disable_tqdm=True, disable_dropout=True)
    trainer = RecordingTrainer(model=model, processing_class=tokenizer, reward_funcs=[labels], args=args,
                               train_dataset=data, algorithm="pacs", updates_per_step=minis * epochs,
                               pacs_options={"beta": 1.0, "reward_method": reward_method, "adv_estimator": "rloo",
                                             "norm_by_std": True, "weight_mode": "question"})
    check = NativeCheck(trainer, cfg)
    trainer.add_callback(check)
    trainer.train()
    fields = trainer.sample_fields
    return {"steps": check.steps, "fields_filled": all(v is not None for k in ("psi", "p_correct") for v in fields[k]),
            "fields_rows": len(fields["psi"])}


def main(out: Path) -> None:
    dist.init_process_group("gloo")
    torch.manual_seed(0)
    report = {"world": dist.get_world_size(), "layouts": {name: run_layout(out, name) for name in LAYOUTS}}
    out.mkdir(parents=True, exist_ok=True)
    (out / f"rank-{dist.get_rank()}.json").write_text(json.dumps(report))
    dist.destroy_process_group()


if __name__ == "__main__":
    from pacslab.engines.trl.run import exit_finished_rank

    main(Path(sys.argv[1]))
    exit_finished_rank(0)  # as the engine's ranks end: no interpreter teardown, where gloo aborts 1 exit in 10
