"""pacslab: PACS, GRPO and RLOO for RLVR on Hugging Face causal language models."""

__version__ = "0.1.0"
