"""From raw nodes to a checked, sized, ordered plan — before anything is allocated.

Steps, following Cortex's ``linear-network`` (cortex-spec §2.1):

1. Cortex's graph (depth-first) order, then default ids (``:linear-1`` …) in that
   order (:mod:`bridge.description.ids`);
2. parents: explicit ``:parents``, else the previous node in graph order (the first
   node and every ``:input`` get none); a node connected to nothing is refused;
3. the layer type's spec from the registry, its defaults written into the node, its
   required keys and its own checks;
4. a topological order (parents first, graph order among equals);
5. output shapes and parameter shapes, with a ceiling on the total parameter count and
   one on everything a network holds (parameters, precomputed buffers such as pooling's
   window counts, and the activations of one sample), checked before any allocation.

Every problem found in steps 1–3 is collected and raised together as
:class:`~bridge.errors.ModelErrors`; a shape problem stops only the layers after it.
"""

from __future__ import annotations

import difflib
import heapq
import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from bridge.description.ids import assign_ids, graph_order, link_parents
from bridge.description.normalize import RawNode
from bridge.description.shapes import Shape
from bridge.edn.types import Keyword, key_name
from bridge.errors import ModelError, ModelErrors
from bridge.layers._checks import count_text, working_elements
from bridge.layers.registry import BuildContext, LayerSpec, get_spec
from bridge.network.keys import check_keys
from bridge.network.settings import setting_problems

__all__ = ["PlannedLayer", "Plan", "plan_network", "DEFAULT_MAX_PARAMETERS"]

# A typo such as (linear 1000000000) must fail at once, not after allocating gigabytes.
DEFAULT_MAX_PARAMETERS = 1_000_000_000
# Values per sample a single layer may produce.
MAX_ACTIVATION_SIZE = 1_000_000_000


@dataclass(frozen=True)
class PlannedLayer:
    """One layer of the plan: its node, spec, parents and shapes."""

    index: int
    node: Mapping[str, Any]
    spec: LayerSpec
    parents: tuple[str, ...]
    input_shapes: tuple[Shape, ...]
    output_shape: Shape
    param_shapes: Mapping[str, tuple[int, ...]]
    line: int | None = None
    column: int | None = None

    @property
    def id(self) -> str:
        return self.node["id"]

    @property
    def type(self) -> str:
        return self.node["type"]

    @property
    def parameter_count(self) -> int:
        return sum(math.prod(shape) for shape in self.param_shapes.values())

    def context(self, factory_kwargs: Mapping[str, Any] | None = None) -> BuildContext:
        return BuildContext(self.node, self.input_shapes, self.output_shape,
                            dict(factory_kwargs or {}))

    def error(self, reason: str) -> ModelError:
        return ModelError(reason, line=self.line, column=self.column, layer_index=self.index,
                          layer_id=self.id, layer_type=self.type)


