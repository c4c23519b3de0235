// The config PACS: New Training Config writes. No vscode here: a unit test checks it against the schema.

export function starterConfig(name: string): string {
  return `# PACS Lab training config. Hover a key for its documentation; Ctrl+Space lists the keys.
# Launch it with "▶ Train" above or "PACS: Start Training Run".
name: ${name}
algorithm: pacs          # pacs | grpo | rloo
seed: 0
device: auto             # auto | cpu | cuda | cuda:N
total_steps: 100
eval_every: 25
checkpoint_every: 50
model:
  path: builtin:arith-tiny   # or a local Hugging Face model folder, relative to this file
task:
  type: arith                # arith | jsonl | parquet
  arith: {digits: 3, ops: ["+"]}
  verifier: exact            # exact | math | python:module:function
rollout:
  prompts_per_step: 16
  n: 8
  max_new_tokens: 8
pacs:
  beta: 1.0
optim:
  lr: 1.0e-3
`;
}
