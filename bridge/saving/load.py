"""``load_model``: a path, EDN text or parsed EDN data → a :class:`~bridge.network.Network`;
``load_network`` and ``network_from_edn``, its names for saved networks.

A model file holds either a bare description (a vector of layers, or a call form such
as ``(nn/sequential [...])``) or a map::

    {:cortex-bridge/format 1
     :name "mnist-mlp"
     :description [...]
     :train {:optimizer (sgd :learning-rate 0.01) :epochs 10}}

Trained networks saved by :func:`bridge.save_network` are such maps with every
parameter inline, so this one function reads trained and untrained files alike; a saved
network is also checked against its whole-file checksum and for missing parameters
(:mod:`bridge.saving.integrity`).

Whatever the input, the only exception is :class:`~bridge.errors.ModelError`: files
that are not UTF-8 name the bad byte, nesting is limited to :data:`MODEL_MAX_DEPTH`
levels by the reader, and every allocation is sized against ``max_parameters`` first.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import torch

from bridge.description.normalize import flatten_description
from bridge.edn.types import EdnList, Keyword, key_name
from bridge.errors import ModelError
from bridge.network.module import Network
from bridge.network.plan import DEFAULT_MAX_PARAMETERS, plan_network
from bridge.saving.format import CHECKSUM_KEY, DESCRIPTION_KEY, FORMAT_VERSION
from bridge.saving.integrity import (
    check_complete,
    check_header_keys,
    verify_checksum,
    written_by_bridge,
)

__all__ = ["load_model", "load_network", "network_from_edn", "read_model_data",
           "split_model"]


#: How deep the forms of a model file may nest. Real files nest a dozen levels; a limit
#: far below Python's recursion limit means nothing downstream (reprs, comparisons,
#: numpy) can meet data deep enough to overflow.
MODEL_MAX_DEPTH = 200


def _looks_like_path(source: str) -> bool:
    if "\n" in source or source.lstrip()[:1] in ("[", "(", "{", ";", "#"):
        return False
    return source.endswith(".edn") or os.path.exists(source)


def read_model_data(source: Any) -> tuple[Any, str | None]:
    """Parse ``source`` into EDN data; returns ``(data, file name or None)``.

    Raises:
        ModelError: unreadable file, bytes that are not UTF-8, or malformed EDN, with
            file, line and column.
    """
    data, name, _ = _read_source(source)
    return data, name


def _read_source(source: Any) -> tuple[Any, str | None, bytes | bytearray | str | None]:
    """``(data, file name, the bytes or text it was read from)``."""
    from bridge.edn.payloads import decode_utf8, read_edn_bytes, read_file_bytes

    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        path = Path(source)
        name = str(path)
        try:
            raw = read_file_bytes(path)
        except FileNotFoundError:
            raise ModelError(f"no such model file: {path}") from None
        except (OSError, ValueError) as error:  # ValueError: a NUL in the path
            reason = getattr(error, "strerror", None) or error
            raise ModelError(f"cannot read model file {path}: {reason}") from None
        return read_edn_bytes(raw, readers=_readers(), source=name,
                              max_depth=MODEL_MAX_DEPTH), name, raw
    if isinstance(source, bytes | bytearray | memoryview):
        given = bytes(source)
        return _parse(decode_utf8(given), None), None, given
    if isinstance(source, str):
        return _parse(source, None), None, source
    _check_depth(source)
    return source, None, None


def _readers() -> dict:
    from bridge.edn.tensor_tag import tensor_readers

    return tensor_readers()


def _parse(text: str, name: str | None) -> Any:
    from bridge.edn import loads

    if not text.strip():
        raise ModelError("the model text is empty", source=name)
    return loads(text, readers=_readers(), source=name, max_depth=MODEL_MAX_DEPTH)


def _check_depth(data: Any) -> None:
    """Data given already parsed obeys the reader's nesting limit too (iteratively)."""
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        items: Iterable[Any]
        if isinstance(value, Mapping):
            items = [*value.keys(), *value.values()]
        elif isinstance(value, list | tuple | set | frozenset):
            items = value
        else:
            continue
        if depth > MODEL_MAX_DEPTH:
            raise ModelError(f"the model data nests deeper than {MODEL_MAX_DEPTH} levels")
        stack.extend((item, depth + 1) for item in items
                     if isinstance(item, Mapping | list | tuple | set | frozenset))


