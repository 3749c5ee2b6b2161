"""Network surgery for fine-tuning, under Cortex's names (``cortex.nn.network``).

Each function takes a :class:`~bridge.Network` and returns a **new** one; the network
given is left as it was. Every layer that is kept keeps its trained parameters bit for
bit (running statistics and center-loss centers included), and its node keys
(``:non-trainable?`` …); new layers are initialised Cortex's way from ``seed``.

    >>> net = bridge.load_model("edn_models/mnist-mlp.edn")
    >>> head = edit.dissoc_layers_from_network(net, "linear-2")        # drop the classifier
    >>> net2 = edit.assoc_layers_to_network(head, "[(linear 2) (softmax)]")
    >>> for layer in head.layers:                                      # freeze the rest
    ...     net2 = edit.add_property_to_layer(net2, layer.id, "non-trainable?", True)

Cortex's fine-tuning recipe, in one call: :func:`freeze_layers`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

import torch

from bridge.description.normalize import RawNode, flatten_description
from bridge.edn.types import Keyword, key_name
from bridge.errors import ModelError
from bridge.network.module import Network
from bridge.network.plan import _stream_name, plan_network

__all__ = ["dissoc_layers_from_network", "assoc_layers_to_network", "resize_input",
           "add_property_to_layer", "freeze_layers"]

# Header entries that describe the old network's training, not the edited one.
_STALE_HEADER = ("history", "metrics")


def _check_id(net: Network, layer_id: str) -> str:
    layer_id = str(layer_id).lstrip(":")
    known = [layer.id for layer in net.layers]
    if layer_id not in known:
        close = difflib.get_close_matches(layer_id, known, n=3, cutoff=0.6)
        hint = f" Did you mean {' or '.join(':' + c for c in close)}?" if close else ""
        raise ModelError(f"the network has no layer :{layer_id}.{hint} Its layers: "
                         + " ".join(f":{k}" for k in known), layer_id=layer_id)
    return layer_id


def _raw_nodes(net: Network, keep: Iterable[str] | None = None) -> list[RawNode]:
    """The kept layers as raw nodes carrying their live parameter values (copies)."""
    params = net.parameters_by_layer()
    chosen = None if keep is None else set(keep)
    raws: list[RawNode] = []
    for layer in net.layers:
        if chosen is not None and layer.id not in chosen:
            continue
        node = {key: (dict(value) if isinstance(value, Mapping) else
                      list(value) if isinstance(value, list | tuple) else value)
                for key, value in layer.node.items()}
        buffers = {name: tensor.detach().clone()
                   for name, tensor in params.get(layer.id, {}).items()}
        raws.append(RawNode(node=node, index=len(raws) + 1, buffers=buffers))
    return raws


def _rebuild(net: Network, raws: list[RawNode], *, seed: int | None,
             reinitialize: bool = False) -> Network:
    """A network from raw nodes, on ``net``'s device and dtype. Values whose shape no
    longer fits their layer are an error, or dropped for a fresh start with
    ``reinitialize``."""
    plan = plan_network(raws, source=net.source)
    kept, changed = {}, []
    for (layer_id, name), value in plan.buffers.items():
        wanted = plan.layer(layer_id).param_shapes.get(name)
        if not isinstance(value, torch.Tensor) or wanted is None \
                or tuple(value.shape) == tuple(wanted):  # new layers' values: Network checks
            kept[(layer_id, name)] = value
        else:
            changed.append(f":{layer_id} :{name} {list(value.shape)} -> {list(wanted)}")
    if changed and not reinitialize:
        raise ModelError("the edit changes the shape of trained parameters ("
                         + ", ".join(changed) + "); pass reinitialize=True to start those "
                         "afresh, or remove those layers first (dissoc_layers_from_network)")
    plan = replace(plan, buffers=kept)
    header = {k: v for k, v in net.header.items() if k not in _STALE_HEADER}
    return Network(plan, seed=seed, device=net.device, dtype=net.dtype, header=header)


def dissoc_layers_from_network(net: Network, layer_id: str, *,
                               seed: int | None = None) -> Network:
    """Remove ``layer_id`` and every layer that depends on it (its descendants), as
    Cortex's ``dissoc-layers-from-network`` does.

    Raises:
        ModelError: an unknown id, or nothing left.
    """
    layer_id = _check_id(net, layer_id)
    children: dict[str, list[str]] = {}
    for layer in net.layers:
        for parent in layer.parents:
            children.setdefault(parent, []).append(layer.id)
    removed, stack = set(), [layer_id]
    while stack:
        current = stack.pop()
        if current not in removed:
            removed.add(current)
            stack.extend(children.get(current, []))
    keep = [layer.id for layer in net.layers if layer.id not in removed]
    if not keep:
        raise ModelError(f"removing :{layer_id} and what follows it leaves no layers",
                         layer_id=layer_id)
    for layer in net.layers:
        options = layer.node.get("center-loss")
        stream = _stream_name(options.get("labels")) if isinstance(options, Mapping) else None
        if layer.id in keep and stream in removed:
            raise ModelError(
                f"the :center-loss of :{layer.id} reads its labels from :{stream}, which "
                f"removing :{layer_id} removes too; take the center loss off first: "
                f"add_property_to_layer(net, {layer.id!r}, 'center-loss', None)",
                layer_id=layer.id)
    return _rebuild(net, _raw_nodes(net, keep), seed=seed)


def assoc_layers_to_network(net: Network, layers: Any, *, seed: int | None = None) -> Network:
    """Append layer descriptions after the network's one output, as Cortex's
    ``assoc-layers-to-network`` does: the first new layer's parent is that output
    (unless it names its own ``:parents``), the rest follow one another.

    Args:
        net: a network with exactly one output layer.
        layers: EDN text (``"[(linear 2) (softmax)]"``), EDN data, or node maps
            (``{"type": "linear", "output-size": 2}``).
        seed: seeds the new layers' initialisation.

    Raises:
        ModelError: a network with several outputs, or new layers that do not fit.
    """
    if len(net.output_ids) != 1:
        raise ModelError("assoc_layers_to_network appends after the network's one output; "
                         "this network has " + str(len(net.output_ids)) + ": "
                         + " ".join(f":{o}" for o in net.output_ids))
    new = flatten_description(_description(layers))
    if not new:
        raise ModelError("no layers to append")
    raws = _raw_nodes(net)
    first = len(raws)
    for position, raw in enumerate(new):
        raw.index = first + position + 1
    new[0].node.setdefault("parents", [net.output_ids[0]])
    return _rebuild(net, raws + new, seed=seed)


def _description(layers: Any) -> Any:
    if isinstance(layers, str):
        from bridge.edn import loads
        from bridge.edn.tensor_tag import tensor_readers

        return loads(layers, readers=tensor_readers())
    if isinstance(layers, Mapping):
        layers = [layers]
    return [_edn_node(item) if isinstance(item, Mapping) else item for item in layers]


def _edn_node(node: Mapping) -> dict:
    """A Python node map (str keys, ":keyword" strings) → EDN data, as the reader gives."""
    result = {}
    for key, value in node.items():
        name = key_name(key)
        if name in ("type", "id") and isinstance(value, str):
            value = Keyword(value.lstrip(":"))
        elif name == "parents" and isinstance(value, list | tuple):
            value = [Keyword(str(p).lstrip(":")) if not isinstance(p, Keyword) else p
                     for p in value]
        else:
            value = _edn_value(value)
        result[Keyword(name)] = value
    return result


def _edn_value(value: Any) -> Any:
    if isinstance(value, str) and not isinstance(value, Keyword) and value.startswith(":"):
        return Keyword(value[1:])
    return value


def resize_input(net: Network, width: int, height: int, channels: int, *,
                 input_id: str | None = None, reinitialize: bool = False,
                 seed: int | None = None) -> Network:
    """The network with the input ``input_id`` (default: the first) taking
    ``channels x height x width`` values, as Cortex's ``resize-input``. Layers whose
    parameters keep their shape (convolutions) keep their values.

    Raises:
        ModelError: a parameter whose shape the new size changes (a linear after the
            resized input), unless ``reinitialize`` starts those afresh.
    """
    input_id = _check_id(net, input_id if input_id is not None else net.input_ids[0])
    raws = _raw_nodes(net)
    for raw in raws:
        if raw.node["id"] == input_id:
            if raw.node["type"] != "input":
                raise ModelError(f":{input_id} is a :{raw.node['type']} layer, not an input",
                                 layer_id=input_id)
            raw.node.update({"output-width": width, "output-height": height,
                             "output-channels": channels})
            for stale in ("output-size", "width", "height", "channels"):
                raw.node.pop(stale, None)
    return _rebuild(net, raws, seed=seed, reinitialize=reinitialize)


def add_property_to_layer(net: Network, layer_id: str, key: str, value: Any, *,
                          reinitialize: bool = False, seed: int | None = None) -> Network:
    """The network with ``key value`` set on layer ``layer_id``, as Cortex's
    ``add-property-to-layer`` (e.g. ``"non-trainable?", True`` or
    ``"learning-attenuation", 0.1``). ``key`` is the keyword without the colon; a str
    value starting with ``:`` becomes a keyword (``":spatial"``); ``None`` removes the
    key.

    Raises:
        ModelError: an unknown layer or a value the layer refuses; a change of parameter
            shape unless ``reinitialize``.
    """
    layer_id = _check_id(net, layer_id)
    key = key_name(key)
    if key in ("id", "type"):
        raise ModelError(f"add_property_to_layer cannot change :{key}", layer_id=layer_id)
    raws = _raw_nodes(net)
    for raw in raws:
        if raw.node["id"] == layer_id:
            if value is None:
                raw.node.pop(key, None)
                if key == "center-loss":
                    raw.buffers.pop("centers", None)
                continue
            if key == "parents":
                value = [str(p).lstrip(":") for p in value]
            raw.node[key] = _edn_value(value)
            if key == "center-loss" and isinstance(value, Mapping):
                raw.node[key] = _options(value)
    return _rebuild(net, raws, seed=seed, reinitialize=reinitialize)


def _options(value: Mapping) -> dict:
    return {key_name(k): v for k, v in value.items()}


def freeze_layers(net: Network, layer_ids: Iterable[str] | None = None) -> Network:
    """The network with ``:non-trainable? true`` on ``layer_ids`` (default: every layer
    with parameters) — Cortex's fine-tuning recipe in one call."""
    params = net.parameters_by_layer()
    chosen = [lid for lid in params] if layer_ids is None else [
        _check_id(net, lid) for lid in layer_ids]
    raws = _raw_nodes(net)
    for raw in raws:
        if raw.node["id"] in chosen:
            raw.node["non-trainable?"] = True
    return _rebuild(net, raws, seed=None)
