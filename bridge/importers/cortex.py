"""``import_cortex``: a trained Cortex network (the ``.nippy`` file ``train-n`` saves) as a
network of this project, every parameter inline.

    >>> net = bridge.import_cortex("trained-network.nippy")   # doctest: +SKIP
    >>> bridge.save_network(net, "trained-network.edn")       # doctest: +SKIP

The file is thawed on the JVM by the real nippy library (Debian's ``libnippy-clojure``;
:mod:`cortex.bridge.nippy` on the Clojure side), which hands over the graph as EDN text
and each buffer as a ``double[]``. A saved network is ``{:compute-graph {:nodes :edges
:buffers :streams} :traversal … :epoch-count … :cv-loss …}`` (cortex-spec §2.2, §3.7);
from it:

- loss nodes are dropped. What they carried goes back where a description says it: a
  regulariser's ``:lambda`` becomes ``:l1-regularization``/``:l2-regularization`` on the
  node (or inside the parameter map it watched), a center loss becomes ``:center-loss
  {… :centers <its trained centers>}`` on its node, and a loss that is not the leaf's
  default (``:mse-loss 0.5``, ``:censor-loss {…}``) its loss key. ``yolo2`` is refused.
- ``:parents`` are rebuilt from ``:edges`` (edge order is Cortex's ``:parents`` order);
- every ``{:buffer-id …}`` parameter is replaced by its buffer, in Cortex's layout
  (linear ``[out in]``, convolution ``[K C·k·k]``, batch-norm vectors) — the layouts this
  project uses, so nothing is transposed;
- the keys Cortex adds while building (``:input-dimensions``, ``:output-dimensions``, an
  input's ``:input {:stream …}``) are left out; the rest of each node is kept.

Two nodes sharing one buffer get a copy each.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bridge.edn.types import Keyword, Vector
from bridge.errors import ClojureError, ModelError

__all__ = ["import_cortex", "cortex_description", "read_network_data", "LOSS_TYPES"]

#: Cortex's loss-term node types (cortex-spec §3.4).
LOSS_TYPES = frozenset({"mse-loss", "softmax-loss", "censor-loss", "l1-regularization",
                        "l2-regularization", "center-loss", "yolo2"})
_REGULARIZERS = ("l1-regularization", "l2-regularization")
# Keys the graph adds while building; a description does not carry them.
_BUILT_KEYS = ("input-dimensions", "output-dimensions", "id", "parents")
# Keys of a loss node that are the graph's, not the loss's options.
_LOSS_GRAPH_KEYS = ("type", "id", "output", "input-dimensions", "output-dimensions")

K = Keyword


def _name(value: Any) -> str | None:
    return value.name if isinstance(value, Keyword) else None


def _id(value: Any) -> str:
    """A node or buffer id: a keyword's name, anything else as text."""
    return _name(value) or str(value)


def _plain_key(key: Any) -> str:
    return key.name if isinstance(key, Keyword) and key.namespace is None else str(key)


# --- the JVM side ------------------------------------------------------------------------

def read_network_data(path: str | os.PathLike) -> tuple[Mapping, list[np.ndarray]]:
    """Thaw ``path`` on the JVM: ``(graph data read from EDN, buffers as float64 arrays)``.

    Raises:
        ModelError: no such file, not a nippy file, not a Cortex network, or a buffer
            nippy could not thaw.
        RuntimeError: nippy is not installed (the message says how to install it).
    """
    from bridge import jvm
    from bridge.edn import loads
    from bridge.jvm import classpath, runtime

    source = str(path)
    if not Path(source).is_file():
        raise ModelError(f"no such Cortex network file: {source}")
    jvm.start()
    failure: ClojureError | None
    try:
        jvm.require("cortex.bridge.nippy")
        result = runtime.var("cortex.bridge.nippy", "read-network-data").invoke(source)
    except ClojureError as error:
        failure = error
    except Exception as error:  # noqa: BLE001 - a Java exception, raised by JPype as is
        failure = runtime.clojure_error(error)
    else:
        failure = None
    if failure is not None:
        if "libnippy-clojure" in str(failure):
            raise RuntimeError(f"importing Cortex .nippy files needs nippy on the JVM: run "
                               f"`{classpath.NIPPY_INSTALL_COMMAND}` (Debian), or put "
                               "nippy 3.x on CORTEX_BRIDGE_CLASSPATH")
        raise ModelError(f"cannot read the Cortex network: {failure}", source=source)
    data = loads(str(result[0]))
    arrays = [np.array(result[i], dtype=np.float64) for i in range(1, len(result))]
    return data, arrays