def split_model(data: Any, *, source: str | None = None) -> tuple[Any, dict[str, Any]]:
    """Separate a model document into ``(description, header)``.

    The header has str keys (``"name"``, ``"cortex-bridge/format"``, ``"train"`` …).
    """
    if isinstance(data, Mapping):
        if DESCRIPTION_KEY not in data and "description" not in data:
            line, column = getattr(data, "line", None), getattr(data, "column", None)
            if Keyword("type") in data:
                return [data], {}
            raise ModelError("a model map needs a :description (a vector of layers)",
                             source=source, line=line, column=column)
        header = {key_name(key): value for key, value in data.items()}
        description = header.pop("description")
        version = header.get("cortex-bridge/format", FORMAT_VERSION)
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise ModelError(f":cortex-bridge/format must be a positive integer. "
                             f"Received: {version!r}", source=source)
        if version > FORMAT_VERSION:
            raise ModelError(
                f"this file has :cortex-bridge/format {version}, written by a newer "
                f"cortex-bridge; this version reads format {FORMAT_VERSION}. Upgrade "
                "cortex-bridge to load it", source=source)
        return description, header
    if isinstance(data, list | tuple | EdnList):
        return data, {}
    if data is None:
        raise ModelError("the model holds no description", source=source)
    raise ModelError(
        "a model is a vector of layers, a call such as (nn/sequential [...]), or a map "
        f"with :description. Received: {type(data).__name__}", source=source)


def load_model(
    source: Any,
    *,
    seed: int | None = None,
    device: torch.device | str | None = None,
    dtype: torch.dtype = torch.float32,
    max_parameters: int = DEFAULT_MAX_PARAMETERS,
    strict: bool = False,
) -> Network:
    """Build a network from an EDN model.

    Args:
        source: a path to an ``.edn`` file, EDN text (``str`` or UTF-8 ``bytes``), or
            data already read.
        seed: makes initialisation reproducible (parameters given inline are used as is).
        device, dtype: where the parameters live.
        max_parameters: refuse descriptions with more parameters than this, or that
            would hold more values than this (parameters, buffers and one sample's
            activations), before allocating anything.
        strict: a key no layer reads is a ``ModelError`` instead of an
            ``UnknownKeyWarning``.

    Returns:
        The :class:`~bridge.network.Network`.

    Raises:
        ModelError: anything wrong with the model, naming file, line, column and layer;
            for a saved network (see :mod:`bridge.saving.integrity`), also a checksum
            that does not match, a missing parameter or an unknown key. No other
            exception escapes for any input.
    """
    name = os.fspath(source) if isinstance(source, os.PathLike) else None
    try:
        return _load(source, seed=seed, device=device, dtype=dtype,
                     max_parameters=max_parameters, strict=strict)
    except ModelError:
        raise
    except Exception as error:  # noqa: BLE001 - the last resort; each known cause is fixed
        where = f" {name}" if name else ""
        if isinstance(error, MemoryError) or "alloc" in str(error):  # torch's RuntimeError
            raise ModelError(f"not enough memory to build the network{where} (within "
                             f"max_parameters={max_parameters:,}): {str(error)[:300]}",
                             source=name) from error
        raise ModelError(f"internal error while loading{where}: {type(error).__name__}: "
                         f"{str(error)[:500]}", source=name) from error


def _load(source: Any, *, seed, device, dtype, max_parameters, strict: bool) -> Network:
    data, name, raw = _read_source(source)
    try:
        description, header = split_model(data, source=name)
        saved = written_by_bridge(header)  # a saved network: nothing may be missing
        verified = False
        if saved:
            check_header_keys(header, name)
            if isinstance(raw, str):
                raw = raw.encode("utf-8", "surrogatepass")
            verified = verify_checksum(data, raw, name)
        header.pop(CHECKSUM_KEY, None)
        raw_nodes = flatten_description(description)
        # The keys each node had in the file (parameters included; centers sit inside
        # :center-loss), before the plan adds defaults.
        written = [set(raw.node) | (set(raw.buffers) - {"centers"}) for raw in raw_nodes]
        # In a saved network an unknown key is damage: check_complete says so.
        plan = plan_network(raw_nodes, source=name, max_parameters=max_parameters,
                            strict=True if strict else (None if saved else False))
        if saved:
            check_complete(plan, written, verified=verified, source=name)
        return Network(plan, seed=seed, device=device, dtype=dtype, header=header)
    except ModelError as error:
        raise error.with_context(source=name) from None


def network_from_edn(text: str, **kwargs) -> Network:
    """The inverse of :func:`bridge.network_to_edn` (:func:`load_model` on text)."""
    return load_model(text, **kwargs)


def load_network(path: str | os.PathLike, **kwargs) -> Network:
    """Read a network saved by :func:`bridge.save_network`; the header is in
    ``net.header``."""
    return load_model(os.fspath(path), **kwargs)
