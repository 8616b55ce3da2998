"""Safe output files: refuse to clobber results unless asked, and write each file atomically."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def check_overwrite(paths: Iterable[Path], overwrite: bool) -> None:
    """Raise FileExistsError naming the files that exist, unless ``overwrite``."""
    existing = [str(p) for p in paths if p.exists()]
    if existing and not overwrite:
        shown = ", ".join(existing[:3]) + (f" and {len(existing) - 3} more" if len(existing) > 3 else "")
        raise FileExistsError(f"{shown} already exist(s); pass --overwrite to replace, or choose another --out")


def check_overwrite_or_exit(paths: Iterable[Path], overwrite: bool) -> None:
    """:func:`check_overwrite` for scripts: a one-line ``error: ...`` and exit status 1 instead of a traceback."""
    try:
        check_overwrite(paths, overwrite)
    except FileExistsError as error:
        raise SystemExit(f"error: {error}") from None


@contextmanager
def atomic_path(target: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it onto ``target``, else delete it."""
    final = Path(target)
    final.parent.mkdir(parents=True, exist_ok=True)
    partial = final.with_name(f".{final.stem}.{os.getpid()}.tmp{final.suffix}")
    try:
        yield partial
        partial.replace(final)
    finally:
        partial.unlink(missing_ok=True)


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``target`` via a temporary file and a rename."""
    with atomic_path(target) as partial:
        partial.write_text(text)


def write_report(json_path: str | os.PathLike, markdown_path: str | os.PathLike, data: Any, markdown: str) -> None:
    """Write a benchmark's ``data`` as indented JSON and its ``markdown`` rendering, each atomically."""
    write_text_atomic(json_path, json.dumps(data, indent=2) + "\n")
    write_text_atomic(markdown_path, markdown)
