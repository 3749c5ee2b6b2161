"""Trained networks as EDN: the description with every parameter inline, plus a header.

A saved network reads::

    {:cortex-bridge/format 1
     :cortex-bridge/version "0.1.0"
     :torch/version "2.13.0"
     :created "2026-11-24T10:00:00Z"
     :name "digits-mlp"
     :train {…}  :history […]  :metrics {…}
     :cortex-bridge/crc32 2864370810
     :description
     [{:type :input :id :data :parents [] :output-size 64 …}
      {:type :linear :id :linear-1 :parents [:data] :output-size 128
       :weights #cortex-bridge/tensor {:dtype :float32 :shape [128 64] :data "…" :crc32 …}
       :bias #cortex-bridge/tensor {…}}
      …]}

With ``encoding="vector"`` parameters are nested EDN vectors in Cortex's layout (linear
``[out in]``, convolution ``[K C·k·k]``), readable by any EDN reader and by Cortex's own
builders. Both encodings are bit-exact. :func:`bridge.load_model` reads either back.

``:cortex-bridge/crc32`` (written unless ``checksum=False``) is the CRC-32 of every other
byte of the file; loading refuses a file whose bytes do not match it, so no damage to a
number, key or option goes unnoticed (see :mod:`bridge.saving.integrity`).
"""

from __future__ import annotations

import datetime as _dt
import os
from collections.abc import Mapping
from typing import Any

import torch

from bridge.atomic import write_atomically
from bridge.edn.types import EdnList, Keyword, Vector
from bridge.network.module import Network
from bridge.saving.format import CHECKSUM_KEY, ENCODINGS, FORMAT_VERSION, HEADER_ORDER
from bridge.saving.integrity import ChecksumSlot, fill_checksum
from bridge.version import __version__

__all__ = ["network_to_edn", "save_network", "network_document", "network_to_chunks"]

# Keys the graph adds that a description does not need to carry.
_FRONT_KEYS = ("type", "id", "parents")


def _kw(name: str) -> Keyword:
    return Keyword(name)


def _edn_value(value: Any) -> Any:
    """Plain-Python option maps (str keys) back to EDN maps with keyword keys."""
    if isinstance(value, Keyword):
        return value
    if isinstance(value, Mapping):
        return {(_kw(k) if isinstance(k, str) else k): _edn_value(v) for k, v in value.items()}
    if isinstance(value, Vector | EdnList):
        return value
    if isinstance(value, list):
        return [_edn_value(v) for v in value]
    return value


def _encode_parameter(tensor: torch.Tensor, encoding: str) -> Any:
    from bridge.edn.tensor_tag import encode_tensor

    tensor = tensor.detach()
    if encoding == "tensor":
        return encode_tensor(tensor)
    # The writer prints a tensor as nested vectors of the doubles its values equal
    # (bulk: straight to bytes, one row per line).
    return tensor


def _node_document(net: Network, layer, encoding: str) -> dict:
    node = layer.node
    doc: dict[Any, Any] = {_kw("type"): _kw(node["type"]), _kw("id"): _kw(node["id"]),
                           _kw("parents"): Vector(_kw(p) for p in node["parents"])}
    params = net.parameters_by_layer().get(layer.id, {})
    for key, value in node.items():
        if key in _FRONT_KEYS:
            continue
        if key == "center-loss" and "centers" in params:
            doc[_kw(key)] = {**_edn_value(value),
                             _kw("centers"): _encode_parameter(params["centers"], encoding)}
            continue
        if key in params:
            continue  # written below, with its options
        doc[_kw(key)] = _edn_value(value)
    for name, tensor in params.items():
        if name == "centers":
            continue
        encoded = _encode_parameter(tensor, encoding)
        options = node.get(name)
        if isinstance(options, Mapping) and options:
            doc[_kw(name)] = {**_edn_value(options), _kw("buffer"): encoded}
        else:
            doc[_kw(name)] = encoded
    return doc


