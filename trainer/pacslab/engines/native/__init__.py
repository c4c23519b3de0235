"""The native engine (`engine: native`): PACS Lab's own training loop in plain PyTorch."""
