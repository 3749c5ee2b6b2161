"""What makes a saved network trustworthy on load: the whole-file checksum, and the
rule that a file written by cortex-bridge holds every parameter and only known keys.

**The checksum.** :func:`~bridge.saving.save.save_network` writes
``:cortex-bridge/crc32 N`` as the last header entry, where ``N`` is zlib's CRC-32 of
the file's UTF-8 bytes with the digits of ``N`` left out (the bytes before them, then
the bytes after them). Every byte of the file is covered, the ``:vector`` numbers and
the structure included; the entry is optional, so a hand-edited file without it still
loads (and one edited with it is refused until the entry is deleted).

**Completeness.** A file whose header names the cortex-bridge or torch version that
wrote it is a saved network, not a model description: a parameter missing from it (a
damaged ``:weights`` key, say) is an error, never a fresh initialisation, and so is a
key its layer type does not know (unless the checksum vouches that the file is exactly
as written).
"""

from __future__ import annotations

import re
import uuid
import zlib
from collections.abc import Mapping, Sequence
from difflib import get_close_matches
from typing import Any

from bridge.edn.types import Keyword
from bridge.errors import ModelError, ModelErrors
from bridge.saving.format import CHECKSUM_KEY, HEADER_ORDER, WRITTEN_BY_KEYS

__all__ = ["ChecksumSlot", "fill_checksum", "verify_checksum", "written_by_bridge",
           "check_header_keys", "check_complete", "NODE_KEYS_ANY_LAYER"]

#: Keys any layer may carry in a saved file besides its type's own (cortex-spec §1):
#: identity, loss keys, and training settings.
NODE_KEYS_ANY_LAYER = frozenset({
    "type", "id", "parents", "loss", "l1-regularization", "l2-regularization",
    "center-loss", "censor-loss", "mse-loss", "softmax-loss", "yolo2",
    "learning-attenuation", "non-trainable?", "l2-max-constraint",
})
# Keys Cortex's constructors may leave on a node that its checks need not read:
# (input 784) carries a stray :width, as in Cortex; a Gaussian dropout keeps a
# :probability it ignores (the call forms in bridge/layers/input.py, dropout.py).
_CONSTRUCTOR_KEYS = {"input": frozenset({"width", "height", "channels"}),
                     "dropout": frozenset({"probability", "variance", "distribution"})}
_KNOWN_HEADER = frozenset({*HEADER_ORDER, CHECKSUM_KEY, "description"})
_ENTRY = re.compile(rb":" + re.escape(CHECKSUM_KEY.encode()) + rb"[ \t\n\r,]+([0-9]+)")


class ChecksumSlot:
    """The checksum's place in a document being written: a unique marker, replaced by
    the digits once the rest of the text exists (:func:`fill_checksum`)."""

    __slots__ = ("marker",)

    def __init__(self):
        self.marker = "CRC" + uuid.uuid4().hex

    def __edn__(self) -> str:
        return self.marker


def fill_checksum(chunks: list[bytes], slot: ChecksumSlot) -> list[bytes]:
    """``chunks`` (a written document) with the slot's marker replaced by the CRC-32 of
    every other byte."""
    marker = slot.marker.encode("ascii")
    where = next(i for i, chunk in enumerate(chunks) if marker in chunk)
    before, _, after = chunks[where].partition(marker)
    crc = 0
    for chunk in (*chunks[:where], before, after, *chunks[where + 1:]):
        crc = zlib.crc32(chunk, crc)
    return [*chunks[:where], before + str(crc).encode("ascii") + after, *chunks[where + 1:]]


def written_by_bridge(header: Mapping[str, Any]) -> bool:
    """Whether the header says cortex-bridge wrote this file (not a hand-written model)."""
    return any(key in header for key in WRITTEN_BY_KEYS)


def check_header_keys(header: Mapping[str, Any], source: str | None) -> None:
    """In a saved file, a header key that is not one cortex-bridge writes but is spelt
    almost like one (``:cortex-bridge/crc3w``), or an unknown ``:cortex-bridge/…`` key,
    is damage (or a newer file), not something to ignore."""
    for key in header:
        if key in _KNOWN_HEADER:
            continue
        close = get_close_matches(key, sorted(_KNOWN_HEADER), n=1, cutoff=0.8)
        if close or key.startswith("cortex-bridge/"):
            hint = f" (did you mean :{close[0]}?)" if close else ""
            raise ModelError(f"unknown header key :{key}{hint}: the file is damaged, or was "
                             "written by a newer cortex-bridge", source=source)


def _byte_offset(data: bytes | bytearray, line: int, column: int) -> int:
    """The byte offset of a 1-based (line, column) the reader reported."""
    start = 0
    for _ in range(line - 1):
        start = data.index(b"\n", start) + 1
    if line == 1 and data.startswith(b"\xef\xbb\xbf"):
        start += 3  # the byte-order mark is not part of line 1's columns
    end = data.find(b"\n", start)
    text = data[start: len(data) if end < 0 else end].decode("utf-8", "surrogatepass")
    return start + len(text[: column - 1].encode("utf-8", "surrogatepass"))