def network_document(
    net: Network,
    *,
    encoding: str = "tensor",
    history: list | None = None,
    metrics: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    checksum: ChecksumSlot | None = None,
) -> dict:
    """The EDN data of a saved network (keyword keys), before it is printed.

    ``extra`` adds header entries (str keys), e.g. a training checkpoint's state;
    ``checksum`` the slot of the whole-file CRC (last before ``:description``).
    """
    if encoding not in ENCODINGS:
        raise ValueError(f"encoding must be one of {', '.join(ENCODINGS)}; got {encoding!r}")
    header: dict[str, Any] = {k: v for k, v in net.header.items()
                              if k not in ("description", CHECKSUM_KEY)}
    header["cortex-bridge/format"] = FORMAT_VERSION
    header["cortex-bridge/version"] = __version__
    header["torch/version"] = torch.__version__.split("+")[0]
    header["created"] = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if train is not None:
        header["train"] = train
    if history is not None:
        header["history"] = history
    if metrics is not None:
        header["metrics"] = metrics
    header.update(extra or {})
    document: dict[Any, Any] = {}
    for key in HEADER_ORDER:
        if key in header:
            document[_kw(key)] = _edn_value(header.pop(key))
    for key, value in header.items():
        document[_kw(key)] = _edn_value(value)
    if checksum is not None:
        document[_kw(CHECKSUM_KEY)] = checksum
    document[_kw("description")] = [_node_document(net, layer, encoding) for layer in net.layers]
    return document


def network_to_edn(
    net: Network,
    *,
    encoding: str = "tensor",
    history: list | None = None,
    metrics: Mapping[str, Any] | None = None,
    train: Mapping[str, Any] | None = None,
    extra: Mapping[str, Any] | None = None,
    checksum: bool = True,
) -> str:
    """The network as EDN text, every parameter inline.

    Args:
        net: the network.
        encoding: ``"tensor"`` (compact tagged base64, bit-exact) or ``"vector"``
            (nested EDN vectors any reader takes, bit-exact).
        history, metrics, train: header entries to record (training history per epoch,
            final metrics, training settings).
        checksum: write ``:cortex-bridge/crc32``, the CRC-32 of the whole text, which
            :func:`bridge.load_model` checks (see :mod:`bridge.saving.integrity`).

    Returns:
        EDN text that :func:`bridge.load_model` and ``clojure.edn/read-string`` (with
        ``cortex.bridge.edn/readers`` for the tensor tag) read back.
    """
    chunks = network_to_chunks(net, encoding=encoding, history=history, metrics=metrics,
                               train=train, extra=extra, checksum=checksum)
    return b"".join(chunks).decode("utf-8")


def network_to_chunks(net: Network, *, encoding: str = "tensor", checksum: bool = True,
                      **header) -> list[bytes]:
    """The UTF-8 bytes of :func:`network_to_edn`'s text, in chunks (weights uncopied)."""
    from bridge.edn.writer import dump_chunks

    slot = ChecksumSlot() if checksum else None
    document = network_document(net, encoding=encoding, checksum=slot, **header)
    chunks = [*dump_chunks(document, indent=1), b"\n"]
    return fill_checksum(chunks, slot) if slot is not None else chunks


def save_network(net: Network, path: str | os.PathLike, *, encoding: str = "tensor",
                 checksum: bool = True, **header) -> None:
    """Write ``net`` to ``path`` as EDN, atomically (the old file survives a crash).

    Args:
        net: the network.
        path: where to write (parent directories are created).
        encoding: ``"tensor"`` or ``"vector"``.
        checksum: write the whole-file CRC-32 that loading checks.
        **header: ``history=``, ``metrics=``, ``train=`` entries for the header, and
            ``extra=`` for any other entries.
    """
    write_atomically(path, network_to_chunks(net, encoding=encoding, checksum=checksum,
                                             **header))

