"""Which keys a node may carry, derived from the layer registry; nothing silently ignored.

A node's accepted keys are the graph's (``:type :id :parents``), the training keys every
layer takes (losses and regularisers, ``:non-trainable? :learning-attenuation
:l2-max-constraint``), the dimension keys Cortex writes into a built node (derived here
from the graph), and its layer type's own: ``required``, ``defaults``, ``optional`` and
parameter names of its :class:`~bridge.layers.registry.LayerSpec`. A parameter's option
map (``:weights {…}``) takes ``:initialization``, the regularisers and the training keys.

Any other key draws an :class:`~bridge.errors.UnknownKeyWarning` naming file, line and
layer (a :class:`~bridge.errors.ModelError` under ``strict=True``). Keys Cortex acts on
that cortex-bridge cannot honour are refused outright, whatever ``strict`` says.
"""

from __future__ import annotations

import difflib
import sys
import warnings
from collections.abc import Mapping
from typing import TypedDict

from bridge.description.normalize import RawNode
from bridge.errors import ModelError, UnknownKeyWarning, format_location
from bridge.layers.registry import LayerSpec
from bridge.network.settings import SETTING_KEYS

__all__ = ["accepted_keys", "PARAMETER_OPTION_KEYS", "REFUSED_KEYS", "check_keys"]

GRAPH_KEYS = ("type", "id", "parents")
# Loss terms on a node's output (cortex-spec §3.4); the registered losses add theirs.
LOSS_KEYS = ("loss", "center-loss", "l1-regularization", "l2-regularization",
             "mse-loss", "softmax-loss", "censor-loss")
# What Cortex's build step writes into a node; derived from the graph here.
BUILT_KEYS = ("input-dimensions", "output-dimensions", "input-size", "input-width",
              "input-height", "input-channels", "output-size", "output-width",
              "output-height", "output-channels")
PARAMETER_OPTION_KEYS = frozenset(("initialization", "l1-regularization",
                                   "l2-regularization", *SETTING_KEYS))
REFUSED_KEYS = {
    "yolo2": "Cortex's :yolo2 loss (cortex/loss/yolo2.clj) is not available in "
             "cortex-bridge; remove the key, or train with a loss function passed to "
             "bridge.train(loss=...)",
}


def _loss_names() -> frozenset[str]:
    """Losses registered since (``bridge.register_loss`` lives in the training package,
    which loading a model does not import; the built-in ones are in ``LOSS_KEYS``)."""
    losses = sys.modules.get("bridge.training.losses")
    return frozenset(getattr(losses, "LOSSES", ()))


def accepted_keys(spec: LayerSpec) -> frozenset[str]:
    """Every key a node of ``spec``'s type takes."""
    return frozenset((*GRAPH_KEYS, *LOSS_KEYS, *SETTING_KEYS, *BUILT_KEYS, *spec.required,
                      *spec.defaults, *spec.optional, *(p.name for p in spec.params))
                     ) | _loss_names()


def _hint(key: str, known) -> str:
    close = difflib.get_close_matches(key, sorted(known), n=2, cutoff=0.75)
    return f" Did you mean {' or '.join(':' + c for c in close)}?" if close else ""


def _unknown(raw: RawNode, spec: LayerSpec) -> list[str]:
    """Reasons, one per unknown key of the node and of its parameter option maps."""
    known = accepted_keys(spec)
    params = {p.name for p in spec.params}
    reasons = []
    for key in raw.node:
        if key not in known and key not in raw.copied and key not in REFUSED_KEYS:
            reasons.append(f"unknown key :{key}: a :{spec.type} layer does not read it."
                           f"{_hint(key, known)}")
    for name in raw.buffers:
        if name not in params and name != "centers" and name not in raw.copied:
            reasons.append(f"a :{spec.type} layer has no parameter :{name} to take these "
                           "values.")
    for name in params:
        options = raw.node.get(name)
        if not isinstance(options, Mapping):
            continue
        for key in options:
            if key not in PARAMETER_OPTION_KEYS:
                reasons.append(f"unknown key :{key} in :{name} {{…}}: a parameter map takes "
                               + " ".join(f":{k}" for k in sorted(PARAMETER_OPTION_KEYS))
                               + f".{_hint(key, PARAMETER_OPTION_KEYS)}")
    return reasons


class _Where(TypedDict):
    """The location keywords ModelError and format_location share."""

    line: int | None
    column: int | None
    layer_index: int | None
    layer_id: str | None
    layer_type: str | None


def check_keys(raw: RawNode, spec: LayerSpec, *, source: str | None,
               strict: bool | None) -> list[ModelError]:
    """Refused keys as errors; unknown keys as warnings, as errors when ``strict``, or
    left to the caller when ``strict`` is ``None`` (a saved network, whose own check
    names damage as damage)."""
    node = raw.node
    ident = node.get("id") if isinstance(node.get("id"), str) else None
    where = _Where(line=raw.line, column=raw.column, layer_index=raw.index, layer_id=ident,
                   layer_type=spec.type)
    errors = [ModelError(f":{key}: {reason}", **where)
              for key, reason in REFUSED_KEYS.items() if key in node]
    for reason in _unknown(raw, spec) if strict is not None else ():
        if strict:
            errors.append(ModelError(reason + " (refused: strict=True)", **where))
        else:
            warnings.warn(UnknownKeyWarning(format_location(source, **where) + reason
                                            + " It is ignored."), stacklevel=5)
    return errors