@dataclass(frozen=True)
class Plan:
    """A whole description, checked and ordered. ``layers`` is in topological order."""

    layers: tuple[PlannedLayer, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    buffers: Mapping[tuple[str, str], Any] = field(default_factory=dict)
    source: str | None = None

    def layer(self, layer_id: str) -> PlannedLayer:
        for layer in self.layers:
            if layer.id == layer_id:
                return layer
        raise KeyError(layer_id)

    @property
    def description_order(self) -> tuple[PlannedLayer, ...]:
        return tuple(sorted(self.layers, key=lambda layer: layer.index))


def _error(raw: RawNode, reason: str) -> ModelError:
    node = raw.node
    ident = node.get("id") if isinstance(node.get("id"), str) else None
    kind = node.get("type") if isinstance(node.get("type"), str) else None
    return ModelError(reason, line=raw.line, column=raw.column, layer_index=raw.index,
                      layer_id=ident, layer_type=kind)


class _Hints:
    """"Did you mean …?" for unknown parent ids. Each costs a pass over every id, so only
    the first few get one: a description with thousands of bad parents is reported in
    linear time."""

    LIMIT = 10

    def __init__(self, known_ids):
        self.known = sorted(known_ids)
        self.given = 0

    def for_id(self, name: str) -> str:
        if self.given >= self.LIMIT:
            return ""
        self.given += 1
        close = difflib.get_close_matches(name, self.known, n=3, cutoff=0.6)
        return f" Did you mean {' or '.join(':' + c for c in close)}?" if close else ""


def _apply_spec(raw: RawNode, spec: LayerSpec) -> list[ModelError]:
    node = raw.node
    for key, value in spec.defaults.items():
        node.setdefault(key, value)
    if spec.complete is not None:
        spec.complete(node)
    missing = [key for key in spec.required if key not in node]
    if missing:
        return [_error(raw, "missing " + " ".join(f":{k}" for k in missing)
                       + f" (a :{spec.type} layer needs "
                       + " ".join(f":{k}" for k in spec.required) + ")")]
    problems = [_error(raw, reason) for reason in (spec.validate(node) if spec.validate else [])]
    low, high = spec.parents
    count = len(node["parents"])
    if count == 0 and low >= 1 and raw.index == 1:
        problems.append(_error(raw, f"a :{spec.type} layer needs a parent, and the first layer "
                                    "has none; start the description with an (input …) layer"))
    elif count < low or (high is not None and count > high):
        if high is None:
            wanted = f"at least {low} parent{'s' if low != 1 else ''}"
        elif low == high:
            wanted = f"exactly {low} parent{'s' if low != 1 else ''}"
        else:
            wanted = f"{low} to {high} parents"
        listed = " ".join(f":{p}" for p in node["parents"])
        problems.append(_error(raw, f"a :{spec.type} layer takes {wanted}. "
                                    f"Received: :parents [{listed}]"))
    return problems


def _topological(raw_nodes: list[RawNode]) -> list[RawNode]:
    by_id = {raw.node["id"]: raw for raw in raw_nodes}
    waiting = {raw.node["id"]: len(set(raw.node["parents"])) for raw in raw_nodes}
    children: dict[str, list[str]] = {ident: [] for ident in by_id}
    for raw in raw_nodes:
        for parent in set(raw.node["parents"]):
            children[parent].append(raw.node["id"])
    rank = {raw.node["id"]: position for position, raw in enumerate(raw_nodes)}  # graph order
    ready = [(rank[raw.node["id"]], raw.node["id"]) for raw in raw_nodes
             if waiting[raw.node["id"]] == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        _, ident = heapq.heappop(ready)
        ordered.append(by_id[ident])
        for child in children[ident]:
            waiting[child] -= 1
            if waiting[child] == 0:
                heapq.heappush(ready, (rank[child], child))
    if len(ordered) != len(raw_nodes):
        stuck = [raw for raw in raw_nodes if waiting[raw.node["id"]] > 0]
        names = " ".join(f":{raw.node['id']}" for raw in stuck)
        raise ModelErrors([_error(stuck[0], f"the :parents form a cycle through {names}")])
    return ordered


def _center_loss_shape(raw: RawNode, output: Shape, sizes: Mapping[str, int]):
    options = raw.node.get("center-loss")
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise ModelError(":center-loss must be a map such as {:labels {:stream :labels}}. "
                         f"Received: :center-loss {options!r}")
    stream = _stream_name(options.get("labels"))
    if stream is None:
        raise ModelError(":center-loss needs :labels {:stream <label stream>}")
    if stream not in sizes:
        known = " ".join(f":{s}" for s in sizes)
        raise ModelError(f":center-loss reads labels from stream :{stream}, which names no "
                         f"layer. Streams are named by layer ids: {known}")
    return (sizes[stream], output.size)


def _stream_name(value) -> str | None:
    if isinstance(value, Keyword):
        return value.full
    if isinstance(value, Mapping):
        for key, inner in value.items():
            name = key_name(key)
            if name == "stream" and isinstance(inner, Keyword):
                return inner.full
    return None


def _add_center_shapes(planned, raws, shapes, problems, budget) -> list[PlannedLayer]:
    """Center-loss centers ``[classes, features]``: the label stream may name a layer
    further down, so this runs once every shape is known."""
    sizes = {ident: shape.size for ident, shape in shapes.items()}
    result = []
    for layer in planned:
        try:
            centers = _center_loss_shape(raws[layer.id], layer.output_shape, sizes)
        except ModelError as error:
            problems.append(layer.error(error.reason))
            centers = None
        if centers is not None:
            budget -= centers[0] * centers[1]
            if budget < 0:
                problems.append(layer.error("the center-loss centers take the network over "
                                            "its parameter limit"))
            layer = replace(layer, param_shapes=MappingProxyType(
                {**layer.param_shapes, "centers": centers}))
        result.append(layer)
    return result


_ISOLATED = ("this layer is connected to no other layer: it has no parents and no layer "
             "names it in :parents (Cortex drops such a layer silently). Remove it, or "
             "connect it with :parents")


def _name_and_link(raw_nodes: list[RawNode], source):
    """Cortex's graph order, default ids in it, implicit parents; returns ``(nodes in
    graph order, nodes connected to nothing)`` (the latter also at the end of the first,
    named, so later checks can name them)."""
    ordered, isolated = graph_order(raw_nodes)
    ordered = ordered + isolated
    problems = assign_ids(ordered)
    if problems:  # parents and shapes would only repeat the confusion
        raise ModelErrors(problems, source=source).with_context(source=source)
    link_parents(ordered)
    return ordered, isolated


def _initialization_elements(raw: RawNode, param_shapes: Mapping[str, tuple[int, ...]]) -> int:
    """Values an initialisation scheme draws beyond the parameter itself: ``:orthogonal``
    takes the QR of a fan-in x fan-in matrix (initializers.py)."""
    count = 0
    for name, shape in param_shapes.items():
        options = raw.node.get(name)
        if name in raw.buffers or not isinstance(options, Mapping):
            continue
        scheme = options.get("initialization")
        kind = scheme.get("type") if isinstance(scheme, Mapping) else None
        kind = key_name(kind) if kind is not None else None
        if kind == "orthogonal" and len(shape) >= 2:
            count += math.prod(shape[1:]) ** 2
    return count


def _resolve_specs(raw_nodes: list[RawNode], source: str | None,
                   strict: bool | None) -> dict[str, LayerSpec]:
    """Each layer's spec by id, its parents, defaults and keys checked; raises every
    problem found."""
    problems: list[ModelError] = []
    specs: dict[str, LayerSpec] = {}
    known_ids = {raw.node["id"] for raw in raw_nodes}
    hints = _Hints(known_ids)
    for raw in raw_nodes:
        try:
            spec = get_spec(raw.node["type"])
        except ModelError as error:
            problems.append(_error(raw, error.reason))
            continue
        specs[raw.node["id"]] = spec
        for parent in raw.node["parents"]:
            if parent not in known_ids:
                problems.append(_error(raw, f"parent :{parent} is not a layer in this "
                                            f"description.{hints.for_id(parent)}"))
            elif parent == raw.node["id"]:
                problems.append(_error(raw, "a layer cannot be its own parent"))
        problems += _apply_spec(raw, spec)
        problems += check_keys(raw, spec, source=source, strict=strict)
    if problems:
        raise ModelErrors(problems, source=source).with_context(source=source)
    return specs


def _shape_layer(raw: RawNode, spec: LayerSpec, shapes: Mapping[str, Shape],
                 problems: list[ModelError]) -> tuple[PlannedLayer, BuildContext] | None:
    """The layer's output and parameter shapes, or ``None`` with its problem added."""
    node = raw.node
    input_shapes = tuple(shapes[p] for p in node["parents"])
    frozen = MappingProxyType(node)
    try:
        output = spec.infer_shape(frozen, input_shapes)
        if not isinstance(output, Shape):
            output = Shape(*output)
        if output.size > MAX_ACTIVATION_SIZE or min(output) < 1:
            raise ModelError(f"the output shape {output} is out of range (each of C, H, W "
                             f"at least 1, at most {MAX_ACTIVATION_SIZE} values)")
        context = BuildContext(frozen, input_shapes, output)
        param_shapes = {p.name: tuple(int(d) for d in p.shape(context)) for p in spec.params}
        # Freezing and constraint keys: reported, but the shapes flow on.
        problems += [_error(raw, reason)
                     for reason in setting_problems(node, spec, param_shapes)]
    except (ModelError, ValueError, ArithmeticError) as error:
        reason = error.reason if isinstance(error, ModelError) else str(error)
        problems.append(_error(raw, reason))
        return None
    layer = PlannedLayer(raw.index, frozen, spec, tuple(node["parents"]), input_shapes,
                         output, MappingProxyType(param_shapes), raw.line, raw.column)
    return layer, context


def _size_layers(ordered: list[RawNode], specs: Mapping[str, LayerSpec], max_parameters: int,
                 problems: list[ModelError]) -> tuple[list[PlannedLayer], dict[str, Shape], int]:
    """Shapes in graph order against the value budget: ``(layers, shapes by id, values
    used)``; the first layer over the budget ends it with a problem added."""
    shapes: dict[str, Shape] = {}
    planned: list[PlannedLayer] = []
    total = working = 0  # parameters; then outputs and buffers, which share the limit
    for raw in ordered:
        node, spec = raw.node, specs[raw.node["id"]]
        if any(parent not in shapes for parent in node["parents"]):
            continue  # a parent already failed; its error explains this layer too
        shaped = _shape_layer(raw, spec, shapes, problems)
        if shaped is None:
            continue
        layer, context = shaped
        total += layer.parameter_count
        if total > max_parameters:
            problems.append(layer.error(
                f"the network would have more than {count_text(max_parameters)} parameters "
                f"(this layer alone has {count_text(layer.parameter_count)}); raise "
                "max_parameters if that is really meant"))
            break
        try:
            working += layer.output_shape.size + working_elements(spec.type, context)
            working += _initialization_elements(raw, layer.param_shapes)
        except (ModelError, ValueError, ArithmeticError, KeyError, TypeError) as error:
            problems.append(_error(raw, f"cannot size this layer's buffers: {error}"))
            break
        if total + working > max_parameters:
            problems.append(layer.error(
                f"the network would hold more than {count_text(max_parameters)} values "
                "(parameters, buffers and the activations of one sample: "
                f"{count_text(total + working)} up to this layer); raise max_parameters if "
                "that is really meant"))
            break
        shapes[node["id"]] = layer.output_shape
        planned.append(layer)
    return planned, shapes, total + working


def plan_network(
    raw_nodes: list[RawNode],
    *,
    source: str | None = None,
    max_parameters: int = DEFAULT_MAX_PARAMETERS,
    strict: bool | None = False,
) -> Plan:
    """Check, order and size a flattened description.

    A key no layer reads is an :class:`~bridge.errors.UnknownKeyWarning`, or, with
    ``strict``, one more problem (:mod:`bridge.network.keys`).

    Raises:
        ModelErrors: every problem found, each with its file, line, layer index and id.
    """
    if not raw_nodes:
        raise ModelErrors([ModelError("the description has no layers")], source=source)
    raw_nodes, isolated = _name_and_link(raw_nodes, source)
    specs = _resolve_specs(raw_nodes, source, strict)

    ordered = _topological(raw_nodes)
    if isolated:  # reported last: a wrong parent name or a cycle explains it better
        raise ModelErrors([_error(raw, _ISOLATED) for raw in isolated],
                          source=source).with_context(source=source)
    problems: list[ModelError] = []
    planned, shapes, used = _size_layers(ordered, specs, max_parameters, problems)
    if problems:
        raise ModelErrors(problems, source=source).with_context(source=source)

    planned = _add_center_shapes(planned, {raw.node["id"]: raw for raw in raw_nodes}, shapes,
                                 problems, max_parameters - used)
    if problems:
        raise ModelErrors(problems, source=source).with_context(source=source)

    has_child = {parent for layer in planned for parent in layer.parents}
    in_order = sorted(planned, key=lambda layer: layer.index)
    inputs = tuple(layer.id for layer in in_order if layer.type == "input")
    outputs = tuple(layer.id for layer in in_order if layer.id not in has_child)
    buffers = {(raw.node["id"], name): value for raw in raw_nodes
               for name, value in raw.buffers.items()}
    return Plan(tuple(planned), inputs, outputs, MappingProxyType(buffers), source)
