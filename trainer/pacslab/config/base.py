"""The config's field types and section base, shared by the schema's modules."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Strict

# YAML 1.2 (and the editor's parser) reads `1e-3` as a number; PyYAML's YAML 1.1 reads it as text
_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def _yaml12_number(value: object) -> object:
    return float(value) if isinstance(value, str) and _YAML12_FLOAT.fullmatch(value.strip()) else value


# Numbers are strict: `true` is not 1, `"8"` and `8.0` are not 8; a float key takes an integer.
Int = Annotated[int, Strict()]
Float = Annotated[float, BeforeValidator(_yaml12_number), Strict()]
# Text is bounded: a template or a path of megabytes is a mistake, and a template is copied into every prompt.
MAX_TEXT = 65_536


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True, str_max_length=MAX_TEXT)
