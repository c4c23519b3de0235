"""The `engine: trl` training engine: PACS, GRPO and RLOO on TRL's GRPOTrainer and accelerate.

`checks` validates a config for it (no torch, no trl import unless the trl section is used),
`loss` holds its pure tensor functions, `trainer` the GRPOTrainer subclass. docs/scaling.md
has the exactness argument.
"""
