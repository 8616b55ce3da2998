"""Reading YAML recipes: one mapping per file, clear errors otherwise."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml


def read_yaml_mapping(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping in a YAML file (empty file: empty mapping); ValueError if missing or not a mapping."""
    source = Path(path)
    if not source.is_file():
        raise ValueError(f"config file not found: {source}")
    try:
        values = yaml.safe_load(source.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: not valid YAML ({error})") from error
    if not isinstance(values, dict):
        raise ValueError(f"{source}: expected a mapping of config keys")
    return values
