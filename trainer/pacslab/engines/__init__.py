"""Training engines, each in a folder of its own: `native` (PACS Lab's loop) and `trl` (TRL's GRPOTrainer)."""