# --- the description ---------------------------------------------------------------------

class _Graph:
    """The thawed graph, and the description being made from it."""

    def __init__(self, data: Mapping, arrays: list[np.ndarray], source: str | None):
        self.source = source
        self.nodes = {_id(k): dict(v) for k, v in data[K("nodes")].items()}
        self.edges = [(_id(p), _id(c)) for p, c in data.get(K("edges")) or ()]
        self.buffers = {_id(k): v for k, v in (data.get(K("buffers")) or {}).items()}
        self.arrays = arrays
        self.losses = {i: n for i, n in self.nodes.items() if self._is_loss(n)}
        self.kept = [i for i in self._order() if i not in self.losses]

    def error(self, message: str, node_id: str | None = None) -> ModelError:
        return ModelError(message, source=self.source, layer_id=node_id)

    @staticmethod
    def _is_loss(node: Mapping) -> bool:
        kind = _name(node.get(K("type"))) or ""
        return kind in LOSS_TYPES or kind.endswith("-loss")

    def _order(self) -> list[str]:
        """Parents before children; otherwise the order nodes first appear in the edges."""
        seen: list[str] = []
        for pair in self.edges:
            seen += [n for n in pair if n not in seen]
        seen += sorted(n for n in self.nodes if n not in seen)
        rank = {n: i for i, n in enumerate(seen)}
        missing = dict.fromkeys(seen, 0)
        children: dict[str, list[str]] = {n: [] for n in seen}
        for parent, child in self.edges:
            missing[child] += 1
            children[parent].append(child)
        ready = sorted((n for n in seen if not missing[n]), key=rank.__getitem__)
        order: list[str] = []
        while ready:  # Kahn's algorithm, the earliest-seen ready node first
            order.append(ready.pop(0))
            for child in children[order[-1]]:
                missing[child] -= 1
                if not missing[child]:
                    ready = sorted([*ready, child], key=rank.__getitem__)
        if len(order) < len(seen):
            raise self.error("the graph's edges form a cycle")
        return order

    def parents(self, node_id: str) -> list[str]:
        return [p for p, c in self.edges if c == node_id and p not in self.losses]

    def tensor(self, node_id: str, buffer_id: Any) -> torch.Tensor:
        entry = self.buffers.get(_id(buffer_id))
        if not isinstance(entry, Mapping) or K("array") not in entry:
            raise self.error(f"its parameter buffer {buffer_id} is not in the file's "
                             ":buffers", node_id)
        values = self.arrays[entry[K("array")]]
        return torch.from_numpy(values.reshape(tuple(entry[K("shape")])).astype(np.float32))


def _inline(graph: _Graph, node_id: str, value: Any) -> Any:
    """A ``{:buffer-id …}`` parameter map as its tensor (with its other options, if any)."""
    if not isinstance(value, Mapping) or K("buffer-id") not in value:
        return value
    tensor = graph.tensor(node_id, value[K("buffer-id")])
    rest = {k: v for k, v in value.items()
            if k not in (K("buffer-id"), K("buffer"), K("initialization"))}
    return {**rest, K("buffer"): tensor} if rest else tensor


def _node(graph: _Graph, node_id: str) -> dict:
    node = graph.nodes[node_id]
    doc: dict[Any, Any] = {K("type"): node.get(K("type")), K("id"): K(node_id),
                           K("parents"): Vector(K(p) for p in graph.parents(node_id))}
    for key, value in node.items():
        name = _plain_key(key)
        if name in _BUILT_KEYS or key == K("type"):
            continue
        if name == "input" and _name(node.get(K("type"))) == "input":
            continue  # {:stream <id>}: the stream is named after the node anyway
        doc[key] = _inline(graph, node_id, value)
    return doc


