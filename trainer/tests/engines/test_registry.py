"""The config's `engine:` names and the engine registry are the same list (the schema keeps its own
tuple so that loading a config never imports an engine)."""

from pacslab.config import schema
from pacslab.engines import ENGINES


def test_the_schema_accepts_exactly_the_registered_engines():
    assert schema.ENGINES == tuple(ENGINES)
