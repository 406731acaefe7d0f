"""Ranged GetObject that reads only the range, where moto 5.2.5 reads the whole object for each request.

moto answers `GET` with `Range: bytes=a-b` by reading every byte of the object from its spooled temporary
file (`FakeKey.value`) and slicing the range out afterwards (`S3Response._handle_range_header`). A reader
that fetches a 1 GB work file 8 MiB at a time (`RunStore.open_read`, as S3 serves it) then makes the
emulator copy 128 GB, and hold a gigabyte per request in flight: the emulator's time and memory grew with
the square of a file's size, where S3's grow with the bytes served. Here a GET with one plain range
(`bytes=a-b`, `bytes=a-`, `bytes=-n`, satisfiable) reads just that range of the object's buffer, under the
key's lock as moto's reads are; anything else (no range, several ranges, an unsatisfiable or malformed
one, `partNumber`) goes through moto unchanged, so its answers (206, 416, 200 for a range S3 ignores)
are moto's.

`install()` applies the wrapper once per process; it affects every moto S3 backend in the process.
"""

from __future__ import annotations

import functools
import re
import threading
from typing import Any

from moto.s3.models import FakeKey
from moto.s3.responses import S3Response

_SINGLE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")
_lock = threading.Lock()
_installed = False
_reading = threading.local()  # set while a GetObject with one plain range runs in this thread


class RangeOfKey:
    """An object's bytes as moto's range handling uses them (len() and one slice), read from its buffer
    only for the slice asked."""

    def __init__(self, key: FakeKey) -> None:
        self.key = key

    def __len__(self) -> int:
        return self.key.size

    def __getitem__(self, part: slice) -> bytes:
        start, stop, step = part.indices(self.key.size)
        if step != 1:
            raise ValueError("only contiguous ranges are read")
        with self.key.lock:
            buffer = self.key._value_buffer  # moto's spooled file: one seek and one read of the range
            buffer.seek(start)
            return buffer.read(max(0, stop - start))


def plain_range(header: str | None, size: int) -> bool:
    """Whether `header` is one byte range S3 serves as a 206 of part of an object of `size` bytes."""
    match = _SINGLE_RANGE.fullmatch((header or "").strip())
    if match is None or size == 0:
        return False
    first, last = match.groups()
    if first:
        return int(first) < size and (not last or int(last) >= int(first))
    return bool(last) and int(last) > 0  # a suffix range: the last n bytes


def install() -> None:
    """Wrap moto's GetObject and FakeKey.value; idempotent and thread-safe."""
    global _installed
    with _lock:
        if _installed:
            return
        S3Response.get_object = _get_object(S3Response.get_object)
        FakeKey.value = property(_value(FakeKey.value.fget), FakeKey.value.fset)
        _installed = True


def _get_object(get_object):
    @functools.wraps(get_object)
    def wrapped(self: S3Response) -> Any:
        key, _ = self._get_key()
        if self._get_int_param("partNumber") or not plain_range(self.headers.get("range"), key.size):
            return get_object(self)
        _reading.active = True
        try:
            return get_object(self)  # its `key.value` is a RangeOfKey: key_response slices the range from it
        finally:
            _reading.active = False

    return wrapped


def _value(value):
    @functools.wraps(value)
    def wrapped(key: FakeKey) -> Any:
        if getattr(_reading, "active", False):
            _reading.active = False  # the GET's own key, read once; any other read is moto's own
            return RangeOfKey(key)
        return value(key)

    return wrapped
