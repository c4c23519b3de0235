"""Training engines other than the native loop (train.py): each in a folder of its own."""