def verify_checksum(document: Mapping, data: bytes | bytearray | None, source: str | None) -> bool:
    """Check the ``:cortex-bridge/crc32`` entry of ``document`` (read from ``data``)
    against the bytes; returns whether there was one to check.

    Raises:
        ModelError: the entry is not a 32-bit number, cannot be found in the bytes, or
            does not match them ("the file is damaged").
    """
    key = Keyword(CHECKSUM_KEY)
    if key not in document or data is None:
        return False
    claimed = document[key]
    positions = getattr(document, "key_positions", None) or {}
    if type(claimed) is not int or not 0 <= claimed < 2**32 or key not in positions:
        raise ModelError(f"the file is damaged: :{CHECKSUM_KEY} must be an unsigned 32-bit "
                         "integer", source=source)
    line, column = positions[key]
    try:
        match = _ENTRY.match(data, _byte_offset(data, line, column))
    except (ValueError, UnicodeDecodeError):
        match = None
    if match is None or int(match.group(1)) != claimed:
        raise ModelError(f"the file is damaged: its :{CHECKSUM_KEY} entry cannot be found "
                         "where the reader saw it", source=source, line=line, column=column)
    view = memoryview(data)
    actual = zlib.crc32(view[match.end(1):], zlib.crc32(view[: match.start(1)]))
    if actual != claimed:
        raise ModelError(
            f"the file is damaged: :{CHECKSUM_KEY} says {claimed} but its contents give "
            f"{actual}. If you edited it on purpose, delete the :{CHECKSUM_KEY} entry",
            source=source, line=line, column=column)
    return True


class _Recording(dict):
    """A node that remembers which keys were looked up in it."""

    def __init__(self, node: Mapping[str, Any]) -> None:
        super().__init__(node)
        self.seen: set[str] = set()

    def __getitem__(self, key):
        self.seen.add(key)
        return super().__getitem__(key)

    def get(self, key, default=None):
        self.seen.add(key)
        return super().get(key, default)

    def __contains__(self, key):
        self.seen.add(key)
        return super().__contains__(key)

    def setdefault(self, key, default=None):
        self.seen.add(key)
        return super().setdefault(key, default)


def _known_keys(layer) -> set[str]:
    """The keys ``layer``'s type reads or writes: its defaults, required keys and
    parameters, and every key its checks, completion and shape functions look up."""
    from bridge.layers.registry import BuildContext

    spec = layer.spec
    known = set(NODE_KEYS_ANY_LAYER) | set(spec.defaults) | set(spec.required)
    known |= _CONSTRUCTOR_KEYS.get(spec.type, frozenset())
    known |= {param.name for param in spec.params}
    node = _Recording(layer.node)
    try:
        if spec.complete is not None:
            spec.complete(node)
        if spec.validate is not None:
            spec.validate(node)
        spec.infer_shape(node, layer.input_shapes)
        context = BuildContext(node, layer.input_shapes, layer.output_shape)
        for param in spec.params:
            param.shape(context)
    except Exception:  # noqa: BLE001 - a user type's checks may be strict; keep what was seen
        pass
    return known | node.seen


def check_complete(plan, written: Sequence[set[str]], *, verified: bool,
                   source: str | None) -> None:
    """Every parameter of every layer is in the file; with no verified checksum, every
    key of every node is one its layer type knows.

    Args:
        plan: the planned network.
        written: per raw node (description order), the keys the file gave it.
        verified: a checksum vouched for the file, so extra keys are as written.

    Raises:
        ModelErrors: each missing parameter and unknown key, naming layer and key.
    """
    problems = []
    for layer in plan.description_order:
        keys = written[layer.index - 1]
        for name in layer.param_shapes:
            if (layer.id, name) not in plan.buffers:
                problems.append(layer.error(
                    f":{name} is missing. This file was written by cortex-bridge, which "
                    "saves every parameter, so it is damaged (or was edited); a parameter is "
                    "never silently re-initialised"))
        if verified:
            continue
        for key in layer.spec.defaults:
            if key not in keys:
                problems.append(layer.error(
                    f":{key} is missing. This file was written by cortex-bridge, which saves "
                    "every option with its value, so it is damaged (or was edited)"))
        known = _known_keys(layer)
        for key in sorted(keys - known):
            close = get_close_matches(key, sorted(known), n=1, cutoff=0.7)
            hint = f" Did you mean :{close[0]}?" if close else ""
            problems.append(layer.error(
                f"unknown key :{key} for a :{layer.type} layer in a file written by "
                f"cortex-bridge.{hint} The file is damaged (or was edited)"))
    if problems:
        raise ModelErrors(problems, source=source).with_context(source=source)
