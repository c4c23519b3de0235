"""The experiment config (`*.pacs.yaml`), in one module per concern.

Every check that can fail runs before any model loads and fails with a `ConfigError` that names
the file, the key path, the line when known, what is wrong and how to fix it.

- `schema`: the pydantic models, one documented field per option, with a module per large section
  (`task`, `launch`, `alerts`, `sweep`) and the field types they share in `base`;
- `errors`: `ConfigError` and the translation of pydantic's errors into file/line/key/fix;
- `loading`: YAML with line numbers, `--set` overrides, validation, resolved paths;
- `checks`: checks across fields and against the file system;
- `docs`: the JSON schema and docs/config.md.
"""

from pacslab.config.checks import check_config, resolve_path
from pacslab.config.docs import json_schema, schema_markdown
from pacslab.config.errors import ConfigError, Issue, suggest
from pacslab.config.loading import default_name, load_config, resolved_dict, validate_data
from pacslab.config.launch import LaunchConfig, SlurmConfig
from pacslab.config.schema import (
    BUILTIN_PREFIX,
    Config,
    EvalConfig,
    EvalSetConfig,
    GrpoConfig,
    LoggingConfig,
    LoraConfig,
    ModelConfig,
    OptimConfig,
    PacsConfig,
    RolloutConfig,
)
from pacslab.config.task import DATA_TYPES, ArithConfig, TaskConfig

__all__ = [
    "BUILTIN_PREFIX", "DATA_TYPES", "ArithConfig", "Config", "ConfigError", "EvalConfig", "EvalSetConfig", "GrpoConfig",
    "Issue", "LaunchConfig", "LoggingConfig", "LoraConfig",
    "ModelConfig", "OptimConfig", "PacsConfig", "RolloutConfig", "TaskConfig", "check_config", "default_name",
    "json_schema", "load_config", "resolve_path", "resolved_dict", "schema_markdown", "SlurmConfig", "suggest", "validate_data",
]
