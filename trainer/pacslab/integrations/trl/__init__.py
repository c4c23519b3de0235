"""`from pacslab.integrations.trl import PacsLabCallback`: the import path plain TRL scripts use.

The callback lives with the TRL engine, in pacslab/engines/trl/callback.py.
"""

from pacslab.engines.trl.callback import PacsLabCallback, metric_names

__all__ = ["PacsLabCallback", "metric_names"]
