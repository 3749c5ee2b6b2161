"""``Network``: a checked plan turned into a ``torch.nn.Module``.

Layers live in ``layer_modules``, a ``ModuleDict`` keyed by Cortex layer id, so
``state_dict()`` keys read ``layer_modules.linear-1.weight``. ``forward`` walks the plan
computed once by :mod:`bridge.network.plan`; it never re-traverses the graph per batch.

Activations travel as ``[N, C, H, W]`` (Cortex's planar CHW order); outputs come back
flat, ``[N, C·H·W]``, as Cortex returns them.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol, cast

import numpy as np
import torch
from torch import nn

from bridge.description.shapes import Shape
from bridge.errors import DataError, ModelError
from bridge.layers.initializers import initialize, scheme_name
from bridge.layers.registry import ParamSpec
from bridge.network.plan import Plan, PlannedLayer
from bridge.network.settings import ParameterSettings, node_frozen, parameter_settings

__all__ = ["Network", "Layer"]


class _LogForward(Protocol):
    """A layer module that also gives log-probabilities (``CortexSoftmax``)."""

    def log_forward(self, x: torch.Tensor) -> torch.Tensor: ...


# The activations Cortex looks for downstream to choose a weight initialisation.
_AUTO_INIT = {"type": "auto-weight-initialization"}
_CENTERS = ParamSpec("centers", "centers", shape=lambda ctx: (), init={"type": "constant",
                                                                         "value": 0.0},
                     trainable=False)


@dataclass(frozen=True)
class Layer:
    """A read-only record of one layer, in description order.

    Attributes:
        id: the layer id without the colon (``"linear-1"``).
        type: the layer type without the colon (``"linear"``).
        output_shape: ``(channels, height, width)``.
        parameter_count: Cortex's count (running statistics and centers included).
        parents: the ids feeding it, in ``:parents`` order.
        index: 1-based position in the flattened description.
        node: the canonical node map (str keys in Cortex's spelling).
    """

    id: str
    type: str
    output_shape: Shape
    parameter_count: int
    parents: tuple[str, ...]
    index: int
    node: Mapping[str, Any]

    @property
    def output_size(self) -> int:
        return self.output_shape.size


class Network(nn.Module):
    """A Cortex network description running on PyTorch."""

    def __init__(
        self,
        plan: Plan,
        *,
        seed: int | None = None,
        device: torch.device | str | None = None,
        dtype: torch.dtype = torch.float32,
        header: Mapping[str, Any] | None = None,
    ):
        """Build every layer and initialise every parameter.

        **Arguments:**

        - plan: a checked plan from :func:`bridge.network.plan.plan_network`.
        - seed: seeds the one ``torch.Generator`` all initialisation draws from; ``None``
          draws a fresh seed. The global RNG is never touched.
        - device, dtype: where and in which precision the parameters live.
        - header: the non-description keys of the model file (``:name``, ``:train`` …).
        """
        super().__init__()
        self.plan = plan
        self.header = dict(header or {})
        self.source = plan.source
        factory_kwargs = {"device": device, "dtype": dtype}
        self.layer_modules = nn.ModuleDict()
        # torch modules initialise themselves from the global RNG; that work is thrown
        # away (reset_parameters below draws from our own generator), and the global
        # state is restored so loading a model never disturbs a user's random stream.
        with torch.random.fork_rng(devices=[]):
            for planned in plan.layers:
                self.layer_modules[planned.id] = self._build_layer(planned, factory_kwargs)
        self.layers = tuple(
            Layer(p.id, p.type, p.output_shape, p.parameter_count, p.parents, p.index, p.node)
            for p in plan.description_order
        )
        self._planned = {p.id: p for p in plan.layers}
        self._shapes = {p.id: p.output_shape for p in plan.layers}
        self._steps = tuple((p.id, p.parents, p.spec.flat_ok) for p in plan.layers
                            if p.type != "input")
        self.input_ids = plan.inputs
        self.output_ids = plan.outputs
        self.input_shapes = {i: self._planned[i].output_shape for i in plan.inputs}
        self.input_sizes = {i: s.size for i, s in self.input_shapes.items()}
        self.output_sizes = {o: self._planned[o].output_shape.size for o in plan.outputs}
        self._free_after = self._free_lists()
        self._log_leaves = frozenset(
            leaf for leaf in self.output_ids if hasattr(self.layer_modules[leaf], "log_forward"))
        self.seed = seed
        self.reset_parameters(seed=seed)
        self._settings = {p.id: parameter_settings(p.node, p.spec) for p in plan.layers}
        self._frozen_layers = frozenset(p.id for p in plan.layers if node_frozen(p.node))
        self._constraints = tuple(
            (p.id, p.spec.param(name), settings.max_norm)
            for p in plan.description_order for name, settings in self._settings[p.id].items()
            if settings.max_norm is not None and settings.trainable)
        self._freeze()
        self.train(self.training)

    @staticmethod
    def _build_layer(planned: PlannedLayer, factory_kwargs) -> nn.Module:
        meta = planned.spec.params_cover_state
        try:
            if meta:  # no memory and no random init now; reset_parameters fills it all
                module = planned.spec.build(planned.context({**factory_kwargs,
                                                             "device": "meta"}))
                module = module.to_empty(device=factory_kwargs.get("device") or "cpu")
            else:
                module = planned.spec.build(planned.context(factory_kwargs))
        except ModelError as error:
            raise error.with_context(line=planned.line, column=planned.column,
                                     layer_index=planned.index, layer_id=planned.id,
                                     layer_type=planned.type) from None
        if "centers" in planned.param_shapes:
            module.register_buffer(
                "centers", torch.zeros(planned.param_shapes["centers"], **factory_kwargs))
        return module

    # --- parameters ---------------------------------------------------------------------

    def _param_specs(self, planned: PlannedLayer) -> tuple[ParamSpec, ...]:
        extra = (_CENTERS,) if "centers" in planned.param_shapes else ()
        return planned.spec.params + extra

    def _live(self, planned: PlannedLayer, spec: ParamSpec) -> torch.Tensor:
        module = self.layer_modules[planned.id]
        return spec.cortex_view(getattr(module, spec.attr))

    def reset_parameters(self, *, seed: int | None = None) -> None:
        """(Re)initialise every parameter: inline values where the description gives
        them, else Cortex's scheme, drawing in description order from one generator."""
        generator = torch.Generator()
        if seed is None:
            generator.seed()
        else:
            generator.manual_seed(int(seed))
        for planned in self.plan.description_order:
            for spec in self._param_specs(planned):
                live = self._live(planned, spec)
                expected = planned.param_shapes[spec.name]
                given = self.plan.buffers.get((planned.id, spec.name))
                if given is not None:
                    values = self._inline_values(planned, spec.name, given, expected)
                else:
                    values = initialize(expected, self._init_options(planned, spec),
                                        generator=generator)
                with torch.no_grad():
                    live.copy_(values.reshape(live.shape))

    def _init_options(self, planned: PlannedLayer, spec: ParamSpec) -> Mapping[str, Any]:
        options = planned.node.get(spec.name)
        chosen = spec.init
        if isinstance(options, Mapping) and isinstance(options.get("initialization"), Mapping):
            chosen = options["initialization"]
        if scheme_name(chosen) == "auto-weight-initialization":
            return {"type": self._auto_scheme(planned.id)}
        return chosen

    def _auto_scheme(self, layer_id: str) -> str:
        """Cortex's ``:auto-weight-initialization``: the first activation found walking
        depth-first from the layer through its descendants (cortex-spec §1.13)."""
        children: dict[str, list[str]] = {}
        for layer in self.layers:
            for parent in layer.parents:
                children.setdefault(parent, []).append(layer.id)
        stack, seen = [layer_id], set()
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            activation = self._planned[current].spec.init_activation
            if activation is not None:
                return activation
            stack.extend(reversed(children.get(current, [])))
        return "xavier"

    def _inline_values(self, planned, name, given, expected) -> torch.Tensor:
        try:
            if isinstance(given, torch.Tensor):
                values = given.detach().to("cpu")
            else:
                array = np.asarray(given, dtype=np.float64)
                if array.dtype == object:
                    raise ValueError("ragged")
                values = torch.from_numpy(array)
        except (ValueError, TypeError):
            raise planned.error(f":{name} must be a rectangular array of numbers") from None
        got = tuple(values.shape)
        if _squeeze_leading(got) != _squeeze_leading(expected):
            raise planned.error(
                f":{name} has shape {_edn_shape(got)} but this layer needs "
                f"{_edn_shape(expected)}")
        return values

    # --- freezing, learning rates and constraints (bridge.network.settings) --------------

    def _freeze(self) -> None:
        for planned in self.plan.layers:
            module = self.layer_modules[planned.id]
            if planned.id in self._frozen_layers:
                module.requires_grad_(False)
                continue
            for name, settings in self._settings[planned.id].items():
                tensor = getattr(module, planned.spec.param(name).attr)
                if isinstance(tensor, nn.Parameter) and not settings.trainable:
                    tensor.requires_grad_(False)

    def parameter_settings(self) -> dict[str, dict[str, ParameterSettings]]:
        """``{layer_id: {cortex_name: ParameterSettings}}`` for every trainable parameter,
        from the nodes' ``:non-trainable?``, ``:learning-attenuation`` and
        ``:l2-max-constraint``."""
        return {p.id: dict(self._settings[p.id]) for p in self.plan.description_order
                if self._settings[p.id]}

    def param_groups(self, base_lr: float | None = None) -> list[dict[str, Any]]:
        """Optimizer parameter groups: one per learning-rate scale, frozen parameters
        (and any with ``requires_grad`` off) left out.

        Each group is ``{"params": [...], "lr_scale": s}``, plus ``"lr": base_lr * s``
        when ``base_lr`` is given. :func:`bridge.training.optimizers.make_optimizer`
        takes these groups and applies ``lr_scale`` to the optimizer's learning rate.
        """
        groups: dict[float, list[torch.Tensor]] = {}
        seen: set[int] = set()
        for planned in self.plan.description_order:
            module = self.layer_modules[planned.id]
            scales = {planned.spec.param(name).attr: s.lr_scale
                      for name, s in self._settings[planned.id].items()}
            for attr, tensor in module.named_parameters():
                if not tensor.requires_grad or id(tensor) in seen:
                    continue
                seen.add(id(tensor))
                scale = scales.get(attr, 1.0)
                if scale > 0:
                    groups.setdefault(scale, []).append(tensor)
        result = []
        for scale, params in groups.items():
            group: dict[str, Any] = {"params": params, "lr_scale": scale}
            if base_lr is not None:
                group["lr"] = base_lr * scale
            result.append(group)
        return result

    def apply_constraints(self) -> None:
        """Cortex's ``:l2-max-constraint``: scale each row of each constrained weight
        matrix (Cortex layout: linear ``[out in]``, convolution ``[K C·k·k]``) whose L2
        norm exceeds the limit back to that norm. Call after every optimizer step; it
        returns at once when no layer has a constraint."""
        if not self._constraints:
            return
        with torch.no_grad():
            for layer_id, spec, max_norm in self._constraints:
                weights = self._live(self._planned[layer_id], spec)
                count = weights.shape[0]
                norms = torch.linalg.vector_norm(weights.reshape(count, -1), dim=1)
                scale = (max_norm / norms).clamp(max=1.0)  # a zero row: inf -> 1
                weights.mul_(scale.view(count, *([1] * (weights.dim() - 1))))

    @property
    def has_constraints(self) -> bool:
        return bool(self._constraints)

    def train(self, mode: bool = True):
        """As ``nn.Module.train``; layers marked ``:non-trainable? true`` stay in
        inference mode (Cortex runs a frozen node's inference path while training)."""
        super().train(mode)
        for layer_id in self._frozen_layers:
            self.layer_modules[layer_id].train(False)
        return self

    def parameters_by_layer(self) -> dict[str, dict[str, torch.Tensor]]:
        """``{layer_id: {cortex_name: live tensor in Cortex's layout}}``, description order.

        The tensors share memory with the module: writing into them changes the network.
        Convolution weights appear as ``[K, C·k·k]`` views of ``[K, C, k, k]``; a view is
        not a leaf of the autograd graph, so its ``.grad`` stays ``None``: read gradients
        with :meth:`gradients_by_layer`.
        """
        result: dict[str, dict[str, torch.Tensor]] = {}
        for planned in self.plan.description_order:
            specs = self._param_specs(planned)
            if specs:
                result[planned.id] = {s.name: self._live(planned, s) for s in specs}
        return result

    def gradients_by_layer(self) -> dict[str, dict[str, torch.Tensor | None]]:
        """``{layer_id: {cortex_name: gradient}}`` in Cortex's layout, as
        :meth:`parameters_by_layer` gives the parameters: the gradients of the last
        ``backward`` (``None`` for a parameter that got none, and for running
        statistics, which are not trained)."""
        result: dict[str, dict[str, torch.Tensor | None]] = {}
        for planned in self.plan.description_order:
            specs = self._param_specs(planned)
            if specs:
                module = self.layer_modules[planned.id]
                grads = {}
                for spec in specs:
                    grad = getattr(module, spec.attr).grad
                    grads[spec.name] = None if grad is None else spec.cortex_view(grad)
                result[planned.id] = grads
        return result

    def layer_module(self, layer_id: str) -> nn.Module:
        return self.layer_modules[layer_id]

    def _placement(self) -> tuple[torch.dtype, torch.device]:
        # Cached: forward needs it every batch, and walking the state dict each time
        # cost more than a small layer's forward. _apply (to, cuda, double …) resets it.
        cached = self.__dict__.get("_placement_cache")
        if cached is None:
            dtype, device, floating = torch.float32, torch.device("cpu"), False
            for tensor in itertools.chain(self.parameters(), self.buffers()):
                device = tensor.device
                if tensor.is_floating_point():
                    dtype, floating = tensor.dtype, True
                    break
            cached = self.__dict__["_placement_cache"] = (dtype, device)
            self.__dict__["_parameterless"] = not floating
        return cached

    def _apply(self, fn, *args, **kwargs):
        self.__dict__.pop("_placement_cache", None)
        return super()._apply(fn, *args, **kwargs)

    @property
    def dtype(self) -> torch.dtype:
        return self._placement()[0]

    @property
    def device(self) -> torch.device:
        return self._placement()[1]

    @property
    def parameter_count(self) -> int:
        return sum(layer.parameter_count for layer in self.layers)

    # --- forward ------------------------------------------------------------------------

    def _free_lists(self) -> tuple[tuple[str, ...], ...]:
        """Per step, the outputs read for the last time there (freed right after), leaves
        excluded."""
        last: dict[str, int] = {}
        for step, (_, parents, _) in enumerate(self._steps):
            for parent in parents:
                last[parent] = step
        leaves = set(self.output_ids)
        free: list[list[str]] = [[] for _ in self._steps]
        for layer_id, step in last.items():
            if layer_id not in leaves:
                free[step].append(layer_id)
        return tuple(tuple(ids) for ids in free)

    def _prepare(self, layer_id: str, value) -> torch.Tensor:
        dtype, device = self._placement()
        if isinstance(value, torch.Tensor) and value.dtype == dtype and value.device == device:
            tensor = value
        else:
            tensor = torch.as_tensor(value, device=device)
            # A network with no floating tensors (relu, softmax …) has no dtype of its
            # own to convert to: a floating input keeps its precision.
            if tensor.dtype != dtype and not (self._parameterless and
                                              tensor.is_floating_point()):
                tensor = tensor.to(dtype)
        shape = self.input_shapes[layer_id]
        if not torch.jit.is_tracing() and (
                tensor.dim() < 1 or tensor.numel() != tensor.shape[0] * shape.size):
            raise DataError(
                f"input :{layer_id} takes {shape.size} values per sample "
                f"({shape.channels}x{shape.height}x{shape.width}); received a tensor of "
                f"shape {list(tensor.shape)}")
        if tensor.dim() == 2:
            return tensor
        return tensor.reshape(tensor.shape[0], shape.size)

    def _run(self, x, keep_all: bool, keep: frozenset = frozenset(),
             log_ids: frozenset = frozenset()) -> tuple[dict[str, torch.Tensor], bool]:
        if isinstance(x, Mapping):
            if not all(i in x for i in self.input_ids):  # keys as keywords or ":id"
                x = {str(k).lstrip(":"): v for k, v in x.items()}
            missing = [i for i in self.input_ids if i not in x]
            if missing:
                raise DataError("missing input " + " ".join(f":{m}" for m in missing)
                                + "; the network's inputs are "
                                + " ".join(f":{i}" for i in self.input_ids))
            values = {i: self._prepare(i, x[i]) for i in self.input_ids}
            as_dict = True
        else:
            if len(self.input_ids) != 1:
                raise DataError("this network has several inputs ("
                                + " ".join(f":{i}" for i in self.input_ids)
                                + "); pass a dict keyed by input id")
            values = {self.input_ids[0]: self._prepare(self.input_ids[0], x)}
            as_dict = False
        shapes = self._shapes
        modules = self.layer_modules
        for (layer_id, parents, flat_ok), done in zip(self._steps, self._free_after,
                                                       strict=True):
            if flat_ok:
                inputs = [values[p] for p in parents]
            else:  # the module works on Cortex's planar [N, C, H, W]
                inputs = [_planar(values[p], shapes[p]) for p in parents]
            module = modules[layer_id]
            if layer_id in log_ids:
                # log_ids holds only layers whose module has log_forward (see __init__)
                values[layer_id] = cast(_LogForward, module).log_forward(*inputs)
            else:
                values[layer_id] = module(*inputs)
            if not keep_all:
                for parent in done:  # free activations no later layer reads
                    if parent not in keep:
                        del values[parent]
        return values, as_dict

    def forward(self, x):
        """Run the network.

        **Arguments:**

        - x: ``[N, C·H·W]`` or ``[N, C, H, W]`` for a network with one input, or a dict
          ``{input_id: tensor}``.

        **Returns:**

        ``[N, C·H·W]`` for one input and one output; a dict ``{leaf_id: [N, size]}``
        when ``x`` is a dict or the network has several outputs.
        """
        values, as_dict = self._run(x, keep_all=False)
        flat = {o: _flat(values[o]) for o in self.output_ids}
        if as_dict or len(flat) != 1:
            return flat
        return next(iter(flat.values()))

    def outputs(self, x, ids=(), *, log_probabilities: bool = False) -> dict[str, torch.Tensor]:
        """The leaves' outputs plus those of the layers ``ids``, flat, keyed by id.

        With ``log_probabilities`` a softmax leaf returns log-softmax instead (computed
        stably from its input), which the trainer's softmax loss uses.
        """
        log_ids = self._log_leaves if log_probabilities else frozenset()
        keep = ids if isinstance(ids, frozenset) else frozenset(ids)
        values, _ = self._run(x, keep_all=False, keep=keep, log_ids=log_ids)
        return {k: _flat(v) for k, v in values.items() if k in keep or k in self.output_ids}

    def forward_all(self, x) -> dict[str, torch.Tensor]:
        """Every layer's output, flat ``[N, size]``, keyed by layer id (for losses on
        inner layers such as center loss)."""
        values, _ = self._run(x, keep_all=True)
        return {k: _flat(v) for k, v in values.items()}

    # --- description --------------------------------------------------------------------

    def summary(self) -> str:
        """A table of the layers: id, type, output shape, parameter count, and the total."""
        rows = [("#", "id", "type", "output (CxHxW)", "parameters")]
        for layer in self.layers:
            rows.append((str(layer.index), f":{layer.id}", f":{layer.type}",
                         str(layer.output_shape), f"{layer.parameter_count:,}"))
        widths = [max(len(row[i]) for row in rows) for i in range(5)]
        lines = []
        for n, row in enumerate(rows):
            cells = [row[i].rjust(widths[i]) if i in (0, 4) else row[i].ljust(widths[i])
                     for i in range(5)]
            lines.append("  ".join(cells).rstrip())
            if n == 0:
                lines.append("  ".join("-" * w for w in widths))
        total = f"{self.parameter_count:,}"
        lines.append("  ".join("-" * w for w in widths))
        lines.append(f"total parameters: {total}")
        return "\n".join(lines)

    def extra_repr(self) -> str:
        ins = " ".join(f":{i}" for i in self.input_ids)
        outs = " ".join(f":{o}" for o in self.output_ids)
        return f"inputs=[{ins}], outputs=[{outs}], parameters={self.parameter_count:,}"


def _planar(tensor: torch.Tensor, shape: Shape) -> torch.Tensor:
    return tensor if tensor.dim() == 4 else tensor.reshape(tensor.shape[0], *shape)


def _flat(tensor: torch.Tensor) -> torch.Tensor:
    return tensor if tensor.dim() == 2 else tensor.reshape(tensor.shape[0], -1)


def _squeeze_leading(shape: tuple[int, ...]) -> tuple[int, ...]:
    index = 0
    while index < len(shape) - 1 and shape[index] == 1:
        index += 1
    return tuple(shape[index:])


def _edn_shape(shape: tuple[int, ...]) -> str:
    return "[" + " ".join(str(d) for d in shape) + "]"

