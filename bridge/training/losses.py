"""Cortex's losses and regularisers (cortex-spec §2.1, §3.2, §3.4) as one objective.

Where a loss comes from:

- every leaf gets its layer type's default loss (``LayerSpec.default_loss``:
  ``softmax-loss`` for a softmax, ``mse-loss`` otherwise, a registered type's own
  choice), reading the label stream named like the leaf;
- ``:loss :mse-loss`` (or ``:loss {:type :mse-loss :lambda 0.5}``) on a leaf picks
  another, and the ``loss=`` argument of :func:`bridge.train` overrides both;
- a loss-term key on a node, Cortex's way: ``:censor-loss {:labels {:stream :y}}``,
  ``:mse-loss 0.5``. On a leaf it replaces the default loss;
- ``:l1-regularization λ`` / ``:l2-regularization λ`` on a node act on its output, and
  the same keys inside a parameter map (``:weights {:l2-regularization 1e-3}``) on that
  parameter;
- ``:center-loss {:labels {:stream :labels} :alpha 0.9 :lambda 1e-4}`` on a node.

Scaling follows Cortex v0.9.22 (§3.2): parameter gradients are summed over the batch and
divided by its size N. A term on a node's output therefore acts per sample and is
averaged over the batch; a parameter regulariser's gradient λ·sign(w) or λ·w is divided
by N too, so its strength is λ/N.

Values per sample (before averaging over the batch):

==========================  ========================  =========================================
term                        λ default                 value; gradient
==========================  ========================  =========================================
``mse-loss``                1                         Σ(v−t)²/D; (2/D)(v−t)
``softmax-loss``            1                         −log Σ p·t per softmax group; p − t
``censor-loss``             1                         Σ over t ≠ NaN of (v−t)²/D
``l1-regularization``       0.001                     Σ|x|; sign(x) with sign(0) = +1 (Cortex)
``l2-regularization``       0.001                     ‖x‖²/2; x
``center-loss``             0.1                       ‖x − c_label‖²/2; x − c_label
==========================  ========================  =========================================

Where we differ from Cortex, on purpose: Cortex *reported* ‖x‖/2 for L2 and center loss
(a norm, not squared) while applying the gradient of ‖x‖²/2; we report the value whose
gradient we apply. A loss key such as ``:l2-regularization`` on the last layer does not
suppress the leaf's default loss, as it did in Cortex (cortex-spec §2.1's trap): a
regulariser is added to the loss, never put in its place. For a multi-channel softmax
the value is summed over the per-pixel groups (Cortex reported one −log over all
pixels; the gradient p − t is the same).

Why :center-loss is not one module's: its centers are network *state* (a ``[classes,
features]`` tensor on the layer, counted, saved and loaded with the parameters), while
its term and update are training's. So each stage that handles state touches it:
``description/normalize.py`` takes inline ``:centers`` out of the option map (as it
takes ``:weights``), ``network/plan.py`` sizes them from the label stream (which may name
another layer or a data stream, so no LayerSpec can), ``network/module.py`` holds them,
``saving/save.py`` writes them back inside ``:center-loss``; this module owns the term,
its defaults (``CENTER_DEFAULTS``) and the update. It belongs to no layer type: any
layer may carry it, so it is a training key (``network/keys.py``), not a LayerSpec.

Softmax-loss is computed from log-probabilities the softmax layer returns stably from
its input (``Network.outputs(..., log_probabilities=True)``), never as ``log(p)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from bridge.edn.types import Keyword, key_name
from bridge.errors import DataError, ModelError
from bridge.layers.registry import get_spec
from bridge.training.data import LabelSpec

__all__ = ["Objective", "LossSpec", "LOSSES", "REGULARIZERS", "register_loss", "loss_name",
           "class_indices"]


# --- the registry --------------------------------------------------------------------------


@dataclass(frozen=True)
class LossSpec:
    """A loss on a layer's output against a label stream.

    Attributes:
        name: Cortex's name (``"mse-loss"``).
        function: ``(output, target, layer_module) -> batch mean``.
        default_lambda: λ when the description gives none.
        log_probabilities: the output it wants from a softmax is log-probabilities.
        class_indices: labels may be class indices (a softmax's classes).
        nan_labels: NaN in the labels means "no label here".
    """

    name: str
    function: Callable[[torch.Tensor, torch.Tensor, Any], torch.Tensor]
    default_lambda: float = 1.0
    log_probabilities: bool = False
    class_indices: bool = False
    nan_labels: bool = False


LOSSES: dict[str, LossSpec] = {}
_ALIASES: dict[str, str] = {}
REGULARIZERS = {"l1-regularization": 0.001, "l2-regularization": 0.001}
CENTER_DEFAULTS = {"lambda": 0.1, "alpha": 0.5}


def register_loss(spec: LossSpec, *aliases: str) -> LossSpec:
    """Add a loss to :data:`LOSSES` (names must be new)."""
    for name in (spec.name, *aliases):
        if name in LOSSES or name in _ALIASES:
            raise ValueError(f"a loss named {name!r} is already registered")
    LOSSES[spec.name] = spec
    _ALIASES.update({alias: spec.name for alias in aliases})
    return spec


def loss_name(value: Any) -> str:
    """A loss's registered name from any spelling (``:mse``, ``"mse-loss"`` …).

    Raises:
        ValueError: an unknown name, listing the known ones.
    """
    name = key_name(value)
    name = _ALIASES.get(name, name)
    if name not in LOSSES:
        raise ValueError(f"unknown loss :{name}; known losses are "
                         + " ".join(f":{k}" for k in LOSSES))
    return name


def _mse(output: torch.Tensor, target: torch.Tensor, module) -> torch.Tensor:
    return F.mse_loss(output, target)


def _censor(output: torch.Tensor, target: torch.Tensor, module) -> torch.Tensor:
    labelled = ~torch.isnan(target)
    difference = torch.where(labelled, output - torch.nan_to_num(target), 0.0)
    return (difference * difference).sum() / output.numel()


def _softmax_groups(log_p: torch.Tensor, module) -> tuple[torch.Tensor, int]:
    """``log_p`` as ``[N, groups, classes]`` (or ``[N, classes, pixels]``) and the class
    axis, following the softmax layer's mode."""
    batch = log_p.shape[0]
    mode = getattr(module, "mode", "vector")
    if mode == "channels":
        return log_p.reshape(batch, module.channels, -1), 1
    if mode == "groups":
        return log_p.reshape(batch, -1, module.output_channels), 2
    return log_p.reshape(batch, 1, -1), 2


def _softmax_loss(log_p: torch.Tensor, target: torch.Tensor, module) -> torch.Tensor:
    """−log Σ p·t per softmax group, summed over groups, averaged over the batch."""
    if target.dtype == torch.int64:
        if getattr(module, "mode", "vector") != "vector":
            raise DataError("a softmax over several groups or channels needs one-hot label "
                            "vectors, not class indices")
        return F.nll_loss(log_p, target)
    grouped, axis = _softmax_groups(log_p, module)
    target = target.reshape(grouped.shape)
    # log Σ p·t = logsumexp(log p + log t): exact for one-hot and soft labels alike, and
    # its gradient is p − t for one-hot labels, as Cortex's.
    per_group = -torch.logsumexp(grouped + torch.log(target), dim=axis)
    return per_group.sum(dim=1).mean()


register_loss(LossSpec("mse-loss", _mse), "mse")
register_loss(LossSpec("softmax-loss", _softmax_loss, log_probabilities=True,
                       class_indices=True), "softmax", "cross-entropy")
register_loss(LossSpec("censor-loss", _censor, nan_labels=True), "censor")


class _CortexAbs(torch.autograd.Function):
    """|x| whose gradient is sign(x) with sign(0) = +1, as Cortex's L1
    (``regularization.clj``); ``torch.abs`` would give 0 at 0."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x.abs()

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return torch.where(x >= 0, grad, -grad)


def _l1(x: torch.Tensor) -> torch.Tensor:
    return _CortexAbs.apply(x)


# --- reading the description ---------------------------------------------------------------


def _key(name: Any) -> str:
    return key_name(name)


def _options(value: Any) -> dict[str, Any]:
    return {_key(k): v for k, v in value.items()} if isinstance(value, Mapping) else {}


def _stream(value: Any) -> str | None:
    if isinstance(value, Keyword | str):
        return _key(value)
    stream = _options(value).get("stream")
    return None if stream is None else _key(stream)


def _lambda(value: Any, key: str, default: float, where: str) -> float | None:
    """λ of a loss key: a number, ``true`` (the default), a map with ``:lambda``, or
    ``nil``/``false``/0 (off)."""
    if value is None or value is False:
        return None
    if value is True:
        return default
    if isinstance(value, int | float):
        return float(value) or None
    if isinstance(value, Mapping):
        return float(_options(value).get("lambda", default))
    raise ModelError(f"{where}: :{key} takes a number (its λ) or an options map. "
                     f"Received: :{key} {value!r}")


@dataclass(frozen=True)
class _Term:
    """One loss term on a layer's output."""

    spec: LossSpec
    layer: str
    stream: str
    weight: float


@dataclass(frozen=True)
class _Regularizer:
    kind: str  # "l1-regularization" | "l2-regularization"
    layer: str
    parameter: str | None  # None: the layer's output
    weight: float


@dataclass(frozen=True)
class _Center:
    layer: str
    stream: str
    alpha: float
    weight: float


class Objective:
    """The whole training loss of a network: its loss terms plus every regulariser.

    **Arguments:**

    - net: a :class:`bridge.Network`.
    - override: ``None`` for the description's losses; a loss name for every leaf;
      ``{leaf_id: name}``; or ``fn(outputs, batch) -> scalar`` replacing the leaf losses
      (``outputs`` as ``net`` returns them: probabilities for a softmax). Regularisers
      and center losses written in the description are added in every case.

    Calling it with ``(outputs, batch)`` — ``outputs`` from :meth:`forward` — returns the
    batch's loss, a scalar tensor on the device.
    """

    def __init__(self, net, override: Any = None):
        self.net = net
        self.custom = override if callable(override) else None
        self.terms: list[_Term] = []
        self.regularizers: list[_Regularizer] = []
        self.centers: list[_Center] = []
        self._read(override)
        modules = {layer.id: net.layer_module(layer.id) for layer in net.layers}
        # Asked for log-probabilities (when any term wants them), the network returns
        # them for every softmax leaf (computed stably from its input); terms that want
        # probabilities take exp() of those.
        wants_log = any(t.spec.log_probabilities and t.layer in net.output_ids
                        for t in self.terms)
        self.log_leaves = frozenset(
            leaf for leaf in net.output_ids
            if wants_log and hasattr(modules[leaf], "log_forward"))
        self.capture = frozenset(
            [t.layer for t in self.terms if t.layer not in net.output_ids]
            + [r.layer for r in self.regularizers if r.parameter is None]
            + [c.layer for c in self.centers])
        self._modules = modules
        self._types = {layer.id: layer.type for layer in net.layers}
        self._parameters = net.parameters_by_layer() if any(
            r.parameter for r in self.regularizers) else {}

    # reading -----------------------------------------------------------------------------

    def _read(self, override: Any) -> None:
        net = self.net
        covered: set[str] = set()
        for layer in net.layers:
            node = layer.node
            where = f"layer :{layer.id}"
            for name, spec in LOSSES.items():
                weight = _lambda(node.get(name), name, spec.default_lambda, where)
                if weight is not None:
                    stream = _stream(_options(node.get(name)).get("labels")) or layer.id
                    self._add_term(spec, layer, stream, weight)
                    covered.add(layer.id)
            for kind, default in REGULARIZERS.items():
                weight = _lambda(node.get(kind), kind, default, where)
                if weight is not None:
                    self.regularizers.append(_Regularizer(kind, layer.id, None, weight))
            for parameter in net.parameters_by_layer().get(layer.id, {}):
                options = node.get(parameter)
                if not isinstance(options, Mapping):
                    continue
                for kind, default in REGULARIZERS.items():
                    weight = _lambda(_options(options).get(kind), kind, default,
                                     f"{where} :{parameter}")
                    if weight is not None:
                        self.regularizers.append(
                            _Regularizer(kind, layer.id, parameter, weight))
            if node.get("center-loss") is not None:
                options = {**CENTER_DEFAULTS, **_options(node["center-loss"])}
                stream = _stream(options.get("labels"))
                if stream is None:
                    raise ModelError(f"{where}: :center-loss needs :labels {{:stream s}}",
                                     layer_id=layer.id)
                self.centers.append(_Center(layer.id, stream, float(options["alpha"]),
                                            float(options["lambda"])))
        by_id = {layer.id: layer for layer in net.layers}
        for leaf in net.output_ids:
            layer = by_id[leaf]
            if self.custom is not None:  # the function replaces every leaf loss
                self.terms = [t for t in self.terms if t.layer != leaf]
                continue
            chosen = override
            if isinstance(override, Mapping):
                chosen = {_key(k): v for k, v in override.items()}.get(leaf)
            if chosen is None:
                chosen = layer.node.get("loss")
            if chosen is None and leaf in covered:
                continue  # the node's own loss keys (:censor-loss …) replace the default
            self.terms = [t for t in self.terms if t.layer != leaf]
            options = _options(chosen) if isinstance(chosen, Mapping) else {}
            kind = options.get("type", chosen)
            if kind is None:
                kind = get_spec(layer.type).default_loss
            try:
                spec = LOSSES[loss_name(kind)]
            except ValueError as error:
                raise ModelError(f"layer :{leaf}: {error}", layer_id=leaf) from None
            weight = float(options.get("lambda", spec.default_lambda))
            stream = _stream(options.get("labels")) or leaf
            self._add_term(spec, layer, stream, weight)

    def _add_term(self, spec: LossSpec, layer, stream: str, weight: float) -> None:
        # log-probabilities come from the module's log_forward (CortexSoftmax has one).
        if spec.log_probabilities and not hasattr(self.net.layer_module(layer.id),
                                                  "log_forward"):
            raise ModelError(f"layer :{layer.id}: {spec.name} needs a softmax layer; "
                             f":{layer.id} is a :{layer.type}", layer_id=layer.id)
        self.terms.append(_Term(spec, layer.id, stream, weight))

    @property
    def leaves(self) -> dict[str, str]:
        """``{leaf_id: loss name}`` of the leaf loss terms."""
        return {t.layer: t.spec.name for t in self.terms if t.layer in self.net.output_ids}

    def label_specs(self) -> dict[str, LabelSpec]:
        """The label streams the terms read, for :func:`validate_streams`."""
        specs: dict[str, LabelSpec] = {}
        sizes = {layer.id: layer.output_shape.size for layer in self.net.layers}
        for term in self.terms:
            vector = getattr(self._modules[term.layer], "mode", "vector") == "vector"
            classes = sizes[term.layer] if term.spec.class_indices and vector else None
            specs.setdefault(term.stream, LabelSpec(term.stream, term.layer,
                                                    sizes[term.layer], classes,
                                                    term.spec.nan_labels))
        if self.custom is not None:
            for leaf in self.net.output_ids:
                softmax = getattr(self._modules[leaf], "mode", None) == "vector" and \
                    self._types[leaf] == "softmax"
                specs.setdefault(leaf, LabelSpec(leaf, leaf, sizes[leaf],
                                                 sizes[leaf] if softmax else None, True))
        for center in self.centers:
            classes = self._modules[center.layer].centers.shape[0]
            specs.setdefault(center.stream, LabelSpec(center.stream, center.layer, classes,
                                                      classes))
        return specs

    # running -----------------------------------------------------------------------------

    def forward(self, model, inputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """The outputs the terms need: leaves (log-probabilities where a term wants them)
        and captured inner layers. ``model`` is the network or its DDP wrapper."""
        if model is self.net:
            return self.net.outputs(inputs, self.capture,
                                    log_probabilities=bool(self.log_leaves))
        return model(inputs)

    def __call__(self, outputs: Mapping[str, torch.Tensor],
                 batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        total = None
        if self.custom is not None:
            total = self.custom(self.user_outputs(outputs), batch)
        for term in self.terms:
            value = outputs[term.layer]
            if term.layer in self.log_leaves and not term.spec.log_probabilities:
                value = value.exp()
            value = term.spec.function(value, batch[term.stream], self._modules[term.layer])
            value = value if term.weight == 1.0 else term.weight * value
            total = value if total is None else total + value
        if self.regularizers:
            batch_size = next(iter(outputs.values())).shape[0]
            for reg in self.regularizers:
                if reg.parameter is None:  # on the output: per sample, batch mean
                    x = outputs[reg.layer]
                    per_sample = (_l1(x).sum(1) if reg.kind == "l1-regularization"
                                  else 0.5 * (x * x).sum(1))
                    value = reg.weight * per_sample.mean()
                else:  # on a parameter: λ/N (v0.9.22)
                    w = self._parameters[reg.layer][reg.parameter]
                    value = (_l1(w).sum() if reg.kind == "l1-regularization"
                             else 0.5 * (w * w).sum()) * (reg.weight / batch_size)
                total = value if total is None else total + value
        for center in self.centers:
            x = outputs[center.layer]
            labels = class_indices(batch[center.stream])
            difference = x - self._modules[center.layer].centers[labels]
            value = center.weight * 0.5 * (difference * difference).sum(1).mean()
            total = value if total is None else total + value
        if total is None:
            raise ModelError("the network has nothing to train: no loss on any layer")
        return total

    def user_outputs(self, outputs: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """``outputs`` as the network returns them (probabilities for a softmax)."""
        return {k: (v.exp() if k in self.log_leaves else v) for k, v in outputs.items()}

    @torch.no_grad()
    def update_centers(self, outputs: Mapping[str, torch.Tensor],
                       batch: Mapping[str, torch.Tensor]) -> None:
        """Cortex's center update: c ← c + (1 − α)·mean over the batch's members of each
        class of (x − c) (v0.9.22; no renormalisation). Under DDP the sums and counts are
        added over all ranks, so every rank keeps the same centers."""
        from bridge.training import distributed

        for center in self.centers:
            x = outputs[center.layer].detach().to(torch.float32)
            labels = class_indices(batch[center.stream])
            centers = self._modules[center.layer].centers
            sums = torch.zeros_like(centers).index_add_(0, labels, x - centers[labels])
            counts = torch.bincount(labels, minlength=centers.shape[0]).to(sums.dtype)
            sums, counts = distributed.sum_over_ranks(sums), distributed.sum_over_ranks(counts)
            centers.add_((1.0 - center.alpha) * sums / counts.clamp_min(1).unsqueeze(1))


def class_indices(labels: torch.Tensor) -> torch.Tensor:
    """Class indices from indices or one-hot rows; ties go to the last maximum, as in
    Cortex (``util.cljc:60-67``)."""
    if labels.dtype == torch.int64 and labels.dim() == 1:
        return labels
    flipped = labels.flip(-1).argmax(-1)
    return labels.shape[-1] - 1 - flipped