def _watched(graph: _Graph, loss_id: str, loss: Mapping) -> tuple[str, str | None]:
    """``(node id, parameter name or None)`` a loss node reads."""
    output = loss.get(K("output"))
    target = _name(output.get(K("node-id"))) if isinstance(output, Mapping) else None
    if not isinstance(output, Mapping) or target is None or target not in graph.nodes:
        raise graph.error(f"loss node :{loss_id} reads no node of the graph ({output})",
                          loss_id)
    argument = output.get(K("argument")) or output.get(K("parameter"))
    return target, _name(argument)


def _loss_options(graph: _Graph, loss_id: str, loss: Mapping) -> dict:
    return {k: _inline(graph, loss_id, v) for k, v in loss.items()
            if _plain_key(k) not in _LOSS_GRAPH_KEYS}


def _attach_loss(graph: _Graph, docs: dict[str, dict], loss_id: str, leaves: set) -> None:
    loss = graph.losses[loss_id]
    kind = _name(loss.get(K("type")))
    assert kind is not None  # _Graph._is_loss chose the node by its type's name
    if kind == "yolo2":
        raise graph.error("the yolo2 loss is not supported by cortex-bridge", loss_id)
    target, parameter = _watched(graph, loss_id, loss)
    if target not in docs:
        raise graph.error(f"loss node :{loss_id} watches another loss node", loss_id)
    doc, options = docs[target], _loss_options(graph, loss_id, loss)
    if kind in _REGULARIZERS:
        weight = options.get(K("lambda"), {})
        if parameter is None:
            doc.setdefault(K(kind), weight)
            return
        value = doc.get(K(parameter))
        if not isinstance(value, Mapping):
            value = {K("buffer"): value}
        doc[K(parameter)] = {K(kind): weight, **value}
        return
    if kind == "center-loss":
        mine = doc.get(K("center-loss"))
        doc[K("center-loss")] = {**(mine if isinstance(mine, Mapping) else {}), **options}
        return
    labels = options.get(K("labels"))
    stream = _name(labels.get(K("stream"))) if isinstance(labels, Mapping) else None
    default = "softmax-loss" if _name(doc[K("type")]) == "softmax" else "mse-loss"
    if (target in leaves and kind == default and stream in (None, target)
            and options.get(K("lambda"), 1) == 1):
        return  # the leaf's default loss, which loading gives it again
    doc.setdefault(K(kind), options or {})


def cortex_description(data: Mapping, arrays: list[np.ndarray], *,
                       source: str | None = None) -> Vector:
    """The description (EDN data, parameters inline as tensors) of a thawed Cortex
    network, given as :func:`read_network_data` returns it.

    Raises:
        ModelError: a parameter without its buffer, a cycle, a yolo2 loss.
    """
    if not isinstance(data.get(K("nodes")), Mapping):
        raise ModelError("not a Cortex network: no :compute-graph :nodes", source=source)
    graph = _Graph(data, arrays, source)
    docs = {node_id: _node(graph, node_id) for node_id in graph.kept}
    parents = {p for node_id in graph.kept for p in graph.parents(node_id)}
    leaves = {node_id for node_id in graph.kept if node_id not in parents}
    for loss_id in graph.losses:
        _attach_loss(graph, docs, loss_id, leaves)
    return Vector(docs[node_id] for node_id in graph.kept)


def import_cortex(path: str | os.PathLike, *, seed: int | None = None):
    """A trained Cortex network file as a :class:`~bridge.network.Network`.

    Raises:
        ModelError: see :func:`read_network_data` and :func:`cortex_description`; or the
            description does not build (an unknown layer type, a bad shape).
        RuntimeError: nippy is not installed.
    """
    from bridge.saving.load import load_model

    data, arrays = read_network_data(path)
    description = cortex_description(data, arrays, source=str(path))
    try:
        return load_model({K("name"): Path(str(path)).stem, K("description"): description},
                          seed=seed)
    except ModelError as error:
        raise error.with_context(source=str(path)) from None
