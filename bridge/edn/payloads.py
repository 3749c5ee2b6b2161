"""Reading network files whose tensor literals carry megabytes of base64, without
copying those megabytes through a ``str``.

A saved network is mostly base64 text inside ``#cortex-bridge/tensor`` literals. Read as
one ``str``, every byte of it is copied three times before decoding (file → bytes →
str → the string literal's slice). Here the file is read into one buffer instead; each
long ``:data`` string is cut out of the text and replaced by an internal placeholder,
``#cortex-bridge/payload N``; the reader parses what remains (a few kilobytes) and the
tensor tag decodes payload *N* straight from the buffer.

Why the cut is safe: the text before a cut is identical in both versions, so the
reader is in the same state when it reaches it. The placeholder is used only if the
reader reads it as a tagged form, which means the original had a string starting
there; the cut runs to the next ``"`` and holds only base64 characters (checked while
decoding), so that string *is* the payload. Every placeholder must be consumed by the
tensor tag's ``:data``; a placeholder read anywhere else, left unread (it was inside a
comment or another string), or any error at all sends the whole file through the
ordinary reader instead, which also gives the exact line and column for errors.
Files that spell the placeholder tag themselves always take the ordinary path.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from bridge.edn.reader import MAX_DEPTH, loads
from bridge.edn.types import Symbol
from bridge.errors import EdnSyntaxError

__all__ = ["PAYLOAD_TAG", "Payload", "read_edn_file", "read_edn_bytes", "read_file_bytes",
           "decode_utf8", "MIN_PAYLOAD"]

PAYLOAD_TAG = "cortex-bridge/payload"
_TENSOR_OPEN = b"#cortex-bridge/tensor"
#: Base64 strings at least this long are cut out; shorter ones are cheap as text.
MIN_PAYLOAD = 1 << 16
# How far after the tag the :data string may start (the dtype and shape come first).
_HEAD_LIMIT = 4096


class Payload:
    """A ``:data`` string left in the file's buffer: its bytes, and whether the tensor
    tag consumed it."""

    __slots__ = ("view", "used")

    def __init__(self, view: memoryview):
        self.view = view
        self.used = False

    def __len__(self) -> int:
        return len(self.view)


class _Unusual(Exception):
    """The fast path cannot vouch for this file: read it the ordinary way."""


def read_edn_file(path: str | os.PathLike, *,
                  readers: Mapping[Symbol | str, Callable] | None = None,
                  source: str | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """The one EDN form in the file at ``path``, as :func:`bridge.edn.loads` reads it.

    Args:
        path: the file (UTF-8).
        readers: tag readers, as for :func:`~bridge.edn.loads`. The tensor tag's reader
            (:func:`~bridge.edn.tensor_tag.tensor_readers`) takes payloads.
        source: the file name for error messages (default: ``path``).
        max_depth: as for :func:`~bridge.edn.loads`.

    Raises:
        OSError: the file cannot be read.
        EdnSyntaxError: bytes that are not UTF-8 (naming the byte offset), or as
            :func:`~bridge.edn.loads`, with exact positions.
    """
    source = os.fspath(path) if source is None else source
    return read_edn_bytes(read_file_bytes(path), readers=readers, source=source,
                          max_depth=max_depth)


def read_file_bytes(path: str | os.PathLike) -> bytearray:
    """Every byte of the file at ``path``, in one buffer (raises ``OSError``)."""
    with open(path, "rb") as stream:
        # Read into one buffer rather than mapping the file: a mapped file that another
        # program truncates meanwhile kills the process (SIGBUS) when a lost page is
        # touched; a copy cannot, and costs one pass over the bytes.
        size = os.fstat(stream.fileno()).st_size
        data = bytearray(size)
        got = stream.readinto(data)
        rest = stream.read()  # the file grew since fstat
    if got < size:
        del data[got:]
    data += rest
    return data


def read_edn_bytes(data: bytes | bytearray, *,
                   readers: Mapping[Symbol | str, Callable] | None = None,
                   source: str | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """The one EDN form in UTF-8 ``data`` (a file's bytes), long payloads uncopied.

    Raises:
        EdnSyntaxError: bytes that are not UTF-8, naming the byte offset, line and
            column; or as :func:`~bridge.edn.loads`.
    """
    if len(data) >= MIN_PAYLOAD:
        try:
            return _read_cut(data, readers or {}, source, max_depth)
        except Exception:  # noqa: BLE001 - the ordinary path gives the exact error
            pass
    return loads(decode_utf8(data, source), readers=readers, source=source,
                 max_depth=max_depth)


def decode_utf8(data: bytes | bytearray, source: str | None = None) -> str:
    """``data`` as text; bytes that are not UTF-8 are an :class:`EdnSyntaxError` naming
    the offset of the first bad byte, its line and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        offset = error.start
        line_start = data.rfind(b"\n", 0, offset) + 1
        line = data.count(b"\n", 0, line_start) + 1
        column = len(data[line_start:offset].decode("utf-8", "replace")) + 1
        if line == 1 and data.startswith(b"\xef\xbb\xbf"):
            column -= 1  # the byte-order mark is not part of line 1's columns
        shown = data[offset:error.end].hex(" ")
        raise EdnSyntaxError(f"the text is not UTF-8: byte {offset:,} (0x{shown}) "
                             f"{error.reason}", source=source, line=line,
                             column=column) from None


def _read_cut(data: bytes | bytearray, readers: Mapping, source: str | None,
              max_depth: int) -> Any:
    spans = _payload_spans(data)
    if not spans:
        raise _Unusual("no long payloads")
    pieces, start = [], 0
    for index, (first, last) in enumerate(spans):
        pieces.append(data[start : first - 1].decode("utf-8"))
        pieces.append(f"#{PAYLOAD_TAG} {index}")
        start = last + 1  # past the closing quote
    pieces.append(data[start:].decode("utf-8"))
    whole = memoryview(data)
    payloads = [Payload(whole[first:last]) for first, last in spans]
    read: set[int] = set()

    def payload(index: Any) -> Payload:
        if type(index) is not int or not 0 <= index < len(payloads) or index in read:
            raise _Unusual("a placeholder that was not ours")
        read.add(index)
        return payloads[index]

    try:
        value = loads("".join(pieces), readers={**readers, PAYLOAD_TAG: payload},
                      source=source, max_depth=max_depth)
        if not all(p.used for p in payloads):
            raise _Unusual("a payload the tensor tag did not take")
        return value
    finally:
        for p in payloads:
            p.view.release()
        whole.release()


def _payload_spans(data: bytes | bytearray) -> list[tuple[int, int]]:
    """``(first, last)`` byte offsets of each long string that follows a tensor tag:
    ``data[first:last]`` is the text between its quotes."""
    if data.find(b"#" + PAYLOAD_TAG.encode()) >= 0:
        raise _Unusual("the file spells the placeholder tag")
    spans = []
    position = 0
    while (tag := data.find(_TENSOR_OPEN, position)) >= 0:
        quote = data.find(b'"', tag, tag + _HEAD_LIMIT)
        if quote < 0:
            position = tag + len(_TENSOR_OPEN)
            continue
        close = data.find(b'"', quote + 1)
        if close < 0:
            raise _Unusual("an unterminated string")
        if close - quote - 1 >= MIN_PAYLOAD:
            spans.append((quote + 1, close))
        position = close + 1
    return spans
