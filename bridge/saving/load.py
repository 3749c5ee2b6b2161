"""``load_model``: a path, EDN text or parsed EDN data → a :class:`~bridge.network.Network`;
``load_network`` and ``network_from_edn``, its names for saved networks.

A model file holds either a bare description (a vector of layers, or a call form such
as ``(nn/sequential [...])``) or a map::

    {:cortex-bridge/format 1
     :name "mnist-mlp"
     :description [...]
     :train {:optimizer (sgd :learning-rate 0.01) :epochs 10}}

Trained networks saved by :func:`bridge.save_network` are such maps with every
parameter inline, so this one function reads trained and untrained files alike.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from bridge.description.normalize import flatten_description
from bridge.edn.types import EdnList, Keyword, key_name
from bridge.errors import ModelError
from bridge.network.module import Network
from bridge.network.plan import DEFAULT_MAX_PARAMETERS, plan_network
from bridge.saving.format import DESCRIPTION_KEY, FORMAT_VERSION

__all__ = ["load_model", "load_network", "network_from_edn", "read_model_data",
           "split_model"]


def _looks_like_path(source: str) -> bool:
    if "\n" in source or source.lstrip()[:1] in ("[", "(", "{", ";", "#"):
        return False
    return source.endswith(".edn") or os.path.exists(source)


def read_model_data(source: Any) -> tuple[Any, str | None]:
    """Parse ``source`` into EDN data; returns ``(data, file name or None)``.

    Raises:
        ModelError: unreadable file or malformed EDN, with file, line and column.
    """
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        from bridge.edn.payloads import read_edn_file
        from bridge.edn.tensor_tag import tensor_readers

        path = Path(source)
        name = str(path)
        try:
            # Big tensor literals are decoded from the file's bytes (see payloads.py).
            return read_edn_file(path, readers=tensor_readers(), source=name), name
        except FileNotFoundError:
            raise ModelError(f"no such model file: {path}") from None
        except (OSError, UnicodeDecodeError) as error:
            raise ModelError(f"cannot read model file {path}: {error}") from None
    if isinstance(source, bytes | bytearray):
        source = bytes(source).decode("utf-8")
    if isinstance(source, str):
        if not source.strip():
            raise ModelError("the model text is empty")
        return _parse(source, None), None
    return source, None


def _parse(text: str, name: str | None) -> Any:
    from bridge.edn import loads
    from bridge.edn.tensor_tag import tensor_readers

    return loads(text, readers=tensor_readers(), source=name)


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
        source: a path to an ``.edn`` file, EDN text, or data already read.
        seed: makes initialisation reproducible (parameters given inline are used as is).
        device, dtype: where the parameters live.
        max_parameters: refuse descriptions with more parameters than this, before
            allocating anything.
        strict: a key no layer reads is a ``ModelError`` instead of an
            ``UnknownKeyWarning``.

    Returns:
        The :class:`~bridge.network.Network`.

    Raises:
        ModelError: anything wrong with the model, naming file, line, column and layer.
    """
    data, name = read_model_data(source)
    try:
        description, header = split_model(data, source=name)
        raw_nodes = flatten_description(description)
        plan = plan_network(raw_nodes, source=name, max_parameters=max_parameters,
                            strict=strict)
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
