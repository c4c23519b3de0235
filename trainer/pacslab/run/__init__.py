"""The run-folder contract on the writing side (docs/run-format.md): every rule about what a run
folder holds, written once and used by every engine, the TRL callback, the CLI and the launchers.

`files` the safe file operations and the folder layout; `control` the control protocol.
"""
