"""An ONNX file's ``metadata_props``, read straight from its protobuf encoding.

The ``onnx`` package takes about a second to import and parses the whole graph, weights
included; the key-value pairs fer-video needs at load time are a few hundred bytes at the top
level of the ``ModelProto`` (field 14), so the reader walks the top-level fields and skips the
others (the graph among them) by their length. Anything that is not well-formed protobuf is a
``ValueError``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import BinaryIO

#: ``ModelProto.metadata_props`` (repeated ``StringStringEntryProto``: key = 1, value = 2).
METADATA_PROPS_FIELD = 14
_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


def read_metadata_props(path: str | os.PathLike) -> dict[str, str]:
    """The ``metadata_props`` of the ONNX model at ``path`` as a dict (the last entry wins for a key)."""
    props = {}
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        for payload in _top_level(handle, size, wanted=METADATA_PROPS_FIELD):
            entry = dict(_fields_of(payload))
            props[entry.get(1, b"").decode("utf-8")] = entry.get(2, b"").decode("utf-8")
    return props


def _top_level(handle: BinaryIO, size: int, wanted: int) -> Iterator[bytes]:
    """The bytes of each top-level length-delimited field numbered ``wanted``; every other field
    is skipped without reading it."""
    while handle.tell() < size:
        field, wire = _split_tag(_varint(handle.read))
        if wire == _VARINT:
            _varint(handle.read)
        elif wire in (_FIXED64, _FIXED32):
            handle.seek(8 if wire == _FIXED64 else 4, os.SEEK_CUR)
        else:
            length = _varint(handle.read)
            if field == wanted:
                payload = handle.read(length)
                if len(payload) != length:
                    raise ValueError("truncated protobuf field")
                yield payload
            else:
                handle.seek(length, os.SEEK_CUR)
        if handle.tell() > size:
            raise ValueError("truncated protobuf field")


def _fields_of(buffer: bytes) -> Iterator[tuple[int, bytes]]:
    """``(field number, bytes)`` of each length-delimited field of a small message held in memory."""
    position = 0

    def read(count: int) -> bytes:
        nonlocal position
        chunk = buffer[position : position + count]
        position += count
        return chunk

    while position < len(buffer):
        field, wire = _split_tag(_varint(read))
        if wire == _VARINT:
            _varint(read)
        elif wire in (_FIXED64, _FIXED32):
            read(8 if wire == _FIXED64 else 4)
        else:
            yield field, read(_varint(read))
        if position > len(buffer):
            raise ValueError("truncated protobuf field")


def _split_tag(tag: int) -> tuple[int, int]:
    field, wire = tag >> 3, tag & 7
    if field == 0 or wire not in (_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32):
        raise ValueError(f"not protobuf (field {field}, wire type {wire})")
    return field, wire


def _varint(read: Callable[[int], bytes]) -> int:
    """A base-128 varint from ``read(1)`` calls."""
    value = 0
    for shift in range(0, 70, 7):
        byte = read(1)
        if not byte:
            raise ValueError("truncated protobuf varint")
        value |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return value
    raise ValueError("protobuf varint longer than 10 bytes")

