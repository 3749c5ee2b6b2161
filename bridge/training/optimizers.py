"""Optimizers by Cortex's names and defaults (cortex-spec §3.3), and a few of PyTorch's.

An optimizer may be written as EDN — ``(sgd :learning-rate 0.01)``,
``{:type :adam :alpha 0.001}`` — as text of such EDN, as a name (``"adam"``), as a dict
with str keys, or given as a ready ``torch.optim.Optimizer`` or a callable
``params -> Optimizer``.

==============  ===============================================  ================================
name            options (defaults)                               PyTorch
==============  ===============================================  ================================
``sgd``         ``:learning-rate 0.001 :momentum 0.9``            SGD, Nesterov (Cortex's update)
``adam``        ``:alpha 0.001 :beta1 0.9 :beta2 0.999 :epsilon 1e-8``  Adam
``adadelta``    ``:decay 0.05 :epsilon 1e-6``                     Adadelta(lr 1, rho 1 − decay)
``adamw``       ``:learning-rate 0.001 :weight-decay 0.01 …``     AdamW
``rmsprop``     ``:learning-rate 0.01 :rho 0.99 :epsilon 1e-8 :momentum 0``  RMSprop
``adagrad``     ``:learning-rate 0.01 :epsilon 1e-10``            Adagrad
==============  ===============================================  ================================

A ``:schedule`` option adds a learning-rate schedule stepped once per epoch:
``{:type :step :step-size 10 :gamma 0.1}``, ``{:type :exponential :gamma 0.95}`` or
``{:type :cosine :epochs 30}``.

Differs from Cortex: Adam's bias correction continues across epochs (Cortex restarted
it on every ``train`` call).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from bridge.edn.types import EdnList, Keyword, Symbol

__all__ = ["OPTIMIZERS", "OptimizerSpec", "parse_optimizer", "make_optimizer",
           "make_schedule", "optimizer_edn"]


@dataclass(frozen=True)
class OptimizerSpec:
    """A Cortex optimizer name, its defaults, and how to make the torch optimizer."""

    name: str
    defaults: Mapping[str, Any]
    make: Callable[[Any, Mapping[str, Any]], torch.optim.Optimizer]


def _sgd(params, o):
    return torch.optim.SGD(params, lr=o["learning-rate"], momentum=o["momentum"],
                           nesterov=o["momentum"] > 0, foreach=True)


def _adam(params, o):
    return torch.optim.Adam(params, lr=o["alpha"], betas=(o["beta1"], o["beta2"]),
                            eps=o["epsilon"], foreach=True)


def _adadelta(params, o):
    return torch.optim.Adadelta(params, lr=o.get("learning-rate", 1.0), rho=1.0 - o["decay"],
                                eps=o["epsilon"], foreach=True)


def _adamw(params, o):
    return torch.optim.AdamW(params, lr=o["learning-rate"], betas=(o["beta1"], o["beta2"]),
                             eps=o["epsilon"], weight_decay=o["weight-decay"], foreach=True)


def _rmsprop(params, o):
    return torch.optim.RMSprop(params, lr=o["learning-rate"], alpha=o["rho"],
                               eps=o["epsilon"], momentum=o["momentum"], foreach=True)


def _adagrad(params, o):
    return torch.optim.Adagrad(params, lr=o["learning-rate"], eps=o["epsilon"], foreach=True)


OPTIMIZERS: dict[str, OptimizerSpec] = {
    spec.name: spec for spec in (
        OptimizerSpec("sgd", {"learning-rate": 0.001, "momentum": 0.9}, _sgd),
        OptimizerSpec("adam", {"alpha": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8},
                      _adam),
        OptimizerSpec("adadelta", {"decay": 0.05, "epsilon": 1e-6}, _adadelta),
        OptimizerSpec("adamw", {"learning-rate": 0.001, "beta1": 0.9, "beta2": 0.999,
                                "epsilon": 1e-8, "weight-decay": 0.01}, _adamw),
        OptimizerSpec("rmsprop", {"learning-rate": 0.01, "rho": 0.99, "epsilon": 1e-8,
                                  "momentum": 0.0}, _rmsprop),
        OptimizerSpec("adagrad", {"learning-rate": 0.01, "epsilon": 1e-10}, _adagrad),
    )
}
_KEY_ALIASES = {"lr": "learning-rate", "learning_rate": "learning-rate",
                "weight_decay": "weight-decay"}


def _name(value: Any) -> str:
    if isinstance(value, Keyword | Symbol):
        return value.name
    return str(value).lstrip(":").rpartition("/")[2]


def parse_optimizer(value: Any) -> dict[str, Any]:
    """Any accepted spelling → ``{"type": name, **options}`` with Cortex's defaults.

    Raises:
        ValueError: an unknown name or option, naming the known ones.
    """
    if value is None:
        value = "adam"  # Cortex's default optimizer
    if isinstance(value, str) and value.strip()[:1] in ("(", "{"):
        from bridge.edn import loads

        value = loads(value)
    if isinstance(value, EdnList):
        if not value:
            raise ValueError("an empty list is not an optimizer")
        items = list(value[1:])
        if len(items) % 2:
            raise ValueError(f"({value[0]} …) takes keyword/value pairs")
        options = {"type": _name(value[0])}
        options.update({_name(k): v for k, v in zip(items[::2], items[1::2], strict=True)})
    elif isinstance(value, Mapping):
        options = {_name(k): v for k, v in value.items()}
        options["type"] = _name(options.get("type", "adam"))
    elif isinstance(value, str | Keyword | Symbol):
        options = {"type": _name(value)}
    else:
        raise ValueError(f"cannot read an optimizer from {value!r}")
    options = {_KEY_ALIASES.get(k, k): v for k, v in options.items()}
    kind = options["type"]
    if kind not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer :{kind}; known optimizers are "
                         + " ".join(f":{k}" for k in OPTIMIZERS))
    spec = OPTIMIZERS[kind]
    allowed = set(spec.defaults) | {"type", "schedule"} | (
        {"learning-rate"} if kind == "adadelta" else set())
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ValueError(f":{kind} has no option " + " ".join(f":{u}" for u in unknown)
                         + "; its options are " + " ".join(f":{k}" for k in spec.defaults))
    return {**spec.defaults, **options}


def make_optimizer(value: Any, params) -> tuple[torch.optim.Optimizer, dict[str, Any] | None]:
    """The torch optimizer for ``value`` over ``params``, and its parsed options (or
    ``None`` for an optimizer given ready-made)."""
    if isinstance(value, torch.optim.Optimizer):
        return value, None
    if callable(value) and not isinstance(value, str | Keyword | Symbol | Mapping | EdnList):
        return value(params), None
    options = parse_optimizer(value)
    return OPTIMIZERS[options["type"]].make(params, options), options


def make_schedule(options: Mapping[str, Any] | None, optimizer, epochs: int):
    """The per-epoch learning-rate schedule an optimizer's ``:schedule`` asks for."""
    if not options or options.get("schedule") is None:
        return None
    schedule = {_name(k): v for k, v in dict(options["schedule"]).items()}
    kind = _name(schedule.get("type", "step"))
    if kind == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, step_size=int(schedule.get(
            "step-size", 10)), gamma=float(schedule.get("gamma", 0.1)))
    if kind == "exponential":
        return torch.optim.lr_scheduler.ExponentialLR(optimizer,
                                                      gamma=float(schedule.get("gamma", 0.95)))
    if kind == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(
            optimizer, T_max=int(schedule.get("epochs", epochs)))
    raise ValueError(f"unknown schedule :{kind}; known schedules are :step :exponential "
                     ":cosine")


def optimizer_edn(options: Mapping[str, Any] | None) -> Any:
    """The parsed options as EDN data (for saved headers)."""
    if options is None:
        return None
    return {Keyword(k): (Keyword(v) if k == "type" else v) for k, v in options.items()
            if k != "schedule"}
