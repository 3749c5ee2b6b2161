"""Per-parameter training settings read from a canonical node, Cortex's way.

Cortex reads three keys when it binds a node's parameters for training
(``graph.clj`` ``get-node-argument``, ``compute_binding.clj``):

- ``:non-trainable? true`` on a node freezes all its parameters, and the node runs its
  inference path while training (a frozen batch-norm uses its running statistics, a
  frozen dropout passes its input through). On a parameter map
  (``:weights {:non-trainable? true}``) it freezes that parameter only.
- ``:learning-attenuation a`` on a node is the default for each of its parameters; on a
  parameter map it overrides the node's. ``0`` freezes the parameter.
- ``:l2-max-constraint c``: after every optimizer step each row of the weight matrix
  in Cortex's layout (a linear's ``[out in]`` rows, a convolution's ``[K C·k·k]``
  kernels) whose L2 norm exceeds ``c`` is scaled back to norm ``c``. On a node it
  applies to the node's ``:weights``; on a parameter map to that parameter, which must
  be a matrix. ``0`` means no constraint, as in Cortex.

Differs from Cortex: ``:learning-attenuation`` scales the parameter's *learning rate*
(Cortex scaled the gradient fed to the optimizer, which is the same thing for SGD and
nearly a no-op for Adam). ``:l2-max-constraint`` acts (Cortex's check for it looked for
a parameter type no parameter had, so it never fired; cortex-spec §3.2).

A node-level key on a layer without parameters (``(linear->relu 100
:learning-attenuation 0.5)`` copies it onto the relu too) has nothing to act on, as in
Cortex.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from bridge.layers._checks import show
from bridge.layers.registry import LayerSpec

__all__ = ["ParameterSettings", "SETTING_KEYS", "parameter_settings", "setting_problems",
           "node_frozen"]

# The node and parameter-map keys read here.
SETTING_KEYS = ("non-trainable?", "learning-attenuation", "l2-max-constraint")


@dataclass(frozen=True)
class ParameterSettings:
    """How one trainable parameter is trained.

    Attributes:
        trainable: ``False`` freezes it (``requires_grad`` off, left out of the optimizer).
        lr_scale: multiplies the optimizer's learning rate for it.
        max_norm: each row of its Cortex layout is renormalised to at most this L2 norm
            after every step; ``None`` for no constraint.
    """

    trainable: bool = True
    lr_scale: float = 1.0
    max_norm: float | None = None


def _number(value: Any) -> bool:
    return (isinstance(value, int | float) and not isinstance(value, bool)
            and math.isfinite(value))


def _value_problems(options: Mapping[str, Any], where: str) -> list[str]:
    problems = []
    frozen = options.get("non-trainable?", False)
    if not isinstance(frozen, bool):
        problems.append(f"{where}:non-trainable? must be true or false. "
                        f"Received: :non-trainable? {show(frozen)}")
    for key in ("learning-attenuation", "l2-max-constraint"):
        if key in options and not (_number(options[key]) and options[key] >= 0):
            problems.append(f"{where}:{key} must be a number >= 0. "
                            f"Received: :{key} {show(options[key])}")
    return problems


def _options(node: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    options = node.get(name)
    return options if isinstance(options, Mapping) else {}


def setting_problems(node: Mapping[str, Any], spec: LayerSpec,
                     param_shapes: Mapping[str, tuple[int, ...]] | None = None) -> list[str]:
    """What is wrong with the node's freezing and constraint keys (empty when fine)."""
    problems = _value_problems(node, "")
    for param in spec.params:
        options = _options(node, param.name)
        if not any(key in options for key in SETTING_KEYS):
            continue
        where = f":{param.name} "
        if not param.trainable:
            problems.append(f"{where}holds running statistics, which are not trained; "
                            "they take no " + " ".join(
                                f":{k}" for k in SETTING_KEYS if k in options))
            continue
        problems += _value_problems(options, where)
    if problems or param_shapes is None:
        return problems
    for name, settings in parameter_settings(node, spec).items():
        shape = param_shapes.get(name)
        if settings.max_norm is not None and shape is not None and len(shape) < 2:
            problems.append(f":l2-max-constraint renormalises the rows of a weight matrix; "
                            f":{name} is a vector")
    return problems


def node_frozen(node: Mapping[str, Any]) -> bool:
    """``:non-trainable? true`` on the node itself."""
    return node.get("non-trainable?", False) is True


def parameter_settings(node: Mapping[str, Any], spec: LayerSpec) -> dict[str, ParameterSettings]:
    """``{cortex_name: ParameterSettings}`` for each trainable parameter of the node.

    The node must be valid (see :func:`setting_problems`).
    """
    node_scale = float(node.get("learning-attenuation", 1.0))
    node_frozen_ = node_frozen(node)
    node_norm = node.get("l2-max-constraint")
    result = {}
    for param in spec.params:
        if not param.trainable:
            continue
        options = _options(node, param.name)
        scale = float(options.get("learning-attenuation", node_scale))
        frozen = node_frozen_ or options.get("non-trainable?", False) is True or scale == 0
        norm = options.get("l2-max-constraint")
        if norm is None and param.name == "weights":
            norm = node_norm
        result[param.name] = ParameterSettings(
            trainable=not frozen, lr_scale=scale if not frozen else 0.0,
            max_norm=float(norm) if norm else None)
    return result
