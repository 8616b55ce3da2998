"""Reading YAML recipes: one mapping per file, clear errors otherwise.

A recipe may start from another with ``base: <file>`` (a path relative to the recipe's own folder): the base's
values are read first (recursively), then the recipe's own override them. Nested mappings (``augment``,
``model_kwargs``, ...) are merged key by key; any other value, lists included, replaces the base's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

#: The key naming the recipe a recipe starts from.
BASE_KEY = "base"


def read_yaml_mapping(path: str | os.PathLike) -> dict[str, Any]:
    """The mapping in a YAML file (empty file: empty mapping), its ``base`` chain resolved; ValueError if a
    file is missing or not a mapping, or the chain loops."""
    return _read_with_bases(Path(path), ())


def merge_mappings(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated by ``override``: mappings on both sides merged recursively, anything else replaced."""
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = merge_mappings(merged[key], value)
        else:
            merged[key] = value
    return merged


def _read_with_bases(source: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    resolved = source.resolve()
    if resolved in chain:
        loop = " -> ".join(str(path) for path in (*chain, resolved))
        raise ValueError(f"config files name each other as base: {loop}")
    values = _read_one(source)
    base = values.pop(BASE_KEY, None)
    if base is None:
        return values
    if not isinstance(base, str) or not base:
        raise ValueError(f"{source}: '{BASE_KEY}' must be the path of another config file")
    return merge_mappings(_read_with_bases(source.parent / base, (*chain, resolved)), values)


def _read_one(source: Path) -> dict[str, Any]:
    if not source.is_file():
        raise ValueError(f"config file not found: {source}")
    try:
        values = yaml.safe_load(source.read_text()) or {}
    except yaml.YAMLError as error:
        raise ValueError(f"{source}: not valid YAML ({error})") from error
    if not isinstance(values, dict):
        raise ValueError(f"{source}: expected a mapping of config keys")
    return values
